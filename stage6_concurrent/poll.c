/* stage6_concurrent/poll.c - one thread, every connection at once: epoll.
 *
 * iterative.c with another accept loop, the one nginx, Redis and Node are
 * built on: nothing ever blocks. Every socket is non-blocking; one epoll
 * instance watches the listening socket, the signals, every client's
 * socket, every running command's pipes and pidfd (readable when the
 * shell exits), and the wake-up of every file hash that a get or a put
 * waits for (the hashing runs in a thread: common/filehash). When epoll
 * says something is ready, the connection it belongs to takes one step
 * (common/ftconn's state machine: read what is there, start or feed a
 * command, send what the client can take) and says what it waits for
 * next, which is what epoll watches for it.
 *
 * What it costs: a struct and a socket per connection, not a thread or a
 * process: thousands of idle clients are cheap. Where it breaks: anything
 * that blocks in a step blocks every client (a slow disk: see the
 * README), and it uses one core; so a file is hashed in a thread, never
 * in a step.
 *
 * Deadlines (--idle, --frame-timeout, a command's --timeout, the grace
 * period) are timers in a min-heap (common/timerheap, as libevent keeps
 * them): epoll_wait sleeps until the earliest, or for ever when there is
 * none. An idle server does not wake to find nothing to do.
 *
 * An accept error (out of descriptors: EMFILE) pauses the listener: epoll
 * stops watching it, and a timer puts it back a moment later; the clients
 * already connected are served meanwhile, the new ones wait in the accept
 * queue. nginx does so with a timer; libevent's evconnlistener has
 * evconnlistener_disable and _enable for it.
 *
 * A round of files (common/ftserve.h): when one wake-up brings many
 * gets of the same small file, the first reads and checks it and encodes
 * the reply, the others of that round send the same bytes. Only the
 * requests that were waiting when the round began are served so (epoll
 * reported their socket readable and no request of theirs was under way:
 * ftconn_waiting_at_round), and nothing outlives the round, so no client
 * gets a file as it was before a change it saw.
 *
 * The log is written in batches: its lines wait in stderr's buffer while
 * the loop has work, and go out, in the same order, before it sleeps in
 * epoll_wait (a write per line would be a system call per request).
 *
 * Stops gracefully on SIGTERM/SIGINT: no new clients; the requests under
 * way finish (up to --grace seconds), then exit 0.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conc.h"
#include "ftconn.h"
#include "serve.h"
#include "timerheap.h"

#define EVENTS_MAX 256
#define ACCEPTS_PER_WAKE 64         /* then serve the others a while */
#define TAG_LISTENER UINT64_MAX
#define TAG_SIGNALS (UINT64_MAX - 1)
#define TAG_COMMAND (1ULL << 31)
#define LOG_BUFFER (64 * 1024)

/* One connection and what epoll watches for it. */
struct slot {
    struct ftconn c;
    int in_use;
    uint32_t generation;      /* +1 when the slot is reused: stale events
                                 of its last connection are ignored       */
    uint32_t sock_events;     /* watched on the socket                    */
    int cmd_fds[FTCONN_WAIT_FDS]; /* watched command (and hash) fds, -1: none */
    unsigned cmd_generation;  /* the command or file they belong to       */
    struct timer deadline;    /* step by then even if nothing happens     */
};

struct loop {
    struct conc_server *srv;
    int epfd;
    struct slot *slots;
    unsigned long *free_slots, free_count;
    struct timerheap timers;  /* every slot's deadline, and the two below */
    struct timer listener_back;   /* the end of the listener's pause      */
    struct timer give_up;     /* stopping: the grace period and 1 s more  */
    struct ft_round round;    /* the small files read this round          */
    int stopping, gave_up;
};

/* What epoll hands back with an event: the slot, its generation, and
 * whether it is the socket or one of the command's fds. */
static uint64_t tag(const struct loop *l, const struct slot *sl, int command)
{
    return (uint64_t)sl->generation << 32 | (command ? TAG_COMMAND : 0) |
           (uint64_t)(sl - l->slots);
}

/* The slot a due deadline belongs to. */
static struct slot *slot_of(struct timer *t)
{
    return (struct slot *)((char *)t - offsetof(struct slot, deadline));
}

/* Returns epoll_ctl's result: 0, or -1 (errno). */
static int watch(const struct loop *l, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    return epoll_ctl(l->epfd, op, fd, &ev);
}

static int held_fd(const struct ftconn *c, int i)
{
    if (i == 3)
        return ftconn_hash_fd(c);
    if (!c->cmd_started)
        return -1;
    return i == 0 ? c->cmd.out_fd : i == 1 ? c->cmd.err_fd : c->cmd.pidfd;
}

