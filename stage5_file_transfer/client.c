/* stage5_file_transfer/client.c - stage 5: get and put files, run commands,
 * over frames in both directions.
 *
 * Reproduces: the document's next topic (应用:基于网络上传和下载文件), with
 *   the v4 framing: a header length, a JSON header, the body.
 * Fixes (over stage 4): every request is a frame too; replies are read
 *   through a frame reader, so bytes past one frame's end (the next
 *   header, sent at once) are kept for the next, never swallowed; command
 *   output is printed as it arrives; a download goes to a temporary file
 *   and gets its name only once its SHA-256 is verified; an interrupted
 *   transfer resumes (--resume) after proving the part already there is
 *   the same; a peer that closes mid-frame is an error, not a loop.
 * Still wrong: nothing, as far as the tests can tell; the server serves
 *   one client at a time (stage 6).
 */
#define _GNU_SOURCE                 /* renameat2 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "filehash.h"
#include "frame.h"
#include "fsroot.h"
#include "ft.h"
#include "interrupt.h"
#include "localpath.h"
#include "net.h"
#include "progress.h"
#include "session.h"
#include "wire.h"
#include "words.h"

/* Exit statuses, one per kind of failure (listed in --help). exec gives
 * the command's own status instead, as ssh does, and EXIT_EXEC_FAILED for
 * any failure of the client's (exec_status). */
enum {
    EXIT_OK = 0,
    EXIT_REMOTE = 1,          /* the server said error (get, put, ls, stat) */
    EXIT_USAGE = 2,
    EXIT_CONNECTION = 3,      /* cannot connect, connection lost, timed out   */
    EXIT_PROTOCOL = 4,        /* the server broke the protocol                */
    EXIT_VERIFY = 5,          /* SHA-256 mismatch                             */
    EXIT_LOCAL = 6,           /* a local file cannot be read or written       */
    EXIT_TIMED_OUT = 124,     /* exec: the server's --timeout (as timeout(1)) */
    EXIT_INTERRUPTED = 130,   /* Ctrl-C during a transfer (128 + SIGINT)      */
    EXIT_EXEC_FAILED = 255,   /* exec: no status from the command (ssh's 255) */
};

#define RECV_BUF (1u << 20)
#define LIST_MAX (64u << 20)
#define PART_SUFFIX ".nianbao-part"

struct client_config {
    struct session_config session;  /* connect, busy notice, --wait */
    unsigned long max_header;
    int resume, overwrite;
};

/* One connection: the socket, and a frame reader over a receive buffer
 * that may hold bytes of the next frame already. */
struct conn {
    const struct client_config *cfg;
    int fd;
    struct frame_reader reader;
    unsigned char *buf;
    size_t have, pos;               /* buf[pos..have) not fed to the reader yet */
    int fed_all;                    /* the last feed ended with NEED_MORE */
    int awaiting;                   /* a request was sent, no reply yet    */
    int running;                    /* ... and it is a command             */
    int stdin_has_commands;         /* the interactive mode: no "put -"     */
    int quiet;                      /* an error reply is not printed        */
    int command_status;             /* exec: the command's, as a shell's $? */
    int ran_command;                /* the last line ran a command (exec)   */
    struct ft_msg msg;              /* the last reply's header             */
};

static int run_line(struct conn *c, char *line, int *status);
static int run_words(struct conn *c, char *line);
static int reconnect_if_closed(struct conn *c);
static int run_command(struct conn *c, const char *word, int n, char **args);
static int do_exec(struct conn *c, const char *command, size_t len);
static int exec_status(const struct conn *c, int rc);
static int do_get(struct conn *c, const char *name, const char *dest);
static int do_put(struct conn *c, const char *file, const char *name);
static int do_list(struct conn *c, const char *dir);
static int do_stat(struct conn *c, const char *name);
static int conn_open(struct conn *c, const struct client_config *cfg);
static void conn_close(struct conn *c);

static const char usage_text[] =
    "commands:\n"
    "  get NAME [DEST]   download NAME (to DEST, a file or a directory; - for stdout)\n"
    "  put FILE [NAME]   upload FILE (as NAME; FILE - reads standard input, NAME then\n"
    "                    required)\n"
    "  exec CMD...       run CMD on the server; its output is shown as it comes\n"
    "  ls [DIR]          list the served files (in DIR, beneath the root)\n"
    "  stat NAME         size of NAME, and of an interrupted upload of it\n"
    "  (none)            read commands from standard input, one per line, with the\n"
    "                    same words and options, quoted as in a shell ('my notes.txt');\n"
    "                    any other line runs as a command\n"
    "\n"
    "An interrupted get or put leaves its bytes (DEST.nianbao-part, or the server's\n"
    "partial file): a plain get or put then stops and says so; --resume goes on from\n"
    "there, --overwrite starts again.\n"
    "\n"
    "exit status of get, put, ls, stat:\n"
    "  0 done    1 the server answered an error\n"
    "  2 usage   3 cannot connect, or the connection was lost or timed out\n"
    "  4 the server broke the protocol   5 SHA-256 verification failed\n"
    "  6 a local file cannot be read or written   130 interrupted (Ctrl-C)\n"
    "exec, as ssh: the command's own status (0-255; killed by signal N: 128+N;\n"
    "  killed at the server's --timeout: 124; output cut by --max-output: 1);\n"
    "  255 when the client fails (cannot connect, connection lost, the server\n"
    "  refused or broke the protocol);\n"
    "  130 after Ctrl-C, which closes the connection: the server kills the command.\n"
    "With no COMMAND: the status of the last line that did not give 0.";

#define OPTION_COUNT 7

/* One table of options, for the command line and for each interactive
 * line, bound to CFG. */
