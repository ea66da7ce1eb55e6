/* stage3_struct_len/client.c - version 3.0 of the document: read the length,
 * then loop until that many bytes have arrived.
 *
 * Reproduces: the 4-byte length (struct.unpack('i')) and the receive loop.
 * Fixes (over the document's code): the length itself is read with a loop
 *   too (the document's single recv(4) breaks when the network splits it),
 *   a nonsense length is refused with its bytes shown, and a server that
 *   closes early is reported as "connection closed after N of M bytes".
 * Still wrong: requests are not framed; the length is all we know about the
 *   reply (stage 4 adds a JSON header).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "net.h"
#include "session.h"
#include "wire.h"

#define DEFAULT_PORT STAGE3_PORT
#define COMMAND_MAX 1024            /* what the server takes with one recv */
/* Any 4 printable ASCII bytes read as a little-endian length are at least
 * 512 MiB, so this default refuses every text protocol's first bytes. */
#define DEFAULT_MAX_LEN NB_MAX_LEN_DEFAULT

struct client_config {
    struct session_config session;  /* connect, prompt, send, wait */
    unsigned long max_len;
};

static session_reply_reader receive_reply;

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = DEFAULT_PORT,
                     .command_max = COMMAND_MAX, .diag = stderr, .busy_hint = "",
                     .timeout_ms = DURATION_S(60) },
        .max_len = DEFAULT_MAX_LEN,
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
    };
    const struct cli_program prog = {
        "client", "Sends each line of standard input as a command and prints the whole reply its length announces.",
        "stage 3, reproduces v3.0 of the document", options, sizeof options / sizeof options[0], NULL
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

/* v3.0: first the 4-byte length, then recv until that many bytes are in.
 * Only this reply is read: the next one stays for the next command. */
static int receive_reply(int fd, void *ctx, int *last_byte)
{
    const struct client_config *cfg = ctx;
    unsigned char reply_len_bytes[WIRE_LEN_SIZE], chunk[65536];
    char err[256];

    ssize_t got = recv_exact(fd, reply_len_bytes, sizeof reply_len_bytes);
    if (got != WIRE_LEN_SIZE) {
        wire_describe_short(got, WIRE_LEN_SIZE, "reply length", err, sizeof err);
        fprintf(stderr, "client: %s\n", err);
        return -1;
    }
    int32_t reply_len = le32_decode(reply_len_bytes);
    if (wire_check_length("reply length", reply_len, cfg->max_len, reply_len_bytes,
                          err, sizeof err) < 0) {
        fprintf(stderr, "client: %s\n", err);
        return -1;
    }
    size_t received = 0, total = (size_t)reply_len;
    while (received < total) {
        size_t want = total - received < sizeof chunk ? total - received : sizeof chunk;
        got = recv(fd, chunk, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            wire_describe_short(got < 0 ? -1 : (ssize_t)received, total, "reply", err, sizeof err);
            fprintf(stderr, "client: %s\n", err);
            return -1;
        }
        fwrite(chunk, 1, (size_t)got, stdout);
        *last_byte = chunk[got - 1];
        received += (size_t)got;
    }
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "client: writing the reply: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}
