/* fsroot.h - names beneath a served directory (stage 5 on).
 *
 * The classic file-transfer follow-up to the document joins the root and
 * the client's name with os.path.join: "../../etc/passwd" and "/etc/passwd"
 * both leave the root. Here a name is checked as text first (no "..", no
 * absolute path, no control character...), and then opened beneath the
 * root's directory descriptor, never as a joined path:
 *   - with openat2(2) and RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (Linux
 *     5.6 on): a symlink inside the root is followed only while it stays
 *     inside; one that leads out fails with EXDEV;
 *   - where openat2 is missing (ENOSYS, or refused by a seccomp filter),
 *     every component is opened with O_NOFOLLOW: every symlink is refused
 *     (ELOOP or ENOTDIR), inside or not.
 * A file being uploaded lives under a partial name in the same directory,
 * ".nianbao-part." + the last component, which no client name may use.
 *
 * Nothing here prints or exits: -1 with errno set, or a reason filled. */
#ifndef NIANBAO_FSROOT_H
#define NIANBAO_FSROOT_H

#include <stddef.h>
#include <sys/types.h>

#include "protolimits.h"

#define FSROOT_NAME_MAX FT_NAME_MAX  /* bytes in a whole name                 */
#define FSROOT_PARTIAL_PREFIX ".nianbao-part."
/* A component plus the partial prefix must fit the file system's 255. */
#define FSROOT_COMPONENT_MAX ((size_t)FT_COMPONENT_MAX)
_Static_assert(FT_COMPONENT_MAX == 255 - (sizeof FSROOT_PARTIAL_PREFIX - 1),
               "a component and the partial prefix make a file system's 255 bytes");
#define FSROOT_RESERVED ".nianbao"   /* no component may start with this */

struct fsroot {
    int dirfd;                /* the root, O_PATH | O_DIRECTORY           */
    int beneath;              /* 1: openat2 RESOLVE_BENEATH; 0: fallback,
                                 every symlink refused                      */
    int read_only;            /* --read-only: put is refused (read_only), and
                                 a --sandbox binds the root read-only; set
                                 it before fsroot_open, which keeps it      */
};

/* --read-only, for a server's option table (cli.h). */
#define FSROOT_READ_ONLY_OPTION(root) \
    { "read-only", 0, CLI_FLAG, &(root)->read_only, NULL, \
      "refuse put (error read_only); with --sandbox, commands see the root read-only too", \
      0, 0 }

/* Opens PATH as the root. FORCE_FALLBACK = 1 uses the O_NOFOLLOW walk even
 * where openat2 works (how the tests prove the fallback). Returns 0, or -1
 * with ERR filled ("cannot open the root /x: No such file or directory"). */
int fsroot_open(struct fsroot *root, const char *path, int force_fallback,
                char *err, size_t errlen);
void fsroot_close(struct fsroot *root);

/* Checks NAME (LEN bytes, which may hold a NUL: it is refused) as text.
 * Returns 0, or -1 with WHY filled: what is wrong, in words that can follow
 * the escaped name ("has a '..' component", "is absolute"). */
int fsroot_check_name(const char *name, size_t len, char *why, size_t whylen);

/* Opens the directory that holds NAME's last component, beneath the root;
 * *LAST points to that component inside NAME. NAME must have passed
 * fsroot_check_name. Returns a directory descriptor (O_PATH), or -1 with
 * errno: ENOENT/ENOTDIR (a parent is missing or not a directory), EXDEV (a
 * symlink leads outside the root), ELOOP (a symlink, refused by the
 * fallback). */
int fsroot_open_parent(const struct fsroot *root, const char *name, const char **last);

/* Opens NAME beneath the root with FLAGS (O_CLOEXEC is added; O_CREAT is
 * refused: creation goes through the parent with fsroot_open_parent).
 * Errors as fsroot_open_parent. */
int fsroot_open_file(const struct fsroot *root, const char *name, int flags);

/* The partial file's name for the last component LAST, into OUT
 * (FSROOT_COMPONENT_MAX + the prefix + 1 bytes are enough). */
void fsroot_partial_name(const char *last, char *out, size_t outlen);

/* Describes errno ERR_NO from the functions above for NAME_SHOWN (already
 * escaped), into OUT: "\"a/b\" leads outside the root (a symlink)". */
void fsroot_describe_error(int err_no, const char *name_shown, int beneath,
                           char *out, size_t outlen);

/* The first directory of NAME (checked by fsroot_check_name) that does
 * not exist or is not a directory beneath the root ("sub" for "sub/a/x"
 * when there is no sub), into OUT; "" when all are there. *IS_THERE: 1
 * when that directory exists but is not a directory. Returns 0, or -1
 * when it does not fit OUT. */
int fsroot_missing_dir(const struct fsroot *root, const char *name, char *out, size_t outlen,
                       int *is_there);

/* NAME (LEN bytes) made safe for a log line or a message: control bytes
 * (C0, DEL, and C1 such as CSI 0x9b), bidirectional controls (U+061C,
 * U+200E/F, U+202A-202E, U+2066-2069: each of their bytes), bytes that are
 * not UTF-8, quotes and backslashes as \xNN, \" and \\ (escape_bytes), so a
 * name holding terminal escape codes cannot reach a terminal, nor reorder
 * the line it is on; other UTF-8 characters (a Chinese name) as they are.
 * Too long for OUT: ends with "...". Always NUL-terminates OUT. */
void fsroot_show_name(const char *name, size_t len, char *out, size_t outlen);

/* The same for a line of text that quotes names itself (a peer's error
 * message): quotes and backslashes stay as they are. */
void fsroot_show_text(const char *text, size_t len, char *out, size_t outlen);

#endif
