/* stage1_naive/server.c - version 1.1 of the document: the naive server.
 *
 * Reproduces: one recv(1024) per command, /bin/sh -c, then stdout and
 *   stderr sent back as two plain sends, with nothing around them.
 * Fixes (over the document's code): stdout and stderr are drained together,
 *   a command that never ends is killed (--timeout), a client that stops
 *   reading or sends nothing (--idle) is dropped, children are reaped,
 *   SIGPIPE cannot kill us, and the output waits in a temporary file, not
 *   in memory, whatever its size.
 * Still wrong, on purpose: a reply carries no length, so the client cannot
 *   know where it ends. That is the sticky-packet bug this lab is about.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "net.h"
#include "run.h"
#include "serve.h"
#include "wire.h"

#define DEFAULT_PORT STAGE1_PORT
#define COMMAND_MAX 1024            /* the document's conn.recv(1024) */

struct server_config {
    struct serve_config serve;      /* how connections are served */
    unsigned long timeout_ms;
    unsigned long max_output;
};

static serve_handler serve_client;
static int send_reply(int conn, const struct cmd_result *result);

int main(int argc, char **argv)
{
    struct server_config cfg = {
        .serve = { .prog = "server", .host = "127.0.0.1", .port = DEFAULT_PORT,
                   .idle_ms = DURATION_S(60), .log = stderr },
        .timeout_ms = DURATION_S(10), .max_output = 1UL << 28,
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.serve.host),
        CLI_PORT_OPTION(&cfg.serve.port, DEFAULT_PORT),
        { "timeout", 't', CLI_DURATION, &cfg.timeout_ms, "SECS",
          "kill a command, or drop a client that stops reading, after SECS (default 10)",
          1, DURATION_S(86400) },
        { "idle", 0, CLI_DURATION, &cfg.serve.idle_ms, "SECS",
          "close a client that sends nothing for SECS between commands (default 60; 0: never)",
          0, DURATION_S(86400) },
        { "max-output", 0, CLI_UINT, &cfg.max_output, "BYTES",
          "keep at most BYTES of a command's output (default 268435456)", 0, INT32_MAX - 4096 },
        SANDBOX_OPTIONS(&cfg.serve.sandbox),
    };
    const struct cli_program prog = {
        "server", "Runs each command a client sends and returns its output: stdout, then stderr, unframed.",
        "stage 1, reproduces v1.1 of the document", options, sizeof options / sizeof options[0],
        "Anyone who can reach the port runs shell commands as you: keep it on loopback,\n"
        "or add --sandbox (README.md: Teaching on a classroom network)."
    };
    struct cli_outcome cli;

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    cfg.serve.send_timeout_ms = cfg.timeout_ms;
    /* As the document: one client at a time, forever (stage 6 serves many). */
    return serve_forever(&cfg.serve, serve_client, &cfg);
}

/* One client's commands, one after another: the document's inner loop. */
static void serve_client(struct serve_conn *conn, void *ctx)
{
    const struct server_config *cfg = ctx;
    char command[COMMAND_MAX], shown[80], err[256];

    for (;;) {
        /* One recv, taken to be one whole command: requests stay unframed
         * until stage 5, exactly as in the document. */
        ssize_t command_len = recv(conn->fd, command, sizeof command, 0);
        if (command_len < 0 && errno == EINTR)
            continue;
        if (command_len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            serve_log_idle(conn);
            break;
        }
        if (command_len <= 0)
            break;      /* 0: the client closed; < 0: it vanished */

        struct cmd_result result;
        if (run_command(command, (size_t)command_len, cfg->timeout_ms,
                        cfg->max_output, DIGEST_NONE, &result, err, sizeof err) < 0) {
            serve_log(conn, "%s", err);
            break;
        }
        escape_bytes(command, (size_t)command_len, shown, sizeof shown);
        serve_log(conn, "ran \"%s\": %s %d, %llu bytes stdout, %llu bytes stderr", shown,
                  result.signal ? "killed by signal" : "exit",
                  result.signal ? result.signal : result.exit_code,
                  (unsigned long long)result.out_len, (unsigned long long)result.err_len);
        int sent = send_reply(conn->fd, &result);
        cmd_result_free(&result);
        if (sent < 0) {
            serve_log_send_error(conn, errno);
            break;
        }
    }
}

/* v1.1: stdout, then stderr, and nothing to say where this reply ends.
 * The output waits in temporary files; sendfile moves it to the socket. The
 * cork lets the parts leave as full segments, none of them waiting on
 * Nagle's algorithm (stage4_json_header/README.md tells that story). */
static int send_reply(int conn, const struct cmd_result *result)
{
    if (net_cork(conn, 1) < 0 ||
        send_file(conn, result->out_fd, 0, result->out_len) < 0 ||
        send_file(conn, result->err_fd, 0, result->err_len) < 0)
        return -1;
    return net_cork(conn, 0);
}
