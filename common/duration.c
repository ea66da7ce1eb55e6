/* duration.c - a time as the user writes it, and back (see duration.h). */
#include "duration.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Past this many milliseconds a number is out of any range the lab takes,
 * and the arithmetic below stays far from overflow. */
#define DURATION_CEILING (ULONG_MAX / 20)

int duration_parse(const char *text, unsigned long min_ms, unsigned long max_ms,
                   unsigned long *ms, char *err, size_t errlen)
{
    const char *p = text, *fraction = NULL;
    unsigned long whole = 0;
    size_t whole_digits = 0, fraction_digits = 0;
    int too_big = 0;

    for (; isdigit((unsigned char)*p); p++, whole_digits++) {
        if (whole > DURATION_CEILING / 10)
            too_big = 1;
        else
            whole = whole * 10 + (unsigned long)(*p - '0');
    }
    if (*p == '.') {
        fraction = ++p;
        for (; isdigit((unsigned char)*p); p++)
            fraction_digits++;
    }
    /* What the number counts: seconds, unless it ends in "ms". */
    int in_ms = strcmp(p, "ms") == 0;
    if (whole_digits == 0 || (fraction && fraction_digits == 0) ||
        !(in_ms || strcmp(p, "s") == 0 || *p == '\0')) {
        snprintf(err, errlen, "'%s' is not a duration: write seconds (2, 0.25) or "
                 "milliseconds (250ms)", text);
        return -1;
    }
    /* The fraction's digits that a whole number of ms can hold: 3 after
     * seconds, none after ms; any other digit must be 0. */
    size_t kept = in_ms ? 0 : 3;
    unsigned long part = 0;
    for (size_t i = 0; i < fraction_digits; i++) {
        int digit = fraction[i] - '0';
        if (i < kept) {
            part = part * 10 + (unsigned long)digit;
        } else if (digit != 0) {
            snprintf(err, errlen, "'%s' is finer than a millisecond, the smallest step", text);
            return -1;
        }
    }
    for (size_t i = fraction_digits; i < kept; i++)
        part *= 10;
    unsigned long value = 0;
    if (!too_big) {
        if (in_ms)
            value = whole;
        else if (whole > DURATION_CEILING / 1000)
            too_big = 1;
        else
            value = whole * 1000 + part;
    }
    if (too_big || value < min_ms || value > max_ms) {
        snprintf(err, errlen, "'%s' is out of range: %s to %s s", text,
                 duration_text(min_ms).s, duration_text(max_ms).s);
        return -1;
    }
    *ms = value;
    return 0;
}

struct duration_text duration_text(unsigned long ms)
{
    struct duration_text t;
    int n = snprintf(t.s, sizeof t.s, "%lu.%03lu", ms / 1000, ms % 1000);

    /* "1.500" -> "1.5", "2.000" -> "2" */
    while (n > 0 && t.s[n - 1] == '0')
        t.s[--n] = '\0';
    if (n > 0 && t.s[n - 1] == '.')
        t.s[--n] = '\0';
    return t;
}
