/* localpath.c - a client's local paths (localpath.h). */
#define _GNU_SOURCE                 /* O_TMPFILE */
#include "localpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int localpath_join(const char *dir, const char *name, char *out, size_t outlen)
{
    size_t dir_len = strlen(dir);

    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir_len--;
    while (*name == '/')
        name++;
    int n = snprintf(out, outlen, "%.*s%s%s", (int)dir_len, dir,
                     dir_len > 0 && dir[dir_len - 1] != '/' ? "/" : "", name);
    if (n < 0 || (size_t)n >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int localpath_missing_dir(const char *path, char *out, size_t outlen)
{
    size_t len = strlen(path);

    if (outlen == 0 || len >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    out[0] = '\0';
    /* Each prefix that ends before a '/' is a directory PATH needs. */
    for (size_t end = 1; end < len; end++) {
        struct stat st;
        if (path[end] != '/' || path[end - 1] == '/')
            continue;
        memcpy(out, path, end);
        out[end] = '\0';
        if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
            return 0;
    }
    out[0] = '\0';
    return 0;
}

int localpath_spool(int in_fd, char *err, size_t errlen)
{
    const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char buf[65536];
    char path[4096];
    int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    /* A file system without O_TMPFILE: a named file, unlinked at once. */
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR) &&
        localpath_join(tmpdir, "nianbao-put.XXXXXX", path, sizeof path) == 0 &&
        (fd = mkostemp(path, O_CLOEXEC)) >= 0)
        unlink(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a temporary file in %s: %s", tmpdir, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t got = read(in_fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "reading standard input: %s", strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        for (ssize_t done = 0; done < got;) {
            ssize_t n = write(fd, buf + done, (size_t)(got - done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                snprintf(err, errlen, "writing a temporary file in %s: %s", tmpdir,
                         strerror(errno));
                goto fail;
            }
            done += n;
        }
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        snprintf(err, errlen, "a temporary file in %s: %s", tmpdir, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}
