/* fuzz/ft_frames.h - a stage 5 byte stream cut into its frames, for the
 * stage 5 harnesses' own view of what a peer sent (the model they check
 * the server and the client against). Uses common/frame.c's reader, which
 * the frame harness checks on its own. */
#ifndef NIANBAO_FUZZ_FT_FRAMES_H
#define NIANBAO_FUZZ_FT_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "frame.h"

struct fuzz_frame {
    char *json;               /* the header's text, NUL-terminated          */
    size_t json_len;
    cJSON *header;
    uint64_t size;            /* the size field                             */
    unsigned char *body;      /* the body bytes that arrived                */
    size_t body_len;
    int complete;             /* all of them did                            */
};

struct fuzz_frames {
    struct fuzz_frame *f;     /* every frame whose header is whole          */
    size_t n;
    int malformed;            /* after them, a frame the reader refused     */
    int cut;                  /* the stream ended inside a frame (a header
                                 cut short, or the last frame's body)       */
};

/* Cuts LEN bytes of DATA into frames of format FMT. Returns 0, or -1 when
 * out of memory. */
int fuzz_frames_parse(const struct frame_format *fmt, const void *data, size_t len,
                      struct fuzz_frames *out);
void fuzz_frames_free(struct fuzz_frames *frames);

/* The SHA-256 of LEN bytes, as lower-case hex. */
void fuzz_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
