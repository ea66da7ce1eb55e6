/* run.h - run shell commands, one or several at once.
 *
 * A command runs as /bin/sh -c CMD in its own process group, with stdin
 * from /dev/null and SIGPIPE back at its default. Its stdout and stderr are
 * read together, so a command that fills both pipes cannot deadlock. When
 * the shell exits, whatever it left running in its group (a `sleep 100 &`
 * holding the pipe) is killed; when the shell outlives its timeout, the
 * whole group is killed. Output past MAX_OUTPUT kills the group too.
 *
 * Two ways to drive a command:
 *   - run_command (stages 1, 3, 4): blocking; stdout and stderr are spooled
 *     into two unlinked temporary files, so the server's memory stays the
 *     same whatever the output's size, and the reply can go out by sendfile.
 *   - struct command (stage 5 streams output as it is produced; stage 6's
 *     poll model drives commands from its epoll loop, its thread model runs
 *     several at once): command_start, then command_next (blocking) or
 *     command_read + command_tick on its fds (event loop), then
 *     command_finish.
 * There is no global state but the table of running process groups that
 * the stop signal handler kills (server_signals_install), and the sandbox
 * every command runs in, set once at start (run_sandbox_start).
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_RUN_H
#define NIANBAO_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "sandbox.h"

enum command_stream { COMMAND_STDOUT = 1, COMMAND_STDERR = 2 };

/* A running command. Read the fields; change them only through the
 * functions below. */
struct command {
    pid_t pid;                /* the shell, leader of the command's group   */
    int out_fd, err_fd;       /* non-blocking read ends; -1 once at EOF     */
    int pidfd;                /* readable when the shell exits; -1 when the
                                 kernel has no pidfd (then poll with a timer) */
    long long deadline_ms;    /* CLOCK_MONOTONIC: the group is killed then  */
    long long demote_ms;      /* --sandbox: when to look whether it is a CPU
                                 hog, to demote (sandbox.h); 0: done, or no
                                 sandbox                                    */
    unsigned long timeout_ms;
    uint64_t max_output;      /* output allowed, stdout and stderr together */
    uint64_t output_len;      /* output handed to the owner so far          */
    int shell_done;           /* the shell has been reaped                  */
    int status_known, status; /* its wait status, when known                */
    int timed_out;            /* the timeout killed the group               */
    int truncated;            /* output past max_output was dropped         */
    int pipe_held;            /* the shell is gone but a process that left
                                 its group (setsid) still holds a pipe: we
                                 stopped reading at the timeout             */
    int slot;                 /* internal: its place in the stop table      */
    int peer_fd;              /* -1, or the client's socket: command_next
                                 watches it (set it after command_start)    */
    int peer_gone;            /* the client closed or reset it: the group
                                 was killed                                 */
};

/* Starts CMD_LEN bytes at CMD (cut at the first NUL, as execve would).
 * Returns 0, or -1 with ERR filled (pipes, spawn, memory). */
int command_start(struct command *c, const void *cmd, size_t cmd_len,
                  unsigned long timeout_ms, uint64_t max_output,
                  char *err, size_t errlen);

/* Blocking: waits for the next output of either stream (at most LEN bytes)
 * and returns its size with *STREAM set; returns 0 when the command is over
 * (both streams at EOF or abandoned, and the shell reaped or killed); -1
 * with ERR filled when poll fails, or when PEER_FD (when set) reports that
 * the client closed or reset the connection: then the whole group has been
 * killed and PEER_GONE is 1 (a client's Ctrl-C, or a client killed, must
 * not leave its command running until the timeout while the next client
 * waits). Only the close is watched, not the bytes: a request the client
 * sent ahead stays unread. Enforces the timeout and MAX_OUTPUT. */
ssize_t command_next(struct command *c, enum command_stream *stream,
                     void *buf, size_t len, char *err, size_t errlen);

