/* script.c - a script and its maps: the acts to play, and where each
 * reply, length field and body lies in the down stream (see grade.h). */
#include <stdlib.h>
#include <string.h>

#include "grade.h"

void script_init(struct script *s, enum grade_mode mode, unsigned proto)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->proto = proto;
}

void script_free(struct script *s)
{
    free(s->acts);
    bytes_free(&s->input);
    for (size_t i = 0; i < SCRIPT_MAX_REPLIES; i++) {
        bytes_free(&s->requests[i]);
        bytes_free(&s->want[i].out);
        bytes_free(&s->want[i].err);
        bytes_free(&s->want[i].command);
    }
    bytes_free(&s->down);
    bytes_free(&s->want_out);
    free(s->spans);
    free(s->frame_at);
    for (size_t i = 0; i < SCRIPT_MAX_CONNS; i++)
        bytes_free(&s->up[i]);
    memset(s, 0, sizeof *s);
}

void script_act(struct script *s, enum act_kind kind, unsigned conn, size_t arg)
{
    if (s->n_acts == s->cap_acts) {
        size_t cap = s->cap_acts ? s->cap_acts * 2 : 64;
        struct act *grown = realloc(s->acts, cap * sizeof *grown);
        if (grown == NULL) {
            s->failed = 1;
            return;
        }
        s->acts = grown;
        s->cap_acts = cap;
    }
    s->acts[s->n_acts++] = (struct act){ kind, conn, arg };
}

/* Records that a length field starts at AT and that body bytes
 * [DOWN_AT, DOWN_AT + LEN) are stdout from OUT_AT on. */
void script_note_frame(struct script *s, size_t at)
{
    if (s->n_frames == s->cap_frames) {
        size_t cap = s->cap_frames ? s->cap_frames * 2 : 64;
        size_t *grown = realloc(s->frame_at, cap * sizeof *grown);
        if (grown == NULL) {
            s->failed = 1;
            return;
        }
        s->frame_at = grown;
        s->cap_frames = cap;
    }
    s->frame_at[s->n_frames++] = at;
}

void script_note_span(struct script *s, size_t down_at, size_t len, size_t out_at)
{
    if (s->n_spans == s->cap_spans) {
        size_t cap = s->cap_spans ? s->cap_spans * 2 : 64;
        struct out_span *grown = realloc(s->spans, cap * sizeof *grown);
        if (grown == NULL) {
            s->failed = 1;
            return;
        }
        s->spans = grown;
        s->cap_spans = cap;
    }
    s->spans[s->n_spans++] = (struct out_span){ down_at, len, out_at, s->n_replies - 1 };
}

void script_add_bogus(struct script *s, const unsigned char len_bytes[4], const char *header)
{
    struct reply_map *m = &s->replies[s->n_replies++];

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    m->bogus = 1;
    script_note_frame(s, m->at);
    bytes_add(&s->down, len_bytes, 4);
    if (header) {
        m->header_at = s->down.len;
        m->header_len = strlen(header);
        bytes_add(&s->down, header, m->header_len);
    }
    m->body_at = s->down.len;
}
