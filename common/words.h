/* words.h - a line of the stage 5 client's interactive mode, split into
 * words as a shell splits a command line, so a name with a space can be
 * given (get 'my notes.txt'), and the words can go through the same option
 * parser as the command line's.
 *
 * The shell's quoting, and nothing else: white space separates words;
 * '...' keeps everything inside as it is; "..." keeps everything but a
 * backslash before ", \, $ or `; outside quotes a backslash keeps the next
 * character ("my\ notes.txt"). No variables, globs or substitutions: $, *
 * and ` are plain characters. Nothing here prints or exits. */
#ifndef NIANBAO_WORDS_H
#define NIANBAO_WORDS_H

#include <stddef.h>

struct words {
    int count;
    char **argv;              /* COUNT words, then NULL */
    char *text;               /* the words' bytes, each NUL-terminated */
};

/* Splits LINE into W. Returns 0, or -1 with ERR filled ("the ' quote
 * opened at character 5 is not closed") and W empty, or with errno ENOMEM
 * ("out of memory"), W left empty. Free W with words_free. */
int words_split(const char *line, struct words *w, char *err, size_t errlen);
void words_free(struct words *w);

/* WORD as a shell would need it typed, into OUT: as it is when it holds
 * only letters, digits, bytes of UTF-8 and ._-+/:@%,=, else in single
 * quotes ('my notes.txt'; a quote inside as '\''). For a hint the user
 * can copy ("get --resume 'my notes.txt' continues"). Returns 0, or -1
 * when it does not fit (OUT then cut). */
int words_quote(const char *word, char *out, size_t outlen);

#endif
