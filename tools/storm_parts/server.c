/* server.c - the server storm: many bad connections at once, a few at a
 * time, each bounded in time; its report; then the good client (see
 * storm.h). */
#define _GNU_SOURCE
#include "storm.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duration.h"

enum conn_state { CONN_CONNECTING, CONN_SENDING, CONN_ENDING, CONN_DONE };

struct storm_conn {
    int fd;
    unsigned long number;         /* 1-based */
    const struct server_case *kase;
    enum conn_state state;
    struct payload *payload;
    size_t sent;
    long long started_ms, stall_until_ms;
};

struct storm_totals {
    unsigned long by_case[MAX_SERVER_CASES];
    unsigned long closed_by_server, reset_by_server, closed_by_us;
    unsigned long stalls, stalls_closed_by_server, no_reads;
    long long stall_close_ms_max;
    unsigned long failures;
};

/* Starts connection NUMBER (non-blocking connect). Returns 0, or -1 with
 * ERR filled. */
static int conn_start(struct storm_conn *c, const struct addrinfo *to, char *err, size_t errlen)
{
    c->fd = socket(to->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "connection %lu: socket: %s", c->number, strerror(errno));
        return -1;
    }
    c->started_ms = now_ms();
    c->sent = 0;
    if (connect(c->fd, to->ai_addr, to->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connection %lu: cannot connect: %s (is the server still there?)",
                 c->number, strerror(errno));
        return -1;
    }
    c->state = CONN_CONNECTING;
    return 0;
}

/* Closes C, with a reset (RST) when RESET. Returns 0, or -1 (errno set)
 * when the reset could not be asked for: C is closed with a FIN then. */
static int conn_close(struct storm_conn *c, int reset)
{
    int rc = 0;
    if (reset) {
        struct linger now = { 1, 0 };
        rc = setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    }
    int saved = errno;
    close(c->fd);
    c->fd = -1;
    c->state = CONN_DONE;
    errno = saved;
    return rc;
}

/* What the payload is sent, the case's end. Returns 0, or -1 (errno set)
 * when the connection could not be reset. */
static int conn_end(struct storm_conn *c, const struct server_config *cfg,
                    struct storm_totals *t)
{
    switch (c->kase->end) {
    case END_EOF:
        shutdown(c->fd, SHUT_WR);
        c->state = CONN_ENDING;
        break;
    case END_CLOSE:
        conn_close(c, 0);
        t->closed_by_us++;
        break;
    case END_RESET:
        t->closed_by_us++;
        return conn_close(c, 1);
    case END_STALL:
    case END_NO_READ:
        c->stall_until_ms = now_ms() + (long long)cfg->stall_ms;
        c->state = CONN_ENDING;
        if (c->kase->end == END_STALL)
            t->stalls++;
        else
            t->no_reads++;
        break;
    }
    return 0;
}

/* Makes progress on C after poll said REVENTS. Returns 0, or -1 with ERR
 * filled when the server failed the connection (refused it, did not end
 * it in time). */
static int conn_step(struct storm_conn *c, short revents, const struct server_config *cfg,
                     struct storm_totals *t, char *err, size_t errlen)
{
    unsigned char sink[65536];

