/* loadgen.c - a load generator that speaks the stage 5 protocol.
 *
 * wrk and ab speak HTTP only, and tcpkali is not packaged: none of them can
 * ask a stage 5/6 server to run a command. This one opens N connections,
 * sends M requests on each (one at a time: send, read the whole reply, send
 * the next), and reports requests per second and the latency of each
 * request (from its first byte sent to its reply's last byte read): p50,
 * p99, max. Optionally it first opens K idle connections that send nothing
 * and holds them while the others work, and reports how many the server
 * kept open: how a server copes with many clients that do nothing.
 *
 * One thread, non-blocking sockets and epoll, so 10 000 connections cost
 * 10 000 descriptors and a few hundred bytes each, not 10 000 threads.
 *
 * --verify makes every reply checkable: each exec request runs
 * `echo nb-C-R-TOKEN` (connection C, request R, TOKEN drawn from --seed), and
 * its reply must be exactly that line on stdout, nothing on stderr, exit 0,
 * and the SHA-256 the server sends must be that of the output. A get must
 * bring file_size bytes whose SHA-256 is the one in the "end" message.
 *
 * Bounded: the counts are capped, the reply bytes kept per request are
 * capped, and the whole run ends at --timeout whatever the server does. */
#define _GNU_SOURCE
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "digest.h"
#include "frame.h"
#include "wire.h"

#define PROG_NAME "loadgen"
#define DEFAULT_PORT STAGE6_PORT
#define MAX_CONNECTIONS 100000UL
#define MAX_REQUESTS 1000000UL
#define MAX_TOTAL_REQUESTS 10000000ULL  /* latencies kept: 80 MB at most */
#define CONNECTS_IN_FLIGHT 128          /* a burst of SYNs past the server's
                                           backlog costs 1 s retransmits   */
#define ERRORS_SHOWN 5
#define EXPECT_MAX 64                   /* "nb-C-R-TOKEN\n" */
#define READ_BUF_SIZE 65536

struct loadgen_config {
    const char *host, *port;
    unsigned long connections, requests, idle, timeout_ms, hold_ms, seed;
    const char *op;           /* "exec" or "get" */
    const char *command;
    const char *name;
    int verify, tsv;
};

enum conn_state { CONN_WAITING, CONN_CONNECTING, CONN_SENDING, CONN_READING, CONN_IDLE,
                  CONN_DONE };

struct conn {
    int fd;
    unsigned long index;      /* 1-based, in the order they were opened */
    int idle;                 /* one of the --idle connections */
    enum conn_state state;
    unsigned long requests_done;
    unsigned char *out;       /* the request being sent */
    size_t out_len, out_off;
    struct frame_reader reader;
    long long started_ns;     /* the current request's first send */
    /* the current reply, for --verify */
    char expect[EXPECT_MAX];
    size_t expect_len;
    uint64_t stdout_seen, stderr_seen, body_seen, file_size;
    int stdout_differs, got_file;
    struct digest digest;
    char frame_op[16];        /* op of the frame being read */
    int frame_stream;         /* for "output": COMMAND stream, 1 or 2 */
    uint32_t watching;        /* the events epoll watches on fd */
};

