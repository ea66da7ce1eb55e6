/* ftconn.h - stage 6's per-connection handler: one client's conversation
 * in the stage 5 protocol, as a state machine over a non-blocking socket.
 *
 * Stage 6 serves the same protocol four ways (iterative, fork, thread,
 * poll); what is said on a connection must be the same code in all four,
 * so a diff between two models shows only how connections are served (as
 * UNP's tcpserv01 and tcpserv02 share str_echo). A blocking handler cannot
 * be driven by an event loop, but a state machine can be driven by a
 * blocking loop: the poll model calls ftconn_step from its epoll loop for
 * thousands of connections; the other three call ftconn_serve_blocking,
 * which polls one connection and steps it until the conversation is over.
 *
 * What it does on its own, in every model:
 *   - requests answered in order (a client may send several at once);
 *     exec streams the command's output in "output" frames as it comes,
 *     get sends the file with sendfile, put writes beneath the root, as
 *     stage 5 (common/ftserve); files are hashed in a thread of their own
 *     and nothing waits for it: the state FTC_HASH watches a descriptor
 *     that the hash makes readable when it is where it must be (a
 *     resumed get of a 4 GiB file with a wrong prefix_sha256 would
 *     otherwise stall every client of the poll model while it is hashed);
 *   - deadlines: a client silent for --idle between requests, or
 *     a frame that does not arrive within --frame-timeout (its header from
 *     its first byte; its body with no pause that long, as nginx's
 *     client_header_timeout and client_body_timeout), gets an error
 *     "timeout" and is closed; a client that stops reading its reply for
 *     --send-timeout is dropped;
 *   - a client that closes or resets the connection while its command
 *     runs (Ctrl-C, killed) has the command's process group killed at
 *     once: the socket's POLLRDHUP is watched during an exec;
 *   - backpressure: a command's pipes are read only while the reply waiting
 *     for the client is small, so a slow reader slows only its own command,
 *     and memory stays bounded;
 *   - a graceful stop (ftconn_stop): no new request; the one running
 *     finishes, or is cut at the grace deadline (a command is killed
 *     there, and its client gets a note and the "exit" frame saying so).
 * Logging goes to the serve_config's log, one line per event. Nothing here
 * exits. */
#ifndef NIANBAO_FTCONN_H
#define NIANBAO_FTCONN_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "frame.h"
#include "fsroot.h"
#include "ft.h"
#include "ftserve.h"
#include "run.h"
#include "serve.h"

struct ftconn_config {
    const struct fsroot *root;
    unsigned long timeout_ms;     /* a command is killed after this long    */
    uint64_t max_output;          /* output kept of one command             */
    uint64_t max_command;         /* bytes of one exec body                 */
    uint64_t max_upload;          /* bytes of one put                       */
    unsigned long idle_ms;        /* silence allowed between requests (0: any) */
    unsigned long frame_ms;       /* a frame's header / a body's pause      */
    unsigned long send_ms;        /* a reply not read for this long: drop   */
    struct ft_round *round;       /* an event loop's round of files (poll),
                                     or NULL: see ftconn_waiting_at_round */
};

enum ftconn_state {
    FTC_REQUEST,      /* reading the next request (and an exec's command)   */
    FTC_EXEC,         /* a command runs: its output goes out as it comes    */
    FTC_GET,          /* a file's body goes out                             */
    FTC_PUT,          /* an upload's "data" and "end" frames come in        */
    FTC_HASH,         /* a get's or a put's hash must get somewhere first
                         (its prefix, or the end): its thread wakes us     */
    FTC_CLOSING,      /* the last words (an error) go out, then close       */
    FTC_DONE,         /* over: the caller closes the socket                 */
};

