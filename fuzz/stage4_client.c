/* fuzz/stage4_client.c - the stage 4 client's reader of a header length,
 * a JSON header and a body, fuzzed.
 *
 * The input is what a server sends: it is put in a socket, shut for
 * writing, and the client's own receive_reply reads one reply from it.
 * stage4_json_header/client.c is included unchanged (its main renamed); its
 * stdout and stderr are memory streams. Besides the sanitizers, the harness
 * checks what the client did:
 *   - a reply accepted is a header length, that many bytes of one JSON
 *     object whose total_size is the number of bytes after it; stdout then
 *     stderr are exactly those bytes (then a line for a non-zero exit
 *     code), and not one byte more was read;
 *   - a reply refused ends with a line "client: ...". */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static FILE *fuzz_stdout, *fuzz_stderr;
#undef stdout
#undef stderr
#define stdout fuzz_stdout
#define stderr fuzz_stderr
#define main client_main
#include "../stage4_json_header/client.c"
#undef main
#undef stdout
#undef stderr

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = DEFAULT_PORT,
                     .command_max = COMMAND_MAX, .timeout_ms = 1000 },
        .max_len = DEFAULT_MAX_LEN, .max_header = 65536,
    };
    char *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 0, written;

    int fd = fuzz_socket_holding(data, size, &written);
    if (fd < 0)
        return 0;
    fuzz_stdout = open_memstream(&out, &out_len);
    fuzz_stderr = open_memstream(&err, &err_len);
    if (fuzz_stdout == NULL || fuzz_stderr == NULL)
        fuzz_fail("open_memstream failed");
    int last_byte = -1;
    int rc = receive_reply(fd, &cfg, &last_byte);
    fclose(fuzz_stdout);
    fclose(fuzz_stderr);
    size_t consumed = fuzz_consumed(fd, data, written);
    if (rc == 0) {
        if (written < WIRE_LEN_SIZE)
            fuzz_fail("a reply accepted from %zu bytes", written);
        int32_t header_len = le32_decode(data);
        if (header_len <= 0 || (size_t)header_len > cfg.max_header ||
            consumed < WIRE_LEN_SIZE + (size_t)header_len)
            fuzz_fail("header length %d accepted, %zu bytes read", header_len, consumed);
        const char *header_json = (const char *)data + WIRE_LEN_SIZE;
        cJSON *header = cJSON_ParseWithLength(header_json, (size_t)header_len);
        const cJSON *total_size = cJSON_GetObjectItemCaseSensitive(header, "total_size");
        size_t body_at = WIRE_LEN_SIZE + (size_t)header_len, body_len = consumed - body_at;
        if (!cJSON_IsObject(header) || !cJSON_IsNumber(total_size) ||
            total_size->valuedouble != (double)body_len)
            fuzz_fail("a header accepted without a total_size of the %zu body bytes read",
                      body_len);
        /* a command that failed is shown after its output, in one line */
        const cJSON *exit_code = cJSON_GetObjectItemCaseSensitive(header, "exit_code");
        char note[80] = "";
        if (cJSON_IsNumber(exit_code) && exit_code->valuedouble > 0)
            snprintf(note, sizeof note, "client: the command exited with status %d\n",
                     (int)exit_code->valuedouble);
        cJSON_Delete(header);
        size_t note_len = strlen(note);
        if (err_len < note_len || memcmp(err + err_len - note_len, note, note_len) != 0)
            fuzz_fail("no line for the exit code: %s", note);
        err_len -= note_len;
        if (out_len + err_len != body_len || memcmp(out, data + body_at, out_len) != 0 ||
            memcmp(err, data + body_at + out_len, err_len) != 0)
            fuzz_fail("stdout (%zu bytes) and stderr (%zu) are not the %zu bytes of the body",
                      out_len, err_len, body_len);
    } else {
        /* The body's stderr part comes first and may be anything; the
         * client's own message is the last thing written. */
        if (err_len < 9 || err[err_len - 1] != '\n' || memmem(err, err_len, "client: ", 8) == NULL)
            fuzz_fail("a refused reply has no 'client: ' line: %.*s", (int)err_len, err);
    }
    free(out);
    free(err);
    return 0;
}
