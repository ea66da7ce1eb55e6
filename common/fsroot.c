/* fsroot.c - names beneath a served directory (see fsroot.h). */
#define _GNU_SOURCE
#include "fsroot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "frame.h"
#include "wire.h"

/* openat2 may ask for a retry when a rename or a mount raced the lookup. */
#define OPENAT2_TRIES 8

static int openat2_beneath(int dirfd, const char *path, int flags)
{
#ifdef SYS_openat2
    struct open_how how;

    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int i = 0; i < OPENAT2_TRIES; i++) {
        int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
            return fd;
    }
    return -1;
#else
    (void)dirfd;
    (void)path;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int fsroot_open(struct fsroot *root, const char *path, int force_fallback,
                char *err, size_t errlen)
{
    root->beneath = 0;
    root->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->dirfd < 0) {
        snprintf(err, errlen, "cannot open the root %s: %s", path, strerror(errno));
        return -1;
    }
    if (!force_fallback) {
        /* One probe decides: ENOSYS on kernels before 5.6, EPERM or ENOSYS
         * where a seccomp filter does not know the call. */
        int probe = openat2_beneath(root->dirfd, ".", O_PATH | O_DIRECTORY);
        if (probe >= 0) {
            close(probe);
            root->beneath = 1;
        }
    }
    return 0;
}

void fsroot_close(struct fsroot *root)
{
    if (root->dirfd >= 0)
        close(root->dirfd);
    root->dirfd = -1;
}

int fsroot_check_name(const char *name, size_t len, char *why, size_t whylen)
{
    size_t bad_at;

    if (len == 0) {
        snprintf(why, whylen, "is empty");
        return -1;
    }
    if (len > FSROOT_NAME_MAX) {
        snprintf(why, whylen, "is %zu bytes long; names are at most %d", len, FSROOT_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == 0) {
            snprintf(why, whylen, "holds a NUL byte (at %zu)", i);
            return -1;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(why, whylen, "holds a control character (byte 0x%02x at %zu)", c, i);
            return -1;
        }
    }
    if (!frame_utf8_valid(name, len, &bad_at)) {
        snprintf(why, whylen, "is not valid UTF-8 (byte 0x%02x at %zu)",
                 (unsigned char)name[bad_at], bad_at);
        return -1;
    }
    if (name[0] == '/') {
        snprintf(why, whylen, "is absolute: names are relative to the served directory");
        return -1;
    }
    for (size_t start = 0; start <= len;) {
        const char *slash = memchr(name + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - name) : len;
        size_t comp_len = end - start;
        const char *comp = name + start;
        if (comp_len == 0) {
            snprintf(why, whylen, "has an empty component ('//', or a '/' at the end)");
            return -1;
        }
        if ((comp_len == 1 && comp[0] == '.') || (comp_len == 2 && comp[0] == '.' && comp[1] == '.')) {
            snprintf(why, whylen, "has a '%.*s' component", (int)comp_len, comp);
            return -1;
        }
        if (comp_len > FSROOT_COMPONENT_MAX) {
            snprintf(why, whylen, "has a component of %zu bytes; at most %zu", comp_len,
                     (size_t)FSROOT_COMPONENT_MAX);
            return -1;
        }
        if (comp_len >= sizeof FSROOT_RESERVED - 1 &&
            memcmp(comp, FSROOT_RESERVED, sizeof FSROOT_RESERVED - 1) == 0) {
            snprintf(why, whylen, "starts with " FSROOT_RESERVED
                     ", which is kept for the server's partial files");
            return -1;
        }
        start = end + 1;
    }
    return 0;
}

/* The fallback walk: every directory component opened with O_NOFOLLOW, so
 * no symlink is ever followed. DIR_LEN bytes of NAME name the directory. */
static int walk_nofollow(int dirfd, const char *name, size_t dir_len)
{
    char comp[FSROOT_NAME_MAX + 1];
    int fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

    for (size_t start = 0; fd >= 0 && start < dir_len;) {
        const char *slash = memchr(name + start, '/', dir_len - start);
        size_t end = slash ? (size_t)(slash - name) : dir_len;
        memcpy(comp, name + start, end - start);
        comp[end - start] = '\0';
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int saved = errno;
            struct stat st;
            /* O_DIRECTORY on a symlink says ENOTDIR: say what it is. */
            if (saved == ENOTDIR && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                saved = ELOOP;
            close(fd);
            errno = saved;
            return -1;
        }
        close(fd);
        fd = next;
        start = end + 1;
    }
    return fd;
}

int fsroot_open_parent(const struct fsroot *root, const char *name, const char **last)
{
    const char *slash = strrchr(name, '/');
    size_t dir_len = slash ? (size_t)(slash - name) : 0;
    char dir[FSROOT_NAME_MAX + 1];

    *last = slash ? slash + 1 : name;
    if (dir_len > FSROOT_NAME_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!root->beneath)
        return walk_nofollow(root->dirfd, name, dir_len);
    memcpy(dir, name, dir_len);
    dir[dir_len] = '\0';
    return openat2_beneath(root->dirfd, dir_len ? dir : ".", O_PATH | O_DIRECTORY);
}

