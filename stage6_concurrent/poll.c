/* stage6_concurrent/poll.c - one thread, every connection at once: epoll.
 *
 * iterative.c with another accept loop, the one nginx, Redis and Node are
 * built on: nothing ever blocks. Every socket is non-blocking; one epoll
 * instance watches the listening socket, the signals, every client's
 * socket, and every running command's pipes and pidfd (readable when the
 * shell exits). When epoll says something is ready, the connection it
 * belongs to takes one step (common/ftconn's state machine: read what is
 * there, start or feed a command, send what the client can take) and
 * says what it waits for next, which is what epoll watches for it.
 *
 * What it costs: a struct and a socket per connection, not a thread or a
 * process: thousands of idle clients are cheap. Where it breaks: anything
 * that blocks in a step blocks every client (a slow disk, hashing a large
 * file: see the README), and it uses one core.
 *
 * Deadlines (--idle, --frame-timeout, a command's --timeout) are checked
 * by one sweep every SWEEP_MS: a heap or a timer wheel (libevent, nginx)
 * scales further; at 10 000 connections the sweep costs little.
 *
 * Stops gracefully on SIGTERM/SIGINT: no new clients; the requests under
 * way finish (up to --grace seconds), then exit 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conc.h"
#include "ftconn.h"
#include "serve.h"

#define EVENTS_MAX 256
#define SWEEP_MS 100
#define ACCEPTS_PER_WAKE 64         /* then serve the others a while */
#define TAG_LISTENER UINT64_MAX
#define TAG_SIGNALS (UINT64_MAX - 1)
#define TAG_COMMAND (1ULL << 31)

/* One connection and what epoll watches for it. */
struct slot {
    struct ftconn c;
    int in_use;
    uint32_t generation;      /* +1 when the slot is reused: stale events
                                 of its last connection are ignored       */
    uint32_t sock_events;     /* watched on the socket                    */
    int cmd_fds[3];           /* watched command fds, -1: none            */
    unsigned cmd_generation;  /* the command they belong to               */
    long long deadline_ms;    /* step by then even if nothing happens     */
};

struct loop {
    struct conc_server *srv;
    int epfd;
    struct slot *slots;
    unsigned long *free_slots, free_count;
};

/* What epoll hands back with an event: the slot, its generation, and
 * whether it is the socket or one of the command's fds. */
static uint64_t tag(const struct loop *l, const struct slot *sl, int command)
{
    return (uint64_t)sl->generation << 32 | (command ? TAG_COMMAND : 0) |
           (uint64_t)(sl - l->slots);
}

static void watch(const struct loop *l, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    epoll_ctl(l->epfd, op, fd, &ev);
}

static int held_fd(const struct ftconn *c, int i)
{
    if (!c->cmd_started)
        return -1;
    return i == 0 ? c->cmd.out_fd : i == 1 ? c->cmd.err_fd : c->cmd.pidfd;
}

/* Makes epoll watch what the connection now waits for. A command's fd
 * that was closed (at its end of file) has left epoll with it; one still
 * open but not wanted (its pipe while the client is behind) is taken out. */
static void sync_watch(struct loop *l, struct slot *sl)
{
    struct ftconn_wait w;

    ftconn_wants(&sl->c, &w);
    if ((uint32_t)w.sock_events != sl->sock_events) {
        watch(l, EPOLL_CTL_MOD, sl->c.conn.fd, w.sock_events, tag(l, sl, 0));
        sl->sock_events = w.sock_events;
    }
    for (int i = 0; i < 3; i++) {
        int fd = sl->cmd_fds[i];
        if (fd >= 0 && (sl->cmd_generation != w.generation || held_fd(&sl->c, i) != fd))
            sl->cmd_fds[i] = -1;                  /* closed: already gone */
        else if (fd >= 0 && w.fds[i] != fd) {
            watch(l, EPOLL_CTL_DEL, fd, 0, 0);
            sl->cmd_fds[i] = -1;
        }
        if (w.fds[i] >= 0 && sl->cmd_fds[i] < 0) {
            watch(l, EPOLL_CTL_ADD, w.fds[i], EPOLLIN, tag(l, sl, 1));
            sl->cmd_fds[i] = w.fds[i];
        }
    }
    sl->cmd_generation = w.generation;
    sl->deadline_ms = w.deadline_ms;
}

static void close_slot(struct loop *l, struct slot *sl)
{
    watch(l, EPOLL_CTL_DEL, sl->c.conn.fd, 0, 0);
    for (int i = 0; i < 3; i++)
        if (sl->cmd_fds[i] >= 0 && held_fd(&sl->c, i) == sl->cmd_fds[i])
            watch(l, EPOLL_CTL_DEL, sl->cmd_fds[i], 0, 0);
    ftconn_free(&sl->c);
    serve_close(&sl->c.conn);
    conc_client_ended(l->srv);
    sl->in_use = 0;
    sl->generation++;
    l->free_slots[l->free_count++] = (unsigned long)(sl - l->slots);
}

