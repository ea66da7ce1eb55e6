/* bench/raw_server.c - the baseline of `make bench`: the same job as the
 * stage servers (run the command a client sends, send back its output)
 * with nothing around it. For each connection: one recv(1024) is the
 * command; /bin/sh -c runs it with stdout into a pipe; the pipe is spliced
 * into the socket (the bytes never enter this process); then the
 * connection is closed, which is the only end marker. No framing, no
 * copy, no storage: what any framed server is measured against.
 *
 * Not a lab program: no timeout, no limit, stderr of the command goes to
 * /dev/null. Serves one connection at a time, forever. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"

#define COMMAND_MAX 1024
#define SPLICE_CHUNK (1 << 20)

struct raw_config {
    const char *host;
    const char *port;
};

static int serve(int conn);

int main(int argc, char **argv)
{
    struct raw_config cfg = { "127.0.0.1", "0" };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_PORT_OPTION(&cfg.port, "0"),
    };
    const struct cli_program prog = {
        "raw_server", "Runs each connection's command and splices its stdout into the socket, unframed.",
        "the baseline of make bench, not a lab stage", options,
        sizeof options / sizeof options[0], "One command per connection; the close marks the end."
    };
    struct cli_outcome cli;
    char err[256], addr[NET_ADDRSTRLEN] = "?";

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = net_listen(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (listener < 0) {
        fprintf(stderr, "raw_server: %s\n", err);
        return 1;
    }
    net_local_name(listener, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "raw_server: accept: %s\n", strerror(errno));
            continue;
        }
        if (serve(conn) < 0)
            fprintf(stderr, "raw_server: %s\n", strerror(errno));
        close(conn);
    }
}

/* One command: returns 0, or -1 (errno set). */
static int serve(int conn)
{
    char command[COMMAND_MAX + 1];
    int out[2];
    ssize_t len;

    do
        len = recv(conn, command, COMMAND_MAX, 0);
    while (len < 0 && errno == EINTR);
    if (len <= 0)
        return len < 0 ? -1 : 0;
    command[len] = '\0';
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    fcntl(out[0], F_SETPIPE_SZ, SPLICE_CHUNK);   /* fewer, larger splices; fine if refused */
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);
        signal(SIGPIPE, SIG_DFL);
        dup2(null_fd, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    int rc = 0;
    for (;;) {
        ssize_t moved = splice(out[0], NULL, conn, NULL, SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (moved < 0 && errno == EINTR)
            continue;
        if (moved < 0) {
            rc = -1;
            break;
        }
        if (moved == 0)
            break;
    }
    int saved = errno;
    close(out[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    errno = saved;
    return rc;
}
