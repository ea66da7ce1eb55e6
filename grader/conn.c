/* conn.c - the grader's end of each connection: what came on it, read
 * without blocking; pieces sent, each followed by a wait until the
 * program has read it all (peek.h); and the conditions that wait on a
 * connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "play.h"

#define CONN_IN_MAX (64u << 20) /* bytes kept from one connection: a program
                                   that floods the grader is stopped there  */
#define SETTLE_US 200         /* after a piece was read, before the next    */

/* Reads what is there on C without blocking, at most LIMIT bytes (and
 * never more than CONN_IN_MAX in all: past that the program waits, and
 * the wait ends as any wait on a stuck program). */
static void conn_pull_some(struct run *r, struct conn *c, size_t limit)
{
    unsigned char buf[65536];
    /* A buffer from the start, so that c->in.p + c->in_used is never
     * NULL + 0 (undefined behaviour) before the first byte. */
    if (c->in.p == NULL && !c->in.failed) {
        c->in.p = malloc(256);
        c->in.cap = c->in.p ? 256 : 0;
        c->in.failed = c->in.p == NULL;
    }
    if (c->in.len >= CONN_IN_MAX)
        return;
    if (limit > CONN_IN_MAX - c->in.len)
        limit = CONN_IN_MAX - c->in.len;
    while (c->fd >= 0 && !c->eof && limit > 0) {
        ssize_t n = recv(c->fd, buf, limit < sizeof buf ? limit : sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            bytes_add(&c->in, buf, (size_t)n);
            trace(r, c, CAP_RECV, CALL_RECV, n, 0, buf, (size_t)n);
            r->progress++;
            limit -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        trace(r, c, CAP_RECV, CALL_RECV, n < 0 ? -1 : 0, n < 0 ? errno : 0, NULL, 0);
        c->eof = 1;
        c->reset = n < 0;
        r->progress++;
    }
}

void conn_pull(struct run *r, struct conn *c)
{
    conn_pull_some(r, c, SIZE_MAX);
}

int cond_have_bytes(struct run *r, void *arg)
{
    struct want_bytes *w = arg;
    size_t have = w->c->in.len - w->c->in_used;
    conn_pull_some(r, w->c, w->exactly ? (have < w->need ? w->need - have : 0) : SIZE_MAX);
    return w->c->in.len - w->c->in_used >= w->need || w->c->eof;
}

/* The program's end of C has seen our FIN (or is gone). */
int cond_fin_seen(struct run *r, void *arg)
{
    struct conn *c = arg;
    int64_t arrived;
    uint32_t queued;
    int state = 0;
    if (r->paced_by_time)
        return 1;
    int rc = peek_peer(&r->peek, c->fd, &arrived, &queued, &state);
    return rc != 0 || state != 1 /* TCP_ESTABLISHED */;
}

int cond_accept(struct run *r, void *arg)
{
    struct conn *c = arg;
    int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    c->fd = fd;
    return 1;
}

static int cond_writable(struct run *r, void *arg)
{
    struct conn *c = arg;
    struct pollfd p = { c->fd, POLLOUT, 0 };
    (void)r;
    return poll(&p, 1, 0) == 1;
}

/* Every byte we sent reached the program and it has read them all. */
static int cond_drained(struct run *r, void *arg)
{
    struct conn *c = arg;
    int64_t arrived = -1;
    uint32_t queued = 0;
    int state = 0;

    if (c->fd < 0)
        return 1;
    if (r->paced_by_time)
        return peek_unacked(c->fd) <= 0 && now_ms() - c->piece_sent_ms >= PACE_MS;
    int rc = peek_peer(&r->peek, c->fd, &arrived, &queued, &state);
    if (rc == 1)
        return 1;     /* the program closed its socket: nothing will be read */
    if (rc < 0) {
        r->paced_by_time = 1;
        snprintf(r->v->note, sizeof r->v->note,
                 "sock_diag did not answer (%s): pieces were paced %d ms apart instead, so a "
                 "slow program may have read several at once", strerror(errno), PACE_MS);
        return 0;
    }
    if (arrived < 0) {
        /* An old kernel: what we sent and the peer has not acknowledged
         * may still be on its way. */
        int unacked = peek_unacked(c->fd);
        if (unacked > 0)
            return 0;
        arrived = (int64_t)c->sent;
    }
    if (arrived != c->last_arrived || queued != c->last_queued) {
        c->last_arrived = arrived;
        c->last_queued = queued;
        r->progress++;
    }
    return arrived >= (int64_t)c->sent && queued == 0;
}

/* Client mode, after the last act: the program must exit; whatever it
 * still sends is read (and reported). */
int cond_exited_reading(struct run *r, void *arg)
{
    struct conn *c = arg;
    conn_pull(r, c);
    return child_poll_exit(&r->child);
}

size_t send_piece(struct run *r, struct conn *c, const unsigned char *p, size_t len)
{
    return send_piece_wait(r, c, p, len, 1);
}

size_t send_piece_wait(struct run *r, struct conn *c, const unsigned char *p, size_t len,
                       int wait)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            trace(r, c, CAP_SEND, CALL_SEND, n, 0, p + off, (size_t)n);
            off += (size_t)n;
            c->sent += (uint64_t)n;
            r->progress++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            enum wait_end how = wait_for(r, cond_writable, c);
            if (how == WAIT_DONE)
                continue;
            r->send_failed = 1;
            return off;
        }
        trace(r, c, CAP_SEND, CALL_SEND, -1, errno, NULL, 0);
        r->send_failed = 1;
        return off;
    }
    c->piece_sent_ms = now_ms();
    if (!wait)
        return len;
    /* When the program stops reading (blocked, spinning, gone) the grader
     * goes on without it: the bytes wait in its socket, and the end of the
     * script tells what it did. */
    wait_for(r, cond_drained, c);
    sleep_us(SETTLE_US);
    return len;
}

int cond_closed(struct run *r, void *arg)
{
    struct conn *c = arg;
    conn_pull(r, c);
    return c->eof;
}
