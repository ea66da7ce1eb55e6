/* bench/rr_record.c - records one real exchange for bench/poll_floor.sh.
 * It listens (announcing "listening on ADDR:PORT"), takes one connection,
 * relays it to --to-port both ways, and writes what went up to --up FILE
 * and what came down to --down FILE, byte for byte, until either side
 * closes. Then exits 0. poll_floor.sh puts it between a checked client
 * (tools/loadgen --verify) and the poll model, so that bench/rr_client can
 * send those very request bytes and compare the replies with those.
 *
 * Not a lab program: one connection, no limits, no timeouts. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"

/* Moves what FROM has to TO and appends it to OUT. Returns the bytes
 * moved (0: FROM closed), or -1 (errno). */
static ssize_t relay(int from, int to, FILE *out)
{
    char buf[65536];
    ssize_t got = recv(from, buf, sizeof buf, 0);

    if (got <= 0)
        return got;
    if (fwrite(buf, 1, (size_t)got, out) != (size_t)got)
        return -1;
    for (ssize_t sent = 0; sent < got;) {
        ssize_t n = send(to, buf + sent, (size_t)(got - sent), MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            sent += n;
    }
    return got;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0", *to_port = NULL, *up_path = NULL,
               *down_path = NULL;
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&host),
        CLI_PORT_OPTION(&port, "0"),
        { "to-port", 0, CLI_PORT, &to_port, "PORT", "the server's port (on HOST)", 0, 0 },
        { "up", 0, CLI_STRING, &up_path, "FILE", "where the client's bytes go", 0, 0 },
        { "down", 0, CLI_STRING, &down_path, "FILE", "where the server's bytes go", 0, 0 },
    };
    const struct cli_program prog = {
        "rr_record", "Relays one connection to --to-port and records its bytes each way.",
        "the poll model's floor in make bench, not a lab stage", options,
        sizeof options / sizeof options[0], "--to-port, --up and --down are required."
    };
    struct cli_outcome cli;
    char err[256], addr[NET_ADDRSTRLEN] = "?";

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (!to_port || !up_path || !down_path) {
        fprintf(stderr, "rr_record: --to-port, --up and --down are required\n");
        return 2;
    }
    FILE *up = fopen(up_path, "wb"), *down = fopen(down_path, "wb");
    int listener = net_listen(host, port, SOCK_STREAM, err, sizeof err);
    if (!up || !down || listener < 0) {
        fprintf(stderr, "rr_record: %s\n", listener < 0 ? err : strerror(errno));
        return 1;
    }
    net_local_name(listener, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    int client = accept(listener, NULL, NULL);
    int server = client < 0 ? -1 : net_connect(host, to_port, SOCK_STREAM, err, sizeof err);
    if (client < 0 || server < 0) {
        fprintf(stderr, "rr_record: %s\n", client < 0 ? strerror(errno) : err);
        return 1;
    }
    for (;;) {
        struct pollfd p[2] = { { client, POLLIN, 0 }, { server, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        ssize_t moved = 1;
        if (p[0].revents)
            moved = relay(client, server, up);
        if (moved > 0 && p[1].revents)
            moved = relay(server, client, down);
        if (moved < 0)
            fprintf(stderr, "rr_record: %s\n", strerror(errno));
        if (moved <= 0)
            break;
    }
    close(client);
    close(server);
    if (fclose(up) != 0 || fclose(down) != 0) {
        fprintf(stderr, "rr_record: cannot write: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
