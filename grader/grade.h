/* grade.h - the grader's model: scenarios are scripts built from a seed,
 * the engine plays them against the program under test, the report says
 * what happened.
 *
 *   scenario (scenarios.c)  builds a script (script.c): what to feed the
 *                           program, the bytes to send and how to cut
 *                           them, what must come out. Pure: the seed alone
 *                           decides it. Each names the bugs it catches
 *                           (bugs.c).
 *   protocol (proto.h)      one struct proto_ops per stage's framing, in a
 *                           file of its own (proto_len.c, proto_json.c,
 *                           proto_ft.c), found in the table of proto.c:
 *                           writes replies (the grader as a server),
 *                           decodes requests and replies, checks a
 *                           server's replies and says what a wrong length
 *                           field means.
 *   engine (engine.h)       runs a script: the sockets (conn.c), the
 *                           program and its waits (watch.c), the capture
 *                           (trace.c), each mode's play and judge
 *                           (client_mode.c, judge_client.c, server_mode.c,
 *                           judge_server.c); fills a verdict (verdict.c).
 *   report (report.c)       numbered steps, diagnosis, PASS/FAIL, TAP.
 *
 * To add a stage: its enum grade_proto bit here, its proto_ops in a file
 * of its own and one entry in proto.c's table, and its scenarios in
 * scenarios.c; the engine and the report stay as they are. Stage 6's "many
 * at once" is a server script whose actions interleave many connections
 * (the engine keeps up to SCRIPT_MAX_CONNS open).
 *
 * Nothing here prints or exits, except report.c, which prints the report,
 * and class.c, which prints the class table and page (--each). */
#ifndef GRADER_GRADE_H
#define GRADER_GRADE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bytes.h"
#include "rng.h"

enum grade_mode { MODE_CLIENT = 1, MODE_SERVER = 2 };

enum grade_proto { PROTO3 = 1u << 0, PROTO4 = 1u << 1, PROTO5 = 1u << 2 };
/* In a scenario's protos: it runs only with --concurrent (stage 6: a
 * server that serves many clients at once). */
#define PROTO_CONCURRENT (1u << 8)

/* The bugs the scenarios are designed to catch: each scenario lists the ones
 * it catches (`--list`), and each deliberately broken program in
 * exercises/broken fails exactly the scenarios that name its bug. */
enum grade_bug {
    BUG_ONE_RECV      = 1u << 0,  /* what one recv returned taken as a message */
    BUG_RECV4_ONCE    = 1u << 1,  /* the 4-byte length read with one recv      */
    BUG_NO_EOF        = 1u << 2,  /* recv's 0 (the peer closed) not checked    */
    BUG_BYTE_ORDER    = 1u << 3,  /* the length in the wrong byte order        */
    BUG_NO_LIMIT      = 1u << 4,  /* any length trusted                        */
    BUG_TEXT          = 1u << 5,  /* bytes handled as text (decoded, counted)  */
    BUG_DIES_ON_CLOSE = 1u << 6,  /* a peer that leaves kills the server       */
    BUG_ONE_AT_A_TIME = 1u << 7,  /* one client at a time (stage 6's lesson)   */
    BUG_OFF_BY_ONE    = 1u << 8,  /* the output's last byte lost               */
    /* stage 6: the classic mistakes of a server for many clients at once */
    BUG_SHARED_BUFFER = 1u << 9,  /* one buffer for every connection           */
    BUG_NO_REAP       = 1u << 10, /* forked children never waited for          */
    BUG_BLOCKING_LOOP = 1u << 11, /* an event loop blocked by one client       */
};
#define BUG_COUNT 12

/* "one-recv", "recv4-once", ... and what each means. */
const char *bug_name(unsigned bug_bit);
const char *bug_meaning(unsigned bug_bit);
/* The bit for NAME, or 0. */
unsigned bug_parse(const char *name);

/* ---- scripts ---------------------------------------------------------------- */

#define SCRIPT_MAX_CONNS 64
#define SCRIPT_MAX_REPLIES 64

/* One reply of the down stream (client mode), for reports and diagnoses. */
struct reply_map {
    size_t at;                /* its first byte in the down stream             */
    size_t header_at, header_len;   /* stage 4, 5: the (first) JSON header     */
    size_t body_at, body_len; /* the body (stage 5: of its first output frame) */
    size_t end;               /* one past its last byte (stage 5: the exit frame) */
    size_t out_at;            /* where its body starts in the expected stdout  */
    int bogus;                /* a malicious length: nothing of it is printed  */
};

/* A run of body bytes in the down stream and where they go on stdout: one
 * per reply in stages 3 and 4, one per output frame in stage 5. */
struct out_span {
    size_t down_at, len, out_at;
    size_t reply;
};

/* One expected reply (server mode): what the command prints. */
struct want_reply {
    struct bytes out, err;    /* stdout, stderr of the command                 */
    int exit_code;
    struct bytes command;     /* the request that asks for it                 */
    const char *error_code;   /* stage 5: an error reply with this code is due
                                 instead ("bad_frame": then the connection
                                 closes)                                       */
};

