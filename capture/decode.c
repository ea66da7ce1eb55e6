/* decode.c - capture events to connections: matching the two ends' events,
 * the calls of each stream, the request/reply count and STALE (the model is
 * in decode.h; a stream's bytes and spans in stream.c, the protocols'
 * frames in framing.c). */
#include "decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The framing of C once there is enough to go on (framing_guess), and its
 * frames parsed as far as the known bytes go. Returns 0, or -1 (ENOMEM). */
static int settle_proto(struct connection *c)
{
    if (c->proto == PROTO_GUESS) {
        c->proto = framing_guess(&c->up, &c->down, c->server_prog, c->client_prog,
                                 c->server.port, c->client_closed || c->server_closed);
        if (c->proto == PROTO_GUESS)
            return 0;
        c->proto_guessed = 1;
    }
    struct stream *s = &c->down;
    if (s->parse.state == PARSE_WAIT_PROTO) {
        if (c->proto == PROTO_RAW) {
            s->parse.state = PARSE_OFF;
            return framing_raw_from_sends(s, FRAME_REPLY);
        }
        framing_start(s);
        if (c->proto == PROTO_FT)
            framing_start(&c->up);
    }
    if (framing_parse(s, c->proto) < 0)
        return -1;
    return c->proto == PROTO_FT ? framing_parse(&c->up, c->proto) : 0;
}

/* ---- connections ------------------------------------------------------ */

static void connection_free(struct connection *c)
{
    stream_free(&c->up);
    stream_free(&c->down);
    free(c);
}

/* Keeps at most DECODE_MAX_FULL_CONNS connections in full: the oldest one
 * that has closed (or failing that the oldest) becomes compact. */
static void limit_full(struct decoder *d)
{
    if (d->n_full <= DECODE_MAX_FULL_CONNS)
        return;
    size_t victim = 0;
    for (size_t i = 0; i + 1 < d->n_full; i++) {
        const struct connection *c = d->full[i];
        if (c->client_closed || c->server_closed || (c->up.eof && c->down.eof)) {
            victim = i;
            break;
        }
    }
    struct connection *c = d->full[victim];
    stream_compact(&c->up);
    stream_compact(&c->down);
    c->up.parse.state = c->down.parse.state = PARSE_OFF;    /* no bytes left to parse */
    c->compact = 1;
    d->compacted++;
    memmove(d->full + victim, d->full + victim + 1,
            (d->n_full - victim - 1) * sizeof(*d->full));
    d->n_full--;
}

/* FNV-1a over the bytes that make an endpoint. */
static uint64_t addr_hash(const struct cap_addr *a)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    uint64_t h = 1469598103934665603ull;
    h = (h ^ a->family) * 1099511628211ull;
    h = (h ^ a->port) * 1099511628211ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ a->addr[i]) * 1099511628211ull;
    return h;
}

/* The same for (local, peer) as for (peer, local): both ends of a
 * connection land in one bucket. */
static size_t pair_bucket(const struct decoder *d, const struct cap_addr *a,
                          const struct cap_addr *b)
{
    return (size_t)((addr_hash(a) + addr_hash(b)) & (d->n_buckets - 1));
}

/* Makes room in the table for one more connection. Rebuilds it in order of
 * creation, so each chain stays newest first. Returns 0, or -1 (ENOMEM). */
static int grow_buckets(struct decoder *d)
{
    if (d->n_conns + 1 <= d->n_buckets * 2)
        return 0;
    size_t n = d->n_buckets ? d->n_buckets * 4 : 64;
    struct connection **buckets = calloc(n, sizeof(*buckets));
    if (buckets == NULL) {
        errno = ENOMEM;
        return -1;
    }
    free(d->buckets);
    d->buckets = buckets;
    d->n_buckets = n;
    for (size_t i = 0; i < d->n_conns; i++) {
        struct connection *c = d->conns[i];
        size_t b = pair_bucket(d, &c->client, &c->server);
        c->hash_next = d->buckets[b];
        d->buckets[b] = c;
    }
    return 0;
}

