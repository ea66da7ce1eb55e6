/* wrap.c - line breaking for the lesson's narration (see wrap.h). */
#define _GNU_SOURCE
#include "wrap.h"

#include <string.h>
#include <wchar.h>

/* Punctuation that must not start a line: it closes what came before. */
static int closes(wchar_t c)
{
    static const wchar_t list[] = L"。，、；：？！）」』”’》〉】〕］｝…～·.,;:!?)]}%";
    return c != 0 && wcschr(list, c) != NULL;
}

/* Punctuation that must not end a line: it opens what comes after. */
static int opens(wchar_t c)
{
    static const wchar_t list[] = L"（「『“‘《〈【〔［｛";
    return c != 0 && wcschr(list, c) != NULL;
}

/* Decodes the character at P (at most AVAIL bytes). Returns its length in
 * bytes (1 for a byte that is not UTF-8) and sets *WC and *CELLS. */
static size_t next_char(const char *p, size_t avail, wchar_t *wc, int *cells)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t n = mbrtowc(wc, p, avail, &st);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
        *wc = (wchar_t)(unsigned char)*p;
        *cells = 1;
        return 1;
    }
    int w = wcwidth(*wc);
    *cells = w < 0 ? 1 : w;
    return n;
}

int text_cells(const char *text)
{
    size_t len = strlen(text), at = 0;
    int cells = 0;
    while (at < len) {
        wchar_t wc;
        int w;
        at += next_char(text + at, len - at, &wc, &w);
        cells += w;
    }
    return cells;
}

/* The unit that starts at TEXT[AT]: opening punctuation, then a Latin word
 * (up to a space, a newline or a wide character) or one wide character,
 * then closing punctuation. Lines break only between units. Returns its end
 * and sets *CELLS. */
static size_t unit_end(const char *text, size_t len, size_t at, int *cells)
{
    wchar_t wc;
    int w;
    *cells = 0;
    size_t n = next_char(text + at, len - at, &wc, &w);
    while (opens(wc) && at + n < len && text[at + n] != ' ' && text[at + n] != '\n') {
        at += n;
        *cells += w;
        n = next_char(text + at, len - at, &wc, &w);
    }
    if (w > 1) {
        at += n;            /* one wide character */
        *cells += w;
    } else {
        while (at < len && text[at] != ' ' && text[at] != '\n') {
            n = next_char(text + at, len - at, &wc, &w);
            if (w > 1 && !closes(wc))
                break;
            at += n;
            *cells += w;
        }
    }
    while (at < len && text[at] != ' ' && text[at] != '\n') {
        n = next_char(text + at, len - at, &wc, &w);
        if (!closes(wc))
            break;
        at += n;
        *cells += w;
    }
    return at;
}

size_t wrap_text(const char *text, int width, struct wrap_line *lines, size_t max)
{
    size_t len = strlen(text), at = 0, count = 0;
    struct wrap_line cur = { 0, 0, 0 };
    int open = 0;               /* CUR has begun */
    int space = 0;              /* a space came before the next unit */
    if (width < 1)
        width = 1;
#define EMIT() do { if (count < max) lines[count] = cur; count++; open = 0; } while (0)
    while (at < len) {
        if (text[at] == '\n') {
            if (!open)
                cur = (struct wrap_line){ at, 0, 0 };
            EMIT();
            at++;
            space = 0;
            continue;
        }
        if (text[at] == ' ') {
            space = 1;
            at++;
            continue;
        }
        int cells;
        size_t end = unit_end(text, len, at, &cells);
        if (end == at) {        /* cannot happen; never loop forever */
            end = at + 1;
            cells = 1;
        }
        int sep = open && space ? 1 : 0;
        if (open && cur.cells + sep + cells > width)
            EMIT();
        if (!open) {
            cur = (struct wrap_line){ at, 0, 0 };
            open = 1;
            sep = 0;
        }
        if (cells > width && cur.cells == 0) {
            /* wider than a line: its own line(s), cut between characters */
            size_t p = at;
            while (p < end) {
                wchar_t wc;
                int w;
                size_t n = next_char(text + p, end - p, &wc, &w);
                if (cur.cells > 0 && cur.cells + w > width) {
                    EMIT();
                    cur = (struct wrap_line){ p, 0, 0 };
                    open = 1;
                }
                p += n;
                cur.len = p - cur.start;
                cur.cells += w;
            }
        } else {
            cur.len = end - cur.start;
            cur.cells += sep + cells;
        }
        at = end;
        space = 0;
    }
    if (open)
        EMIT();
#undef EMIT
    return count;
}
