/* decode.c - capture events to annotated streams (the model is in decode.h). */
#include "decode.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fsroot.h"

/* The largest reply a stage 3/4 client accepts (--max-len default): a
 * bigger length field means the bytes are not what the parser thinks. */
#define MAX_BODY_LEN 1073741824LL
/* A stage 4 header is a short JSON object; more means lost framing. */
#define MAX_HEADER_LEN (64 * 1024)
/* Stage 5 (stage5_file_transfer/README.md, "Frames"): HLEN is 1..65536,
 * the body's size an integer up to 2^53 - 1 (a 4 GiB upload is one body).
 * A body costs the parser nothing but an offset, whatever its size. */
#define FT_MAX_HEADER_LEN 65536LL
#define FT_MAX_BODY_LEN 9007199254740991LL

enum parse_state {
    PARSE_WAIT_PROTO = 0,   /* proto not decided yet                 */
    PARSE_LENGTH,           /* need the 4-byte length at parse.at     */
    PARSE_HEADER,           /* json: need parse.need header bytes     */
    PARSE_OFF,              /* raw framing, or gave up                */
};

const char *proto_name(enum proto proto)
{
    switch (proto) {
    case PROTO_RAW: return "raw";
    case PROTO_LEN: return "len";
    case PROTO_JSON: return "json";
    case PROTO_FT: return "ft";
    default: return "guess";
    }
}

/* The stages' framing and ports, from the one list of stages. */
static const struct stage_framing {
    int number;
    const char *dir;
    const char *framing;
    unsigned port;
} stage_table[] = {
#define STAGE(num, dir, version, framing, port, programs, title) { num, #dir, #framing, port },
#include "stages.def"
#undef STAGE
};

static enum proto proto_of_framing(const char *framing);

int proto_parse(const char *name, enum proto *proto)
{
    static const enum proto all[] = { PROTO_GUESS, PROTO_RAW, PROTO_LEN, PROTO_JSON,
                                      PROTO_FT };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, proto_name(all[i])) == 0) {
            *proto = all[i];
            return 0;
        }
    /* "stage5": a stage's framing, named as the grader names protocols */
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++) {
        char stage[16];
        snprintf(stage, sizeof(stage), "stage%d", stage_table[i].number);
        if (strcmp(name, stage) == 0) {
            *proto = proto_of_framing(stage_table[i].framing);
            return *proto == PROTO_GUESS ? -1 : 0;
        }
    }
    return -1;
}

/* A stages.def framing word as the decoder's proto; framings the decoder
 * does not know yet are left to the guess. */
static enum proto proto_of_framing(const char *framing)
{
    static const enum proto all[] = { PROTO_RAW, PROTO_LEN, PROTO_JSON, PROTO_FT };
    if (strcmp(framing, "udp") == 0)
        return PROTO_RAW;       /* stage 2's demos carry no framing */
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(framing, proto_name(all[i])) == 0)
            return all[i];
    return PROTO_GUESS;
}

enum proto proto_for_program(const char *prog)
{
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++) {
        /* its folder in the sources, or its installed name (make install:
         * nianbao-stageN-PROGRAM on PATH) */
        char installed[32];
        snprintf(installed, sizeof installed, "nianbao-stage%d-", stage_table[i].number);
        if (strstr(prog, stage_table[i].dir) != NULL || strstr(prog, installed) != NULL)
            return proto_of_framing(stage_table[i].framing);
    }
    return PROTO_GUESS;
}

enum proto proto_for_port(unsigned port)
{
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++)
        if (stage_table[i].port == port)
            return proto_of_framing(stage_table[i].framing);
    return PROTO_GUESS;
}

const char *direction_name(enum direction dir)
{
    return dir == DIR_UP ? "up" : "down";
}

const char *frame_part_name(enum frame_part part)
{
    switch (part) {
    case FRAME_REQUEST: return "request";
    case FRAME_REPLY: return "reply";
    case FRAME_LEN_FIELD: return "len-field";
    case FRAME_HEADER_LEN: return "header-len";
    case FRAME_HEADER_JSON: return "header-json";
    case FRAME_BODY: return "body";
    case FRAME_BAD: return "bad";
    default: return "none";
    }
}

/* ---- streams: the byte window ---------------------------------------- */

uint64_t stream_end(const struct stream *s)
{
    return s->sent > s->received ? s->sent : s->received;
}

