/* stage2_udp_vs_tcp/tcp_client.c - section 2 (2.2) of the document: the TCP client.
 *
 * Shows: what the sender's send calls looked like, so that tcp_server's
 *   recv calls can be compared with them. Three experiments, one
 *   connection each, chosen with --demo, in the document's order:
 *     merge  send "hello", then "world": two sends, one recv on the server;
 *     split  one send of --size bytes (default 256 KiB): several recvs;
 *     empty  a 0-byte send, which puts nothing on the wire, then our FIN.
 * Fixes (over the document's code): after its sends the client shuts down
 *   its sending side (SHUT_WR). That FIN is the only "end of message" TCP
 *   has, and it is how the server knows the demo's bytes are all there.
 *   The reply is read until the server closes, with a deadline.
 * Still unframed, on purpose: closing is the only way to mark an end, so
 *   each demo needs a connection of its own. Stage 3 sends a length first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>              /* TCP_NODELAY, struct tcp_info with tcpi_data_segs_out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "wire.h"

#define DEFAULT_PORT "8081"
#define DEFAULT_SIZE (256 * 1024)
#define REPLY_MAX 1024              /* the document's client.recv(1024) */
#define PREVIEW_MAX 64

struct client_config {
    const char *host;
    const char *port;
    const char *demo;
    unsigned long size;
    unsigned long timeout_ms;
    int nodelay;
};

static int demo_merge(const struct client_config *cfg);
static int demo_split(const struct client_config *cfg);
static int demo_empty(const struct client_config *cfg);
static int open_connection(const struct client_config *cfg);
static int send_piece(int fd, unsigned long send_no, const void *data, size_t len);
static int finish(int fd);
static unsigned data_segments_out(int fd);
static void fill_pattern(unsigned char *buf, size_t len);

int main(int argc, char **argv)
{
    struct client_config cfg = { "127.0.0.1", DEFAULT_PORT, "all", DEFAULT_SIZE, 5000, 0 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "demo", 'd', CLI_CHOICE, &cfg.demo, "merge|split|empty|all",
          "which experiment (default all, in that order)", 0, 0 },
        { "size", 's', CLI_UINT, &cfg.size, "BYTES",
          "size of the split demo's one send (default 262144)", 1, 64UL << 20 },
        { "nodelay", 'n', CLI_FLAG, &cfg.nodelay, NULL,
          "turn Nagle's algorithm off (TCP_NODELAY): the merge still happens", 0, 0 },
        { "timeout-ms", 't', CLI_UINT, &cfg.timeout_ms, "MS",
          "give up when the server stalls for MS (default 5000)", 1, 600000 },
    };
    const struct cli_program prog = {
        "tcp_client", "Sends to tcp_server, one connection per demo, and prints each send and recv.",
        "stage 2, reproduces v2.0 of the document", options,
        sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    int all = strcmp(cfg.demo, "all") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    if ((all || strcmp(cfg.demo, "merge") == 0) && demo_merge(&cfg) < 0)
        return 1;
    if ((all || strcmp(cfg.demo, "split") == 0) && demo_split(&cfg) < 0)
        return 1;
    if ((all || strcmp(cfg.demo, "empty") == 0) && demo_empty(&cfg) < 0)
        return 1;
    return 0;
}

/* The document's client: two small sends on one connection. */
static int demo_merge(const struct client_config *cfg)
{
    printf("demo merge: two sends, \"hello\" then \"world\"\n");
    int fd = open_connection(cfg);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (send_piece(fd, 1, "hello", 5) < 0 || send_piece(fd, 2, "world", 5) < 0)
        goto end;
    rc = finish(fd);
end:
    close(fd);
    return rc;
}

/* One send call with the whole buffer. A blocking send only returns early
 * when it is interrupted or times out; then the rest goes in further sends,
 * numbered, so the output never hides it. */
