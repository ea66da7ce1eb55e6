/* proto_json.c - stage 4: a 4-byte signed little-endian header length, a
 * JSON header ({"file_name", "total_size", "md5", "stdout_size",
 * "exit_code"}), then total_size bytes of body (see proto.h). Stage 3's
 * length framing around a header: built and checked with proto_len.h. */
#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "proto_len.h"
#include "wire.h"

/* MD5 of BYTES as 32 lower-case hex digits. */
static void md5_hex(const void *bytes, size_t len, char hex[33])
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

/* The header of a reply for BODY, as the lab's server writes it. */
static void add_reply(struct script *s, const void *body, size_t body_len, int exit_code)
{
    struct bytes header = { 0 };
    char md5[33];
    md5_hex(body, body_len, md5);
    bytes_addf(&header, "{\"file_name\":\"a.txt\",\"total_size\":%zu,\"md5\":\"%s\","
               "\"stdout_size\":%zu,\"exit_code\":%d}", body_len, md5, body_len, exit_code);
    len_add_reply(s, &header, body, body_len);
    bytes_free(&header);
}

static enum reply_state parse_reply(const unsigned char *buf, size_t have, size_t *need,
                                    struct reply_got *g)
{
    char raw[160];

    /* Each call reads the reply from its start. */
    bytes_free(&g->header);
    bytes_free(&g->body);
    if (!len_read_field(buf, have, g)) {
        *need = 4;
        return REPLY_NEED_MORE;
    }
    int32_t value = (int32_t)get_le32(buf);
    if (value <= 0 || (uint32_t)value > PROTO_MAX_HEADER) {
        if (value == 0)
            return reply_bad(g, 0, "%sheader length 0: a stage 4 reply starts with a JSON header",
                             "");
        wire_check_length("header length", value, PROTO_MAX_HEADER, buf, raw, sizeof raw);
        return reply_bad(g, 0, "%s", raw);
    }
    size_t header_len = (size_t)value;
    if (have < 4 + header_len) {
        *need = 4 + header_len;
        return REPLY_NEED_MORE;
    }
    bytes_add(&g->header, buf + 4, header_len);
    const char *text = (const char *)buf + 4, *end = text + header_len, *parsed_to = NULL;
    cJSON *header = cJSON_ParseWithLengthOpts(text, header_len, &parsed_to, 0);
    while (header && parsed_to < end && isspace((unsigned char)*parsed_to))
        parsed_to++;
    if (!header || parsed_to != end || !cJSON_IsObject(header)) {
        escape_bytes(text, header_len, raw, 100);
        cJSON_Delete(header);
        return reply_bad(g, 4, "the header is not one JSON object: \"%s\"", raw);
    }
    enum reply_state state = REPLY_BAD;
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(header, "total_size");
    const cJSON *out_size = cJSON_GetObjectItemCaseSensitive(header, "stdout_size");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(header, "md5");
    if (!cJSON_IsNumber(total)) {
        reply_bad(g, 4, "%sthe header has no number \"total_size\"", "");
        goto end;
    }
    double size = total->valuedouble;
    if (size < 0 || size > PROTO_MAX_LEN || size != floor(size)) {
        snprintf(raw, sizeof raw, "%.17g", size);
        reply_bad(g, 4, "total_size %s is out of range 0..268435456", raw);
        goto end;
    }
    g->length = (uint64_t)size;
    g->size_known = 1;
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

/* ---- a server's replies ----------------------------------------------------- */

static void say_size(const struct reply_got *g, char *buf, size_t len)
{
    snprintf(buf, len, "header says total_size %llu", (unsigned long long)g->length);
}

static void wrong_size(struct run *r, const struct conn *c, const struct reply_got *g,
                       const struct want_reply *w, const struct bytes *want_body, size_t start,
                       size_t have)
{
    char a[600];
    (void)want_body;
    (void)have;
    step(r, "its header: %s", shown(a, sizeof a, g->header.p, g->header.len, 200));
    fail_at(r, 1, start + 4, c);
    diagnose_size(r, "total_size", g->length, w);
}

static int check_header(struct run *r, const struct conn *c, unsigned conn_no,
                        const struct reply_got *g, const struct want_reply *w, size_t start)
{
    if (g->stdout_size_given && g->stdout_size != w->out.len) {
        step(r, "client %u: the header says stdout_size %llu; the command printed %zu bytes on "
                "stdout", conn_no, (unsigned long long)g->stdout_size, w->out.len);
        fail_at(r, 1, start + 4, c);
        return -1;
    }
    if (g->exit_code_given && g->exit_code != w->exit_code) {
        step(r, "client %u: the header says exit_code %lld; the command exited with %d",
             conn_no, g->exit_code, w->exit_code);
        fail_at(r, 1, start + 4, c);
        return -1;
    }
    if (g->md5[0]) {
        char md5[33];
        md5_hex(g->body.p, g->body.len, md5);
        if (strcasecmp(md5, g->md5) != 0) {
            step(r, "client %u: the header's md5 is %s; the body's MD5 is %s", conn_no, g->md5,
                 md5);
            fail_at(r, 1, start + 4, c);
            return -1;
        }
    }
    return 0;
}

static const struct sized_reply sized = {
    .empty_hint = ", in a header with total_size 0",
    .received = "a header, total_size ",
    .say_size = say_size,
    .wrong_size = wrong_size,
    .check_header = check_header,
};

static int expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k)
{
    return sized_expect_reply(r, c, conn_no, k, &sized);
}

