/* scenarios.c - every scenario of the grader, as a script built from a seed.
 *
 * A builder decides everything from its RNG: the commands, the replies'
 * contents and sizes, where the stream is cut, where it stops. The engine
 * only plays the script, so a seed replays a scenario exactly.
 *
 * Bodies are chosen so that a length read in the wrong byte order is out of
 * range (its low byte is at least 16): that mistake then shows at once,
 * instead of as a client waiting for 100 MB that will never come. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grade.h"
#include "proto.h"

/* ---- contents ------------------------------------------------------------------ */

/* The output of `seq FROM TO`. */
static void seq_output(struct bytes *b, unsigned long from, unsigned long to)
{
    char line[32];
    for (unsigned long i = from; i <= to; i++) {
        int n = snprintf(line, sizeof line, "%lu\n", i);
        bytes_add(b, line, (size_t)n);
    }
}

static size_t seq_size(unsigned long from, unsigned long to)
{
    size_t size = 0;
    char line[32];
    for (unsigned long i = from; i <= to; i++)
        size += (size_t)snprintf(line, sizeof line, "%lu\n", i);
    return size;
}

/* A `seq FROM TO` whose output is about LO..HI bytes and whose size has a
 * low byte of at least 16 (see the top of the file). Writes the command
 * into CMD and the output into OUT. */
static void pick_seq(struct rng *rng, size_t lo, size_t hi, struct bytes *cmd, struct bytes *out)
{
    unsigned long from = rng_between(rng, 1, 90);
    size_t target = rng_between(rng, lo, hi);
    unsigned long to = from;
    /* Whole MiB at a time would be slow: estimate from the digits, then walk. */
    size_t size = seq_size(from, to);
    while (size < target) {
        unsigned long step = (target - size) / 8 + 1;
        to += step;
        size = seq_size(from, to);
    }
    while ((size & 0xff) < 16) {
        to++;
        size = seq_size(from, to);
    }
    bytes_addf(cmd, "seq %lu %lu", from, to);
    seq_output(out, from, to);
}

/* Text in Chinese and English, every line a few multi-byte characters. */
static void chinese_text(struct rng *rng, size_t lo, size_t hi, struct bytes *out)
{
    static const char *const words[] = {
        "粘包", "拆包", "字节流", "没有消息边界", "报头", "长度", "套接字", "缓冲区",
        "sticky packets", "byte stream", "framing", "recv", "length", "header",
    };
    size_t target = rng_between(rng, lo, hi);
    unsigned line = 1;
    while (out->len < target) {
        bytes_addf(out, "%u: ", line++);
        unsigned n = (unsigned)rng_between(rng, 2, 5);
        for (unsigned i = 0; i < n; i++)
            bytes_addf(out, "%s%s", i ? " " : "",
                       words[rng_between(rng, 0, sizeof words / sizeof words[0] - 1)]);
        bytes_add(out, "\n", 1);
    }
    /* The low byte rule (top of the file), with ASCII padding. */
    while ((out->len & 0xff) < 16)
        bytes_add(out, ".", 1);
}

/* Client mode: one command on stdin, the request the client must send for
 * it, and a reply carrying OUT. Returns the reply's index. */
static size_t add_exchange(struct script *s, const struct bytes *cmd, const struct bytes *out)
{
    bytes_add(&s->input, cmd->p, cmd->len);
    bytes_add(&s->input, "\n", 1);
    bytes_add(&s->requests[s->n_requests++], cmd->p, cmd->len);
    proto_ops(s->proto)->add_reply(s, out->p, out->len, 0);
    return s->n_replies - 1;
}

static size_t add_seq_exchange(struct script *s, struct rng *rng, size_t lo, size_t hi)
{
    struct bytes cmd = { 0 }, out = { 0 };
    pick_seq(rng, lo, hi, &cmd, &out);
    size_t i = add_exchange(s, &cmd, &out);
    bytes_free(&cmd);
    bytes_free(&out);
    return i;
}

/* The first byte of reply I and one past its last. */
static size_t reply_start(const struct script *s, size_t i) { return s->replies[i].at; }
static size_t reply_end(const struct script *s, size_t i) { return s->replies[i].end; }
/* Where the body starts: after the length and (stage 4) the header. */
static size_t reply_body_at(const struct script *s, size_t i) { return s->replies[i].body_at; }

/* Sends [FROM, TO) of the down stream in pieces of LO..HI bytes. */
static void send_random(struct script *s, struct rng *rng, size_t from, size_t to,
                        size_t lo, size_t hi)
{
    while (from < to) {
        size_t piece = rng_between(rng, lo, hi);
        if (piece > to - from)
            piece = to - from;
        script_act(s, ACT_SEND, 0, piece);
        from += piece;
    }
}

/* The client's stdout ends with the complete replies before reply I. */
static void cut_expected_before(struct script *s, size_t i)
{
    s->want_out.len = s->replies[i].out_at;
}

/* ---- client-mode scenarios ----------------------------------------------------- */

