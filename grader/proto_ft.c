/* proto_ft.c - stage 5: every message, both ways, a 4-byte big-endian
 * header length, a JSON header with "op" and "size", then size bytes of
 * body (stage5_file_transfer/README.md). A command's request is an exec
 * frame; its reply is output frames and an exit frame, or an error frame
 * (see proto.h). */
#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "fsroot.h"
#include "play.h"
#include "wire.h"

/* SHA-256 of the concatenation of N buffers as 64 lower-case hex digits. */
static void sha256_hex(const struct bytes *parts, size_t n, char hex[65])
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
    put_be32((uint32_t)header.len, len_bytes);
    bytes_add(out, len_bytes, 4);
    bytes_add(out, header.p, header.len);
    bytes_add(out, body, len);
    bytes_free(&header);
}

static void encode_request(const void *command, size_t len, struct bytes *out)
{
    proto_frame5(out, "\"op\":\"exec\"", command, len);
}

/* Output frames of at most 65536 bytes (well inside the
 * protocol's limit), then the exit frame. */
static void add_reply(struct script *s, const void *body_bytes, size_t body_len, int exit_code)
{
    const unsigned char *body = body_bytes;
    struct reply_map *m = &s->replies[s->n_replies++];
    char fields[400], sha[65];
    struct bytes whole = { (unsigned char *)body, body_len, body_len, 0 };
    size_t at = 0;

    m->at = s->down.len;
    m->out_at = s->want_out.len;
    do {
        if (body_len == 0)
            break;
        size_t chunk = body_len - at < 65536 ? body_len - at : 65536;
        size_t frame_start = s->down.len;
        script_note_frame(s, frame_start);
        proto_frame5(&s->down, "\"op\":\"output\",\"stream\":\"stdout\"", body + at, chunk);
        size_t chunk_at = s->down.len - chunk;
        if (at == 0) {
            m->header_at = frame_start + 4;
            m->header_len = chunk_at - frame_start - 4;
            m->body_at = chunk_at;
            m->body_len = chunk;
        }
        script_note_span(s, chunk_at, chunk, m->out_at + at);
        at += chunk;
    } while (at < body_len);
    sha256_hex(&whole, 1, sha);
    snprintf(fields, sizeof fields, "\"op\":\"exit\",\"exit_code\":%d,\"signal\":0,"
             "\"timed_out\":false,\"truncated\":false,\"stdout_size\":%zu,\"stderr_size\":0,"
             "\"sha256\":\"%s\"", exit_code, body_len, sha);
    size_t exit_start = s->down.len;
    script_note_frame(s, exit_start);
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
    uint32_t hlen = get_be32(buf);
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

/* One exec frame whose body is the command. */
static enum reply_state match_request(const unsigned char *buf, size_t have,
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

/* Output frames until the exit frame (or an error frame). */
static enum reply_state parse_reply(const unsigned char *buf, size_t have, size_t *need,
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

/* ---- a server's replies ----------------------------------------------------- */

/* A header length that could not be right: text, little-endian, or 0. */
static void diagnose_len_field(struct run *r, const unsigned char lb[4], size_t whole_reply)
{
    uint32_t le = get_le32(lb), be = get_be32(lb);
    (void)whole_reply;
    if (diagnose_text_length(r, lb))
        return;
    if (le > 0 && le <= PROTO_MAX_HEADER)
        diagnose(r, "header length bytes %02x %02x %02x %02x read big-endian are %u, "
                    "little-endian %u: the length was written little-endian (struct.pack('<I') "
                    "or a native int); stage 5 wants network byte order (struct.pack('!I'), "
                    "htonl)", lb[0], lb[1], lb[2], lb[3], be, le);
    else if (le == 0)
        diagnose_zero_header(r, "5", "op");
}

/* Compares one stream of a stage 5 reply; says what differs. */
static int same_stream(struct run *r, unsigned conn_no, const char *name, const struct bytes *want,
                       const struct bytes *got)
{
    char a[200], b[200];
    size_t same = 0;
    while (same < want->len && same < got->len && want->p[same] == got->p[same])
        same++;
    if (same == want->len && same == got->len)
        return 1;
    step(r, "client %u: the command's %s is %zu %s: %s; the reply's output frames carried %zu: %s",
         conn_no, name, want->len, plural(want->len, "byte", "bytes"),
         shown(a, sizeof a, want->p, want->len, 40), got->len,
         shown(b, sizeof b, got->p, got->len, 40));
    if (same < want->len && same < got->len)
        step(r, "the first difference is at byte %zu of %s: expected %s, got %s", same, name,
             shown(a, sizeof a, want->p + same, want->len - same, 16),
             shown(b, sizeof b, got->p + same, got->len - same, 16));
    return 0;
}

/* Reply K on C is output frames and an exit frame, or the error
 * the script expects. Returns 0 when it is right, -1 otherwise. */
static int expect_reply(struct run *r, struct conn *c, unsigned conn_no, size_t k)
{
    const struct want_reply *w = &r->s->want[k];
    struct reply_got g;
    enum reply_state state_read;
    size_t need;
    char a[600], state[200];
    size_t start = c->in_used;
    int ok = 0;

    memset(&g, 0, sizeof g);
    enum wait_end how = read_reply(r, c, w, &g, &state_read, &need);
    size_t have = c->in.len - c->in_used;
    if (state_read == REPLY_BAD) {
        step(r, "client %u received %s: %s", conn_no, shown(a, sizeof a, c->in.p + start, have, 24),
             g.problem);
        fail_at(r, 1, start + g.problem_at, c);
        if (g.problem_at == g.parsed)
            diagnose_len_field(r, c->in.p + start + g.parsed, 0);
        goto end;
    }
    if (state_read == REPLY_NEED_MORE) {
        describe_program(r, how, state, sizeof state);
        if (c->eof)
            step(r, "client %u: the server closed the connection after %zu %s of the reply (%d "
                    "whole %s)", conn_no, have, plural(have, "byte", "bytes"), g.frames,
                 g.frames == 1 ? "frame" : "frames");
        else
            step(r, "client %u got no %sreply (%zu %s): the server %s", conn_no,
                 have ? "whole " : "", have, plural(have, "byte", "bytes"), state);
        /* Where it went wrong: the request it misread, or the reply. */
        if (w->error_code && c->sent >= w->command.len)
            fail_at(r, 0, c->sent - w->command.len, c);
        fail_at(r, 1, start + have, c);
        if (w->error_code && strcmp(w->error_code, "bad_frame") == 0 && how == WAIT_STUCK &&
            w->command.len >= 4) {
            char text[32];
            escape_bytes(w->command.p, 4, text, sizeof text);
            diagnose(r, "length 0x%08x is ASCII '%s': reading text as a length. The server waits "
                        "for a header of %u bytes; refuse a header length above 65536 with an "
                        "error bad_frame, then close (it cannot find the next frame)",
                     get_be32(w->command.p), text, get_be32(w->command.p));
        }
        diagnose_held_up(r, c, how);
        if (how == WAIT_SPIN)
            diagnose(r, "the server uses CPU without answering: a loop that does not stop when "
                        "recv returns 0 (an earlier client closed)?");
        diagnose_server_gone(r);
        goto end;
    }
    c->in_used += need;
    if (w->error_code) {
        if (strcmp(g.error_code, w->error_code) != 0) {
            if (g.error_code[0])
                step(r, "client %u received the error %s (\"%s\"); the protocol says %s",
                     conn_no, g.error_code, g.error_message, w->error_code);
            else
                step(r, "client %u received a command's reply where the error %s was due",
                     conn_no, w->error_code);
            fail_at(r, 1, start, c);
            goto end;
        }
        step(r, "client %u received the error %s: \"%s\"", conn_no, g.error_code, g.error_message);
        if (strcmp(w->error_code, "bad_frame") == 0) {
            /* After a frame it cannot read, the server cannot find the next
             * one: it must close. */
            how = wait_for(r, cond_closed, c);
            if (!c->eof) {
                describe_program(r, how, state, sizeof state);
                step(r, "client %u: the server kept the connection open after bad_frame: it %s",
                     conn_no, state);
                diagnose(r, "after a frame it cannot read the server must close: the next bytes "
                            "are not the start of a frame");
                fail_at(r, 1, c->in.len, c);
                goto end;
            }
            step(r, "client %u: the server closed the connection", conn_no);
        }
        ok = 1;
        goto end;
    }
    if (g.error_code[0]) {
        step(r, "client %u received the error %s: \"%s\"", conn_no, g.error_code, g.error_message);
        fail_at(r, 1, start, c);
        goto end;
    }
    if (!same_stream(r, conn_no, "stdout", &w->out, &g.out) ||
        !same_stream(r, conn_no, "stderr", &w->err, &g.err)) {
        fail_at(r, 1, start, c);
        goto end;
    }
    char sha[65];
    sha256_hex(&g.body, 1, sha);
    if (!g.exit_code_given || g.exit_code != w->exit_code) {
        step(r, "client %u: the exit frame says exit_code %lld; the command exited with %d",
             conn_no, g.exit_code_given ? g.exit_code : -1, w->exit_code);
        fail_at(r, 1, start + need - 1, c);
        goto end;
    }
    if (!g.stdout_size_given || g.stdout_size != w->out.len) {
        step(r, "client %u: the exit frame says stdout_size %llu; %zu bytes came on stdout",
             conn_no, (unsigned long long)g.stdout_size, w->out.len);
        fail_at(r, 1, start + need - 1, c);
        goto end;
    }
    if (strcasecmp(sha, g.sha256) != 0) {
        step(r, "client %u: the exit frame says sha256 %s; the output's SHA-256 is %s", conn_no,
             g.sha256[0] ? g.sha256 : "(none)", sha);
        fail_at(r, 1, start + need - 1, c);
        goto end;
    }
    step(r, "client %u received the reply: %d %s, %zu bytes on stdout %s, exit code %d",
         conn_no, g.frames, g.frames == 1 ? "frame" : "frames", g.out.len,
         shown(a, sizeof a, g.out.p, g.out.len, 40), w->exit_code);
    ok = 1;
end:
    bytes_free(&g.header);
    bytes_free(&g.body);
    bytes_free(&g.out);
    bytes_free(&g.err);
    return ok ? 0 : -1;
}

const struct proto_ops proto_ft_ops = {
    .bit = PROTO5,
    .name = "stage5",
    .viewer_proto = NULL,
    .body_digest = 1,
    .len_name = "header length",
    .client_len_name = "length",
    .client_parts = "length",
    .client_le_stage = "stage 3",
    .huge_body_header = "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":2147483647}",
    .len_field = put_be32,
    .len_value = get_be32,
    .encode_request = encode_request,
    .match_request = match_request,
    .add_reply = add_reply,
    .parse_reply = parse_reply,
    .expect_reply = expect_reply,
    .diagnose_len_field = diagnose_len_field,
    .diagnose_client_digest = NULL,
};
