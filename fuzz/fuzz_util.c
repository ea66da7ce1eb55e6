/* fuzz/fuzz_util.c - helpers of fuzz.h. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int fuzz_socket_holding(const void *data, size_t size, size_t *written)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = send(pair[1], (const char *)data + done, size - done,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;          /* full: the reader gets what fits */
        done += (size_t)n;
    }
    shutdown(pair[1], SHUT_WR);
    close(pair[1]);
    struct timeval limit = { 1, 0 };
    setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    *written = done;
    return pair[0];
}

unsigned char *fuzz_drain(int fd, size_t *len)
{
    size_t cap = 4096, have = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (have == cap) {
            unsigned char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    *len = have;
    return buf;
}

size_t fuzz_consumed(int fd, const unsigned char *data, size_t written)
{
    size_t left_len = 0;
    unsigned char *left = fuzz_drain(fd, &left_len);
    close(fd);
    if (left == NULL || left_len > written)
        fuzz_fail("could not read back the socket");
    size_t consumed = written - left_len;
    if (memcmp(left, data + consumed, left_len) != 0)
        fuzz_fail("the bytes left in the socket are not the input's tail");
    free(left);
    return consumed;
}

int fuzz_memfile(const void *data, size_t size, char path[64])
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, (const char *)data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

FILE *fuzz_null_stream(void)
{
    static FILE *null_stream;
    if (null_stream == NULL)
        null_stream = fopen("/dev/null", "w");
    return null_stream;
}

void fuzz_fail(const char *why, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, why);
    vsnprintf(text, sizeof text, why, ap);
    va_end(ap);
    dprintf(2, "fuzz: invariant broken: %s\n", text);
    abort();
}

void fuzz_tempdir(const char *name, char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, len, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(dir))
        fuzz_fail("cannot make a temporary directory in %s", dir);
}

void fuzz_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fuzz_fail("cannot write %s", path);
    close(fd);
}
