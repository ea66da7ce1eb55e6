/* stage5_file_transfer/server.c - stage 5: files up and down, over frames
 * in both directions.
 *
 * Reproduces: the document's next topic (应用:基于网络上传和下载文件):
 *   upload and download files over the v4 framing - a header length, a
 *   JSON header (file name, size, digest), the body.
 * Fixes (over stage 4): requests are framed too - one frame, one request,
 *   however the stream is cut and however many arrive at once; a table of
 *   operations, not getattr(self, cmd); command output streams as it is
 *   produced, each chunk framed; every file is proved with SHA-256 on both
 *   ends; names stay beneath --root; uploads land under their name only
 *   once complete and verified; the header length is in network byte order.
 * Still wrong: one client at a time, as the document's server (stage 6).
 */
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fsroot.h"
#include "frame.h"
#include "ft.h"
#include "ftserve.h"
#include "net.h"
#include "run.h"
#include "serve.h"
#include "wire.h"

#define UPLOAD_CHUNK (1u << 20)

struct server_config {
    struct serve_config serve;      /* how connections are served */
    const char *root_path;
    struct fsroot root;
    unsigned long timeout_ms, max_output, max_command, max_header, max_upload;
    struct frame_format format;     /* frame_stage5 with our limits */
};

/* One operation: reads the rest of its request, answers. Returns 0 to go on
 * with the next request, -1 when the connection must close. */
typedef int operation(struct serve_conn *conn, struct frame_reader *request,
                      const struct ft_msg *msg, const struct server_config *cfg);
static operation do_exec, do_get, do_put, do_stat, do_list;

/* Everything a client can ask: an op not in this table does not exist. */
static const struct {
    enum ft_op op;
    operation *run;
} operations[] = {
    { FT_EXEC, do_exec },
    { FT_GET,  do_get },
    { FT_PUT,  do_put },
    { FT_STAT, do_stat },
    { FT_LIST, do_list },
};

static serve_handler serve_client;

