/* fuzz/stage5_server.c - the stage 5 servers' request readers, fuzzed.
 *
 * The input is what a client sends: its first byte chooses the server and
 * the root (bit 0: stage 5's own server.c, included unchanged with its
 * main renamed, or stage 6's handler common/ftconn.c that the iterative,
 * fork, thread and poll models share; bit 1: names opened with openat2
 * RESOLVE_BENEATH or with the fallback that refuses every symlink), the
 * rest is the request stream. It is put in a socket, shut for writing, and
 * the server serves that one connection, in a temporary root holding
 * a.txt, sub/b.txt, a symlink inside (sub/up -> ../a.txt) and one leading
 * out (out -> ../outside). Commands never run: --max-command is 0, so
 * every exec is refused as too large.
 *
 * Besides the sanitizers, the harness checks what the server did, against
 * its own reading of the requests (ft_frames.c, ft.c's table):
 *   - what it sends is whole stage 5 frames, each one a reply the
 *     protocol allows (ft_parse as a reply);
 *   - every request is answered in order, once: a refused one (unknown op
 *     or field, bad field or name, a command too large) by an error whose
 *     code is the one its header deserves; get by "file" then "end" whose
 *     SHA-256 is that of the body sent; stat, list by theirs; put by
 *     "ready", and after its "data" and "end" by "done" - the file then
 *     holds exactly the data - or by an error; a frame that cannot be
 *     read, or an upload out of step, by one last error, and nothing after
 *     it. No reply for a request that was not sent: a body is never taken
 *     for the next request, nor a request for a body;
 *   - nothing outside the root is created, changed or removed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ft_frames.h"
#include "ftconn.h"

#define main server_main
#include "../stage5_file_transfer/server.c"
#undef main

#define MAX_UPLOAD 65536

static char base[256], root_path[300], outside_path[300];
static const char secret[] = "outside the root\n";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static void remove_base(void)
{
    if (base[0])
        nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh root for every input: what the last one put there goes. */
static void make_root(void)
{
    char path[400];

    if (!base[0]) {
        fuzz_tempdir("nianbao-fuzz-server", base, sizeof base);
        atexit(remove_base);
        snprintf(root_path, sizeof root_path, "%s/root", base);
        snprintf(outside_path, sizeof outside_path, "%s/outside", base);
        if (mkdir(outside_path, 0755) < 0)
            fuzz_fail("cannot make %s", outside_path);
        snprintf(path, sizeof path, "%s/secret", outside_path);
        fuzz_write_file(path, secret);
    }
    nftw(root_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(path, sizeof path, "%s/sub", root_path);
    if (mkdir(root_path, 0755) < 0 || mkdir(path, 0755) < 0)
        fuzz_fail("cannot make %s", path);
    snprintf(path, sizeof path, "%s/a.txt", root_path);
    fuzz_write_file(path, "hello\n");
    snprintf(path, sizeof path, "%s/sub/b.txt", root_path);
    fuzz_write_file(path, "b");
    snprintf(path, sizeof path, "%s/sub/up", root_path);
    if (symlink("../a.txt", path) < 0)
        fuzz_fail("cannot make %s", path);
    snprintf(path, sizeof path, "%s/out", root_path);
    if (symlink("../outside", path) < 0)
        fuzz_fail("cannot make %s", path);
}

/* Nothing but root/ and outside/ in the base, and outside/ as it was. */
static void check_outside(void)
{
    char path[400], text[64];
    struct dirent *d;
    int entries = 0;

    DIR *dir = opendir(base);
    if (!dir)
        fuzz_fail("cannot list %s", base);
    while ((d = readdir(dir)))
        if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") && strcmp(d->d_name, "root") &&
            strcmp(d->d_name, "outside"))
            fuzz_fail("%s was created beside the root", d->d_name);
    closedir(dir);
    dir = opendir(outside_path);
    if (!dir)
        fuzz_fail("the directory outside the root is gone");
    while ((d = readdir(dir)))
        if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
            if (strcmp(d->d_name, "secret") != 0)
                fuzz_fail("%s was created outside the root", d->d_name);
            entries++;
        }
    closedir(dir);
    snprintf(path, sizeof path, "%s/secret", outside_path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof text);
    if (fd >= 0)
        close(fd);
    if (entries != 1 || got != (ssize_t)strlen(secret) || memcmp(text, secret, (size_t)got) != 0)
        fuzz_fail("the file outside the root was changed or removed");
}

