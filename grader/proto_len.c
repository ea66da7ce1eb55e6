/* proto_len.c - stage 3: a 4-byte signed little-endian length, then that
 * many bytes (see proto.h); and the check of a reply framed by a length,
 * which stage 4 shares (proto_len.h). */
#include "proto_len.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

void len_encode_request(const void *command, size_t len, struct bytes *out)
{
    bytes_add(out, command, len);
}

enum reply_state len_match_request(const unsigned char *buf, size_t have,
                                   const struct bytes *command, size_t *used)
{
    size_t n = have < command->len ? have : command->len;
    if (n > 0 && memcmp(buf, command->p, n) != 0)
        return REPLY_BAD;
    if (have < command->len)
        return REPLY_NEED_MORE;
    *used = command->len;
    return REPLY_COMPLETE;
}

void len_add_reply(struct script *s, const struct bytes *header, const void *body,
                   size_t body_len)
{
    struct reply_map *m = &s->replies[s->n_replies++];
    unsigned char len_bytes[4];

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    script_note_frame(s, m->at);
    if (header) {
        put_le32((uint32_t)header->len, len_bytes);
        bytes_add(&s->down, len_bytes, 4);
        m->header_at = s->down.len;
        m->header_len = header->len;
        bytes_add(&s->down, header->p, header->len);
    } else {
        put_le32((uint32_t)body_len, len_bytes);
        bytes_add(&s->down, len_bytes, 4);
    }
    m->body_at = s->down.len;
    m->body_len = body_len;
    bytes_add(&s->down, body, body_len);
    m->end = s->down.len;
    script_note_span(s, m->body_at, body_len, m->out_at);
    bytes_add(&s->want_out, body, body_len);
}

static void add_reply(struct script *s, const void *body, size_t body_len, int exit_code)
{
    (void)exit_code;          /* a stage 3 reply carries the output alone */
    len_add_reply(s, NULL, body, body_len);
}

enum reply_state reply_bad(struct reply_got *g, size_t at, const char *fmt, const char *a)
{
    snprintf(g->problem, sizeof g->problem, fmt, a);
    g->problem_at = at;
    return REPLY_BAD;
}

int len_read_field(const unsigned char *buf, size_t have, struct reply_got *g)
{
    if (have < 4)
        return 0;
    memcpy(g->len_bytes, buf, 4);
    g->have_len = 1;
    return 1;
}

static enum reply_state parse_reply(const unsigned char *buf, size_t have, size_t *need,
                                    struct reply_got *g)
{
    char raw[160];

    /* Each call reads the reply from its start. */
    bytes_free(&g->header);
    bytes_free(&g->body);
    if (!len_read_field(buf, have, g)) {
        *need = 4;
        return REPLY_NEED_MORE;
    }
    int32_t value = (int32_t)get_le32(buf);
    if (value < 0 || (uint32_t)value > PROTO_MAX_LEN) {
        wire_check_length("reply length", value, PROTO_MAX_LEN, buf, raw, sizeof raw);
        return reply_bad(g, 0, "%s", raw);
    }
    g->length = (uint64_t)value;
    g->size_known = 1;
    *need = 4 + (size_t)value;
    if (have < *need)
        return REPLY_NEED_MORE;
    bytes_add(&g->body, buf + 4, (size_t)value);
    g->complete = 1;
    return REPLY_COMPLETE;
}

/* ---- a server's replies ----------------------------------------------------- */

void diagnose_size(struct run *r, const char *field, uint64_t value, const struct want_reply *w)
{
    size_t want_len = w->out.len + w->err.len;
    struct bytes body = { 0 };
    bytes_add(&body, w->out.p, w->out.len);
    bytes_add(&body, w->err.p, w->err.len);
    size_t chars = utf8_chars(body.p, body.len);
    bytes_free(&body);
    if (value == chars && chars != want_len)
        diagnose(r, "%s is %llu, the number of characters in the output; its size in bytes is "
                    "%zu: count the bytes you send (len() of the encoded bytes, not of the text)",
                 field, (unsigned long long)value, want_len);
    else if (value == w->out.len && w->err.len > 0)
        diagnose(r, "%s is %llu, the size of stdout alone: the reply is stdout then stderr "
                    "(%zu + %zu bytes)", field, (unsigned long long)value, w->out.len, w->err.len);
}

