/* export.c - --dump, --html and --side-by-side: a decoded capture as text. */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_BYTES 48          /* bytes shown per dump line */
#define SIDE_WINDOW (16u << 20)   /* side-by-side needs whole replies */
#define V1_RECV_SIZE 1024         /* the stage 1 client's one recv(1024) */

/* ---- small helpers ---------------------------------------------------- */

/* "stage1_naive/client" or "python3 cli.py" from a recorded command line:
 * no folders or ports, so dumps of two runs compare equal. */
static void short_prog(const char *cmdline, char *out, size_t len)
{
    char first[200] = "", second[200] = "";
    sscanf(cmdline, "%199s %199s", first, second);
    const char *stage = strstr(first, "stage");
    const char *base = strrchr(first, '/');
    base = base ? base + 1 : first;
    if (stage != NULL) {
        snprintf(out, len, "%s", stage);
    } else if (strncmp(base, "python", 6) == 0 && second[0] != '\0') {
        const char *script = strrchr(second, '/');
        snprintf(out, len, "%s %s", base, script ? script + 1 : second);
    } else {
        snprintf(out, len, "%s", base[0] ? base : "?");
    }
}

/* An end whose connect/accept the tap did not see: either it was not
 * tapped at all, or (UDP, a socket inherited from a parent) it never
 * called them. */
static const char *end_unnamed(uint32_t pid)
{
    return pid != 0 ? "(tapped, no connect/accept seen)" : "(not tapped)";
}

/* Writes the bytes of [START, END) as a C string body, at most SHOW of
 * them; a run of bytes the tap did not copy is one "[N bytes not captured]"
 * with the run's true length (up to END, not SHOW). Returns 1 when it
 * stopped before END. */
static int put_escaped(FILE *out, const struct stream *s, uint64_t start, uint64_t end,
                       uint64_t show)
{
    uint64_t off = start, shown = 0;
    while (off < end && shown < show) {
        int b = stream_byte(s, off);
        if (b < 0) {
            uint64_t run_end = stream_next_known(s, off, end);
            if (run_end <= off)
                run_end = end;      /* outside the window: none of it is kept */
            fprintf(out, "[%llu bytes not captured]", (unsigned long long)(run_end - off));
            shown += run_end - off < show ? run_end - off : show;
            off = run_end;
            continue;
        }
        off++;
        shown++;
        switch (b) {
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        default:
            if (b >= 0x20 && b < 0x7f)
                fputc(b, out);
            else
                fprintf(out, "\\x%02x", (unsigned)b);
        }
    }
    return off < end;
}

/* What recv SPAN did, as the dump and the page say it: "returned 40
 * bytes", "returned 5 bytes of a 2000-byte datagram (1995 lost)", ... */
static void recv_result(const struct decode_span *span, char *buf, size_t len)
{
    unsigned long long took = span->end - span->start, got = (unsigned long long)span->call_size;
    if (span->cut)
        snprintf(buf, len, "returned %llu bytes of a longer datagram (the rest lost)", got);
    else if (got == 0)
        snprintf(buf, len, "discarded %llu bytes (MSG_TRUNC)", took);
    else if (got < took)
        snprintf(buf, len, "returned %llu bytes of a %llu-byte datagram (%llu lost)", got, took,
                 took - got);
    else
        snprintf(buf, len, "returned %llu bytes", got);
}

