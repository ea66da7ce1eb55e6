/* spawn_child.c - the one way nianbao starts a child process (see spawn_child.h). */
#define _GNU_SOURCE
#include "spawn_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Our environment with O->env set over it, in a new array (its strings are
 * ours or O's: free only the array). Returns NULL with errno set. */
static char **child_environment(char *const *set)
{
    size_t n_ours = 0, n_set = 0, k = 0;

    while (environ[n_ours])
        n_ours++;
    while (set[n_set])
        n_set++;
    char **envp = calloc(n_ours + n_set + 1, sizeof *envp);
    if (!envp)
        return NULL;
    for (size_t i = 0; i < n_ours; i++) {
        size_t name_len = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t j = 0; j < n_set && !replaced; j++)
            replaced = strncmp(set[j], environ[i], name_len) == 0 && set[j][name_len] == '=';
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_set; j++)
        envp[k++] = set[j];
    envp[k] = NULL;
    return envp;
}

/* posix_spawn: file actions put CHILD_FD[i] (or /dev/null) on stream i and
 * close the rest; attributes reset every signal and the mask. Returns 0 or
 * an errno value. */
static int start_posix(pid_t *pid, const char *program, char *const argv[], char *const envp[],
                       const struct spawn_opts *o, const int child_fd[3])
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&actions)) != 0)
        return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    sigemptyset(&none);
    sigfillset(&all);
    if (o->new_group)
        flags |= POSIX_SPAWN_SETPGROUP;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (o->fd[i] == SPAWN_NULL)
            rc = posix_spawn_file_actions_addopen(&actions, i, "/dev/null",
                                                  i == 0 ? O_RDONLY : O_WRONLY, 0);
        else if (child_fd[i] >= 0)
            rc = posix_spawn_file_actions_adddup2(&actions, child_fd[i], i);
    }
    if (rc == 0 && o->dir)
        rc = posix_spawn_file_actions_addchdir_np(&actions, o->dir);
    if (rc == 0 &&
        (rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0 &&
        (rc = posix_spawnattr_setflags(&attr, flags)) == 0 &&
        (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
        (rc = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
        (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0)
        rc = o->search_path ? posix_spawnp(pid, program, &actions, &attr, argv, envp)
                            : posix_spawn(pid, program, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

/* In a forked child: asks for O's signal at the parent's death, then
 * checks the parent is still there (it may have died before the prctl).
 * Returns 0, or -1 when the parent is gone. */
static int follow_parent(const struct spawn_opts *o, pid_t parent)
{
    if (o->parent_death_signal &&
        (prctl(PR_SET_PDEATHSIG, o->parent_death_signal) < 0 || getppid() != parent))
        return -1;
    if (o->new_group)
        setpgid(0, 0);
    return 0;
}

/* In a forked child: the streams, the other fds closed (but REPORT_FD,
 * close-on-exec, which tells the parent why the exec failed), the signals,
 * the directory, then the exec. Never returns. */
static void exec_child(const char *program, char *const argv[], char *const envp[],
                       const struct spawn_opts *o, const int child_fd[3], int report_fd)
{
    struct sigaction dfl;
    sigset_t none;
    int code;

    for (int i = 0; i < 3; i++) {
        int fd = child_fd[i];
        if (o->fd[i] == SPAWN_NULL && (fd = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY)) < 0)
            goto fail;
        if (fd == i ? fcntl(fd, F_SETFD, 0) < 0 : fd >= 0 && dup2(fd, i) < 0)
            goto fail;
    }
    if ((report_fd > 3 && close_range(3, (unsigned)report_fd - 1, 0) < 0) ||
        close_range((unsigned)report_fd + 1, ~0U, 0) < 0)
        goto fail;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);   /* SIGKILL, SIGSTOP and glibc's own refuse: fine */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->dir && chdir(o->dir) < 0)
        goto fail;
    if (o->search_path)
        execvpe(program, argv, envp);
    else
        execve(program, argv, envp);
fail:
    code = errno;
    if (write(report_fd, &code, sizeof code) < 0)
        _exit(127);
    _exit(127);
}

/* fork and exec, for what posix_spawn cannot do. Returns 0 or an errno value. */
static int start_fork(pid_t *pid, const char *program, char *const argv[], char *const envp[],
                      const struct spawn_opts *o, const int child_fd[3])
{
    int report[2];
    pid_t parent = getpid();

    /* Above 2, so the child's dup2s cannot land on it. */
    if (pipe2(report, O_CLOEXEC) < 0)
        return errno;
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        return e;
    }
    if (child == 0) {
        close(report[0]);
        if (follow_parent(o, parent) < 0)
            _exit(127);
        exec_child(program, argv, envp, o, child_fd, report[1]);
    }
    /* Both sides set the group, so it exists before anyone signals it. */
    if (o->new_group)
        setpgid(child, child);
    close(report[1]);
    int exec_errno = 0;
    ssize_t got;
    do
        got = read(report[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof exec_errno) {
        waitpid(child, NULL, 0);
        return exec_errno;
    }
    *pid = child;
    return 0;
}

int spawn_start(struct spawn_child *child, const char *program, char *const argv[],
                const struct spawn_opts *o, char *err, size_t errlen)
{
    int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
    int child_fd[3];
    char **envp = environ;
    int rc = 0;

    child->pid = -1;
    for (int i = 0; i < 3; i++) {
        child->fd[i] = -1;
        child_fd[i] = o->fd[i] >= 0 ? o->fd[i] : -1;
        if (o->fd[i] != SPAWN_PIPE)
            continue;
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            rc = errno;
            snprintf(err, errlen, "cannot start %s: pipe: %s", program, strerror(rc));
            goto end;
        }
        child_fd[i] = pipes[i][i == 0 ? 0 : 1];
    }
    if (o->env && !(envp = child_environment(o->env))) {
        rc = errno;
        snprintf(err, errlen, "cannot start %s: %s", program, strerror(rc));
        goto end;
    }
    rc = o->parent_death_signal ? start_fork(&child->pid, program, argv, envp, o, child_fd)
                                : start_posix(&child->pid, program, argv, envp, o, child_fd);
    if (rc != 0) {
        child->pid = -1;
        snprintf(err, errlen, "cannot run %s: %s", program, strerror(rc));
        goto end;
    }
    for (int i = 0; i < 3; i++) {
        if (o->fd[i] != SPAWN_PIPE)
            continue;
        child->fd[i] = pipes[i][i == 0 ? 1 : 0];
        pipes[i][i == 0 ? 1 : 0] = -1;
    }
end:
    for (int i = 0; i < 3; i++) {
        close_fd(&pipes[i][0]);
        close_fd(&pipes[i][1]);
    }
    if (envp != environ)
        free(envp);
    if (rc == 0)
        return 0;
    errno = rc;
    return -1;
}

pid_t spawn_fork(const struct spawn_opts *o)
{
    pid_t parent = getpid();
    pid_t child = fork();

    if (child == 0 && follow_parent(o, parent) < 0)
        _exit(0);
    if (child > 0 && o->new_group)
        setpgid(child, child);
    return child;
}
