/* duration.h - a time as the user writes it, and back.
 *
 * Every option and environment variable of the lab that takes a time
 * (--idle, --timeout, --wait, NIANBAO_BUSY_NOTICE...) takes it in one form:
 * seconds, with a fraction if need be, or milliseconds with "ms":
 *
 *   2   2s   0.3   1.5   0.25   250ms
 *
 * Inside, a duration is a whole number of milliseconds (unsigned long), the
 * step of poll(2) and of every deadline the lab keeps. A time finer than
 * that ("0.0001", "1.5ms") is refused, not rounded: a rounded 0 would mean
 * "never" to most options. A message that quotes a duration prints it back
 * the way the user would have written it in seconds (duration_text):
 * "no request for 0.3 s (--idle)". Nothing here prints or exits. */
#ifndef NIANBAO_DURATION_H
#define NIANBAO_DURATION_H

#include <stddef.h>

/* N whole seconds, in milliseconds: defaults and limits read as seconds. */
#define DURATION_S(n) ((unsigned long)(n) * 1000UL)

/* Parses TEXT: digits, optionally "." and more digits, then nothing or "s"
 * (seconds) or "ms" (milliseconds). Returns 0 with *MS set, or -1 with ERR
 * filled: "'2x' is not a duration: ...", "'0.0001' is finer than a
 * millisecond", or "'90000' is out of range: 0 to 86400 s" when the value is
 * below MIN_MS or above MAX_MS. ERR does not name the option: the caller
 * puts "--idle: " or "NIANBAO_BUSY_NOTICE: " before it. */
int duration_parse(const char *text, unsigned long min_ms, unsigned long max_ms,
                   unsigned long *ms, char *err, size_t errlen);

/* MS in seconds, as a user writes them: no unit, no trailing zeros.
 * 2000 -> "2", 300 -> "0.3", 1500 -> "1.5", 250 -> "0.25", 1 -> "0.001".
 * Returned by value, so it can sit in a printf's arguments:
 *   printf("no request for %s s", duration_text(ms).s); */
struct duration_text {
    char s[32];
};
struct duration_text duration_text(unsigned long ms);

#endif
