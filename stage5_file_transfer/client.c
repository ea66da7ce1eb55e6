/* stage5_file_transfer/client.c - stage 5: get and put files, run commands,
 * over frames in both directions.
 *
 * Reproduces: the document's next topic (应用:基于网络上传和下载文件), with
 *   the v4 framing: a header length, a JSON header, the body.
 * Fixes (over stage 4): requests are frames too; replies go through a
 *   frame reader, which keeps bytes past a frame's end (the next header,
 *   sent at once) for the next; command output is shown as it arrives; a
 *   download is named only once its SHA-256 is verified; --resume goes on
 *   with an interrupted transfer once the part there is proven the same;
 *   a peer that closes mid-frame is an error, not a loop.
 * Still wrong: nothing, as far as the tests can tell; the server serves
 *   one client at a time (stage 6).
 * Not the protocol, so in common/: the command words and the interactive
 *   mode (shell.c), the local files and the progress bar (transfer.c),
 *   the receive buffer and the recv loop that feeds the reader (ftclient.c).
 */
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "digest.h"
#include "frame.h"
#include "fsroot.h"
#include "ft.h"
#include "ftclient.h"
#include "interrupt.h"
#include "session.h"
#include "shell.h"
#include "transfer.h"

#define LIST_MAX (64u << 20)

struct client_config {
    struct session_config session;  /* connect, busy notice, --wait */
    unsigned long max_header;
    int resume, overwrite;
    int stdin_has_commands;         /* the interactive mode: no "put -" */
};

struct conn {
    const struct client_config *cfg;
    struct ft_client link;          /* the socket and its frame reader */
    int running;                    /* the request is a command         */
    int quiet;                      /* an error reply is not printed        */
    int command_status;             /* exec: the command's, as a shell's $? */
    struct ft_msg msg;              /* the last reply's header             */
};

static int do_exec(struct conn *c, const char *command, size_t len);
static int do_get(struct conn *c, const char *name, const char *dest);
static int do_put(struct conn *c, const char *file, const char *name);
static int do_list(struct conn *c, const char *dir);
static int do_stat(struct conn *c, const char *name);
static int receive_reply(struct conn *c);
static int conn_open(struct conn *c);

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = FT_DEFAULT_PORT,
                     .command_max = FT_MAX_COMMAND, .diag = stderr, .busy_hint = "",
                     .timeout_ms = DURATION_S(60) },
        .max_header = FT_MAX_HEADER,
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.session.host),
        CLI_SERVER_PORT_OPTION(&cfg.session.port, FT_DEFAULT_PORT),
        { "resume", 0, CLI_FLAG, &cfg.resume, NULL,
          "go on with an interrupted get or put where it stopped", 0, 0 },
        { "overwrite", 0, CLI_FLAG, &cfg.overwrite, NULL,
          "replace an existing file (the server's on put, DEST on get), or start an "
          "interrupted transfer again", 0, 0 },
        { "wait", 'w', CLI_DURATION, &cfg.session.wait_ms, "SECS",
          "give up when no reply has started after SECS (default 0: wait as long as it takes)",
          0, DURATION_S(86400) },
        { "timeout", 't', CLI_DURATION, &cfg.session.timeout_ms, "SECS",
          "give up when a reply that has started stalls for SECS (default 60; 0: never)",
          0, DURATION_S(86400) },
        { "max-header", 0, CLI_UINT, &cfg.max_header, "BYTES",
          "refuse a reply header longer than BYTES (default " FT_MAX_HEADER_TEXT ")", 64, 1UL << 24 },
    };
    const struct cli_program prog = {
        "client", "Gets and puts files and runs commands on a stage 5 server.",
        "stage 5, the document's file transfer (not written there)", options,
        sizeof options / sizeof options[0], shell_usage
    };
    struct cli_outcome cli;
    struct shell_args cmd;
    struct conn c = { .cfg = &cfg, .link = { .fd = -1 } };
    const struct shell sh = {
        .prog = &prog, .cfg = &cfg, .cfg_size = sizeof cfg, .session = &cfg.session, .conn = &c,
        .exec = do_exec, .get = do_get, .put = do_put, .list = do_list, .stat = do_stat,
        .receive_reply = receive_reply, .reconnect = conn_open, .fd = &c.link.fd,
        .command_status = &c.command_status, .quiet = &c.quiet, .msg = &c.msg,
        .in = stdin, .out = stdout, .err = stderr
    };

    /* Before any socket: one started with 0, 1 or 2 closed would get that
     * number, and what is printed would go to the peer. */
    if (cli_std_fds_open() < 0) {
        fprintf(stderr, "client: cannot open /dev/null: %s\n", strerror(errno));
        return EXIT_LOCAL;
    }
    shell_parse_args(&prog, argc, argv, &cli, &cmd);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    cfg.stdin_has_commands = !cmd.word;
    int status = conn_open(&c) < 0 ? (cmd.exec ? EXIT_EXEC_FAILED : EXIT_CONNECTION)
                                   : shell_main(&sh, &cmd);
    ft_client_close(&c.link);
    return status;
}

