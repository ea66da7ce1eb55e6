/* capture.c - reading and writing capture files (format in capture.h). */
#include "capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

#define READ_CHUNK 65536

int capture_open(struct capture_reader *r, const char *path,
                 char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
    }
    r->cap = READ_CHUNK + sizeof(struct cap_event) + CAP_MAX_DATA;
    r->buf = malloc(r->cap);
    if (r->buf == NULL) {
        snprintf(err, errlen, "out of memory reading %s", path);
        if (r->fd != STDIN_FILENO)
            close(r->fd);
        r->fd = -1;
        return -1;
    }
    return 0;
}

int capture_open_mem(struct capture_reader *r, const void *buf, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = buf;
    r->len = len;
    return 0;
}

/* Moves the unread tail to the front and reads more. Returns bytes read,
 * 0 at end of file, -1 on error. */
static ssize_t refill(struct capture_reader *r)
{
    if (r->mem != NULL)
        return 0;       /* a buffer has no more than it had */
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            r->len += (size_t)n;
        return n;
    }
}

int capture_next(struct capture_reader *r, struct cap_event *ev,
                 const unsigned char **data, char *err, size_t errlen)
{
    for (;;) {
        const unsigned char *at = (r->mem != NULL ? r->mem : r->buf) + r->pos;
        size_t avail = r->len - r->pos;
        uint32_t magic = 0;
        if (avail >= sizeof(magic))
            memcpy(&magic, at, sizeof(magic));
        size_t header = magic == CAP_MAGIC_V1 ? CAP_HEADER_V1 : sizeof(*ev);
        if (avail >= sizeof(magic) && magic != CAP_MAGIC && magic != CAP_MAGIC_V1) {
            snprintf(err, errlen, "not a nianbao capture (bad magic at byte %llu)",
                     (unsigned long long)r->offset);
            return -1;
        }
        if (avail >= header) {
            memset(ev, 0, sizeof(*ev));
            memcpy(ev, at, header);
            if (magic == CAP_MAGIC_V1) {
                /* the first format: a recv took off the wire what it returned */
                ev->magic = CAP_MAGIC;
                ev->wire_len = ev->result;
            }
            if (ev->data_len > CAP_MAX_DATA) {
                snprintf(err, errlen,
                         "corrupt capture: event at byte %llu claims %u data bytes (most is %u)",
                         (unsigned long long)r->offset, ev->data_len, CAP_MAX_DATA);
                return -1;
            }
            size_t total = header + ev->data_len;
            if (avail >= total) {
                *data = at + header;
                r->pos += total;
                r->offset += total;
                r->events++;
                return 1;
            }
        }
        ssize_t n = refill(r);
        if (n < 0) {
            snprintf(err, errlen, "cannot read capture: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
    }
}

size_t capture_leftover(const struct capture_reader *r)
{
    return r->len - r->pos;
}

void capture_close(struct capture_reader *r)
{
    if (r->fd >= 0 && r->fd != STDIN_FILENO)
        close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
    r->mem = NULL;
}

int capture_write(int fd, const struct cap_event *ev, const void *data)
{
    size_t total = sizeof(*ev) + ev->data_len;
    unsigned char *buf = malloc(total);
    if (buf == NULL)
        return -1;
    memcpy(buf, ev, sizeof(*ev));
    if (ev->data_len > 0)
        memcpy(buf + sizeof(*ev), data, ev->data_len);
    ssize_t n;
    do {
        n = write(fd, buf, total);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    free(buf);
    errno = saved;
    if (n < 0)
        return -1;
    if ((size_t)n != total) {
        errno = EIO;
        return -1;
    }
    return 0;
}

char *capture_format_addr(const struct cap_addr *addr, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    if (addr->family == AF_INET &&
        inet_ntop(AF_INET, addr->addr, host, sizeof(host)) != NULL)
        snprintf(buf, buflen, "%s:%u", host, addr->port);
    else if (addr->family == AF_INET6 &&
             inet_ntop(AF_INET6, addr->addr, host, sizeof(host)) != NULL)
        snprintf(buf, buflen, "[%s]:%u", host, addr->port);
    else
        snprintf(buf, buflen, "?");
    return buf;
}

void capture_addr_unmap(struct cap_addr *addr)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (addr->family != AF_INET6 || memcmp(addr->addr, mapped, sizeof(mapped)) != 0)
        return;
    uint8_t v4[4];
    memcpy(v4, addr->addr + 12, 4);
    memset(addr->addr, 0, sizeof(addr->addr));
    memcpy(addr->addr, v4, 4);
    addr->family = AF_INET;
}

int capture_addr_equal(const struct cap_addr *a, const struct cap_addr *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, n) == 0;
}

const char *capture_call_name(unsigned call)
{
    static const char *const names[] = {
        [CALL_NONE] = "?", [CALL_SEND] = "send", [CALL_SENDTO] = "sendto",
        [CALL_SENDMSG] = "sendmsg", [CALL_WRITE] = "write",
        [CALL_WRITEV] = "writev", [CALL_RECV] = "recv",
        [CALL_RECVFROM] = "recvfrom", [CALL_RECVMSG] = "recvmsg",
        [CALL_READ] = "read", [CALL_READV] = "readv",
        [CALL_CONNECT] = "connect", [CALL_ACCEPT] = "accept",
        [CALL_ACCEPT4] = "accept4", [CALL_CLOSE] = "close",
        [CALL_SENDFILE] = "sendfile",
    };
    if (call >= sizeof(names) / sizeof(names[0]) || names[call] == NULL)
        return "?";
    return names[call];
}

const char *capture_kind_name(unsigned kind)
{
    switch (kind) {
    case CAP_CONNECT: return "connect";
    case CAP_ACCEPT: return "accept";
    case CAP_SEND: return "send";
    case CAP_RECV: return "recv";
    case CAP_CLOSE: return "close";
    default: return "?";
    }
}

int capture_find_tap_lib(char *buf, size_t buflen, char *err, size_t errlen)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            int len = snprintf(buf, buflen, "%s/libnianbao-tap.so", exe);
            if (len > 0 && (size_t)len < buflen && access(buf, R_OK) == 0)
                return 0;
        }
    }
    const char *env = getenv("NIANBAO_TAP_LIB");
    if (env != NULL && *env != '\0' && access(env, R_OK) == 0) {
        snprintf(buf, buflen, "%s", env);
        return 0;
    }
    snprintf(err, errlen,
             "cannot find libnianbao-tap.so next to the viewer; build it with "
             "`make viewer-all` or set NIANBAO_TAP_LIB");
    return -1;
}

