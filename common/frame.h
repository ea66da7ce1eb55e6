/* frame.h - a header-length + JSON header + body frame, as a module.
 *
 * Stage 4 taught this framing; from stage 5 on it is no longer the lesson,
 * so it lives here, once, usable on a buffer (event loops, fuzzers) and on
 * a blocking socket, in both directions:
 *
 *   +-----------+----------------------------+------------------------+
 *   | 4 bytes   | header: HLEN bytes of      | body: the number of    |
 *   | HLEN      | UTF-8 JSON, one object     | bytes the header gives |
 *   +-----------+----------------------------+------------------------+
 *
 * Two formats differ only in details: stage 4 (the document's v4.0) writes
 * HLEN as a signed little-endian int32 (struct.pack('i')) and gives the body
 * length in "total_size"; stage 5 writes HLEN big-endian (network order,
 * struct.pack('!I')) and gives it in "size".
 *
 * What every header must be, checked here: HLEN in 1..max_header; exactly
 * one JSON object and nothing else but white space (no byte-order mark);
 * valid UTF-8 with no raw control characters; no key twice; the size field
 * an integer in 0..max_body, written as one (not -0, 0.0, 0e5). What the
 * fields mean is the caller's business.
 *
 * Nothing here prints or exits: functions return -1 with ERR filled, in
 * words a student can act on ("header length 1195725860 (bytes 47 45 54 20
 * "GET ") is out of range 1..65536: is the peer speaking another protocol?").
 */
#ifndef NIANBAO_FRAME_H
#define NIANBAO_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#define FRAME_LEN_SIZE 4

struct frame_format {
    int big_endian;           /* 0: stage 4 (little-endian int32), 1: stage 5 */
    const char *size_field;   /* "total_size" (stage 4) or "size" (stage 5) */
    uint32_t max_header;      /* largest HLEN accepted */
    uint64_t max_body;        /* largest body accepted */
};

/* The two formats with the lab's default limits (64 KiB header; body 256 MiB
 * for stage 4, 2^53 - 1 for stage 5, the largest integer JSON keeps exact).
 * Copy one and change the limits to apply options. */
extern const struct frame_format frame_stage4;
extern const struct frame_format frame_stage5;

/* ---- reading, on a buffer ---------------------------------------------- */

enum frame_event {
    FRAME_NEED_MORE = 0,  /* every byte given was used; feed more           */
    FRAME_HEADER,         /* a header is complete: R->header, R->body_size  */
    FRAME_BODY,           /* body bytes: *BODY, *BODY_LEN point into BUF    */
    FRAME_END,            /* the frame's last body byte was delivered (or
                             the body is empty): the next byte starts a new
                             frame. R->header stays valid until then.       */
    FRAME_ERROR,          /* R->err says what; the reader stays in error    */
};

struct frame_reader {
    struct frame_format fmt;
    enum { FRAME_IN_LEN, FRAME_IN_HEADER, FRAME_IN_BODY, FRAME_IN_ERROR } state;
    unsigned char len_bytes[FRAME_LEN_SIZE];
    size_t len_have;
    char *header_json;        /* the raw header text (NUL-terminated) */
    uint32_t header_len, header_have;
    cJSON *header;            /* parsed header: valid from FRAME_HEADER to the
                                 next frame's first byte                      */
    uint64_t body_size;       /* the size field's value                       */
    uint64_t body_left;       /* body bytes not yet delivered                 */
    uint64_t frames;          /* frames completed                             */
    uint64_t offset;          /* stream bytes consumed so far                 */
    int end_pending;          /* internal: FRAME_END still to report          */
    char what[24];            /* internal: the frame's name in messages       */
    int cut;                  /* frame_recv_*: the peer ended the stream inside
                                 a frame (err says where); 0: a bad frame or a
                                 failed recv                                  */
    char err[256];
};

void frame_reader_init(struct frame_reader *r, const struct frame_format *fmt);
void frame_reader_free(struct frame_reader *r);

/* Consumes bytes of BUF[0..LEN) until something happens; *USED says how
 * many it took (the caller feeds the rest again). FRAME_BODY hands out the
 * body bytes in place. Call again with the remaining bytes (or LEN 0) after
 * every event but FRAME_NEED_MORE and FRAME_ERROR: FRAME_END of an empty
 * body is reported by a call that consumes nothing. */
enum frame_event frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
                                   size_t *used, const unsigned char **body,
                                   size_t *body_len);

/* Parses and checks one whole header text (JSON, LEN bytes) as the reader
 * does: *HEADER_OUT (free with cJSON_Delete) and *BODY_SIZE, or -1 with ERR
 * filled. For programs that read the header their own way (the stage 4
 * client, whose reads are its lesson). */
