/* slicer.c - a seeded chaos relay: it stands between a client and a server
 * and re-cuts the byte stream into small pieces, each sent on its own.
 *
 * TCP promises the same bytes in the same order, never the same pieces. On
 * loopback a reply written with one send() usually arrives in one recv(),
 * which hides the sticky-packet bug the lesson is about. Put the slicer in
 * between and the client sees the reply in pieces of min..max bytes: a
 * client that treats one recv() as one message breaks at once, one that
 * frames its messages does not care.
 *
 * The cuts come from a small PRNG seeded with --seed and the connection's
 * number, one stream per direction, so a failure seen once can be replayed
 * with the same seed (toxiproxy's slicer has no seed).
 *
 * Each accepted connection gets its own process; in it one thread per
 * direction, so each direction is a plain blocking recv/send loop.
 *
 * --pace makes every piece its own recv() at the receiver: after each
 * piece the slicer waits until the receiving program has read it all. Both
 * ends are on this machine, so the kernel can say, of the receiver's socket,
 * how many bytes it has taken in and how many of them wait unread
 * (sock_diag, as `ss` asks it: no privileges). A send() on loopback can
 * return before the receiver's side has taken the bytes in, so "nothing
 * unread" alone is not enough: the bytes taken in must be all we sent. */
#define _GNU_SOURCE   /* accept4 */
#include "cli.h"
#include "net.h"
#include "run.h"
#include "spawn_child.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/tcp.h>      /* TCP_NODELAY, and struct tcp_info with tcpi_bytes_received */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG_NAME "slicer"
/* One recv's worth; also the largest piece, so a piece always fits. */
#define RELAY_BUF_SIZE 65536
#define MAX_DELAY_US 10000000UL
/* --pace: how long a piece that is only partly here waits for its rest
 * before the part on hand goes out (a sender that stopped mid-piece may be
 * waiting for an answer; a reply's parts sent back to back arrive far
 * sooner than this). */
#define PACE_TOPUP_MS 200
#define PACE_POLL_MAX_US 1000UL   /* the longest sleep between two looks */

struct slicer_config {
    const char *host;          /* where we listen */
    const char *listen_port;
    const char *to_spec;       /* "HOST:PORT" as given */
    char to_host[256];
    char to_port[8];
    unsigned long piece_min, piece_max;
    unsigned long delay_us;
    unsigned long seed;
    const char *direction;     /* "down", "up" or "both" */
    int slice_down, slice_up;
    int log;
    int pace;
};

/* splitmix64: tiny, fast and good enough to choose piece sizes; what
 * matters here is that it is ours, so a seed means the same thing on every
 * machine and libc. */
struct piece_rng {
    uint64_t state;
};