static int build_coalesced(struct script *s, struct rng *rng)
{
    for (int i = 0; i < 3; i++) {
        size_t r = add_seq_exchange(s, rng, 40, 400);
        script_act(s, ACT_REQUEST, 0, r);
        script_act(s, ACT_SEND, 0, reply_end(s, r) - reply_start(s, r));
    }
    return 0;
}

static int build_dribble(struct script *s, struct rng *rng)
{
    for (int i = 0; i < 2; i++) {
        size_t r = add_seq_exchange(s, rng, 30, 120);
        script_act(s, ACT_REQUEST, 0, r);
        for (size_t b = reply_start(s, r); b < reply_end(s, r); b++)
            script_act(s, ACT_SEND, 0, 1);
    }
    return 0;
}

static int build_random_cuts(struct script *s, struct rng *rng)
{
    for (int i = 0; i < 3; i++) {
        size_t r = add_seq_exchange(s, rng, 50, 400);
        script_act(s, ACT_REQUEST, 0, r);
        size_t from = reply_start(s, r);
        if (i == 0) {
            /* Whatever the seed, one length field is cut. */
            size_t first = rng_between(rng, 1, 3);
            script_act(s, ACT_SEND, 0, first);
            from += first;
        }
        send_random(s, rng, from, reply_end(s, r), 1, 7);
    }
    return 0;
}

static int build_split_length(struct script *s, struct rng *rng)
{
    for (int i = 0; i < 2; i++) {
        size_t r = add_seq_exchange(s, rng, 40, 400);
        script_act(s, ACT_REQUEST, 0, r);
        size_t k = rng_between(rng, 1, 3);
        script_act(s, ACT_SEND, 0, k);
        script_act(s, ACT_SEND, 0, 4 - k);
        if (s->replies[r].header_len > 0) {
            size_t j = rng_between(rng, 1, s->replies[r].header_len - 1);
            script_act(s, ACT_SEND, 0, j);
            script_act(s, ACT_SEND, 0, s->replies[r].header_len - j);
        }
        /* The rest: the body (stage 5: and the exit frame). */
        script_act(s, ACT_SEND, 0, reply_end(s, r) - reply_start(s, r) - 4 -
                                   s->replies[r].header_len);
    }
    return 0;
}

static int build_split_utf8(struct script *s, struct rng *rng)
{
    struct bytes cmd = { 0 }, out = { 0 };
    bytes_addf(&cmd, "cat notes-%lu.txt", rng_between(rng, 1, 99));
    chinese_text(rng, 120, 600, &out);
    size_t r = add_exchange(s, &cmd, &out);
    bytes_free(&cmd);
    bytes_free(&out);
    script_act(s, ACT_REQUEST, 0, r);

    /* Three cuts, each before a continuation byte: inside a character. */
    const unsigned char *body = s->down.p + reply_body_at(s, r);
    size_t body_len = s->replies[r].body_len, cuts[3], n_cuts = 0, tries = 0;
    while (n_cuts < 3 && tries++ < 10000) {
        size_t at = rng_between(rng, 1, body_len - 1);
        if ((body[at] & 0xc0) != 0x80)
            continue;
        int dup = 0;
        for (size_t i = 0; i < n_cuts; i++)
            dup |= cuts[i] == at;
        if (!dup)
            cuts[n_cuts++] = at;
    }
    /* In order. */
    for (size_t i = 0; i < n_cuts; i++)
        for (size_t j = i + 1; j < n_cuts; j++)
            if (cuts[j] < cuts[i]) {
                size_t t = cuts[i];
                cuts[i] = cuts[j];
                cuts[j] = t;
            }
    size_t from = reply_start(s, r);
    for (size_t i = 0; i < n_cuts; i++) {
        size_t to = reply_body_at(s, r) + cuts[i];
        script_act(s, ACT_SEND, 0, to - from);
        from = to;
    }
    script_act(s, ACT_SEND, 0, reply_end(s, r) - from);
    return 0;
}

static int build_back_to_back(struct script *s, struct rng *rng)
{
    size_t r0 = add_seq_exchange(s, rng, 40, 300);
    size_t r1 = add_seq_exchange(s, rng, 40, 300);
    script_act(s, ACT_REQUEST, 0, r0);
    script_act(s, ACT_SEND, 0, reply_end(s, r1) - reply_start(s, r0));
    script_act(s, ACT_REQUEST, 0, r1);
    return 0;
}

static int build_empty_body(struct script *s, struct rng *rng)
{
    struct bytes cmd = { 0 }, out = { 0 };
    bytes_addf(&cmd, "%s", rng_between(rng, 0, 1) ? "true" : "mkdir -p build");
    size_t r0 = add_exchange(s, &cmd, &out);
    bytes_free(&cmd);
    script_act(s, ACT_REQUEST, 0, r0);
    script_act(s, ACT_SEND, 0, reply_end(s, r0) - reply_start(s, r0));
    size_t r1 = add_seq_exchange(s, rng, 40, 300);
    script_act(s, ACT_REQUEST, 0, r1);
    script_act(s, ACT_SEND, 0, reply_end(s, r1) - reply_start(s, r1));
    return 0;
}

