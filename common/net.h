/* net.h - socket set-up and whole-buffer I/O shared by every stage.
 *
 * Nothing here prints or exits: each function returns -1 on failure, with
 * errno set or an error string written to the caller's buffer. */
#ifndef NIANBAO_NET_H
#define NIANBAO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Enough for "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535". */
#define NET_ADDRSTRLEN 64

/* Binds HOST:PORT (PORT "0" lets the kernel choose) and, for SOCK_STREAM,
 * listens with the document's backlog of 5. One getaddrinfo loop: the first
 * address that works wins. Returns the socket, or -1 with ERR filled
 * ("cannot listen on ...: ..."). */
int net_listen(const char *host, const char *port, int socktype,
               char *err, size_t errlen);

/* The same for a TCP server that wants a longer accept queue (stage 6). */
int net_listen_backlog(const char *host, const char *port, int backlog,
                       char *err, size_t errlen);

/* Connects to HOST:PORT (for SOCK_DGRAM: sets the default peer).
 * Returns the socket, or -1 with ERR filled, e.g.
 * "cannot connect to 127.0.0.1:8083: Connection refused". */
int net_connect(const char *host, const char *port, int socktype,
                char *err, size_t errlen);

/* Writes "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into BUF.
 * Returns 0, or -1 when the address family is unknown or BUF is too small. */
int net_format_addr(const struct sockaddr *sa, socklen_t salen,
                    char *buf, size_t buflen);

/* The socket's own / its peer's address as "ADDR:PORT". Returns 0 or -1 (errno). */
int net_local_name(int fd, char *buf, size_t buflen);
int net_peer_name(int fd, char *buf, size_t buflen);

/* Returns 1 when FD is bound to a loopback address only, 0 when it is
 * reachable from other hosts (wildcard or a real interface), -1 on error. */
int net_is_loopback(int fd);

/* Sends all LEN bytes, retrying short sends and EINTR.
 * Returns LEN, or -1 (errno set; EAGAIN when SO_SNDTIMEO expired). */
ssize_t send_all(int fd, const void *buf, size_t len);

/* Receives exactly LEN bytes, retrying short receives and EINTR.
 * Returns LEN; a smaller count when the peer closed first (so the caller can
 * say "connection closed after N of M bytes"); -1 on error (errno set). */
ssize_t recv_exact(int fd, void *buf, size_t len);

/* Sends COUNT bytes of FILE_FD from OFFSET with sendfile (retrying short
 * sends and EINTR). Returns 0, or -1 (errno set; EAGAIN: SO_SNDTIMEO). */
int send_file(int fd, int file_fd, uint64_t offset, uint64_t count);

/* Sets TCP_CORK on FD (ON = 1) or lifts it (0): the pieces of one reply
 * sent between the two leave as full segments, and the last one at once;
 * nothing waits for Nagle's algorithm and the peer's delayed ACK.
 * Returns 0, or -1 (errno set). */
int net_cork(int fd, int on);

#endif
