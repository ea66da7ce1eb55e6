/* stage2_udp_vs_tcp/udp_client.c - section 2 (2.1) of the document: the UDP client.
 *
 * Shows: each send on a UDP socket is one datagram, and the server gets it
 *   whole, alone, or (when it does not fit) cut. Three experiments, chosen
 *   with --demo, in the document's order:
 *     boundaries  send "world", then "hello", back to back;
 *     truncate    one datagram larger than the server's buffer;
 *     empty       a 0-byte datagram, which the document mentions and skips.
 * Fixes (over the document's code): its client ends with recvfrom(1024),
 *   but its server never replies, so the client waits forever. Ours reads
 *   the server's receipt for every datagram, with a deadline (--timeout-ms).
 *   Its two printed senders (ports 56852 and 61798) cannot come from one
 *   run of its client: a connected UDP socket has one port.
 * Still true, on purpose: a datagram lost or cut on the way is gone; we
 *   notice a missing reply but send nothing again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "wire.h"

#define DEFAULT_PORT STAGE2_UDP_PORT
#define DEFAULT_SIZE 2048           /* larger than the server's recvfrom(1024) */
#define MAX_DATAGRAM 65507          /* 65535 - IPv4 header - UDP header */
#define RECEIPT_MAX 1024            /* the document's recvfrom(1024) */
#define PREVIEW_MAX 64

struct client_config {
    const char *host;
    const char *port;
    const char *demo;
    unsigned long size;
    unsigned long timeout_ms;
};

/* One run: the socket and the counters that number its events. */
struct udp_run {
    int fd;
    char server[NET_ADDRSTRLEN];
    unsigned long sends, receipts;
    unsigned long timeout_ms;
};

static int demo_boundaries(struct udp_run *run);
static int demo_truncate(struct udp_run *run, size_t size);
static int demo_empty(struct udp_run *run);
static int send_datagram(struct udp_run *run, const void *data, size_t len);
static int receive_receipt(struct udp_run *run);
static void fill_pattern(unsigned char *buf, size_t len);

int main(int argc, char **argv)
{
    struct client_config cfg = { "127.0.0.1", DEFAULT_PORT, "all", DEFAULT_SIZE, 2000 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "demo", 'd', CLI_CHOICE, &cfg.demo, "boundaries|truncate|empty|all",
          "which experiment (default all, in that order)", 0, 0 },
        { "size", 's', CLI_UINT, &cfg.size, "BYTES",
          "size of the truncate demo's datagram (default 2048)", 1, MAX_DATAGRAM },
        { "timeout-ms", 't', CLI_UINT, &cfg.timeout_ms, "MS",
          "give up when a reply takes longer than MS (default 2000)", 1, 600000 },
    };
    const struct cli_program prog = {
        "udp_client", "Sends UDP datagrams to udp_server and prints each send and each reply.",
        "stage 2, reproduces v2.0 of the document", options,
        sizeof options / sizeof options[0],
        "Try: udp_server --bufsize 5 and udp_client --demo truncate --size 10 (the document's numbers)."
    };
    struct cli_outcome cli;
    struct udp_run run = { -1, "?", 0, 0, 0 };
    struct timeval limit;
    char err[256];
    int status = 1;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "udp_client: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    int all = strcmp(cfg.demo, "all") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* connect() on UDP sends nothing: it fixes the peer, so send() needs no
     * address and an ICMP "port unreachable" comes back as ECONNREFUSED. */
    run.fd = net_connect(cfg.host, cfg.port, SOCK_DGRAM, err, sizeof err);
    if (run.fd < 0) {
        fprintf(stderr, "udp_client: %s\n", err);
        goto end;
    }
    net_peer_name(run.fd, run.server, sizeof run.server);
    run.timeout_ms = cfg.timeout_ms;
    limit.tv_sec = (time_t)(cfg.timeout_ms / 1000);
    limit.tv_usec = (suseconds_t)(cfg.timeout_ms % 1000) * 1000;
    if (setsockopt(run.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0) {
        fprintf(stderr, "udp_client: cannot set --timeout on the socket (setsockopt): %s\n",
                strerror(errno));
        goto end;
    }

    if ((all || strcmp(cfg.demo, "boundaries") == 0) && demo_boundaries(&run) < 0)
        goto end;
    if ((all || strcmp(cfg.demo, "truncate") == 0) && demo_truncate(&run, cfg.size) < 0)
        goto end;
    if ((all || strcmp(cfg.demo, "empty") == 0) && demo_empty(&run) < 0)
        goto end;
    status = 0;
end:
    if (run.fd >= 0)
        close(run.fd);
    return status;
}

