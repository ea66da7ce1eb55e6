/* trace.c - the capture of the grader's side of every connection: each
 * send, receive, accept, connect and close as a capture event
 * (capture/capture.h); a failing scenario's capture is kept for
 * nianbao-view. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "play.h"

static void addr_of(const struct sockaddr_storage *sa, struct cap_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        out->family = AF_INET;
        out->port = ntohs(in->sin_port);
        memcpy(out->addr, &in->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        out->family = AF_INET6;
        out->port = ntohs(in6->sin6_port);
        memcpy(out->addr, &in6->sin6_addr, 16);
    }
}

void conn_learn_addresses(struct conn *c)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(c->fd, (struct sockaddr *)&sa, &len) == 0)
        addr_of(&sa, &c->local);
    len = sizeof sa;
    if (getpeername(c->fd, (struct sockaddr *)&sa, &len) == 0)
        addr_of(&sa, &c->peer);
}

void trace(struct run *r, struct conn *c, enum cap_kind kind, enum cap_call call,
           int64_t result, int err_no, const void *data, size_t len)
{
    if (r->trace_fd < 0)
        return;
    struct cap_event ev;
    struct timespec t;
    memset(&ev, 0, sizeof ev);
    clock_gettime(CLOCK_REALTIME, &t);
    ev.magic = CAP_MAGIC;
    ev.kind = (uint8_t)kind;
    ev.call = (uint8_t)call;
    ev.socktype = SOCK_STREAM;
    ev.role = r->cfg->mode == MODE_CLIENT ? ROLE_SERVER : ROLE_CLIENT;
    ev.time_ns = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
    ev.result = result;
    ev.pid = (uint32_t)getpid();
    ev.fd = c->fd;
    ev.err = err_no;
    ev.data_len = (uint32_t)(len > CAP_MAX_DATA ? CAP_MAX_DATA : len);
    ev.local = c->local;
    ev.peer = c->peer;
#ifdef CAP_MAGIC_V1
    /* The second capture format: bytes taken off the wire, here always the
     * call's result. */
    ev.wire_len = result;
#endif
    if (capture_write(r->trace_fd, &ev, data) < 0) {
        snprintf(r->v->note, sizeof r->v->note, "the capture could not be written: %s",
                 strerror(errno));
        close(r->trace_fd);
        r->trace_fd = -1;
    }
}

/* The command line recorded with a connect/accept: what the viewer names
 * this end by. */
void trace_open_event(struct run *r, struct conn *c, enum cap_kind kind,
                      enum cap_call call)
{
    char who[200];
    snprintf(who, sizeof who, "nianbao-grade %s --proto %s (the grader, as the %s)",
             r->cfg->mode == MODE_CLIENT ? "client" : "server", r->ops->name,
             r->cfg->mode == MODE_CLIENT ? "server" : "client");
    c->capture_id = ++r->captured_conns;
    trace(r, c, kind, call, c->fd, 0, who, strlen(who));
}

int trace_start(struct run *r, char *err, size_t errlen)
{
    char dir[] = "/tmp/nianbao-grade-XXXXXX";
    r->trace_fd = -1;
    if (mkdtemp(dir) == NULL) {
        snprintf(err, errlen, "cannot create a folder for the capture: %s", strerror(errno));
        return -1;
    }
    snprintf(r->trace_path, sizeof r->trace_path, "%s/run.nbcap", dir);
    r->trace_fd = open(r->trace_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (r->trace_fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", r->trace_path, strerror(errno));
        rmdir(dir);
        return -1;
    }
    return 0;
}

/* Keeps the capture of a failed scenario in the captures folder, drops it
 * otherwise. */
void trace_finish(struct run *r)
{
    char dir[PATH_MAX];
    if (r->trace_fd >= 0)
        close(r->trace_fd);
    r->trace_fd = -1;
    if (r->trace_path[0] == '\0')
        return;
    if (!r->v->pass && r->cfg->captures_dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s-%s-%s-seed%llu.nbcap", r->cfg->captures_dir,
                 r->cfg->mode == MODE_CLIENT ? "client" : "server", r->ops->name,
                 r->sc->name, (unsigned long long)r->cfg->seed);
        if (mkdir(r->cfg->captures_dir, 0755) < 0 && errno != EEXIST)
            snprintf(r->v->note, sizeof r->v->note, "cannot create %s: %s",
                     r->cfg->captures_dir, strerror(errno));
        else if (rename(r->trace_path, path) == 0)
            snprintf(r->v->capture, sizeof r->v->capture, "%s", path);
        else {
            /* Another file system: copy. */
            int in = open(r->trace_path, O_RDONLY | O_CLOEXEC);
            int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            char buf[65536];
            ssize_t n = 0;
            while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)n) != n) {
                    n = -1;
                    break;
                }
            if (in >= 0 && out >= 0 && n == 0)
                snprintf(r->v->capture, sizeof r->v->capture, "%s", path);
            else
                snprintf(r->v->note, sizeof r->v->note, "cannot write %.180s: %s", path,
                         strerror(errno));
            if (in >= 0)
                close(in);
            if (out >= 0)
                close(out);
        }
    }
    unlink(r->trace_path);
    snprintf(dir, sizeof dir, "%s", r->trace_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}
