/* session.h - the clients' skeleton, apart from how they read a reply.
 *
 * Every stage's client does the same around its lesson: connect, show the
 * document's prompt, read one command per line, send it, wait for the
 * reply to start, and hand the socket to the stage's own reply reader -
 * the recv calls that are the lesson stay in the stage's client.c. What
 * the skeleton adds, the same in every stage:
 *   - a server that closed an idle connection (the servers' --idle) is
 *     found before the next command is sent, reconnected to once, and
 *     the user is told;
 *   - a reply that has not started after BUSY_NOTICE_MS gets one line
 *     saying the server may be serving another client (these servers
 *     serve one at a time, as the document's do), and the wait goes on, up
 *     to --wait when that is set;
 *   - a server that closed the connection is reported in one wording:
 *     "the server closed the connection";
 *   - on a terminal, the prompt starts on a line of its own (after output
 *     without a final newline, and after Ctrl-D).
 * Messages go to the FILE the program passes (stderr): the program decides
 * what the user sees; nothing here exits. */
#ifndef NIANBAO_SESSION_H
#define NIANBAO_SESSION_H

#include <stddef.h>
#include <stdio.h>

/* The busy notice comes after this long; the environment variable
 * NIANBAO_BUSY_NOTICE (a duration: "3", "0.2", "200ms") moves it: a test
 * that waits for the notice makes it short, a run under valgrind, where a
 * server takes seconds to answer anything, puts it out of the way. */
#define BUSY_NOTICE_MS DURATION_S(3)
#define BUSY_NOTICE_ENV "NIANBAO_BUSY_NOTICE"

struct session_config {
    const char *prog;         /* "client": prefix of its messages          */
    const char *host, *port;
    unsigned long wait_ms;    /* give up when no reply has started after
                                 this long (0: wait as long as it takes)   */
    unsigned long timeout_ms; /* SO_RCVTIMEO: a reply that has started and
                                 then stalls this long is given up (0: never) */
    size_t command_max;       /* longer commands are refused: the server
                                 reads a request with one recv(1024)       */
    const char *busy_hint;    /* more words for the busy notice, or ""     */
    FILE *diag;               /* where messages go                          */
};

/* A stage's reply reader: reads one reply from FD and prints it. Sets
 * *LAST_BYTE to the last byte it wrote to stdout (-1 when none). Returns 0,
 * or -1 after printing why it cannot go on. */
typedef int session_reply_reader(int fd, void *ctx, int *last_byte);

/* The pieces of session_run, for a client with its own loop (stage 5):
 * session_connect checks NIANBAO_BUSY_NOTICE, connects and sets --timeout
 * as SO_RCVTIMEO (returns the socket, or -1 after printing why: a bad
 * NIANBAO_BUSY_NOTICE is refused there, in one line, before any
 * connection); session_server_closed says 1 when
 * the server has closed FD (a pending EOF or reset and no bytes before
 * it), looking without waiting or taking bytes; session_wait_for_reply
 * waits for the reply's first byte with the busy notice and --wait
 * (returns 1: bytes are there, 0: the server closed instead, -1: --wait
 * passed, said on cfg->diag, -2: Ctrl-C came while interrupt_catch(1) of
 * interrupt.h was on, nothing said); session_addr writes "HOST:PORT"
 * ("[HOST]:PORT" for an IPv6 address), as the client's messages name the
 * server. */
int session_connect(const struct session_config *cfg);
int session_server_closed(int fd);
int session_wait_for_reply(const struct session_config *cfg, int fd);
void session_addr(const struct session_config *cfg, char *buf, size_t buflen);

/* Runs the whole client: connect, then one command per line of stdin until
 * its end. Returns the process exit status: 0, or 1 when a command could not
 * be sent or its reply not read (a refused over-long command sets 1 and goes
 * on). */
int session_run(const struct session_config *cfg, session_reply_reader *read_reply,
                void *ctx);

#endif
