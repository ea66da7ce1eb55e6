/* ui.c - the viewer's terminal drawing (see ui.h).
 *
 * A stream is drawn in two passes: lay_out() turns the bytes the decoder
 * kept into tokens (one byte, one UTF-8 character, a decoded length field,
 * a recv mark) with their style, and places them on rows; draw_rows() puts
 * the visible rows on the screen. Scrolling is by row, so the layout is
 * recomputed on every draw: at most the decoder's window (64 KiB) per
 * stream, which is cheap next to a terminal write. */
#define _GNU_SOURCE
#include "ui.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "wrap.h"

/* Colour pairs. Sends cycle through SEND_COLORS; red is kept for STALE. */
enum {
    PAIR_SEND1 = 1,   /* .. PAIR_SEND1 + SEND_COLORS - 1 */
    SEND_COLORS = 5,
    PAIR_MARK = PAIR_SEND1 + SEND_COLORS,
    PAIR_STALE,
    PAIR_LEN,
    PAIR_HEADER_LEN,
    PAIR_BAD,
    PAIR_TITLE,
};

static const short send_fg[SEND_COLORS] = {
    COLOR_GREEN, COLOR_YELLOW, COLOR_CYAN, COLOR_MAGENTA, COLOR_BLUE,
};

enum token_kind {
    TOK_BYTES,        /* bytes of the stream, shown as text or hex   */
    TOK_MARK,         /* a recv boundary                              */
    TOK_BREAK,        /* end of row (after a newline byte in text)    */
    TOK_GAP,          /* "+40ms": the call came after a wait          */
};

struct token {
    enum token_kind kind;
    uint64_t offset;
    char text[48];    /* UTF-8, what is drawn                          */
    int width;        /* cells                                         */
    attr_t attr;
    short pair;
};

struct layout {
    struct token *tokens;
    size_t n, cap;
    long *row_start;  /* index of the first token of each row          */
    long rows, row_cap;
};

/* Waits shorter than this are the machine's own pace, not news.
 * NIANBAO_VIEW_GAP_MS (whole milliseconds, 1..3600000) moves it: on a slow
 * build (sanitizers, valgrind) a machine's own pace can pass 10 ms. */
#define GAP_MIN_NS 10000000ull

static uint64_t gap_min_ns(void)
{
    const char *env = getenv("NIANBAO_VIEW_GAP_MS");
    if (env == NULL || *env == '\0')
        return GAP_MIN_NS;
    char *end;
    errno = 0;
    unsigned long long ms = strtoull(env, &end, 10);
    if (errno != 0 || *end != '\0' || *env == '-' || ms < 1 || ms > 3600000)
        return GAP_MIN_NS;
    return ms * 1000000ull;
}

void ui_view_init(struct ui_view *view)
{
    memset(view, 0, sizeof *view);
    view->dir = DIR_DOWN;
    view->follow = 1;
    view->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    view->gap_min_ns = gap_min_ns();
}

/* Colour pairs when WANT_COLOR allows (-1 auto, 0 no, 1 yes) and the
 * terminal has them; VIEW->color says whether they are used. */
static void start_colors(struct ui_view *view, int want_color)
{
    view->color = 0;
    if (want_color != 0 && has_colors() && !(want_color < 0 && getenv("NO_COLOR"))) {
        start_color();
        use_default_colors();
        for (int i = 0; i < SEND_COLORS; i++)
            init_pair((short)(PAIR_SEND1 + i), send_fg[i], -1);
        init_pair(PAIR_MARK, COLOR_BLACK, COLOR_WHITE);
        init_pair(PAIR_STALE, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_LEN, COLOR_BLACK, COLOR_CYAN);
        init_pair(PAIR_HEADER_LEN, COLOR_BLACK, COLOR_MAGENTA);
        init_pair(PAIR_BAD, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_WHITE);
        view->color = 1;
    }
}

int ui_start(struct ui_view *view, int want_color)
{
    if (!newterm(NULL, stdout, stdin))
        return -1;
    raw();      /* Ctrl-C arrives as a key, so q and ^C both end cleanly */
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    view->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    start_colors(view, want_color);
    return 0;
}

/* The screen for pictures: a terminal of ROWS x COLS whose output goes
 * nowhere, described by the xterm entry every ncurses install has (the
 * user's TERM must not change a picture). */
int ui_start_offscreen(struct ui_offscreen *offscreen, struct ui_view *view, int want_color,
                       int rows, int cols, char *err, size_t errlen)
{
    memset(offscreen, 0, sizeof *offscreen);
    offscreen->out = fopen("/dev/null", "w");
    offscreen->in = fopen("/dev/null", "r");
    if (!offscreen->out || !offscreen->in) {
        snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
        goto fail;
    }
    offscreen->screen = newterm("xterm", offscreen->out, offscreen->in);
    if (!offscreen->screen) {
        snprintf(err, errlen, "ncurses has no description of an xterm: "
                 "is ncurses-base installed?");
        goto fail;
    }
    if (resize_term(rows, cols) != OK) {
        snprintf(err, errlen, "cannot make a %dx%d screen", cols, rows);
        goto fail;
    }
    view->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    start_colors(view, want_color);
    return 0;
fail:
    ui_stop_offscreen(offscreen);
    return -1;
}

