/* proto_len.h - stage 3's framing, a 4-byte little-endian length and that
 * many bytes, which stage 4 (proto_json.c) extends with a JSON header:
 * what both build replies with and check a server's replies with.
 *
 * Nothing here prints or exits. */
#ifndef GRADER_PROTO_LEN_H
#define GRADER_PROTO_LEN_H

#include "play.h"

/* Requests are the command's bytes as they are. */
void len_encode_request(const void *command, size_t len, struct bytes *out);
enum reply_state len_match_request(const unsigned char *buf, size_t have,
                                   const struct bytes *command, size_t *used);

/* Appends a reply to S's down stream and records its map: a length field
 * (HEADER's length, then HEADER, when HEADER is not NULL; else BODY_LEN),
 * then BODY. */
void len_add_reply(struct script *s, const struct bytes *header, const void *body,
                   size_t body_len);

/* Takes the 4 bytes of the length field into G. Returns 0 while fewer
 * than 4 have come. */
int len_read_field(const unsigned char *buf, size_t have, struct reply_got *g);

/* Fills G's problem (FMT with one string A) at offset AT; returns REPLY_BAD. */
enum reply_state reply_bad(struct reply_got *g, size_t at, const char *fmt, const char *a);

/* How a server's reply framed by a length is checked, where stages 3 and 4
 * differ. */
struct sized_reply {
    const char *empty_hint;   /* what the reply to an empty output is, after
                                 "a length of 0"                            */
    const char *received;     /* a right reply, told: before its size       */
    /* The reply's size, G->length, in words ("length is 5 (bytes ...)"). */
    void (*say_size)(const struct reply_got *g, char *buf, size_t len);
    /* The reply announces a size other than the output's: the steps after
     * the one that says so, the failing byte and the diagnosis. START: the
     * reply's offset on C, HAVE: its bytes that came. */
    void (*wrong_size)(struct run *r, const struct conn *c, const struct reply_got *g,
                       const struct want_reply *w, const struct bytes *want_body, size_t start,
                       size_t have);
    /* The body is right: checks the header's other fields. Returns 0, or -1
     * after saying what is wrong. NULL: there is no header. */
    int (*check_header)(struct run *r, const struct conn *c, unsigned conn_no,
                        const struct reply_got *g, const struct want_reply *w, size_t start);
};

/* Reads reply K on C and checks it: proto_ops.expect_reply, framed as FRAMING says. */
int sized_expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k,
                       const struct sized_reply *framing);

/* The reply REPLY (HAVE bytes of it) starts with the command's output
 * WANT_BODY where the length goes: the output sent bare. */
void diagnose_bare_output(struct run *r, const unsigned char *reply, size_t have,
                          const struct bytes *want_body);

/* Explains a size FIELD ("the length", "total_size") of VALUE that is not
 * the size of W's output: characters counted, or stdout alone. */
void diagnose_size(struct run *r, const char *field, uint64_t value, const struct want_reply *w);

#endif