/* Says "client: MESSAGE" on stderr, unless MESSAGE is "" (common/'s error
 * texts when there is nothing to add). Returns RC, the status it explains. */
__attribute__((format(printf, 2, 3))) static int say(int rc, const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (message[0])
        fprintf(stderr, "client: %s\n", message);
    return rc;
}

/* A new connection and its frame reader, the one there closed (the shell's
 * reconnect, when the server closed it: its --idle). Returns 0, or -1
 * after saying why. */
static int conn_open(struct conn *c)
{
    const struct client_config *cfg = c->cfg;

    ft_client_close(&c->link);
    *c = (struct conn){ .cfg = cfg };
    if (ft_client_init(&c->link, (uint32_t)cfg->max_header, cfg->session.timeout_ms) < 0)
        return say(-1, "out of memory");
    c->link.fd = session_connect(&cfg->session);
    return c->link.fd < 0 ? -1 : 0;
}

/* ft_client_next, saying why it failed: -1 with *FAIL the exit status. */
static int next_event(struct conn *c, const unsigned char **body, size_t *len, int *fail)
{
    char err[2048];
    int ev = ft_client_next(&c->link, body, len, fail, err, sizeof err);

    if (ev < 0)
        say(0, "%s", err);
    return ev;
}

/* Reads the next reply's header into c->msg and checks it against the
 * protocol. An "error" reply is printed. Returns 0, or an exit status. */
static int receive_reply(struct conn *c)
{
    const unsigned char *body;
    size_t len;
    struct ft_error e;
    char shown[600], err[2048];
    int fail = ft_client_header(&c->link, &c->cfg->session,
                                c->running ? ", or the command has printed nothing yet" : "",
                                err, sizeof err);

    if (fail != EXIT_OK)
        return say(fail, "%s", err);
    const struct frame_reader *r = &c->link.reader;
    if (ft_parse(FT_REPLY, r->header, r->header_json, r->header_len, r->body_size, &c->msg, &e) < 0)
        return say(EXIT_PROTOCOL, "the server broke the protocol: %s", e.message);
    if (c->msg.op == FT_ERROR) {
        fsroot_show_text(c->msg.message, strlen(c->msg.message), shown, sizeof shown);
        if (!c->quiet)
            say(0, "server: %s (%s)", shown, c->msg.code);
        /* The error has no body: take its end, the stream stays in step. */
        return next_event(c, &body, &len, &fail) < 0 ? fail : EXIT_REMOTE;
    }
    return EXIT_OK;
}

/* Reads the rest of a frame whose header has no body (its FRAME_END). */
static int end_of_frame(struct conn *c)
{
    const unsigned char *body;
    size_t len;
    int fail = EXIT_PROTOCOL, ev = next_event(c, &body, &len, &fail);

    return ev == FRAME_END ? EXIT_OK : fail;
}