void ui_stop_offscreen(struct ui_offscreen *offscreen)
{
    if (offscreen->screen) {
        endwin();
        delscreen(offscreen->screen);
    }
    if (offscreen->out)
        fclose(offscreen->out);
    if (offscreen->in)
        fclose(offscreen->in);
    memset(offscreen, 0, sizeof *offscreen);
}

int ui_read_grid(struct grid *g)
{
    g->rows = LINES;
    g->cols = COLS;
    g->cells = calloc((size_t)LINES * (size_t)COLS, sizeof *g->cells);
    if (!g->cells)
        return -1;
    for (int r = 0; r < LINES; r++) {
        for (int c = 0; c < COLS; c++) {
            struct grid_cell *cell = grid_at(g, r, c);
            cchar_t cc;
            wchar_t wch[CCHARW_MAX + 1] = { 0 };
            attr_t attrs = 0;
            short pair = 0, fg = -1, bg = -1;
            cell->width = 1;
            cell->fg = cell->bg = GRID_DEFAULT;
            if (mvin_wch(r, c, &cc) == ERR || getcchar(&cc, wch, &attrs, &pair, NULL) == ERR) {
                cell->text[0] = ' ';
                continue;
            }
            if (pair > 0 && pair_content(pair, &fg, &bg) == OK) {
                cell->fg = (signed char)(fg >= 0 && fg < 8 ? fg : GRID_DEFAULT);
                cell->bg = (signed char)(bg >= 0 && bg < 8 ? bg : GRID_DEFAULT);
            }
            cell->attrs = (unsigned char)((attrs & A_BOLD ? GRID_BOLD : 0) |
                                          (attrs & A_DIM ? GRID_DIM : 0) |
                                          (attrs & A_UNDERLINE ? GRID_UNDERLINE : 0) |
                                          (attrs & (A_REVERSE | A_STANDOUT) ? GRID_REVERSE : 0) |
                                          (attrs & A_BLINK ? GRID_BLINK : 0));
            mbstate_t st;
            memset(&st, 0, sizeof st);
            size_t n = wch[0] ? wcrtomb(cell->text, wch[0], &st) : (size_t)-1;
            int w = wch[0] ? wcwidth(wch[0]) : 1;
            if (n == (size_t)-1 || n >= sizeof cell->text || w < 1) {
                memset(cell->text, 0, sizeof cell->text);
                cell->text[0] = ' ';
                continue;
            }
            cell->text[n] = '\0';
            if (w == 2 && c + 1 < COLS) {
                /* the right half: the same style, no text of its own */
                struct grid_cell *half = grid_at(g, r, ++c);
                *half = *cell;
                memset(half->text, 0, sizeof half->text);
                half->width = 0;
                cell->width = 2;
            }
        }
    }
    return 0;
}

void ui_stop(void)
{
    if (!isendwin())
        endwin();
}

const struct connection *ui_current_conn(const struct ui_view *view,
                                         const struct decoder *d)
{
    if (d->n_conns == 0)
        return NULL;
    return d->conns[view->conn_index < d->n_conns ? view->conn_index : d->n_conns - 1];
}

int ui_put_n(int row, int col, const char *text, size_t len, int max_cols)
{
    mbstate_t st;
    size_t used = 0;
    int cells = 0;

    memset(&st, 0, sizeof st);
    while (used < len && text[used]) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, text + used, len - used, &st);
        int w = 1;
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            memset(&st, 0, sizeof st);
            n = 1;
        } else if (wcwidth(wc) >= 0) {
            w = wcwidth(wc);
        }
        if (cells + w > max_cols)
            break;
        cells += w;
        used += n;
    }
    if (used > 0)
        mvaddnstr(row, col, text, (int)used);
    return cells;
}

int ui_put(int row, int col, const char *text, int max_cols)
{
    return ui_put_n(row, col, text, strlen(text), max_cols);
}

/* ---- layout ---------------------------------------------------------------- */

