/* svg.c - a screen of cells as SVG (see svg.h). */
#include "svg.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A cell is CELL_W x CELL_H pixels; the text's baseline sits BASELINE below
 * the cell's top. 15 px monospace is 9 px wide in most fonts. */
enum { CELL_W = 9, CELL_H = 18, BASELINE = 14, FONT_PX = 15, MARGIN = 6 };

/* Colours 0..7 as the ANSI colours, 8 the terminal's text, 9 its
 * background: a dark terminal, every pair the viewer uses readable. */
enum { COLOR_FG = 8, COLOR_BG = 9, COLOR_COUNT = 10 };
static const char *const palette[COLOR_COUNT] = {
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#3b8eea",
    "#bc3fbc", "#11a8cd", "#e5e5e5", "#cccccc", "#1e1e1e",
};

/* ---- text ------------------------------------------------------------------ */

/* Length of the UTF-8 character at S (at most LEN bytes) and its code point,
 * or 0 when it is not valid UTF-8 (overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t need = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (need == 0 || need > len || s[0] > 0xf4)
        return 0;
    uint32_t c = s[0] & (0x7f >> need);
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[need] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return need;
}

/* Characters a picture must not carry: XML 1.0 forbids the C0 controls
 * (tab and newline would only move the text), U+FFFE/U+FFFF; C1 controls
 * and the bidirectional embeddings, overrides and isolates would reorder
 * what the viewer laid out. */
static int unfit(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xfffe || c == 0xffff ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
           c == 0x200e || c == 0x200f;
}

/* Writes LEN bytes of TEXT escaped for XML text or a quoted attribute. */
static void put_escaped(FILE *out, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len && s[i]) {
        uint32_t c;
        size_t n = utf8_char(s + i, len - i, &c);
        if (n == 0 || unfit(c)) {
            fputs("\xef\xbf\xbd", out);      /* U+FFFD */
            i += n ? n : 1;
            continue;
        }
        switch (c) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fwrite(s + i, 1, n, out); break;
        }
        i += n;
    }
}

void grid_row_text(const struct grid *g, int row, char *buf, size_t len)
{
    size_t used = 0;

    if (len == 0)
        return;
    for (int c = 0; row >= 0 && row < g->rows && c < g->cols; c++) {
        const char *t = grid_at(g, row, c)->text;
        size_t n = strlen(t);
        if (used == 0 && n == 1 && t[0] == ' ')
            continue;
        if (used + n >= len)
            break;
        memcpy(buf + used, t, n);
        used += n;
    }
    while (used > 0 && buf[used - 1] == ' ')
        used--;
    buf[used] = '\0';
}

/* ---- cells ----------------------------------------------------------------- */

/* The colours a cell is drawn in, reverse video applied. */
struct look {
    int fg, bg;            /* palette index */
    unsigned attrs;        /* GRID_BOLD, GRID_DIM, GRID_UNDERLINE */
};

static struct look cell_look(const struct grid_cell *cell)
{
    struct look l = { cell->fg < 0 ? COLOR_FG : cell->fg, cell->bg < 0 ? COLOR_BG : cell->bg,
                      cell->attrs & (GRID_BOLD | GRID_DIM | GRID_UNDERLINE) };
    if (cell->attrs & GRID_REVERSE) {
        int fg = l.fg;
        l.fg = l.bg == COLOR_BG ? 0 : l.bg;
        l.bg = fg == COLOR_FG ? 7 : fg;
    }
    /* blinking (--at's byte) has no still form: it is bold, and reverse */
    if (cell->attrs & GRID_BLINK)
        l.attrs |= GRID_BOLD;
    return l;
}

static int same_text_style(struct look a, struct look b)
{
    return a.fg == b.fg && a.attrs == b.attrs;
}

static int blank(const struct grid_cell *cell)
{
    return cell->width == 1 && strcmp(cell->text, " ") == 0;
}

