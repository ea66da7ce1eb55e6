/* stage6_concurrent/thread.c - a thread per connection.
 *
 * iterative.c with one change: the accepted connection is handed to a new
 * thread, and the main thread goes back to accept at once. Python's
 * socketserver.ThreadingTCPServer does the same (ThreadingMixIn).
 *
 * What it costs: a thread each (a stack: 256 KiB here, set below, 8 MiB by
 * default), and a scheduler that has to run them all. Bounded: past
 * --max-clients the client is told "busy". The threads are detached: a
 * finished one leaves nothing behind (socketserver's ThreadingMixIn once
 * kept every finished thread in a list until the server closed,
 * cpython#81374: a leak one connection at a time).
 *
 * Stops gracefully on SIGTERM/SIGINT: no new clients; the requests under
 * way finish (up to --grace seconds), then exit 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conc.h"
#include "digest.h"
#include "ftconn.h"
#include "serve.h"

#define THREAD_STACK (256 * 1024)

struct client {
    struct conc_server *srv;
    struct serve_conn conn;
};

static void *serve_client(void *arg)
{
    struct client *cl = arg;
    struct ftconn c;

    ftconn_init(&c, &cl->srv->conn, &cl->conn);
    /* Every thread polls the stop pipe: closing its write end stops all. */
    ftconn_serve_blocking(&c, cl->srv->stop_pipe[0], cl->srv->grace_ms);
    serve_close(&cl->conn);
    /* Free libcrypto's state for this thread now, not in the thread's exit
     * after main may already have heard "ended" and exited (a leak report). */
    digest_thread_end();
    conc_client_ended(cl->srv);
    free(cl);
    return NULL;
}

int main(int argc, char **argv)
{
    struct conc_server srv;
    struct cli_outcome cli;
    pthread_attr_t attr;
    char err[256];

    conc_init(&srv, "thread", 200);
    conc_parse(&srv, "Serves the stage 5 protocol with a thread per connection.", argc, argv,
               &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (conc_start(&srv, 0, err, sizeof err) < 0) {
        fprintf(stderr, "thread: %s\n", err);
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK);

    /* Accept one, give it a thread, accept the next at once. */
    while (conc_wait(&srv, -1) != CONC_STOP) {
        struct serve_conn conn;

        if (conc_accept(&srv, &conn) <= 0)
            continue;
        if (conc_full(&srv)) {
            conc_refuse(&srv, &conn);
            continue;
        }
        struct client *cl = malloc(sizeof *cl);
        if (!cl) {
            serve_log(&conn, "out of memory");
            serve_close(&conn);
            continue;
        }
        cl->srv = &srv;
        cl->conn = conn;
        conc_client_started(&srv);
        pthread_t thread;
        int rc = pthread_create(&thread, &attr, serve_client, cl);
        if (rc != 0) {
            serve_log(&conn, "cannot start a thread: %s", strerror(rc));
            free(cl);
            serve_close(&conn);
            conc_client_ended(&srv);
        }
    }
    /* Stopping: the threads finish their requests; wait for them. */
    conc_wait_ended(&srv, conc_stop_connections(&srv));
    return conc_finish(&srv);
}