/* "; 1995 bytes lost to truncation" after a stream's totals, or "". */
static const char *lost_text(const struct stream *s, char *buf, size_t len)
{
    if (s->lost == 0)
        return "";
    snprintf(buf, len, "; %llu bytes lost to truncation", (unsigned long long)s->lost);
    return buf;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every offset where something changes (a send, recv or frame starts or
 * ends, or pending begins), sorted, within [win_start, end].
 * Returns a malloc'd array (count in *N), or NULL. */
static uint64_t *boundaries(const struct stream *s, size_t *n)
{
    size_t cap = 2 * (s->n_sends + s->n_recvs + s->n_frames) + 3;
    uint64_t *v = malloc(cap * sizeof(*v));
    if (v == NULL)
        return NULL;
    uint64_t lo = s->win_start, hi = stream_window_end(s);
    size_t k = 0;
#define ADD(x) do { uint64_t x_ = (x); if (x_ >= lo && x_ <= hi) v[k++] = x_; } while (0)
    ADD(lo);
    ADD(hi);
    ADD(s->received);
    for (size_t i = 0; i < s->n_sends; i++) { ADD(s->sends[i].start); ADD(s->sends[i].end); }
    for (size_t i = 0; i < s->n_recvs; i++) { ADD(s->recvs[i].start); ADD(s->recvs[i].end); }
    for (size_t i = 0; i < s->n_frames; i++) { ADD(s->frames[i].start); ADD(s->frames[i].end); }
#undef ADD
    qsort(v, k, sizeof(*v), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || v[u - 1] != v[i])
            v[u++] = v[i];
    *n = u;
    return v;
}

static void frame_label(const struct decode_frame *f, char *buf, size_t len)
{
    if (f == NULL)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%s #%u", frame_part_name(f->part), f->message);
}

/* ---- --dump ------------------------------------------------------------ */

/* --at: only the part of one stream around one byte, and that byte marked. */
struct dump_at {
    uint64_t offset;            /* the byte */
    uint64_t lo, hi;            /* the part shown: segments meeting [lo, hi) */
};

#define AT_CONTEXT 256          /* bytes shown either side of --at's byte */
#define GAP_NS 10000000ull      /* a wait this long gets its own line (verbose) */

/* Milliseconds from the capture's first event to T (negative when the
 * capture's order put an event before an earlier one of another process). */
static double ms_since_first(const struct decoder *d, uint64_t t)
{
    return ((double)t - (double)d->first_ns) / 1e6;
}

/* The line that marks --at's byte: its value and what it belongs to. */
static void dump_at_mark(FILE *out, const struct stream *s, uint64_t offset)
{
    const struct decode_span *snd = stream_send_at(s, offset);
    const struct decode_span *rcv = stream_recv_at(s, offset);
    const struct decode_frame *f = stream_frame_at(s, offset);
    int b = stream_byte(s, offset);
    fprintf(out, "    => @%llu: ", (unsigned long long)offset);
    if (b < 0)
        fprintf(out, "(not captured)");
    else if (b >= 0x20 && b < 0x7f && b != '\'')
        fprintf(out, "0x%02x '%c'", (unsigned)b, b);
    else
        fprintf(out, "0x%02x", (unsigned)b);
    if (snd != NULL)
        fprintf(out, ", send #%u", snd->number);
    if (rcv != NULL)
        fprintf(out, ", recv #%u", rcv->number);
    else if (offset >= s->received && s->receiver_tapped)
        fprintf(out, ", pending");
    if (f != NULL)
        fprintf(out, ", %s #%u", frame_part_name(f->part), f->message);
    fputc('\n', out);
}

static void dump_stream(FILE *out, const struct decoder *d, const struct connection *c,
                        const struct stream *s, int verbose, const struct dump_at *at)
{
    const char *from = s->dir == DIR_UP ? "client" : "server";
    const char *to = s->dir == DIR_UP ? "server" : "client";
    char lost[64];
    fprintf(out, "  %s (%s -> %s): %u sends, %llu bytes sent; %u recvs, %llu bytes received%s; %llu pending%s\n",
            direction_name(s->dir), from, to, s->send_calls,
            (unsigned long long)s->sent, s->recv_calls,
            (unsigned long long)(s->received - s->lost), lost_text(s, lost, sizeof(lost)),
            (unsigned long long)stream_pending(s), s->eof ? "; EOF seen" : "");
    if (c->compact)
        return;     /* its bytes and spans were freed: the totals are all */
    /* A tapped end with no data calls moved its bytes some way the tap
     * does not see (stdio on a socket, splice, sendmmsg): say so, rather
     * than "not tapped". */
    uint32_t from_pid = s->dir == DIR_UP ? c->client_pid : c->server_pid;
    uint32_t to_pid = s->dir == DIR_UP ? c->server_pid : c->client_pid;
    if (!s->sender_tapped)
        fprintf(out, "    (%s %s: send boundaries unknown)\n", from,
                from_pid != 0 ? "tapped, no socket data calls seen" : "not tapped");
    if (!s->receiver_tapped)
        fprintf(out, "    (%s %s: recv boundaries unknown)\n", to,
                to_pid != 0 ? "tapped, no socket data calls seen" : "not tapped");
    if (s->win_start > 0)
        fprintf(out, "    (window: bytes before offset %llu are no longer kept)\n",
                (unsigned long long)s->win_start);
    if (stream_window_end(s) < stream_end(s))
        fprintf(out, "    (window: the %s lags; bytes from offset %llu on are not kept yet)\n",
                to, (unsigned long long)stream_window_end(s));
    size_t n = 0;
    uint64_t *cuts = boundaries(s, &n);
    if (cuts == NULL) {
        fprintf(out, "    (out of memory)\n");
        return;
    }
    const struct decode_frame *last_frame = NULL;
    if (at != NULL && (at->offset < s->win_start || at->offset >= stream_window_end(s)))
        fprintf(out, "    => @%llu: not kept (the window holds bytes %llu..%llu)\n",
                (unsigned long long)at->offset, (unsigned long long)s->win_start,
                (unsigned long long)stream_window_end(s));
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t a = cuts[i], b = cuts[i + 1];
        if (at != NULL && (b <= at->lo || a >= at->hi))
            continue;
        const struct decode_frame *f = stream_frame_at(s, a);
        if (f != NULL && f != last_frame && f->start == a &&
            f->part != FRAME_REQUEST && f->part != FRAME_REPLY && f->part != FRAME_BODY)
            fprintf(out, "    == %s #%u: %s\n", frame_part_name(f->part), f->message, f->note);
        last_frame = f;
        const struct decode_span *snd = stream_send_at(s, a);
        const struct decode_span *rcv = stream_recv_at(s, a);
        if (verbose && rcv != NULL && rcv->start == a && rcv->gap_ns >= GAP_NS)
            fprintf(out, "    .... %.1f ms since recv #%u\n", (double)rcv->gap_ns / 1e6,
                    rcv->number - 1);
        if (verbose && snd != NULL && snd->start == a && snd->gap_ns >= GAP_NS)
            fprintf(out, "    .... %.1f ms since send #%u\n", (double)snd->gap_ns / 1e6,
                    snd->number - 1);
        char send_text[32], recv_text[32], frame_text[40];
        if (snd != NULL)
            snprintf(send_text, sizeof(send_text), "send #%u", snd->number);
        else
            snprintf(send_text, sizeof(send_text), "send ?");
        if (rcv != NULL)
            snprintf(recv_text, sizeof(recv_text), "recv #%u", rcv->number);
        else if (a >= s->received && s->receiver_tapped)
            snprintf(recv_text, sizeof(recv_text), "pending");
        else
            snprintf(recv_text, sizeof(recv_text), "recv ?");
        frame_label(f, frame_text, sizeof(frame_text));
        fprintf(out, "    @%-7llu +%-6llu %-9s %-9s %-16s \"",
                (unsigned long long)a, (unsigned long long)(b - a),
                send_text, recv_text, frame_text);
        int more = put_escaped(out, s, a, b, PREVIEW_BYTES);
        fputc('"', out);
        if (more)
            fprintf(out, "...");
        fputc('\n', out);
        if (at != NULL && at->offset >= a && at->offset < b)
            dump_at_mark(out, s, at->offset);
        /* Receiver's boundary: where one recv() stopped. */
        const struct decode_span *ending = stream_recv_at(s, b - 1);
        if (ending != NULL && ending->end == b) {
            char result[128];
            recv_result(ending, result, sizeof(result));
            fprintf(out, "    ---- recv #%u %s", ending->number, result);
            if (s->dir == DIR_DOWN && ending->message > 0)
                fprintf(out, " (client waiting for reply #%u)", ending->message);
            if (verbose)
                fprintf(out, " at +%.3f ms", ms_since_first(d, ending->time_ns));
            fputc('\n', out);
            if (ending->stale)
                fprintf(out, "    !! STALE: recv #%u returned bytes of reply #%u\n",
                        ending->number, ending->stale_reply);
        }
    }
    free(cuts);
    if ((s->dir == DIR_DOWN || c->proto == PROTO_FT) && s->parse.lost)
        fprintf(out, "    (framing lost: the bytes no longer match the %s protocol)\n",
                proto_name(c->proto));
}