static int build_big(struct script *s, struct rng *rng)
{
    size_t r = add_seq_exchange(s, rng, 3u << 20, 8u << 20);
    script_act(s, ACT_REQUEST, 0, r);
    /* The first piece holds the length (and header) whole: this scenario
     * is about size, not about a cut length. */
    size_t first = reply_body_at(s, r) - reply_start(s, r) + rng_between(rng, 1, 65536);
    script_act(s, ACT_SEND, 0, first);
    send_random(s, rng, reply_start(s, r) + first, reply_end(s, r), 1, 65536);
    return 0;
}

static int build_stall(struct script *s, struct rng *rng)
{
    size_t r0 = add_seq_exchange(s, rng, 40, 300);
    size_t r1 = add_seq_exchange(s, rng, 40, 300);
    /* Reply 1 stops inside its length, reply 2 inside its body. */
    script_act(s, ACT_REQUEST, 0, r0);
    size_t k = rng_between(rng, 1, 3);
    script_act(s, ACT_SEND, 0, k);
    script_act(s, ACT_PAUSE, 0, 500);
    script_act(s, ACT_SEND, 0, reply_end(s, r0) - reply_start(s, r0) - k);
    script_act(s, ACT_REQUEST, 0, r1);
    size_t head = reply_body_at(s, r1) - reply_start(s, r1);
    size_t j = rng_between(rng, 1, s->replies[r1].body_len - 1);
    script_act(s, ACT_SEND, 0, head + j);
    script_act(s, ACT_PAUSE, 0, 500);
    script_act(s, ACT_SEND, 0, reply_end(s, r1) - reply_body_at(s, r1) - j);
    return 0;
}

/* Reply 1 whole, then reply 2 cut after AT bytes (chosen by CUT_AT), and
 * the connection closed. */
static int build_close(struct script *s, struct rng *rng, int where)
{
    size_t r0 = add_seq_exchange(s, rng, 40, 300);
    size_t r1 = add_seq_exchange(s, rng, 40, 300);
    script_act(s, ACT_REQUEST, 0, r0);
    script_act(s, ACT_SEND, 0, reply_end(s, r0) - reply_start(s, r0));
    script_act(s, ACT_REQUEST, 0, r1);
    size_t cut;
    if (where == 0)
        cut = rng_between(rng, 1, 3);
    else if (where == 1)
        cut = 4 + rng_between(rng, 1, s->replies[r1].header_len - 1);
    else
        cut = reply_body_at(s, r1) - reply_start(s, r1) +
              rng_between(rng, 1, s->replies[r1].body_len - 1);
    script_act(s, ACT_SEND, 0, cut);
    cut_expected_before(s, r1);
    s->ending = END_CLOSE;
    if (where == 2) {
        s->partial_at = reply_body_at(s, r1);
        s->partial_len = reply_start(s, r1) + cut - reply_body_at(s, r1);
    }
    return 0;
}

static int build_close_mid_length(struct script *s, struct rng *rng) { return build_close(s, rng, 0); }
static int build_close_mid_header(struct script *s, struct rng *rng) { return build_close(s, rng, 1); }
static int build_close_mid_body(struct script *s, struct rng *rng) { return build_close(s, rng, 2); }

/* One command; its reply starts with LEN_BYTES (and, stage 4, HEADER)
 * followed by TRAILER; the grader then waits. */
static void build_bogus(struct script *s, struct rng *rng, const unsigned char len_bytes[4],
                        const char *header, const char *trailer)
{
    struct bytes cmd = { 0 };
    bytes_addf(&cmd, "cat report-%lu.txt", rng_between(rng, 1, 99));
    bytes_add(&s->input, cmd.p, cmd.len);
    bytes_add(&s->input, "\n", 1);
    bytes_add(&s->requests[s->n_requests++], cmd.p, cmd.len);
    bytes_free(&cmd);
    size_t start = s->down.len;
    script_add_bogus(s, len_bytes, header);
    bytes_add(&s->down, trailer, strlen(trailer));
    script_act(s, ACT_REQUEST, 0, 0);
    script_act(s, ACT_SEND, 0, s->down.len - start);
    s->ending = END_HOLD;
}

static int build_negative_length(struct script *s, struct rng *rng)
{
    unsigned char len_bytes[4];
    /* Every byte 0x80..0xff: negative in either byte order. */
    for (int i = 0; i < 4; i++)
        len_bytes[i] = (unsigned char)rng_between(rng, 0x80, 0xff);
    build_bogus(s, rng, len_bytes, NULL, "this is not the output you are looking for\n");
    return 0;
}

static int build_huge_length(struct script *s, struct rng *rng)
{
    unsigned char len_bytes[4];
    proto_ops(s->proto)->len_field(0x7fffffffu, len_bytes);
    build_bogus(s, rng, len_bytes, NULL, "only these few bytes follow\n");
    return 0;
}

