/* session.c - the clients' skeleton (see session.h). */
#define _GNU_SOURCE
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "interrupt.h"
#include "net.h"

/* BUSY_NOTICE_MS, or what NIANBAO_BUSY_NOTICE says (set and empty counts
 * as unset). Returns 0, or -1 with ERR filled when it says something that
 * is not a duration from 1 ms to a day. */
static int busy_notice_ms(unsigned long *ms, char *err, size_t errlen)
{
    const char *env = getenv(BUSY_NOTICE_ENV);
    char why[200];

    *ms = BUSY_NOTICE_MS;
    if (!env || !*env)
        return 0;
    if (duration_parse(env, 1, DURATION_S(86400), ms, why, sizeof why) < 0) {
        snprintf(err, errlen, BUSY_NOTICE_ENV ": %s", why);
        return -1;
    }
    return 0;
}

int session_connect(const struct session_config *cfg)
{
    char err[256];
    unsigned long notice_ms;

    if (busy_notice_ms(&notice_ms, err, sizeof err) < 0) {
        fprintf(cfg->diag, "%s: %s\n", cfg->prog, err);
        return -1;
    }
    int fd = net_connect(cfg->host, cfg->port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(cfg->diag, "%s: %s\n", cfg->prog, err);
        return -1;
    }
    /* A reply that starts and then stalls is reported, not waited on forever. */
    struct timeval limit = { (time_t)(cfg->timeout_ms / 1000),
                             (suseconds_t)(cfg->timeout_ms % 1000) * 1000 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0) {
        fprintf(cfg->diag, "%s: cannot set --timeout on the socket (SO_RCVTIMEO): %s\n",
                cfg->prog, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when the server has closed FD (a pending EOF or reset, and no bytes
 * before it), 0 otherwise. Looks without waiting and without taking bytes. */
int session_server_closed(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
    char probe;

    if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return 0;
    ssize_t n = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

void session_addr(const struct session_config *cfg, char *buf, size_t buflen)
{
    snprintf(buf, buflen, strchr(cfg->host, ':') ? "[%s]:%s" : "%s:%s", cfg->host, cfg->port);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the reply starts. Returns 1 when bytes are there to read, 0
 * when the server closed the connection instead, -1 after --wait. */
int session_wait_for_reply(const struct session_config *cfg, int fd)
{
    char err[256];
    unsigned long notice_ms;
    /* session_connect has refused a bad value: this one is good. */
    busy_notice_ms(&notice_ms, err, sizeof err);
    long long start = now_ms(), notice_at = start + (long long)notice_ms;
    long long give_up_at = cfg->wait_ms ? start + (long long)cfg->wait_ms : -1;
    int noticed = 0;

    for (;;) {
        long long now = now_ms(), until = give_up_at;
        if (!noticed && (until < 0 || notice_at < until))
            until = notice_at;
        int wait_ms = until < 0 ? -1 : (int)(until > now ? until - now : 0);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int ready = poll(&pfd, 1, wait_ms);
        if (ready < 0 && errno == EINTR && interrupt_pending())
            return -2;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready > 0) {
            char probe;
            ssize_t n = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n > 0)
                return 1;
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            return 0;
        }
        now = now_ms();
        if (give_up_at >= 0 && now >= give_up_at) {
            fprintf(cfg->diag, "%s: no reply after %s s (--wait); giving up\n",
                    cfg->prog, duration_text(cfg->wait_ms).s);
            return -1;
        }
        if (!noticed && now >= notice_at) {
            fprintf(cfg->diag, "%s: no reply after %s s: the server serves one client at a "
                    "time and may be busy with another%s; still waiting\n",
                    cfg->prog, duration_text(notice_ms).s, cfg->busy_hint);
            fflush(cfg->diag);
            noticed = 1;
        }
    }
}

int session_run(const struct session_config *cfg, session_reply_reader *read_reply,
                void *ctx)
{
    char *line = NULL;
    size_t line_cap = 0;
    int status = 0;
    int interactive = isatty(STDIN_FILENO), stdout_tty = isatty(STDOUT_FILENO);
    /* The prompt is for whoever types; a redirected stdout holds replies only. */
    FILE *prompt_to = stdout_tty ? stdout : stderr;
    int line_open = 0;          /* the terminal's cursor is not at a line start */

    int fd = session_connect(cfg);
    if (fd < 0)
        return 1;
    for (;;) {
        if (interactive) {
            if (line_open && stdout_tty)
                fputc('\n', stdout);
            line_open = 0;
            fputs("enter msg :>>>", prompt_to);
            fflush(prompt_to);
        }
        long command_len = read_command(stdin, &line, &line_cap);
        if (command_len < 0) {
            if (interactive)        /* Ctrl-D: give the shell a line of its own */
                fputc('\n', prompt_to);
            break;
        }
        if (command_len == 0)
            continue;           /* the document skips empty input */
        if ((size_t)command_len > cfg->command_max) {
            fprintf(cfg->diag, "%s: command is %ld bytes; the server reads one recv(%zu), so it "
                    "would be cut (requests are unframed until stage 5)\n",
                    cfg->prog, command_len, cfg->command_max);
            status = 1;
            continue;
        }
        if (session_server_closed(fd)) {
            close(fd);
            fd = session_connect(cfg);
            if (fd < 0) {
                status = 1;
                break;
            }
            fprintf(cfg->diag, "%s: the server had closed the idle connection; reconnected\n",
                    cfg->prog);
        }
        if (send_all(fd, line, (size_t)command_len) < 0) {
            if (errno == EPIPE || errno == ECONNRESET)
                fprintf(cfg->diag, "%s: the server closed the connection\n", cfg->prog);
            else
                fprintf(cfg->diag, "%s: send: %s\n", cfg->prog, strerror(errno));
            status = 1;
            break;
        }
        int started = session_wait_for_reply(cfg, fd);
        if (started == 0)
            fprintf(cfg->diag, "%s: the server closed the connection\n", cfg->prog);
        if (started <= 0) {
            status = 1;
            break;
        }
        int last_byte = -1;
        if (read_reply(fd, ctx, &last_byte) < 0) {
            status = 1;
            break;
        }
        if (last_byte >= 0)
            line_open = last_byte != '\n';
    }
    if (line_open && stdout_tty)
        fputc('\n', stdout);
    free(line);
    close(fd);
    return status;
}