uint64_t stream_window_end(const struct stream *s)
{
    uint64_t end = stream_end(s);
    return end - s->win_start > s->window ? s->win_start + s->window : end;
}

uint64_t stream_pending(const struct stream *s)
{
    if (!s->sender_tapped || !s->receiver_tapped || s->sent <= s->received)
        return 0;
    return s->sent - s->received;
}

static int page_bit(const struct decode_page *p, size_t i)
{
    return (p->known[i / 8] >> (i % 8)) & 1;
}

/* The page that holds OFFSET, or NULL when none does (nothing captured
 * there, or its slot moved on to another page). */
static const struct decode_page *page_at(const struct stream *s, uint64_t offset)
{
    if (s->n_slots == 0)
        return NULL;
    uint64_t base = offset - offset % DECODE_PAGE;
    const struct decode_page *p = s->pages[(size_t)((offset / DECODE_PAGE) % s->n_slots)];
    return p != NULL && p->base == base ? p : NULL;
}

int stream_byte(const struct stream *s, uint64_t offset)
{
    if (offset < s->win_start || offset >= stream_window_end(s))
        return -1;
    const struct decode_page *p = page_at(s, offset);
    size_t i = (size_t)(offset % DECODE_PAGE);
    return p != NULL && page_bit(p, i) ? p->bytes[i] : -1;
}

uint64_t stream_next_known(const struct stream *s, uint64_t start, uint64_t end)
{
    uint64_t win_end = stream_window_end(s);
    if (start < s->win_start)
        start = s->win_start;
    if (end > win_end)
        end = win_end;
    uint64_t off = start;
    while (off < end) {
        const struct decode_page *p = page_at(s, off);
        uint64_t page_end = off - off % DECODE_PAGE + DECODE_PAGE;
        if (p == NULL) {
            off = page_end;
            continue;
        }
        for (; off < end && off < page_end; off++) {
            size_t i = (size_t)(off % DECODE_PAGE);
            if (i % 8 == 0 && p->known[i / 8] == 0 && off + 8 <= page_end) {
                off += 7;       /* a whole byte of the bitmap unknown */
                continue;
            }
            if (page_bit(p, i))
                return off;
        }
    }
    return end;
}

size_t stream_bytes(const struct stream *s, uint64_t start, size_t len,
                    unsigned char *buf, unsigned char *known)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++) {
        int b = stream_byte(s, start + i);
        buf[i] = b < 0 ? 0 : (unsigned char)b;
        if (known != NULL)
            known[i] = b >= 0;
        count += b >= 0;
    }
    return count;
}

/* The page for OFFSET, made (or taken over from an older offset) when there
 * is none. Returns NULL (ENOMEM). */