int frame_parse_header(const struct frame_format *fmt, const char *json, size_t len,
                       cJSON **header_out, uint64_t *body_size, char *err, size_t errlen);

/* The raw text of the value of KEY (escapes in the key decoded) in the
 * header JSON (LEN bytes, one JSON object that cJSON has parsed): *AT and
 * *AT_LEN. Returns 0, or -1 when the object has no such key. For what
 * cJSON does not keep: how a number was written (frame_plain_integer). */
int frame_raw_value(const char *json, size_t len, const char *key, const char **at,
                    size_t *at_len);

/* 1 when TEXT (LEN bytes) is a JSON number written as an integer is in
 * this protocol: digits, no leading zero, no sign, point or exponent (so
 * not -0, 0.0 or 0e5, which cJSON reads as 0). */
int frame_plain_integer(const char *text, size_t len);

/* 1 when LEN bytes at TEXT are valid UTF-8 (no overlong forms, surrogates
 * or code points past U+10FFFF); else 0 with *BAD_AT (when not NULL) the
 * offset of the first byte that is not. */
int frame_utf8_valid(const void *text, size_t len, size_t *bad_at);

/* 1 when the reader is between frames (nothing of a next frame read yet). */
int frame_reader_idle(const struct frame_reader *r);

/* Where R was when the connection closed in the middle of a frame, into
 * OUT: "connection closed after 3 of 80 bytes of the reply's header" (WHAT
 * "reply"; the header length, the header or the body). Returns OUT. */
const char *frame_reader_describe_cut(const struct frame_reader *r, const char *what, char *out,
                                      size_t outlen);

/* ---- reading, on a blocking socket ------------------------------------- */

/* Reads the next frame's HLEN and header from FD, exactly, never a byte of
 * the body. Returns 1 (R->header, R->body_size set), 0 when the peer closed
 * cleanly before the first byte of a frame, -1 with R->err filled (a short
 * read says "connection closed after 2 of 4 bytes of the header length";
 * EAGAIN from SO_RCVTIMEO says "timed out"). WHAT names the frame in
 * messages ("reply", "request"). */
int frame_recv_header(int fd, struct frame_reader *r, const char *what);

/* Reads up to LEN bytes of the current body, never past its end.
 * Returns the count (> 0), 0 once the body is complete, -1 with R->err
 * filled (peer closed mid-body: "connection closed after N of M bytes of
 * the body"). */
ssize_t frame_recv_body(int fd, struct frame_reader *r, void *buf, size_t len);

/* ---- writing ----------------------------------------------------------- */

/* Adds NAME: VALUE to OBJ as the digits of VALUE, the bytes
 * cJSON_AddNumberToObject would print for it (every integer up to
 * FT_MAX_INTEGER is exact as a double), without printing a double and
 * reading it back, which cJSON does for every number. Returns 0, or -1
 * when out of memory. */
int frame_add_uint(cJSON *obj, const char *name, uint64_t value);

/* Encodes HEADER (a cJSON object; its size field is set here to BODY_LEN,
 * replacing any) as HLEN + JSON into a malloc'ed buffer *OUT of *OUT_LEN
 * bytes. Returns 0, or -1 with ERR filled (out of memory, header too long). */
int frame_encode(const struct frame_format *fmt, cJSON *header, uint64_t body_len,
                 unsigned char **out, size_t *out_len, char *err, size_t errlen);

/* frame_encode into BUF, CAP bytes, without an allocation: returns the
 * frame's length, 0 when it does not fit in CAP - 1 bytes (the JSON is
 * printed with its NUL; call frame_encode), or -1 with ERR filled. */
ssize_t frame_encode_in(const struct frame_format *fmt, cJSON *header, uint64_t body_len,
                        unsigned char *buf, size_t cap, char *err, size_t errlen);

/* Sends one frame: HLEN, HEADER (size field set to BODY_LEN) and BODY with
 * one writev (retried until all is sent), so a small frame leaves in one
 * segment and never waits on Nagle's algorithm. BODY may be NULL when
 * BODY_LEN is 0, or when the caller sends the body itself (MORE = 1: the
 * header goes with MSG_MORE, for a body sent by sendfile). Returns 0, or -1
 * with ERR filled (errno kept: EAGAIN means SO_SNDTIMEO expired, EPIPE the
 * peer went away). */
int frame_send(int fd, const struct frame_format *fmt, cJSON *header,
               const void *body, uint64_t body_len, int more,
               char *err, size_t errlen);

/* The size field of HEADER as an exact integer in 0..MAX, or -1 with ERR
 * filled when it is missing, not a number, negative, fractional or too large
 * (also used for other integer fields: NAME names the field). */
int frame_get_uint(const cJSON *header, const char *name, uint64_t max,
                   uint64_t *value, char *err, size_t errlen);

#endif
