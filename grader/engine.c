/* engine.c - plays a script against the program under test (see engine.h).
 *
 * Client mode: the grader listens, starts the client with the commands on
 * its stdin, and plays the server: it waits for each request and sends the
 * replies cut as the script says, one piece at a time, each only once the
 * client has read the previous one. Then it compares what the client
 * printed with what the replies carried.
 *
 * Server mode: the grader starts the server, learns its port, and plays
 * the clients: it connects, sends requests, reads and checks the replies.
 *
 * Everything the grader sends and receives is recorded as capture events
 * (viewer/capture.h) from its own side; the capture of a failing scenario
 * is kept for nianbao-view. */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "child.h"
#include "net.h"
#include "peek.h"
#include "proto.h"
#include "wire.h"

/* When the grader gives up on a program (see engine.h). Progress is what
 * the scenario can see: bytes the program read from the grader or sent to
 * it, a client's stdout (what the scenario checks), a process or thread
 * started or ended, bytes read through its pipes and files (a server
 * reading a command's output). A wake-up that moves no bytes (a timer in an
 * event loop) is not progress, nor is any other output: a program that
 * prints a line every half second, or floods its stderr, keeps no wait
 * going. */
#define QUIET_MS 1000         /* blocked with no progress this long: stuck  */
#define START_QUIET_MS 3000   /* the same before it connected or listened: a
                                 loaded machine may hold a program starting
                                 up (exec, loading) asleep for a while      */
#define START_CPU_S 0.02      /* ... and CPU used then, this much at a time,
                                 is work done: the quiet starts again       */
#define SPIN_CPU_S 0.5        /* CPU seconds used with no progress: spinning */
#define CONFIRM_MS 200        /* ... once a wait found it stuck or spinning, */
#define CONFIRM_CPU_S 0.1     /* until a wait is met, the next ones take this */
#define SAMPLE_MS 50          /* between looks at the program in /proc      */
#define IO_PER_WAKE 64        /* bytes per wake-up below which reads and
                                 writes are a timer's (a timerfd's 8), not
                                 work                                       */
#define LAST_GUARD_MS 30000   /* no progress at all for this long: the last
                                 guard, which no lab program reaches        */
#define SCENARIO_S 60         /* ... or the scenario has run this long (its
                                 default, --scenario-limit): every wait
                                 after that ends at once                   */
#define SETTLE_US 200         /* after a piece was read, before the next    */
#define PACE_MS 20            /* between pieces when sock_diag is missing   */
#define STOP_GRACE_MS 2000    /* SIGTERM, then SIGKILL after this           */
#define CLIENT_RCVBUF 65536   /* the grader's receive buffer as a client    */
#define CONN_IN_MAX (64u << 20) /* bytes kept from one connection: a program
                                   that floods the grader is stopped there  */
#define SETTLE_MS 200         /* blocked this long with no progress: it has
                                 done what it does with a close            */
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

/* ---- small helpers --------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_us(unsigned us)
{
    struct timespec t = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* BYTES as quoted, escaped text of at most about MAX input bytes. */
static char *shown(char *buf, size_t buflen, const void *bytes, size_t len, size_t max)
{
    char inner[1024];
    size_t cap = max * 4 + 4 < sizeof inner ? max * 4 + 4 : sizeof inner;
    size_t took = escape_bytes(bytes, len < max ? len : max, inner, cap);
    const char *tail = took < len ? "\"..." : "\"";
    size_t inner_len = strlen(inner), tail_len = strlen(tail);
    if (buflen < tail_len + 2) {
        if (buflen)
            buf[0] = '\0';
        return buf;
    }
    if (inner_len > buflen - tail_len - 2)
        inner_len = buflen - tail_len - 2;
    buf[0] = '"';
    memcpy(buf + 1, inner, inner_len);
    memcpy(buf + 1 + inner_len, tail, tail_len + 1);
    return buf;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void step(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(struct run *r, const char *fmt, ...)
{
    struct verdict *v = r->v;
    char *line;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* Keep the first steps and the last ones: the end is where it broke. */
    if (v->n_steps == VERDICT_MAX_STEPS) {
        free(v->steps[VERDICT_MAX_STEPS / 2]);
        memmove(&v->steps[VERDICT_MAX_STEPS / 2], &v->steps[VERDICT_MAX_STEPS / 2 + 1],
                (VERDICT_MAX_STEPS / 2 - 1) * sizeof v->steps[0]);
        v->n_steps--;
        v->steps_dropped++;
    }
    v->steps[v->n_steps++] = line;
}

static void diagnose(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diagnose(struct run *r, const char *fmt, ...)
{
    if (r->v->diagnosis[0])
        return;          /* the first, most specific one wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->v->diagnosis, sizeof r->v->diagnosis, fmt, ap);
    va_end(ap);
}

static void fail_at(struct run *r, int down, uint64_t offset, const struct conn *c)
{
    if (r->v->have_at)
        return;
    r->v->have_at = 1;
    r->v->at_down = down;
    r->v->at_offset = offset;
    r->v->at_conn = c && c->capture_id ? c->capture_id : 1;
}

void verdict_free(struct verdict *v)
{
    for (size_t i = 0; i < v->n_steps; i++)
        free(v->steps[i]);
    memset(v, 0, sizeof *v);
}

/* ---- the capture ------------------------------------------------------------- */

static void addr_of(const struct sockaddr_storage *sa, struct cap_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        out->family = AF_INET;
        out->port = ntohs(in->sin_port);
        memcpy(out->addr, &in->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        out->family = AF_INET6;
        out->port = ntohs(in6->sin6_port);
        memcpy(out->addr, &in6->sin6_addr, 16);
    }
}

static void conn_learn_addresses(struct conn *c)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(c->fd, (struct sockaddr *)&sa, &len) == 0)
        addr_of(&sa, &c->local);
    len = sizeof sa;
    if (getpeername(c->fd, (struct sockaddr *)&sa, &len) == 0)
        addr_of(&sa, &c->peer);
}

static void trace(struct run *r, struct conn *c, enum cap_kind kind, enum cap_call call,
                  int64_t result, int err_no, const void *data, size_t len)
{
    if (r->trace_fd < 0)
        return;
    struct cap_event ev;
    struct timespec t;
    memset(&ev, 0, sizeof ev);
    clock_gettime(CLOCK_REALTIME, &t);
    ev.magic = CAP_MAGIC;
    ev.kind = (uint8_t)kind;
    ev.call = (uint8_t)call;
    ev.socktype = SOCK_STREAM;
    ev.role = r->cfg->mode == MODE_CLIENT ? ROLE_SERVER : ROLE_CLIENT;
    ev.time_ns = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
    ev.result = result;
    ev.pid = (uint32_t)getpid();
    ev.fd = c->fd;
    ev.err = err_no;
    ev.data_len = (uint32_t)(len > CAP_MAX_DATA ? CAP_MAX_DATA : len);
    ev.local = c->local;
    ev.peer = c->peer;
#ifdef CAP_MAGIC_V1
    /* The second capture format: bytes taken off the wire, here always the
     * call's result. */
    ev.wire_len = result;
#endif
    if (capture_write(r->trace_fd, &ev, data) < 0) {
        snprintf(r->v->note, sizeof r->v->note, "the capture could not be written: %s",
                 strerror(errno));
        close(r->trace_fd);
        r->trace_fd = -1;
    }
}

/* The command line recorded with a connect/accept: what the viewer names
 * this end by. */
static void trace_open_event(struct run *r, struct conn *c, enum cap_kind kind,
                             enum cap_call call)
{
    char who[200];
    snprintf(who, sizeof who, "nianbao-grade %s --proto %s (the grader, as the %s)",
             r->cfg->mode == MODE_CLIENT ? "client" : "server", proto_name(r->cfg->proto),
             r->cfg->mode == MODE_CLIENT ? "server" : "client");
    c->capture_id = ++r->captured_conns;
    trace(r, c, kind, call, c->fd, 0, who, strlen(who));
}

static int trace_start(struct run *r, char *err, size_t errlen)
{
    char dir[] = "/tmp/nianbao-grade-XXXXXX";
    r->trace_fd = -1;
    if (mkdtemp(dir) == NULL) {
        snprintf(err, errlen, "cannot create a folder for the capture: %s", strerror(errno));
        return -1;
    }
    snprintf(r->trace_path, sizeof r->trace_path, "%s/run.nbcap", dir);
    r->trace_fd = open(r->trace_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (r->trace_fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", r->trace_path, strerror(errno));
        rmdir(dir);
        return -1;
    }
    return 0;
}

/* Keeps the capture of a failed scenario in the captures folder, drops it
 * otherwise. */
static void trace_finish(struct run *r)
{
    char dir[PATH_MAX];
    if (r->trace_fd >= 0)
        close(r->trace_fd);
    r->trace_fd = -1;
    if (r->trace_path[0] == '\0')
        return;
    if (!r->v->pass && r->cfg->captures_dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s-%s-%s-seed%llu.nbcap", r->cfg->captures_dir,
                 r->cfg->mode == MODE_CLIENT ? "client" : "server", proto_name(r->cfg->proto),
                 r->sc->name, (unsigned long long)r->cfg->seed);
        if (mkdir(r->cfg->captures_dir, 0755) < 0 && errno != EEXIST)
            snprintf(r->v->note, sizeof r->v->note, "cannot create %s: %s",
                     r->cfg->captures_dir, strerror(errno));
        else if (rename(r->trace_path, path) == 0)
            snprintf(r->v->capture, sizeof r->v->capture, "%s", path);
        else {
            /* Another file system: copy. */
            int in = open(r->trace_path, O_RDONLY | O_CLOEXEC);
            int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            char buf[65536];
            ssize_t n = 0;
            while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)n) != n) {
                    n = -1;
                    break;
                }
            if (in >= 0 && out >= 0 && n == 0)
                snprintf(r->v->capture, sizeof r->v->capture, "%s", path);
            else
                snprintf(r->v->note, sizeof r->v->note, "cannot write %.180s: %s", path,
                         strerror(errno));
            if (in >= 0)
                close(in);
            if (out >= 0)
                close(out);
        }
    }
    unlink(r->trace_path);
    snprintf(dir, sizeof dir, "%s", r->trace_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}

/* ---- waiting ------------------------------------------------------------------- */

typedef int (*wait_cond)(struct run *r, void *arg);

static uint64_t progress_mark(struct run *r)
{
    if (!r->child_started || r->cfg->mode != MODE_CLIENT)
        return r->progress;
    return r->progress + child_stdout_total(&r->child);
}

/* Waits until COND holds, or the program can provably not make it hold
 * (see engine.h). */
static enum wait_end wait_until(struct run *r, wait_cond cond, void *arg);

static enum wait_end wait_for(struct run *r, wait_cond cond, void *arg)
{
    r->confirmed = r->gave_up;
    r->last_wait = wait_until(r, cond, arg);
    r->v->waits[r->last_wait]++;
    if (r->last_wait == WAIT_DONE)
        r->gave_up = 0;
    else if (r->last_wait != WAIT_EXITED)
        r->gave_up = 1;
    return r->last_wait;
}

/* What changed in the program between two looks at it. */
enum moved {
    MOVED_NOTHING,
    MOVED_TASKS,              /* a process or thread started or ended        */
    MOVED_BYTES,              /* the same processes moved more bytes through
                                 their reads and writes than timer wake-ups
                                 account for (a server reading a command's
                                 output)                                     */
};

static enum moved group_moved(const struct group_sample *last, const struct group_sample *now)
{
    if (now->processes != last->processes || now->pids != last->pids ||
        now->tasks != last->tasks || now->reaped != last->reaped)
        return MOVED_TASKS;
    uint64_t wakes = now->switches > last->switches ? now->switches - last->switches : 0;
    if (now->io < last->io || now->io - last->io > IO_PER_WAKE * (wakes + 1))
        return MOVED_BYTES;
    return MOVED_NOTHING;
}

static enum wait_end wait_until(struct run *r, wait_cond cond, void *arg)
{
    uint64_t mark = progress_mark(r);
    int64_t quiet_since = now_ms(), last_sample = 0;
    struct group_sample last = { 0 };
    int have_last = 0;
    double cpu_base = -1;       /* CPU time when the work last moved bytes */
    unsigned pause = 20;
    /* Looks at the program since it last moved, and how many found every
     * thread waiting. One look can catch a working program between two
     * steps (a busy machine keeps it off the CPU, runnable, most of the
     * time): "stuck" needs most looks of the quiet period to agree. */
    unsigned looks = 0, asleep_looks = 0;
    /* Before it first connects or listens, a program starting up on a busy
     * machine sleeps in system calls that read its own files (an
     * interpreter's imports on a loaded disk) between bursts of work: CPU
     * it used counts as moving then. CPU time at the last such burst: */
    double cpu_start_base = -1;

