/* decode.h - turn capture events into annotated byte streams.
 *
 * Data apart from drawing: this library knows nothing about terminals. The UI
 * (ui.c), --dump, --html and the side-by-side mode all read the same model.
 *
 * The model. Events are matched into connections by address pair: the
 * client's (local A, peer B) is the server's (local B, peer A). Each
 * connection has two streams: UP (client -> server: the requests) and DOWN
 * (server -> client: the replies). A stream is addressed by absolute byte
 * offsets from the start of the connection (uint64_t), as TCP numbers them.
 * On a stream the decoder keeps:
 *   - send spans: the byte range each send() call wrote (sender's message
 *     boundaries), numbered 1, 2, ... per stream, and tagged with the
 *     request/reply they belong to;
 *   - recv spans: the byte range each recv() call returned (receiver's
 *     boundaries), numbered 1, 2, ... per stream;
 *   - frame spans: what the protocol says the bytes are (stage 3 length
 *     field, stage 4 header length, JSON header, body, or for raw stage 1 the
 *     request/reply a byte belongs to), with the decoded numbers;
 *   - the bytes themselves, where known. The tap copies at most its cap per
 *     call, so a byte is known when either the sender's or the receiver's
 *     copy covered it; others are "not captured" (stream_byte returns -1).
 *     They are kept in pages of DECODE_PAGE bytes allocated only where bytes
 *     were captured, so a capture that claims huge calls but holds little
 *     costs little.
 * Bytes sent but not yet received are pending: [received, sent).
 *
 * A recv's span covers what it took off the connection: a datagram cut to
 * the buffer (recv MSG_TRUNC on UDP) or bytes a TCP recv(MSG_TRUNC)
 * discarded count there, but only CALL_SIZE bytes reached the program.
 *
 * Bounded memory: each stream keeps only a window of offsets
 * ([win_start, stream_window_end)), 64 KiB by default. The window follows
 * the sender, except while the receiver is tapped and lags behind: then it
 * stays around what the receiver has reached (its last recv in the middle),
 * so the recv boundaries and the bytes they returned stay visible even when
 * the sender is megabytes ahead (sends beyond the window share one span per
 * reply). Spans that end before win_start are dropped; send spans that
 * leave the window are kept as a compact history (start, end, reply #),
 * adjacent sends of one reply merged into one range, so a STALE check never
 * depends on a dropped span. Totals count everything.
 *
 * Incremental: decoder_feed takes one event at a time, so a live view can
 * draw after every event. Pointers into the model (connections, spans) are
 * valid until the next decoder_feed or decoder_free. The work per event is
 * bounded by the bytes it carries and a binary search, never by how much
 * came before: a capture decodes in time linear in its size.
 *
 * Impossible values (a call that claims more than DECODE_MAX_CALL bytes, a
 * stream past DECODE_MAX_STREAM, more bytes captured than moved) make the
 * event invalid: it is counted in INVALID and otherwise ignored. A JSON
 * header number that is not an integer of at most 2^53 is shown as invalid.
 *
 * STALE: request k of a connection is the k-th burst of client sends (sends
 * with no client recv in between); reply k is what the server sent after it
 * received request k and before request k+1. When a client recv made after
 * request k returns bytes of reply j < k, the decoder raises a flag:
 * "STALE: recv #7 returned bytes of reply #3" - the v1 garble, caught.
 * Reply numbers come from the server's events; when only the client is
 * tapped, from the len/json framing (reply j = the j-th frame), so a
 * student's own framed client that reads too little is caught too. With
 * only a raw (stage 1) client tapped there is nothing to tell replies apart.
 * Stage 5's framing (ft) answers one request with several frames (output,
 * output, exit), so there frames do not number replies: only the server's
 * events do.
 *
 * Stage 5 (ft) frames both streams: the requests are parsed as the replies
 * are, each stream on its own (FRAME_HEADER_LEN, FRAME_HEADER_JSON,
 * FRAME_BODY, or FRAME_BAD where a header length or size cannot be right;
 * after that the stream's framing is lost and the rest is left undecoded).
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_DECODE_H
#define NIANBAO_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"

/* How the downstream bytes are framed. */
enum proto {
    PROTO_GUESS = 0,  /* decide from the data, then from the server port   */
    PROTO_RAW,        /* stage 1: no framing; a reply is whatever was sent  */
    PROTO_LEN,        /* stage 3: 4-byte little-endian length, then body    */
    PROTO_JSON,       /* stage 4: 4-byte LE header length, JSON header, body */
    PROTO_FT,         /* stage 5 and 6: every message both ways is a 4-byte
                         big-endian header length, a JSON header, then
                         exactly header.size body bytes                   */
};

/* The framing of a stage's programs, from common/stages.def: by the stage
 * folder named in PROG (a recorded command line), or by a server's default
 * PORT. PROTO_GUESS when nothing matches. */
