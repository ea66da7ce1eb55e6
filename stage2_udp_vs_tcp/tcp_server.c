/* stage2_udp_vs_tcp/tcp_server.c - section 2 (2.2) of the document: the TCP server.
 *
 * Shows: TCP hands the receiver a stream of bytes, not the sender's
 *   messages. Two sends, "hello" and "world", come out of one recv as
 *   "helloworld" (merge); one large send comes out of several recvs (split);
 *   a 0-byte send delivers nothing, and a 0-byte recv means the peer closed.
 * Fixes (over the document's code): whether "hello" and "world" merge
 *   depends on timing; the document's one recv just happens to run late
 *   enough. We make it certain and say so: before the first recv we wait
 *   until FIONREAD shows both sends queued (--wait-bytes, default 10), or
 *   the client finished sending, or --wait-ms passed. Then we keep calling
 *   recv until the client's end of stream, printing every piece, so a split
 *   is visible too, and reply "return" as the document does. The document
 *   blames Nagle's algorithm for the merge; the merge happens in the
 *   receiver's queue, and `tcp_client --nodelay` shows it without Nagle
 *   (the data-segment count below tells how many segments carried it).
 *   The document's server does one exchange and exits (--once); ours keeps
 *   serving, one client at a time, and answers a client that never closes
 *   (the document's does not) after 10 s of silence (--idle-ms).
 *   One demo is not in the document: a connection that opens with the
 *   line "nagle demo" (tcp_client --demo nagle) is answered request by
 *   request, each a 4-byte length then a body, with "ok" as soon as the
 *   whole request is in; the server prints how long each body came after
 *   its length (about 40 ms when the client wrote them with two writes and
 *   Nagle's algorithm on: see tcp_client.c).
 * Still unframed, on purpose: the server only knows where a demo's bytes
 *   end because the client closes its side. Stage 3 sends a length first.
 */
#define _GNU_SOURCE                 /* POLLRDHUP */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>              /* struct tcp_info with tcpi_data_segs_in */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "run.h"
#include "wire.h"

#define DEFAULT_PORT STAGE2_PORT
#define DEFAULT_BUFSIZE (1024 * 1024)   /* more than any demo sends: a split is TCP's doing */
#define DEFAULT_WAIT_BYTES 10           /* "hello" + "world" */
#define PREVIEW_MAX 64
/* The nagle demo's dialogue with tcp_client (see tcp_client.c). */
#define NAGLE_HELLO "nagle demo\n"
#define NAGLE_REPLY "ok"
#define NAGLE_BODY_MAX 1024
#define NAGLE_GAPS_KEPT 1000            /* tcp_client sends at most 1000 per connection */

struct server_config {
    const char *host;
    const char *port;
    unsigned long bufsize;
    unsigned long wait_ms;
    unsigned long wait_bytes;
    unsigned long idle_ms;
    int once;
};

static void serve_connection(int conn, unsigned long conn_no, unsigned char *buf,
                             const struct server_config *cfg);
static void wait_for_data(int conn, const struct server_config *cfg, char *said, size_t said_len);
static int opens_with_nagle_hello(int conn);
static void serve_nagle(int conn, const char *client, const struct server_config *cfg);
static long ms_since(const struct timespec *start);

int main(int argc, char **argv)
{
    struct server_config cfg = { "127.0.0.1", DEFAULT_PORT, DEFAULT_BUFSIZE, 2000,
                                 DEFAULT_WAIT_BYTES, 10000, 0 };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "bufsize", 'b', CLI_UINT, &cfg.bufsize, "BYTES",
          "ask each recv for up to BYTES (default 1048576; the document's is 1024)", 1, 64UL << 20 },
        { "wait-ms", 'w', CLI_UINT, &cfg.wait_ms, "MS",
          "before the first recv, wait up to MS for --wait-bytes (default 2000; 0: no wait)", 0, 600000 },
        { "wait-bytes", 0, CLI_UINT, &cfg.wait_bytes, "BYTES",
          "bytes to wait for before the first recv (default 10: \"hello\" + \"world\")", 1, 64UL << 20 },
        { "idle-ms", 0, CLI_UINT, &cfg.idle_ms, "MS",
          "stop reading a client silent for MS, and reply (default 10000)", 1, 600000 },
        { "once", 0, CLI_FLAG, &cfg.once, NULL,
          "serve one connection, then exit (as the document's server does)", 0, 0 },
    };
    const struct cli_program prog = {
        "tcp_server", "Prints every recv of each TCP connection, then replies \"return\".",
        "stage 2, reproduces v2.0 of the document", options,
        sizeof options / sizeof options[0],
        "Each connection is read until the client's end of stream (its FIN)."
    };
    struct cli_outcome cli;
    char err[256], addr[NET_ADDRSTRLEN] = "?";
    unsigned char *buf = NULL;
    int listener = -1, status = 1;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "tcp_server: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (server_signals_install() < 0) {
        fprintf(stderr, "tcp_server: cannot install signal handlers: %s\n", strerror(errno));
        goto end;
    }
    buf = malloc(cfg.bufsize);
    if (!buf) {
        fprintf(stderr, "tcp_server: no memory for a %lu-byte buffer\n", cfg.bufsize);
        goto end;
    }
    listener = net_listen(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (listener < 0) {
        fprintf(stderr, "tcp_server: %s\n", err);
        goto end;
    }
    net_local_name(listener, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);

    for (unsigned long conn_no = 1;; conn_no++) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "tcp_server: accept: %s\n", strerror(errno));
            conn_no--;
            continue;
        }
        serve_connection(conn, conn_no, buf, &cfg);
        close(conn);
        if (cfg.once)
            break;
    }
    status = 0;