    for (;;) {
        if (cond(r, arg))
            return WAIT_DONE;
        if (r->child_started && child_poll_exit(&r->child))
            return cond(r, arg) ? WAIT_DONE : WAIT_EXITED;
        int64_t now = now_ms();
        uint64_t m = progress_mark(r);
        if (m != mark) {
            mark = m;
            quiet_since = now;
            cpu_base = -1;
            pause = 20;
            looks = asleep_looks = 0;
        }
        if (now - quiet_since >= LAST_GUARD_MS)
            return WAIT_IDLE;
        if (now - r->started_ms >= r->scenario_ms) {
            r->over_time = 1;
            return WAIT_IDLE;
        }
        if (r->child_started && now - quiet_since >= SAMPLE_MS && now - last_sample >= SAMPLE_MS) {
            struct group_sample gs;
            last_sample = now;
            if (child_sample(&r->child, &gs) == 0) {
                enum moved moved = have_last ? group_moved(&last, &gs) : MOVED_NOTHING;
                /* Anything that moved puts off "stuck"; only bytes moved
                 * put off "spinning": a program that starts command after
                 * command and gets nowhere (a loop on a closed connection)
                 * spins. */
                if (moved != MOVED_NOTHING) {
                    quiet_since = now;
                    looks = asleep_looks = 0;
                }
                if (r->quiet_ms >= START_QUIET_MS) {
                    if (cpu_start_base < 0) {
                        cpu_start_base = gs.cpu;
                    } else if (gs.cpu - cpu_start_base >= START_CPU_S) {
                        cpu_start_base = gs.cpu;
                        quiet_since = now;
                        looks = asleep_looks = 0;
                    }
                }
                looks++;
                asleep_looks += gs.all_asleep != 0;
                if (moved == MOVED_BYTES || cpu_base < 0)
                    cpu_base = gs.cpu;
                last = gs;
                have_last = 1;
                /* Counted in CPU time, so a busy machine delays the
                 * verdict, never changes it. */
                if (gs.cpu - cpu_base >= (r->gave_up ? CONFIRM_CPU_S : SPIN_CPU_S)) {
                    r->spin_cpu = gs.cpu - cpu_base;
                    return WAIT_SPIN;
                }
                /* Every thread waits, and nothing moved for the quiet
                 * period (its timers may fire: they move nothing). */
                if (gs.all_asleep && asleep_looks * 4 >= looks * 3 &&
                    child_unread_output(&r->child) == 0 &&
                    now - quiet_since >= (r->gave_up && r->quiet_ms > CONFIRM_MS ? CONFIRM_MS
                                                                               : r->quiet_ms))
                    return WAIT_STUCK;
            }
        }
        sleep_us(pause);
        unsigned cap = now - quiet_since > 50 ? 5000u : 1000u;
        pause = pause * 2 > cap ? cap : pause * 2;
    }
}

/* The program as it stands now, in words: "exited with status 1". */
static void describe_program(struct run *r, enum wait_end how, char *buf, size_t len)
{
    int exited = r->finished ? r->ended_itself : r->child.exited;
    if (exited) {
        int st = r->finished ? r->end_status : r->child.status;
        if (WIFEXITED(st))
            snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        else
            snprintf(buf, len, "ended (wait status %d)", st);
        return;
    }
    /* A client's stdout is progress; nothing else it prints is. */
    int client = r->cfg->mode == MODE_CLIENT;
    switch (how) {
    case WAIT_STUCK:
        if (r->confirmed)
            snprintf(buf, len, "is still blocked: nothing read, sent%s or started",
                     client ? ", printed" : "");
        else
            snprintf(buf, len, "is blocked: waiting for %g s with nothing read, sent%s or started",
                     r->quiet_ms / 1000.0, client ? ", printed" : "");
        break;
    case WAIT_SPIN:
        snprintf(buf, len, "is %sspinning: %.1f s of CPU without %s anything",
                 r->confirmed ? "still " : "", r->spin_cpu,
                 client ? "reading, sending or printing" : "reading or sending");
        break;
    case WAIT_IDLE:
        if (r->over_time)
            snprintf(buf, len, "is still running: the scenario has taken %lld s, the most the "
                     "grader gives one", (long long)(r->scenario_ms / 1000));
        else
            snprintf(buf, len, "did nothing at all for %d s", LAST_GUARD_MS / 1000);
        break;
    default:
        snprintf(buf, len, "is still running");
    }
}

static int cond_exited(struct run *r, void *arg)
{
    (void)arg;
    return child_poll_exit(&r->child);
}

/* Stops the program (if it still runs) and waits for the last of its
 * output, remembering whether it had ended on its own. With LET_END, a
 * program that is not known to be blocked or spinning gets the chance to
 * end by itself first (a client whose socket just closed is exiting). */
static void finish_program(struct run *r, int let_end)
{
    if (r->finished || !r->child_started)
        return;
    if (let_end && !child_poll_exit(&r->child) && r->last_wait != WAIT_STUCK &&
        r->last_wait != WAIT_SPIN && r->last_wait != WAIT_IDLE)
        wait_for(r, cond_exited, NULL);
    r->ended_itself = child_poll_exit(&r->child);
    r->end_status = r->child.status;
    child_stop(&r->child, STOP_GRACE_MS);
    r->finished = 1;
}

/* ---- conditions ------------------------------------------------------------------ */

/* Reads what is there on C without blocking, at most LIMIT bytes (and
 * never more than CONN_IN_MAX in all: past that the program waits, and
 * the wait ends as any wait on a stuck program). */
static void conn_pull_some(struct run *r, struct conn *c, size_t limit)
{
    unsigned char buf[65536];
    /* A buffer from the start, so that c->in.p + c->in_used is never
     * NULL + 0 (undefined behaviour) before the first byte. */
    if (c->in.p == NULL && !c->in.failed) {
        c->in.p = malloc(256);
        c->in.cap = c->in.p ? 256 : 0;
        c->in.failed = c->in.p == NULL;
    }
    if (c->in.len >= CONN_IN_MAX)
        return;
    if (limit > CONN_IN_MAX - c->in.len)
        limit = CONN_IN_MAX - c->in.len;
    while (c->fd >= 0 && !c->eof && limit > 0) {
        ssize_t n = recv(c->fd, buf, limit < sizeof buf ? limit : sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            bytes_add(&c->in, buf, (size_t)n);
            trace(r, c, CAP_RECV, CALL_RECV, n, 0, buf, (size_t)n);
            r->progress++;
            limit -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        trace(r, c, CAP_RECV, CALL_RECV, n < 0 ? -1 : 0, n < 0 ? errno : 0, NULL, 0);
        c->eof = 1;
        c->reset = n < 0;
        r->progress++;
    }
}

static void conn_pull(struct run *r, struct conn *c)
{
    conn_pull_some(r, c, SIZE_MAX);
}

struct want_bytes {
    struct conn *c;
    size_t need;              /* bytes of C->in beyond in_used */
    int exactly;              /* read no more than NEED */
};

static int cond_have_bytes(struct run *r, void *arg)
{
    struct want_bytes *w = arg;
    size_t have = w->c->in.len - w->c->in_used;
    conn_pull_some(r, w->c, w->exactly ? (have < w->need ? w->need - have : 0) : SIZE_MAX);
    return w->c->in.len - w->c->in_used >= w->need || w->c->eof;
}

/* The program's end of C has seen our FIN (or is gone). */
static int cond_fin_seen(struct run *r, void *arg)
{
    struct conn *c = arg;
    int64_t arrived;
    uint32_t queued;
    int state = 0;
    if (r->paced_by_time)
        return 1;
    int rc = peek_peer(&r->peek, c->fd, &arrived, &queued, &state);
    return rc != 0 || state != 1 /* TCP_ESTABLISHED */;
}

static int cond_never(struct run *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

/* Waits until the program has settled: every thread asleep for a moment
 * (a server back in accept), or it exited, or it spins. What it does with
 * a connection the grader closed is then done, and the next step's report
 * does not depend on how fast it got there. */
static void wait_settled(struct run *r)
{
    int saved = r->quiet_ms, saved_gave_up = r->gave_up;
    r->quiet_ms = SETTLE_MS;
    if (wait_for(r, cond_never, NULL) == WAIT_STUCK) {
        r->v->waits[WAIT_STUCK]--;
        r->v->waits[WAIT_SETTLED]++;
        r->gave_up = saved_gave_up;
    }
    r->quiet_ms = saved;
}

/* Waits for a program that has just been started to connect or listen,
 * giving it START_QUIET_MS of quiet rather than QUIET_MS. */
static enum wait_end wait_started(struct run *r, wait_cond cond, void *arg)
{
    int saved = r->quiet_ms;
    r->quiet_ms = START_QUIET_MS;
    enum wait_end how = wait_for(r, cond, arg);
    if (how != WAIT_STUCK)
        r->quiet_ms = saved;    /* else kept for the message */
    return how;
}

static int cond_accept(struct run *r, void *arg)
{
    struct conn *c = arg;
    int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    c->fd = fd;
    return 1;
}

static int cond_writable(struct run *r, void *arg)
{
    struct conn *c = arg;
    struct pollfd p = { c->fd, POLLOUT, 0 };
    (void)r;
    return poll(&p, 1, 0) == 1;
}

/* Every byte we sent reached the program and it has read them all. */
static int cond_drained(struct run *r, void *arg)
{
    struct conn *c = arg;
    int64_t arrived = -1;
    uint32_t queued = 0;
    int state = 0;

    if (c->fd < 0)
        return 1;
    if (r->paced_by_time)
        return peek_unacked(c->fd) <= 0 && now_ms() - c->piece_sent_ms >= PACE_MS;
    int rc = peek_peer(&r->peek, c->fd, &arrived, &queued, &state);
    if (rc == 1)
        return 1;     /* the program closed its socket: nothing will be read */
    if (rc < 0) {
        r->paced_by_time = 1;
        snprintf(r->v->note, sizeof r->v->note,
                 "sock_diag did not answer (%s): pieces were paced %d ms apart instead, so a "
                 "slow program may have read several at once", strerror(errno), PACE_MS);
        return 0;
    }
    if (arrived < 0) {
        /* An old kernel: what we sent and the peer has not acknowledged
         * may still be on its way. */
        int unacked = peek_unacked(c->fd);
        if (unacked > 0)
            return 0;
        arrived = (int64_t)c->sent;
    }
    if (arrived != c->last_arrived || queued != c->last_queued) {
        c->last_arrived = arrived;
        c->last_queued = queued;
        r->progress++;
    }
    return arrived >= (int64_t)c->sent && queued == 0;
}

/* Client mode, after the last act: the program must exit; whatever it
 * still sends is read (and reported). */
static int cond_exited_reading(struct run *r, void *arg)
{
    struct conn *c = arg;
    conn_pull(r, c);
    return child_poll_exit(&r->child);
}

/* ---- sending pieces ---------------------------------------------------------------- */

/* Sends LEN bytes as one piece on C, then (WAIT) waits until the program
 * has read it. Returns the bytes sent: LEN, or fewer when the program went
 * away (R->send_failed set). */
static size_t send_piece_wait(struct run *r, struct conn *c, const unsigned char *p, size_t len,
                              int wait);

static size_t send_piece(struct run *r, struct conn *c, const unsigned char *p, size_t len)
{
    return send_piece_wait(r, c, p, len, 1);
}

static size_t send_piece_wait(struct run *r, struct conn *c, const unsigned char *p, size_t len,
                              int wait)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            trace(r, c, CAP_SEND, CALL_SEND, n, 0, p + off, (size_t)n);
            off += (size_t)n;
            c->sent += (uint64_t)n;
            r->progress++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            enum wait_end how = wait_for(r, cond_writable, c);
            if (how == WAIT_DONE)
                continue;
            r->send_failed = 1;
            return off;
        }
        trace(r, c, CAP_SEND, CALL_SEND, -1, errno, NULL, 0);
        r->send_failed = 1;
        return off;
    }
    c->piece_sent_ms = now_ms();
    if (!wait)
        return len;
    /* When the program stops reading (blocked, spinning, gone) the grader
     * goes on without it: the bytes wait in its socket, and the end of the
     * script tells what it did. */
    wait_for(r, cond_drained, c);
    sleep_us(SETTLE_US);
    return len;
}