static uint64_t rng_next(struct piece_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in LO..HI (HI - LO < 2^32), without the bias of a plain %. */
static unsigned long rng_between(struct piece_rng *rng, unsigned long lo,
                                 unsigned long hi)
{
    uint64_t range = (uint64_t)(hi - lo) + 1;
    return lo + (unsigned long)(((rng_next(rng) >> 32) * range) >> 32);
}

/* Every (seed, connection, direction, purpose) gets its own stream, so the
 * cuts of one direction never depend on how the other one was timed, and
 * adding --delay-us does not move the cuts. */
static void rng_seed(struct piece_rng *rng, unsigned long seed,
                     unsigned long connection, unsigned stream)
{
    struct piece_rng mixer = { seed };
    uint64_t from_seed = rng_next(&mixer);
    mixer.state = ((uint64_t)connection << 2) | stream;
    rng->state = from_seed ^ rng_next(&mixer);
}

enum { STREAM_DOWN_SIZES, STREAM_DOWN_PAUSES, STREAM_UP_SIZES, STREAM_UP_PAUSES };

/* One direction of one connection: everything its thread needs. */
struct relay_direction {
    const struct slicer_config *cfg;
    const char *name;          /* "down" (server to client) or "up" */
    const char *recv_call;     /* "recv from server": names a failure */
    const char *send_call;     /* "send to client" */
    int from_fd, to_fd;
    int sliced;
    unsigned long connection;
    struct piece_rng sizes, pauses;
    unsigned long pieces;      /* pieces started so far */
    unsigned long long bytes;  /* bytes relayed so far */
    int failed_errno;          /* 0 when the direction ended cleanly */
    const char *failed_call;   /* recv_call or send_call */
    int diag_fd;               /* --pace: a sock_diag socket, -1 when off */
    struct {
        struct nlmsghdr head;
        struct inet_diag_req_v2 req;
    } diag;                    /* --pace: the question about TO_FD's peer */
};

/* One write() per line, so lines from both directions and from several
 * connections do not interleave mid-line. */
static void log_line(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}

static void pause_us(unsigned long us)
{
    struct timespec left = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static ssize_t recv_some(int fd, void *buf, size_t len, int flags)
{
    ssize_t n;
    do
        n = recv(fd, buf, len, flags);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Records the first error and wakes the other direction: shutting both
 * sockets down makes its blocked recv() return 0 and its send() fail. */
static void direction_fail(struct relay_direction *dir, const char *call)
{
    dir->failed_errno = errno ? errno : EIO;
    dir->failed_call = call;
    shutdown(dir->from_fd, SHUT_RDWR);
    shutdown(dir->to_fd, SHUT_RDWR);
}

/* --pace: prepares DIR's question to the kernel, "how many bytes wait
 * unread in the socket at the other end of TO_FD?" (the receiver's socket
 * is found by its addresses: its local is our peer and its peer our
 * local). Returns 0, or -1 when it cannot be asked (then no pacing). */
static int pace_setup(struct relay_direction *dir)
{
    struct sockaddr_storage mine, theirs;
    socklen_t mine_len = sizeof mine, theirs_len = sizeof theirs;
    dir->diag_fd = -1;
    if (getsockname(dir->to_fd, (struct sockaddr *)&mine, &mine_len) < 0 ||
        getpeername(dir->to_fd, (struct sockaddr *)&theirs, &theirs_len) < 0 ||
        mine.ss_family != theirs.ss_family)
        return -1;
    struct inet_diag_req_v2 *req = &dir->diag.req;
    memset(&dir->diag, 0, sizeof dir->diag);
    dir->diag.head.nlmsg_len = sizeof dir->diag;
    dir->diag.head.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    dir->diag.head.nlmsg_flags = NLM_F_REQUEST;
    req->sdiag_family = (unsigned char)mine.ss_family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = ~0u;
    req->idiag_ext = 1 << (INET_DIAG_INFO - 1);     /* and its tcp_info */
    req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (mine.ss_family == AF_INET) {
        const struct sockaddr_in *m = (const struct sockaddr_in *)&mine;
        const struct sockaddr_in *t = (const struct sockaddr_in *)&theirs;
        req->id.idiag_sport = t->sin_port;
        req->id.idiag_dport = m->sin_port;
        memcpy(req->id.idiag_src, &t->sin_addr, 4);
        memcpy(req->id.idiag_dst, &m->sin_addr, 4);
    } else if (mine.ss_family == AF_INET6) {
        const struct sockaddr_in6 *m = (const struct sockaddr_in6 *)&mine;
        const struct sockaddr_in6 *t = (const struct sockaddr_in6 *)&theirs;
        req->id.idiag_sport = t->sin6_port;
        req->id.idiag_dport = m->sin6_port;
        memcpy(req->id.idiag_src, &t->sin6_addr, 16);
        memcpy(req->id.idiag_dst, &m->sin6_addr, 16);
    } else {
        return -1;
    }
    dir->diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    return dir->diag_fd < 0 ? -1 : 0;
}

/* --pace: the bytes waiting unread at the receiver and (*TAKEN) the bytes
 * its socket has taken in so far; -1 when the kernel does not know the
 * socket (not on this machine, or gone). */
static long pace_unread(struct relay_direction *dir, unsigned long long *taken)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(dir->diag_fd, &dir->diag, sizeof dir->diag, 0, (struct sockaddr *)&kernel,
               sizeof kernel) < 0)
        return -1;
    union {
        struct nlmsghdr head;
        char bytes[8192];
    } answer;
    ssize_t got;
    do
        got = recv(dir->diag_fd, &answer, sizeof answer, 0);
    while (got < 0 && errno == EINTR);
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct inet_diag_msg)) ||
        answer.head.nlmsg_type != SOCK_DIAG_BY_FAMILY)
        return -1;
    const struct inet_diag_msg *msg = NLMSG_DATA(&answer.head);
    *taken = 0;
    int left = (int)answer.head.nlmsg_len - (int)NLMSG_LENGTH(sizeof *msg);
    const struct rtattr *attr = (const struct rtattr *)(msg + 1);
    for (; RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
        if (attr->rta_type != INET_DIAG_INFO)
            continue;
        struct tcp_info info;
        memset(&info, 0, sizeof info);
        size_t have = RTA_PAYLOAD(attr) < sizeof info ? RTA_PAYLOAD(attr) : sizeof info;
        memcpy(&info, RTA_DATA(attr), have);
        if (have < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received)
            return -1;      /* a kernel older than 4.1 */
        *taken = info.tcpi_bytes_received;
    }
    return (long)msg->idiag_rqueue;
}

