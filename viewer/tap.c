/* tap.c - libnianbao-tap.so: an LD_PRELOAD library that records every byte
 * a program moves through its TCP/UDP sockets, without touching its source.
 *
 *   LD_PRELOAD=viewer/libnianbao-tap.so NIANBAO_TAP=run.nbcap ./stage1_naive/client
 *
 * Each send/recv-like call on an IPv4/IPv6 socket appends one event to the
 * capture file named by NIANBAO_TAP (format in capture.h), with the call's full
 * size and its first NIANBAO_TAP_CAP bytes (default 1024). connect() and
 * accept() are recorded too: they say which end is the client and which the
 * server.
 *
 * Rules that keep the tapped program unharmed:
 *   - the real call runs first and its result and errno are returned as-is;
 *   - nothing is recorded for descriptors that are not inet sockets (stdout,
 *     pipes, files, Unix sockets): one fstat() per call decides, and also
 *     tells a reused descriptor number from the socket cached before;
 *   - the tap writes through the real write(), so it never taps itself, and
 *     one write() per event on an O_APPEND descriptor: events of several
 *     processes interleave whole;
 *   - its descriptor is close-on-exec and kept at a high number; when the
 *     program closes it or dup2()s over it, the tap moves or reopens it;
 *   - a failing capture file never fails the program: the event is dropped.
 *
 * A preloaded library has no caller to hand it state, so its state is one
 * file-scope struct, TAP. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"

#define FD_CACHE_SIZE 1024      /* descriptors below this are cached */
#define TAP_FD_MIN 900          /* where the capture descriptor is moved */
#define STACK_EVENT 8192        /* events up to this size are built on the stack */

/* What the tap knows about one descriptor. */
struct fd_info {
    dev_t dev;
    ino_t ino;
    uint8_t valid;          /* this entry describes (dev, ino)            */
    uint8_t is_inet;        /* AF_INET/AF_INET6 socket: record it          */
    uint8_t socktype;
    uint8_t role;           /* enum cap_role                               */
    uint8_t have_peer;      /* peer address known (connected)              */
    uint8_t connect_pending;/* connect() said EINPROGRESS: CONNECT not yet recorded */
    struct cap_addr local, peer;
};

struct real_calls {
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*close)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
};

static struct {
    struct real_calls real;
    int resolved;
    int enabled;                /* NIANBAO_TAP was set                */
    char path[4096];            /* the capture file                   */
    int out_fd;                 /* -1: (re)open before the next event */
    unsigned cap;               /* bytes copied per call              */
    char cmdline[200];          /* this program, for connect/accept   */
    uint32_t cmdline_len;
    struct fd_info fds[FD_CACHE_SIZE];
} tap = { .out_fd = -1 };

/* Set while the tap itself runs on this thread, so nothing it calls is
 * recorded twice. */
static __thread int in_tap;

static void resolve(void)
{
    if (tap.resolved)
        return;
    /* Each symbol by name: RTLD_NEXT finds libc's definition behind ours. */
#define RESOLVE(name) *(void **)&tap.real.name = dlsym(RTLD_NEXT, #name)
    RESOLVE(send); RESOLVE(sendto); RESOLVE(sendmsg); RESOLVE(write);
    RESOLVE(writev); RESOLVE(recv); RESOLVE(recvfrom); RESOLVE(recvmsg);
    RESOLVE(read); RESOLVE(readv); RESOLVE(connect); RESOLVE(accept);
    RESOLVE(accept4); RESOLVE(close); RESOLVE(dup2); RESOLVE(dup3);
    RESOLVE(sendfile);
#undef RESOLVE
    tap.resolved = 1;
}

