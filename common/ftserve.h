/* ftserve.h - what a stage 5 server does with the files beneath its root:
 * get, put, stat and list as objects the caller drives, so a blocking
 * server (stage 5, stage 6's iterative, fork and thread models) and an
 * event loop (stage 6's poll model) run the same code. Each one only
 * touches the file system; the caller reads and writes the frames:
 *
 *   get:   ft_download_open -> send "file" + the bytes [offset, file_size)
 *          of dl.fd (sendfile) -> ft_download_finish -> send "end"
 *   put:   ft_upload_begin -> send "ready" -> ft_upload_write for each piece
 *          of the "data" body -> ft_upload_end with the "end" frame's
 *          digest -> send "done"; a connection lost halfway:
 *          ft_upload_abort (the partial file stays, for a resume)
 *   stat:  ft_stat;  list: ft_list
 *
 * An event loop must not wait for a hash (filehash.h): it opens with
 * ft_download_start / ft_upload_start (the hash in a thread), and before
 * each step that would wait for the hash - the check of a resume's
 * prefix_sha256 (ft_download_check, ft_upload_check), the digest at the
 * end (ft_download_finish, ft_upload_end) - asks ft_download_ready /
 * ft_upload_ready, watching the descriptor they give until it says 1.
 *
 * Errors fill a struct ft_error whose code and message go to the client as
 * they are (names escaped); nothing here prints or exits. */
#ifndef NIANBAO_FTSERVE_H
#define NIANBAO_FTSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "duration.h"
#include "filehash.h"
#include "fsroot.h"
#include "ft.h"

/* What says a file is still the one that was hashed: a write, a truncate,
 * a rename over it or a touch changes one of these (ctime cannot be set
 * back from user space). */