static void bind_options(struct client_config *cfg, struct cli_option *options,
                         struct cli_program *prog)
{
    const struct cli_option table[OPTION_COUNT] = {
        CLI_HOST_OPTION(&cfg->session.host),
        CLI_SERVER_PORT_OPTION(&cfg->session.port, FT_DEFAULT_PORT),
        { "resume", 0, CLI_FLAG, &cfg->resume, NULL,
          "go on with an interrupted get or put where it stopped", 0, 0 },
        { "overwrite", 0, CLI_FLAG, &cfg->overwrite, NULL,
          "replace an existing file (the server's on put, DEST on get), or start an "
          "interrupted transfer again", 0, 0 },
        { "wait", 'w', CLI_DURATION, &cfg->session.wait_ms, "SECS",
          "give up when no reply has started after SECS (default 0: wait as long as it takes)",
          0, DURATION_S(86400) },
        { "timeout", 't', CLI_DURATION, &cfg->session.timeout_ms, "SECS",
          "give up when a reply that has started stalls for SECS (default 60; 0: never)",
          0, DURATION_S(86400) },
        { "max-header", 0, CLI_UINT, &cfg->max_header, "BYTES",
          "refuse a reply header longer than BYTES (default 65536)", 64, 1UL << 24 },
    };
    memcpy(options, table, sizeof table);
    *prog = (struct cli_program){
        "client", "Gets and puts files and runs commands on a stage 5 server.",
        "stage 5, the document's file transfer (not written there)", options,
        OPTION_COUNT, usage_text
    };
}

/* WORD (ARGV[0]: get, put, ls or stat) and its arguments, with options
 * anywhere among them ("get NAME --resume"; "--" ends them): the arguments
 * are moved to the end. Returns the index of the first, or -1 with CLI
 * saying why. */
static int parse_words(const struct cli_program *prog, int argc, char **argv,
                       struct cli_outcome *cli)
{
    static const struct { const char *word, *takes; int min, max; } shapes[] = {
        { "get", "NAME [DEST]", 1, 2 }, { "put", "FILE [NAME]", 1, 2 },
        { "ls", "at most a DIR", 0, 1 }, { "stat", "NAME", 1, 1 },
    };

    cli_parse_operands(prog, "[COMMAND [ARGS...]]", 0, argc, argv, cli);
    if (!cli->run)
        return -1;
    int n = argc - cli->first_operand;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(argv[0], shapes[i].word) != 0)
            continue;
        if (n < shapes[i].min || n > shapes[i].max) {
            cli_usage_error(prog, cli, "%s takes %s", argv[0], shapes[i].takes);
            return -1;
        }
        return cli->first_operand;
    }
    cli_usage_error(prog, cli, "unknown command '%s' (get, put, exec, ls, stat)", argv[0]);
    return -1;
}

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = FT_DEFAULT_PORT,
                     .command_max = FT_MAX_COMMAND, .diag = stderr,
                     .timeout_ms = DURATION_S(60), .busy_hint = "" },
        .max_header = 65536,
    };
    struct cli_option options[OPTION_COUNT];
    struct cli_program prog;
    struct cli_outcome cli;
    struct conn c;

    bind_options(&cfg, options, &prog);
    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "client: cannot open /dev/null: %s\n", strerror(errno));
        return EXIT_LOCAL;
    }
    /* Options first, then the command word: "client exec ls -l" runs "ls -l". */
    cli_parse_operands(&prog, "[COMMAND [ARGS...]]", 1, argc, argv, &cli);
    int first = cli.first_operand, args = first + 1;  /* the word, its arguments */
    const char *word = cli.run && first < argc ? argv[first] : NULL;
    if (word && strcmp(word, "exec") != 0) {
        int at = parse_words(&prog, argc - first, argv + first, &cli);
        args = first + at;
    } else if (word && args >= argc) {
        cli_usage_error(&prog, &cli, "exec needs a command");
    }
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (conn_open(&c, &cfg) < 0) {
        conn_close(&c);         /* its receive buffer */
        return word && strcmp(word, "exec") == 0 ? EXIT_EXEC_FAILED : EXIT_CONNECTION;
    }
    int status = EXIT_OK, rc;
    if (!word) {
        /* The earlier stages' interactive mode, with the same words. */
        char *line = NULL;
        size_t cap = 0;
        int interactive = isatty(STDIN_FILENO);
        c.stdin_has_commands = 1;
        for (;;) {
            if (interactive) {
                fputs("enter msg :>>>", stderr);
                fflush(stderr);
            }
            long len = read_command(stdin, &line, &cap);
            if (len < 0)
                break;
            if (len == 0)
                continue;
            int line_status;
            rc = run_line(&c, line, &line_status);
            if (line_status != EXIT_OK)
                status = line_status;
            if (rc == EXIT_CONNECTION || rc == EXIT_PROTOCOL || rc == EXIT_INTERRUPTED)
                break;
        }
        if (interactive)
            fputc('\n', stderr);
        free(line);
    } else {
        rc = run_command(&c, word, argc - args, argv + args);
        status = strcmp(word, "exec") == 0 ? exec_status(&c, rc) : rc;
    }
    conn_close(&c);
    return status;
}

/* One command: WORD and its N arguments ARGS, options taken out. */
static int run_command(struct conn *c, const char *word, int n, char **args)
{
    if (strcmp(word, "get") == 0)
        return do_get(c, args[0], n > 1 ? args[1] : NULL);
    if (strcmp(word, "put") == 0)
        return do_put(c, args[0], n > 1 ? args[1] : NULL);
    if (strcmp(word, "ls") == 0)
        return do_list(c, n > 0 ? args[0] : NULL);
    if (strcmp(word, "stat") == 0)
        return do_stat(c, args[0]);
    /* exec: the words after it, joined by spaces, as ssh does. */
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(args[i]) + 1;
    char *command = malloc(len + 1);
    if (!command) {
        fprintf(stderr, "client: out of memory\n");
        return EXIT_LOCAL;
    }
    command[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(command, args[i]);
        if (i + 1 < n)
            strcat(command, " ");
    }
    int rc = do_exec(c, command, strlen(command));
    free(command);
    return rc;
}

/* One line of the interactive mode: get, put, ls or stat, split into words
 * as a shell does and with the command line's options (for this line
 * only), or a command. Returns the client's own status for it (0, or what
 * went wrong), and sets *STATUS to the line's exit status: a command's
 * (exec_status), or that same one. */
static int run_line(struct conn *c, char *line, int *status)
{
    int rc = run_words(c, line);

    *status = c->ran_command ? exec_status(c, rc) : rc;
    return rc;
}