static struct token *layout_push(struct layout *lay)
{
    if (lay->n == lay->cap) {
        size_t cap = lay->cap ? lay->cap * 2 : 1024;
        struct token *grown = realloc(lay->tokens, cap * sizeof *grown);
        if (!grown)
            return NULL;
        lay->tokens = grown;
        lay->cap = cap;
    }
    struct token *t = &lay->tokens[lay->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static void layout_free(struct layout *lay)
{
    free(lay->tokens);
    free(lay->row_start);
    memset(lay, 0, sizeof *lay);
}

/* Style of a stream byte: the send's colour (bold on every other send
 * without colours), dim when still pending, the frame part on top.
 * Without colours a STALE recv's bytes get standout + underline and
 * nothing else: standout is used for nothing else (tmux and xterm draw it
 * as reverse), and no other style puts reverse and underline together
 * without dim, so the garble never looks like a JSON header in an even
 * send (bold + underline). */
static void byte_style(const struct ui_view *view, const struct stream *s,
                       const struct decode_span *send, const struct decode_span *recv,
                       const struct decode_frame *frame, uint64_t offset, struct token *t)
{
    if (view->mark && offset == view->mark_at) {
        /* --at's byte: blinking standout, like nothing else on screen */
        t->attr |= A_STANDOUT | A_BLINK | A_BOLD;
        return;
    }
    /* Every byte a STALE recv returned stands out, not only its mark: the
     * whole stale "reply" is what the student saw printed. */
    if (recv && recv->stale) {
        if (!view->color) {
            t->attr |= A_STANDOUT | A_UNDERLINE;
            return;
        }
        t->attr |= A_REVERSE;
    }
    if (send) {
        if (view->color)
            t->pair = (short)(PAIR_SEND1 + (send->number - 1) % SEND_COLORS);
        else if (send->number % 2 == 0)
            t->attr |= A_BOLD;
    }
    if (s->receiver_tapped && offset >= s->received)
        t->attr |= view->color ? A_DIM : A_DIM | A_UNDERLINE;
    if (!frame)
        return;
    switch (frame->part) {
    case FRAME_HEADER_JSON:
        t->attr |= A_UNDERLINE;
        break;
    case FRAME_LEN_FIELD:
        if (view->color)
            t->pair = PAIR_LEN;
        else
            t->attr |= A_REVERSE;
        break;
    case FRAME_HEADER_LEN:
        if (view->color)
            t->pair = PAIR_HEADER_LEN;
        else
            t->attr |= A_REVERSE;
        break;
    case FRAME_BAD:
        if (view->color)
            t->pair = PAIR_BAD;
        else
            t->attr |= A_REVERSE | A_BOLD;
        break;
    default:
        break;
    }
}

/* Text of one byte in text mode; returns how many bytes the token covers
 * (a whole UTF-8 character when the locale is UTF-8). */
static size_t byte_text(const struct ui_view *view, const struct stream *s, uint64_t offset,
                        uint64_t end, struct token *t)
{
    int b = stream_byte(s, offset);
    if (b < 0) {
        snprintf(t->text, sizeof t->text, "%s", view->utf8 ? "·" : "?");
        t->width = 1;
        t->attr |= A_DIM;
        return 1;
    }
    if (b >= 0x20 && b < 0x7f) {
        t->text[0] = (char)b;
        t->width = 1;
        return 1;
    }
    if (view->utf8 && b >= 0xc2 && b <= 0xf4) {
        size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        char seq[4] = { (char)b };
        size_t got = 1;
        while (got < need && offset + got < end) {
            int c = stream_byte(s, offset + got);
            if (c < 0x80 || c > 0xbf)
                break;
            seq[got++] = (char)c;
        }
        wchar_t wc;
        mbstate_t st = { 0 };
        if (got == need && mbrtowc(&wc, seq, need, &st) == need && wcwidth(wc) > 0) {
            memcpy(t->text, seq, need);
            t->width = wcwidth(wc);
            return need;
        }
    }
    switch (b) {
    case '\n': snprintf(t->text, sizeof t->text, "\\n"); break;
    case '\t': snprintf(t->text, sizeof t->text, "\\t"); break;
    case '\r': snprintf(t->text, sizeof t->text, "\\r"); break;
    case 0:    snprintf(t->text, sizeof t->text, "\\0"); break;
    default:   snprintf(t->text, sizeof t->text, "\\x%02x", (unsigned)b); break;
    }
    t->width = (int)strlen(t->text);
    t->attr |= A_DIM;
    return 1;
}

/* "+40ms" / "+3.2s" for a wait of NS. */
static void gap_text(uint64_t ns, char *buf, size_t len)
{
    if (ns < 1000000000ull)
        snprintf(buf, len, "+%llums", (unsigned long long)(ns / 1000000));
    else
        snprintf(buf, len, "+%.1fs", (double)ns / 1e9);
}

/* A "+40ms" token before a call that came after a wait VIEW shows. */
static int push_gap(const struct ui_view *view, struct layout *lay, uint64_t offset, uint64_t gap)
{
    if (view->gap_min_ns == 0 || gap < view->gap_min_ns ||
        (view->gap_max_ns != 0 && gap > view->gap_max_ns))
        return 0;
    struct token *g = layout_push(lay);
    if (!g)
        return -1;
    g->kind = TOK_GAP;
    g->offset = offset;
    gap_text(gap, g->text, sizeof g->text);
    g->width = (int)strlen(g->text);
    g->attr = A_DIM | A_UNDERLINE;
    return 0;
}

/* A recv mark at OFFSET: "┃" (or "|"), "!" on red for a STALE recv. */
static int push_mark(const struct ui_view *view, struct layout *lay, uint64_t offset, int stale)
{
    struct token *m = layout_push(lay);
    if (!m)
        return -1;
    m->kind = TOK_MARK;
    m->offset = offset;
    snprintf(m->text, sizeof m->text, "%s", stale ? "!" : view->utf8 ? "┃" : "|");
    m->width = 1;
    if (view->color)
        m->pair = stale ? PAIR_STALE : PAIR_MARK;
    else
        m->attr = stale ? A_REVERSE | A_BOLD : A_REVERSE;
    return 0;
}

/* Tokens for [S->win_start, stream_window_end(S)). Spans and frames are
 * sorted by start, so one cursor per array walks them along with the
 * offset. A mark goes before every recv's first byte, and one where the
 * receiver has read up to when bytes wait after it (pending): that is where
 * its last recv stopped. A wait before a call gets a "+40ms" token (recvs
 * when the receiver is tapped, else sends). */
static int lay_out(const struct ui_view *view, const struct stream *s, struct layout *lay)
{
    uint64_t end = stream_window_end(s);
    size_t si = 0, ri = 0, fi = 0, ci = 0, gi = 0;
    uint64_t frontier = s->receiver_tapped && s->received < end ? s->received : UINT64_MAX;

    for (uint64_t off = s->win_start; off < end;) {
        while (si < s->n_sends && s->sends[si].end <= off)
            si++;
        while (ci < s->n_recvs && s->recvs[ci].end <= off)
            ci++;
        const struct decode_span *recv =
            ci < s->n_recvs && s->recvs[ci].start <= off ? &s->recvs[ci] : NULL;
        while (fi < s->n_frames && s->frames[fi].end <= off)
            fi++;
        const struct decode_span *send =
            si < s->n_sends && s->sends[si].start <= off ? &s->sends[si] : NULL;
        const struct decode_frame *frame =
            fi < s->n_frames && s->frames[fi].start <= off ? &s->frames[fi] : NULL;
        int known = stream_byte(s, off) >= 0;
        int length_token = known && !view->hex && frame && frame->start == off &&
                           (frame->part == FRAME_LEN_FIELD || frame->part == FRAME_HEADER_LEN);
        uint64_t tok_end = length_token ? frame->end : off + 1;
        if (!known) {
            /* Bytes the tap did not copy (beyond NIANBAO_TAP_CAP): one
             * token for the run, so they do not bury the rest; the run
             * stops where a recv starts, so its mark is drawn. */
            tok_end = stream_next_known(s, off, end);
            if (tok_end <= off)
                tok_end = end;
            size_t next = ri;
            while (next < s->n_recvs && s->recvs[next].start <= off)
                next++;
            if (next < s->n_recvs && s->recvs[next].start < tok_end)
                tok_end = s->recvs[next].start;
            if (frontier > off && frontier < tok_end)
                tok_end = frontier;
            if (view->mark && view->mark_at > off && view->mark_at < tok_end)
                tok_end = view->mark_at;
        }

        /* Waits before sends (receiver not tapped) that start here. */
        for (; gi < s->n_sends && s->sends[gi].start < tok_end; gi++)
            if (!s->receiver_tapped && s->sends[gi].start >= off &&
                push_gap(view, lay, s->sends[gi].start, s->sends[gi].gap_ns) < 0)
                return -1;
        /* Marks for every recv that starts inside this token. */
        while (ri < s->n_recvs && s->recvs[ri].start < tok_end) {
            if (s->recvs[ri].start >= off &&
                (push_gap(view, lay, s->recvs[ri].start, s->recvs[ri].gap_ns) < 0 ||
                 push_mark(view, lay, s->recvs[ri].start, s->recvs[ri].stale) < 0))
                return -1;
            ri++;
        }
        if (off == frontier && !(ri > 0 && s->recvs[ri - 1].start == off) &&
            push_mark(view, lay, off, 0) < 0)
            return -1;
        struct token *t = layout_push(lay);
        if (!t)
            return -1;
        t->kind = TOK_BYTES;
        t->offset = off;
        if (!known) {
            byte_style(view, s, send, recv, NULL, off, t);
            t->attr |= A_DIM;
            snprintf(t->text, sizeof t->text, _("[%llu bytes not captured]"),
                     (unsigned long long)(tok_end - off));
            t->width = text_cells(t->text);
            off = tok_end;
            continue;
        }
        byte_style(view, s, send, recv, frame, off, t);
        size_t used;
        if (length_token) {
            snprintf(t->text, sizeof t->text, "[%s %lld]",
                     frame->part == FRAME_LEN_FIELD ? "len" : "hdr", frame->value);
            t->width = (int)strlen(t->text);
            used = (size_t)(frame->end - off);
        } else if (view->hex) {
            snprintf(t->text, sizeof t->text, "%02x", (unsigned)stream_byte(s, off));
            t->width = 2;
            used = 1;
        } else {
            used = byte_text(view, s, off, end, t);
            if (!view->flow && stream_byte(s, off) == '\n') {
                struct token *br = layout_push(lay);
                if (!br)
                    return -1;
                br->kind = TOK_BREAK;
                br->offset = off;
            }
        }
        off += used;
    }
    return 0;
}

/* Places the tokens on rows of WIDTH cells. In hex mode bytes are spaced
 * and 16 to a row, so offsets line up like in a hex dump. */
static int lay_rows(const struct ui_view *view, struct layout *lay, int width)
{
    int col = 0, bytes_in_row = 0;
    int per_row = (width - 2) / 3 / 8 * 8;   /* whole groups of 8, room for marks */
    if (per_row < 8)
        per_row = 8;

    lay->rows = 0;
    for (size_t i = 0; i <= lay->n; i++) {
        int new_row = i == 0;
        if (i < lay->n && !new_row) {
            const struct token *t = &lay->tokens[i];
            const struct token *prev = &lay->tokens[i - 1];
            int need = t->width + (view->hex && t->kind == TOK_BYTES && prev->kind == TOK_BYTES);
            if (prev->kind == TOK_BREAK || col + need > width ||
                (view->hex && t->kind != TOK_BREAK && bytes_in_row >= per_row && t->kind == TOK_BYTES))
                new_row = 1;
        }
        if (i == lay->n)
            break;
        if (new_row) {
            if (lay->rows == lay->row_cap) {
                long cap = lay->row_cap ? lay->row_cap * 2 : 256;
                long *grown = realloc(lay->row_start, (size_t)cap * sizeof *grown);
                if (!grown)
                    return -1;
                lay->row_start = grown;
                lay->row_cap = cap;
            }
            lay->row_start[lay->rows++] = (long)i;
            col = 0;
            bytes_in_row = 0;
        }
        const struct token *t = &lay->tokens[i];
        if (view->hex && t->kind == TOK_BYTES && col > 0 && lay->tokens[i - 1].kind == TOK_BYTES)
            col++;
        col += t->width;
        bytes_in_row += t->kind == TOK_BYTES;
    }
    return 0;
}

static void put_token(const struct token *t, int with_space)
{
    if (with_space)
        addch(' ');
    if (t->pair)
        attron(COLOR_PAIR(t->pair));
    attron(t->attr);
    addstr(t->text);
    attroff(t->attr);
    if (t->pair)
        attroff(COLOR_PAIR(t->pair));
}

void ui_draw_stream(struct ui_view *view, const struct connection *conn, int top, int height)
{
    const struct stream *s = view->dir == DIR_UP ? &conn->up : &conn->down;
    struct layout lay = { 0 };

    for (int r = top; r < top + height; r++) {
        move(r, 0);
        clrtoeol();
    }
    if (lay_out(view, s, &lay) < 0 || lay_rows(view, &lay, COLS) < 0) {
        mvaddstr(top, 0, _("out of memory while drawing"));
        goto end;
    }
    if (lay.rows == 0) {
        attron(A_DIM);
        ui_put(top, 0, conn->compact ? _("(totals only: this old connection's bytes were freed)")
                                     : _("(no bytes in this direction yet)"), COLS);
        attroff(A_DIM);
        goto end;
    }
    long max_top = lay.rows > height ? lay.rows - height : 0;
    if (view->jump) {
        /* The row holding JUMP_TO, shown two rows below the top. */
        view->jump = 0;
        view->follow = 0;
        view->focus = view->jump_to;
        for (long r = 0; r < lay.rows; r++) {
            size_t last = r + 1 < lay.rows ? (size_t)lay.row_start[r + 1] : lay.n;
            if (last > 0 && lay.tokens[last - 1].offset >= view->jump_to) {
                view->top_row = r > 2 ? r - 2 : 0;
                break;
            }
        }
    }
    if (view->follow || view->top_row > max_top)
        view->top_row = max_top;
    if (view->top_row < 0)
        view->top_row = 0;
    /* What the reader looks at now, for x and w to keep in view: the last
     * jump's target while it is on screen, else the top row's first byte. */
    {
        size_t first = (size_t)lay.row_start[view->top_row];
        long bottom = view->top_row + height < lay.rows ? view->top_row + height : lay.rows;
        size_t after = bottom < lay.rows ? (size_t)lay.row_start[bottom] : lay.n;
        uint64_t shown_from = lay.tokens[first].offset;
        uint64_t shown_to = after < lay.n ? lay.tokens[after].offset : stream_window_end(s);
        if (view->focus < shown_from || view->focus >= shown_to)
            view->focus = shown_from;
    }
    for (long r = view->top_row; r < lay.rows && r < view->top_row + height; r++) {
        size_t first = (size_t)lay.row_start[r];
        size_t last = r + 1 < lay.rows ? (size_t)lay.row_start[r + 1] : lay.n;
        move(top + (int)(r - view->top_row), 0);
        for (size_t i = first; i < last; i++) {
            const struct token *t = &lay.tokens[i];
            if (t->kind == TOK_BREAK)
                continue;
            int spaced = view->hex && t->kind == TOK_BYTES && i > first &&
                         lay.tokens[i - 1].kind == TOK_BYTES;
            if (t->kind == TOK_GAP && i > first)
                addch(' ');
            put_token(t, spaced);
        }
    }
end:
    layout_free(&lay);
}

/* ---- lines around the stream ------------------------------------------------- */

static void draw_title(const struct ui_view *view, const struct decoder *d)
{
    const struct connection *conn = ui_current_conn(view, d);
    char line[512];

    if (conn)
        snprintf(line, sizeof line, " %s %u/%zu  %s -> %s  %s  [%s%s]  %s", _("conn"),
                 view->conn_index + 1 <= d->n_conns ? (unsigned)view->conn_index + 1 : 1u,
                 d->n_conns, conn->client_name, conn->server_name,
                 view->dir == DIR_DOWN ? _("replies (down)") : _("requests (up)"),
                 proto_name(conn->proto), conn->proto_guessed ? _(", guessed") : "",
                 view->title ? view->title : "");
    else
        snprintf(line, sizeof line, " %s  %s", _("no connection yet"),
                 view->title ? view->title : "");
    if (view->color)
        attron(COLOR_PAIR(PAIR_TITLE));
    else
        attron(A_REVERSE);
    mvhline(0, 0, ' ', COLS);
    ui_put(0, 0, line, COLS);
    if (view->color)
        attroff(COLOR_PAIR(PAIR_TITLE));
    else
        attroff(A_REVERSE);
}

/* What the protocol says the newest message is: "reply #3: hdr 78 | ...". */
static void draw_frame_line(const struct ui_view *view, const struct connection *conn, int row)
{
    char line[512] = "";
    size_t used = 0;

    move(row, 0);
    clrtoeol();
    if (!conn)
        return;
    const struct stream *s = view->dir == DIR_UP ? &conn->up : &conn->down;
    if (s->n_frames == 0)
        return;
    uint32_t message = s->frames[s->n_frames - 1].message;
    for (size_t i = 0; i < s->n_frames && used < sizeof line; i++) {
        const struct decode_frame *f = &s->frames[i];
        if (f->message != message)
            continue;
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s",
                                 used ? " | " : "", f->note);
    }
    attron(A_BOLD);
    ui_put(row, 0, line, COLS);
    attroff(A_BOLD);
}

void ui_counts_text(const struct stream *s, char *buf, size_t len)
{
    /* "recvs" counts the calls that returned data; the end of the stream (a
     * recv that returned 0) is shown as EOF, not counted as a recv */
    int used = snprintf(buf, len, _(" sends %u  recvs %u "), s->send_calls, s->recv_calls);
    if (s->eof && used > 0 && (size_t)used < len)
        used += snprintf(buf + used, len - (size_t)used, "%s", _(" EOF "));
    if (used > 0 && (size_t)used < len)
        snprintf(buf + used, len - (size_t)used, _(" pending %llu "),
                 (unsigned long long)stream_pending(s));
}

void ui_stale_text(const struct decode_stale *stale, char *buf, size_t len)
{
    snprintf(buf, len, _("STALE: recv #%u returned bytes of reply #%u"), stale->recv_no,
             stale->reply_no);
}

void ui_conn_text(const struct connection *c, size_t index, size_t count, char *buf,
                  size_t len)
{
    /* TRANSLATORS: the connection shown, of how many, and its two ends */
    snprintf(buf, len, _("conn %zu of %zu: %s -> %s"), index + 1, count, c->client_name,
             c->server_name);
}

void ui_draw_status_parts(const struct ui_view *view, const char *counts, const char *stale,
                          const char *which, const char *note, const char *blind, int row)
{
    move(row, 0);
    clrtoeol();
    /* Columns are counted here, not read back with getcurx: the cursor
     * wraps after a write that fills the last column. */
    int col = 0;
    if (counts && *counts) {
        attron(A_REVERSE);
        col += ui_put(row, 0, counts, COLS);
        attroff(A_REVERSE);
    }
    const char *plain[] = { which, note, blind };
    if (stale && *stale && col + 4 < COLS) {
        attr_t a = view->color ? COLOR_PAIR(PAIR_STALE) | A_BOLD : A_REVERSE | A_BOLD;
        /* the counts end with a space of their own */
        col += ui_put(row, col, col > 0 ? "| " : "", COLS - col);
        attron(a);
        col += ui_put(row, col, stale, COLS - col);
        attroff(a);
    }
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (!plain[i] || !*plain[i] || col + 4 >= COLS)
            continue;
        /* a separator between two messages, so they never read as one */
        col += ui_put(row, col, col > 0 ? " | " : "", COLS - col);
        col += ui_put(row, col, plain[i], COLS - col);
    }
    const char *right = view->paused ? _("PAUSED  ?: help") : _("?: help");
    int rcells = text_cells(right);
    if (COLS - rcells > col)
        mvaddstr(row, COLS - rcells, right);
}

