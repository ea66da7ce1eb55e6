/* Stage 6 server: starter code. Serve many clients at once.
 *
 *   cc -o server server.c $(pkg-config --cflags --libs libcjson libcrypto)
 *   ./server [-p PORT | PORT]     (default 8087; 0 picks a free port)
 *
 * Speaks the stage 5 protocol (stage5_file_transfer/README.md), the exec
 * operation only: every message both ways is a 4-byte big-endian header
 * length, a JSON header, then the header's "size" bytes of body. Prints
 * 'listening on 127.0.0.1:PORT' on stderr once it listens.
 *
 * It serves one client after another, as stages 1 to 5 do: while one
 * client is connected, every other waits. The accept loop in main() is
 * marked TODO: serve each client in a thread of its own, in a process of
 * its own (fork), or write an event loop (poll). Check your work:
 *
 *   nianbao-grade server --proto stage5 --concurrent -- ./server {port}
 *
 * Anyone who can reach the port runs commands as you: it listens on
 * 127.0.0.1 only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <openssl/evp.h>

#define MAX_HEADER 65536          /* the longest JSON header the protocol allows */
#define MAX_COMMAND (1u << 20)    /* the longest command this server runs        */
#define CHUNK 65536               /* the most output one output frame carries    */

/* ---- sending and receiving -------------------------------------------------- */

/* Sends all LEN bytes (send may take fewer). Returns 0, or -1 (errno set). */
static int send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Receives exactly LEN bytes. Returns LEN, fewer when the client closed
 * first, or -1 (errno set). */
static ssize_t recv_exact(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Sends one frame: HEADER (its "size" set here to LEN), then LEN bytes of
 * BODY. Frees HEADER. Returns 0, or -1 (errno set). */
static int send_frame(int fd, cJSON *header, const void *body, size_t len)
{
    cJSON_AddNumberToObject(header, "size", (double)len);
    char *text = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    size_t text_len = strlen(text);
    unsigned char hlen[4] = { text_len >> 24 & 0xff, text_len >> 16 & 0xff, text_len >> 8 & 0xff,
                              text_len & 0xff };
    int rc = send_all(fd, hlen, 4) < 0 || send_all(fd, text, text_len) < 0 ||
             send_all(fd, body, len) < 0 ? -1 : 0;
    free(text);
    return rc;
}

/* An error frame with CODE and MESSAGE. Returns 0, or -1. */
static int send_error(int fd, const char *code, const char *message)
{
    cJSON *header = cJSON_CreateObject();
    cJSON_AddStringToObject(header, "op", "error");
    cJSON_AddStringToObject(header, "code", code);
    cJSON_AddStringToObject(header, "message", message);
    return send_frame(fd, header, "", 0);
}

/* One request as it came. */
struct request {
    cJSON *header;
    char *body;               /* size bytes, and a '\0' after them */
    size_t size;
};

/* Reads one request into REQ. Returns 1, 0 when the client closed between
 * requests, -1 when the connection failed, or -2 when the bytes are not a
 * frame (WHY says what is wrong; an error bad_frame is due). */
static int recv_request(int fd, struct request *req, char *why, size_t why_len)
{
    unsigned char hlen[4];
    char *text = NULL;
    ssize_t n = recv_exact(fd, hlen, 4);
    if (n <= 0)
        return n == 0 ? 0 : -1;
    if (n < 4)
        return -1;
    uint32_t header_len = (uint32_t)hlen[0] << 24 | (uint32_t)hlen[1] << 16 |
                          (uint32_t)hlen[2] << 8 | hlen[3];
    if (header_len < 1 || header_len > MAX_HEADER) {
        snprintf(why, why_len, "header length %u is out of range 1..%u", header_len, MAX_HEADER);
        return -2;
    }
    text = malloc(header_len);
    if (text == NULL || recv_exact(fd, text, header_len) != (ssize_t)header_len) {
        free(text);
        return -1;
    }
    req->header = cJSON_ParseWithLength(text, header_len);
    free(text);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(req->header, "size");
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > MAX_COMMAND) {
        snprintf(why, why_len, "not a header with a size of 0..%u bytes", MAX_COMMAND);
        cJSON_Delete(req->header);
        return -2;
    }
    req->size = (size_t)size->valuedouble;
    req->body = malloc(req->size + 1);
    if (req->body == NULL || recv_exact(fd, req->body, req->size) != (ssize_t)req->size) {
        free(req->body);
        cJSON_Delete(req->header);
        return -1;
    }
    req->body[req->size] = '\0';
    return 1;
}

/* ---- running a command -------------------------------------------------------- */

/* Runs COMMAND with /bin/sh. Its output goes out as it comes, one output
 * frame per read, then an exit frame with the exit code and the SHA-256 of
 * every output byte. Returns 0, or -1 when the client went away. */
