/* conc.c - what stage 6's servers share around their accept loops (see conc.h). */
#define _GNU_SOURCE
#include "conc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "run.h"

void conc_init(struct conc_server *s, const char *model, unsigned long max_clients)
{
    memset(s, 0, sizeof *s);
    s->model = model;
    s->serve = (struct serve_config){ .prog = model, .host = "127.0.0.1",
                                      .port = CONC_DEFAULT_PORT, .backlog = CONC_BACKLOG,
                                      .log = stderr };
    s->root_path = ".";
    s->timeout_ms = DURATION_S(10);
    s->max_output = FT_MAX_OUTPUT_DEFAULT;
    s->max_command = FT_MAX_COMMAND;
    s->max_upload = FT_MAX_UPLOAD_DEFAULT;
    s->idle_ms = DURATION_S(60);
    s->frame_ms = DURATION_S(10);
    s->send_ms = DURATION_S(30);
    s->max_clients = max_clients;
    s->grace_ms = DURATION_S(10);
    s->listener = s->signal_fd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->root.dirfd = -1;
    s->serve.sandbox.root = &s->root;   /* commands run in the root, as stage 5's */
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->ended, NULL);
}

void conc_parse(struct conc_server *s, const char *summary, int argc, char **argv,
                struct cli_outcome *out)
{
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&s->serve.host),
        CLI_PORT_OPTION(&s->serve.port, CONC_DEFAULT_PORT),
        { "root", 'r', CLI_STRING, &s->root_path, "DIR",
          "the directory served to get, put, stat and list, where commands run "
          "(default: the current one)", 0, 0 },
        { "timeout", 't', CLI_DURATION, &s->timeout_ms, "SECS",
          "kill a command after SECS (default 10)", 1, DURATION_S(86400) },
        { "max-output", 0, CLI_UINT, &s->max_output, "BYTES",
          "keep at most BYTES of a command's output (default " FT_MAX_OUTPUT_TEXT ")", 0, 1UL << 40 },
        { "max-command", 0, CLI_UINT, &s->max_command, "BYTES",
          "refuse a command longer than BYTES (default and most " FT_MAX_COMMAND_TEXT ")", 1,
          FT_MAX_COMMAND },
        { "max-upload", 0, CLI_UINT, &s->max_upload, "BYTES",
          "refuse a larger upload before any byte is written (default " FT_MAX_UPLOAD_TEXT ")",
          0, 1UL << 50 },
        { "idle", 0, CLI_DURATION, &s->idle_ms, "SECS",
          "close a client that sends no request for SECS (default 60; 0: never)",
          0, DURATION_S(86400) },
        { "frame-timeout", 0, CLI_DURATION, &s->frame_ms, "SECS",
          "a frame's header must arrive within SECS of its first byte, and its body "
          "pause no longer (default 10; 0: no limit)", 0, DURATION_S(86400) },
        { "send-timeout", 0, CLI_DURATION, &s->send_ms, "SECS",
          "drop a client that reads none of its reply for SECS (default 30; 0: never)",
          0, DURATION_S(86400) },
        { "max-clients", 'm', CLI_UINT, &s->max_clients, "N",
          "serve at most N clients at once; the next is told \"busy\" (default shown below)",
          1, 1000000 },
        { "grace", 'g', CLI_DURATION, &s->grace_ms, "SECS",
          "on SIGTERM/SIGINT, let the requests under way finish for up to SECS (default 10)",
          0, DURATION_S(3600) },
        FSROOT_READ_ONLY_OPTION(&s->root),
        SANDBOX_OPTIONS(&s->serve.sandbox),
    };
    char epilog[512];
    size_t used = 0;

    if (s->max_clients)
        used = (size_t)snprintf(epilog, sizeof epilog, "Default --max-clients: %lu.\n",
                                s->max_clients);
    else
        used = (size_t)snprintf(epilog, sizeof epilog, "One client at a time: the others "
                                "wait in the accept queue.\n");
    snprintf(epilog + used, sizeof epilog - used, "Speaks the stage 5 protocol "
             "(stage5_file_transfer/README.md): use stage 5's client.\nAnyone who can "
             "reach the port runs shell commands as you: keep it on loopback,\nor add "
             "--sandbox (README.md: Teaching on a classroom network).");
    /* The iterative model has no --max-clients: it serves one, by design. */
    struct cli_option table[sizeof options / sizeof options[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (s->max_clients || strcmp(options[i].long_name, "max-clients") != 0)
            table[n++] = options[i];
    char version[128];
    snprintf(version, sizeof version, "stage 6 (%s model): not in the document, which "
             "points to Python's socketserver", s->model);
    const struct cli_program prog = {
        s->model, summary, version, table, n, epilog,
    };
    cli_parse(&prog, argc, argv, out);
}

int conc_start(struct conc_server *s, int want_sigchld, char *err, size_t errlen)
{
    sigset_t stop;

    s->conn = (struct ftconn_config){
        .root = &s->root, .timeout_ms = s->timeout_ms, .max_output = s->max_output,
        .max_command = s->max_command, .max_upload = s->max_upload, .idle_ms = s->idle_ms,
        .frame_ms = s->frame_ms, .send_ms = s->send_ms,
    };
    if (ft_memo_settle_from_env(err, errlen) < 0 ||
        fsroot_open(&s->root, s->root_path, 0, err, errlen) < 0)
        return -1;
    /* Commands run in the root too, as stage 5's. */
    if (chdir(s->root_path) < 0) {
        snprintf(err, errlen, "cannot enter the root %s: %s", s->root_path, strerror(errno));
        return -1;
    }
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    s->children = want_sigchld;
    if (want_sigchld)
        sigaddset(&stop, SIGCHLD);
    /* Blocked before serve_start installs its handlers: they never run,
     * the signals wait in the signalfd. */
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 ||
        (s->signal_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        snprintf(err, errlen, "cannot set up signals: %s", strerror(errno));
        return -1;
    }
    if (pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    s->listener = serve_start(&s->serve, err, errlen);
    if (s->listener < 0)
        return -1;
    int flags = fcntl(s->listener, F_GETFL);
    if (flags < 0 || fcntl(s->listener, F_SETFL, flags | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the listening socket non-blocking: %s",
                 strerror(errno));
        return -1;
    }
    if (s->max_clients)
        conc_log(s, "serving up to %lu client%s at once (--max-clients)", s->max_clients,
                 s->max_clients == 1 ? "" : "s");
    else
        conc_log(s, "serving one client at a time");
    return 0;
}

void conc_log(const struct conc_server *s, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(s->serve.log, "%s: %s\n", s->model, text);
    if (!s->serve.log_held)
        fflush(s->serve.log);
}

static long long now_ms(void)
{
    return ftconn_now_ms();
}

enum conc_event conc_signal(struct conc_server *s)
{
    struct signalfd_siginfo info;

    if (read(s->signal_fd, &info, sizeof info) != (ssize_t)sizeof info)
        return CONC_TIMEOUT;
    if (info.ssi_signo == SIGCHLD)
        return CONC_CHILD;
    if (!s->stopping) {
        s->stopping = 1;
        /* A child that ended before the signal came, its SIGCHLD still
         * queued behind this one, is not finishing. */
        if (s->children)
            conc_reap_children(s);
        conc_log(s, "%s: no new clients; %lu connection%s finishing (--grace %s s)",
                 strsignal((int)info.ssi_signo), s->active, s->active == 1 ? "" : "s",
                 duration_text(s->grace_ms).s);
        close(s->listener);
        s->listener = -1;
    }
    return CONC_STOP;
}

enum conc_event conc_wait(struct conc_server *s, int timeout_ms)
{
    long long give_up = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

    for (;;) {
        long long now = now_ms(), until = give_up;
        /* A paused listener is left out until its pause is over. */
        int paused = s->accept_paused_until > now;
        if (paused && (until < 0 || s->accept_paused_until < until))
            until = s->accept_paused_until;
        struct pollfd pfd[2] = {
            { .fd = s->signal_fd, .events = POLLIN },
            { .fd = s->stopping || paused ? -1 : s->listener, .events = POLLIN },
        };
        int ready = poll(pfd, 2, until < 0 ? -1 : (int)(until - now));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return CONC_TIMEOUT;
        if (pfd[0].revents) {
            enum conc_event ev = conc_signal(s);
            if (ev != CONC_TIMEOUT)
                return ev;
        }
        if (pfd[1].revents)
            return s->stopping ? CONC_TIMEOUT : CONC_CLIENT;
        if (give_up >= 0 && now_ms() >= give_up)
            return CONC_TIMEOUT;
    }
}

int conc_accept(struct conc_server *s, struct serve_conn *conn)
{
    char err[256];

    if (serve_accept(s->listener, &s->serve, conn, err, sizeof err) == 0) {
        if (s->accept_errno)
            conc_log(s, "accepting clients again");
        s->accept_errno = 0;
        return 1;
    }
    int saved = errno;
    if (saved == EAGAIN || saved == EWOULDBLOCK)
        return 0;
    /* Out of descriptors (EMFILE), of memory: the client still waits in
     * the queue, the listening socket stays readable, and accepting again
     * at once would fail again. Sleeping here would stall every client
     * the caller serves; the listener rests instead, and they are served. */
    if (saved != s->accept_errno)
        conc_log(s, "%s: new clients wait in the accept queue; trying again every %d ms",
                 err, CONC_ACCEPT_PAUSE_MS);
    s->accept_errno = saved;
    s->accept_paused_until = now_ms() + CONC_ACCEPT_PAUSE_MS;
    return -1;
}

int conc_full(struct conc_server *s)
{
    /* A child that has ended, its SIGCHLD not read yet, serves no one. */
    if (s->children)
        conc_reap_children(s);
    pthread_mutex_lock(&s->lock);
    int full = s->max_clients && s->active >= s->max_clients;
    pthread_mutex_unlock(&s->lock);
    return full;
}

void conc_refuse(struct conc_server *s, struct serve_conn *conn)
{
    serve_log(conn, "refused: %lu clients are being served (--max-clients); told \"busy\"",
              s->max_clients);
    ftconn_refuse_busy(conn->fd, s->max_clients);
    serve_close(conn);
}

void conc_client_started(struct conc_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->active++;
    s->served++;
    pthread_mutex_unlock(&s->lock);
}

void conc_client_ended(struct conc_server *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->active > 0)
        s->active--;
    pthread_cond_broadcast(&s->ended);
    pthread_mutex_unlock(&s->lock);
}

void conc_reap_children(struct conc_server *s)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        conc_client_ended(s);
}

