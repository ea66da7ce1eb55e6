/* stage4_json_header/client.c - version 4.0 of the document: read the
 * header length, the JSON header, then the body it describes.
 *
 * Reproduces: recv the 4-byte header length, the header, total_size bytes.
 * Fixes (over the document's code): the length and the header are read with
 *   loops too (the document's single recv(4) and recv(n) break when the
 *   network splits them), the header is checked (valid JSON, total_size a
 *   number in range), and the body's MD5 is verified.
 * Still wrong: requests are not framed (stage 5).
 */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <md5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "wire.h"

#define DEFAULT_PORT "8085"
#define COMMAND_MAX 1024            /* what the server takes with one recv */
/* Any 4 printable ASCII bytes read as a little-endian length are at least
 * 512 MiB, so this default refuses every text protocol's first bytes. */
#define DEFAULT_MAX_LEN (1UL << 28)

struct client_config {
    const char *host;
    const char *port;
    unsigned long max_len;
    unsigned long timeout_s;
    unsigned long max_header;
};

static int receive_reply(int fd, const struct client_config *cfg);

int main(int argc, char **argv)
{
    struct client_config cfg = { "127.0.0.1", DEFAULT_PORT, DEFAULT_MAX_LEN, 60, 65536 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "max-len", 0, CLI_UINT, &cfg.max_len, "BYTES",
          "refuse a reply longer than BYTES (default 268435456)", 0, INT32_MAX },
        { "timeout", 't', CLI_UINT, &cfg.timeout_s, "SECS",
          "give up when the server sends nothing for SECS (default 60; 0: wait forever)", 0, 86400 },
        { "max-header", 0, CLI_UINT, &cfg.max_header, "BYTES",
          "refuse a header longer than BYTES (default 65536)", 0, INT32_MAX },
    };
    const struct cli_program prog = {
        "client", "Sends each line of standard input as a command and prints the body its JSON header announces.",
        "stage 4, reproduces v4.0 of the document", options, sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;
    char err[256], *line = NULL;
    size_t line_cap = 0;
    int status = 0;

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    int fd = net_connect(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "client: %s\n", err);
        return 1;
    }
    /* A server that stalls mid-reply is reported instead of waited on forever. */
    struct timeval recv_limit = { (time_t)cfg.timeout_s, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &recv_limit, sizeof recv_limit);
    int interactive = isatty(STDIN_FILENO);
    /* The prompt is for whoever types; a redirected stdout holds replies only. */
    FILE *prompt_to = isatty(STDOUT_FILENO) ? stdout : stderr;
    for (;;) {
        if (interactive) {
            fputs("enter msg :>>>", prompt_to);
            fflush(prompt_to);
        }
        long command_len = read_command(stdin, &line, &line_cap);
        if (command_len < 0)
            break;
        if (command_len == 0)
            continue;           /* the document skips empty input */
        if (command_len > COMMAND_MAX) {
            fprintf(stderr, "client: command is %ld bytes; the server reads one recv(%d), so it "
                    "would be cut (requests are unframed until stage 5)\n", command_len, COMMAND_MAX);
            status = 1;
            continue;
        }
        if (send_all(fd, line, (size_t)command_len) < 0) {
            fprintf(stderr, "client: send: %s\n", strerror(errno));
            status = 1;
            break;
        }
        if (receive_reply(fd, &cfg) < 0) {
            status = 1;
            break;
        }
    }
    free(line);
    close(fd);
    return status;
}

static int check_header(const cJSON *header, const struct client_config *cfg,
                        size_t *total, size_t *stdout_size, const char **md5_said);

/* v4.0: the 4-byte header length, the JSON header, then total_size bytes of
 * body. Only this reply is read: the next one stays for the next command. */
