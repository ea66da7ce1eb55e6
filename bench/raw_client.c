/* bench/raw_client.c - the baseline client of `make bench`: connects,
 * sends one command, and copies what comes back to stdout until the server
 * closes (raw_server), or until --bytes N have come (a server that keeps
 * the connection, like stage 1's). No framing, 64 KiB reads, as the stage
 * clients read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"

struct raw_config {
    const char *host;
    const char *port;
    const char *command;
    unsigned long bytes;
};

int main(int argc, char **argv)
{
    struct raw_config cfg = { "127.0.0.1", NULL, NULL, 0 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        { "port", 'p', CLI_PORT, &cfg.port, "PORT", "the server's port (required)", 1, 0 },
        { "command", 'c', CLI_STRING, &cfg.command, "CMD", "the command to send (required)", 0, 0 },
        { "bytes", 'b', CLI_UINT, &cfg.bytes, "N",
          "stop after N bytes instead of at the server's close (0: at the close)", 0, ~0UL },
    };
    const struct cli_program prog = {
        "raw_client", "Sends the command and copies the unframed reply to stdout.",
        "the baseline of make bench, not a lab stage", options,
        sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;
    char err[256];
    static unsigned char chunk[65536];

    cli_parse(&prog, argc, argv, &cli);
    if (cli.run && (cfg.port == NULL || cfg.command == NULL))
        cli_usage_error(&prog, &cli, "--port PORT and --command CMD are required");
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    const char *command = cfg.command;
    int fd = net_connect(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "raw_client: %s\n", err);
        return 1;
    }
    if (send_all(fd, command, strlen(command)) < 0) {
        fprintf(stderr, "raw_client: send: %s\n", strerror(errno));
        return 1;
    }
    unsigned long long received = 0;
    for (;;) {
        size_t want = sizeof chunk;
        if (cfg.bytes && cfg.bytes - received < want)
            want = (size_t)(cfg.bytes - received);
        if (cfg.bytes && want == 0)
            break;
        ssize_t got = recv(fd, chunk, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "raw_client: recv: %s\n", strerror(errno));
            return 1;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(STDOUT_FILENO, chunk + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                fprintf(stderr, "raw_client: write: %s\n", strerror(errno));
                return 1;
            }
            off += put;
        }
        received += (unsigned long long)got;
    }
    close(fd);
    if (cfg.bytes && received != cfg.bytes) {
        fprintf(stderr, "raw_client: the server closed after %llu of %lu bytes\n", received, cfg.bytes);
        return 1;
    }
    return 0;
}