/* --pace: waits until the receiver has read everything sent so far. A
 * receiver that is not on this machine turns pacing off (said once with
 * --log); one that went away ends the wait. */
static void pace_wait(struct relay_direction *dir)
{
    unsigned long sleep_us = 10;
    for (;;) {
        unsigned long long taken = 0;
        long unread = pace_unread(dir, &taken);
        if (unread == 0 && taken >= dir->bytes)
            return;
        if (unread < 0) {
            if (dir->cfg->log)
                log_line("conn %lu: %s: --pace: the receiver is not on this machine; not pacing",
                         dir->connection, dir->name);
            close(dir->diag_fd);
            dir->diag_fd = -1;
            return;
        }
        pause_us(sleep_us);
        if (sleep_us < PACE_POLL_MAX_US)
            sleep_us *= 2;
    }
}

/* The direction that is not being sliced: whatever recv() gives, sent on. */
static void relay_as_is(struct relay_direction *dir)
{
    unsigned char buf[RELAY_BUF_SIZE];

    for (;;) {
        ssize_t got = recv_some(dir->from_fd, buf, sizeof buf, 0);
        if (got < 0) {
            direction_fail(dir, dir->recv_call);
            return;
        }
        if (got == 0)
            break;
        if (send_all(dir->to_fd, buf, (size_t)got) < 0) {
            direction_fail(dir, dir->send_call);
            return;
        }
        dir->bytes += (unsigned long long)got;
    }
    /* Pass the EOF on, keep the other direction open (half-close). */
    shutdown(dir->to_fd, SHUT_WR);
}

/* The sliced direction. Cut points sit at fixed offsets of the byte stream
 * (sizes drawn one after another from the PRNG), whatever pieces recv()
 * happens to return. The one exception: when the sender has paused and a
 * piece is only partly here, the part on hand goes out now, because the
 * peer may be waiting for it before it sends more; the rest of that piece
 * follows when it arrives, so the later cuts stay where they were. */