enum proto proto_for_program(const char *prog);
enum proto proto_for_port(unsigned port);

/* "raw", "len", "json", "ft", "guess". */
const char *proto_name(enum proto proto);

/* Parses "raw" | "len" | "json" | "ft" (and "guess"), or a stage as the
 * grader names it, "stage1" .. "stage6" (its framing in stages.def). Returns 0, or -1 when NAME
 * is none of them. */
int proto_parse(const char *name, enum proto *proto);

enum direction {
    DIR_UP = 0,       /* client -> server: requests */
    DIR_DOWN = 1,     /* server -> client: replies  */
};

/* "up" / "down" */
const char *direction_name(enum direction dir);

/* A byte range [start, end) of a stream made by one call. */
struct decode_span {
    uint64_t start, end;
    uint32_t number;      /* send # or recv #, 1-based per stream            */
    uint32_t message;     /* send: the request # (UP) / reply # (DOWN) the
                             bytes belong to; recv: the request # the
                             receiving side had sent when it called recv
                             (0 when it had sent none)                      */
    uint64_t time_ns;     /* when the call returned                          */
    int64_t call_size;    /* bytes the call moved to/from the program (may
                             exceed the part still in the window; for a
                             recv, less than end - start when the call cut
                             a datagram or discarded bytes: see decode.h's
                             top)                                           */
    uint64_t gap_ns;      /* time since the previous call of the same kind
                             (send/recv) on this stream; 0 for the first    */
    uint8_t call;         /* enum cap_call: send, write, recv_into->recv ... */
    uint8_t stale;        /* recv only: 1 when flagged STALE                 */
    uint8_t cut;          /* recv only: 1 when the kernel cut the datagram
                             and did not say how long it was                */
    uint32_t stale_reply; /* recv only, when STALE: the older reply # whose
                             bytes it returned                              */
};

/* What a byte means to the protocol. */
enum frame_part {
    FRAME_NONE = 0,     /* not decoded (yet), or decoding lost its way      */
    FRAME_REQUEST,      /* UP, raw/len/json: the bytes of request #message   */
    FRAME_REPLY,        /* DOWN, raw: bytes of reply #message (stage 1)      */
    FRAME_LEN_FIELD,    /* DOWN, len: the 4-byte length; value = the length  */
    FRAME_HEADER_LEN,   /* DOWN json, both ways ft: the 4-byte header length;
                           value = it                                       */
    FRAME_HEADER_JSON,  /* the JSON header; value = total_size (json) or
                           size (ft)                                        */
    FRAME_BODY,         /* len/json/ft: body bytes; value = body length      */
    FRAME_BAD,          /* a length that cannot be right (see note)          */
};

/* "request", "reply", "len-field", "header-len", "header-json", "body", ... */
const char *frame_part_name(enum frame_part part);

/* Decoded JSON header fields (stage 4; stage 5's op, size and name);
 * HAVE_* say which were present: 1 with a usable integer, -1 present but
 * not one (1e308, 2.5, "5"), 0 absent. */
struct json_header_info {
    int have_total_size, have_stdout_size, have_exit_code, have_size;
    long long total_size, stdout_size, exit_code, size;
    char file_name[64];   /* may be cut; "" when absent (ft: "name") */
    char md5[40];         /* "" when absent */
    char op[24];          /* ft: the header's op, escaped, may be cut */
};

struct decode_frame {
    uint64_t start, end;
    enum frame_part part;
    uint32_t message;     /* the request/reply # this part belongs to
                             (1-based); ft: the frame's number on its
                             stream (one request or reply may be several
                             frames)                                        */
    long long value;      /* decoded number, see enum frame_part             */
    struct json_header_info header;   /* FRAME_HEADER_JSON only             */
    char note[120];       /* human text: "length 1234", "header 87 bytes",
                             "total_size=1234 stdout_size=1200 exit_code=0",
                             ft: the header's fields, "op=exec size=7",
                             or why it is FRAME_BAD ("1195725860 is \"GET \":
                             the peer speaks another protocol")            */
};

/* The per-direction state. Read the counters directly; use the functions
 * below for bytes and spans. */
