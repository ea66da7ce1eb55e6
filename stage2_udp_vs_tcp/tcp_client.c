/* stage2_udp_vs_tcp/tcp_client.c - section 2 (2.2) of the document: the TCP client.
 *
 * Shows: what the sender's send calls looked like, so that tcp_server's
 *   recv calls can be compared with them. Three experiments, one
 *   connection each, chosen with --demo, in the document's order:
 *     merge  send "hello", then "world": two sends, one recv on the server;
 *     split  one send of --size bytes (default 256 KiB): several recvs;
 *     empty  a 0-byte send, which puts nothing on the wire, then our FIN.
 *   And one the document does not have, on its own (--demo nagle):
 *     nagle  requests written as a 4-byte length and a body, two writes,
 *            each answered by the server: write-write-read stalls about
 *            40 ms (Nagle's algorithm waits for an ACK the server delays);
 *            the same with writev, TCP_NODELAY, MSG_MORE or TCP_CORK does
 *            not. Timed in this run and printed as medians.
 * Fixes (over the document's code): after its sends the client shuts down
 *   its sending side (SHUT_WR). That FIN is the only "end of message" TCP
 *   has, and it is how the server knows the demo's bytes are all there.
 *   The reply is read until the server closes, with a deadline.
 * Still unframed, on purpose: closing is the only way to mark an end, so
 *   each demo needs a connection of its own. Stage 3 sends a length first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/sockios.h>          /* SIOCOUTQNSD: bytes written but not yet sent */
#include <linux/tcp.h>              /* TCP_NODELAY, TCP_CORK, struct tcp_info with tcpi_data_segs_out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "wire.h"

#define DEFAULT_PORT STAGE2_PORT
#define DEFAULT_SIZE (256 * 1024)
#define REPLY_MAX 1024              /* the document's client.recv(1024) */
#define PREVIEW_MAX 64
/* The nagle demo's dialogue with tcp_server (see tcp_server.c). */
#define NAGLE_HELLO "nagle demo\n"
#define NAGLE_BODY "world"
#define NAGLE_REPLY "ok"
#define DEFAULT_REQUESTS 20

struct client_config {
    const char *host;
    const char *port;
    const char *demo;
    unsigned long size;
    unsigned long timeout_ms;
    unsigned long requests;
    int nodelay;
};

/* The ways of writing one request (a length, then a body) that the nagle
 * demo compares. */
enum write_way { WRITE_WRITE, WRITE_V, WRITE_NODELAY, WRITE_MORE, WRITE_CORK };

static int demo_merge(const struct client_config *cfg);
static int demo_split(const struct client_config *cfg);
static int demo_empty(const struct client_config *cfg);
static int demo_nagle(const struct client_config *cfg);
static int open_connection(const struct client_config *cfg, int announce);
static int send_piece(int fd, unsigned long send_no, const void *data, size_t len);
static int finish(int fd);
static unsigned data_segments_out(int fd);
static void fill_pattern(unsigned char *buf, size_t len);

int main(int argc, char **argv)
{
    struct client_config cfg = { "127.0.0.1", DEFAULT_PORT, "all", DEFAULT_SIZE, 5000,
                                 DEFAULT_REQUESTS, 0 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "demo", 'd', CLI_CHOICE, &cfg.demo, "merge|split|empty|all|nagle",
          "which experiment (default all: merge, split, empty; nagle only when asked)", 0, 0 },
        { "size", 's', CLI_UINT, &cfg.size, "BYTES",
          "size of the split demo's one send (default 262144)", 1, 64UL << 20 },
        { "nodelay", 'n', CLI_FLAG, &cfg.nodelay, NULL,
          "turn Nagle's algorithm off (TCP_NODELAY): the merge still happens", 0, 0 },
        { "timeout-ms", 't', CLI_UINT, &cfg.timeout_ms, "MS",
          "give up when the server stalls for MS (default 5000)", 1, 600000 },
        { "requests", 'r', CLI_UINT, &cfg.requests, "N",
          "requests per way of writing in the nagle demo (default 20)", 1, 1000 },
    };
    const struct cli_program prog = {
        "tcp_client", "Sends to tcp_server, one connection per demo, and prints each send and recv.",
        "stage 2, reproduces v2.0 of the document", options,
        sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "tcp_client: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
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
    if (strcmp(cfg.demo, "nagle") == 0 && demo_nagle(&cfg) < 0)
        return 1;
    return 0;
}