static struct decode_page *page_for(struct stream *s, uint64_t offset)
{
    if (s->n_slots == 0) {
        /* enough slots that no two pages of one window share a slot */
        size_t n = (size_t)((s->window + DECODE_PAGE - 1) / DECODE_PAGE) + 2;
        s->pages = calloc(n, sizeof(*s->pages));
        if (s->pages == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        s->n_slots = n;
    }
    uint64_t base = offset - offset % DECODE_PAGE;
    struct decode_page **slot = &s->pages[(size_t)((offset / DECODE_PAGE) % s->n_slots)];
    if (*slot == NULL) {
        *slot = malloc(sizeof(**slot));
        if (*slot == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        (*slot)->base = base + 1;    /* anything but BASE: cleared below */
    }
    if ((*slot)->base != base) {
        memset((*slot)->known, 0, sizeof((*slot)->known));
        (*slot)->base = base;
    }
    return *slot;
}

/* Drops the spans that ended before the window, in batches so that a
 * stream of tiny sends does not pay a memmove per event. */
#define DROP_SPANS(arr, n, win)                                              \
    do {                                                                     \
        size_t dead_ = 0;                                                    \
        while (dead_ < (n) && (arr)[dead_].end <= (win))                     \
            dead_++;                                                         \
        if (dead_ > 0 && (dead_ >= 64 || dead_ * 4 >= (n))) {                \
            memmove((arr), (arr) + dead_, ((n) - dead_) * sizeof(*(arr)));   \
            (n) -= dead_;                                                    \
        }                                                                    \
    } while (0)

/* Remembers that [SND->start, SND->end) belonged to reply SND->message
 * after the span itself leaves the window: a recv that returns those bytes
 * later (a client far behind its server) is still checked for STALE. Sends
 * of one reply merge into one range, so the history grows with replies,
 * not sends; past DECODE_MAX_HISTORY the oldest half is forgotten.
 * Returns 0, or -1 (ENOMEM). */
static int remember_sent(struct stream *s, const struct decode_span *snd)
{
    if (snd->message == 0)
        return 0;
    if (s->n_history > 0) {
        struct decode_sent_range *last = &s->history[s->n_history - 1];
        if (last->message == snd->message && last->end >= snd->start) {
            if (snd->end > last->end)
                last->end = snd->end;
            return 0;
        }
    }
    if (s->history == NULL) {
        s->history = malloc(DECODE_MAX_HISTORY * sizeof(*s->history));
        if (s->history == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    if (s->n_history == DECODE_MAX_HISTORY) {
        memmove(s->history, s->history + DECODE_MAX_HISTORY / 2,
                (DECODE_MAX_HISTORY / 2) * sizeof(*s->history));
        s->n_history = DECODE_MAX_HISTORY / 2;
    }
    struct decode_sent_range *r = &s->history[s->n_history++];
    r->start = snd->start;
    r->end = snd->end;
    r->message = snd->message;
    return 0;
}

/* DROP_SPANS for the send spans, which go to the history first. */
static int drop_sends(struct stream *s)
{
    size_t dead = 0;
    while (dead < s->n_sends && s->sends[dead].end <= s->win_start)
        dead++;
    if (dead == 0 || (dead < 64 && dead * 4 < s->n_sends))
        return 0;
    for (size_t i = 0; i < dead; i++)
        if (remember_sent(s, &s->sends[i]) < 0)
            return -1;
    memmove(s->sends, s->sends + dead, (s->n_sends - dead) * sizeof(*s->sends));
    s->n_sends -= dead;
    return 0;
}

/* Moves the window after SENT or RECEIVED grew, by an event of time
 * NOW_NS; OLD_WIN_END is stream_window_end from before. The window follows
 * the sender, unless the receiver is tapped and lags: then it stays where
 * the receiver is (its frontier in the middle), because the recv boundaries
 * and the bytes they returned are the lesson; bytes sent further ahead are
 * not kept. A receiver that closed still counts for the events from before
 * its close: another process's burst can come later in the capture than the
 * close it preceded (capture.h). Pages left behind are stale by their base
 * offset: nothing to clear. Returns 0 or -1. */
static int move_window(struct stream *s, uint64_t old_win_end, uint64_t now_ns)
{
    uint64_t end = stream_end(s);
    uint64_t anchor = end;
    int receiver_there = !s->receiver_gone || now_ns < s->receiver_gone_ns;
    if (s->receiver_seen && receiver_there && s->received < end) {
        uint64_t reached = s->received + s->window / 2;
        if (reached < anchor)
            anchor = reached;
    }
    uint64_t win_start = anchor > s->window ? anchor - s->window : 0;
    if (win_start < s->win_start)
        win_start = s->win_start;       /* never back: those bytes are gone */
    (void)old_win_end;  /* a page that falls out is simply stale */
    s->win_start = win_start;
    if (drop_sends(s) < 0)
        return -1;
    DROP_SPANS(s->recvs, s->n_recvs, win_start);
    DROP_SPANS(s->frames, s->n_frames, win_start);
    return 0;
}

/* Stores the captured bytes DATA[0..LEN) found at stream offset START (the
 * part inside the window). Returns 0, or -1 (ENOMEM). */
static int store_bytes(struct stream *s, uint64_t start, const unsigned char *data,
                       size_t len)
{
    uint64_t lo = start > s->win_start ? start : s->win_start;
    uint64_t hi = stream_window_end(s);
    if (start + len < hi)
        hi = start + len;
    for (uint64_t off = lo; off < hi;) {
        struct decode_page *p = page_for(s, off);
        if (p == NULL)
            return -1;
        size_t i = (size_t)(off % DECODE_PAGE);
        size_t n = DECODE_PAGE - i;
        if (n > hi - off)
            n = (size_t)(hi - off);
        memcpy(p->bytes + i, data + (off - start), n);
        for (size_t k = i; k < i + n; k++)
            p->known[k / 8] |= (unsigned char)(1u << (k % 8));
        off += n;
    }
    return 0;
}

static const struct decode_span *span_at(const struct decode_span *v, size_t n,
                                         uint64_t offset)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {           /* first span with start > offset */
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].start <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || offset >= v[lo - 1].end)
        return NULL;
    return &v[lo - 1];
}

const struct decode_span *stream_send_at(const struct stream *s, uint64_t offset)
{
    return span_at(s->sends, s->n_sends, offset);
}

const struct decode_span *stream_recv_at(const struct stream *s, uint64_t offset)
{
    return span_at(s->recvs, s->n_recvs, offset);
}

const struct decode_frame *stream_frame_at(const struct stream *s, uint64_t offset)
{
    size_t lo = 0, hi = s->n_frames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->frames[mid].start <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || offset >= s->frames[lo - 1].end)
        return NULL;
    return &s->frames[lo - 1];
}

/* Appends one element to a growable array. Returns it, or NULL (ENOMEM). */
static void *push(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *grown = realloc(*arr, ncap * size);
        if (grown == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        *arr = grown;
        *cap = ncap;
    }
    void *slot = (char *)*arr + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}

static struct decode_frame *push_frame(struct stream *s)
{
    return push((void **)&s->frames, &s->n_frames, &s->cap_frames, sizeof(*s->frames));
}

static void stream_free(struct stream *s)
{
    free(s->sends);
    free(s->recvs);
    free(s->frames);
    for (size_t i = 0; i < s->n_slots; i++)
        free(s->pages[i]);
    free(s->pages);
    free(s->history);
    memset(s, 0, sizeof(*s));
}

/* ---- frames ----------------------------------------------------------- */

/* Raw framing: a request/reply is the bytes of one message number. Extends
 * the last frame when the new span continues it. */
static int add_message_frame(struct stream *s, enum frame_part part,
                             uint64_t start, uint64_t end, uint32_t message)
{
    if (end <= start || message == 0)
        return 0;
    if (s->n_frames > 0) {
        struct decode_frame *last = &s->frames[s->n_frames - 1];
        if (last->part == part && last->message == message && last->end == start) {
            last->end = end;
            last->value = (long long)(last->end - last->start);
            snprintf(last->note, sizeof(last->note), "%s #%u, %lld bytes",
                     frame_part_name(part), message, last->value);
            return 0;
        }
        if (last->end > start)   /* out of order: the bytes already have a frame */
            return 0;
    }
    struct decode_frame *f = push_frame(s);
    if (f == NULL)
        return -1;
    f->start = start;
    f->end = end;
    f->part = part;
    f->message = message;
    f->value = (long long)(end - start);
    snprintf(f->note, sizeof(f->note), "%s #%u, %lld bytes",
             frame_part_name(part), message, f->value);
    return 0;
}

/* Reads N (<= 8) known bytes at OFFSET. Returns 1, or 0 when one of them is
 * not known (yet). */
static int peek_bytes(const struct stream *s, uint64_t offset, unsigned char *out,
                      size_t n)
{
    if (offset + n > stream_end(s))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int b = stream_byte(s, offset + i);
        if (b < 0)
            return 0;
        out[i] = (unsigned char)b;
    }
    return 1;
}