/* ---- client mode -------------------------------------------------------------------- */

/* Which part of reply I the down-stream offset AT is in. */
static const char *part_at(const struct script *s, size_t i, size_t at)
{
    const struct reply_map *m = &s->replies[i];
    if (at < m->at + 4)
        return s->proto == PROTO4 ? "header length" : "length";
    if (m->header_len && at < m->header_at + m->header_len)
        return "header";
    return "body";
}

static size_t reply_of(const struct script *s, size_t at)
{
    for (size_t i = s->n_replies; i-- > 0;)
        if (at >= s->replies[i].at)
            return i;
    return 0;
}

/* 1 when down-stream offset AT is inside a reply's 4-byte length field. */
static int in_length_field(const struct script *s, size_t at)
{
    for (size_t i = 0; i < s->n_frames; i++)
        if (at >= s->frame_at[i] && at < s->frame_at[i] + 4)
            return 1;
    return 0;
}

/* Bytes [FROM, FROM + LEN) of the down stream as quoted text, as shown()
 * does, except that the bytes of a length field are always \xNN: 0x2d is
 * a length byte, not a "-". */
static char *shown_down(const struct script *s, char *buf, size_t buflen, size_t from,
                        size_t len, size_t max)
{
    size_t used = 0;
    if (buflen < 8) {
        if (buflen)
            buf[0] = '\0';
        return buf;
    }
    buf[used++] = '"';
    size_t i;
    for (i = 0; i < len && i < max && used + 8 < buflen; i++) {
        unsigned char b = s->down.p[from + i];
        if (in_length_field(s, from + i)) {
            used += (size_t)snprintf(buf + used, buflen - used, "\\x%02x", b);
        } else {
            char one[8];
            escape_bytes(&b, 1, one, sizeof one);
            used += (size_t)snprintf(buf + used, buflen - used, "%s", one);
        }
    }
    snprintf(buf + used, buflen - used, "\"%s", i < len ? "..." : "");
    return buf;
}

/* The pieces sent since the last step, told as one step. */
static void flush_pieces(struct run *r)
{
    const struct script *s = r->s;
    if (r->n_pieces == 0) {
        if (r->send_failed && !r->told_send_failed) {
            step(r, "the grader could not send more: the client had closed the connection");
            r->told_send_failed = 1;
        }
        return;
    }
    r->told_send_failed = r->send_failed;
    size_t from = r->pieces_from, to = r->down_at, total = to - from;
    size_t first_reply = reply_of(s, from), last_reply = reply_of(s, to - 1);
    char what[200], how[600], buf[400];

    /* What was sent, in the words of the protocol. */
    const struct reply_map *m = &s->replies[first_reply];
    size_t reply_end = m->body_at + m->body_len;
    if (first_reply != last_reply)
        snprintf(what, sizeof what, "replies %zu to %zu (%zu bytes)", first_reply + 1,
                 last_reply + 1, total);
    else if (m->bogus)
        snprintf(what, sizeof what, "reply %zu (%zu bytes)", first_reply + 1, total);
    else if (from == m->at && to == reply_end)
        snprintf(what, sizeof what, "reply %zu (%zu bytes: %s%s, then a %zu-byte body)",
                 first_reply + 1, total, s->proto == PROTO4 ? "header length, " : "length",
                 s->proto == PROTO4 ? "JSON header" : "", m->body_len);
    else if (strcmp(part_at(s, first_reply, from), part_at(s, first_reply, to - 1)) == 0)
        snprintf(what, sizeof what, "bytes %zu..%zu of reply %zu (in its %s)",
                 from - m->at, to - m->at - 1, first_reply + 1, part_at(s, first_reply, from));
    else
        snprintf(what, sizeof what, "bytes %zu..%zu of reply %zu (from its %s into its %s)",
                 from - m->at, to - m->at - 1, first_reply + 1, part_at(s, first_reply, from),
                 part_at(s, first_reply, to - 1));

    /* How it was cut. */
    size_t lo = (size_t)-1, hi = 0;
    for (size_t i = 0; i < r->n_pieces; i++) {
        lo = r->pieces[i] < lo ? r->pieces[i] : lo;
        hi = r->pieces[i] > hi ? r->pieces[i] : hi;
    }
    if (r->n_pieces == 1) {
        snprintf(how, sizeof how, "in one piece: %s",
                 shown_down(s, buf, sizeof buf, from, total, SHOW));
    } else if (r->n_pieces <= 6) {
        size_t used = (size_t)snprintf(how, sizeof how, "in %zu pieces:", r->n_pieces);
        size_t at = from;
        for (size_t i = 0; i < r->n_pieces && used < sizeof how; i++) {
            used += (size_t)snprintf(how + used, sizeof how - used, "%s %s", i ? " |" : "",
                                     shown_down(s, buf, sizeof buf, at, r->pieces[i], 24));
            at += r->pieces[i];
        }
    } else if (lo == hi) {
        snprintf(how, sizeof how, "in %zu pieces of %zu %s", r->n_pieces, lo,
                 plural(lo, "byte", "bytes"));
    } else {
        size_t used = (size_t)snprintf(how, sizeof how, "in %zu pieces of %zu..%zu bytes:",
                                       r->n_pieces, lo, hi);
        for (size_t i = 0; i < r->n_pieces && i < 12 && used < sizeof how; i++)
            used += (size_t)snprintf(how + used, sizeof how - used, " %zu", r->pieces[i]);
        if (r->n_pieces > 12 && used < sizeof how)
            snprintf(how + used, sizeof how - used, " ...");
    }
    step(r, "the grader sent %s %s%s", what, how,
         r->send_failed ? " (the last ones could not be sent: the client had closed the "
                          "connection)" : "");
    r->n_pieces = 0;
    r->pieces_from = r->down_at;
}

static void note_piece(struct run *r, size_t len)
{
    if (r->n_pieces == r->cap_pieces) {
        size_t cap = r->cap_pieces ? r->cap_pieces * 2 : 256;
        size_t *grown = realloc(r->pieces, cap * sizeof *grown);
        if (grown == NULL)
            return;
        r->pieces = grown;
        r->cap_pieces = cap;
    }
    if (r->n_pieces == 0)
        r->pieces_from = r->down_at;
    r->pieces[r->n_pieces++] = len;
}