struct ft_file_key {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

struct ft_download {
    int fd;                   /* the file, O_RDONLY, for sendfile          */
    uint64_t file_size, offset;
    struct ft_file_key key;   /* the file when it was opened               */
    int hashing;              /* hash runs (no remembered digest)          */
    int remembered;           /* the digest came from ft_download's memo   */
    int checked;              /* the prefix is checked (ft_download_check) */
    char prefix_wanted[DIGEST_HEX_MAX]; /* the client's prefix_sha256      */
    int64_t opened_ns;        /* CLOCK_REALTIME at the open, in ns         */
    char hex[DIGEST_HEX_MAX]; /* the remembered digest                     */
    struct file_hash hash;    /* SHA-256 of [0, file_size), beside sendfile */
    char shown[FT_SHOWN_MAX];
    const unsigned char *body; /* a round's file (below): the whole file,
                                  read and checked; fd is then -1. It is the
                                  round's copy: read it before the loop
                                  goes on to another request or round    */
    unsigned char *body_own;  /* the copy, when the round could not keep it */
    struct ft_round_file *round_file; /* the round's entry it came from or
                                 went to (below), or NULL                 */
};

/* Opens REQ->name (a checked "get") beneath ROOT: it must be a regular
 * file; with an offset, its first offset bytes must hash to
 * prefix_sha256 ("changed" otherwise). Starts hashing the whole file
 * (THREADED: beside the transfer), unless the process remembers the
 * digest of this very file (below). Returns 0, or -1 with E filled.
 *
 * The memo: a download that hashed a file keeps its digest (the last
 * FT_DIGEST_MEMO files, per process), with the file's ft_file_key, so the
 * next download of the unchanged file sends the bytes alone and the
 * client's hash is the only one (a server's ETag). Kept only when the key
 * was the same before and after the hash and its ctime is more than
 * FT_MEMO_SETTLE_MS older than the open: a write in the same clock
 * tick as the last change would not move ctime ("racy git"). A
 * remembered digest is checked against the key again after the bytes are
 * sent. The client's own hash proves the bytes either way. */
#define FT_MEMO_SETTLE_MS DURATION_S(2)
int ft_download_open(const struct fsroot *root, const struct ft_msg *req, int threaded,
                     struct ft_download *dl, struct ft_error *e);

/* The settle time of the memo, for the whole process: FT_MEMO_SETTLE_MS,
 * or the environment variable NIANBAO_DIGEST_SETTLE (a duration: "2",
 * "0.2", "200ms"; set and empty counts as unset), so that a test need not
 * wait 2 s before a download that is to be remembered. At least
 * FT_MEMO_SETTLE_MIN_MS: a file's change time moves in clock ticks (up to
 * 10 ms apart, and read from a clock up to a tick behind), and the settle
 * must stay well above that. Call it before serving. Returns 0, or -1 with
 * ERR filled ("NIANBAO_DIGEST_SETTLE: '2x' is not a duration: ..."). */
#define FT_MEMO_SETTLE_ENV "NIANBAO_DIGEST_SETTLE"
#define FT_MEMO_SETTLE_MIN_MS 50
int ft_memo_settle_from_env(char *err, size_t errlen);

/* ft_download_open in two steps, for an event loop: _start opens the file
 * and starts the hash (THREADED: it must not wait for it), _check compares
 * the prefix once ft_download_ready says it will not wait. A failed check
 * closes everything. Each returns 0, or -1 with E filled. */
int ft_download_start(const struct fsroot *root, const struct ft_msg *req, int threaded,
                      struct ft_download *dl, struct ft_error *e);
int ft_download_check(struct ft_download *dl, struct ft_error *e);

/* 1 when the next of ft_download_check and ft_download_finish will not
 * wait for the hash; else 0, and *WAKE_FD becomes readable when it will
 * not (file_hash_ready). -1 (errno): no descriptor can be made. */
int ft_download_ready(struct ft_download *dl, int *wake_fd);

/* After the body is sent: the SHA-256 of the whole file into HEX, and
 * everything closed. Returns 0, or -1 with E filled (the file shrank, or
 * changed under a remembered digest). */
int ft_download_finish(struct ft_download *dl, char hex[DIGEST_HEX_MAX], struct ft_error *e);

/* Closes everything without a digest (the client went away). */
void ft_download_close(struct ft_download *dl);

/* A whole file (offset 0) whose bytes the caller has read into memory,
 * BODY of LEN bytes, to send them at once: its digest is those bytes',
 * not the hash thread's, which is stopped. The thread reads the file
 * apart, and a write in place that began before the open (its times
 * already moved, its bytes not all there yet) can give the two reads
 * different bytes that no key sees: the "end" frame would name bytes
 * that were not the ones sent. ft_download_finish then checks the key and
 * remembers the digest as for any other. Returns 0, or -1 (out of memory:
 * nothing changed). */
int ft_download_hash_body(struct ft_download *dl, const void *body, size_t len);

/* An event loop's round of files (stage 6's poll model). A loop that
 * serves many clients wakes with many requests waiting; when several ask
 * for the same small file, looking it up, reading and checking it once
 * for all of them is enough: each of those requests was sent before the
 * round began and is answered after, so the file as it was at any moment
 * of the round is a right answer (and no other moment is: a file is
 * never kept from one round to the next). The caller says which requests
 * were waiting when the round began (ftconn: the socket reported
 * readable, no request under way); a request read later in the round may
 * have been sent after a change, and opens the file itself.
 *
 * Only a whole file (offset 0) of at most FT_ROUND_FILE_MAX bytes whose
 * digest the memo remembers is kept: read in full, then its key checked
 * as ft_download_finish checks it. Up to FT_ROUND_FILES files a round. */
#define FT_ROUND_FILES 16
#define FT_ROUND_FILE_MAX (16 * 1024)
struct ft_round_file {
    unsigned long round;      /* kept in this round (0: never)              */
    char *name;               /* as the request said it                     */
    struct ft_file_key key;
    char hex[DIGEST_HEX_MAX];
    uint64_t size;
    unsigned char *bytes;
    unsigned char *reply;     /* the whole reply to a get of NAME, once the
                                 first one was encoded (ft_round_keep_reply),
                                 or NULL                                    */
    size_t reply_len;
};
struct ft_round {
    unsigned long number;     /* the round now: +1 by ft_round_begin        */
    unsigned next;            /* the entry to take when none is free        */
    struct ft_round_file files[FT_ROUND_FILES];
};

/* A new round: what the last one kept is forgotten. Call it before each
 * wait for events. */
void ft_round_begin(struct ft_round *r);
void ft_round_free(struct ft_round *r);

/* ft_download_start for a request that was waiting when round R began:
 * the file this round kept under REQ->name, if any (no system call), else
 * ft_download_start, keeping the file for the round when it can. Either
 * way, when DL->body is set the bytes are there and DL->fd is -1.
 * Returns 0, or -1 with E filled, as ft_download_start. */
int ft_download_start_round(const struct fsroot *root, const struct ft_msg *req,
                            struct ft_round *r, struct ft_download *dl, struct ft_error *e);

/* Keeps the LEN bytes of the reply to a get of F's name with F (a copy),
 * so that the round's other gets of it send the same bytes without
 * encoding them again: they would be the same (the same name, size,
 * offset 0 and digest). Nothing is kept when out of memory. */
void ft_round_keep_reply(struct ft_round_file *f, const void *bytes, size_t len);

struct ft_upload {
    int dirfd;                /* the directory that gets the file (O_PATH) */
    int fd;                   /* the partial file, locked with flock        */
    char last[FSROOT_COMPONENT_MAX + 1];
    char partial[FSROOT_COMPONENT_MAX + sizeof FSROOT_PARTIAL_PREFIX];
    uint64_t file_size, offset;
    uint64_t written;         /* the partial holds [0, written)            */
    uint64_t flushed;         /* writeback started up to here              */
    int overwrite;
    int checked;              /* the prefix is checked (ft_upload_check)    */
    char prefix_wanted[DIGEST_HEX_MAX]; /* the client's prefix_sha256       */
    struct file_hash hash;
    char shown[FT_SHOWN_MAX];
};

/* Checks REQ (a checked "put") against ROOT and MAX_UPLOAD before any byte
 * is written: too_large, exists (unless overwrite), not_file, bad_name
 * (the directory leads outside), not_found (no such directory), locked
 * (another upload of the name runs now), changed (a resume whose part
 * already there differs, or is not there), io (the partial file is not a
 * regular file, or has another name too: a hard link planted there would
 * send the upload into a file elsewhere). Then opens, locks and prepares
 * the partial file: cut to REQ->offset. Returns 0, or -1 with E filled.
 *
 * The partial is opened, then locked; an upload of the same name that
 * finishes in between renames the file opened to its name. So once locked,
 * the partial's name must still lead to the file opened (same device and
 * inode), or it is opened again (three tries, then "locked").
 * NIANBAO_TEST_LOCK_DELAY_MS=N in the environment waits N ms between the
 * open and the lock: FOR TESTS ONLY, to widen that window
 * (tests/stage6.bats); never set it otherwise. */
int ft_upload_begin(const struct fsroot *root, const struct ft_msg *req, uint64_t max_upload,
                    int threaded, struct ft_upload *up, struct ft_error *e);

/* ft_upload_begin in two steps, for an event loop, as ft_download_start
 * and _check: _check compares a resume's prefix and cuts the partial to
 * the offset, once ft_upload_ready says it will not wait. A failure
 * closes everything. Each returns 0, or -1 with E filled. */
int ft_upload_start(const struct fsroot *root, const struct ft_msg *req, uint64_t max_upload,
                    int threaded, struct ft_upload *up, struct ft_error *e);
int ft_upload_check(struct ft_upload *up, struct ft_error *e);

/* 1 when the next of ft_upload_check and ft_upload_end will not wait for
 * the hash (of the prefix; of what is written); else 0 and *WAKE_FD as
 * ft_download_ready. */
int ft_upload_ready(struct ft_upload *up, int *wake_fd);

/* Appends LEN bytes of the body. Returns 0, or -1 with E filled: "io" (the
 * disk is full...: the partial file is removed, so the space it held is
 * free again, and the upload is given up: the caller reads the rest of
 * the body and drops it, then answers the error after "end"), and past
 * the file_size announced: "bad_field". */
int ft_upload_write(struct ft_upload *up, const void *buf, size_t len, struct ft_error *e);

/* The "end" frame came with CLAIMED (hex). Flushes the partial file to
 * disk, compares its SHA-256 (into HEX) with CLAIMED, and only when they
 * match renames it to the name (never over an existing file without
 * overwrite). On a mismatch the partial is deleted: digest_mismatch; when
 * the flush or the hash fails, too: io. Everything is closed either way.
 * Returns 0, or -1 with E filled. */
int ft_upload_end(struct ft_upload *up, const char *claimed, char hex[DIGEST_HEX_MAX],
                  struct ft_error *e);

/* The upload stops unfinished (the connection was lost, a frame was out of
 * step, a write failed): the partial file keeps what was written, flushed
 * to disk, for a resume - unless it holds nothing (a put cut or refused
 * before its first byte): then it is removed, so empty partials do not
 * pile up. Closes everything. */
void ft_upload_abort(struct ft_upload *up);

struct ft_stat_result {
    int exists;
    uint64_t file_size;
    uint64_t partial_size;    /* bytes an interrupted upload kept, or 0    */
};

/* Looks at REQ->name. Returns 0, or -1 with E filled (bad_name: it leads
 * outside; not_file: a directory or a device). A missing file is not an
 * error: exists = 0. */
int ft_stat(const struct fsroot *root, const struct ft_msg *req, struct ft_stat_result *st,
            struct ft_error *e);

/* The regular files directly in the root, or in the directory REQ->name
 * beneath it when the request has a name, sorted by name, as the "list"
 * body (names as they are in that directory): a malloc'ed JSON array *BODY of *BODY_LEN bytes. Names a client
 * could not ask for (control characters, not UTF-8, the server's partial
 * files) are left out: *SKIPPED counts those that are not partial files.
 * Past FT_LIST_MAX bytes of names, *TRUNCATED is set and the rest left
 * out. Returns 0, or -1 with E filled (not_found, not_file for a name
 * that is not a directory, bad_name for one that leads outside). */
int ft_list(const struct fsroot *root, const struct ft_msg *req, char **body, size_t *body_len, uint64_t *count,
            uint64_t *skipped, int *truncated, struct ft_error *e);

#endif
