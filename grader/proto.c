/* proto.c - stage 3 and 4 framing for the grader (see proto.h). */
#include "proto.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fsroot.h"
#include "wire.h"

const char *proto_name(unsigned proto)
{
    switch (proto) {
    case PROTO3: return "stage3";
    case PROTO4: return "stage4";
    case PROTO5: return "stage5";
    }
    return "?";
}

void proto_le32(uint32_t v, unsigned char out[4])
{
    out[0] = (unsigned char)v;
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)(v >> 16);
    out[3] = (unsigned char)(v >> 24);
}

uint32_t proto_get_le32(const unsigned char in[4])
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

uint32_t proto_get_be32(const unsigned char in[4])
{
    return (uint32_t)in[3] | (uint32_t)in[2] << 8 | (uint32_t)in[1] << 16 | (uint32_t)in[0] << 24;
}

void proto_md5_hex(const void *bytes, size_t len, char hex[33])
{
    struct digest md5;
    char full[DIGEST_HEX_MAX];
    if (digest_init(&md5, DIGEST_MD5) < 0) {
        /* Out of memory: a digest no header can match. */
        snprintf(hex, 33, "%s", "(no md5: out of memory)");
        return;
    }
    digest_update(&md5, bytes, len);
    digest_final_hex(&md5, full);
    memcpy(hex, full, 32);
    hex[32] = '\0';
}

void proto_len_field(unsigned proto, uint32_t value, unsigned char out[4])
{
    if (proto == PROTO5) {
        out[0] = (unsigned char)(value >> 24);
        out[1] = (unsigned char)(value >> 16);
        out[2] = (unsigned char)(value >> 8);
        out[3] = (unsigned char)value;
    } else {
        proto_le32(value, out);
    }
}