/* Expects a reply of op OP (or an error). Returns 0, or an exit status. */
static int expect_reply(struct conn *c, enum ft_op op)
{
    int rc = receive_reply(c);

    if (rc == EXIT_OK && c->msg.op != op)
        return say(EXIT_PROTOCOL, "the server broke the protocol: \"%s\" came where \"%s\" was "
                   "due", c->msg.op_name, ft_op_name(op));
    return rc;
}

/* Sends one request frame: HEADER, or NULL when building it ran out of
 * memory (OK 0: an addition to it failed). Returns 0, or an exit status
 * after saying why. */
static int send_request(struct conn *c, cJSON *header, int ok, const void *body, uint64_t len,
                        int more)
{
    char err[256];

    if (!ok)
        cJSON_Delete(header);
    if (ft_send(c->link.fd, ok ? header : NULL, body, len, more, err, sizeof err) < 0)
        return errno == EPIPE || errno == ECONNRESET
               ? say(EXIT_CONNECTION, "the server closed the connection")
               : say(EXIT_CONNECTION, "sending the request: %s", err);
    c->link.awaiting = 1;
    c->running = 0;
    return EXIT_OK;
}

/* exec: the output as it comes. */
static int do_exec(struct conn *c, const char *command, size_t len)
{
    struct shell_output out;
    char note[512];

    if (shell_output_init(&out, STDOUT_FILENO, STDERR_FILENO) < 0)
        return say(EXIT_LOCAL, "out of memory");
    fflush(stdout);
    c->command_status = EXIT_EXEC_FAILED;
    interrupt_catch(1);
    int rc = send_request(c, ft_header(FT_EXEC), 1, command, len, 0);
    c->running = 1;
    while (rc == EXIT_OK && (rc = receive_reply(c)) == EXIT_OK && c->msg.op != FT_EXIT) {
        if (c->msg.op != FT_OUTPUT) {
            rc = say(EXIT_PROTOCOL, "the server broke the protocol: \"%s\" came during a "
                     "command's output", c->msg.op_name);
            break;
        }
        /* Each piece is shown the moment it arrives. */
        const unsigned char *body;
        size_t piece;
        while (next_event(c, &body, &piece, &rc) == FRAME_BODY) {
            if (shell_output_write(&out, c->msg.stream, body, piece) < 0) {
                rc = say(EXIT_LOCAL, "writing the output: %s", strerror(errno));
                break;
            }
        }
    }
    if (rc == EXIT_OK) {
        rc = shell_output_end(&out, &c->msg, &c->command_status, note, sizeof note);
        say(rc, "%s", note);
        int end = end_of_frame(c);
        if (rc == EXIT_OK)
            rc = end;
    }
    interrupt_catch(0);
    shell_output_free(&out);
    return rc;
}

