/* ft.h - the stage 5 protocol's messages: what each one may say.
 *
 * Every message, both ways, is a frame_stage5 frame (frame.h): a 4-byte
 * big-endian header length, a JSON header with "op" and "size", a body of
 * "size" bytes. This module knows, for every op, which fields it has, of
 * which type, which are required, and what its body must be - a table
 * (ft_messages in ft.c), looked up by the op's name and nothing else. The
 * classic follow-up to the document dispatched with getattr(self, cmd):
 * any method of the server was a command. Here an op that is not in the
 * table is "unknown_op", a field its op does not define "unknown_field",
 * and the reply names them.
 *
 * The checks work on a parsed header (cJSON) and its raw text, so they run
 * the same on a socket (frame_recv_header), on a buffer (frame_reader_feed,
 * an event loop, a fuzzer) and in the grader.
 *
 * Nothing here prints or exits: -1 with a struct ft_error filled. */
#ifndef NIANBAO_FT_H
#define NIANBAO_FT_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "digest.h"
#include "frame.h"
#include "protolimits.h"
#include "stage_ports.h"

#define FT_DEFAULT_PORT STAGE5_PORT     /* common/stages.def */
#define FT_SHOWN_MAX 256             /* an escaped name in a message or log */
#define FT_STRINGIFY_(x) #x
#define FT_STRINGIFY(x) FT_STRINGIFY_(x)
/* The limits' defaults as text, for --help (protolimits.h). */
#define FT_MAX_COMMAND_TEXT FT_STRINGIFY(FT_MAX_COMMAND)
#define FT_MAX_HEADER_TEXT FT_STRINGIFY(FT_MAX_HEADER)
#define FT_MAX_OUTPUT_TEXT FT_STRINGIFY(FT_MAX_OUTPUT_DEFAULT)
#define FT_MAX_UPLOAD_TEXT FT_STRINGIFY(FT_MAX_UPLOAD_DEFAULT)
/* The too_large message of an exec over --max-command, in every server:
 * the command's size (uint64_t), then the limit (unsigned long). */
#define FT_MSG_COMMAND_TOO_LARGE \
    "the command is %" PRIu64 " bytes; this server runs at most %lu (--max-command)"

/* Out of step inside a put (both close after it): a "data" of the wrong
 * size (its size, file_size, offset), and a frame where another was due
 * (the op that came, the op due). */
#define FT_MSG_DATA_SIZE \
    "data: size %" PRIu64 " is not file_size %" PRIu64 " minus offset %" PRIu64
#define FT_MSG_OUT_OF_STEP "\"%s\" came where \"%s\" was due"

/* Error codes of the "error" reply (the README's table says what each means). */
#define FT_E_BAD_FRAME       "bad_frame"        /* fatal: the server closes */
#define FT_E_UNKNOWN_OP      "unknown_op"
#define FT_E_UNKNOWN_FIELD   "unknown_field"
#define FT_E_BAD_FIELD       "bad_field"
#define FT_E_OUT_OF_ORDER    "out_of_order"
#define FT_E_BAD_NAME        "bad_name"
#define FT_E_NOT_FOUND       "not_found"
#define FT_E_NOT_FILE        "not_file"
#define FT_E_EXISTS          "exists"
#define FT_E_TOO_LARGE       "too_large"
#define FT_E_CHANGED         "changed"
#define FT_E_LOCKED          "locked"
#define FT_E_DIGEST_MISMATCH "digest_mismatch"
#define FT_E_IO              "io"
#define FT_E_READ_ONLY       "read_only"        /* put on a --read-only server */
#define FT_E_BUSY            "busy"             /* stage 6 */
#define FT_E_TIMEOUT         "timeout"          /* stage 6 */