/* Builds "NAME=VALUE" in a new string, or NULL. */
static char *env_entry(const char *name, const char *value, const char *append)
{
    size_t len = strlen(name) + strlen(value) + 2 +
                 (append != NULL ? strlen(append) + 1 : 0);
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    if (append != NULL && *append != '\0')
        snprintf(s, len, "%s=%s:%s", name, value, append);
    else
        snprintf(s, len, "%s=%s", name, value);
    return s;
}

int capture_spawn_tapped(char *const argv[], const char *lib_path,
                         const char *capture_path, unsigned tap_cap,
                         pid_t *pid, char *err, size_t errlen)
{
    int rc = -1;
    size_t n_env = 0;
    while (environ[n_env] != NULL)
        n_env++;
    char cap_text[24];
    snprintf(cap_text, sizeof(cap_text), "%u", tap_cap);
    char **envp = calloc(n_env + 4, sizeof(*envp));
    char *preload = env_entry("LD_PRELOAD", lib_path, getenv("LD_PRELOAD"));
    char *tap = env_entry("NIANBAO_TAP", capture_path, NULL);
    char *cap = env_entry("NIANBAO_TAP_CAP", cap_text, NULL);
    if (envp == NULL || preload == NULL || tap == NULL || cap == NULL) {
        snprintf(err, errlen, "out of memory starting %s", argv[0]);
        goto end;
    }
    /* The child's environment: ours, with the tap's variables replaced. */
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 ||
            strncmp(environ[i], "NIANBAO_TAP=", 12) == 0 ||
            (tap_cap > 0 && strncmp(environ[i], "NIANBAO_TAP_CAP=", 16) == 0))
            continue;
        envp[k++] = environ[i];
    }
    envp[k++] = preload;
    envp[k++] = tap;
    if (tap_cap > 0)
        envp[k++] = cap;
    envp[k] = NULL;
    int e = posix_spawnp(pid, argv[0], NULL, NULL, argv, envp);
    if (e != 0) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
        goto end;
    }
    rc = 0;
end:
    free(preload);
    free(tap);
    free(cap);
    free(envp);
    return rc;
}