int main(int argc, char **argv)
{
    struct server_config cfg = {
        .serve = { .prog = "server", .host = "127.0.0.1", .port = FT_DEFAULT_PORT,
                   .idle_ms = DURATION_S(60), .log = stderr, .sandbox.root = &cfg.root },
        .timeout_ms = DURATION_S(10), .max_output = FT_MAX_OUTPUT_DEFAULT,
        .max_command = FT_MAX_COMMAND, .max_header = FT_MAX_HEADER,
        .max_upload = FT_MAX_UPLOAD_DEFAULT,
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.serve.host),
        CLI_PORT_OPTION(&cfg.serve.port, FT_DEFAULT_PORT),
        { "root", 'r', CLI_STRING, &cfg.root_path, "DIR",
          "the directory clients get from and put into (required); commands run there", 0, 0 },
        { "timeout", 't', CLI_DURATION, &cfg.timeout_ms, "SECS",
          "kill a command, or drop a client that stops reading, after SECS (default 10)",
          1, DURATION_S(86400) },
        { "idle", 0, CLI_DURATION, &cfg.serve.idle_ms, "SECS",
          "close a client that sends nothing for SECS, between requests or inside one "
          "(default 60; 0: never)", 0, DURATION_S(86400) },
        { "max-output", 0, CLI_UINT, &cfg.max_output, "BYTES",
          "send at most BYTES of a command's output (default " FT_MAX_OUTPUT_TEXT ")", 0, 1UL << 53 },
        { "max-command", 0, CLI_UINT, &cfg.max_command, "BYTES",
          "refuse a command longer than BYTES (default and most " FT_MAX_COMMAND_TEXT ")", 1, FT_MAX_COMMAND },
        { "max-header", 0, CLI_UINT, &cfg.max_header, "BYTES",
          "refuse a request header longer than BYTES (default " FT_MAX_HEADER_TEXT ")", 64, 1UL << 24 },
        { "max-upload", 0, CLI_UINT, &cfg.max_upload, "BYTES",
          "refuse an upload larger than BYTES, before any byte is written (default "
          FT_MAX_UPLOAD_TEXT ")",
          0, 1UL << 53 },
        FSROOT_READ_ONLY_OPTION(&cfg.root),
        SANDBOX_OPTIONS(&cfg.serve.sandbox),
    };
    const struct cli_program prog = {
        "server", "Serves the files of --root (get, put, stat, list) and runs commands, over "
        "frames in both directions.",
        "stage 5, the document's file transfer (not written there)", options,
        sizeof options / sizeof options[0],
        "Anyone who can reach the port runs shell commands as you: keep it on loopback,\n"
        "or add --sandbox (README.md: Teaching on a classroom network).\n"
        "Names are checked and opened beneath --root: no '..', no absolute name, no symlink\n"
        "leading out (openat2 RESOLVE_BENEATH; without it, every symlink is refused)."
    };
    struct cli_outcome cli;
    char err[256];

    cli_parse(&prog, argc, argv, &cli);
    if (cli.run && !cfg.root_path)
        cli_usage_error(&prog, &cli, "--root DIR is required: which directory do clients "
                        "get from and put into?");
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    /* A test hook: prove the fallback on a kernel that has openat2. */
    const char *no_openat2 = getenv("NIANBAO_NO_OPENAT2");
    if (ft_memo_settle_from_env(err, sizeof err) < 0 ||
        fsroot_open(&cfg.root, cfg.root_path, no_openat2 && *no_openat2 == '1',
                    err, sizeof err) < 0 ||
        (chdir(cfg.root_path) < 0 &&
         snprintf(err, sizeof err, "cannot enter the root %s: %s", cfg.root_path,
                  strerror(errno)) > 0)) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    fprintf(stderr, "serving %s (%s)\n", cfg.root_path, cfg.root.beneath
            ? "openat2: symlinks are followed only while they stay inside"
            : "no openat2: every symlink is refused");
    cfg.format = ft_request_format((uint32_t)cfg.max_header, cfg.max_upload, cfg.max_command);
    cfg.serve.send_timeout_ms = cfg.timeout_ms;
    /* As the document: one client at a time, forever (stage 6 serves many). */
    return serve_forever(&cfg.serve, serve_client, &cfg);
}

static int send_error(struct serve_conn *conn, const struct ft_error *e);
static int skip_body(struct serve_conn *conn, struct frame_reader *request);

/* One client's requests, one after another. Every request is a frame: its
 * header says how long the body is, so a request split into pieces or
 * glued to the next is read exactly - the recv(1024) of stages 1 to 4 is
 * gone. */
static void serve_client(struct serve_conn *conn, void *ctx)
{
    const struct server_config *cfg = ctx;
    struct frame_reader request;
    struct ft_msg msg;
    struct ft_error e;

    frame_reader_init(&request, &cfg->format);
    for (;;) {
        /* Between requests a client may think for --idle seconds. */
        struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
        int ready = poll(&pfd, 1, cfg->serve.idle_ms ? (int)cfg->serve.idle_ms : -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            serve_log_idle(conn);
            break;
        }
        int got = frame_recv_header(conn->fd, &request, "request");
        if (got == 0)
            break;                  /* the client closed between requests */
        if (got < 0) {
            /* Not our protocol: the next frame cannot be found; say why.
             * Cut off mid-frame: the client is gone, as after a close. */
            serve_log(conn, "%s; closing the connection", request.err);
            struct ft_error fatal = { FT_E_BAD_FRAME, "" };
            snprintf(fatal.message, sizeof fatal.message, "%s", request.err);
            if (!request.cut)
                send_error(conn, &fatal);
            break;
        }
        if (ft_parse(FT_REQUEST, request.header, request.header_json, request.header_len,
                     request.body_size, &msg, &e) < 0) {
            serve_log(conn, "refused: %s", e.message);
            if (send_error(conn, &e) < 0 || skip_body(conn, &request) < 0)
                break;
            continue;
        }
        int rc = -1;
        for (size_t i = 0; i < sizeof operations / sizeof operations[0]; i++)
            if (operations[i].op == msg.op)
                rc = operations[i].run(conn, &request, &msg, cfg);
        if (rc < 0)
            break;
    }
    frame_reader_free(&request);
}

