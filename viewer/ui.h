/* ui.h - the viewer's terminal drawing (ncurses).
 *
 * The UI only draws what the decoder (decode.h) has worked out: the byte
 * stream of one connection and direction, each byte coloured by the send()
 * that wrote it, a mark at every recv() boundary, pending bytes dimmed,
 * frame parts in their own style, and a status line with the STALE flag.
 * State lives in struct ui_view; the loop is keys -> data -> draw. */
#ifndef NIANBAO_UI_H
#define NIANBAO_UI_H

#include <libintl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decode.h"
#include "grid.h"

/* English msgids in the code; viewer/po/zh_CN.po translates them. */
#define _(msgid) gettext(msgid)
#define N_(msgid) (msgid)

#define UI_TEXT_DOMAIN "nianbao"

/* How the viewer shows one stream; everything the keys change. */
struct ui_view {
    size_t conn_index;     /* which connection (0-based, decoder order)   */
    enum direction dir;    /* DIR_DOWN (replies) by default               */
    int hex;               /* 1: every byte in hex; 0: text with escapes  */
    int follow;            /* 1: keep the newest bytes in view            */
    long top_row;          /* first row shown when not following          */
    int paused;            /* 1: stop reading new events (live view)      */
    int help;              /* 1: the key help is shown                    */
    int color;             /* 1: the terminal has colours and we use them */
    int utf8;              /* 1: the locale is UTF-8: show UTF-8 text     */
    int flow;              /* 1: newlines do not end a row (denser view)  */
    int jump;              /* 1: bring JUMP_TO into view at the next draw */
    uint64_t jump_to;      /* stream offset, e.g. the STALE recv's start  */
    uint64_t focus;        /* the offset the reader looks at: the last
                              jump, or the top row's first byte; x and w
                              keep it in view                            */
    int mark;              /* 1: MARK_AT is drawn marked (--at)          */
    uint64_t mark_at;
    uint64_t gap_min_ns;   /* a wait at least this long between two calls
                              gets a "+40ms" marker (0: none)            */
    uint64_t gap_max_ns;   /* ... and at most this long (0: any)         */
    const char *title;     /* what is being watched, for the top line     */
    char note[256];        /* a one-line message for the status line      */
    int note_until_key;    /* 1: NOTE answers a key; the next key clears it */
};

/* What a key press asked for. */
enum ui_action {
    UI_NONE = 0,
    UI_REDRAW,
    UI_QUIT,
    UI_NEXT,         /* lesson: the next step */
    UI_STEP_BACK,    /* replay: one event back */
    UI_STEP_FORWARD, /* replay: one event forward */
};

/* Sets up the terminal: colours when WANT_COLOR allows (-1 auto, 0 no,
 * 1 yes) and the terminal has them. Returns 0, or -1 when there is no
 * terminal to draw on. */
int ui_start(struct ui_view *view, int want_color);
void ui_stop(void);

/* A screen that draws into memory only, for pictures (ui_read_grid): the
 * same drawing as on a terminal, no terminal. */
struct ui_offscreen {
    FILE *out, *in;        /* /dev/null: ncurses writes and reads nothing */
    void *screen;          /* ncurses' SCREEN */
};

/* Sets up OFFSCREEN as the screen, ROWS x COLS; WANT_COLOR as ui_start's.
 * Returns 0, or -1 with ERR filled. */
int ui_start_offscreen(struct ui_offscreen *offscreen, struct ui_view *view, int want_color,
                       int rows, int cols, char *err, size_t errlen);
void ui_stop_offscreen(struct ui_offscreen *offscreen);

/* Reads the cells of the screen as drawn (after a ui_draw_* call) into G,
 * whose cells the caller frees. Returns 0, or -1 when out of memory. */
int ui_read_grid(struct grid *g);

/* Fills VIEW with the defaults (replies, text, following). */
void ui_view_init(struct ui_view *view);

/* Applies KEY (from getch) to VIEW. D gives the number of connections.
 * Returns what the caller must do. */
enum ui_action ui_handle_key(struct ui_view *view, const struct decoder *d, int key);

/* Draws the whole viewer screen (title, stream, frame line, status). */
void ui_draw_viewer(struct ui_view *view, const struct decoder *d);

/* Draws the stream panel of CONN/DIR into rows TOP..TOP+HEIGHT-1 of the
 * screen (the lesson puts it between its narration and the client's output). */
void ui_draw_stream(struct ui_view *view, const struct connection *conn,
                    int top, int height);

/* Draws the status line of the viewer on row ROW: the current connection's
 * counts in VIEW's direction, its last STALE flag, VIEW's note, and "STALE
 * needs both ends tapped" when that is so; each its own segment. */
void ui_draw_status(const struct ui_view *view, const struct decoder *d, int row);

/* The counts segment as the viewer words it: " sends 2  recvs 3  EOF
 * pending 6845 " (EOF only when the receiver saw it). */
void ui_counts_text(const struct stream *s, char *buf, size_t len);

/* The STALE flag as the screen words it (translated):
 * "STALE: recv #3 returned bytes of reply #2". */
void ui_stale_text(const struct decode_stale *stale, char *buf, size_t len);

/* The status line from its parts (any may be NULL or ""): COUNTS in reverse
 * video, STALE in the alarm style, then WHICH (the connection shown, when
 * there are several), NOTE and BLIND as plain segments, separated by " | "
 * so two messages never run together; "?: help" on the right when there is
 * room. */
void ui_draw_status_parts(const struct ui_view *view, const char *counts, const char *stale,
                          const char *which, const char *note, const char *blind, int row);

/* "conn 2 of 3: 127.0.0.1:40112 -> 127.0.0.1:8087" (translated) for C, the
 * INDEX-th (0-based) of COUNT connections. */
void ui_conn_text(const struct connection *c, size_t index, size_t count, char *buf,
                  size_t len);

/* Draws the key help over the screen. */
void ui_draw_help(int lesson);

/* Writes TEXT word-wrapped into rows TOP..TOP+HEIGHT-1 (wrap.h: Chinese
 * text wraps between characters, never before closing punctuation).
 * Returns the rows used. */
int ui_draw_wrapped(const char *text, int top, int height, int attr);

/* Writes at most LEN bytes of TEXT at ROW/COL, cut to MAX_COLS cells of
 * the screen (not bytes: a Chinese character takes 3 bytes and 2 cells).
 * Returns the cells written. */
int ui_put_n(int row, int col, const char *text, size_t len, int max_cols);
int ui_put(int row, int col, const char *text, int max_cols);

/* The connection VIEW shows, or NULL when there is none yet. */
const struct connection *ui_current_conn(const struct ui_view *view,
                                         const struct decoder *d);

#endif
