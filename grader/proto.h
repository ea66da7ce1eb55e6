/* proto.h - the framing of each stage, as the grader writes, reads and
 * judges it: one struct proto_ops per protocol, each in a file of its own,
 * found in the table of proto.c.
 *
 * Stage 3 (proto_len.c): a 4-byte signed little-endian length, then that
 *          many bytes.
 * Stage 4 (proto_json.c): a 4-byte signed little-endian header length, a
 *          JSON header ({"file_name", "total_size", "md5", "stdout_size",
 *          "exit_code"}), then total_size bytes of body (stdout, then
 *          stderr).
 * Stage 5 (proto_ft.c): every message, both ways, a 4-byte big-endian
 *          header length, a JSON header with "op" and "size", then size
 *          bytes of body (stage5_file_transfer/README.md). A command's
 *          reply is output frames (at most 1 MiB each) and an exit frame
 *          carrying the exit code, the sizes and the SHA-256 of the output.
 * Requests are the command's bytes as they are in stages 3 and 4, an exec
 * frame in stage 5.
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

enum reply_state { REPLY_NEED_MORE, REPLY_COMPLETE, REPLY_BAD };

struct run;                   /* one scenario being played (play.h) */
struct conn;

struct proto_ops {
    unsigned bit;             /* enum grade_proto                              */
    const char *name;         /* "stage3": --proto's word, in captures' names */
    const char *viewer_proto; /* nianbao-view's --proto for it; NULL: the
                                 viewer guesses                               */
    int body_digest;          /* a digest in the reply covers the body (MD5,
                                 SHA-256): a client that hashes other bytes
                                 says so itself (scenario.catches3)          */
    const char *len_name;     /* what the 4 bytes that start a reply are, in
                                 the diagnoses of a server's: "length",
                                 "header length"                            */
    /* Client mode: the words the steps and the advice use for a reply's
     * parts. (Stage 5's name its first frame's as stage 3's are named.) */
    const char *client_len_name;   /* "length", "header length"            */
    const char *client_parts;      /* a whole reply: "length", "header
                                      length, JSON header"                 */
    const char *client_le_stage;   /* "stage N lengths are little-endian"  */
    /* huge-body-size: a header announcing a body of 2^31-1 bytes (NULL: the
     * stage has no header) */
    const char *huge_body_header;

    /* VALUE as the stage's length field, and back. */
    void (*len_field)(uint32_t value, unsigned char out[4]);
    uint32_t (*len_value)(const unsigned char in[4]);

    /* Appends the request for the command COMMAND (LEN bytes) to OUT. */
    void (*encode_request)(const void *command, size_t len, struct bytes *out);

    /* Client mode: does BUF[0..HAVE) start with the request for COMMAND?
     * Returns REPLY_NEED_MORE, REPLY_COMPLETE (*USED: the request's size)
     * or REPLY_BAD (it differs). */
    enum reply_state (*match_request)(const unsigned char *buf, size_t have,
                                      const struct bytes *command, size_t *used);

    /* Appends one whole reply carrying BODY (the command's stdout, exit
     * code EXIT_CODE) to the down stream of S and records its map. */
    void (*add_reply)(struct script *s, const void *body, size_t body_len, int exit_code);

    /* Server mode: parses the reply at BUF[0..HAVE), called again as more
     * comes with the same G. Returns REPLY_NEED_MORE (*NEED: the bytes it
     * needs in all, at least), REPLY_COMPLETE (*NEED: the reply's size; G
     * filled) or REPLY_BAD (G->problem and G->problem_at filled). */
    enum reply_state (*parse_reply)(const unsigned char *buf, size_t have, size_t *need,
                                    struct reply_got *g);

    /* Server mode: reads reply K on C (client CONN_NO) and checks it
     * against the script. Returns 0 when it is right, -1 otherwise (the
     * steps and the diagnosis say why). */
    int (*expect_reply)(struct run *r, struct conn *c, unsigned conn_no, size_t k);

    /* Server mode: explains the 4 bytes LB that start a reply and cannot
     * be right (text, the wrong byte order, a 0). WHOLE_REPLY: the size
     * of the output the reply must carry. */
    void (*diagnose_len_field)(struct run *r, const unsigned char lb[4], size_t whole_reply);

    /* Client mode: the client exited non-zero at reply REPLY (map M)
     * having printed none of its body; explains it from its stderr ERR
     * when the reply's digest is what it complains of. NULL: none. */
    void (*diagnose_client_digest)(struct run *r, size_t reply, const struct reply_map *m,
                                   const unsigned char *err, size_t err_len);
};

extern const struct proto_ops proto_len_ops, proto_json_ops, proto_ft_ops;

/* The protocol of enum grade_proto bit PROTO (NULL for none). */
const struct proto_ops *proto_ops(unsigned proto);

/* The protocol named NAME ("stage3"), or NULL. */
const struct proto_ops *proto_find(const char *name);

/* "stage3", "stage4", "stage5". */
const char *proto_name(unsigned proto);

/* Every protocol's name, between SEP: "stage3|stage4|stage5". */
void proto_names(const char *sep, char *buf, size_t len);

/* Stage 5: appends one frame to OUT: the header {HEADER_FIELDS,"size":LEN}
 * (HEADER_FIELDS: JSON members, e.g. "\"op\":\"exec\""), then the LEN bytes
 * of BODY. */
void proto_frame5(struct bytes *out, const char *header_fields, const void *body, size_t len);

#endif