long long conc_stop_connections(struct conc_server *s)
{
    if (s->stop_pipe[1] >= 0) {
        close(s->stop_pipe[1]);
        s->stop_pipe[1] = -1;
    }
    return now_ms() + (long long)s->grace_ms + 1000;
}

unsigned long conc_wait_ended(struct conc_server *s, long long deadline_ms)
{
    pthread_mutex_lock(&s->lock);
    while (s->active > 0) {
        long long left = deadline_ms - now_ms();
        if (left <= 0)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += left / 1000;
        until.tv_nsec += (left % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->ended, &s->lock, &until);
    }
    unsigned long left = s->active;
    pthread_mutex_unlock(&s->lock);
    return left;
}

int conc_finish(struct conc_server *s)
{
    if (s->active > 0)
        conc_log(s, "%lu connection%s still open after the grace period: their commands "
                 "are killed", s->active, s->active == 1 ? "" : "s");
    /* Whatever still runs (a command past the grace period) must not
     * outlive the server. */
    run_kill_all();
    conc_log(s, "stopped after serving %lu connection%s", s->served,
             s->served == 1 ? "" : "s");
    if (s->listener >= 0)
        close(s->listener);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    for (int i = 0; i < 2; i++)
        if (s->stop_pipe[i] >= 0)
            close(s->stop_pipe[i]);
    fsroot_close(&s->root);
    return 0;
}