static int run_words(struct conn *c, char *line)
{
    const struct client_config *saved = c->cfg;
    struct client_config line_cfg = *saved;
    struct cli_option options[OPTION_COUNT];
    struct cli_program prog;
    struct cli_outcome cli;
    struct words w;
    char err[160];
    int rc;

    c->ran_command = 0;
    if (words_split(line, &w, err, sizeof err) < 0) {
        rc = errno == ENOMEM ? EXIT_LOCAL : EXIT_USAGE;
        fprintf(stderr, "client: %s\n", err);
        return rc;
    }
    /* The server closed an idle connection (its --idle): connect again. */
    rc = reconnect_if_closed(c);
    if (rc != EXIT_OK) {
        words_free(&w);
        return rc;
    }
    const char *word = w.count > 0 ? w.argv[0] : "";
    if (strcmp(word, "get") != 0 && strcmp(word, "put") != 0 && strcmp(word, "ls") != 0 &&
        strcmp(word, "stat") != 0) {
        words_free(&w);
        c->ran_command = 1;
        return do_exec(c, line, strlen(line));
    }
    bind_options(&line_cfg, options, &prog);
    int at = parse_words(&prog, w.count, w.argv, &cli);
    if (at < 0 && strcmp(word, "ls") == 0 && cli.exit_status == EXIT_USAGE) {
        /* Not the client's ls ("ls -l", "ls a b"): the server's. */
        words_free(&w);
        c->ran_command = 1;
        return do_exec(c, line, strlen(line));
    }
    if (at < 0) {
        /* The error's line, without the pointer to --help; or the help. */
        int len = (int)strcspn(cli.text, "\n");
        if (!cli.to_stderr)
            fputs(cli.text, stdout);
        else if (strstr(cli.text, " takes "))
            fprintf(stderr, "%.*s (\"exec %s ...\" runs a command of that name)\n", len,
                    cli.text, word);
        else
            fprintf(stderr, "%.*s\n", len, cli.text);
        words_free(&w);
        return cli.exit_status;
    }
    if (line_cfg.session.host != saved->session.host ||
        line_cfg.session.port != saved->session.port) {
        fprintf(stderr, "client: --host and --port choose the connection: give them on the "
                "command line\n");
        words_free(&w);
        return EXIT_USAGE;
    }
    c->cfg = &line_cfg;
    rc = run_command(c, word, w.count - at, w.argv + at);
    c->cfg = saved;
    words_free(&w);
    return rc;
}

/* ---- the connection and its frame reader ------------------------------- */

static int conn_open(struct conn *c, const struct client_config *cfg)
{
    struct frame_format format = frame_stage5;

    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->fd = -1;
    format.max_header = (uint32_t)cfg->max_header;
    frame_reader_init(&c->reader, &format);
    c->buf = malloc(RECV_BUF);
    if (!c->buf) {
        fprintf(stderr, "client: out of memory\n");
        return -1;
    }
    c->fd = session_connect(&cfg->session);
    return c->fd < 0 ? -1 : 0;
}

static void conn_close(struct conn *c)
{
    frame_reader_free(&c->reader);
    free(c->buf);
    c->buf = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int read_reply(struct conn *c);

/* Before a line is sent: a server that closed the connection meanwhile
 * (its --idle) is found, and the line goes on a new connection. Stage 5's
 * server closes without a word; stage 6's says error "timeout" first, and
 * that frame, which nobody asked for, must not be taken for the answer to
 * the next request. Returns 0 (connected), or an exit status after saying
 * why. */
static int reconnect_if_closed(struct conn *c)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
    char code[32] = "", addr[300];

    if (poll(&pfd, 1, 0) <= 0)
        return EXIT_OK;             /* nothing came: still open */
    if (!session_server_closed(c->fd)) {
        /* Bytes before the close: only an error that ends the connection
         * (busy, timeout) comes unasked. */
        c->quiet = 1;
        int rc = read_reply(c);
        c->quiet = 0;
        if (rc == EXIT_OK) {
            fprintf(stderr, "client: the server broke the protocol: it sent \"%s\" unasked\n",
                    c->msg.op_name);
            return EXIT_PROTOCOL;
        }
        if (rc != EXIT_REMOTE)
            return rc;
        snprintf(code, sizeof code, " (%s)", c->msg.code);
    }
    const struct client_config *cfg = c->cfg;
    conn_close(c);
    if (conn_open(c, cfg) < 0)
        return EXIT_CONNECTION;
    c->stdin_has_commands = 1;
    session_addr(&cfg->session, addr, sizeof addr);
    fprintf(stderr, "client: the server closed the idle connection%s; reconnected to %s\n", code,
            addr);
    return EXIT_OK;
}

/* What part of a frame the reader was in, for "closed after N of M bytes
 * of the reply's header". */
static void describe_cut(const struct frame_reader *r, char *out, size_t outlen)
{
    if (r->state == FRAME_IN_HEADER)
        snprintf(out, outlen, "connection closed after %" PRIu32 " of %" PRIu32 " bytes of the "
                 "reply's header", r->header_have, r->header_len);
    else if (r->state == FRAME_IN_BODY)
        snprintf(out, outlen, "connection closed after %" PRIu64 " of %" PRIu64 " bytes of the "
                 "reply's body", r->body_size - r->body_left, r->body_size);
    else
        snprintf(out, outlen, "connection closed after %zu of 4 bytes of the reply's header "
                 "length", r->len_have);
}

/* The next thing the reader finds: FRAME_HEADER, FRAME_BODY (*BODY,
 * *LEN in the receive buffer) or FRAME_END. Returns the event, or -1 after
 * printing why, with *FAIL set to the exit status. */
static int next_event(struct conn *c, const unsigned char **body, size_t *len, int *fail)
{
    for (;;) {
        if (interrupt_pending()) {
            *fail = EXIT_INTERRUPTED;
            return -1;
        }
        if (!c->fed_all || c->pos < c->have) {
            size_t used;
            enum frame_event ev = frame_reader_feed(&c->reader, c->buf + c->pos,
                                                    c->have - c->pos, &used, body, len);
            c->pos += used;
            if (ev == FRAME_ERROR) {
                fprintf(stderr, "client: %s\n", c->reader.err);
                *fail = EXIT_PROTOCOL;
                return -1;
            }
            c->fed_all = ev == FRAME_NEED_MORE;
            if (ev != FRAME_NEED_MORE)
                return (int)ev;
        }
        c->pos = c->have = 0;
        ssize_t got = recv(c->fd, c->buf, RECV_BUF, 0);
        if (got < 0 && errno == EINTR)
            continue;
        /* Between frames the server may be running a silent command: only
         * a reply that stalls in the middle is given up. */
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && frame_reader_idle(&c->reader))
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fprintf(stderr, "client: the server sent nothing for %s s in the middle of a reply "
                    "(--timeout); giving up\n", duration_text(c->cfg->session.timeout_ms).s);
            *fail = EXIT_CONNECTION;
            return -1;
        }
        if (got < 0) {
            fprintf(stderr, "client: receiving: %s\n", strerror(errno));
            *fail = EXIT_CONNECTION;
            return -1;
        }
        if (got == 0) {
            char what[160];
            if (frame_reader_idle(&c->reader))
                snprintf(what, sizeof what, "the server closed the connection");
            else
                describe_cut(&c->reader, what, sizeof what);
            fprintf(stderr, "client: %s\n", what);
            *fail = EXIT_CONNECTION;
            return -1;
        }
        c->have = (size_t)got;
        c->fed_all = 0;
    }
}