enum act_kind {
    /* client mode: the grader is the server */
    ACT_REQUEST,              /* wait for the client's next request            */
    ACT_SEND,                 /* send the next ARG bytes of the down stream    */
    /* server mode: the grader is the clients */
    ACT_CONNECT,              /* connection CONN connects                      */
    ACT_SEND_UP,              /* CONN sends the next ARG bytes of its up stream,
                                 and the grader waits until the server has
                                 read them                                    */
    ACT_SEND_UP_NOWAIT,       /* the same, without waiting                     */
    ACT_REPLY,                /* CONN reads reply ARG and checks it            */
    ACT_READ_SOME,            /* CONN reads ARG bytes of a reply and no more   */
    ACT_CLOSE,                /* CONN closes (unread bytes and all)            */
    ACT_REAPED,               /* ARG clients have come and gone: the server has
                                 at most one child process more than before
                                 the first, and at most one zombie (stage 6) */
    /* both */
    ACT_PAUSE,                /* ARG milliseconds pass: a stalled peer         */
};

struct act {
    enum act_kind kind;
    unsigned conn;            /* 0-based, server mode                          */
    size_t arg;
};

/* How a client-mode script ends. */
enum ending {
    END_FIN,                  /* every reply sent: the grader closes its side;
                                 the client must print them all and exit 0    */
    END_CLOSE,                /* the grader closes mid-reply: the client must
                                 exit non-zero, having printed the complete
                                 replies (and perhaps a prefix of the cut one) */
    END_HOLD,                 /* a reply it must refuse: the grader keeps the
                                 connection open; the client must exit
                                 non-zero by itself, printing nothing of it   */
};

struct script {
    enum grade_mode mode;
    unsigned proto;
    struct act *acts;
    size_t n_acts, cap_acts;
    /* client mode */
    struct bytes input;                       /* the client's stdin           */
    struct bytes requests[SCRIPT_MAX_REPLIES];
    size_t n_requests;
    struct bytes down;                        /* everything the grader sends  */
    struct reply_map replies[SCRIPT_MAX_REPLIES];
    size_t n_replies;
    struct out_span *spans;                   /* where stdout comes from      */
    size_t n_spans, cap_spans;
    size_t *frame_at;                         /* every length field sent      */
    size_t n_frames, cap_frames;
    enum ending ending;
    struct bytes want_out;                    /* the client's whole stdout    */
    size_t partial_at, partial_len;           /* END_CLOSE: the cut body      */
    /* server mode */
    struct bytes up[SCRIPT_MAX_CONNS];
    size_t n_conns;
    struct want_reply want[SCRIPT_MAX_REPLIES];
    size_t n_want;
    int failed;                               /* out of memory while building */
};

void script_init(struct script *s, enum grade_mode mode, unsigned proto);
void script_free(struct script *s);
void script_act(struct script *s, enum act_kind kind, unsigned conn, size_t arg);

/* Client mode, as a protocol appends a reply: a length field starts at AT
 * in the down stream; body bytes [DOWN_AT, DOWN_AT + LEN) of the last
 * reply are stdout from OUT_AT on. */
void script_note_frame(struct script *s, size_t at);
void script_note_span(struct script *s, size_t down_at, size_t len, size_t out_at);

/* Appends to S's down stream the start of a reply with these raw length
 * bytes (and, stage 4 and 5, this header text) but no body: for the
 * malicious replies. */
void script_add_bogus(struct script *s, const unsigned char len_bytes[4], const char *header);

/* ---- scenarios ------------------------------------------------------------- */

struct scenario {
    const char *name;
    enum grade_mode mode;
    unsigned protos;          /* which stages it applies to                    */
    unsigned catches;         /* enum grade_bug bits                           */
    const char *title;        /* one line: what it does                        */
    /* Fills S from RNG. Returns 0, or -1 when out of memory. */
    int (*build)(struct script *s, struct rng *rng);
    unsigned catches3;        /* bugs it catches in stage 3 only: where a
                                 digest covers the body (proto_ops.body_digest:
                                 stage 4's MD5, 5's SHA-256) its check catches
                                 the same mistake                             */
};

/* The bugs SC catches when the program speaks PROTO. */
unsigned scenario_catches(const struct scenario *sc, unsigned proto);

/* 1 when SC is for MODE and PROTO (CONCURRENT: --concurrent was given). */
int scenario_applies(const struct scenario *sc, enum grade_mode mode, unsigned proto,
                     int concurrent);

extern const struct scenario scenarios[];
extern const size_t scenario_count;

/* Builds scenario SC's script for PROTO from SEED. Returns 0 or -1. */
int scenario_build(const struct scenario *sc, unsigned proto, uint64_t seed,
                   struct script *s);

/* ---- protocols ------------------------------------------------------------- */

/* What the server-mode reader found in one reply. */
struct reply_got {
    int complete;             /* the reply was read whole and well framed      */
    uint64_t length;          /* stage 3: the length field; stage 4: total_size */
    int size_known;           /* LENGTH is read: the rest only completes it
                                 (stages 3, 4)                               */
    unsigned char len_bytes[4];
    int have_len;             /* LEN_BYTES are all there                       */
    struct bytes header;      /* stage 4: the JSON header as received          */
    struct bytes body;        /* the bytes read as the body                    */
    int stdout_size_given;
    uint64_t stdout_size;
    int exit_code_given;
    long long exit_code;
    char md5[40];             /* "" when the header has none                   */
    struct bytes out, err;    /* stage 5: the output frames' bodies, by stream
                                 (BODY: all of them in the order sent)        */
    char sha256[72];          /* stage 5: the exit frame's sha256, else ""     */
    char error_code[32];      /* stage 5: an error reply's code, else ""       */
    char error_message[256];
    int frames;               /* stage 5: frames read                          */
    size_t parsed;            /* stage 5: bytes of the frames read, whose
                                 bodies are in OUT and ERR already            */
    char problem[512];        /* what is wrong, in words, when not complete   */
    size_t problem_at;        /* the offset in the reply where it is wrong     */
};

#endif
