/* good_client.c - the good client after the server storm: one request,
 * whose reply must be exactly the expected output (see storm.h). */
#define _GNU_SOURCE
#include "storm.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "net.h"
#include "wire.h"

/* Sends the good command and checks that the reply, framed as PROTO says,
 * is exactly the expected output. Returns 0, or -1 with ERR filled. */
int good_client(const struct server_config *cfg, char *err, size_t errlen)
{
    size_t expect_len = strlen(cfg->expect);
    unsigned char len_bytes[WIRE_LEN_SIZE], extra;
    char *got = NULL, *header_json = NULL, neterr[256], shown[160];
    cJSON *header = NULL;
    int rc = -1;

    int fd = net_connect(cfg->host, cfg->port, SOCK_STREAM, neterr, sizeof neterr);
    if (fd < 0) {
        snprintf(err, errlen, "good client: %s", neterr);
        return -1;
    }
    long long deadline = now_ms() + 10000;
    if (send_all(fd, cfg->command, strlen(cfg->command)) < 0) {
        snprintf(err, errlen, "good client: send: %s", strerror(errno));
        goto end;
    }
    size_t body_len = expect_len;
    if (strcmp(cfg->proto, "stage3") == 0 || strcmp(cfg->proto, "stage4") == 0) {
        if (read_until(fd, len_bytes, sizeof len_bytes, deadline) != sizeof len_bytes) {
            snprintf(err, errlen, "good client: no whole length came back");
            goto end;
        }
        int32_t value = le32_decode(len_bytes);
        if (strcmp(cfg->proto, "stage3") == 0) {
            if (value < 0 || (size_t)value != expect_len) {
                snprintf(err, errlen, "good client: reply length %d, expected %zu",
                         value, expect_len);
                goto end;
            }
        } else {
            if (value <= 0 || value > 65536) {
                snprintf(err, errlen, "good client: header length %d", value);
                goto end;
            }
            header_json = malloc((size_t)value + 1);
            if (header_json == NULL ||
                read_until(fd, header_json, (size_t)value, deadline) != (size_t)value) {
                snprintf(err, errlen, "good client: no whole header came back");
                goto end;
            }
            header = cJSON_ParseWithLength(header_json, (size_t)value);
            const cJSON *total = cJSON_GetObjectItemCaseSensitive(header, "total_size");
            const cJSON *exit_code = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
            const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(header, "md5");
            char want_md5[DIGEST_HEX_MAX];
            md5_hex(cfg->expect, expect_len, want_md5);
            if (!cJSON_IsNumber(total) || total->valuedouble != (double)expect_len ||
                !cJSON_IsNumber(exit_code) || exit_code->valuedouble != 0 ||
                !cJSON_IsString(md5) || strcmp(md5->valuestring, want_md5) != 0) {
                escape_bytes(header_json, (size_t)value, shown, sizeof shown);
                snprintf(err, errlen, "good client: header \"%s\" does not describe the "
                         "expected %zu bytes with exit code 0", shown, expect_len);
                goto end;
            }
        }
    }
    got = malloc(body_len + 1);
    if (got == NULL) {
        snprintf(err, errlen, "good client: out of memory");
        goto end;
    }
    size_t have = read_until(fd, got, body_len, deadline);
    if (have != body_len || memcmp(got, cfg->expect, body_len) != 0) {
        escape_bytes(got, have, shown, sizeof shown);
        snprintf(err, errlen, "good client: reply \"%s\" (%zu bytes), expected %zu bytes",
                 shown, have, body_len);
        goto end;
    }
    /* Nothing more may come: a reply is exactly its bytes. */
    if (read_until(fd, &extra, 1, now_ms() + 200) != 0) {
        snprintf(err, errlen, "good client: more bytes after the reply");
        goto end;
    }
    rc = 0;
end:
    cJSON_Delete(header);
    free(header_json);
    free(got);
    close(fd);
    return rc;
}

/* The good client of stage 5 (and 6): the command as an "exec" frame;
 * the reply must be "output" frames whose stdout bytes are exactly the
 * expected ones (nothing on stderr), then "exit" with code 0 and the
 * SHA-256 and sizes of that output, and nothing after it. */
