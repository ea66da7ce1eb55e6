/* tap.c - libnianbao-tap.so: an LD_PRELOAD library that records every byte
 * a program moves through its TCP/UDP sockets, without touching its source.
 *
 *   LD_PRELOAD=viewer/libnianbao-tap.so NIANBAO_TAP=run.nbcap ./stage1_naive/client
 *
 * Each send/recv-like call on an IPv4/IPv6 socket appends one event to the
 * capture file named by NIANBAO_TAP (format in capture.h), with the call's full
 * size and its first NIANBAO_TAP_CAP bytes (default 1024). connect() and
 * accept() are recorded too: they say which end is the client and which the
 * server. sendfile() is recorded as a send of the file's bytes.
 *
 * Rules that keep the tapped program unharmed:
 *   - the real call runs first and its result and errno are returned as-is;
 *   - only bytes the program's own buffers hold are read: never more than the
 *     buffer it passed (recv with MSG_TRUNC returns more than that), never a
 *     failed call's buffers;
 *   - nothing is recorded for descriptors that are not inet sockets (stdout,
 *     pipes, files, Unix sockets): fstat() and getsockname() decide, once per
 *     descriptor, and the answer is cached until close()/dup2()/fclose() ...
 *     change that descriptor (see lookup() for when the cache is checked);
 *   - the tap writes through the real write(), so it never taps itself, and
 *     only whole events on an O_APPEND descriptor: events of several
 *     processes interleave whole;
 *   - its descriptor is close-on-exec and kept at a high number; when the
 *     program closes it or dup2()s over it, the tap moves or reopens it;
 *   - a failing capture file never fails the program: the event is dropped.
 *
 * Cost. A system call costs about as much as a small send() itself, so the
 * tap makes none of its own for a call in a burst: the descriptor's cached
 * answer is trusted, the pid is cached, and the events of a burst (calls less
 * than HOT_NS apart) collect in a buffer of NIANBAO_TAP_BUFFER bytes (default
 * 64 KiB; 0: every event written at once) that is appended in one write()
 * when it is full, FLUSH_NS after its first event (a helper thread, started
 * at the first burst, does that), before fork() and exec(), and at exit. An
 * event that is not part of a burst is written at once, with whatever the
 * buffer held. So a capture lags a busy program by at most FLUSH_NS, and a
 * program killed by a signal loses at most that much of its last burst.
 *
 * A preloaded library has no caller to hand it state, so its state is one
 * file-scope struct, TAP. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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
#define STACK_EVENT 8192        /* unbuffered events up to this size are built on the stack */
#define DEFAULT_BUFFER 65536u   /* NIANBAO_TAP_BUFFER's default */
#define MAX_BUFFER (1u << 20)
#define HOT_NS 1000000ull       /* calls closer than this are a burst */
#define FLUSH_NS 2000000ull     /* a burst's events wait at most this long */

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
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*sendfile64)(int, int, off64_t *, size_t);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*close)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fclose)(FILE *);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    void (*exit_now)(int);      /* _exit */
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
    uint32_t pid;               /* getpid(), kept up to date by fork  */
    struct fd_info fds[FD_CACHE_SIZE];

    /* The burst buffer. LOCK guards everything below and the writes to
     * OUT_FD, so the buffer goes out whole and in order. */
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* the flusher: the buffer got its first event */
    unsigned char *buf;
    size_t buf_len, buf_size;   /* BUF_SIZE 0: no buffering */
    uint64_t last_ns;           /* the last event's time (burst detection) */
    int flusher;                /* the flusher thread runs in this process */
} tap = {
    .out_fd = -1,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/* Set while the tap itself runs on this thread, so nothing it calls is
 * recorded twice, and a signal handler's socket call made while this thread
 * holds the lock is not recorded (rather than deadlock). */
static __thread int in_tap;

static void resolve(void)
{
    if (tap.resolved)
        return;
    /* Each symbol by name: RTLD_NEXT finds libc's definition behind ours. */
#define RESOLVE(field, name) *(void **)&tap.real.field = dlsym(RTLD_NEXT, name)
    RESOLVE(send, "send"); RESOLVE(sendto, "sendto"); RESOLVE(sendmsg, "sendmsg");
    RESOLVE(write, "write"); RESOLVE(writev, "writev"); RESOLVE(recv, "recv");
    RESOLVE(recvfrom, "recvfrom"); RESOLVE(recvmsg, "recvmsg"); RESOLVE(read, "read");
    RESOLVE(readv, "readv"); RESOLVE(sendfile, "sendfile"); RESOLVE(sendfile64, "sendfile64");
    RESOLVE(connect, "connect"); RESOLVE(accept, "accept"); RESOLVE(accept4, "accept4");
    RESOLVE(close, "close"); RESOLVE(dup2, "dup2"); RESOLVE(dup3, "dup3");
    RESOLVE(fclose, "fclose"); RESOLVE(close_range, "close_range");
    RESOLVE(closefrom, "closefrom"); RESOLVE(execve, "execve"); RESOLVE(execv, "execv");
    RESOLVE(execvp, "execvp"); RESOLVE(execvpe, "execvpe"); RESOLVE(exit_now, "_exit");
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

/* ---- writing events ------------------------------------------------------ */

/* Opens the capture file at a high descriptor. Returns it, or -1 - and
 * then the tap stops for this process: retrying at every call would only
 * slow the program down. O_NONBLOCK keeps open() from hanging on a FIFO
 * that no viewer reads; writes block again afterwards. A FIFO gets every
 * event at once (no buffer): a pipe keeps only writes of up to PIPE_BUF
 * bytes whole. */
static int open_output(void)
{
    int fd = open(tap.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        tap.enabled = 0;
        return -1;
    }
    /* Blocking, so a full pipe waits rather than losing an event. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        close(fd);
        tap.enabled = 0;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
        tap.buf_size = 0;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, TAP_FD_MIN);
    if (high >= 0) {
        tap.real.close(fd);
        fd = high;
    }
    return fd;
}

/* Appends LEN bytes (whole events) to the capture. Called with the lock. */
static void write_out(const unsigned char *bytes, size_t len)
{
    for (int attempt = 0; attempt < 2 && len > 0; attempt++) {
        if (tap.out_fd < 0)
            tap.out_fd = open_output();
        if (tap.out_fd < 0)
            return;
        ssize_t n;
        do {
            n = tap.real.write(tap.out_fd, bytes, len);
        } while (n < 0 && errno == EINTR);
        if (n >= 0 || errno != EBADF)
            return;
        tap.out_fd = -1;    /* closed behind our back: reopen once */
    }
}

/* Writes out what the buffer holds. Called with the lock. */
static void flush_locked(void)
{
    if (tap.buf_len > 0) {
        int saved = errno;
        write_out(tap.buf, tap.buf_len);
        tap.buf_len = 0;
        errno = saved;
    }
}

/* Writes out the buffer now (before fork, exec, _exit, at exit). */
static void flush_now(void)
{
    if (!tap.enabled || tap.buf_len == 0 || in_tap)
        return;
    in_tap = 1;
    pthread_mutex_lock(&tap.lock);
    flush_locked();
    pthread_mutex_unlock(&tap.lock);
    in_tap = 0;
}

/* The flusher: sleeps until the buffer gets an event, lets the burst
 * collect for FLUSH_NS, then writes it out. It blocks every signal, so the
 * program's signals go to the program's own threads. */
static void *flusher_run(void *arg)
{
    (void)arg;
    in_tap = 1;
    pthread_mutex_lock(&tap.lock);
    for (;;) {
        while (tap.buf_len == 0)
            pthread_cond_wait(&tap.wake, &tap.lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)FLUSH_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (tap.buf_len > 0 &&
               pthread_cond_timedwait(&tap.wake, &tap.lock, &until) == 0)
            ;
        flush_locked();
    }
    return NULL;
}

/* Starts the flusher, once per process. Called with the lock. Returns 0, or
 * -1 when no thread could be started (then the caller writes at once). */
static int start_flusher(void)
{
    if (tap.flusher)
        return 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, flusher_run, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        tap.buf_size = 0;
        return -1;
    }
    tap.flusher = 1;
    return 0;
}

/* Copies up to LEN bytes of the buffers IOV[0..IOVCNT) into OUT, each
 * buffer no further than its own length. */
static void copy_iov(unsigned char *out, size_t len, const struct iovec *iov, int iovcnt)
{
    size_t at = 0;
    for (int i = 0; iov != NULL && i < iovcnt && at < len; i++) {
        size_t n = iov[i].iov_len;
        if (n > len - at)
            n = len - at;
        if (n > 0)
            memcpy(out + at, iov[i].iov_base, n);
        at += n;
    }
    if (at < len)
        memset(out + at, 0, len - at);   /* never: callers count first */
}

/* Appends EV (header + EV->data_len bytes taken from IOV) to the capture:
 * into the burst buffer when HOT, else written at once together with what
 * the buffer held. */
static void emit(struct cap_event *ev, const struct iovec *iov, int iovcnt, int hot)
{
    size_t total = sizeof(*ev) + ev->data_len;
    pthread_mutex_lock(&tap.lock);
    if (tap.buf_size > 0 && tap.buf == NULL) {
        tap.buf = malloc(tap.buf_size);
        if (tap.buf == NULL)
            tap.buf_size = 0;
    }
    if (total > tap.buf_size - tap.buf_len || tap.buf_size == 0)
        flush_locked();
    if (total <= tap.buf_size) {
        int was_empty = tap.buf_len == 0;
        memcpy(tap.buf + tap.buf_len, ev, sizeof(*ev));
        copy_iov(tap.buf + tap.buf_len + sizeof(*ev), ev->data_len, iov, iovcnt);
        tap.buf_len += total;
        if (!hot || start_flusher() < 0)
            flush_locked();
        else if (was_empty)
            pthread_cond_signal(&tap.wake);
    } else {
        /* too big for the buffer (or no buffer): one write of its own */
        unsigned char stack_buf[STACK_EVENT];
        unsigned char *one = total <= sizeof(stack_buf) ? stack_buf : malloc(total);
        if (one != NULL) {
            memcpy(one, ev, sizeof(*ev));
            copy_iov(one + sizeof(*ev), ev->data_len, iov, iovcnt);
            write_out(one, total);
            if (one != stack_buf)
                free(one);
        }
    }
    pthread_mutex_unlock(&tap.lock);
}

/* fork(): the buffer goes out first, so the child starts empty and no event
 * is written twice; the child has no flusher thread until it needs one. */
static void before_fork(void)
{
    in_tap = 1;
    pthread_mutex_lock(&tap.lock);
    flush_locked();
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&tap.lock);
    in_tap = 0;
}

static void after_fork_child(void)
{
    /* this thread took the lock in before_fork: it is ours to release; the
     * flusher waiting on WAKE did not come along */
    pthread_mutex_unlock(&tap.lock);
    pthread_cond_init(&tap.wake, NULL);
    tap.flusher = 0;
    tap.buf_len = 0;
    tap.last_ns = 0;
    tap.pid = (uint32_t)getpid();
    in_tap = 0;
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
    tap.buf_size = DEFAULT_BUFFER;
    const char *buffer = getenv("NIANBAO_TAP_BUFFER");
    if (buffer != NULL && *buffer != '\0') {
        char *end;
        unsigned long v = strtoul(buffer, &end, 10);
        if (*end == '\0')
            tap.buf_size = v > MAX_BUFFER ? MAX_BUFFER : (size_t)v;
    }
    tap.pid = (uint32_t)getpid();
    if (tap.enabled) {
        read_cmdline();
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    }
    errno = saved;
}

__attribute__((destructor))
static void tap_fini(void)
{
    flush_now();
    /* Whatever a later destructor sends is written at once. */
    pthread_mutex_lock(&tap.lock);
    tap.buf_size = 0;
    pthread_mutex_unlock(&tap.lock);
}

/* ---- what a descriptor is ------------------------------------------------ */

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

/* Forgets what was cached about FD (closed, replaced). */
static void forget_fd(int fd)
{
    if (fd >= 0 && fd < FD_CACHE_SIZE)
        tap.fds[fd].valid = 0;
}

/* Returns what is known about FD when it is an inet socket, else NULL.
 * SCRATCH holds the answer for descriptors beyond the cache.
 *
 * In a burst (HOT) a cached answer is trusted without a system call: the
 * tap sees the calls that close or replace a descriptor (close, dup2, dup3,
 * fclose, close_range, closefrom) and forgets it then. Otherwise fstat()
 * checks that the descriptor is still the same object, which also catches a
 * descriptor closed some way the tap does not see. */
static struct fd_info *lookup(int fd, struct fd_info *scratch, int hot)
{
    if (fd < 0)
        return NULL;
    struct fd_info *info = fd < FD_CACHE_SIZE ? &tap.fds[fd] : scratch;
    if (!(hot && info->valid)) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            memset(info, 0, sizeof(*info));
            return NULL;
        }
        if (!S_ISSOCK(st.st_mode)) {
            /* remember "not a socket" too: a busy file writer pays no fstat */
            memset(info, 0, sizeof(*info));
            info->valid = 1;
            info->dev = st.st_dev;
            info->ino = st.st_ino;
            return NULL;
        }
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
    }
    if (!info->is_inet)
        return NULL;
    /* An unconnected UDP socket has no peer: ask again only outside a burst. */
    if (!info->have_peer && (!hot || info->socktype == SOCK_STREAM))
        fill_peer(info, fd);
    return info;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The time now, and whether this call is part of a burst. */
