/* serve.c - the servers' skeleton: listen, announce, accept (see serve.h). */
#define _GNU_SOURCE
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "duration.h"
#include "fsroot.h"
#include "run.h"

static struct timeval timeval_of_ms(unsigned long ms)
{
    return (struct timeval){ (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
}

/* A line is out at once unless the caller holds the log (serve.h). */
static void log_flush(const struct serve_config *cfg)
{
    if (!cfg->log_held)
        fflush(cfg->log);
}

int serve_start(const struct serve_config *cfg, char *err, size_t errlen)
{
    char addr[NET_ADDRSTRLEN] = "?";

    if (cli_std_fds_open() < 0) {
        snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
        return -1;
    }
    if (server_signals_install() < 0) {
        snprintf(err, errlen, "cannot install signal handlers: %s", strerror(errno));
        return -1;
    }
    if (cfg->sandbox.enabled && run_sandbox_start(&cfg->sandbox, err, errlen) < 0)
        return -1;
    int listener = net_listen_backlog(cfg->host, cfg->port, cfg->backlog > 0 ? cfg->backlog : 5,
                                      err, errlen);
    if (listener < 0)
        return -1;
    net_local_name(listener, addr, sizeof addr);
    if (net_is_loopback(listener) != 1 && !cfg->sandbox.enabled) {
        if (!cfg->sandbox.unsafe) {
            snprintf(err, errlen, "%s is reachable from other hosts, and whoever connects would "
                     "run commands as you: add --sandbox, or --unsafe-no-sandbox to take that "
                     "risk", addr);
            close(listener);
            return -1;
        }
        fprintf(cfg->log, "warning: %s is reachable from other hosts: whoever connects runs "
                "commands as this user\n", addr);
    }
    if (cfg->sandbox.enabled)
        fprintf(cfg->log, "sandbox: each command runs in bubblewrap%s: no network, the system "
                "read-only, %s, at most %d processes\n",
                geteuid() == 0 ? " as nobody" : "",
                !cfg->sandbox.root ? "an empty /tmp as its directory"
                : cfg->sandbox.root->read_only ? "the root read-only" : "the root writable",
                SANDBOX_NPROC);
    fprintf(cfg->log, "listening on %s\n", addr);
    fflush(cfg->log);
    return listener;
}

int serve_accept(int listener, const struct serve_config *cfg,
                 struct serve_conn *conn, char *err, size_t errlen)
{
    int fd;

    for (;;) {
        fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            break;
        /* A client that gave up before we got to it is not our error. */
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        snprintf(err, errlen, "accept: %s", strerror(errno));
        return -1;
    }
    memset(conn, 0, sizeof *conn);
    conn->fd = fd;
    conn->cfg = cfg;
    snprintf(conn->peer, sizeof conn->peer, "?");
    net_peer_name(fd, conn->peer, sizeof conn->peer);
    /* A client that stops reading must not stall everyone queued behind
     * it; one that sends nothing must not hold the only serving slot. */
    struct timeval send_limit = timeval_of_ms(cfg->send_timeout_ms);
    struct timeval idle_limit = timeval_of_ms(cfg->idle_ms);
    const char *refused = NULL;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit) < 0)
        refused = "the send timeout (SO_SNDTIMEO)";
    else if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle_limit, sizeof idle_limit) < 0)
        refused = "the idle timeout (SO_RCVTIMEO)";
    if (refused) {
        int saved = errno;
        snprintf(err, errlen, "client %s: cannot set %s: %s; closing it", conn->peer, refused,
                 strerror(saved));
        close(fd);
        conn->fd = -1;
        errno = saved;
        return -1;
    }
    fprintf(cfg->log, "client %s connected\n", conn->peer);
    log_flush(cfg);
    return 0;
}

void serve_close(struct serve_conn *conn)
{
    close(conn->fd);   /* first: whoever reads the log line may rely on it */
    conn->fd = -1;
    fprintf(conn->cfg->log, "client %s disconnected\n", conn->peer);
    log_flush(conn->cfg);
}

int serve_forever(const struct serve_config *cfg, serve_handler *handler, void *ctx)
{
    char err[256];
    struct serve_conn conn;

    int listener = serve_start(cfg, err, sizeof err);
    if (listener < 0) {
        fprintf(cfg->log, "%s: %s\n", cfg->prog, err);
        return 1;
    }
    /* As the document: one client at a time, forever (stage 6 serves many). */
    for (;;) {
        if (serve_accept(listener, cfg, &conn, err, sizeof err) < 0) {
            fprintf(cfg->log, "%s: %s\n", cfg->prog, err);
            /* Out of descriptors or memory: let it pass rather than spin. */
            nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
            continue;
        }
        handler(&conn, ctx);
        serve_close(&conn);
    }
}

void serve_log(const struct serve_conn *conn, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(conn->cfg->log, "client %s: %s\n", conn->peer, text);
    log_flush(conn->cfg);
}

void serve_log_send_error(const struct serve_conn *conn, int errno_value)
{
    if (errno_value == EAGAIN || errno_value == EWOULDBLOCK)
        serve_log(conn, "not reading its reply for %s s; dropping the client",
                  duration_text(conn->cfg->send_timeout_ms).s);
    else if (errno_value == EPIPE || errno_value == ECONNRESET)
        serve_log(conn, "went away before its reply was sent");
    else
        serve_log(conn, "send: %s; dropping the client", strerror(errno_value));
}

void serve_log_idle(const struct serve_conn *conn)
{
    serve_log(conn, "sent nothing for %s s (--idle); closing the connection",
              duration_text(conn->cfg->idle_ms).s);
}
