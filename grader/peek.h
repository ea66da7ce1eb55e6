/* peek.h - what the kernel knows about the other end of our connections.
 *
 * Both ends are on this machine, so the kernel can tell us how many bytes
 * wait, unread, in the program's receive queue (sock_diag, as ss(8) reads
 * it; no privilege needed). The grader sends its next piece only once the
 * program has read every byte of the previous one: then each piece reaches
 * the program as it was cut, however fast or slow the program or the
 * machine is. Without that, a slow reader finds several pieces queued and
 * gets them in one recv, and the cut a seed chose is lost.
 *
 * Nothing here prints or exits. */
#ifndef GRADER_PEEK_H
#define GRADER_PEEK_H

#include <stddef.h>
#include <stdint.h>

struct peek {
    int nl;                   /* NETLINK_SOCK_DIAG socket, -1: unavailable */
};

/* Returns 0, or -1 with ERR filled when sock_diag is not available (then
 * the grader paces its pieces by time, and says so). */
int peek_open(struct peek *p, char *err, size_t errlen);
void peek_close(struct peek *p);

/* What the socket at the other end of our connected socket FD has done
 * with our bytes: *ARRIVED is how many of them reached it in all (-1 when
 * the kernel does not say), *QUEUED how many of those wait unread in its
 * receive queue, *STATE its TCP state (TCP_ESTABLISHED, TCP_CLOSE_WAIT:
 * it has seen our FIN). Returns 0; 1 when that socket is gone or no longer
 * reads (the program closed it); -1 on error (errno set). */
int peek_peer(struct peek *p, int fd, int64_t *arrived, uint32_t *queued, int *state);

/* Bytes we sent on FD that the other end has not acknowledged (on
 * loopback: not yet in its receive queue). Returns the count, or -1. */
int peek_unacked(int fd);

/* 1 when some socket listens on TCP port PORT (IPv4 or IPv6), 0 when none,
 * -1 when /proc/net/tcp cannot be read. */
int peek_listening(unsigned port);

/* The sockets listening on TCP port PORT (IPv4 and IPv6): their inodes
 * (as /proc/PID/fd shows them, "socket:[INODE]") in INODES, at most MAX,
 * *N of them. Returns how many listen, or -1 when /proc/net/tcp and tcp6
 * cannot be read. */
int peek_listeners(unsigned port, unsigned long *inodes, size_t max, size_t *n);

#endif