struct ftconn {
    struct serve_conn conn;       /* fd (non-blocking), peer, log           */
    const struct ftconn_config *cfg;
    enum ftconn_state state;
    struct frame_reader reader;
    unsigned char *pending;       /* bytes read but not yet used: the next  */
    size_t pending_len;           /* request, sent before this one ended    */
    unsigned char *out;           /* frames waiting to be sent              */
    size_t out_len, out_off, out_cap;
    size_t head_at;               /* where the last frame queued begins     */
    /* the request being read */
    struct ft_msg req;
    int req_ok;                   /* its header passed ft_parse             */
    unsigned char *command;       /* an exec's body                         */
    size_t command_len;
    /* the request being answered */
    struct command cmd;
    int cmd_started;
    unsigned cmd_generation;      /* +1 for every command and every hashed
                                     file: their fds are new                */
    struct digest out_digest;     /* SHA-256 of every output body sent      */
    uint64_t stdout_sent, stderr_sent;
    struct ft_download dl;
    uint64_t dl_at, dl_end;       /* next byte of the file to send, its end */
    int dl_open;
    struct ft_upload up;
    int up_open, up_phase;        /* 0: "data" expected, 1: in its body,
                                     2: "end" expected                      */
    struct ft_error up_error;     /* a write failed: said after "end"       */
    int up_failed;
    char up_claimed[DIGEST_HEX_MAX]; /* the "end" frame's sha256           */
    /* FTC_HASH: what waits for the hash, and the descriptor it wakes */
    enum { HASH_GET_PREFIX, HASH_GET_END, HASH_PUT_PREFIX, HASH_PUT_END } hash_then;
    int hash_fd;
    char *name;                   /* the get/put name, for replies and logs */
    char shown[96];               /* the request, escaped, for the log      */
    unsigned long requests;       /* answered so far                        */
    int waiting_at_round;         /* the next request was sent before this
                                     round of the event loop began         */
    int req_waited;               /* the request being read was             */
    int drained;                  /* this step's recv emptied the socket    */
    /* deadlines, CLOCK_MONOTONIC ms */
    long long idle_since;         /* last request answered (or connected)   */
    long long frame_since;        /* first byte of the frame being read     */
    long long body_since;         /* last body bytes of that frame          */
    long long send_since;         /* last progress sending                  */
    int stopping;
    long long stop_deadline;      /* the grace period's end                 */
    int grace_killed;             /* its command was killed at that end     */
};

/* What the connection waits for now; the driver watches these, then calls
 * ftconn_step. FDS: the command's stdout, stderr and pidfd, and the wake
 * descriptor of a file's hash (FTC_HASH), -1 when not wanted (GENERATION
 * changes when they belong to a new command or a new file).
 * DEADLINE_MS: call ftconn_step by then even if nothing happened (-1:
 * no deadline). */
#define FTCONN_WAIT_FDS 4
struct ftconn_wait {
    short sock_events;            /* POLLIN / POLLOUT / POLLRDHUP, or 0     */
    int fds[FTCONN_WAIT_FDS];
    unsigned generation;
    long long deadline_ms;
};

/* Takes over CONN (its fd is made non-blocking, TCP_NODELAY). When the
 * socket cannot be set so, logs why, and the conversation is over: the
 * first ftconn_step returns 0. */
void ftconn_init(struct ftconn *c, const struct ftconn_config *cfg,
                 const struct serve_conn *conn);

/* Does everything that can be done now without blocking: sends, reads,
 * starts and pumps commands, checks deadlines. Returns 1 while the
 * conversation goes on, 0 when it is over (the caller then calls
 * ftconn_free and closes the socket with serve_close). */
int ftconn_step(struct ftconn *c);

void ftconn_wants(const struct ftconn *c, struct ftconn_wait *w);

/* The hash's wake descriptor while the connection holds it open (wanted
 * or not), else -1: an event loop that watched it knows by this whether
 * it is still open. */
int ftconn_hash_fd(const struct ftconn *c);

/* For an event loop with a round of files (cfg->round): C's socket was
 * reported readable when this round began. If no request is under way,
 * the next one began before the round did, and a get of it may be served
 * from the round's files (ft_download_start_round). */
void ftconn_waiting_at_round(struct ftconn *c);

/* The socket reported an error or a hang-up while nothing was to be read
 * (the client reset the connection): the conversation is over. */
void ftconn_hangup(struct ftconn *c);

/* Graceful stop: no new request is read; the one under way finishes, or
 * is cut at GRACE_DEADLINE_MS. Call ftconn_step after it. */
void ftconn_stop(struct ftconn *c, long long grace_deadline_ms);

/* Frees what the connection holds (kills its command); not the socket. */
void ftconn_free(struct ftconn *c);

/* The blocking driver (iterative, fork, thread): steps C until the
 * conversation is over, polling its socket and its command's fds. STOP_FD
 * becoming readable (or hung up) means stop gracefully, with GRACE_MS
 * for the request under way; -1: no stop fd. */
void ftconn_serve_blocking(struct ftconn *c, int stop_fd, unsigned long grace_ms);

/* The "busy" refusal for a client past the connection limit: the error
 * frame, sent without blocking, then the write side shut so it arrives
 * before the close. Returns 0, or -1 (errno). */
int ftconn_refuse_busy(int fd, unsigned long max_clients);

long long ftconn_now_ms(void);

#endif