void proto_sha256_hex(const struct bytes *parts, size_t n, char hex[65])
{
    struct digest sha;
    char full[DIGEST_HEX_MAX];
    if (digest_init(&sha, DIGEST_SHA256) < 0) {
        snprintf(hex, 65, "%s", "(no sha256: out of memory)");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            digest_update(&sha, parts[i].p, parts[i].len);
    digest_final_hex(&sha, full);
    memcpy(hex, full, 64);
    hex[64] = '\0';
}

void proto_frame5(struct bytes *out, const char *header_fields, const void *body, size_t len)
{
    struct bytes header = { 0 };
    unsigned char len_bytes[4];
    bytes_addf(&header, "{%s,\"size\":%zu}", header_fields, len);
    proto_len_field(PROTO5, (uint32_t)header.len, len_bytes);
    bytes_add(out, len_bytes, 4);
    bytes_add(out, header.p, header.len);
    bytes_add(out, body, len);
    bytes_free(&header);
}

void proto_encode_request(unsigned proto, const void *command, size_t len, struct bytes *out)
{
    if (proto == PROTO5)
        proto_frame5(out, "\"op\":\"exec\"", command, len);
    else
        bytes_add(out, command, len);
}

/* Records that a length field starts at AT and that body bytes
 * [DOWN_AT, DOWN_AT + LEN) are stdout from OUT_AT on. */
static void note_frame(struct script *s, size_t at)
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

static void note_span(struct script *s, size_t down_at, size_t len, size_t out_at)
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

/* Stage 5: output frames of at most 65536 bytes (well inside the
 * protocol's limit), then the exit frame. */
static void add_reply5(struct script *s, struct reply_map *m, const unsigned char *body,
                       size_t body_len, int exit_code)
{
    char fields[400], sha[65];
    struct bytes whole = { (unsigned char *)body, body_len, body_len, 0 };
    size_t at = 0;
    do {
        if (body_len == 0)
            break;
        size_t chunk = body_len - at < 65536 ? body_len - at : 65536;
        size_t frame_start = s->down.len;
        note_frame(s, frame_start);
        proto_frame5(&s->down, "\"op\":\"output\",\"stream\":\"stdout\"", body + at, chunk);
        size_t chunk_at = s->down.len - chunk;
        if (at == 0) {
            m->header_at = frame_start + 4;
            m->header_len = chunk_at - frame_start - 4;
            m->body_at = chunk_at;
            m->body_len = chunk;
        }
        note_span(s, chunk_at, chunk, m->out_at + at);
        at += chunk;
    } while (at < body_len);
    proto_sha256_hex(&whole, 1, sha);
    snprintf(fields, sizeof fields, "\"op\":\"exit\",\"exit_code\":%d,\"signal\":0,"
             "\"timed_out\":false,\"truncated\":false,\"stdout_size\":%zu,\"stderr_size\":0,"
             "\"sha256\":\"%s\"", exit_code, body_len, sha);
    size_t exit_start = s->down.len;
    note_frame(s, exit_start);
    proto_frame5(&s->down, fields, NULL, 0);
    if (body_len == 0) {
        m->header_at = exit_start + 4;
        m->header_len = s->down.len - exit_start - 4;
        m->body_at = s->down.len;
        m->body_len = 0;
    }
    m->end = s->down.len;
    bytes_add(&s->want_out, body, body_len);
}

void proto_header4(struct bytes *out, const void *body, size_t body_len, size_t stdout_size,
                   int exit_code)
{
    char md5[33];
    proto_md5_hex(body, body_len, md5);
    bytes_addf(out, "{\"file_name\":\"a.txt\",\"total_size\":%zu,\"md5\":\"%s\","
               "\"stdout_size\":%zu,\"exit_code\":%d}", body_len, md5, stdout_size, exit_code);
}

void proto_add_reply(struct script *s, const void *body, size_t body_len, int exit_code)
{
    struct reply_map *m = &s->replies[s->n_replies++];
    unsigned char len_bytes[4];
    struct bytes header = { 0 };

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    if (s->proto == PROTO5) {
        add_reply5(s, m, body, body_len, exit_code);
        return;
    }
    note_frame(s, m->at);
    if (s->proto == PROTO4) {
        proto_header4(&header, body, body_len, body_len, exit_code);
        proto_le32((uint32_t)header.len, len_bytes);
        bytes_add(&s->down, len_bytes, 4);
        m->header_at = s->down.len;
        m->header_len = header.len;
        bytes_add(&s->down, header.p, header.len);
        bytes_free(&header);
    } else {
        proto_le32((uint32_t)body_len, len_bytes);
        bytes_add(&s->down, len_bytes, 4);
    }
    m->body_at = s->down.len;
    m->body_len = body_len;
    bytes_add(&s->down, body, body_len);
    m->end = s->down.len;
    note_span(s, m->body_at, body_len, m->out_at);
    bytes_add(&s->want_out, body, body_len);
}

void proto_add_bogus(struct script *s, const unsigned char len_bytes[4], const char *header)
{
    struct reply_map *m = &s->replies[s->n_replies++];

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    m->bogus = 1;
    note_frame(s, m->at);
    bytes_add(&s->down, len_bytes, 4);
    if (header) {
        m->header_at = s->down.len;
        m->header_len = strlen(header);
        bytes_add(&s->down, header, m->header_len);
    }
    m->body_at = s->down.len;
}

/* One stage 5 frame at BUF[0..HAVE): REPLY_NEED_MORE (*NEED: bytes needed
 * in all), REPLY_BAD (PROBLEM filled; *PROBLEM_AT where) or REPLY_COMPLETE
 * with *HEADER (to free), *HEADER_LEN, *SIZE and *NEED the frame's length. */
static enum reply_state frame5(const unsigned char *buf, size_t have, cJSON **header,
                               size_t *header_len, uint64_t *size, size_t *need,
                               char *problem, size_t problem_len, size_t *problem_at)
{
    *header = NULL;
    if (have < 4) {
        *need = 4;
        return REPLY_NEED_MORE;
    }
    uint32_t hlen = proto_get_be32(buf);
    if (hlen == 0 || hlen > PROTO_MAX_HEADER) {
        char raw[40];
        escape_bytes(buf, 4, raw, sizeof raw);
        snprintf(problem, problem_len, "header length %u (bytes %02x %02x %02x %02x \"%s\") is "
                 "out of range 1..%u: is the peer speaking another protocol?", hlen, buf[0],
                 buf[1], buf[2], buf[3], raw, PROTO_MAX_HEADER);
        *problem_at = 0;
        return REPLY_BAD;
    }
    if (have < 4 + (size_t)hlen) {
        *need = 4 + (size_t)hlen;
        return REPLY_NEED_MORE;
    }
    const char *text = (const char *)buf + 4, *end = text + hlen, *parsed_to = NULL;
    cJSON *h = cJSON_ParseWithLengthOpts(text, hlen, &parsed_to, 0);
    while (h && parsed_to < end && isspace((unsigned char)*parsed_to))
        parsed_to++;
    if (!h || parsed_to != end || !cJSON_IsObject(h)) {
        char raw[120];
        escape_bytes(text, hlen, raw, 100);
        snprintf(problem, problem_len, "the header is not one JSON object: \"%s\"", raw);
        *problem_at = 4;
        cJSON_Delete(h);
        return REPLY_BAD;
    }
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(h, "size");
    if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9007199254740991.0 ||
        sz->valuedouble != floor(sz->valuedouble)) {
        snprintf(problem, problem_len, "the header has no whole number \"size\"");
        *problem_at = 4;
        cJSON_Delete(h);
        return REPLY_BAD;
    }
    *size = (uint64_t)sz->valuedouble;
    *header = h;
    *header_len = hlen;
    *need = 4 + (size_t)hlen + (size_t)*size;
    return have < *need ? REPLY_NEED_MORE : REPLY_COMPLETE;
}