/* The document's client: two small sends on one connection. */
static int demo_merge(const struct client_config *cfg)
{
    printf("demo merge: two sends, \"hello\" then \"world\"\n");
    int fd = open_connection(cfg, 1);
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
    fd = open_connection(cfg, 1);
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
    int fd = open_connection(cfg, 1);
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

/* How one request is written, for the nagle demo: its name in the output,
 * and what it does. */
static const struct {
    enum write_way way;
    const char *name;
    const char *how;
} write_ways[] = {
    { WRITE_WRITE, "write+write", "two writes, Nagle's algorithm on: the default" },
    { WRITE_V, "writev", "one writev of both pieces" },
    { WRITE_NODELAY, "nodelay", "two writes with TCP_NODELAY: Nagle off" },
    { WRITE_MORE, "msg_more", "the length sent with MSG_MORE, then the body" },
    { WRITE_CORK, "cork", "TCP_CORK on, two writes, TCP_CORK off" },
};

struct way_result {
    double median_ms, max_ms;
    unsigned long waited;       /* requests whose body was still unsent after the last write */
    unsigned segments;          /* data segments the requests took */
};

static int nagle_connection(const struct client_config *cfg, enum write_way way,
                            struct way_result *result);
static int send_request(int fd, enum write_way way, unsigned long *unsent);
static int send_flags_all(int fd, const void *data, size_t len, int flags);
static int set_option(int fd, int level, int name, int on);
static double ms_between(const struct timespec *from, const struct timespec *to);
static int compare_doubles(const void *a, const void *b);

/* Write-write-read: a request in two small writes, then wait for the
 * answer. With Nagle's algorithm the second write waits until the first is
 * acknowledged, and the server holds that ACK back (delayed ACK), hoping to
 * send it along with its reply, which it cannot write before it has the
 * body. Each way of writing gets a connection of its own and
 * --requests requests; every time is measured here, in this run. */
static int demo_nagle(const struct client_config *cfg)
{
    size_t way_count = sizeof write_ways / sizeof write_ways[0];

    printf("demo nagle: %lu requests per way of writing, each a 4-byte length then %zu bytes "
           "\"%s\", each answered \"%s\"\n",
           cfg->requests, strlen(NAGLE_BODY), NAGLE_BODY, NAGLE_REPLY);
    for (size_t i = 0; i < way_count; i++) {
        struct way_result result;
        if (nagle_connection(cfg, write_ways[i].way, &result) < 0)
            return -1;
        printf("%s: median %.2f ms, max %.2f ms; the body waited for an ACK in %lu of %lu "
               "requests; %u data segments (%s)\n",
               write_ways[i].name, result.median_ms, result.max_ms, result.waited,
               cfg->requests, result.segments, write_ways[i].how);
    }
    printf("why: Nagle's algorithm keeps a small write back while earlier data is not yet "
           "acknowledged; tcp_server delays its ACK (delayed ACK, 40 ms or more on Linux) to "
           "send it with its reply, which it cannot write before the body has come. One write "
           "per request (writev, MSG_MORE, TCP_CORK) or TCP_NODELAY: no wait.\n");
    return 0;
}

/* One connection: the hello, then --requests timed requests written WAY.
 * Returns 0 with RESULT filled, or -1 after printing why. */
static int nagle_connection(const struct client_config *cfg, enum write_way way,
                            struct way_result *result)
{
    char reply[sizeof NAGLE_REPLY - 1];
    double *times = NULL;
    int fd = -1, rc = -1;

    memset(result, 0, sizeof *result);
    times = calloc(cfg->requests, sizeof *times);
    if (!times) {
        fprintf(stderr, "tcp_client: no memory for %lu timings\n", cfg->requests);
        goto end;
    }
    /* --nodelay is for the other demos: here only WRITE_NODELAY sets it. */
    struct client_config plain = *cfg;
    plain.nodelay = 0;
    fd = open_connection(&plain, 0);
    if (fd < 0)
        goto end;
    if (way == WRITE_NODELAY && set_option(fd, IPPROTO_TCP, TCP_NODELAY, 1) < 0)
        goto end;
    /* The hello tells tcp_server to answer request by request. */
    if (send_all(fd, NAGLE_HELLO, strlen(NAGLE_HELLO)) < 0) {
        fprintf(stderr, "tcp_client: send: %s\n", strerror(errno));
        goto end;
    }
    if (recv_exact(fd, reply, sizeof reply) != (ssize_t)sizeof reply ||
        memcmp(reply, NAGLE_REPLY, sizeof reply) != 0) {
        fprintf(stderr, "tcp_client: the server did not answer the nagle demo's hello: "
                "is it this lab's tcp_server?\n");
        goto end;
    }
    unsigned segments_before = data_segments_out(fd);
    for (unsigned long i = 0; i < cfg->requests; i++) {
        struct timespec start, done;
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (send_request(fd, way, &result->waited) < 0)
            goto end;
        ssize_t got = recv_exact(fd, reply, sizeof reply);
        if (got != (ssize_t)sizeof reply) {
            char err[128];
            wire_describe_short(got, sizeof reply, "reply", err, sizeof err);
            fprintf(stderr, "tcp_client: request %lu: %s\n", i + 1, err);
            goto end;
        }
        clock_gettime(CLOCK_MONOTONIC, &done);
        times[i] = ms_between(&start, &done);
    }
    result->segments = data_segments_out(fd) - segments_before;
    qsort(times, cfg->requests, sizeof *times, compare_doubles);
    result->max_ms = times[cfg->requests - 1];
    result->median_ms = cfg->requests % 2 ? times[cfg->requests / 2]
                        : (times[cfg->requests / 2 - 1] + times[cfg->requests / 2]) / 2;
    rc = 0;
end:
    if (fd >= 0)
        close(fd);
    free(times);
    return rc;
}

/* Writes one request, a 4-byte length then the body, the way WAY says, and
 * counts in *UNSENT the requests whose bytes the kernel still holds back
 * after the last write (SIOCOUTQNSD: written, not yet sent).
 * Returns 0, or -1 after printing why. */
static int send_request(int fd, enum write_way way, unsigned long *unsent)
{
    unsigned char len_bytes[WIRE_LEN_SIZE];
    int rc = 0, queued = 0;

    le32_encode((int32_t)strlen(NAGLE_BODY), len_bytes);
    switch (way) {
    case WRITE_WRITE:
    case WRITE_NODELAY:
        rc = send_flags_all(fd, len_bytes, sizeof len_bytes, 0);
        if (rc == 0)
            rc = send_flags_all(fd, NAGLE_BODY, strlen(NAGLE_BODY), 0);
        break;
    case WRITE_V: {
        struct iovec pieces[2] = { { len_bytes, sizeof len_bytes },
                                   { (void *)NAGLE_BODY, strlen(NAGLE_BODY) } };
        size_t total = sizeof len_bytes + strlen(NAGLE_BODY);
        ssize_t sent;
        do
            sent = writev(fd, pieces, 2);
        while (sent < 0 && errno == EINTR);
        if (sent < 0) {
            rc = -1;
        } else if ((size_t)sent < total) {
            /* A blocking socket does not do this for 9 bytes; if it did,
             * the rest still goes. */
            unsigned char all[WIRE_LEN_SIZE + sizeof NAGLE_BODY];
            memcpy(all, len_bytes, sizeof len_bytes);
            memcpy(all + sizeof len_bytes, NAGLE_BODY, strlen(NAGLE_BODY));
            rc = send_flags_all(fd, all + sent, total - (size_t)sent, 0);
        }
        break;
    }
    case WRITE_MORE:
        rc = send_flags_all(fd, len_bytes, sizeof len_bytes, MSG_MORE);
        if (rc == 0)
            rc = send_flags_all(fd, NAGLE_BODY, strlen(NAGLE_BODY), 0);
        break;
    case WRITE_CORK:
        rc = set_option(fd, IPPROTO_TCP, TCP_CORK, 1);
        if (rc == 0)
            rc = send_flags_all(fd, len_bytes, sizeof len_bytes, 0);
        if (rc == 0)
            rc = send_flags_all(fd, NAGLE_BODY, strlen(NAGLE_BODY), 0);
        if (rc == 0)
            rc = set_option(fd, IPPROTO_TCP, TCP_CORK, 0);
        break;
    }
    if (rc < 0) {
        fprintf(stderr, "tcp_client: send: %s\n", strerror(errno));
        return -1;
    }
    if (ioctl(fd, SIOCOUTQNSD, &queued) == 0 && queued > 0)
        (*unsent)++;
    return 0;
}

/* send() with FLAGS until all LEN bytes are written. Returns 0 or -1 (errno). */
static int send_flags_all(int fd, const void *data, size_t len, int flags)
{
    const unsigned char *next = data;
    while (len > 0) {
        ssize_t sent = send(fd, next, len, flags);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0)
            return -1;
        next += sent;
        len -= (size_t)sent;
    }
    return 0;
}

