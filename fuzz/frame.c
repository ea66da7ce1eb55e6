/* fuzz/frame.c - common/frame.c's reader of header-length + JSON header +
 * body frames, fuzzed (stage 4 and stage 5 formats).
 *
 * Input: one byte of options, then a byte stream. Bit 0 picks the format
 * (0: stage 4, little-endian length, "total_size"; 1: stage 5, big-endian,
 * "size"); bits 1-7 seed the cuts. The stream is read three ways, which
 * must agree exactly - the lab's whole point is that framing does not
 * depend on how the stream is cut:
 *   1. frame_reader_feed given the whole stream at once;
 *   2. frame_reader_feed given it in pieces of 1..8 bytes (seeded);
 *   3. frame_recv_header and frame_recv_body on a socket holding it,
 *      reading bodies 5 bytes at a time.
 * Each produces a log (headers' text, body bytes, frame ends, an error),
 * compared byte for byte; a stream that stops mid-frame is no error for
 * the buffer reader and "connection closed after ..." for the socket one.
 * Every header accepted is an object whose size field is the number of
 * body bytes that follow, and it encodes again (frame_encode) to a frame
 * the reader accepts with the same size. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"

struct log {
    unsigned char *bytes;
    size_t len, cap;
    int last_was_body;        /* body bytes from two reads are one record */
};

static void log_put(struct log *l, const void *bytes, size_t len)
{
    if (l->len + len > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + len)
            cap *= 2;
        unsigned char *grown = realloc(l->bytes, cap);
        if (grown == NULL)
            fuzz_fail("out of memory");
        l->bytes = grown;
        l->cap = cap;
    }
    memcpy(l->bytes + l->len, bytes, len);
    l->len += len;
}

static void log_record(struct log *l, char kind, const void *bytes, size_t len)
{
    if (kind == 'B' && l->last_was_body) {
        log_put(l, bytes, len);
        return;
    }
    log_put(l, &kind, 1);
    log_put(l, bytes, len);
    l->last_was_body = kind == 'B';
}

/* Checks a header the reader accepted, and that it encodes again. */
static void check_header(const struct frame_format *fmt, const struct frame_reader *r)
{
    char err[256];
    unsigned char *frame;
    size_t frame_len;
    cJSON *again = NULL;
    uint64_t size_again;

    if (!cJSON_IsObject(r->header) || r->body_size > fmt->max_body)
        fuzz_fail("header accepted that is not an object with a size in range");
    cJSON *copy = cJSON_Duplicate(r->header, 1);
    if (copy == NULL)
        fuzz_fail("out of memory");
    if (frame_encode(fmt, copy, r->body_size, &frame, &frame_len, err, sizeof err) == 0) {
        if (frame_parse_header(fmt, (const char *)frame + FRAME_LEN_SIZE,
                               frame_len - FRAME_LEN_SIZE, &again, &size_again,
                               err, sizeof err) < 0)
            fuzz_fail("an accepted header, encoded again, is refused: %s", err);
        if (size_again != r->body_size)
            fuzz_fail("an accepted header, encoded again, says %llu bytes, not %llu",
                      (unsigned long long)size_again, (unsigned long long)r->body_size);
        cJSON_Delete(again);
        free(frame);
    } else if (strstr(err, "over the limit") == NULL) {
        fuzz_fail("an accepted header cannot be encoded again: %s", err);
    }
    cJSON_Delete(copy);
}

/* Reads DATA with frame_reader_feed, in pieces of 1..8 bytes drawn from
 * SEED, or whole when SEED is 0. Logs what happens. */