enum ft_op {
    FT_OP_NONE = 0,
    /* client -> server, as requests */
    FT_EXEC, FT_GET, FT_PUT, FT_STAT, FT_LIST,
    /* client -> server inside a put, after "ready" (FT_END also server ->
     * client, after a get's body) */
    FT_DATA, FT_END,
    /* server -> client */
    FT_OUTPUT, FT_EXIT, FT_FILE, FT_READY, FT_DONE, FT_STAT_REPLY, FT_LIST_REPLY, FT_ERROR,
};

/* Where a message is read: the table differs. */
enum ft_direction {
    FT_REQUEST,               /* a client's request, between exchanges    */
    FT_UPLOAD,                /* a client's frames inside a put           */
    FT_REPLY,                 /* anything the server sends                */
};

/* A checked message. Strings point into the cJSON header: valid while it
 * lives. Fields an op does not have stay 0/NULL. */
struct ft_msg {
    enum ft_op op;
    const char *op_name;
    uint64_t size;                    /* the body's length                 */
    const char *name;                 /* a checked name (fsroot.h)          */
    uint64_t offset;                  /* get, put, file, ready (0 if absent) */
    uint64_t file_size;               /* put, file, done, stat              */
    int has_file_size;
    const char *prefix_sha256;        /* get, put with offset > 0           */
    const char *sha256;               /* end, exit, done                    */
    int overwrite;                    /* put                                */
    int stream;                       /* output: 1 stdout, 2 stderr         */
    int exit_code;                    /* exit: 0..255, -1 for null          */
    int signal;                       /* exit                               */
    int timed_out, truncated;         /* exit; truncated also list          */
    uint64_t stdout_size, stderr_size;
    int exists;                       /* stat                               */
    uint64_t partial_size;            /* stat                               */
    uint64_t count, skipped;          /* list                               */
    const char *code, *message;       /* error                              */
};

struct ft_error {
    const char *code;                 /* one of FT_E_*                      */
    char message[512];                /* one line, names escaped            */
};

/* Checks HEADER (its raw text JSON, LEN bytes, as frame_reader/
 * frame_recv_header keep it; BODY_SIZE its size field) as a message read in
 * direction DIR, and fills MSG. Returns 0, or -1 with E filled: unknown_op,
 * unknown_field, bad_field, bad_name, out_of_order (a known op in the wrong
 * place: "data" outside a put). The frame itself is sound either way: the
 * caller skips its body and goes on. */
int ft_parse(enum ft_direction dir, const cJSON *header, const char *json, size_t len,
             uint64_t body_size, struct ft_msg *msg, struct ft_error *e);

/* The frame format of requests to a server with these limits: frame_stage5
 * with HLEN up to MAX_HEADER, and a body no longer than the longest request
 * may carry (an upload of MAX_UPLOAD bytes, or a command of MAX_COMMAND):
 * a longer one is bad_frame, and the server closes. */
struct frame_format ft_request_format(uint32_t max_header, uint64_t max_upload,
                                      uint64_t max_command);

/* The op's name on the wire ("exec"; FT_STAT_REPLY is "stat"). */
const char *ft_op_name(enum ft_op op);

/* Fills E (CODE, and a message formatted as printf). Returns -1. */
int ft_fail(struct ft_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- writing ----------------------------------------------------------- */

/* A new header {"op": NAME}; NULL when out of memory. Add fields, then
 * ft_send (which sets "size") or frame_encode. */
cJSON *ft_header(enum ft_op op);

/* Sends HEADER with BODY (BODY_LEN bytes; BODY NULL with MORE = 1 when the
 * caller sends the body itself, e.g. by sendfile) as one frame, and frees
 * HEADER. HEADER NULL (a failed ft_header) is out of memory. Returns 0, or
 * -1 with ERR filled and errno kept (EPIPE, EAGAIN for SO_SNDTIMEO). */
int ft_send(int fd, cJSON *header, const void *body, uint64_t body_len, int more,
            char *err, size_t errlen);

/* Sends {"op":"error","code":E->code,"message":E->message}. As ft_send. */
int ft_send_error(int fd, const struct ft_error *e, char *err, size_t errlen);

#endif