static struct connection *new_connection(struct decoder *d, const struct cap_addr *client,
                                         const struct cap_addr *server, int socktype)
{
    if (grow_buckets(d) < 0)
        return NULL;
    if (d->n_conns == d->cap_conns) {
        size_t ncap = d->cap_conns ? d->cap_conns * 2 : 8;
        struct connection **grown = realloc(d->conns, ncap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        d->conns = grown;
        d->cap_conns = ncap;
    }
    struct connection *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = (unsigned)d->n_conns + 1;
    c->client = *client;
    c->server = *server;
    capture_format_addr(client, c->client_name, sizeof(c->client_name));
    capture_format_addr(server, c->server_name, sizeof(c->server_name));
    c->socktype = socktype;
    c->proto = d->opt.proto;
    stream_init(&c->up, DIR_UP, d->opt.window);
    stream_init(&c->down, DIR_DOWN, d->opt.window);
    d->conns[d->n_conns++] = c;
    size_t b = pair_bucket(d, client, server);
    c->hash_next = d->buckets[b];
    d->buckets[b] = c;
    d->full[d->n_full++] = c;
    limit_full(d);
    return c;
}

/* Finds (or makes) the connection of EV and says whether the recording
 * process is its client. Returns NULL when EV has no usable addresses. */
static struct connection *place(struct decoder *d, const struct cap_event *ev,
                                int *is_client)
{
    if (ev->local.family == 0 || ev->peer.family == 0)
        return NULL;
    struct connection *c = d->n_buckets > 0 ?
                           d->buckets[pair_bucket(d, &ev->local, &ev->peer)] : NULL;
    for (; c != NULL; c = c->hash_next) {
        int as_client = capture_addr_equal(&c->client, &ev->local) &&
                        capture_addr_equal(&c->server, &ev->peer);
        int as_server = capture_addr_equal(&c->server, &ev->local) &&
                        capture_addr_equal(&c->client, &ev->peer);
        if (!as_client && !as_server)
            continue;
        /* A new connect()/accept() on an address pair whose end already
         * closed is a new connection that reuses the ports. */
        int reused = (ev->kind == CAP_CONNECT && as_client && c->client_closed) ||
                     (ev->kind == CAP_ACCEPT && as_server && c->server_closed);
        if (reused)
            break;
        *is_client = as_client;
        return c;
    }
    if (ev->kind == CAP_CLOSE)
        return NULL;    /* nothing to close */
    struct connection *made;
    /* Which end is the client: the recording process knows when it saw the
     * connect/accept; otherwise the lower port is taken for the server's. */
    int client;
    if (ev->role == ROLE_CLIENT)
        client = 1;
    else if (ev->role == ROLE_SERVER)
        client = 0;
    else
        client = ev->local.port > ev->peer.port;
    made = new_connection(d, client ? &ev->local : &ev->peer,
                          client ? &ev->peer : &ev->local, ev->socktype);
    *is_client = made != NULL ? client : -1;    /* -1: out of memory */
    return made;
}

int connection_stale_blind(const struct connection *c)
{
    return c->proto == PROTO_RAW && !c->down.sender_tapped && c->server_pid == 0;
}

static int raise_stale(struct decoder *d, struct connection *c, struct decode_span *recv,
                       uint32_t reply)
{
    recv->stale = 1;
    recv->stale_reply = reply;
    d->stale_count++;
    if (d->n_stales == DECODE_MAX_STALES) {
        memmove(d->stales, d->stales + DECODE_MAX_STALES / 2,
                (DECODE_MAX_STALES / 2) * sizeof(*d->stales));
        d->n_stales = DECODE_MAX_STALES / 2;
    }
    struct decode_stale *st = &d->stales[d->n_stales++];
    memset(st, 0, sizeof(*st));
    st->conn_id = c->id;
    st->recv_no = recv->number;
    st->request_no = recv->message;
    st->reply_no = reply;
    st->time_ns = recv->time_ns;
    snprintf(st->text, sizeof(st->text), "STALE: recv #%u returned bytes of reply #%u",
             recv->number, reply);
    return 0;
}

/* The index of the first span of V[0..N) (sorted, not overlapping) that
 * ends after OFFSET: where the spans overlapping [OFFSET, ...) begin. */
static size_t first_ending_after(const struct decode_span *v, size_t n, uint64_t offset)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].end <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A client recv made after request K that holds bytes of reply J < K.
 * Reply numbers only grow along the stream, so the first numbered send
 * (or history range, or frame) the recv overlaps has the oldest reply: a
 * binary search and a step or two, whatever the number of spans kept. */
