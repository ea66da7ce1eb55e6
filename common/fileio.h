/* fileio.h - whole writes to a local file (a download, a command's output
 * on standard output): write(2) and pwrite(2) may write less than asked,
 * and a signal may interrupt them; whole reads of a file's bytes, for the
 * same reasons; and the one read of a small text file (/proc's). Nothing
 * here prints or exits. */
#ifndef NIANBAO_FILEIO_H
#define NIANBAO_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all LEN bytes of BUF to FD, retrying on EINTR. Returns 0, or -1
 * with errno set. */
int fileio_write_all(int fd, const void *buf, size_t len);

/* The same at offset AT of FD, which does not move. */
int fileio_pwrite_all(int fd, const void *buf, size_t len, uint64_t at);

/* Reads LEN bytes at offset AT of FD into BUF, retrying on EINTR and after
 * short reads. Returns 0 when all LEN came, -1 (errno set, or 0 at the end
 * of the file: it is shorter than asked). */
int fileio_pread_all(int fd, void *buf, size_t len, uint64_t at);

/* Reads PATH (a /proc file: its text comes in one read) into BUF, at most
 * SIZE - 1 bytes, and ends it with a NUL. Returns the bytes read (at least
 * 1), or -1 when PATH cannot be opened or read or is empty. */
ssize_t fileio_read_text(const char *path, char *buf, size_t size);

#endif