/* Stage 5: one exec frame whose body is the command. */
static enum reply_state match_request5(const unsigned char *buf, size_t have,
                                       const struct bytes *command, size_t *used)
{
    cJSON *header;
    size_t header_len, need, at;
    uint64_t size;
    char problem[300];
    enum reply_state st = frame5(buf, have, &header, &header_len, &size, &need, problem,
                                 sizeof problem, &at);
    if (st == REPLY_BAD)
        return REPLY_BAD;
    if (header) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(header, "op");
        int is_exec = cJSON_IsString(op) && strcmp(op->valuestring, "exec") == 0;
        cJSON_Delete(header);
        if (!is_exec || size != command->len)
            return REPLY_BAD;
    }
    if (st == REPLY_NEED_MORE)
        return REPLY_NEED_MORE;
    if (memcmp(buf + 4 + header_len, command->p, command->len) != 0)
        return REPLY_BAD;
    *used = need;
    return REPLY_COMPLETE;
}

enum reply_state proto_match_request(unsigned proto, const unsigned char *buf, size_t have,
                                     const struct bytes *command, size_t *used)
{
    if (proto == PROTO5)
        return match_request5(buf, have, command, used);
    size_t n = have < command->len ? have : command->len;
    if (n > 0 && memcmp(buf, command->p, n) != 0)
        return REPLY_BAD;
    if (have < command->len)
        return REPLY_NEED_MORE;
    *used = command->len;
    return REPLY_COMPLETE;
}

static enum reply_state bad(struct reply_got *g, size_t at, const char *fmt, const char *a)
{
    snprintf(g->problem, sizeof g->problem, fmt, a);
    g->problem_at = at;
    return REPLY_BAD;
}

/* Reads the length field shared by both stages. */
static int read_len_field(const unsigned char *buf, size_t have, struct reply_got *g)
{
    if (have < 4)
        return 0;
    memcpy(g->len_bytes, buf, 4);
    g->have_len = 1;
    return 1;
}

