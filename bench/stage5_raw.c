/* bench/stage5_raw.c - the baseline stage 5 is measured against: the same
 * bytes over one loopback socket with nothing around them. Not a lab
 * program; built by bench/stage5.sh.
 *
 *   stage5_raw serve DIR [sha]        one connection at a time, forever;
 *                                      prints "listening on 127.0.0.1:PORT"
 *   stage5_raw get PORT NAME DEST [sha]
 *   stage5_raw put PORT FILE NAME [sha]
 *   stage5_raw exec PORT CMD [sha]     the command's stdout to our stdout
 *
 * A request is one byte (g, p, x), a 4-byte big-endian length and that
 * many bytes (the name or the command), and for p an 8-byte size. A get's
 * reply is an 8-byte size and the bytes; a put's is one byte once the
 * file is written; an exec's reply is the output until the server closes.
 * Bytes leave by sendfile (get, put) or splice (exec), arrive with read
 * into 1 MiB and write.
 *
 * With "sha" both ends also compute the SHA-256 of every byte, the plain
 * way, in line: the server hashes a file before sending it, the receiver
 * hashes what it reads before writing it, exec output is read, hashed and
 * written instead of spliced; the digests are compared (the sender's goes
 * after the bytes). That is what integrity costs without overlapping the
 * hash with the transfer. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define SHA_LEN 32

static unsigned char buf[CHUNK];

static void die(const char *what)
{
    fprintf(stderr, "stage5_raw: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void send_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            die("send");
        b += k;
        n -= (size_t)k;
    }
}

static void recv_all(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t k = recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("recv");
        b += k;
        n -= (size_t)k;
    }
}

static void write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            die("write");
        b += k;
        n -= (size_t)k;
    }
}

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static EVP_MD_CTX *sha_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        die("EVP");
    return c;
}

static void sha_end(EVP_MD_CTX *c, unsigned char out[SHA_LEN])
{
    unsigned len;
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
}

/* Hashes a whole file with read(). */
static void sha_file(int fd, unsigned char out[SHA_LEN])
{
    EVP_MD_CTX *c = sha_new();
    off_t at = 0;
    for (;;) {
        ssize_t k = pread(fd, buf, CHUNK, at);
        if (k < 0)
            die("read");
        if (k == 0)
            break;
        EVP_DigestUpdate(c, buf, (size_t)k);
        at += k;
    }
    sha_end(c, out);
}