/* ---- exec: the output, framed as it comes ------------------------------ */

static int send_output(struct serve_conn *conn, int stream, const void *bytes, size_t len,
                       struct digest *sha)
{
    char err[256];
    cJSON *header = ft_header(FT_OUTPUT);

    if (header && !cJSON_AddStringToObject(header, "stream",
                                           stream == COMMAND_STDOUT ? "stdout" : "stderr")) {
        cJSON_Delete(header);
        header = NULL;
    }
    digest_update(sha, bytes, len);
    if (ft_send(conn->fd, header, bytes, len, 0, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        return -1;
    }
    return 0;
}

static int do_exec(struct serve_conn *conn, struct frame_reader *request,
                    const struct ft_msg *msg, const struct server_config *cfg)
{
    char err[256], notes[512], shown[80], sha_hex[DIGEST_HEX_MAX];
    unsigned char *chunk = NULL;
    struct ft_error e;
    struct command cmd;
    struct command_status st;
    struct digest sha = { DIGEST_NONE, NULL };
    uint64_t sizes[3] = { 0, 0, 0 };
    char *command = NULL;
    int rc = -1, running = 0;

    if (msg->size > cfg->max_command) {
        ft_fail(&e, FT_E_TOO_LARGE, FT_MSG_COMMAND_TOO_LARGE, msg->size, cfg->max_command);
        serve_log(conn, "refused: %s", e.message);
        return send_error(conn, &e) < 0 ? -1 : skip_body(conn, request);
    }
    /* The body is the command, exactly: size bytes, however they arrive. */
    command = malloc((size_t)msg->size);
    chunk = malloc(FT_OUTPUT_MAX);
    if (!command || !chunk) {
        serve_log(conn, "out of memory for a %" PRIu64 "-byte command", msg->size);
        goto end;
    }
    for (uint64_t have = 0; have < msg->size;) {
        ssize_t got = frame_recv_body(conn->fd, request, command + have,
                                      (size_t)(msg->size - have));
        if (got <= 0) {
            serve_log(conn, "%s", got < 0 ? request->err : "the command ended early");
            goto end;
        }
        have += (uint64_t)got;
    }
    escape_bytes(command, (size_t)msg->size, shown, sizeof shown);
    if (digest_init_behind(&sha, DIGEST_SHA256) < 0)
        snprintf(err, sizeof err, "out of memory");
    if (!sha.ctx || command_start(&cmd, command, (size_t)msg->size, cfg->timeout_ms,
                                  cfg->max_output, err, sizeof err) < 0) {
        ft_fail(&e, FT_E_IO, "cannot run the command: %s", err);
        serve_log(conn, "exec \"%s\": %s", shown, e.message);
        rc = send_error(conn, &e);
        goto end;
    }
    running = 1;
    cmd.peer_fd = conn->fd;         /* a client that goes away ends its command */
    /* Each piece of output goes out the moment it is read. */
    for (;;) {
        enum command_stream stream;
        ssize_t got = command_next(&cmd, &stream, chunk, FT_OUTPUT_MAX, err, sizeof err);
        if (got < 0) {
            serve_log(conn, "exec \"%s\": %s", shown, err);
            goto end;
        }
        if (got == 0)
            break;
        sizes[stream] += (uint64_t)got;
        if (send_output(conn, stream, chunk, (size_t)got, &sha) < 0)
            goto end;
    }
    command_finish(&cmd, &st, notes, sizeof notes);
    running = 0;
    if (notes[0]) {
        sizes[COMMAND_STDERR] += strlen(notes);
        if (send_output(conn, COMMAND_STDERR, notes, strlen(notes), &sha) < 0)
            goto end;
    }
    digest_final_hex(&sha, sha_hex);
    cJSON *header = ft_header(FT_EXIT);
    if (header && (!cJSON_AddItemToObject(header, "exit_code", st.exit_code >= 0
                                          ? cJSON_CreateNumber(st.exit_code) : cJSON_CreateNull()) ||
                   !cJSON_AddNumberToObject(header, "signal", st.signal) ||
                   !cJSON_AddBoolToObject(header, "timed_out", st.timed_out) ||
                   !cJSON_AddBoolToObject(header, "truncated", st.truncated) ||
                   !cJSON_AddNumberToObject(header, "stdout_size", (double)sizes[COMMAND_STDOUT]) ||
                   !cJSON_AddNumberToObject(header, "stderr_size", (double)sizes[COMMAND_STDERR]) ||
                   !cJSON_AddStringToObject(header, "sha256", sha_hex))) {
        cJSON_Delete(header);
        header = NULL;
    }
    serve_log(conn, "exec \"%s\": %s %d, %" PRIu64 " bytes stdout, %" PRIu64 " bytes stderr",
              shown, st.signal ? "killed by signal" : "exit",
              st.signal ? st.signal : st.exit_code, sizes[COMMAND_STDOUT], sizes[COMMAND_STDERR]);
    if (ft_send(conn->fd, header, NULL, 0, 0, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        goto end;
    }
    rc = 0;
end:
    if (running) {
        command_kill(&cmd);
        command_finish(&cmd, &st, NULL, 0);
    }
    digest_free(&sha);
    free(command);
    free(chunk);
    return rc;
}

/* ---- get: the file by sendfile, its SHA-256 after --------------------- */

static int do_get(struct serve_conn *conn, struct frame_reader *request,
                     const struct ft_msg *msg, const struct server_config *cfg)
{
    struct ft_download dl;
    struct ft_error e;
    char err[256], sha_hex[DIGEST_HEX_MAX];

    (void)request;
    if (ft_download_open(&cfg->root, msg, 1, &dl, &e) < 0) {
        serve_log(conn, "get refused: %s", e.message);
        return send_error(conn, &e);
    }
    cJSON *header = ft_header(FT_FILE);
    if (header && (!cJSON_AddStringToObject(header, "name", msg->name) ||
                   !cJSON_AddNumberToObject(header, "file_size", (double)dl.file_size) ||
                   !cJSON_AddNumberToObject(header, "offset", (double)dl.offset))) {
        cJSON_Delete(header);
        header = NULL;
    }
    /* The header waits (MSG_MORE) for the body's first bytes. */
    if (ft_send(conn->fd, header, NULL, dl.file_size - dl.offset, 1, err, sizeof err) < 0 ||
        send_file(conn->fd, dl.fd, dl.offset, dl.file_size - dl.offset) < 0) {
        if (errno == EIO)   /* the file shrank: the frame cannot be completed */
            serve_log(conn, "get \"%s\": the file shrank while being sent; closing", dl.shown);
        else
            serve_log_send_error(conn, errno);
        ft_download_close(&dl);
        return -1;
    }
    if (ft_download_finish(&dl, sha_hex, &e) < 0) {
        serve_log(conn, "get: %s", e.message);
        return send_error(conn, &e);
    }
    header = ft_header(FT_END);
    if (header && !cJSON_AddStringToObject(header, "sha256", sha_hex)) {
        cJSON_Delete(header);
        header = NULL;
    }
    serve_log(conn, "get \"%s\": sent bytes %" PRIu64 "..%" PRIu64 " of %" PRIu64 ", sha256 %s%s",
              dl.shown, dl.offset, dl.file_size, dl.file_size, sha_hex,
              dl.remembered ? " (remembered: the file is unchanged since it was hashed)" : "");
    if (ft_send(conn->fd, header, NULL, 0, 0, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        return -1;
    }
    return 0;
}

/* ---- put: a partial file, renamed once complete and verified ---------- */

/* Reads the next frame of an upload; it must be OP. Returns 0, or -1
 * after logging why (and telling the client, when it can hear). */
static int upload_frame(struct serve_conn *conn, struct frame_reader *request, enum ft_op op,
                        struct ft_msg *msg, const char *shown)
{
    struct ft_error e;
    int got = frame_recv_header(conn->fd, request, "upload frame");

    if (got <= 0) {
        serve_log(conn, "put \"%s\": %s", shown,
                  got < 0 ? request->err : "the client closed before the upload's data");
        if (got < 0 && !request->cut) {
            /* As between requests: a bad frame gets a last word. */
            struct ft_error fatal = { FT_E_BAD_FRAME, "" };
            snprintf(fatal.message, sizeof fatal.message, "%s", request->err);
            send_error(conn, &fatal);
        }
        return -1;
    }
    if (ft_parse(FT_UPLOAD, request->header, request->header_json, request->header_len,
                 request->body_size, msg, &e) == 0) {
        if (msg->op == op)
            return 0;
        ft_fail(&e, FT_E_OUT_OF_ORDER, FT_MSG_OUT_OF_STEP, msg->op_name, ft_op_name(op));
    }
    /* Out of step inside an upload: the rest of the stream means nothing. */
    serve_log(conn, "put \"%s\": %s; closing", shown, e.message);
    send_error(conn, &e);
    return -1;
}

static int do_put(struct serve_conn *conn, struct frame_reader *request,
                  const struct ft_msg *msg, const struct server_config *cfg)
{
    struct ft_upload up;
    struct ft_error e, write_error = { NULL, "" };
    struct ft_msg frame;
    char err[256], sha_hex[DIGEST_HEX_MAX], name[FSROOT_NAME_MAX + 1];
    unsigned char *chunk = NULL;

    /* MSG points into the request's header, gone once the next frame is read. */
    snprintf(name, sizeof name, "%s", msg->name);
    if (ft_upload_begin(&cfg->root, msg, cfg->max_upload, 1, &up, &e) < 0) {
        serve_log(conn, "put refused: %s", e.message);
        return send_error(conn, &e);
    }
    cJSON *header = ft_header(FT_READY);
    if (header && !cJSON_AddNumberToObject(header, "offset", (double)up.offset)) {
        cJSON_Delete(header);
        header = NULL;
    }
    chunk = malloc(UPLOAD_CHUNK);
    if (!chunk || ft_send(conn->fd, header, NULL, 0, 0, err, sizeof err) < 0) {
        serve_log(conn, "put \"%s\": %s", up.shown, chunk ? err : "out of memory");
        goto lost;
    }
    if (upload_frame(conn, request, FT_DATA, &frame, up.shown) < 0)
        goto lost;
    if (frame.size != up.file_size - up.offset) {
        ft_fail(&e, FT_E_BAD_FIELD, FT_MSG_DATA_SIZE, frame.size, up.file_size, up.offset);
        serve_log(conn, "put \"%s\": %s; closing", up.shown, e.message);
        send_error(conn, &e);
        goto lost;
    }
    /* The body goes to the partial file as it comes. A write that fails
     * (disk full) does not stop the reading: the rest is read and dropped,
     * so the stream stays in step and the client hears why after "end". */
    for (;;) {
        ssize_t got = frame_recv_body(conn->fd, request, chunk, UPLOAD_CHUNK);
        if (got == 0)
            break;
        if (got < 0) {
            serve_log(conn, "put \"%s\": %s; %" PRIu64 " bytes kept for a resume", up.shown,
                      request->err, up.written);
            goto lost;
        }
        if (!write_error.code && ft_upload_write(&up, chunk, (size_t)got, &write_error) < 0)
            serve_log(conn, "put: %s", write_error.message);
    }
    if (upload_frame(conn, request, FT_END, &frame, up.shown) < 0)
        goto lost;
    free(chunk);
    if (write_error.code) {
        ft_upload_abort(&up);
        return send_error(conn, &write_error);
    }
    if (ft_upload_end(&up, frame.sha256, sha_hex, &e) < 0) {
        serve_log(conn, "put refused: %s", e.message);
        return send_error(conn, &e);
    }
    serve_log(conn, "put \"%s\": received bytes %" PRIu64 "..%" PRIu64 ", sha256 %s, stored",
              up.shown, up.offset, up.file_size, sha_hex);
    header = ft_header(FT_DONE);
    if (header && (!cJSON_AddStringToObject(header, "name", name) ||
                   !cJSON_AddNumberToObject(header, "file_size", (double)up.file_size) ||
                   !cJSON_AddStringToObject(header, "sha256", sha_hex))) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (ft_send(conn->fd, header, NULL, 0, 0, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        return -1;
    }
    return 0;
lost:
    /* What arrived stays in the partial file, flushed, for a resume. */
    ft_upload_abort(&up);
    free(chunk);
    return -1;
}

/* ---- stat and list ----------------------------------------------------- */

static int do_stat(struct serve_conn *conn, struct frame_reader *request,
                   const struct ft_msg *msg, const struct server_config *cfg)
{
    struct ft_stat_result st;
    struct ft_error e;
    char err[256];

    (void)request;
    if (ft_stat(&cfg->root, msg, &st, &e) < 0) {
        serve_log(conn, "stat refused: %s", e.message);
        return send_error(conn, &e);
    }
    cJSON *header = ft_header(FT_STAT_REPLY);
    if (header && (!cJSON_AddStringToObject(header, "name", msg->name) ||
                   !cJSON_AddBoolToObject(header, "exists", st.exists) ||
                   (st.exists && !cJSON_AddNumberToObject(header, "file_size",
                                                          (double)st.file_size)) ||
                   !cJSON_AddNumberToObject(header, "partial_size", (double)st.partial_size))) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (ft_send(conn->fd, header, NULL, 0, 0, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        return -1;
    }
    return 0;
}

static int do_list(struct serve_conn *conn, struct frame_reader *request,
                   const struct ft_msg *msg, const struct server_config *cfg)
{
    struct ft_error e;
    char err[256], *body;
    size_t body_len;
    uint64_t count, skipped;
    int truncated;

    (void)request;
    if (ft_list(&cfg->root, msg, &body, &body_len, &count, &skipped, &truncated, &e) < 0) {
        serve_log(conn, "list: %s", e.message);
        return send_error(conn, &e);
    }
    cJSON *header = ft_header(FT_LIST_REPLY);
    if (header && (!cJSON_AddNumberToObject(header, "count", (double)count) ||
                   !cJSON_AddNumberToObject(header, "skipped", (double)skipped) ||
                   !cJSON_AddBoolToObject(header, "truncated", truncated))) {
        cJSON_Delete(header);
        header = NULL;
    }
    int rc = ft_send(conn->fd, header, body, body_len, 0, err, sizeof err);
    if (rc < 0)
        serve_log_send_error(conn, errno);
    cJSON_free(body);
    return rc;
}

/* ---- replies that say no ----------------------------------------------- */

static int send_error(struct serve_conn *conn, const struct ft_error *e)
{
    char err[256];

    if (ft_send_error(conn->fd, e, err, sizeof err) < 0) {
        serve_log_send_error(conn, errno);
        return -1;
    }
    return 0;
}

/* A refused request's body is read and dropped, so the next frame is found
 * exactly. A body past FT_SKIP_MAX is not worth reading: close. */
static int skip_body(struct serve_conn *conn, struct frame_reader *request)
{
    unsigned char scrap[16384];

    if (request->body_size > FT_SKIP_MAX) {
        serve_log(conn, "not reading a refused %" PRIu64 "-byte body; closing",
                  request->body_size);
        return -1;
    }
    for (;;) {
        ssize_t got = frame_recv_body(conn->fd, request, scrap, sizeof scrap);
        if (got == 0)
            return 0;
        if (got < 0) {
            serve_log(conn, "%s", request->err);
            return -1;
        }
    }
}
