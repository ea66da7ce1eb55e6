/* fuzz/stage3_client.c - the stage 3 client's reply reader, fuzzed.
 *
 * The input is what a server sends: it is put in a socket, shut for
 * writing, and the client's own receive_reply reads one reply from it.
 * stage3_struct_len/client.c is included unchanged (its main renamed); its
 * stdout and stderr are memory streams. Besides the sanitizers, the harness
 * checks what the client did:
 *   - a reply accepted is exactly the 4-byte length's count of bytes after
 *     it, printed as they are, and not one byte more was read (the next
 *     reply stays in the socket for the next command);
 *   - a reply refused gives one line, "client: ...", and nothing on stdout
 *     but the part of the body that had arrived. */
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
#include "../stage3_struct_len/client.c"
#undef main
#undef stdout
#undef stderr

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client_config cfg = {
        .session = { .prog = "client", .host = "127.0.0.1", .port = DEFAULT_PORT,
                     .command_max = COMMAND_MAX, .timeout_ms = 1000 },
        .max_len = DEFAULT_MAX_LEN,
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
        int32_t reply_len = le32_decode(data);
        if (reply_len < 0 || consumed != WIRE_LEN_SIZE + (size_t)reply_len)
            fuzz_fail("reply length %d, but %zu bytes were read", reply_len, consumed);
        if (out_len != (size_t)reply_len || memcmp(out, data + WIRE_LEN_SIZE, out_len) != 0)
            fuzz_fail("stdout is not the %d bytes of the reply", reply_len);
        if (err_len != 0)
            fuzz_fail("a reply accepted with a message: %.*s", (int)err_len, err);
    } else {
        if (err_len < 9 || strncmp(err, "client: ", 8) != 0 || err[err_len - 1] != '\n' ||
            memchr(err, '\n', err_len - 1) != NULL)
            fuzz_fail("a refused reply's message is not one 'client: ' line: %.*s",
                      (int)err_len, err);
        if (out_len > 0 && (consumed < WIRE_LEN_SIZE + out_len ||
                            memcmp(out, data + WIRE_LEN_SIZE, out_len) != 0))
            fuzz_fail("stdout holds %zu bytes that are not the start of the body", out_len);
    }
    free(out);
    free(err);
    return 0;
}
