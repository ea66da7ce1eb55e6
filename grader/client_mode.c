/* client_mode.c - the grader as the server: it listens, starts the client
 * with the commands on its stdin, waits for each request and sends the
 * replies cut as the script says, one piece at a time, each only once the
 * client has read the previous one; then judge_client.c compares what the
 * client printed with what the replies carried. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "play.h"
#include "wire.h"

/* Which part of reply I the down-stream offset AT is in. */
static const char *part_at(const struct run *r, size_t i, size_t at)
{
    const struct reply_map *m = &r->s->replies[i];
    if (at < m->at + 4)
        return r->ops->client_len_name;
    if (m->header_len && at < m->header_at + m->header_len)
        return "header";
    return "body";
}

/* 1 when down-stream offset AT is inside a reply's 4-byte length field. */
static int in_length_field(const struct script *s, size_t at)
{
    for (size_t i = 0; i < s->n_frames; i++)
        if (at >= s->frame_at[i] && at < s->frame_at[i] + 4)
            return 1;
    return 0;
}

/* Bytes [FROM, FROM + LEN) of the down stream as quoted text, as shown()
 * does, except that the bytes of a length field are always \xNN: 0x2d is
 * a length byte, not a "-". */
static char *shown_down(const struct script *s, char *buf, size_t buflen, size_t from,
                        size_t len, size_t max)
{
    size_t used = 0;
    if (buflen < 8) {
        if (buflen)
            buf[0] = '\0';
        return buf;
    }
    buf[used++] = '"';
    size_t i;
    for (i = 0; i < len && i < max && used + 8 < buflen; i++) {
        unsigned char b = s->down.p[from + i];
        if (in_length_field(s, from + i)) {
            used += (size_t)snprintf(buf + used, buflen - used, "\\x%02x", b);
        } else {
            char one[8];
            escape_bytes(&b, 1, one, sizeof one);
            used += (size_t)snprintf(buf + used, buflen - used, "%s", one);
        }
    }
    snprintf(buf + used, buflen - used, "\"%s", i < len ? "..." : "");
    return buf;
}

/* The pieces sent since the last step, told as one step. */
static void flush_pieces(struct run *r)
{
    const struct script *s = r->s;
    if (r->n_pieces == 0) {
        if (r->send_failed && !r->told_send_failed) {
            step(r, "the grader could not send more: the client had closed the connection");
            r->told_send_failed = 1;
        }
        return;
    }
    r->told_send_failed = r->send_failed;
    size_t from = r->pieces_from, to = r->down_at, total = to - from;
    size_t first_reply = reply_of(s, from), last_reply = reply_of(s, to - 1);
    char what[200], how[600], buf[400];

    /* What was sent, in the words of the protocol. */
    const struct reply_map *m = &s->replies[first_reply];
    size_t reply_end = m->body_at + m->body_len;
    if (first_reply != last_reply)
        snprintf(what, sizeof what, "replies %zu to %zu (%zu bytes)", first_reply + 1,
                 last_reply + 1, total);
    else if (m->bogus)
        snprintf(what, sizeof what, "reply %zu (%zu bytes)", first_reply + 1, total);
    else if (from == m->at && to == reply_end)
        snprintf(what, sizeof what, "reply %zu (%zu bytes: %s, then a %zu-byte body)",
                 first_reply + 1, total, r->ops->client_parts, m->body_len);
    else if (strcmp(part_at(r, first_reply, from), part_at(r, first_reply, to - 1)) == 0)
        snprintf(what, sizeof what, "bytes %zu..%zu of reply %zu (in its %s)",
                 from - m->at, to - m->at - 1, first_reply + 1, part_at(r, first_reply, from));
    else
        snprintf(what, sizeof what, "bytes %zu..%zu of reply %zu (from its %s into its %s)",
                 from - m->at, to - m->at - 1, first_reply + 1, part_at(r, first_reply, from),
                 part_at(r, first_reply, to - 1));

    /* How it was cut. */
    size_t lo = (size_t)-1, hi = 0;
    for (size_t i = 0; i < r->n_pieces; i++) {
        lo = r->pieces[i] < lo ? r->pieces[i] : lo;
        hi = r->pieces[i] > hi ? r->pieces[i] : hi;
    }
    if (r->n_pieces == 1) {
        snprintf(how, sizeof how, "in one piece: %s",
                 shown_down(s, buf, sizeof buf, from, total, SHOW));
    } else if (r->n_pieces <= 6) {
        size_t used = (size_t)snprintf(how, sizeof how, "in %zu pieces:", r->n_pieces);
        size_t at = from;
        for (size_t i = 0; i < r->n_pieces && used < sizeof how; i++) {
            used += (size_t)snprintf(how + used, sizeof how - used, "%s %s", i ? " |" : "",
                                     shown_down(s, buf, sizeof buf, at, r->pieces[i], 24));
            at += r->pieces[i];
        }
    } else if (lo == hi) {
        snprintf(how, sizeof how, "in %zu pieces of %zu %s", r->n_pieces, lo,
                 plural(lo, "byte", "bytes"));
    } else {
        size_t used = (size_t)snprintf(how, sizeof how, "in %zu pieces of %zu..%zu bytes:",
                                       r->n_pieces, lo, hi);
        for (size_t i = 0; i < r->n_pieces && i < 12 && used < sizeof how; i++)
            used += (size_t)snprintf(how + used, sizeof how - used, " %zu", r->pieces[i]);
        if (r->n_pieces > 12 && used < sizeof how)
            snprintf(how + used, sizeof how - used, " ...");
    }
    step(r, "the grader sent %s %s%s", what, how,
         r->send_failed ? " (the last ones could not be sent: the client had closed the "
                          "connection)" : "");
    r->n_pieces = 0;
    r->pieces_from = r->down_at;
}