void diagnose_bare_output(struct run *r, const unsigned char *reply, size_t have,
                          const struct bytes *want_body)
{
    char a[64];
    if (want_body->len >= 4 && have >= 4 && memcmp(reply, want_body->p, 4) == 0)
        diagnose(r, "the reply starts with the command's output itself (%s) where the %s goes: "
                    "send the 4-byte length first, then the output",
                 shown(a, sizeof a, reply, 4, 4), r->ops->len_name);
}

int sized_expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k,
                       const struct sized_reply *framing)
{
    const struct want_reply *w = &r->s->want[k];
    struct reply_got g;
    enum reply_state state_read;
    size_t need;
    char a[600], b[600], state[200];
    size_t want_len = w->out.len + w->err.len;
    size_t start = c->in_used;
    int ok = 0;

    memset(&g, 0, sizeof g);
    enum wait_end how = read_reply(r, c, w, &g, &state_read, &need);
    size_t have = c->in.len - c->in_used;
    struct bytes want_body = { 0 };
    bytes_add(&want_body, w->out.p, w->out.len);
    bytes_add(&want_body, w->err.p, w->err.len);

    if (state_read == REPLY_BAD) {
        step(r, "client %u received %s: %s", conn_no, shown(a, sizeof a, c->in.p + start, have, 24),
             g.problem);
        fail_at(r, 1, start + g.problem_at, c);
        if (g.problem_at == 0) {
            r->ops->diagnose_len_field(r, g.len_bytes, want_len);
            diagnose_bare_output(r, c->in.p + start, have, &want_body);
        }
        goto end;
    }
    if (state_read == REPLY_NEED_MORE && !g.have_len) {
        describe_program(r, how, state, sizeof state);
        if (c->eof)
            step(r, "client %u: the server closed the connection after %zu %s of the reply%s%s",
                 conn_no, have, plural(have, "byte", "bytes"), have ? ": " : " (none)",
                 have ? shown(a, sizeof a, c->in.p + start, have, 24) : "");
        else
            step(r, "client %u got no reply (%zu %s): the server %s", conn_no, have,
                 plural(have, "byte", "bytes"), state);
        fail_at(r, 1, start + have, c);
        diagnose_held_up(r, c, how);
        if (how == WAIT_STUCK && have == 0 && want_len == 0)
            diagnose(r, "the command printed nothing and no reply came: an empty output still "
                        "needs its reply (a length of 0%s)", framing->empty_hint);
        if (how == WAIT_SPIN)
            diagnose(r, "the server uses CPU without answering: a loop that does not stop when "
                        "recv returns 0 (an earlier client closed)?");
        diagnose_server_gone(r);
        goto end;
    }
    /* The length is known. */
    if (g.length != want_len) {
        char field[64];
        framing->say_size(&g, field, sizeof field);
        step(r, "client %u received a reply whose %s; the command printed %zu %s (%zu on stdout, "
                "%zu on stderr): %s", conn_no, field, want_len, plural(want_len, "byte", "bytes"),
             w->out.len, w->err.len, shown(b, sizeof b, want_body.p, want_body.len, SHOW));
        framing->wrong_size(r, c, &g, w, &want_body, start, have);
        goto end;
    }
    if (state_read == REPLY_NEED_MORE) {
        describe_program(r, how, state, sizeof state);
        size_t head = need - g.length;
        size_t body_have = have > head ? have - head : 0;
        step(r, "client %u: the reply announced %llu bytes; %zu came, then the server %s", conn_no,
             (unsigned long long)g.length, body_have, c->eof ? "closed the connection" : state);
        fail_at(r, 1, start + have, c);
        diagnose_server_gone(r);
        goto end;
    }
    /* Complete, with the right length: the bytes, then the header's other
     * fields. */
    size_t head = need - g.length, same = 0;
    while (same < want_len && g.body.p[same] == want_body.p[same])
        same++;
    if (same < want_len) {
        step(r, "client %u received %zu bytes as the body, the right count, but byte %zu differs: "
                "expected %s, got %s", conn_no, want_len, same,
             shown(a, sizeof a, want_body.p + same, want_len - same, 16),
             shown(b, sizeof b, g.body.p + same, want_len - same, 16));
        fail_at(r, 1, start + head + same, c);
        if (utf8_chars(want_body.p, want_len) != want_len)
            diagnose(r, "the bytes were changed on the way: send the command's output bytes as "
                        "they are (no decoding and encoding again, no text functions on them)");
        goto end;
    }
    if (framing->check_header && framing->check_header(r, c, conn_no, &g, w, start) < 0)
        goto end;
    step(r, "client %u received the reply: %s%llu bytes, %s", conn_no, framing->received,
         (unsigned long long)g.length, shown(a, sizeof a, g.body.p, g.body.len, 40));
    c->in_used += need;
    ok = 1;
end:
    bytes_free(&want_body);
    bytes_free(&g.header);
    bytes_free(&g.body);
    return ok ? 0 : -1;
}

