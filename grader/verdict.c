/* verdict.c - the verdict being written: numbered steps, the diagnosis,
 * the failing byte; and bytes shown in them as quoted text (see play.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "play.h"
#include "wire.h"

/* BYTES as quoted, escaped text of at most about MAX input bytes. */
char *shown(char *buf, size_t buflen, const void *bytes, size_t len, size_t max)
{
    char inner[1024];
    size_t cap = max * 4 + 4 < sizeof inner ? max * 4 + 4 : sizeof inner;
    size_t took = escape_bytes(bytes, len < max ? len : max, inner, cap);
    const char *tail = took < len ? "\"..." : "\"";
    size_t inner_len = strlen(inner), tail_len = strlen(tail);
    if (buflen < tail_len + 2) {
        if (buflen)
            buf[0] = '\0';
        return buf;
    }
    if (inner_len > buflen - tail_len - 2)
        inner_len = buflen - tail_len - 2;
    buf[0] = '"';
    memcpy(buf + 1, inner, inner_len);
    memcpy(buf + 1 + inner_len, tail, tail_len + 1);
    return buf;
}

const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void step(struct run *r, const char *fmt, ...)
{
    struct verdict *v = r->v;
    char *line;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* Keep the first steps and the last ones: the end is where it broke. */
    if (v->n_steps == VERDICT_MAX_STEPS) {
        free(v->steps[VERDICT_MAX_STEPS / 2]);
        memmove(&v->steps[VERDICT_MAX_STEPS / 2], &v->steps[VERDICT_MAX_STEPS / 2 + 1],
                (VERDICT_MAX_STEPS / 2 - 1) * sizeof v->steps[0]);
        v->n_steps--;
        v->steps_dropped++;
    }
    v->steps[v->n_steps++] = line;
}

void diagnose(struct run *r, const char *fmt, ...)
{
    if (r->v->diagnosis[0])
        return;          /* the first, most specific one wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->v->diagnosis, sizeof r->v->diagnosis, fmt, ap);
    va_end(ap);
}

void fail_at(struct run *r, int down, uint64_t offset, const struct conn *c)
{
    if (r->v->have_at)
        return;
    r->v->have_at = 1;
    r->v->at_down = down;
    r->v->at_offset = offset;
    r->v->at_conn = c && c->capture_id ? c->capture_id : 1;
}

void verdict_free(struct verdict *v)
{
    for (size_t i = 0; i < v->n_steps; i++)
        free(v->steps[i]);
    memset(v, 0, sizeof *v);
}

/* "python3 client.py {port}" as given, one string. */
void command_line(char *const argv[], char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

int contains(const unsigned char *hay, size_t hay_len, const char *needle)
{
    return memmem(hay, hay_len, needle, strlen(needle)) != NULL;
}

/* 1 when the 4 bytes look like text (printable ASCII, tabs, line ends);
 * then TEXT holds them escaped. */
int text_bytes(const unsigned char lb[4], char *text, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (!((lb[i] >= 0x20 && lb[i] < 0x7f) || lb[i] == '\n' || lb[i] == '\r' || lb[i] == '\t'))
            return 0;
    escape_bytes(lb, 4, text, len);
    return 1;
}

/* The number of UTF-8 characters in BYTES (continuation bytes not counted). */
size_t utf8_chars(const unsigned char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += (p[i] & 0xc0) != 0x80;
    return n;
}