static void relay_sliced(struct relay_direction *dir)
{
    const struct slicer_config *cfg = dir->cfg;
    unsigned char buf[RELAY_BUF_SIZE];
    size_t start = 0, have = 0;       /* bytes on hand: buf[start..start+have) */
    size_t piece_size = 0, piece_left = 0;
    int eof = 0;

    for (;;) {
        if (have == 0) {
            if (eof)
                break;
            ssize_t got = recv_some(dir->from_fd, buf, sizeof buf, 0);
            if (got < 0) {
                direction_fail(dir, dir->recv_call);
                return;
            }
            if (got == 0)
                break;
            start = 0;
            have = (size_t)got;
        }
        if (piece_left == 0) {
            piece_size = piece_left = rng_between(&dir->sizes, cfg->piece_min, cfg->piece_max);
            dir->pieces++;
            if (cfg->delay_us > 0)
                pause_us(rng_between(&dir->pauses, 0, cfg->delay_us));
        }
        if (have < piece_left && !eof) {
            /* Top up without waiting: only a sender that has paused leaves
             * the socket empty here. Paced, wait a little for the rest, so
             * that a reply sent in two calls is cut the same every time. */
            memmove(buf, buf + start, have);
            start = 0;
            if (dir->diag_fd >= 0) {
                struct pollfd ready = { dir->from_fd, POLLIN, 0 };
                while (poll(&ready, 1, PACE_TOPUP_MS) < 0 && errno == EINTR)
                    ;
            }
            ssize_t got = recv_some(dir->from_fd, buf + have, sizeof buf - have, MSG_DONTWAIT);
            if (got > 0) {
                have += (size_t)got;
                continue;
            }
            if (got == 0)
                eof = 1;
            else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                direction_fail(dir, dir->recv_call);
                return;
            }
        }
        size_t take = have < piece_left ? have : piece_left;
        if (send_all(dir->to_fd, buf + start, take) < 0) {
            direction_fail(dir, dir->send_call);
            return;
        }
        if (cfg->log) {
            if (take == piece_size)
                log_line("conn %lu: %s #%lu: %zu %s", dir->connection, dir->name,
                         dir->pieces, take, take == 1 ? "byte" : "bytes");
            else
                log_line("conn %lu: %s #%lu: %zu of %zu bytes (%s)", dir->connection,
                         dir->name, dir->pieces, take, piece_size,
                         eof && take == have ? "the stream ends here"
                         : piece_left == piece_size ? "the rest is not here yet"
                         : "the rest");
        }
        start += take;
        have -= take;
        piece_left -= take;
        dir->bytes += take;
        if (dir->diag_fd >= 0)
            pace_wait(dir);
    }
    shutdown(dir->to_fd, SHUT_WR);
}

static void *relay_direction_run(void *arg)
{
    struct relay_direction *dir = arg;
    dir->diag_fd = -1;
    if (dir->sliced && dir->cfg->pace && pace_setup(dir) < 0 && dir->cfg->log)
        log_line("conn %lu: %s: --pace: cannot ask the kernel about the receiver; not pacing",
                 dir->connection, dir->name);
    if (dir->sliced)
        relay_sliced(dir);
    else
        relay_as_is(dir);
    if (dir->diag_fd >= 0)
        close(dir->diag_fd);
    return NULL;
}

/* Peers that go away are the normal end of many connections, not news. */
static int is_peer_gone(int err)
{
    return err == EPIPE || err == ECONNRESET || err == ENOTCONN;
}

static void report_direction(const struct relay_direction *dir)
{
    if (dir->failed_errno && !is_peer_gone(dir->failed_errno))
        log_line(PROG_NAME ": connection %lu: %s: %s: %s", dir->connection, dir->name,
                 dir->failed_call, strerror(dir->failed_errno));
    if (dir->cfg->log)
        log_line("conn %lu: %s done: %llu %s%s%s", dir->connection, dir->name, dir->bytes,
                 dir->bytes == 1 ? "byte" : "bytes", dir->sliced ? "" : " as is",
                 dir->failed_errno ? " (ended early)" : "");
}

