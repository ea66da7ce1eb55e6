/* bugs.c - the bugs the scenarios are designed to catch: their names (for
 * --list and exercises/programs) and what each means (see grade.h). */
#include <string.h>

#include "grade.h"

static const struct {
    const char *name, *meaning;
} bug_table[BUG_COUNT] = {
    { "one-recv", "takes what one recv returned for a whole message" },
    { "recv4-once", "reads the 4-byte length with a single recv(4)" },
    { "no-eof", "does not stop when recv returns 0 (the peer closed)" },
    { "byte-order", "writes or reads the length in the wrong byte order" },
    { "no-limit", "trusts any length the peer sends" },
    { "text", "handles the bytes as text (decodes pieces, counts characters)" },
    { "dies-on-close", "dies when a client leaves in the middle of its reply" },
    { "one-at-a-time", "serves one client at a time: a silent one holds up the others" },
    { "off-by-one", "loses the last byte of its output (an off-by-one)" },
    { "shared-buffer", "keeps one buffer for all its clients: their bytes get mixed" },
    { "no-reap", "forks a process per client and never waits for it: zombies pile up" },
    { "blocking-loop", "an event loop that blocks on one client: a slow one stalls everyone" },
};

static int bug_index(unsigned bit)
{
    for (int i = 0; i < BUG_COUNT; i++)
        if (bit == 1u << i)
            return i;
    return -1;
}

const char *bug_name(unsigned bit)
{
    int i = bug_index(bit);
    return i < 0 ? "?" : bug_table[i].name;
}

const char *bug_meaning(unsigned bit)
{
    int i = bug_index(bit);
    return i < 0 ? "?" : bug_table[i].meaning;
}

unsigned bug_parse(const char *name)
{
    for (int i = 0; i < BUG_COUNT; i++)
        if (strcmp(name, bug_table[i].name) == 0)
            return 1u << i;
    return 0;
}