static int demo_split(const struct client_config *cfg)
{
    unsigned char *data = malloc(cfg->size);
    size_t sent = 0;
    unsigned long send_no = 0;
    int fd = -1, rc = -1;

    if (!data) {
        fprintf(stderr, "tcp_client: no memory for %lu bytes\n", cfg->size);
        return -1;
    }
    fill_pattern(data, cfg->size);
    printf("demo split: one send of %lu bytes\n", cfg->size);
    fd = open_connection(cfg);
    if (fd < 0)
        goto end;
    while (sent < cfg->size) {
        ssize_t piece_len = send(fd, data + sent, cfg->size - sent, 0);
        if (piece_len < 0 && errno == EINTR)
            continue;
        if (piece_len < 0) {
            fprintf(stderr, "tcp_client: send after %zu of %lu bytes: %s\n", sent, cfg->size,
                    errno == EAGAIN || errno == EWOULDBLOCK ? "the server stopped reading"
                                                            : strerror(errno));
            goto end;
        }
        send_no++;
        printf("send #%lu: %zd of %zu bytes\n", send_no, piece_len, cfg->size - sent);
        sent += (size_t)piece_len;
    }
    rc = finish(fd);
end:
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}

/* A 0-byte send returns 0 and puts nothing on the wire: there is no empty
 * TCP message. The data-segment counter of TCP_INFO proves it. */
static int demo_empty(const struct client_config *cfg)
{
    printf("demo empty: a send of 0 bytes, then the end of stream\n");
    int fd = open_connection(cfg);
    if (fd < 0)
        return -1;
    int rc = -1;
    unsigned before = data_segments_out(fd);
    ssize_t sent = send(fd, "", 0, 0);
    if (sent < 0) {
        fprintf(stderr, "tcp_client: send: %s\n", strerror(errno));
        goto end;
    }
    printf("send #1: %zd bytes \"\" (data segments sent: %u before, %u after)\n",
           sent, before, data_segments_out(fd));
    rc = finish(fd);
end:
    close(fd);
    return rc;
}

/* Returns the connected socket, or -1 after printing why. */
static int open_connection(const struct client_config *cfg)
{
    char err[256], local[NET_ADDRSTRLEN] = "?", server[NET_ADDRSTRLEN] = "?";
    struct timeval limit = { (time_t)(cfg->timeout_ms / 1000),
                             (suseconds_t)(cfg->timeout_ms % 1000) * 1000 };
    int on = 1;

    int fd = net_connect(cfg->host, cfg->port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "tcp_client: %s\n", err);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (cfg->nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    net_local_name(fd, local, sizeof local);
    net_peer_name(fd, server, sizeof server);
    printf("connect: %s to %s%s\n", local, server, cfg->nodelay ? " (TCP_NODELAY)" : "");
    return fd;
}

/* Returns 0, or -1 after printing why. */
static int send_piece(int fd, unsigned long send_no, const void *data, size_t len)
{
    char shown[PREVIEW_MAX];
    ssize_t sent;

    do
        sent = send(fd, data, len, 0);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        fprintf(stderr, "tcp_client: send: %s\n", strerror(errno));
        return -1;
    }
    escape_bytes(data, (size_t)sent, shown, sizeof shown);
    printf("send #%lu: %zd bytes \"%s\"\n", send_no, sent, shown);
    return 0;
}

/* Our FIN, then the server's reply until it closes.
 * Returns 0, or -1 after printing why. */
static int finish(int fd)
{
    unsigned char reply[REPLY_MAX];
    char shown[PREVIEW_MAX];

    if (shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "tcp_client: shutdown: %s\n", strerror(errno));
        return -1;
    }
    printf("shutdown: SHUT_WR (our FIN: the end of the stream, TCP's only boundary)\n");
    for (unsigned long recv_no = 1;; recv_no++) {
        ssize_t reply_len = recv(fd, reply, sizeof reply, 0);
        if (reply_len < 0 && errno == EINTR) {
            recv_no--;
            continue;
        }
        if (reply_len < 0) {
            fprintf(stderr, "tcp_client: waiting for the reply: %s\n",
                    errno == EAGAIN || errno == EWOULDBLOCK ? "the server did not answer in time"
                                                            : strerror(errno));
            return -1;
        }
        if (reply_len == 0) {
            printf("recv #%lu: 0 bytes: the server closed\n", recv_no);
            return 0;
        }
        escape_bytes(reply, (size_t)reply_len, shown, sizeof shown);
        printf("recv #%lu: %zd bytes \"%s\"\n", recv_no, reply_len, shown);
    }
}

/* TCP segments that carried data so far (TCP_INFO, Linux 4.6+); 0 if unknown. */
static unsigned data_segments_out(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;

    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
        return 0;
    return info.tcpi_data_segs_out;
}

/* "helloworld" over and over, as in udp_client. */
static void fill_pattern(unsigned char *buf, size_t len)
{
    static const char pattern[] = "helloworld";
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)pattern[i % (sizeof pattern - 1)];
}
