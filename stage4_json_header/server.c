/* stage4_json_header/server.c - version 4.0 of the document: a JSON header.
 *
 * Reproduces: a 4-byte header length, a JSON header (file_name, total_size,
 *   md5), then the body (stdout and stderr).
 * Fixes (over the document): md5 is the body's real MD5, not the string
 *   "md5"; the header also says stdout_size and exit_code, so the client can
 *   put remote stderr on its own stderr; the three parts leave together
 *   (the document's three sends wait on Nagle's algorithm: see the README).
 * Still wrong: requests are not framed (one recv(1024) is one command);
 *   file_name is the document's placeholder "a.txt" until stage 5 sends files.
 */
#include <cJSON.h>
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

#define DEFAULT_PORT STAGE4_PORT
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
        "server", "Runs each command a client sends and returns a header length, a JSON header, then the output.",
        "stage 4, reproduces v4.0 of the document", options, sizeof options / sizeof options[0],
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
                        cfg->max_output, DIGEST_MD5, &result, err, sizeof err) < 0) {
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

/* v4.0: the header's length, the JSON header describing the body, then the
 * body (stdout and stderr). The MD5 was computed while the output arrived.
 * The cork sends the three parts together: the document's three sends
 * wait ~40 ms each time on Nagle's algorithm and the client's delayed ACK. */
static int send_reply(int conn, const struct cmd_result *result)
{
    unsigned char header_len[WIRE_LEN_SIZE];
    char *header_json = NULL;
    cJSON *header = cJSON_CreateObject();
    int rc = -1;

    errno = ENOMEM;             /* what a failed cJSON call below means */
    if (!header ||
        !cJSON_AddStringToObject(header, "file_name", "a.txt") ||
        !cJSON_AddNumberToObject(header, "total_size", (double)(result->out_len + result->err_len)) ||
        !cJSON_AddStringToObject(header, "md5", result->digest) ||
        !cJSON_AddNumberToObject(header, "stdout_size", (double)result->out_len) ||
        !cJSON_AddNumberToObject(header, "exit_code", result->exit_code))
        goto end;
    header_json = cJSON_PrintUnformatted(header);
    if (!header_json)
        goto end;
    le32_encode((int32_t)strlen(header_json), header_len);
    if (net_cork(conn, 1) < 0 ||
        send_all(conn, header_len, sizeof header_len) < 0 ||
        send_all(conn, header_json, strlen(header_json)) < 0 ||
        send_file(conn, result->out_fd, 0, result->out_len) < 0 ||
        send_file(conn, result->err_fd, 0, result->err_len) < 0)
        goto end;
    rc = net_cork(conn, 0);
end:
    cJSON_free(header_json);
    cJSON_Delete(header);
    return rc;
}