/* One step of one connection, then watch what it waits for. */
static void step(struct loop *l, struct slot *sl)
{
    if (ftconn_step(&sl->c))
        sync_watch(l, sl);
    else
        close_slot(l, sl);
}

static void accept_clients(struct loop *l)
{
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct serve_conn conn;
        int got = conc_accept(l->srv, &conn);
        if (got == 0)
            return;
        if (got < 0)
            continue;
        if (conc_full(l->srv) || l->free_count == 0) {
            conc_refuse(l->srv, &conn);
            continue;
        }
        struct slot *sl = &l->slots[l->free_slots[--l->free_count]];
        sl->in_use = 1;
        sl->sock_events = 0;
        sl->cmd_fds[0] = sl->cmd_fds[1] = sl->cmd_fds[2] = -1;
        ftconn_init(&sl->c, &l->srv->conn, &conn);
        sl->cmd_generation = sl->c.cmd_generation;
        conc_client_started(l->srv);
        watch(l, EPOLL_CTL_ADD, conn.fd, 0, tag(l, sl, 0));
        step(l, sl);
    }
}

static void on_event(struct loop *l, const struct epoll_event *ev)
{
    if (ev->data.u64 == TAG_LISTENER) {
        if (!l->srv->stopping)
            accept_clients(l);
        return;
    }
    struct slot *sl = &l->slots[ev->data.u64 & (TAG_COMMAND - 1)];
    if (!sl->in_use || sl->generation != (uint32_t)(ev->data.u64 >> 32))
        return;                   /* an fd of a connection already gone */
    /* A reset socket reports an error even when we do not listen to it. */
    if (!(ev->data.u64 & TAG_COMMAND) && (ev->events & (EPOLLERR | EPOLLHUP)) &&
        !(sl->sock_events & EPOLLIN))
        ftconn_hangup(&sl->c);
    step(l, sl);
}

/* Steps every connection whose deadline has come. */
static void sweep(struct loop *l, long long now)
{
    for (unsigned long i = 0; i < l->srv->max_clients; i++) {
        struct slot *sl = &l->slots[i];
        if (sl->in_use && sl->deadline_ms >= 0 && now >= sl->deadline_ms)
            step(l, sl);
    }
}

int main(int argc, char **argv)
{
    struct conc_server srv;
    struct cli_outcome cli;
    struct loop l = { .srv = &srv, .epfd = -1 };
    struct epoll_event events[EVENTS_MAX];
    char err[256];

    conc_init(&srv, "poll", 1000);
    conc_parse(&srv, "Serves the stage 5 protocol to every client from one thread, with epoll.",
               argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (conc_start(&srv, 0, err, sizeof err) < 0) {
        fprintf(stderr, "poll: %s\n", err);
        return 1;
    }
    l.slots = calloc(srv.max_clients, sizeof *l.slots);
    l.free_slots = calloc(srv.max_clients, sizeof *l.free_slots);
    l.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!l.slots || !l.free_slots || l.epfd < 0) {
        fprintf(stderr, "poll: cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
        return 1;
    }
    for (unsigned long i = srv.max_clients; i > 0; i--)
        l.free_slots[l.free_count++] = i - 1;
    watch(&l, EPOLL_CTL_ADD, srv.listener, EPOLLIN, TAG_LISTENER);
    watch(&l, EPOLL_CTL_ADD, srv.signal_fd, EPOLLIN, TAG_SIGNALS);

    /* Wait for anything, let what is ready take a step, check the clock. */
    long long last_sweep = ftconn_now_ms(), give_up = -1;
    for (;;) {
        int n = epoll_wait(l.epfd, events, EVENTS_MAX, SWEEP_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "poll: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 != TAG_SIGNALS) {
                on_event(&l, &events[i]);
                continue;
            }
            if (!srv.stopping)
                watch(&l, EPOLL_CTL_DEL, srv.listener, 0, 0);
            if (conc_signal(&srv) == CONC_STOP && give_up < 0) {
                /* Stopping: every connection finishes what it is doing. */
                long long now = ftconn_now_ms();
                give_up = now + (long long)srv.grace_ms + 1000;
                for (unsigned long j = 0; j < srv.max_clients; j++) {
                    if (l.slots[j].in_use) {
                        ftconn_stop(&l.slots[j].c, now + (long long)srv.grace_ms);
                        step(&l, &l.slots[j]);
                    }
                }
            }
        }
        long long now = ftconn_now_ms();
        if (now - last_sweep >= SWEEP_MS) {
            sweep(&l, now);
            last_sweep = now;
        }
        if (srv.stopping && (srv.active == 0 || now >= give_up))
            break;
    }
    for (unsigned long j = 0; j < srv.max_clients; j++)
        if (l.slots[j].in_use)
            close_slot(&l, &l.slots[j]);
    close(l.epfd);
    free(l.slots);
    free(l.free_slots);
    return conc_finish(&srv);
}
