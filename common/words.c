/* words.c - a line split into words as a shell does (words.h). */
#include "words.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int words_split(const char *line, struct words *w, char *err, size_t errlen)
{
    size_t len = strlen(line), out = 0;
    const char *p = line;

    memset(w, 0, sizeof *w);
    /* No word is longer than the line, and there are at most len/2 + 1. */
    w->text = malloc(len + 1);
    w->argv = calloc(len / 2 + 2, sizeof *w->argv);
    if (!w->text || !w->argv) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        goto fail;
    }
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        w->argv[w->count++] = w->text + out;
        while (*p && !is_blank(*p)) {
            if (*p == '\'' || *p == '"') {
                char quote = *p;
                size_t opened = (size_t)(p - line) + 1;
                for (p++; *p && *p != quote; p++) {
                    /* In "...", a backslash escapes only what the shell's does. */
                    if (quote == '"' && *p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                        p++;
                    w->text[out++] = *p;
                }
                if (!*p) {
                    snprintf(err, errlen, "the %c quote opened at character %zu is not closed",
                             quote, opened);
                    errno = EINVAL;
                    goto fail;
                }
                p++;
            } else if (*p == '\\') {
                if (!p[1]) {
                    snprintf(err, errlen, "the line ends with a backslash: nothing to escape");
                    errno = EINVAL;
                    goto fail;
                }
                w->text[out++] = p[1];
                p += 2;
            } else {
                w->text[out++] = *p++;
            }
        }
        w->text[out++] = '\0';
    }
    w->argv[w->count] = NULL;
    return 0;
fail:
    words_free(w);
    return -1;
}

void words_free(struct words *w)
{
    free(w->argv);
    free(w->text);
    memset(w, 0, sizeof *w);
}

int words_quote(const char *word, char *out, size_t outlen)
{
    size_t used = 0;
    int plain = *word != '\0';

    for (const char *p = word; *p; p++)
        if (!((unsigned char)*p >= 0x80 || strchr("._-+/:@%,=", *p) ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            plain = 0;
    if (plain) {
        int n = snprintf(out, outlen, "%s", word);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
    }
    if (outlen < 3)
        return -1;
    out[used++] = '\'';
    for (const char *p = word; *p; p++) {
        const char *piece = *p == '\'' ? "'\\''" : NULL;
        size_t len = piece ? strlen(piece) : 1;
        if (used + len + 2 > outlen) {
            out[used] = '\0';
            return -1;
        }
        memcpy(out + used, piece ? piece : p, len);
        used += len;
    }
    out[used++] = '\'';
    out[used] = '\0';
    return 0;
}
