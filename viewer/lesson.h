/* lesson.h - the guided tour behind `make demo`.
 *
 * For each stage the lesson starts the stage's server and client under the
 * tap, types the document's commands into the client one step at a time,
 * collects what the client prints, and asks the decoder what happened on
 * the wire. On a terminal every step waits for a key and is drawn by the
 * viewer; otherwise the whole lesson is printed as a transcript. */
#ifndef NIANBAO_LESSON_H
#define NIANBAO_LESSON_H

#include <stdio.h>

#include "lesson_config.h"

/* Runs the lesson; the transcript (text mode) goes to OUT.
 * Returns the exit status for main: 0 when every step ran, 1 when a
 * program could not be started or a step did not finish (said on stderr). */
int lesson_run(const struct lesson_config *cfg, FILE *out);

#endif
