/* serve.h - how a server serves its connections, apart from what it says.
 *
 * As in UNP (tcpservNN.c are accept loops around one str_echo): a stage's
 * server.c keeps its banner, its options and its per-connection handler,
 * with the send/recv calls that are its lesson; this module holds the
 * skeleton around them: standard descriptors, signals, listen, the
 * "listening on ADDR:PORT" announcement, and the accept loop.
 *
 * Stages 1 to 5 serve one client at a time, forever, as the document's
 * servers do (serve_forever). Stage 6 writes its own accept loops - fork,
 * threads, epoll: that is its lesson - from serve_start and serve_accept.
 *
 * Logging goes to the FILE the program passes in (stderr for the lab's
 * servers): the program decides where its log goes; nothing here exits. */
#ifndef NIANBAO_SERVE_H
#define NIANBAO_SERVE_H

#include <stdio.h>

#include "net.h"
#include "sandbox.h"

struct serve_config {
    const char *prog;         /* "server": the prefix of its own log lines  */
    const char *host;         /* address to listen on ("127.0.0.1")        */
    const char *port;         /* "0" lets the kernel choose                */
    unsigned long send_timeout_ms; /* SO_SNDTIMEO on each connection: a client
                                 that stops reading is dropped (0: never)   */
    unsigned long idle_ms;    /* SO_RCVTIMEO on each connection: a client
                                 that sends nothing for this long between
                                 requests is closed (0: never)              */
    int backlog;              /* accept queue; 0: the document's 5         */
    FILE *log;                /* where log lines go                        */
    int log_held;             /* 1: serve_log leaves its lines in LOG's
                                 buffer, the caller flushes it (stage 6's
                                 poll model, before each wait); 0: each
                                 line is flushed at once                    */
    struct sandbox_config sandbox; /* --sandbox, --unsafe-no-sandbox: options
                                 from SANDBOX_OPTIONS(&cfg.serve.sandbox)   */
};

struct serve_conn {
    int fd;
    char peer[NET_ADDRSTRLEN];     /* "127.0.0.1:45678" */
    const struct serve_config *cfg;
};

/* What is said on one connection. Returns when the conversation is over;
 * the skeleton closes the socket. */
typedef void serve_handler(struct serve_conn *conn, void *ctx);

/* Everything before the first accept: makes sure descriptors 0, 1 and 2
 * are open (a server started with them closed would otherwise hand fd 2,
 * its log, to the first client's socket), installs the stop handler
 * (server_signals_install), makes the sandbox when asked
 * (run_sandbox_start: it is tried once, and its failure is this one's),
 * listens, then "listening on ADDR:PORT". An address reachable from other
 * hosts is refused without --sandbox (the error says to add it, or
 * --unsafe-no-sandbox), and logged as a warning with --unsafe-no-sandbox.
 * Returns the listening socket, or -1 with ERR filled. */
int serve_start(const struct serve_config *cfg, char *err, size_t errlen);

/* Accepts the next client (retrying EINTR and a connection aborted before
 * it was accepted), sets the configured timeouts, fills CONN and logs
 * "client ADDR connected". Returns 0, or -1 with ERR filled (EMFILE and the
 * like: the caller decides whether to go on; a timeout the socket refused:
 * that client is closed, unserved). */
int serve_accept(int listener, const struct serve_config *cfg,
                 struct serve_conn *conn, char *err, size_t errlen);

/* Closes CONN's socket, then logs "client ADDR disconnected" (so a test
 * that has read the line knows the peer has been sent the close). */
void serve_close(struct serve_conn *conn);

/* The iterative server: serve_start, then forever serve_accept, HANDLER,
 * serve_close. Returns only when it cannot start (1, the reason logged as
 * "PROG: ..."); SIGINT/SIGTERM end the process with status 0 through the
 * stop handler. */
int serve_forever(const struct serve_config *cfg, serve_handler *handler, void *ctx);

/* Logs "client ADDR: " and the formatted text, one line. */
void serve_log(const struct serve_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs why a reply could not be sent (ERRNO_VALUE from the failed send):
 * the client stopped reading (SO_SNDTIMEO), went away, or another error. */
void serve_log_send_error(const struct serve_conn *conn, int errno_value);

/* Logs that the client sent nothing for --idle and is closed. */
void serve_log_idle(const struct serve_conn *conn);

#endif
