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
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "net.h"
#include "session.h"
#include "wire.h"

#define DEFAULT_PORT STAGE1_PORT
#define COMMAND_MAX 1024            /* what the server takes with one recv */

struct client_config {
    struct session_config session;  /* connect, prompt, send, wait */
};

static session_reply_reader receive_reply;

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = DEFAULT_PORT,
                     .command_max = COMMAND_MAX, .diag = stderr,
                     .busy_hint = ", or the command printed nothing (one recv cannot tell)" },
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.session.host),
        CLI_SERVER_PORT_OPTION(&cfg.session.port, DEFAULT_PORT),
        { "wait", 'w', CLI_DURATION, &cfg.session.wait_ms, "SECS",
          "give up when no reply has started after SECS (default 0: wait as long as it takes)",
          0, DURATION_S(86400) },
    };
    const struct cli_program prog = {
        "client", "Sends each line of standard input as a command and prints ONE recv(1024) as its reply.",
        "stage 1, reproduces v1.1 of the document", options, sizeof options / sizeof options[0], NULL
    };
    struct cli_outcome cli;

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "client: cannot open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    cli_parse(&prog, argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    return session_run(&cfg.session, receive_reply, &cfg);
}

/* v1.1: ONE recv(1024), taken to be the whole reply. What did not fit stays
 * in the socket and is read as the reply to the NEXT command. */
static int receive_reply(int fd, void *ctx, int *last_byte)
{
    unsigned char reply[1024];

    (void)ctx;
    ssize_t got = recv(fd, reply, sizeof reply, 0);
    if (got < 0) {
        fprintf(stderr, "client: recv: %s\n", strerror(errno));
        return -1;
    }
    if (got == 0) {
        fprintf(stderr, "client: the server closed the connection\n");
        return -1;
    }
    fwrite(reply, 1, (size_t)got, stdout);
    putchar('\n');              /* as the document's print() */
    *last_byte = '\n';
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "client: writing the reply: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}