/* "python3 client.py {port}" as given, one string. */
static void command_line(char *const argv[], char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

static void describe_input(struct run *r, char *buf, size_t len)
{
    const struct script *s = r->s;
    size_t used = (size_t)snprintf(buf, len, "%zu %s on stdin:", s->n_requests,
                                   plural(s->n_requests, "command", "commands"));
    char one[200];
    for (size_t i = 0; i < s->n_requests && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, " %s",
                                 shown(one, sizeof one, s->requests[i].p, s->requests[i].len, 40));
}

/* Waits for request I. Returns 0 when it came exactly, -1 otherwise (the
 * steps say why). */
struct request_wait {
    struct conn *c;
    const struct bytes *want;
    enum reply_state state;
    size_t used;
};

static int cond_request(struct run *r, void *arg)
{
    struct request_wait *w = arg;
    conn_pull(r, w->c);
    w->state = proto_match_request(r->s->proto, w->c->in.p + w->c->in_used,
                                   w->c->in.len - w->c->in_used, w->want, &w->used);
    return w->state != REPLY_NEED_MORE || w->c->eof;
}

static int expect_request(struct run *r, struct conn *c, size_t i)
{
    const struct bytes *want = &r->s->requests[i];
    struct request_wait w = { c, want, REPLY_NEED_MORE, 0 };
    char a[400], b[400], state[160];

    enum wait_end how = wait_for(r, cond_request, &w);
    size_t have = c->in.len - c->in_used;
    const unsigned char *got = c->in.p + c->in_used;
    if (w.state == REPLY_COMPLETE) {
        step(r, "the client sent request %zu: %s (%zu bytes)", i + 1,
             shown(a, sizeof a, got, w.used, SHOW), w.used);
        c->in_used += w.used;
        return 0;
    }
    if (w.state == REPLY_BAD) {
        step(r, "the client sent %s where request %zu was expected: %s",
             shown(a, sizeof a, got, have, SHOW), i + 1, shown(b, sizeof b, want->p, want->len, SHOW));
        r->stopped = "a wrong request";
        fail_at(r, 0, c->in_used, c);
        if (memchr(got, '\n', have))
            diagnose(r, "a request is the command's bytes, without the newline read with it "
                        "(strip the line, as the document's input().strip())");
        return -1;
    }
    describe_program(r, how, state, sizeof state);
    if (how == WAIT_DONE || how == WAIT_EXITED) {
        if (c->eof && !r->child.exited)
            snprintf(state, sizeof state, "closed the connection");
    }
    step(r, "request %zu (%s) never came%s%s: the client %s", i + 1,
         shown(a, sizeof a, want->p, want->len, SHOW), have ? ", only " : "",
         have ? shown(b, sizeof b, got, have, SHOW) : "", state);
    r->stopped = "a request that never came";
    fail_at(r, 1, c->sent, c);
    return -1;
}

/* Checks the client's stdout, exit status and steps against the script;
 * sets the verdict and its diagnosis. */
static void judge_client(struct run *r, enum wait_end how, struct conn *c);

/* Listens on a free loopback port for the client to come. */
static int client_mode_listen(struct run *r, char *err, size_t errlen)
{
    r->listen_fd = net_listen("127.0.0.1", "0", SOCK_STREAM, err, errlen);
    if (r->listen_fd < 0)
        return -1;
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof sa;
    if (getsockname(r->listen_fd, (struct sockaddr *)&sa, &sa_len) < 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    snprintf(r->port, sizeof r->port, "%u", ntohs(sa.sin_port));
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    fcntl(r->listen_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

static void play_client_mode(struct run *r)
{
    const struct script *s = r->s;
    struct conn *c = &r->conns[0];
    char line[2048], input[1200], state[200];

    command_line(r->cfg->argv, line, sizeof line);
    describe_input(r, input, sizeof input);
    step(r, "the grader (playing the server) started the client: %s, with %s", line, input);

    enum wait_end how = wait_started(r, cond_accept, c);
    if (how != WAIT_DONE) {
        describe_program(r, how, state, sizeof state);
        step(r, "the client never connected: it %s", state);
        r->stopped = "no connection";
        finish_program(r, 1);
        judge_client(r, r->last_wait, c);
        return;
    }
    c->opened = 1;
    int on = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    conn_learn_addresses(c);
    trace_open_event(r, c, CAP_ACCEPT, CALL_ACCEPT4);
    step(r, "the client connected");

    for (size_t i = 0; i < s->n_acts && !r->stopped; i++) {
        const struct act *a = &s->acts[i];
        switch (a->kind) {
        case ACT_REQUEST:
            flush_pieces(r);
            if (expect_request(r, c, a->arg) < 0)
                break;
            break;
        case ACT_SEND: {
            if (r->send_failed)
                break;
            size_t sent = send_piece(r, c, s->down.p + r->down_at, a->arg);
            if (sent > 0) {
                note_piece(r, sent);
                r->down_at += sent;
            }
            break;
        }
        case ACT_PAUSE:
            flush_pieces(r);
            step(r, "the grader waited %zu ms (a stalled server)", a->arg);
            for (int64_t until = now_ms() + (int64_t)a->arg; now_ms() < until;)
                sleep_us(2000);
            break;
        default:
            break;
        }
    }
    flush_pieces(r);

    how = WAIT_DONE;
    if (!r->stopped) {
        switch (s->ending) {
        case END_FIN:
            shutdown(c->fd, SHUT_WR);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            if (r->send_failed)
                step(r, "the grader stopped: the client had closed the connection");
            else
                step(r, "the grader closed its side of the connection: every reply was sent whole");
            break;
        case END_CLOSE:
            shutdown(c->fd, SHUT_WR);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            step(r, "the grader closed the connection in the middle of reply %zu",
                 reply_of(s, r->down_at - 1) + 1);
            break;
        case END_HOLD:
            step(r, "the grader sent nothing more and kept the connection open");
            break;
        }
        how = wait_for(r, cond_exited_reading, c);
    }
    if (!r->child.exited && s->ending == END_HOLD && !r->stopped) {
        /* Let a client that waits for the rest see the end, so what it
         * prints then is in the report too. */
        describe_program(r, how, state, sizeof state);
        step(r, "the client did not exit by itself: it %s; the grader closed the connection",
             state);
        shutdown(c->fd, SHUT_WR);
        trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
        enum wait_end after = wait_for(r, cond_exited_reading, c);
        (void)after;
        r->stopped = "held";
    }
    finish_program(r, 1);
    judge_client(r, r->ended_itself ? WAIT_EXITED : r->last_wait, c);
}

/* The byte of the down stream that stdout offset OUT stands for: in the
 * body it is part of, or (past every body) the end of the last reply; a
 * bogus reply stands for its length field. */
static size_t down_offset_of_output(const struct script *s, size_t out)
{
    for (size_t i = 0; i < s->n_replies; i++)
        if (s->replies[i].bogus && out >= s->replies[i].out_at)
            return s->replies[i].at;
    for (size_t i = 0; i < s->n_spans; i++) {
        const struct out_span *sp = &s->spans[i];
        if (out < sp->out_at + sp->len)
            return sp->down_at + (out >= sp->out_at ? out - sp->out_at : 0);
    }
    return s->n_replies ? s->replies[s->n_replies - 1].end : 0;
}

/* Was the length field of reply I sent in more than one piece? */
static int length_was_split(const struct script *s, size_t i)
{
    size_t at = 0, start = s->replies[i].at;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        size_t end = at + s->acts[k].arg;
        if (end > start && end < start + 4)
            return 1;
        at = end;
    }
    return 0;
}

/* Does the piece plan end a piece at down offset AT? */
static int piece_ends_at(const struct script *s, size_t at)
{
    size_t pos = 0;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        pos += s->acts[k].arg;
        if (pos == at)
            return 1;
        if (pos > at)
            return 0;
    }
    return 0;
}

static int contains(const unsigned char *hay, size_t hay_len, const char *needle)
{
    return memmem(hay, hay_len, needle, strlen(needle)) != NULL;
}

/* 1 when the 4 bytes look like text (printable ASCII, tabs, line ends);
 * then TEXT holds them escaped. */
static int text_bytes(const unsigned char lb[4], char *text, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (!((lb[i] >= 0x20 && lb[i] < 0x7f) || lb[i] == '\n' || lb[i] == '\r' || lb[i] == '\t'))
            return 0;
    escape_bytes(lb, 4, text, len);
    return 1;
}

/* Explains a bogus length (the HOLD scenarios). KILLED_BY: the signal
 * that ended the client after it came, or 0. */
static void diagnose_bogus(struct run *r, const struct reply_map *m, int killed_by)
{
    const unsigned char *lb = r->s->down.p + m->at;
    uint32_t le = proto_get_le32(lb);
    int32_t value = (int32_t)le;
    char text[32], killed[160] = "";
    int ascii = text_bytes(lb, text, sizeof text);
    if (killed_by)
        snprintf(killed, sizeof killed, "the client was killed by signal %d (%s) after this length: it "
                 "used the length before checking it (an array or a copy of that size?); ",
                 killed_by, strsignal(killed_by));
    if (m->header_len) {
        diagnose(r, "%sthe header says total_size 2147483647 (2 GiB): refuse a size above "
                    "256 MiB instead of waiting for it (or allocating it)", killed);
    } else if (ascii) {
        diagnose(r, "%slength 0x%08x is ASCII '%s': reading text as a length; the peer "
                    "speaks another protocol, so refuse it (any 4 ASCII bytes read as a "
                    "little-endian length are above 512 MiB)", killed, (unsigned)le, text);
    } else if (value < 0) {
        diagnose(r, "%slength bytes %02x %02x %02x %02x are %d as a signed 32-bit integer: "
                    "refuse a negative length (a loop `while received < length` ends at once, "
                    "and a size_t cast makes it huge)", killed, lb[0], lb[1], lb[2], lb[3], value);
    } else {
        diagnose(r, "%slength 0x%08x is %d bytes (2 GiB): refuse a length above 256 MiB instead "
                    "of waiting for it (or allocating it)", killed, (unsigned)le, value);
    }
}

/* One past the end of the piece that holds down offset AT (0: none sent). */
static size_t piece_end_holding(const struct script *s, size_t at)
{
    size_t pos = 0;
    for (size_t k = 0; k < s->n_acts; k++) {
        if (s->acts[k].kind != ACT_SEND)
            continue;
        pos += s->acts[k].arg;
        if (pos > at)
            return pos;
    }
    return 0;
}

/* The first reply whose body would start at stdout offset OUT and whose
 * down bytes (length first) are what the output shows there, N of them
 * (N >= 2): the client printed the raw stream. Returns its index, or
 * n_replies. */
static size_t raw_reply_at(const struct script *s, size_t out, const unsigned char *got,
                           size_t got_len, size_t *n)
{
    if (out >= got_len || got_len - out < 2)
        return s->n_replies;
    *n = got_len - out < 4 ? got_len - out : 4;
    for (size_t i = 0; i < s->n_replies; i++)
        if (s->replies[i].out_at == out && s->replies[i].at + *n <= s->down.len &&
            memcmp(got + out, s->down.p + s->replies[i].at, *n) == 0)
            return i;
    return s->n_replies;
}

/* The reply whose length field, read big-endian, stderr names (stage 3
 * and 4 clients): the first reply at stdout offset OUT whose 4 length bytes
 * were all sent and read in the other byte order differ. Fills the value
 * as stderr says it. Returns its index, or n_replies. */
static size_t byte_swapped_reply(struct run *r, const struct conn *c, size_t out,
                                 const unsigned char *errb, size_t err_len, char *named,
                                 size_t named_len)
{
    const struct script *s = r->s;
    for (size_t i = 0; err_len && i < s->n_replies; i++) {
        const struct reply_map *m = &s->replies[i];
        if (m->bogus || m->out_at != out || c->sent < m->at + 4)
            continue;
        const unsigned char *lb = s->down.p + m->at;
        uint32_t be = proto_get_be32(lb);
        if (be == proto_get_le32(lb))
            continue;
        snprintf(named, named_len, "%u", be);
        if (contains(errb, err_len, named))
            return i;
        if (be > 0x7fffffffu) {
            snprintf(named, named_len, "%d", (int32_t)be);
            if (contains(errb, err_len, named))
                return i;
        }
    }
    return s->n_replies;
}

static void judge_client(struct run *r, enum wait_end how, struct conn *c)
{
    const struct script *s = r->s;
    struct child *ch = &r->child;
    char a[600], b[600], state[200];

    pthread_mutex_lock(&ch->lock);
    const unsigned char *got = ch->out.bytes;
    size_t got_len = ch->out.len;
    uint64_t got_total = ch->out.total;
    const unsigned char *errb = ch->err.bytes;
    size_t err_len = ch->err.len;
    pthread_mutex_unlock(&ch->lock);

    const unsigned char *want = s->want_out.p;
    size_t want_len = s->want_out.len;
    int exited = r->ended_itself && WIFEXITED(r->end_status);
    int code = exited ? WEXITSTATUS(r->end_status) : -1;

    /* What came out, compared with what had to. */
    size_t same = 0;
    while (same < got_len && same < want_len && got[same] == want[same])
        same++;
    int output_ok;
    if (s->ending == END_CLOSE) {
        size_t extra = got_len - same;
        output_ok = same == want_len && got_total == got_len && extra <= s->partial_len &&
                    (extra == 0 || memcmp(got + want_len, s->down.p + s->partial_at, extra) == 0);
    } else {
        output_ok = same == want_len && got_len == want_len && got_total == got_len;
    }
    int status_ok = s->ending == END_FIN ? exited && code == 0 : exited && code != 0;
    int extra_sent = c->in.len > c->in_used;
    r->v->pass = output_ok && status_ok && !r->stopped && !extra_sent;
    if (r->v->pass)
        return;

    /* The steps: how it ended, what was expected, what came. */
    describe_program(r, how, state, sizeof state);
    if (r->ended_itself)
        step(r, "the client %s", state);
    else
        step(r, "the client did not exit: it %s (the grader stopped it)", state);
    if (extra_sent)
        step(r, "after its last request the client sent %zu more %s: %s", c->in.len - c->in_used,
             plural(c->in.len - c->in_used, "byte", "bytes"),
             shown(a, sizeof a, c->in.p + c->in_used, c->in.len - c->in_used, SHOW));
    const char *want_how = s->ending == END_FIN ? "exit status 0 and on stdout"
                           : s->ending == END_CLOSE ? "a non-zero exit status (the last reply "
                                                      "was cut short) and on stdout"
                           : "a non-zero exit status (the reply cannot be right) and on stdout";
    step(r, "expected: %s the %zu %s of the complete replies%s: %s", want_how, want_len,
         plural(want_len, "byte", "bytes"),
         s->ending == END_CLOSE && s->partial_len ? " (then, at most, the part of the cut body "
                                                   "that came)" : "",
         shown(a, sizeof a, want, want_len, SHOW));
    char status_text[40] = "no exit status";
    if (exited)
        snprintf(status_text, sizeof status_text, "exit status %d", code);
    step(r, "got: %s and %llu %s on stdout: %s", status_text, (unsigned long long)got_total,
         plural(got_total, "byte", "bytes"), shown(b, sizeof b, got, got_len, SHOW));
    if (!output_ok && got_len > 0 && same < got_len && (same < want_len || s->ending != END_CLOSE)) {
        size_t down_at = down_offset_of_output(s, same);
        size_t ri = reply_of(s, down_at);
        const struct reply_map *m = &s->replies[ri];
        if (same < want_len)
            step(r, "the first difference is at byte %zu of stdout (byte %zu of reply %zu's body): "
                    "expected %s, got %s", same, same - m->out_at, ri + 1,
                 shown(a, sizeof a, want + same, want_len - same, 16),
                 shown(b, sizeof b, got + same, got_len - same, 16));
        else
            step(r, "stdout goes on after the %zu expected bytes: %s", want_len,
                 shown(b, sizeof b, got + same, got_len - same, 24));
    }
    if (err_len > 0) {
        /* The end of stderr holds the error, usually. */
        size_t from = err_len > 300 ? err_len - 300 : 0;
        step(r, "its stderr%s: %s", from ? " ends" : "",
             shown(a, sizeof a, errb + from, err_len - from, 300));
    }

    /* Where to look in the capture. */
    size_t fail_down = s->ending == END_HOLD && s->n_replies ? s->replies[s->n_replies - 1].at
                       : down_offset_of_output(s, same);
    if (fail_down > c->sent)
        fail_down = c->sent;
    fail_at(r, 1, fail_down, c);

    /* Why, where the evidence says so. The first diagnosis made wins:
     * the most specific evidence comes first. */
    size_t ri = reply_of(s, down_offset_of_output(s, same));
    const struct reply_map *m = &s->replies[ri];
    size_t raw_n = 0, raw_i;
    char named[24];
    if (how == WAIT_SPIN && s->ending == END_CLOSE)
        diagnose(r, "it kept running after the grader closed the connection, using %.1f s of CPU "
                    "without reading or printing anything: a receive loop that does not stop "
                    "when recv returns 0 (the peer closed)", r->spin_cpu);
    if (how == WAIT_SPIN)
        diagnose(r, "it used %.1f s of CPU without reading, sending or printing anything: a "
                    "loop that does not end (does it check recv's 0, the peer's close?)",
                 r->spin_cpu);
    /* Every whole reply printed right; then the bogus length. */
    if (s->ending == END_HOLD && s->n_replies && same == want_len) {
        const struct reply_map *bogus = &s->replies[s->n_replies - 1];
        if (got_len - same >= 4 && memcmp(got + same, s->down.p + bogus->at, 4) == 0)
            diagnose(r, "the output has %s, the %slength field the grader sent: the client "
                        "prints the raw stream; read the 4-byte length first and check it",
                     shown(a, sizeof a, got + same, 4, 4), s->proto == PROTO4 ? "header " : "");
        else if (r->ended_itself && WIFSIGNALED(r->end_status))
            diagnose_bogus(r, bogus, WTERMSIG(r->end_status));
        else if (how == WAIT_STUCK || how == WAIT_IDLE || got_len > want_len || (exited && code == 0))
            diagnose_bogus(r, bogus, 0);
    }
    if (s->ending == END_CLOSE && exited && code == 0 && output_ok)
        diagnose(r, "the server closed in the middle of reply %zu and the client exited with "
                    "status 0: a reply cut short is an error (say so and exit non-zero)",
                 reply_of(s, c->sent - 1) + 1);
    if (err_len && contains(errb, err_len, "UnicodeDecodeError"))
        diagnose(r, "decoding each piece as UTF-8 fails when a character is split between two "
                    "pieces: keep the bytes until the body is complete, then decode (or write "
                    "the bytes as they are)");
    /* The length read in the other byte order: all 4 bytes came, and
     * stderr names the value they make big-endian. */
    raw_i = byte_swapped_reply(r, c, same, errb, err_len, named, sizeof named);
    if (raw_i < s->n_replies) {
        const unsigned char *lb = s->down.p + s->replies[raw_i].at;
        diagnose(r, "its stderr names %s: that is reply %zu's %slength bytes %02x %02x %02x %02x "
                    "read big-endian; stage %s lengths are little-endian (struct.unpack('<i'), "
                    "or build it from the bytes: b0 | b1 << 8 | b2 << 16 | b3 << 24)",
                 named, raw_i + 1, s->proto == PROTO4 ? "header " : "", lb[0], lb[1], lb[2], lb[3],
                 s->proto == PROTO4 ? "4" : "3");
    }
    /* From the start of the reply that went wrong: its length's first
     * bytes may be its body's too ("3\x00\x00\x00" before "33\n..."). */
    size_t raw_at = m->out_at <= same ? m->out_at : same;
    raw_i = raw_reply_at(s, raw_at, got, got_len, &raw_n);
    if (raw_i < s->n_replies && !s->replies[raw_i].bogus)
        diagnose(r, "the output has %s, %sreply %zu's own length field: the client prints the "
                    "raw stream; read the 4-byte length first, then exactly that many bytes",
                 shown(a, sizeof a, got + raw_at, raw_n, 4), raw_n < 4 ? "the start of " : "",
                 raw_i + 1);
    if (same < got_len && same == m->out_at + m->body_len && ri + 1 < s->n_replies &&
        got_len - same >= 4 && memcmp(got + same, s->down.p + s->replies[ri + 1].at, 4) == 0)
        diagnose(r, "after reply %zu's body the output has %s, the length of reply %zu: the "
                    "client read past the end of reply %zu (two replies in one recv, printed as "
                    "one); never ask recv for more than the bytes still missing",
                 ri + 1, shown(a, sizeof a, got + same, 4, 4), ri + 2, ri + 1);
    /* Every byte right but the very last: an off-by-one at the end. */
    if (want_len > 0 && got_len + 1 == want_len && same == got_len && s->ending != END_HOLD) {
        size_t last = reply_of(s, down_offset_of_output(s, want_len - 1));
        diagnose(r, "stdout has every expected byte but the very last one (%s, the end of reply "
                    "%zu): an off-by-one at the end of the output (a length - 1, or a byte held "
                    "back and never written)", shown(a, sizeof a, want + want_len - 1, 1, 1),
                 last + 1);
    }
    /* A length field read with one recv(4) that returned fewer. */
    if (!m->bogus && length_was_split(s, ri) && same == m->out_at) {
        size_t k = 1;
        while (k < 4 && !piece_ends_at(s, m->at + k))
            k++;
        if (same < got_len && got_len - same >= 4 - k &&
            memcmp(got + same, s->down.p + m->at + k, 4 - k) == 0)
            diagnose(r, "reply %zu's output starts with %s, the last %zu %s of its length: "
                        "recv(4) returned only the first %zu and the client went on; read the "
                        "length in a loop until all 4 bytes are in", ri + 1,
                     shown(a, sizeof a, got + same, 4 - k, 4), 4 - k, plural(4 - k, "byte", "bytes"), k);
        /* It stopped there: the grader sent nothing after the piece that
         * completes the length (it only sends a piece once the last was
         * read), so the client never read a whole length. */
        else if (got_len == same && c->sent <= piece_end_holding(s, m->at + 3))
            diagnose(r, "the client failed at reply %zu, whose 4-byte length came in pieces (the "
                        "first one %zu %s): a single recv(4) returns what is there; read the "
                        "length in a loop until all 4 bytes are in", ri + 1, k, plural(k, "byte", "bytes"));
    }
    /* Stage 4: the client says the MD5 does not match, but the grader's
     * header holds the body's MD5: the client hashed other bytes. */
    if (s->proto == PROTO4 && !m->bogus && exited && code != 0 && same == m->out_at &&
        err_len && (contains(errb, err_len, "md5") || contains(errb, err_len, "MD5")))
        diagnose(r, "its stderr says the MD5 of reply %zu's body did not match, but the header "
                    "holds the MD5 of the %zu bytes the grader sent: the client hashed other "
                    "bytes (one recv taken as the body returns part of it, or the next reply "
                    "too); read exactly total_size bytes in a loop", ri + 1, m->body_len);
    /* One recv taken as the whole body. */
    if (!m->bogus && same > m->out_at && same < m->out_at + m->body_len && same < want_len) {
        size_t body_got = same - m->out_at;
        size_t at = m->body_at + body_got;
        if (body_got == 1024 || body_got == 4096 || body_got == 8192 || body_got == 65536)
            diagnose(r, "the reply ended %zu bytes in: one recv taken as one message; loop until "
                        "the length's %zu bytes are in", body_got, m->body_len);
        else if (piece_ends_at(s, at))
            diagnose(r, "reply %zu's output stops after %zu of its %zu bytes, exactly where a "
                        "piece of the stream ended: one recv taken as one message; loop until the "
                        "length's bytes are all in", ri + 1, body_got, m->body_len);
    }
    size_t last_sent = c->sent ? reply_of(s, (size_t)c->sent - 1) : 0;
    if (c->sent && s->replies[last_sent].body_len == 0 && !s->replies[last_sent].bogus &&
        (how == WAIT_STUCK || how == WAIT_IDLE))
        diagnose(r, "reply %zu has a 0-byte body and the client is blocked after it: it called "
                    "recv for a body that is not there (and waits for bytes of the next reply, "
                    "which only comes after the next request)", last_sent + 1);
    if ((how == WAIT_STUCK || how == WAIT_IDLE) && !r->ended_itself && c->eof == 0)
        diagnose(r, "the client read every byte the grader sent and then waited for more: it "
                    "expects more bytes than the reply holds");
}

/* ---- server mode -------------------------------------------------------------------- */

static int cond_ready(struct run *r, void *arg)
{
    int *from_port = arg;
    struct child *ch = &r->child;
    char found[NET_ADDRSTRLEN + 16] = "";

    pthread_mutex_lock(&ch->lock);
    const struct child_output *outs[2] = { &ch->err, &ch->out };
    for (int i = 0; i < 2 && !found[0]; i++) {
        const struct child_output *o = outs[i];
        const unsigned char *p = o->bytes, *end = p ? p + o->len : p;   /* NULL + 0: UB */
        while (p && p < end) {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL)
                break;
            size_t len = (size_t)(nl - p);
            if (len > 13 && len < 13 + sizeof found && memcmp(p, "listening on ", 13) == 0) {
                memcpy(found, p + 13, len - 13);
                found[len - 13] = '\0';
                break;
            }
            p = nl + 1;
        }
    }
    pthread_mutex_unlock(&ch->lock);
    if (found[0]) {
        char *colon = strrchr(found, ':');
        if (colon == NULL)
            return 0;
        *colon = '\0';
        snprintf(r->port, sizeof r->port, "%.7s", colon + 1);
        const char *host = found;
        size_t host_len = strlen(host);
        if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
            found[host_len - 1] = '\0';
            host++;
        }
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 || host[0] == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        snprintf(r->host, sizeof r->host, "%.63s", host);
        return 1;
    }
    if (*from_port && peek_listening((unsigned)atoi(r->port)) == 1)
        return 1;
    return 0;
}

