/* ftclient.c - the receiving end of a stage 5 client's connection. */
#include "ftclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duration.h"
#include "interrupt.h"
#include "shell.h"

#define RECV_BUF (1u << 20)

int ft_client_init(struct ft_client *c, uint32_t max_header, unsigned long timeout_ms)
{
    struct frame_format format = frame_stage5;

    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    format.max_header = max_header;
    frame_reader_init(&c->reader, &format);
    c->buf = malloc(RECV_BUF);
    return c->buf ? 0 : -1;
}

void ft_client_close(struct ft_client *c)
{
    frame_reader_free(&c->reader);
    free(c->buf);
    c->buf = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int ft_client_next(struct ft_client *c, const unsigned char **body, size_t *len, int *fail,
                   char *err, size_t err_len)
{
    err[0] = '\0';
    for (;;) {
        if (interrupt_pending()) {
            *fail = EXIT_INTERRUPTED;
            return -1;
        }
        if (!c->fed_all || c->pos < c->have) {
            size_t used;
            enum frame_event ev = frame_reader_feed(&c->reader, c->buf + c->pos,
                                                    c->have - c->pos, &used, body, len);
            c->pos += used;
            if (ev == FRAME_ERROR) {
                snprintf(err, err_len, "%s", c->reader.err);
                *fail = EXIT_PROTOCOL;
                return -1;
            }
            c->fed_all = ev == FRAME_NEED_MORE;
            if (ev != FRAME_NEED_MORE)
                return (int)ev;
        }
        c->pos = c->have = 0;
        ssize_t got = recv(c->fd, c->buf, RECV_BUF, 0);
        if (got < 0 && errno == EINTR)
            continue;
        int timed_out = got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        if (timed_out && frame_reader_idle(&c->reader))
            continue;
        if (timed_out)
            snprintf(err, err_len, "the server sent nothing for %s s in the middle of a reply "
                     "(--timeout); giving up", duration_text(c->timeout_ms).s);
        else if (got < 0)
            snprintf(err, err_len, "receiving: %s", strerror(errno));
        else if (got == 0 && frame_reader_idle(&c->reader))
            snprintf(err, err_len, "the server closed the connection");
        else if (got == 0)      /* "... after N of M bytes of the reply's header" */
            frame_reader_describe_cut(&c->reader, "reply", err, err_len);
        if (got <= 0) {
            *fail = EXIT_CONNECTION;
            return -1;
        }
        c->have = (size_t)got;
        c->fed_all = 0;
    }
}

int ft_client_body(struct ft_client *c, void *buf, size_t *len, int *fail, char *err,
                   size_t err_len)
{
    const unsigned char *piece;
    size_t piece_len;
    int ev;

    *len = 0;
    while ((ev = ft_client_next(c, &piece, &piece_len, fail, err, err_len)) == FRAME_BODY) {
        memcpy((unsigned char *)buf + *len, piece, piece_len);
        *len += piece_len;
    }
    return ev < 0 ? -1 : 0;
}

int ft_client_header(struct ft_client *c, const struct session_config *session,
                     const char *busy_hint, char *err, size_t err_len)
{
    const unsigned char *body;
    size_t len;
    int started = 1, fail = EXIT_OK;

    err[0] = '\0';
    if (c->awaiting && c->pos == c->have && frame_reader_idle(&c->reader)) {
        struct session_config waiting = *session;
        waiting.busy_hint = busy_hint;
        started = session_wait_for_reply(&waiting, c->fd);
    }
    c->awaiting = 0;
    if (started == 0)
        snprintf(err, err_len, "the server closed the connection");
    if (started <= 0)
        return started == -2 ? EXIT_INTERRUPTED : EXIT_CONNECTION;
    int ev = ft_client_next(c, &body, &len, &fail, err, err_len);
    if (ev < 0)
        return fail;
    if (ev != FRAME_HEADER) {
        snprintf(err, err_len, "internal error: a reply began without a header");
        return EXIT_PROTOCOL;
    }
    return EXIT_OK;
}
