/* svg.h - a screen of cells (grid.h) as a plain SVG picture.
 *
 * The picture is what a terminal shows: a rectangle per run of background
 * colour, a <text> per run of characters in one style, in a monospace font,
 * each run stretched to its cells so columns line up whatever the font.
 * No script, no external resources, no IDs or times that change from run
 * to run: the same cells give the same bytes. Text is XML-escaped, and a
 * character no picture should carry (a control, a bidirectional override,
 * invalid UTF-8) becomes U+FFFD. Nothing here prints or exits. */
#ifndef NIANBAO_SVG_H
#define NIANBAO_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "grid.h"

/* What the picture says it shows, for screen readers and code-hosting
 * sites: <title> (short) and <desc> (longer). Either may be NULL. */
struct svg_meta {
    const char *title;
    const char *desc;
};

/* Writes G as a still picture to OUT. Returns 0, or -1 when OUT failed. */
int svg_write_screen(FILE *out, const struct grid *g, const struct svg_meta *meta);

/* Writes N frames of one size as an animation (SMIL, which browsers run in
 * an <img>): frame I is shown for HOLD_MS[I] milliseconds, then the next;
 * after the last the animation starts over. A row that stays the same over
 * several frames is written once for all of them. Returns 0, or -1 when OUT
 * failed or the frames differ in size. */
int svg_write_animation(FILE *out, const struct grid *frames, const unsigned *hold_ms,
                        size_t n, const struct svg_meta *meta);

/* Writes N frames to the file PATH: a still picture when N is 1, else an
 * animation. A file that could not be written whole is removed. Returns 0,
 * or -1 with ERR filled ("cannot write PATH: REASON"). */
int svg_write_file(const char *path, const struct grid *frames, const unsigned *hold_ms,
                   size_t n, const struct svg_meta *meta, char *err, size_t errlen);

/* The text of ROW of G, blanks at both ends trimmed, into BUF. */
void grid_row_text(const struct grid *g, int row, char *buf, size_t len);

#endif
