/* judge_client.c - a client's verdict: its stdout, exit status and stderr
 * compared with what the replies carried, and why it went wrong where the
 * evidence says so. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "play.h"

/* Which reply the down-stream offset AT is in. */
size_t reply_of(const struct script *s, size_t at)
{
    for (size_t i = s->n_replies; i-- > 0;)
        if (at >= s->replies[i].at)
            return i;
    return 0;
}

/* The byte of the down stream that stdout offset OUT stands for: in the
 * body it is part of, or (past every body) the end of the last reply; a
 * bogus reply stands for its length field. */
static size_t down_offset_of_output(const struct script *s, size_t out)
{
    for (size_t i = 0; i < s->n_replies; i++)
        if (s->replies[i].bogus && out >= s->replies[i].out_at)
            return s->replies[i].at;
    for (size_t i = 0; i < s->n_spans; i++) {
        const struct out_span *sp = &s->spans[i];
        if (out < sp->out_at + sp->len)
            return sp->down_at + (out >= sp->out_at ? out - sp->out_at : 0);
    }
    return s->n_replies ? s->replies[s->n_replies - 1].end : 0;
}

/* Was the length field of reply I sent in more than one piece? */
static int length_was_split(const struct script *s, size_t i)
{
    size_t at = 0, start = s->replies[i].at;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        size_t end = at + s->acts[k].arg;
        if (end > start && end < start + 4)
            return 1;
        at = end;
    }
    return 0;
}

/* Does the piece plan end a piece at down offset AT? */
static int piece_ends_at(const struct script *s, size_t at)
{
    size_t pos = 0;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        pos += s->acts[k].arg;
        if (pos == at)
            return 1;
        if (pos > at)
            return 0;
    }
    return 0;
}

/* Explains a bogus length (the HOLD scenarios). KILLED_BY: the signal
 * that ended the client after it came, or 0. */
static void diagnose_bogus(struct run *r, const struct reply_map *m, int killed_by)
{
    const unsigned char *lb = r->s->down.p + m->at;
    uint32_t le = get_le32(lb);
    int32_t value = (int32_t)le;
    char text[32], killed[160] = "";
    int ascii = text_bytes(lb, text, sizeof text);
    if (killed_by)
        snprintf(killed, sizeof killed, "the client was killed by signal %d (%s) after this length: it "
                 "used the length before checking it (an array or a copy of that size?); ",
                 killed_by, strsignal(killed_by));
    if (m->header_len) {
        diagnose(r, "%sthe header says total_size 2147483647 (2 GiB): refuse a size above "
                    "256 MiB instead of waiting for it (or allocating it)", killed);
    } else if (ascii) {
        diagnose(r, "%slength 0x%08x is ASCII '%s': reading text as a length; the peer "
                    "speaks another protocol, so refuse it (any 4 ASCII bytes read as a "
                    "little-endian length are above 512 MiB)", killed, (unsigned)le, text);
    } else if (value < 0) {
        diagnose(r, "%slength bytes %02x %02x %02x %02x are %d as a signed 32-bit integer: "
                    "refuse a negative length (a loop `while received < length` ends at once, "
                    "and a size_t cast makes it huge)", killed, lb[0], lb[1], lb[2], lb[3], value);
    } else {
        diagnose(r, "%slength 0x%08x is %d bytes (2 GiB): refuse a length above 256 MiB instead "
                    "of waiting for it (or allocating it)", killed, (unsigned)le, value);
    }
}

/* One past the end of the piece that holds down offset AT (0: none sent). */
static size_t piece_end_holding(const struct script *s, size_t at)
{
    size_t pos = 0;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        pos += s->acts[k].arg;
        if (pos > at)
            return pos;
    }
    return 0;
}

/* The first reply whose body would start at stdout offset OUT and whose
 * down bytes (length first) are what the output shows there, N of them
 * (N >= 2): the client printed the raw stream. Returns its index, or
 * n_replies. */
static size_t raw_reply_at(const struct script *s, size_t out, const unsigned char *got,
                           size_t got_len, size_t *n)
{
    if (out >= got_len || got_len - out < 2)
        return s->n_replies;
    *n = got_len - out < 4 ? got_len - out : 4;
    for (size_t i = 0; i < s->n_replies; i++)
        if (s->replies[i].out_at == out && s->replies[i].at + *n <= s->down.len &&
            memcmp(got + out, s->down.p + s->replies[i].at, *n) == 0)
            return i;
    return s->n_replies;
}

