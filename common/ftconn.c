/* ftconn.c - one client's conversation as a state machine (see ftconn.h). */
#define _GNU_SOURCE
#include "ftconn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "fileio.h"
#include "wire.h"

/* One read, one "output" frame (the protocol allows larger ones). On the
 * stack of the step: a thread model's threads have small stacks. */
#define CHUNK_SIZE (64 * 1024)
_Static_assert(CHUNK_SIZE <= FT_OUTPUT_MAX, "an output frame must fit the protocol");
#define OUT_LOW (64 * 1024)          /* read a command's pipes only while
                                        less than this waits for the client */
#define OUT_KEEP (256 * 1024)        /* a larger out buffer is freed once sent */
#define SENDFILE_CHUNK (1 << 20)
#define HEAD_ROOM 1024               /* room made for a reply's header       */
#define SMALL_FILE FT_ROUND_FILE_MAX  /* a get's body this small is read into
                                        the out buffer: see read_small_body */

long long ftconn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ftconn_init(struct ftconn *c, const struct ftconn_config *cfg,
                 const struct serve_conn *conn)
{
    memset(c, 0, sizeof *c);
    c->conn = *conn;
    c->cfg = cfg;
    c->state = FTC_REQUEST;
    struct frame_format format = ft_request_format(FT_MAX_HEADER, cfg->max_upload,
                                                   cfg->max_command);
    frame_reader_init(&c->reader, &format);
    c->dl.fd = -1;
    c->up.fd = c->up.dirfd = -1;
    c->hash_fd = -1;
    c->idle_since = c->send_since = ftconn_now_ms();
    int flags = fcntl(conn->fd, F_GETFL);
    if (flags < 0 || fcntl(conn->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        serve_log(&c->conn, "cannot make the socket non-blocking: %s; closing the connection",
                  strerror(errno));
        c->state = FTC_DONE;
        return;
    }
    /* A reply leaves in several sends (output as it comes, then "exit"):
     * Nagle's algorithm would hold each small one for the client's
     * delayed ACK, 40 ms a request. (A socket that is not TCP, the fuzz
     * harness's socketpair, has no Nagle to turn off.) */
    int one = 1;
    if (setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 &&
        errno != EOPNOTSUPP) {
        serve_log(&c->conn, "cannot set TCP_NODELAY: %s; closing the connection",
                  strerror(errno));
        c->state = FTC_DONE;
    }
}

/* ---- the reply going out ------------------------------------------------ */

static size_t out_waiting(const struct ftconn *c)
{
    return c->out_len - c->out_off;
}

/* Makes room for LEN more bytes at c->out + c->out_len. Returns 0, or -1
 * when out of memory. */
static int out_reserve(struct ftconn *c, size_t len)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        unsigned char *grown = realloc(c->out, cap);
        if (!grown)
            return -1;
        c->out = grown;
        c->out_cap = cap;
    }
    return 0;
}

static int out_append(struct ftconn *c, const void *bytes, size_t len)
{
    if (out_reserve(c, len) < 0)
        return -1;
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len += len;
    return 0;
}

/* Queues HEADER (freed here) with its size field set to SIZE, and the
 * first BODY_LEN bytes of the body (SIZE - BODY_LEN more follow from the
 * caller: a file by sendfile). Returns 0, or -1 when out of memory (the
 * connection is then over). */
static int queue_head(struct ftconn *c, cJSON *header, uint64_t size, const void *body,
                      size_t body_len)
{
    unsigned char *head = NULL;
    size_t head_len;
    char err[256];
    int rc = -1;

    if (!header) {
        serve_log(&c->conn, "out of memory");
        goto end;
    }
    if (out_waiting(c) == 0)
        c->send_since = ftconn_now_ms();   /* the time to send it starts now */
    /* Most headers are printed straight into the out buffer; a long one
     * is encoded apart, then copied. */
    int room = out_reserve(c, HEAD_ROOM);
    c->head_at = c->out_len;
    ssize_t n = room < 0 ? 0
                : frame_encode_in(&frame_stage5, header, size, c->out + c->out_len,
                                  c->out_cap - c->out_len, err, sizeof err);
    if (n > 0) {
        c->out_len += (size_t)n;
    } else if (n < 0 ||
               frame_encode(&frame_stage5, header, size, &head, &head_len, err, sizeof err) < 0) {
        serve_log(&c->conn, "%s", err);
        goto end;
    }
    if ((head && out_append(c, head, head_len) < 0) ||
        (body_len && out_append(c, body, body_len) < 0)) {
        serve_log(&c->conn, "out of memory");
        goto end;
    }
    rc = 0;
end:
    free(head);
    cJSON_Delete(header);
    if (rc < 0)
        c->state = FTC_DONE;
    return rc;
}

/* Queues HEADER (freed here) and BODY as one whole frame. */
static int queue_frame(struct ftconn *c, cJSON *header, const void *body, size_t body_len)
{
    return queue_head(c, header, body_len, body, body_len);
}

static int queue_error(struct ftconn *c, const char *code, const char *message)
{
    cJSON *header = ft_header(FT_ERROR);
    if (header && (!cJSON_AddStringToObject(header, "code", code) ||
                   !cJSON_AddStringToObject(header, "message", message))) {
        cJSON_Delete(header);
        header = NULL;
    }
    return queue_frame(c, header, NULL, 0);
}

/* A refusal that ends the connection: said, then closed. */
static void close_with_error(struct ftconn *c, const char *code, const char *message)
{
    if (queue_error(c, code, message) == 0)
        c->state = FTC_CLOSING;
}

