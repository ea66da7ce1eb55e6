/* shell.h - the stage 5 client's command line and interactive mode, apart
 * from the protocol: which command word takes which arguments, options
 * anywhere among them, one line of standard input split as a shell splits
 * it (words.h) and run with the command line's options, a connection the
 * server closed while idle found and opened again, and the exit statuses.
 * The stage's client.c keeps what is said on the wire: its ops, reached
 * through the callbacks below, on its own struct conn.
 *
 * Messages go to the FILEs the program passes; nothing here exits. */
#ifndef NIANBAO_SHELL_H
#define NIANBAO_SHELL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "digest.h"
#include "ft.h"
#include "session.h"

/* Exit statuses, one per kind of failure (listed in --help: SHELL_USAGE).
 * exec gives the command's own status instead, as ssh does, and
 * EXIT_EXEC_FAILED for any failure of the client's (shell_exec_status). */
enum {
    EXIT_OK = 0,
    EXIT_REMOTE = 1,          /* the server said error (get, put, ls, stat) */
    EXIT_USAGE = 2,
    EXIT_CONNECTION = 3,      /* cannot connect, connection lost, timed out   */
    EXIT_PROTOCOL = 4,        /* the server broke the protocol                */
    EXIT_VERIFY = 5,          /* SHA-256 mismatch                             */
    EXIT_LOCAL = 6,           /* a local file cannot be read or written       */
    EXIT_TIMED_OUT = 124,     /* exec: the server's --timeout (as timeout(1)) */
    EXIT_INTERRUPTED = 130,   /* Ctrl-C during a transfer (128 + SIGINT)      */
    EXIT_EXEC_FAILED = 255,   /* exec: no status from the command (ssh's 255) */
};

/* The client's --help after its options: the commands and exit statuses. */
extern const char shell_usage[];

/* The command of the command line: WORD (NULL: none, the interactive
 * mode) and its N arguments ARGS, options taken out; EXEC: WORD is exec. */
struct shell_args {
    const char *word;
    int n, exec;
    char **args;
};

/* Parses ARGV against PROG's options (which end at the command word:
 * "client exec ls -l" runs "ls -l"; after get, put, ls and stat they may
 * come anywhere) and checks the command's arguments. CLI says whether to
 * run, as cli_parse does; ARGS is filled when it does. */
void shell_parse_args(const struct cli_program *prog, int argc, char **argv,
                      struct cli_outcome *cli, struct shell_args *args);

struct conn;                          /* the client's connection: its own */

/* The client's ops and what the interactive mode looks at between them. */
struct shell {
    const struct cli_program *prog;   /* its options are bound to CFG       */
    void *cfg;                        /* restored after each line: a line's
                                         options are for that line only     */
    size_t cfg_size;
    const struct session_config *session;  /* inside CFG                    */
    struct conn *conn;
    /* The ops, with a command word's arguments (NULL: not given; exec's
     * COMMAND is LEN bytes, at most FT_MAX_COMMAND): 0, or an exit
     * status. */
    int (*exec)(struct conn *c, const char *command, size_t len);
    int (*get)(struct conn *c, const char *name, const char *dest);
    int (*put)(struct conn *c, const char *file, const char *name);
    int (*list)(struct conn *c, const char *dir);
    int (*stat)(struct conn *c, const char *name);
    /* Reads the next reply into *MSG: 0, or an exit status (EXIT_REMOTE:
     * an error reply, printed unless *QUIET). */
    int (*receive_reply)(struct conn *c);
    /* Closes the connection and connects again: 0, or -1 after saying why. */
    int (*reconnect)(struct conn *c);
    int *fd;                          /* the socket (closed after Ctrl-C)   */
    const int *command_status;        /* an exec's status                   */
    int *quiet;
    const struct ft_msg *msg;
    FILE *in, *out, *err;
};

/* Runs ARGS's command (an exec's words joined by spaces, as ssh does), or,
 * when there is none, each line of SH->in until its end, with a prompt on
 * a terminal: get, put, ls or stat, split into words as a shell does and
 * with the command line's options (for that line only), or a command. A
 * server that closed the connection while idle (its --idle) is found
 * before a line is sent, and the line goes on a new connection. Returns
 * the exit status: the command's (an exec's as shell_exec_status gives
 * it), or the status of the last line that did not give 0. */
int shell_main(const struct shell *sh, const struct shell_args *args);

/* The exit status of an exec, as ssh gives it: COMMAND_STATUS when RC is
 * 0, RC after Ctrl-C or for a command the client would not send (130, 2),
 * 255 for any other failure of the client's. */
int shell_exec_status(int rc, int command_status);

/* The end of an exec: its "exit" message M against the output received
 * (SHA-256 HEX, SIZES[1] bytes on stdout and SIZES[2] on stderr). Returns
 * EXIT_VERIFY when they differ, NOTE saying how; else 0, with *STATUS the
 * status a shell would give: 128+N for a signal; a command the server
 * stopped did not end by itself, and its status would depend on a race
 * with the kill: --timeout gives 124, as timeout(1), a cut output 1. NOTE
 * then says what to tell the user ("the command exited with status 3"),
 * or "" (the server's note on a kill or a cut came on stderr already). */
int shell_exit_status(const struct ft_msg *m, const char *hex, const uint64_t sizes[3],
                      int *status, char *note, size_t notelen);

/* An exec's output as its "output" bodies arrive: each piece written to
 * OUT_FD (stream 1) or ERR_FD (stream 2) at once, and counted and hashed
 * for the "exit" message. shell_output_init returns 0, or -1 when out of
 * memory; shell_output_write 0, or -1 with errno set; shell_output_end
 * is shell_exit_status of M against what was written. */
struct shell_output {
    int fds[3];
    struct digest sha;
    uint64_t sizes[3];
};
int shell_output_init(struct shell_output *o, int out_fd, int err_fd);
int shell_output_write(struct shell_output *o, int stream, const void *piece, size_t len);
int shell_output_end(struct shell_output *o, const struct ft_msg *m, int *status, char *note,
                     size_t notelen);
void shell_output_free(struct shell_output *o);

#endif
