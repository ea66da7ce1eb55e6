/* canned.c - a fake server that answers every request with the same bytes.
 *
 * The clients of every stage must say something a student can act on when
 * the peer speaks another protocol, sends a short reply, or hangs up
 * half-way. canned plays that peer: whatever the request, the reply is the
 * file given with --reply, byte for byte (NULs included; it may be empty),
 * and then, unless --keep-open, the connection is closed.
 *
 * Connections are served one after another: this is a test fixture, not a
 * server to load. */
#include "cli.h"
#include "net.h"
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROG_NAME "canned"
/* The document's server reads a request with one recv(1024); so do we. */
#define REQUEST_SIZE 1024
/* How long a close waits for the client to hang up first (see below). */
#define LINGER_MS 1000   /* whole seconds */

struct canned_config {
    const char *host;
    const char *port;
    const char *reply_path;
    int keep_open;
};

struct canned_reply {
    unsigned char *bytes;
    size_t len;
};

/* Reads all of PATH. Returns 0, or -1 with ERR filled. */
static int reply_load(const char *path, struct canned_reply *reply, char *err, size_t errlen)
{
    FILE *f = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0, cap = 0;
    int status = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read reply file '%s': %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (len == cap) {
            size_t new_cap = cap ? cap * 2 : 4096;
            unsigned char *grown = realloc(bytes, new_cap);
            if (grown == NULL) {
                snprintf(err, errlen, "cannot read reply file '%s': out of memory", path);
                goto out;
            }
            bytes = grown;
            cap = new_cap;
        }
        size_t got = fread(bytes + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read reply file '%s': %s", path, strerror(errno));
        goto out;
    }
    reply->bytes = bytes;
    reply->len = len;
    bytes = NULL;
    status = 0;
out:
    free(bytes);
    if (f != NULL)
        fclose(f);
    return status;
}

/* Closing a socket with unread request bytes makes Linux send a reset,
 * which can destroy the reply still on its way to the client. So: send our
 * FIN, then read and drop until the client hangs up too, for LINGER_MS at
 * most in all (a client that never stops sending must not hold us). */
static void close_gently(int fd)
{
    struct timeval wait = { 0, 100 * 1000 };
    struct timespec now, deadline;
    unsigned char sink[REQUEST_SIZE];

    shutdown(fd, SHUT_WR);
    /* Without the timeout a silent client would hold the recv below
     * forever: then close at once, reset or not. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) < 0) {
        close(fd);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += LINGER_MS / 1000;
    for (;;) {
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec ||
            (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
            break;
    }
    close(fd);
}

/* One connection: request, reply, repeat while --keep-open. */
static void serve_connection(const struct canned_config *cfg, const struct canned_reply *reply,
                             int conn_fd)
{
    unsigned char request[REQUEST_SIZE];

    for (;;) {
        ssize_t got = recv(conn_fd, request, sizeof request, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;       /* client closed (or reset): nothing to answer */
        if (send_all(conn_fd, reply->bytes, reply->len) < 0)
            break;
        if (!cfg->keep_open)
            break;
    }
    close_gently(conn_fd);
}

int main(int argc, char **argv)
{
    struct canned_config cfg = { .host = "127.0.0.1", .port = "0" };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, "0"),
        { "reply", 'r', CLI_STRING, &cfg.reply_path, "FILE",
          "the bytes to answer every request with (required)", 0, 0 },
        { "keep-open", 'k', CLI_FLAG, &cfg.keep_open, NULL,
          "keep the connection and answer the next request too", 0, 0 },
    };
    const struct cli_program prog = {
        .name = PROG_NAME,
        .summary = "a fake server that answers every request with fixed bytes",
        .version = "a lab tool, not in the document: a peer that speaks a broken protocol",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .epilog = "Example: a length field that promises 16 bytes, then only 3:\n"
                  "  printf '\\020\\000\\000\\000abc' >short.bin; " PROG_NAME " --reply short.bin",
    };
    struct cli_outcome outcome;
    struct canned_reply reply = { NULL, 0 };
    char err[512];
    int listen_fd = -1, status = 1;

    cli_parse(&prog, argc, argv, &outcome);
    if (!outcome.run) {
        fputs(outcome.text, outcome.to_stderr ? stderr : stdout);
        return outcome.exit_status;
    }
    if (cfg.reply_path == NULL) {
        cli_usage_error(&prog, &outcome, "--reply FILE is required: what should every answer be?");
        fputs(outcome.text, stderr);
        return outcome.exit_status;
    }
    if (reply_load(cfg.reply_path, &reply, err, sizeof err) < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        goto out;
    }
    if (server_signals_install() < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up signals: %s\n", strerror(errno));
        goto out;
    }
    listen_fd = net_listen(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (listen_fd < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        goto out;
    }
    char name[NET_ADDRSTRLEN];
    if (net_local_name(listen_fd, name, sizeof name) < 0) {
        fprintf(stderr, PROG_NAME ": cannot read the listening address: %s\n", strerror(errno));
        goto out;
    }
    fprintf(stderr, "listening on %s\n", name);

    for (;;) {
        int conn_fd = accept(listen_fd, NULL, NULL);
        if (conn_fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, PROG_NAME ": accept: %s\n", strerror(errno));
            goto out;
        }
        serve_connection(&cfg, &reply, conn_fd);
    }

out:
    if (listen_fd >= 0)
        close(listen_fd);
    free(reply.bytes);
    return status;
}