static void read_cmdline(void)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = tap.real.read(fd, tap.cmdline, sizeof(tap.cmdline) - 1);
    tap.real.close(fd);
    if (n <= 0)
        return;
    /* NUL-separated arguments become one readable line. */
    while (n > 0 && tap.cmdline[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (tap.cmdline[i] == '\0')
            tap.cmdline[i] = ' ';
    tap.cmdline_len = (uint32_t)n;
}

__attribute__((constructor))
static void tap_init(void)
{
    int saved = errno;
    resolve();
    const char *path = getenv("NIANBAO_TAP");
    if (path != NULL && *path != '\0') {
        /* A relative path is pinned now: the file is opened at the first
         * event, perhaps after the program changed directory. */
        char cwd[2048];
        int len;
        if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
            len = snprintf(tap.path, sizeof(tap.path), "%s/%s", cwd, path);
        else
            len = snprintf(tap.path, sizeof(tap.path), "%s", path);
        tap.enabled = len > 0 && (size_t)len < sizeof(tap.path);
    }
    tap.cap = CAP_DEFAULT_CAP;
    const char *cap = getenv("NIANBAO_TAP_CAP");
    if (cap != NULL && *cap != '\0') {
        char *end;
        unsigned long v = strtoul(cap, &end, 10);
        if (*end == '\0')
            tap.cap = v > CAP_MAX_CAP ? CAP_MAX_CAP : (unsigned)v;
    }
    if (tap.enabled)
        read_cmdline();
    errno = saved;
}

/* Opens the capture file at a high descriptor. Returns it, or -1 - and
 * then the tap stops for this process: retrying at every call would only
 * slow the program down. O_NONBLOCK keeps open() from hanging on a FIFO
 * that no viewer reads; writes block again afterwards. */
static int open_output(void)
{
    int fd = open(tap.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        tap.enabled = 0;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int high = fcntl(fd, F_DUPFD_CLOEXEC, TAP_FD_MIN);
    if (high >= 0) {
        tap.real.close(fd);
        fd = high;
    }
    return fd;
}

static void emit(struct cap_event *ev, const struct iovec *iov, int iovcnt)
{
    size_t want = ev->data_len;
    size_t total = sizeof(*ev) + want;
    unsigned char stack_buf[STACK_EVENT];
    unsigned char *buf = total <= sizeof(stack_buf) ? stack_buf : malloc(total);
    if (buf == NULL)
        return;
    memcpy(buf, ev, sizeof(*ev));
    size_t at = sizeof(*ev);
    for (int i = 0; iov != NULL && i < iovcnt && at < total; i++) {
        size_t n = iov[i].iov_len;
        if (n > total - at)
            n = total - at;
        if (n > 0)
            memcpy(buf + at, iov[i].iov_base, n);
        at += n;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (tap.out_fd < 0)
            tap.out_fd = open_output();
        if (tap.out_fd < 0)
            break;
        ssize_t n;
        do {
            n = tap.real.write(tap.out_fd, buf, total);
        } while (n < 0 && errno == EINTR);
        if (n >= 0 || errno != EBADF)
            break;
        tap.out_fd = -1;    /* closed behind our back: reopen once */
    }
    if (buf != stack_buf)
        free(buf);
}

static void fill_addr(struct cap_addr *out, const struct sockaddr_storage *ss)
{
    memset(out, 0, sizeof(*out));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        out->family = AF_INET;
        out->port = ntohs(in->sin_port);
        memcpy(out->addr, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        out->family = AF_INET6;
        out->port = ntohs(in6->sin6_port);
        memcpy(out->addr, &in6->sin6_addr, 16);
    }
}

static void fill_peer(struct fd_info *info, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        fill_addr(&info->peer, &ss);
        info->have_peer = 1;
        /* the local address is settled once connected */
        len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
            fill_addr(&info->local, &ss);
    }
}

/* Returns what is known about FD when it is an inet socket, else NULL.
 * SCRATCH holds the answer for descriptors beyond the cache. */
static struct fd_info *lookup(int fd, struct fd_info *scratch)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return NULL;
    struct fd_info *info = fd < FD_CACHE_SIZE ? &tap.fds[fd] : scratch;
    if (!info->valid || info->dev != st.st_dev || info->ino != st.st_ino) {
        memset(info, 0, sizeof(*info));
        info->dev = st.st_dev;
        info->ino = st.st_ino;
        info->valid = 1;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
            (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
            info->is_inet = 1;
            fill_addr(&info->local, &ss);
            int type = 0;
            len = sizeof(type);
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
                info->socktype = (uint8_t)type;
        }
    }
    if (!info->is_inet)
        return NULL;
    if (!info->have_peer)
        fill_peer(info, fd);
    return info;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void base_event(struct cap_event *ev, const struct fd_info *info, int fd,
                       unsigned kind, unsigned call)
{
    memset(ev, 0, sizeof(*ev));
    ev->magic = CAP_MAGIC;
    ev->kind = (uint8_t)kind;
    ev->call = (uint8_t)call;
    ev->socktype = info->socktype;
    ev->role = info->role;
    ev->time_ns = now_ns();
    ev->pid = (uint32_t)getpid();
    ev->fd = fd;
    ev->local = info->local;
    ev->peer = info->peer;
}

static void emit_role_event(const struct fd_info *info, int fd, unsigned kind,
                            unsigned call)
{
    struct cap_event ev;
    base_event(&ev, info, fd, kind, call);
    ev.data_len = tap.cmdline_len;
    struct iovec iov = { tap.cmdline, tap.cmdline_len };
    emit(&ev, &iov, 1);
}

/* Records one data call. RESULT/ERR are the call's outcome; IOV holds the
 * bytes it moved (only the first RESULT bytes count); PEER, when not NULL,
 * is the datagram's address (sendto/recvfrom on an unconnected socket). */
static void record_io(int fd, unsigned kind, unsigned call, ssize_t result,
                      int err, const struct iovec *iov, int iovcnt,
                      const struct sockaddr *peer, socklen_t peer_len)
{
    if (!tap.enabled || in_tap)
        return;
    if (result < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
        return;
    if (result <= 0) {
        /* a failed call's buffers may be anything (NULL, a bad count):
         * only the bytes of a call that moved some are read */
        iov = NULL;
        iovcnt = 0;
    }
    in_tap = 1;
    struct fd_info scratch = { 0 };
    struct fd_info *info = lookup(fd, &scratch);
    if (info == NULL)
        goto end;
    if (info->connect_pending && info->have_peer) {
        info->connect_pending = 0;
        emit_role_event(info, fd, CAP_CONNECT, CALL_CONNECT);
    }
    struct cap_event ev;
    base_event(&ev, info, fd, kind, call);
    if (peer != NULL && peer_len >= sizeof(sa_family_t)) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, peer, peer_len < sizeof(ss) ? peer_len : sizeof(ss));
        fill_addr(&ev.peer, &ss);
    }
    ev.result = result;
    ev.err = result < 0 ? err : 0;
    size_t copy = result > 0 ? (size_t)result : 0;
    if (copy > tap.cap)
        copy = tap.cap;
    ev.data_len = (uint32_t)copy;
    emit(&ev, iov, iovcnt);
end:
    in_tap = 0;
}