static void check_recv_stale(struct decoder *d, struct connection *c,
                             struct decode_span *recv)
{
    if (recv->stale || recv->message == 0)
        return;
    const struct stream *s = &c->down;
    if (s->sender_tapped) {
        size_t lo = 0, hi = s->n_history;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->history[mid].end <= recv->start)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < s->n_history && s->history[i].start < recv->end; i++)
            if (s->history[i].message < recv->message) {
                raise_stale(d, c, recv, s->history[i].message);
                return;
            }
        for (size_t i = first_ending_after(s->sends, s->n_sends, recv->start);
             i < s->n_sends && s->sends[i].start < recv->end; i++) {
            const struct decode_span *snd = &s->sends[i];
            if (snd->message == 0)
                continue;       /* before any request: a greeting */
            if (snd->message < recv->message)
                raise_stale(d, c, recv, snd->message);
            return;
        }
        return;
    }
    /* Server not tapped: the framing numbers the replies (not ft's, whose
     * one reply may be many frames). */
    if (c->proto == PROTO_FT)
        return;
    size_t lo = 0, hi = s->n_frames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->frames[mid].end <= recv->start)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < s->n_frames && s->frames[i].start < recv->end; i++) {
        const struct decode_frame *f = &s->frames[i];
        if (f->part == FRAME_REPLY || f->message == 0)
            continue;
        if (f->message < recv->message)
            raise_stale(d, c, recv, f->message);
        return;
    }
}

/* A server send whose bytes client recvs made after a later request
 * already returned (the recvs came first in the capture). Only the recvs
 * the send overlaps are looked at. */
static void check_send_stale(struct decoder *d, struct connection *c,
                             const struct decode_span *snd)
{
    struct stream *s = &c->down;
    if (snd->message == 0)
        return;
    for (size_t i = first_ending_after(s->recvs, s->n_recvs, snd->start);
         i < s->n_recvs && s->recvs[i].start < snd->end; i++) {
        struct decode_span *recv = &s->recvs[i];
        if (!recv->stale && snd->message < recv->message)
            raise_stale(d, c, recv, snd->message);
    }
}

/* The time since the previous call of this kind on S (0 for the first, or
 * when the capture's order put it earlier), and LAST moved on. */
static uint64_t gap_since(uint64_t *last, uint64_t now)
{
    uint64_t gap = *last != 0 && now > *last ? now - *last : 0;
    if (now > *last)
        *last = now;
    return gap;
}