void export_dump_decoder(const struct decoder *d, FILE *out, int verbose)
{
    struct decode_status st;
    decoder_status(d, &st);
    fprintf(out, "nianbao capture: %llu event%s, %zu connection%s\n",
            (unsigned long long)st.events, st.events == 1 ? "" : "s", d->n_conns,
            d->n_conns == 1 ? "" : "s");
    if (d->invalid > 0)
        fprintf(out, "(%llu invalid events ignored: sizes no call can have)\n",
                (unsigned long long)d->invalid);
    for (size_t i = 0; i < d->n_conns; i++) {
        const struct connection *c = d->conns[i];
        char client[80], server[80];
        short_prog(c->client_prog, client, sizeof(client));
        short_prog(c->server_prog, server, sizeof(server));
        fprintf(out, "\nconnection %u: client %s, server %s, %s, proto %s%s%s\n",
                c->id, c->client_prog[0] ? client : end_unnamed(c->client_pid),
                c->server_prog[0] ? server : end_unnamed(c->server_pid),
                c->socktype == 2 /* SOCK_DGRAM */ ? "udp" : "tcp",
                proto_name(c->proto), c->proto_guessed ? " (guessed)" : "",
                connection_stale_blind(c) ? "; STALE needs both ends tapped" : "");
        if (verbose)
            fprintf(out, "  client %s pid %u \"%s\"\n  server %s pid %u \"%s\"\n",
                    c->client_name, c->client_pid, c->client_prog,
                    c->server_name, c->server_pid, c->server_prog);
        if (c->compact)
            fprintf(out, "  (totals only: bytes and spans freed, more than %d connections)\n",
                    DECODE_MAX_FULL_CONNS);
        dump_stream(out, d, c, &c->up, verbose, NULL);
        dump_stream(out, d, c, &c->down, verbose, NULL);
    }
    fprintf(out, "\ntotal: %llu sends, %llu recvs, %llu bytes pending, %llu STALE\n",
            (unsigned long long)st.sends, (unsigned long long)st.recvs,
            (unsigned long long)st.pending, (unsigned long long)st.stale_count);
    for (size_t i = 0; i < d->n_stales; i++)
        fprintf(out, "connection %u: %s\n", d->stales[i].conn_id, d->stales[i].text);
}

/* Loads PATH into D. Returns 0, or -1 with ERR filled (D is freed). */
static int load(struct decoder *d, const char *path, enum proto proto, size_t window,
                char *err, size_t errlen)
{
    struct decode_options opt = { .proto = proto, .window = window };
    if (decoder_init(d, &opt) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (decoder_load_file(d, path, err, errlen) < 0) {
        decoder_free(d);
        return -1;
    }
    return 0;
}

int export_dump(const char *capture_path, FILE *out, enum proto proto,
                int verbose, char *err, size_t errlen)
{
    struct decoder d;
    if (load(&d, capture_path, proto, 0, err, errlen) < 0)
        return -1;
    export_dump_decoder(&d, out, verbose);
    decoder_free(&d);
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "cannot write the dump: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- --html ------------------------------------------------------------ */

static const char *const html_head =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
    "<title>nianbao capture</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1.5em;max-width:70em}\n"
    "pre{font-family:monospace;white-space:pre-wrap;word-break:break-all;"
    "line-height:1.9;border:1px solid #ccc;padding:.5em}\n"
    ".s0{background:#ffe0b3}.s1{background:#c6ecff}.s2{background:#d8f5c4}"
    ".s3{background:#f5d0f0}.s4{background:#fff5a8}.s5{background:#d6d6ff}\n"
    ".su{background:#eee}\n"
    ".pending{opacity:.45;outline:1px dashed #888}\n"
    ".unk{color:#999}\n"
    ".esc{color:#a00}\n"
    ".rb{color:#c00;font-weight:bold}\n"
    ".len-field,.header-len{border-bottom:3px solid #06c;font-weight:bold}\n"
    ".header-json{border-bottom:3px solid #080}\n"
    ".body{border-bottom:1px dotted #555}\n"
    ".bad{border-bottom:3px solid #c00}\n"
    ".tag{color:#06c;font-size:80%;margin-right:.2em}\n"
    ".stale{color:#fff;background:#c00;padding:.1em .4em;font-weight:bold}\n"
    ".legend span{padding:0 .4em;margin-right:.5em}\n"
    "</style></head><body>\n"
    "<h1>nianbao capture</h1>\n"
    "<p class=\"legend\">Each byte's background is the <code>send()</code> that wrote it "
    "(<span class=\"s0\">send #1</span><span class=\"s1\">send #2</span>"
    "<span class=\"s2\">send #3</span>...); "
    "<span class=\"rb\">&#x2503;</span> marks where a <code>recv()</code> returned; "
    "<span class=\"pending\">faded</span> bytes are sent but not yet received; "
    "<span class=\"unk\">[N bytes not captured]</span>: bytes the tap did not copy "
    "(it copies NIANBAO_TAP_CAP bytes of each call). "
    "Underlines: <span class=\"len-field\">length field</span> "
    "<span class=\"header-json\">JSON header</span> <span class=\"body\">body</span>.</p>\n";

static void html_text(FILE *out, const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*text, out);
        }
    }
}