static int build_text_as_length(struct script *s, struct rng *rng)
{
    static const char *const foreign[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "220 mail.example.org ESMTP Postfix\r\n",
        "+OK POP3 server ready\r\n",
    };
    const char *text = foreign[rng_between(rng, 0, sizeof foreign / sizeof foreign[0] - 1)];
    build_bogus(s, rng, (const unsigned char *)text, NULL, text + 4);
    return 0;
}

static int build_huge_body_size(struct script *s, struct rng *rng)
{
    const struct proto_ops *ops = proto_ops(s->proto);
    unsigned char len_bytes[4];
    ops->len_field((uint32_t)strlen(ops->huge_body_header), len_bytes);
    build_bogus(s, rng, len_bytes, ops->huge_body_header, "only these few bytes follow\n");
    return 0;
}

/* ---- server-mode scenarios ----------------------------------------------------- */

/* Connection CONN's next request is COMMAND (framed as the stage frames
 * requests), and its reply must carry OUT, ERR and EXIT_CODE. Returns the
 * request's size; the reply is S->want[S->n_want - 1]. No act is added. */
static size_t add_request(struct script *s, unsigned conn, const void *command,
                          size_t command_len, const void *out, size_t out_len, const void *err,
                          size_t err_len, int exit_code)
{
    struct want_reply *w = &s->want[s->n_want++];
    bytes_add(&w->command, command, command_len);
    bytes_add(&w->out, out, out_len);
    bytes_add(&w->err, err, err_len);
    w->exit_code = exit_code;
    size_t before = s->up[conn].len;
    proto_ops(s->proto)->encode_request(command, command_len, &s->up[conn]);
    if (conn + 1 > s->n_conns)
        s->n_conns = conn + 1;
    return s->up[conn].len - before;
}

/* Connection CONN sends COMMAND as one piece and reads its reply, which must
 * carry OUT, ERR and EXIT_CODE. */
static void add_command(struct script *s, unsigned conn, const void *command, size_t command_len,
                        const void *out, size_t out_len, const void *err, size_t err_len,
                        int exit_code)
{
    size_t len = add_request(s, conn, command, command_len, out, out_len, err, err_len,
                             exit_code);
    script_act(s, ACT_SEND_UP, conn, len);
    script_act(s, ACT_REPLY, conn, s->n_want - 1);
}

static void add_seq_command(struct script *s, struct rng *rng, unsigned conn, size_t lo, size_t hi)
{
    struct bytes cmd = { 0 }, out = { 0 };
    pick_seq(rng, lo, hi, &cmd, &out);
    add_command(s, conn, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
    bytes_free(&cmd);
    bytes_free(&out);
}

static void add_text_command(struct script *s, unsigned conn, const char *command,
                             const char *out, const char *err, int exit_code)
{
    add_command(s, conn, command, strlen(command), out, strlen(out), err, strlen(err), exit_code);
}

static int build_server_whole(struct script *s, struct rng *rng)
{
    char cmd[160], out[80], err[80];
    script_act(s, ACT_CONNECT, 0, 0);
    add_seq_command(s, rng, 0, 40, 2000);
    unsigned long n = rng_between(rng, 100, 999);
    snprintf(cmd, sizeof cmd, "echo 'to stdout %lu'; echo 'to stderr %lu' >&2", n, n);
    snprintf(out, sizeof out, "to stdout %lu\n", n);
    snprintf(err, sizeof err, "to stderr %lu\n", n);
    add_text_command(s, 0, cmd, out, err, 0);
    unsigned long code = rng_between(rng, 1, 9);
    snprintf(cmd, sizeof cmd, "echo 'the command fails with status %lu'; exit %lu", code, code);
    snprintf(out, sizeof out, "the command fails with status %lu\n", code);
    add_text_command(s, 0, cmd, out, "", (int)code);
    return 0;
}

static int build_server_empty(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    add_text_command(s, 0, rng_between(rng, 0, 1) ? "true" : "cd /", "", "", 0);
    add_seq_command(s, rng, 0, 40, 400);
    return 0;
}

static int build_server_big(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    add_seq_command(s, rng, 0, 3u << 20, 8u << 20);
    return 0;
}

static int build_server_utf8(struct script *s, struct rng *rng)
{
    struct bytes text = { 0 }, cmd = { 0 };
    chinese_text(rng, 60, 300, &text);
    /* printf's format: the text itself (no % or \ in it), newlines as \n. */
    bytes_add(&cmd, "printf '", 8);
    for (size_t i = 0; i < text.len; i++) {
        if (text.p[i] == '\n')
            bytes_add(&cmd, "\\n", 2);
        else
            bytes_add(&cmd, &text.p[i], 1);
    }
    bytes_add(&cmd, "'", 1);
    script_act(s, ACT_CONNECT, 0, 0);
    add_command(s, 0, cmd.p, cmd.len, text.p, text.len, NULL, 0, 0);
    bytes_free(&text);
    bytes_free(&cmd);
    return 0;
}

static int build_server_binary(struct script *s, struct rng *rng)
{
    char cmd[64];
    unsigned char out[8];
    unsigned a = (unsigned)rng_between(rng, 0200, 0377), b = (unsigned)rng_between(rng, 0200, 0377);
    /* NUL bytes and bytes that are not UTF-8 in the output ... */
    snprintf(cmd, sizeof cmd, "printf '\\%03o\\000\\%03o\\001'", a, b);
    out[0] = (unsigned char)a;
    out[1] = 0;
    out[2] = (unsigned char)b;
    out[3] = 1;
    script_act(s, ACT_CONNECT, 0, 0);
    add_command(s, 0, cmd, strlen(cmd), out, 4, NULL, 0, 0);
    /* ... and in the request itself. */
    unsigned char raw_cmd[16] = "echo \xff\xfe";
    raw_cmd[6] = (unsigned char)rng_between(rng, 0xc0, 0xfe);
    unsigned char raw_out[4] = { 0xff, raw_cmd[6], '\n' };
    add_command(s, 0, raw_cmd, 7, raw_out, 3, NULL, 0, 0);
    return 0;
}

static int build_server_leave_mid_reply(struct script *s, struct rng *rng)
{
    /* More output than every buffer between the server and us can hold
     * (socket buffers grow to a few MiB each): its send must fail. */
    struct bytes cmd = { 0 };
    unsigned long to = 3200000 + rng_between(rng, 0, 100000);
    bytes_addf(&cmd, "seq 1 %lu", to);
    script_act(s, ACT_CONNECT, 0, 0);
    size_t before = s->up[0].len;
    proto_ops(s->proto)->encode_request(cmd.p, cmd.len, &s->up[0]);
    script_act(s, ACT_SEND_UP, 0, s->up[0].len - before);
    script_act(s, ACT_READ_SOME, 0, rng_between(rng, 1, 65536));
    script_act(s, ACT_CLOSE, 0, 0);
    bytes_free(&cmd);
    s->n_conns = 1;
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);
    return 0;
}

