/* play.h - one scenario being played: the state of a run, shared by the
 * engine's files, and what each of them offers the others.
 *
 *   verdict.c       the verdict being written: steps, the diagnosis, the
 *                   failing byte; bytes shown as quoted text
 *   watch.c         the program under test watched: waiting for a
 *                   condition, and the rules that give up on it (stuck,
 *                   spinning, the last guard)
 *   trace.c         the capture of the grader's side of every connection
 *   conn.c          the grader's end of a connection: what came, pieces
 *                   sent and read
 *   client_mode.c   the grader as the server: the script played
 *   judge_client.c  ... and the client's output, exit and stderr judged
 *   server_mode.c   the grader as the clients: the script played
 *   judge_server.c  ... and what a server's state and replies say
 *   engine.c        one run: the program started, a mode played, all freed
 *
 * The protocols (proto.h) check a server's replies and explain a wrong
 * length field with what verdict.c, watch.c, conn.c and judge_server.c
 * offer.
 *
 * Nothing here prints or exits. */
#ifndef GRADER_PLAY_H
#define GRADER_PLAY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "child.h"
#include "engine.h"
#include "net.h"
#include "peek.h"
#include "proto.h"

#define SAMPLE_MS 50          /* between looks at the program in /proc      */
#define PACE_MS 20            /* between pieces when sock_diag is missing   */
#define SHOW 72               /* bytes shown in a step, escaped             */

struct conn {
    int fd;                   /* -1: closed or never opened                 */
    int opened;
    struct cap_addr local, peer;
    uint64_t sent;            /* our bytes sent on it                       */
    struct bytes in;          /* every byte received on it                  */
    size_t in_used;           /* bytes of IN already accounted for          */
    int eof;                  /* the program closed its side (or reset)     */
    int reset;
    unsigned capture_id;      /* 1-based, in the order the capture saw it   */
    int64_t last_arrived;
    uint32_t last_queued;
    int64_t piece_sent_ms;
    size_t up_at;             /* server mode: next byte of its up stream    */
};

struct run {
    int port_lost;             /* {port} was taken before the server bound it */
    const struct grade_config *cfg;
    const struct scenario *sc;
    const struct script *s;
    const struct proto_ops *ops;  /* the protocol S speaks                  */
    struct verdict *v;
    struct child child;
    int child_started;
    char **argv;              /* with {port} and {host} replaced            */
    int listen_fd;
    char host[NET_ADDRSTRLEN], port[8];
    struct conn conns[SCRIPT_MAX_CONNS];
    struct peek peek;
    int paced_by_time;
    int trace_fd;
    char trace_path[PATH_MAX];
    unsigned captured_conns;
    uint64_t progress;
    /* pieces sent but not yet told in a step (client mode) */
    size_t pieces_from;
    size_t *pieces;
    size_t n_pieces, cap_pieces;
    size_t down_at;
    int send_failed;          /* the program went away while we sent        */
    int told_send_failed;
    /* how the last wait ended */
    enum wait_end last_wait;
    double spin_cpu;
    int quiet_ms;             /* blocked with no progress this long: stuck   */
    int gave_up;              /* the last wait found it stuck or spinning:
                                 the next ones confirm it sooner            */
    int confirmed;            /* the last wait ended so: a confirmation     */
    int finished;             /* the program was stopped: what follows holds */
    int ended_itself;         /* it had exited on its own before that        */
    int end_status;
    const char *stopped;      /* why the script could not go on, or NULL    */
    int64_t started_ms;       /* when the scenario began                    */
    int64_t scenario_ms;      /* its most (SCENARIO_S, --scenario-limit)    */
    int over_time;            /* a wait ended because the scenario ran its
                                 most (scenario_ms)                          */
};

/* ---- verdict.c ------------------------------------------------------------- */