end:
    if (listener >= 0)
        close(listener);
    free(buf);
    return status;
}

/* One client: wait, recv until its end of stream, count, reply. */
static void serve_connection(int conn, unsigned long conn_no, unsigned char *buf,
                             const struct server_config *cfg)
{
    char client[NET_ADDRSTRLEN] = "?", shown[PREVIEW_MAX];
    struct timeval idle_limit = { (time_t)(cfg->idle_ms / 1000),
                                  (suseconds_t)(cfg->idle_ms % 1000) * 1000 };
    int mss = 0;
    socklen_t optlen = sizeof mss;
    unsigned long recv_calls = 0;     /* the ones that returned data */
    size_t total = 0;

    net_peer_name(conn, client, sizeof client);
    /* A client that neither sends nor closes must not block the next one. */
    if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &idle_limit, sizeof idle_limit) < 0 ||
        setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &idle_limit, sizeof idle_limit) < 0) {
        fprintf(stderr, "tcp_server: connection from %s: cannot set --idle on it "
                "(setsockopt): %s; closing it\n", client, strerror(errno));
        return;
    }
    /* The segment size: what the path lets one TCP segment carry. */
    getsockopt(conn, IPPROTO_TCP, TCP_MAXSEG, &mss, &optlen);
    printf("accept #%lu: connection from %s (MSS %d)\n", conn_no, client, mss);

    char waited[160];
    wait_for_data(conn, cfg, waited, sizeof waited);
    if (opens_with_nagle_hello(conn)) {
        serve_nagle(conn, client, cfg);
        return;
    }
    printf("%s\n", waited);
    for (;;) {
        ssize_t piece_len = recv(conn, buf, cfg->bufsize, 0);
        if (piece_len < 0 && errno == EINTR)
            continue;
        if (piece_len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The document's client never closes its side: answer it anyway. */
            fprintf(stderr, "tcp_server: %s sent nothing for %lu ms and did not close; "
                    "replying anyway\n", client, cfg->idle_ms);
            break;
        }
        if (piece_len < 0) {
            fprintf(stderr, "tcp_server: recv from %s: %s\n", client, strerror(errno));
            return;
        }
        if (piece_len == 0) {
            /* one definition of a recv everywhere (the viewer's, the
             * lesson's): a call that returned data. The 0 is the end of
             * the stream, said apart and not counted. */
            printf("EOF: %s closed its side (recv returned 0: the end of the stream)\n",
                   client);
            break;
        }
        recv_calls++;
        total += (size_t)piece_len;
        escape_bytes(buf, (size_t)piece_len, shown, sizeof shown);
        printf("recv #%lu: %zd bytes \"%s\"\n", recv_calls, piece_len, shown);
    }

    /* How many TCP segments carried the data: no relation to the recv count. */
    struct tcp_info info;
    optlen = sizeof info;
    memset(&info, 0, sizeof info);
    getsockopt(conn, IPPROTO_TCP, TCP_INFO, &info, &optlen);
    printf("total: %zu bytes in %lu recv call%s; %u data segment%s arrived\n", total,
           recv_calls, recv_calls == 1 ? "" : "s",
           info.tcpi_data_segs_in, info.tcpi_data_segs_in == 1 ? "" : "s");

    if (send_all(conn, "return", 6) < 0) {
        fprintf(stderr, "tcp_server: reply to %s: %s\n", client, strerror(errno));
        return;
    }
    printf("send: 6 bytes \"return\"\n");
}

/* Before the first recv: wait until the client's sends are queued, so that
 * what one recv returns does not depend on who ran first. FIONREAD tells how
 * many bytes are queued; POLLRDHUP that the client's FIN has arrived, after
 * everything it sent. Sleeping in 1 ms steps: waiting for POLLIN would wake
 * at the first byte, which is exactly the race we want to stay out of. */
