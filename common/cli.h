/* cli.h - the command-line contract every program shares.
 *
 * A program describes its options in a table; cli_parse fills the values and
 * says what to do. It never prints: the text to show (usage, version, or the
 * one-line error followed by usage) comes back in the outcome. */
#ifndef NIANBAO_CLI_H
#define NIANBAO_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "duration.h"
#include "stage_ports.h"    /* STAGE3_PORT "8083": the stages' default ports */

enum cli_type {
    CLI_STRING,   /* value: const char **                       */
    CLI_PORT,     /* value: const char **, checked 0..65535      */
    CLI_UINT,     /* value: unsigned long *, checked min..max    */
    CLI_FLAG,     /* value: int *, set to 1                      */
    CLI_CHOICE,   /* value: const char **, one of the words in
                     ARG_NAME, which lists them: "down|up|both" */
    CLI_DURATION, /* value: unsigned long *, milliseconds, from
                     "2", "0.25", "250ms" or "2s" (duration.h),
                     checked min..max (ms: DURATION_S(86400)) */
};

struct cli_option {
    const char *long_name;
    int short_name;           /* 0: long form only */
    enum cli_type type;
    void *value;
    const char *arg_name;     /* shown in usage: "PORT", "SECS" */
    const char *help;
    unsigned long min, max;   /* CLI_UINT, CLI_DURATION (in ms); CLI_PORT:
                                 MIN 1 refuses port 0 */
};

struct cli_program {
    const char *name;         /* "stage3_struct_len/server" */
    const char *summary;      /* one line: what the program is */
    const char *version;      /* "reproduces v3.0 of the document" */
    const struct cli_option *options;
    size_t option_count;
    const char *epilog;       /* extra usage text, may be NULL */
};

/* Shorthands for the options every program has. */
#define CLI_HOST_OPTION(ptr) \
    { "host", 'H', CLI_STRING, (ptr), "HOST", "address to use (default 127.0.0.1)", 0, 0 }
#define CLI_PORT_OPTION(ptr, dflt) \
    { "port", 'p', CLI_PORT, (ptr), "PORT", "port (default " dflt "; 0 picks a free one)", 0, 0 }
/* A client's: port 0 means nothing to connect to. */
#define CLI_SERVER_PORT_OPTION(ptr, dflt) \
    { "port", 'p', CLI_PORT, (ptr), "PORT", "the server's port (default " dflt ")", 1, 0 }

struct cli_outcome {
    int run;            /* 1: go on; 0: print TEXT and exit with EXIT_STATUS */
    int exit_status;    /* 0 for --help/--version, 2 for bad usage */
    int to_stderr;      /* where TEXT belongs */
    int first_operand;  /* cli_parse_operands: ARGV index of the first operand
                           (== ARGC when there is none) */
    char text[4096];
};

/* Parses ARGV against PROG's table (getopt_long; --help and --version are
 * added). Never fails: every problem is reported through OUT. */
void cli_parse(const struct cli_program *prog, int argc, char **argv,
               struct cli_outcome *out);

/* As cli_parse, for a program that takes operands (the stage 5 client:
 * "get NAME [DEST]"). OPERANDS is how the usage line shows them
 * ("COMMAND [ARGS...]"). With IN_ORDER = 1, options end at the first
 * operand (POSIX order, as env(1) or nice(1): "client exec ls -l" runs
 * "ls -l"); with 0, options and operands may mix (GNU order) and the
 * operands are moved to the end of ARGV. Either way OUT->first_operand is
 * where they start; "--" ends the options. Checking the operands is the
 * program's business (cli_usage_error). */
void cli_parse_operands(const struct cli_program *prog, const char *operands, int in_order,
                        int argc, char **argv, struct cli_outcome *out);

/* Fills OUT as cli_parse does for bad usage: "NAME: MESSAGE", then a line
 * "Try 'NAME --help' for more information.", for stderr, exit status 2. For what the table cannot check (an
 * option that is required, two options that disagree). */
void cli_usage_error(const struct cli_program *prog, struct cli_outcome *out,
                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Opens /dev/null on whichever of descriptors 0, 1 and 2 is closed. A
 * program started with one closed (`client >&-`) would hand that number to
 * its first socket: a client's output, or a server's log, would then be
 * sent to the peer. Every program calls it first thing in main. Returns 0,
 * or -1 with errno set when /dev/null cannot be opened. */
int cli_std_fds_open(void);

/* Reads the next command from IN, one per line, stripped of surrounding
 * white space as the document's input().strip() does. LINE and CAP are a
 * getline buffer. Returns the command's length (0 for a blank line), or -1
 * at end of input or on error (errno set, 0 at plain EOF). */
long read_command(FILE *in, char **line, size_t *cap);

#endif
