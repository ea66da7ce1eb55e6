/* run.h - run one shell command and capture its output.
 *
 * The command runs as /bin/sh -c CMD in its own process group, with stdin
 * from /dev/null and SIGPIPE back at its default. Its stdout and stderr are
 * drained together (poll), so a command that fills both pipes cannot
 * deadlock. When the shell exits, whatever it left running in its group (a
 * `sleep 100 &` holding the pipe) is killed; when the shell outlives
 * TIMEOUT_S, the whole group is killed. Nothing here prints or exits. */
#ifndef NIANBAO_RUN_H
#define NIANBAO_RUN_H

#include <stddef.h>

struct cmd_result {
    unsigned char *out;   /* stdout bytes */
    size_t out_len;
    unsigned char *err;   /* stderr bytes, plus "nianbao: ..." notes (killed, cut) */
    size_t err_len;
    int exit_code;        /* 0..255 when the shell exited, else -1 (killed,
                             or reaped by someone else: status unknown) */
    int signal;           /* signal that ended the shell, else 0 */
    int timed_out;        /* 1 when the timeout killed the group */
    int truncated;        /* 1 when output beyond MAX_OUTPUT was dropped */
};

/* Runs the CMD_LEN bytes at CMD (cut at the first NUL, as execve would).
 * Output and notes together stay within MAX_OUTPUT bytes: past that the
 * group is killed, the output cut, and a note added to stderr. When the
 * shell has exited but a process that left its group (setsid) keeps the
 * output open, reading stops at the timeout, with a note.
 * Returns 0 with RES filled (free it with cmd_result_free), or -1 with ERR
 * filled when the command could not be started (pipe/fork/memory). */
int run_command(const void *cmd, size_t cmd_len, unsigned timeout_s,
                size_t max_output, struct cmd_result *res,
                char *err, size_t errlen);

void cmd_result_free(struct cmd_result *res);

/* Server-wide signal set-up: ignore SIGPIPE (a client that goes away must
 * not kill the server), and make SIGINT/SIGTERM kill the running command's
 * process group, if any, then end the process with status 0.
 * Returns 0, or -1 (errno set). */
int server_signals_install(void);

#endif
