/* proto.c - stage 3 and 4 framing for the grader (see proto.h). */
#include "proto.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "wire.h"

const char *proto_name(unsigned proto)
{
    switch (proto) {
    case PROTO3: return "stage3";
    case PROTO4: return "stage4";
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
    bytes_add(&s->want_out, body, body_len);
}

void proto_add_bogus(struct script *s, const unsigned char len_bytes[4], const char *header)
{
    struct reply_map *m = &s->replies[s->n_replies++];

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    m->bogus = 1;
    bytes_add(&s->down, len_bytes, 4);
    if (header) {
        m->header_at = s->down.len;
        m->header_len = strlen(header);
        bytes_add(&s->down, header, m->header_len);
    }
    m->body_at = s->down.len;
}

enum reply_state proto_match_request(unsigned proto, const unsigned char *buf, size_t have,
                                     const struct bytes *command, size_t *used)
{
    (void)proto;       /* stages 3 and 4 alike */
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

enum reply_state proto_parse_reply(unsigned proto, const unsigned char *buf, size_t have,
                                   size_t *need, struct reply_got *g)
{
    char raw[160];

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
