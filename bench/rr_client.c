/* bench/rr_client.c - bench/rr_server's client: the load generator of the
 * poll model's floor in `make bench`. It opens --connections connections
 * and on each sends --requests requests one at a time, as tools/loadgen
 * does (send --request bytes, read the whole --reply bytes, send the
 * next), from one thread with epoll; then prints requests per second, from
 * the first connect to the last reply's last byte:
 *
 *   ok  seconds  requests_per_s
 *
 * (tab-separated, after a header line). With --request-file and
 * --reply-file it sends that file's bytes as each request and checks that
 * every reply is the other file's bytes (bench/poll_floor.sh records them
 * from a real exchange: the same client then drives the poll model).
 * Exits 1 when a connection fails, the server closes early or a reply is
 * not the one expected. Not a lab program. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"

#define EVENTS_MAX 256
#define BYTES_MAX (1UL << 24)

struct rr_config {
    const char *host, *port;
    unsigned long connections, requests, request, reply;
    const char *request_file, *reply_file;
};

struct rr_conn {
    int fd;
    int reading;              /* 0: sending the request, 1: reading the reply */
    size_t done;              /* bytes of it so far */
    unsigned long requests_done;
    uint32_t events;          /* what epoll watches on fd */
};

struct rr_run {
    const struct rr_config *cfg;
    int epfd;
    unsigned char *request_buf, *reply_buf;
    unsigned char *expected;  /* every reply's bytes (--reply-file), or NULL */
    unsigned long left;       /* connections not yet done */
    unsigned long long ok;
};

static int step(struct rr_run *run, struct rr_conn *c);

/* Reads the whole of PATH into *BUF (malloc'd) and its size into *LEN.
 * Returns 0, or -1 (errno). */
