/* decode.h - turn capture events into annotated byte streams.
 *
 * Data apart from drawing: this library knows nothing about terminals. The UI
 * (ui.c), --dump, --html and the side-by-side mode all read the same model.
 *
 * The model. Events are matched into connections by address pair: the
 * client's (local A, peer B) is the server's (local B, peer A). Each
 * connection has two streams: UP (client -> server: the requests) and DOWN
 * (server -> client: the replies). A stream (stream.h) keeps the bytes, the
 * calls that cut them and what the protocol says they are (framing.h).
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
 * Nothing here prints or exits. */
#ifndef NIANBAO_DECODE_H
#define NIANBAO_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "framing.h"
#include "stream.h"

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
