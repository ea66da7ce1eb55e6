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
 *   - a reply that has not started after BUSY_NOTICE_S seconds gets one
 *     line saying the server may be serving another client (these servers
 *     serve one at a time, as the document's do), and the wait goes on, up
 *     to --wait seconds when that is set;
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

#define BUSY_NOTICE_S 3      /* NIANBAO_BUSY_NOTICE=SECS overrides it (tests) */

struct session_config {
    const char *prog;         /* "client": prefix of its messages          */
    const char *host, *port;
    unsigned long wait_s;     /* give up when no reply has started after
                                 this long (0: wait as long as it takes)   */
    unsigned long timeout_s;  /* SO_RCVTIMEO: a reply that has started and
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

/* Runs the whole client: connect, then one command per line of stdin until
 * its end. Returns the process exit status: 0, or 1 when a command could not
 * be sent or its reply not read (a refused over-long command sets 1 and goes
 * on). */
int session_run(const struct session_config *cfg, session_reply_reader *read_reply,
                void *ctx);

#endif
