/* lesson_proc.c - the stage programs as the lesson's child processes:
 * started under the tap, their output collected, watched in /proc until
 * they wait for input, stopped (see lesson_parts.h). */
#define _GNU_SOURCE
#include "lesson_parts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "spawn_child.h"

/* ---- child processes ---------------------------------------------------- */

long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void text_add(struct text_buf *t, const char *bytes, size_t len)
{
    if (t->len + len > OUTPUT_KEEP) {
        size_t room = OUTPUT_KEEP - t->len;
        t->dropped += len - room;
        len = room;
    }
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->dropped += len;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
    t->data[t->len] = '\0';
}

void text_clear(struct text_buf *t)
{
    t->len = 0;
    t->dropped = 0;
    if (t->data)
        t->data[0] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts ARGV in its own process group (so a Ctrl-C in the lesson's
 * terminal reaches the lesson, which then stops its children in order) with
 * the tap in its environment. Its stdin is a pipe when WITH_STDIN, else
 * /dev/null; stdout and stderr are pipes. Returns 0 or -1 (ERR filled). */
int child_start(struct child *c, struct stage_run *run, char *const argv[],
                       int with_stdin, char *err, size_t errlen)
{
    const char *old = getenv("LD_PRELOAD");
    char preload[PATH_MAX * 2 + 16], tap[PATH_MAX + 16];
    /* Copy every byte: the lesson's replies are small. And write every
     * event at once: a step reads the capture the moment the client and
     * the server wait, and must find all of their calls there. */
    char *env[] = { preload, tap, "NIANBAO_TAP_CAP=65536", "NIANBAO_TAP_BUFFER=0", NULL };
    /* If the lesson dies (terminal closed, killed), so do its servers:
     * they would otherwise listen on forever. The commands run in the
     * source tree, so `ls` shows something the student recognises. */
    struct spawn_opts opts = { .fd = { with_stdin ? SPAWN_PIPE : SPAWN_NULL, SPAWN_PIPE,
                                       SPAWN_PIPE },
                               .new_group = 1, .parent_death_signal = SIGTERM,
                               .dir = run->cfg->root, .env = env };
    struct spawn_child child;
    char why[PATH_MAX + 128];   /* spawn's words; the lesson says it in the student's */

    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", run->tap_lib,
             old && *old ? ":" : "", old ? old : "");
    snprintf(tap, sizeof tap, "NIANBAO_TAP=%s", run->capture);
    if (spawn_start(&child, argv[0], argv, &opts, why, sizeof why) < 0) {
        snprintf(err, errlen, _("cannot start %s: %s"), argv[0], strerror(errno));
        return -1;
    }
    c->pid = child.pid;
    c->in_fd = child.fd[STDIN_FILENO];
    c->out_fd = child.fd[STDOUT_FILENO];
    c->err_fd = child.fd[STDERR_FILENO];
    return 0;
}

/* Moves what is waiting on one of C's pipes into its buffer; at EOF the
 * pipe is closed. */
static void child_drain_fd(int *fd, struct text_buf *t)
{
    char buf[8192];
    ssize_t got = read(*fd, buf, sizeof buf);
    if (got > 0)
        text_add(t, buf, (size_t)got);
    else if (got == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fd);
}

/* Waits up to TIMEOUT_MS for output from any child of RUN and collects it.
 * Returns the number of pipes that had something. */
int run_collect(struct stage_run *run, int timeout_ms)
{
    struct child *kids[] = { &run->server, &run->slicer, &run->client, &run->client2 };
    struct pollfd fds[8];
    struct text_buf *bufs[8];
    int *fd_of[8];
    int n = 0;

    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        if (kids[i]->out_fd >= 0) {
            fds[n] = (struct pollfd){ kids[i]->out_fd, POLLIN, 0 };
            bufs[n] = &kids[i]->out;
            fd_of[n++] = &kids[i]->out_fd;
        }
        if (kids[i]->err_fd >= 0) {
            fds[n] = (struct pollfd){ kids[i]->err_fd, POLLIN, 0 };
            bufs[n] = &kids[i]->err;
            fd_of[n++] = &kids[i]->err_fd;
        }
    }
    if (n == 0) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return 0;
    }
    int ready = poll(fds, (nfds_t)n, timeout_ms);
    if (ready <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (fds[i].revents)
            child_drain_fd(fd_of[i], bufs[i]);
    return ready;
}

int child_alive(struct child *c)
{
    if (c->pid <= 0 || c->exited)
        return 0;
    pid_t got = waitpid(c->pid, &c->status, WNOHANG);
    if (got == c->pid) {
        c->exited = 1;
        return 0;
    }
    return 1;
}

/* Waits for the "listening on ADDR:PORT" line on C's stderr and copies the
 * port. Returns 0, or -1 with ERR saying what the program said instead. */
