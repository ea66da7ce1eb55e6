/* localpath.h - a client's local paths, for its messages and its files:
 * a directory and a name joined without "//", and the directory that is
 * missing when a path cannot be created. Nothing here prints or exits. */
#ifndef NIANBAO_LOCALPATH_H
#define NIANBAO_LOCALPATH_H

#include <stddef.h>

/* DIR and NAME joined with one "/" ("dl/" + "a.txt" is "dl/a.txt", not
 * "dl//a.txt"), into OUT. Returns 0, or -1 when it does not fit
 * (errno ENAMETOOLONG; OUT then holds as much as fits). */
int localpath_join(const char *dir, const char *name, char *out, size_t outlen);

/* The first directory of PATH that does not exist or is not a directory
 * ("dl" for "dl/sub/a.txt" when there is no dl), into OUT; "" when every
 * directory of PATH is there. Returns 0, or -1 when it does not fit. */
int localpath_missing_dir(const char *path, char *out, size_t outlen);

/* Copies everything IN_FD gives, to its end, into a file with no name in
 * $TMPDIR (or /tmp), for an upload that must say its size before its first
 * byte ("put - NAME" from a pipe). Returns that file's descriptor, offset
 * 0, or -1 with ERR filled ("reading standard input: ..."). */
int localpath_spool(int in_fd, char *err, size_t errlen);

#endif
