/* judge_server.c - what a server's state and replies say: a server gone,
 * held up by one client, mixing two clients' bytes; a reply read until its
 * protocol's parser has it (the protocols judge its content, proto.h). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "play.h"

/* The server's state, when a client could not get an answer. */
void diagnose_server_gone(struct run *r)
{
    struct child *ch = &r->child;
    if (!child_poll_exit(ch))
        return;
    pthread_mutex_lock(&ch->lock);
    int broken_pipe = ch->err.len && (contains(ch->err.bytes, ch->err.len, "BrokenPipeError") ||
                                      contains(ch->err.bytes, ch->err.len, "Broken pipe") ||
                                      contains(ch->err.bytes, ch->err.len, "ConnectionResetError"));
    pthread_mutex_unlock(&ch->lock);
    if (WIFSIGNALED(ch->status) && WTERMSIG(ch->status) == SIGPIPE)
        diagnose(r, "the server was killed by SIGPIPE when a client went away before its reply "
                    "was sent: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with "
                    "MSG_NOSIGNAL, treat EPIPE as \"this client is gone\" and serve the next");
    else if (broken_pipe)
        diagnose(r, "the server died of an error when a client went away before its reply was "
                    "sent: catch it (OSError around sendall), close that connection and serve "
                    "the next");
    else
        diagnose(r, "the server ended; it must serve one client after another, forever");
}

/* The server's stderr (its end), without the 'listening on' line: that
 * names a port, which changes from run to run. */
void server_stderr_step(struct run *r)
{
    struct child *ch = &r->child;
    char a[600];
    struct bytes kept = { 0 };
    pthread_mutex_lock(&ch->lock);
    /* err.bytes is NULL until the server writes to stderr: no NULL + 0 */
    const unsigned char *p = ch->err.bytes, *end = p != NULL ? p + ch->err.len : NULL;
    while (p != NULL && p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl + 1 : end;
        if (!((size_t)(line_end - p) >= 13 && memcmp(p, "listening on ", 13) == 0))
            bytes_add(&kept, p, (size_t)(line_end - p));
        p = line_end;
    }
    pthread_mutex_unlock(&ch->lock);
    if (kept.len > 0) {
        size_t from = kept.len > 300 ? kept.len - 300 : 0;
        step(r, "the server's stderr%s: %s", from ? " ends" : "",
             shown(a, sizeof a, kept.p + from, kept.len - from, 300));
    }
    bytes_free(&kept);
}

int diagnose_text_length(struct run *r, const unsigned char lb[4])
{
    char text[32];
    if (!text_bytes(lb, text, sizeof text))
        return 0;
    diagnose(r, "length 0x%08x is ASCII '%s': reading text as a length. The server sent "
                "the output itself where the %s goes: send the length first",
             r->ops->len_value(lb), text, r->ops->len_name);
    return 1;
}

void diagnose_zero_header(struct run *r, const char *stage, const char *member)
{
    diagnose(r, "a header length of 0: every stage %s reply starts with a JSON header "
                "(at least {\"%s\": ...}), so its length is never 0: send the length of the "
                "header's encoded bytes, then the header", stage, member);
}

/* The failing byte, when a client could not even connect: where the
 * previous client left. */
void fail_at_last(struct run *r)
{
    const struct conn *last = NULL;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++)
        if (r->conns[i].capture_id && (!last || r->conns[i].capture_id > last->capture_id))
            last = &r->conns[i];
    if (last)
        fail_at(r, 1, last->in.len, last);
}

/* A blocked server while another client is connected: it serves one
 * client at a time, and that one holds it up. */
void diagnose_held_up(struct run *r, const struct conn *c, enum wait_end how)
{
    if (how != WAIT_STUCK)
        return;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        const struct conn *other = &r->conns[i];
        if (other == c || other->fd < 0 || other->capture_id == 0)
            continue;
        /* Both a server of one client at a time and an event loop that
         * blocks in one client's recv or send come here: say what both do. */
        diagnose(r, "the server is blocked while client %zu is connected (%s): it waits on that "
                    "one client, and every other waits with it; a server for many clients never "
                    "waits on one (a thread or a process per client, or an event loop that reads "
                    "what has come and keeps each connection's state: stage 6)", i + 1,
                 other->sent == 0 ? "it has sent nothing" : "its reply still to come");
        return;
    }
}

/* A wrong reply while another client has sent only part of its request:
 * the server may have read both clients' bytes as one stream (stage 6). */
void diagnose_mixed(struct run *r, const struct conn *c, unsigned conn_no)
{
    if (r->last_wait == WAIT_STUCK)
        return;          /* blocked: diagnose_held_up says why */
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        const struct conn *other = &r->conns[i];
        if (other == c || other->fd < 0 || other->sent == 0 || other->up_at >= r->s->up[i].len)
            continue;
        diagnose(r, "client %zu had sent part of its request, and client %u's reply is wrong: "
                    "the server read the two clients' bytes as one stream. Each connection needs "
                    "a buffer (and a state) of its own, not one shared by the threads", i + 1,
                 conn_no);
        return;
    }
}

struct reply_wait {
    struct conn *c;
    const struct want_reply *w;
    struct reply_got *g;
    enum reply_state state;
    size_t need;
};

static int cond_reply(struct run *r, void *arg)
{
    struct reply_wait *rw = arg;
    conn_pull(r, rw->c);
    struct reply_got *g = rw->g;
    rw->state = r->ops->parse_reply(rw->c->in.p + rw->c->in_used, rw->c->in.len - rw->c->in_used,
                                    &rw->need, g);
    if (rw->state != REPLY_NEED_MORE || rw->c->eof)
        return 1;
    /* Known to be wrong already: a length other than the output's. */
    size_t want_len = rw->w->out.len + rw->w->err.len;
    return g->size_known && g->length != want_len;
}

enum wait_end read_reply(struct run *r, struct conn *c, const struct want_reply *w,
                         struct reply_got *g, enum reply_state *state, size_t *need)
{
    struct reply_wait rw = { c, w, g, REPLY_NEED_MORE, 0 };
    enum wait_end how = wait_for(r, cond_reply, &rw);
    *state = rw.state;
    *need = rw.need;
    return how;
}
