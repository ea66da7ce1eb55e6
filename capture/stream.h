/* stream.h - one direction of a connection: its bytes, and the calls and
 * frames that cut them.
 *
 * A stream is addressed by absolute byte offsets from the start of the
 * connection (uint64_t), as TCP numbers them. On a stream the decoder keeps:
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
 * The stream knows no protocol: the decoder (decode.h) feeds it the calls,
 * the framing parsers (framing.h) add its frames. Nothing here prints or
 * exits. */
#ifndef NIANBAO_STREAM_H
#define NIANBAO_STREAM_H

#include <stddef.h>
#include <stdint.h>

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
                             a datagram or discarded bytes: see the top of
                             this file)                                           */
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
        int state;            /* enum parse_state (framing.h)          */
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

#define DECODE_MAX_HISTORY 256   /* reply ranges remembered past the window */

/* For the decoder's own files (decode.c, framing.c); readers of the model
 * use the functions above. */

/* An empty stream of direction DIR keeping WINDOW bytes. */
void stream_init(struct stream *s, enum direction dir, size_t window);

/* Frees S's spans, pages and history and zeroes it. */
void stream_free(struct stream *s);

/* Frees S's bytes and spans, keeping its totals. */
void stream_compact(struct stream *s);

/* A new zeroed span or frame at the end of S's array. Returns it, or NULL
 * (ENOMEM). Pointers into the array are valid until the next push. */
struct decode_span *stream_push_send(struct stream *s);
struct decode_span *stream_push_recv(struct stream *s);
struct decode_frame *stream_push_frame(struct stream *s);

/* Moves the window after SENT or RECEIVED grew, by an event of time
 * NOW_NS (see stream.c). Returns 0, or -1 (ENOMEM). */
int stream_move_window(struct stream *s, uint64_t now_ns);

/* Stores the captured bytes DATA[0..LEN) found at stream offset START (the
 * part inside the window). Returns 0, or -1 (ENOMEM). */
int stream_store_bytes(struct stream *s, uint64_t start, const unsigned char *data,
                       size_t len);

#endif
