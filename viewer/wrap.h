/* wrap.h - breaking text into lines that fit a width, for the lesson's
 * narration on screen.
 *
 * Latin text breaks at spaces; Chinese text may break between any two
 * characters, except that closing punctuation (。，、；：？！）」』”》 ...)
 * never starts a line and opening punctuation (（「『“《 ...) never ends
 * one: they stay with the character next to them, as Chinese typesetting
 * requires. A newline ends a line. Widths are in terminal cells (wcwidth;
 * the locale must be a UTF-8 one for Chinese to count 2 cells).
 *
 * Pure: no terminal, nothing printed. test_decode --wrap runs it on the
 * catalogue's texts. */
#ifndef NIANBAO_WRAP_H
#define NIANBAO_WRAP_H

#include <stddef.h>

/* One line: LEN bytes of the text from START, CELLS cells wide. */
struct wrap_line {
    size_t start, len;
    int cells;
};

/* Breaks TEXT into lines of at most WIDTH cells (a single character wider
 * than WIDTH gets a line of its own). Fills at most MAX lines of LINES and
 * returns how many lines there are in all (more than MAX when they did not
 * fit). */
size_t wrap_text(const char *text, int width, struct wrap_line *lines, size_t max);

/* The cells TEXT takes on a terminal (bytes that are not valid UTF-8 count
 * one cell each). */
int text_cells(const char *text);

#endif