/* Runs in the per-connection process. Returns its exit status. */
static int serve_connection(const struct slicer_config *cfg, int client_fd,
                            unsigned long connection)
{
    char err[256];
    int status = 1, on = 1, rc;
    pthread_t up_thread;
    struct relay_direction down, up;

    int server_fd = net_connect(cfg->to_host, cfg->to_port, SOCK_STREAM, err, sizeof err);
    if (server_fd < 0) {
        log_line(PROG_NAME ": connection %lu: %s", connection, err);
        goto out;
    }
    /* Without TCP_NODELAY, Nagle would glue our small pieces back together. */
    if ((cfg->slice_down &&
         setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) ||
        (cfg->slice_up &&
         setsockopt(server_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)) {
        log_line(PROG_NAME ": connection %lu: cannot slice it (setsockopt TCP_NODELAY: %s)",
                 connection, strerror(errno));
        goto out;
    }
    if (cfg->log) {
        char peer[NET_ADDRSTRLEN] = "?";
        net_peer_name(client_fd, peer, sizeof peer);
        log_line("conn %lu: %s -> %s", connection, peer, cfg->to_spec);
    }

    memset(&down, 0, sizeof down);
    down.cfg = cfg;
    down.name = "down";
    down.recv_call = "recv from server";
    down.send_call = "send to client";
    down.from_fd = server_fd;
    down.to_fd = client_fd;
    down.sliced = cfg->slice_down;
    down.connection = connection;
    rng_seed(&down.sizes, cfg->seed, connection, STREAM_DOWN_SIZES);
    rng_seed(&down.pauses, cfg->seed, connection, STREAM_DOWN_PAUSES);

    up = down;
    up.name = "up";
    up.recv_call = "recv from client";
    up.send_call = "send to server";
    up.from_fd = client_fd;
    up.to_fd = server_fd;
    up.sliced = cfg->slice_up;
    rng_seed(&up.sizes, cfg->seed, connection, STREAM_UP_SIZES);
    rng_seed(&up.pauses, cfg->seed, connection, STREAM_UP_PAUSES);

    rc = pthread_create(&up_thread, NULL, relay_direction_run, &up);
    if (rc != 0) {
        log_line(PROG_NAME ": connection %lu: cannot start a thread: %s", connection,
                 strerror(rc));
        goto out;
    }
    relay_direction_run(&down);
    pthread_join(up_thread, NULL);
    report_direction(&down);
    report_direction(&up);
    status = down.failed_errno || up.failed_errno ? 1 : 0;

out:
    if (server_fd >= 0)
        close(server_fd);
    close(client_fd);
    return status;
}

static void reap_children(int sig)
{
    (void)sig;
    int saved_errno = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved_errno;
}

/* The child must not outlive the slicer: when the slicer is stopped, its
 * relays stop too (SIGTERM, which exits 0 like the slicer itself). */
static const struct spawn_opts connection_process = { .parent_death_signal = SIGTERM };

static int accept_loop(const struct slicer_config *cfg, int listen_fd)
{
    unsigned long connection = 0;

    for (;;) {
        int client_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (client_fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors/memory for now: wait for relays to end. */
                log_line(PROG_NAME ": accept: %s", strerror(errno));
                pause_us(100000);
                continue;
            }
            log_line(PROG_NAME ": accept: %s", strerror(errno));
            return 1;
        }
        connection++;
        pid_t pid = spawn_fork(&connection_process);
        if (pid < 0) {
            log_line(PROG_NAME ": connection %lu: cannot fork: %s", connection, strerror(errno));
            close(client_fd);
            continue;
        }
        if (pid == 0) {
            signal(SIGCHLD, SIG_DFL);
            close(listen_fd);
            _exit(serve_connection(cfg, client_fd, connection));
        }
        close(client_fd);
    }
}

/* "HOST:PORT" or "[V6ADDR]:PORT" into CFG. Returns 0, or -1 with ERR filled. */
static int parse_target(struct slicer_config *cfg, char *err, size_t errlen)
{
    const char *spec = cfg->to_spec;
    const char *colon = strrchr(spec, ':');
    const char *host = spec;
    size_t host_len;

    if (colon == NULL || colon == spec || colon[1] == '\0')
        goto bad;
    host_len = (size_t)(colon - spec);
    if (spec[0] == '[') {
        if (host_len < 3 || colon[-1] != ']')
            goto bad;
        host = spec + 1;
        host_len -= 2;
    } else if (memchr(spec, ':', host_len) != NULL) {
        goto bad;   /* a bare IPv6 address needs brackets */
    }
    if (host_len >= sizeof cfg->to_host)
        goto bad;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] < '0' || colon[1] > '9' || errno || port < 1 || port > 65535)
        goto bad;
    memcpy(cfg->to_host, host, host_len);
    cfg->to_host[host_len] = '\0';
    snprintf(cfg->to_port, sizeof cfg->to_port, "%lu", port);
    return 0;
bad:
    snprintf(err, errlen, "--to wants HOST:PORT (port 1..65535), e.g. 127.0.0.1:8080, not '%s'",
             spec);
    return -1;
}