/* The interposed calls: real call first, then record, errno untouched. */

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    resolve();
    ssize_t n = tap.real.send(fd, buf, len, flags);
    int err = errno;
    struct iovec iov = { (void *)buf, n > 0 ? (size_t)n : 0 };
    record_io(fd, CAP_SEND, CALL_SEND, n, err, &iov, 1, NULL, 0);
    errno = err;
    return n;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *addr, socklen_t addrlen)
{
    resolve();
    ssize_t n = tap.real.sendto(fd, buf, len, flags, addr, addrlen);
    int err = errno;
    struct iovec iov = { (void *)buf, n > 0 ? (size_t)n : 0 };
    record_io(fd, CAP_SEND, CALL_SENDTO, n, err, &iov, 1, addr, addr ? addrlen : 0);
    errno = err;
    return n;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    resolve();
    ssize_t n = tap.real.sendmsg(fd, msg, flags);
    int err = errno;
    /* sendmsg(fd, NULL, 0) fails with EFAULT: MSG is read only when the
     * call succeeded, so the tap never crashes a program the kernel let
     * off with an error. */
    const struct msghdr *ok = n >= 0 ? msg : NULL;
    record_io(fd, CAP_SEND, CALL_SENDMSG, n, err, ok ? ok->msg_iov : NULL,
              ok ? (int)ok->msg_iovlen : 0, ok ? ok->msg_name : NULL,
              ok && ok->msg_name ? ok->msg_namelen : 0);
    errno = err;
    return n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    resolve();
    ssize_t n = tap.real.write(fd, buf, len);
    int err = errno;
    struct iovec iov = { (void *)buf, n > 0 ? (size_t)n : 0 };
    record_io(fd, CAP_SEND, CALL_WRITE, n, err, &iov, 1, NULL, 0);
    errno = err;
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    resolve();
    ssize_t n = tap.real.writev(fd, iov, iovcnt);
    int err = errno;
    record_io(fd, CAP_SEND, CALL_WRITEV, n, err, iov, iovcnt, NULL, 0);
    errno = err;
    return n;
}

