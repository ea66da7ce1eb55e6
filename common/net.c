/* net.c - socket set-up and whole-buffer I/O (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum net_role { NET_LISTEN, NET_CONNECT };

/* The one getaddrinfo loop behind net_listen and net_connect. */
static int net_open(const char *host, const char *port, int socktype, int backlog,
                    enum net_role role, char *err, size_t errlen)
{
    struct addrinfo hints, *list = NULL, *ai;
    int fd = -1, saved_errno = 0;
    const char *failed_call = "";   /* "setsockopt SO_REUSEADDR: " when that failed */
    const char *verb = role == NET_LISTEN ? "listen on" : "connect to";
    const char *shown_host = host ? host : "*";
    /* An IPv6 address with its port is written [::1]:8086 (RFC 3986). */
    int bracket = strchr(shown_host, ':') != NULL;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = role == NET_LISTEN ? AI_PASSIVE : 0;
    int gai = getaddrinfo(host, port, &hints, &list);
    if (gai != 0) {
        snprintf(err, errlen, "cannot %s %s%s%s:%s: %s", verb, bracket ? "[" : "", shown_host,
                 bracket ? "]" : "", port, gai_strerror(gai));
        return -1;
    }
    for (ai = list; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        if (role == NET_LISTEN) {
            int on = 1;
            /* A server restarted in class must not wait out TIME_WAIT. Not on
             * UDP: there SO_REUSEADDR lets a second server bind the same port. */
            failed_call = "";
            if (socktype == SOCK_STREAM &&
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
                failed_call = "setsockopt SO_REUSEADDR: ";
            else if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                     (socktype != SOCK_STREAM || listen(fd, backlog) == 0))
                break;
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0)
        snprintf(err, errlen, "cannot %s %s%s%s:%s: %s%s", verb, bracket ? "[" : "",
                 shown_host, bracket ? "]" : "", port, failed_call,
                 strerror(saved_errno ? saved_errno : EADDRNOTAVAIL));
    return fd;
}

int net_listen(const char *host, const char *port, int socktype,
               char *err, size_t errlen)
{
    return net_open(host, port, socktype, 5, NET_LISTEN, err, errlen);
}

int net_listen_backlog(const char *host, const char *port, int backlog,
                       char *err, size_t errlen)
{
    return net_open(host, port, SOCK_STREAM, backlog, NET_LISTEN, err, errlen);
}

int net_connect(const char *host, const char *port, int socktype,
                char *err, size_t errlen)
{
    return net_open(host, port, socktype, 0, NET_CONNECT, err, errlen);
}

int net_format_addr(const struct sockaddr *sa, socklen_t salen,
                    char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            return -1;
        n = snprintf(buf, buflen, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            return -1;
        n = snprintf(buf, buflen, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

int net_local_name(int fd, char *buf, size_t buflen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return net_format_addr((struct sockaddr *)&ss, len, buf, buflen);
}

int net_peer_name(int fd, char *buf, size_t buflen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return net_format_addr((struct sockaddr *)&ss, len, buf, buflen);
}

int net_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    return 0;
}

ssize_t send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t sent = 0;

    while (sent < len) {
        ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        sent += (size_t)n;
    }
    return (ssize_t)sent;
}

ssize_t recv_exact(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int send_file(int fd, int file_fd, uint64_t offset, uint64_t count)
{
    off_t at = (off_t)offset;
    uint64_t left = count;

    while (left > 0) {
        size_t want = left > (1u << 30) ? (1u << 30) : (size_t)left;
        ssize_t n = sendfile(fd, file_fd, &at, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;        /* the file is shorter than it said */
            return -1;
        }
        left -= (uint64_t)n;
    }
    return 0;
}

int net_cork(int fd, int on)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}