int fsroot_open_file(const struct fsroot *root, const char *name, int flags)
{
    const char *last;

    if (flags & O_CREAT) {
        errno = EINVAL;
        return -1;
    }
    if (root->beneath)
        return openat2_beneath(root->dirfd, name, flags);
    int parent = fsroot_open_parent(root, name, &last);
    if (parent < 0)
        return -1;
    int fd = openat(parent, last, flags | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(parent);
    errno = saved;
    return fd;
}

int fsroot_missing_dir(const struct fsroot *root, const char *name, char *out, size_t outlen,
                       int *is_there)
{
    size_t len = strlen(name);

    *is_there = 0;
    if (outlen == 0 || len >= outlen)
        return -1;
    for (size_t end = 1; end < len; end++) {
        if (name[end] != '/')
            continue;
        memcpy(out, name, end);
        out[end] = '\0';
        int fd = fsroot_open_file(root, out, O_PATH);
        struct stat st;
        int ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        *is_there = fd >= 0;
        if (fd >= 0)
            close(fd);
        if (!ok)
            return 0;
    }
    out[0] = '\0';
    *is_there = 0;
    return 0;
}

void fsroot_partial_name(const char *last, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s", FSROOT_PARTIAL_PREFIX, last);
}

void fsroot_describe_error(int err_no, const char *name_shown, int beneath,
                           char *out, size_t outlen)
{
    switch (err_no) {
    case ENOENT:
        snprintf(out, outlen, "\"%s\" does not exist", name_shown);
        break;
    case ENOTDIR:
        snprintf(out, outlen, "a directory in \"%s\" is not a directory", name_shown);
        break;
    case EXDEV:
        snprintf(out, outlen, "\"%s\" leads outside the served directory (through a symlink): "
                 "refused", name_shown);
        break;
    case ELOOP:
        if (beneath)
            snprintf(out, outlen, "\"%s\" goes through too many symlinks", name_shown);
        else
            snprintf(out, outlen, "\"%s\" goes through a symlink: refused (without openat2 "
                     "the server cannot tell where a symlink leads)", name_shown);
        break;
    default:
        snprintf(out, outlen, "\"%s\": %s", name_shown, strerror(err_no));
        break;
    }
}

/* The length of the UTF-8 sequence a lead byte announces (0: not a lead). */
static size_t utf8_lead_len(unsigned char c)
{
    return c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
}

/* 1 when the N-byte UTF-8 character at P is a bidirectional control:
 * U+061C, U+200E/F, U+202A..E, U+2066..9. They reorder what a terminal
 * shows after them (U+202E makes "txt.exe" read "exe.txt"). */
static int bidi_control(const unsigned char *p, size_t n)
{
    if (n == 2)
        return p[0] == 0xd8 && p[1] == 0x9c;
    if (n != 3 || p[0] != 0xe2)
        return 0;
    return (p[1] == 0x80 && (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae))) ||
           (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9);
}

static void show(const char *name, size_t len, int quotes_as_is, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t used = 0;

    if (outlen == 0)
        return;
    for (size_t i = 0; i < len;) {
        char piece[8];
        size_t n = 1;
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\' &&
            used + 1 + (i + 1 < len ? 4 : 1) <= outlen) {
            /* Printable ASCII that fits: itself, as escape_bytes shows it. */
            out[used++] = (char)p[i++];
            continue;
        }
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
            piece[0] = (char)p[i];
            piece[1] = '\0';
        } else if ((n = utf8_lead_len(p[i])) > 0 && i + n <= len &&
                   frame_utf8_valid(p + i, n, NULL) && !(p[i] == 0xc2 && p[i + 1] < 0xa0) &&
                   !bidi_control(p + i, n)) {
            /* A whole character past U+009F (C1 controls such as CSI,
             * 0x9b, move some terminals' cursors) that is not a
             * bidirectional control is shown as it is: a Chinese name
             * stays readable. Everything else goes through escape_bytes,
             * byte by byte. */
            memcpy(piece, p + i, n);
            piece[n] = '\0';
        } else if (quotes_as_is && (p[i] == '"' || p[i] == '\\')) {
            n = 1;
            piece[0] = (char)p[i];
            piece[1] = '\0';
        } else {
            n = 1;
            escape_bytes(p + i, 1, piece, sizeof piece);
        }
        size_t plen = strlen(piece);
        if (used + plen + (i + n < len ? 4 : 1) > outlen) {
            if (used + 4 <= outlen) {
                memcpy(out + used, "...", 3);
                used += 3;
            }
            break;
        }
        memcpy(out + used, piece, plen);
        used += plen;
        i += n;
    }
    out[used] = '\0';
}

void fsroot_show_name(const char *name, size_t len, char *out, size_t outlen)
{
    show(name, len, 0, out, outlen);
}

void fsroot_show_text(const char *text, size_t len, char *out, size_t outlen)
{
    show(text, len, 1, out, outlen);
}