static void html_byte(FILE *out, int b)
{
    if (b == '\n')
        fputs("<span class=\"esc\">\\n</span>\n", out);
    else if (b == '<')
        fputs("&lt;", out);
    else if (b == '>')
        fputs("&gt;", out);
    else if (b == '&')
        fputs("&amp;", out);
    else if (b >= 0x20 && b < 0x7f)
        fputc(b, out);
    else
        fprintf(out, "<span class=\"esc\">\\x%02x</span>", (unsigned)b);
}

static void html_stream(FILE *out, const struct stream *s)
{
    const char *from = s->dir == DIR_UP ? "client" : "server";
    const char *to = s->dir == DIR_UP ? "server" : "client";
    char lost[64];
    fprintf(out, "<h3>%s: %s &rarr; %s</h3>\n<p>%u sends, %llu bytes sent; %u recvs, "
            "%llu bytes received%s; %llu pending</p>\n",
            direction_name(s->dir), from, to, s->send_calls,
            (unsigned long long)s->sent, s->recv_calls,
            (unsigned long long)(s->received - s->lost), lost_text(s, lost, sizeof(lost)),
            (unsigned long long)stream_pending(s));
    size_t n = 0;
    uint64_t *cuts = boundaries(s, &n);
    if (cuts == NULL)
        return;
    fputs("<pre>", out);
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t a = cuts[i], b = cuts[i + 1];
        const struct decode_span *snd = stream_send_at(s, a);
        const struct decode_span *rcv = stream_recv_at(s, a);
        const struct decode_frame *f = stream_frame_at(s, a);
        char title[256];
        int used = snprintf(title, sizeof(title), "bytes %llu..%llu",
                            (unsigned long long)a, (unsigned long long)(b - 1));
        if (snd != NULL && used > 0 && (size_t)used < sizeof(title))
            used += snprintf(title + used, sizeof(title) - (size_t)used,
                             "; send #%u (%s, %lld bytes)", snd->number,
                             capture_call_name(snd->call), (long long)snd->call_size);
        if (rcv != NULL && used > 0 && (size_t)used < sizeof(title))
            used += snprintf(title + used, sizeof(title) - (size_t)used,
                             "; recv #%u", rcv->number);
        if (f != NULL && used > 0 && (size_t)used < sizeof(title))
            snprintf(title + used, sizeof(title) - (size_t)used, "; %s", f->note);
        /* a length field is also said as a number, as the screen says it */
        if (f != NULL && f->start == a &&
            (f->part == FRAME_LEN_FIELD || f->part == FRAME_HEADER_LEN))
            fprintf(out, "<span class=\"tag\">[%s %lld]</span>",
                    f->part == FRAME_LEN_FIELD ? "len" : "hdr", f->value);
        fprintf(out, "<span class=\"%s%u %s%s\" title=\"",
                snd ? "s" : "su", snd ? (snd->number - 1) % 6 : 0,
                f ? frame_part_name(f->part) : "",
                rcv == NULL && a >= s->received && s->receiver_tapped ? " pending" : "");
        html_text(out, title);
        fputs("\">", out);
        for (uint64_t off = a; off < b;) {
            int byte = stream_byte(s, off);
            if (byte >= 0) {
                html_byte(out, byte);
                off++;
                continue;
            }
            /* a run the tap did not copy: one mark with its true length */
            uint64_t run_end = stream_next_known(s, off, b);
            if (run_end <= off)
                run_end = b;
            fprintf(out, "<span class=\"unk\">[%llu bytes not captured]</span>",
                    (unsigned long long)(run_end - off));
            off = run_end;
        }
        fputs("</span>", out);
        const struct decode_span *ending = stream_recv_at(s, b - 1);
        if (ending != NULL && ending->end == b) {
            char result[128];
            recv_result(ending, result, sizeof(result));
            fprintf(out, "<span class=\"rb\" title=\"recv #%u %s\">&#x2503;</span>",
                    ending->number, result);
            if (ending->stale)
                fprintf(out, "<span class=\"stale\">STALE: recv #%u returned bytes of reply #%u</span>",
                        ending->number, ending->stale_reply);
        }
    }
    fputs("</pre>\n", out);
    for (size_t i = 0; i < s->n_frames; i++) {
        const struct decode_frame *f = &s->frames[i];
        if (f->part == FRAME_LEN_FIELD || f->part == FRAME_HEADER_LEN ||
            f->part == FRAME_HEADER_JSON || f->part == FRAME_BAD) {
            fprintf(out, "<p class=\"%s\">%s #%u: ", frame_part_name(f->part),
                    frame_part_name(f->part), f->message);
            html_text(out, f->note);
            fputs("</p>\n", out);
        }
    }
    free(cuts);
}

