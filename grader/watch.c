/* watch.c - the program under test, watched while the grader waits for it:
 * a wait ends when its condition holds, or when the program provably
 * cannot make it hold (see engine.h): it exited, it is stuck, it spins,
 * or the last guard. child.c samples the program; this file judges the
 * samples. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "play.h"

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
#define IO_PER_WAKE 64        /* bytes per wake-up below which reads and
                                 writes are a timer's (a timerfd's 8), not
                                 work                                       */
#define LAST_GUARD_MS 30000   /* no progress at all for this long: the last
                                 guard, which no lab program reaches        */
#define SCENARIO_S 60         /* ... or the scenario has run this long (its
                                 default, --scenario-limit): every wait
                                 after that ends at once                   */
#define STOP_GRACE_MS 2000    /* SIGTERM, then SIGKILL after this           */
#define STUCK_GRACE_MS 500    /* ... for a program its last wait found stuck
                                 or spinning: its verdict is in, and a
                                 server that lets a blocked send finish on
                                 SIGTERM would hold the report up 2 s      */
#define SETTLE_MS 200         /* blocked this long with no progress: it has
                                 done what it does with a close            */
#define TURN_MS 250           /* one turn of a wait's loop takes a few ms; a
                                 longer one is time the grader itself did
                                 not run (a loaded machine kept it off the
                                 CPU): beyond this, not counted as quiet   */
#define STUCK_LOOKS 3         /* "stuck" needs at least this many looks    */

int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sleep_us(unsigned us)
{
    struct timespec t = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

static uint64_t progress_mark(struct run *r)
{
    if (!r->child_started || r->cfg->mode != MODE_CLIENT)
        return r->progress;
    return r->progress + child_stdout_total(&r->child);
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

/* Waits until COND holds, or the program can provably not make it hold
 * (see engine.h). */
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
    /* The grader watches the program only while it runs itself: a turn of
     * this loop that took far longer than its pause (the grader held off
     * the CPU for seconds, the program meanwhile done with what the wait
     * needs) is not quiet seen, and a verdict rests on looks taken across
     * the quiet period, never on one look after such a gap. */
    int64_t last_turn = quiet_since;
    const char *stall = getenv("NIANBAO_GRADE_STALL_MS");
    static int stalled;

    for (;;) {
        if (cond(r, arg))
            return WAIT_DONE;
        if (r->child_started && child_poll_exit(&r->child))
            return cond(r, arg) ? WAIT_DONE : WAIT_EXITED;
        /* For the test of a grader held off the CPU: the first wait of a
         * started program sleeps this long once, here. */
        if (stall && *stall && !stalled && r->child_started) {
            stalled = 1;
            sleep_us((unsigned)atoi(stall) * 1000u);
        }
        int64_t now = now_ms();
        if (now - last_turn > TURN_MS)
            quiet_since += now - last_turn - TURN_MS;
        last_turn = now;
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
                    if (cond(r, arg))
                        return WAIT_DONE;
                    r->spin_cpu = gs.cpu - cpu_base;
                    return WAIT_SPIN;
                }
                /* Every thread waits, and nothing moved for the quiet
                 * period (its timers may fire: they move nothing). */
                if (gs.all_asleep && looks >= STUCK_LOOKS && asleep_looks * 4 >= looks * 3 &&
                    child_unread_output(&r->child) == 0 &&
                    now - quiet_since >= (r->gave_up && r->quiet_ms > CONFIRM_MS ? CONFIRM_MS
                                                                               : r->quiet_ms))
                    return cond(r, arg) ? WAIT_DONE : WAIT_STUCK;
            }
        }
        sleep_us(pause);
        unsigned cap = now - quiet_since > 50 ? 5000u : 1000u;
        pause = pause * 2 > cap ? cap : pause * 2;
    }
}

enum wait_end wait_for(struct run *r, wait_cond cond, void *arg)
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

/* The program as it stands now, in words: "exited with status 1". */
void describe_program(struct run *r, enum wait_end how, char *buf, size_t len)
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
void finish_program(struct run *r, int let_end)
{
    if (r->finished || !r->child_started)
        return;
    if (let_end && !child_poll_exit(&r->child) && r->last_wait != WAIT_STUCK &&
        r->last_wait != WAIT_SPIN && r->last_wait != WAIT_IDLE)
        wait_for(r, cond_exited, NULL);
    r->ended_itself = child_poll_exit(&r->child);
    r->end_status = r->child.status;
    child_stop(&r->child, r->last_wait == WAIT_STUCK || r->last_wait == WAIT_SPIN
                              ? STUCK_GRACE_MS : STOP_GRACE_MS);
    r->finished = 1;
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
void wait_settled(struct run *r)
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
enum wait_end wait_started(struct run *r, wait_cond cond, void *arg)
{
    int saved = r->quiet_ms;
    r->quiet_ms = START_QUIET_MS;
    enum wait_end how = wait_for(r, cond, arg);
    if (how != WAIT_STUCK)
        r->quiet_ms = saved;    /* else kept for the message */
    return how;
}

const char *wait_end_name(enum wait_end how)
{
    static const char *const names[WAIT_ENDS] = { "met", "exited", "stuck", "spinning", "last-guard",
                                                     "settled" };
    return (unsigned)how < WAIT_ENDS ? names[how] : "?";
}

void watch_start(struct run *r, unsigned long scenario_s)
{
    r->started_ms = now_ms();
    r->scenario_ms = (int64_t)(scenario_s ? scenario_s : SCENARIO_S) * 1000;
    r->quiet_ms = QUIET_MS;
}
