/* run.c - run shell commands, one or several at once (see run.h). */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "fileio.h"
#include "sandbox.h"
#include "spawn_child.h"

/* --sandbox: set once at start (run_sandbox_start), before any command or
 * thread, then only read. NULL: commands run as the server's user. */
static struct sandbox *the_sandbox;

/* The process groups of the commands running now, for the stop signal
 * handler: the one file-scope table, because a handler can reach nothing
 * else. A slot holds a group id or 0; slots are claimed with an atomic
 * compare-and-swap, so several threads can start commands at once. */
#define RUN_MAX_GROUPS 4096
static volatile sig_atomic_t running_groups[RUN_MAX_GROUPS];

#define PIPE_SIZE (1 << 20)        /* fewer wake-ups for a large output */
#define NOTES_MAX 320

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int claim_slot(pid_t group)
{
    for (int i = 0; i < RUN_MAX_GROUPS; i++) {
        int free_slot = 0;
        if (__atomic_compare_exchange_n((int *)&running_groups[i], &free_slot, (int)group, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return i;
    }
    return -1;   /* full: the group is still killed by command_finish */
}

static void release_slot(int slot)
{
    if (slot >= 0)
        __atomic_store_n((int *)&running_groups[slot], 0, __ATOMIC_SEQ_CST);
}

/* Starts /bin/sh -c CMD as the leader of a new process group, with stdin
 * from /dev/null and stdout and stderr on pipes (spawn_child.h: every other
 * descriptor, the client's socket included, stays out of the command, and
 * what the server set for its signals is undone). With --sandbox the
 * program started is bwrap (sandbox.h), the group's leader, and the shell
 * runs inside; TIMEOUT_MS sets its CPU limit. Returns 0 with CHILD filled,
 * or -1 with errno set. */
static int spawn_shell(struct spawn_child *child, const char *cmd, unsigned long timeout_ms)
{
    struct spawn_opts opts = { .fd = { SPAWN_NULL, SPAWN_PIPE, SPAWN_PIPE }, .new_group = 1 };
    char *shell_argv[] = { "sh", "-c", (char *)cmd, NULL };
    char *sandbox_argv_buf[SANDBOX_ARGV_MAX], cpu_arg[32], ignored[160];
    char **argv = shell_argv;
    const char *program = "/bin/sh";

    if (the_sandbox) {
        if (sandbox_argv(the_sandbox, cmd, timeout_ms, sandbox_argv_buf,
                         SANDBOX_ARGV_MAX, cpu_arg, sizeof cpu_arg) < 0) {
            errno = E2BIG;
            return -1;
        }
        argv = sandbox_argv_buf;
        program = argv[0];
    }
    return spawn_start(child, program, argv, &opts, ignored, sizeof ignored);
}

/* --sandbox: a command that has used SANDBOX_DEMOTE_CPU_MS of CPU is
 * demoted (sandbox.h). It is looked at when it could have used the rest
 * of that on two cores, and at most every SANDBOX_DEMOTE_LOOK_MS;
 * command_wait_ms counts the next look among its deadlines. */
static void demote_when_due(struct command *c, long long now)
{
    long long cpu_ms = SANDBOX_DEMOTE_CPU_MS;

    if (c->demote_ms == 0 || now < c->demote_ms)
        return;
    int hog = c->shell_done ? 1 : sandbox_demote_hog(c->pid, &cpu_ms);
    long long next = (SANDBOX_DEMOTE_CPU_MS - cpu_ms) / 2;
    if (hog == 1 || hog < 0)
        c->demote_ms = 0;
    else
        c->demote_ms = now + (next > SANDBOX_DEMOTE_LOOK_MS ? next : SANDBOX_DEMOTE_LOOK_MS);
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

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void command_kill(struct command *c)
{
    if (c->pid > 0)
        kill(-c->pid, SIGKILL);
}

int command_start(struct command *c, const void *cmd, size_t cmd_len,
                  unsigned long timeout_ms, uint64_t max_output,
                  char *err, size_t errlen)
{
    struct spawn_child child;
    char *cmd_text;

    memset(c, 0, sizeof *c);
    c->pid = -1;
    c->out_fd = c->err_fd = c->pidfd = -1;
    c->slot = -1;
    c->peer_fd = -1;
    c->timeout_ms = timeout_ms;
    c->max_output = max_output;
    cmd_text = malloc(cmd_len + 1);
    if (!cmd_text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cmd_text, cmd, cmd_len);
    cmd_text[cmd_len] = '\0';   /* strlen() then stops at an embedded NUL */
    int rc = spawn_shell(&child, cmd_text, timeout_ms);
    free(cmd_text);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start %s: %s", the_sandbox ? "the sandbox" : "/bin/sh",
                 strerror(errno));
        return -1;
    }
    c->pid = child.pid;
    c->slot = claim_slot(child.pid);
    c->out_fd = child.fd[STDOUT_FILENO];
    c->err_fd = child.fd[STDERR_FILENO];
    /* A larger pipe: fewer wake-ups for a large output (a hint: a smaller
     * pipe only costs time). */
    (void)fcntl(c->out_fd, F_SETPIPE_SZ, PIPE_SIZE);
    if (fcntl(c->out_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(c->err_fd, F_SETFL, O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the command's pipes non-blocking: %s",
                 strerror(errno));
        struct command_status st;
        command_finish(c, &st, NULL, 0);
        return -1;
    }
    c->pidfd = open_pidfd(child.pid);
    c->deadline_ms = now_ms() + (long long)timeout_ms;
    if (the_sandbox)
        c->demote_ms = now_ms() + SANDBOX_DEMOTE_CPU_MS / 2;
    return 0;
}

int command_over(const struct command *c)
{
    return c->shell_done && c->out_fd < 0 && c->err_fd < 0;
}

/* Output past MAX_OUTPUT: keep nothing more, kill the group, stop reading
 * (the killed group's pipes would only bring more of the same). */
static void cut_output(struct command *c)
{
    if (!c->truncated) {
        c->truncated = 1;
        command_kill(c);
    }
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
}

ssize_t command_read(struct command *c, enum command_stream stream,
                     void *buf, size_t len)
{
    int *fd = stream == COMMAND_STDOUT ? &c->out_fd : &c->err_fd;

    if (*fd < 0)
        return 0;
    uint64_t room = c->max_output - c->output_len;
    if (room == 0) {
        /* Exactly MAX_OUTPUT bytes is fine; one more is a cut. */
        char probe;
        ssize_t more = read(*fd, &probe, 1);
        if (more < 0 && (errno == EAGAIN || errno == EINTR))
            return -1;
        if (more > 0)
            cut_output(c);
        else
            close_fd(fd);
        return 0;
    }
    if (len > room)
        len = (size_t)room;
    for (;;) {
        ssize_t got = read(*fd, buf, len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return -1;
        if (got <= 0) {
            close_fd(fd);
            return 0;
        }
        c->output_len += (uint64_t)got;
        return got;
    }
}

int command_tick(struct command *c)
{
    long long now = now_ms();

    if (!c->shell_done) {
        pid_t reaped = waitpid(c->pid, &c->status, WNOHANG);
        if (reaped == c->pid || (reaped < 0 && errno == ECHILD)) {
            /* ECHILD: someone set SIGCHLD to SIG_IGN and the kernel reaped
             * the shell itself; its status is lost, but it is done. */
            c->shell_done = 1;
            c->status_known = reaped == c->pid;
            /* The command is over when its shell is; what it left behind
             * (`sleep 100 &`) would hold the pipes open forever. */
            command_kill(c);
        }
    }
    demote_when_due(c, now);
    if (now >= c->deadline_ms) {
        if (!c->shell_done && !c->timed_out) {
            c->timed_out = 1;
            command_kill(c);
            /* The killed group closes the pipes; give them a moment. */
            c->deadline_ms = now + 1000;
        } else if (c->shell_done && (c->out_fd >= 0 || c->err_fd >= 0)) {
            /* The group is gone, yet a pipe is still open: a process that
             * left the group (setsid) holds it. Stop waiting for it. */
            c->pipe_held = 1;
            close_fd(&c->out_fd);
            close_fd(&c->err_fd);
        }
    }
    return command_over(c);
}

long long command_wait_ms(const struct command *c)
{
    if (command_over(c))
        return -1;
    long long now = now_ms();
    long long left = c->deadline_ms - now;
    if (c->demote_ms > 0 && !c->shell_done && c->demote_ms - now < left)
        left = c->demote_ms - now;
    if (left < 0)
        left = 0;
    /* Without a pidfd nothing wakes us when the shell exits: look now and then. */
    if (!c->shell_done && c->pidfd < 0 && left > 50)
        left = 50;
    return left;
}

ssize_t command_next(struct command *c, enum command_stream *stream,
                     void *buf, size_t len, char *err, size_t errlen)
{
    enum { PEER = -1, PIDFD = 0 };

    for (;;) {
        if (command_tick(c))
            return 0;
        struct pollfd pfd[4];
        int which[4];
        nfds_t n = 0;
        if (c->out_fd >= 0) {
            pfd[n] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
            which[n++] = COMMAND_STDOUT;
        }
        if (c->err_fd >= 0) {
            pfd[n] = (struct pollfd){ .fd = c->err_fd, .events = POLLIN };
            which[n++] = COMMAND_STDERR;
        }
        if (!c->shell_done && c->pidfd >= 0) {
            pfd[n] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
            which[n++] = PIDFD;
        }
        if (c->peer_fd >= 0) {
            /* POLLRDHUP, not POLLIN: the client's FIN or reset, not its bytes. */
            pfd[n] = (struct pollfd){ .fd = c->peer_fd, .events = POLLRDHUP };
            which[n++] = PEER;
        }
        long long wait = command_wait_ms(c);
        int ready = poll(pfd, n, wait > 1000 ? 1000 : (int)wait);
        if (ready < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        for (nfds_t i = 0; ready > 0 && i < n; i++) {
            if (!pfd[i].revents || which[i] == PIDFD)
                continue;
            if (which[i] == PEER) {
                command_kill(c);
                c->peer_gone = 1;
                snprintf(err, errlen, "the client closed the connection while the command ran: "
                         "its process group is killed");
                return -1;
            }
            ssize_t got = command_read(c, (enum command_stream)which[i], buf, len);
            if (got > 0) {
                *stream = (enum command_stream)which[i];
                return got;
            }
        }
    }
}

void command_finish(struct command *c, struct command_status *st,
                    char *notes, size_t notes_len)
{
    size_t used = 0;

    if (c->pid > 0 && !c->shell_done) {
        command_kill(c);
        c->status_known = waitpid(c->pid, &c->status, 0) == c->pid;
        c->shell_done = 1;
    }
    command_kill(c);            /* whatever the shell left behind */
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    close_fd(&c->pidfd);
    release_slot(c->slot);
    c->slot = -1;

    memset(st, 0, sizeof *st);
    st->exit_code = -1;
    if (c->status_known && WIFEXITED(c->status))
        st->exit_code = WEXITSTATUS(c->status);
    else if (c->status_known && WIFSIGNALED(c->status))
        st->signal = WTERMSIG(c->status);
    st->timed_out = c->timed_out;
    st->truncated = c->truncated;
    st->pipe_held = c->pipe_held;

    if (notes_len == 0)
        return;
    notes[0] = '\0';
#define NOTE(...) \
    do { \
        int n_ = snprintf(notes + used, notes_len - used, __VA_ARGS__); \
        if (n_ > 0) \
            used += (size_t)n_ < notes_len - used ? (size_t)n_ : notes_len - used - 1; \
    } while (0)
    if (c->timed_out)
        NOTE("nianbao: command killed after %s s (timeout)\n", duration_text(c->timeout_ms).s);
    if (c->truncated)
        NOTE("nianbao: output cut to fit --max-output %llu\n",
             (unsigned long long)c->max_output);
    if (c->pipe_held)
        NOTE("nianbao: stopped reading after %s s: a process outside the command's "
             "group still holds its output open\n", duration_text(c->timeout_ms).s);
#undef NOTE
}

/* ---- stages 1, 3, 4: the whole command, spooled ------------------------ */

/* An unlinked temporary file in $TMPDIR. */
static int spool_open(char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];

    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* Some file systems have no O_TMPFILE: the old way, then. */
    snprintf(path, sizeof path, "%s/nianbao-spool.XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a spool file in %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

/* Adds the first LEN bytes of FD to D. Returns 0 or -1 (errno). */
static int digest_file(struct digest *d, int fd, uint64_t len, unsigned char *buf, size_t cap)
{
    uint64_t at = 0;
    while (at < len) {
        size_t want = len - at < cap ? (size_t)(len - at) : cap;
        ssize_t n = pread(fd, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        digest_update(d, buf, (size_t)n);
        at += (uint64_t)n;
    }
    return 0;
}

int run_command(const void *cmd, size_t cmd_len, unsigned long timeout_ms,
                uint64_t max_output, enum digest_kind digest,
                struct cmd_result *res, char *err, size_t errlen)
{
    struct command c;
    struct command_status st;
    struct digest out_digest = { DIGEST_NONE, NULL };
    char notes[NOTES_MAX];
    size_t chunk_size = 256 * 1024;
    unsigned char *chunk = NULL;
    int started = 0, rc = -1;

    memset(res, 0, sizeof *res);
    res->out_fd = res->err_fd = -1;
    res->exit_code = -1;
    chunk = malloc(chunk_size);
    if (!chunk) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    if ((res->out_fd = spool_open(err, errlen)) < 0 ||
        (res->err_fd = spool_open(err, errlen)) < 0)
        goto end;
    /* Stdout is hashed as it arrives; stderr, which must follow it in the
     * body, from its spool at the end (it is usually short). */
    if (digest != DIGEST_NONE && digest_init_behind(&out_digest, digest) < 0) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    if (command_start(&c, cmd, cmd_len, timeout_ms, max_output, err, errlen) < 0)
        goto end;
    started = 1;
    for (;;) {
        enum command_stream stream;
        ssize_t got = command_next(&c, &stream, chunk, chunk_size, err, errlen);
        if (got < 0)
            goto end;
        if (got == 0)
            break;
        int fd = stream == COMMAND_STDOUT ? res->out_fd : res->err_fd;
        if (fileio_write_all(fd, chunk, (size_t)got) < 0) {
            snprintf(err, errlen, "cannot write the spool file: %s", strerror(errno));
            goto end;
        }
        if (stream == COMMAND_STDOUT) {
            digest_update(&out_digest, chunk, (size_t)got);
            res->out_len += (uint64_t)got;
        } else {
            res->err_len += (uint64_t)got;
        }
    }
    command_finish(&c, &st, notes, sizeof notes);
    started = 0;
    res->exit_code = st.exit_code;
    res->signal = st.signal;
    res->timed_out = st.timed_out;
    res->truncated = st.truncated;

    /* The notes count within MAX_OUTPUT, as the clients check: make room
     * for them by cutting stderr first, then stdout. */
    size_t notes_len = strlen(notes);
    if (notes_len > max_output)
        notes_len = (size_t)max_output;
    int stdout_cut = 0;
    if (res->out_len + res->err_len + notes_len > max_output) {
        uint64_t excess = res->out_len + res->err_len + notes_len - max_output;
        uint64_t from_err = excess < res->err_len ? excess : res->err_len;
        res->err_len -= from_err;
        if (excess > from_err) {
            res->out_len -= excess - from_err;
            stdout_cut = 1;
        }
        if (ftruncate(res->out_fd, (off_t)res->out_len) < 0 ||
            ftruncate(res->err_fd, (off_t)res->err_len) < 0) {
            snprintf(err, errlen, "cannot cut the spool file: %s", strerror(errno));
            goto end;
        }
    }
    if (notes_len > 0 &&
        pwrite(res->err_fd, notes, notes_len, (off_t)res->err_len) != (ssize_t)notes_len) {
        snprintf(err, errlen, "cannot write the spool file: %s", strerror(errno));
        goto end;
    }
    res->err_len += notes_len;
    if (digest != DIGEST_NONE) {
        if (stdout_cut) {
            /* What was hashed is no longer what will be sent. */
            digest_free(&out_digest);
            if (digest_init(&out_digest, digest) < 0 ||
                digest_file(&out_digest, res->out_fd, res->out_len, chunk, chunk_size) < 0)
                goto spool_error;
        }
        if (digest_file(&out_digest, res->err_fd, res->err_len, chunk, chunk_size) < 0)
            goto spool_error;
        digest_final_hex(&out_digest, res->digest);
    }
    lseek(res->out_fd, 0, SEEK_SET);
    lseek(res->err_fd, 0, SEEK_SET);
    rc = 0;
    goto end;
spool_error:
    snprintf(err, errlen, "cannot read the spool file: %s", strerror(errno));
end:
    if (started)
        command_finish(&c, &st, notes, 0);
    digest_free(&out_digest);
    free(chunk);
    if (rc < 0)
        cmd_result_free(res);
    return rc;
}

void cmd_result_free(struct cmd_result *res)
{
    close_fd(&res->out_fd);
    close_fd(&res->err_fd);
    res->out_len = res->err_len = 0;
}

/* ---- --sandbox ---------------------------------------------------------- */

int run_sandbox_start(const struct sandbox_config *cfg, char *err, size_t errlen)
{
    struct command c;
    struct command_status st;
    enum command_stream stream;
    char said[512], chunk[512];
    size_t said_len = 0;
    ssize_t got;

    struct sandbox *sb = sandbox_new(cfg, err, errlen);
    if (!sb)
        return -1;
    the_sandbox = sb;
    /* Tried once now: a bwrap too old for an option, a kernel without user
     * namespaces fail here, not on a student's first command. */
    if (command_start(&c, "true", 4, DURATION_S(10), sizeof chunk, err, errlen) < 0)
        goto fail;
    while ((got = command_next(&c, &stream, chunk, sizeof chunk, err, errlen)) > 0) {
        size_t room = sizeof said - 1 - said_len;
        size_t take = (size_t)got < room ? (size_t)got : room;
        memcpy(said + said_len, chunk, take);
        said_len += take;
    }
    command_finish(&c, &st, NULL, 0);
    if (got < 0)
        goto fail;
    said[said_len] = '\0';
    said[strcspn(said, "\n")] = '\0';
    if (st.exit_code != 0) {
        /* bwrap's own words: "bwrap: Unknown option --size" (older than
         * 0.8), "bwrap: No permissions to create a new namespace" ... */
        snprintf(err, errlen, "cannot make the sandbox: %s",
                 said[0] ? said : st.signal ? strsignal(st.signal) : "bwrap failed, saying nothing");
        goto fail;
    }
    return 0;
fail:
    the_sandbox = NULL;
    sandbox_free(sb);
    return -1;
}

/* ---- signals ----------------------------------------------------------- */

void run_kill_all(void)
{
    for (int i = 0; i < RUN_MAX_GROUPS; i++) {
        pid_t group = (pid_t)running_groups[i];
        if (group > 0)
            kill(-group, SIGKILL);
    }
}

static void on_stop_signal(int sig)
{
    (void)sig;
    run_kill_all();
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