int export_html(const char *capture_path, const char *html_path,
                enum proto proto, char *err, size_t errlen)
{
    struct decoder d;
    if (load(&d, capture_path, proto, 0, err, errlen) < 0)
        return -1;
    int rc = -1;
    FILE *out = fopen(html_path, "w");
    if (out == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", html_path, strerror(errno));
        goto end;
    }
    fputs(html_head, out);
    struct decode_status st;
    decoder_status(&d, &st);
    fprintf(out, "<p>%llu sends, %llu recvs, %llu bytes pending, %llu STALE</p>\n",
            (unsigned long long)st.sends, (unsigned long long)st.recvs,
            (unsigned long long)st.pending, (unsigned long long)st.stale_count);
    if (d.invalid > 0)
        fprintf(out, "<p>%llu invalid events ignored: sizes no call can have</p>\n",
                (unsigned long long)d.invalid);
    for (size_t i = 0; i < d.n_conns; i++) {
        const struct connection *c = d.conns[i];
        char client[80], server[80];
        short_prog(c->client_prog, client, sizeof(client));
        short_prog(c->server_prog, server, sizeof(server));
        fprintf(out, "<h2>connection %u: ", c->id);
        html_text(out, c->client_prog[0] ? client : end_unnamed(c->client_pid));
        fputs(" &harr; ", out);
        html_text(out, c->server_prog[0] ? server : end_unnamed(c->server_pid));
        fprintf(out, ", proto %s%s%s</h2>\n", proto_name(c->proto),
                c->proto_guessed ? " (guessed)" : "",
                connection_stale_blind(c) ? "; STALE needs both ends tapped" : "");
        html_stream(out, &c->up);
        html_stream(out, &c->down);
    }
    fputs("</body></html>\n", out);
    rc = 0;
end:
    if (out != NULL && fclose(out) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write %s: %s", html_path, strerror(errno));
        rc = -1;
    }
    decoder_free(&d);
    return rc;
}

/* ---- --side-by-side ----------------------------------------------------- */

/* A reader's result for one request: a byte range of the DOWN stream. */
struct reading {
    uint64_t start, len;
    uint32_t first_reply, last_reply;   /* replies the bytes came from */
    int blocks;                         /* 1: the reader would wait */
    const char *why;                    /* when BLOCKS: why, or NULL */
};

/* Cuts what a reader got into printable lines of at most WIDTH characters
 * (newline ends a line; '.' a control byte; a run of bytes not captured is
 * a line "[N bytes not captured]" of its own) and keeps the first SIDE_HEAD
 * and the last SIDE_TAIL of them: the end of a v1 reply is where the next
 * reply's bytes show up. Returns the number of lines kept in LINES, in
 * order, with "..." standing for the ones left out. Work is bounded by the
 * bytes the window holds, not by the length the reading claims. */
#define SIDE_HEAD 8
#define SIDE_TAIL 5
#define SIDE_LINES (SIDE_HEAD + SIDE_TAIL + 2)
struct line_cutter {
    char (*lines)[64];
    char tail[SIDE_TAIL][64];
    int n;                      /* lines cut so far */
    char cur[64];
    int col;
};

static void cutter_end_line(struct line_cutter *lc)
{
    char *slot = lc->n < SIDE_HEAD ? lc->lines[lc->n] : lc->tail[(lc->n - SIDE_HEAD) % SIDE_TAIL];
    memcpy(slot, lc->cur, sizeof(lc->cur));
    lc->n++;
    lc->col = 0;
    lc->cur[0] = '\0';
}

static int to_lines(const struct stream *s, const struct reading *r,
                    char lines[SIDE_LINES][64], int width)
{
    if (r->blocks || r->len == 0) {
        snprintf(lines[0], 64, "%s", r->blocks ? (r->why ? r->why : "(waits: nothing to read)")
                                               : "(empty)");
        return 1;
    }
    struct line_cutter lc = { .lines = lines };
    /* Only the window's bytes can be shown: a 1 GiB body is mostly gone. */
    uint64_t end = r->start + r->len, kept_end = stream_window_end(s);
    uint64_t from = r->start < s->win_start ? s->win_start : r->start;
    uint64_t to = end < kept_end ? end : kept_end;
    if (from >= to) {
        snprintf(lines[0], 64, "(%llu bytes no longer kept)", (unsigned long long)r->len);
        return 1;
    }
    if (from > r->start) {
        snprintf(lc.cur, sizeof(lc.cur), "(%llu bytes no longer kept)",
                 (unsigned long long)(from - r->start));
        cutter_end_line(&lc);
    }
    for (uint64_t off = from; off < to;) {
        int b = stream_byte(s, off);
        if (b < 0) {
            uint64_t run_end = stream_next_known(s, off, to);
            if (run_end <= off)
                run_end = to;
            if (lc.col > 0)
                cutter_end_line(&lc);
            snprintf(lc.cur, sizeof(lc.cur), "[%llu bytes not captured]",
                     (unsigned long long)(run_end - off));
            cutter_end_line(&lc);
            off = run_end;
            continue;
        }
        off++;
        if (b == '\n') {
            cutter_end_line(&lc);
            continue;
        }
        if (lc.col == width)
            cutter_end_line(&lc);
        lc.cur[lc.col++] = (char)(b >= 0x20 && b < 0x7f ? b : '.');
        lc.cur[lc.col] = '\0';
    }
    if (lc.col > 0 || lc.n == 0)
        cutter_end_line(&lc);
    if (to < end) {
        snprintf(lc.cur, sizeof(lc.cur), "(%llu more bytes not kept)",
                 (unsigned long long)(end - to));
        cutter_end_line(&lc);
    }
    int n = lc.n;
    if (n <= SIDE_HEAD)
        return n;
    int kept = n - SIDE_HEAD < SIDE_TAIL ? n - SIDE_HEAD : SIDE_TAIL;
    int at = SIDE_HEAD;
    if (n - SIDE_HEAD > SIDE_TAIL)
        snprintf(lines[at++], 64, "... (%d lines)", n - SIDE_HEAD - SIDE_TAIL);
    for (int k = n - kept; k < n; k++)
        memcpy(lines[at++], lc.tail[(k - SIDE_HEAD) % SIDE_TAIL], 64);
    return at;
}