struct run {
    const struct loadgen_config *cfg;
    int epfd;
    struct addrinfo *addr;
    struct conn *conns;
    unsigned long conn_count;     /* idle + active */
    unsigned long next_to_open;   /* conns[] index */
    unsigned long connecting;     /* connects in flight */
    unsigned long idle_open;      /* idle connections established so far */
    unsigned long idle_settled;   /* idle ones connected or failed */
    unsigned long active_left;    /* active connections not yet DONE */
    double *latency_ms;
    unsigned long long ok, failed, not_run;
    unsigned long idle_lost;      /* idle connections the server closed */
    unsigned long errors_shown;
    unsigned long long by_code_busy, by_code_timeout;
    unsigned char buf[READ_BUF_SIZE];
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* splitmix64, as tools/slicer: a seed means the same tokens everywhere. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t request_token(unsigned long seed, unsigned long conn, unsigned long req)
{
    return (uint32_t)(mix64(mix64(mix64(seed) ^ conn) ^ req) >> 32);
}

static void conn_error(struct run *run, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends connection C after a failure: the request under way failed, those
 * not started are not run. The first few failures are shown. */
static void conn_error(struct run *run, struct conn *c, const char *fmt, ...)
{
    if (run->errors_shown < ERRORS_SHOWN) {
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        fprintf(stderr, PROG_NAME ": connection %lu, request %lu: %s\n", c->index,
                c->requests_done + 1, text);
        run->errors_shown++;
    } else if (run->errors_shown == ERRORS_SHOWN) {
        fprintf(stderr, PROG_NAME ": (further failures are counted, not shown)\n");
        run->errors_shown++;
    }
    run->failed++;
    run->not_run += run->cfg->requests - c->requests_done - 1;
    c->requests_done = run->cfg->requests;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == CONN_CONNECTING)
        run->connecting--;
    c->state = CONN_DONE;
    digest_free(&c->digest);
    frame_reader_free(&c->reader);
    free(c->out);
    c->out = NULL;
    run->active_left--;
}

/* Builds the next request of C into c->out. */
static int build_request(struct run *run, struct conn *c, char *err, size_t errlen)
{
    const struct loadgen_config *cfg = run->cfg;
    cJSON *header = cJSON_CreateObject();
    char command[128];
    const char *body = NULL;
    size_t body_len = 0;
    unsigned char *head = NULL;
    size_t head_len = 0;
    int rc = -1;

    if (!header || !cJSON_AddStringToObject(header, "op", cfg->op)) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    c->expect_len = 0;
    if (strcmp(cfg->op, "exec") == 0) {
        body = cfg->command;
        if (cfg->verify) {
            snprintf(command, sizeof command, "echo nb-%lu-%lu-%08" PRIx32, c->index,
                     c->requests_done + 1,
                     request_token(cfg->seed, c->index, c->requests_done + 1));
            body = command;
            c->expect_len = (size_t)snprintf(c->expect, sizeof c->expect, "%s\n", command + 5);
        }
        body_len = strlen(body);
    } else if (!cJSON_AddStringToObject(header, "name", cfg->name)) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    if (frame_encode(&frame_stage5, header, body_len, &head, &head_len, err, errlen) < 0)
        goto end;
    free(c->out);
    c->out = malloc(head_len + body_len);
    if (!c->out) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    memcpy(c->out, head, head_len);
    if (body_len)
        memcpy(c->out + head_len, body, body_len);
    c->out_len = head_len + body_len;
    c->out_off = 0;
    rc = 0;
end:
    free(head);
    cJSON_Delete(header);
    return rc;
}

/* Makes epoll watch EVENTS on C (a system call only when they change:
 * two saved per request are a part of what this measures). */
static int watch(struct run *run, struct conn *c, int op, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (op == EPOLL_CTL_MOD && c->watching == events)
        return 0;
    if (epoll_ctl(run->epfd, op, c->fd, &ev) < 0)
        return -1;
    c->watching = events;
    return 0;
}

static void send_some(struct run *run, struct conn *c);

/* Starts C's next request, or ends C when it has sent them all. */
static void next_request(struct run *run, struct conn *c)
{
    char err[256];

    if (c->requests_done >= run->cfg->requests) {
        close(c->fd);
        c->fd = -1;
        c->state = CONN_DONE;
        free(c->out);
        c->out = NULL;
        frame_reader_free(&c->reader);
        run->active_left--;
        return;
    }
    if (build_request(run, c, err, sizeof err) < 0) {
        conn_error(run, c, "%s", err);
        return;
    }
    c->stdout_seen = c->stderr_seen = c->body_seen = c->file_size = 0;
    c->stdout_differs = c->got_file = 0;
    digest_free(&c->digest);
    if (digest_init(&c->digest, DIGEST_SHA256) < 0) {
        conn_error(run, c, "out of memory");
        return;
    }
    c->state = CONN_SENDING;
    c->started_ns = now_ns();
    /* A request fits the socket's buffer: send it now, and watch for
     * room only when it does not. */
    send_some(run, c);
    if (c->state == CONN_SENDING && watch(run, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT) < 0)
        conn_error(run, c, "epoll_ctl: %s", strerror(errno));
}

static void send_some(struct run *run, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            conn_error(run, c, "send: %s", strerror(errno));
            return;
        }
        c->out_off += (size_t)n;
    }
    c->state = CONN_READING;
    if (watch(run, c, EPOLL_CTL_MOD, EPOLLIN) < 0)
        conn_error(run, c, "epoll_ctl: %s", strerror(errno));
}

