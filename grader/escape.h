/* escape.h - text from the program under test and from file names, made
 * safe for the documents the grader writes: JSON (Gradescope, --each's
 * verdicts), XML (JUnit) and HTML (--each's page).
 *
 * Both are hostile input: a directory may be named "<script>", a program
 * may print invalid UTF-8 or terminal escapes. XML 1.0 cannot carry most
 * C0 controls at all, and a JSON parser reading UTF-8 refuses invalid
 * sequences, so what cannot be carried is written visibly as "\xNN". */
#ifndef GRADER_ESCAPE_H
#define GRADER_ESCAPE_H

#include <stdio.h>

/* S as valid UTF-8, in a new string: every byte that is not part of a
 * well-formed UTF-8 sequence (nor, with CONTROLS, a control character
 * other than tab, newline and carriage return, nor U+FFFE/U+FFFF) becomes
 * the four characters "\xNN". Returns NULL when out of memory. */
char *utf8_clean(const char *s, int controls);

/* Writes S to OUT as XML/HTML character data or attribute value: & < > "
 * and ' as entities, the rest as utf8_clean(S, 1) would have it. */
void xml_put(FILE *out, const char *s);

/* Writes S to OUT for a terminal: every control byte (and invalid UTF-8)
 * as "\xNN", so a directory's name cannot move the cursor or colour the
 * class table. Returns the number of columns written (one per character). */
size_t terminal_put(FILE *out, const char *s);

/* The columns terminal_put would take. */
size_t terminal_width(const char *s);

#endif