/* Non-blocking, for event loops: reads what STREAM has now. Returns > 0;
 * 0 at that stream's EOF (its fd is then closed and set to -1); -1 with
 * errno EAGAIN when nothing is there yet. Output beyond MAX_OUTPUT is cut
 * (the part that fits is returned) and the group killed. */
ssize_t command_read(struct command *c, enum command_stream stream,
                     void *buf, size_t len);

/* For event loops: checks the clock and the shell (call it when pidfd is
 * readable, and when command_wait_ms has passed). Kills the group at the
 * timeout. Returns 1 when the command is over, else 0. */
int command_tick(struct command *c);

/* Milliseconds until command_tick has something to do (the timeout, or a
 * periodic check when there is no pidfd); -1 when nothing is pending. */
long long command_wait_ms(const struct command *c);

/* 1 when both streams are at EOF (or abandoned) and the shell is reaped. */
int command_over(const struct command *c);

/* Kills the whole group now (the client went away). command_finish must
 * still be called. */
void command_kill(struct command *c);

struct command_status {
    int exit_code;            /* 0..255 when the shell exited, else -1
                                 (killed, or reaped by someone else)        */
    int signal;               /* signal that ended the shell, else 0        */
    int timed_out, truncated, pipe_held;
};

/* Ends the command: kills what is left of its group, reaps the shell,
 * closes the fds. Fills ST, and NOTES with the "nianbao: ..." lines a
 * reader of the output must know (killed after N s, cut to fit, pipe held),
 * "" when there are none. Always succeeds. */
void command_finish(struct command *c, struct command_status *st,
                    char *notes, size_t notes_len);

/* ---- stages 1, 3, 4: the whole command, spooled ------------------------ */

struct cmd_result {
    int out_fd, err_fd;       /* unlinked temporary files holding stdout and
                                 stderr (notes included), at offset 0       */
    uint64_t out_len, err_len;
    int exit_code, signal, timed_out, truncated;
    char digest[DIGEST_HEX_MAX]; /* hex digest of stdout then stderr, when
                                    asked for (else "")                     */
};

/* Runs CMD to its end. Output and notes together stay within MAX_OUTPUT:
 * past that the group is killed, the output cut, and a note added to
 * stderr. The spools live in $TMPDIR (O_TMPFILE, or an unlinked mkstemp
 * file where the file system has no O_TMPFILE). When DIGEST is not
 * DIGEST_NONE, RES->digest is that digest of the body as it will be sent
 * (stdout, then stderr), computed while the output arrives.
 * Returns 0 with RES filled (free it with cmd_result_free), or -1 with ERR
 * filled when the command could not be run (pipes, spawn, spool files). */
int run_command(const void *cmd, size_t cmd_len, unsigned long timeout_ms,
                uint64_t max_output, enum digest_kind digest,
                struct cmd_result *res, char *err, size_t errlen);

void cmd_result_free(struct cmd_result *res);

/* --sandbox: from now on every command runs in the bubblewrap sandbox CFG
 * describes (sandbox.h). Call it once, before any command and any thread.
 * Runs `true` in it first: returns 0, or -1 with ERR filled when the
 * sandbox cannot be made (no bwrap, no user namespaces: bwrap's own words
 * follow), and then nothing changes: the caller must not serve. */
int run_sandbox_start(const struct sandbox_config *cfg, char *err, size_t errlen);

/* Server-wide signal set-up for servers that stop at once: ignore SIGPIPE
 * (a client that goes away must not kill the server), SIGCHLD back at its
 * default (an inherited SIG_IGN would reap our shells before we read their
 * status), and SIGINT/SIGTERM kill every running command's process group,
 * then end the process with status 0. Returns 0, or -1 (errno set). */
int server_signals_install(void);

/* Kills every command still running (for a server that stops on its own
 * terms, e.g. after a graceful shutdown's grace period). */
void run_kill_all(void);

#endif