void ui_draw_status(const struct ui_view *view, const struct decoder *d, int row)
{
    const struct connection *conn = ui_current_conn(view, d);
    char counts[160], stale_text[160], which[200] = "";
    const struct decode_stale *stale = NULL;

    /* several connections: say which one the screen shows (n / Tab) */
    if (conn && d->n_conns > 1)
        ui_conn_text(conn, (size_t)(conn->id - 1), d->n_conns, which, sizeof which);

    if (conn) {
        ui_counts_text(view->dir == DIR_UP ? &conn->up : &conn->down, counts, sizeof counts);
        for (size_t i = 0; i < d->n_stales; i++)
            if (d->stales[i].conn_id == conn->id)
                stale = &d->stales[i];
    } else {
        struct decode_status st;
        decoder_status(d, &st);
        snprintf(counts, sizeof counts, _(" sends %llu  recvs %llu  pending %llu "),
                 (unsigned long long)st.sends, (unsigned long long)st.recvs,
                 (unsigned long long)st.pending);
    }
    if (stale)
        ui_stale_text(stale, stale_text, sizeof stale_text);
    ui_draw_status_parts(view, counts, stale ? stale_text : NULL, which, view->note,
                         !stale && conn && connection_stale_blind(conn)
                             ? _("STALE needs both ends tapped") : NULL,
                         row);
}