/* get: into a temporary file, renamed once verified. */
static int do_get(struct conn *c, const char *name, const char *dest)
{
    char said[DIGEST_HEX_MAX], text[1024];
    const unsigned char *body;
    size_t piece;
    struct download dl;

    /* DEST's partial file: what an interrupted download left is where a
     * resume starts, and its SHA-256 proves it is the same file. */
    int rc = download_open(&dl, name, dest, c->cfg->resume, c->cfg->overwrite, STDOUT_FILENO,
                           text, sizeof text);
    if (rc != EXIT_OK) {
        say(rc, "%s", text);
        goto end;
    }
    cJSON *header = ft_header(FT_GET);
    rc = send_request(c, header, cJSON_AddStringToObject(header, "name", name) &&
                      (dl.offset == 0 ||
                       (cJSON_AddNumberToObject(header, "offset", (double)dl.offset) &&
                        cJSON_AddStringToObject(header, "prefix_sha256", dl.prefix))), NULL, 0, 0);
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_FILE);
    if (rc == EXIT_OK && (c->msg.offset != dl.offset || strcmp(c->msg.name, name) != 0)) {
        char sent_shown[FT_SHOWN_MAX];
        fsroot_show_name(c->msg.name, strlen(c->msg.name), sent_shown, sizeof sent_shown);
        rc = say(EXIT_PROTOCOL, "the server broke the protocol: it sent \"%s\" from byte %" PRIu64
                 ", not \"%s\" from %" PRIu64, sent_shown, c->msg.offset, dl.shown, dl.offset);
    }
    if (rc != EXIT_OK)
        goto end;
    download_start(&dl, c->msg.file_size, isatty(STDERR_FILENO), stderr);
    interrupt_catch(1);
    while (next_event(c, &body, &piece, &rc) == FRAME_BODY) {
        if (download_write(&dl, body, piece) < 0) {
            rc = say(EXIT_LOCAL, "writing %s: %s", dl.path_shown, strerror(errno));
            break;
        }
    }
    interrupt_catch(0);
    if (rc != EXIT_OK) {        /* what was kept, and how to go on */
        if (download_stopped(&dl, rc, text, sizeof text)[0])
            fprintf(stderr, "%sclient: %s\n", rc == EXIT_INTERRUPTED && dl.bar.on ? "\n" : "",
                    text);
        goto end;
    }
    progress_draw(&dl.bar, dl.bar.total, 1, stderr);
    rc = expect_reply(c, FT_END);
    if (rc != EXIT_OK)
        goto end;
    snprintf(said, sizeof said, "%s", c->msg.sha256);
    rc = end_of_frame(c);
    if (rc != EXIT_OK)
        goto end;
    rc = download_finish(&dl, said, c->cfg->overwrite, text, sizeof text);
    if (rc == EXIT_OK && !dl.to_stdout)
        printf("%s\n", text);
    else
        say(rc, "%s", text);
end:
    download_close(&dl, rc != EXIT_OK);
    fflush(stdout);
    return rc;
}

/* Sends "stat" for NAME and reads its reply into c->msg (an error reply
 * not printed when QUIET). Returns 0, or an exit status. */
static int stat_request(struct conn *c, const char *name, int quiet)
{
    cJSON *header = ft_header(FT_STAT);
    int rc = send_request(c, header, cJSON_AddStringToObject(header, "name", name) != NULL,
                          NULL, 0, 0);

    c->quiet = quiet;
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_STAT_REPLY);
    c->quiet = 0;
    return rc;
}