    if (c->state == CONN_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
            so_error = errno;
        if (so_error != 0) {
            snprintf(err, errlen, "connection %lu (%s): cannot connect: %s (is the server "
                     "still there?)", c->number, c->kase->name, strerror(so_error));
            return -1;
        }
        c->state = CONN_SENDING;
    }
    if (c->state == CONN_SENDING) {
        while (c->sent < c->payload->len) {
            ssize_t n = send(c->fd, c->payload->bytes + c->sent, c->payload->len - c->sent,
                             MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
            if (n < 0) {
                /* the server closed on bad bytes before we were done: fine */
                conn_close(c, 0);
                t->reset_by_server++;
                return 0;
            }
            c->sent += (size_t)n;
        }
        if (conn_end(c, cfg, t) < 0) {
            snprintf(err, errlen, "connection %lu (%s): cannot reset it (setsockopt SO_LINGER: "
                     "%s)", c->number, c->kase->name, strerror(errno));
            return -1;
        }
        if (c->state != CONN_ENDING)
            return 0;
    }
    /* A stall past its deadline is looked at once more before storm closes
     * it: storm itself may have been held off the CPU since its last poll,
     * while the server closed it in time. */
    if (c->state == CONN_ENDING && c->kase->end == END_STALL &&
        !(revents & (POLLIN | POLLERR | POLLHUP)) && now_ms() >= c->stall_until_ms) {
        struct pollfd again = { c->fd, POLLIN, 0 };
        if (poll(&again, 1, 0) == 1)
            revents = again.revents;
    }
    if (c->state == CONN_ENDING && c->kase->end != END_NO_READ &&
        (revents & (POLLIN | POLLERR | POLLHUP))) {
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (c->kase->end == END_STALL) {
                t->stalls_closed_by_server++;
                long long waited = now_ms() - (c->stall_until_ms - (long long)cfg->stall_ms);
                if (waited > t->stall_close_ms_max)
                    t->stall_close_ms_max = waited;
            }
            if (n == 0)
                t->closed_by_server++;
            else
                t->reset_by_server++;
            conn_close(c, 0);
            return 0;
        }
    }
    if (c->state == CONN_ENDING && (c->kase->end == END_STALL || c->kase->end == END_NO_READ) &&
        now_ms() >= c->stall_until_ms) {
        conn_close(c, 0);
        t->closed_by_us++;
        return 0;
    }
    if (c->state != CONN_DONE &&
        now_ms() - c->started_ms > (long long)cfg->conn_timeout_ms) {
        snprintf(err, errlen, "connection %lu (%s): the server did not end it within %s s",
                 c->number, c->kase->name, duration_text(cfg->conn_timeout_ms).s);
        return -1;
    }
    return 0;
}

/* The case of connection NUMBER (1-based): the stalls evenly spread, the
 * rest drawn at random. */
static const struct server_case *pick_case(const struct server_config *cfg, unsigned long number,
                                           struct storm_rng *rng, unsigned long *stalls_made)
{
    if (cfg->stalls > 0 && *stalls_made < cfg->stalls &&
        number * cfg->stalls >= (*stalls_made + 1) * cfg->count) {
        return &cfg->cases->cases[cfg->cases->n_quick + (*stalls_made)++ %
                                  (cfg->cases->n - cfg->cases->n_quick)];
    }
    return &cfg->cases->cases[rng_below(rng, cfg->cases->n_quick)];
}