/* Stage 5: output frames until the exit frame (or an error frame). */
static enum reply_state parse_reply5(const unsigned char *buf, size_t have, size_t *need,
                                     struct reply_got *g)
{
    /* Frames read on an earlier call stay read: a reply of several MiB
     * comes in hundreds of frames. */
    size_t at = g->parsed;
    for (;;) {
        cJSON *header;
        size_t header_len, frame_need, problem_at;
        uint64_t size;
        enum reply_state st = frame5(buf + at, have - at, &header, &header_len, &size,
                                     &frame_need, g->problem, sizeof g->problem, &problem_at);
        if (g->frames == 0 && have >= 4) {
            memcpy(g->len_bytes, buf, 4);
            g->have_len = 1;
        }
        if (st == REPLY_BAD) {
            g->problem_at = at + problem_at;
            return REPLY_BAD;
        }
        if (st == REPLY_NEED_MORE) {
            cJSON_Delete(header);
            *need = at + frame_need;
            return REPLY_NEED_MORE;
        }
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(header, "op");
        const char *name = cJSON_IsString(op) ? op->valuestring : "";
        const unsigned char *body = buf + at + 4 + header_len;
        g->frames++;
        enum reply_state result = REPLY_NEED_MORE;
        if (strcmp(name, "output") == 0) {
            const cJSON *stream = cJSON_GetObjectItemCaseSensitive(header, "stream");
            int to_err = cJSON_IsString(stream) && strcmp(stream->valuestring, "stderr") == 0;
            if (!cJSON_IsString(stream) || (!to_err && strcmp(stream->valuestring, "stdout") != 0)) {
                snprintf(g->problem, sizeof g->problem, "an output frame whose stream is not "
                         "\"stdout\" or \"stderr\"");
                g->problem_at = at + 4;
                result = REPLY_BAD;
            } else if (size > PROTO_MAX_OUTPUT_FRAME) {
                snprintf(g->problem, sizeof g->problem, "an output frame of %llu bytes: the "
                         "protocol's limit is %u", (unsigned long long)size,
                         PROTO_MAX_OUTPUT_FRAME);
                g->problem_at = at + 4;
                result = REPLY_BAD;
            } else {
                bytes_add(to_err ? &g->err : &g->out, body, (size_t)size);
                bytes_add(&g->body, body, (size_t)size);
            }
        } else if (strcmp(name, "exit") == 0) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
            const cJSON *sha = cJSON_GetObjectItemCaseSensitive(header, "sha256");
            const cJSON *out_size = cJSON_GetObjectItemCaseSensitive(header, "stdout_size");
            if (cJSON_IsNumber(code)) {
                g->exit_code_given = 1;
                g->exit_code = (long long)code->valuedouble;
            }
            if (cJSON_IsNumber(out_size)) {
                g->stdout_size_given = 1;
                g->stdout_size = (uint64_t)out_size->valuedouble;
            }
            /* What the program sent is shown escaped, as every string of
             * its frames the report quotes: no escape code reaches the
             * teacher's terminal. */
            if (cJSON_IsString(sha))
                fsroot_show_name(sha->valuestring, strlen(sha->valuestring), g->sha256,
                                 sizeof g->sha256);
            g->length = g->out.len + g->err.len;
            g->complete = 1;
            *need = at + frame_need;
            result = REPLY_COMPLETE;
        } else if (strcmp(name, "error") == 0) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(header, "code");
            const cJSON *message = cJSON_GetObjectItemCaseSensitive(header, "message");
            const char *code_text = cJSON_IsString(code) ? code->valuestring : "?";
            const char *message_text = cJSON_IsString(message) ? message->valuestring : "";
            fsroot_show_name(code_text, strlen(code_text), g->error_code, sizeof g->error_code);
            fsroot_show_text(message_text, strlen(message_text), g->error_message,
                             sizeof g->error_message);
            g->complete = 1;
            *need = at + frame_need;
            result = REPLY_COMPLETE;
        } else {
            char name_shown[64];
            fsroot_show_name(name, strlen(name), name_shown, sizeof name_shown);
            snprintf(g->problem, sizeof g->problem, "a frame with op \"%s\" in the reply to "
                     "exec (output, exit or error expected)", name_shown);
            g->problem_at = at + 4;
            result = REPLY_BAD;
        }
        cJSON_Delete(header);
        if (result != REPLY_NEED_MORE)
            return result;
        at += frame_need;
        g->parsed = at;
    }
}