static void wait_for_data(int conn, const struct server_config *cfg, char *said, size_t said_len)
{
    struct timespec start;
    char why[96];
    int queued = 0;

    if (cfg->wait_ms == 0) {
        snprintf(said, said_len, "wait: none (--wait-ms 0): what the first recv returns depends on timing");
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfd = { conn, POLLRDHUP, 0 };

        if (ioctl(conn, FIONREAD, &queued) < 0)
            queued = 0;
        if ((unsigned long)queued >= cfg->wait_bytes) {
            snprintf(why, sizeof why, "waited for FIONREAD >= %lu so that the sends are in "
                     "before recv", cfg->wait_bytes);
            break;
        }
        if (ms_since(&start) >= (long)cfg->wait_ms) {
            snprintf(why, sizeof why, "gave up: --wait-ms %lu", cfg->wait_ms);
            break;
        }
        if (poll(&pfd, 1, 1) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            if (ioctl(conn, FIONREAD, &queued) < 0)
                queued = 0;
            snprintf(why, sizeof why, "waited until the client finished sending");
            break;
        }
    }
    snprintf(said, said_len, "wait: %d bytes queued after %ld ms (%s)", queued, ms_since(&start), why);
}

/* 1 when the bytes queued so far are tcp_client's nagle hello (looked at
 * with MSG_PEEK, so the other demos' bytes stay for their recvs). */
static int opens_with_nagle_hello(int conn)
{
    char start[sizeof NAGLE_HELLO - 1];
    ssize_t got;

    do
        got = recv(conn, start, sizeof start, MSG_PEEK | MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    return got == (ssize_t)sizeof start && memcmp(start, NAGLE_HELLO, sizeof start) == 0;
}

static int compare_longs(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The nagle demo: requests of a 4-byte length and a body, each answered
 * with "ok" once it is whole. The server never answers before it has the
 * body, so it has nothing to carry the ACK of the length: the kernel delays
 * that ACK, and a client whose body waits for it (Nagle) waits that long.
 * Prints one line for the connection: how long the bodies came after their
 * lengths, as measured here. */
static void serve_nagle(int conn, const char *client, const struct server_config *cfg)
{
    char hello[sizeof NAGLE_HELLO - 1], body[NAGLE_BODY_MAX], err[128];
    unsigned char len_bytes[WIRE_LEN_SIZE];
    long gaps_us[NAGLE_GAPS_KEPT];
    unsigned long requests = 0;
    size_t kept = 0;

    if (recv_exact(conn, hello, sizeof hello) != (ssize_t)sizeof hello ||
        send_all(conn, NAGLE_REPLY, strlen(NAGLE_REPLY)) < 0) {
        fprintf(stderr, "tcp_server: nagle demo with %s: %s\n", client, strerror(errno));
        return;
    }
    printf("nagle demo: %s said hello; each request (a 4-byte length, then the body) is "
           "answered \"" NAGLE_REPLY "\" when it is whole\n", client);
    for (;;) {
        struct timespec length_came;
        ssize_t got = recv_exact(conn, len_bytes, sizeof len_bytes);
        if (got == 0)
            break;              /* the client is done */
        if (got != (ssize_t)sizeof len_bytes) {
            wire_describe_short(got, sizeof len_bytes, "request length", err, sizeof err);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                snprintf(err, sizeof err, "sent nothing for %lu ms", cfg->idle_ms);
            fprintf(stderr, "tcp_server: nagle demo with %s: %s\n", client, err);
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &length_came);
        int32_t body_len = le32_decode(len_bytes);
        if (body_len < 0 || body_len > NAGLE_BODY_MAX) {
            fprintf(stderr, "tcp_server: nagle demo with %s: request length %ld is out of range "
                    "0..%d\n", client, (long)body_len, NAGLE_BODY_MAX);
            return;
        }
        got = recv_exact(conn, body, (size_t)body_len);
        if (got != body_len) {
            wire_describe_short(got, (size_t)body_len, "request body", err, sizeof err);
            fprintf(stderr, "tcp_server: nagle demo with %s: %s\n", client, err);
            return;
        }
        struct timespec body_came;
        clock_gettime(CLOCK_MONOTONIC, &body_came);
        if (kept < NAGLE_GAPS_KEPT)
            gaps_us[kept++] = (long)(body_came.tv_sec - length_came.tv_sec) * 1000000 +
                              (body_came.tv_nsec - length_came.tv_nsec) / 1000;
        requests++;
        if (send_all(conn, NAGLE_REPLY, strlen(NAGLE_REPLY)) < 0) {
            fprintf(stderr, "tcp_server: nagle demo with %s: reply: %s\n", client, strerror(errno));
            return;
        }
    }
    if (kept == 0) {
        printf("nagle demo: %s sent no request\n", client);
        return;
    }
    qsort(gaps_us, kept, sizeof gaps_us[0], compare_longs);
    long median_us = kept % 2 ? gaps_us[kept / 2] : (gaps_us[kept / 2 - 1] + gaps_us[kept / 2]) / 2;
    printf("nagle demo: %lu request%s; each body came after its length by %.2f ms (median), "
           "%.2f ms at most\n", requests, requests == 1 ? "" : "s",
           (double)median_us / 1000, (double)gaps_us[kept - 1] / 1000);
}

static long ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}