static void say_size(const struct reply_got *g, char *buf, size_t len)
{
    snprintf(buf, len, "length is %llu (bytes %02x %02x %02x %02x)", (unsigned long long)g->length,
             g->len_bytes[0], g->len_bytes[1], g->len_bytes[2], g->len_bytes[3]);
}

static void wrong_size(struct run *r, const struct conn *c, const struct reply_got *g,
                       const struct want_reply *w, const struct bytes *want_body, size_t start,
                       size_t have)
{
    const unsigned char *lb = g->len_bytes;
    size_t want_len = w->out.len + w->err.len;
    fail_at(r, 1, start, c);
    diagnose_bare_output(r, c->in.p + start, have, want_body);
    if (get_be32(lb) == want_len)
        diagnose(r, "length bytes %02x %02x %02x %02x read little-endian are %u, big-endian %zu: "
                    "the output's size. The length was written big-endian (htonl, "
                    "struct.pack('>i') or '!i'); stage 3 wants little-endian (struct.pack('<i'))",
                 lb[0], lb[1], lb[2], lb[3], get_le32(lb), want_len);
    else
        diagnose_size(r, "the length", g->length, w);
}

static const struct sized_reply sized = {
    .empty_hint = "",
    .received = "length ",
    .say_size = say_size,
    .wrong_size = wrong_size,
    .check_header = NULL,
};

static int expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k)
{
    return sized_expect_reply(r, c, conn_no, k, &sized);
}

/* A length that could not be right: text, or written big-endian. */
static void diagnose_len_field(struct run *r, const unsigned char lb[4], size_t whole_reply)
{
    uint32_t be = get_be32(lb);
    if (!diagnose_text_length(r, lb) && be == whole_reply)
        diagnose(r, "length bytes %02x %02x %02x %02x read big-endian are %u, the output's size: "
                    "the length was written big-endian; stage 3 wants little-endian "
                    "(struct.pack('<i'))", lb[0], lb[1], lb[2], lb[3], be);
}

const struct proto_ops proto_len_ops = {
    .bit = PROTO3,
    .name = "stage3",
    .viewer_proto = "len",
    .body_digest = 0,
    .len_name = "length",
    .client_len_name = "length",
    .client_parts = "length",
    .client_le_stage = "stage 3",
    .huge_body_header = NULL,
    .len_field = put_le32,
    .len_value = get_le32,
    .encode_request = len_encode_request,
    .match_request = len_match_request,
    .add_reply = add_reply,
    .parse_reply = parse_reply,
    .expect_reply = expect_reply,
    .diagnose_len_field = diagnose_len_field,
    .diagnose_client_digest = NULL,
};