/* Two sends, back to back, before reading anything: both datagrams can sit
 * in the server's queue together, and still come out one per recvfrom. */
static int demo_boundaries(struct udp_run *run)
{
    printf("demo boundaries: two datagrams, \"world\" then \"hello\"\n");
    if (send_datagram(run, "world", 5) < 0 || send_datagram(run, "hello", 5) < 0)
        return -1;
    if (receive_receipt(run) < 0 || receive_receipt(run) < 0)
        return -1;
    return 0;
}

/* The document's recvfrom(5) case: what does not fit is dropped. */
static int demo_truncate(struct udp_run *run, size_t size)
{
    unsigned char *datagram = malloc(size);
    int rc = -1;

    if (!datagram) {
        fprintf(stderr, "udp_client: no memory for a %zu-byte datagram\n", size);
        return -1;
    }
    fill_pattern(datagram, size);
    printf("demo truncate: one datagram of %zu bytes\n", size);
    if (send_datagram(run, datagram, size) < 0 || receive_receipt(run) < 0)
        goto end;
    rc = 0;
end:
    free(datagram);
    return rc;
}

/* A 0-byte send still makes a datagram (8 bytes of UDP header, no data),
 * and the server's recvfrom returns it as a 0-byte message. */
static int demo_empty(struct udp_run *run)
{
    printf("demo empty: one datagram of 0 bytes\n");
    if (send_datagram(run, "", 0) < 0 || receive_receipt(run) < 0)
        return -1;
    return 0;
}

static void report_refused(const struct udp_run *run)
{
    fprintf(stderr, "udp_client: nothing listens on UDP %s (the host answered "
            "\"port unreachable\")\n", run->server);
}

/* Returns 0, or -1 after printing why. */
static int send_datagram(struct udp_run *run, const void *data, size_t len)
{
    char shown[PREVIEW_MAX];
    ssize_t sent;

    do
        sent = send(run->fd, data, len, 0);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        /* The ICMP "port unreachable" of an earlier datagram surfaces here. */
        if (errno == ECONNREFUSED)
            report_refused(run);
        else
            fprintf(stderr, "udp_client: send to %s: %s\n", run->server, strerror(errno));
        return -1;
    }
    run->sends++;
    escape_bytes(data, (size_t)sent, shown, sizeof shown);
    printf("send #%lu: %zd bytes \"%s\" to %s\n", run->sends, sent, shown, run->server);
    return 0;
}

/* Returns 0, or -1 after printing why: no reply in time, or nobody there. */
static int receive_receipt(struct udp_run *run)
{
    unsigned char receipt[RECEIPT_MAX];
    struct sockaddr_storage from;
    socklen_t from_len;
    char from_name[NET_ADDRSTRLEN] = "?", shown[PREVIEW_MAX * 2];
    ssize_t receipt_len;

    do {
        from_len = sizeof from;
        receipt_len = recvfrom(run->fd, receipt, sizeof receipt, 0,
                               (struct sockaddr *)&from, &from_len);
    } while (receipt_len < 0 && errno == EINTR);
    if (receipt_len < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            fprintf(stderr, "udp_client: no reply from %s within %lu ms: is udp_server running there?\n",
                    run->server, run->timeout_ms);
        else if (errno == ECONNREFUSED)
            report_refused(run);
        else
            fprintf(stderr, "udp_client: recvfrom %s: %s\n", run->server, strerror(errno));
        return -1;
    }
    run->receipts++;
    net_format_addr((struct sockaddr *)&from, from_len, from_name, sizeof from_name);
    escape_bytes(receipt, (size_t)receipt_len, shown, sizeof shown);
    printf("recvfrom #%lu: %zd bytes \"%s\" from %s\n", run->receipts, receipt_len, shown, from_name);
    return 0;
}

/* "helloworld" over and over: a cut shows where it fell. */
static void fill_pattern(unsigned char *buf, size_t len)
{
    static const char pattern[] = "helloworld";
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)pattern[i % (sizeof pattern - 1)];
}
