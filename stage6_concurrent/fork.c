/* stage6_concurrent/fork.c - a process per connection.
 *
 * iterative.c with one change: the accepted connection is handed to a new
 * process (fork), and the parent goes back to accept at once. Python's
 * socketserver.ForkingTCPServer does the same (ForkingMixIn), as UNP's
 * tcpserv02 does.
 *
 * What it costs: a process each (a copy of the page tables; memory is
 * shared until written), and the parent must reap every child that ends,
 * or each one stays a zombie: it waits for SIGCHLD (read from the
 * signalfd, common/conc) and calls waitpid until none is left. Bounded:
 * past --max-clients (socketserver's max_children is 40) the client is told
 * "busy". A crash in one child harms no other client.
 *
 * Stops gracefully on SIGTERM/SIGINT: no new clients; every child finishes
 * its request (up to --grace seconds), then exit 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conc.h"
#include "ftconn.h"
#include "serve.h"

static void serve_child(struct conc_server *srv, struct serve_conn *conn)
{
    struct ftconn c;

    /* The parent's ends: the listener, the signals, the stop pipe's
     * write end (so that the parent closing it reaches us). */
    close(srv->listener);
    close(srv->signal_fd);
    close(srv->stop_pipe[1]);
    ftconn_init(&c, &srv->conn, conn);
    ftconn_serve_blocking(&c, srv->stop_pipe[0], srv->grace_ms);
    serve_close(conn);
    exit(0);
}

int main(int argc, char **argv)
{
    struct conc_server srv;
    struct cli_outcome cli;
    char err[256];

    conc_init(&srv, "fork", 40);
    conc_parse(&srv, "Serves the stage 5 protocol with a process per connection.", argc, argv,
               &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (conc_start(&srv, 1, err, sizeof err) < 0) {
        fprintf(stderr, "fork: %s\n", err);
        return 1;
    }

    /* Accept one, give it a process, accept the next at once. */
    for (;;) {
        enum conc_event ev = conc_wait(&srv, -1);
        struct serve_conn conn;

        if (ev == CONC_STOP)
            break;
        if (ev == CONC_CHILD) {
            conc_reap_children(&srv);
            continue;
        }
        if (conc_accept(&srv, &conn) <= 0)
            continue;
        if (conc_full(&srv)) {
            conc_refuse(&srv, &conn);
            continue;
        }
        fflush(NULL);               /* nothing buffered is written twice */
        pid_t pid = fork();
        if (pid == 0)
            serve_child(&srv, &conn);
        if (pid < 0)
            serve_log(&conn, "cannot fork: %s", strerror(errno));
        else
            conc_client_started(&srv);
        close(conn.fd);             /* the child has its own */
    }
    /* Stopping: the children finish their requests; reap them as they do. */
    long long give_up = conc_stop_connections(&srv), now;
    conc_reap_children(&srv);
    while (srv.active > 0 && (now = ftconn_now_ms()) < give_up) {
        if (conc_wait(&srv, (int)(give_up - now)) == CONC_CHILD)
            conc_reap_children(&srv);
    }
    return conc_finish(&srv);
}