static int on_send(struct decoder *d, struct connection *c, int is_client,
                   const struct cap_event *ev, const unsigned char *data)
{
    struct stream *s = is_client ? &c->up : &c->down;
    uint32_t message;
    if (is_client) {
        if (!c->client_last_was_send)
            c->client_requests++;
        c->client_last_was_send = 1;
        message = c->client_requests;
    } else {
        c->server_last_was_recv = 0;
        message = c->server_requests_seen;
    }
    uint64_t start = s->sent;
    s->sent += (uint64_t)ev->result;
    s->sender_tapped = 1;
    uint64_t gap = gap_since(&s->last_send_ns, ev->time_ns);
    if (stream_move_window(s, ev->time_ns) < 0)
        return -1;
    struct decode_span *span = NULL;
    if (start >= stream_window_end(s) && s->n_sends > 0) {
        /* Ahead of a lagging receiver, beyond the window: sends of one
         * reply share one span (numbered by the last), so a receiver that
         * stopped reading does not make the span array grow per send. */
        struct decode_span *last = &s->sends[s->n_sends - 1];
        if (last->start >= stream_window_end(s) && last->end == start &&
            last->message == message) {
            last->end = s->sent;
            last->number = ++s->send_calls;
            last->call_size += ev->result;
            last->time_ns = ev->time_ns;
            span = last;
        }
    }
    if (span != NULL) {
        if (is_client && c->proto != PROTO_FT)
            return framing_add_message(s, FRAME_REQUEST, start, s->sent, message);
        if (c->proto == PROTO_RAW && s->parse.state != PARSE_WAIT_PROTO)
            return framing_add_message(s, FRAME_REPLY, start, s->sent, message);
        return settle_proto(c);
    }
    span = stream_push_send(s);
    if (span == NULL)
        return -1;
    span->start = start;
    span->end = s->sent;
    span->number = ++s->send_calls;
    span->message = message;
    span->time_ns = ev->time_ns;
    span->gap_ns = gap;
    span->call_size = ev->result;
    span->call = ev->call;
    if (message > s->messages)
        s->messages = message;
    if (stream_store_bytes(s, start, data, ev->data_len) < 0)
        return -1;
    if (is_client) {
        /* ft: requests are frames too; until the framing is known, the
         * request's bytes (and they may be what tells it) */
        if (c->proto != PROTO_FT &&
            framing_add_message(s, FRAME_REQUEST, start, s->sent, message) < 0)
            return -1;
        return c->proto == PROTO_FT || c->proto == PROTO_GUESS ? settle_proto(c) : 0;
    }
    check_send_stale(d, c, span);
    if (c->proto == PROTO_RAW && s->parse.state != PARSE_WAIT_PROTO)
        return framing_add_message(s, FRAME_REPLY, start, s->sent, message);
    return settle_proto(c);
}

/* What a recv event took off the connection: RESULT, or more when the
 * call cut a datagram or discarded bytes (WIRE_LEN). */
static uint64_t recv_taken(const struct cap_event *ev)
{
    return ev->wire_len > ev->result ? (uint64_t)ev->wire_len : (uint64_t)ev->result;
}

static int on_recv(struct decoder *d, struct connection *c, int is_client,
                   const struct cap_event *ev, const unsigned char *data)
{
    struct stream *s = is_client ? &c->down : &c->up;
    s->receiver_tapped = 1;
    uint64_t taken = recv_taken(ev);
    if (taken == 0) {
        /* 0 is the peer's close on TCP, an empty datagram on UDP */
        if (ev->socktype != SOCK_DGRAM)
            s->eof = 1;
        return 0;
    }
    uint32_t message;
    if (is_client) {
        c->client_last_was_send = 0;
        message = c->client_requests;
    } else {
        if (!c->server_last_was_recv)
            c->server_requests_seen++;
        c->server_last_was_recv = 1;
        message = c->server_requests_seen;
    }
    uint64_t start = s->received;
    s->received += taken;
    s->lost += taken - (uint64_t)ev->result;
    uint64_t gap = gap_since(&s->last_recv_ns, ev->time_ns);
    if (stream_move_window(s, ev->time_ns) < 0)
        return -1;
    struct decode_span *span = stream_push_recv(s);
    if (span == NULL)
        return -1;
    span->start = start;
    span->end = s->received;
    span->number = ++s->recv_calls;
    span->message = message;
    span->time_ns = ev->time_ns;
    span->gap_ns = gap;
    span->call_size = ev->result;
    span->call = ev->call;
    span->cut = ev->wire_len < 0;
    if (stream_store_bytes(s, start, data, ev->data_len) < 0)
        return -1;
    if (!is_client && message > s->messages)
        s->messages = message;      /* requests as the server counts them */
    if (!is_client) {
        /* Requests seen only by the server (client not tapped); ft parses
         * them as frames as they arrive */
        if (c->proto != PROTO_FT && !s->sender_tapped &&
            framing_add_message(s, FRAME_REQUEST, start, s->received, message) < 0)
            return -1;
        return c->proto == PROTO_FT || c->proto == PROTO_GUESS ? settle_proto(c) : 0;
    }
    /* frame first: without server events the frames number the replies */
    if (settle_proto(c) < 0)
        return -1;
    check_recv_stale(d, c, span);
    return 0;
}

static void set_prog(char *dst, size_t len, const unsigned char *data, uint32_t n)
{
    size_t copy = n < len - 1 ? n : len - 1;
    for (size_t i = 0; i < copy; i++)
        dst[i] = (data[i] >= 0x20 && data[i] < 0x7f) ? (char)data[i] : '?';
    dst[copy] = '\0';
}