static int build_server_leave_silent(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    script_act(s, ACT_CLOSE, 0, 0);
    s->n_conns = 1;
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);
    return 0;
}

static int build_server_next_client(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    add_seq_command(s, rng, 0, 40, 400);
    script_act(s, ACT_CLOSE, 0, 0);
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);
    return 0;
}

static int build_server_idle_first(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    script_act(s, ACT_PAUSE, 0, 500);
    add_seq_command(s, rng, 0, 40, 400);
    return 0;
}

/* Stage 5: requests are framed, so the way they are cut must not matter. */

/* One request cut into pieces: every byte alone (LO = HI = 1) or LO..HI. */
static void cut_request(struct script *s, struct rng *rng, unsigned conn, size_t len,
                        size_t lo, size_t hi)
{
    for (size_t sent = 0; sent < len;) {
        size_t piece = rng_between(rng, lo, hi);
        if (piece > len - sent)
            piece = len - sent;
        script_act(s, ACT_SEND_UP, conn, piece);
        sent += piece;
    }
}

static int build_server_request_dribble(struct script *s, struct rng *rng)
{
    struct bytes cmd = { 0 }, out = { 0 };
    pick_seq(rng, 40, 400, &cmd, &out);
    script_act(s, ACT_CONNECT, 0, 0);
    size_t len = add_request(s, 0, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
    cut_request(s, rng, 0, len, 1, 1);
    script_act(s, ACT_REPLY, 0, s->n_want - 1);
    bytes_free(&cmd);
    bytes_free(&out);
    return 0;
}

static int build_server_request_cuts(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);
    for (int i = 0; i < 3; i++) {
        struct bytes cmd = { 0 }, out = { 0 };
        pick_seq(rng, 40, 400, &cmd, &out);
        size_t len = add_request(s, 0, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
        /* The length itself cut first, then pieces of 1..7. */
        size_t first = rng_between(rng, 1, 3);
        script_act(s, ACT_SEND_UP, 0, first);
        cut_request(s, rng, 0, len - first, 1, 7);
        script_act(s, ACT_REPLY, 0, s->n_want - 1);
        bytes_free(&cmd);
        bytes_free(&out);
    }
    return 0;
}

static int build_server_pipelined(struct script *s, struct rng *rng)
{
    struct bytes cmd = { 0 }, out = { 0 };
    size_t total = 0;
    script_act(s, ACT_CONNECT, 0, 0);
    for (int i = 0; i < 3; i++) {
        pick_seq(rng, 40, 400, &cmd, &out);
        total += add_request(s, 0, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
        cmd.len = out.len = 0;
    }
    bytes_free(&cmd);
    bytes_free(&out);
    /* All three requests in one segment, before any reply. */
    script_act(s, ACT_SEND_UP, 0, total);
    for (size_t k = s->n_want - 3; k < s->n_want; k++)
        script_act(s, ACT_REPLY, 0, k);
    return 0;
}

static int build_server_bad_length(struct script *s, struct rng *rng)
{
    static const char *const foreign[] = {
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "HELO mail.example.org\r\n",
    };
    const char *text = foreign[rng_between(rng, 0, sizeof foreign / sizeof foreign[0] - 1)];
    script_act(s, ACT_CONNECT, 0, 0);
    struct want_reply *w = &s->want[s->n_want];
    w->error_code = "bad_frame";
    bytes_add(&w->command, text, strlen(text));
    bytes_add(&s->up[0], text, strlen(text));
    script_act(s, ACT_SEND_UP, 0, strlen(text));
    script_act(s, ACT_REPLY, 0, s->n_want++);
    script_act(s, ACT_CLOSE, 0, 0);
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);
    return 0;
}

static int build_server_unknown_op(struct script *s, struct rng *rng)
{
    static const char *const ops[] = { "frobnicate", "EXEC", "rm" };
    char fields[80];
    snprintf(fields, sizeof fields, "\"op\":\"%s\"",
             ops[rng_between(rng, 0, sizeof ops / sizeof ops[0] - 1)]);
    script_act(s, ACT_CONNECT, 0, 0);
    struct want_reply *w = &s->want[s->n_want];
    w->error_code = "unknown_op";
    size_t before = s->up[0].len;
    proto_frame5(&s->up[0], fields, NULL, 0);
    bytes_add(&w->command, s->up[0].p + before, s->up[0].len - before);
    script_act(s, ACT_SEND_UP, 0, s->up[0].len - before);
    script_act(s, ACT_REPLY, 0, s->n_want++);
    /* The connection stays open: the next request is served on it. */
    add_seq_command(s, rng, 0, 40, 400);
    return 0;
}

/* Stage 6: a server that serves many clients at once. */

static int build_server_idle_beside(struct script *s, struct rng *rng)
{
    script_act(s, ACT_CONNECT, 0, 0);           /* connects, and says nothing yet */
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);        /* answered while the first one idles */
    add_seq_command(s, rng, 0, 40, 400);        /* then the first one speaks         */
    script_act(s, ACT_CLOSE, 1, 0);
    script_act(s, ACT_CLOSE, 0, 0);
    return 0;
}