struct stream {
    enum direction dir;
    uint64_t sent;            /* total bytes the sender's sends moved        */
    uint64_t received;        /* total bytes the receiver's recvs took off
                                 the connection (see LOST)                  */
    uint64_t lost;            /* of RECEIVED, bytes that never reached the
                                 program: datagrams cut to the buffer, TCP
                                 recv(MSG_TRUNC)                            */
    uint32_t send_calls;      /* sends seen (= number of the last send span) */
    uint32_t recv_calls;      /* recvs seen that returned bytes (the EOF, a
                                 recv that returned 0, is EOF below)        */
    uint32_t messages;        /* requests (UP) / replies (DOWN) started      */
    int sender_tapped;        /* 1 once a send event was seen                */
    int receiver_tapped;      /* 1 once a recv event was seen                */
    int eof;                  /* 1 when the receiver's recv returned 0       */
    uint64_t win_start;       /* oldest offset still kept                    */
    uint64_t window;          /* window size in bytes                        */
    int receiver_seen;        /* the receiving end made any call (tapped)    */
    int receiver_gone;        /* the receiving end closed its socket         */
    uint64_t receiver_gone_ns;  /* when (the close event's time)             */

    /* Kept spans, oldest first (each array sorted by start, spans do not
     * overlap). A few spans that end at or before win_start may linger at
     * the head (dropped in batches): skip them when drawing. */
    struct decode_span *sends;   size_t n_sends,  cap_sends;
    struct decode_span *recvs;   size_t n_recvs,  cap_recvs;
    struct decode_frame *frames; size_t n_frames, cap_frames;

    /* Internal: send spans that left the window, merged per reply, oldest
     * first (at most DECODE_MAX_HISTORY; older ones dropped). */
    struct decode_sent_range { uint64_t start, end; uint32_t message; } *history;
    size_t n_history;

    /* Internal: the captured bytes of [win_start, win_start + window), in
     * pages (slot = page number % n_slots; a page whose base is not the
     * offset's is stale); the last calls' times; the frame parser's state.
     * Do not touch. */
    struct decode_page **pages;
    size_t n_slots;
    uint64_t last_send_ns, last_recv_ns;
    struct {
        int state;
        uint64_t at;          /* offset of the next frame part to parse */
        uint64_t scan_at;     /* header: bytes before this are known    */
        uint32_t message;
        long long need;
        int lost;
    } parse;
};

#define DECODE_PAGE 4096u     /* bytes per page of captured bytes */
struct decode_page {
    uint64_t base;                          /* stream offset of bytes[0] */
    unsigned char bytes[DECODE_PAGE];
    unsigned char known[DECODE_PAGE / 8];   /* one bit per byte */
};

/* The end of the stream as far as anyone knows: max(sent, received). */
uint64_t stream_end(const struct stream *s);

/* The end of the kept window: min(stream_end, win_start + window). Offsets
 * in [stream_window_end, stream_end) were sent beyond the window (the
 * receiver lags behind) and are not kept yet. */
uint64_t stream_window_end(const struct stream *s);

/* Bytes sent but not yet received (0 unless both ends are tapped). */
uint64_t stream_pending(const struct stream *s);

/* The byte at OFFSET (0..255), or -1 when it was not captured or is outside
 * the window. */
int stream_byte(const struct stream *s, uint64_t offset);

/* The first offset in [START, END) whose byte is known, or END: the end of
 * a run of bytes not captured, found page by page. */
uint64_t stream_next_known(const struct stream *s, uint64_t start, uint64_t end);

/* Copies the known bytes of [START, START+LEN) into BUF; unknown bytes
 * become 0 and KNOWN[i] (when KNOWN is not NULL) says which were known.
 * Returns the number of known bytes. */
size_t stream_bytes(const struct stream *s, uint64_t start, size_t len,
                    unsigned char *buf, unsigned char *known);

/* The span/frame covering OFFSET, or NULL. */
const struct decode_span *stream_send_at(const struct stream *s, uint64_t offset);
const struct decode_span *stream_recv_at(const struct stream *s, uint64_t offset);
const struct decode_frame *stream_frame_at(const struct stream *s, uint64_t offset);

struct connection {
    unsigned id;                      /* 1-based, in order of first event    */
    struct cap_addr client, server;
    char client_name[64];             /* "127.0.0.1:45678"                   */
    char server_name[64];             /* "127.0.0.1:8080"                    */
    char client_prog[200];            /* tapped client's command line, or "" (the tap keeps 199 bytes) */
    char server_prog[200];
    uint32_t client_pid, server_pid;  /* 0 when that end was not tapped      */
    int socktype;                     /* SOCK_STREAM / SOCK_DGRAM            */
    enum proto proto;                 /* the framing in use; GUESS until a
                                         stage name, 5 downstream bytes or
                                         the port decide it                 */
    int proto_guessed;                /* 1 when PROTO came from a guess      */
    int client_closed, server_closed;
    uint64_t client_closed_ns, server_closed_ns;   /* when (0: not yet)  */
    uint64_t first_ns, last_ns;
    struct stream up, down;
    /* Internal: request/reply bookkeeping for STALE. */
    uint32_t client_requests;         /* send bursts made by the client      */
    int client_last_was_send;
    uint32_t server_requests_seen;    /* recv bursts made by the server      */
    int server_last_was_recv;
    /* 1 when the decoder freed this connection's bytes and spans to bound
     * memory (see DECODE_MAX_FULL_CONNS): only the totals, the STALE flags
     * already raised and the names are left, and later events only count. */
    int compact;
    struct connection *hash_next;     /* internal: same address-pair bucket  */
};

