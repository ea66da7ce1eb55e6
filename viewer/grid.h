/* grid.h - a screen as cells: what the viewer drew, apart from the terminal.
 *
 * ui.c draws with ncurses; ui_read_grid() reads the cells back from its
 * screen (the same cells a terminal would get), and svg.c writes them as a
 * picture. Nothing here knows about ncurses or prints. */
#ifndef NIANBAO_GRID_H
#define NIANBAO_GRID_H

#include <stddef.h>

enum grid_attr {
    GRID_BOLD = 1,
    GRID_DIM = 2,
    GRID_UNDERLINE = 4,
    GRID_REVERSE = 8,      /* reverse and standout: xterm draws both so */
    GRID_BLINK = 16,
};

/* The eight ANSI colours, GRID_DEFAULT for the terminal's own. */
#define GRID_DEFAULT (-1)

struct grid_cell {
    char text[8];          /* one character, UTF-8; "" after a wide one */
    signed char fg, bg;    /* 0..7 (COLOR_BLACK..COLOR_WHITE) or GRID_DEFAULT */
    unsigned char attrs;   /* enum grid_attr */
    unsigned char width;   /* cells: 1, 2 (wide), 0 (right half of a wide one) */
};

struct grid {
    int rows, cols;
    struct grid_cell *cells;   /* rows * cols, row by row */
};

static inline struct grid_cell *grid_at(const struct grid *g, int row, int col)
{
    return &g->cells[(size_t)row * (size_t)g->cols + (size_t)col];
}

#endif
