/* stage4_json_header/client.c - version 4.0 of the document: read the
 * header length, the JSON header, then the body it describes.
 *
 * Reproduces: recv the 4-byte header length, the header, total_size bytes.
 * Fixes (over the document's code): the length and the header are read with
 *   loops too (the document's single recv(4) and recv(n) break when the
 *   network splits them), the header is checked (one JSON object in valid
 *   UTF-8, total_size and stdout_size in range), the body's MD5 is
 *   verified, and a non-zero exit code is shown.
 * Still wrong: requests are not framed (stage 5).
 */
#include <cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cli.h"
#include "digest.h"
#include "frame.h"
#include "net.h"
#include "session.h"
#include "wire.h"

#define DEFAULT_PORT STAGE4_PORT
#define COMMAND_MAX 1024            /* what the server takes with one recv */
/* Any 4 printable ASCII bytes read as a little-endian length are at least
 * 512 MiB, so this default refuses every text protocol's first bytes. */
#define DEFAULT_MAX_LEN NB_MAX_LEN_DEFAULT

struct client_config {
    struct session_config session;  /* connect, prompt, send, wait */
    unsigned long max_len;
    unsigned long max_header;
};

static session_reply_reader receive_reply;

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = DEFAULT_PORT,
                     .command_max = COMMAND_MAX, .diag = stderr, .busy_hint = "",
                     .timeout_ms = DURATION_S(60) },
        .max_len = DEFAULT_MAX_LEN, .max_header = NB_MAX_HEADER_DEFAULT,
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.session.host),
        CLI_SERVER_PORT_OPTION(&cfg.session.port, DEFAULT_PORT),
        { "wait", 'w', CLI_DURATION, &cfg.session.wait_ms, "SECS",
          "give up when no reply has started after SECS (default 0: wait as long as it takes)",
          0, DURATION_S(86400) },
        { "timeout", 't', CLI_DURATION, &cfg.session.timeout_ms, "SECS",
          "give up when a reply that has started stalls for SECS (default 60; 0: never)",
          0, DURATION_S(86400) },
        { "max-len", 0, CLI_UINT, &cfg.max_len, "BYTES",
          "refuse a reply longer than BYTES (default 268435456)", 0, INT32_MAX },
        { "max-header", 0, CLI_UINT, &cfg.max_header, "BYTES",
          "refuse a header longer than BYTES (default 65536)", 1, INT32_MAX },
    };
    const struct cli_program prog = {
        "client", "Sends each line of standard input as a command and prints the body its JSON header announces.",
        "stage 4, reproduces v4.0 of the document", options, sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "client: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    return session_run(&cfg.session, receive_reply, &cfg);
}

static int check_header(const cJSON *header, uint64_t total, uint64_t *stdout_size,
                        const char **md5_said, int *exit_code);

/* v4.0: the 4-byte header length, the JSON header, then total_size bytes of
 * body. Only this reply is read: the next one stays for the next command. */