/* The reply whose length field, read big-endian, stderr names (stage 3
 * and 4 clients): the first reply at stdout offset OUT whose 4 length bytes
 * were all sent and read in the other byte order differ. Fills the value
 * as stderr says it. Returns its index, or n_replies. */
static size_t byte_swapped_reply(struct run *r, const struct conn *c, size_t out,
                                 const unsigned char *errb, size_t err_len, char *named,
                                 size_t named_len)
{
    const struct script *s = r->s;
    for (size_t i = 0; err_len && i < s->n_replies; i++) {
        const struct reply_map *m = &s->replies[i];
        if (m->bogus || m->out_at != out || c->sent < m->at + 4)
            continue;
        const unsigned char *lb = s->down.p + m->at;
        uint32_t be = get_be32(lb);
        if (be == get_le32(lb))
            continue;
        snprintf(named, named_len, "%u", be);
        if (contains(errb, err_len, named))
            return i;
        if (be > 0x7fffffffu) {
            snprintf(named, named_len, "%d", (int32_t)be);
            if (contains(errb, err_len, named))
                return i;
        }
    }
    return s->n_replies;
}

void judge_client(struct run *r, enum wait_end how, struct conn *c)
{
    const struct script *s = r->s;
    struct child *ch = &r->child;
    char a[600], b[600], state[200];

    pthread_mutex_lock(&ch->lock);
    const unsigned char *got = ch->out.bytes;
    size_t got_len = ch->out.len;
    uint64_t got_total = ch->out.total;
    const unsigned char *errb = ch->err.bytes;
    size_t err_len = ch->err.len;
    pthread_mutex_unlock(&ch->lock);

    const unsigned char *want = s->want_out.p;
    size_t want_len = s->want_out.len;
    int exited = r->ended_itself && WIFEXITED(r->end_status);
    int code = exited ? WEXITSTATUS(r->end_status) : -1;

    /* What came out, compared with what had to. */
    size_t same = 0;
    while (same < got_len && same < want_len && got[same] == want[same])
        same++;
    int output_ok;
    if (s->ending == END_CLOSE) {
        size_t extra = got_len - same;
        output_ok = same == want_len && got_total == got_len && extra <= s->partial_len &&
                    (extra == 0 || memcmp(got + want_len, s->down.p + s->partial_at, extra) == 0);
    } else {
        output_ok = same == want_len && got_len == want_len && got_total == got_len;
    }
    int status_ok = s->ending == END_FIN ? exited && code == 0 : exited && code != 0;
    int extra_sent = c->in.len > c->in_used;
    r->v->pass = output_ok && status_ok && !r->stopped && !extra_sent;
    if (r->v->pass)
        return;

    /* The steps: how it ended, what was expected, what came. */
    describe_program(r, how, state, sizeof state);
    if (r->ended_itself)
        step(r, "the client %s", state);
    else
        step(r, "the client did not exit: it %s (the grader stopped it)", state);
    if (extra_sent)
        step(r, "after its last request the client sent %zu more %s: %s", c->in.len - c->in_used,
             plural(c->in.len - c->in_used, "byte", "bytes"),
             shown(a, sizeof a, c->in.p + c->in_used, c->in.len - c->in_used, SHOW));
    const char *want_how = s->ending == END_FIN ? "exit status 0 and on stdout"
                           : s->ending == END_CLOSE ? "a non-zero exit status (the last reply "
                                                      "was cut short) and on stdout"
                           : "a non-zero exit status (the reply cannot be right) and on stdout";
    step(r, "expected: %s the %zu %s of the complete replies%s: %s", want_how, want_len,
         plural(want_len, "byte", "bytes"),
         s->ending == END_CLOSE && s->partial_len ? " (then, at most, the part of the cut body "
                                                   "that came)" : "",
         shown(a, sizeof a, want, want_len, SHOW));
    char status_text[40] = "no exit status";
    if (exited)
        snprintf(status_text, sizeof status_text, "exit status %d", code);
    step(r, "got: %s and %llu %s on stdout: %s", status_text, (unsigned long long)got_total,
         plural(got_total, "byte", "bytes"), shown(b, sizeof b, got, got_len, SHOW));
    if (!output_ok && got_len > 0 && same < got_len && (same < want_len || s->ending != END_CLOSE)) {
        size_t down_at = down_offset_of_output(s, same);
        size_t ri = reply_of(s, down_at);
        const struct reply_map *m = &s->replies[ri];
        if (same < want_len)
            step(r, "the first difference is at byte %zu of stdout (byte %zu of reply %zu's body): "
                    "expected %s, got %s", same, same - m->out_at, ri + 1,
                 shown(a, sizeof a, want + same, want_len - same, 16),
                 shown(b, sizeof b, got + same, got_len - same, 16));
        else
            step(r, "stdout goes on after the %zu expected bytes: %s", want_len,
                 shown(b, sizeof b, got + same, got_len - same, 24));
    }
    if (err_len > 0) {
        /* The end of stderr holds the error, usually. */
        size_t from = err_len > 300 ? err_len - 300 : 0;
        step(r, "its stderr%s: %s", from ? " ends" : "",
             shown(a, sizeof a, errb + from, err_len - from, 300));
    }

    /* Where to look in the capture. */
    size_t fail_down = s->ending == END_HOLD && s->n_replies ? s->replies[s->n_replies - 1].at
                       : down_offset_of_output(s, same);
    if (fail_down > c->sent)
        fail_down = c->sent;
    fail_at(r, 1, fail_down, c);

    /* Why, where the evidence says so. The first diagnosis made wins:
     * the most specific evidence comes first. */
    size_t ri = reply_of(s, down_offset_of_output(s, same));
    const struct reply_map *m = &s->replies[ri];
    size_t raw_n = 0, raw_i;
    char named[24];
    if (how == WAIT_SPIN && s->ending == END_CLOSE)
        diagnose(r, "it kept running after the grader closed the connection, using %.1f s of CPU "
                    "without reading or printing anything: a receive loop that does not stop "
                    "when recv returns 0 (the peer closed)", r->spin_cpu);
    if (how == WAIT_SPIN)
        diagnose(r, "it used %.1f s of CPU without reading, sending or printing anything: a "
                    "loop that does not end (does it check recv's 0, the peer's close?)",
                 r->spin_cpu);
    /* Every whole reply printed right; then the bogus length. */
    if (s->ending == END_HOLD && s->n_replies && same == want_len) {
        const struct reply_map *bogus = &s->replies[s->n_replies - 1];
        if (got_len - same >= 4 && memcmp(got + same, s->down.p + bogus->at, 4) == 0)
            diagnose(r, "the output has %s, the %s field the grader sent: the client "
                        "prints the raw stream; read the 4-byte length first and check it",
                     shown(a, sizeof a, got + same, 4, 4), r->ops->client_len_name);
        else if (r->ended_itself && WIFSIGNALED(r->end_status))
            diagnose_bogus(r, bogus, WTERMSIG(r->end_status));
        else if (how == WAIT_STUCK || how == WAIT_IDLE || got_len > want_len || (exited && code == 0))
            diagnose_bogus(r, bogus, 0);
    }
    if (s->ending == END_CLOSE && exited && code == 0 && output_ok)
        diagnose(r, "the server closed in the middle of reply %zu and the client exited with "
                    "status 0: a reply cut short is an error (say so and exit non-zero)",
                 reply_of(s, c->sent - 1) + 1);
    if (err_len && contains(errb, err_len, "UnicodeDecodeError"))
        diagnose(r, "decoding each piece as UTF-8 fails when a character is split between two "
                    "pieces: keep the bytes until the body is complete, then decode (or write "
                    "the bytes as they are)");
    /* The length read in the other byte order: all 4 bytes came, and
     * stderr names the value they make big-endian. */
    raw_i = byte_swapped_reply(r, c, same, errb, err_len, named, sizeof named);
    if (raw_i < s->n_replies) {
        const unsigned char *lb = s->down.p + s->replies[raw_i].at;
        diagnose(r, "its stderr names %s: that is reply %zu's %s bytes %02x %02x %02x %02x "
                    "read big-endian; %s lengths are little-endian (struct.unpack('<i'), "
                    "or build it from the bytes: b0 | b1 << 8 | b2 << 16 | b3 << 24)",
                 named, raw_i + 1, r->ops->client_len_name, lb[0], lb[1], lb[2], lb[3],
                 r->ops->client_le_stage);
    }
    /* From the start of the reply that went wrong: its length's first
     * bytes may be its body's too ("3\x00\x00\x00" before "33\n..."). */
    size_t raw_at = m->out_at <= same ? m->out_at : same;
    raw_i = raw_reply_at(s, raw_at, got, got_len, &raw_n);
    if (raw_i < s->n_replies && !s->replies[raw_i].bogus)
        diagnose(r, "the output has %s, %sreply %zu's own length field: the client prints the "
                    "raw stream; read the 4-byte length first, then exactly that many bytes",
                 shown(a, sizeof a, got + raw_at, raw_n, 4), raw_n < 4 ? "the start of " : "",
                 raw_i + 1);
    if (same < got_len && same == m->out_at + m->body_len && ri + 1 < s->n_replies &&
        got_len - same >= 4 && memcmp(got + same, s->down.p + s->replies[ri + 1].at, 4) == 0)
        diagnose(r, "after reply %zu's body the output has %s, the length of reply %zu: the "
                    "client read past the end of reply %zu (two replies in one recv, printed as "
                    "one); never ask recv for more than the bytes still missing",
                 ri + 1, shown(a, sizeof a, got + same, 4, 4), ri + 2, ri + 1);
    /* Every byte right but the very last: an off-by-one at the end. */
    if (want_len > 0 && got_len + 1 == want_len && same == got_len && s->ending != END_HOLD) {
        size_t last = reply_of(s, down_offset_of_output(s, want_len - 1));
        diagnose(r, "stdout has every expected byte but the very last one (%s, the end of reply "
                    "%zu): an off-by-one at the end of the output (a length - 1, or a byte held "
                    "back and never written)", shown(a, sizeof a, want + want_len - 1, 1, 1),
                 last + 1);
    }
    /* A length field read with one recv(4) that returned fewer. */
    if (!m->bogus && length_was_split(s, ri) && same == m->out_at) {
        size_t k = 1;
        while (k < 4 && !piece_ends_at(s, m->at + k))
            k++;
        if (same < got_len && got_len - same >= 4 - k &&
            memcmp(got + same, s->down.p + m->at + k, 4 - k) == 0)
            diagnose(r, "reply %zu's output starts with %s, the last %zu %s of its length: "
                        "recv(4) returned only the first %zu and the client went on; read the "
                        "length in a loop until all 4 bytes are in", ri + 1,
                     shown(a, sizeof a, got + same, 4 - k, 4), 4 - k, plural(4 - k, "byte", "bytes"), k);
        /* It stopped there: the grader sent nothing after the piece that
         * completes the length (it only sends a piece once the last was
         * read), so the client never read a whole length. */
        else if (got_len == same && c->sent <= piece_end_holding(s, m->at + 3))
            diagnose(r, "the client failed at reply %zu, whose 4-byte length came in pieces (the "
                        "first one %zu %s): a single recv(4) returns what is there; read the "
                        "length in a loop until all 4 bytes are in", ri + 1, k, plural(k, "byte", "bytes"));
    }
    /* The client complains of the reply's digest, which the grader
     * computed from the bytes it sent. */
    if (r->ops->diagnose_client_digest && !m->bogus && exited && code != 0 && same == m->out_at)
        r->ops->diagnose_client_digest(r, ri, m, errb, err_len);
    /* One recv taken as the whole body. */
    if (!m->bogus && same > m->out_at && same < m->out_at + m->body_len && same < want_len) {
        size_t body_got = same - m->out_at;
        size_t at = m->body_at + body_got;
        if (body_got == 1024 || body_got == 4096 || body_got == 8192 || body_got == 65536)
            diagnose(r, "the reply ended %zu bytes in: one recv taken as one message; loop until "
                        "the length's %zu bytes are in", body_got, m->body_len);
        else if (piece_ends_at(s, at))
            diagnose(r, "reply %zu's output stops after %zu of its %zu bytes, exactly where a "
                        "piece of the stream ended: one recv taken as one message; loop until the "
                        "length's bytes are all in", ri + 1, body_got, m->body_len);
    }
    size_t last_sent = c->sent ? reply_of(s, (size_t)c->sent - 1) : 0;
    if (c->sent && s->replies[last_sent].body_len == 0 && !s->replies[last_sent].bogus &&
        (how == WAIT_STUCK || how == WAIT_IDLE))
        diagnose(r, "reply %zu has a 0-byte body and the client is blocked after it: it called "
                    "recv for a body that is not there (and waits for bytes of the next reply, "
                    "which only comes after the next request)", last_sent + 1);
    if ((how == WAIT_STUCK || how == WAIT_IDLE) && !r->ended_itself && c->eof == 0)
        diagnose(r, "the client read every byte the grader sent and then waited for more: it "
                    "expects more bytes than the reply holds");
}