static void send_file_all(int sock, int fd, uint64_t size)
{
    off_t at = 0;
    while ((uint64_t)at < size) {
        ssize_t k = sendfile(sock, fd, &at, size - (uint64_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("sendfile");
    }
}

/* Receives SIZE bytes into OUT, hashing them when C is set. */
static void recv_to(int sock, int out, uint64_t size, EVP_MD_CTX *c)
{
    while (size > 0) {
        ssize_t k = recv(sock, buf, size < CHUNK ? size : CHUNK, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("recv");
        if (c)
            EVP_DigestUpdate(c, buf, (size_t)k);
        write_all(out, buf, (size_t)k);
        size -= (uint64_t)k;
    }
}

static void check(const unsigned char got[SHA_LEN], int sock)
{
    unsigned char said[SHA_LEN];
    recv_all(sock, said, SHA_LEN);
    if (memcmp(got, said, SHA_LEN) != 0) {
        fprintf(stderr, "stage5_raw: SHA-256 mismatch\n");
        exit(5);
    }
}

static void serve_one(int sock, int sha)
{
    unsigned char head[5], size_bytes[8], digest[SHA_LEN];
    char name[4096];

    recv_all(sock, head, 5);
    uint32_t len = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
    if (len >= sizeof name)
        die("name");
    recv_all(sock, name, len);
    name[len] = '\0';
    if (head[0] == 'g') {
        int fd = open(name, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            die(name);
        if (sha)
            sha_file(fd, digest);
        put_u64(size_bytes, (uint64_t)st.st_size);
        send_all(sock, size_bytes, 8);
        send_file_all(sock, fd, (uint64_t)st.st_size);
        if (sha)
            send_all(sock, digest, SHA_LEN);
        close(fd);
    } else if (head[0] == 'p') {
        recv_all(sock, size_bytes, 8);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            die(name);
        EVP_MD_CTX *c = sha ? sha_new() : NULL;
        recv_to(sock, fd, get_u64(size_bytes), c);
        if (c) {
            sha_end(c, digest);
            check(digest, sock);
        }
        close(fd);
        send_all(sock, "k", 1);
    } else {
        int out[2];
        if (pipe(out) < 0)
            die("pipe");
        fcntl(out[1], F_SETPIPE_SZ, CHUNK);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(out[1], 1);
            close(out[0]);
            execl("/bin/sh", "sh", "-c", name, (char *)NULL);
            _exit(127);
        }
        close(out[1]);
        EVP_MD_CTX *c = sha ? sha_new() : NULL;
        for (;;) {
            ssize_t k;
            if (c) {
                k = read(out[0], buf, CHUNK);
                if (k > 0) {
                    EVP_DigestUpdate(c, buf, (size_t)k);
                    send_all(sock, buf, (size_t)k);
                }
            } else {
                k = splice(out[0], NULL, sock, NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_MORE);
            }
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                die("splice");
            if (k == 0)
                break;
        }
        close(out[0]);
        waitpid(pid, NULL, 0);
        if (c) {
            sha_end(c, digest);
            send_all(sock, digest, SHA_LEN);
        }
    }
}

static int connect_to(const char *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    return s;
}

static void request(int s, char op, const char *text)
{
    unsigned char head[5] = { (unsigned char)op };
    uint32_t len = (uint32_t)strlen(text);
    head[1] = (unsigned char)(len >> 24);
    head[2] = (unsigned char)(len >> 16);
    head[3] = (unsigned char)(len >> 8);
    head[4] = (unsigned char)len;
    send_all(s, head, 5);
    send_all(s, text, len);
}

int main(int argc, char **argv)
{
    unsigned char size_bytes[8], digest[SHA_LEN];

    if (argc >= 3 && strcmp(argv[1], "serve") == 0) {
        int sha = argc > 3 && strcmp(argv[3], "sha") == 0;
        if (chdir(argv[2]) < 0)
            die(argv[2]);
        signal(SIGPIPE, SIG_IGN);
        struct sockaddr_in a = { .sin_family = AF_INET };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t alen = sizeof a;
        int l = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 5) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &alen) < 0)
            die("listen");
        fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
        for (;;) {
            int s = accept(l, NULL, NULL);
            if (s < 0)
                continue;
            serve_one(s, sha);
            close(s);
        }
    }
    int sha = argc > 0 && strcmp(argv[argc - 1], "sha") == 0;
    if (argc >= 5 && strcmp(argv[1], "get") == 0) {
        int s = connect_to(argv[2]);
        request(s, 'g', argv[3]);
        recv_all(s, size_bytes, 8);
        int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            die(argv[4]);
        EVP_MD_CTX *c = sha ? sha_new() : NULL;
        recv_to(s, fd, get_u64(size_bytes), c);
        if (c) {
            sha_end(c, digest);
            check(digest, s);
        }
        close(fd);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "put") == 0) {
        int fd = open(argv[3], O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            die(argv[3]);
        int s = connect_to(argv[2]);
        if (sha)
            sha_file(fd, digest);
        request(s, 'p', argv[4]);
        put_u64(size_bytes, (uint64_t)st.st_size);
        send_all(s, size_bytes, 8);
        send_file_all(s, fd, (uint64_t)st.st_size);
        if (sha)
            send_all(s, digest, SHA_LEN);
        recv_all(s, size_bytes, 1);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "exec") == 0) {
        int s = connect_to(argv[2]);
        request(s, 'x', argv[3]);
        EVP_MD_CTX *c = sha ? sha_new() : NULL;
        uint64_t held = 0;
        unsigned char tail[SHA_LEN];
        /* Until the close; with sha the last 32 bytes are the digest. */
        for (;;) {
            ssize_t k = recv(s, buf, CHUNK, 0);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                die("recv");
            if (k == 0)
                break;
            if (!c) {
                write_all(1, buf, (size_t)k);
                continue;
            }
            /* keep the last 32 bytes back: they may be the digest */
            size_t n = (size_t)k;
            static unsigned char joined[SHA_LEN + CHUNK];
            memcpy(joined, tail, held);
            memcpy(joined + held, buf, n);
            size_t total = held + n, out = total > SHA_LEN ? total - SHA_LEN : 0;
            EVP_DigestUpdate(c, joined, out);
            write_all(1, joined, out);
            held = total - out;
            memcpy(tail, joined + out, held);
        }
        if (c) {
            sha_end(c, digest);
            if (held != SHA_LEN || memcmp(digest, tail, SHA_LEN) != 0) {
                fprintf(stderr, "stage5_raw: SHA-256 mismatch\n");
                return 5;
            }
        }
        return 0;
    }
    fprintf(stderr, "usage: stage5_raw serve DIR [sha] | get PORT NAME DEST [sha] | "
            "put PORT FILE NAME [sha] | exec PORT CMD [sha]\n");
    return 2;
}