/* Checks what the option table cannot. Returns 0, or -1 with ERR filled. */
static int check_config(struct slicer_config *cfg, char *err, size_t errlen)
{
    if (cfg->to_spec == NULL) {
        snprintf(err, errlen, "--to HOST:PORT is required: where should the bytes go?");
        return -1;
    }
    if (parse_target(cfg, err, errlen) < 0)
        return -1;
    if (cfg->piece_min > cfg->piece_max) {
        snprintf(err, errlen, "--min %lu is larger than --max %lu", cfg->piece_min,
                 cfg->piece_max);
        return -1;
    }
    /* cli_parse has checked it is one of these three. */
    cfg->slice_down = strcmp(cfg->direction, "up") != 0;
    cfg->slice_up = strcmp(cfg->direction, "down") != 0;
    return 0;
}

int main(int argc, char **argv)
{
    struct slicer_config cfg = {
        .host = "127.0.0.1",
        .listen_port = "0",
        .piece_min = 1,
        .piece_max = 7,
        .seed = 1,
        .direction = "down",
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        { "listen", 'l', CLI_PORT, &cfg.listen_port, "PORT",
          "port to listen on (default 0: a free one, announced on stderr)", 0, 0 },
        { "port", 'p', CLI_PORT, &cfg.listen_port, "PORT", "same as --listen", 0, 0 },
        { "to", 't', CLI_STRING, &cfg.to_spec, "HOST:PORT",
          "the real server to relay to (required)", 0, 0 },
        { "min", 0, CLI_UINT, &cfg.piece_min, "N", "smallest piece in bytes (default 1)",
          1, RELAY_BUF_SIZE },
        { "max", 0, CLI_UINT, &cfg.piece_max, "N", "largest piece in bytes (default 7)",
          1, RELAY_BUF_SIZE },
        { "delay-us", 0, CLI_UINT, &cfg.delay_us, "N",
          "random pause of 0..N microseconds before each piece (default 0)", 0, MAX_DELAY_US },
        { "seed", 0, CLI_UINT, &cfg.seed, "S",
          "the same seed gives the same cuts (default 1)", 0, ULONG_MAX },
        { "direction", 0, CLI_CHOICE, &cfg.direction, "down|up|both",
          "what to cut: down (server to client, default), up, or both", 0, 0 },
        { "log", 0, CLI_FLAG, &cfg.log, NULL, "print one line per piece on stderr", 0, 0 },
        { "pace", 0, CLI_FLAG, &cfg.pace, NULL,
          "wait until the receiver has read each piece: one piece, one recv", 0, 0 },
    };
    const struct cli_program prog = {
        .name = PROG_NAME,
        .summary = "a seeded chaos relay: re-cuts a TCP byte stream into small pieces",
        .version = "a lab tool, not in the document: makes TCP cut the stream on purpose",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .epilog = "Example: tools/slicer --listen 0 --to 127.0.0.1:8080 --min 1 --max 7 --seed 42\n"
                  "then point the client at the port the slicer announces.",
    };
    struct cli_outcome outcome;
    char err[512];
    int listen_fd = -1, status = 1;

    cli_parse(&prog, argc, argv, &outcome);
    if (!outcome.run) {
        fputs(outcome.text, outcome.to_stderr ? stderr : stdout);
        return outcome.exit_status;
    }
    if (check_config(&cfg, err, sizeof err) < 0) {
        cli_usage_error(&prog, &outcome, "%s", err);
        fputs(outcome.text, stderr);
        return outcome.exit_status;
    }
    if (server_signals_install() < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up signals: %s\n", strerror(errno));
        goto out;
    }
    struct sigaction reap;
    memset(&reap, 0, sizeof reap);
    reap.sa_handler = reap_children;
    reap.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&reap.sa_mask);
    if (sigaction(SIGCHLD, &reap, NULL) < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up signals: %s\n", strerror(errno));
        goto out;
    }

    listen_fd = net_listen(cfg.host, cfg.listen_port, SOCK_STREAM, err, sizeof err);
    if (listen_fd < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        goto out;
    }
    char name[NET_ADDRSTRLEN];
    if (net_local_name(listen_fd, name, sizeof name) < 0) {
        fprintf(stderr, PROG_NAME ": cannot read the listening address: %s\n", strerror(errno));
        goto out;
    }
    fprintf(stderr, "listening on %s\n", name);
    status = accept_loop(&cfg, listen_fd);

out:
    if (listen_fd >= 0)
        close(listen_fd);
    return status;
}