/* Reads the next reply's header into c->msg and checks it against the
 * protocol. An "error" reply is printed. Returns 0, or an exit status. */
static int read_reply(struct conn *c)
{
    const unsigned char *body;
    size_t len;
    int fail = EXIT_OK;
    struct ft_error e;
    char shown[600];

    if (c->awaiting && c->pos == c->have && frame_reader_idle(&c->reader)) {
        /* The first reply to a request: wait, with the busy notice and
         * --wait. (Later ones, a command's output, may take their time.) */
        struct session_config waiting = c->cfg->session;
        waiting.busy_hint = c->running ? ", or the command has printed nothing yet" : "";
        int started = session_wait_for_reply(&waiting, c->fd);
        if (started == 0)
            fprintf(stderr, "client: the server closed the connection\n");
        if (started == -2)
            return EXIT_INTERRUPTED;
        if (started <= 0)
            return EXIT_CONNECTION;
    }
    c->awaiting = 0;
    int ev = next_event(c, &body, &len, &fail);
    if (ev < 0)
        return fail;
    if (ev != FRAME_HEADER) {
        fprintf(stderr, "client: internal error: a reply began without a header\n");
        return EXIT_PROTOCOL;
    }
    if (ft_parse(FT_REPLY, c->reader.header, c->reader.header_json, c->reader.header_len,
                 c->reader.body_size, &c->msg, &e) < 0) {
        fprintf(stderr, "client: the server broke the protocol: %s\n", e.message);
        return EXIT_PROTOCOL;
    }
    if (c->msg.op == FT_ERROR) {
        fsroot_show_text(c->msg.message, strlen(c->msg.message), shown, sizeof shown);
        if (!c->quiet)
            fprintf(stderr, "client: server: %s (%s)\n", shown, c->msg.code);
        /* The error has no body: take its end, the stream stays in step. */
        ev = next_event(c, &body, &len, &fail);
        return ev < 0 ? fail : EXIT_REMOTE;
    }
    return EXIT_OK;
}

/* Reads the rest of a frame whose header has no body (its FRAME_END). */
static int end_of_frame(struct conn *c)
{
    const unsigned char *body;
    size_t len;
    int fail = EXIT_OK;
    int ev = next_event(c, &body, &len, &fail);

    if (ev < 0)
        return fail;
    return ev == FRAME_END ? EXIT_OK : EXIT_PROTOCOL;
}

/* Expects a reply of op OP (or an error). Returns 0, or an exit status. */
static int expect_reply(struct conn *c, enum ft_op op)
{
    int rc = read_reply(c);

    if (rc != EXIT_OK)
        return rc;
    if (c->msg.op != op) {
        fprintf(stderr, "client: the server broke the protocol: \"%s\" came where \"%s\" was "
                "due\n", c->msg.op_name, ft_op_name(op));
        return EXIT_PROTOCOL;
    }
    return EXIT_OK;
}

/* Sends one request frame. Returns 0, or an exit status after saying why. */
static int send_request(struct conn *c, cJSON *header, const void *body, uint64_t len, int more)
{
    char err[256];

    if (ft_send(c->fd, header, body, len, more, err, sizeof err) < 0) {
        if (errno == EPIPE || errno == ECONNRESET)
            fprintf(stderr, "client: the server closed the connection\n");
        else
            fprintf(stderr, "client: sending the request: %s\n", err);
        return EXIT_CONNECTION;
    }
    c->awaiting = 1;
    c->running = 0;
    return EXIT_OK;
}

/* Draws the progress bar's line (on a terminal only, progress.h) over the
 * last one. */
static void progress_draw(struct progress *p, uint64_t done, int final)
{
    char line[160];

    if (progress_line(p, done, final, line, sizeof line)) {
        fputs(line, stderr);
        fflush(stderr);
    }
}

/* ---- exec: the output as it comes -------------------------------------- */

