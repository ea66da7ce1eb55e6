/* client3.c - a stage 3 client with one deliberate bug, for teachers.
 *
 * Built once per bug (exercises/exercises.mk):
 *   client3-none        no bug: a correct client (do not hand it out)
 *   client3-recv4-once  -DBUG_RECV4_ONCE  the length read with one recv(4)
 *   client3-one-recv    -DBUG_ONE_RECV    one recv(1024) taken as the body
 *   client3-no-eof      -DBUG_NO_EOF      recv's 0 (server closed) not checked
 *   client3-byte-order  -DBUG_BYTE_ORDER  the length read big-endian
 *   client3-off-by-one  -DBUG_OFF_BY_ONE  the output's last byte never written
 *
 * Usage: client3-BUG [-p PORT | PORT]   (default: $NIANBAO_PORT, else 8083)
 * Apart from its bug it does everything right, so the grader fails it in
 * exactly the scenarios that name the bug:
 *   nianbao-grade client --proto stage3 -- exercises/broken/client3-no-eof {port}
 *
 * Plain POSIX, no lab library: this is what a student would write. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What --help says after its usage line. */
#define USAGE "Sends each line of standard input as a command to the stage 3 server on\n" \
              "127.0.0.1:PORT (default: $NIANBAO_PORT, else 8083) and writes the body of\n" \
              "each reply to standard output.\n"

#define MAX_LEN (1L << 28)          /* refuse a reply longer than 256 MiB */

/* Exactly LEN bytes into BUF. Returns 0, or -1 when the server closed or
 * recv failed. */
static int recv_exact(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
#ifdef BUG_NO_EOF
        if (n < 0)                  /* BUG: 0 (the server closed) goes round forever */
#else
        if (n <= 0)
#endif
        {
            fprintf(stderr, "client: connection closed after %zu of %zu bytes\n", got, len);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* One reply: the 4-byte length, then the body, written to stdout. */
static int receive_reply(int fd)
{
    unsigned char len_bytes[4] = { 0 };
#ifdef BUG_RECV4_ONCE
    if (recv(fd, len_bytes, 4, 0) <= 0) {   /* BUG: may return 1..3 bytes */
        fprintf(stderr, "client: connection closed\n");
        return -1;
    }
#else
    if (recv_exact(fd, len_bytes, 4) < 0)
        return -1;
#endif
#ifdef BUG_BYTE_ORDER
    uint32_t raw = (uint32_t)len_bytes[0] << 24 | (uint32_t)len_bytes[1] << 16 |
                   (uint32_t)len_bytes[2] << 8 | len_bytes[3];      /* BUG: big-endian */
#else
    uint32_t raw = (uint32_t)len_bytes[0] | (uint32_t)len_bytes[1] << 8 |
                   (uint32_t)len_bytes[2] << 16 | (uint32_t)len_bytes[3] << 24;
#endif
    long length = (int32_t)raw;
    if (length < 0 || length > MAX_LEN) {
        fprintf(stderr, "client: reply length %ld is out of range 0..%ld\n", length, MAX_LEN);
        return -1;
    }
#ifdef BUG_ONE_RECV
    unsigned char body[1024];
    ssize_t n = recv(fd, body, sizeof body, 0);   /* BUG: one recv, one message */
    if (n < 0) {
        perror("client: recv");
        return -1;
    }
    fwrite(body, 1, (size_t)n, stdout);
#else
    unsigned char *body = malloc(length ? (size_t)length : 1);
    if (body == NULL) {
        fprintf(stderr, "client: out of memory\n");
        return -1;
    }
    if (recv_exact(fd, body, (size_t)length) < 0) {
        free(body);
        return -1;
    }
#ifdef BUG_OFF_BY_ONE
    /* BUG: the last byte is held back until more output comes, and the
     * output's very last byte never does (an off-by-one at the end). */
    static int held = -1;
    if (length > 0) {
        if (held >= 0)
            putchar(held);
        fwrite(body, 1, (size_t)length - 1, stdout);
        held = body[length - 1];
    }
#else
    fwrite(body, 1, (size_t)length, stdout);
#endif
    free(body);
#endif
    return fflush(stdout) == 0 ? 0 : -1;
}

/* The port: -p/--port PORT or a first argument PORT, else DEFAULT_PORT.
 * --help prints the usage and exits 0; anything else exits 2 with one line
 * saying what is wrong. */
static const char *port_of(int argc, char **argv, const char *default_port)
{
    static const struct option options[] = {
        { "port", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *port = default_port;
    int opt;
    while ((opt = getopt_long(argc, argv, "p:h", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: %s [-p PORT | PORT]\n%s", argv[0], USAGE);
            exit(0);
        }
        if (opt != 'p')
            exit(2);                    /* getopt said what is wrong */
        port = optarg;
    }
    if (optind < argc)
        port = argv[optind++];
    if (optind < argc || !port[0] || port[strspn(port, "0123456789")]) {
        fprintf(stderr, "%s: '%s' is not a port (--help)\n", argv[0],
                optind < argc ? argv[optind] : port);
        exit(2);
    }
    return port;
}

int main(int argc, char **argv)
{
    const char *env_port = getenv("NIANBAO_PORT");
    const char *port = port_of(argc, argv, env_port ? env_port : "8083");
    struct sockaddr_in server = { .sin_family = AF_INET };
    char line[2048];

    server.sin_port = htons((uint16_t)atoi(port));
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
        perror("client: connect");
        return 1;
    }
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n");
        if (len == 0)
            continue;
        if (send(fd, line, len, 0) != (ssize_t)len) {
            perror("client: send");
            return 1;
        }
        if (receive_reply(fd) < 0)
            return 1;
    }
    close(fd);
    return 0;
}
