/* fileio.h - whole writes to a local file (a download, a command's output
 * on standard output): write(2) and pwrite(2) may write less than asked,
 * and a signal may interrupt them. Nothing here prints or exits. */
#ifndef NIANBAO_FILEIO_H
#define NIANBAO_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all LEN bytes of BUF to FD, retrying on EINTR. Returns 0, or -1
 * with errno set. */
int fileio_write_all(int fd, const void *buf, size_t len);

/* The same at offset AT of FD, which does not move. */
int fileio_pwrite_all(int fd, const void *buf, size_t len, uint64_t at);

#endif