int good_client5(const struct server_config *cfg, char *err, size_t errlen)
{
    size_t expect_len = strlen(cfg->expect), have = 0;
    char neterr[256], shown[160], *got = malloc(expect_len + 1);
    unsigned char extra;
    struct frame_reader r;
    struct digest sha = { DIGEST_NONE, NULL };
    int rc = -1;

    frame_reader_init(&r, &frame_stage5);
    int fd = net_connect(cfg->host, cfg->port, SOCK_STREAM, neterr, sizeof neterr);
    if (fd < 0 || !got || digest_init(&sha, DIGEST_SHA256) < 0) {
        snprintf(err, errlen, "good client: %s", fd < 0 ? neterr : "out of memory");
        goto end;
    }
    struct timeval limit = { 10, 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0) {
        snprintf(err, errlen, "good client: cannot set its 10 s receive timeout "
                 "(setsockopt SO_RCVTIMEO): %s", strerror(errno));
        goto end;
    }
    cJSON *request = cJSON_CreateObject();
    if (!request || !cJSON_AddStringToObject(request, "op", "exec") ||
        frame_send(fd, &frame_stage5, request, cfg->command, strlen(cfg->command), 0,
                   neterr, sizeof neterr) < 0) {
        snprintf(err, errlen, "good client: %s", request ? neterr : "out of memory");
        cJSON_Delete(request);
        goto end;
    }
    cJSON_Delete(request);
    for (;;) {
        if (frame_recv_header(fd, &r, "reply") <= 0) {
            snprintf(err, errlen, "good client: %s", r.err[0] ? r.err : "the server closed "
                     "the connection before \"exit\"");
            goto end;
        }
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(r.header, "op");
        const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r.header, "stream");
        const char *op_name = cJSON_IsString(op) ? op->valuestring : "?";
        if (strcmp(op_name, "exit") == 0)
            break;
        if (strcmp(op_name, "output") != 0 || !cJSON_IsString(stream) ||
            strcmp(stream->valuestring, "stdout") != 0 || r.body_size > expect_len - have) {
            escape_bytes(r.header_json, r.header_len, shown, sizeof shown);
            snprintf(err, errlen, "good client: unexpected reply \"%s\" after %zu bytes of "
                     "output", shown, have);
            goto end;
        }
        ssize_t n;
        while ((n = frame_recv_body(fd, &r, got + have, expect_len - have)) > 0) {
            digest_update(&sha, got + have, (size_t)n);
            have += (size_t)n;
        }
        if (n < 0) {
            snprintf(err, errlen, "good client: %s", r.err);
            goto end;
        }
    }
    char hex[DIGEST_HEX_MAX];
    digest_final_hex(&sha, hex);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(r.header, "exit_code");
    const cJSON *digest = cJSON_GetObjectItemCaseSensitive(r.header, "sha256");
    const cJSON *out_size = cJSON_GetObjectItemCaseSensitive(r.header, "stdout_size");
    if (have != expect_len || memcmp(got, cfg->expect, expect_len) != 0 ||
        !cJSON_IsNumber(code) || code->valuedouble != 0 || !cJSON_IsString(digest) ||
        strcmp(digest->valuestring, hex) != 0 || !cJSON_IsNumber(out_size) ||
        out_size->valuedouble != (double)expect_len) {
        escape_bytes(got, have, shown, sizeof shown);
        snprintf(err, errlen, "good client: output \"%s\" (%zu bytes) and its exit do not match "
                 "the expected %zu bytes, exit 0", shown, have, expect_len);
        goto end;
    }
    if (r.body_size != 0 || read_until(fd, &extra, 1, now_ms() + 200) != 0) {
        snprintf(err, errlen, "good client: more bytes after \"exit\"");
        goto end;
    }
    rc = 0;
end:
    frame_reader_free(&r);
    digest_free(&sha);
    free(got);
    if (fd >= 0)
        close(fd);
    return rc;
}