static long long le32(const unsigned char *b)
{
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    return (long long)(int32_t)v;   /* struct.pack('i'): signed */
}

static long long be32(const unsigned char *b)
{
    return (long long)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
                       (uint32_t)b[3]);     /* stage 5: unsigned, network order */
}

/* "1195725860 (\"GET \")" when the four bytes are text: a student reading a
 * nonsense length usually has an HTTP client or a stage 1 reply in hand. */
static void explain_length(char *note, size_t len, const char *what,
                           long long value, const unsigned char *b)
{
    int text = 1;
    for (int i = 0; i < 4; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            text = 0;
    if (text)
        snprintf(note, len, "%s %lld is \"%c%c%c%c\": the peer speaks another protocol",
                 what, value, b[0], b[1], b[2], b[3]);
    else if (value < 0)
        snprintf(note, len, "%s %lld is negative: not a length", what, value);
    else
        snprintf(note, len, "%s %lld is too big to be right", what, value);
}

/* A JSON number as a byte count or exit code: 1 with *OUT set when it is an
 * integer of at most 2^53 in size (exact in a double), -1 when it is a
 * number but not such an integer (1e308, 2^63, 2.5), 0 when absent or not
 * a number. Casting 1e308 to long long is undefined; this never does. */
static int json_integer(const cJSON *item, long long *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    /* the range first: only then is the cast defined */
    if (!isfinite(v) || v > 9007199254740992.0 || v < -9007199254740992.0)
        return -1;
    long long whole = (long long)v;
    if ((double)whole != v)
        return -1;      /* 2.5 */
    *out = whole;
    return 1;
}

/* Appends " NAME=VALUE" (or " NAME=invalid") to NOTE when HAVE. */
static void note_field(char *note, size_t len, const char *name, int have, long long value)
{
    size_t used = strlen(note);
    if (have == 0 || used >= len)
        return;
    if (have > 0)
        snprintf(note + used, len - used, "%s%s=%lld", used ? " " : "", name, value);
    else
        snprintf(note + used, len - used, "%s%s=invalid", used ? " " : "", name);
}

static void read_json_header(const unsigned char *text, size_t len,
                             struct decode_frame *f)
{
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        f->part = FRAME_BAD;
        snprintf(f->note, sizeof(f->note), "header of %zu bytes is not a JSON object", len);
        goto end;
    }
    struct json_header_info *h = &f->header;
    h->have_total_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "total_size"),
                                      &h->total_size);
    h->have_stdout_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "stdout_size"),
                                       &h->stdout_size);
    h->have_exit_code = json_integer(cJSON_GetObjectItemCaseSensitive(root, "exit_code"),
                                     &h->exit_code);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "file_name");
    if (cJSON_IsString(item))
        snprintf(h->file_name, sizeof(h->file_name), "%s", item->valuestring);
    item = cJSON_GetObjectItemCaseSensitive(root, "md5");
    if (cJSON_IsString(item))
        snprintf(h->md5, sizeof(h->md5), "%s", item->valuestring);
    f->note[0] = '\0';
    note_field(f->note, sizeof(f->note), "total_size", h->have_total_size, h->total_size);
    note_field(f->note, sizeof(f->note), "stdout_size", h->have_stdout_size, h->stdout_size);
    note_field(f->note, sizeof(f->note), "exit_code", h->have_exit_code, h->exit_code);
    if (h->have_total_size != 1 || h->total_size < 0 || h->total_size > MAX_BODY_LEN) {
        f->part = FRAME_BAD;
        char fields[sizeof(f->note)];
        snprintf(fields, sizeof(fields), "%s", f->note);
        if (h->have_total_size == 0)
            snprintf(f->note, sizeof(f->note), "header has no total_size");
        else
            snprintf(f->note, sizeof(f->note), "header has no usable total_size (%.80s)", fields);
        goto end;
    }
    f->value = h->total_size;