/* The first port of the kernel's ephemeral range (the ports connect()
 * takes): 32768 unless /proc says otherwise. */
static unsigned ephemeral_low(void)
{
    unsigned low = 32768, high = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%u %u", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    return low;
}

/* Picks a free port for {port}. Between this pick and the server's bind,
 * a port of the ephemeral range can be taken by any connect() on the
 * machine (the grader's own clients among them: the server then fails with
 * "Address already in use"), so the pick is below that range, where only
 * an explicit bind lands: a random port from 10000 up, tried with a bind.
 * Falls back to bind 0 (an ephemeral port) when none is free. */
#define PICK_FROM 10000u
static int free_port(char *port, size_t len, char *err, size_t errlen)
{
    unsigned low = ephemeral_low();

    /* For the test of the retry: the first pick is this port, taken or not. */
    static int first_given;
    const char *first = getenv("NIANBAO_GRADE_FIRST_PORT");
    if (first != NULL && *first && !first_given) {
        first_given = 1;
        snprintf(port, len, "%s", first);
        return 0;
    }

    if (low > PICK_FROM + 100 && low <= 65535) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned seed = (unsigned)now.tv_nsec ^ ((unsigned)getpid() << 16);
        for (int tries = 0; tries < 64; tries++) {
            unsigned short p = (unsigned short)(PICK_FROM + (unsigned)rand_r(&seed) % (low - PICK_FROM));
            char text[8], ignored[200];
            snprintf(text, sizeof text, "%u", (unsigned)p);
            int fd = net_listen("127.0.0.1", text, SOCK_STREAM, ignored, sizeof ignored);
            if (fd >= 0) {
                close(fd);
                snprintf(port, len, "%u", (unsigned)p);
                return 0;
            }
        }
    }
    int fd = net_listen("127.0.0.1", "0", SOCK_STREAM, err, errlen);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof sa;
    int rc = getsockname(fd, (struct sockaddr *)&sa, &sa_len);
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    snprintf(port, len, "%u", ntohs(sa.sin_port));
    return 0;
}

static int argv_has_port(char **argv)
{
    for (int i = 0; argv[i]; i++)
        if (strstr(argv[i], "{port}"))
            return 1;
    return 0;
}

/* The server's state, when a client could not get an answer. */
static void diagnose_server_gone(struct run *r)
{
    struct child *ch = &r->child;
    if (!child_poll_exit(ch))
        return;
    pthread_mutex_lock(&ch->lock);
    int broken_pipe = ch->err.len && (contains(ch->err.bytes, ch->err.len, "BrokenPipeError") ||
                                      contains(ch->err.bytes, ch->err.len, "Broken pipe") ||
                                      contains(ch->err.bytes, ch->err.len, "ConnectionResetError"));
    pthread_mutex_unlock(&ch->lock);
    if (WIFSIGNALED(ch->status) && WTERMSIG(ch->status) == SIGPIPE)
        diagnose(r, "the server was killed by SIGPIPE when a client went away before its reply "
                    "was sent: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with "
                    "MSG_NOSIGNAL, treat EPIPE as \"this client is gone\" and serve the next");
    else if (broken_pipe)
        diagnose(r, "the server died of an error when a client went away before its reply was "
                    "sent: catch it (OSError around sendall), close that connection and serve "
                    "the next");
    else
        diagnose(r, "the server ended; it must serve one client after another, forever");
}

/* The server's stderr (its end), without the 'listening on' line: that
 * names a port, which changes from run to run. */
static void server_stderr_step(struct run *r)
{
    struct child *ch = &r->child;
    char a[600];
    struct bytes kept = { 0 };
    pthread_mutex_lock(&ch->lock);
    /* err.bytes is NULL until the server writes to stderr: no NULL + 0 */
    const unsigned char *p = ch->err.bytes, *end = p != NULL ? p + ch->err.len : NULL;
    while (p != NULL && p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl + 1 : end;
        if (!((size_t)(line_end - p) >= 13 && memcmp(p, "listening on ", 13) == 0))
            bytes_add(&kept, p, (size_t)(line_end - p));
        p = line_end;
    }
    pthread_mutex_unlock(&ch->lock);
    if (kept.len > 0) {
        size_t from = kept.len > 300 ? kept.len - 300 : 0;
        step(r, "the server's stderr%s: %s", from ? " ends" : "",
             shown(a, sizeof a, kept.p + from, kept.len - from, 300));
    }
    bytes_free(&kept);
}

