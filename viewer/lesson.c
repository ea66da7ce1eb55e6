/* lesson.c - the guided tour behind `make demo` (see lesson.h).
 *
 * One section per stage (and the framed stages once more through
 * tools/slicer). A section starts the stage's server on port 0, reads the
 * port from its "listening on" line, starts the client with the tap in its
 * environment and its stdin a pipe, and then types one command per step.
 *
 * When is a step over? Not after a fixed sleep: the client is done when it
 * has read the whole command from our pipe and is blocked reading the next
 * one (read(0) in /proc/PID/syscall), and the server is done when it is
 * blocked in recv again. Both can be seen directly, so a slow machine only
 * makes the lesson slower, never wrong. */
#define _GNU_SOURCE
#include "lesson_parts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "svg.h"

/* ---- the decoder's view of a step ---------------------------------------- */

static void fact_set(struct step_report *rep, enum fact f, unsigned long long value)
{
    rep->facts[f] = value;
    rep->have[f] = 1;
}

/* The status line's counts for the step, worded as the viewer's are (the
 * same msgids): " sends 1  recvs 1  pending 7869 ", " ... EOF ..." when the
 * receiver saw the end of the stream (a recv that returned 0 is not a
 * recv with data, so it is not counted). */
static void status_counts(struct step_report *rep, unsigned sends, unsigned recvs, int eof,
                          uint64_t pending)
{
    int used = snprintf(rep->status, sizeof rep->status, _(" sends %u  recvs %u "), sends, recvs);
    if (eof && used > 0 && (size_t)used < sizeof rep->status)
        used += snprintf(rep->status + used, sizeof rep->status - (size_t)used, "%s", _(" EOF "));
    if (used > 0 && (size_t)used < sizeof rep->status)
        snprintf(rep->status + used, sizeof rep->status - (size_t)used, _(" pending %llu "),
                 (unsigned long long)pending);
}

static void run_feed_decoder(struct stage_run *run)
{
    char err[256];
    struct cap_event ev;
    const unsigned char *data;

    if (!run->dec_ready)
        return;
    if (!run->reader_open) {
        if (capture_open(&run->reader, run->capture, err, sizeof err) < 0)
            return;   /* the tap has not written anything yet */
        run->reader_open = 1;
    }
    while (capture_next(&run->reader, &ev, &data, err, sizeof err) == 1)
        decoder_feed(&run->dec, &ev, data);
}

/* Reads the step's numbers off the decoder: the reply this step's command
 * got (the last request's), the client's recvs since RECVS_BEFORE. The wire
 * lines, the status line and the narration all say these same numbers. */
/* The step's numbers when the slicer cuts the requests (stage 5): this
 * request on the slicer-to-server connection, the pieces the slicer sent
 * and the recvs the server needed; its header; and the output frames of
 * the reply. */
static void step_summarize_up(const struct stage_run *run, struct step_report *rep)
{
    const struct connection *conn = run_server_conn(run);
    if (!conn)
        return;
    const struct stream *up = &conn->up, *down = &conn->down;
    unsigned sends = up->send_calls - rep->up_sends_before;
    unsigned recvs = up->recv_calls - rep->up_recvs_before;
    uint64_t bytes = up->sent - rep->up_sent_before;
    fact_set(rep, FACT_UP_SENDS, sends);
    fact_set(rep, FACT_UP_RECVS, recvs);
    fact_set(rep, FACT_UP_BYTES, bytes);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("request #%u: %llu bytes, the slicer's sends: %u; the server's recvs: %u; "
               "pending: %llu bytes"),
             run->request, (unsigned long long)bytes, sends, recvs,
             (unsigned long long)stream_pending(up));
    status_counts(rep, sends, recvs, up->eof, stream_pending(up));
    int header_seen = 0;
    for (size_t i = 0; i < up->n_frames && rep->wire_lines < 3; i++) {
        const struct decode_frame *f = &up->frames[i];
        if (f->start < rep->up_sent_before)
            continue;
        if (f->part == FRAME_HEADER_LEN && !header_seen) {
            fact_set(rep, FACT_HEADER_LEN, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("header length: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_JSON && !header_seen) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("JSON header: %s"), f->note);
            header_seen = 1;
        } else if (f->part == FRAME_BAD) {
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("bad frame: %s"), f->note);
        }
    }
    /* the reply: output frames (as many as the command's pipe gave
     * pieces: not a number the narration may name), then exit */
    unsigned long long output = 0;
    unsigned frames = 0;
    for (size_t i = 0; i < down->n_frames; i++) {
        const struct decode_frame *f = &down->frames[i];
        if (f->start >= rep->down_sent_before && f->part == FRAME_HEADER_JSON &&
            strcmp(f->header.op, "output") == 0) {
            output += (unsigned long long)f->value;
            frames++;
        }
    }
    fact_set(rep, FACT_OUTPUT_BYTES, output);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("reply: %llu bytes of output (output frames: %u), then the exit frame"), output,
             frames);
    rep->aim = rep->up_sent_before;
    rep->aim_set = 1;
}

