/* escape.c - safe text for JSON, XML, HTML and the terminal (see escape.h). */
#include "escape.h"

#include <stdlib.h>
#include <string.h>

/* The length of the well-formed UTF-8 sequence at S (at most LEFT bytes)
 * and its code point in *CP, or 0 when S does not start one (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, cut). */
static size_t utf8_seq(const unsigned char *s, size_t left, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, *cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

/* 1 when code point CP may not be written as it is. */
static int unwanted(unsigned long cp, int controls)
{
    if (!controls)
        return 0;
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
           (cp >= 0x80 && cp < 0xa0) || cp == 0xfffe || cp == 0xffff;
}

/* Calls PUT for each run of S: a character that may stay (LEN > 1 or an
 * ASCII byte) or a byte to show as \xNN (LEN 0, the byte in *S). */
typedef void (*piece_fn)(void *ctx, const unsigned char *s, size_t len);

static void walk(const char *text, int controls, piece_fn put, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t left = strlen(text);
    while (left > 0) {
        unsigned long cp;
        size_t len = utf8_seq(s, left, &cp);
        if (len == 0 || unwanted(cp, controls)) {
            put(ctx, s, 0);
            s++, left--;
        } else {
            put(ctx, s, len);
            s += len, left -= len;
        }
    }
}

struct buffer {
    char *p;
    size_t len;
    int failed;
};

static void buffer_piece(void *ctx, const unsigned char *s, size_t len)
{
    struct buffer *b = ctx;
    if (len == 0)
        b->len += (size_t)sprintf(b->p + b->len, "\\x%02x", s[0]);
    else {
        memcpy(b->p + b->len, s, len);
        b->len += len;
    }
}

char *utf8_clean(const char *s, int controls)
{
    /* Each input byte becomes at most four. */
    struct buffer b = { malloc(strlen(s) * 4 + 1), 0, 0 };
    if (b.p == NULL)
        return NULL;
    walk(s, controls, buffer_piece, &b);
    b.p[b.len] = '\0';
    return b.p;
}

static void xml_piece(void *ctx, const unsigned char *s, size_t len)
{
    FILE *out = ctx;
    if (len == 0) {
        fprintf(out, "\\x%02x", s[0]);
        return;
    }
    if (len == 1) {
        switch (s[0]) {
        case '&': fputs("&amp;", out); return;
        case '<': fputs("&lt;", out); return;
        case '>': fputs("&gt;", out); return;
        case '"': fputs("&quot;", out); return;
        case '\'': fputs("&#39;", out); return;
        }
    }
    fwrite(s, 1, len, out);
}

void xml_put(FILE *out, const char *s)
{
    walk(s, 1, xml_piece, out);
}

struct columns {
    FILE *out;                 /* NULL: only count */
    size_t n;
};

static void terminal_piece(void *ctx, const unsigned char *s, size_t len)
{
    struct columns *c = ctx;
    if (len == 0) {
        if (c->out)
            fprintf(c->out, "\\x%02x", s[0]);
        c->n += 4;
        return;
    }
    if (s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
        if (c->out)
            fprintf(c->out, "\\x%02x", s[0]);
        c->n += 4;
        return;
    }
    if (c->out)
        fwrite(s, 1, len, c->out);
    c->n++;
}

size_t terminal_put(FILE *out, const char *s)
{
    struct columns c = { out, 0 };
    walk(s, 1, terminal_piece, &c);
    return c.n;
}

size_t terminal_width(const char *s)
{
    struct columns c = { NULL, 0 };
    walk(s, 1, terminal_piece, &c);
    return c.n;
}
