/* server_mode.c - the grader as the clients: it starts the server, learns
 * its port, and plays the clients: connects, sends requests, reads each
 * reply and has its protocol check it (proto_ops.expect_reply). */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "play.h"

#define CLIENT_RCVBUF 65536   /* the grader's receive buffer as a client    */

static int cond_ready(struct run *r, void *arg)
{
    int *from_port = arg;
    struct child *ch = &r->child;
    char found[NET_ADDRSTRLEN + 16] = "";

    pthread_mutex_lock(&ch->lock);
    const struct child_output *outs[2] = { &ch->err, &ch->out };
    for (int i = 0; i < 2 && !found[0]; i++) {
        const struct child_output *o = outs[i];
        const unsigned char *p = o->bytes, *end = p ? p + o->len : p;   /* NULL + 0: UB */
        while (p && p < end) {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL)
                break;
            size_t len = (size_t)(nl - p);
            if (len > 13 && len < 13 + sizeof found && memcmp(p, "listening on ", 13) == 0) {
                memcpy(found, p + 13, len - 13);
                found[len - 13] = '\0';
                break;
            }
            p = nl + 1;
        }
    }
    pthread_mutex_unlock(&ch->lock);
    if (found[0]) {
        char *colon = strrchr(found, ':');
        if (colon == NULL)
            return 0;
        *colon = '\0';
        snprintf(r->port, sizeof r->port, "%.7s", colon + 1);
        const char *host = found;
        size_t host_len = strlen(host);
        if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
            found[host_len - 1] = '\0';
            host++;
        }
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 || host[0] == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        snprintf(r->host, sizeof r->host, "%.63s", host);
        return 1;
    }
    if (*from_port && peek_listening((unsigned)atoi(r->port)) == 1)
        return 1;
    return 0;
}

/* The first port of the kernel's ephemeral range (the ports connect()
 * takes): 32768 unless /proc says otherwise. */
static unsigned ephemeral_low(void)
{
    unsigned low = 32768, high = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%u %u", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    return low;
}

/* Picks a free port for {port}. Between this pick and the server's bind,
 * a port of the ephemeral range can be taken by any connect() on the
 * machine (the grader's own clients among them: the server then fails with
 * "Address already in use"), so the pick is below that range, where only
 * an explicit bind lands: a random port from 10000 up, tried with a bind.
 * Falls back to bind 0 (an ephemeral port) when none is free. */
#define PICK_FROM 10000u
int free_port(char *port, size_t len, char *err, size_t errlen)
{
    unsigned low = ephemeral_low();

    /* For the test of the retry: the first pick is this port, taken or not. */
    static int first_given;
    const char *first = getenv("NIANBAO_GRADE_FIRST_PORT");
    if (first != NULL && *first && !first_given) {
        first_given = 1;
        snprintf(port, len, "%s", first);
        return 0;
    }

    if (low > PICK_FROM + 100 && low <= 65535) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned seed = (unsigned)now.tv_nsec ^ ((unsigned)getpid() << 16);
        for (int tries = 0; tries < 64; tries++) {
            unsigned short p = (unsigned short)(PICK_FROM + (unsigned)rand_r(&seed) % (low - PICK_FROM));
            char text[8], ignored[200];
            snprintf(text, sizeof text, "%u", (unsigned)p);
            int fd = net_listen("127.0.0.1", text, SOCK_STREAM, ignored, sizeof ignored);
            if (fd >= 0) {
                close(fd);
                snprintf(port, len, "%u", (unsigned)p);
                return 0;
            }
        }
    }
    int fd = net_listen("127.0.0.1", "0", SOCK_STREAM, err, errlen);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof sa;
    int rc = getsockname(fd, (struct sockaddr *)&sa, &sa_len);
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    snprintf(port, len, "%u", ntohs(sa.sin_port));
    return 0;
}

int argv_has_port(char **argv)
{
    for (int i = 0; argv[i]; i++)
        if (strstr(argv[i], "{port}"))
            return 1;
    return 0;
}