static uint64_t event_time(int *hot)
{
    uint64_t now = now_ns();
    uint64_t last = __atomic_load_n(&tap.last_ns, __ATOMIC_RELAXED);
    *hot = last != 0 && now >= last && now - last < HOT_NS;
    __atomic_store_n(&tap.last_ns, now, __ATOMIC_RELAXED);
    return now;
}

static void base_event(struct cap_event *ev, const struct fd_info *info, int fd,
                       unsigned kind, unsigned call, uint64_t time_ns)
{
    memset(ev, 0, sizeof(*ev));
    ev->magic = CAP_MAGIC;
    ev->kind = (uint8_t)kind;
    ev->call = (uint8_t)call;
    ev->socktype = info->socktype;
    ev->role = info->role;
    ev->time_ns = time_ns;
    ev->pid = tap.pid;
    ev->fd = fd;
    ev->local = info->local;
    ev->peer = info->peer;
}

static void emit_role_event(const struct fd_info *info, int fd, unsigned kind,
                            unsigned call, uint64_t time_ns)
{
    struct cap_event ev;
    base_event(&ev, info, fd, kind, call, time_ns);
    ev.data_len = tap.cmdline_len;
    struct iovec iov = { tap.cmdline, tap.cmdline_len };
    emit(&ev, &iov, 1, 0);
}

