/* class.h - grading a whole class (--each DIR...): the same command once
 * per submission directory, {dir} replaced, JOBS graders at a time. Each
 * submission is graded by a grader of its own (this program again, run
 * from /proc/self/exe), which writes the submission's report into DIR (in
 * the format asked for) and its captures into DIR/grade-captures, and
 * hands its verdicts back as JSON (--verdicts-json): no state is shared
 * between submissions, and each is graded with the same seed whatever
 * JOBS is. Then the class table on TABLE, one row per submission in the
 * order given, and the page (--html): submissions x scenarios.
 *
 * This module prints: the table, the page, and on ERRORS what a
 * submission's grader said there, prefixed with its directory. */
#ifndef GRADER_CLASS_H
#define GRADER_CLASS_H

#include <stdio.h>

#include "report.h"

struct class_run {
    char *const *dirs;            /* the submissions, as the user named them
                                     (slashes tidied)                        */
    size_t n_dirs;
    char *const *grader_args;     /* each grader's options: the mode word,
                                     --proto and the rest; NULL-terminated  */
    char *const *program;         /* the command, "{dir}" not replaced yet   */
    const char *self;             /* how we were called (argv[0])            */
    enum report_format format;
    unsigned long jobs;
    size_t total;                 /* scenarios each submission runs          */
    FILE *table, *errors;         /* stdout, stderr                          */
    FILE *html;                   /* the page, or NULL                       */
};

struct class_outcome {
    size_t passed;                /* submissions that passed every scenario  */
    size_t failed;                /* that failed at least one                */
    size_t trouble;               /* that could not be graded                */
};

/* DIR's report file name for FORMAT: "grade.txt", "grade.tap", "grade.xml",
 * or "results.json" (Gradescope's name). */
const char *class_report_name(enum report_format format);

/* Grades every submission of RUN. Returns 0 with OUT filled, or -1 with ERR
 * filled when the grader itself could not go on (no temporary folder, no
 * fork), after ending what it started. */
int class_grade(const struct class_run *run, struct class_outcome *out, char *err,
                size_t errlen);

/* Sends SIGTERM to every grader running, waits for them and removes the
 * temporary folder; for a signal handler. */
void class_kill_all_from_signal(void);

#endif