/* Makes epoll watch what the connection now waits for, and its timer ring
 * at its next deadline. A command's fd that was closed (at its end of
 * file) has left epoll with it; one still open but not wanted (its pipe
 * while the client is behind) is taken out. Returns 0, or -1 after logging
 * why it cannot: the caller closes the connection. */
static int sync_watch(struct loop *l, struct slot *sl)
{
    struct ftconn_wait w;
    const char *what = "epoll_ctl on its socket";

    ftconn_wants(&sl->c, &w);
    if ((uint32_t)w.sock_events != sl->sock_events) {
        if (watch(l, EPOLL_CTL_MOD, sl->c.conn.fd, w.sock_events, tag(l, sl, 0)) < 0)
            goto failed;
        sl->sock_events = w.sock_events;
    }
    what = "epoll_ctl on its command's pipes";
    for (int i = 0; i < FTCONN_WAIT_FDS; i++) {
        int fd = sl->cmd_fds[i];
        if (fd >= 0 && (sl->cmd_generation != w.generation || held_fd(&sl->c, i) != fd))
            sl->cmd_fds[i] = -1;                  /* closed: already gone */
        else if (fd >= 0 && w.fds[i] != fd) {
            sl->cmd_fds[i] = -1;
            if (watch(l, EPOLL_CTL_DEL, fd, 0, 0) < 0)
                goto failed;
        }
        if (w.fds[i] >= 0 && sl->cmd_fds[i] < 0) {
            if (watch(l, EPOLL_CTL_ADD, w.fds[i], EPOLLIN, tag(l, sl, 1)) < 0)
                goto failed;
            sl->cmd_fds[i] = w.fds[i];
        }
    }
    sl->cmd_generation = w.generation;
    what = "its deadline's timer";
    if (w.deadline_ms < 0)
        timerheap_cancel(&l->timers, &sl->deadline);
    else if (timerheap_set(&l->timers, &sl->deadline, w.deadline_ms) < 0)
        goto failed;
    return 0;
failed:
    serve_log(&sl->c.conn, "%s: %s; closing the connection", what, strerror(errno));
    return -1;
}

/* Closing a descriptor takes it out of epoll (no other copy of it exists:
 * every one is close-on-exec), so the socket and the command's fds need
 * no EPOLL_CTL_DEL. */
static void close_slot(struct loop *l, struct slot *sl)
{
    timerheap_cancel(&l->timers, &sl->deadline);
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
    if (!ftconn_step(&sl->c) || sync_watch(l, sl) < 0)
        close_slot(l, sl);
}

/* After an accept error the listening socket stays readable (the client
 * still waits in the queue) and accepting again at once would fail again:
 * epoll stops watching it until the pause conc_accept has set is over. */
static void pause_listener(struct loop *l)
{
    if (watch(l, EPOLL_CTL_DEL, l->srv->listener, 0, 0) < 0) {
        conc_log(l->srv, "cannot pause the listening socket (epoll_ctl: %s)", strerror(errno));
        return;
    }
    /* The heap has room for every slot's timer and the loop's two. */
    if (timerheap_set(&l->timers, &l->listener_back, l->srv->accept_paused_until) < 0)
        conc_log(l->srv, "cannot time the listener's pause: %s", strerror(errno));
}

/* The pause is over: watch the listening socket again. Clients that
 * waited meanwhile make it readable at once. */
static void resume_listener(struct loop *l)
{
    if (watch(l, EPOLL_CTL_ADD, l->srv->listener, EPOLLIN, TAG_LISTENER) == 0)
        return;
    conc_log(l->srv, "cannot watch the listening socket again (epoll_ctl: %s); trying again "
             "in %d ms", strerror(errno), CONC_ACCEPT_PAUSE_MS);
    if (timerheap_set(&l->timers, &l->listener_back,
                      ftconn_now_ms() + CONC_ACCEPT_PAUSE_MS) < 0)
        conc_log(l->srv, "cannot time the listener's pause: %s", strerror(errno));
}

