/* report.h - what the grader prints: one line per scenario, and for a
 * failure the numbered steps, the diagnosis, the seed, the command that
 * replays it, the capture and the viewer command; or the same as TAP.
 * This is the one module of the grader that prints. */
#ifndef GRADER_REPORT_H
#define GRADER_REPORT_H

#include <stdio.h>

#include "engine.h"

struct report {
    FILE *out;
    int tap;
    int waits;                 /* a line of how each scenario's waits ended */
    const struct grade_config *cfg;
    const char *viewer;        /* how to call nianbao-view                   */
    size_t number;             /* scenarios reported so far                  */
    size_t passed, failed;
    char failed_names[1024];
};

/* Prints the plan (TAP) or a title line. TOTAL: scenarios to come. */
void report_begin(struct report *rep, size_t total, const char *program_line);

/* One scenario's outcome. REPEAT > 1: the seed shown is the one it ran with. */
void report_scenario(struct report *rep, const struct scenario *sc, const struct verdict *v,
                     uint64_t seed);

/* The summary line. */
void report_end(struct report *rep);

/* ARG quoted for a POSIX shell, into BUF (always NUL-terminated). */
void shell_quote(const char *arg, char *buf, size_t len);

#endif
