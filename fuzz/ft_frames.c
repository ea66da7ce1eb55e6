/* fuzz/ft_frames.c - see ft_frames.h. */
#include "ft_frames.h"

#include <stdlib.h>
#include <string.h>

#include "digest.h"

int fuzz_frames_parse(const struct frame_format *fmt, const void *data, size_t len,
                      struct fuzz_frames *out)
{
    struct frame_reader r;
    const unsigned char *p = data;
    size_t pos = 0, cap = 0;
    int rc = 0;

    memset(out, 0, sizeof *out);
    frame_reader_init(&r, fmt);
    for (;;) {
        size_t used, body_len;
        const unsigned char *body;
        enum frame_event ev = frame_reader_feed(&r, p + pos, len - pos, &used, &body, &body_len);
        pos += used;
        if (ev == FRAME_NEED_MORE) {
            out->cut = !frame_reader_idle(&r);
            break;
        }
        if (ev == FRAME_ERROR) {
            out->malformed = 1;
            break;
        }
        if (ev == FRAME_HEADER) {
            if (out->n == cap) {
                size_t more = cap ? cap * 2 : 8;
                struct fuzz_frame *grown = realloc(out->f, more * sizeof *grown);
                if (!grown) {
                    rc = -1;
                    break;
                }
                out->f = grown;
                cap = more;
            }
            struct fuzz_frame *f = &out->f[out->n++];
            memset(f, 0, sizeof *f);
            f->json_len = r.header_len;
            f->json = malloc(r.header_len + 1u);
            f->size = r.body_size;
            f->body = malloc(r.body_size < len ? (size_t)r.body_size + 1 : len + 1);
            if (!f->json || !f->body) {
                rc = -1;
                break;
            }
            memcpy(f->json, r.header_json, r.header_len);
            f->json[r.header_len] = '\0';
            f->header = cJSON_ParseWithLength(f->json, f->json_len);
        } else if (ev == FRAME_BODY) {
            struct fuzz_frame *f = &out->f[out->n - 1];
            memcpy(f->body + f->body_len, body, body_len);
            f->body_len += body_len;
        } else if (ev == FRAME_END) {
            out->f[out->n - 1].complete = 1;
        }
    }
    frame_reader_free(&r);
    return rc;
}

void fuzz_frames_free(struct fuzz_frames *frames)
{
    for (size_t i = 0; i < frames->n; i++) {
        free(frames->f[i].json);
        free(frames->f[i].body);
        cJSON_Delete(frames->f[i].header);
    }
    free(frames->f);
    memset(frames, 0, sizeof *frames);
}

void fuzz_sha256_hex(const void *data, size_t len, char hex[65])
{
    struct digest d = { DIGEST_NONE, NULL };
    if (digest_init(&d, DIGEST_SHA256) < 0) {
        hex[0] = '\0';
        return;
    }
    digest_update(&d, data, len);
    digest_final_hex(&d, hex);
    digest_free(&d);
}
