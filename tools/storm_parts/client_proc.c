/* client_proc.c - the client under test as a process: started with its
 * command on stdin, its stderr read, waited for with a deadline (see
 * storm.h). */
#define _GNU_SOURCE
#include "storm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn_child.h"

/* ARGV with every "{port}" replaced by PORT, in a new NULL-terminated
 * array (strings malloc'ed). Returns NULL when out of memory. */
char **argv_with_port(char **argv, int argc, const char *port)
{
    char **out = calloc((size_t)argc + 1, sizeof *out);
    for (int i = 0; out && i < argc; i++) {
        size_t len = strlen(argv[i]) + 1, n = 0;
        for (const char *at = argv[i]; (at = strstr(at, "{port}")) != NULL; at += 6)
            n++;
        out[i] = malloc(len + n * strlen(port));
        if (out[i] == NULL)
            goto fail;
        char *w = out[i];
        for (const char *r = argv[i]; *r;) {
            if (strncmp(r, "{port}", 6) == 0) {
                w = stpcpy(w, port);
                r += 6;
            } else {
                *w++ = *r++;
            }
        }
        *w = '\0';
    }
    return out;
fail:
    for (int i = 0; i < argc; i++)
        free(out[i]);
    free(out);
    return NULL;
}

/* Starts the client: stdin a pipe holding COMMAND and a newline (then
 * closed), stdout /dev/null, stderr a pipe we read. */
int client_spawn(char **argv, const char *command, struct client_run *run,
                        char *err, size_t errlen)
{
    struct spawn_opts opts = { .fd = { SPAWN_PIPE, SPAWN_NULL, SPAWN_PIPE }, .search_path = 1 };
    struct spawn_child child;

    if (spawn_start(&child, argv[0], argv, &opts, err, errlen) < 0)
        return -1;
    run->pid = child.pid;
    /* One short line: the pipe holds it, then end of file. */
    dprintf(child.fd[STDIN_FILENO], "%s\n", command);
    close(child.fd[STDIN_FILENO]);
    run->stderr_fd = child.fd[STDERR_FILENO];
    if (fcntl(run->stderr_fd, F_SETFL, O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the client's stderr pipe non-blocking: %s",
                 strerror(errno));
        return -1;
    }
    run->errlen = 0;
    run->exited = 0;
    return 0;
}

/* Reads what the client wrote to stderr so far. */
static void client_read_stderr(struct client_run *run)
{
    while (run->stderr_fd >= 0) {
        char buf[4096];
        ssize_t n = read(run->stderr_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0) {
                close(run->stderr_fd);
                run->stderr_fd = -1;
            }
            return;
        }
        size_t room = sizeof run->errtext - 1 - run->errlen;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        memcpy(run->errtext + run->errlen, buf, keep);
        run->errlen += keep;
        run->errtext[run->errlen] = '\0';
    }
}

void storm_test_hold(void)
{
    static int held;
    const char *hold = getenv("NIANBAO_STORM_HOLD_MS");
    if (held || hold == NULL || *hold == '\0')
        return;
    held = 1;
    long ms = atol(hold);
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (ms > 0 && nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* Waits until the client exits or DEADLINE; reads its stderr meanwhile;
 * also returns when FD (if >= 0) becomes readable. Returns 1 when it
 * exited, 0 otherwise. At the deadline the client is looked at once more:
 * storm itself may have been held off the CPU while it exited in time. */
int client_wait(struct client_run *run, long long deadline, int fd)
{
    for (;;) {
        client_read_stderr(run);
        if (!run->exited) {
            pid_t w = waitpid(run->pid, &run->status, WNOHANG);
            if (w == run->pid)
                run->exited = 1;
        }
        if (fd < 0)
            storm_test_hold();
        if (run->exited) {
            /* the rest of its stderr, now that it is gone */
            struct pollfd last = { run->stderr_fd, POLLIN, 0 };
            while (run->stderr_fd >= 0 && poll(&last, 1, 100) > 0)
                client_read_stderr(run);
            return 1;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            if (waitpid(run->pid, &run->status, WNOHANG) != run->pid)
                return 0;
            run->exited = 1;        /* in time: its stderr is read above */
            continue;
        }
        struct pollfd pfd[2] = { { run->stderr_fd, POLLIN, 0 }, { fd, POLLIN, 0 } };
        int n = poll(pfd, 2, left < 20 ? (int)left : 20);
        if (n > 0 && fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            return 0;
    }
}

/* The last line of TEXT (without its newline), in LINE, control bytes
 * shown as \xNN (a client's message must not drive our terminal). */
void last_line(const char *text, size_t len, char *line, size_t linelen)
{
    while (len > 0 && text[len - 1] == '\n')
        len--;
    size_t start = len, out = 0;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    for (size_t i = start; i < len && out + 5 < linelen; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            out += (size_t)snprintf(line + out, linelen - out, "\\x%02x", c);
        else
            line[out++] = (char)c;
    }
    line[out] = '\0';
}