/* ---- recording a call ------------------------------------------------------ */

/* One data call, as the wrappers describe it. */
struct io_call {
    int fd;
    unsigned kind, call;
    ssize_t result;             /* the call's return value */
    int err;                    /* errno after it */
    const struct iovec *iov;    /* the program's buffers (NULL: none to read) */
    int iovcnt;
    int flags;                  /* recv flags (MSG_TRUNC matters) */
    int msg_flags;              /* recvmsg: the msghdr's flags after the call */
    const struct sockaddr *peer;   /* datagram address, or NULL */
    socklen_t peer_len;
};

/* The sum of the buffers' lengths, saturating. */
static size_t iov_room(const struct iovec *iov, int iovcnt)
{
    size_t room = 0;
    for (int i = 0; iov != NULL && i < iovcnt; i++)
        room = iov[i].iov_len > SIZE_MAX - room ? SIZE_MAX : room + iov[i].iov_len;
    return room;
}

/* Records one data call. Only the bytes the program's buffers received or
 * held are read: on a stream socket recv(MSG_TRUNC) discards the bytes and
 * writes none; on a datagram socket it returns the datagram's length, which
 * may exceed the buffer. */
static void record_io(const struct io_call *io)
{
    if (!tap.enabled || in_tap)
        return;
    if (io->result < 0 && (io->err == EAGAIN || io->err == EWOULDBLOCK || io->err == EINTR))
        return;
    in_tap = 1;
    int hot;
    uint64_t time_ns = event_time(&hot);
    struct fd_info scratch = { 0 };
    struct fd_info *info = lookup(io->fd, &scratch, hot);
    if (info == NULL)
        goto end;
    if (info->connect_pending && info->have_peer) {
        info->connect_pending = 0;
        emit_role_event(info, io->fd, CAP_CONNECT, CALL_CONNECT, time_ns);
    }
    struct cap_event ev;
    base_event(&ev, info, io->fd, io->kind, io->call, time_ns);
    if (io->peer != NULL && io->peer_len >= sizeof(sa_family_t)) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, io->peer, io->peer_len < sizeof(ss) ? io->peer_len : sizeof(ss));
        fill_addr(&ev.peer, &ss);
    }
    ev.err = io->result < 0 ? io->err : 0;
    /* What reached (or left) the program, and what left the connection. */
    int64_t moved = io->result, wire = io->result;
    if (io->kind == CAP_RECV && io->result > 0) {
        size_t room = iov_room(io->iov, io->iovcnt);
        if ((io->flags & MSG_TRUNC) && info->socktype == SOCK_STREAM) {
            moved = 0;                          /* discarded, not copied */
        } else if ((size_t)io->result > room) {
            moved = (int64_t)room;              /* a datagram cut to fit */
        } else if (io->msg_flags & MSG_TRUNC) {
            wire = -1;                          /* cut; its length untold */
        }
    }
    ev.result = io->result < 0 ? -1 : moved;
    ev.wire_len = io->result < 0 ? 0 : wire;
    /* a failed call's buffers may be anything (NULL, a bad count); and
     * never more than the buffers hold */
    size_t copy = moved > 0 && io->iov != NULL ? (size_t)moved : 0;
    if (copy > tap.cap)
        copy = tap.cap;
    size_t room = iov_room(io->iov, io->iovcnt);
    if (copy > room)
        copy = room;
    ev.data_len = (uint32_t)copy;
    emit(&ev, copy > 0 ? io->iov : NULL, io->iovcnt, hot);
