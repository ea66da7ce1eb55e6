/* transfer.h - the stage 5 client's local end of a get or a put, apart from
 * what goes on the wire: a download goes to DEST.nianbao-part, hashed as
 * it is written, and gets its name only once verified; an upload's file
 * (or standard input, kept in a file first) is hashed beside the sending;
 * what an interrupted transfer left is found, its SHA-256 taken for the
 * request's prefix_sha256, and the messages say how to go on ("get
 * --resume 'my notes.txt'"). The progress bar, a listing's and a stat's
 * lines are written to the FILE the program passes; nothing else here
 * prints, and nothing exits: -1, or an exit status of shell.h, with an
 * error string filled. */
#ifndef NIANBAO_TRANSFER_H
#define NIANBAO_TRANSFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "digest.h"
#include "filehash.h"
#include "ft.h"
#include "progress.h"

#define PARTIAL_SUFFIX ".nianbao-part"

struct download {
    char path[4096];                   /* where the download goes           */
    char part[4096 + sizeof PARTIAL_SUFFIX];  /* PATH.nianbao-part          */
    char shown[FT_SHOWN_MAX];          /* the server's name, escaped        */
    char path_shown[FT_SHOWN_MAX];     /* PATH, escaped                     */
    const char *name, *dest;           /* as given, for the resume hint     */
    int to_stdout, fd;                 /* the partial file, or standard output */
    uint64_t offset, at;               /* the bytes kept (a resume starts
                                          there), the bytes there now       */
    char prefix[DIGEST_HEX_MAX];       /* the kept bytes' SHA-256, offset > 0 */
    struct file_hash hash;             /* of the file, from the page cache  */
    int hashing;
    struct digest sha;                 /* of what went to standard output   */
    struct progress bar;
    FILE *bar_to;
};

/* A download of NAME to DEST: DEST, DEST/basename(NAME) when DEST is a
 * directory, or basename(NAME) when there is no DEST; DEST "-" is
 * OUT_FD (standard output). Otherwise the path must not exist (unless
 * OVERWRITE), an interrupted download's bytes are not thrown away unasked
 * (unless RESUME or OVERWRITE), and the partial file is opened, created
 * when missing, emptied unless RESUME: it must be a regular file of one
 * link, since a symlink or a hard link planted at that name would send the
 * download into another file. Returns 0, or an exit status with ERR filled
 * ("a.txt exists; --overwrite replaces it"); download_close either way. */
int download_open(struct download *d, const char *name, const char *dest, int resume,
                  int overwrite, int out_fd, char *err, size_t errlen);

/* The body begins: FILE_SIZE bytes in all; a progress bar on BAR_TO when
 * BAR_ON (a terminal). */
void download_start(struct download *d, uint64_t file_size, int bar_on, FILE *bar_to);

/* Writes the body's next LEN bytes. Returns 0, or -1 with errno set. */
int download_write(struct download *d, const void *body, size_t len);

/* After a download stopped (RC EXIT_INTERRUPTED or EXIT_CONNECTION): what
 * was kept and how to go on, into OUT, with a newline first when the
 * progress bar was on; "" when there is nothing to say. Returns OUT. */
const char *download_stopped(struct download *d, int rc, char *out, size_t outlen);

/* The whole body is there and the server said SAID: checks the SHA-256,
 * names the file (replacing one there only when OVERWRITE). Returns 0 with
 * OUT saying so ("a.txt: 6 bytes, SHA-256 verified, saved as a.txt"), or
 * an exit status with OUT saying why. */
int download_finish(struct download *d, const char *said, int overwrite, char *out,
                    size_t outlen);

/* Closes the partial file. FAILED: the download did not finish; when not a
 * byte came (the server refused, or closed first), the file goes too.
 * Bytes that came stay for --resume. */
void download_close(struct download *d, int failed);

struct upload {
    char shown[FT_SHOWN_MAX];          /* the name on the server, escaped   */
    char file_shown[FT_SHOWN_MAX];     /* FILE, or "standard input", escaped */
    int fd;
    uint64_t size, offset;
    char prefix[DIGEST_HEX_MAX];       /* SHA-256 of the first OFFSET bytes */
    struct file_hash hash;
    int hashing;
    struct progress bar;
    FILE *bar_to;
};

/* The file an upload sends: FILE, or, when FILE is "-", everything IN_FD
 * gives, kept in a file with no name first (a put says its size before its
 * first byte), which needs a NAME, and standard input that is not the
 * commands' (STDIN_HAS_COMMANDS 0). *NAME NULL: FILE's last component.
 * Returns 0, or an exit status with ERR filled ("cannot read a.txt: not a
 * regular file"); upload_close either way. */
int upload_open(struct upload *u, const char *file, const char **name, int stdin_has_commands,
                int in_fd, char *err, size_t errlen);

/* Where the upload starts, the server keeping KEPT bytes of an interrupted
 * one: there with RESUME, else at 0, but a plain put (no OVERWRITE) does
 * not throw them away unasked (EXIT_REMOTE); more than the file has starts
 * again. Returns 0, or an exit status; ERR says why, or "" (a note when 0:
 * "starting again"). */
int upload_resume_at(struct upload *u, uint64_t kept, int resume, int overwrite,
                     const char *file, const char *name, char *err, size_t errlen);

/* Starts hashing from U->offset, taking the SHA-256 of the bytes before it
 * (the request's prefix_sha256). Returns 0, or an exit status with ERR
 * filled. */
int upload_hash(struct upload *u, char *err, size_t errlen);

/* The body goes: the hash runs beside it, a progress bar on BAR_TO when
 * BAR_ON. */
void upload_start(struct upload *u, int bar_on, FILE *bar_to);

/* Sends the file from U->offset to its end on SOCK, by sendfile: the body
 * of the "data" frame whose header went before. 1 MiB at a time, so that
 * Ctrl-C (interrupt.h, caught meanwhile) is seen between steps; FILE and
 * NAME are for the hint then. Returns 0, or an exit status with ERR filled:
 * EXIT_INTERRUPTED ("interrupted after sending N of M bytes: ..."; a
 * newline must end the progress bar's line first), EXIT_LOCAL (the file
 * shrank), EXIT_CONNECTION. */
int upload_send(struct upload *u, int sock, const char *file, const char *name, char *err,
                size_t errlen);

/* The whole file went: its SHA-256 into HEX. Returns 0, or an exit status
 * with ERR filled. */
int upload_finish(struct upload *u, char *hex, char *err, size_t errlen);

void upload_close(struct upload *u);

/* The body of a "list" reply (TEXT, LEN bytes: a JSON array of {"name",
 * "size"}), one line per file on OUT, names escaped. Returns 0, or -1 with
 * ERR saying what is wrong with it (the lines before it printed). */
int transfer_print_listing(const char *text, size_t len, FILE *out, char *err, size_t errlen);

/* What a "stat" reply M says of NAME, one line on OUT: "a.txt: 6 bytes",
 * or "no such file", and the bytes an interrupted upload kept. */
void transfer_print_stat(const struct ft_msg *m, const char *name, FILE *out);

/* "WORD --resume A [B]", quoted as the user would type it again, into OUT.
 * Returns OUT. */
const char *transfer_hint(const char *word, const char *a, const char *b, char *out,
                          size_t outlen);

/* " (resumed at N bytes)", or "" for a transfer from the start. Returns
 * OUT, or "". */
const char *transfer_resumed_at(uint64_t offset, char *out, size_t outlen);

#endif