static int slurp(const char *path, unsigned char **buf, unsigned long *len)
{
    FILE *f;
    long size;

    errno = 0;
    if (!(f = fopen(path, "rb")))
        return -1;
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
        size == 0 || (unsigned long)size > BYTES_MAX || !(*buf = malloc((size_t)size)) ||
        fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        if (!errno)
            errno = EINVAL;
        fclose(f);
        return -1;
    }
    fclose(f);
    *len = (unsigned long)size;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct rr_config cfg = { "127.0.0.1", NULL, 10, 100, 0, 0, NULL, NULL };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        { "port", 'p', CLI_PORT, &cfg.port, "PORT", "bench/rr_server's port", 1, 0 },
        { "connections", 'c', CLI_UINT, &cfg.connections, "N", "connections at once (default 10)",
          1, 100000 },
        { "requests", 'n', CLI_UINT, &cfg.requests, "N", "requests on each (default 100)",
          1, 10000000 },
        { "request", 0, CLI_UINT, &cfg.request, "BYTES", "bytes of each request", 1, BYTES_MAX },
        { "reply", 0, CLI_UINT, &cfg.reply, "BYTES", "bytes of each reply", 1, BYTES_MAX },
        { "request-file", 0, CLI_STRING, &cfg.request_file, "FILE",
          "send FILE's bytes as each request (in place of --request)", 0, 0 },
        { "reply-file", 0, CLI_STRING, &cfg.reply_file, "FILE",
          "expect FILE's bytes as each reply, and check them (in place of --reply)", 0, 0 },
    };
    const struct cli_program prog = {
        "rr_client", "Sends requests of --request bytes and reads replies of --reply bytes, "
        "one at a time on each connection.",
        "the poll model's floor in make bench, not a lab stage", options,
        sizeof options / sizeof options[0],
        "--port is required, and --request or --request-file, --reply or --reply-file."
    };
    struct rr_run run = { .cfg = &cfg };
    struct cli_outcome cli;
    struct epoll_event events[EVENTS_MAX];
    char err[256];

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    const char *unread = NULL;
    if (cfg.request_file && slurp(cfg.request_file, &run.request_buf, &cfg.request) < 0)
        unread = cfg.request_file;
    else if (cfg.reply_file && slurp(cfg.reply_file, &run.expected, &cfg.reply) < 0)
        unread = cfg.reply_file;
    if (unread) {
        fprintf(stderr, "rr_client: cannot read %s: %s\n", unread, strerror(errno));
        return 1;
    }
    if (!cfg.port || cfg.request == 0 || cfg.reply == 0) {
        fprintf(stderr, "rr_client: --port, --request (or --request-file) and --reply "
                "(or --reply-file) are required\n");
        return 2;
    }
    struct rr_conn *conns = calloc(cfg.connections, sizeof *conns);
    if (!run.request_buf)
        run.request_buf = calloc(1, cfg.request);
    run.reply_buf = malloc(cfg.reply);
    run.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !run.request_buf || !run.reply_buf || run.epfd < 0) {
        fprintf(stderr, "rr_client: cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
        return 1;
    }
    double start = now_s();
    for (unsigned long i = 0; i < cfg.connections; i++) {
        struct rr_conn *c = &conns[i];
        int one = 1;
        c->fd = net_connect(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
        if (c->fd < 0) {
            fprintf(stderr, "rr_client: %s\n", err);
            return 1;
        }
        c->events = EPOLLOUT;
        struct epoll_event ev = { .events = c->events, .data.ptr = c };
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
            fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(run.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            fprintf(stderr, "rr_client: cannot set up connection %lu: %s\n", i + 1,
                    strerror(errno));
            return 1;
        }
    }
    run.left = cfg.connections;
    while (run.left > 0) {
        int n = epoll_wait(run.epfd, events, EVENTS_MAX, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "rr_client: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct rr_conn *c = events[i].data.ptr;
            int rc = step(&run, c);
            if (rc < 0) {
                fprintf(stderr, "rr_client: connection %ld: %s\n", (long)(c - conns) + 1,
                        errno == EPROTO ? "a reply is not the one expected"
                        : errno ? strerror(errno) : "the server closed it early");
                return 1;
            }
            if (rc == 0) {
                close(c->fd);
                run.left--;
            }
        }
    }
    double seconds = now_s() - start;
    printf("ok\tseconds\trequests_per_s\n%llu\t%.3f\t%.1f\n", run.ok, seconds,
           seconds > 0 ? (double)run.ok / seconds : 0);
    return 0;
}

/* Makes epoll watch EVENTS on C's socket (a system call only when that
 * changes). Returns 1, or -1 (errno). */
static int watch(struct rr_run *run, struct rr_conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (c->events == events)
        return 1;
    if (epoll_ctl(run->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -1;
    c->events = events;
    return 1;
}

/* Sends what the socket takes of the request, or reads what is there of
 * the reply; a whole reply starts the next request. Returns 1 to go on, 0
 * when C has made its requests, -1 on an error (errno 0: the server
 * closed the connection; EPROTO: a reply is not the one expected). */
static int step(struct rr_run *run, struct rr_conn *c)
{
    const struct rr_config *cfg = run->cfg;
    for (;;) {
        if (!c->reading) {
            ssize_t sent = send(c->fd, run->request_buf + c->done, cfg->request - c->done,
                                MSG_NOSIGNAL);
            if (sent < 0)
                return errno == EAGAIN || errno == EINTR ? watch(run, c, EPOLLOUT) : -1;
            c->done += (size_t)sent;
            if (c->done < cfg->request)
                continue;
            c->reading = 1;
            c->done = 0;
            return watch(run, c, EPOLLIN);  /* the reply comes later, not now */
        }
        ssize_t got = recv(c->fd, run->reply_buf + c->done, cfg->reply - c->done, 0);
        if (got < 0)
            return errno == EAGAIN || errno == EINTR ? watch(run, c, EPOLLIN) : -1;
        if (got == 0) {
            errno = 0;
            return -1;
        }
        c->done += (size_t)got;
        if (c->done < cfg->reply)
            continue;
        if (run->expected && memcmp(run->reply_buf, run->expected, cfg->reply) != 0) {
            errno = EPROTO;
            return -1;
        }
        run->ok++;
        c->reading = 0;
        c->done = 0;
        if (++c->requests_done == cfg->requests)
            return 0;
    }
}
