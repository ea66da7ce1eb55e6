/* Stage 3 server: starter code. Write send_reply().
 *
 *   cc -o server server.c && ./server [-p PORT | PORT]   (default 8083; 0 picks a free port)
 *
 * Serves one client after another, forever. Each request is one recv(1024)
 * holding a shell command (requests are not framed until stage 5); the
 * reply is the command's stdout, then its stderr, framed as
 * exercises/README.md says ("Stage 3"). Prints 'listening on
 * 127.0.0.1:PORT' on stderr once it listens. Check your work:
 *
 *   nianbao-grade server --proto stage3 -- ./server {port}
 *
 * Anyone who can reach the port runs commands as you: it listens on
 * 127.0.0.1 only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* What --help says after its usage line. */
#define USAGE "Runs each command a client sends with /bin/sh and replies with its output,\n" \
              "framed as stage 3 says. Listens on 127.0.0.1:PORT (default 8083; 0 picks a\n" \
              "free port) and serves one client after another, forever.\n"

/* What a command printed. */
struct output {
    unsigned char *bytes;   /* stdout, then stderr */
    size_t len;
    size_t cap;             /* bytes allocated */
};

/* Sends all LEN bytes (send may take fewer). Returns 0, or -1 (errno set). */
static int send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends one reply carrying OUT on FD. Returns 0, or -1 (errno set).
 *
 * TODO: first the output's length as a 4-byte signed little-endian integer,
 * built byte by byte (len & 0xff, len >> 8 & 0xff, ...) so the host's byte
 * order does not matter, then the output itself. A command that prints
 * nothing still gets a reply: a length of 0. */
static int send_reply(int fd, const struct output *out)
{
    return send_all(fd, out->bytes, out->len);   /* no length: the client cannot tell where it ends */
}

/* ---- given: running a command -------------------------------------------- */

static int append(struct output *o, const unsigned char *bytes, size_t len)
{
    if (o->len + len + 1 > o->cap) {     /* room doubles: no copy per read */
        size_t cap = o->cap ? o->cap : 65536;
        while (cap < o->len + len + 1)
            cap *= 2;
        unsigned char *grown = realloc(o->bytes, cap);
        if (grown == NULL)
            return -1;
        o->bytes = grown;
        o->cap = cap;
    }
    memcpy(o->bytes + o->len, bytes, len);
    o->len += len;
    return 0;
}

/* Runs the LEN bytes of COMMAND with /bin/sh; fills OUT with its stdout
 * then its stderr (read together, so a command that fills both pipes cannot
 * block). Returns 0, or -1 after printing an error. */
static int run_command(const char *command, size_t len, struct output *out)
{
    int out_pipe[2], err_pipe[2];
    char *text = strndup(command, len);
    struct output err = { 0 };

    out->bytes = NULL;
    out->len = 0;
    out->cap = 0;
    if (text == NULL || pipe(out_pipe) < 0 || pipe(err_pipe) < 0) {
        perror("server: run");
        free(text);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(out_pipe[0]);
        close(err_pipe[0]);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", text, (char *)NULL);
        _exit(127);
    }
    free(text);
    close(out_pipe[1]);
    close(err_pipe[1]);
    struct pollfd fds[2] = { { out_pipe[0], POLLIN, 0 }, { err_pipe[0], POLLIN, 0 } };
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            unsigned char buf[65536];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
            } else if (append(i == 0 ? out : &err, buf, (size_t)n) < 0) {
                fprintf(stderr, "server: out of memory\n");
            }
        }
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
    append(out, err.bytes ? err.bytes : (const unsigned char *)"", err.len);
    free(err.bytes);
    return 0;
}

/* ---- given: serving ---------------------------------------------------------- */

static void serve(int conn)
{
    char command[1024];
    for (;;) {
        ssize_t n = recv(conn, command, sizeof command, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)          /* 0: the client closed the connection */
            return;
        struct output out;
        if (run_command(command, (size_t)n, &out) < 0)
            return;
        int sent = send_reply(conn, &out);
        free(out.bytes);
        if (sent < 0) {      /* the client went away: serve the next one */
            perror("server: send");
            return;
        }
    }
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
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t addr_len = sizeof addr;
    int on = 1;

    signal(SIGPIPE, SIG_IGN);   /* a client that leaves must not kill us */
    addr.sin_port = htons((uint16_t)atoi(port_of(argc, argv, "8083")));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, 5) < 0 || getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0) {
        perror("server: listen");
        return 1;
    }
    fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0)
            continue;
        serve(conn);
        close(conn);
    }
}
