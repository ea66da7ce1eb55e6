/* conc.h - what stage 6's four servers share around their accept loops.
 *
 * stage6_concurrent/iterative.c, fork.c, thread.c and poll.c differ in one
 * thing: how they serve many connections. Everything else is here, once:
 * the options, the served root, the listening socket, the stop signal,
 * the count of connections against --max-clients, and the refusal past it;
 * what is said on a connection is common/ftconn (the same handler in all
 * four).
 *
 * The stop signal. Stages 1 to 5 end at once on SIGINT/SIGTERM (run.h's
 * server_signals_install: kill the commands, _exit). Stage 6 stops
 * gracefully: it stops accepting, lets the requests under way finish
 * within --grace, then exits 0. A signal handler can do almost
 * nothing safely, so the signals are blocked and read from a signalfd,
 * which an accept loop polls beside its listening socket. SIGINT and
 * SIGTERM, and SIGCHLD for the fork model, are blocked in every thread
 * (and so in every child); the commands get them back (run.c's
 * exec_shell).
 *
 * A server that has decided to stop tells its connections through a pipe
 * nobody writes to: closing its write end makes the read end readable (end
 * of file) for every thread and every child polling it at once.
 *
 * Logging goes to the FILE in serve_config (stderr); nothing here exits. */
#ifndef NIANBAO_CONC_H
#define NIANBAO_CONC_H

#include <pthread.h>
#include <stdio.h>

#include "cli.h"
#include "fsroot.h"
#include "ftconn.h"
#include "serve.h"

#define CONC_DEFAULT_PORT STAGE6_PORT   /* common/stages.def */
#define CONC_BACKLOG 1024
#define CONC_ACCEPT_PAUSE_MS 100  /* the listener's rest after an accept error */

struct conc_server {
    const char *model;            /* "fork": names the program in its log  */
    struct serve_config serve;
    struct ftconn_config conn;
    const char *root_path;
    struct fsroot root;
    unsigned long timeout_ms, max_output, max_command, max_upload;
    unsigned long idle_ms, frame_ms, send_ms;
    unsigned long max_clients;    /* 0: no such option (iterative)          */
    unsigned long grace_ms;
    int listener;                 /* non-blocking                           */
    int signal_fd;                /* SIGINT, SIGTERM (and SIGCHLD)          */
    int stop_pipe[2];             /* close [1]: every reader of [0] stops   */
    int accept_errno;             /* the accept error going on (0: none)    */
    long long accept_paused_until;/* after an accept error, not before then
                                     (CLOCK_MONOTONIC ms; see conc_accept)  */
    int stopping;
    int children;                 /* its clients are child processes (fork) */
    pthread_mutex_t lock;         /* active, for the thread model           */
    pthread_cond_t ended;
    unsigned long active;         /* connections being served now           */
    unsigned long served;         /* connections served in all             */
};

/* Sets the defaults; MAX_CLIENTS 0 for a model without --max-clients. */
void conc_init(struct conc_server *s, const char *model, unsigned long max_clients);

/* Parses the options every model shares (SUMMARY: the --help line). */
void conc_parse(struct conc_server *s, const char *summary, int argc, char **argv,
                struct cli_outcome *out);

/* Checks NIANBAO_DIGEST_SETTLE (ftserve.h), opens the root, blocks the stop signals (and SIGCHLD when WANT_SIGCHLD)
 * into a signalfd, opens the stop pipe, listens (accept queue of
 * CONC_BACKLOG), announces "listening on ADDR:PORT". Call it before any
 * thread is created. Returns 0, or -1 with ERR filled. */
int conc_start(struct conc_server *s, int want_sigchld, char *err, size_t errlen);

/* Reaps every child process that has ended (one SIGCHLD may stand for
 * several), each a client ended (conc_client_ended). */
void conc_reap_children(struct conc_server *s);

enum conc_event { CONC_CLIENT, CONC_STOP, CONC_CHILD, CONC_TIMEOUT };

/* Waits at most TIMEOUT_MS (-1: forever) for a client to accept (not
 * after the stop, nor while the listener is paused: see conc_accept) or a
 * signal. SIGINT/SIGTERM set s->stopping and close the listening socket:
 * CONC_STOP. */
enum conc_event conc_wait(struct conc_server *s, int timeout_ms);

/* Reads one signal from the signalfd (an event loop calls it when the
 * signalfd is readable; conc_wait does too): CONC_STOP (as conc_wait),
 * CONC_CHILD, or CONC_TIMEOUT when there was none. */
enum conc_event conc_signal(struct conc_server *s);

/* Accepts one client into CONN. Returns 1, 0 when there was none after all
 * (it gave up), or -1 on an accept error (out of descriptors: EMFILE, out
 * of memory): the listener is then paused for CONC_ACCEPT_PAUSE_MS, until
 * s->accept_paused_until. The clients connecting meanwhile wait in the
 * accept queue; conc_wait leaves the listener out until then, an event
 * loop stops watching it and sets a timer. The error is logged once, at
 * the first of a run of tries that fail the same way, and "accepting
 * clients again" at the first that succeeds. */
int conc_accept(struct conc_server *s, struct serve_conn *conn);

/* 1 when --max-clients connections are being served: refuse the next (the
 * fork model reaps the children that have ended first). */
int conc_full(struct conc_server *s);

/* Tells CONN's client the server is full ("busy"), logs it, closes it. */
void conc_refuse(struct conc_server *s, struct serve_conn *conn);

/* Counts a connection in and out (thread-safe); conc_client_ended wakes
 * conc_wait_idle. */
void conc_client_started(struct conc_server *s);
void conc_client_ended(struct conc_server *s);

/* After the stop: tells every connection that polls the stop pipe (closes
 * its write end). Returns the moment to give up waiting for them: the
 * grace period and one second more (CLOCK_MONOTONIC ms). */
long long conc_stop_connections(struct conc_server *s);

/* Waits until no connection is left or DEADLINE_MS. Returns how many are
 * left. (The fork model reaps its children instead: see fork.c.) */
unsigned long conc_wait_ended(struct conc_server *s, long long deadline_ms);

/* Logs how the server ended, kills any command left, frees. Returns the
 * exit status: 0. */
int conc_finish(struct conc_server *s);

/* Logs "MODEL: " and the formatted text. */
void conc_log(const struct conc_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