/* Stage 6: the server's child processes, once its clients have gone. */
struct children {
    int before;               /* processes before the first client came     */
    int64_t sampled_ms;
    struct group_sample now;
    int sampled;
};

/* At most one child more than before the clients came, and at most one
 * zombie: a server that waits for its children before the next accept
 * keeps the last one until then. One that never waits cannot get there. */
static int cond_reaped(struct run *r, void *arg)
{
    struct children *ch = arg;
    int64_t now = now_ms();
    if (ch->sampled && now - ch->sampled_ms < SAMPLE_MS / 5)
        return 0;
    ch->sampled_ms = now;
    if (child_sample(&r->child, &ch->now) < 0)
        return 0;
    ch->sampled = 1;
    return ch->now.zombies <= 1 && ch->now.processes <= ch->before + 1;
}

struct connecting {
    struct conn *c;
    int error;                /* the connect's outcome: 0, or errno */
};

static int cond_connected(struct run *r, void *arg)
{
    struct connecting *k = arg;
    struct pollfd p = { k->c->fd, POLLOUT, 0 };
    (void)r;
    if (poll(&p, 1, 0) != 1)
        return 0;
    socklen_t len = sizeof k->error;
    if (getsockopt(k->c->fd, SOL_SOCKET, SO_ERROR, &k->error, &len) < 0)
        k->error = errno;
    return 1;
}

/* Connects C to the server, with a small, fixed receive buffer: without it
 * the kernel grows the window to tens of MiB, a whole reply fits in it, and
 * whether a server notices a client that left would depend on the
 * machine's settings. The connect does not block: a server whose accept
 * queue is full (it serves one client at a time, and the queue is short)
 * leaves it pending, and the grader must tell. Returns 0, or -1 after
 * saying why (the reason only: the port changes from run to run). */
static int connect_conn(struct run *r, struct conn *c, unsigned conn_no)
{
    struct addrinfo hints, *list = NULL;
    int rcvbuf = CLIENT_RCVBUF, error = 0, rc;
    char state[200];

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(r->host, r->port, &hints, &list);
    if (rc != 0) {
        step(r, "client %u could not connect: %s", conn_no, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       ai->ai_protocol);
        if (c->fd < 0) {
            error = errno;
            continue;
        }
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
            error = errno;
            close(c->fd);
            c->fd = -1;
            continue;
        }
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            error = 0;
            break;
        }
        error = errno;
        if (error == EINPROGRESS) {
            struct connecting k = { c, 0 };
            enum wait_end how = wait_for(r, cond_connected, &k);
            if (how == WAIT_DONE) {
                error = k.error;
                if (error == 0)
                    break;
            } else {
                freeaddrinfo(list);
                describe_program(r, how, state, sizeof state);
                step(r, "client %u could not connect: the server does not accept connections "
                        "(it %s)", conn_no, state);
                diagnose_held_up(r, c, how);
                diagnose_server_gone(r);
                close(c->fd);
                c->fd = -1;
                fail_at_last(r);
                return -1;
            }
        }
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(list);
    if (c->fd < 0) {
        step(r, "client %u could not connect: %s", conn_no, strerror(error));
        diagnose_server_gone(r);
        fail_at_last(r);
        return -1;
    }
    int on = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
        step(r, "client %u could not connect: the grader could not set TCP_NODELAY: %s",
             conn_no, strerror(errno));
        close(c->fd);
        c->fd = -1;
        fail_at_last(r);
        return -1;
    }
    c->opened = 1;
    conn_learn_addresses(c);
    trace_open_event(r, c, CAP_CONNECT, CALL_CONNECT);
    step(r, "client %u connected", conn_no);
    return 0;
}

/* 1 when a socket listens on the server's port and none of those that do
 * is the program's (its process tree's): it named another process's port,
 * and the grader would grade that process. 0 when one of them is the
 * program's, when none listens yet (the connect will tell), or when the
 * grader cannot look. */