int decoder_init(struct decoder *d, const struct decode_options *opt)
{
    memset(d, 0, sizeof(*d));
    if (opt != NULL)
        d->opt = *opt;
    if (d->opt.window == 0)
        d->opt.window = DECODE_DEFAULT_WINDOW;
    d->stales = calloc(DECODE_MAX_STALES, sizeof(*d->stales));
    d->full = calloc(DECODE_MAX_FULL_CONNS + 1, sizeof(*d->full));
    if (d->stales == NULL || d->full == NULL) {
        free(d->stales);
        free(d->full);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* Events of a compact connection only count. */
static int feed_compact(struct connection *c, int is_client, const struct cap_event *ev)
{
    struct stream *out = is_client ? &c->up : &c->down;
    struct stream *in = is_client ? &c->down : &c->up;
    switch (ev->kind) {
    case CAP_SEND:
        out->sent += (uint64_t)ev->result;
        out->send_calls++;
        out->sender_tapped = 1;
        out->win_start = stream_end(out);
        break;
    case CAP_RECV:
        in->receiver_tapped = 1;
        if (recv_taken(ev) == 0) {
            if (ev->socktype != SOCK_DGRAM)
                in->eof = 1;
            break;
        }
        in->received += recv_taken(ev);
        in->lost += recv_taken(ev) - (uint64_t)ev->result;
        in->recv_calls++;
        in->win_start = stream_end(in);
        break;
    case CAP_CLOSE:
        if (is_client)
            c->client_closed = 1;
        else
            c->server_closed = 1;
        break;
    default:
        break;
    }
    return 0;
}

int decode_event_possible(const struct cap_event *ev)
{
    if (ev->kind != CAP_SEND && ev->kind != CAP_RECV)
        return 1;
    if (ev->result > DECODE_MAX_CALL || ev->wire_len > DECODE_MAX_CALL ||
        ev->wire_len < -1 || (uint64_t)ev->data_len > (uint64_t)ev->result)
        return 0;
    return 1;
}

/* 1 when the stream EV adds to stays within DECODE_MAX_STREAM bytes, so no
 * offset or total can overflow. */
static int stream_can_take(const struct connection *c, int is_client,
                           const struct cap_event *ev)
{
    if (ev->kind == CAP_SEND) {
        const struct stream *s = is_client ? &c->up : &c->down;
        return s->sent <= DECODE_MAX_STREAM - (uint64_t)ev->result;
    }
    if (ev->kind == CAP_RECV) {
        const struct stream *s = is_client ? &c->down : &c->up;
        return s->received <= DECODE_MAX_STREAM - recv_taken(ev);
    }
    return 1;
}

int decoder_feed(struct decoder *d, const struct cap_event *raw,
                 const unsigned char *data)
{
    /* A dual-stack server on :: sees an IPv4 client as ::ffff:127.0.0.1
     * while the client names itself 127.0.0.1: unmap before matching, so
     * every reader of the model sees one connection. */
    struct cap_event unmapped = *raw;
    capture_addr_unmap(&unmapped.local);
    capture_addr_unmap(&unmapped.peer);
    const struct cap_event *ev = &unmapped;
    d->events++;
    if (d->first_ns == 0)
        d->first_ns = ev->time_ns;
    if (ev->time_ns > d->last_ns)
        d->last_ns = ev->time_ns;
    if (ev->kind < CAP_CONNECT || ev->kind > CAP_CLOSE ||
        ((ev->kind == CAP_SEND || ev->kind == CAP_RECV) && ev->result < 0) ||
        (ev->kind == CAP_SEND && ev->result == 0)) {
        d->ignored++;
        return 0;
    }
    if (!decode_event_possible(ev)) {
        d->invalid++;
        return 0;
    }
    int is_client = 0;
    struct connection *c = place(d, ev, &is_client);
    if (c == NULL) {
        if (is_client < 0) {
            errno = ENOMEM;
            return -1;
        }
        d->ignored++;
        return 0;
    }
    if (!stream_can_take(c, is_client, ev)) {
        d->invalid++;
        return 0;
    }
    if (c->first_ns == 0)
        c->first_ns = ev->time_ns;
    c->last_ns = ev->time_ns;
    if (is_client)
        c->client_pid = ev->pid;
    else
        c->server_pid = ev->pid;
    /* This end is tapped: the stream it receives keeps its window around
     * its reads (see stream_move_window), until it closes. */
    if (c->compact)
        return feed_compact(c, is_client, ev);
    struct stream *inbound = is_client ? &c->down : &c->up;
    inbound->receiver_seen = 1;
    if (ev->kind == CAP_CLOSE && !inbound->receiver_gone) {
        inbound->receiver_gone = 1;
        inbound->receiver_gone_ns = ev->time_ns;
    }
    switch (ev->kind) {
    case CAP_CONNECT:
        set_prog(c->client_prog, sizeof(c->client_prog), data, ev->data_len);
        return settle_proto(c);
    case CAP_ACCEPT:
        set_prog(c->server_prog, sizeof(c->server_prog), data, ev->data_len);
        return settle_proto(c);
    case CAP_SEND:
        return on_send(d, c, is_client, ev, data);
    case CAP_RECV:
        return on_recv(d, c, is_client, ev, data);
    default:    /* CAP_CLOSE */
        if (is_client) {
            c->client_closed = 1;
            c->client_closed_ns = ev->time_ns;
        } else {
            c->server_closed = 1;
            c->server_closed_ns = ev->time_ns;
        }
        return settle_proto(c);
    }
}

/* Feeds every event R has into D. NAME prefixes errors ("run.nbcap: ...").
 * Returns 0, or -1 with ERR filled. */
static int load_reader(struct decoder *d, struct capture_reader *r, const char *name,
                       char *err, size_t errlen)
{
    struct cap_event ev;
    const unsigned char *data;
    int got;
    while ((got = capture_next(r, &ev, &data, err, errlen)) == 1) {
        if (decoder_feed(d, &ev, data) < 0) {
            snprintf(err, errlen, "out of memory decoding %s", name);
            return -1;
        }
    }
    if (got < 0) {
        /* prefix the file name: "run.nbcap: not a nianbao capture ..." */
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", err);
        snprintf(err, errlen, "%s: %s", name, msg);
        return -1;
    }
    if (capture_leftover(r) > 0) {
        snprintf(err, errlen, "%s: ends in the middle of an event (%zu stray bytes)",
                 name, capture_leftover(r));
        return -1;
    }
    return 0;
}

int decoder_load_file(struct decoder *d, const char *path, char *err, size_t errlen)
{
    struct capture_reader r;
    if (capture_open(&r, path, err, errlen) < 0)
        return -1;
    int rc = load_reader(d, &r, path, err, errlen);
    capture_close(&r);
    return rc;
}

int decoder_load_buffer(struct decoder *d, const void *buf, size_t len,
                        char *err, size_t errlen)
{
    struct capture_reader r;
    capture_open_mem(&r, buf, len);
    int rc = load_reader(d, &r, "capture", err, errlen);
    capture_close(&r);
    return rc;
}

void decoder_status(const struct decoder *d, struct decode_status *st)
{
    memset(st, 0, sizeof(*st));
    st->events = d->events;
    st->stale_count = d->stale_count;
    for (size_t i = 0; i < d->n_conns; i++) {
        const struct connection *c = d->conns[i];
        const struct stream *both[2] = { &c->up, &c->down };
        for (int k = 0; k < 2; k++) {
            st->sends += both[k]->send_calls;
            st->recvs += both[k]->recv_calls;
            st->bytes_sent += both[k]->sent;
            st->bytes_received += both[k]->received;
            st->pending += stream_pending(both[k]);
        }
    }
}

const struct decode_stale *decoder_last_stale(const struct decoder *d)
{
    return d->n_stales > 0 ? &d->stales[d->n_stales - 1] : NULL;
}

void decoder_free(struct decoder *d)
{
    for (size_t i = 0; i < d->n_conns; i++)
        connection_free(d->conns[i]);
    free(d->conns);
    free(d->stales);
    free(d->buckets);
    free(d->full);
    memset(d, 0, sizeof(*d));
}