static void drop_client(struct ftconn *c, int err_no)
{
    /* serve_log_send_error quotes the serve_config's SO_SNDTIMEO, which the
     * stage 6 models leave at 0: their limit is --send-timeout, c->cfg's. */
    if (err_no == EAGAIN || err_no == EWOULDBLOCK)
        serve_log(&c->conn, "not reading its reply for %s s; dropping the client",
                  duration_text(c->cfg->send_ms).s);
    else
        serve_log_send_error(&c->conn, err_no);
    c->state = FTC_DONE;
}

/* Sends what waits. Returns 1 when something went out, else 0. */
static int flush_out(struct ftconn *c)
{
    int progress = 0;

    while (out_waiting(c) > 0) {
        ssize_t n = send(c->conn.fd, c->out + c->out_off, out_waiting(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            drop_client(c, errno);
            return 0;
        }
        c->out_off += (size_t)n;
        c->send_since = ftconn_now_ms();
        progress = 1;
    }
    if (out_waiting(c) == 0 && c->out_cap > OUT_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = c->out_len = c->out_off = 0;
    }
    return progress;
}

/* ---- requests coming in ------------------------------------------------- */

static void log_request_error(struct ftconn *c, const struct ft_error *e)
{
    serve_log(&c->conn, "%s: error %s: %s", c->shown[0] ? c->shown : "request", e->code,
              e->message);
}

/* A request is answered: back to reading the next one, or closing when
 * the server stops. */
static void request_done(struct ftconn *c)
{
    c->requests++;
    c->idle_since = ftconn_now_ms();
    free(c->name);
    c->name = NULL;
    c->shown[0] = '\0';
    c->state = c->stopping ? FTC_CLOSING : FTC_REQUEST;
}

static void reply_error(struct ftconn *c, const struct ft_error *e)
{
    log_request_error(c, e);
    if (queue_error(c, e->code, e->message) == 0)
        request_done(c);
}

static int save_name(struct ftconn *c, const char *name)
{
    free(c->name);
    c->name = strdup(name);
    if (!c->name) {
        serve_log(&c->conn, "out of memory");
        c->state = FTC_DONE;
        return -1;
    }
    size_t used = (size_t)snprintf(c->shown, sizeof c->shown, "%s \"", c->req.op_name);
    if (used < sizeof c->shown) {
        fsroot_show_name(name, strlen(name), c->shown + used, sizeof c->shown - used - 1);
        strcat(c->shown, "\"");
    }
    return 0;
}

static void start_exec(struct ftconn *c)
{
    char err[256], shown[64];

    escape_bytes(c->command, c->command_len, shown, sizeof shown);
    snprintf(c->shown, sizeof c->shown, "exec \"%s\"", shown);
    snprintf(err, sizeof err, "out of memory");
    if (digest_init(&c->out_digest, DIGEST_SHA256) < 0 ||
        command_start(&c->cmd, c->command, c->command_len, c->cfg->timeout_ms,
                      c->cfg->max_output, err, sizeof err) < 0) {
        struct ft_error e;
        digest_free(&c->out_digest);
        ft_fail(&e, FT_E_IO, "cannot run the command: %s", err);
        reply_error(c, &e);
        return;
    }
    c->cmd_started = 1;
    c->cmd_generation++;
    c->stdout_sent = c->stderr_sent = 0;
    c->state = FTC_EXEC;
}

/* Waits (FTC_HASH) until the hash has got where THEN needs it. */
static void wait_for_hash(struct ftconn *c, int then)
{
    c->hash_then = then;
    c->hash_fd = -1;
    c->state = FTC_HASH;
}

static void log_sent(struct ftconn *c, uint64_t bytes, int remembered)
{
    serve_log(&c->conn, "%s: %" PRIu64 " bytes sent%s", c->shown, bytes,
              remembered ? ", sha256 remembered" : "");
}

/* A get of a file the round has answered already (ftserve.h): the same
 * reply, byte for byte, without encoding it again. */
static void send_kept_reply(struct ftconn *c)
{
    const struct ft_round_file *f = c->dl.round_file;

    if (out_waiting(c) == 0)
        c->send_since = ftconn_now_ms();
    int queued = out_append(c, f->reply, f->reply_len);
    ft_download_close(&c->dl);
    if (queued < 0) {
        serve_log(&c->conn, "out of memory");
        c->state = FTC_DONE;
        return;
    }
    log_sent(c, f->size, 1);
    request_done(c);
}

/* The file is opened and its hash started in its thread: the prefix of
 * a resume is checked once hashed (FTC_HASH), then the body goes out. */
static void start_get(struct ftconn *c)
{
    struct ft_error e;

    if (save_name(c, c->req.name) < 0)
        return;
    int started = c->cfg->round && c->req_waited
                      ? ft_download_start_round(c->cfg->root, &c->req, c->cfg->round, &c->dl, &e)
                      : ft_download_start(c->cfg->root, &c->req, 1, &c->dl, &e);
    if (started < 0) {
        reply_error(c, &e);
        return;
    }
    if (c->dl.round_file && c->dl.round_file->reply) {
        send_kept_reply(c);
        return;
    }
    c->dl_open = 1;
    c->cmd_generation++;
    wait_for_hash(c, HASH_GET_PREFIX);
}

static int finish_get(struct ftconn *c);

/* A small body (SMALL_FILE at most) is read into the out buffer behind its
 * header, so that the header, the body and, when the digest is already
 * known, the end frame leave in one send: the client wakes once per
 * reply, not three times (header, sendfile, end). The bytes are the same.
 * Returns 1 when the body is queued, 0 to leave it to sendfile (a larger
 * one, or a file that reads short: pump_file then says it changed). */
static int read_small_body(struct ftconn *c)
{
    uint64_t left = c->dl_end - c->dl_at;

    if (c->dl.body) {
        /* The whole file is read already (a round's file: no fd). */
        if (out_append(c, c->dl.body + c->dl_at, (size_t)left) < 0) {
            serve_log(&c->conn, "out of memory");
            c->state = FTC_DONE;
            return 0;
        }
        c->dl_at = c->dl_end;
        return 1;
    }
    if (left == 0 || left > SMALL_FILE || out_reserve(c, (size_t)left) < 0 ||
        fileio_pread_all(c->dl.fd, c->out + c->out_len, (size_t)left, c->dl_at) < 0)
        return 0;
    c->out_len += (size_t)left;
    c->dl_at = c->dl_end;
    return 1;
}

static void send_file_head(struct ftconn *c)
{
    struct ft_error e;

    if (ft_download_check(&c->dl, &e) < 0) {
        c->dl_open = 0;
        reply_error(c, &e);
        return;
    }
    c->dl_at = c->dl.offset;
    c->dl_end = c->dl.file_size;
    cJSON *header = ft_header(FT_FILE);
    if (header && (!cJSON_AddStringToObject(header, "name", c->name) ||
                   frame_add_uint(header, "file_size", c->dl.file_size) < 0 ||
                   frame_add_uint(header, "offset", c->dl.offset) < 0)) {
        cJSON_Delete(header);
        header = NULL;
    }
    /* The body goes out by sendfile once the header is sent, or with it. */
    if (queue_head(c, header, c->dl_end - c->dl_at, NULL, 0) < 0)
        return;
    c->state = FTC_GET;
    size_t body_at = c->out_len;
    if (read_small_body(c) &&
        (!c->dl.hashing ||
         (c->dl.offset == 0 &&
          ft_download_hash_body(&c->dl, c->out + body_at, c->out_len - body_at) == 0))) {
        /* The digest is known (remembered, or just taken of the bytes
         * read: ftserve.h, ft_download_hash_body): the end frame too. The
         * whole reply is now c->out from the file frame's first byte: a
         * round's file keeps it for the round's other gets. */
        size_t reply_at = c->head_at;
        struct ft_round_file *kept = c->dl.round_file;
        if (finish_get(c) == 0 && kept && !kept->reply)
            ft_round_keep_reply(kept, c->out + reply_at, c->out_len - reply_at);
    }
}

static void start_put(struct ftconn *c)
{
    struct ft_error e;

    if (save_name(c, c->req.name) < 0)
        return;
    if (ft_upload_start(c->cfg->root, &c->req, c->cfg->max_upload, 1, &c->up, &e) < 0) {
        reply_error(c, &e);
        return;
    }
    c->up_open = 1;
    c->up_phase = 0;
    c->up_failed = 0;
    c->cmd_generation++;
    wait_for_hash(c, HASH_PUT_PREFIX);
}

static void send_ready(struct ftconn *c)
{
    struct ft_error e;

    if (ft_upload_check(&c->up, &e) < 0) {
        c->up_open = 0;
        reply_error(c, &e);
        return;
    }
    cJSON *header = ft_header(FT_READY);
    if (header && !cJSON_AddNumberToObject(header, "offset", (double)c->up.offset)) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (queue_frame(c, header, NULL, 0) == 0)
        c->state = FTC_PUT;
}

/* The upload's "end" came and its hash is complete: store it, or say why
 * not (the stream is in step: the next request follows). */
static void finish_put(struct ftconn *c)
{
    struct ft_error e;
    char hex[DIGEST_HEX_MAX];

    c->up_open = 0;
    if (ft_upload_end(&c->up, c->up_claimed, hex, &e) < 0) {
        reply_error(c, &e);
        return;
    }
    cJSON *header = ft_header(FT_DONE);
    if (header && (!cJSON_AddStringToObject(header, "name", c->name) ||
                   !cJSON_AddNumberToObject(header, "file_size", (double)c->up.file_size) ||
                   !cJSON_AddStringToObject(header, "sha256", hex))) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (queue_frame(c, header, NULL, 0) == 0) {
        serve_log(&c->conn, "%s: %" PRIu64 " bytes stored", c->shown, c->up.file_size);
        request_done(c);
    }
}

static void answer_stat(struct ftconn *c)
{
    struct ft_stat_result st;
    struct ft_error e;

    if (save_name(c, c->req.name) < 0)
        return;
    if (ft_stat(c->cfg->root, &c->req, &st, &e) < 0) {
        reply_error(c, &e);
        return;
    }
    cJSON *header = ft_header(FT_STAT_REPLY);
    if (header && (!cJSON_AddStringToObject(header, "name", c->name) ||
                   !cJSON_AddBoolToObject(header, "exists", st.exists) ||
                   (st.exists && !cJSON_AddNumberToObject(header, "file_size",
                                                          (double)st.file_size)) ||
                   !cJSON_AddNumberToObject(header, "partial_size", (double)st.partial_size))) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (queue_frame(c, header, NULL, 0) == 0)
        request_done(c);
}

static void answer_list(struct ftconn *c)
{
    char *body = NULL;
    size_t body_len = 0;
    uint64_t count = 0, skipped = 0;
    int truncated = 0;
    struct ft_error e;

    snprintf(c->shown, sizeof c->shown, "list");
    if (ft_list(c->cfg->root, &c->req, &body, &body_len, &count, &skipped, &truncated, &e) < 0) {
        reply_error(c, &e);
        return;
    }
    cJSON *header = ft_header(FT_LIST_REPLY);
    if (header && (!cJSON_AddNumberToObject(header, "count", (double)count) ||
                   !cJSON_AddNumberToObject(header, "skipped", (double)skipped) ||
                   !cJSON_AddBoolToObject(header, "truncated", truncated))) {
        cJSON_Delete(header);
        header = NULL;
    }
    if (queue_frame(c, header, body, body_len) == 0) {
        serve_log(&c->conn, "list: %" PRIu64 " files", count);
        request_done(c);
    }
    free(body);
}

/* A whole request frame has arrived: answer it. */
static void dispatch(struct ftconn *c)
{
    switch (c->req.op) {
    case FT_EXEC: start_exec(c); break;
    case FT_GET:  start_get(c); break;
    case FT_PUT:  start_put(c); break;
    case FT_STAT: answer_stat(c); break;
    case FT_LIST: answer_list(c); break;
    default: break;
    }
}

/* A sound frame with a refused request: its body (up to FT_SKIP_MAX) is
 * read and dropped, and the next request follows; a larger body is not
 * worth reading: said, then closed. */
static void refuse_request(struct ftconn *c, const struct ft_error *e)
{
    if (c->reader.body_size <= FT_SKIP_MAX) {
        reply_error(c, e);
        return;
    }
    log_request_error(c, e);
    serve_log(&c->conn, "not reading a refused %" PRIu64 "-byte body; closing",
              c->reader.body_size);
    close_with_error(c, e->code, e->message);
}

/* The header of a request frame. */
static void on_request_header(struct ftconn *c)
{
    struct ft_error e;

    c->req_ok = 0;
    c->req_waited = c->waiting_at_round;
    c->waiting_at_round = 0;
    if (ft_parse(FT_REQUEST, c->reader.header, c->reader.header_json, c->reader.header_len,
                 c->reader.body_size, &c->req, &e) < 0) {
        snprintf(c->shown, sizeof c->shown, "request");
        refuse_request(c, &e);
        return;
    }
    if (c->req.op == FT_EXEC) {
        if (c->req.size > c->cfg->max_command) {
            ft_fail(&e, FT_E_TOO_LARGE, FT_MSG_COMMAND_TOO_LARGE, c->req.size,
                    (unsigned long)c->cfg->max_command);
            snprintf(c->shown, sizeof c->shown, "exec");
            refuse_request(c, &e);
            return;
        }
        free(c->command);
        c->command = malloc((size_t)c->req.size);
        c->command_len = 0;
        if (!c->command) {
            serve_log(&c->conn, "out of memory");
            c->state = FTC_DONE;
            return;
        }
    }
    c->req_ok = 1;
}

/* Frames inside a put, after "ready": "data" then "end". */
static void on_upload_event(struct ftconn *c, enum frame_event ev, const unsigned char *body,
                            size_t body_len)
{
    struct ft_error e;

    if (ev == FRAME_HEADER) {
        if (ft_parse(FT_UPLOAD, c->reader.header, c->reader.header_json, c->reader.header_len,
                     c->reader.body_size, &c->req, &e) < 0)
            goto fail;
        if (c->up_phase == 0 && c->req.op == FT_DATA) {
            if (c->req.size != c->up.file_size - c->up.offset) {
                ft_fail(&e, FT_E_BAD_FIELD, FT_MSG_DATA_SIZE, c->req.size, c->up.file_size,
                        c->up.offset);
                goto fail;
            }
            c->up_phase = 1;
            return;
        }
        if (c->up_phase == 2 && c->req.op == FT_END)
            return;
        ft_fail(&e, FT_E_OUT_OF_ORDER, FT_MSG_OUT_OF_STEP, c->req.op_name,
                c->up_phase == 0 ? "data" : "end");
        goto fail;
    }
    if (ev == FRAME_BODY) {
        if (c->up_failed)
            return;             /* a write failed: the rest is dropped */
        if (ft_upload_write(&c->up, body, body_len, &e) < 0) {
            if (strcmp(e.code, FT_E_IO) != 0)
                goto fail;
            /* The disk is full...: the partial is gone. The rest of the
             * body is read and dropped, so the stream stays in step, and
             * the client hears why after "end", as from stage 5. */
            log_request_error(c, &e);
            c->up_error = e;
            c->up_failed = 1;
        }
        return;
    }
    /* FRAME_END */
    if (c->up_phase == 1) {
        c->up_phase = 2;
        return;
    }
    if (c->up_failed) {
        ft_upload_abort(&c->up);
        c->up_open = 0;
        if (queue_error(c, c->up_error.code, c->up_error.message) == 0)
            request_done(c);
        return;
    }
    /* The header (and its sha256) is gone with the next frame. */
    snprintf(c->up_claimed, sizeof c->up_claimed, "%s", c->req.sha256);
    wait_for_hash(c, HASH_PUT_END);
    return;
fail:
    /* The rest of the upload cannot be told from the next request: close. */
    ft_upload_abort(&c->up);
    c->up_open = 0;
    log_request_error(c, &e);
    close_with_error(c, e.code, e.message);
}

/* Feeds LEN bytes of BUF to the frame reader. Returns how many were used:
 * all of them, unless the state left reading (a request now being
 * answered: the rest belongs to the next one). */
static size_t feed(struct ftconn *c, const unsigned char *buf, size_t len)
{
    size_t pos = 0;
    long long now = ftconn_now_ms();

    /* Requests are answered one by one: once a reply of some size waits for
     * the client, the rest waits too (a client that sends and never reads
     * must not make us queue replies without end). */
    while ((c->state == FTC_REQUEST && out_waiting(c) < OUT_LOW) || c->state == FTC_PUT) {
        size_t used, body_len;
        const unsigned char *body;
        int was_idle = frame_reader_idle(&c->reader);
        enum frame_event ev = frame_reader_feed(&c->reader, buf + pos, len - pos, &used,
                                                &body, &body_len);
        if (was_idle && used > 0)
            c->frame_since = now;
        pos += used;
        if (ev == FRAME_NEED_MORE)
            break;
        if (ev == FRAME_ERROR) {
            serve_log(&c->conn, "bad frame: %s", c->reader.err);
            if (c->up_open) {
                ft_upload_abort(&c->up);
                c->up_open = 0;
            }
            close_with_error(c, FT_E_BAD_FRAME, c->reader.err);
            break;
        }
        if (ev == FRAME_BODY)
            c->body_since = now;
        if (c->state == FTC_PUT) {
            on_upload_event(c, ev, body, body_len);
            continue;
        }
        if (ev == FRAME_HEADER) {
            c->body_since = now;
            on_request_header(c);
        } else if (ev == FRAME_BODY && c->req_ok && c->req.op == FT_EXEC) {
            memcpy(c->command + c->command_len, body, body_len);
            c->command_len += body_len;
        } else if (ev == FRAME_END && c->req_ok) {
            c->req_ok = 0;
            dispatch(c);
        }
    }
    return pos;
}

/* Reads from the client while a request or an upload is being read.
 * Returns 1 when something happened. */
static int read_in(struct ftconn *c)
{
    unsigned char buf[CHUNK_SIZE];

    if (c->pending_len > 0) {
        /* The next request came with the last one: use those bytes first. */
        size_t used = feed(c, c->pending, c->pending_len);
        memmove(c->pending, c->pending + used, c->pending_len - used);
        c->pending_len -= used;
        if (c->pending_len == 0) {
            free(c->pending);
            c->pending = NULL;
        }
        return used > 0 || c->state != FTC_REQUEST;
    }
    if (c->drained)
        return 0;
    ssize_t got = recv(c->conn.fd, buf, sizeof buf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->drained = 1;
        return 0;
    }
    /* Fewer bytes than asked: the socket had no more a moment ago, and
     * asking again in this step would most often be a system call for
     * nothing (two a request). What comes meanwhile is there for the next
     * step: the drivers wait for the socket level-triggered. */
    if (got > 0 && (size_t)got < sizeof buf)
        c->drained = 1;
    if (got <= 0) {
        if (got < 0)
            serve_log(&c->conn, "recv: %s", strerror(errno));
        else if (c->state == FTC_PUT)
            serve_log(&c->conn, "closed the connection in the middle of an upload (%s)",
                      c->up.written > 0 ? "its partial file is kept"
                                        : "nothing came: its partial file is removed");
        else if (!frame_reader_idle(&c->reader))
            serve_log(&c->conn, "closed the connection in the middle of a frame");
        if (c->up_open) {
            ft_upload_abort(&c->up);
            c->up_open = 0;
        }
        c->state = FTC_DONE;
        return 1;
    }
    size_t used = feed(c, buf, (size_t)got);
    if (used < (size_t)got) {
        c->pending = malloc((size_t)got - used);
        if (!c->pending) {
            serve_log(&c->conn, "out of memory");
            c->state = FTC_DONE;
            return 1;
        }
        memcpy(c->pending, buf + used, (size_t)got - used);
        c->pending_len = (size_t)got - used;
    }
    return 1;
}

/* ---- exec: the command's output, as it comes ---------------------------- */

static void finish_exec(struct ftconn *c)
{
    struct command_status st;
    char notes[512], hex[DIGEST_HEX_MAX];

    command_finish(&c->cmd, &st, notes, sizeof notes);
    c->cmd_started = 0;
    size_t notes_len = strlen(notes);
    if (c->grace_killed)
        snprintf(notes + notes_len, sizeof notes - notes_len, "nianbao: command killed: the "
                 "server is stopping and its grace period (--grace) is over\n");
    notes_len = strlen(notes);
    if (notes_len > 0) {
        cJSON *h = ft_header(FT_OUTPUT);
        if (h && !cJSON_AddStringToObject(h, "stream", "stderr")) {
            cJSON_Delete(h);
            h = NULL;
        }
        digest_update(&c->out_digest, notes, notes_len);
        c->stderr_sent += notes_len;
        if (queue_frame(c, h, notes, notes_len) < 0)
            return;
    }
    digest_final_hex(&c->out_digest, hex);
    cJSON *h = ft_header(FT_EXIT);
    if (h && (!(st.exit_code >= 0 ? cJSON_AddNumberToObject(h, "exit_code", st.exit_code)
                                  : cJSON_AddNullToObject(h, "exit_code")) ||
              !cJSON_AddNumberToObject(h, "signal", st.signal) ||
              !cJSON_AddBoolToObject(h, "timed_out", st.timed_out) ||
              !cJSON_AddBoolToObject(h, "truncated", st.truncated) ||
              !cJSON_AddNumberToObject(h, "stdout_size", (double)c->stdout_sent) ||
              !cJSON_AddNumberToObject(h, "stderr_size", (double)c->stderr_sent) ||
              !cJSON_AddStringToObject(h, "sha256", hex))) {
        cJSON_Delete(h);
        h = NULL;
    }
    if (queue_frame(c, h, NULL, 0) < 0)
        return;
    if (st.signal)
        serve_log(&c->conn, "%s: killed by signal %d%s, %" PRIu64 " bytes stdout, %" PRIu64
                  " bytes stderr", c->shown, st.signal, st.timed_out ? " (timeout)" : "",
                  c->stdout_sent, c->stderr_sent);
    else
        serve_log(&c->conn, "%s: exit %d, %" PRIu64 " bytes stdout, %" PRIu64 " bytes stderr",
                  c->shown, st.exit_code, c->stdout_sent, c->stderr_sent);
    request_done(c);
}

/* While a command runs, nothing is read from the client (a request it sent
 * ahead waits), but its close is looked for: a client that closed or reset
 * the connection (Ctrl-C, killed) has its command's whole process group
 * killed at once, not left running until --timeout. Returns 1 when so
 * (the conversation is then over). */
static int client_gone(struct ftconn *c)
{
    struct pollfd pfd = { .fd = c->conn.fd, .events = POLLRDHUP };

    if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return 0;
    command_kill(&c->cmd);
    serve_log(&c->conn, "%s: the client closed the connection while the command ran: its "
              "process group is killed", c->shown);
    c->state = FTC_DONE;
    return 1;
}

/* Reads the command's pipes while the client keeps up. Returns 1 when
 * something happened. */
static int pump_command(struct ftconn *c)
{
    unsigned char buf[CHUNK_SIZE];
    int progress = 0;

    while (out_waiting(c) < OUT_LOW) {
        int got_some = 0;
        for (int stream = COMMAND_STDOUT; stream <= COMMAND_STDERR; stream++) {
            ssize_t n = command_read(&c->cmd, stream, buf, sizeof buf);
            if (n <= 0)
                continue;
            cJSON *h = ft_header(FT_OUTPUT);
            if (h && !cJSON_AddStringToObject(h, "stream",
                                              stream == COMMAND_STDOUT ? "stdout" : "stderr")) {
                cJSON_Delete(h);
                h = NULL;
            }
            digest_update(&c->out_digest, buf, (size_t)n);
            if (stream == COMMAND_STDOUT)
                c->stdout_sent += (uint64_t)n;
            else
                c->stderr_sent += (uint64_t)n;
            if (queue_frame(c, h, buf, (size_t)n) < 0)
                return 1;
            got_some = progress = 1;
        }
        if (!got_some)
            break;
    }
    if (command_tick(&c->cmd)) {
        finish_exec(c);
        return 1;
    }
    return progress;
}

/* ---- get: the file's body, by sendfile ----------------------------------- */

static int pump_file(struct ftconn *c)
{
    if (c->dl_at < c->dl_end) {
        if (out_waiting(c) > 0)
            return 0;
        off_t at = (off_t)c->dl_at;
        uint64_t left = c->dl_end - c->dl_at;
        ssize_t n = sendfile(c->conn.fd, c->dl.fd, &at,
                             left < SENDFILE_CHUNK ? (size_t)left : SENDFILE_CHUNK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            drop_client(c, errno);
            return 1;
        }
        if (n <= 0) {
            /* The file shrank while being sent: no frame can be right now. */
            serve_log(&c->conn, "%s: the file changed while being sent (%s); closing",
                      c->shown, n < 0 ? strerror(errno) : "it ended early");
            c->state = FTC_DONE;
            return 1;
        }
        c->dl_at += (uint64_t)n;
        c->send_since = ftconn_now_ms();
        return 1;
    }
    /* The body is out; its digest comes when the hash has caught up. */
    wait_for_hash(c, HASH_GET_END);
    return 1;
}

/* The file's body is out and its hash complete: the "end" frame.
 * Returns 0 when it is queued, -1 when an error went out in its place or
 * the connection is over. */
static int finish_get(struct ftconn *c)
{
    struct ft_error e;
    char hex[DIGEST_HEX_MAX];

    c->dl_open = 0;
    if (ft_download_finish(&c->dl, hex, &e) < 0) {
        /* The file moved while it was sent (the specification: "changed"
         * in place of "end"); the file frame is whole, the next request
         * follows. */
        reply_error(c, &e);
        return -1;
    }
    cJSON *h = ft_header(FT_END);
    if (h && !cJSON_AddStringToObject(h, "sha256", hex)) {
        cJSON_Delete(h);
        h = NULL;
    }
    if (queue_frame(c, h, NULL, 0) < 0)
        return -1;
    log_sent(c, c->dl_end - c->dl.offset, c->dl.remembered);
    request_done(c);
    return 0;
}

/* ---- FTC_HASH: a file's hash, in its thread ------------------------------ */

int ftconn_hash_fd(const struct ftconn *c)
{
    if (c->dl_open && c->dl.hashing)
        return c->dl.hash.wake_fd;
    if (c->up_open && c->up.fd >= 0)
        return c->up.hash.wake_fd;
    return -1;
}

/* Goes on with what waits for the hash once it will not wait. Returns 1
 * when something happened. */
static int hash_step(struct ftconn *c)
{
    uint64_t count;
    int getting = c->hash_then == HASH_GET_PREFIX || c->hash_then == HASH_GET_END;

    /* Clear the wake-up first: a level-triggered loop would wake again. */
    if (c->hash_fd >= 0 && c->hash_fd == ftconn_hash_fd(c))
        while (read(c->hash_fd, &count, sizeof count) > 0)
            ;
    int ready = getting ? ft_download_ready(&c->dl, &c->hash_fd)
                        : ft_upload_ready(&c->up, &c->hash_fd);
    if (ready == 0)
        return 0;
    c->hash_fd = -1;
    if (ready < 0) {
        serve_log(&c->conn, "%s: cannot wait for the file's hash: %s; closing", c->shown,
                  strerror(errno));
        c->state = FTC_DONE;
        return 1;
    }
    switch (c->hash_then) {
    case HASH_GET_PREFIX: send_file_head(c); break;
    case HASH_GET_END:    finish_get(c); break;
    case HASH_PUT_PREFIX: send_ready(c); break;
    case HASH_PUT_END:    finish_put(c); break;
    }
    return 1;
}

/* ---- deadlines ---------------------------------------------------------- */

static long long later(long long a, long long b)
{
    return a > b ? a : b;
}

/* The moment reading times out, or -1. *WHY says which limit. */
static long long read_deadline(const struct ftconn *c, const char **why)
{
    if (c->state != FTC_REQUEST && c->state != FTC_PUT)
        return -1;
    if (c->state == FTC_REQUEST && out_waiting(c) > 0)
        return -1;           /* the client is reading a reply: not idle */
    if (c->state == FTC_REQUEST && frame_reader_idle(&c->reader)) {
        *why = "idle";
        return c->cfg->idle_ms
                   ? later(c->idle_since, c->send_since) + (long long)c->cfg->idle_ms : -1;
    }
    if (!c->cfg->frame_ms)
        return -1;
    *why = "frame";
    if (c->reader.state == FRAME_IN_BODY)
        return c->body_since + (long long)c->cfg->frame_ms;
    if (frame_reader_idle(&c->reader))      /* inside a put, between frames */
        return later(c->body_since, c->send_since) + (long long)c->cfg->frame_ms;
    return c->frame_since + (long long)c->cfg->frame_ms;
}

static int sending(const struct ftconn *c)
{
    return out_waiting(c) > 0 || (c->state == FTC_GET && c->dl_at < c->dl_end);
}

static long long earliest(long long a, long long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void check_deadlines(struct ftconn *c, long long now)
{
    const char *why = "";
    long long read_at = read_deadline(c, &why);
    char message[200];

    if (c->stopping && now >= c->stop_deadline && c->state != FTC_DONE) {
        serve_log(&c->conn, "%s cut: the server is stopping and the grace period is over",
                  c->shown[0] ? c->shown : "conversation");
        if (c->state == FTC_EXEC && c->cmd_started && !c->grace_killed) {
            /* The command dies, but its client hears how: a note and the
             * "exit" frame (signal 9), then the close. */
            c->grace_killed = 1;
            command_kill(&c->cmd);
            finish_exec(c);
            return;
        }
        c->state = FTC_DONE;
        return;
    }
    if (sending(c) && c->cfg->send_ms && now >= c->send_since + (long long)c->cfg->send_ms) {
        drop_client(c, EAGAIN);
        return;
    }
    if (read_at >= 0 && now >= read_at) {
        if (strcmp(why, "idle") == 0)
            snprintf(message, sizeof message, "no request for %s s (--idle): closing the "
                     "connection", duration_text(c->cfg->idle_ms).s);
        else
            snprintf(message, sizeof message, "the frame did not arrive within %s s "
                     "(--frame-timeout): closing the connection",
                     duration_text(c->cfg->frame_ms).s);
        serve_log(&c->conn, "%s", message);
        if (c->up_open) {
            ft_upload_abort(&c->up);
            c->up_open = 0;
        }
        close_with_error(c, FT_E_TIMEOUT, message);
    }
}

/* ---- the driver's interface --------------------------------------------- */

/* The last words are out: shut our side, drop what the client still
 * sends (closing with unread bytes would reset the connection, and a
 * reset can overtake the error frame), and end. */
static void end_closing(struct ftconn *c)
{
    char drain[4096];

    shutdown(c->conn.fd, SHUT_WR);
    while (recv(c->conn.fd, drain, sizeof drain, MSG_DONTWAIT) > 0)
        ;
    c->state = FTC_DONE;
}

int ftconn_step(struct ftconn *c)
{
    int progress = 1;

    c->drained = 0;

    while (progress && c->state != FTC_DONE) {
        progress = flush_out(c);
        switch (c->state) {
        case FTC_REQUEST:
            if (c->stopping) {
                /* Nothing under way (a request not yet whole is not
                 * started): the last reply goes out, then close. */
                c->state = FTC_CLOSING;
                progress = 1;
                break;
            }
            /* Read only when the last reply is out. */
            if (out_waiting(c) == 0)
                progress |= read_in(c);
            break;
        case FTC_PUT:
            progress |= read_in(c);
            break;
        case FTC_EXEC:
            progress |= client_gone(c) || pump_command(c);
            break;
        case FTC_GET:
            progress |= pump_file(c);
            break;
        case FTC_HASH:
            progress |= hash_step(c);
            break;
        case FTC_CLOSING:
            if (out_waiting(c) == 0)
                end_closing(c);
            break;
        case FTC_DONE:
            break;
        }
    }
    if (c->state != FTC_DONE)
        check_deadlines(c, ftconn_now_ms());
    if (c->state == FTC_CLOSING) {
        flush_out(c);
        if (c->state == FTC_CLOSING && out_waiting(c) == 0)
            end_closing(c);
    }
    return c->state != FTC_DONE;
}

void ftconn_waiting_at_round(struct ftconn *c)
{
    if (c->state == FTC_REQUEST)
        c->waiting_at_round = 1;
}

void ftconn_hangup(struct ftconn *c)
{
    if (c->state == FTC_DONE)
        return;
    if (c->state != FTC_CLOSING && (c->state != FTC_REQUEST || !frame_reader_idle(&c->reader)))
        serve_log(&c->conn, "went away in the middle of %s",
                  c->shown[0] ? c->shown : "a request");
    c->state = FTC_DONE;
}

void ftconn_wants(const struct ftconn *c, struct ftconn_wait *w)
{
    const char *why = "";

    w->sock_events = 0;
    for (int i = 0; i < FTCONN_WAIT_FDS; i++)
        w->fds[i] = -1;
    w->generation = c->cmd_generation;
    w->deadline_ms = -1;
    if (c->state == FTC_DONE)
        return;
    if (out_waiting(c) > 0 || (c->state == FTC_GET && c->dl_at < c->dl_end))
        w->sock_events |= POLLOUT;
    if ((c->state == FTC_REQUEST && out_waiting(c) == 0) || c->state == FTC_PUT)
        w->sock_events |= POLLIN;
    if (c->state == FTC_EXEC && c->cmd_started) {
        w->sock_events |= POLLRDHUP;  /* the client's close: client_gone */
        if (out_waiting(c) < OUT_LOW) {
            w->fds[0] = c->cmd.out_fd;
            w->fds[1] = c->cmd.err_fd;
        }
        if (!c->cmd.shell_done)
            w->fds[2] = c->cmd.pidfd;
        long long wait = command_wait_ms(&c->cmd);
        if (wait >= 0)
            w->deadline_ms = ftconn_now_ms() + wait;
    }
    if (c->state == FTC_HASH)
        w->fds[3] = c->hash_fd;
    w->deadline_ms = earliest(w->deadline_ms, read_deadline(c, &why));
    if (sending(c) && c->cfg->send_ms)
        w->deadline_ms = earliest(w->deadline_ms, c->send_since + (long long)c->cfg->send_ms);
    if (c->stopping)
        w->deadline_ms = earliest(w->deadline_ms, c->stop_deadline);
}

void ftconn_stop(struct ftconn *c, long long grace_deadline_ms)
{
    if (c->stopping)
        return;
    c->stopping = 1;
    c->stop_deadline = grace_deadline_ms;
}

void ftconn_free(struct ftconn *c)
{
    if (c->cmd_started) {
        struct command_status st;
        command_kill(&c->cmd);
        command_finish(&c->cmd, &st, NULL, 0);
        c->cmd_started = 0;
    }
    digest_free(&c->out_digest);
    if (c->dl_open) {
        ft_download_close(&c->dl);
        c->dl_open = 0;
    }
    if (c->up_open) {
        ft_upload_abort(&c->up);
        c->up_open = 0;
    }
    frame_reader_free(&c->reader);
    free(c->pending);
    free(c->out);
    free(c->command);
    free(c->name);
    c->pending = c->out = c->command = NULL;
    c->name = NULL;
}

void ftconn_serve_blocking(struct ftconn *c, int stop_fd, unsigned long grace_ms)
{
    while (ftconn_step(c)) {
        struct ftconn_wait w;
        struct pollfd pfd[2 + FTCONN_WAIT_FDS];
        nfds_t n = 0, stop_at = 0;

        ftconn_wants(c, &w);
        /* Not listening to the socket (a hash runs): leave it out, or a
         * client that reset the connection would wake us without end.
         * (During a command, its close is listened to: ftconn_wants.) */
        pfd[n++] = (struct pollfd){ .fd = w.sock_events ? c->conn.fd : -1,
                                    .events = w.sock_events };
        for (int i = 0; i < FTCONN_WAIT_FDS; i++)
            if (w.fds[i] >= 0)
                pfd[n++] = (struct pollfd){ .fd = w.fds[i], .events = POLLIN };
        if (stop_fd >= 0 && !c->stopping) {
            stop_at = n;
            pfd[n++] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
        }
        /* Until the next deadline, or for ever when there is none (the
         * stop fd wakes us for the stop). ftconn_now_ms truncates: the
         * wait is rounded up, never woken before the deadline. */
        long long wait = -1;
        if (w.deadline_ms >= 0) {
            wait = w.deadline_ms - ftconn_now_ms();
            if (wait < 0)
                wait = 0;
        }
        int ready = poll(pfd, n, wait > INT_MAX ? INT_MAX : (int)wait);
        if (ready < 0 && errno != EINTR) {
            serve_log(&c->conn, "poll: %s", strerror(errno));
            break;
        }
        if (ready > 0 && (pfd[0].revents & (POLLERR | POLLHUP)) && !(pfd[0].revents & POLLIN))
            ftconn_hangup(c);
        if (ready > 0 && stop_at && pfd[stop_at].revents)
            ftconn_stop(c, ftconn_now_ms() + (long long)grace_ms);
    }
    ftconn_free(c);
}

int ftconn_refuse_busy(int fd, unsigned long max_clients)
{
    char message[200], err[256];
    unsigned char *frame = NULL;
    size_t frame_len;
    cJSON *header = ft_header(FT_ERROR);

    snprintf(message, sizeof message, "the server is serving its limit of %lu clients "
             "(--max-clients); try again later", max_clients);
    if (!header || !cJSON_AddStringToObject(header, "code", FT_E_BUSY) ||
        !cJSON_AddStringToObject(header, "message", message) ||
        frame_encode(&frame_stage5, header, 0, &frame, &frame_len, err, sizeof err) < 0) {
        cJSON_Delete(header);
        errno = ENOMEM;
        return -1;
    }
    cJSON_Delete(header);
    /* A new socket's send buffer is empty: this never waits. */
    ssize_t sent = send(fd, frame, frame_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(frame);
    /* The FIN goes after the frame; what the client sent meanwhile is
     * read and dropped, so closing does not turn into a reset that could
     * overtake the frame. */
    shutdown(fd, SHUT_WR);
    char drain[4096];
    while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0)
        ;
    return sent == (ssize_t)frame_len ? 0 : -1;
}