/* The number of UTF-8 characters in BYTES (continuation bytes not counted). */
static size_t utf8_chars(const unsigned char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += (p[i] & 0xc0) != 0x80;
    return n;
}

/* Explains a length that is not the output's size. */
static void diagnose_length(struct run *r, const unsigned char lb[4], uint64_t value,
                            const struct want_reply *w, int is_total_size)
{
    size_t want_len = w->out.len + w->err.len;
    struct bytes body = { 0 };
    bytes_add(&body, w->out.p, w->out.len);
    bytes_add(&body, w->err.p, w->err.len);
    size_t chars = utf8_chars(body.p, body.len);
    bytes_free(&body);
    const char *field = is_total_size ? "total_size" : "the length";
    if (!is_total_size && proto_get_be32(lb) == want_len)
        diagnose(r, "length bytes %02x %02x %02x %02x read little-endian are %u, big-endian %zu: "
                    "the output's size. The length was written big-endian (htonl, "
                    "struct.pack('>i') or '!i'); stage %s wants little-endian (struct.pack('<i'))",
                 lb[0], lb[1], lb[2], lb[3], proto_get_le32(lb), want_len,
                 r->s->proto == PROTO4 ? "4" : "3");
    else if (value == chars && chars != want_len)
        diagnose(r, "%s is %llu, the number of characters in the output; its size in bytes is "
                    "%zu: count the bytes you send (len() of the encoded bytes, not of the text)",
                 field, (unsigned long long)value, want_len);
    else if (value == w->out.len && w->err.len > 0)
        diagnose(r, "%s is %llu, the size of stdout alone: the reply is stdout then stderr "
                    "(%zu + %zu bytes)", field, (unsigned long long)value, w->out.len, w->err.len);
}

/* The reply starts with the command's output itself where the length
 * goes: the output sent bare. REPLY: the bytes received, HAVE of them. */
static void diagnose_bare_output(struct run *r, const unsigned char *reply, size_t have,
                                 const struct bytes *want_body)
{
    char a[64];
    if (want_body->len >= 4 && have >= 4 && memcmp(reply, want_body->p, 4) == 0)
        diagnose(r, "the reply starts with the command's output itself (%s) where the %s goes: "
                    "send the 4-byte length first, then the output",
                 shown(a, sizeof a, reply, 4, 4),
                 r->s->proto == PROTO3 ? "length" : "header length");
}

/* A header length that could not be right: text, or the wrong byte order. */
static void diagnose_header_field(struct run *r, const unsigned char lb[4], size_t whole_reply)
{
    char text[32];
    uint32_t le = proto_get_le32(lb), be = proto_get_be32(lb);
    if (text_bytes(lb, text, sizeof text))
        diagnose(r, "length 0x%08x is ASCII '%s': reading text as a length. The server sent "
                    "the output itself where the %s goes: send the length first",
                 r->s->proto == PROTO5 ? be : le, text,
                 r->s->proto == PROTO3 ? "length" : "header length");
    else if (le > 0 && le <= PROTO_MAX_HEADER && r->s->proto == PROTO5)
        diagnose(r, "header length bytes %02x %02x %02x %02x read big-endian are %u, "
                    "little-endian %u: the length was written little-endian (struct.pack('<I') "
                    "or a native int); stage 5 wants network byte order (struct.pack('!I'), "
                    "htonl)", lb[0], lb[1], lb[2], lb[3], be, le);
    else if (be > 0 && be <= PROTO_MAX_HEADER && r->s->proto == PROTO4)
        diagnose(r, "header length bytes %02x %02x %02x %02x read little-endian are %u, "
                    "big-endian %u: the length was written big-endian (htonl, struct.pack('>i')); "
                    "stage 4 wants little-endian (struct.pack('<i'))", lb[0], lb[1], lb[2],
                 lb[3], le, be);
    else if (le == 0 && r->s->proto != PROTO3)
        diagnose(r, "a header length of 0: every stage %s reply starts with a JSON header "
                    "(at least {\"%s\": ...}), so its length is never 0: send the length of the "
                    "header's encoded bytes, then the header", r->s->proto == PROTO5 ? "5" : "4",
                 r->s->proto == PROTO5 ? "op" : "total_size");
    else if (r->s->proto == PROTO3 && be == whole_reply)
        diagnose(r, "length bytes %02x %02x %02x %02x read big-endian are %u, the output's size: "
                    "the length was written big-endian; stage 3 wants little-endian "
                    "(struct.pack('<i'))", lb[0], lb[1], lb[2], lb[3], be);
}

/* The failing byte, when a client could not even connect: where the
 * previous client left. */
static void fail_at_last(struct run *r)
{
    const struct conn *last = NULL;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++)
        if (r->conns[i].capture_id && (!last || r->conns[i].capture_id > last->capture_id))
            last = &r->conns[i];
    if (last)
        fail_at(r, 1, last->in.len, last);
}

/* A blocked server while another client is connected: it serves one
 * client at a time, and that one holds it up. */
static void diagnose_held_up(struct run *r, const struct conn *c, enum wait_end how)
{
    if (how != WAIT_STUCK)
        return;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        const struct conn *other = &r->conns[i];
        if (other == c || other->fd < 0 || other->capture_id == 0)
            continue;
        /* Both a server of one client at a time and an event loop that
         * blocks in one client's recv or send come here: say what both do. */
        diagnose(r, "the server is blocked while client %zu is connected (%s): it waits on that "
                    "one client, and every other waits with it; a server for many clients never "
                    "waits on one (a thread or a process per client, or an event loop that reads "
                    "what has come and keeps each connection's state: stage 6)", i + 1,
                 other->sent == 0 ? "it has sent nothing" : "its reply still to come");
        return;
    }
}

/* Stage 6: the server's child processes, once its clients have gone. */
struct children {
    int before;               /* processes before the first client came     */
    int64_t sampled_ms;
    struct group_sample now;
    int sampled;
};

/* At most one child more than before the clients came, and at most one
 * zombie: a server that waits for its children before the next accept
 * keeps the last one until then. One that never waits cannot get there. */
static int cond_reaped(struct run *r, void *arg)
{
    struct children *ch = arg;
    int64_t now = now_ms();
    if (ch->sampled && now - ch->sampled_ms < SAMPLE_MS / 5)
        return 0;
    ch->sampled_ms = now;
    if (child_sample(&r->child, &ch->now) < 0)
        return 0;
    ch->sampled = 1;
    return ch->now.zombies <= 1 && ch->now.processes <= ch->before + 1;
}

/* A wrong reply while another client has sent only part of its request:
 * the server may have read both clients' bytes as one stream (stage 6). */
static void diagnose_mixed(struct run *r, const struct conn *c, unsigned conn_no)
{
    if (r->last_wait == WAIT_STUCK)
        return;          /* blocked: diagnose_held_up says why */
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        const struct conn *other = &r->conns[i];
        if (other == c || other->fd < 0 || other->sent == 0 || other->up_at >= r->s->up[i].len)
            continue;
        diagnose(r, "client %zu had sent part of its request, and client %u's reply is wrong: "
                    "the server read the two clients' bytes as one stream. Each connection needs "
                    "a buffer (and a state) of its own, not one shared by the threads", i + 1,
                 conn_no);
        return;
    }
}

struct reply_wait {
    struct conn *c;
    const struct want_reply *w;
    struct reply_got *g;
    enum reply_state state;
    size_t need;
};

static int cond_reply(struct run *r, void *arg)
{
    struct reply_wait *rw = arg;
    conn_pull(r, rw->c);
    struct reply_got *g = rw->g;
    if (r->s->proto != PROTO5) {     /* stage 5 parses on from where it was */
        bytes_free(&g->header);
        bytes_free(&g->body);
    }
    rw->state = proto_parse_reply(r->s->proto, rw->c->in.p + rw->c->in_used,
                                  rw->c->in.len - rw->c->in_used, &rw->need, g);
    if (rw->state != REPLY_NEED_MORE || rw->c->eof)
        return 1;
    /* Known to be wrong already: a length other than the output's. */
    size_t want_len = rw->w->out.len + rw->w->err.len;
    if (rw->need > (r->s->proto == PROTO4 ? 4u : 0u) + 4 &&
        ((r->s->proto == PROTO3 && g->length != want_len) ||
         (r->s->proto == PROTO4 && g->header.len && g->length != want_len)))
        return 1;
    return 0;
}

static int cond_closed(struct run *r, void *arg)
{
    struct conn *c = arg;
    conn_pull(r, c);
    return c->eof;
}

/* Compares one stream of a stage 5 reply; says what differs. */
static int same_stream(struct run *r, unsigned conn_no, const char *name, const struct bytes *want,
                       const struct bytes *got)
{
    char a[200], b[200];
    size_t same = 0;
    while (same < want->len && same < got->len && want->p[same] == got->p[same])
        same++;
    if (same == want->len && same == got->len)
        return 1;
    step(r, "client %u: the command's %s is %zu %s: %s; the reply's output frames carried %zu: %s",
         conn_no, name, want->len, plural(want->len, "byte", "bytes"),
         shown(a, sizeof a, want->p, want->len, 40), got->len,
         shown(b, sizeof b, got->p, got->len, 40));
    if (same < want->len && same < got->len)
        step(r, "the first difference is at byte %zu of %s: expected %s, got %s", same, name,
             shown(a, sizeof a, want->p + same, want->len - same, 16),
             shown(b, sizeof b, got->p + same, got->len - same, 16));
    return 0;
}

/* Stage 5: reply K on C is output frames and an exit frame, or the error
 * the script expects. Returns 0 when it is right, -1 otherwise. */