static void read_buffer(const struct frame_format *fmt, const uint8_t *data, size_t size,
                        unsigned seed, struct log *l)
{
    struct frame_reader r;
    size_t at = 0;
    uint64_t body_seen = 0;
    uint32_t rng = seed * 2654435761u + 1;

    frame_reader_init(&r, fmt);
    while (at < size) {
        size_t piece = size - at;
        if (seed != 0) {
            rng = rng * 1103515245u + 12345u;
            size_t cut = 1 + (rng >> 16) % 8;
            if (cut < piece)
                piece = cut;
        }
        const uint8_t *p = data + at;
        size_t left = piece;
        for (;;) {
            size_t used, body_len;
            const unsigned char *body;
            enum frame_event ev = frame_reader_feed(&r, p, left, &used, &body, &body_len);
            if (used > left)
                fuzz_fail("the reader used %zu of %zu bytes", used, left);
            p += used;
            left -= used;
            if (ev == FRAME_ERROR) {
                log_record(l, 'X', r.err, strlen(r.err));
                goto end;
            }
            if (ev == FRAME_HEADER) {
                check_header(fmt, &r);
                log_record(l, 'H', r.header_json, r.header_len);
                body_seen = 0;
            } else if (ev == FRAME_BODY) {
                if (body < data || body + body_len > data + size)
                    fuzz_fail("body bytes handed out from outside the buffer");
                log_record(l, 'B', body, body_len);
                body_seen += body_len;
            } else if (ev == FRAME_END) {
                if (body_seen != r.body_size)
                    fuzz_fail("a frame of %llu body bytes ended after %llu",
                              (unsigned long long)r.body_size,
                              (unsigned long long)body_seen);
                log_record(l, 'E', "", 0);
            } else if (left == 0) {
                break;
            }
            if (ev == FRAME_NEED_MORE && left != 0)
                fuzz_fail("the reader wants more with %zu bytes unread", left);
        }
        at += piece;
    }
    if (r.offset != size)
        fuzz_fail("the reader consumed %llu of %zu bytes", (unsigned long long)r.offset, size);
    if (!frame_reader_idle(&r))
        log_record(l, 'T', "", 0);        /* the stream stops mid-frame */
end:
    frame_reader_free(&r);
}

/* Reads DATA from a socket with frame_recv_header / frame_recv_body. */
static void read_socket(const struct frame_format *fmt, const uint8_t *data, size_t size,
                        struct log *l)
{
    struct frame_reader r;
    size_t written;
    unsigned char chunk[5];

    int fd = fuzz_socket_holding(data, size, &written);
    if (fd < 0)
        fuzz_fail("socketpair failed");
    if (written != size)
        fuzz_fail("the socket took %zu of %zu bytes", written, size);
    frame_reader_init(&r, fmt);
    for (;;) {
        int got = frame_recv_header(fd, &r, "reply");
        if (got == 0)
            break;
        if (got < 0)
            goto error;
        log_record(l, 'H', r.header_json, r.header_len);
        ssize_t n;
        while ((n = frame_recv_body(fd, &r, chunk, sizeof chunk)) > 0)
            log_record(l, 'B', chunk, (size_t)n);
        if (n < 0)
            goto error;
        log_record(l, 'E', "", 0);
    }
    goto end;
error:
    /* A stream cut mid-frame is "connection closed after ..." here and no
     * error to the buffer reader: both logged alike. */
    if (strncmp(r.err, "connection closed after ", 24) == 0)
        log_record(l, 'T', "", 0);
    else
        log_record(l, 'X', r.err, strlen(r.err));
end:
    frame_reader_free(&r);
    close(fd);
}

static void same_logs(const struct log *a, const struct log *b, const char *what)
{
    if (a->len != b->len || (a->len > 0 && memcmp(a->bytes, b->bytes, a->len) != 0)) {
        size_t i = 0;
        while (i < a->len && i < b->len && a->bytes[i] == b->bytes[i])
            i++;
        fuzz_fail("%s differs from the whole-buffer read at log byte %zu (%zu vs %zu bytes)",
                  what, i, b->len, a->len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct log whole = { 0 }, cut = { 0 }, socket = { 0 };

    if (size < 1)
        return 0;
    const struct frame_format *fmt = data[0] & 1 ? &frame_stage5 : &frame_stage4;
    unsigned seed = (data[0] >> 1) + 1u;
    data++;
    size--;
    read_buffer(fmt, data, size, 0, &whole);
    read_buffer(fmt, data, size, seed, &cut);
    same_logs(&whole, &cut, "the read in pieces");
    read_socket(fmt, data, size, &socket);
    same_logs(&whole, &socket, "the read from a socket");
    free(whole.bytes);
    free(cut.bytes);
    free(socket.bytes);
    return 0;
}