static void step_summarize(const struct stage_run *run, uint32_t recvs_before,
                           struct step_report *rep)
{
    const struct connection *conn = run_client_conn(run);
    rep->wire_lines = 0;
    fact_set(rep, FACT_PIECE_MIN, PIECE_MIN);
    fact_set(rep, FACT_PIECE_MAX, PIECE_MAX);
    if (run->section->via_slicer == SLICE_UP) {
        step_summarize_up(run, rep);
        return;
    }
    if (!conn)
        return;
    const struct stream *down = &conn->down;
    uint32_t reply = run->request;
    uint64_t reply_bytes = 0, recv_bytes = 0;
    unsigned sends = 0, recvs = 0;
    const struct decode_span *first = NULL;

    for (size_t i = 0; i < down->n_sends; i++)
        if (down->sends[i].message == reply) {
            sends++;
            reply_bytes += down->sends[i].end - down->sends[i].start;
        }
    for (size_t i = 0; i < down->n_recvs; i++)
        if (down->recvs[i].number > recvs_before) {
            if (!first)
                first = &down->recvs[i];
            recvs++;
            recv_bytes += (uint64_t)down->recvs[i].call_size;
        }
    fact_set(rep, FACT_REPLY_BYTES, reply_bytes);
    fact_set(rep, FACT_REPLY_SENDS, sends);
    fact_set(rep, FACT_RECVS, recvs);
    fact_set(rep, FACT_RECV_BYTES, recv_bytes);
    fact_set(rep, FACT_PENDING, stream_pending(down));
    if (first)
        fact_set(rep, FACT_FIRST_RECV, (unsigned long long)first->call_size);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("reply #%u: %llu bytes, sends: %u; the client's recvs: %u, %llu bytes; "
               "pending: %llu bytes"),
             reply, (unsigned long long)reply_bytes, sends, recvs,
             (unsigned long long)recv_bytes, (unsigned long long)stream_pending(down));
    status_counts(rep, sends, recvs, down->eof, stream_pending(down));
    for (size_t i = 0; i < down->n_frames && rep->wire_lines < 3; i++) {
        const struct decode_frame *f = &down->frames[i];
        if (f->message != reply)
            continue;
        if (f->part == FRAME_LEN_FIELD) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("length field: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_LEN) {
            fact_set(rep, FACT_HEADER_LEN, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("header length: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_JSON) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("JSON header: %s"), f->note);
        } else if (f->part == FRAME_BAD) {
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("bad frame: %s"), f->note);
        }
    }
    const struct decode_stale *last = NULL;
    for (size_t i = 0; i < run->dec.n_stales; i++) {
        const struct decode_stale *st = &run->dec.stales[i];
        if (st->conn_id == conn->id && st->recv_no > recvs_before)
            last = st;
    }
    if (last) {
        fact_set(rep, FACT_STALE_RECV, last->recv_no);
        fact_set(rep, FACT_STALE_REPLY, last->reply_no);
        ui_stale_text(last, rep->stale, sizeof rep->stale);
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0], "%s", rep->stale);
    }
    /* Where the stream panel opens: the STALE recv; else, while bytes
     * wait, where the client's last recv stopped (the cut, with the
     * pending bytes after it); else the step's first recv. */
    for (size_t i = 0; i < down->n_recvs; i++)
        if (last && down->recvs[i].number == last->recv_no) {
            rep->aim = down->recvs[i].start;
            rep->aim_set = 1;
        }
    if (!rep->aim_set && stream_pending(down) > 0) {
        rep->aim = down->received;
        rep->aim_set = 1;
    } else if (!rep->aim_set && first) {
        rep->aim = first->start;
        rep->aim_set = 1;
    }
}

/* ---- one section ---------------------------------------------------------- */