static int expect_reply5(struct run *r, struct conn *c, unsigned conn_no, size_t k)
{
    const struct want_reply *w = &r->s->want[k];
    struct reply_got g;
    struct reply_wait rw = { c, w, &g, REPLY_NEED_MORE, 0 };
    char a[600], state[200];
    size_t start = c->in_used;
    int ok = 0;

    memset(&g, 0, sizeof g);
    enum wait_end how = wait_for(r, cond_reply, &rw);
    size_t have = c->in.len - c->in_used;
    if (rw.state == REPLY_BAD) {
        step(r, "client %u received %s: %s", conn_no, shown(a, sizeof a, c->in.p + start, have, 24),
             g.problem);
        fail_at(r, 1, start + g.problem_at, c);
        if (g.problem_at == g.parsed)
            diagnose_header_field(r, c->in.p + start + g.parsed, 0);
        goto end;
    }
    if (rw.state == REPLY_NEED_MORE) {
        describe_program(r, how, state, sizeof state);
        if (c->eof)
            step(r, "client %u: the server closed the connection after %zu %s of the reply (%d "
                    "whole %s)", conn_no, have, plural(have, "byte", "bytes"), g.frames,
                 g.frames == 1 ? "frame" : "frames");
        else
            step(r, "client %u got no %sreply (%zu %s): the server %s", conn_no,
                 have ? "whole " : "", have, plural(have, "byte", "bytes"), state);
        /* Where it went wrong: the request it misread, or the reply. */
        if (w->error_code && c->sent >= w->command.len)
            fail_at(r, 0, c->sent - w->command.len, c);
        fail_at(r, 1, start + have, c);
        if (w->error_code && strcmp(w->error_code, "bad_frame") == 0 && how == WAIT_STUCK &&
            w->command.len >= 4) {
            char text[32];
            escape_bytes(w->command.p, 4, text, sizeof text);
            diagnose(r, "length 0x%08x is ASCII '%s': reading text as a length. The server waits "
                        "for a header of %u bytes; refuse a header length above 65536 with an "
                        "error bad_frame, then close (it cannot find the next frame)",
                     proto_get_be32(w->command.p), text, proto_get_be32(w->command.p));
        }
        diagnose_held_up(r, c, how);
        if (how == WAIT_SPIN)
            diagnose(r, "the server uses CPU without answering: a loop that does not stop when "
                        "recv returns 0 (an earlier client closed)?");
        diagnose_server_gone(r);
        goto end;
    }
    c->in_used += rw.need;
    if (w->error_code) {
        if (strcmp(g.error_code, w->error_code) != 0) {
            if (g.error_code[0])
                step(r, "client %u received the error %s (\"%s\"); the protocol says %s",
                     conn_no, g.error_code, g.error_message, w->error_code);
            else
                step(r, "client %u received a command's reply where the error %s was due",
                     conn_no, w->error_code);
            fail_at(r, 1, start, c);
            goto end;
        }
        step(r, "client %u received the error %s: \"%s\"", conn_no, g.error_code, g.error_message);
        if (strcmp(w->error_code, "bad_frame") == 0) {
            /* After a frame it cannot read, the server cannot find the next
             * one: it must close. */
            how = wait_for(r, cond_closed, c);
            if (!c->eof) {
                describe_program(r, how, state, sizeof state);
                step(r, "client %u: the server kept the connection open after bad_frame: it %s",
                     conn_no, state);
                diagnose(r, "after a frame it cannot read the server must close: the next bytes "
                            "are not the start of a frame");
                fail_at(r, 1, c->in.len, c);
                goto end;
            }
            step(r, "client %u: the server closed the connection", conn_no);
        }
        ok = 1;
        goto end;
    }
    if (g.error_code[0]) {
        step(r, "client %u received the error %s: \"%s\"", conn_no, g.error_code, g.error_message);
        fail_at(r, 1, start, c);
        goto end;
    }
    if (!same_stream(r, conn_no, "stdout", &w->out, &g.out) ||
        !same_stream(r, conn_no, "stderr", &w->err, &g.err)) {
        fail_at(r, 1, start, c);
        goto end;
    }
    char sha[65];
    proto_sha256_hex(&g.body, 1, sha);
    if (!g.exit_code_given || g.exit_code != w->exit_code) {
        step(r, "client %u: the exit frame says exit_code %lld; the command exited with %d",
             conn_no, g.exit_code_given ? g.exit_code : -1, w->exit_code);
        fail_at(r, 1, start + rw.need - 1, c);
        goto end;
    }
    if (!g.stdout_size_given || g.stdout_size != w->out.len) {
        step(r, "client %u: the exit frame says stdout_size %llu; %zu bytes came on stdout",
             conn_no, (unsigned long long)g.stdout_size, w->out.len);
        fail_at(r, 1, start + rw.need - 1, c);
        goto end;
    }
    if (strcasecmp(sha, g.sha256) != 0) {
        step(r, "client %u: the exit frame says sha256 %s; the output's SHA-256 is %s", conn_no,
             g.sha256[0] ? g.sha256 : "(none)", sha);
        fail_at(r, 1, start + rw.need - 1, c);
        goto end;
    }
    step(r, "client %u received the reply: %d %s, %zu bytes on stdout %s, exit code %d",
         conn_no, g.frames, g.frames == 1 ? "frame" : "frames", g.out.len,
         shown(a, sizeof a, g.out.p, g.out.len, 40), w->exit_code);
    ok = 1;
end:
    bytes_free(&g.header);
    bytes_free(&g.body);
    bytes_free(&g.out);
    bytes_free(&g.err);
    return ok ? 0 : -1;
}

/* Reads reply K on C and checks it against the script. Returns 0 when it
 * is right, -1 otherwise (steps and diagnosis filled). */
static int expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k)
{
    if (r->s->proto == PROTO5)
        return expect_reply5(r, c, conn_no, k);

    const struct want_reply *w = &r->s->want[k];
    struct reply_got g;
    struct reply_wait rw = { c, w, &g, REPLY_NEED_MORE, 0 };
    char a[600], b[600], state[200];
    size_t want_len = w->out.len + w->err.len;
    size_t start = c->in_used;
    int ok = 0;

    memset(&g, 0, sizeof g);
    enum wait_end how = wait_for(r, cond_reply, &rw);
    size_t have = c->in.len - c->in_used;
    struct bytes want_body = { 0 };
    bytes_add(&want_body, w->out.p, w->out.len);
    bytes_add(&want_body, w->err.p, w->err.len);

    if (rw.state == REPLY_BAD) {
        step(r, "client %u received %s: %s", conn_no, shown(a, sizeof a, c->in.p + start, have, 24),
             g.problem);
        fail_at(r, 1, start + g.problem_at, c);
        if (g.problem_at == 0) {
            diagnose_header_field(r, g.len_bytes, want_len);
            diagnose_bare_output(r, c->in.p + start, have, &want_body);
        }
        goto end;
    }
    if (rw.state == REPLY_NEED_MORE && !g.have_len) {
        describe_program(r, how, state, sizeof state);
        if (c->eof)
            step(r, "client %u: the server closed the connection after %zu %s of the reply%s%s",
                 conn_no, have, plural(have, "byte", "bytes"), have ? ": " : " (none)",
                 have ? shown(a, sizeof a, c->in.p + start, have, 24) : "");
        else
            step(r, "client %u got no reply (%zu %s): the server %s", conn_no, have,
                 plural(have, "byte", "bytes"), state);
        fail_at(r, 1, start + have, c);
        diagnose_held_up(r, c, how);
        if (how == WAIT_STUCK && have == 0 && want_len == 0)
            diagnose(r, "the command printed nothing and no reply came: an empty output still "
                        "needs its reply (a length of 0%s)",
                     r->s->proto == PROTO4 ? ", in a header with total_size 0" : "");
        if (how == WAIT_SPIN)
            diagnose(r, "the server uses CPU without answering: a loop that does not stop when "
                        "recv returns 0 (an earlier client closed)?");
        diagnose_server_gone(r);
        goto end;
    }
    /* The length is known. */
    if (g.length != want_len) {
        char field[64];
        if (r->s->proto == PROTO4)
            snprintf(field, sizeof field, "header says total_size %llu", (unsigned long long)g.length);
        else
            snprintf(field, sizeof field, "length is %llu (bytes %02x %02x %02x %02x)",
                     (unsigned long long)g.length, g.len_bytes[0], g.len_bytes[1], g.len_bytes[2],
                     g.len_bytes[3]);
        step(r, "client %u received a reply whose %s; the command printed %zu %s (%zu on stdout, "
                "%zu on stderr): %s", conn_no, field, want_len, plural(want_len, "byte", "bytes"),
             w->out.len, w->err.len, shown(b, sizeof b, want_body.p, want_body.len, SHOW));
        if (r->s->proto == PROTO4)
            step(r, "its header: %s", shown(a, sizeof a, g.header.p, g.header.len, 200));
        fail_at(r, 1, start + (r->s->proto == PROTO4 ? 4 : 0), c);
        if (r->s->proto == PROTO3)
            diagnose_bare_output(r, c->in.p + start, have, &want_body);
        diagnose_length(r, g.len_bytes, g.length, w, r->s->proto == PROTO4);
        goto end;
    }
    if (rw.state == REPLY_NEED_MORE) {
        describe_program(r, how, state, sizeof state);
        size_t head = rw.need - g.length;
        size_t body_have = have > head ? have - head : 0;
        step(r, "client %u: the reply announced %llu bytes; %zu came, then the server %s", conn_no,
             (unsigned long long)g.length, body_have, c->eof ? "closed the connection" : state);
        fail_at(r, 1, start + have, c);
        diagnose_server_gone(r);
        goto end;
    }
    /* Complete, with the right length: the bytes, then the header's other
     * fields. */
    size_t head = rw.need - g.length, same = 0;
    while (same < want_len && g.body.p[same] == want_body.p[same])
        same++;
    if (same < want_len) {
        step(r, "client %u received %zu bytes as the body, the right count, but byte %zu differs: "
                "expected %s, got %s", conn_no, want_len, same,
             shown(a, sizeof a, want_body.p + same, want_len - same, 16),
             shown(b, sizeof b, g.body.p + same, want_len - same, 16));
        fail_at(r, 1, start + head + same, c);
        if (utf8_chars(want_body.p, want_len) != want_len)
            diagnose(r, "the bytes were changed on the way: send the command's output bytes as "
                        "they are (no decoding and encoding again, no text functions on them)");
        goto end;
    }
    if (r->s->proto == PROTO4) {
        if (g.stdout_size_given && g.stdout_size != w->out.len) {
            step(r, "client %u: the header says stdout_size %llu; the command printed %zu bytes on "
                    "stdout", conn_no, (unsigned long long)g.stdout_size, w->out.len);
            fail_at(r, 1, start + 4, c);
            goto end;
        }
        if (g.exit_code_given && g.exit_code != w->exit_code) {
            step(r, "client %u: the header says exit_code %lld; the command exited with %d",
                 conn_no, g.exit_code, w->exit_code);
            fail_at(r, 1, start + 4, c);
            goto end;
        }
        if (g.md5[0]) {
            char md5[33];
            proto_md5_hex(g.body.p, g.body.len, md5);
            if (strcasecmp(md5, g.md5) != 0) {
                step(r, "client %u: the header's md5 is %s; the body's MD5 is %s", conn_no, g.md5,
                     md5);
                fail_at(r, 1, start + 4, c);
                goto end;
            }
        }
    }
    step(r, "client %u received the reply: %s%llu bytes, %s", conn_no,
         r->s->proto == PROTO4 ? "a header, total_size " : "length ",
         (unsigned long long)g.length, shown(a, sizeof a, g.body.p, g.body.len, 40));
    c->in_used += rw.need;
    ok = 1;
end:
    bytes_free(&want_body);
    bytes_free(&g.header);
    bytes_free(&g.body);
    return ok ? 0 : -1;
}

struct connecting {
    struct conn *c;
    int error;                /* the connect's outcome: 0, or errno */
};

static int cond_connected(struct run *r, void *arg)
{
    struct connecting *k = arg;
    struct pollfd p = { k->c->fd, POLLOUT, 0 };
    (void)r;
    if (poll(&p, 1, 0) != 1)
        return 0;
    socklen_t len = sizeof k->error;
    if (getsockopt(k->c->fd, SOL_SOCKET, SO_ERROR, &k->error, &len) < 0)
        k->error = errno;
    return 1;
}

/* Connects C to the server, with a small, fixed receive buffer: without it
 * the kernel grows the window to tens of MiB, a whole reply fits in it, and
 * whether a server notices a client that left would depend on the
 * machine's settings. The connect does not block: a server whose accept
 * queue is full (it serves one client at a time, and the queue is short)
 * leaves it pending, and the grader must tell. Returns 0, or -1 after
 * saying why (the reason only: the port changes from run to run). */
static int connect_conn(struct run *r, struct conn *c, unsigned conn_no)
{
    struct addrinfo hints, *list = NULL;
    int rcvbuf = CLIENT_RCVBUF, error = 0, rc;
    char state[200];

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(r->host, r->port, &hints, &list);
    if (rc != 0) {
        step(r, "client %u could not connect: %s", conn_no, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       ai->ai_protocol);
        if (c->fd < 0) {
            error = errno;
            continue;
        }
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            error = 0;
            break;
        }
        error = errno;
        if (error == EINPROGRESS) {
            struct connecting k = { c, 0 };
            enum wait_end how = wait_for(r, cond_connected, &k);
            if (how == WAIT_DONE) {
                error = k.error;
                if (error == 0)
                    break;
            } else {
                freeaddrinfo(list);
                describe_program(r, how, state, sizeof state);
                step(r, "client %u could not connect: the server does not accept connections "
                        "(it %s)", conn_no, state);
                diagnose_held_up(r, c, how);
                diagnose_server_gone(r);
                close(c->fd);
                c->fd = -1;
                fail_at_last(r);
                return -1;
            }
        }
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(list);
    if (c->fd < 0) {
        step(r, "client %u could not connect: %s", conn_no, strerror(error));
        diagnose_server_gone(r);
        fail_at_last(r);
        return -1;
    }
    int on = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    c->opened = 1;
    conn_learn_addresses(c);
    trace_open_event(r, c, CAP_CONNECT, CALL_CONNECT);
    step(r, "client %u connected", conn_no);
    return 0;
}

/* 1 when a socket listens on the server's port and none of those that do
 * is the program's (its process tree's): it named another process's port,
 * and the grader would grade that process. 0 when one of them is the
 * program's, when none listens yet (the connect will tell), or when the
 * grader cannot look. */
static int port_taken_by_another(struct run *r)
{
    unsigned long inodes[16];
    size_t n = 0;
    int port = atoi(r->port);

    if (port <= 0)
        return 0;
    int listening = peek_listeners((unsigned)port, inodes, sizeof inodes / sizeof inodes[0], &n);
    if (listening <= 0 || (size_t)listening > n)
        return 0;       /* none yet, or more than we keep: cannot tell */
    return child_has_socket(&r->child, inodes, n) == 0;
}