static int run_command(int fd, const char *command)
{
    int pipes[2][2];
    if (pipe(pipes[0]) < 0 || pipe(pipes[1]) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(pipes[0][1], 1);
        dup2(pipes[1][1], 2);
        for (int i = 0; i < 2; i++)
            close(pipes[i][0]);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(pipes[0][1]);
    close(pipes[1][1]);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    double sizes[2] = { 0, 0 };
    int rc = 0;
    struct pollfd fds[2] = { { pipes[0][0], POLLIN, 0 }, { pipes[1][0], POLLIN, 0 } };
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            unsigned char buf[CHUNK];
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                continue;
            }
            EVP_DigestUpdate(sha, buf, (size_t)n);
            sizes[i] += (double)n;
            cJSON *header = cJSON_CreateObject();
            cJSON_AddStringToObject(header, "op", "output");
            cJSON_AddStringToObject(header, "stream", i == 0 ? "stdout" : "stderr");
            if (rc == 0 && send_frame(fd, header, buf, (size_t)n) < 0)
                rc = -1;     /* the client left: read on, so the command can end */
        }
    }
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    unsigned char digest[32];
    char hex[65];
    EVP_DigestFinal_ex(sha, digest, NULL);
    EVP_MD_CTX_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    cJSON *header = cJSON_CreateObject();
    cJSON_AddStringToObject(header, "op", "exit");
    cJSON_AddNumberToObject(header, "exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cJSON_AddNumberToObject(header, "signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cJSON_AddBoolToObject(header, "timed_out", 0);
    cJSON_AddBoolToObject(header, "truncated", 0);
    cJSON_AddNumberToObject(header, "stdout_size", sizes[0]);
    cJSON_AddNumberToObject(header, "stderr_size", sizes[1]);
    cJSON_AddStringToObject(header, "sha256", hex);
    if (rc == 0 && send_frame(fd, header, "", 0) < 0)
        rc = -1;
    else if (rc < 0)
        cJSON_Delete(header);
    return rc;
}

/* ---- serving -------------------------------------------------------------------- */

/* Serves one client until it leaves. */
static void serve(int fd)
{
    char why[128];
    struct request req;
    int got;
    while ((got = recv_request(fd, &req, why, sizeof why)) == 1) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(req.header, "op");
        int rc;
        if (cJSON_IsString(op) && strcmp(op->valuestring, "exec") == 0) {
            rc = run_command(fd, req.body);
        } else {
            char message[160];
            snprintf(message, sizeof message, "unknown op %.100s",
                     cJSON_IsString(op) ? op->valuestring : "(none)");
            rc = send_error(fd, "unknown_op", message);
        }
        free(req.body);
        cJSON_Delete(req.header);
        if (rc < 0)
            return;
    }
    if (got == -2)
        send_error(fd, "bad_frame", why);   /* the next frame cannot be found: close */
}

/* The port of -p PORT, --port PORT or PORT; --help prints the usage. */
static int parse_port(int argc, char **argv)
{
    const char *port = "8087";
    int given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: server [-p PORT | PORT]   (default 8087; 0 picks a free port)\n"
                   "A stage 5 server (exec only) that serves one client after another;\n"
                   "make it serve many at once. Check it with:\n"
                   "  nianbao-grade server --proto stage5 --concurrent -- ./server {port}\n");
            exit(0);
        }
        if (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--port") == 0) {
            if (++i == argc) {
                fprintf(stderr, "server: %s needs a port (try --help)\n", argv[i - 1]);
                exit(2);
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "server: unknown option '%s' (try --help)\n", argv[i]);
            exit(2);
        }
        if (given++) {
            fprintf(stderr, "server: one port only: '%s' is one too many (try --help)\n", argv[i]);
            exit(2);
        }
        port = argv[i];
    }
    char *end;
    long value = strtol(port, &end, 10);
    if (*port < '0' || *port > '9' || *end != '\0' || value > 65535) {
        fprintf(stderr, "server: '%s' is not a port (0 to 65535) (try --help)\n", port);
        exit(2);
    }
    return (int)value;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t addr_len = sizeof addr;
    int on = 1;

    addr.sin_port = htons((uint16_t)parse_port(argc, argv));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    signal(SIGPIPE, SIG_IGN);   /* a client that leaves must not kill us */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0) {
        perror("server: listen");
        return 1;
    }
    fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0)
            continue;
        /* TODO: serve many clients at once. serve() returns only when this
         * client leaves, so every other client waits until then. Pick one:
         *   threads: a thread per client runs serve(conn) and closes it
         *            (pthread_create, pthread_detach; link with -pthread).
         *   fork:    a child serves and exits; the parent closes conn and
         *            goes back to accept. It must wait for its children
         *            (waitpid(-1, NULL, WNOHANG) until it returns 0, on
         *            SIGCHLD or before each accept), or each is a zombie.
         *   poll:    one loop over the listener and every client, each with
         *            its own buffer and state, and the commands' pipes:
         *            never a recv or send that waits. */
        serve(conn);
        close(conn);
    }
}