end:
    in_tap = 0;
}

/* The interposed calls: real call first, then record, errno untouched. */

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    resolve();
    ssize_t n = tap.real.send(fd, buf, len, flags);
    int err = errno;
    struct iovec iov = { (void *)buf, len };
    struct io_call io = { fd, CAP_SEND, CALL_SEND, n, err, &iov, 1, 0, 0, NULL, 0 };
    record_io(&io);
    errno = err;
    return n;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *addr, socklen_t addrlen)
{
    resolve();
    ssize_t n = tap.real.sendto(fd, buf, len, flags, addr, addrlen);
    int err = errno;
    struct iovec iov = { (void *)buf, len };
    struct io_call io = { fd, CAP_SEND, CALL_SENDTO, n, err, &iov, 1, 0, 0,
                          n >= 0 ? addr : NULL, addr ? addrlen : 0 };
    record_io(&io);
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
    struct io_call io = { fd, CAP_SEND, CALL_SENDMSG, n, err, ok ? ok->msg_iov : NULL,
                          ok ? (int)ok->msg_iovlen : 0, 0, 0, ok ? ok->msg_name : NULL,
                          ok && ok->msg_name ? ok->msg_namelen : 0 };
    record_io(&io);
    errno = err;
    return n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    resolve();
    ssize_t n = tap.real.write(fd, buf, len);
    int err = errno;
    struct iovec iov = { (void *)buf, len };
    struct io_call io = { fd, CAP_SEND, CALL_WRITE, n, err, &iov, 1, 0, 0, NULL, 0 };
    record_io(&io);
    errno = err;
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    resolve();
    ssize_t n = tap.real.writev(fd, iov, iovcnt);
    int err = errno;
    struct io_call io = { fd, CAP_SEND, CALL_WRITEV, n, err, n >= 0 ? iov : NULL,
                          n >= 0 ? iovcnt : 0, 0, 0, NULL, 0 };
    record_io(&io);
    errno = err;
    return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    resolve();
    ssize_t n = tap.real.recv(fd, buf, len, flags);
    int err = errno;
    /* A peek leaves the bytes in the socket: the real read comes later. */
    if (!(flags & MSG_PEEK)) {
        struct iovec iov = { buf, len };
        struct io_call io = { fd, CAP_RECV, CALL_RECV, n, err, &iov, 1, flags, 0, NULL, 0 };
        record_io(&io);
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
        struct iovec iov = { buf, len };
        struct io_call io = { fd, CAP_RECV, CALL_RECVFROM, n, err, &iov, 1, flags, 0,
                              n >= 0 ? addr : NULL,
                              (n >= 0 && addr && addrlen) ? *addrlen : 0 };
        record_io(&io);
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
    if (!(flags & MSG_PEEK)) {
        struct io_call io = { fd, CAP_RECV, CALL_RECVMSG, n, err, ok ? ok->msg_iov : NULL,
                              ok ? (int)ok->msg_iovlen : 0, flags, ok ? ok->msg_flags : 0,
                              ok ? ok->msg_name : NULL,
                              ok && ok->msg_name ? ok->msg_namelen : 0 };
        record_io(&io);
    }
    errno = err;
    return n;
}

ssize_t read(int fd, void *buf, size_t len)
{
    resolve();
    ssize_t n = tap.real.read(fd, buf, len);
    int err = errno;
    struct iovec iov = { buf, len };
    struct io_call io = { fd, CAP_RECV, CALL_READ, n, err, &iov, 1, 0, 0, NULL, 0 };
    record_io(&io);
    errno = err;
    return n;
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    resolve();
    ssize_t n = tap.real.readv(fd, iov, iovcnt);
    int err = errno;
    struct io_call io = { fd, CAP_RECV, CALL_READV, n, err, n >= 0 ? iov : NULL,
                          n >= 0 ? iovcnt : 0, 0, 0, NULL, 0 };
    record_io(&io);
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

/* sendfile: the kernel copies from IN_FD to the socket, so the bytes are in
 * no buffer of the program's; the tap reads the first of them back from the
 * file with pread() at the offset the call started from: *OFFSET before the
 * call, or (OFFSET NULL) the file position before it, which the call moved
 * by its result. A file that cannot be read back gives a send whose bytes
 * were not captured. */
static void record_sendfile(int out_fd, int in_fd, int64_t start, ssize_t n, int err)
{
    if (!tap.enabled || in_tap)
        return;
    unsigned char stack_buf[4096];
    unsigned char *copy = NULL;
    size_t want = n > 0 ? (size_t)n : 0;
    if (want > tap.cap)
        want = tap.cap;
    ssize_t got = 0;
    if (want > 0 && start >= 0) {
        in_tap = 1;
        copy = want <= sizeof(stack_buf) ? stack_buf : malloc(want);
        if (copy != NULL) {
            do {
                got = pread(in_fd, copy, want, (off_t)start);
            } while (got < 0 && errno == EINTR);
        }
        in_tap = 0;
    }
    if (got < 0)
        got = 0;
    /* only the bytes read back are copied: RESULT stays the call's size */
    struct iovec iov = { copy, (size_t)got };
    struct io_call io = { out_fd, CAP_SEND, CALL_SENDFILE, n, err, got > 0 ? &iov : NULL,
                          got > 0 ? 1 : 0, 0, 0, NULL, 0 };
    record_io(&io);
    if (copy != NULL && copy != stack_buf)
        free(copy);
}

/* The offset a sendfile started from. Returns -1 when it cannot be told. */
static int64_t sendfile_start(int in_fd, const int64_t *offset_after, ssize_t n)
{
    if (n <= 0)
        return -1;
    if (offset_after != NULL)
        return *offset_after - n;
    int saved = errno;
    off_t pos = lseek(in_fd, 0, SEEK_CUR);
    errno = saved;
    return pos < 0 ? -1 : (int64_t)pos - n;
}

ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    resolve();
    ssize_t n = tap.real.sendfile(out_fd, in_fd, offset, count);
    int err = errno;
    if (tap.enabled && !in_tap) {
        int64_t after = offset != NULL ? (int64_t)*offset : 0;
        record_sendfile(out_fd, in_fd,
                        sendfile_start(in_fd, offset != NULL ? &after : NULL, n), n, err);
    }
    errno = err;
    return n;
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    resolve();
    ssize_t n = tap.real.sendfile64(out_fd, in_fd, offset, count);
    int err = errno;
    if (tap.enabled && !in_tap) {
        int64_t after = offset != NULL ? (int64_t)*offset : 0;
        record_sendfile(out_fd, in_fd,
                        sendfile_start(in_fd, offset != NULL ? &after : NULL, n), n, err);
    }
    errno = err;
    return n;
}

/* Marks FD's socket as ROLE and records the connect/accept. */
static void record_role(int fd, unsigned kind, unsigned call, unsigned role)
{
    if (!tap.enabled || in_tap)
        return;
    in_tap = 1;
    int hot;
    uint64_t time_ns = event_time(&hot);
    forget_fd(fd);      /* a new socket at this number: look at it afresh */
    struct fd_info scratch = { 0 };
    struct fd_info *info = lookup(fd, &scratch, 0);
    if (info != NULL) {
        info->role = (uint8_t)role;
        if (info->have_peer)
            emit_role_event(info, fd, kind, call, time_ns);
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
            pthread_mutex_lock(&tap.lock);
            if (fd == tap.out_fd)
                tap.out_fd = -1;
            pthread_mutex_unlock(&tap.lock);
        } else {
            in_tap = 1;
            int saved = errno;
            int hot;
            uint64_t time_ns = event_time(&hot);
            struct fd_info scratch = { 0 };
            struct fd_info *info = lookup(fd, &scratch, hot);
            if (info != NULL) {
                struct cap_event ev;
                base_event(&ev, info, fd, CAP_CLOSE, CALL_CLOSE, time_ns);
                emit(&ev, NULL, 0, hot);
            }
            errno = saved;
            in_tap = 0;
        }
    }
    forget_fd(fd);
    return tap.real.close(fd);
}

