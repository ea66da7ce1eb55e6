/* ftclient.h - the receiving end of a stage 5 client's connection: its
 * socket, and a frame reader over a receive buffer that may already hold
 * bytes of the next frame (a server may send two replies at once), fed
 * by one recv loop that knows a stalled reply from a silent command.
 *
 * The same for every stage 5 client, so no longer the lesson: what the
 * frames say (ft_parse on each reply's header) and the requests stay in
 * stage5_file_transfer/client.c. Nothing here prints or exits. */
#ifndef NIANBAO_FTCLIENT_H
#define NIANBAO_FTCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "session.h"

struct ft_client {
    int fd;                       /* the socket; -1 when there is none      */
    struct frame_reader reader;   /* stage 5 frames                         */
    unsigned char *buf;
    size_t have, pos;             /* buf[pos..have) not fed to the reader yet */
    int fed_all;                  /* the last feed ended with NEED_MORE     */
    int awaiting;                 /* a request went; no byte of its reply yet */
    unsigned long timeout_ms;     /* the socket's receive timeout (--timeout),
                                     for the message when it expires        */
};

/* Sets C up without a socket (C->fd is -1: the caller connects and sets
 * it): a reader of stage 5 frames whose headers are at most MAX_HEADER
 * bytes, and its receive buffer. Returns 0, or -1 when out of memory
 * (ft_client_close frees what was made). */
int ft_client_init(struct ft_client *c, uint32_t max_header, unsigned long timeout_ms);

/* Frees the reader and the buffer and closes the socket. */
void ft_client_close(struct ft_client *c);

/* The next thing the reader finds, receiving as needed: FRAME_HEADER (in
 * C->reader), FRAME_BODY (*BODY, *LEN point into the receive buffer until
 * the next call) or FRAME_END. Only a reply that stalls in its middle for
 * the socket's timeout is given up: between frames the server may be
 * running a silent command. Returns the event, or -1 with *FAIL set to
 * the exit status (shell.h) and ERR to why: EXIT_PROTOCOL (the reader's
 * error), EXIT_CONNECTION (closed, cut, timed out, recv failed), or
 * EXIT_INTERRUPTED (interrupt_pending; ERR empty). */
int ft_client_next(struct ft_client *c, const unsigned char **body, size_t *len, int *fail,
                   char *err, size_t err_len);

/* The rest of the body of the frame whose header ft_client_next gave
 * last, into BUF (room for C->reader.body_size bytes): *LEN bytes. Returns
 * 0 at the frame's end, or -1 as ft_client_next. */
int ft_client_body(struct ft_client *c, void *buf, size_t *len, int *fail, char *err,
                   size_t err_len);

/* The next reply's header (in C->reader). Before the first reply to the
 * request sent (C->awaiting, nothing of it received yet), waits for its
 * first byte with SESSION's busy notice, BUSY_HINT added to it, and --wait
 * (session_wait_for_reply, which says on SESSION's diag when --wait
 * passes); later replies, a command's output, may take their time.
 * Returns 0, or an exit status with ERR saying why or "": as
 * ft_client_next, EXIT_CONNECTION ("the server closed the connection"
 * before the reply; "" after --wait), EXIT_INTERRUPTED (""), or
 * EXIT_PROTOCOL when the next thing is not a header (a frame before was
 * not read to its end). */
int ft_client_header(struct ft_client *c, const struct session_config *session,
                     const char *busy_hint, char *err, size_t err_len);

#endif