static int port_taken_by_another(struct run *r)
{
    unsigned long inodes[16];
    size_t n = 0;
    int port = atoi(r->port);

    if (port <= 0)
        return 0;
    int listening = peek_listeners((unsigned)port, inodes, sizeof inodes / sizeof inodes[0], &n);
    if (listening <= 0 || (size_t)listening > n)
        return 0;       /* none yet, or more than we keep: cannot tell */
    return child_has_socket(&r->child, inodes, n) == 0;
}

/* 1 when the server's stderr says its bind found the address in use and
 * {port} is indeed taken now (a server that binds a port of its own choice
 * fails as any other). */
static int lost_port(struct run *r)
{
    struct child *ch = &r->child;
    static const char text[] = "Address already in use";
    pthread_mutex_lock(&ch->lock);
    int found = ch->err.bytes != NULL && memmem(ch->err.bytes, ch->err.len, text, sizeof text - 1);
    pthread_mutex_unlock(&ch->lock);
    if (!found)
        return 0;
    char ignored[200];
    int fd = net_listen(r->host, r->port, SOCK_STREAM, ignored, sizeof ignored);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return strstr(ignored, strerror(EADDRINUSE)) != NULL;
}

void play_server_mode(struct run *r, int from_port)
{
    const struct script *s = r->s;
    char line[2048], state[200], a[400];

    command_line(r->cfg->argv, line, sizeof line);
    enum wait_end how = wait_started(r, cond_ready, &from_port);
    if (how != WAIT_DONE && from_port && child_poll_exit(&r->child) && lost_port(r)) {
        r->port_lost = 1;
        return;
    }
    if (how != WAIT_DONE) {
        describe_program(r, how, state, sizeof state);
        step(r, "the grader started the server: %s", line);
        char given[64] = "";
        if (from_port)
            snprintf(given, sizeof given, " nor listened on port %s, the one it was given", r->port);
        step(r, "it never said where it listens (a line 'listening on ADDR:PORT' on stdout or "
                "stderr)%s: it %s", given, state);
        finish_program(r, 0);
        server_stderr_step(r);
        if (!from_port && how == WAIT_STUCK)
            diagnose(r, "print 'listening on ADDR:PORT' once the socket listens, or give the "
                        "grader {port} in the server's arguments");
        r->v->pass = 0;
        return;
    }
    if (port_taken_by_another(r)) {
        if (from_port) {
            r->port_lost = 1;
            return;
        }
        step(r, "the grader started the server: %s", line);
        step(r, "%s port %s, but port %s is not the program's: another process listens there",
             from_port ? "it was given" : "it said it listens on", r->port, r->port);
        if (from_port)
            diagnose(r, "the program was given port %s to listen on and another process listens "
                        "there: did its bind fail? (its stderr may say)", r->port);
        else
            diagnose(r, "say the port of the program's own listening socket: bind, listen, then "
                        "read the port with getsockname and print 'listening on ADDR:PORT'");
        finish_program(r, 0);
        server_stderr_step(r);
        r->v->pass = 0;
        return;
    }
    step(r, "the grader (playing the clients) started the server: %s; it listens on port %s%s",
         line, r->port, from_port ? ", the one it was given" : ", as it said");

    struct children children = { .before = 1 };
    for (size_t i = 0; i < s->n_acts; i++)
        if (s->acts[i].kind == ACT_REAPED && child_sample(&r->child, &children.now) == 0)
            children.before = children.now.processes;

    int ok = 1;
    for (size_t i = 0; i < s->n_acts && ok; i++) {
        const struct act *act = &s->acts[i];
        struct conn *c = &r->conns[act->conn];
        unsigned no = act->conn + 1;
        switch (act->kind) {
        case ACT_CONNECT:
            ok = connect_conn(r, c, no) == 0;
            break;
        case ACT_SEND_UP:
        case ACT_SEND_UP_NOWAIT: {
            const unsigned char *p = s->up[act->conn].p + c->up_at;
            step(r, "client %u sent %s (%zu %s)", no, shown(a, sizeof a, p, act->arg, SHOW), act->arg,
                 plural(act->arg, "byte", "bytes"));
            if (send_piece_wait(r, c, p, act->arg, act->kind == ACT_SEND_UP) < act->arg) {
                step(r, "client %u: the send failed: the server had closed the connection", no);
                fail_at(r, 0, c->sent, c);
                diagnose_server_gone(r);
                ok = 0;
            }
            c->up_at += act->arg;
            break;
        }
        case ACT_REPLY:
            ok = r->ops->expect_reply(r, c, no, act->arg) == 0;
            if (!ok)
                diagnose_mixed(r, c, no);
            break;
        case ACT_READ_SOME: {
            struct want_bytes w = { c, act->arg, 1 };
            how = wait_for(r, cond_have_bytes, &w);
            size_t have = c->in.len - c->in_used;
            if (have == 0) {
                describe_program(r, how, state, sizeof state);
                step(r, "client %u got nothing: the server %s", no,
                     c->eof ? "closed the connection" : state);
                fail_at(r, 1, c->in_used, c);
                diagnose_server_gone(r);
                ok = 0;
                break;
            }
            step(r, "client %u read %zu bytes of the reply", no, have);
            c->in_used = c->in.len;
            break;
        }
        case ACT_CLOSE: {
            int unread = c->in.len > c->in_used || !c->eof;
            /* A FIN first, seen by the server, then the close (a reset
             * when bytes are unread): the server's next send then fails
             * with EPIPE, whether or not it is blocked in send just now.
             * A reset alone gives ECONNRESET to a blocked send and EPIPE
             * to a later one, and the verdict would depend on timing. */
            shutdown(c->fd, SHUT_WR);
            wait_for(r, cond_fin_seen, c);
            trace(r, c, CAP_CLOSE, CALL_CLOSE, 0, 0, NULL, 0);
            close(c->fd);
            c->fd = -1;
            step(r, "client %u closed the connection%s", no,
                 c->sent == 0 ? " without sending anything"
                 : unread ? " without reading the rest of the reply" : "");
            wait_settled(r);
            break;
        }
        case ACT_REAPED:
            how = wait_for(r, cond_reaped, &children);
            if (how == WAIT_DONE) {
                step(r, "the server has no child process left over from the %zu clients", act->arg);
                break;
            }
            describe_program(r, how, state, sizeof state);
            step(r, "after %zu clients came and went, the server has %d child %s more than "
                    "before, %d of them %s (ended, never waited for); it %s",
                 act->arg, children.now.processes - children.before,
                 plural((size_t)(children.now.processes - children.before), "process", "processes"),
                 children.now.zombies, plural((size_t)children.now.zombies, "zombie", "zombies"),
                 state);
            fail_at_last(r);
            if (children.now.zombies > 1)
                diagnose(r, "a process that forks must wait for its children: waitpid(-1, NULL, "
                            "WNOHANG) until it returns 0, on SIGCHLD or before each accept "
                            "(Python: os.waitpid(-1, os.WNOHANG)); a child nobody waits for "
                            "stays a zombie, one per client, until fork fails");
            ok = 0;
            break;
        case ACT_PAUSE:
            step(r, "client %u waited %zu ms", no, act->arg);
            for (int64_t until = now_ms() + (int64_t)act->arg; now_ms() < until;)
                sleep_us(2000);
            break;
        default:
            break;
        }
    }
    if (ok && child_poll_exit(&r->child)) {
        describe_program(r, WAIT_EXITED, state, sizeof state);
        step(r, "the server %s", state);
        diagnose_server_gone(r);
        ok = 0;
    }
    finish_program(r, 0);
    if (!ok)
        server_stderr_step(r);
    r->v->pass = ok;
}
