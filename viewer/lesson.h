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

struct lesson_config {
    const char *root;      /* the source tree: stage programs, tools/, viewer/ */
    const char *workdir;   /* where captures go; NULL: a fresh temp directory */
    int text;              /* 1: print the transcript instead of opening the UI */
    int color;             /* UI: -1 auto, 0 never, 1 when the terminal can */
    int only_stage;        /* 0: every stage; N: stage N only */
    unsigned slicer_seed;  /* the slicer's --seed, so a run can be repeated */
    const char *svg;       /* non-NULL: draw the screen in memory and write the
                              screen of step SVG_STEP of ONLY_STAGE to this
                              file as an SVG picture, with no terminal */
    int svg_step;          /* 1-based; 0: the stage's last step */
    int svg_rows, svg_cols;
    const char *svg_title; /* the picture's title; NULL: one is made */
    const char *from_capture;  /* non-NULL: ONLY_STAGE (1) is not run; its steps
                              are read from this capture of an earlier lesson
                              run, so its screens are the same every time */
};

/* Runs the lesson; the transcript (text mode) goes to OUT.
 * Returns the exit status for main: 0 when every step ran, 1 when a
 * program could not be started or a step did not finish (said on stderr). */
int lesson_run(const struct lesson_config *cfg, FILE *out);

#endif