static uint32_t reply_of(const struct stream *s, uint64_t offset)
{
    const struct decode_span *snd = stream_send_at(s, offset);
    return snd ? snd->message : 0;
}

/* The framed reading of reply K, from frame index *AT on (frames are in
 * stream order and their reply numbers only grow, so one cursor serves all
 * replies in turn). */
static struct reading framed_reading(const struct connection *c, uint32_t k, size_t *at)
{
    const struct stream *s = &c->down;
    struct reading framed = { 0 };
    while (*at < s->n_frames && s->frames[*at].message < k)
        (*at)++;
    for (size_t i = *at; i < s->n_frames && s->frames[i].message == k; i++) {
        const struct decode_frame *f = &s->frames[i];
        if ((c->proto == PROTO_RAW && f->part == FRAME_REPLY) || f->part == FRAME_BODY) {
            framed.start = f->start;
            framed.len = f->end - f->start;
            return framed;
        }
        if ((f->part == FRAME_LEN_FIELD || f->part == FRAME_HEADER_JSON) && f->value == 0) {
            framed.start = f->end;      /* empty body: no body frame follows */
            return framed;
        }
    }
    framed.blocks = 1;
    if (c->proto == PROTO_RAW && !s->sender_tapped)
        framed.why = "(server not tapped: reply ends unknown)";
    return framed;
}

static void side_by_side_conn(FILE *out, const struct connection *c)
{
    const struct stream *s = &c->down;
    const struct stream *up = &c->up;
    uint32_t requests = c->up.messages;
    uint64_t v1_at = 0, reply_end = 0;
    size_t send_at = 0, recv_at = 0, frame_at = 0, req_at = 0;
    fprintf(out, "\nconnection %u, proto %s: what each client prints\n", c->id,
            proto_name(c->proto));
    if (c->compact) {
        fprintf(out, "(totals only: bytes and spans freed, more than %d connections)\n",
                DECODE_MAX_FULL_CONNS);
        return;
    }
    const int width = 38;
    for (uint32_t k = 1; k <= requests; k++) {
        /* v1: one recv(1024) after request k, from wherever the last one
         * stopped, once reply k is there: all the server had sent by
         * then, or (server not tapped) all the client's recvs made for
         * requests up to k got. Spans are in stream order, their numbers
         * only grow: one cursor each. */
        for (; send_at < s->n_sends && s->sends[send_at].message <= k; send_at++)
            if (s->sends[send_at].end > reply_end)
                reply_end = s->sends[send_at].end;
        for (; recv_at < s->n_recvs && s->recvs[recv_at].message <= k; recv_at++)
            if (s->recvs[recv_at].end > reply_end)
                reply_end = s->recvs[recv_at].end;
        struct reading v1 = { .start = v1_at };
        if (reply_end > v1_at) {
            v1.len = reply_end - v1_at > V1_RECV_SIZE ? V1_RECV_SIZE : reply_end - v1_at;
            v1.first_reply = reply_of(s, v1.start);
            v1.last_reply = reply_of(s, v1.start + v1.len - 1);
        } else {
            v1.blocks = 1;
        }
        v1_at += v1.len;
        struct reading framed = framed_reading(c, k, &frame_at);
        fprintf(out, "request #%u: \"", k);
        while (req_at < up->n_frames && up->frames[req_at].message < k)
            req_at++;
        if (req_at < up->n_frames && up->frames[req_at].message == k) {
            const struct decode_frame *req = &up->frames[req_at];
            put_escaped(out, up, req->start, req->end, 60);
        }
        fprintf(out, "\"\n");
        char left_head[64], right_head[64];
        snprintf(left_head, sizeof(left_head), "v1: one recv(%d) -> %llu bytes",
                 V1_RECV_SIZE, (unsigned long long)v1.len);
        snprintf(right_head, sizeof(right_head), "framed (%s) -> %llu bytes",
                 proto_name(c->proto), (unsigned long long)framed.len);
        fprintf(out, "  %-*s | %s\n", width, left_head, right_head);
        char left[SIDE_LINES][64], right[SIDE_LINES][64];
        int n_left = to_lines(s, &v1, left, width);
        int n_right = to_lines(s, &framed, right, width);
        int rows = n_left > n_right ? n_left : n_right;
        for (int line = 0; line < rows; line++) {
            const char *r = line < n_right ? right[line] : "";
            fprintf(out, "  %-*s |%s%s\n", width, line < n_left ? left[line] : "",
                    *r ? " " : "", r);
        }
        if (!v1.blocks && v1.first_reply > 0 && v1.first_reply < k)
            fprintf(out, "  !! v1 printed bytes of reply #%u as the answer to request #%u\n",
                    v1.first_reply, k);
        else if (!v1.blocks && v1_at < reply_end)
            fprintf(out, "  !! v1 stopped after %llu bytes: %llu more wait in the socket for the next recv\n",
                    (unsigned long long)v1.len, (unsigned long long)(reply_end - v1_at));
    }
}

/* ---- side by side, stage 5: frames both ways ------------------------------- */

#define FT_SIDE_LINES 12          /* lines per column and request */

/* One column of a stage 5 request: the frames of one direction. */
struct ft_column {
    char lines[FT_SIDE_LINES][64];
    int n;
    unsigned more;                /* frames left out past FT_SIDE_LINES */
};

