/* Stage 4 client: starter code. Write receive_reply().
 *
 *   cc -o client client.c $(pkg-config --cflags --libs libcjson)
 *   ./client [-p PORT | PORT]                 (default: $NIANBAO_PORT, else 8085)
 *
 * Reads commands from standard input, one a line, sends each one (without
 * its newline) to the server at 127.0.0.1:PORT, and writes what each reply
 * carries: the command's stdout part to standard output and its stderr part
 * to standard error, exactly. The protocol is in exercises/README.md
 * ("Stage 4"). Check your work:
 *
 *   nianbao-grade client --proto stage4 -- ./client {port}
 */
#include <arpa/inet.h>
#include <cJSON.h>
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
#define USAGE "Sends each line of standard input as a command to the stage 4 server on\n" \
              "127.0.0.1:PORT (default: $NIANBAO_PORT, else 8085) and writes each reply's\n" \
              "stdout part to standard output, its stderr part to standard error.\n"

#define MAX_LEN (1L << 28)          /* refuse a body longer than 256 MiB */
#define MAX_HEADER (1L << 16)       /* and a header longer than 64 KiB */

/* Receives one reply from FD and writes its body to stdout.
 * Returns 0, or -1 after printing an error.
 *
 * TODO: a reply is a 4-byte signed little-endian header length, then that
 * many bytes of UTF-8 JSON (the header), then total_size bytes of body (the
 * header says how many); the first stdout_size bytes of the body go to
 * stdout, the rest to stderr. recv(fd, buf, n, 0) returns 1 to n bytes,
 * whatever has arrived, 0 once the server has closed the connection, -1 on
 * error (retry on EINTR). So: loop until you have the 4 bytes of the header
 * length; build it from the bytes (b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24);
 * refuse one outside 1..MAX_HEADER; loop until the whole header is in; parse
 * it with cJSON_ParseWithLength and read total_size with
 * cJSON_GetObjectItemCaseSensitive (refuse it unless cJSON_IsNumber and a
 * whole number in 0..MAX_LEN); loop until the whole body is in, never asking
 * for more than what is still missing; fail if the server closes before the
 * end. (Checking md5 is welcome: libmd's <md5.h>, -lmd.) */
static int receive_reply(int fd)
{
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);   /* the stage 1 way: one recv is not one reply */
    if (n < 0) {
        perror("client: recv");
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "client: the server closed the connection\n");
        return -1;
    }
    fwrite(buf, 1, (size_t)n, stdout);
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
    const char *port = port_of(argc, argv, env_port ? env_port : "8085");
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