int storm_server(const struct server_config *cfg)
{
    struct storm_conn conns[MAX_CONCURRENCY];
    struct payload *payloads = NULL;
    struct storm_totals totals;
    struct storm_rng rng = { cfg->seed };
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *to = NULL;
    char err[512];
    unsigned long started = 0, done = 0, stalls_made = 0;
    int status = 1;

    memset(&totals, 0, sizeof totals);
    int gai = getaddrinfo(cfg->host, cfg->port, &hints, &to);
    if (gai != 0) {
        fprintf(stderr, PROG_NAME ": cannot resolve %s: %s\n", cfg->host, gai_strerror(gai));
        return 1;
    }
    payloads = calloc(cfg->concurrency, sizeof *payloads);
    if (payloads == NULL) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        goto end;
    }
    for (unsigned long i = 0; i < cfg->concurrency; i++) {
        conns[i].fd = -1;
        conns[i].state = CONN_DONE;
        conns[i].payload = &payloads[i];
    }
    long long start = now_ms();
    while (done < cfg->count) {
        struct pollfd pfd[MAX_CONCURRENCY];
        for (unsigned long i = 0; i < cfg->concurrency; i++) {
            struct storm_conn *c = &conns[i];
            if (c->state == CONN_DONE && started < cfg->count) {
                c->number = ++started;
                c->kase = pick_case(cfg, c->number, &rng, &stalls_made);
                c->payload->len = 0;
                c->kase->build(c->payload, &rng);
                if (!server_payload_is_inert(cfg->cases, c->kase, c->payload)) {
                    fprintf(stderr, PROG_NAME ": internal error: payload of %s is not inert "
                            "to sh\n", c->kase->name);
                    goto end;
                }
                totals.by_case[c->kase - cfg->cases->cases]++;
                if (cfg->verbose)
                    fprintf(stderr, "connection %lu: %s, %zu bytes\n", c->number,
                            c->kase->name, c->payload->len);
                if (conn_start(c, to, err, sizeof err) < 0) {
                    fprintf(stderr, PROG_NAME ": %s\n", err);
                    goto end;
                }
            }
            pfd[i].fd = c->state == CONN_DONE ? -1 : c->fd;
            pfd[i].events = c->state == CONN_CONNECTING || c->state == CONN_SENDING
                            ? POLLOUT : c->kase && c->kase->end == END_NO_READ ? 0 : POLLIN;
            pfd[i].revents = 0;
        }
        if (poll(pfd, cfg->concurrency, 50) < 0 && errno != EINTR) {
            fprintf(stderr, PROG_NAME ": poll: %s\n", strerror(errno));
            goto end;
        }
        /* For the test of a storm held off the CPU: once a stalled
         * connection waits, here. */
        for (unsigned long i = 0; i < cfg->concurrency; i++)
            if (conns[i].state == CONN_ENDING && conns[i].kase->end == END_STALL) {
                storm_test_hold();
                break;
            }
        for (unsigned long i = 0; i < cfg->concurrency; i++) {
            struct storm_conn *c = &conns[i];
            if (c->state == CONN_DONE)
                continue;
            if (conn_step(c, pfd[i].revents, cfg, &totals, err, sizeof err) < 0) {
                fprintf(stderr, PROG_NAME ": %s\n", err);
                goto end;
            }
            if (c->state == CONN_DONE)
                done++;
        }
    }
    double secs = (double)(now_ms() - start) / 1000.0;
    printf("storm: %lu bad connections to %s:%s (%s, seed %lu, %lu at a time) ended in %.1f s\n",
           cfg->count, cfg->host, cfg->port, cfg->proto, cfg->seed, cfg->concurrency, secs);
    printf("storm: closed by the server %lu, reset by the server %lu, closed by storm %lu\n",
           totals.closed_by_server, totals.reset_by_server, totals.closed_by_us);
    if (totals.stalls > 0)
        printf("storm: stalled connections %lu: the server closed %lu of them first "
               "(the last after %lld ms), storm the rest after %lu ms\n", totals.stalls,
               totals.stalls_closed_by_server, totals.stall_close_ms_max, cfg->stall_ms);
    if (totals.no_reads > 0)
        printf("storm: connections that never read their reply %lu, closed by storm after "
               "%lu ms\n", totals.no_reads, cfg->stall_ms);
    printf("storm: cases:");
    for (size_t i = 0; i < cfg->cases->n; i++)
        if (totals.by_case[i] > 0)
            printf(" %s %lu", cfg->cases->cases[i].name, totals.by_case[i]);
    printf("\n");
    if ((cfg->cases == server_cases_for("stage5") ? good_client5(cfg, err, sizeof err)
                                : good_client(cfg, err, sizeof err)) < 0) {
        printf("storm: FAIL: %s\n", err);
        goto end;
    }
    printf("storm: good client: \"%s\" answered exactly (%zu bytes)\n", cfg->command,
           strlen(cfg->expect));
    status = 0;
end:
    for (unsigned long i = 0; payloads && i < cfg->concurrency; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(payloads);
    freeaddrinfo(to);
    fflush(stdout);
    return status;
}