/* sendfile: the kernel copies from IN_FD to the socket, so the bytes never
 * pass through the program; the tap reads what was sent back from the file
 * (pread at the offset the call started from). The stage servers send
 * their spooled replies this way. */
ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    resolve();
    off_t start = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
    ssize_t n = tap.real.sendfile(out_fd, in_fd, offset, count);
    int err = errno;
    if (n > 0 && tap.enabled && !in_tap && start >= 0) {
        static __thread unsigned char copy[CAP_MAX_CAP];
        size_t want = (size_t)n < tap.cap ? (size_t)n : tap.cap;
        ssize_t got = pread(in_fd, copy, want, start);
        if (got < 0)
            got = 0;
        memset(copy + got, 0, want - (size_t)got);
        struct iovec iov = { copy, want };
        record_io(out_fd, CAP_SEND, CALL_SENDFILE, n, err, &iov, 1, NULL, 0);
    } else {
        record_io(out_fd, CAP_SEND, CALL_SENDFILE, n, err, NULL, 0, NULL, 0);
    }
    errno = err;
    return n;
}
ssize_t sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
    __attribute__((alias("sendfile")));

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    resolve();
    ssize_t n = tap.real.recv(fd, buf, len, flags);
    int err = errno;
    /* A peek leaves the bytes in the socket: the real read comes later. */
    if (!(flags & MSG_PEEK)) {
        struct iovec iov = { buf, n > 0 ? (size_t)n : 0 };
        record_io(fd, CAP_RECV, CALL_RECV, n, err, &iov, 1, NULL, 0);
    }
    errno = err;
    return n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                 struct sockaddr *addr, socklen_t *addrlen)
{
    resolve();
    ssize_t n = tap.real.recvfrom(fd, buf, len, flags, addr, addrlen);
    int err = errno;
    if (!(flags & MSG_PEEK)) {
        struct iovec iov = { buf, n > 0 ? (size_t)n : 0 };
        record_io(fd, CAP_RECV, CALL_RECVFROM, n, err, &iov, 1,
                  n >= 0 ? addr : NULL, (n >= 0 && addr && addrlen) ? *addrlen : 0);
    }
    errno = err;
    return n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    resolve();
    ssize_t n = tap.real.recvmsg(fd, msg, flags);
    int err = errno;
    const struct msghdr *ok = n >= 0 ? msg : NULL;    /* as in sendmsg */
    if (!(flags & MSG_PEEK))
        record_io(fd, CAP_RECV, CALL_RECVMSG, n, err, ok ? ok->msg_iov : NULL,
                  ok ? (int)ok->msg_iovlen : 0, ok ? ok->msg_name : NULL,
                  ok && ok->msg_name ? ok->msg_namelen : 0);
    errno = err;
    return n;
}