#define MANY_CLIENTS 50

static int build_server_many(struct script *s, struct rng *rng)
{
    for (unsigned c = 0; c < MANY_CLIENTS; c++)
        script_act(s, ACT_CONNECT, c, 0);
    for (unsigned c = 0; c < MANY_CLIENTS; c++) {
        struct bytes cmd = { 0 }, out = { 0 };
        pick_seq(rng, 20, 2000, &cmd, &out);
        size_t len = add_request(s, c, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
        /* Every request out before any reply is read: all at once. */
        script_act(s, ACT_SEND_UP_NOWAIT, c, len);
        bytes_free(&cmd);
        bytes_free(&out);
    }
    for (unsigned c = 0; c < MANY_CLIENTS; c++)
        script_act(s, ACT_REPLY, c, c);
    return 0;
}

/* Two clients' requests arrive in pieces, crosswise: the first half of
 * one, the first half of the other, then the rest of the second, which is
 * answered while the first still waits for its rest. Each piece is read
 * before the next is sent. A buffer shared by the connections holds half
 * of one request when the other's bytes come in; an event loop that reads
 * a whole request with blocking calls waits for the first one's rest. */
static int build_server_interleaved(struct script *s, struct rng *rng)
{
    size_t len[2], first[2];
    script_act(s, ACT_CONNECT, 0, 0);
    script_act(s, ACT_CONNECT, 1, 0);
    for (unsigned c = 0; c < 2; c++) {
        struct bytes cmd = { 0 }, out = { 0 };
        pick_seq(rng, 40, 400, &cmd, &out);
        len[c] = add_request(s, c, cmd.p, cmd.len, out.p, out.len, NULL, 0, 0);
        first[c] = rng_between(rng, 1, len[c] - 1);
        bytes_free(&cmd);
        bytes_free(&out);
    }
    script_act(s, ACT_SEND_UP, 0, first[0]);
    script_act(s, ACT_SEND_UP, 1, first[1]);
    script_act(s, ACT_SEND_UP, 1, len[1] - first[1]);
    script_act(s, ACT_REPLY, 1, s->n_want - 1);
    script_act(s, ACT_SEND_UP, 0, len[0] - first[0]);
    script_act(s, ACT_REPLY, 0, s->n_want - 2);
    return 0;
}

/* A client asks for more output than the socket buffers hold and reads a
 * little of it; a second client is served while the first reads no more.
 * A server that blocks in the first one's send serves nobody else. Then
 * the first one leaves, and the server must live on (as leave-mid-reply):
 * a server stopped with a send under way may wait for it to end. */
static int build_server_unread_beside(struct script *s, struct rng *rng)
{
    struct bytes cmd = { 0 };
    bytes_addf(&cmd, "seq 1 %lu", 3200000 + rng_between(rng, 0, 100000));
    script_act(s, ACT_CONNECT, 0, 0);
    proto_ops(s->proto)->encode_request(cmd.p, cmd.len, &s->up[0]);
    script_act(s, ACT_SEND_UP, 0, s->up[0].len);
    script_act(s, ACT_READ_SOME, 0, rng_between(rng, 1, 65536));
    bytes_free(&cmd);
    s->n_conns = 1;
    script_act(s, ACT_CONNECT, 1, 0);
    add_seq_command(s, rng, 1, 40, 400);
    script_act(s, ACT_CLOSE, 0, 0);
    return 0;
}

#define REAP_CLIENTS 4

/* Clients one after another, each served and gone: a server that forks one
 * process per client has waited for each (at most one may still wait). */
static int build_server_reaped(struct script *s, struct rng *rng)
{
    for (unsigned c = 0; c < REAP_CLIENTS; c++) {
        script_act(s, ACT_CONNECT, c, 0);
        add_seq_command(s, rng, c, 40, 400);
        script_act(s, ACT_CLOSE, c, 0);
    }
    script_act(s, ACT_REAPED, 0, REAP_CLIENTS);
    return 0;
}

/* ---- the table ----------------------------------------------------------------- */

#define BOTH (PROTO3 | PROTO4 | PROTO5)
#define HEADERS (PROTO4 | PROTO5)
#define ORDER BUG_BYTE_ORDER
/* A client scenario with a body to print catches a client whose output
 * is one byte short. */
#define PRINTS BUG_OFF_BY_ONE

const struct scenario scenarios[] = {
    /* the grader plays the server */
    { "coalesced", MODE_CLIENT, BOTH, ORDER | PRINTS,
      "each reply (length, header, body) in one segment", build_coalesced, 0 },
    { "dribble", MODE_CLIENT, BOTH, BUG_ONE_RECV | BUG_RECV4_ONCE | ORDER | PRINTS,
      "every byte of every reply in a segment of its own", build_dribble, 0 },
    { "random-cuts", MODE_CLIENT, BOTH, BUG_ONE_RECV | BUG_RECV4_ONCE | ORDER | PRINTS,
      "replies cut into pieces of 1..7 bytes, one length field among the cuts", build_random_cuts, 0 },
    { "split-length", MODE_CLIENT, BOTH, BUG_RECV4_ONCE | ORDER | PRINTS,
      "the 4-byte length (and the JSON header) split across two pieces", build_split_length, 0 },
    { "split-utf8", MODE_CLIENT, BOTH, BUG_ONE_RECV | BUG_TEXT | ORDER | PRINTS,
      "a body of UTF-8 text cut in the middle of characters", build_split_utf8, 0 },
    { "back-to-back", MODE_CLIENT, BOTH, BUG_ONE_RECV | ORDER | PRINTS,
      "two replies in one segment, sent after the first request", build_back_to_back, 0 },
    { "empty-body", MODE_CLIENT, BOTH, BUG_ONE_RECV | ORDER | PRINTS,
      "a reply with a 0-byte body, then an ordinary one", build_empty_body, 0 },
    { "big", MODE_CLIENT, BOTH, BUG_ONE_RECV | ORDER | PRINTS,
      "a body of 3..8 MiB in pieces of 1..65536 bytes", build_big, 0 },
    { "stall", MODE_CLIENT, BOTH, BUG_ONE_RECV | BUG_RECV4_ONCE | ORDER | PRINTS,
      "the server stops for 0.5 s inside a length, then inside a body", build_stall, 0 },
    { "close-mid-length", MODE_CLIENT, BOTH, BUG_NO_EOF | ORDER | PRINTS,
      "the server closes after 1..3 bytes of a length", build_close_mid_length, 0 },
    { "close-mid-header", MODE_CLIENT, HEADERS, BUG_NO_EOF | ORDER | PRINTS,
      "the server closes in the middle of a JSON header", build_close_mid_header, 0 },
    { "close-mid-body", MODE_CLIENT, BOTH, BUG_NO_EOF | ORDER | PRINTS,
      "the server closes in the middle of a body", build_close_mid_body, BUG_ONE_RECV },
    { "negative-length", MODE_CLIENT, BOTH, BUG_NO_LIMIT,
      "a negative length (every byte 0x80..0xff), then the server waits", build_negative_length, 0 },
    { "huge-length", MODE_CLIENT, BOTH, BUG_NO_LIMIT,
      "a length of 2^31-1 and a few bytes, then the server waits", build_huge_length, 0 },
    { "text-as-length", MODE_CLIENT, BOTH, BUG_NO_LIMIT,
      "another protocol's text where the length goes, then the server waits",
      build_text_as_length, 0 },
    { "huge-body-size", MODE_CLIENT, HEADERS, BUG_NO_LIMIT,
      "a header announcing a body of 2^31-1 bytes, then the server waits",
      build_huge_body_size, 0 },
    /* the grader plays the clients */
    { "whole", MODE_SERVER, BOTH, ORDER,
      "three commands: long output, output on stderr too, a failing command", build_server_whole, 0 },
    { "empty-output", MODE_SERVER, BOTH, ORDER,
      "a command that prints nothing (a 0-byte reply), then another", build_server_empty, 0 },
    { "big-output", MODE_SERVER, BOTH, ORDER,
      "a command that prints 3..8 MiB", build_server_big, 0 },
    { "utf8-output", MODE_SERVER, BOTH, BUG_TEXT | ORDER,
      "a command that prints Chinese text: the length counts bytes", build_server_utf8, 0 },
    { "binary", MODE_SERVER, BOTH, BUG_TEXT | ORDER,
      "NUL bytes and bytes that are not UTF-8 in the output and in a request",
      build_server_binary, 0 },
    { "leave-mid-reply", MODE_SERVER, BOTH, BUG_DIES_ON_CLOSE | BUG_NO_EOF | ORDER,
      "a client reads a little of a 24 MB reply and closes; the next one is served",
      build_server_leave_mid_reply, 0 },
    { "leave-silent", MODE_SERVER, BOTH, BUG_NO_EOF | ORDER,
      "a client connects and closes without a word; the next one is served",
      build_server_leave_silent, 0 },
    { "next-client", MODE_SERVER, BOTH, BUG_NO_EOF | ORDER,
      "a client runs a command and leaves; the next one is served", build_server_next_client, 0 },
    { "idle-first", MODE_SERVER, BOTH, ORDER,
      "a client waits 0.5 s before its first command", build_server_idle_first, 0 },
    { "request-dribble", MODE_SERVER, PROTO5, BUG_ONE_RECV | BUG_RECV4_ONCE | ORDER,
      "a request sent one byte at a time", build_server_request_dribble, 0 },
    { "request-cuts", MODE_SERVER, PROTO5, BUG_ONE_RECV | BUG_RECV4_ONCE | ORDER,
      "requests cut into pieces of 1..7 bytes, each length among the cuts",
      build_server_request_cuts, 0 },
    { "pipelined", MODE_SERVER, PROTO5, BUG_ONE_RECV | ORDER,
      "three requests in one segment, before any reply", build_server_pipelined, 0 },
    { "bad-length", MODE_SERVER, PROTO5, BUG_NO_LIMIT | ORDER,
      "another protocol's text where the header length goes: an error, then the next client",
      build_server_bad_length, 0 },
    { "idle-beside", MODE_SERVER, BOTH | PROTO_CONCURRENT, BUG_ONE_AT_A_TIME | ORDER,
      "a client connects and says nothing; a second one is served meanwhile",
      build_server_idle_beside, 0 },
    { "many-at-once", MODE_SERVER, BOTH | PROTO_CONCURRENT, BUG_ONE_AT_A_TIME | ORDER,
      "50 clients connected at once, each sends a command before any reply is read",
      build_server_many, 0 },
    { "interleaved", MODE_SERVER, PROTO5 | PROTO_CONCURRENT,
      BUG_SHARED_BUFFER | BUG_BLOCKING_LOOP | BUG_ONE_AT_A_TIME | ORDER,
      "two requests in halves, crosswise: the second is answered before the first is whole",
      build_server_interleaved, 0 },
    { "unread-beside", MODE_SERVER, BOTH | PROTO_CONCURRENT,
      BUG_BLOCKING_LOOP | BUG_ONE_AT_A_TIME | BUG_DIES_ON_CLOSE | ORDER,
      "a client asks for 24 MB and stops reading; a second one is served meanwhile; the first leaves",
      build_server_unread_beside, 0 },
    { "reaped", MODE_SERVER, BOTH | PROTO_CONCURRENT, BUG_NO_REAP | ORDER,
      "4 clients one after another; then no child process of the server is left a zombie",
      build_server_reaped, 0 },
    { "unknown-op", MODE_SERVER, PROTO5, ORDER,
      "a request with an op the protocol does not have: an error, then the next request",
      build_server_unknown_op, 0 },
};
const size_t scenario_count = sizeof scenarios / sizeof scenarios[0];

int scenario_applies(const struct scenario *sc, enum grade_mode mode, unsigned proto,
                     int concurrent)
{
    return sc->mode == mode && (sc->protos & proto) != 0 &&
           (!(sc->protos & PROTO_CONCURRENT) || concurrent);
}

unsigned scenario_catches(const struct scenario *sc, unsigned proto)
{
    return sc->catches | (proto_ops(proto)->body_digest ? 0 : sc->catches3);
}

int scenario_build(const struct scenario *sc, unsigned proto, uint64_t seed, struct script *s)
{
    struct rng rng;
    rng_seed_stream(&rng, seed, rng_stream_of(sc->name));
    script_init(s, sc->mode, proto);
    if (sc->build(s, &rng) < 0)
        return -1;
    int failed = s->failed || s->input.failed || s->down.failed || s->want_out.failed;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++)
        failed |= s->up[i].failed;
    return failed ? -1 : 0;
}