/* 1 when STALE cannot be told on C: raw framing (stage 1) and the server
 * not tapped, so nothing numbers the replies. Readers say so ("STALE
 * needs both ends tapped") rather than let "0 STALE" read as "no garble". */
int connection_stale_blind(const struct connection *c);

/* One STALE flag. */
struct decode_stale {
    unsigned conn_id;
    uint32_t recv_no;     /* the client's recv # on the DOWN stream */
    uint32_t request_no;  /* the request it was waiting for         */
    uint32_t reply_no;    /* the older reply whose bytes it got     */
    uint64_t time_ns;
    char text[96];        /* "STALE: recv #7 returned bytes of reply #3"
                             (English, for --dump; the screen words its
                             own from the numbers above)           */
};

struct decode_options {
    enum proto proto;     /* PROTO_GUESS or forced by --proto            */
    size_t window;        /* bytes kept per stream; 0: DECODE_DEFAULT_WINDOW */
};

#define DECODE_DEFAULT_WINDOW (64u * 1024u)
#define DECODE_MAX_CALL (1LL << 40)      /* bytes one call can move      */

/* 1 when EV's numbers could come from a real call: no call moves more than
 * DECODE_MAX_CALL bytes or captures more than it moved; 0 when not (the
 * decoder counts such an event as invalid, the pcap writer refuses it). */
int decode_event_possible(const struct cap_event *ev);
#define DECODE_MAX_STREAM (1ULL << 62)   /* bytes one stream can carry   */
#define DECODE_MAX_STALES 1024   /* older flags are dropped (count stays) */
#define DECODE_MAX_HISTORY 256   /* reply ranges remembered past the window */
/* Connections kept with their bytes and spans. Past this, the oldest one
 * that has closed (either end) is made compact (totals only); when none
 * has, the oldest. 20,000 short connections then cost their totals only. */
#define DECODE_MAX_FULL_CONNS 64

/* Totals over every connection, for the status line. */
struct decode_status {
    uint64_t events;
    uint64_t sends, recvs;        /* calls that moved bytes */
    uint64_t bytes_sent, bytes_received;
    uint64_t pending;             /* sum of stream_pending */
    uint64_t stale_count;         /* all STALE flags ever raised */
};

struct decoder {
    struct decode_options opt;
    struct connection **conns;  size_t n_conns, cap_conns;
    /* Internal: connections by address pair (chained, newest first), and
     * the ones still kept in full, oldest first. */
    struct connection **buckets; size_t n_buckets;
    struct connection **full;   size_t n_full;
    uint64_t compacted;         /* connections made compact so far */
    struct decode_stale *stales; size_t n_stales;   /* last DECODE_MAX_STALES */
    uint64_t stale_count;
    uint64_t events;
    uint64_t first_ns, last_ns;
    uint64_t ignored;           /* events that could not be placed (no
                                   addresses, unknown kind) */
    uint64_t invalid;           /* events with impossible values (see top) */
};

/* OPT may be NULL (guess, default window). Returns 0, or -1 (ENOMEM). */
int decoder_init(struct decoder *d, const struct decode_options *opt);

/* Feeds one event and its data (DATA_LEN bytes). Returns 0, or -1 with
 * errno ENOMEM. Events that do not fit the model are counted in IGNORED. */
int decoder_feed(struct decoder *d, const struct cap_event *ev,
                 const unsigned char *data);

/* Reads every event of PATH into D. Returns 0, or -1 with ERR filled. */
int decoder_load_file(struct decoder *d, const char *path,
                      char *err, size_t errlen);

/* The same for a capture held in memory (LEN bytes at BUF): the entry point
 * for a fuzzing harness of the decoder, which then may hand D to
 * export_dump_decoder (export.h) to exercise the readers of the model:
 *
 *   struct decoder d; char err[256];
 *   decoder_init(&d, NULL);
 *   decoder_load_buffer(&d, data, size, err, sizeof err);  // 0 or -1
 *   export_dump_decoder(&d, devnull, 1);
 *   decoder_free(&d);
 *
 * Returns 0, or -1 with ERR filled ("not a nianbao capture ...", "ends in
 * the middle of an event", "out of memory"). */
int decoder_load_buffer(struct decoder *d, const void *buf, size_t len,
                        char *err, size_t errlen);

void decoder_status(const struct decoder *d, struct decode_status *st);

/* The most recent STALE flag, or NULL. */
const struct decode_stale *decoder_last_stale(const struct decoder *d);

void decoder_free(struct decoder *d);

#endif