ssize_t read(int fd, void *buf, size_t len)
{
    resolve();
    ssize_t n = tap.real.read(fd, buf, len);
    int err = errno;
    struct iovec iov = { buf, n > 0 ? (size_t)n : 0 };
    record_io(fd, CAP_RECV, CALL_READ, n, err, &iov, 1, NULL, 0);
    errno = err;
    return n;
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    resolve();
    ssize_t n = tap.real.readv(fd, iov, iovcnt);
    int err = errno;
    record_io(fd, CAP_RECV, CALL_READV, n, err, iov, iovcnt, NULL, 0);
    errno = err;
    return n;
}

/* Fortified builds call these instead of recv/read/recvfrom. */
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        abort();
    return recv(fd, buf, len, flags);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        abort();
    return read(fd, buf, len);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *addrlen);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *addrlen)
{
    if (len > buflen)
        abort();
    return recvfrom(fd, buf, len, flags, addr, addrlen);
}

/* Marks FD's socket as ROLE and records the connect/accept. */
static void record_role(int fd, unsigned kind, unsigned call, unsigned role)
{
    if (!tap.enabled || in_tap)
        return;
    in_tap = 1;
    struct fd_info scratch = { 0 };
    struct fd_info *info = lookup(fd, &scratch);
    if (info != NULL) {
        info->role = (uint8_t)role;
        if (info->have_peer)
            emit_role_event(info, fd, kind, call);
        else
            info->connect_pending = 1;
    }
    in_tap = 0;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    resolve();
    int rc = tap.real.connect(fd, addr, len);
    int err = errno;
    if (rc == 0 || err == EINPROGRESS)
        record_role(fd, CAP_CONNECT, CALL_CONNECT, ROLE_CLIENT);
    errno = err;
    return rc;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    resolve();
    int rc = tap.real.accept(fd, addr, len);
    int err = errno;
    if (rc >= 0)
        record_role(rc, CAP_ACCEPT, CALL_ACCEPT, ROLE_SERVER);
    errno = err;
    return rc;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    resolve();
    int rc = tap.real.accept4(fd, addr, len, flags);
    int err = errno;
    if (rc >= 0)
        record_role(rc, CAP_ACCEPT, CALL_ACCEPT4, ROLE_SERVER);
    errno = err;
    return rc;
}

int close(int fd)
{
    resolve();
    if (tap.enabled && !in_tap) {
        if (fd >= 0 && fd == tap.out_fd) {
            /* The program wants this number (closing every descriptor, say):
             * give it up and reopen elsewhere at the next event. */
            tap.out_fd = -1;
        } else {
            in_tap = 1;
            int saved = errno;
            struct fd_info scratch = { 0 };
            struct fd_info *info = lookup(fd, &scratch);
            if (info != NULL) {
                struct cap_event ev;
                base_event(&ev, info, fd, CAP_CLOSE, CALL_CLOSE);
                emit(&ev, NULL, 0);
            }
            if (fd >= 0 && fd < FD_CACHE_SIZE)
                tap.fds[fd].valid = 0;
            errno = saved;
            in_tap = 0;
        }
    }
    return tap.real.close(fd);
}

/* Before the program puts something at NEWFD, move the capture descriptor
 * out of its way. */
static void clear_slot(int newfd)
{
    if (tap.enabled && newfd >= 0 && newfd == tap.out_fd) {
        int saved = errno;
        int moved = fcntl(tap.out_fd, F_DUPFD_CLOEXEC, TAP_FD_MIN);
        tap.out_fd = moved;     /* -1: reopened at the next event */
        errno = saved;
    }
    if (newfd >= 0 && newfd < FD_CACHE_SIZE)
        tap.fds[newfd].valid = 0;
}

int dup2(int oldfd, int newfd)
{
    resolve();
    if (oldfd != newfd)
        clear_slot(newfd);
    return tap.real.dup2(oldfd, newfd);
}

int dup3(int oldfd, int newfd, int flags)
{
    resolve();
    if (oldfd != newfd)
        clear_slot(newfd);
    return tap.real.dup3(oldfd, newfd, flags);
}
