/* client.c - the client storm: for each case, run the client, answer its
 * request with the bad reply, end as the case says, and judge how the
 * client ended (see storm.h). */
#define _GNU_SOURCE
#include "storm.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duration.h"
#include "net.h"

/* One case: run the client, answer with the case's bytes, end as the case
 * says, and judge. Prints one line. Returns 1 when it passed. */
static int client_case_run(const struct client_config *cfg, const struct client_case *c,
                           int listener, const char *port)
{
    struct payload *reply = calloc(1, sizeof *reply);
    struct client_run run = { .pid = -1, .stderr_fd = -1 };
    char err[512] = "", line[300], verdict[600] = "";
    char **argv = argv_with_port(cfg->argv, cfg->argc, port);
    int conn = -1, passed = 0;
    long long t0 = 0;

    if (reply == NULL || argv == NULL) {
        snprintf(verdict, sizeof verdict, "out of memory");
        goto end;
    }
    c->build(reply);
    if (client_spawn(argv, cfg->command, &run, err, sizeof err) < 0) {
        snprintf(verdict, sizeof verdict, "%s", err);
        goto end;
    }
    /* its connection */
    long long deadline = now_ms() + 5000;
    while (conn < 0) {
        if (client_wait(&run, deadline, listener)) {
            last_line(run.errtext, run.errlen, line, sizeof line);
            snprintf(verdict, sizeof verdict, "the client exited before connecting: %s", line);
            goto end;
        }
        if (now_ms() >= deadline) {
            snprintf(verdict, sizeof verdict, "the client did not connect within 5 s");
            goto end;
        }
        conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
            snprintf(verdict, sizeof verdict, "accept: %s", strerror(errno));
            goto end;
        }
    }
    /* its request, all of it (it is not framed: one line, one send), so
     * that closing later sends a FIN, not the reset unread bytes cause */
    unsigned char request[4096];
    if (read_until(conn, request, 1, now_ms() + 5000) != 1) {
        snprintf(verdict, sizeof verdict, "the client sent no request within 5 s");
        goto end;
    }
    size_t request_len = 1, command_len = strlen(cfg->command) + 1;
    if (strcmp(cfg->proto, "stage5") == 0) {
        /* one frame: its length, its header, the body its size gives */
        request_len += read_until(conn, request + 1, 3, now_ms() + 1000);
        uint32_t hlen = request_len == 4 ? ((uint32_t)request[0] << 24 |
                        (uint32_t)request[1] << 16 | (uint32_t)request[2] << 8 | request[3]) : 0;
        if (hlen > 0 && hlen < sizeof request - 4 &&
            read_until(conn, request + 4, hlen, now_ms() + 1000) == hlen) {
            request_len += hlen;
            cJSON *h = cJSON_ParseWithLength((const char *)request + 4, hlen);
            const cJSON *size = cJSON_GetObjectItemCaseSensitive(h, "size");
            if (cJSON_IsNumber(size) && size->valuedouble >= 0 &&
                size->valuedouble < (double)(sizeof request - request_len))
                command_len = request_len + (size_t)size->valuedouble;
            cJSON_Delete(h);
        }
    }
    while (request_len < command_len && request_len < sizeof request) {
        size_t more = read_until(conn, request + request_len, 1, now_ms() + 200);
        if (more == 0)
            break;
        request_len += more;
    }
    size_t sent = 0;
    while (sent < reply->len) {
        ssize_t n = send(conn, reply->bytes + sent, reply->len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd pfd = { conn, POLLOUT, 0 };
            poll(&pfd, 1, 100);
            continue;
        }
        if (n <= 0)
            break;              /* it hung up at once: allowed */
        sent += (size_t)n;
    }
    if (c->end == END_CLOSE || c->end == END_RESET) {
        struct linger now = { 1, 0 };
        if (c->end == END_RESET &&
            setsockopt(conn, SOL_SOCKET, SO_LINGER, &now, sizeof now) < 0) {
            snprintf(verdict, sizeof verdict, "cannot reset the connection "
                     "(setsockopt SO_LINGER): %s", strerror(errno));
            goto end;
        }
        close(conn);
        conn = -1;
    }
    t0 = now_ms();
    /* END_STALL: the connection stays open and silent until it exits */
    if (!client_wait(&run, t0 + (long long)cfg->within_ms, -1)) {
        kill(run.pid, SIGKILL);
        waitpid(run.pid, &run.status, 0);
        run.exited = 1;
        snprintf(verdict, sizeof verdict, "still running %s s after the %s; killed",
                 duration_text(cfg->within_ms).s,
                 c->end == END_STALL ? "reply stalled" : "connection closed");
        goto end;
    }
    long long took = now_ms() - t0;
    last_line(run.errtext, run.errlen, line, sizeof line);
    if (WIFSIGNALED(run.status)) {
        snprintf(verdict, sizeof verdict, "killed by signal %d (%s)", WTERMSIG(run.status),
                 strsignal(WTERMSIG(run.status)));
    } else if (WEXITSTATUS(run.status) == 0) {
        snprintf(verdict, sizeof verdict, "exit 0: a bad reply taken as good");
    } else if (run.errlen == 0 || run.errtext[run.errlen - 1] != '\n' ||
               strncmp(line, cfg->prefix, strlen(cfg->prefix)) != 0) {
        snprintf(verdict, sizeof verdict, "exit %d, but its last line on stderr is not an "
                 "error line \"%s...\": \"%s\"", WEXITSTATUS(run.status), cfg->prefix, line);
    } else {
        snprintf(verdict, sizeof verdict, "exit %d in %lld ms: %s", WEXITSTATUS(run.status),
                 took, line);
        passed = 1;
    }
end:
    if (run.pid > 0 && !run.exited) {
        kill(run.pid, SIGKILL);
        waitpid(run.pid, NULL, 0);
    }
    if (run.stderr_fd >= 0)
        close(run.stderr_fd);
    if (conn >= 0)
        close(conn);
    printf("%s %s %s: %s\n", passed ? "PASS" : "FAIL", cfg->proto, c->name, verdict);
    fflush(stdout);
    for (int i = 0; argv && i < cfg->argc; i++)
        free(argv[i]);
    free(argv);
    free(reply);
    return passed;
}

int storm_client(const struct client_config *cfg)
{
    char err[256], name[NET_ADDRSTRLEN];
    int listener = net_listen("127.0.0.1", "0", SOCK_STREAM, err, sizeof err);
    if (listener < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        return 1;
    }
    if (fcntl(listener, F_SETFL, O_NONBLOCK) < 0) {
        fprintf(stderr, PROG_NAME ": cannot make the listening socket non-blocking: %s\n",
                strerror(errno));
        close(listener);
        return 1;
    }
    net_local_name(listener, name, sizeof name);
    const char *port = strrchr(name, ':') + 1;
    unsigned passed = 0, run = 0;
    for (size_t i = 0; i < n_client_cases; i++) {
        const struct client_case *c = &client_cases[i];
        if (!case_applies(c, cfg->proto) || (cfg->only && strcmp(cfg->only, c->name) != 0))
            continue;
        run++;
        passed += (unsigned)client_case_run(cfg, c, listener, port);
    }
    close(listener);
    if (run == 0) {
        fprintf(stderr, PROG_NAME ": no case '%s' for %s\n", cfg->only ? cfg->only : "",
                cfg->proto);
        return 1;
    }
    printf("storm: %u of %u cases passed\n", passed, run);
    return passed == run ? 0 : 1;
}