static void note_piece(struct run *r, size_t len)
{
    if (r->n_pieces == r->cap_pieces) {
        size_t cap = r->cap_pieces ? r->cap_pieces * 2 : 256;
        size_t *grown = realloc(r->pieces, cap * sizeof *grown);
        if (grown == NULL)
            return;
        r->pieces = grown;
        r->cap_pieces = cap;
    }
    if (r->n_pieces == 0)
        r->pieces_from = r->down_at;
    r->pieces[r->n_pieces++] = len;
}

static void describe_input(struct run *r, char *buf, size_t len)
{
    const struct script *s = r->s;
    size_t used = (size_t)snprintf(buf, len, "%zu %s on stdin:", s->n_requests,
                                   plural(s->n_requests, "command", "commands"));
    char one[200];
    for (size_t i = 0; i < s->n_requests && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, " %s",
                                 shown(one, sizeof one, s->requests[i].p, s->requests[i].len, 40));
}

/* Waits for request I. Returns 0 when it came exactly, -1 otherwise (the
 * steps say why). */
struct request_wait {
    struct conn *c;
    const struct bytes *want;
    enum reply_state state;
    size_t used;
};

static int cond_request(struct run *r, void *arg)
{
    struct request_wait *w = arg;
    conn_pull(r, w->c);
    w->state = r->ops->match_request(w->c->in.p + w->c->in_used, w->c->in.len - w->c->in_used,
                                     w->want, &w->used);
    return w->state != REPLY_NEED_MORE || w->c->eof;
}

static int expect_request(struct run *r, struct conn *c, size_t i)
{
    const struct bytes *want = &r->s->requests[i];
    struct request_wait w = { c, want, REPLY_NEED_MORE, 0 };
    char a[400], b[400], state[160];

    enum wait_end how = wait_for(r, cond_request, &w);
    size_t have = c->in.len - c->in_used;
    const unsigned char *got = c->in.p + c->in_used;
    if (w.state == REPLY_COMPLETE) {
        step(r, "the client sent request %zu: %s (%zu bytes)", i + 1,
             shown(a, sizeof a, got, w.used, SHOW), w.used);
        c->in_used += w.used;
        return 0;
    }
    if (w.state == REPLY_BAD) {
        step(r, "the client sent %s where request %zu was expected: %s",
             shown(a, sizeof a, got, have, SHOW), i + 1, shown(b, sizeof b, want->p, want->len, SHOW));
        r->stopped = "a wrong request";
        fail_at(r, 0, c->in_used, c);
        if (memchr(got, '\n', have))
            diagnose(r, "a request is the command's bytes, without the newline read with it "
                        "(strip the line, as the document's input().strip())");
        return -1;
    }
    describe_program(r, how, state, sizeof state);
    if (how == WAIT_DONE || how == WAIT_EXITED) {
        if (c->eof && !r->child.exited)
            snprintf(state, sizeof state, "closed the connection");
    }
    step(r, "request %zu (%s) never came%s%s: the client %s", i + 1,
         shown(a, sizeof a, want->p, want->len, SHOW), have ? ", only " : "",
         have ? shown(b, sizeof b, got, have, SHOW) : "", state);
    r->stopped = "a request that never came";
    fail_at(r, 1, c->sent, c);
    return -1;
}

