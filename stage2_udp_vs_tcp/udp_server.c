/* stage2_udp_vs_tcp/udp_server.c - section 2 (2.1) of the document: the UDP server.
 *
 * Shows: one recvfrom returns one datagram, never more, whatever size you
 *   ask for: "world" and "hello" sent back to back come out as two messages
 *   of 5 bytes; a 0-byte datagram is still a message; a datagram larger than
 *   the buffer loses its tail.
 * Fixes (over the document's code): the document's recvfrom(5) raising
 *   WSAEMSGSIZE is Windows; Linux hands over the first 5 bytes and drops the
 *   rest without a word. So we receive with recvmsg(MSG_TRUNC), which also
 *   tells us the datagram's real length, and print what was lost. The
 *   document's server never answers, so its client waits in recvfrom
 *   forever; ours replies to every datagram with what it received. It keeps
 *   serving, so the client can be run again and again in class.
 * Still true, on purpose: nothing here makes UDP reliable; what is cut off
 *   or lost on the way is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "run.h"
#include "wire.h"

#define DEFAULT_PORT STAGE2_UDP_PORT
#define DEFAULT_BUFSIZE 1024        /* the document's recvfrom(1024) */
#define PREVIEW_MAX 64              /* escaped bytes shown per event line */

struct server_config {
    const char *host;
    const char *port;
    unsigned long bufsize;
};

static int receive_datagram(int fd, unsigned char *buf, size_t bufsize,
                            unsigned long datagram_no);
static void send_receipt(int fd, const struct sockaddr *sender, socklen_t sender_len,
                         const char *sender_name, size_t received, size_t datagram_len,
                         unsigned long datagram_no);

int main(int argc, char **argv)
{
    struct server_config cfg = { "127.0.0.1", DEFAULT_PORT, DEFAULT_BUFSIZE };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "bufsize", 'b', CLI_UINT, &cfg.bufsize, "BYTES",
          "receive each datagram into BYTES (default 1024; the document's last call is 5)", 1, 65536 },
    };
    const struct cli_program prog = {
        "udp_server", "Prints every UDP datagram it receives, one recvfrom each, and what did not fit.",
        "stage 2, reproduces v2.0 of the document", options,
        sizeof options / sizeof options[0],
        "Runs until killed; replies to each datagram with \"received N of M bytes\"."
    };
    struct cli_outcome cli;
    char err[256], addr[NET_ADDRSTRLEN] = "?";
    unsigned char *buf = NULL;
    int fd = -1, status = 1;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "udp_server: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    /* One line per event, visible at once to whoever tails our output. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (server_signals_install() < 0) {
        fprintf(stderr, "udp_server: cannot install signal handlers: %s\n", strerror(errno));
        goto end;
    }
    buf = malloc(cfg.bufsize);
    if (!buf) {
        fprintf(stderr, "udp_server: no memory for a %lu-byte buffer\n", cfg.bufsize);
        goto end;
    }
    fd = net_listen(cfg.host, cfg.port, SOCK_DGRAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "udp_server: %s\n", err);
        goto end;
    }
    net_local_name(fd, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);

    for (unsigned long datagram_no = 1;; datagram_no++) {
        if (receive_datagram(fd, buf, cfg.bufsize, datagram_no) < 0) {
            fprintf(stderr, "udp_server: recvmsg: %s\n", strerror(errno));
            goto end;
        }
    }
end:
    if (fd >= 0)
        close(fd);
    free(buf);
    return status;
}

/* One datagram: one call, one line, whatever its size.
 * Returns 0, or -1 when recvmsg fails (errno set). */
static int receive_datagram(int fd, unsigned char *buf, size_t bufsize,
                            unsigned long datagram_no)
{
    struct sockaddr_storage sender;
    struct iovec iov = { buf, bufsize };
    struct msghdr msg;
    char sender_name[NET_ADDRSTRLEN] = "?", shown[PREVIEW_MAX];
    ssize_t datagram_len;

    /* recvmsg is recvfrom with a msghdr. We need it for the MSG_TRUNC flag it
     * returns, and pass MSG_TRUNC in so that the return value is the
     * datagram's real length, not just what fitted into BUF. */
    do {
        memset(&msg, 0, sizeof msg);
        msg.msg_name = &sender;
        msg.msg_namelen = sizeof sender;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        datagram_len = recvmsg(fd, &msg, MSG_TRUNC);
    } while (datagram_len < 0 && errno == EINTR);
    if (datagram_len < 0)
        return -1;

    size_t received = (size_t)datagram_len < bufsize ? (size_t)datagram_len : bufsize;
    net_format_addr((struct sockaddr *)&sender, msg.msg_namelen, sender_name, sizeof sender_name);
    escape_bytes(buf, received, shown, sizeof shown);
    printf("recvfrom #%lu: %zu bytes \"%s\" from %s\n", datagram_no, received, shown, sender_name);
    if (msg.msg_flags & MSG_TRUNC)
        printf("truncated #%lu: received %zu of %zd bytes; %zd bytes lost\n",
               datagram_no, received, datagram_len, datagram_len - (ssize_t)received);
    send_receipt(fd, (struct sockaddr *)&sender, msg.msg_namelen, sender_name,
                 received, (size_t)datagram_len, datagram_no);
    return 0;
}

/* Tells the sender what arrived, so the client has something to wait for
 * and the loss shows on both sides. A failed reply is reported, not fatal:
 * the next datagram may come from someone else. */
static void send_receipt(int fd, const struct sockaddr *sender, socklen_t sender_len,
                         const char *sender_name, size_t received, size_t datagram_len,
                         unsigned long datagram_no)
{
    char receipt[64], shown[PREVIEW_MAX];
    int receipt_len = snprintf(receipt, sizeof receipt, "received %zu of %zu bytes",
                               received, datagram_len);
    ssize_t sent;

    do
        sent = sendto(fd, receipt, (size_t)receipt_len, 0, sender, sender_len);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        fprintf(stderr, "udp_server: reply to %s: %s\n", sender_name, strerror(errno));
        return;
    }
    escape_bytes(receipt, (size_t)sent, shown, sizeof shown);
    printf("sendto #%lu: %zd bytes \"%s\" to %s\n", datagram_no, sent, shown, sender_name);
}