static const char *header_string(const cJSON *header, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(header, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The reply's last frame has arrived and checked out. */
static void request_done(struct run *run, struct conn *c)
{
    unsigned long long at = (c->index - 1 - run->cfg->idle) * run->cfg->requests +
                            c->requests_done;
    run->latency_ms[at] = (double)(now_ns() - c->started_ns) / 1e6;
    run->ok++;
    c->requests_done++;
    next_request(run, c);
}

/* A reply frame's header: what it starts. Returns 0 to go on, -1 when C
 * was ended. */
static int on_header(struct run *run, struct conn *c)
{
    const cJSON *h = c->reader.header;
    const char *op = header_string(h, "op");
    char err[256];

    snprintf(c->frame_op, sizeof c->frame_op, "%s", op ? op : "");
    if (!op) {
        conn_error(run, c, "a reply header without \"op\"");
        return -1;
    }
    if (strcmp(op, "error") == 0) {
        const char *code = header_string(h, "code"), *message = header_string(h, "message");
        if (code && strcmp(code, "busy") == 0)
            run->by_code_busy++;
        if (code && strcmp(code, "timeout") == 0)
            run->by_code_timeout++;
        conn_error(run, c, "the server answered error %s: %s", code ? code : "(no code)",
                   message ? message : "(no message)");
        return -1;
    }
    if (strcmp(run->cfg->op, "exec") == 0) {
        if (strcmp(op, "output") == 0) {
            const char *stream = header_string(h, "stream");
            c->frame_stream = stream && strcmp(stream, "stderr") == 0 ? 2 : 1;
            return 0;
        }
        if (strcmp(op, "exit") == 0)
            return 0;
    } else {
        if (strcmp(op, "file") == 0) {
            if (frame_get_uint(h, "file_size", UINT64_MAX, &c->file_size, err, sizeof err) < 0) {
                conn_error(run, c, "file: %s", err);
                return -1;
            }
            c->got_file = 1;
            return 0;
        }
        if (strcmp(op, "end") == 0 && c->got_file)
            return 0;
    }
    conn_error(run, c, "unexpected reply \"%s\" to %s", op, run->cfg->op);
    return -1;
}

static void on_body(struct conn *c, const unsigned char *body, size_t len)
{
    digest_update(&c->digest, body, len);
    c->body_seen += len;
    if (strcmp(c->frame_op, "output") != 0)
        return;
    if (c->frame_stream == 2) {
        c->stderr_seen += len;
        return;
    }
    /* Compare with the expected line as it arrives: nothing is kept. */
    if (c->stdout_seen + len > c->expect_len ||
        memcmp(c->expect + c->stdout_seen, body, len) != 0)
        c->stdout_differs = 1;
    c->stdout_seen += len;
}

/* The frame is complete: an "exit" or "end" completes the request.
 * Returns 0 to go on, -1 when C was ended. */
static int on_end(struct run *run, struct conn *c)
{
    const cJSON *h = c->reader.header;
    char hex[DIGEST_HEX_MAX];

    if (strcmp(c->frame_op, "exit") != 0 && strcmp(c->frame_op, "end") != 0)
        return 0;
    const char *sha = header_string(h, "sha256");
    digest_final_hex(&c->digest, hex);
    if (run->cfg->verify) {
        if (!sha || strcasecmp(sha, hex) != 0) {
            conn_error(run, c, "sha256 %s in the reply, but the bytes received hash to %s",
                       sha ? sha : "(none)", hex);
            return -1;
        }
        if (strcmp(c->frame_op, "exit") == 0) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(h, "exit_code");
            if (c->stdout_differs || c->stdout_seen != c->expect_len) {
                conn_error(run, c, "stdout is not the expected %zu bytes \"%.*s\\n\" "
                           "(%" PRIu64 " bytes came)", c->expect_len,
                           (int)(c->expect_len ? c->expect_len - 1 : 0), c->expect,
                           c->stdout_seen);
                return -1;
            }
            if (c->stderr_seen != 0 || !cJSON_IsNumber(code) || code->valuedouble != 0) {
                conn_error(run, c, "expected exit code 0 and no stderr, got exit code %s "
                           "and %" PRIu64 " bytes of stderr",
                           cJSON_IsNumber(code) ? "non-zero" : "null", c->stderr_seen);
                return -1;
            }
        } else if (c->body_seen != c->file_size) {
            conn_error(run, c, "file_size %" PRIu64 " but %" PRIu64 " bytes came",
                       c->file_size, c->body_seen);
            return -1;
        }
    }
    request_done(run, c);
    return -1;   /* C moved on to its next request (or ended): stop feeding */
}

static void read_reply(struct run *run, struct conn *c)
{
    ssize_t got = recv(c->fd, run->buf, sizeof run->buf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got < 0) {
        conn_error(run, c, "recv: %s", strerror(errno));
        return;
    }
    if (got == 0) {
        conn_error(run, c, c->state == CONN_READING ?
                   "the server closed the connection before the reply ended" :
                   "the server closed the connection");
        return;
    }
    if (c->state != CONN_READING) {
        conn_error(run, c, "the server sent %zd bytes before the request was sent", got);
        return;
    }
    size_t pos = 0;
    for (;;) {
        size_t used, body_len;
        const unsigned char *body;
        enum frame_event ev = frame_reader_feed(&c->reader, run->buf + pos, (size_t)got - pos,
                                                &used, &body, &body_len);
        pos += used;
        if (ev == FRAME_NEED_MORE)
            return;
        if (ev == FRAME_ERROR) {
            conn_error(run, c, "bad reply: %s", c->reader.err);
            return;
        }
        if (ev == FRAME_HEADER && on_header(run, c) < 0)
            return;
        if (ev == FRAME_BODY)
            on_body(c, body, body_len);
        if (ev == FRAME_END && on_end(run, c) < 0) {
            if (c->state != CONN_DONE && pos < (size_t)got)
                conn_error(run, c, "the server sent %zu bytes after the reply",
                           (size_t)got - pos);
            return;
        }
    }
}

static void idle_failed(struct run *run, struct conn *c, const char *what)
{
    if (c->state == CONN_CONNECTING) {
        run->connecting--;
        run->idle_settled++;
        if (run->errors_shown < ERRORS_SHOWN) {
            fprintf(stderr, PROG_NAME ": idle connection %lu: %s\n", c->index, what);
            run->errors_shown++;
        }
    } else {
        run->idle_lost++;
        run->idle_open--;
    }
    close(c->fd);
    c->fd = -1;
    c->state = CONN_DONE;
    frame_reader_free(&c->reader);
}

/* Opens connections while fewer than CONNECTS_IN_FLIGHT are under way: the
 * idle ones first, all of them settled before the active ones start, so the
 * active ones are measured against a server that holds them all. */
static void open_more(struct run *run)
{
    while (run->connecting < CONNECTS_IN_FLIGHT && run->next_to_open < run->conn_count) {
        struct conn *c = &run->conns[run->next_to_open];
        if (!c->idle && run->idle_settled < run->cfg->idle)
            return;
        run->next_to_open++;
        c->fd = socket(run->addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fprintf(stderr, PROG_NAME ": socket: %s\n", strerror(errno));
            if (c->idle) {
                run->idle_settled++;
                c->state = CONN_DONE;
            } else {
                conn_error(run, c, "socket: %s", strerror(errno));
            }
            continue;
        }
        int one = 1;
        frame_reader_init(&c->reader, &frame_stage5);
        c->state = CONN_CONNECTING;
        run->connecting++;
        /* Without TCP_NODELAY, Nagle would hold each small request back:
         * the figures would measure the delayed ACK, not the server. */
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
            (connect(c->fd, run->addr->ai_addr, run->addr->ai_addrlen) < 0 &&
             errno != EINPROGRESS) ||
            watch(run, c, EPOLL_CTL_ADD, EPOLLOUT | EPOLLIN) < 0) {
            char what[256];
            snprintf(what, sizeof what, "cannot connect to %s:%s: %s", run->cfg->host,
                     run->cfg->port, strerror(errno));
            if (c->idle)
                idle_failed(run, c, what);
            else
                conn_error(run, c, "%s", what);
        }
    }
}

