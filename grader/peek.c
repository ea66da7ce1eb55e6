/* peek.c - the other end's receive queue, from sock_diag (see peek.h). */
#include "peek.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/tcp.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int peek_open(struct peek *p, char *err, size_t errlen)
{
    p->nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (p->nl < 0) {
        snprintf(err, errlen, "sock_diag is not available (%s)", strerror(errno));
        return -1;
    }
    return 0;
}

void peek_close(struct peek *p)
{
    if (p->nl >= 0)
        close(p->nl);
    p->nl = -1;
}

int peek_peer(struct peek *p, int fd, int64_t *arrived, uint32_t *queued, int *state)
{
    struct sockaddr_storage mine, theirs;
    socklen_t mine_len = sizeof mine, theirs_len = sizeof theirs;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    union {
        struct nlmsghdr nlh;
        char bytes[8192];
    } answer;

    if (p->nl < 0) {
        errno = ENOSYS;
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&mine, &mine_len) < 0)
        return -1;
    if (getpeername(fd, (struct sockaddr *)&theirs, &theirs_len) < 0)
        return errno == ENOTCONN ? 1 : -1;
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = (uint8_t)mine.ss_family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0u;
    msg.req.idiag_ext = 1u << (INET_DIAG_INFO - 1);
    /* Their socket: its source is our peer, its destination is us. */
    if (mine.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&theirs, *b = (const void *)&mine;
        msg.req.id.idiag_sport = a->sin_port;
        msg.req.id.idiag_dport = b->sin_port;
        memcpy(msg.req.id.idiag_src, &a->sin_addr, 4);
        memcpy(msg.req.id.idiag_dst, &b->sin_addr, 4);
    } else if (mine.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)&theirs, *b = (const void *)&mine;
        msg.req.id.idiag_sport = a->sin6_port;
        msg.req.id.idiag_dport = b->sin6_port;
        memcpy(msg.req.id.idiag_src, &a->sin6_addr, 16);
        memcpy(msg.req.id.idiag_dst, &b->sin6_addr, 16);
    } else {
        errno = EAFNOSUPPORT;
        return -1;
    }
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    ssize_t n;
    do
        n = send(p->nl, &msg, sizeof msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    do
        n = recv(p->nl, &answer, sizeof answer, 0);
    while (n < 0 && errno == EINTR);
    if (n < (ssize_t)sizeof(struct nlmsghdr))
        return -1;
    if (answer.nlh.nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(&answer.nlh);
        if (e->error == -ENOENT)
            return 1;          /* no such socket any more: it was closed */
        errno = -e->error;
        return -1;
    }
    if (answer.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY)
        return -1;
    const struct inet_diag_msg *d = NLMSG_DATA(&answer.nlh);
    /* A socket that has closed but lingers (FIN_WAIT, TIME_WAIT, CLOSE)
     * reads nothing more. */
    if (d->idiag_state != 1 /* TCP_ESTABLISHED */ && d->idiag_state != 8 /* TCP_CLOSE_WAIT */)
        return 1;
    *queued = d->idiag_rqueue;
    *state = d->idiag_state;
    *arrived = -1;
    /* tcp_info's bytes_received (Linux 4.1): every byte that reached it. */
    size_t left = answer.nlh.nlmsg_len - NLMSG_LENGTH(sizeof *d);
    const struct rtattr *attr = (const struct rtattr *)(d + 1);
    for (; RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
        if (attr->rta_type != INET_DIAG_INFO)
            continue;
        const struct tcp_info *info = RTA_DATA(attr);
        size_t have = RTA_PAYLOAD(attr);
        if (have >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info->tcpi_bytes_received)
            *arrived = (int64_t)info->tcpi_bytes_received;
    }
    return 0;
}

int peek_unacked(int fd)
{
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) < 0)
        return -1;
    return queued;
}

/* Adds the inodes of the sockets listening on PORT in PATH (/proc/net/tcp
 * or tcp6) to INODES (at most MAX in all, *N so far). Returns how many
 * listen there (counted beyond MAX too), or -1 when PATH cannot be read. */
static int listening_in(const char *path, unsigned port, unsigned long *inodes, size_t max,
                        size_t *n)
{
    char line[512];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char local[128];
        unsigned state;
        unsigned long inode;
        /* "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000
         *  00000000  1000        0 123456 ...": uid, timeout, inode */
        if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*u %*u %lu", local, &state,
                   &inode) != 3)
            continue;
        const char *colon = strrchr(local, ':');
        unsigned local_port;
        if (colon && sscanf(colon + 1, "%x", &local_port) == 1 && local_port == port &&
            state == 0x0A) {
            found++;
            if (*n < max)
                inodes[(*n)++] = inode;
        }
    }
    fclose(f);
    return found;
}

int peek_listeners(unsigned port, unsigned long *inodes, size_t max, size_t *n)
{
    *n = 0;
    int v4 = listening_in("/proc/net/tcp", port, inodes, max, n);
    int v6 = listening_in("/proc/net/tcp6", port, inodes, max, n);
    if (v4 < 0 && v6 < 0)
        return -1;
    return (v4 > 0 ? v4 : 0) + (v6 > 0 ? v6 : 0);
}

int peek_listening(unsigned port)
{
    unsigned long ignored[1];
    size_t n;
    int found = peek_listeners(port, ignored, 0, &n);
    return found < 0 ? -1 : found > 0;
}
