/* storm.h - what the parts of storm share (tools/storm.c: its command line).
 *
 *   bytes.c           numbers (the seeded generator), the clock, byte strings
 *                     and their inertness to sh, reading with a deadline
 *   server_attacks.c  the bad requests, for stages 1-4 and for stage 5
 *   server.c          the server storm: many bad connections at once, its report
 *   good_client.c     the good client after the storm, whose reply must be exact
 *   client_attacks.c  the bad replies a malicious server gives a client
 *   client_proc.c     the client under test as a process: start, stderr, wait
 *   client.c          the client storm: one case after another, each judged
 */
#ifndef NIANBAO_STORM_H
#define NIANBAO_STORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"

#define PROG_NAME "storm"
#define MAX_PAYLOAD 16384
#define MAX_CONCURRENCY 64        /* an iterative server's backlog is 5 */
#define CLIENT_DEADLINE_MS 2000   /* a client must be done this soon (--within) */
#define MAX_SERVER_CASES 48       /* room for the longest list of server cases */

/* ---- numbers, time, byte strings (bytes.c) ------------------------------- */

/* splitmix64, as tools/slicer.c: a seed means the same everywhere. */
struct storm_rng {
    uint64_t state;
};

uint64_t rng_next(struct storm_rng *rng);
/* A number in 0..N-1 (N < 2^32). */
size_t rng_below(struct storm_rng *rng, size_t n);
/* The MD5 of BYTES as 32 hex digits in HEX ("" when out of memory). */
void md5_hex(const void *bytes, size_t len, char hex[DIGEST_HEX_MAX]);
long long now_ms(void);

struct payload {
    unsigned char bytes[MAX_PAYLOAD];
    size_t len;
};

void put(struct payload *p, const void *bytes, size_t len);
void put_text(struct payload *p, const char *text);
void put_len(struct payload *p, int32_t value);           /* stages 3-4: little-endian */
void put_repeat(struct payload *p, const char *text, size_t times);
/* A stage 4 header as the servers of stages 1-4 may safely get it. */
void put_header(struct payload *p, const char *text, int valid);
void put_be(struct payload *p, uint32_t value);           /* stage 5: big-endian */
/* One stage 5 frame: HEADER's length, HEADER, then BODY_LEN bytes of BODY. */
void put_frame5(struct payload *p, const char *header, const void *body, size_t body_len);
/* 1 when P, cut anywhere and each piece run by sh -c, can only fail. */
int payload_is_inert(const struct payload *p, const char *allowed);
/* 1 when the 4 bytes of VALUE, followed by anything, are inert to sh. */
int len_is_inert(uint32_t value);
/* The bytes sh treats as anything but part of a word, and white space. */
extern const char shell_special[];
/* 1 when C may be part of a word (a command's name) to sh. */
int is_word_char(unsigned char c);
/* Reads exactly LEN bytes before DEADLINE. Returns the count read. */
size_t read_until(int fd, void *buf, size_t len, long long deadline);

/* ---- the server storm ---------------------------------------------------- */

enum end_action {
    END_EOF,      /* shut our side for writing, read until the server closes */
    END_CLOSE,    /* close at once                                           */
    END_RESET,    /* close with SO_LINGER 0: a reset                         */
    END_STALL,    /* keep the connection, send nothing more, read; closed by
                     the server (an idle limit) or by us after --stall-ms     */
    END_NO_READ,  /* a command whose reply we never read; close after
                     --stall-ms                                              */
};

struct server_case {
    const char *name;
    enum end_action end;
    /* Fills P with what to send (RNG for the random cases). */
    void (*build)(struct payload *p, struct storm_rng *rng);
};

/* The cases of one protocol: the quick ones first, then N - N_QUICK that
 * stall (or never read), spread over the run (--stalls). */
struct server_case_set {
    const struct server_case *cases;
    size_t n, n_quick;
};

/* The cases for PROTO: stage5 (stage 6 too) or stages 1-4 (server_attacks.c). */
const struct server_case_set *server_cases_for(const char *proto);

/* 1 when C's payload P is safe to send to a server that runs what it gets
 * as a shell command (server_attacks.c). */
int server_payload_is_inert(const struct server_case_set *set, const struct server_case *c,
                            const struct payload *p);

struct server_config {
    const char *host;
    const char *port;
    const char *proto;
    unsigned long count;
    unsigned long concurrency;
    unsigned long stalls;
    unsigned long stall_ms;
    unsigned long conn_timeout_ms;
    unsigned long seed;
    const char *command;
    const char *expect;
    int verbose;
    const struct server_case_set *cases;   /* server_cases_for(proto) */
};

/* The storm, its report, then the good client (server.c). Returns the
 * exit status. */
int storm_server(const struct server_config *cfg);

/* The good client of stages 1-4 and of stage 5 (good_client.c). Return 0,
 * or -1 with ERR filled. */
int good_client(const struct server_config *cfg, char *err, size_t errlen);
int good_client5(const struct server_config *cfg, char *err, size_t errlen);

/* ---- the client storm ---------------------------------------------------- */

struct client_case {
    const char *name;
    const char *protos;       /* "stage1 stage3 stage4": who it applies to */
    enum end_action end;      /* END_CLOSE, END_RESET or END_STALL          */
    void (*build)(struct payload *p);
};

extern const struct client_case client_cases[];
extern const size_t n_client_cases;
/* 1 when case C applies to PROTO ("stage4"). */
int case_applies(const struct client_case *c, const char *proto);

struct client_config {
    const char *proto;
    const char *only;         /* --case NAME, or NULL for all */
    const char *command;
    const char *prefix;       /* the error line's start: "client: " */
    char **argv;              /* the client's command, {port} not yet replaced */
    int argc;
    unsigned long within_ms;  /* the client must have ended this soon */
};

struct client_run {
    pid_t pid;
    int stderr_fd;
    char errtext[8192];
    size_t errlen;
    int exited, status;
};

char **argv_with_port(char **argv, int argc, const char *port);
int client_spawn(char **argv, const char *command, struct client_run *run,
                 char *err, size_t errlen);
int client_wait(struct client_run *run, long long deadline, int fd);

/* For the tests of a storm held off the CPU by a loaded machine (the
 * verdicts that rest on its patience must look again first): sleeps
 * NIANBAO_STORM_HOLD_MS, the first time it is called (client_proc.c). */
void storm_test_hold(void);
void last_line(const char *text, size_t len, char *line, size_t linelen);

/* Every case for cfg->proto, one line each, then the count (client.c).
 * Returns the exit status. */
int storm_client(const struct client_config *cfg);

#endif