int child_wait_listening(struct stage_run *run, struct child *c, char *port,
                                size_t portlen, char *err, size_t errlen)
{
    long deadline = now_ms() + START_DEADLINE_MS;

    for (;;) {
        const char *line = c->err.data ? strstr(c->err.data, "listening on ") : NULL;
        const char *eol = line ? strchr(line, '\n') : NULL;
        if (eol) {
            const char *colon = eol;
            while (colon > line && *colon != ':')
                colon--;
            size_t len = (size_t)(eol - colon - 1);
            if (*colon == ':' && len > 0 && len < portlen) {
                memcpy(port, colon + 1, len);
                port[len] = '\0';
                return 0;
            }
        }
        if (!child_alive(c) && c->err_fd < 0) {
            snprintf(err, errlen, _("%s exited before listening: %s"), c->name,
                     c->err.len ? c->err.data : _("(no message)"));
            return -1;
        }
        if (now_ms() > deadline) {
            snprintf(err, errlen, _("%s did not say 'listening on' within %d s"), c->name,
                     START_DEADLINE_MS / 1000);
            return -1;
        }
        run_collect(run, 50);
    }
}

/* Ends C: closes its stdin (a client then exits at EOF) and waits a
 * moment for that; a server or the slicer gets SIGTERM at once (to its
 * whole process group: the slicer serves each connection in a child). */
void child_stop(struct child *c)
{
    int has_stdin = c->in_fd >= 0;
    close_fd(&c->in_fd);
    if (c->pid > 0 && !c->exited) {
        long deadline = now_ms() + (has_stdin ? 1000 : 0);
        while (child_alive(c) && now_ms() < deadline)
            poll(NULL, 0, 5);
        if (child_alive(c)) {
            kill(-c->pid, SIGTERM);
            deadline = now_ms() + 1000;
            while (child_alive(c) && now_ms() < deadline)
                poll(NULL, 0, 10);
        }
        if (child_alive(c)) {
            kill(-c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            c->exited = 1;
        }
    }
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    free(c->out.data);
    free(c->err.data);
    const char *name = c->name;
    memset(c, 0, sizeof *c);
    c->name = name;
    c->in_fd = c->out_fd = c->err_fd = -1;
}

/* What PID is blocked in right now: 1 with *NR and *ARG0 set, 0 when it
 * is running (not in a system call), -1 when /proc does not tell us. */
static int blocked_in(pid_t pid, long *nr, unsigned long *arg0)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    if (fileio_read_text(path, buf, sizeof buf) < 0)
        return -1;
    if (strncmp(buf, "running", 7) == 0)
        return 0;
    if (sscanf(buf, "%ld %lx", nr, arg0) != 2)
        return -1;
    return *nr >= 0 ? 1 : 0;
}

/* The client is waiting for its next command: blocked in read(0). */
int client_waiting(pid_t pid)
{
    long nr;
    unsigned long arg0;
    int got = blocked_in(pid, &nr, &arg0);
    if (got < 0)
        return -1;
    return got == 1 && nr == SYS_read && arg0 == 0;
}

/* 1 when NR is a wait for any of several descriptors. */
static int is_poll_call(long nr)
{
#ifdef SYS_poll
    if (nr == SYS_poll)
        return 1;
#endif
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait)
        return 1;
#endif
    return nr == SYS_ppoll || nr == SYS_epoll_pwait;
}

/* The server is waiting for a request (or a connection). Stage 5 and 6
 * servers wait in poll/epoll (for a request, within a deadline): POLLS
 * says such a wait counts. A stage 1 to 4 server in poll may still be
 * reading a command's output, so there it does not. */
int server_waiting_in(pid_t pid, int polls)
{
    long nr;
    unsigned long arg0;
    int got = blocked_in(pid, &nr, &arg0);
    if (got < 0)
        return -1;
    if (got == 0)
        return 0;
    return nr == SYS_read || nr == SYS_recvfrom || nr == SYS_recvmsg ||
           nr == SYS_accept || nr == SYS_accept4 || (polls && is_poll_call(nr));
}

int server_waiting(pid_t pid)
{
    return server_waiting_in(pid, 0);
}

size_t pipe_unread(int fd)
{
    int n = 0;
    if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0)
        return 0;
    return n > 0 ? (size_t)n : 0;
}

/* ---- which of the decoded connections is whose ------------------------ */

/* The connection the lesson's client made (to the server or the slicer). */
const struct connection *run_client_conn(const struct stage_run *run)
{
    for (size_t i = 0; i < run->dec.n_conns; i++)
        if (run->dec.conns[i]->client_pid == (uint32_t)run->client_pid)
            return run->dec.conns[i];
    return NULL;
}

/* The newest connection the server accepted (from the client, or from the
 * slicer on the client's behalf). */
const struct connection *run_server_conn(const struct stage_run *run)
{
    for (size_t i = run->dec.n_conns; i > 0; i--)
        if (run->dec.conns[i - 1]->server_pid == (uint32_t)run->server.pid)
            return run->dec.conns[i - 1];
    return NULL;
}

/* The connection a client PID made, or NULL. */
const struct connection *conn_of_client(const struct stage_run *run, pid_t pid)
{
    for (size_t i = 0; i < run->dec.n_conns; i++)
        if (run->dec.conns[i]->client_pid == (uint32_t)pid)
            return run->dec.conns[i];
    return NULL;
}

/* The connection the screen shows: where the section's lesson is. The
 * requests cut by the slicer are on its connection to the server. */
const struct connection *run_view_conn(const struct stage_run *run)
{
    if (run->section->via_slicer == SLICE_UP)
        return run_server_conn(run);
    if (run->section->concurrent)       /* client 2's request, waiting or not */
        return conn_of_client(run, run->client2_pid);
    return run_client_conn(run);
}