/* Counts a busy or timeout notice the server sent on an idle connection. */
static void count_notice(struct run *run, struct conn *c, size_t len)
{
    size_t used, body_len;
    const unsigned char *body;

    if (frame_reader_feed(&c->reader, run->buf, len, &used, &body, &body_len) != FRAME_HEADER)
        return;
    const char *code = header_string(c->reader.header, "code");
    if (code && strcmp(code, "busy") == 0)
        run->by_code_busy++;
    if (code && strcmp(code, "timeout") == 0)
        run->by_code_timeout++;
}

static void on_event(struct run *run, struct conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error || (events & (EPOLLERR | EPOLLHUP))) {
            char what[256];
            snprintf(what, sizeof what, "cannot connect to %s:%s: %s", run->cfg->host,
                     run->cfg->port, strerror(so_error ? so_error : ECONNREFUSED));
            if (c->idle)
                idle_failed(run, c, what);
            else
                conn_error(run, c, "%s", what);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        run->connecting--;
        if (c->idle) {
            c->state = CONN_IDLE;
            run->idle_open++;
            run->idle_settled++;
            /* Watch it only for the server closing it or sending a notice. */
            if (watch(run, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP) < 0)
                idle_failed(run, c, "epoll_ctl failed");
            return;
        }
        next_request(run, c);
        return;
    }
    if (c->state == CONN_IDLE) {
        /* Anything from the server on an idle connection (a busy or timeout
         * notice, or its close) means it is not held any more. */
        ssize_t got = recv(c->fd, run->buf, sizeof run->buf, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (got > 0)
            count_notice(run, c, (size_t)got);
        idle_failed(run, c, "closed by the server");
        return;
    }
    if (c->state == CONN_SENDING && (events & EPOLLOUT))
        send_some(run, c);
    if (c->state != CONN_DONE && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        read_reply(run, c);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least P of the values at or below it. */
static double percentile(const double *sorted, unsigned long long n, double p)
{
    if (n == 0)
        return 0;
    unsigned long long rank = (unsigned long long)(p * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static int check_config(struct loadgen_config *cfg, char *err, size_t errlen)
{
    if (cfg->connections == 0 && cfg->idle == 0) {
        snprintf(err, errlen, "nothing to do: --connections 0 needs --idle");
        return -1;
    }
    if ((unsigned long long)cfg->connections * cfg->requests > MAX_TOTAL_REQUESTS) {
        snprintf(err, errlen, "--connections x --requests is over %llu", MAX_TOTAL_REQUESTS);
        return -1;
    }
    if (strcmp(cfg->op, "get") == 0 && !cfg->name) {
        snprintf(err, errlen, "--op get needs --name: which file?");
        return -1;
    }
    if (strcmp(cfg->op, "exec") == 0 && cfg->name) {
        snprintf(err, errlen, "--name is for --op get");
        return -1;
    }
    if (cfg->command && (strlen(cfg->command) == 0 || strlen(cfg->command) > FT_MAX_COMMAND)) {
        snprintf(err, errlen, "--command must be 1..%d bytes", FT_MAX_COMMAND);
        return -1;
    }
    if (cfg->command && (cfg->verify || strcmp(cfg->op, "exec") != 0)) {
        snprintf(err, errlen, cfg->verify ?
                 "--verify runs its own commands (echo nb-C-R-TOKEN): leave out --command" :
                 "--command is for --op exec");
        return -1;
    }
    if (!cfg->command)
        cfg->command = "echo hello";
    /* Each connection is a descriptor; say so before opening 10 000 of them. */
    struct rlimit lim;
    unsigned long need = cfg->connections + cfg->idle + 16;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        need > lim.rlim_cur) {
        snprintf(err, errlen, "%lu connections need about %lu descriptors, but the limit is "
                 "%llu: raise it with ulimit -n", cfg->connections + cfg->idle, need,
                 (unsigned long long)lim.rlim_cur);
        return -1;
    }
    return 0;
}

static int resolve(const struct loadgen_config *cfg, struct addrinfo **out,
                   char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int rc = getaddrinfo(cfg->host, cfg->port, &hints, out);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s:%s: %s", cfg->host, cfg->port,
                 gai_strerror(rc));
        return -1;
    }
    return 0;
}

static void report(struct run *run, double seconds)
{
    const struct loadgen_config *cfg = run->cfg;
    unsigned long long n = run->ok;
    double *sorted = run->latency_ms;
    unsigned long long kept = 0;

    /* Only completed requests have a latency: gather them, then sort. */
    for (unsigned long long i = 0; i < (unsigned long long)cfg->connections * cfg->requests; i++)
        if (run->latency_ms[i] >= 0)
            sorted[kept++] = run->latency_ms[i];
    qsort(sorted, kept, sizeof *sorted, compare_double);
    double p50 = percentile(sorted, kept, 0.50), p99 = percentile(sorted, kept, 0.99);
    double max = kept ? sorted[kept - 1] : 0;
    double rps = seconds > 0 ? (double)n / seconds : 0;

    if (cfg->tsv) {
        printf("ok\tfailed\tnot_run\tseconds\trequests_per_s\tp50_ms\tp99_ms\tmax_ms\t"
               "idle_held\tidle_wanted\tbusy\ttimeout\n");
        printf("%llu\t%llu\t%llu\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%lu\t%lu\t%llu\t%llu\n",
               run->ok, run->failed, run->not_run, seconds, rps, p50, p99, max,
               run->idle_open, cfg->idle, run->by_code_busy, run->by_code_timeout);
        return;
    }
    printf("%lu connections x %lu %s requests to %s:%s (seed %lu)\n", cfg->connections,
           cfg->requests, cfg->op, cfg->host, cfg->port, cfg->seed);
    printf("requests: %llu ok, %llu failed, %llu not run in %.3f s (%.1f requests/s)\n",
           run->ok, run->failed, run->not_run, seconds, rps);
    if (run->by_code_busy || run->by_code_timeout)
        printf("refusals: %llu busy, %llu timeout\n", run->by_code_busy, run->by_code_timeout);
    if (kept)
        printf("latency: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", p50, p99, max);
    if (cfg->idle)
        printf("idle connections held: %lu of %lu\n", run->idle_open, cfg->idle);
}

int main(int argc, char **argv)
{
    struct loadgen_config cfg = {
        .host = "127.0.0.1", .port = DEFAULT_PORT, .connections = 10, .requests = 10,
        .timeout_ms = DURATION_S(60), .seed = 1, .op = "exec",
    };
    const struct cli_option options[] = {
        CLI_HOST_OPTION(&cfg.host),
        CLI_SERVER_PORT_OPTION(&cfg.port, DEFAULT_PORT),
        { "connections", 'c', CLI_UINT, &cfg.connections, "N",
          "connections that send requests, all at once (default 10)", 0, MAX_CONNECTIONS },
        { "requests", 'n', CLI_UINT, &cfg.requests, "M",
          "requests on each connection, one after another (default 10)", 1, MAX_REQUESTS },
        { "idle", 'i', CLI_UINT, &cfg.idle, "K",
          "first open K connections that send nothing, and hold them (default 0)",
          0, MAX_CONNECTIONS },
        { "hold", 0, CLI_DURATION, &cfg.hold_ms, "SECS",
          "keep the idle connections SECS more after the requests (default 0)",
          0, DURATION_S(3600) },
        { "op", 0, CLI_CHOICE, &cfg.op, "exec|get", "what to ask for (default exec)", 0, 0 },
        { "command", 'e', CLI_STRING, &cfg.command, "CMD",
          "the command of each exec (default \"echo hello\")", 0, 0 },
        { "name", 0, CLI_STRING, &cfg.name, "NAME", "the file of each get", 0, 0 },
        { "verify", 0, CLI_FLAG, &cfg.verify, NULL,
          "check every reply: unique commands, exact output, sha256", 0, 0 },
        { "seed", 0, CLI_UINT, &cfg.seed, "S",
          "seeds --verify's tokens: the same seed, the same requests (default 1)", 0, ULONG_MAX },
        { "timeout", 't', CLI_DURATION, &cfg.timeout_ms, "SECS",
          "end the whole run after SECS, whatever is unfinished (default 60)",
          1, DURATION_S(86400) },
        { "tsv", 0, CLI_FLAG, &cfg.tsv, NULL,
          "print the figures as a header line and one tab-separated line", 0, 0 },
    };
    const struct cli_program prog = {
        .name = PROG_NAME,
        .summary = "opens many connections to a stage 5/6 server and measures its replies",
        .version = "a lab tool, not in the document: load for stage 6's servers",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .epilog = "Reports requests/s and latency (p50, p99, max, from a request's first byte\n"
                  "sent to its reply's last byte read). Exit status: 0 when every request\n"
                  "succeeded and every idle connection was held, 1 otherwise, 2 bad usage.\n"
                  "Example: tools/loadgen -p 8087 -c 100 -n 20 --verify",
    };
    struct cli_outcome outcome;
    struct run run;
    char err[512];
    int status = 1;

    cli_parse(&prog, argc, argv, &outcome);
    if (!outcome.run) {
        fputs(outcome.text, outcome.to_stderr ? stderr : stdout);
        return outcome.exit_status;
    }
    if (check_config(&cfg, err, sizeof err) < 0) {
        cli_usage_error(&prog, &outcome, "%s", err);
        fputs(outcome.text, stderr);
        return outcome.exit_status;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&run, 0, sizeof run);
    run.cfg = &cfg;
    run.epfd = -1;
    if (resolve(&cfg, &run.addr, err, sizeof err) < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        return 1;
    }
    run.conn_count = cfg.idle + cfg.connections;
    run.active_left = cfg.connections;
    run.conns = calloc(run.conn_count, sizeof *run.conns);
    size_t latencies = (size_t)cfg.connections * cfg.requests;
    run.latency_ms = malloc((latencies ? latencies : 1) * sizeof *run.latency_ms);
    run.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!run.conns || !run.latency_ms || run.epfd < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
        goto end;
    }
    for (size_t i = 0; i < latencies; i++)
        run.latency_ms[i] = -1;
    for (unsigned long i = 0; i < run.conn_count; i++) {
        run.conns[i].fd = -1;
        run.conns[i].index = i + 1;
        run.conns[i].idle = i < cfg.idle;
        run.conns[i].state = CONN_WAITING;
    }

    long long start = now_ns();
    long long deadline = start + (long long)cfg.timeout_ms * 1000000LL;
    long long active_start = 0, active_end = 0, hold_until = 0;
    struct epoll_event events[256];
    for (;;) {
        open_more(&run);
        if (!active_start && run.idle_settled >= cfg.idle)
            active_start = now_ns();
        if (run.active_left == 0 && run.idle_settled >= cfg.idle && !active_end) {
            active_end = now_ns();
            hold_until = active_end + (long long)cfg.hold_ms * 1000000LL;
        }
        long long now = now_ns();
        if (active_end && now >= hold_until)
            break;
        if (now >= deadline) {
            fprintf(stderr, PROG_NAME ": the --timeout of %s s ended the run\n",
                    duration_text(cfg.timeout_ms).s);
            break;
        }
        long long until = active_end ? hold_until : deadline;
        long long wait_ms = (until - now) / 1000000 + 1;
        int n = epoll_wait(run.epfd, events, 256, wait_ms > 1000 ? 1000 : (int)wait_ms);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, PROG_NAME ": epoll_wait: %s\n", strerror(errno));
            goto end;
        }
        for (int i = 0; i < n; i++)
            on_event(&run, events[i].data.ptr, events[i].events);
    }
    /* What the deadline left unfinished failed (under way) or did not run. */
    for (unsigned long i = 0; i < run.conn_count; i++) {
        struct conn *c = &run.conns[i];
        if (c->idle || c->state == CONN_DONE)
            continue;
        if (c->state == CONN_WAITING) {
            run.not_run += cfg.requests;
            continue;
        }
        run.failed++;
        run.not_run += cfg.requests - c->requests_done - 1;
    }
    if (!active_start)
        active_start = now_ns();
    if (!active_end)
        active_end = now_ns();
    report(&run, (double)(active_end - active_start) / 1e9);
    status = run.failed || run.not_run || run.idle_open < cfg.idle ? 1 : 0;
end:
    if (run.conns) {
        for (unsigned long i = 0; i < run.conn_count; i++) {
            if (run.conns[i].fd >= 0)
                close(run.conns[i].fd);
            frame_reader_free(&run.conns[i].reader);
            digest_free(&run.conns[i].digest);
            free(run.conns[i].out);
        }
    }
    free(run.conns);
    free(run.latency_ms);
    if (run.epfd >= 0)
        close(run.epfd);
    freeaddrinfo(run.addr);
    return status;
}