static int do_exec(struct conn *c, const char *command, size_t len)
{
    struct digest sha = { DIGEST_NONE, NULL };
    char sha_hex[DIGEST_HEX_MAX];
    uint64_t sizes[3] = { 0, 0, 0 };
    int rc;

    if (len > FT_MAX_COMMAND) {
        fprintf(stderr, "client: the command is %zu bytes; the server runs at most %d "
                "(one argument of sh -c)\n", len, FT_MAX_COMMAND);
        return EXIT_USAGE;
    }
    if (digest_init_behind(&sha, DIGEST_SHA256) < 0) {
        fprintf(stderr, "client: out of memory\n");
        return EXIT_LOCAL;
    }
    fflush(stdout);
    c->command_status = EXIT_EXEC_FAILED;
    interrupt_catch(1);
    rc = send_request(c, ft_header(FT_EXEC), command, len, 0);
    c->running = 1;
    while (rc == EXIT_OK) {
        rc = read_reply(c);
        if (rc != EXIT_OK || c->msg.op == FT_EXIT)
            break;
        if (c->msg.op != FT_OUTPUT) {
            fprintf(stderr, "client: the server broke the protocol: \"%s\" came during a "
                    "command's output\n", c->msg.op_name);
            rc = EXIT_PROTOCOL;
            break;
        }
        /* Each piece is shown the moment it arrives. */
        int stream = c->msg.stream, fd = stream == 1 ? STDOUT_FILENO : STDERR_FILENO;
        for (;;) {
            const unsigned char *body;
            size_t piece;
            int ev = next_event(c, &body, &piece, &rc);
            if (ev < 0 || ev == FRAME_END)
                break;
            digest_update(&sha, body, piece);
            sizes[stream] += piece;
            if (fileio_write_all(fd, body, piece) < 0) {
                fprintf(stderr, "client: writing the output: %s\n", strerror(errno));
                rc = EXIT_LOCAL;
                break;
            }
        }
    }
    if (rc == EXIT_OK) {
        const struct ft_msg *m = &c->msg;
        digest_final_hex(&sha, sha_hex);
        if (strcasecmp(sha_hex, m->sha256) != 0 || sizes[1] != m->stdout_size ||
            sizes[2] != m->stderr_size) {
            fprintf(stderr, "client: the output does not match what the server sent: SHA-256 "
                    "%s, %" PRIu64 "+%" PRIu64 " bytes; the server says %s, %" PRIu64 "+%" PRIu64
                    "\n", sha_hex, sizes[1], sizes[2], m->sha256, m->stdout_size,
                    m->stderr_size);
            rc = EXIT_VERIFY;
        } else {
            /* The status a shell would give: 128+N for a signal. A command
             * the server stopped did not end by itself, and its status
             * would depend on a race with the kill: --timeout gives 124,
             * as timeout(1); a cut output, 1. The server's note (killed
             * after N s, output cut) came on stderr already. */
            c->command_status = m->timed_out   ? EXIT_TIMED_OUT
                              : m->truncated   ? EXIT_REMOTE
                              : m->exit_code >= 0 ? m->exit_code
                              : m->signal > 0  ? 128 + m->signal : EXIT_EXEC_FAILED;
            if (m->exit_code > 0)
                fprintf(stderr, "client: the command exited with status %d\n", m->exit_code);
            else if (m->signal)
                fprintf(stderr, "client: the command was killed by signal %d\n", m->signal);
            else if (m->exit_code < 0 && !m->timed_out && !m->truncated)
                fprintf(stderr, "client: the server gave no exit status for the command\n");
        }
        int end = end_of_frame(c);
        if (rc == EXIT_OK)
            rc = end;
    }
    interrupt_catch(0);
    if (rc == EXIT_INTERRUPTED) {
        /* The close is the message: the server kills the command's whole
         * process group when its client goes away. */
        close(c->fd);
        c->fd = -1;
        fprintf(stderr, "client: interrupted: the connection is closed, and the server stops "
                "the command (its whole process group)\n");
    }
    digest_free(&sha);
    return rc;
}

/* The exit status of an exec, as ssh gives it: the command's own when RC
 * is 0, 130 after Ctrl-C, 2 for a command the client would not send, 255
 * for any other failure of the client's (said on stderr already). */
static int exec_status(const struct conn *c, int rc)
{
    if (rc == EXIT_OK)
        return c->command_status;
    if (rc == EXIT_INTERRUPTED || rc == EXIT_USAGE)
        return rc;
    return EXIT_EXEC_FAILED;
}

/* ---- get: into a temporary file, renamed once verified ----------------- */

/* "WORD --resume A [B]", quoted as the user would type it again. */
static const char *resume_hint(const char *word, const char *a, const char *b, char *out,
                               size_t outlen)
{
    char shown[FT_SHOWN_MAX], quoted[2][FT_SHOWN_MAX + 8] = { "", "" };
    const char *args[2] = { a, b };

    for (int i = 0; i < 2 && args[i]; i++) {
        fsroot_show_name(args[i], strlen(args[i]), shown, sizeof shown);
        words_quote(shown, quoted[i], sizeof quoted[i]);
    }
    snprintf(out, outlen, "%s --resume %s%s%s", word, quoted[0], b ? " " : "", quoted[1]);
    return out;
}

/* " (resumed at N bytes)", or "" for a transfer from the start. */
static const char *resumed_at(uint64_t offset, char *out, size_t outlen)
{
    if (offset == 0)
        return "";
    snprintf(out, outlen, " (resumed at %" PRIu64 " bytes)", offset);
    return out;
}

/* Where a download of NAME goes: DEST, DEST/basename(NAME) when DEST is a
 * directory, or basename(NAME) when there is no DEST. */
static void download_path(const char *name, const char *dest, char *out, size_t outlen)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    struct stat st;

    if (!dest)
        snprintf(out, outlen, "%s", base);
    else if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
        localpath_join(dest, base, out, outlen);
    else
        snprintf(out, outlen, "%s", dest);
}

/* Opens PART, DEST's partial download, for writing, creating it when it is
 * missing and emptying it unless RESUME. Whatever is there must be a
 * regular file of one link: a symlink or a hard link planted at that name
 * would send the download into another file, outside the destination.
 * Returns the descriptor (*ST filled), or -1 after saying why. */