end:
    cJSON_Delete(root);
}

/* Appends " NAME=TEXT" to NOTE, TEXT cut to 16 bytes ("...", never inside
 * a character) and escaped as the servers' logs escape names
 * (fsroot_show_name: C0, DEL, C1 and bidirectional controls as \xNN), so
 * no escape code in a capture reaches a screen. */
static void note_text(char *note, size_t len, const char *name, const char *text)
{
    char shown[80];
    size_t text_len = strlen(text), cut = text_len;
    if (cut > 16) {
        cut = 16;
        while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
            cut--;
    }
    fsroot_show_name(text, cut, shown, sizeof(shown));
    size_t at = strlen(note);
    if (at < len)
        snprintf(note + at, len - at, "%s%s=%s%s", at ? " " : "", name, shown,
                 cut < text_len ? "..." : "");
}

/* A stage 5 header: one JSON object whose "size" gives the body. Its
 * fields go into the note in the order sent ("op=exec size=7"), so every
 * op reads alike without the viewer knowing each one. */
static void read_ft_header(const unsigned char *text, size_t len, struct decode_frame *f)
{
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        f->part = FRAME_BAD;
        snprintf(f->note, sizeof(f->note), "header of %zu bytes is not a JSON object", len);
        goto end;
    }
    struct json_header_info *h = &f->header;
    h->have_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "size"), &h->size);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (cJSON_IsString(item))
        note_text(h->op, sizeof(h->op), "", item->valuestring);
    memmove(h->op, h->op + (h->op[0] == '=' ? 1 : 0), strlen(h->op) + 1);
    item = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (cJSON_IsString(item))
        snprintf(h->file_name, sizeof(h->file_name), "%s", item->valuestring);
    f->note[0] = '\0';
    for (const cJSON *field = root->child; field != NULL; field = field->next) {
        const char *name = field->string ? field->string : "?";
        if (cJSON_IsString(field)) {
            note_text(f->note, sizeof(f->note), name, field->valuestring);
        } else if (cJSON_IsNumber(field)) {
            long long value = 0;
            int have = json_integer(field, &value);
            note_field(f->note, sizeof(f->note), name, have, value);
        } else {
            size_t at = strlen(f->note);
            const char *word = cJSON_IsTrue(field) ? "true" : cJSON_IsFalse(field) ? "false"
                               : cJSON_IsNull(field) ? "null" : "...";
            if (at < sizeof(f->note))
                snprintf(f->note + at, sizeof(f->note) - at, "%s%s=%s", at ? " " : "",
                         name, word);
        }
    }
    if (h->have_size != 1 || h->size < 0 || h->size > FT_MAX_BODY_LEN) {
        f->part = FRAME_BAD;
        char fields[sizeof(f->note)];
        snprintf(fields, sizeof(fields), "%s", f->note);
        if (h->have_size == 0)
            snprintf(f->note, sizeof(f->note), "header has no size");
        else
            snprintf(f->note, sizeof(f->note), "header has no usable size (%.80s)", fields);
        goto end;
    }
    f->value = h->size;