/* The background runs, then the text runs, of ROW. */
static void put_row(FILE *out, const struct grid *g, int row)
{
    int y = MARGIN + row * CELL_H;

    for (int c = 0; c < g->cols;) {
        int bg = cell_look(grid_at(g, row, c)).bg, end = c + 1;
        while (end < g->cols && cell_look(grid_at(g, row, end)).bg == bg)
            end++;
        if (bg != COLOR_BG)
            fprintf(out, "<rect class=\"b%d\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                    bg, MARGIN + c * CELL_W, y, (end - c) * CELL_W, CELL_H);
        c = end;
    }
    for (int c = 0; c < g->cols;) {
        struct look l = cell_look(grid_at(g, row, c));
        int end = c + 1;
        while (end < g->cols && same_text_style(cell_look(grid_at(g, row, end)), l))
            end++;
        int first = c, last = end;    /* blanks at the ends carry nothing... */
        if (!(l.attrs & GRID_UNDERLINE)) {   /* ...unless underlined */
            while (first < last && blank(grid_at(g, row, first)))
                first++;
            while (last > first && blank(grid_at(g, row, last - 1)))
                last--;
        }
        c = end;
        if (first == last)
            continue;
        fprintf(out, "<text x=\"%d\" y=\"%d\" textLength=\"%d\" class=\"f%d%s%s%s\">",
                MARGIN + first * CELL_W, y + BASELINE, (last - first) * CELL_W, l.fg,
                l.attrs & GRID_BOLD ? " s" : "", l.attrs & GRID_DIM ? " d" : "",
                l.attrs & GRID_UNDERLINE ? " u" : "");
        for (int i = first; i < last; i++) {
            const char *t = grid_at(g, row, i)->text;
            put_escaped(out, t, strlen(t));
        }
        fputs("</text>", out);
    }
    fputc('\n', out);
}

static int row_empty(const struct grid *g, int row)
{
    for (int c = 0; c < g->cols; c++) {
        const struct grid_cell *cell = grid_at(g, row, c);
        struct look l = cell_look(cell);
        if (l.bg != COLOR_BG || !blank(cell) || (l.attrs & GRID_UNDERLINE))
            return 0;
    }
    return 1;
}

static int rows_equal(const struct grid *a, const struct grid *b, int row)
{
    return memcmp(grid_at(a, row, 0), grid_at(b, row, 0),
                  (size_t)a->cols * sizeof *a->cells) == 0;
}

/* ---- the picture ----------------------------------------------------------- */

static void put_head(FILE *out, const struct grid *g, const struct svg_meta *meta)
{
    int w = 2 * MARGIN + g->cols * CELL_W, h = 2 * MARGIN + g->rows * CELL_H;

    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"t d\">\n",
            w, h, w, h);
    fputs("<title id=\"t\">", out);
    if (meta && meta->title)
        put_escaped(out, meta->title, strlen(meta->title));
    fputs("</title>\n<desc id=\"d\">", out);
    if (meta && meta->desc)
        put_escaped(out, meta->desc, strlen(meta->desc));
    fputs("</desc>\n<style>\n"
          "text{font-family:\"DejaVu Sans Mono\",\"Liberation Mono\",Menlo,Consolas,"
          "\"Noto Sans Mono CJK SC\",monospace;white-space:pre}\n", out);
    fprintf(out, "text{font-size:%dpx}\n", FONT_PX);
    for (int i = 0; i < COLOR_COUNT; i++)
        fprintf(out, ".f%d{fill:%s}.b%d{fill:%s}\n", i, palette[i], i, palette[i]);
    fputs(".s{font-weight:bold}.d{fill-opacity:.6}.u{text-decoration:underline}\n</style>\n",
          out);
    fprintf(out, "<rect class=\"b%d\" width=\"%d\" height=\"%d\"/>\n", COLOR_BG, w, h);
    fputs("<g xml:space=\"preserve\">\n", out);
}

static int put_tail(FILE *out)
{
    fputs("</g>\n</svg>\n", out);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

int svg_write_screen(FILE *out, const struct grid *g, const struct svg_meta *meta)
{
    put_head(out, g, meta);
    for (int r = 0; r < g->rows; r++)
        if (!row_empty(g, r))
            put_row(out, g, r);
    return put_tail(out);
}

int svg_write_animation(FILE *out, const struct grid *frames, const unsigned *hold_ms,
                        size_t n, const struct svg_meta *meta)
{
    unsigned long total = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (frames[i].rows != frames[0].rows || frames[i].cols != frames[0].cols)
            return -1;
        total += hold_ms[i];
    }
    put_head(out, &frames[0], meta);
    /* One clock for the whole loop: every row's time window starts from its
     * begin, and it starts over when it ends. */
    fprintf(out, "<rect width=\"0\" height=\"0\"><animate id=\"clock\" attributeName=\"x\" "
                 "from=\"0\" to=\"0\" begin=\"0s;clock.end\" dur=\"%lums\"/></rect>\n", total);
    for (int r = 0; r < frames[0].rows; r++) {
        unsigned long start = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            unsigned long span = hold_ms[i];
            while (j < n && rows_equal(&frames[i], &frames[j], r))
                span += hold_ms[j++];
            if (i == 0 && j == n) {
                if (!row_empty(&frames[i], r))
                    put_row(out, &frames[i], r);     /* the same all along */
            } else if (!row_empty(&frames[i], r)) {
                fprintf(out, "<g visibility=\"hidden\"><set attributeName=\"visibility\" "
                             "to=\"visible\" begin=\"clock.begin+%lums\" dur=\"%lums\"/>",
                        start, span);
                put_row(out, &frames[i], r);
                fputs("</g>\n", out);
            }
            start += span;
            i = j;
        }
    }
    return put_tail(out);
}

int svg_write_file(const char *path, const struct grid *frames, const unsigned *hold_ms,
                   size_t n, const struct svg_meta *meta, char *err, size_t errlen)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    int status = n == 1 ? svg_write_screen(out, &frames[0], meta)
                        : svg_write_animation(out, frames, hold_ms, n, meta);
    int saved = errno;
    if (fclose(out) != 0 && status == 0) {
        saved = errno;
        status = -1;
    }
    if (status < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
        struct stat st;      /* a part of a picture, never a device (/dev/full) */
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            unlink(path);
    }
    return status;
}