enum reply_state proto_parse_reply(unsigned proto, const unsigned char *buf, size_t have,
                                   size_t *need, struct reply_got *g)
{
    char raw[160];

    if (proto == PROTO5)
        return parse_reply5(buf, have, need, g);

    if (!read_len_field(buf, have, g)) {
        *need = 4;
        return REPLY_NEED_MORE;
    }
    int32_t value = (int32_t)proto_get_le32(buf);
    if (proto == PROTO3) {
        if (value < 0 || (uint32_t)value > PROTO_MAX_LEN) {
            wire_check_length("reply length", value, PROTO_MAX_LEN, buf, raw, sizeof raw);
            return bad(g, 0, "%s", raw);
        }
        g->length = (uint64_t)value;
        *need = 4 + (size_t)value;
        if (have < *need)
            return REPLY_NEED_MORE;
        bytes_add(&g->body, buf + 4, (size_t)value);
        g->complete = 1;
        return REPLY_COMPLETE;
    }

    /* stage 4 */
    if (value <= 0 || (uint32_t)value > PROTO_MAX_HEADER) {
        if (value == 0)
            return bad(g, 0, "%sheader length 0: a stage 4 reply starts with a JSON header", "");
        wire_check_length("header length", value, PROTO_MAX_HEADER, buf, raw, sizeof raw);
        return bad(g, 0, "%s", raw);
    }
    size_t header_len = (size_t)value;
    if (have < 4 + header_len) {
        *need = 4 + header_len;
        return REPLY_NEED_MORE;
    }
    if (g->header.len == 0)
        bytes_add(&g->header, buf + 4, header_len);
    const char *text = (const char *)buf + 4, *end = text + header_len, *parsed_to = NULL;
    cJSON *header = cJSON_ParseWithLengthOpts(text, header_len, &parsed_to, 0);
    while (header && parsed_to < end && isspace((unsigned char)*parsed_to))
        parsed_to++;
    if (!header || parsed_to != end || !cJSON_IsObject(header)) {
        escape_bytes(text, header_len, raw, 100);
        cJSON_Delete(header);
        return bad(g, 4, "the header is not one JSON object: \"%s\"", raw);
    }
    enum reply_state state = REPLY_BAD;
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(header, "total_size");
    const cJSON *out_size = cJSON_GetObjectItemCaseSensitive(header, "stdout_size");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(header, "md5");
    if (!cJSON_IsNumber(total)) {
        bad(g, 4, "%sthe header has no number \"total_size\"", "");
        goto end;
    }
    double size = total->valuedouble;
    if (size < 0 || size > PROTO_MAX_LEN || size != floor(size)) {
        snprintf(raw, sizeof raw, "%.17g", size);
        bad(g, 4, "total_size %s is out of range 0..268435456", raw);
        goto end;
    }
    g->length = (uint64_t)size;
    if (cJSON_IsNumber(out_size)) {
        g->stdout_size_given = 1;
        g->stdout_size = out_size->valuedouble < 0 ? 0 : (uint64_t)out_size->valuedouble;
    }
    if (cJSON_IsNumber(code)) {
        g->exit_code_given = 1;
        g->exit_code = (long long)code->valuedouble;
    }
    if (cJSON_IsString(md5) && strlen(md5->valuestring) == 32 &&
        strspn(md5->valuestring, "0123456789abcdefABCDEF") == 32)
        snprintf(g->md5, sizeof g->md5, "%s", md5->valuestring);
    *need = 4 + header_len + (size_t)g->length;
    if (have < *need) {
        state = REPLY_NEED_MORE;
        goto end;
    }
    bytes_add(&g->body, buf + 4 + header_len, (size_t)g->length);
    g->complete = 1;
    state = REPLY_COMPLETE;
end:
    cJSON_Delete(header);
    return state;
}
