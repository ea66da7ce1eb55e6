/* stage1_naive/client.c - version 1.1 of the document: the naive client.
 *
 * Reproduces: send the command line, then ONE recv(1024), printed as if it
 *   were the whole reply.
 * Fixes (over the document's code): the socket is closed after the loop
 *   (the document closes it inside the loop, after the first command), end
 *   of input ends the program, output is written as bytes, not decoded.
 * Still wrong, on purpose: a reply longer than 1024 bytes stays in the
 *   socket and comes back as the "reply" to the next command; a command
 *   with no output leaves recv waiting forever.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "wire.h"

#define DEFAULT_PORT "8080"
#define COMMAND_MAX 1024            /* what the server takes with one recv */

struct client_config {
    const char *host;
    const char *port;
};

static int receive_reply(int fd, const struct client_config *cfg);

int main(int argc, char **argv)
{
    struct client_config cfg = { "127.0.0.1", DEFAULT_PORT };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
    };
    const struct cli_program prog = {
        "client", "Sends each line of standard input as a command and prints ONE recv(1024) as its reply.",
        "stage 1, reproduces v1.1 of the document", options, sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;
    char err[256], *line = NULL;
    size_t line_cap = 0;
    int status = 0;

    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    int fd = net_connect(cfg.host, cfg.port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "client: %s\n", err);
        return 1;
    }
    int interactive = isatty(STDIN_FILENO);
    /* The prompt is for whoever types; a redirected stdout holds replies only. */
    FILE *prompt_to = isatty(STDOUT_FILENO) ? stdout : stderr;
    for (;;) {
        if (interactive) {
            fputs("enter msg :>>>", prompt_to);
            fflush(prompt_to);
        }
        long command_len = read_command(stdin, &line, &line_cap);
        if (command_len < 0)
            break;
        if (command_len == 0)
            continue;           /* the document skips empty input */
        if (command_len > COMMAND_MAX) {
            fprintf(stderr, "client: command is %ld bytes; the server reads one recv(%d), so it "
                    "would be cut (requests are unframed until stage 5)\n", command_len, COMMAND_MAX);
            status = 1;
            continue;
        }
        if (send_all(fd, line, (size_t)command_len) < 0) {
            fprintf(stderr, "client: send: %s\n", strerror(errno));
            status = 1;
            break;
        }
        if (receive_reply(fd, &cfg) < 0) {
            status = 1;
            break;
        }
    }
    free(line);
    close(fd);
    return status;
}

/* v1.1: ONE recv(1024), taken to be the whole reply. What did not fit stays
 * in the socket and is read as the reply to the NEXT command. */
static int receive_reply(int fd, const struct client_config *cfg)
{
    unsigned char reply[1024];

    (void)cfg;
    ssize_t got = recv(fd, reply, sizeof reply, 0);
    if (got < 0) {
        fprintf(stderr, "client: recv: %s\n", strerror(errno));
        return -1;
    }
    if (got == 0) {
        fprintf(stderr, "client: connection closed by the server\n");
        return -1;
    }
    fwrite(reply, 1, (size_t)got, stdout);
    putchar('\n');              /* as the document's print() */
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "client: writing the reply: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}