/* Listens on a free loopback port for the client to come. */
int client_mode_listen(struct run *r, char *err, size_t errlen)
{
    r->listen_fd = net_listen("127.0.0.1", "0", SOCK_STREAM, err, errlen);
    if (r->listen_fd < 0)
        return -1;
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof sa;
    if (getsockname(r->listen_fd, (struct sockaddr *)&sa, &sa_len) < 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    snprintf(r->port, sizeof r->port, "%u", ntohs(sa.sin_port));
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    if (fcntl(r->listen_fd, F_SETFL, O_NONBLOCK) < 0) {
        snprintf(err, errlen, "making the listening socket non-blocking: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void play_client_mode(struct run *r)
{
    const struct script *s = r->s;
    struct conn *c = &r->conns[0];
    char line[2048], input[1200], state[200];

    command_line(r->cfg->argv, line, sizeof line);
    describe_input(r, input, sizeof input);
    step(r, "the grader (playing the server) started the client: %s, with %s", line, input);

    enum wait_end how = wait_started(r, cond_accept, c);
    if (how != WAIT_DONE) {
        describe_program(r, how, state, sizeof state);
        step(r, "the client never connected: it %s", state);
        r->stopped = "no connection";
        finish_program(r, 1);
        judge_client(r, r->last_wait, c);
        return;
    }
    c->opened = 1;
    int on = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
        step(r, "the grader could not set TCP_NODELAY on the client's connection: %s",
             strerror(errno));
        r->stopped = "no connection";
        finish_program(r, 1);
        judge_client(r, r->last_wait, c);
        return;
    }
    conn_learn_addresses(c);
    trace_open_event(r, c, CAP_ACCEPT, CALL_ACCEPT4);
    step(r, "the client connected");

    for (size_t i = 0; i < s->n_acts && !r->stopped; i++) {
        const struct act *a = &s->acts[i];
        switch (a->kind) {
        case ACT_REQUEST:
            flush_pieces(r);
            if (expect_request(r, c, a->arg) < 0)
                break;
            break;
        case ACT_SEND: {
            if (r->send_failed)
                break;
            size_t sent = send_piece(r, c, s->down.p + r->down_at, a->arg);
            if (sent > 0) {
                note_piece(r, sent);
                r->down_at += sent;
            }
            break;
        }
        case ACT_PAUSE:
            flush_pieces(r);
            step(r, "the grader waited %zu ms (a stalled server)", a->arg);
            for (int64_t until = now_ms() + (int64_t)a->arg; now_ms() < until;)
                sleep_us(2000);
            break;
        default:
            break;
        }
    }
    flush_pieces(r);

    how = WAIT_DONE;
    if (!r->stopped) {
        switch (s->ending) {
        case END_FIN:
            shutdown(c->fd, SHUT_WR);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            if (r->send_failed)
                step(r, "the grader stopped: the client had closed the connection");
            else
                step(r, "the grader closed its side of the connection: every reply was sent whole");
            break;
        case END_CLOSE:
            shutdown(c->fd, SHUT_WR);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            step(r, "the grader closed the connection in the middle of reply %zu",
                 reply_of(s, r->down_at - 1) + 1);
            break;
        case END_HOLD:
            step(r, "the grader sent nothing more and kept the connection open");
            break;
        }
        how = wait_for(r, cond_exited_reading, c);
    }
    if (!r->child.exited && s->ending == END_HOLD && !r->stopped) {
        /* Let a client that waits for the rest see the end, so what it
         * prints then is in the report too. */
        describe_program(r, how, state, sizeof state);
        step(r, "the client did not exit by itself: it %s; the grader closed the connection",
             state);
        shutdown(c->fd, SHUT_WR);
        trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
        enum wait_end after = wait_for(r, cond_exited_reading, c);
        (void)after;
        r->stopped = "held";
    }
    finish_program(r, 1);
    judge_client(r, r->ended_itself ? WAIT_EXITED : r->last_wait, c);
}
