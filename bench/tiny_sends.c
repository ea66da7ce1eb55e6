/* bench/tiny_sends.c - many tiny calls, the tap's worst case: COUNT sends
 * of SIZE bytes over a loopback TCP connection, from a parent to a child
 * process that reads them (recv of up to 64 KiB) until the end. Both are
 * the same program, so under LD_PRELOAD both ends are tapped. Exits 0
 * when the child received every byte. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"

int main(int argc, char **argv)
{
    char *end1 = NULL, *end2 = NULL, err[256], addr[NET_ADDRSTRLEN];
    long count = argc == 3 ? strtol(argv[1], &end1, 10) : -1;
    long size = argc == 3 ? strtol(argv[2], &end2, 10) : -1;
    if (argc != 3 || *end1 || *end2 || count < 1 || size < 1 || size > 65536) {
        fprintf(stderr, "usage: tiny_sends COUNT SIZE   (SIZE 1..65536)\n");
        return 2;
    }
    int listener = net_listen("127.0.0.1", "0", SOCK_STREAM, err, sizeof err);
    if (listener < 0 || net_local_name(listener, addr, sizeof addr) < 0) {
        fprintf(stderr, "tiny_sends: %s\n", listener < 0 ? err : strerror(errno));
        return 1;
    }
    const char *port = strrchr(addr, ':') + 1;
    pid_t reader = fork();
    if (reader < 0) {
        fprintf(stderr, "tiny_sends: fork: %s\n", strerror(errno));
        return 1;
    }
    if (reader == 0) {
        static unsigned char chunk[65536];
        long long got_total = 0;
        int conn = accept(listener, NULL, NULL);
        if (conn < 0)
            _exit(1);
        for (;;) {
            ssize_t got = recv(conn, chunk, sizeof chunk, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            got_total += got;
        }
        _exit(got_total == (long long)count * size ? 0 : 1);
    }
    close(listener);
    int fd = net_connect("127.0.0.1", port, SOCK_STREAM, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "tiny_sends: %s\n", err);
        return 1;
    }
    unsigned char *piece = calloc(1, (size_t)size);
    if (!piece)
        return 1;
    for (long i = 0; i < count; i++)
        if (send_all(fd, piece, (size_t)size) < 0) {
            fprintf(stderr, "tiny_sends: send: %s\n", strerror(errno));
            return 1;
        }
    shutdown(fd, SHUT_WR);
    int status;
    while (waitpid(reader, &status, 0) < 0 && errno == EINTR)
        ;
    close(fd);
    free(piece);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tiny_sends: the reader did not get all %ld bytes\n", count * size);
        return 1;
    }
    return 0;
}