static int section_start(struct stage_run *run, char *err, size_t errlen)
{
    const struct lesson_section *sec = run->section;
    char server_path[PATH_MAX], client_path[PATH_MAX], slicer_path[PATH_MAX];
    char to[64], seed[24];

    snprintf(server_path, sizeof server_path, "%s/%s/server", run->cfg->root, run->dir);
    snprintf(client_path, sizeof client_path, "%s/%s/client", run->cfg->root, run->dir);
    snprintf(slicer_path, sizeof slicer_path, "%s/tools/slicer", run->cfg->root);

    /* --idle 0: a teacher may talk for minutes between two steps. Stage 5
     * and later serve the source tree (--root), as the commands run there. */
    int ft = strcmp(run->framing, "ft") == 0;
    char *server_argv[] = { server_path, "--port", "0", "--idle", "0",
                            ft ? "--root" : NULL, (char *)run->cfg->root, NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0)
        return -1;
    if (child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        return -1;
    snprintf(run->client_port, sizeof run->client_port, "%s", run->server_port);
    if (sec->via_slicer) {
        snprintf(to, sizeof to, "127.0.0.1:%s", run->server_port);
        snprintf(seed, sizeof seed, "%u", run->cfg->slicer_seed);
        char min[16], max[16];
        snprintf(min, sizeof min, "%d", PIECE_MIN);
        snprintf(max, sizeof max, "%d", PIECE_MAX);
        /* --pace: each piece is read on its own, so the counts the lesson
         * names are the same on every run with the same seed */
        char *slicer_argv[] = { slicer_path, "--listen", "0", "--to", to, "--min", min,
                                "--max", max, "--seed", seed, "--pace", "--direction",
                                sec->via_slicer == SLICE_UP ? "up" : "down", NULL };
        if (child_start(&run->slicer, run, slicer_argv, 0, err, errlen) < 0)
            return -1;
        if (child_wait_listening(run, &run->slicer, run->client_port, sizeof run->client_port,
                                 err, errlen) < 0)
            return -1;
    }
    char *client_argv[] = { client_path, "--port", run->client_port, NULL };
    if (child_start(&run->client, run, client_argv, 1, err, errlen) < 0)
        return -1;
    run->client_pid = run->client.pid;
    return 0;
}

/* 1 when the capture holds every send whose bytes the client has received.
 * A relay in between (the slicer) logs its send after the client may already
 * have the bytes: a step read too early would miss that send. */
static int capture_caught_up(struct stage_run *run)
{
    run_feed_decoder(run);
    const struct connection *conn = run_client_conn(run);
    const struct connection *sconn = run->section->via_slicer == SLICE_UP
                                     ? run_server_conn(run) : NULL;
    /* SLICE_UP: the same for the pieces the server has read */
    if (sconn && sconn->up.sender_tapped && sconn->up.sent < sconn->up.received)
        return 0;
    return !conn || !conn->down.sender_tapped || conn->down.sent >= conn->down.received;
}

/* Types STEP's command and waits until client and server are both idle. */
static int step_run(struct stage_run *run, const struct lesson_step *step,
                    struct step_report *rep)
{
    struct child *client = &run->client;
    char line[256];
    long deadline = now_ms() + STEP_DEADLINE_MS, client_idle_since = 0, quiet_since = 0;
    uint32_t recvs_before = 0;
    const struct connection *conn;

    run_feed_decoder(run);
    conn = run_client_conn(run);
    if (conn)
        recvs_before = conn->down.recv_calls;
    rep->recvs_before = recvs_before;
    const struct connection *sconn = run_server_conn(run);
    if (sconn) {
        rep->up_sends_before = sconn->up.send_calls;
        rep->up_recvs_before = sconn->up.recv_calls;
        rep->up_sent_before = sconn->up.sent;
        rep->down_sent_before = sconn->down.sent;
    }
    int polls = strcmp(run->framing, "ft") == 0;
    text_clear(&client->out);
    text_clear(&client->err);
    int len = snprintf(line, sizeof line, "%s\n", step->command);
    if (client->in_fd < 0 || write(client->in_fd, line, (size_t)len) != len) {
        rep->client_gone = 1;
        goto end;
    }
    run->request++;
    quiet_since = now_ms();
    for (;;) {
        int got = run_collect(run, 10);
        long now = now_ms();
        if (got > 0)
            quiet_since = now;
        if (!child_alive(client) && client->out_fd < 0) {
            rep->client_gone = 1;
            break;
        }
        if (now > deadline) {
            rep->timed_out = 1;
            break;
        }
        if (pipe_unread(client->in_fd) > 0)
            continue;    /* the client has not even read the command yet */
        int waiting = client_waiting(client->pid);
        if (waiting < 0) {
            /* No /proc/PID/syscall here: fall back to a quiet spell. */
            if (quiet_since && now - quiet_since > 500)
                break;
            continue;
        }
        if (!waiting) {
            client_idle_since = 0;
            continue;
        }
        if (!client_idle_since)
            client_idle_since = now;
        /* A stage 1 server can stay blocked in send() when the client never
         * reads its reply; then the client being idle is enough. */
        if ((server_waiting_in(run->server.pid, polls) == 1 ||
             now - client_idle_since > SERVER_GRACE_MS) &&
            capture_caught_up(run))
            break;
    }
    while (run_collect(run, 0) > 0)
        ;
end:
    rep->step = step;
    rep->out = client->out.data ? client->out.data : "";
    rep->out_len = client->out.len;
    rep->out_dropped = client->out.dropped;
    rep->err = client->err.data ? client->err.data : "";
    rep->err_len = client->err.len;
    run_feed_decoder(run);
    step_summarize(run, recvs_before, rep);
    return rep->timed_out || rep->client_gone ? -1 : 0;
}

/* --from-capture: step STEP as an earlier run of the lesson recorded it.
 * The lesson typed a command only when the one before was done, so a step
 * is the client's command send and every event up to its next one; the
 * client's output is what the stage 1 client prints: each recv's bytes
 * and a newline. Returns -1 with ERR filled when the capture ends first
 * or is corrupt. */
static int replay_step_run(struct stage_run *run, const struct lesson_step *step,
                           struct step_report *rep, char *err, size_t errlen)
{
    struct child *client = &run->client;
    struct cap_event ev;
    const unsigned char *data;
    int commands = 0, status = -1;
    char why[256];

    const struct connection *conn = run_client_conn(run);
    rep->recvs_before = conn ? conn->down.recv_calls : 0;
    text_clear(&client->out);
    text_clear(&client->err);
    run->request++;
    for (;;) {
        if (run->held_set) {
            ev = run->held;
            data = run->held_data;
            run->held_set = 0;
        } else {
            int got = capture_next(&run->reader, &ev, &data, why, sizeof why);
            if (got < 0) {
                snprintf(err, errlen, "%s", why);
                goto end;
            }
            if (got == 0)
                break;
        }
        if (ev.kind == CAP_CONNECT && ev.role == ROLE_CLIENT && !run->client_pid)
            run->client_pid = (pid_t)ev.pid;
        int mine = run->client_pid && ev.pid == (uint32_t)run->client_pid &&
                   ev.role == ROLE_CLIENT;
        if (mine && ev.kind == CAP_SEND && ev.result > 0 && commands++ > 0) {
            /* the next step's command: keep it for that step */
            unsigned char *copy = malloc(ev.data_len ? ev.data_len : 1);
            if (!copy) {
                snprintf(err, errlen, _("out of memory"));
                goto end;
            }
            memcpy(copy, data, ev.data_len);
            free(run->held_data);
            run->held = ev;
            run->held_data = copy;
            run->held_set = 1;
            break;
        }
        if (mine && ev.kind == CAP_SEND && ev.result > 0) {
            /* a capture of other commands would tell another story */
            size_t len = strlen(step->command);
            if (ev.data_len != len || memcmp(data, step->command, len) != 0) {
                snprintf(err, errlen, _("%s: step %zu's command is not `%s`"), run->capture,
                         rep->index + 1, step->command);
                goto end;
            }
        }
        if (mine && ev.kind == CAP_RECV && ev.result > 0) {
            text_add(&client->out, (const char *)data, ev.data_len);
            text_add(&client->out, "\n", 1);
        }
        decoder_feed(&run->dec, &ev, data);
    }
    if (commands == 0) {
        snprintf(err, errlen, _("%s ends before the step that types `%s`"), run->capture,
                 step->command);
        goto end;
    }
    status = 0;
end:
    rep->step = step;
    rep->out = client->out.data ? client->out.data : "";
    rep->out_len = client->out.len;
    rep->out_dropped = client->out.dropped;
    rep->err = "";
    rep->err_len = 0;
    step_summarize(run, rep->recvs_before, rep);
    return status;
}

/* A stage 2 step: the step's server and one run of its client with
 * --demo NAME; both print one line per socket call, and both are shown. */
static int demo_step_run(struct stage_run *run, const struct lesson_step *step,
                         struct step_report *rep, char *err, size_t errlen)
{
    char server_path[PATH_MAX], client_path[PATH_MAX];
    const char *dir = run->dir;
    int status = -1;

    snprintf(server_path, sizeof server_path, "%s/%s/%s", run->cfg->root, dir, step->server);
    snprintf(client_path, sizeof client_path, "%s/%s/%s", run->cfg->root, dir, step->client);
    text_clear(&run->demo_out);
    rep->step = step;
    char *server_argv[] = { server_path, "--port", "0", NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0 ||
        child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        goto end;
    char *client_argv[] = { client_path, "--port", run->server_port, "--demo",
                            (char *)step->command, NULL };
    if (child_start(&run->client, run, client_argv, 0, err, errlen) < 0)
        goto end;
    run->client_pid = run->client.pid;
    long deadline = now_ms() + STEP_DEADLINE_MS;
    while (child_alive(&run->client) || run->client.out_fd >= 0 || run->client.err_fd >= 0) {
        if (now_ms() > deadline) {
            rep->timed_out = 1;
            break;
        }
        run_collect(run, 10);
    }
    /* The server prints a call after making it: let it finish its lines. */
    long grace = now_ms() + SERVER_GRACE_MS;
    while (server_waiting(run->server.pid) != 1 && now_ms() < grace)
        run_collect(run, 10);
    while (run_collect(run, 0) > 0)
        ;
    if (run->client.out.len)
        text_add(&run->demo_out, run->client.out.data, run->client.out.len);
    if (run->client.err.len)
        text_add(&run->demo_out, run->client.err.data, run->client.err.len);
    const char *said = _("-- the server printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->server.out.len)
        text_add(&run->demo_out, run->server.out.data, run->server.out.len);
    status = rep->timed_out ? -1 : 0;
    if (rep->timed_out)
        snprintf(err, errlen, _("%s --demo %s did not finish"), step->client, step->command);
end:
    rep->out = run->demo_out.data ? run->demo_out.data : "";
    rep->out_len = run->demo_out.len;
    child_stop(&run->client);
    child_stop(&run->server);
    run_feed_decoder(run);
    rep->wire_lines = 0;
    const struct connection *conn = run_client_conn(run);
    if (conn) {
        /* "recvs" are the calls that returned data, as everywhere; the
         * end of the stream (a recv that returned 0) is said apart */
        const struct stream *up = &conn->up;
        fact_set(rep, FACT_UP_SENDS, up->send_calls);
        fact_set(rep, FACT_UP_RECVS, up->recv_calls);
        fact_set(rep, FACT_UP_BYTES, up->sent);
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 up->eof ? _("client to server: %llu bytes, sends: %u; the server's recvs: %u, "
                             "then the end of the stream")
                         : _("client to server: %llu bytes, sends: %u; the server's recvs: %u"),
                 (unsigned long long)up->sent, up->send_calls, up->recv_calls);
        status_counts(rep, up->send_calls, up->recv_calls, up->eof, stream_pending(up));
    }
    return status;
}

static unsigned long long ns_to_ms(uint64_t later, uint64_t earlier)
{
    return later > earlier ? (later - earlier) / 1000000u : 0;
}

/* Reads a stage 6 step off the capture. Client 2's request is C2's up
 * stream; C1 was cut (or left) when the server closed it. Times are of one
 * process each where they are compared (the server's own events, or
 * client 2's), so the order they say is the order things happened. */
static void conc_summarize(const struct stage_run *run, struct step_report *rep)
{
    const struct connection *c1 = conn_of_client(run, run->client_pid);
    const struct connection *c2 = conn_of_client(run, run->client2_pid);
    rep->wire_lines = 0;
    if (!c1 || !c2 || c2->up.n_sends == 0)
        return;
    const struct stream *up = &c2->up;
    uint64_t asked = up->sends[0].time_ns;
    uint64_t answered = c2->down.n_recvs > 0 ? c2->down.recvs[0].time_ns : 0;
    uint64_t cut = c1->server_closed_ns;
    /* what the server had read of client 2 while client 1 was connected */
    unsigned recvs_then = 0;
    uint64_t read_then = 0, first_read = 0;
    for (size_t i = 0; i < up->n_recvs; i++) {
        if (!first_read)
            first_read = up->recvs[i].time_ns;
        if (cut == 0 || up->recvs[i].time_ns < cut) {
            recvs_then++;
            read_then = up->recvs[i].end;
        }
    }
    uint64_t pending = up->sent - read_then;
    fact_set(rep, FACT_UP_BYTES, up->sent);
    fact_set(rep, FACT_UP_SENDS, up->send_calls);
    fact_set(rep, FACT_UP_RECVS, recvs_then);
    fact_set(rep, FACT_PENDING, pending);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("client 2's request: %llu bytes, sends: %u; the server's recvs of it while client "
               "1 was connected: %u; pending: %llu bytes"),
             (unsigned long long)up->sent, up->send_calls, recvs_then,
             (unsigned long long)pending);
    status_counts(rep, up->send_calls, recvs_then, 0, pending);
    if (answered) {
        fact_set(rep, FACT_WAITED_MS, ns_to_ms(answered, asked));
        snprintf(rep->note, sizeof rep->note, _("client 2 waited %llu ms"),
                 ns_to_ms(answered, asked));
    }
    if (cut && first_read && cut <= first_read) {
        fact_set(rep, FACT_HELD_MS, ns_to_ms(cut, asked));
        fact_set(rep, FACT_AFTER_MS, ns_to_ms(answered, cut));
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 _("the server cut client 1 %llu ms after client 2 asked, and answered client 2 "
                   "%llu ms after that"),
                 ns_to_ms(cut, asked), ns_to_ms(answered, cut));
    } else if (answered && (cut == 0 || answered < cut)) {
        fact_set(rep, FACT_ANSWERED_MS, ns_to_ms(answered, asked));
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 _("client 2 was answered %llu ms after it asked, client 1 still connected"),
                 ns_to_ms(answered, asked));
    }
    rep->aim = 0;
    rep->aim_set = 1;
}