static int open_partial(const char *part, const char *path_shown, int resume, struct stat *st)
{
    int fd = open(part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);

    if (fd < 0) {
        char dir[4096], dir_shown[FT_SHOWN_MAX];
        if (errno == ENOENT && localpath_missing_dir(part, dir, sizeof dir) == 0 && dir[0]) {
            fsroot_show_name(dir, strlen(dir), dir_shown, sizeof dir_shown);
            fprintf(stderr, "client: cannot write %s: the directory %s does not exist\n",
                    path_shown, dir_shown);
        } else if (errno == ELOOP)
            fprintf(stderr, "client: %s" PART_SUFFIX " is a symlink: refusing to write through it "
                    "(remove it, or choose another DEST)\n", path_shown);
        else
            fprintf(stderr, "client: cannot write %s" PART_SUFFIX ": %s\n", path_shown,
                    strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        fprintf(stderr, "client: cannot write %s" PART_SUFFIX ": %s\n", path_shown,
                strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        fprintf(stderr, "client: %s" PART_SUFFIX " is not a regular file: refusing to write it "
                "(remove it, or choose another DEST)\n", path_shown);
    } else if (st->st_nlink != 1) {
        fprintf(stderr, "client: %s" PART_SUFFIX " has %ju links: refusing to write a file that "
                "has another name too (remove it, or choose another DEST)\n", path_shown,
                (uintmax_t)st->st_nlink);
    } else if (!resume && st->st_size > 0 && ftruncate(fd, 0) < 0) {
        fprintf(stderr, "client: cannot write %s" PART_SUFFIX ": %s\n", path_shown,
                strerror(errno));
    } else {
        if (!resume)
            st->st_size = 0;
        return fd;
    }
    close(fd);
    return -1;
}

/* Receives the "file" body into OUT (a file at PATH growing from OFFSET, or
 * standard output when OUT_HASH is NULL and SHA is set). Returns 0 or an
 * exit status. */
static int receive_body(struct conn *c, int out, uint64_t offset, struct file_hash *out_hash,
                        struct digest *sha, struct progress *bar, const char *path)
{
    uint64_t at = offset;
    int rc = EXIT_OK;

    for (;;) {
        const unsigned char *body;
        size_t piece;
        int ev = next_event(c, &body, &piece, &rc);
        if (ev < 0)
            return rc;
        if (ev == FRAME_END)
            break;
        if ((out_hash ? fileio_pwrite_all(out, body, piece, at) : fileio_write_all(out, body, piece)) < 0) {
            fprintf(stderr, "client: writing %s: %s\n", path, strerror(errno));
            return EXIT_LOCAL;
        }
        at += piece;
        if (out_hash)
            file_hash_advance(out_hash, at);
        else
            digest_update(sha, body, piece);
        progress_draw(bar, at, 0);
    }
    return EXIT_OK;
}

static int do_get(struct conn *c, const char *name, const char *dest)
{
    char path[4096], part[4096 + sizeof PART_SUFFIX], prefix[DIGEST_HEX_MAX];
    char sha_hex[DIGEST_HEX_MAX], err[256], shown[FT_SHOWN_MAX], path_shown[FT_SHOWN_MAX];
    char said[DIGEST_HEX_MAX], hint[2 * FT_SHOWN_MAX + 64];
    struct file_hash hash;
    struct digest sha = { DIGEST_NONE, NULL };
    struct progress bar;
    struct stat st;
    int to_stdout = dest && strcmp(dest, "-") == 0;
    int fd = -1, hashing = 0, rc;
    uint64_t offset = 0, file_size;

    fsroot_show_name(name, strlen(name), shown, sizeof shown);
    download_path(name, dest, path, sizeof path);
    fsroot_show_name(path, strlen(path), path_shown, sizeof path_shown);
    snprintf(part, sizeof part, "%s" PART_SUFFIX, path);
    if (to_stdout) {
        fd = STDOUT_FILENO;
        if (digest_init(&sha, DIGEST_SHA256) < 0) {
            fprintf(stderr, "client: out of memory\n");
            return EXIT_LOCAL;
        }
    } else {
        if (!c->cfg->overwrite && lstat(path, &st) == 0) {
            fprintf(stderr, "client: %s exists; --overwrite replaces it\n", path_shown);
            return EXIT_LOCAL;
        }
        /* --resume goes on from what an interrupted download left; a plain
         * get does not throw it away unasked. */
        if (!c->cfg->resume && !c->cfg->overwrite && lstat(part, &st) == 0 &&
            S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_size > 0) {
            fprintf(stderr, "client: %s" PART_SUFFIX " holds %jd bytes of an interrupted download: "
                    "`%s` goes on from there, --overwrite starts again\n", path_shown,
                    (intmax_t)st.st_size, resume_hint("get", name, dest, hint, sizeof hint));
            return EXIT_LOCAL;
        }
        fd = open_partial(part, path_shown, c->cfg->resume, &st);
        if (fd < 0)
            return EXIT_LOCAL;
        offset = (uint64_t)st.st_size;
        if (file_hash_start(&hash, fd, offset, 1, err, sizeof err) < 0) {
            fprintf(stderr, "client: %s\n", err);
            close(fd);
            return EXIT_LOCAL;
        }
        hashing = 1;
        if (offset > 0 && file_hash_peek(&hash, offset, prefix, err, sizeof err) < 0) {
            fprintf(stderr, "client: %s" PART_SUFFIX ": %s\n", path_shown, err);
            rc = EXIT_LOCAL;
            goto end;
        }
    }
    cJSON *header = ft_header(FT_GET);
    if (header && (!cJSON_AddStringToObject(header, "name", name) ||
                   (offset > 0 && (!cJSON_AddNumberToObject(header, "offset", (double)offset) ||
                                   !cJSON_AddStringToObject(header, "prefix_sha256", prefix))))) {
        cJSON_Delete(header);
        header = NULL;
    }
    rc = send_request(c, header, NULL, 0, 0);
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_FILE);
    if (rc != EXIT_OK)
        goto end;
    if (c->msg.offset != offset || strcmp(c->msg.name, name) != 0) {
        char sent_shown[FT_SHOWN_MAX];
        fsroot_show_name(c->msg.name, strlen(c->msg.name), sent_shown, sizeof sent_shown);
        fprintf(stderr, "client: the server broke the protocol: it sent \"%s\" from byte %"
                PRIu64 ", not \"%s\" from %" PRIu64 "\n", sent_shown, c->msg.offset, shown,
                offset);
        rc = EXIT_PROTOCOL;
        goto end;
    }
    file_size = c->msg.file_size;
    progress_start(&bar, isatty(STDERR_FILENO), file_size, offset);
    interrupt_catch(1);
    rc = receive_body(c, fd, offset, hashing ? &hash : NULL, &sha, &bar, path_shown);
    interrupt_catch(0);
    if (rc == EXIT_INTERRUPTED) {
        if (!to_stdout && fstat(fd, &st) == 0)
            fprintf(stderr, "%sclient: interrupted: kept %jd bytes of %s in %s" PART_SUFFIX "; "
                    "`%s` continues\n", bar.on ? "\n" : "", (intmax_t)st.st_size, shown, path_shown,
                    resume_hint("get", name, dest, hint, sizeof hint));
        else
            fprintf(stderr, "%sclient: interrupted\n", bar.on ? "\n" : "");
        goto end;
    }
    if (rc != EXIT_OK) {
        if (!to_stdout && rc == EXIT_CONNECTION && fstat(fd, &st) == 0 && st.st_size > 0)
            fprintf(stderr, "client: the bytes received are kept in %s" PART_SUFFIX
                    ": --resume goes on from there\n", path_shown);
        goto end;
    }
    progress_draw(&bar, file_size, 1);
    rc = expect_reply(c, FT_END);
    if (rc != EXIT_OK)
        goto end;
    snprintf(said, sizeof said, "%s", c->msg.sha256);
    rc = end_of_frame(c);
    if (rc != EXIT_OK)
        goto end;
    if (hashing) {
        hashing = 0;
        if (file_hash_finish(&hash, sha_hex, err, sizeof err) < 0) {
            fprintf(stderr, "client: %s" PART_SUFFIX ": %s\n", path_shown, err);
            rc = EXIT_LOCAL;
            goto end;
        }
    } else {
        digest_final_hex(&sha, sha_hex);
    }
    if (strcasecmp(sha_hex, said) != 0) {
        fprintf(stderr, "client: %s: SHA-256 mismatch: the server says %s, the bytes received "
                "are %s; %s\n", shown, said, sha_hex,
                to_stdout ? "what was written to standard output is wrong"
                          : "the download was deleted");
        if (!to_stdout)
            unlink(part);
        rc = EXIT_VERIFY;
        goto end;
    }
    if (!to_stdout) {
        int renamed = c->cfg->overwrite ? rename(part, path)
                                        : renameat2(AT_FDCWD, part, AT_FDCWD, path, RENAME_NOREPLACE);
        if (renamed < 0) {
            fprintf(stderr, "client: cannot rename %s" PART_SUFFIX " to %s: %s\n", path_shown,
                    path_shown, strerror(errno));
            rc = EXIT_LOCAL;
            goto end;
        }
        printf("%s: %" PRIu64 " bytes%s, SHA-256 verified, saved as %s\n", shown, file_size,
               resumed_at(offset, hint, sizeof hint), path_shown);
    } else {
        fprintf(stderr, "client: %s: %" PRIu64 " bytes, SHA-256 verified\n", shown, file_size);
    }
    rc = EXIT_OK;
end:
    if (hashing)
        file_hash_cancel(&hash);
    digest_free(&sha);
    if (!to_stdout && fd >= 0) {
        /* Nothing came (the server refused, or closed before a byte of the
         * file): leave nothing behind. Bytes that came stay for --resume. */
        struct stat named;
        if (rc != EXIT_OK && fstat(fd, &st) == 0 && st.st_size == 0 &&
            lstat(part, &named) == 0 && named.st_dev == st.st_dev && named.st_ino == st.st_ino)
            unlink(part);
        close(fd);
    }
    fflush(stdout);
    return rc;
}

/* ---- put: the file by sendfile, hashed beside ------------------------- */

static int do_put(struct conn *c, const char *file, const char *name)
{
    char prefix[DIGEST_HEX_MAX], sha_hex[DIGEST_HEX_MAX], err[256], shown[FT_SHOWN_MAX];
    char file_shown[FT_SHOWN_MAX], hint[2 * FT_SHOWN_MAX + 64];
    struct file_hash hash;
    struct progress bar;
    struct stat st;
    uint64_t offset = 0, file_size;
    int hashing = 0, rc;

    int from_stdin = strcmp(file, "-") == 0, fd;

    if (from_stdin && (!name || c->stdin_has_commands)) {
        fprintf(stderr, "client: put - reads standard input%s\n", c->stdin_has_commands
                ? ", which holds the commands here: give it on the command line"
                : ", which has no name: put - NAME");
        return EXIT_USAGE;
    }
    if (!name)
        name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    fsroot_show_name(name, strlen(name), shown, sizeof shown);
    fsroot_show_name(from_stdin ? "standard input" : file, strlen(from_stdin ? "standard input"
                     : file), file_shown, sizeof file_shown);
    /* Standard input is kept in a file first: a put says its size first. */
    fd = from_stdin ? localpath_spool(STDIN_FILENO, err, sizeof err)
                    : open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && from_stdin) {
        fprintf(stderr, "client: %s\n", err);
        return EXIT_LOCAL;
    }
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "client: cannot read %s: %s\n", file_shown,
                fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return EXIT_LOCAL;
    }
    file_size = (uint64_t)st.st_size;
    /* How much an interrupted upload left on the server: --resume goes on
     * from there, a plain put does not throw it away unasked. A name stat
     * refuses (a directory, a symlink) is for the put to answer, unless
     * --resume needs the number. */
    cJSON *header = ft_header(FT_STAT);
    if (header && !cJSON_AddStringToObject(header, "name", name)) {
        cJSON_Delete(header);
        header = NULL;
    }
    rc = send_request(c, header, NULL, 0, 0);
    c->quiet = !c->cfg->resume;
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_STAT_REPLY);
    c->quiet = 0;
    if (rc == EXIT_OK) {
        offset = c->msg.partial_size;
        rc = end_of_frame(c);
    } else if (rc == EXIT_REMOTE && !c->cfg->resume) {
        rc = EXIT_OK;
    }
    if (rc != EXIT_OK)
        goto end;
    if (offset > 0 && !c->cfg->resume && !c->cfg->overwrite) {
        fprintf(stderr, "client: the server keeps %" PRIu64 " bytes of an interrupted upload of "
                "%s: `%s` goes on from there, --overwrite starts again\n", offset, shown,
                resume_hint("put", file, name, hint, sizeof hint));
        rc = EXIT_REMOTE;
        goto end;
    }
    if (!c->cfg->resume)
        offset = 0;
    if (offset > file_size) {
        fprintf(stderr, "client: the server kept %" PRIu64 " bytes of %s, more than %s has: "
                "starting again\n", offset, shown, file_shown);
        offset = 0;
    }
    if (file_hash_start(&hash, fd, offset, 1, err, sizeof err) < 0) {
        fprintf(stderr, "client: %s\n", err);
        rc = EXIT_LOCAL;
        goto end;
    }
    hashing = 1;
    if (offset > 0 && file_hash_peek(&hash, offset, prefix, err, sizeof err) < 0) {
        fprintf(stderr, "client: %s: %s\n", file_shown, err);
        rc = EXIT_LOCAL;
        goto end;
    }
    header = ft_header(FT_PUT);
    if (header && (!cJSON_AddStringToObject(header, "name", name) ||
                   !cJSON_AddNumberToObject(header, "file_size", (double)file_size) ||
                   (offset > 0 && (!cJSON_AddNumberToObject(header, "offset", (double)offset) ||
                                   !cJSON_AddStringToObject(header, "prefix_sha256", prefix))) ||
                   (c->cfg->overwrite && !cJSON_AddBoolToObject(header, "overwrite", 1)))) {
        cJSON_Delete(header);
        header = NULL;
    }
    rc = send_request(c, header, NULL, 0, 0);
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_READY);
    if (rc == EXIT_REMOTE && strcmp(c->msg.code, FT_E_EXISTS) == 0)
        fprintf(stderr, "client: put --overwrite replaces it\n");
    if (rc == EXIT_OK && c->msg.offset != offset) {
        fprintf(stderr, "client: the server broke the protocol: ready at %" PRIu64 ", not %"
                PRIu64 "\n", c->msg.offset, offset);
        rc = EXIT_PROTOCOL;
    }
    if (rc == EXIT_OK)
        rc = end_of_frame(c);
    if (rc != EXIT_OK)
        goto end;
    /* The hash runs beside the transfer, from the page cache. */
    file_hash_advance(&hash, file_size);
    progress_start(&bar, isatty(STDERR_FILENO), file_size, offset);
    rc = send_request(c, ft_header(FT_DATA), NULL, file_size - offset, 1);
    interrupt_catch(1);
    for (uint64_t at = offset; rc == EXIT_OK && at < file_size;) {
        /* 1 MiB at a time: Ctrl-C is seen between steps. */
        uint64_t step = file_size - at < (1u << 20) ? file_size - at : (1u << 20);
        if (interrupt_pending()) {
            fprintf(stderr, "%sclient: interrupted after sending %" PRIu64 " of %" PRIu64
                    " bytes: the server keeps what arrived of %s; `%s` continues\n",
                    bar.on ? "\n" : "", at, file_size, shown,
                    resume_hint("put", file, name, hint, sizeof hint));
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (send_file(c->fd, fd, at, step) < 0) {
            if (errno == EIO)
                fprintf(stderr, "client: %s shrank while being sent\n", file_shown);
            else if (errno == EPIPE || errno == ECONNRESET)
                fprintf(stderr, "client: the server closed the connection after %" PRIu64
                        " of %" PRIu64 " bytes\n", at, file_size);
            else
                fprintf(stderr, "client: sending %s: %s\n", file_shown, strerror(errno));
            rc = errno == EIO ? EXIT_LOCAL : EXIT_CONNECTION;
            break;
        }
        at += step;
        progress_draw(&bar, at, 0);
    }
    interrupt_catch(0);
    if (rc != EXIT_OK)
        goto end;
    hashing = 0;
    if (file_hash_finish(&hash, sha_hex, err, sizeof err) < 0) {
        fprintf(stderr, "client: %s: %s\n", file_shown, err);
        rc = EXIT_LOCAL;
        goto end;
    }
    progress_draw(&bar, file_size, 1);
    header = ft_header(FT_END);
    if (header && !cJSON_AddStringToObject(header, "sha256", sha_hex)) {
        cJSON_Delete(header);
        header = NULL;
    }
    rc = send_request(c, header, NULL, 0, 0);
    /* "done" comes after the server's fsync: slow for a large file, and no
     * sign of a busy server (it is talking to us). */
    c->awaiting = 0;
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_DONE);
    if (rc != EXIT_OK)
        goto end;
    if (strcasecmp(c->msg.sha256, sha_hex) != 0 || c->msg.file_size != file_size) {
        fprintf(stderr, "client: the server stored %" PRIu64 " bytes with SHA-256 %s; %s has %"
                PRIu64 " with %s\n", c->msg.file_size, c->msg.sha256, file_shown, file_size,
                sha_hex);
        rc = EXIT_VERIFY;
        goto end;
    }
    rc = end_of_frame(c);
    if (rc == EXIT_OK)
        printf("%s: %" PRIu64 " bytes%s, SHA-256 verified by the server, stored as %s\n",
               file_shown, file_size, resumed_at(offset, hint, sizeof hint), shown);
