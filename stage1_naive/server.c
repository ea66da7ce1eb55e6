/* stage1_naive/server.c - version 1.1 of the document: the naive server.
 *
 * Reproduces: one recv(1024) per command, /bin/sh -c, then stdout and
 *   stderr sent back as two plain sends, with nothing around them.
 * Fixes (over the document's code): stdout and stderr are drained together,
 *   a command that never ends is killed (--timeout), a client that stops
 *   reading is dropped, children are reaped, SIGPIPE cannot kill us.
 * Still wrong, on purpose: a reply carries no length, so the client cannot
 *   know where it ends. That is the sticky-packet bug this lab is about.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "run.h"
#include "wire.h"

#define DEFAULT_PORT "8080"
#define COMMAND_MAX 1024            /* the document's conn.recv(1024) */

struct server_config {
    const char *host;
    const char *port;
    unsigned long timeout_s;
    unsigned long max_output;
};

static void serve_client(int conn, const struct server_config *cfg);
static int send_reply(int conn, const struct cmd_result *result);

int main(int argc, char **argv)
{
    struct server_config cfg = { "127.0.0.1", DEFAULT_PORT, 10, 1UL << 28 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "timeout", 't', CLI_UINT, &cfg.timeout_s, "SECS",
          "kill a command, or drop a client that stops reading, after SECS (default 10)", 1, 86400 },
        { "max-output", 0, CLI_UINT, &cfg.max_output, "BYTES",
          "keep at most BYTES of a command's output (default 268435456)", 0, INT32_MAX - 4096 },
    };
    const struct cli_program prog = {
        "server", "Runs each command a client sends and returns its output: stdout, then stderr, unframed.",
        "stage 1, reproduces v1.1 of the document", options, sizeof options / sizeof options[0],
        "Anyone who can reach the port runs shell commands as you: keep it on loopback."
    };
    struct cli_outcome cli;
    char err[256], addr[NET_ADDRSTRLEN] = "?";

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (server_signals_install() < 0) {
        fprintf(stderr, "server: cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }
    int listener = net_listen(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (listener < 0) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    net_local_name(listener, addr, sizeof addr);
    if (net_is_loopback(listener) != 1)
        fprintf(stderr, "warning: %s is reachable from other hosts: whoever connects runs "
                "commands as this user\n", addr);
    fprintf(stderr, "listening on %s\n", addr);

    /* As the document: one client at a time, forever (stage 6 serves many). */
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "server: accept: %s\n", strerror(errno));
            continue;
        }
        serve_client(conn, &cfg);
        close(conn);
    }
}

/* One client's commands, one after another: the document's inner loop. */
static void serve_client(int conn, const struct server_config *cfg)
{
    char client[NET_ADDRSTRLEN] = "?", shown[80], err[256];
    char command[COMMAND_MAX];
    struct timeval send_limit = { (time_t)cfg->timeout_s, 0 };

    net_peer_name(conn, client, sizeof client);
    /* A client that stops reading must not stall everyone queued behind it. */
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);
    fprintf(stderr, "client %s connected\n", client);
    for (;;) {
        /* One recv, taken to be one whole command: requests stay unframed
         * until stage 5, exactly as in the document. */
        ssize_t command_len = recv(conn, command, sizeof command, 0);
        if (command_len < 0 && errno == EINTR)
            continue;
        if (command_len <= 0)
            break;      /* 0: the client closed; < 0: it vanished */

        struct cmd_result result;
        if (run_command(command, (size_t)command_len, (unsigned)cfg->timeout_s,
                        cfg->max_output, &result, err, sizeof err) < 0) {
            fprintf(stderr, "client %s: %s\n", client, err);
            break;
        }
        escape_bytes(command, (size_t)command_len, shown, sizeof shown);
        fprintf(stderr, "client %s: ran \"%s\": %s %d, %zu bytes stdout, %zu bytes stderr\n",
                client, shown, result.signal ? "killed by signal" : "exit",
                result.signal ? result.signal : result.exit_code, result.out_len, result.err_len);
        int sent = send_reply(conn, &result);
        cmd_result_free(&result);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fprintf(stderr, "client %s: not reading its reply for %lu s; dropping the client\n",
                        client, cfg->timeout_s);
            else if (errno == EPIPE || errno == ECONNRESET)
                fprintf(stderr, "client %s: went away before its reply was sent\n", client);
            else
                fprintf(stderr, "client %s: send: %s; dropping the client\n", client, strerror(errno));
            break;
        }
    }
    fprintf(stderr, "client %s disconnected\n", client);
}

/* v1.1: stdout, then stderr, and nothing to say where this reply ends. */
static int send_reply(int conn, const struct cmd_result *result)
{
    if (send_all(conn, result->out, result->out_len) < 0)
        return -1;
    if (send_all(conn, result->err, result->err_len) < 0)
        return -1;
    return 0;
}