/* A stage 6 step: the step's server; client 1 (the stage 5 client, its
 * prompt never answered) connects and stays silent; once the server has
 * accepted it and waits, client 2 runs STEP's command. The step is over
 * when client 2 has its answer and has exited: under the iterative server
 * only after the --idle deadline cut client 1, under poll at once. */
static int conc_step_run(struct stage_run *run, const struct lesson_step *step,
                         struct step_report *rep, char *err, size_t errlen)
{
    char server_path[PATH_MAX], client_path[PATH_MAX];
    const struct stage_info *five = stage_info(5);
    int status = -1;

    snprintf(server_path, sizeof server_path, "%s/%s/%s", run->cfg->root, run->dir, step->server);
    snprintf(client_path, sizeof client_path, "%s/%s/client", run->cfg->root,
             five ? five->dir : "?");
    rep->step = step;
    text_clear(&run->demo_out);
    char *server_argv[] = { server_path, "--port", "0", "--root", (char *)run->cfg->root,
                            "--idle", lesson_conc_idle, NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0 ||
        child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        goto end;
    char *client1_argv[] = { client_path, "--port", run->server_port, NULL };
    if (child_start(&run->client, run, client1_argv, 1, err, errlen) < 0)
        goto end;
    run->client_pid = run->client.pid;
    long deadline = now_ms() + STEP_DEADLINE_MS;
    for (;;) {      /* client 1 connected, accepted, silent; the server waits */
        run_feed_decoder(run);
        const struct connection *c1 = conn_of_client(run, run->client.pid);
        if (c1 && c1->server_pid != 0 && client_waiting(run->client.pid) == 1 &&
            server_waiting_in(run->server.pid, 1) == 1)
            break;
        if (now_ms() > deadline || !child_alive(&run->client)) {
            snprintf(err, errlen, _("client 1 did not connect to %s"), step->server);
            rep->timed_out = 1;
            goto end;
        }
        run_collect(run, 10);
    }
    char *client2_argv[] = { client_path, "--port", run->server_port, "exec",
                             (char *)step->command, NULL };
    if (child_start(&run->client2, run, client2_argv, 0, err, errlen) < 0)
        goto end;
    run->client2_pid = run->client2.pid;
    while (child_alive(&run->client2) || run->client2.out_fd >= 0 || run->client2.err_fd >= 0) {
        if (now_ms() > deadline) {
            snprintf(err, errlen, _("client 2 had no answer from %s within %d s"), step->server,
                     STEP_DEADLINE_MS / 1000);
            rep->timed_out = 1;
            goto end;
        }
        run_collect(run, 10);
    }
    /* the server logs its last events as its calls return: wait for it to
     * wait again (under iterative: on client 1, or for the next client) */
    long grace = now_ms() + SERVER_GRACE_MS;
    while (server_waiting_in(run->server.pid, 1) != 1 && now_ms() < grace)
        run_collect(run, 10);
    while (run_collect(run, 0) > 0)
        ;
    const char *said = _("-- client 2 printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->client2.out.len)
        text_add(&run->demo_out, run->client2.out.data, run->client2.out.len);
    if (run->client2.err.len)
        text_add(&run->demo_out, run->client2.err.data, run->client2.err.len);
    said = _("-- the server printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->server.err.len)
        text_add(&run->demo_out, run->server.err.data, run->server.err.len);
    status = 0;
end:
    rep->out = run->demo_out.data ? run->demo_out.data : "";
    rep->out_len = run->demo_out.len;
    run_feed_decoder(run);
    conc_summarize(run, rep);
    child_stop(&run->client2);
    child_stop(&run->client);
    child_stop(&run->server);
    return status;
}

static void section_stop(struct stage_run *run)
{
    child_stop(&run->client2);
    child_stop(&run->client);
    child_stop(&run->slicer);
    child_stop(&run->server);
}

/* ---- the whole lesson ------------------------------------------------------- */

static int section_run(struct presenter *p, const struct lesson_config *cfg,
                       const struct lesson_section *sec, int last_section)
{
    struct stage_run run = { 0 };
    char err[512], title[256], intro[512];
    int status = 1;
    const struct stage_info *info = stage_info(sec->stage);

    section_title(sec, title, sizeof title);
    run.cfg = cfg;
    run.section = sec;
    run.dir = info ? info->dir : "?";
    run.framing = info ? info->framing : "?";
    run.server.name = "server";
    run.slicer.name = "slicer";
    run.client.name = "client";
    run.server.in_fd = run.server.out_fd = run.server.err_fd = -1;
    run.slicer.in_fd = run.slicer.out_fd = run.slicer.err_fd = -1;
    run.client.in_fd = run.client.out_fd = run.client.err_fd = -1;
    run.client2.name = "client 2";
    run.client2.in_fd = run.client2.out_fd = run.client2.err_fd = -1;
    int replay = cfg->from_capture != NULL;
    if (replay) {
        snprintf(run.capture, sizeof run.capture, "%s", cfg->from_capture);
    } else {
        snprintf(run.capture, sizeof run.capture, "%s/stage%d%s.nbcap", cfg->workdir,
                 sec->stage, sec->via_slicer ? "-slicer" : "");
        unlink(run.capture);
    }
    if (info == NULL) {
        snprintf(err, sizeof err, _("stage %d is not in common/stages.def"), sec->stage);
        goto end;
    }
    if (replay) {
        if (capture_open(&run.reader, run.capture, err, sizeof err) < 0)
            goto end;
        run.reader_open = 1;
    } else if (capture_find_tap_lib(run.tap_lib, sizeof run.tap_lib, err, sizeof err) < 0) {
        goto end;
    }
    struct decode_options dopt = { PROTO_GUESS, 0 };
    if (strcmp(info->framing, "udp") == 0)
        dopt.proto = PROTO_RAW;
    else
        proto_parse(info->framing, &dopt.proto);
    if (decoder_init(&run.dec, &dopt) < 0) {
        snprintf(err, sizeof err, _("out of memory"));
        goto end;
    }
    run.dec_ready = 1;
    int conc = sec->concurrent;
    int demo = sec->steps[0].server != NULL && !conc;
    if (demo) {
        /* Stage 2 is optional for the lesson: skip it when not built. */
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", cfg->root, run.dir, sec->steps[0].client);
        if (access(path, X_OK) < 0) {
            if (!p->ui)
                fprintf(p->out, "\n== %s ==\n%s\n", title, _("(not built here: skipped)"));
            status = 0;
            goto end;
        }
    }
    if (replay && (demo || conc || sec->via_slicer)) {
        /* main lets --from-capture through with stage 1 only: its client
         * prints each recv as it is, so its output is in the capture */
        snprintf(err, sizeof err, "--from-capture: only stage 1 of the lesson");
        goto end;
    }
    if (!demo && !conc && !replay && section_start(&run, err, sizeof err) < 0)
        goto end;
    p->view.dir = demo || conc || sec->via_slicer == SLICE_UP ? DIR_UP : DIR_DOWN;
    p->view.note[0] = '\0';
    present_section(p, sec, &run);
    section_intro(sec, intro, sizeof intro);
    if (p->ui && wait_key(p, title, intro, &run, NULL,
                          _("space/enter: type the first command   q: quit"))) {
        status = 0;    /* q: the student chose to stop, not a failure */
        goto end;
    }
    for (size_t i = 0; i < sec->step_count; i++) {
        struct step_report rep = { 0 };
        rep.index = i;
        rep.count = sec->step_count;
        int failed = demo ? demo_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                     : conc ? conc_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                     : replay ? replay_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                            : step_run(&run, &sec->steps[i], &rep) < 0;
        if (p->ui) {
            char narration[1024];
            const char *prompt =
                i + 1 < sec->step_count
                    ? _("space/enter: next step   x: hex   arrows: scroll   ?: help   q: quit")
                : !last_section
                    ? _("space/enter: next part   x: hex   arrows: scroll   ?: help   q: quit")
                    : _("space/enter: the end   x: hex   arrows: scroll   ?: help   q: quit");
            step_narration(&rep, narration, sizeof narration);
            aim_view(&p->view, &rep, demo || conc);
            if (wait_key(p, title, narration, &run, &rep, prompt)) {
                status = 0;
                goto end;
            }
        } else {
            present_step_text(p, &run, &rep);
        }
        if (failed) {
            if (!demo && !conc && !replay)
                snprintf(err, sizeof err, "%s", rep.timed_out ? _("a step did not finish")
                                                              : _("the client exited early"));
            goto end;
        }
    }
    status = 0;
end:
    if (status != 0) {
        if (p->ui)
            ui_stop();
        fprintf(stderr, "nianbao-view: %s, %s: %s\n", _("lesson"), title, err);
        if (run.server.err.len)
            fprintf(stderr, "%s %s", _("server said:"), run.server.err.data);
        p->quit = 1;
    }
    section_stop(&run);
    free(run.demo_out.data);
    free(run.held_data);
    if (run.reader_open)
        capture_close(&run.reader);
    if (run.dec_ready)
        decoder_free(&run.dec);
    return status;
}

/* The temporary folder of captures and the terminal's settings from
 * before curses, for the signal handler below: the only state that must
 * outlive a stack frame, because a signal has none. */
static char cleanup_dir[PATH_MAX];
static struct termios tty_before_ui;
static volatile sig_atomic_t tty_saved;

/* SIGHUP (terminal closed), SIGTERM, SIGINT in text mode: remove the
 * captures and go. The children follow by themselves (PR_SET_PDEATHSIG).
 * Only async-signal-safe calls here. */
static void lesson_killed(int sig)
{
    static const char *const names[] = {
        "/stage1.nbcap", "/stage2.nbcap", "/stage3.nbcap", "/stage3-slicer.nbcap",
        "/stage4.nbcap", "/stage4-slicer.nbcap", "/stage5-slicer.nbcap", "/stage6.nbcap",
    };
    char path[PATH_MAX + 32];
    size_t dir_len = strlen(cleanup_dir);

    for (size_t i = 0; dir_len && i < sizeof names / sizeof names[0]; i++) {
        size_t name_len = strlen(names[i]);
        memcpy(path, cleanup_dir, dir_len);
        memcpy(path + dir_len, names[i], name_len + 1);
        unlink(path);
    }
    if (dir_len)
        rmdir(cleanup_dir);
    if (tty_saved) {
        /* endwin() is not async-signal-safe: put back the saved termios
         * (echo, line editing) ourselves, then leave the alternate screen
         * and show the cursor, as endwin would have. */
        static const char leave[] = "\033[?1049l\033[?25h\r\n";
        tcsetattr(STDIN_FILENO, TCSANOW, &tty_before_ui);
        ssize_t ignored = write(STDOUT_FILENO, leave, sizeof leave - 1);
        (void)ignored;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int remove_workdir(const char *dir)
{
    for (size_t i = 0; i < lesson_section_count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/stage%d%s.nbcap", dir, lesson_sections[i].stage,
                 lesson_sections[i].via_slicer ? "-slicer" : "");
        unlink(path);
    }
    return rmdir(dir);
}

int lesson_run(const struct lesson_config *cfg_in, FILE *out)
{
    struct lesson_config cfg = *cfg_in;
    struct presenter p = { 0 };
    char tmpdir[PATH_MAX];
    int status = 0, own_workdir = 0;

    p.out = out;
    p.ui = !cfg.text;
    const char *idle = getenv("NIANBAO_LESSON_IDLE");
    if (idle && *idle) {
        unsigned long idle_ms;
        char why[160];
        if (duration_parse(idle, 1, DURATION_S(3600), &idle_ms, why, sizeof why) < 0) {
            fprintf(stderr, "nianbao-view: NIANBAO_LESSON_IDLE: %s\n", why);
            return 1;
        }
        snprintf(lesson_conc_idle, sizeof lesson_conc_idle, "%s", duration_text(idle_ms).s);
    }
    signal(SIGPIPE, SIG_IGN);   /* a client that died must not kill the lesson */
    if (!cfg.workdir) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/nianbao-lesson-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "nianbao-view: %s %s: %s\n", _("cannot create"), tmpdir, strerror(errno));
            return 1;
        }
        cfg.workdir = tmpdir;
        own_workdir = 1;
        snprintf(cleanup_dir, sizeof cleanup_dir, "%s", tmpdir);
    }
    if (own_workdir || p.ui) {
        signal(SIGHUP, lesson_killed);
        signal(SIGTERM, lesson_killed);
        signal(SIGINT, lesson_killed);
    }
    ui_view_init(&p.view);
    p.view.flow = 1;    /* dense: more of the reply between the panels */
    /* waits of a person between two commands are not news; a machine's are */
    p.view.gap_max_ns = 1000000000ull;
    struct ui_offscreen offscreen = { 0 };
    if (cfg.svg) {
        char err[256];
        p.ui = 1;
        p.picture = &cfg;
        if (ui_start_offscreen(&offscreen, &p.view, cfg.color, cfg.svg_rows, cfg.svg_cols,
                               err, sizeof err) < 0) {
            fprintf(stderr, "nianbao-view: %s\n", err);
            status = 1;
            goto end;
        }
    }
    if (p.ui && !p.picture && tcgetattr(STDIN_FILENO, &tty_before_ui) == 0)
        tty_saved = 1;
    if (p.ui && !p.picture && ui_start(&p.view, cfg.color) < 0) {
        p.ui = 0;
        tty_saved = 0;
    }
    if (!p.ui) {
        fprintf(out, "%s\n", _("nianbao lesson: why a TCP byte stream has no message boundaries, "
                                "and how a length fixes it."));
        fprintf(out, "%s\n", _("Each step types one command into the stage's client; \"wire:\" lines "
                                "are what the viewer decoded from the tap's capture, \"status:\" "
                                "is its status line on the screen."));
    }
    size_t last = 0;
    for (size_t i = 0; i < lesson_section_count; i++)
        if (!cfg.only_stage || lesson_sections[i].stage == cfg.only_stage)
            last = i;
    for (size_t i = 0; i < lesson_section_count && !p.quit; i++) {
        if (cfg.only_stage && lesson_sections[i].stage != cfg.only_stage)
            continue;
        if (section_run(&p, &cfg, &lesson_sections[i], i == last) != 0)
            status = 1;
    }
    const char *closing = _("That is the whole story: TCP delivers a stream of bytes, not "
                            "messages. A receiver finds the boundaries again only when the "
                            "sender writes them down: a length, or a header.");
    if (p.ui && !p.picture && status == 0 && !p.quit) {
        /* the closing words on the screen, before it closes */
        p.view.help = 0;
        wait_key(&p, _("nianbao lesson"), closing, NULL, NULL,
                 _("space/enter or q: leave the lesson"));
    }
    if (p.picture) {
        ui_stop_offscreen(&offscreen);
        if (status == 0 && p.picture_done == 0)
            fprintf(stderr, "nianbao-view: --step %d: stage %d of the lesson has fewer steps\n",
                    cfg.svg_step, cfg.only_stage);
        if (p.picture_done != 1)
            status = 1;
    } else if (p.ui) {
        tty_saved = 0;      /* endwin restores it from here on */
        ui_stop();
    }
    if (!p.ui && status == 0)
        fprintf(out, "\n%s\n", closing);
end:
    if (own_workdir)
        remove_workdir(cfg.workdir);
    return status;
}