int fclose(FILE *stream)
{
    resolve();
    if (stream != NULL) {
        int saved = errno;
        int fd = fileno(stream);
        errno = saved;
        forget_fd(fd);
    }
    return tap.real.fclose(stream);
}

/* Before the program puts something at NEWFD, move the capture descriptor
 * out of its way. */
static void clear_slot(int newfd)
{
    if (tap.enabled && newfd >= 0 && newfd == tap.out_fd) {
        int saved = errno;
        pthread_mutex_lock(&tap.lock);
        if (newfd == tap.out_fd)
            tap.out_fd = fcntl(tap.out_fd, F_DUPFD_CLOEXEC, TAP_FD_MIN);   /* -1: reopened later */
        pthread_mutex_unlock(&tap.lock);
        errno = saved;
    }
    forget_fd(newfd);
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

/* close_range/closefrom close many descriptors: forget them all, and keep
 * the capture descriptor out of the range (it is reopened at the next
 * event when it was in it). */
static void forget_range(unsigned first, unsigned last)
{
    for (unsigned fd = first; fd <= last && fd < FD_CACHE_SIZE; fd++)
        tap.fds[fd].valid = 0;
    if (tap.out_fd >= 0 && (unsigned)tap.out_fd >= first && (unsigned)tap.out_fd <= last) {
        pthread_mutex_lock(&tap.lock);
        tap.out_fd = -1;
        pthread_mutex_unlock(&tap.lock);
    }
}

int close_range(unsigned first, unsigned last, int flags)
{
    resolve();
    if (tap.real.close_range == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (!(flags & CLOSE_RANGE_CLOEXEC))
        forget_range(first, last);
    return tap.real.close_range(first, last, flags);
}

void closefrom(int lowfd)
{
    resolve();
    if (lowfd >= 0)
        forget_range((unsigned)lowfd, ~0u);
    if (tap.real.closefrom != NULL)
        tap.real.closefrom(lowfd);
}

/* exec() and _exit() end this process image without running destructors:
 * the buffer goes out first. */
int execve(const char *path, char *const argv[], char *const envp[])
{
    resolve();
    flush_now();
    return tap.real.execve(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
    resolve();
    flush_now();
    return tap.real.execv(path, argv);
}

int execvp(const char *file, char *const argv[])
{
    resolve();
    flush_now();
    return tap.real.execvp(file, argv);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    resolve();
    flush_now();
    return tap.real.execvpe(file, argv, envp);
}

void _exit(int status)
{
    resolve();
    flush_now();
    tap.real.exit_now(status);
    for (;;)    /* _exit does not return; tell the compiler so */
        ;
}