static int receive_reply(int fd, const struct client_config *cfg)
{
    unsigned char header_len_bytes[WIRE_LEN_SIZE], chunk[65536];
    char err[512], *header_json = NULL, body_md5[MD5_DIGEST_STRING_LENGTH];
    const char *md5_said;
    cJSON *header = NULL;
    MD5_CTX md5;
    int rc = -1;

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
    if (!header_json) {
        fprintf(stderr, "client: out of memory\n");
        goto end;
    }
    got = recv_exact(fd, header_json, (size_t)header_len);
    if (got != header_len) {
        wire_describe_short(got, (size_t)header_len, "header", err, sizeof err);
        fprintf(stderr, "client: %s\n", err);
        goto end;
    }
    const char *parsed_to = NULL, *header_end = header_json + header_len;
    header = cJSON_ParseWithLengthOpts(header_json, (size_t)header_len, &parsed_to, 0);
    while (header && parsed_to < header_end && isspace((unsigned char)*parsed_to))
        parsed_to++;
    if (!header || parsed_to != header_end || !cJSON_IsObject(header)) {
        escape_bytes(header_json, (size_t)header_len, err, 80);
        fprintf(stderr, "client: header is not %s: \"%s\"\n",
                header && parsed_to == header_end ? "a JSON object" : "valid JSON", err);
        goto end;
    }
    size_t total, stdout_size;
    if (check_header(header, cfg, &total, &stdout_size, &md5_said) < 0)
        goto end;

    /* The body: what the header promised, stdout part first. */
    size_t received = 0;
    MD5Init(&md5);
    while (received < total) {
        size_t want = total - received < sizeof chunk ? total - received : sizeof chunk;
        got = recv(fd, chunk, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            wire_describe_short(got < 0 ? -1 : (ssize_t)received, total, "body", err, sizeof err);
            fprintf(stderr, "client: %s\n", err);
            goto end;
        }
        MD5Update(&md5, chunk, (size_t)got);
        size_t to_stdout = received < stdout_size ? stdout_size - received : 0;
        if (to_stdout > (size_t)got)
            to_stdout = (size_t)got;
        fwrite(chunk, 1, to_stdout, stdout);
        fwrite(chunk + to_stdout, 1, (size_t)got - to_stdout, stderr);
        received += (size_t)got;
    }
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "client: writing the reply: %s\n", strerror(errno));
        goto end;
    }
    MD5End(&md5, body_md5);
    if (md5_said && strcasecmp(md5_said, body_md5) != 0) {
        fprintf(stderr, "client: md5 mismatch: header says %s, body is %s\n", md5_said, body_md5);
        goto end;
    }
    rc = 0;
end:
    cJSON_Delete(header);
    free(header_json);
    return rc;
}

/* Reads what the body needs from the header. md5 is checked only when it is
 * 32 hex digits (the document sends the placeholder "md5"); stdout_size is
 * optional (the document's server does not send it: all goes to stdout).
 * Returns 0, or -1 after saying what is wrong. */
static int check_header(const cJSON *header, const struct client_config *cfg,
                        size_t *total, size_t *stdout_size, const char **md5_said)
{
    const cJSON *total_size = cJSON_GetObjectItemCaseSensitive(header, "total_size");
    const cJSON *stdout_part = cJSON_GetObjectItemCaseSensitive(header, "stdout_size");
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(header, "md5");

    if (!total_size) {
        fprintf(stderr, "client: header has no total_size\n");
        return -1;
    }
    if (!cJSON_IsNumber(total_size)) {
        fprintf(stderr, "client: total_size is not a number\n");
        return -1;
    }
    double size = total_size->valuedouble;
    if (size < 0 || size > (double)cfg->max_len || size != floor(size)) {
        fprintf(stderr, "client: total_size %.17g is out of range 0..%lu\n", size, cfg->max_len);
        return -1;
    }
    *total = (size_t)size;
    *stdout_size = *total;
    if (cJSON_IsNumber(stdout_part) && stdout_part->valuedouble >= 0 &&
        stdout_part->valuedouble <= size)
        *stdout_size = (size_t)stdout_part->valuedouble;
    *md5_said = NULL;
    if (cJSON_IsString(md5) && strlen(md5->valuestring) == 32 &&
        strspn(md5->valuestring, "0123456789abcdefABCDEF") == 32)
        *md5_said = md5->valuestring;
    return 0;
}