end:
    cJSON_Delete(root);
}

/* OP: the stage 5 header's op, or NULL for a stage 3/4 reply. */
static int add_body(struct stream *s, uint64_t start, long long len, uint32_t message,
                    const char *op)
{
    if (len == 0)
        return 0;
    /* OP may lie in S's frames, which push_frame may move: copied first */
    char op_copy[sizeof ((struct decode_frame *)0)->header.op] = "";
    if (op != NULL)
        snprintf(op_copy, sizeof op_copy, "%s", op);
    struct decode_frame *f = push_frame(s);
    if (f == NULL)
        return -1;
    f->start = start;
    f->end = start + (uint64_t)len;
    f->part = FRAME_BODY;
    f->message = message;
    f->value = len;
    if (op != NULL)
        snprintf(f->note, sizeof(f->note), "body of frame #%u (%s), %lld bytes", message,
                 *op_copy ? op_copy : "?", len);
    else
        snprintf(f->note, sizeof(f->note), "body of reply #%u, %lld bytes", message, len);
    return 0;
}

/* Runs the len/json/ft parser over whatever bytes of S are known now
 * (len/json: the replies only; ft: either stream). */
static int parse_frames(struct connection *c, struct stream *s)
{
    int ft = c->proto == PROTO_FT;
    for (;;) {
        if (s->parse.state == PARSE_OFF || s->parse.state == PARSE_WAIT_PROTO)
            return 0;
        if (s->parse.at < s->win_start) {
            /* The bytes we needed scrolled away before anyone captured
             * them: framing is lost from here on. */
            s->parse.state = PARSE_OFF;
            s->parse.lost = 1;
            return 0;
        }
        if (s->parse.state == PARSE_LENGTH) {
            unsigned char b[4];
            if (!peek_bytes(s, s->parse.at, b, 4))
                return 0;
            long long value = ft ? be32(b) : le32(b);
            uint32_t message = ++s->parse.message;
            /* ft: frames are not replies (one request, several frames) */
            if (!ft && message > s->messages)
                s->messages = message;
            struct decode_frame *f = push_frame(s);
            if (f == NULL)
                return -1;
            f->start = s->parse.at;
            f->end = s->parse.at + 4;
            f->message = message;
            f->value = value;
            int json = c->proto == PROTO_JSON || ft;
            long long most = ft ? FT_MAX_HEADER_LEN : json ? MAX_HEADER_LEN : MAX_BODY_LEN;
            /* Four printable bytes make a length of over 538 MB: far more
             * likely text (a stage 1 reply, an HTTP client) than a frame. */
            int text = b[0] >= 0x20 && b[0] < 0x7f && b[1] >= 0x20 && b[1] < 0x7f &&
                       b[2] >= 0x20 && b[2] < 0x7f && b[3] >= 0x20 && b[3] < 0x7f;
            if (value < 0 || value > most || (json && value == 0) || text) {
                f->part = FRAME_BAD;
                explain_length(f->note, sizeof(f->note),
                               json ? "header length" : "length", value, b);
                s->parse.state = PARSE_OFF;
                s->parse.lost = 1;
                return 0;
            }
            s->parse.at += 4;
            if (json) {
                f->part = FRAME_HEADER_LEN;
                snprintf(f->note, sizeof(f->note), "header length %lld", value);
                s->parse.need = value;
                s->parse.state = PARSE_HEADER;
            } else {
                f->part = FRAME_LEN_FIELD;
                snprintf(f->note, sizeof(f->note), "length %lld", value);
                if (add_body(s, s->parse.at, value, message, NULL) < 0)
                    return -1;
                s->parse.at += (uint64_t)value;
            }
            continue;
        }
        /* PARSE_HEADER: wait until every byte of it is known. Bytes before
         * SCAN_AT are known already, so each call looks only at what is
         * new: a header whose bytes were not captured costs nothing per
         * event while it waits (perhaps forever). */
        uint64_t start = s->parse.at;
        size_t len = (size_t)s->parse.need;
        if (start + len > stream_end(s))
            return 0;
        if (s->parse.scan_at < start)
            s->parse.scan_at = start;
        while (s->parse.scan_at < start + len && stream_byte(s, s->parse.scan_at) >= 0)
            s->parse.scan_at++;
        if (s->parse.scan_at < start + len)
            return 0;
        unsigned char *text = malloc(len);
        if (text == NULL)
            return -1;
        stream_bytes(s, start, len, text, NULL);
        struct decode_frame *f = push_frame(s);
        if (f == NULL) {
            free(text);
            return -1;
        }
        f->start = start;
        f->end = start + len;
        f->part = FRAME_HEADER_JSON;
        f->message = s->parse.message;
        if (ft)
            read_ft_header(text, len, f);
        else
            read_json_header(text, len, f);
        free(text);
        s->parse.at += len;
        if (f->part == FRAME_BAD) {
            s->parse.state = PARSE_OFF;
            s->parse.lost = 1;
            return 0;
        }
        long long body = f->value;
        if (add_body(s, s->parse.at, body, s->parse.message, ft ? f->header.op : NULL) < 0)
            return -1;
        s->parse.at += (uint64_t)body;
        s->parse.state = PARSE_LENGTH;
    }
}

