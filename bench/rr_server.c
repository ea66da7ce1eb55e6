/* bench/rr_server.c - the floor under stage 6's poll model in `make bench`:
 * one thread, epoll, non-blocking sockets, and nothing else. On every
 * connection it reads --request bytes (any bytes), then writes --reply
 * bytes, and again, until the client closes. No framing, no JSON, no file,
 * no hash: bench/poll_floor.sh gives it the byte counts of a stage 5 `get`
 * of a 4 KiB file, so what stage6_concurrent/poll does beyond this is what
 * the protocol and its state machine cost.
 *
 * Not a lab program: no limits, no timeouts. Runs until killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"

#define EVENTS_MAX 256
#define BYTES_MAX (1UL << 24)

struct rr_config {
    const char *host, *port;
    unsigned long request, reply;
};

/* One connection: how far into the current request, or reply. */
struct rr_conn {
    int fd;
    int writing;
    size_t done;
    uint32_t events;          /* what epoll watches on fd */
};

struct rr_server {
    const struct rr_config *cfg;
    int epfd, listener;
    unsigned char *request_buf, *reply_buf;
};

static void accept_all(struct rr_server *s);
static int serve(struct rr_server *s, struct rr_conn *c);

int main(int argc, char **argv)
{
    struct rr_config cfg = { "127.0.0.1", "0", 0, 0 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, "0"),
        { "request", 0, CLI_UINT, &cfg.request, "BYTES", "bytes of each request", 1, BYTES_MAX },
        { "reply", 0, CLI_UINT, &cfg.reply, "BYTES", "bytes of each reply", 1, BYTES_MAX },
    };
    const struct cli_program prog = {
        "rr_server", "Answers every --request bytes with --reply bytes, from one thread with epoll.",
        "the poll model's floor in make bench, not a lab stage", options,
        sizeof options / sizeof options[0], "Both sizes are required."
    };
    struct rr_server s = { .cfg = &cfg };
    struct cli_outcome cli;
    struct epoll_event events[EVENTS_MAX];
    char err[256], addr[NET_ADDRSTRLEN] = "?";

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (cfg.request == 0 || cfg.reply == 0) {
        fprintf(stderr, "rr_server: --request and --reply are required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s.request_buf = malloc(cfg.request);
    s.reply_buf = calloc(1, cfg.reply);
    s.listener = net_listen_backlog(cfg.host, cfg.port, 1024, err, sizeof err);
    if (s.listener < 0) {
        fprintf(stderr, "rr_server: %s\n", err);
        return 1;
    }
    s.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (!s.request_buf || !s.reply_buf || s.epfd < 0 ||
        fcntl(s.listener, F_SETFL, O_NONBLOCK) < 0 ||   /* accept_all takes all that wait */
        epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.listener, &ev) < 0) {
        fprintf(stderr, "rr_server: cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
        return 1;
    }
    net_local_name(s.listener, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    for (;;) {
        int n = epoll_wait(s.epfd, events, EVENTS_MAX, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "rr_server: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct rr_conn *c = events[i].data.ptr;
            if (c == NULL) {
                accept_all(&s);
            } else if (serve(&s, c) <= 0) {
                close(c->fd);     /* which takes it out of epoll */
                free(c);
            }
        }
    }
}

static void accept_all(struct rr_server *s)
{
    for (;;) {
        int fd = accept4(s->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "rr_server: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        struct rr_conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (!c || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
            epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, "rr_server: cannot take a connection: %s\n",
                    strerror(c ? errno : ENOMEM));
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
    }
}

/* Makes epoll watch EVENTS on C's socket (a system call only when that
 * changes). Returns 1, or -1 (errno). */
static int watch(struct rr_server *s, struct rr_conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (c->events == events)
        return 1;
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -1;
    c->events = events;
    return 1;
}

/* Reads what is there of the request; once whole, writes the reply (what
 * the socket takes; epoll says when it takes more). Returns 1 to go on,
 * 0 when the client has closed, -1 on an error. */
static int serve(struct rr_server *s, struct rr_conn *c)
{
    for (;;) {
        if (!c->writing) {
            ssize_t got = recv(c->fd, s->request_buf, s->cfg->request - c->done, 0);
            if (got < 0)
                return errno == EAGAIN || errno == EINTR ? watch(s, c, EPOLLIN) : -1;
            if (got == 0)
                return 0;
            c->done += (size_t)got;
            if (c->done < s->cfg->request)
                continue;
            c->writing = 1;
            c->done = 0;
        }
        ssize_t sent = send(c->fd, s->reply_buf + c->done, s->cfg->reply - c->done, 0);
        if (sent < 0)
            return errno == EAGAIN || errno == EINTR ? watch(s, c, EPOLLOUT) : -1;
        c->done += (size_t)sent;
        if (c->done == s->cfg->reply) {
            c->writing = 0;
            c->done = 0;
            return watch(s, c, EPOLLIN);    /* the client sends the next one after this */
        }
    }
}
