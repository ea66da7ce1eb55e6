/* spawn_child.h - the one way nianbao starts a child process.
 *
 * Every program the lab starts (a shell for a command, a student's program
 * under the grader, a stage under the lesson or the viewer, a client under
 * storm) starts here, with the same rules:
 *   - stdin, stdout and stderr are each ours, /dev/null, one of our fds, or
 *     a new pipe whose other end we get back;
 *   - every other descriptor is closed in the child (a server's listening
 *     socket or a client's connection never leaks into a command);
 *   - every signal is back at its default and none is blocked (an ignored
 *     SIGPIPE survives exec: `yes | head` needs it back);
 *   - optionally: leader of a new process group (so the whole group can be
 *     killed at a timeout or a Ctrl-C), a signal when we die (so no server
 *     listens on after the lesson is killed), a working directory, and
 *     environment variables set over ours.
 * posix_spawn does it when it can: it shares our memory until the exec
 * instead of copying our page tables, so a command starts in a fraction of
 * fork()'s time, and a threaded server may call it. Only the signal-at-our-
 * death needs fork and exec.
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_SPAWN_CHILD_H
#define NIANBAO_SPAWN_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* What one of the child's stdin/stdout/stderr is, besides an fd of ours
 * (which must be >= 3, or the stream's own number). */
enum {
    SPAWN_KEEP = -1,   /* ours, as it is                                 */
    SPAWN_NULL = -2,   /* /dev/null                                      */
    SPAWN_PIPE = -3,   /* a new pipe: the child gets one end, we the other */
};

struct spawn_opts {
    int fd[3];                 /* stdin, stdout, stderr: SPAWN_* or an fd    */
    int new_group;             /* leader of a new process group              */
    int parent_death_signal;   /* sent to the child when we die (0: none)    */
    const char *dir;           /* its working directory (NULL: ours)         */
    char *const *env;          /* "NAME=VALUE" set over our environment,
                                  NULL-terminated (NULL: ours as it is)      */
    int search_path;           /* find PROGRAM in $PATH when it has no '/'   */
};

#define SPAWN_OPTS_INIT { .fd = { SPAWN_KEEP, SPAWN_KEEP, SPAWN_KEEP } }

struct spawn_child {
    pid_t pid;
    int fd[3];                 /* our ends of the SPAWN_PIPE streams (the
                                  write end for stdin, close-on-exec), else -1 */
};

/* Starts PROGRAM with ARGV as O says. Returns 0 with CHILD filled, or -1
 * with errno set and ERR filled ("cannot run PROGRAM: No such file or
 * directory", "cannot start PROGRAM: pipe: ..."); nothing is left open or
 * running then. A program that cannot be executed is reported here, not by
 * a child exiting 127. */
int spawn_start(struct spawn_child *child, const char *program, char *const argv[],
                const struct spawn_opts *o, char *err, size_t errlen);

/* Starts a child that runs our own code: like fork(), returns the child's
 * pid in the parent and 0 in the child, or -1 with errno set. Only
 * O->new_group and O->parent_death_signal apply (the child keeps our
 * descriptors, signal handlers and directory: it is still us); when the
 * parent has died before the child could ask for its signal, the child
 * exits at once with status 0. */
pid_t spawn_fork(const struct spawn_opts *o);

#endif