/* Raw framing from the send spans already kept (after the proto was
 * decided late). */
static int raw_frames_from_sends(struct stream *s, enum frame_part part)
{
    for (size_t i = 0; i < s->n_sends; i++)
        if (add_message_frame(s, part, s->sends[i].start, s->sends[i].end,
                              s->sends[i].message) < 0)
            return -1;
    return 0;
}

/* Decides the framing once there is enough to go on: the program names
 * (stage folders), then the first five downstream bytes, then the port. */
static enum proto guess_proto(const struct connection *c)
{
    enum proto p = proto_for_program(c->server_prog);
    if (p == PROTO_GUESS)
        p = proto_for_program(c->client_prog);
    if (p != PROTO_GUESS)
        return p;
    const struct stream *s = &c->down;
    unsigned char b[5];
    /* Stage 5's requests are framed too: a big-endian header length and
     * '{' open the client's first message before any reply exists. */
    /* (HLEN 65536 exactly, 00 01 00 00, is stage 4's 256: left to it) */
    if (peek_bytes(&c->up, 0, b, 5) && b[4] == '{' && be32(b) > 0 &&
        be32(b) < FT_MAX_HEADER_LEN)
        return PROTO_FT;
    if (peek_bytes(s, 0, b, 5)) {
        long long v = le32(b);
        if (b[4] == '{' && be32(b) > 0 && be32(b) < FT_MAX_HEADER_LEN)
            return PROTO_FT;
        if (b[4] == '{' && v > 0 && v < MAX_HEADER_LEN)
            return PROTO_JSON;
        if (b[3] == 0 && v >= 0)
            return PROTO_LEN;
        return PROTO_RAW;
    }
    if (stream_end(s) >= 5 || c->client_closed || c->server_closed) {
        p = proto_for_port(c->server.port);
        return p == PROTO_GUESS ? PROTO_RAW : p;
    }
    return PROTO_GUESS;
}