/* Adds TEXT to COL, cut into lines of WIDTH, at most 3 of them. */
static void ft_column_add(struct ft_column *col, const char *text, int width)
{
    size_t len = strlen(text);
    for (int part = 0; part < 3 && len > 0; part++) {
        if (col->n == FT_SIDE_LINES) {
            col->more++;
            return;
        }
        size_t take = len > (size_t)width ? (size_t)width : len;
        if (take < len && part < 2) {
            size_t space = take;        /* break after a word when one fits */
            while (space > 0 && text[space - 1] != ' ')
                space--;
            if (space > (size_t)width / 2)
                take = space;
        }
        size_t shown = take > 0 && text[take - 1] == ' ' ? take - 1 : take;
        if (part == 2 && len > take && take > 3) {
            snprintf(col->lines[col->n++], 64, "%.*s...", (int)take - 3, text);
            return;
        }
        snprintf(col->lines[col->n++], 64, "%.*s", (int)shown, text);
        text += take;
        len -= take;
        while (len > 0 && *text == ' ') {
            text++;
            len--;
        }
    }
}

/* The request a byte of S belongs to: the sender's burst when it was
 * tapped, else the receiver's (0: neither end tapped). */
static uint32_t ft_group(const struct stream *s, uint64_t offset)
{
    const struct decode_span *span = stream_send_at(s, offset);
    if (span == NULL)
        span = stream_recv_at(s, offset);
    return span ? span->message : 0;
}

/* The frames of S that belong to request K, from frame index *AT on
 * (groups only grow along a stream: one cursor serves every request). A
 * header's length and its JSON share a line: "[hdr 22] op=exec size=7". */
static void ft_column_fill(struct ft_column *col, const struct stream *s, uint32_t k,
                           size_t *at, int width)
{
    char text[200];
    while (*at < s->n_frames && ft_group(s, s->frames[*at].start) < k)
        (*at)++;
    for (; *at < s->n_frames && ft_group(s, s->frames[*at].start) == k; (*at)++) {
        const struct decode_frame *f = &s->frames[*at];
        if (f->end <= s->win_start)
            continue;
        switch (f->part) {
        case FRAME_HEADER_LEN: {
            const struct decode_frame *json = *at + 1 < s->n_frames ? &s->frames[*at + 1] : NULL;
            if (json && json->start == f->end &&
                (json->part == FRAME_HEADER_JSON || json->part == FRAME_BAD)) {
                snprintf(text, sizeof(text), "[hdr %lld] %s%s", f->value,
                         json->part == FRAME_BAD ? "bad: " : "", json->note);
                (*at)++;
            } else {
                snprintf(text, sizeof(text), "[hdr %lld] (header not here yet)", f->value);
            }
            break;
        }
        case FRAME_BODY: {
            int used = snprintf(text, sizeof(text), "body %lld: \"", f->value);
            FILE *mem = fmemopen(text + used, sizeof(text) - (size_t)used, "w");
            int more = 0;
            if (mem != NULL) {
                more = put_escaped(mem, s, f->start, f->end, 24);
                fclose(mem);
            }
            size_t n = strlen(text);
            snprintf(text + n, sizeof(text) - n, "\"%s", more ? "..." : "");
            break;
        }
        case FRAME_BAD:
            snprintf(text, sizeof(text), "bad: %s", f->note);
            break;
        default:
            snprintf(text, sizeof(text), "%s", f->note);
        }
        ft_column_add(col, text, width);
    }
}

/* Stage 5 frames both directions: per request, what the client sent and
 * what the server answered, frame by frame, as a framed reader reads it. */
static void side_by_side_ft(FILE *out, const struct connection *c)
{
    const int width = 38;
    uint32_t requests = c->up.messages > c->down.messages ? c->up.messages : c->down.messages;
    size_t up_at = 0, down_at = 0;
    fprintf(out, "\nconnection %u, proto ft: every message both ways is a frame\n", c->id);
    if (c->compact) {
        fprintf(out, "(totals only: bytes and spans freed, more than %d connections)\n",
                DECODE_MAX_FULL_CONNS);
        return;
    }
    if (c->up.parse.lost || c->down.parse.lost)
        fprintf(out, "(framing lost on the %s: the bytes no longer match the ft protocol)\n",
                c->up.parse.lost ? "requests" : "replies");
    for (uint32_t k = 0; k <= requests; k++) {
        struct ft_column left = { .n = 0 }, right = { .n = 0 };
        ft_column_fill(&left, &c->up, k, &up_at, width);
        ft_column_fill(&right, &c->down, k, &down_at, width);
        if (left.n == 0 && right.n == 0)
            continue;
        if (k == 0)
            fprintf(out, "frames of no known request (neither end's calls tapped):\n");
        else
            fprintf(out, "request #%u:\n", k);
        fprintf(out, "  %-*s | %s\n", width, "client -> server", "server -> client");
        if (left.more)
            snprintf(left.lines[FT_SIDE_LINES - 1], 64, "... (%u more lines)", left.more + 1);
        if (right.more)
            snprintf(right.lines[FT_SIDE_LINES - 1], 64, "... (%u more lines)", right.more + 1);
        int rows = left.n > right.n ? left.n : right.n;
        for (int line = 0; line < rows; line++) {
            const char *r = line < right.n ? right.lines[line] : "";
            fprintf(out, "  %-*s |%s%s\n", width, line < left.n ? left.lines[line] : "",
                    *r ? " " : "", r);
        }
    }
}

