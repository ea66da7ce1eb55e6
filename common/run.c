/* run.c - run one shell command and capture its output (see run.h). */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The process group of the command running now, for the signal handler:
 * the one file-scope variable, because a handler can reach nothing else. */
static volatile sig_atomic_t running_group;

struct capture {
    unsigned char *data;
    size_t len, cap;
};

static int capture_append(struct capture *c, const void *bytes, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        while (cap < c->len + n)
            cap *= 2;
        unsigned char *grown = realloc(c->data, cap);
        if (!grown)
            return -1;
        c->data = grown;
        c->cap = cap;
    }
    memcpy(c->data + c->len, bytes, n);
    c->len += n;
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: become the leader of a new process group, wire the pipes,
 * undo what the server set for itself, and exec the shell. */
static void exec_shell(const char *cmd, int out_fd, int err_fd)
{
    sigset_t none;
    int null_fd = open("/dev/null", O_RDONLY);

    setpgid(0, 0);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    /* An ignored SIGPIPE survives exec; `yes | head` needs it back. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The client's socket must not leak into the command. */
    closefrom(3);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static void kill_group(pid_t pgid)
{
    kill(-pgid, SIGKILL);
}

/* Appends to stderr what the reader must know about the output, cutting
 * the output so that output and notes together stay within MAX_OUTPUT: a
 * reply never exceeds --max-output, which is what the clients check. */
static int add_notes(struct capture *out, struct capture *errs,
                     const struct cmd_result *res, int pipe_held,
                     unsigned timeout_s, size_t max_output)
{
    char notes[320];
    size_t used = 0;

    notes[0] = '\0';
    if (res->timed_out)
        used += (size_t)snprintf(notes + used, sizeof notes - used,
                                 "nianbao: command killed after %u s (timeout)\n", timeout_s);
    if (res->truncated)
        used += (size_t)snprintf(notes + used, sizeof notes - used,
                                 "nianbao: output cut to fit --max-output %zu\n", max_output);
    if (pipe_held)
        used += (size_t)snprintf(notes + used, sizeof notes - used,
                                 "nianbao: stopped reading after %u s: a process outside the "
                                 "command's group still holds its output open\n", timeout_s);
    if (used == 0)
        return 0;
    if (used > max_output)
        used = max_output;
    size_t total = out->len + errs->len + used;
    if (total > max_output) {
        size_t excess = total - max_output;
        size_t from_err = excess < errs->len ? excess : errs->len;
        errs->len -= from_err;
        out->len -= excess - from_err;
    }
    return capture_append(errs, notes, used);
}

int run_command(const void *cmd, size_t cmd_len, unsigned timeout_s,
                size_t max_output, struct cmd_result *res,
                char *err, size_t errlen)
{
    struct capture out = {0}, errs = {0};
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, pidfd = -1;
    char *cmd_text = NULL;
    pid_t pid = -1;
    int status = 0, status_known = 0, shell_done = 0, pipe_held = 0, rc = -1;
    long long deadline;
    unsigned char chunk[65536];

    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    cmd_text = malloc(cmd_len + 1);
    if (!cmd_text)
        goto nomem;
    memcpy(cmd_text, cmd, cmd_len);
    cmd_text[cmd_len] = '\0';   /* strlen() then stops at an embedded NUL */

    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        goto end;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        goto end;
    }
    if (pid == 0)
        exec_shell(cmd_text, out_pipe[1], err_pipe[1]);
    setpgid(pid, pid);          /* also here, so kill(-pid) works at once */
    running_group = pid;
    close(out_pipe[1]);
    close(err_pipe[1]);
    out_pipe[1] = err_pipe[1] = -1;
    pidfd = open_pidfd(pid);

    deadline = now_ms() + (long long)timeout_s * 1000;
    while (out_pipe[0] >= 0 || err_pipe[0] >= 0 || !shell_done) {
        struct pollfd pfd[3];
        int *owner[3];
        struct capture *sink[3];
        nfds_t n = 0;
        long long left = deadline - now_ms();

        if (left <= 0 && !shell_done && !res->timed_out) {
            res->timed_out = 1;
            kill_group(pid);
            /* The killed group closes the pipes; give them a moment. */
            deadline = now_ms() + 1000;
            continue;
        }
        if (left <= 0) {
            /* The group is gone, yet a pipe is still open: a process that
             * left the group (setsid) holds it. Stop waiting for it. */
            pipe_held = shell_done;
            break;
        }
        if (out_pipe[0] >= 0) {
            pfd[n] = (struct pollfd){ .fd = out_pipe[0], .events = POLLIN };
            owner[n] = &out_pipe[0];
            sink[n++] = &out;
        }
        if (err_pipe[0] >= 0) {
            pfd[n] = (struct pollfd){ .fd = err_pipe[0], .events = POLLIN };
            owner[n] = &err_pipe[0];
            sink[n++] = &errs;
        }
        if (!shell_done && pidfd >= 0) {
            pfd[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
            owner[n] = NULL;
            sink[n++] = NULL;
        }
        /* Without a pidfd, wake up now and then to check on the shell. */
        int wait_ms = pidfd >= 0 ? (int)(left > 1000 ? 1000 : left) : 50;
        if (poll(pfd, n, wait_ms) < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            kill_group(pid);
            goto end;
        }
        for (nfds_t i = 0; i < n; i++) {
            if (!pfd[i].revents || !owner[i])
                continue;
            ssize_t got = read(pfd[i].fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(*owner[i]);
                *owner[i] = -1;
                continue;
            }
            if (out.len + errs.len + (size_t)got > max_output) {
                size_t room = max_output - out.len - errs.len;
                if (capture_append(sink[i], chunk, room) < 0)
                    goto nomem_kill;
                if (!res->truncated) {
                    res->truncated = 1;
                    kill_group(pid);
                }
                continue;
            }
            if (capture_append(sink[i], chunk, (size_t)got) < 0)
                goto nomem_kill;
        }
        pid_t reaped = shell_done ? 0 : waitpid(pid, &status, WNOHANG);
        if (reaped == pid || (reaped < 0 && errno == ECHILD)) {
            /* ECHILD: someone set SIGCHLD to SIG_IGN and the kernel reaped
             * the shell itself; its status is lost, but it is done. */
            shell_done = 1;
            status_known = reaped == pid;
            /* The command is over when its shell is; what it left behind
             * (`sleep 100 &`) would hold the pipes open forever. */
            kill_group(pid);
        }
    }
    if (!shell_done) {
        kill_group(pid);
        status_known = waitpid(pid, &status, 0) == pid;
    }
    running_group = 0;
    if (status_known && WIFEXITED(status))
        res->exit_code = WEXITSTATUS(status);
    else if (status_known && WIFSIGNALED(status))
        res->signal = WTERMSIG(status);
    if (add_notes(&out, &errs, res, pipe_held, timeout_s, max_output) < 0)
        goto nomem;
    res->out = out.data;
    res->out_len = out.len;
    res->err = errs.data;
    res->err_len = errs.len;
    out.data = errs.data = NULL;
    rc = 0;
    goto end;

nomem_kill:
    kill_group(pid);
    waitpid(pid, &status, 0);
nomem:
    snprintf(err, errlen, "out of memory");
end:
    running_group = 0;
    if (pid > 0 && rc < 0 && !shell_done)
        waitpid(pid, &status, WNOHANG);
    free(cmd_text);
    free(out.data);
    free(errs.data);
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

void cmd_result_free(struct cmd_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
    res->out_len = res->err_len = 0;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    if (running_group > 0)
        kill(-(pid_t)running_group, SIGKILL);
    _exit(0);
}

int server_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -1;
    /* Inherited SIG_IGN would let the kernel reap our shells before we can
     * read their exit status. */
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;
    return 0;
}
