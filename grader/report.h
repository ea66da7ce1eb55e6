/* report.h - what the grader prints: one line per scenario, and for a
 * failure the numbered steps, the diagnosis, the seed, the command that
 * replays it, the capture and the viewer command; as text, as TAP, as
 * JUnit XML or as Gradescope's results.json; and, on request, every
 * verdict as JSON for the class table (--verdicts-json, what --each reads).
 * This module and class.c are the grader's modules that print. */
#ifndef GRADER_REPORT_H
#define GRADER_REPORT_H

#include <stdio.h>

#include "engine.h"

enum report_format { FORMAT_TEXT, FORMAT_TAP, FORMAT_JUNIT, FORMAT_GRADESCOPE };

/* "text", "tap", "junit", "gradescope"; and back (-1: none of them). */
const char *format_name(enum report_format format);
int format_parse(const char *name);

/* One scenario's outcome, kept for the formats written at the end. */
struct report_case {
    const struct scenario *sc;
    uint64_t seed;
    int pass;
    int64_t ms;
    char *text;                /* its report as text: the PASS/FAIL line, and
                                  a failure's steps, diagnosis, commands     */
    char *diagnosis;           /* "" when none                             */
};

struct report {
    FILE *out;
    enum report_format format;
    int waits;                 /* a line of how each scenario's waits ended */
    int repeat;                /* seeds differ: JUnit names say the seed     */
    const struct grade_config *cfg;
    const char *viewer;        /* how to call nianbao-view                   */
    const char *program_line;
    size_t number;             /* scenarios reported so far                  */
    size_t passed, failed;
    char failed_names[1024];
    struct report_case *cases; /* JUnit, Gradescope                          */
    size_t n_cases, cap_cases;
    void *verdicts;            /* cJSON array when --verdicts-json is given  */
    int out_of_memory;
};

/* Prints the plan (TAP) or a title line (text). TOTAL: scenarios to come.
 * VERDICTS_JSON: keep every verdict for report_end to write there (NULL:
 * do not). */
void report_begin(struct report *rep, size_t total, const char *program_line,
                  int verdicts_json);

/* One scenario's outcome. REPEAT > 1: the seed shown is the one it ran with. */
void report_scenario(struct report *rep, const struct scenario *sc, const struct verdict *v,
                     uint64_t seed);

/* The summary line (text, TAP) or the whole document (JUnit, Gradescope);
 * then, when VERDICTS_PATH is not NULL, the verdicts as JSON to that file.
 * Returns 0, or -1 with ERR filled (out of memory, the file not written). */
int report_end(struct report *rep, const char *verdicts_path, char *err, size_t errlen);

/* Frees what the report kept. */
void report_free(struct report *rep);

/* ARG quoted for a POSIX shell, into BUF (always NUL-terminated). */
void shell_quote(const char *arg, char *buf, size_t len);

#endif