/* 1 when the server's stderr says its bind found the address in use and
 * {port} is indeed taken now (a server that binds a port of its own choice
 * fails as any other). */
static int lost_port(struct run *r)
{
    struct child *ch = &r->child;
    static const char text[] = "Address already in use";
    pthread_mutex_lock(&ch->lock);
    int found = ch->err.bytes != NULL && memmem(ch->err.bytes, ch->err.len, text, sizeof text - 1);
    pthread_mutex_unlock(&ch->lock);
    if (!found)
        return 0;
    char ignored[200];
    int fd = net_listen(r->host, r->port, SOCK_STREAM, ignored, sizeof ignored);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return strstr(ignored, strerror(EADDRINUSE)) != NULL;
}

static void play_server_mode(struct run *r, int from_port)
{
    const struct script *s = r->s;
    char line[2048], state[200], a[400];

    command_line(r->cfg->argv, line, sizeof line);
    enum wait_end how = wait_started(r, cond_ready, &from_port);
    if (how != WAIT_DONE && from_port && child_poll_exit(&r->child) && lost_port(r)) {
        r->port_lost = 1;
        return;
    }
    if (how != WAIT_DONE) {
        describe_program(r, how, state, sizeof state);
        step(r, "the grader started the server: %s", line);
        char given[64] = "";
        if (from_port)
            snprintf(given, sizeof given, " nor listened on port %s, the one it was given", r->port);
        step(r, "it never said where it listens (a line 'listening on ADDR:PORT' on stdout or "
                "stderr)%s: it %s", given, state);
        finish_program(r, 0);
        server_stderr_step(r);
        if (!from_port && how == WAIT_STUCK)
            diagnose(r, "print 'listening on ADDR:PORT' once the socket listens, or give the "
                        "grader {port} in the server's arguments");
        r->v->pass = 0;
        return;
    }
    if (port_taken_by_another(r)) {
        if (from_port) {
            r->port_lost = 1;
            return;
        }
        step(r, "the grader started the server: %s", line);
        step(r, "%s port %s, but port %s is not the program's: another process listens there",
             from_port ? "it was given" : "it said it listens on", r->port, r->port);
        if (from_port)
            diagnose(r, "the program was given port %s to listen on and another process listens "
                        "there: did its bind fail? (its stderr may say)", r->port);
        else
            diagnose(r, "say the port of the program's own listening socket: bind, listen, then "
                        "read the port with getsockname and print 'listening on ADDR:PORT'");
        finish_program(r, 0);
        server_stderr_step(r);
        r->v->pass = 0;
        return;
    }
    step(r, "the grader (playing the clients) started the server: %s; it listens on port %s%s",
         line, r->port, from_port ? ", the one it was given" : ", as it said");

    struct children children = { .before = 1 };
    for (size_t i = 0; i < s->n_acts; i++)
        if (s->acts[i].kind == ACT_REAPED && child_sample(&r->child, &children.now) == 0)
            children.before = children.now.processes;

    int ok = 1;
    for (size_t i = 0; i < s->n_acts && ok; i++) {
        const struct act *act = &s->acts[i];
        struct conn *c = &r->conns[act->conn];
        unsigned no = act->conn + 1;
        switch (act->kind) {
        case ACT_CONNECT:
            ok = connect_conn(r, c, no) == 0;
            break;
        case ACT_SEND_UP:
        case ACT_SEND_UP_NOWAIT: {
            const unsigned char *p = s->up[act->conn].p + c->up_at;
            step(r, "client %u sent %s (%zu %s)", no, shown(a, sizeof a, p, act->arg, SHOW), act->arg,
                 plural(act->arg, "byte", "bytes"));
            if (send_piece_wait(r, c, p, act->arg, act->kind == ACT_SEND_UP) < act->arg) {
                step(r, "client %u: the send failed: the server had closed the connection", no);
                fail_at(r, 0, c->sent, c);
                diagnose_server_gone(r);
                ok = 0;
            }
            c->up_at += act->arg;
            break;
        }
        case ACT_REPLY:
            ok = expect_reply(r, c, no, act->arg) == 0;
            if (!ok)
                diagnose_mixed(r, c, no);
            break;
        case ACT_READ_SOME: {
            struct want_bytes w = { c, act->arg, 1 };
            how = wait_for(r, cond_have_bytes, &w);
            size_t have = c->in.len - c->in_used;
            if (have == 0) {
                describe_program(r, how, state, sizeof state);
                step(r, "client %u got nothing: the server %s", no,
                     c->eof ? "closed the connection" : state);
                fail_at(r, 1, c->in_used, c);
                diagnose_server_gone(r);
                ok = 0;
                break;
            }
            step(r, "client %u read %zu bytes of the reply", no, have);
            c->in_used = c->in.len;
            break;
        }
        case ACT_CLOSE: {
            int unread = c->in.len > c->in_used || !c->eof;
            /* A FIN first, seen by the server, then the close (a reset
             * when bytes are unread): the server's next send then fails
             * with EPIPE, whether or not it is blocked in send just now.
             * A reset alone gives ECONNRESET to a blocked send and EPIPE
             * to a later one, and the verdict would depend on timing. */
            shutdown(c->fd, SHUT_WR);
            wait_for(r, cond_fin_seen, c);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            close(c->fd);
            c->fd = -1;
            step(r, "client %u closed the connection%s", no,
                 c->sent == 0 ? " without sending anything"
                 : unread ? " without reading the rest of the reply" : "");
            wait_settled(r);
            break;
        }
        case ACT_REAPED:
            how = wait_for(r, cond_reaped, &children);
            if (how == WAIT_DONE) {
                step(r, "the server has no child process left over from the %zu clients", act->arg);
                break;
            }
            describe_program(r, how, state, sizeof state);
            step(r, "after %zu clients came and went, the server has %d child %s more than "
                    "before, %d of them %s (ended, never waited for); it %s",
                 act->arg, children.now.processes - children.before,
                 plural((size_t)(children.now.processes - children.before), "process", "processes"),
                 children.now.zombies, plural((size_t)children.now.zombies, "zombie", "zombies"),
                 state);
            fail_at_last(r);
            if (children.now.zombies > 1)
                diagnose(r, "a process that forks must wait for its children: waitpid(-1, NULL, "
                            "WNOHANG) until it returns 0, on SIGCHLD or before each accept "
                            "(Python: os.waitpid(-1, os.WNOHANG)); a child nobody waits for "
                            "stays a zombie, one per client, until fork fails");
            ok = 0;
            break;
        case ACT_PAUSE:
            step(r, "client %u waited %zu ms", no, act->arg);
            for (int64_t until = now_ms() + (int64_t)act->arg; now_ms() < until;)
                sleep_us(2000);
            break;
        default:
            break;
        }
    }
    if (ok && child_poll_exit(&r->child)) {
        describe_program(r, WAIT_EXITED, state, sizeof state);
        step(r, "the server %s", state);
        diagnose_server_gone(r);
        ok = 0;
    }
    finish_program(r, 0);
    if (!ok)
        server_stderr_step(r);
    r->v->pass = ok;
}

/* ---- the run ------------------------------------------------------------------------- */

/* ARGV with every "{port}" and "{host}" replaced. */
static char **substitute(char **argv, const char *host, const char *port)
{
    int n = 0;
    while (argv[n])
        n++;
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        struct bytes b = { 0 };
        const char *p = argv[i];
        while (*p) {
            if (strncmp(p, "{port}", 6) == 0 && port) {
                bytes_add(&b, port, strlen(port));
                p += 6;
            } else if (strncmp(p, "{host}", 6) == 0 && host) {
                bytes_add(&b, host, strlen(host));
                p += 6;
            } else {
                bytes_add(&b, p++, 1);
            }
        }
        bytes_add(&b, "", 1);
        if (b.failed) {
            bytes_free(&b);
            for (int j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
        out[i] = (char *)b.p;
    }
    return out;
}

static int run_once(const struct grade_config *cfg, const struct scenario *sc,
                    const struct script *s, struct verdict *v, int *port_lost, char *err,
                    size_t errlen)
{
    struct run r;
    int status = -1, from_port = 0;

    memset(&r, 0, sizeof r);
    memset(v, 0, sizeof *v);
    int64_t started = now_ms();
    r.started_ms = started;
    r.scenario_ms = (int64_t)(cfg->scenario_s ? cfg->scenario_s : SCENARIO_S) * 1000;
    r.cfg = cfg;
    r.sc = sc;
    r.s = s;
    r.v = v;
    r.listen_fd = -1;
    r.trace_fd = -1;
    r.quiet_ms = QUIET_MS;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        r.conns[i].fd = -1;
        r.conns[i].last_arrived = -1;
    }
    char peek_err[200];
    if (peek_open(&r.peek, peek_err, sizeof peek_err) < 0) {
        r.paced_by_time = 1;
        snprintf(v->note, sizeof v->note, "%.120s: pieces were paced %d ms apart instead, so a slow "
                 "program may have read several at once", peek_err, PACE_MS);
    }
    if (trace_start(&r, err, errlen) < 0)
        goto out;

    if (cfg->mode == MODE_CLIENT) {
        if (client_mode_listen(&r, err, errlen) < 0)
            goto out;
    } else {
        snprintf(r.host, sizeof r.host, "127.0.0.1");
        from_port = argv_has_port(cfg->argv);
        if (from_port && free_port(r.port, sizeof r.port, err, errlen) < 0)
            goto out;
    }
    r.argv = substitute(cfg->argv, r.host, from_port || cfg->mode == MODE_CLIENT ? r.port : NULL);
    if (r.argv == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char start_err[300];
    const struct bytes *input = cfg->mode == MODE_CLIENT ? &s->input : NULL;
    size_t out_limit = cfg->mode == MODE_CLIENT ? s->want_out.len + 65536 : 1u << 20;
    if (child_start(&r.child, r.argv, input ? (input->p ? (const void *)input->p : "") : NULL,
                    input ? input->len : 0, out_limit, r.host,
                    cfg->mode == MODE_CLIENT || from_port ? r.port : NULL, start_err,
                    sizeof start_err) < 0) {
        /* A program that cannot start fails every scenario, not the grader. */
        char line[2048];
        command_line(cfg->argv, line, sizeof line);
        step(&r, "the grader could not start %s: %s", line, start_err);
        v->pass = 0;
        status = 0;
        goto out;
    }
    r.child_started = 1;
    if (cfg->mode == MODE_CLIENT)
        play_client_mode(&r);
    else
        play_server_mode(&r, from_port);
    status = 0;

out:
    if (r.child_started) {
        finish_program(&r, 0);
        child_free(&r.child);
    }
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        if (r.conns[i].fd >= 0)
            close(r.conns[i].fd);
        bytes_free(&r.conns[i].in);
    }
    if (r.listen_fd >= 0)
        close(r.listen_fd);
    if (status == 0)
        trace_finish(&r);
    else if (r.trace_fd >= 0) {
        close(r.trace_fd);
        r.trace_fd = -1;
        v->pass = 0;
        trace_finish(&r);
    }
    peek_close(&r.peek);
    if (r.argv) {
        for (int i = 0; r.argv[i]; i++)
            free(r.argv[i]);
        free(r.argv);
    }
    free(r.pieces);
    v->ms = now_ms() - started;
    *port_lost = r.port_lost;
    return status;
}

/* A port picked for {port} can still be taken by another process before
 * the server binds it (another grader's server, a test's): the server then
 * fails to bind, or another process answers there. That is the machine's
 * doing, not the program's: the scenario runs again on another port. */
#define PORT_TRIES 4
int engine_run(const struct grade_config *cfg, const struct scenario *sc,
               const struct script *s, struct verdict *v, char *err, size_t errlen)
{
    int port_lost = 0, status = -1;
    for (int tries = 0; tries < PORT_TRIES; tries++) {
        status = run_once(cfg, sc, s, v, &port_lost, err, errlen);
        if (status < 0 || !port_lost)
            return status;
    }
    snprintf(err, errlen, "%d ports picked for {port} were each taken by another process before "
             "the server bound it", PORT_TRIES);
    return -1;
}

const char *wait_end_name(enum wait_end how)
{
    static const char *const names[WAIT_ENDS] = { "met", "exited", "stuck", "spinning", "last-guard",
                                                     "settled" };
    return (unsigned)how < WAIT_ENDS ? names[how] : "?";
}