/* Starts S's len/json/ft parser at offset 0. Frames put there before the
 * framing was known (the raw requests of an ft stream) give way; bytes
 * that left the window before make the framing lost. */
static void start_parser(struct stream *s)
{
    s->n_frames = 0;
    s->parse.state = PARSE_LENGTH;
    s->parse.at = 0;
}

static int settle_proto(struct connection *c)
{
    if (c->proto == PROTO_GUESS) {
        c->proto = guess_proto(c);
        if (c->proto == PROTO_GUESS)
            return 0;
        c->proto_guessed = 1;
    }
    struct stream *s = &c->down;
    if (s->parse.state == PARSE_WAIT_PROTO) {
        if (c->proto == PROTO_RAW) {
            s->parse.state = PARSE_OFF;
            return raw_frames_from_sends(s, FRAME_REPLY);
        }
        start_parser(s);
        if (c->proto == PROTO_FT)
            start_parser(&c->up);
    }
    if (parse_frames(c, s) < 0)
        return -1;
    return c->proto == PROTO_FT ? parse_frames(c, &c->up) : 0;
}

/* ---- connections ------------------------------------------------------ */

static void stream_init(struct stream *s, enum direction dir, size_t window)
{
    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->window = window;
}

static void connection_free(struct connection *c)
{
    stream_free(&c->up);
    stream_free(&c->down);
    free(c);
}

/* Frees a stream's bytes and spans, keeping its totals. */
static void stream_compact(struct stream *s)
{
    struct stream kept = *s;
    s->sends = s->recvs = NULL;
    s->frames = NULL;
    s->pages = NULL;
    s->history = NULL;
    stream_free(&kept);
    s->n_sends = s->cap_sends = s->n_recvs = s->cap_recvs = 0;
    s->n_frames = s->cap_frames = s->n_history = 0;
    s->n_slots = 0;
    s->win_start = stream_end(s);
    s->parse.state = PARSE_OFF;
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
    uint64_t start = s->sent, old_win_end = stream_window_end(s);
    s->sent += (uint64_t)ev->result;
    s->sender_tapped = 1;
    uint64_t gap = gap_since(&s->last_send_ns, ev->time_ns);
    if (move_window(s, old_win_end, ev->time_ns) < 0)
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
            return add_message_frame(s, FRAME_REQUEST, start, s->sent, message);
        if (c->proto == PROTO_RAW && s->parse.state != PARSE_WAIT_PROTO)
            return add_message_frame(s, FRAME_REPLY, start, s->sent, message);
        return settle_proto(c);
    }
    span = push((void **)&s->sends, &s->n_sends, &s->cap_sends, sizeof(*s->sends));
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
    if (store_bytes(s, start, data, ev->data_len) < 0)
        return -1;
    if (is_client) {
        /* ft: requests are frames too; until the framing is known, the
         * request's bytes (and they may be what tells it) */
        if (c->proto != PROTO_FT &&
            add_message_frame(s, FRAME_REQUEST, start, s->sent, message) < 0)
            return -1;
        return c->proto == PROTO_FT || c->proto == PROTO_GUESS ? settle_proto(c) : 0;
    }
    check_send_stale(d, c, span);
    if (c->proto == PROTO_RAW && s->parse.state != PARSE_WAIT_PROTO)
        return add_message_frame(s, FRAME_REPLY, start, s->sent, message);
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
    uint64_t start = s->received, old_win_end = stream_window_end(s);
    s->received += taken;
    s->lost += taken - (uint64_t)ev->result;
    uint64_t gap = gap_since(&s->last_recv_ns, ev->time_ns);
    if (move_window(s, old_win_end, ev->time_ns) < 0)
        return -1;
    struct decode_span *span = push((void **)&s->recvs, &s->n_recvs, &s->cap_recvs,
                                    sizeof(*s->recvs));
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
    if (store_bytes(s, start, data, ev->data_len) < 0)
        return -1;
    if (!is_client && message > s->messages)
        s->messages = message;      /* requests as the server counts them */
    if (!is_client) {
        /* Requests seen only by the server (client not tapped); ft parses
         * them as frames as they arrive */
        if (c->proto != PROTO_FT && !s->sender_tapped &&
            add_message_frame(s, FRAME_REQUEST, start, s->received, message) < 0)
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
     * its reads (see move_window), until it closes. */
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
