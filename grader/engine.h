/* engine.h - plays one scenario's script against the program under test
 * and fills a verdict: PASS or FAIL, the numbered steps of what happened,
 * a diagnosis where one fits, and (for a failure) a capture of the
 * grader's side of every connection, with the byte where it went wrong.
 *
 * Waiting never depends on the machine's speed: the grader waits for the
 * program to do something (read a piece, send a request, print, exit), and
 * gives up only when the program provably cannot go on: it exited, or
 * every one of its threads has slept for a second without being woken
 * (blocked on bytes that will not come), or it burns CPU for seconds
 * without reading, sending or printing anything (spinning), or nothing at
 * all has happened for 30 s.
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
};

#define VERDICT_MAX_STEPS 80

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
};

/* Runs script S of scenario SC. Returns 0 with V filled, or -1 with ERR
 * filled when the grader itself could not run it (no socket, no fork). */
int engine_run(const struct grade_config *cfg, const struct scenario *sc,
               const struct script *s, struct verdict *v, char *err, size_t errlen);

void verdict_free(struct verdict *v);

#endif