end:
    if (hashing)
        file_hash_cancel(&hash);
    close(fd);
    fflush(stdout);
    return rc;
}

/* ---- ls and stat ------------------------------------------------------- */

static int do_list(struct conn *c, const char *dir)
{
    char *text = NULL, shown[FT_SHOWN_MAX];
    size_t have = 0;
    cJSON *array = NULL;
    cJSON *header = ft_header(FT_LIST);

    if (header && dir && !cJSON_AddStringToObject(header, "name", dir)) {
        cJSON_Delete(header);
        header = NULL;
    }
    int rc = send_request(c, header, NULL, 0, 0);

    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_LIST_REPLY);
    if (rc != EXIT_OK)
        return rc;
    uint64_t size = c->msg.size, skipped = c->msg.skipped;
    int truncated = c->msg.truncated;
    if (size > LIST_MAX || !(text = malloc((size_t)size + 1))) {
        fprintf(stderr, "client: a listing of %" PRIu64 " bytes is more than this client takes\n",
                size);
        return EXIT_PROTOCOL;
    }
    for (;;) {
        const unsigned char *body;
        size_t piece;
        int ev = next_event(c, &body, &piece, &rc);
        if (ev < 0)
            goto end;
        if (ev == FRAME_END)
            break;
        memcpy(text + have, body, piece);
        have += piece;
    }
    array = cJSON_ParseWithLength(text, have);
    if (!cJSON_IsArray(array)) {
        fprintf(stderr, "client: the server broke the protocol: the listing is not a JSON array\n");
        rc = EXIT_PROTOCOL;
        goto end;
    }
    for (const cJSON *item = array->child; item; item = item->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(item, "size");
        if (!cJSON_IsString(name) || !cJSON_IsNumber(bytes) || bytes->valuedouble < 0) {
            fprintf(stderr, "client: the server broke the protocol: a listing entry is not "
                    "{\"name\": ..., \"size\": ...}\n");
            rc = EXIT_PROTOCOL;
            goto end;
        }
        fsroot_show_name(name->valuestring, strlen(name->valuestring), shown, sizeof shown);
        printf("%12.0f  %s\n", bytes->valuedouble, shown);
    }
    if (skipped)
        fprintf(stderr, "client: %" PRIu64 " more files have names a client cannot ask for "
                "(control characters, not UTF-8)\n", skipped);
    if (truncated)
        fprintf(stderr, "client: the listing was cut short by the server\n");
end:
    cJSON_Delete(array);
    free(text);
    fflush(stdout);
    return rc;
}

static int do_stat(struct conn *c, const char *name)
{
    char shown[FT_SHOWN_MAX];
    cJSON *header = ft_header(FT_STAT);

    if (header && !cJSON_AddStringToObject(header, "name", name)) {
        cJSON_Delete(header);
        header = NULL;
    }
    int rc = send_request(c, header, NULL, 0, 0);
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_STAT_REPLY);
    if (rc != EXIT_OK)
        return rc;
    fsroot_show_name(name, strlen(name), shown, sizeof shown);
    if (c->msg.exists)
        printf("%s: %" PRIu64 " bytes", shown, c->msg.file_size);
    else
        printf("%s: no such file", shown);
    if (c->msg.partial_size)
        printf("; an interrupted upload kept %" PRIu64 " bytes (put --resume goes on)",
               c->msg.partial_size);
    printf("\n");
    fflush(stdout);
    return end_of_frame(c);
}
