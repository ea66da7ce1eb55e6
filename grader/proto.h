/* proto.h - the framing of each stage, as the grader writes and reads it.
 *
 * Stage 3: a 4-byte signed little-endian length, then that many bytes.
 * Stage 4: a 4-byte signed little-endian header length, a JSON header
 *          ({"file_name", "total_size", "md5", "stdout_size", "exit_code"}),
 *          then total_size bytes of body (stdout, then stderr).
 * Stage 5: every message, both ways, a 4-byte big-endian header length, a
 *          JSON header with "op" and "size", then size bytes of body
 *          (stage5_file_transfer/README.md). A command's reply is output
 *          frames (at most 1 MiB each) and an exit frame carrying the exit
 *          code, the sizes and the SHA-256 of the output.
 *
 * Nothing here prints or exits. */
#ifndef GRADER_PROTO_H
#define GRADER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "grade.h"
#include "protolimits.h"

/* The largest length the exercises accept (and the lab's clients' default). */
#define PROTO_MAX_LEN ((uint32_t)NB_MAX_LEN_DEFAULT)
/* The largest stage 4 and 5 header the grader reads. */
#define PROTO_MAX_HEADER ((uint32_t)FT_MAX_HEADER)
/* Stage 5: the largest body of one output frame
 * (stage5_file_transfer/README.md). */
#define PROTO_MAX_OUTPUT_FRAME FT_OUTPUT_MAX

/* "stage3", "stage4", "stage5". */
const char *proto_name(unsigned proto);

/* Appends one whole reply carrying BODY (the command's stdout) to the down
 * stream of S and records its map. (Declared in grade.h too.) */
void proto_add_reply(struct script *s, const void *body, size_t body_len, int exit_code);

/* Appends to S's down stream the start of a reply with these raw length
 * bytes (and, stage 4 and 5, this header text) but no body: for the
 * malicious replies. */
void proto_add_bogus(struct script *s, const unsigned char len_bytes[4], const char *header);

/* VALUE as the stage's length field: little-endian (3, 4), big-endian (5). */
void proto_len_field(unsigned proto, uint32_t value, unsigned char out[4]);

/* Appends the request for the command COMMAND (LEN bytes) to OUT: the
 * bytes themselves (stages 3, 4) or an exec frame (stage 5). */
void proto_encode_request(unsigned proto, const void *command, size_t len, struct bytes *out);

/* Appends one stage 5 frame to OUT: the header {HEADER_FIELDS,"size":LEN}
 * (HEADER_FIELDS: JSON members, e.g. "\"op\":\"exec\""), then the LEN bytes
 * of BODY. */
void proto_frame5(struct bytes *out, const char *header_fields, const void *body, size_t len);

/* The header of a stage 4 reply for BODY, as the lab's server writes it. */
void proto_header4(struct bytes *out, const void *body, size_t body_len, size_t stdout_size,
                   int exit_code);

enum reply_state { REPLY_NEED_MORE, REPLY_COMPLETE, REPLY_BAD };

/* Client mode: does BUF[0..HAVE) start with the request for COMMAND?
 * Stages 3 and 4: exactly the command's bytes (requests are not framed).
 * (Stage 5: one frame whose op is exec and whose body is the command.)
 * Returns REPLY_NEED_MORE, REPLY_COMPLETE (*USED: the request's size) or
 * REPLY_BAD (it differs). */
enum reply_state proto_match_request(unsigned proto, const unsigned char *buf, size_t have,
                                     const struct bytes *command, size_t *used);

/* Parses the reply at BUF[0..HAVE) (server mode: the grader reads what a
 * server sent). Returns REPLY_NEED_MORE (*NEED: the bytes it needs in all,
 * at least), REPLY_COMPLETE (*NEED: the reply's size; G filled) or
 * REPLY_BAD (G->problem and G->problem_at filled). */
enum reply_state proto_parse_reply(unsigned proto, const unsigned char *buf, size_t have,
                                   size_t *need, struct reply_got *g);

/* MD5 of BYTES as 32 lower-case hex digits. */
void proto_md5_hex(const void *bytes, size_t len, char hex[33]);

/* SHA-256 of the concatenation of N buffers as 64 lower-case hex digits. */
void proto_sha256_hex(const struct bytes *parts, size_t n, char hex[65]);

/* The bytes of a little-endian / big-endian 32-bit field. */
void proto_le32(uint32_t v, unsigned char out[4]);
uint32_t proto_get_le32(const unsigned char in[4]);
uint32_t proto_get_be32(const unsigned char in[4]);

#endif
