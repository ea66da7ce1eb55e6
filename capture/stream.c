/* stream.c - one direction of a connection: its byte window, the pages of
 * captured bytes and the spans of the calls and frames (the model is in
 * stream.h). */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
 * NOW_NS. The window follows the sender, unless the receiver is tapped and
 * lags: then it stays where the receiver is (its frontier in the middle),
 * because the recv boundaries and the bytes they returned are the lesson;
 * bytes sent further ahead are not kept. A receiver that closed still counts for the events from before
 * its close: another process's burst can come later in the capture than the
 * close it preceded (capture.h). Pages left behind are stale by their base
 * offset: nothing to clear. Returns 0 or -1. */
int stream_move_window(struct stream *s, uint64_t now_ns)
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
    s->win_start = win_start;
    if (drop_sends(s) < 0)
        return -1;
    DROP_SPANS(s->recvs, s->n_recvs, win_start);
    DROP_SPANS(s->frames, s->n_frames, win_start);
    return 0;
}

/* Stores the captured bytes DATA[0..LEN) found at stream offset START (the
 * part inside the window). Returns 0, or -1 (ENOMEM). */
int stream_store_bytes(struct stream *s, uint64_t start, const unsigned char *data,
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

/* ---- making, growing and freeing a stream ---------------------------- */

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

struct decode_span *stream_push_send(struct stream *s)
{
    return push((void **)&s->sends, &s->n_sends, &s->cap_sends, sizeof(*s->sends));
}

struct decode_span *stream_push_recv(struct stream *s)
{
    return push((void **)&s->recvs, &s->n_recvs, &s->cap_recvs, sizeof(*s->recvs));
}

struct decode_frame *stream_push_frame(struct stream *s)
{
    return push((void **)&s->frames, &s->n_frames, &s->cap_frames, sizeof(*s->frames));
}

void stream_free(struct stream *s)
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

void stream_init(struct stream *s, enum direction dir, size_t window)
{
    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->window = window;
}

void stream_compact(struct stream *s)
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
}