static int receive_reply(int fd, void *ctx, int *last_byte)
{
    const struct client_config *cfg = ctx;
    unsigned char header_len_bytes[WIRE_LEN_SIZE], chunk[65536];
    char err[256], *header_json = NULL, body_md5[DIGEST_HEX_MAX];
    const char *md5_said;
    cJSON *header = NULL;
    struct digest md5 = { DIGEST_NONE, NULL };
    uint64_t total, stdout_size;
    int exit_code, rc = -1;

    ssize_t got = recv_exact(fd, header_len_bytes, sizeof header_len_bytes);
    if (got != WIRE_LEN_SIZE) {
        wire_describe_short(got, WIRE_LEN_SIZE, "header length", err, sizeof err);
        fprintf(stderr, "client: %s\n", err);
        goto end;
    }
    int32_t header_len = le32_decode(header_len_bytes);
    if (wire_check_length("header length", header_len, cfg->max_header, header_len_bytes,
                          err, sizeof err) < 0) {
        fprintf(stderr, "client: %s\n", err);
        goto end;
    }
    header_json = malloc((size_t)header_len + 1);
    if (!header_json || digest_init_behind(&md5, DIGEST_MD5) < 0) {
        fprintf(stderr, "client: out of memory\n");
        goto end;
    }
    got = recv_exact(fd, header_json, (size_t)header_len);
    if (got != header_len) {
        wire_describe_short(got, (size_t)header_len, "header", err, sizeof err);
        fprintf(stderr, "client: %s\n", err);
        goto end;
    }
    /* One JSON object, valid UTF-8, total_size a whole number in range. */
    struct frame_format format = frame_stage4;
    format.max_body = cfg->max_len;
    if (frame_parse_header(&format, header_json, (size_t)header_len, &header, &total,
                           err, sizeof err) < 0) {
        fprintf(stderr, "client: %s\n", err);
        goto end;
    }
    if (check_header(header, total, &stdout_size, &md5_said, &exit_code) < 0)
        goto end;

    /* The body: what the header promised, stdout part first. */
    uint64_t received = 0;
    while (received < total) {
        size_t want = total - received < sizeof chunk ? (size_t)(total - received) : sizeof chunk;
        got = recv(fd, chunk, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            wire_describe_short(got < 0 ? -1 : (ssize_t)received, (size_t)total, "body",
                                err, sizeof err);
            fprintf(stderr, "client: %s\n", err);
            goto end;
        }
        digest_update(&md5, chunk, (size_t)got);
        size_t to_stdout = received < stdout_size ? (size_t)(stdout_size - received) : 0;
        if (to_stdout > (size_t)got)
            to_stdout = (size_t)got;
        fwrite(chunk, 1, to_stdout, stdout);
        if (to_stdout > 0)
            *last_byte = chunk[to_stdout - 1];
        fwrite(chunk + to_stdout, 1, (size_t)got - to_stdout, stderr);
        received += (uint64_t)got;
    }
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "client: writing the reply: %s\n", strerror(errno));
        goto end;
    }
    digest_final_hex(&md5, body_md5);
    if (md5_said && strcasecmp(md5_said, body_md5) != 0) {
        fprintf(stderr, "client: md5 mismatch: header says %s, body is %s\n", md5_said, body_md5);
        goto end;
    }
    /* A killed command (-1) has the server's note in its stderr already. */
    if (exit_code > 0)
        fprintf(stderr, "client: the command exited with status %d\n", exit_code);
    rc = 0;
end:
    digest_free(&md5);
    cJSON_Delete(header);
    free(header_json);
    return rc;
}

/* What the body needs from the header besides total_size. stdout_size is
 * optional (the document's server does not send it: all goes to stdout), as
 * is exit_code; md5 is checked only when it is 32 hex digits (the document
 * sends the placeholder "md5"). Returns 0, or -1 after saying what is wrong. */
static int check_header(const cJSON *header, uint64_t total, uint64_t *stdout_size,
                        const char **md5_said, int *exit_code)
{
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(header, "md5");
    const cJSON *exit_part = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
    char err[256];

    *stdout_size = total;
    if (cJSON_GetObjectItemCaseSensitive(header, "stdout_size") &&
        frame_get_uint(header, "stdout_size", total, stdout_size, err, sizeof err) < 0) {
        fprintf(stderr, "client: %s (total_size is %llu)\n", err, (unsigned long long)total);
        return -1;
    }
    *exit_code = 0;
    if (exit_part) {
        double code = cJSON_IsNumber(exit_part) ? exit_part->valuedouble : 1e9;
        if (!(code >= -1 && code <= 255) || code != (double)(int)code) {
            fprintf(stderr, "client: exit_code is not a number from -1 to 255\n");
            return -1;
        }
        *exit_code = (int)code;
    }
    *md5_said = NULL;
    if (cJSON_IsString(md5) && digest_is_hex(DIGEST_MD5, md5->valuestring))
        *md5_said = md5->valuestring;
    return 0;
}
