/* lesson_config.h - what the guided lesson is asked to do (lesson.h's
 * lesson_run): read by the lesson's run (lesson.c) and its presentation
 * (lesson_show.c), so neither reaches into the other for it. */
#ifndef NIANBAO_LESSON_CONFIG_H
#define NIANBAO_LESSON_CONFIG_H

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

#endif