/* A header length that could not be right: text, big-endian, or 0. */
static void diagnose_len_field(struct run *r, const unsigned char lb[4], size_t whole_reply)
{
    uint32_t le = get_le32(lb), be = get_be32(lb);
    (void)whole_reply;
    if (diagnose_text_length(r, lb))
        return;
    if (be > 0 && be <= PROTO_MAX_HEADER)
        diagnose(r, "header length bytes %02x %02x %02x %02x read little-endian are %u, "
                    "big-endian %u: the length was written big-endian (htonl, struct.pack('>i')); "
                    "stage 4 wants little-endian (struct.pack('<i'))", lb[0], lb[1], lb[2],
                 lb[3], le, be);
    else if (le == 0)
        diagnose_zero_header(r, "4", "total_size");
}

/* The client says the MD5 does not match, but the grader's header holds
 * the body's MD5: the client hashed other bytes. */
static void diagnose_client_digest(struct run *r, size_t reply, const struct reply_map *m,
                                   const unsigned char *err, size_t err_len)
{
    if (err_len && (contains(err, err_len, "md5") || contains(err, err_len, "MD5")))
        diagnose(r, "its stderr says the MD5 of reply %zu's body did not match, but the header "
                    "holds the MD5 of the %zu bytes the grader sent: the client hashed other "
                    "bytes (one recv taken as the body returns part of it, or the next reply "
                    "too); read exactly total_size bytes in a loop", reply + 1, m->body_len);
}

const struct proto_ops proto_json_ops = {
    .bit = PROTO4,
    .name = "stage4",
    .viewer_proto = "json",
    .body_digest = 1,
    .len_name = "header length",
    .client_len_name = "header length",
    .client_parts = "header length, JSON header",
    .client_le_stage = "stage 4",
    .huge_body_header = "{\"file_name\":\"a.txt\",\"total_size\":2147483647,"
                        "\"md5\":\"md5\",\"stdout_size\":2147483647,\"exit_code\":0}",
    .len_field = put_le32,
    .len_value = get_le32,
    .encode_request = len_encode_request,
    .match_request = len_match_request,
    .add_reply = add_reply,
    .parse_reply = parse_reply,
    .expect_reply = expect_reply,
    .diagnose_len_field = diagnose_len_field,
    .diagnose_client_digest = diagnose_client_digest,
};
