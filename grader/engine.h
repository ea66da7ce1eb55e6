/* engine.h - plays one scenario's script against the program under test
 * and fills a verdict: PASS or FAIL, the numbered steps of what happened,
 * a diagnosis where one fits, and (for a failure) a capture of the
 * grader's side of every connection, with the byte where it went wrong.
 *
 * Waiting never depends on the machine's speed: the grader waits for the
 * program to do something (read a piece, send a request, print its stdout
 * as a client, start or end a process, exit), and gives up only when the
 * program provably cannot go on: it exited; or every one of its threads
 * waits in a system call and it has made no progress for 1 s (3 s before it
 * first connected or listened: a loaded machine may hold a program starting
 * up) (blocked on bytes that will not
 * come; a timer that wakes it and moves nothing is not progress, nor is
 * output other than a client's stdout: a server that prints a line every
 * half second and never listens is blocked); or it used 0.5 s of CPU with
 * no progress (spinning); or, the last guard, nothing at all happened for
 * 30 s or the scenario has run 60 s. Each scenario's verdict counts which
 * of these ended its waits.
 *
 * Nothing here prints or exits. */
#ifndef GRADER_ENGINE_H
#define GRADER_ENGINE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "grade.h"

struct grade_config {
    enum grade_mode mode;
    unsigned proto;
    char **argv;              /* the program; "{port}" and "{host}" replaced */
    uint64_t seed;
    const char *captures_dir; /* where failing scenarios' captures go        */
    const char *self;         /* how the grader was invoked (for the replay) */
    const char *self_args;    /* the options to repeat in the replay line    */
    unsigned long scenario_s; /* a scenario's most: past it, every wait ends
                                 at once (the last guard); 0: 60 s         */
};

#define VERDICT_MAX_STEPS 80

/* How a wait ended: the condition it waited for held, the program exited,
 * or a rule gave up on it: stuck (blocked, no progress), spinning, or the
 * last guard (nothing at all for 30 s, or the scenario ran 60 s). WAIT_SETTLED is counted, never
 * returned: a wait for the program to be done with a close, which ends
 * when it is blocked and quiet for 0.2 s. */
enum wait_end { WAIT_DONE, WAIT_EXITED, WAIT_STUCK, WAIT_SPIN, WAIT_IDLE, WAIT_SETTLED, WAIT_ENDS };

/* "met", "exited", "stuck", "spinning", "last-guard", "settled". */
const char *wait_end_name(enum wait_end how);

struct verdict {
    int pass;
    char *steps[VERDICT_MAX_STEPS];
    size_t n_steps;
    size_t steps_dropped;
    char diagnosis[800];
    int have_at;              /* the failing byte is known:                  */
    int at_down;              /* 1: server -> client, 0: client -> server    */
    uint64_t at_offset;
    unsigned at_conn;         /* 1-based, in the capture's order             */
    char capture[PATH_MAX];   /* kept capture, "" when none                  */
    char note[256];           /* about the run itself (pacing, capture)      */
    unsigned waits[WAIT_ENDS];/* the scenario's waits, by how each ended     */
    int64_t ms;               /* how long the scenario took                  */
};

/* Runs script S of scenario SC. Returns 0 with V filled, or -1 with ERR
 * filled when the grader itself could not run it (no socket, no fork). */
int engine_run(const struct grade_config *cfg, const struct scenario *sc,
               const struct script *s, struct verdict *v, char *err, size_t errlen);

void verdict_free(struct verdict *v);

#endif
