/* fuzz/stage5_client.c - the stage 5 client's reply readers, fuzzed.
 *
 * The input is what a server sends: its first byte chooses what the client
 * asked (0 exec, 1 get into a file, 2 get to standard output, 3 ls, 4 stat,
 * 5 put of a 6-byte file (a stat first), 6 get --resume of a download 3 bytes in), the
 * rest is put in a socket, shut for writing, and the client's own do_exec,
 * do_get, do_list, do_stat or do_put reads its replies from it.
 * stage5_file_transfer/client.c is included unchanged (its main renamed);
 * its stdout and stderr streams are memory streams, and the descriptors it
 * writes output and downloads to are memory files. Besides the sanitizers,
 * the harness checks what the client did, against its own reading of the
 * replies (ft_frames.c):
 *   - accepted: the replies are the ones the request calls for, whole; a
 *     command's output on standard output and standard error is exactly
 *     the bodies of its "output" frames, stream by stream, and their
 *     SHA-256 and sizes are what "exit" says; a download (a file, or
 *     standard output) is exactly the "file" body (after the 3 bytes
 *     already there, for --resume), whose SHA-256 "end" gives; a listing
 *     prints one line per name; an upload sent exactly the file's bytes
 *     and "done" has its SHA-256;
 *   - refused: the last thing on stderr is a line "client: ...", nothing
 *     is saved under the download's name, and what was written to the
 *     output is a prefix of what the frames carried. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ft_frames.h"

static FILE *fuzz_stdout, *fuzz_stderr;
static int fuzz_out_fd = -1, fuzz_err_fd = -1;
#undef stdout
#undef stderr
#undef STDOUT_FILENO
#undef STDERR_FILENO
#define stdout fuzz_stdout
#define stderr fuzz_stderr
#define STDOUT_FILENO fuzz_out_fd
#define STDERR_FILENO fuzz_err_fd
#define printf(...) fprintf(fuzz_stdout, __VA_ARGS__)
#define main client_main
#include "../stage5_file_transfer/client.c"
#undef main
#undef printf
#undef stdout
#undef stderr

enum { ASK_EXEC, ASK_GET, ASK_GET_STDOUT, ASK_LS, ASK_STAT, ASK_PUT, ASK_RESUME, ASK_COUNT };

static char dir[256], dest[300], part[340], upload[300];
static const char upload_bytes[] = "hello\n", resume_bytes[] = "hel";

static void remove_dir(void)
{
    unlink(dest);
    unlink(part);
    unlink(upload);
    rmdir(dir);
}

static void setup_dir(void)
{
    if (!dir[0]) {
        fuzz_tempdir("nianbao-fuzz-client", dir, sizeof dir);
        atexit(remove_dir);
        snprintf(dest, sizeof dest, "%s/dl", dir);
        snprintf(part, sizeof part, "%s" PARTIAL_SUFFIX, dest);
        snprintf(upload, sizeof upload, "%s/up.txt", dir);
        fuzz_write_file(upload, upload_bytes);
    }
    unlink(dest);
    unlink(part);
}

/* The whole content of FD (a memory file) or of PATH; NULL when absent. */
static unsigned char *slurp(int fd, const char *path, size_t *len)
{
    struct stat st;
    int own = fd < 0;

    if (own && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return NULL;
    if (fstat(fd, &st) < 0)
        fuzz_fail("fstat failed");
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
        fuzz_fail("cannot read back %s", path ? path : "a memory file");
    if (own)
        close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static int is_prefix(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    return alen == 0 || (alen <= blen && memcmp(a, b, alen) == 0);
}

/* Reply I of FRAMES as a checked message of op OP (its frame whole);
 * 0 when it is not. */
static int reply_is(const struct fuzz_frames *r, size_t i, enum ft_op op, struct ft_msg *m)
{
    struct ft_error e;
    if (i >= r->n)
        return 0;
    const struct fuzz_frame *f = &r->f[i];
    return ft_parse(FT_REPLY, f->header, f->json, f->json_len, f->size, m, &e) == 0 &&
           m->op == op && f->complete;
}

struct shown {
    unsigned char *out, *err;         /* the raw output descriptors */
    size_t out_len, err_len;
    char *text_out, *text_err;        /* the stdout and stderr streams */
    size_t text_out_len, text_err_len;
};

/* RC: do_exec's result (0: the command's "exit" came, verified); STATUS:
 * the client's exit status for it (shell_exec_status), the command's own. */
static void check_exec(int rc, int status, const struct fuzz_frames *r, const struct shown *s)
{
    /* The output frames the client could have shown: the leading run. */
    struct buf { unsigned char *b; size_t n; } streams[3] = { { 0 }, { 0 }, { 0 } };
    struct ft_msg m;
    struct ft_error e;
    struct digest sha = { DIGEST_NONE, NULL };
    char hex[DIGEST_HEX_MAX];
    size_t i = 0;

    digest_init(&sha, DIGEST_SHA256);
    for (; i < r->n; i++) {
        const struct fuzz_frame *f = &r->f[i];
        if (ft_parse(FT_REPLY, f->header, f->json, f->json_len, f->size, &m, &e) < 0 ||
            m.op != FT_OUTPUT)
            break;
        struct buf *b = &streams[m.stream];
        unsigned char *grown = realloc(b->b, b->n + f->body_len + 1);
        if (!grown)
            fuzz_fail("out of memory");
        memcpy(grown + b->n, f->body, f->body_len);
        b->b = grown;
        b->n += f->body_len;
        digest_update(&sha, f->body, f->body_len);
        if (!f->complete)
            break;
    }
    digest_final_hex(&sha, hex);
    digest_free(&sha);
    if (!is_prefix(s->out, s->out_len, streams[1].b, streams[1].n) ||
        !is_prefix(s->err, s->err_len, streams[2].b, streams[2].n))
        fuzz_fail("exec: the output shown (%zu + %zu bytes) is not what the frames carried",
                  s->out_len, s->err_len);
    if (rc == 0) {
        if (!reply_is(r, i, FT_EXIT, &m))
            fuzz_fail("exec accepted without an \"exit\" after the output frames");
        if (s->out_len != streams[1].n || s->err_len != streams[2].n ||
            strcasecmp(hex, m.sha256) != 0 || m.stdout_size != streams[1].n ||
            m.stderr_size != streams[2].n)
            fuzz_fail("exec accepted, but the output or its exit does not match the frames");
        int want = m.timed_out ? 124 : m.truncated ? 1 : m.exit_code >= 0 ? m.exit_code
                 : m.signal > 0 ? 128 + m.signal : 255;
        if (status != want)
            fuzz_fail("exec: exit status %d, but the \"exit\" frame says %d", status, want);
    } else if (status == 0) {
        fuzz_fail("exec failed (%d), yet the exit status is 0", rc);
    }
    free(streams[1].b);
    free(streams[2].b);
}

/* A get: FILE_AT is the reply index of "file". KEPT: bytes already there. */
static void check_get(int ask, int rc, const struct fuzz_frames *r, const struct shown *s)
{
    struct ft_msg m;
    size_t got_len = 0, kept = ask == ASK_RESUME ? 3 : 0;
    unsigned char *got = ask == ASK_GET_STDOUT ? NULL : slurp(-1, dest, &got_len);
    size_t part_len = 0;
    unsigned char *partial = slurp(-1, part, &part_len);
    const struct fuzz_frame *file = r->n > 0 ? &r->f[0] : NULL;
    int is_file = reply_is(r, 0, FT_FILE, &m) || (file && !file->complete &&
                  ft_parse(FT_REPLY, file->header, file->json, file->json_len, file->size, &m,
                           &(struct ft_error){ 0 }) == 0 && m.op == FT_FILE);
    unsigned char *expect = NULL;
    size_t expect_len = 0;

    if (is_file) {
        expect = malloc(kept + file->body_len + 1);
        if (!expect)
            fuzz_fail("out of memory");
        memcpy(expect, resume_bytes, kept);
        memcpy(expect + kept, file->body, file->body_len);
        expect_len = kept + file->body_len;
    }
    if (rc == 0) {
        char hex[65];
        struct ft_msg end;
        if (!reply_is(r, 0, FT_FILE, &m) || !reply_is(r, 1, FT_END, &end) ||
            m.offset != kept || strcmp(m.name, "a.txt") != 0 || m.file_size != expect_len)
            fuzz_fail("get accepted without \"file\" (a.txt from %zu) then \"end\"", kept);
        fuzz_sha256_hex(expect, expect_len, hex);
        if (strcasecmp(hex, end.sha256) != 0)
            fuzz_fail("get accepted a file whose SHA-256 is %s, not %s", hex, end.sha256);
        if (ask == ASK_GET_STDOUT) {
            if (s->out_len != expect_len || memcmp(s->out, expect, expect_len) != 0)
                fuzz_fail("get to stdout: %zu bytes written, not the %zu of the file",
                          s->out_len, expect_len);
        } else {
            if (!got || got_len != expect_len || memcmp(got, expect, expect_len) != 0)
                fuzz_fail("get: the file saved is not the %zu bytes framed", expect_len);
            if (partial)
                fuzz_fail("get: the partial file is left beside the download");
        }
    } else {
        if (got)
            fuzz_fail("a refused get saved %zu bytes under the download's name", got_len);
        if (ask == ASK_GET_STDOUT && s->out_len > 0 &&
            !is_prefix(s->out, s->out_len, expect, expect_len))
            fuzz_fail("a refused get wrote bytes no file frame carried to stdout");
        if (partial && part_len > 0 && !(expect && is_prefix(partial, part_len, expect, expect_len)) &&
            !(part_len == kept && memcmp(partial, resume_bytes, kept) == 0))
            fuzz_fail("a refused get left a partial file of bytes no file frame carried");
    }
    free(expect);
    free(got);
    free(partial);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ask = data[0] % ASK_COUNT;
    const unsigned char *stream = data + 1;
    size_t len = size - 1, written = 0;
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = FT_DEFAULT_PORT,
                     .command_max = FT_MAX_COMMAND, .timeout_ms = 1000, .wait_ms = 1000,
                     .busy_hint = "" },
        .max_header = 65536, .resume = ask == ASK_RESUME,
    };
    struct shown s = { 0 };
    struct conn c;
    int pair[2], rc = EXIT_OK, exec_rc = EXIT_OK;

    setup_dir();
    if (ask == ASK_RESUME) {
        int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, resume_bytes, 3) != 3)
            fuzz_fail("cannot write %s", part);
        close(fd);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        fuzz_fail("socketpair: %s", strerror(errno));
    while (written < len) {
        ssize_t n = send(pair[1], stream + written, len - written, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;
        written += (size_t)n;
    }
    shutdown(pair[1], SHUT_WR);
    struct timeval limit = { 1, 0 };
    setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    fuzz_stdout = open_memstream(&s.text_out, &s.text_out_len);
    fuzz_stderr = open_memstream(&s.text_err, &s.text_err_len);
    fuzz_out_fd = memfd_create("fuzz-stdout", MFD_CLOEXEC);
    fuzz_err_fd = memfd_create("fuzz-stderr", MFD_CLOEXEC);
    if (!fuzz_stdout || !fuzz_stderr || fuzz_out_fd < 0 || fuzz_err_fd < 0)
        fuzz_fail("cannot make the output streams");
    cfg.session.diag = fuzz_stderr;

    /* conn_open, without connecting: the socket is there. */
    memset(&c, 0, sizeof c);
    c.cfg = &cfg;
    if (ft_client_init(&c.link, (uint32_t)cfg.max_header, cfg.session.timeout_ms) < 0)
        fuzz_fail("out of memory");
    c.link.fd = pair[0];
    switch (ask) {
    case ASK_EXEC:
        rc = do_exec(&c, "echo hi", 7);
        exec_rc = shell_exec_status(rc, c.command_status);
        break;
    case ASK_GET:        rc = do_get(&c, "a.txt", dest); break;
    case ASK_GET_STDOUT: rc = do_get(&c, "a.txt", "-"); break;
    case ASK_LS:         rc = do_list(&c, NULL); break;
    case ASK_STAT:       rc = do_stat(&c, "a.txt"); break;
    case ASK_PUT:        rc = do_put(&c, upload, "a.txt"); break;
    case ASK_RESUME:     rc = do_get(&c, "a.txt", dest); break;
    }
    ft_client_close(&c.link);       /* closes pair[0] */
    fclose(fuzz_stdout);
    fclose(fuzz_stderr);
    s.out = slurp(fuzz_out_fd, NULL, &s.out_len);
    s.err = slurp(fuzz_err_fd, NULL, &s.err_len);
    close(fuzz_out_fd);
    close(fuzz_err_fd);
    size_t sent_len = 0;
    unsigned char *sent = fuzz_drain(pair[1], &sent_len);
    close(pair[1]);

    struct fuzz_frames r, q;
    if (fuzz_frames_parse(&frame_stage5, stream, written, &r) < 0 || !sent ||
        fuzz_frames_parse(&frame_stage5, sent, sent_len, &q) < 0)
        fuzz_fail("out of memory");
    if (q.malformed || q.cut || q.n == 0)
        fuzz_fail("the client's requests are not whole frames");
    if (rc != EXIT_OK) {
        const char *t = s.text_err;
        size_t n = s.text_err_len;
        if (n < 9 || t[n - 1] != '\n')
            fuzz_fail("refused (exit %d) without a line on stderr", rc);
        const char *last = memrchr(t, '\n', n - 1);
        last = last ? last + 1 : t;
        if (strncmp(last, "client: ", 8) != 0)
            fuzz_fail("refused (exit %d), but the last line is not \"client: ...\": %s", rc, last);
    }
    struct ft_msg m;
    switch (ask) {
    case ASK_EXEC:
        check_exec(rc, exec_rc, &r, &s);
        break;
    case ASK_GET:
    case ASK_GET_STDOUT:
    case ASK_RESUME:
        check_get(ask, rc, &r, &s);
        break;
    case ASK_LS:
        if (rc == 0) {
            if (!reply_is(&r, 0, FT_LIST_REPLY, &m))
                fuzz_fail("ls accepted without one whole \"list\" reply");
            cJSON *array = cJSON_ParseWithLength((const char *)r.f[0].body, r.f[0].body_len);
            size_t lines = 0;
            for (size_t i = 0; i < s.text_out_len; i++)
                lines += s.text_out[i] == '\n';
            if (!cJSON_IsArray(array) || (size_t)cJSON_GetArraySize(array) != lines)
                fuzz_fail("ls printed %zu lines for a listing that is not that many names",
                          lines);
            cJSON_Delete(array);
        }
        break;
    case ASK_STAT:
        if (rc == 0 && (!reply_is(&r, 0, FT_STAT_REPLY, &m) ||
                        strncmp(s.text_out, "a.txt: ", 7) != 0))
            fuzz_fail("stat accepted without one whole \"stat\" reply");
        break;
    case ASK_PUT:
        if (rc == 0) {
            char hex[65];
            struct ft_msg done;
            fuzz_sha256_hex(upload_bytes, 6, hex);
            if (!reply_is(&r, 0, FT_STAT_REPLY, &m) || m.partial_size != 0 ||
                !reply_is(&r, 1, FT_READY, &m) || !reply_is(&r, 2, FT_DONE, &done) ||
                m.offset != 0 || strcasecmp(done.sha256, hex) != 0 ||
                done.file_size != 6)
                fuzz_fail("put accepted without \"stat\" (nothing kept), \"ready\", then "
                          "\"done\" with its SHA-256");
            if (q.n != 4 || q.f[2].body_len != 6 || memcmp(q.f[2].body, upload_bytes, 6) != 0)
                fuzz_fail("put accepted, but the client did not send stat, put, data, end");
        }
        break;
    }
    fuzz_frames_free(&r);
    fuzz_frames_free(&q);
    free(sent);
    free(s.out);
    free(s.err);
    free(s.text_out);
    free(s.text_err);
    return 0;
}