/* BYTES as quoted, escaped text of at most about MAX input bytes. */
char *shown(char *buf, size_t buflen, const void *bytes, size_t len, size_t max);
const char *plural(size_t n, const char *one, const char *many);
/* Adds a numbered step to the verdict (the first and last ones are kept). */
void step(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the diagnosis, unless one is set: the first, most specific, wins. */
void diagnose(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The failing byte (the first one set stays): DOWN 1 server -> client,
 * OFFSET in the stream of C. */
void fail_at(struct run *r, int down, uint64_t offset, const struct conn *c);
/* "python3 client.py {port}" as given, one string. */
void command_line(char *const argv[], char *buf, size_t len);
int contains(const unsigned char *hay, size_t hay_len, const char *needle);
/* 1 when the 4 bytes look like text (printable ASCII, tabs, line ends);
 * then TEXT holds them escaped. */
int text_bytes(const unsigned char lb[4], char *text, size_t len);
/* The number of UTF-8 characters in BYTES (continuation bytes not counted). */
size_t utf8_chars(const unsigned char *p, size_t len);

/* ---- watch.c --------------------------------------------------------------- */

typedef int (*wait_cond)(struct run *r, void *arg);

int64_t now_ms(void);
void sleep_us(unsigned us);
/* Starts the scenario's clock and its rules (SCENARIO_S: 0, the default). */
void watch_start(struct run *r, unsigned long scenario_s);
/* Waits until COND holds, or the program can provably not make it hold
 * (see engine.h); counts how the wait ended in the verdict. */
enum wait_end wait_for(struct run *r, wait_cond cond, void *arg);
/* The same for a program that has just been started, to connect or listen. */
enum wait_end wait_started(struct run *r, wait_cond cond, void *arg);
/* Waits until the program has settled (what it does with a close is done). */
void wait_settled(struct run *r);
/* The program as it stands now, in words: "exited with status 1". */
void describe_program(struct run *r, enum wait_end how, char *buf, size_t len);
/* Stops the program, after LET_END gave it the chance to end by itself. */
void finish_program(struct run *r, int let_end);

/* ---- trace.c --------------------------------------------------------------- */

int trace_start(struct run *r, char *err, size_t errlen);
void trace(struct run *r, struct conn *c, enum cap_kind kind, enum cap_call call,
           int64_t result, int err_no, const void *data, size_t len);
void conn_learn_addresses(struct conn *c);
void trace_open_event(struct run *r, struct conn *c, enum cap_kind kind, enum cap_call call);
void trace_finish(struct run *r);

/* ---- conn.c ---------------------------------------------------------------- */

/* Reads what is there on C without blocking. */
void conn_pull(struct run *r, struct conn *c);

struct want_bytes {
    struct conn *c;
    size_t need;              /* bytes of C->in beyond in_used */
    int exactly;              /* read no more than NEED */
};

/* Conditions for wait_for: ARG is a struct want_bytes (cond_have_bytes), a
 * struct conn (the others). */
int cond_have_bytes(struct run *r, void *arg);
int cond_fin_seen(struct run *r, void *arg);
int cond_accept(struct run *r, void *arg);
int cond_exited_reading(struct run *r, void *arg);
int cond_closed(struct run *r, void *arg);

/* Sends LEN bytes as one piece on C, then (WAIT) waits until the program
 * has read it. Returns the bytes sent: LEN, or fewer when the program went
 * away (R->send_failed set). */
size_t send_piece_wait(struct run *r, struct conn *c, const unsigned char *p, size_t len,
                       int wait);
size_t send_piece(struct run *r, struct conn *c, const unsigned char *p, size_t len);

/* ---- client_mode.c, judge_client.c ----------------------------------------- */

/* Listens on a free loopback port for the client to come. */
int client_mode_listen(struct run *r, char *err, size_t errlen);
void play_client_mode(struct run *r);
/* Which reply the down-stream offset AT is in. */
size_t reply_of(const struct script *s, size_t at);
/* Checks the client's stdout, exit status and steps against the script;
 * sets the verdict and its diagnosis. */
void judge_client(struct run *r, enum wait_end how, struct conn *c);

/* ---- server_mode.c, judge_server.c ----------------------------------------- */

int argv_has_port(char **argv);
/* Picks a free port for {port}. Returns 0, or -1 with ERR filled. */
int free_port(char *port, size_t len, char *err, size_t errlen);
void play_server_mode(struct run *r, int from_port);

/* Reads the reply to W on C until the protocol's parser has it whole, or
 * finds it wrong, or the wait ends: *STATE and *NEED as parse_reply says. */
enum wait_end read_reply(struct run *r, struct conn *c, const struct want_reply *w,
                         struct reply_got *g, enum reply_state *state, size_t *need);
/* The server's state, when a client could not get an answer. */
void diagnose_server_gone(struct run *r);
/* A blocked server while another client is connected. */
void diagnose_held_up(struct run *r, const struct conn *c, enum wait_end how);
/* A wrong reply while another client has sent only part of its request. */
void diagnose_mixed(struct run *r, const struct conn *c, unsigned conn_no);
/* The failing byte, when a client could not even connect. */
void fail_at_last(struct run *r);
/* The server's stderr (its end), without the 'listening on' line. */
void server_stderr_step(struct run *r);
/* LB, the 4 bytes that start a reply, are text: says so and returns 1;
 * else returns 0. */
int diagnose_text_length(struct run *r, const unsigned char lb[4]);
/* A header length of 0, in stage STAGE whose headers start with MEMBER. */
void diagnose_zero_header(struct run *r, const char *stage, const char *member);

#endif