int ui_draw_wrapped(const char *text, int top, int height, int attr)
{
    struct wrap_line lines[64];
    size_t n = wrap_text(text, COLS, lines, sizeof lines / sizeof lines[0]);
    int rows = 0;

    attron(attr);
    for (int r = top; r < top + height; r++) {
        move(r, 0);
        clrtoeol();
    }
    for (size_t i = 0; i < n && i < sizeof lines / sizeof lines[0] && rows < height; i++) {
        if (lines[i].len > 0)
            mvaddnstr(top + rows, 0, text + lines[i].start, (int)lines[i].len);
        rows++;
    }
    attroff(attr);
    return rows > 0 ? rows : 1;
}

void ui_draw_help(int lesson)
{
    static const char *const viewer_keys[] = {
        N_("Up/Down, j/k     scroll one row"),
        N_("PgUp/PgDn        scroll one page"),
        N_("Home / End       oldest bytes / follow the newest"),
        N_("x                text with escapes <-> hex"),
        N_("w                rows end at newlines <-> continuous"),
        N_("s                jump to the newest STALE recv"),
        N_("n / Tab          next connection"),
        N_("N / Shift-Tab    previous connection"),
        N_("d                replies (down) <-> requests (up)"),
        N_("p                pause / resume reading the capture"),
        N_("[ / ]            one event back / forward (replay)"),
        N_("?                this help"),
        N_("q                quit"),
    };
    static const char *const lesson_keys[] = {
        N_("space / Enter    run the next step"),
        N_("Up/Down, j/k     scroll the stream"),
        N_("x                text with escapes <-> hex"),
        N_("?                this help"),
        N_("q                quit the lesson"),
    };
    const char *const *keys = lesson ? lesson_keys : viewer_keys;
    int n = lesson ? (int)(sizeof lesson_keys / sizeof *lesson_keys)
                   : (int)(sizeof viewer_keys / sizeof *viewer_keys);
    static const char *const legend[] = {
        N_("colour / bold: the send() that wrote a byte"),
        /* %s: the mark as the screen draws it */
        N_("%s mark: where a recv() returned;  ! : a STALE recv"),
        N_("reverse (no colour: standout+underline): a STALE recv's bytes"),
        N_("dim: sent but not yet received (pending)"),
        N_("[len N] [hdr N]: decoded length fields; underline: JSON header"),
        N_("+40ms: the call came that long after the one before"),
    };
    int utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    int nl = (int)(sizeof legend / sizeof *legend);
    int h = n + nl + 4, w = COLS > 70 ? 68 : COLS - 2;
    int top = (LINES - h) / 2, left = (COLS - w) / 2;
    if (top < 0)
        top = 0;
    if (left < 0)
        left = 0;
    attron(A_REVERSE);
    for (int r = 0; r < h && top + r < LINES; r++)
        mvhline(top + r, left, ' ', w);
    ui_put(top, left + 2, _("keys"), w - 2);
    for (int i = 0; i < n && top + 1 + i < LINES; i++)
        ui_put(top + 1 + i, left + 2, _(keys[i]), w - 4);
    for (int i = 0; i < nl && top + 2 + n + i < LINES; i++) {
        char line[256];
        if (strstr(legend[i], "%s"))
            snprintf(line, sizeof line, _(legend[i]), utf8 ? "┃" : "|");
        else
            snprintf(line, sizeof line, "%s", _(legend[i]));
        ui_put(top + 2 + n + i, left + 2, line, w - 4);
    }
    ui_put(top + h - 1, left + 2, _("any key: close"), w - 4);
    attroff(A_REVERSE);
}