/* Sets the socket option NAME to ON. Returns 0, or -1 after printing why. */
static int set_option(int fd, int level, int name, int on)
{
    if (setsockopt(fd, level, name, &on, sizeof on) == 0)
        return 0;
    fprintf(stderr, "tcp_client: setsockopt %s: %s\n",
            name == TCP_CORK ? "TCP_CORK" : name == TCP_NODELAY ? "TCP_NODELAY" : "?",
            strerror(errno));
    return -1;
}

static double ms_between(const struct timespec *from, const struct timespec *to)
{
    return (double)(to->tv_sec - from->tv_sec) * 1e3 + (double)(to->tv_nsec - from->tv_nsec) / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Returns the connected socket (with a "connect:" line when ANNOUNCE),
 * or -1 after printing why. */
static int open_connection(const struct client_config *cfg, int announce)
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
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0) {
        fprintf(stderr, "tcp_client: cannot set --timeout on the socket (setsockopt): %s\n",
                strerror(errno));
        close(fd);
        return -1;
    }
    if (cfg->nodelay && set_option(fd, IPPROTO_TCP, TCP_NODELAY, on) < 0) {
        close(fd);
        return -1;
    }
    if (!announce)
        return fd;
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
            /* not a recv with data: not numbered (see tcp_server.c) */
            printf("EOF: the server closed (recv returned 0: the end of the stream)\n");
            return 0;
        }
        escape_bytes(reply, (size_t)reply_len, shown, sizeof shown);
        printf("recv #%lu: %zd bytes \"%s\"\n", recv_no, reply_len, shown);
    }
}

/* TCP segments that carried data so far (TCP_INFO, Linux 4.6+); 0 if unknown.
 * The kernel counts a segment sent again (a retransmission, a tail-loss
 * probe on a busy machine) once more: those are taken off, so the count is
 * of the segments the bytes were cut into. */
static unsigned data_segments_out(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;

    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
        return 0;
    if (info.tcpi_total_retrans > info.tcpi_data_segs_out)
        return 0;
    return info.tcpi_data_segs_out - info.tcpi_total_retrans;
}

/* "helloworld" over and over, as in udp_client. */
static void fill_pattern(unsigned char *buf, size_t len)
{
    static const char pattern[] = "helloworld";
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)pattern[i % (sizeof pattern - 1)];
}