/* The replies, read as the server sends them (a get may be larger than a
 * socket holds). */
struct drain {
    int fd;
    unsigned char *bytes;
    size_t len;
};

static void *drain_replies(void *arg)
{
    struct drain *d = arg;
    size_t cap = 0;

    for (;;) {
        if (d->len == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *grown = realloc(d->bytes, cap);
            if (!grown)
                fuzz_fail("out of memory reading the replies");
            d->bytes = grown;
        }
        ssize_t n = recv(d->fd, d->bytes + d->len, cap - d->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    return NULL;
}

/* ---- the harness's view of the conversation ----------------------------- */

struct walk {
    struct fuzz_frames *replies;
    size_t next;                      /* the next reply to match           */
    struct ft_msg msg;                /* its header, checked               */
    const struct fuzz_frame *frame;
};

/* Takes the next reply. Returns 0, or -1 when there is none. */
static int next_reply(struct walk *w)
{
    struct ft_error e;

    if (w->next == w->replies->n)
        return -1;
    w->frame = &w->replies->f[w->next++];
    if (ft_parse(FT_REPLY, w->frame->header, w->frame->json, w->frame->json_len,
                 w->frame->size, &w->msg, &e) < 0)
        fuzz_fail("the server sent a reply its protocol refuses: %s: %s", e.message,
                  w->frame->json);
    return 0;
}

/* The next reply must be an error (with CODE, unless NULL). */
static void expect_error(struct walk *w, const char *code, const char *why)
{
    if (next_reply(w) < 0)
        fuzz_fail("%s: no error reply", why);
    if (w->msg.op != FT_ERROR)
        fuzz_fail("%s: the reply is \"%s\", not an error", why, w->msg.op_name);
    if (code && strcmp(w->msg.code, code) != 0)
        fuzz_fail("%s: the error is %s, not %s (%s)", why, w->msg.code, code, w->msg.message);
}

/* F, sent inside a put where a frame of OP must come, parsed into U.
 * Returns 0, or -1 after checking the error reply that closes the
 * connection: the frame is refused, or is another op. */
static int put_frame(struct walk *w, const struct fuzz_frame *f, enum ft_op op,
                     struct ft_msg *u)
{
    struct ft_error e;
    char why[64];

    if (ft_parse(FT_UPLOAD, f->header, f->json, f->json_len, f->size, u, &e) < 0) {
        snprintf(why, sizeof why, "put: a refused %s frame", ft_op_name(op));
        expect_error(w, e.code, why);
        return -1;
    }
    if (u->op != op) {
        snprintf(why, sizeof why, "put: no %s frame", ft_op_name(op));
        expect_error(w, FT_E_OUT_OF_ORDER, why);
        return -1;
    }
    return 0;
}

static void expect_op(struct walk *w, enum ft_op op, const char *why)
{
    if (w->msg.op != op)
        fuzz_fail("%s: \"%s\" came where \"%s\" was due", why, w->msg.op_name, ft_op_name(op));
}

/* The file NAME in the root holds exactly LEN bytes of DATA. */
static void check_stored(const char *name, const void *data, size_t len, int use_fallback)
{
    struct fsroot root;
    char err[256];
    unsigned char *have = malloc(len + 1);

    if (!have || fsroot_open(&root, root_path, use_fallback, err, sizeof err) < 0)
        fuzz_fail("cannot open the root again: %s", err);
    int fd = fsroot_open_file(&root, name, O_RDONLY);
    if (fd < 0)
        fuzz_fail("\"done\" for %s, which is not there", name);
    ssize_t got = read(fd, have, len + 1);
    close(fd);
    fsroot_close(&root);
    if (got != (ssize_t)len || memcmp(have, data, len) != 0)
        fuzz_fail("\"done\" for %s, which holds %zd bytes, not the %zu sent", name, got, len);
    free(have);
}

/* Matches the requests with the replies. */
static void check_conversation(struct fuzz_frames *req, struct fuzz_frames *rep,
                               int use_fallback)
{
    struct walk w = { rep, 0, { 0 }, NULL };
    struct ft_msg q, u;
    struct ft_error e;
    char hex[65];
    int closed = 0;             /* the server said its last words */
    int ended = 0;              /* the requests ended (the stream was cut) */
    size_t i = 0;

    while (!closed && !ended && i < req->n) {
        const struct fuzz_frame *f = &req->f[i++];
        if (ft_parse(FT_REQUEST, f->header, f->json, f->json_len, f->size, &q, &e) < 0) {
            expect_error(&w, e.code, "a refused request");
            ended = !f->complete;
            continue;
        }
        switch (q.op) {
        case FT_EXEC:
            expect_error(&w, FT_E_TOO_LARGE, "exec (--max-command 0)");
            ended = !f->complete;
            break;
        case FT_GET:
            if (next_reply(&w) < 0)
                fuzz_fail("get: no reply");
            if (w.msg.op == FT_ERROR)
                break;
            expect_op(&w, FT_FILE, "get");
            if (strcmp(w.msg.name, q.name) != 0 || w.msg.offset != q.offset ||
                w.msg.size != w.msg.file_size - w.msg.offset || !w.frame->complete)
                fuzz_fail("get %s from %llu: a file frame for %s from %llu, %llu bytes of %llu",
                          q.name, (unsigned long long)q.offset, w.msg.name,
                          (unsigned long long)w.msg.offset, (unsigned long long)w.msg.size,
                          (unsigned long long)w.msg.file_size);
            const struct fuzz_frame *file = w.frame;
            uint64_t offset = w.msg.offset;
            if (next_reply(&w) < 0)
                fuzz_fail("get: no \"end\" after the file");
            expect_op(&w, FT_END, "get");
            fuzz_sha256_hex(file->body, file->body_len, hex);
            if (offset == 0 && strcmp(hex, w.msg.sha256) != 0)
                fuzz_fail("get %s: the file sent has SHA-256 %s, \"end\" says %s", q.name, hex,
                          w.msg.sha256);
            break;
        case FT_STAT:
            if (next_reply(&w) < 0)
                fuzz_fail("stat: no reply");
            if (w.msg.op != FT_ERROR)
                expect_op(&w, FT_STAT_REPLY, "stat");
            break;
        case FT_LIST:
            if (next_reply(&w) < 0)
                fuzz_fail("list: no reply");
            if (w.msg.op != FT_ERROR) {
                expect_op(&w, FT_LIST_REPLY, "list");
                cJSON *array = cJSON_ParseWithLength((const char *)w.frame->body,
                                                     w.frame->body_len);
                if (!cJSON_IsArray(array) ||
                    (uint64_t)cJSON_GetArraySize(array) != w.msg.count)
                    fuzz_fail("list: the body is not an array of %llu names",
                              (unsigned long long)w.msg.count);
                cJSON_Delete(array);
            }
            break;
        case FT_PUT: {
            char name[FSROOT_NAME_MAX + 1];
            snprintf(name, sizeof name, "%s", q.name);
            uint64_t file_size = q.file_size;
            if (next_reply(&w) < 0)
                fuzz_fail("put: no reply");
            if (w.msg.op == FT_ERROR)
                break;
            expect_op(&w, FT_READY, "put");
            uint64_t offset = w.msg.offset;
            if (offset > file_size || (offset != q.offset))
                fuzz_fail("put %s: ready at %llu", name, (unsigned long long)offset);
            /* "data" of file_size - offset bytes, then "end". */
            if (i == req->n) {
                ended = 1;
                break;
            }
            const struct fuzz_frame *data = &req->f[i++];
            if (put_frame(&w, data, FT_DATA, &u) < 0) {
                closed = 1;
                break;
            }
            if (u.size != file_size - offset) {
                expect_error(&w, FT_E_BAD_FIELD, "put: data of the wrong size");
                closed = 1;
                break;
            }
            if (!data->complete || i == req->n) {
                ended = 1;
                break;
            }
            if (put_frame(&w, &req->f[i++], FT_END, &u) < 0) {
                closed = 1;
                break;
            }
            if (next_reply(&w) < 0)
                fuzz_fail("put: no reply after end");
            if (w.msg.op == FT_ERROR) {
                /* digest_mismatch, exists: stage 5 goes on, stage 6 closes */
                if (w.next == rep->n)
                    closed = 1;
                break;
            }
            expect_op(&w, FT_DONE, "put");
            fuzz_sha256_hex(data->body, data->body_len, hex);
            if (strcmp(w.msg.name, name) != 0 || w.msg.file_size != file_size ||
                (offset == 0 && strcmp(w.msg.sha256, hex) != 0))
                fuzz_fail("put %s: \"done\" for %s, %llu bytes, %s", name, w.msg.name,
                          (unsigned long long)w.msg.file_size, w.msg.sha256);
            if (offset == 0)
                check_stored(name, data->body, data->body_len, use_fallback);
            break;
        }
        default:
            fuzz_fail("ft_parse accepted a request of op %s", q.op_name);
        }
    }
    /* The frame after the last whole one: one that cannot be read gets a
     * last error; one cut short by the end of the stream may (stage 5
     * says so to a client that can still hear, stage 6 does not). */
    if (!closed && i == req->n && req->malformed)
        expect_error(&w, FT_E_BAD_FRAME, "a malformed frame");
    else if (!closed && (ended || i == req->n) && req->cut && w.next < rep->n)
        expect_error(&w, FT_E_BAD_FRAME, "a frame cut short");
    if (w.next < rep->n) {
        next_reply(&w);
        fuzz_fail("a reply (\"%s\") to no request", w.msg.op_name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int use_ftconn = data[0] & 1, use_fallback = (data[0] >> 1) & 1;
    const unsigned char *stream = data + 1;
    size_t len = size - 1, written = 0;
    char err[256];
    int pair[2];

    make_root();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        fuzz_fail("socketpair: %s", strerror(errno));
    while (written < len) {
        ssize_t n = send(pair[1], stream + written, len - written, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;          /* full: the server gets what fits */
        written += (size_t)n;
    }
    shutdown(pair[1], SHUT_WR);
    struct drain d = { pair[1], NULL, 0 };
    pthread_t drainer;
    if (pthread_create(&drainer, NULL, drain_replies, &d) != 0)
        fuzz_fail("pthread_create failed");

    struct server_config cfg = {
        .serve = { .prog = "server", .host = "127.0.0.1", .port = "0", .idle_ms = 5000,
                   .send_timeout_ms = 5000, .log = fuzz_null_stream() },
        .root_path = root_path, .timeout_ms = 1000, .max_output = 65536, .max_command = 0,
        .max_header = 65536, .max_upload = MAX_UPLOAD,
    };
    if (fsroot_open(&cfg.root, root_path, use_fallback, err, sizeof err) < 0)
        fuzz_fail("%s", err);
    cfg.format = frame_stage5;
    cfg.format.max_header = (uint32_t)cfg.max_header;
    cfg.format.max_body = cfg.max_upload;
    struct serve_conn conn = { .fd = pair[0], .peer = "fuzz", .cfg = &cfg.serve };
    if (use_ftconn) {
        struct ftconn_config fcfg = {
            .root = &cfg.root, .timeout_ms = 1000, .max_output = 65536, .max_command = 0,
            .max_upload = MAX_UPLOAD, .idle_ms = 5000, .frame_ms = 5000, .send_ms = 5000,
        };
        struct ftconn c;
        ftconn_init(&c, &fcfg, &conn);
        ftconn_serve_blocking(&c, -1, 0);
    } else {
        serve_client(&conn, &cfg);
    }
    close(pair[0]);
    pthread_join(drainer, NULL);
    close(pair[1]);
    fsroot_close(&cfg.root);

    struct fuzz_frames req, rep;
    if (fuzz_frames_parse(&cfg.format, stream, written, &req) < 0 ||
        fuzz_frames_parse(&frame_stage5, d.bytes, d.len, &rep) < 0)
        fuzz_fail("out of memory");
    if (rep.malformed || rep.cut)
        fuzz_fail("the server's replies are not whole frames (%zu bytes)", d.len);
    if (getenv("NIANBAO_FUZZ_SHOW"))         /* NIANBAO_FUZZ_SHOW=1: the replies, one a line */
        for (size_t i = 0; i < rep.n; i++)
            dprintf(2, "reply %zu: %s\n", i, rep.f[i].json);
    check_conversation(&req, &rep, use_fallback);
    check_outside();
    fuzz_frames_free(&req);
    fuzz_frames_free(&rep);
    free(d.bytes);
    return 0;
}
