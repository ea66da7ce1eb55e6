/* progress.h - a transfer's progress bar: "  1.5 MiB / 3.0 MiB  50%
 * 12.0 MiB/s  0:00:01 left", redrawn over itself at most ten times a
 * second. This module makes the line; the program draws it (on a
 * terminal only), or has progress_draw write it to a FILE it passes.
 * Nothing here exits. */
#ifndef NIANBAO_PROGRESS_H
#define NIANBAO_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct progress {
    int on;                         /* 0: no line is ever due */
    uint64_t total, start_at;       /* bytes: the whole file, and where we began */
    double started, drawn;          /* CLOCK_MONOTONIC seconds */
};

/* A transfer of TOTAL bytes that begins at START_AT (a resume); ON: draw
 * at all (the program's stderr is a terminal). */
void progress_start(struct progress *p, int on, uint64_t total, uint64_t start_at);

/* With DONE bytes there: the line to draw over the last one ("\r...",
 * padded, with a newline when FINAL), into OUT, when one is due (P on, and
 * 0.1 s since the last, or FINAL). Returns 1 when OUT holds a line, 0 when
 * nothing is due. */
int progress_line(struct progress *p, uint64_t done, int final, char *out, size_t outlen);

/* progress_line, written to TO (the program's stderr) and flushed when a
 * line is due. */
void progress_draw(struct progress *p, uint64_t done, int final, FILE *to);

/* BYTES in the largest binary unit that keeps them at 1 or more: "512 B",
 * "1.5 MiB". */
void progress_human(double bytes, char *out, size_t outlen);

#endif
