/* stage6_concurrent/iterative.c - one client at a time: the problem.
 *
 * The document's servers, and stages 1 to 5, serve like this: accept one
 * client, talk to it until it leaves, accept the next. The next client's
 * connection is completed by the kernel and waits in the accept queue; its
 * request waits in its socket; nobody answers it. One client that connects
 * and says nothing holds everyone (until --idle closes it).
 *
 * Kept to show the problem: fork.c, thread.c and poll.c are this file with
 * another accept loop. The handler (common/ftconn), the options, the stop
 * signal (common/conc) are the same in all four.
 *
 * Stops gracefully on SIGTERM/SIGINT: the request under way finishes (up
 * to --grace seconds), then exit 0.
 */
#include <stdio.h>

#include "conc.h"
#include "ftconn.h"
#include "serve.h"

int main(int argc, char **argv)
{
    struct conc_server srv;
    struct cli_outcome cli;
    char err[256];

    conc_init(&srv, "iterative", 0);
    conc_parse(&srv, "Serves the stage 5 protocol to one client at a time.", argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (conc_start(&srv, 0, err, sizeof err) < 0) {
        fprintf(stderr, "iterative: %s\n", err);
        return 1;
    }

    /* Accept one, serve it to its end, accept the next. */
    while (conc_wait(&srv, -1) != CONC_STOP) {
        struct serve_conn conn;
        struct ftconn c;

        if (conc_accept(&srv, &conn) <= 0)
            continue;
        conc_client_started(&srv);
        ftconn_init(&c, &srv.conn, &conn);
        /* A stop signal arriving meanwhile makes the signalfd readable:
         * the handler finishes the request under way and returns. */
        ftconn_serve_blocking(&c, srv.signal_fd, srv.grace_ms);
        serve_close(&conn);
        conc_client_ended(&srv);
    }
    return conc_finish(&srv);
}