int export_side_by_side(const char *capture_path, FILE *out,
                        enum proto proto, char *err, size_t errlen)
{
    struct decoder d;
    if (load(&d, capture_path, proto, SIDE_WINDOW, err, errlen) < 0)
        return -1;
    fprintf(out, "side by side: a client that reads each reply with one recv(%d) (v1)\n"
            "next to one that reads the framing\n", V1_RECV_SIZE);
    for (size_t i = 0; i < d.n_conns; i++) {
        if (d.conns[i]->proto == PROTO_FT)
            side_by_side_ft(out, d.conns[i]);
        else
            side_by_side_conn(out, d.conns[i]);
    }
    decoder_free(&d);
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "cannot write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- --at ----------------------------------------------------------------- */

/* The stream AT names in D, or NULL when that connection is not there yet. */
static const struct stream *at_stream(const struct decoder *d, const struct export_at *at)
{
    if (at->conn < 1 || at->conn > d->n_conns)
        return NULL;
    const struct connection *c = d->conns[at->conn - 1];
    return at->dir == DIR_UP ? &c->up : &c->down;
}

/* Feeds PATH's events into a fresh D, at most LIMIT of them (UINT64_MAX:
 * all). With WATCH, notes in *LAST_KEPT the number of events after which
 * AT's byte was last inside the kept window, and stops once the window has
 * passed it for good. Returns 0, or -1 with ERR filled (D freed). */
static int load_some(struct decoder *d, const char *path, enum proto proto,
                     const struct export_at *at, uint64_t limit, uint64_t *fed,
                     uint64_t *last_kept, char *err, size_t errlen)
{
    struct decode_options opt = { .proto = proto };
    struct capture_reader r;
    struct cap_event ev;
    const unsigned char *data;
    int got = 0, rc = -1;
    if (decoder_init(d, &opt) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (capture_open(&r, path, err, errlen) < 0) {
        decoder_free(d);
        return -1;
    }
    *fed = 0;
    while (*fed < limit && (got = capture_next(&r, &ev, &data, err, errlen)) == 1) {
        if (decoder_feed(d, &ev, data) < 0) {
            snprintf(err, errlen, "out of memory decoding %s", path);
            goto end;
        }
        (*fed)++;
        const struct stream *s = last_kept ? at_stream(d, at) : NULL;
        if (s != NULL && at->offset >= s->win_start && at->offset < stream_window_end(s))
            *last_kept = *fed;
        if (s != NULL && at->offset < s->win_start)
            break;          /* the window never comes back */
    }
    if (*fed < limit && got < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", err);
        snprintf(err, errlen, "%s: %s", path, msg);
        goto end;
    }
    rc = 0;
end:
    capture_close(&r);
    if (rc < 0)
        decoder_free(d);
    return rc;
}

int export_load_at(struct decoder *d, const char *path, enum proto proto,
                   const struct export_at *at, uint64_t *events, char *err, size_t errlen)
{
    /* The first pass finds the last event after which the byte is still
     * kept (later ones slide the window past it: a long stream); the
     * second stops there. Most captures fit whole: all their events. */
    uint64_t fed = 0, last_kept = 0;
    if (load_some(d, path, proto, at, UINT64_MAX, &fed, &last_kept, err, errlen) < 0)
        return -1;
    if (at->conn < 1 || at->conn > d->n_conns) {
        snprintf(err, errlen, "--conn %u: the capture has %zu connection%s", at->conn,
                 d->n_conns, d->n_conns == 1 ? "" : "s");
        decoder_free(d);
        return -1;
    }
    const struct stream *s = at_stream(d, at);
    if (at->offset >= stream_end(s)) {
        snprintf(err, errlen, "--at %s:%llu: the %s stream of connection %u has %llu bytes",
                 direction_name(at->dir), (unsigned long long)at->offset,
                 direction_name(at->dir), at->conn, (unsigned long long)stream_end(s));
        decoder_free(d);
        return -1;
    }
    if (last_kept == 0 || last_kept == fed) {
        *events = fed;
        return 0;
    }
    decoder_free(d);
    return load_some(d, path, proto, at, last_kept, events, NULL, err, errlen);
}

int export_dump_at(const char *capture_path, FILE *out, enum proto proto, int verbose,
                   const struct export_at *at, char *err, size_t errlen)
{
    struct decoder d;
    uint64_t events;
    if (export_load_at(&d, capture_path, proto, at, &events, err, errlen) < 0)
        return -1;
    const struct connection *c = d.conns[at->conn - 1];
    char client[80], server[80];
    short_prog(c->client_prog, client, sizeof(client));
    short_prog(c->server_prog, server, sizeof(server));
    fprintf(out, "nianbao capture, byte %llu of connection %u's %s stream (as of event %llu)\n",
            (unsigned long long)at->offset, c->id, direction_name(at->dir),
            (unsigned long long)events);
    fprintf(out, "\nconnection %u: client %s, server %s, %s, proto %s%s%s\n",
            c->id, c->client_prog[0] ? client : end_unnamed(c->client_pid),
            c->server_prog[0] ? server : end_unnamed(c->server_pid),
            c->socktype == 2 /* SOCK_DGRAM */ ? "udp" : "tcp",
            proto_name(c->proto), c->proto_guessed ? " (guessed)" : "",
            connection_stale_blind(c) ? "; STALE needs both ends tapped" : "");
    struct dump_at part = {
        .offset = at->offset,
        .lo = at->offset > AT_CONTEXT ? at->offset - AT_CONTEXT : 0,
        .hi = at->offset + AT_CONTEXT + 1,
    };
    dump_stream(out, &d, c, at->dir == DIR_UP ? &c->up : &c->down, verbose, &part);
    decoder_free(&d);
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "cannot write the dump: %s", strerror(errno));
        return -1;
    }
    return 0;
}
