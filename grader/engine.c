/* engine.c - plays a script against the program under test (see engine.h):
 * one run sets up the capture and the sockets, starts the program, plays
 * the mode (client_mode.c, server_mode.c), stops the program and frees
 * it all (play.h names the files that do each part).
 *
 * Client mode: the grader listens, starts the client with the commands on
 * its stdin, and plays the server: it waits for each request and sends the
 * replies cut as the script says, one piece at a time, each only once the
 * client has read the previous one. Then it compares what the client
 * printed with what the replies carried.
 *
 * Server mode: the grader starts the server, learns its port, and plays
 * the clients: it connects, sends requests, reads and checks the replies.
 *
 * Everything the grader sends and receives is recorded as capture events
 * (capture/capture.h) from its own side; the capture of a failing scenario
 * is kept for nianbao-view. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "play.h"

/* ARGV with every "{port}" and "{host}" replaced. */
static char **substitute(char **argv, const char *host, const char *port)
{
    int n = 0;
    while (argv[n])
        n++;
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        struct bytes b = { 0 };
        const char *p = argv[i];
        while (*p) {
            if (strncmp(p, "{port}", 6) == 0 && port) {
                bytes_add(&b, port, strlen(port));
                p += 6;
            } else if (strncmp(p, "{host}", 6) == 0 && host) {
                bytes_add(&b, host, strlen(host));
                p += 6;
            } else {
                bytes_add(&b, p++, 1);
            }
        }
        bytes_add(&b, "", 1);
        if (b.failed) {
            bytes_free(&b);
            for (int j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
        out[i] = (char *)b.p;
    }
    return out;
}

static int run_once(const struct grade_config *cfg, const struct scenario *sc,
                    const struct script *s, struct verdict *v, int *port_lost, char *err,
                    size_t errlen)
{
    struct run r;
    int status = -1, from_port = 0;

    memset(&r, 0, sizeof r);
    memset(v, 0, sizeof *v);
    watch_start(&r, cfg->scenario_s);
    r.cfg = cfg;
    r.sc = sc;
    r.s = s;
    r.ops = proto_ops(s->proto);
    r.v = v;
    r.listen_fd = -1;
    r.trace_fd = -1;
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        r.conns[i].fd = -1;
        r.conns[i].last_arrived = -1;
    }
    char peek_err[200];
    if (peek_open(&r.peek, peek_err, sizeof peek_err) < 0) {
        r.paced_by_time = 1;
        snprintf(v->note, sizeof v->note, "%.120s: pieces were paced %d ms apart instead, so a slow "
                 "program may have read several at once", peek_err, PACE_MS);
    }
    if (trace_start(&r, err, errlen) < 0)
        goto out;

    if (cfg->mode == MODE_CLIENT) {
        if (client_mode_listen(&r, err, errlen) < 0)
            goto out;
    } else {
        snprintf(r.host, sizeof r.host, "127.0.0.1");
        from_port = argv_has_port(cfg->argv);
        if (from_port && free_port(r.port, sizeof r.port, err, errlen) < 0)
            goto out;
    }
    r.argv = substitute(cfg->argv, r.host, from_port || cfg->mode == MODE_CLIENT ? r.port : NULL);
    if (r.argv == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char start_err[300];
    const struct bytes *input = cfg->mode == MODE_CLIENT ? &s->input : NULL;
    size_t out_limit = cfg->mode == MODE_CLIENT ? s->want_out.len + 65536 : 1u << 20;
    if (child_start(&r.child, r.argv, input ? (input->p ? (const void *)input->p : "") : NULL,
                    input ? input->len : 0, out_limit, r.host,
                    cfg->mode == MODE_CLIENT || from_port ? r.port : NULL, start_err,
                    sizeof start_err) < 0) {
        /* A program that cannot start fails every scenario, not the grader. */
        char line[2048];
        command_line(cfg->argv, line, sizeof line);
        step(&r, "the grader could not start %s: %s", line, start_err);
        v->pass = 0;
        status = 0;
        goto out;
    }
    r.child_started = 1;
    if (cfg->mode == MODE_CLIENT)
        play_client_mode(&r);
    else
        play_server_mode(&r, from_port);
    status = 0;

out:
    if (r.child_started) {
        finish_program(&r, 0);
        child_free(&r.child);
    }
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++) {
        if (r.conns[i].fd >= 0)
            close(r.conns[i].fd);
        bytes_free(&r.conns[i].in);
    }
    if (r.listen_fd >= 0)
        close(r.listen_fd);
    if (status == 0)
        trace_finish(&r);
    else if (r.trace_fd >= 0) {
        close(r.trace_fd);
        r.trace_fd = -1;
        v->pass = 0;
        trace_finish(&r);
    }
    peek_close(&r.peek);
    if (r.argv) {
        for (int i = 0; r.argv[i]; i++)
            free(r.argv[i]);
        free(r.argv);
    }
    free(r.pieces);
    v->ms = now_ms() - r.started_ms;
    *port_lost = r.port_lost;
    return status;
}

/* A port picked for {port} can still be taken by another process before
 * the server binds it (another grader's server, a test's): the server then
 * fails to bind, or another process answers there. That is the machine's
 * doing, not the program's: the scenario runs again on another port. */
#define PORT_TRIES 4
int engine_run(const struct grade_config *cfg, const struct scenario *sc,
               const struct script *s, struct verdict *v, char *err, size_t errlen)
{
    int port_lost = 0, status = -1;
    for (int tries = 0; tries < PORT_TRIES; tries++) {
        status = run_once(cfg, sc, s, v, &port_lost, err, errlen);
        if (status < 0 || !port_lost)
            return status;
    }
    snprintf(err, errlen, "%d ports picked for {port} were each taken by another process before "
             "the server bound it", PORT_TRIES);
    return -1;
}