void ui_draw_viewer(struct ui_view *view, const struct decoder *d)
{
    const struct connection *conn = ui_current_conn(view, d);
    int rows = LINES;

    erase();
    draw_title(view, d);
    if (conn && rows > 3)
        ui_draw_stream(view, conn, 1, rows - 3);
    else if (rows > 3)
        ui_put(2, 1, _("waiting for the tap's first event..."), COLS - 1);
    if (rows > 2)
        draw_frame_line(view, conn, rows - 2);
    ui_draw_status(view, d, rows - 1);
    if (view->help)
        ui_draw_help(0);
    refresh();
}

enum ui_action ui_handle_key(struct ui_view *view, const struct decoder *d, int key)
{
    int page = LINES > 6 ? LINES - 5 : 1;

    if (view->note_until_key && key != ERR && key != KEY_RESIZE) {
        /* a reply to the last key, not news: gone with the next one */
        view->note[0] = '\0';
        view->note_until_key = 0;
        enum ui_action action = ui_handle_key(view, d, key);
        return action == UI_NONE ? UI_REDRAW : action;
    }
    if (view->help && key != ERR && key != KEY_RESIZE) {
        view->help = 0;
        return UI_REDRAW;
    }
    switch (key) {
    case 'q': case 'Q': case 3:   /* 3: Ctrl-C in raw mode */
        return UI_QUIT;
    case KEY_UP: case 'k':
        view->follow = 0;
        view->top_row--;
        return UI_REDRAW;
    case KEY_DOWN: case 'j':
        view->follow = 0;
        view->top_row++;
        return UI_REDRAW;
    case KEY_PPAGE: case 'b':
        view->follow = 0;
        view->top_row -= page;
        return UI_REDRAW;
    case KEY_NPAGE: case 'f':
        view->follow = 0;
        view->top_row += page;
        return UI_REDRAW;
    case KEY_HOME: case 'g':
        view->follow = 0;
        view->top_row = 0;
        return UI_REDRAW;
    case KEY_END: case 'G':
        view->follow = 1;
        return UI_REDRAW;
    case 'x': case 'X':
        /* the layout changes: keep what the reader was looking at */
        view->hex = !view->hex;
        if (!view->follow) {
            view->jump = 1;
            view->jump_to = view->focus;
        }
        return UI_REDRAW;
    case 'n': case '\t':
        if (d->n_conns > 0)
            view->conn_index = (view->conn_index + 1) % d->n_conns;
        view->follow = 1;
        return UI_REDRAW;
    case 'N': case KEY_BTAB:
        if (d->n_conns > 0)
            view->conn_index = (view->conn_index + d->n_conns - 1) % d->n_conns;
        view->follow = 1;
        return UI_REDRAW;
    case 'd':
        view->dir = view->dir == DIR_DOWN ? DIR_UP : DIR_DOWN;
        view->follow = 1;
        return UI_REDRAW;
    case 'p': case 'P':
        view->paused = !view->paused;
        return UI_REDRAW;
    case '?': case 'h': case 'H':
        view->help = 1;
        return UI_REDRAW;
    case 'w': case 'W':
        view->flow = !view->flow;
        if (!view->follow) {
            view->jump = 1;
            view->jump_to = view->focus;
        }
        return UI_REDRAW;
    case 's': case 'S': {
        /* Jump to the newest STALE recv of this connection. */
        const struct connection *conn = ui_current_conn(view, d);
        const struct decode_stale *stale = NULL;
        for (size_t i = 0; conn && i < d->n_stales; i++)
            if (d->stales[i].conn_id == conn->id)
                stale = &d->stales[i];
        if (!stale) {
            snprintf(view->note, sizeof view->note, "%s", _("no STALE recv on this connection"));
            view->note_until_key = 1;
            return UI_REDRAW;
        }
        for (size_t i = 0; i < conn->down.n_recvs; i++)
            if (conn->down.recvs[i].number == stale->recv_no) {
                view->dir = DIR_DOWN;
                view->jump = 1;
                view->jump_to = conn->down.recvs[i].start;
            }
        return UI_REDRAW;
    }
    case '[':
        return UI_STEP_BACK;
    case ']':
        return UI_STEP_FORWARD;
    case KEY_RESIZE:
        return UI_REDRAW;
    default:
        return UI_NONE;
    }
}