/* put: the file by sendfile, hashed beside. */
static int do_put(struct conn *c, const char *file, const char *name)
{
    char sha_hex[DIGEST_HEX_MAX], err[1024], hint[2 * FT_SHOWN_MAX + 64];
    struct upload up;

    int rc = upload_open(&up, file, &name, c->cfg->stdin_has_commands, STDIN_FILENO, err,
                         sizeof err);
    if (rc != EXIT_OK) {
        say(rc, "%s", err);
        goto end;
    }
    /* How much an interrupted upload left on the server: --resume goes on
     * from there. A name stat refuses (a directory, a symlink) is for the
     * put to answer, unless --resume needs the number. */
    rc = stat_request(c, name, !c->cfg->resume);
    uint64_t kept = rc == EXIT_OK ? c->msg.partial_size : 0;
    if (rc == EXIT_OK)
        rc = end_of_frame(c);
    else if (rc == EXIT_REMOTE && !c->cfg->resume)
        rc = EXIT_OK;
    if (rc == EXIT_OK) {        /* where the upload starts: there, or at 0 */
        rc = upload_resume_at(&up, kept, c->cfg->resume, c->cfg->overwrite, file, name, err,
                              sizeof err);
        say(rc, "%s", err);
    }
    if (rc == EXIT_OK && (rc = upload_hash(&up, err, sizeof err)) != EXIT_OK)
        say(rc, "%s", err);
    if (rc != EXIT_OK)
        goto end;
    cJSON *header = ft_header(FT_PUT);
    rc = send_request(c, header, cJSON_AddStringToObject(header, "name", name) &&
                      cJSON_AddNumberToObject(header, "file_size", (double)up.size) &&
                      (up.offset == 0 ||
                       (cJSON_AddNumberToObject(header, "offset", (double)up.offset) &&
                        cJSON_AddStringToObject(header, "prefix_sha256", up.prefix))) &&
                      (!c->cfg->overwrite || cJSON_AddBoolToObject(header, "overwrite", 1)),
                      NULL, 0, 0);
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_READY);
    if (rc == EXIT_REMOTE && strcmp(c->msg.code, FT_E_EXISTS) == 0)
        say(0, "put --overwrite replaces it");
    if (rc == EXIT_OK && c->msg.offset != up.offset)
        rc = say(EXIT_PROTOCOL, "the server broke the protocol: ready at %" PRIu64 ", not %"
                 PRIu64, c->msg.offset, up.offset);
    if (rc == EXIT_OK)
        rc = end_of_frame(c);
    if (rc != EXIT_OK)
        goto end;
    upload_start(&up, isatty(STDERR_FILENO), stderr);
    rc = send_request(c, ft_header(FT_DATA), 1, NULL, up.size - up.offset, 1);
    if (rc == EXIT_OK && (rc = upload_send(&up, c->link.fd, file, name, err, sizeof err)) != EXIT_OK)
        fprintf(stderr, "%sclient: %s\n", rc == EXIT_INTERRUPTED && up.bar.on ? "\n" : "", err);
    if (rc == EXIT_OK && (rc = upload_finish(&up, sha_hex, err, sizeof err)) != EXIT_OK)
        say(rc, "%s", err);
    if (rc != EXIT_OK)
        goto end;
    header = ft_header(FT_END);
    rc = send_request(c, header, cJSON_AddStringToObject(header, "sha256", sha_hex) != NULL,
                      NULL, 0, 0);
    /* "done" comes after the server's fsync: slow for a large file, and no
     * sign of a busy server (it is talking to us). */
    c->link.awaiting = 0;
    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_DONE);
    if (rc == EXIT_OK && (strcasecmp(c->msg.sha256, sha_hex) != 0 || c->msg.file_size != up.size))
        rc = say(EXIT_VERIFY, "the server stored %" PRIu64 " bytes with SHA-256 %s; %s has %"
                 PRIu64 " with %s", c->msg.file_size, c->msg.sha256, up.file_shown, up.size,
                 sha_hex);
    if (rc == EXIT_OK)
        rc = end_of_frame(c);
    if (rc == EXIT_OK)
        printf("%s: %" PRIu64 " bytes%s, SHA-256 verified by the server, stored as %s\n",
               up.file_shown, up.size, transfer_resumed_at(up.offset, hint, sizeof hint), up.shown);
end:
    upload_close(&up);
    fflush(stdout);
    return rc;
}

static int do_list(struct conn *c, const char *dir)
{
    char *text = NULL, err[2048];
    size_t have;
    cJSON *header = ft_header(FT_LIST);
    int rc = send_request(c, header, !dir || cJSON_AddStringToObject(header, "name", dir), NULL,
                          0, 0);

    if (rc == EXIT_OK)
        rc = expect_reply(c, FT_LIST_REPLY);
    if (rc != EXIT_OK)
        return rc;
    if (c->msg.size > LIST_MAX || !(text = malloc((size_t)c->msg.size + 1)))
        return say(EXIT_PROTOCOL, "a listing of %" PRIu64 " bytes is more than this client takes",
                   c->msg.size);
    if (ft_client_body(&c->link, text, &have, &rc, err, sizeof err) < 0)
        say(0, "%s", err);
    else if (transfer_print_listing(text, have, stdout, err, sizeof err) < 0)
        rc = say(EXIT_PROTOCOL, "the server broke the protocol: %s", err);
    if (rc == EXIT_OK && c->msg.skipped)
        say(0, "%" PRIu64 " more files have names a client cannot ask for (control characters, "
            "not UTF-8)", c->msg.skipped);
    if (rc == EXIT_OK && c->msg.truncated)
        say(0, "the listing was cut short by the server");
    free(text);
    fflush(stdout);
    return rc;
}

static int do_stat(struct conn *c, const char *name)
{
    int rc = stat_request(c, name, 0);

    if (rc != EXIT_OK)
        return rc;
    transfer_print_stat(&c->msg, name, stdout);
    return end_of_frame(c);
}