static void accept_clients(struct loop *l)
{
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct serve_conn conn;
        int got = conc_accept(l->srv, &conn);
        if (got == 0)
            return;
        if (got < 0) {
            pause_listener(l);
            return;
        }
        if (conc_full(l->srv) || l->free_count == 0) {
            conc_refuse(l->srv, &conn);
            continue;
        }
        struct slot *sl = &l->slots[l->free_slots[l->free_count - 1]];
        if (watch(l, EPOLL_CTL_ADD, conn.fd, 0, tag(l, sl, 0)) < 0) {
            serve_log(&conn, "epoll_ctl on its socket: %s; closing the connection",
                      strerror(errno));
            serve_close(&conn);
            continue;
        }
        l->free_count--;
        sl->in_use = 1;
        sl->sock_events = 0;
        for (int j = 0; j < FTCONN_WAIT_FDS; j++)
            sl->cmd_fds[j] = -1;
        ftconn_init(&sl->c, &l->srv->conn, &conn);
        sl->cmd_generation = sl->c.cmd_generation;
        conc_client_started(l->srv);
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
    if (!(ev->data.u64 & TAG_COMMAND) && (ev->events & EPOLLIN))
        ftconn_waiting_at_round(&sl->c);
    step(l, sl);
}

/* SIGTERM or SIGINT: conc_signal has closed the listening socket, which
 * took it out of epoll. Every connection finishes what it is doing. */
static void stop(struct loop *l)
{
    long long grace_end = ftconn_now_ms() + (long long)l->srv->grace_ms;

    l->stopping = 1;
    timerheap_cancel(&l->timers, &l->listener_back);
    if (timerheap_set(&l->timers, &l->give_up, grace_end + 1000) < 0) {
        conc_log(l->srv, "cannot time the grace period: %s; not waiting", strerror(errno));
        l->gave_up = 1;
    }
    for (unsigned long j = 0; j < l->srv->max_clients; j++) {
        if (l->slots[j].in_use) {
            ftconn_stop(&l->slots[j].c, grace_end);
            step(l, &l->slots[j]);
        }
    }
}

/* Every timer that is due: a connection's deadline (its step sets the
 * next one), the end of the listener's pause, of the grace period. */
static void run_timers(struct loop *l)
{
    long long now = ftconn_now_ms();
    struct timer *t;

    /* No more than there are: a step that left its deadline due (a bug)
     * must not hold the loop here. */
    for (size_t n = l->timers.count; n > 0 && (t = timerheap_pop_due(&l->timers, now)); n--) {
        if (t == &l->listener_back)
            resume_listener(l);
        else if (t == &l->give_up)
            l->gave_up = 1;
        else
            step(l, slot_of(t));
    }
}

int main(int argc, char **argv)
{
    struct conc_server srv;
    struct cli_outcome cli;
    struct loop l = { .srv = &srv, .epfd = -1 };
    struct epoll_event events[EVENTS_MAX];
    char err[256];

    /* Before any output on stderr: fully buffered, flushed by the loop. */
    setvbuf(stderr, NULL, _IOFBF, LOG_BUFFER);
    conc_init(&srv, "poll", 1000);
    srv.serve.log_held = 1;
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
    if (!l.slots || !l.free_slots || l.epfd < 0 ||
        timerheap_init(&l.timers, srv.max_clients + 2) < 0) {
        fprintf(stderr, "poll: cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
        return 1;
    }
    for (unsigned long i = srv.max_clients; i > 0; i--) {
        timer_init(&l.slots[i - 1].deadline);
        l.free_slots[l.free_count++] = i - 1;
    }
    srv.conn.round = &l.round;
    timer_init(&l.listener_back);
    timer_init(&l.give_up);
    if (watch(&l, EPOLL_CTL_ADD, srv.listener, EPOLLIN, TAG_LISTENER) < 0 ||
        watch(&l, EPOLL_CTL_ADD, srv.signal_fd, EPOLLIN, TAG_SIGNALS) < 0) {
        fprintf(stderr, "poll: cannot watch the listening socket and the signals: %s\n",
                strerror(errno));
        return 1;
    }

    /* Sleep until something happens or the next deadline, let what is
     * ready take a step, then what is due. */
    for (;;) {
        fflush(srv.serve.log);    /* the log lines of the last round */
        ft_round_begin(&l.round);
        int n = epoll_wait(l.epfd, events, EVENTS_MAX,
                           timerheap_wait_ms(&l.timers, ftconn_now_ms()));
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "poll: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 != TAG_SIGNALS)
                on_event(&l, &events[i]);
            else if (conc_signal(&srv) == CONC_STOP && !l.stopping)
                stop(&l);
        }
        run_timers(&l);
        if (srv.stopping && (srv.active == 0 || l.gave_up))
            break;
    }
    for (unsigned long j = 0; j < srv.max_clients; j++)
        if (l.slots[j].in_use)
            close_slot(&l, &l.slots[j]);
    close(l.epfd);
    timerheap_free(&l.timers);
    ft_round_free(&l.round);
    free(l.slots);
    free(l.free_slots);
    return conc_finish(&srv);
}
