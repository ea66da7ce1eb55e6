/* cli.c - option parsing shared by every program (see cli.h). */
#define _GNU_SOURCE
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_MAX_OPTIONS 32
#define CLI_HELP_KEY 1000
#define CLI_VERSION_KEY 1001

struct text {
    char *buf;
    size_t size, used;
};

static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    if (t->used >= t->size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->used, t->size - t->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->used += (size_t)n < t->size - t->used ? (size_t)n : t->size - t->used - 1;
}

static void add_usage(const struct cli_program *prog, const char *operands, struct text *t)
{
    text_add(t, "usage: %s [options]%s%s\n%s\n\noptions:\n", prog->name, operands ? " " : "",
             operands ? operands : "", prog->summary);
    for (size_t i = 0; i < prog->option_count; i++) {
        const struct cli_option *o = &prog->options[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name,
                     o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->long_name,
                     o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
        if (strlen(left) > 26)      /* a long word list: help on its own line */
            text_add(t, "  %s\n  %-26s %s\n", left, "", o->help);
        else
            text_add(t, "  %-26s %s\n", left, o->help);
    }
    text_add(t, "  %-26s %s\n", "-h, --help", "show this help and exit");
    text_add(t, "  %-26s %s\n", "-V, --version", "show the version and exit");
    for (size_t i = 0; i < prog->option_count; i++) {
        if (prog->options[i].type == CLI_DURATION) {
            text_add(t, "\n%s is in seconds, with a fraction if need be (0.25), or in "
                     "milliseconds (250ms).\n", prog->options[i].arg_name);
            break;
        }
    }
    if (prog->epilog)
        text_add(t, "\n%s\n", prog->epilog);
}

void cli_usage_error(const struct cli_program *prog, struct cli_outcome *out,
                     const char *fmt, ...)
{
    struct text t = { out->text, sizeof out->text, 0 };
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* As coreutils: the error, and where to read more; the whole usage
     * would bury the one line that matters. */
    text_add(&t, "%s: %s\nTry '%s --help' for more information.\n", prog->name, msg,
             prog->name);
    out->run = 0;
    out->exit_status = 2;
    out->to_stderr = 1;
}

/* Parses a whole decimal number; returns 0 or -1. */
static int parse_ulong(const char *arg, unsigned long *value)
{
    char *end;
    if (!isdigit((unsigned char)arg[0]))
        return -1;
    errno = 0;
    *value = strtoul(arg, &end, 10);
    return (errno || *end) ? -1 : 0;
}

static int store(const struct cli_option *o, const char *arg,
                 const struct cli_program *prog, struct cli_outcome *out)
{
    unsigned long n;
    char err[256];

    switch (o->type) {
    case CLI_STRING:
        *(const char **)o->value = arg;
        return 0;
    case CLI_PORT:
        /* MIN is 1 for a port to connect to: 0 only makes sense to listen. */
        if (parse_ulong(arg, &n) < 0 || n < o->min || n > 65535) {
            cli_usage_error(prog, out, "--%s: '%s' is not a port number (%lu..65535)",
                            o->long_name, arg, o->min);
            return -1;
        }
        *(const char **)o->value = arg;
        return 0;
    case CLI_UINT:
        if (parse_ulong(arg, &n) < 0 || n < o->min || n > o->max) {
            cli_usage_error(prog, out, "--%s: '%s' is not a number from %lu to %lu",
                      o->long_name, arg, o->min, o->max);
            return -1;
        }
        *(unsigned long *)o->value = n;
        return 0;
    case CLI_DURATION:
        if (duration_parse(arg, o->min, o->max, &n, err, sizeof err) < 0) {
            cli_usage_error(prog, out, "--%s: %s", o->long_name, err);
            return -1;
        }
        *(unsigned long *)o->value = n;
        return 0;
    case CLI_FLAG:
        *(int *)o->value = 1;
        return 0;
    case CLI_CHOICE: {
        size_t len = strlen(arg);
        for (const char *word = o->arg_name; *word;) {
            size_t word_len = strcspn(word, "|");
            if (word_len == len && strncmp(word, arg, len) == 0) {
                *(const char **)o->value = arg;
                return 0;
            }
            word += word_len + (word[word_len] == '|');
        }
        cli_usage_error(prog, out, "--%s: '%s' is not one of %s", o->long_name, arg, o->arg_name);
        return -1;
    }
    }
    return -1;
}

/* Says what is wrong with the long option TYPED ("--name" or
 * "--name=value") that getopt_long refused: a known option that takes no
 * value, an abbreviation of several options, or an unknown one. */
static void long_option_error(const struct cli_program *prog, const struct option *longs,
                              const char *typed, struct cli_outcome *out)
{
    const char *value = strchr(typed, '=');
    size_t name_len = value ? (size_t)(value - typed - 2) : strlen(typed + 2);
    char matches[256] = "";
    size_t used = 0;
    int exact = 0, prefixes = 0;

    for (size_t i = 0; longs[i].name; i++) {
        if (strncmp(longs[i].name, typed + 2, name_len) != 0)
            continue;
        if (strlen(longs[i].name) == name_len)
            exact = 1;
        prefixes++;
        int n = snprintf(matches + used, sizeof matches - used, "%s--%s",
                         used ? ", " : "", longs[i].name);
        if (n > 0 && (size_t)n < sizeof matches - used)
            used += (size_t)n;
    }
    if (value && (exact || prefixes == 1))
        cli_usage_error(prog, out, "option '--%.*s' takes no value", (int)name_len, typed + 2);
    else if (prefixes > 1 && !exact)
        cli_usage_error(prog, out, "option '--%.*s' is ambiguous: %s", (int)name_len, typed + 2,
                        matches);
    else
        cli_usage_error(prog, out, "unknown option '%s'", typed);
}

/* OPERANDS: NULL when the program takes none; IN_ORDER: options end at the
 * first operand. */
static void parse(const struct cli_program *prog, const char *operands, int in_order,
                  int argc, char **argv, struct cli_outcome *out)
{
    struct option longs[CLI_MAX_OPTIONS + 3];
    char shorts[CLI_MAX_OPTIONS * 2 + 8];
    size_t n = prog->option_count < CLI_MAX_OPTIONS ? prog->option_count : CLI_MAX_OPTIONS;
    struct text t = { out->text, sizeof out->text, 0 };
    int key;

    memset(out, 0, sizeof *out);
    out->run = 1;
    /* '+': stop at the first operand; ':': report a missing value as ':'. */
    snprintf(shorts, sizeof shorts, "%s:hV", operands && in_order ? "+" : "");
    for (size_t i = 0; i < n; i++) {
        const struct cli_option *o = &prog->options[i];
        int has_arg = o->type == CLI_FLAG ? no_argument : required_argument;
        longs[i] = (struct option){ o->long_name, has_arg, NULL, o->short_name ? o->short_name : (int)(2000 + i) };
        if (o->short_name) {
            size_t len = strlen(shorts);
            shorts[len] = (char)o->short_name;
            shorts[len + 1] = has_arg ? ':' : '\0';
            shorts[len + 2] = '\0';
        }
    }
    longs[n] = (struct option){ "help", no_argument, NULL, CLI_HELP_KEY };
    longs[n + 1] = (struct option){ "version", no_argument, NULL, CLI_VERSION_KEY };
    longs[n + 2] = (struct option){ NULL, 0, NULL, 0 };

    opterr = 0;
    optind = 0;     /* 0, not 1: glibc then also forgets a previous call's '+' */
    for (;;) {
        int before = optind > 0 ? optind : 1;
        key = getopt_long(argc, argv, shorts, longs, NULL);
        if (key == -1)
            break;
        if (key == 'h' || key == CLI_HELP_KEY) {
            add_usage(prog, operands, &t);
            out->run = 0;
            return;
        }
        if (key == 'V' || key == CLI_VERSION_KEY) {
            text_add(&t, "%s (nianbao 1.0): %s\n", prog->name, prog->version);
            out->run = 0;
            return;
        }
        if (key == '?') {
            /* The word getopt was reading: in the middle of a cluster of
             * short options ("-zq") optind has not moved on yet. */
            const char *typed = optind == before && optind < argc ? argv[optind]
                                                                  : argv[optind - 1];
            if (strncmp(typed, "--", 2) == 0)
                long_option_error(prog, longs, typed, out);
            else
                cli_usage_error(prog, out, "unknown option '-%c'", optopt);
            return;
        }
        if (key == ':') {
            cli_usage_error(prog, out, "option '%s' needs a value", argv[optind - 1]);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const struct cli_option *o = &prog->options[i];
            if (key == (o->short_name ? o->short_name : (int)(2000 + i))) {
                if (store(o, optarg, prog, out) < 0)
                    return;
                break;
            }
        }
    }
    out->first_operand = optind;
    if (optind < argc && !operands)
        cli_usage_error(prog, out, "unexpected argument '%s'", argv[optind]);
}

void cli_parse(const struct cli_program *prog, int argc, char **argv,
               struct cli_outcome *out)
{
    parse(prog, NULL, 0, argc, argv, out);
}

void cli_parse_operands(const struct cli_program *prog, const char *operands, int in_order,
                        int argc, char **argv, struct cli_outcome *out)
{
    parse(prog, operands, in_order, argc, argv, out);
}

int cli_std_fds_open(void)
{
    for (;;) {
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return -1;
        if (fd > STDERR_FILENO) {
            close(fd);
            return 0;
        }
    }
}

long read_command(FILE *in, char **line, size_t *cap)
{
    ssize_t len;
    char *start;

    errno = 0;
    len = getline(line, cap, in);
    if (len < 0)
        return -1;
    start = *line;
    /* Python's str.strip(): ASCII white space at both ends. */
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    memmove(*line, start, (size_t)len);
    (*line)[len] = '\0';
    return (long)len;
}
