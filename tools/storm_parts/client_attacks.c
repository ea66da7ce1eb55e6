/* client_attacks.c - the bad replies of the client storm: a malicious
 * server's answers, for the clients of stages 1-4 and 5 (see storm.h). */
#define _GNU_SOURCE
#include "storm.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

static void reply_nothing(struct payload *p)
{
    (void)p;
}

static void reply_len_cut(struct payload *p)
{
    unsigned char len[WIRE_LEN_SIZE];
    le32_encode(5, len);
    put(p, len, 2);
}

static void reply3_body_cut(struct payload *p)
{
    put_len(p, 100);
    put_text(p, "only ten b");
}

static void reply_len_negative(struct payload *p)
{
    put_len(p, -5);
    put_text(p, "hello");
}

static void reply_len_max(struct payload *p)
{
    put_len(p, INT32_MAX);
    put_text(p, "hello");
}

static void reply_len_ascii(struct payload *p)
{
    put_text(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
}

static void reply3_len_too_big(struct payload *p)
{
    put_len(p, (1 << 28) + 1);
    put_text(p, "x");
}

/* A stage 4 reply: HEADER (JSON text) then BODY. */
static void reply4(struct payload *p, const char *header, const char *body)
{
    put_len(p, (int32_t)strlen(header));
    put_text(p, header);
    put_text(p, body);
}

static void reply4_header_cut(struct payload *p)
{
    put_len(p, 60);
    put_text(p, "{\"total_size\":5,");
}

static void reply4_body_cut(struct payload *p)
{
    reply4(p, "{\"file_name\":\"a.txt\",\"total_size\":100,\"md5\":\"md5\"}", "only ten b");
}

static void reply4_len_zero(struct payload *p)
{
    put_len(p, 0);
    put_text(p, "hello");
}

static void reply4_json_invalid(struct payload *p)
{
    reply4(p, "{\"total_size\":5,,}", "hello");
}

static void reply4_json_nested(struct payload *p)
{
    struct payload header = { .len = 0 };
    put_repeat(&header, "[", 5000);
    put_repeat(&header, "]", 5000);
    put_len(p, (int32_t)header.len);
    put(p, header.bytes, header.len);
}

static void reply4_not_object(struct payload *p)
{
    reply4(p, "[5]", "hello");
}

static void reply4_size_missing(struct payload *p)
{
    reply4(p, "{\"file_name\":\"a.txt\",\"md5\":\"md5\"}", "hello");
}

static void reply4_size_negative(struct payload *p)
{
    reply4(p, "{\"total_size\":-5}", "hello");
}

static void reply4_size_huge(struct payload *p)
{
    reply4(p, "{\"total_size\":1e308}", "hello");
}

static void reply4_size_text(struct payload *p)
{
    reply4(p, "{\"total_size\":\"5\"}", "hello");
}

/* says 5 bytes, sends 10: the MD5 is the 10 bytes' */
static void reply4_size_short(struct payload *p)
{
    char header[128], md5[DIGEST_HEX_MAX];
    md5_hex("helloworld", 10, md5);
    snprintf(header, sizeof header, "{\"total_size\":5,\"md5\":\"%s\"}", md5);
    reply4(p, header, "helloworld");
}

static void reply4_md5_wrong(struct payload *p)
{
    reply4(p, "{\"total_size\":5,\"md5\":\"00000000000000000000000000000000\"}", "hello");
}

static void reply4_md5_wrong_upper(struct payload *p)
{
    reply4(p, "{\"total_size\":5,\"md5\":\"5D41402ABC4B2A76B9719D911017C592\"}", "HELLO");
}

/* ---- stage 5 replies: big-endian lengths, JSON headers with op and size -- */

static void reply5_len_cut(struct payload *p)
{
    put(p, "\0\0", 2);
}

static void reply5_header_cut(struct payload *p)
{
    put_be(p, 60);
    put_text(p, "{\"op\":\"output\",\"stream\":");
}

static void reply5_body_cut(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":100}", "only ten b", 10);
}

static void reply5_len_zero(struct payload *p)
{
    put_be(p, 0);
    put_text(p, "{}");
}

static void reply5_len_max(struct payload *p)
{
    put_be(p, 0x7fffffffu);
    put_text(p, "{}");
}

static void reply5_len_negative(struct payload *p)
{
    put_be(p, 0xfffffffbu);             /* -5 as a signed int32 */
    put_text(p, "{}");
}

static void reply5_json_invalid(struct payload *p)
{
    put_frame5(p, "{\"op\":\"exit\",,}", "", 0);
}

static void reply5_json_nested(struct payload *p)
{
    put_be(p, 10000);
    put_repeat(p, "[", 5000);
    put_repeat(p, "]", 5000);
}

static void reply5_not_object(struct payload *p)
{
    put_frame5(p, "[\"exit\"]", "", 0);
}

static void reply5_size_missing(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\"}", "hello", 5);
}

static void reply5_size_negative(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":-5}", "hello", 5);
}

static void reply5_size_huge(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":1e308}", "hello", 5);
}

static void reply5_unknown_op(struct payload *p)
{
    put_frame5(p, "{\"op\":\"__class__\",\"size\":0}", "", 0);
}

static void reply5_unknown_field(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"eval\":\"x\",\"size\":5}", "hello", 5);
}

static void reply5_bad_stream(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdin\",\"size\":5}", "hello", 5);
}

static void reply5_wrong_op(struct payload *p)
{
    put_frame5(p, "{\"op\":\"file\",\"name\":\"a.txt\",\"file_size\":5,\"offset\":0,\"size\":5}",
               "hello", 5);
}

/* "hello" on stdout, then an exit whose fields are FIELDS (JSON text after
 * "op":"exit",). */
static void reply5_exit(struct payload *p, const char *fields)
{
    char header[400];
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":5}", "hello", 5);
    snprintf(header, sizeof header, "{\"op\":\"exit\",%s,\"size\":0}", fields);
    put_frame5(p, header, "", 0);
}

#define HELLO_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void reply5_sha_wrong(struct payload *p)
{
    reply5_exit(p, "\"exit_code\":0,\"signal\":0,\"timed_out\":false,\"truncated\":false,"
                   "\"stdout_size\":5,\"stderr_size\":0,\"sha256\":\"" "00000000000000000000"
                   "00000000000000000000000000000000000000000000\"");
}

static void reply5_size_lies(struct payload *p)
{
    reply5_exit(p, "\"exit_code\":0,\"signal\":0,\"timed_out\":false,\"truncated\":false,"
                   "\"stdout_size\":4,\"stderr_size\":1,\"sha256\":\"" HELLO_SHA256 "\"");
}

static void reply5_exit_code(struct payload *p)
{
    reply5_exit(p, "\"exit_code\":3,\"signal\":0,\"timed_out\":false,\"truncated\":false,"
                   "\"stdout_size\":5,\"stderr_size\":0,\"sha256\":\"" HELLO_SHA256 "\"");
}

static void reply5_exit_code_huge(struct payload *p)
{
    reply5_exit(p, "\"exit_code\":1e308,\"signal\":0,\"timed_out\":false,\"truncated\":false,"
                   "\"stdout_size\":5,\"stderr_size\":0,\"sha256\":\"" HELLO_SHA256 "\"");
}

static void reply5_error(struct payload *p)
{
    put_frame5(p, "{\"op\":\"error\",\"code\":\"too_large\",\"message\":\"no \\u001b[2J"
                  "thanks\",\"size\":0}", "", 0);
}

static void reply5_error_nul(struct payload *p)
{
    put_frame5(p, "{\"op\":\"error\",\"code\":\"io\",\"message\":\"a\\u0000b\",\"size\":0}",
               "", 0);
}

static void reply5_output_only(struct payload *p)
{
    put_frame5(p, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":5}", "hello", 5);
}

static void reply5_error_with_body(struct payload *p)
{
    put_frame5(p, "{\"op\":\"error\",\"code\":\"io\",\"message\":\"x\",\"size\":3}", "abc", 3);
}

static void reply5_nul_header(struct payload *p)
{
    static const char header[] = "{\"op\":\"output\",\"stream\":\"stdout\\0\",\"size\":0}";
    put_be(p, sizeof header - 1);
    put(p, header, sizeof header - 1);
}

static void reply5_not_utf8(struct payload *p)
{
    put_frame5(p, "{\"op\":\"error\",\"code\":\"io\",\"message\":\"\xc0\xaf\xed\xa0\x80\",\"size\":0}",
               "", 0);
}

const struct client_case client_cases[] = {
    { "close-before-reply",   "stage1 stage3 stage4", END_CLOSE, reply_nothing },
    { "reset-before-reply",   "stage1 stage3 stage4", END_RESET, reply_nothing },
    { "close-mid-length",     "stage3",               END_CLOSE, reply_len_cut },
    { "close-mid-length",     "stage4",               END_CLOSE, reply_len_cut },
    { "close-mid-header",     "stage4",               END_CLOSE, reply4_header_cut },
    { "close-mid-body",       "stage3",               END_CLOSE, reply3_body_cut },
    { "close-mid-body",       "stage4",               END_CLOSE, reply4_body_cut },
    { "reset-mid-body",       "stage3",               END_RESET, reply3_body_cut },
    { "reset-mid-body",       "stage4",               END_RESET, reply4_body_cut },
    { "length-negative",      "stage3 stage4",        END_STALL, reply_len_negative },
    { "length-2^31-1",        "stage3 stage4",        END_STALL, reply_len_max },
    { "length-ascii",         "stage3 stage4",        END_STALL, reply_len_ascii },
    { "length-over-max-len",  "stage3",               END_STALL, reply3_len_too_big },
    { "header-length-0",      "stage4",               END_STALL, reply4_len_zero },
    { "json-invalid",         "stage4",               END_STALL, reply4_json_invalid },
    { "json-nested-5000",     "stage4",               END_STALL, reply4_json_nested },
    { "header-not-object",    "stage4",               END_STALL, reply4_not_object },
    { "total-size-missing",   "stage4",               END_STALL, reply4_size_missing },
    { "total-size-negative",  "stage4",               END_STALL, reply4_size_negative },
    { "total-size-1e308",     "stage4",               END_STALL, reply4_size_huge },
    { "total-size-text",      "stage4",               END_STALL, reply4_size_text },
    { "total-size-lies-long", "stage4",               END_CLOSE, reply4_body_cut },
    { "total-size-lies-short", "stage4",              END_STALL, reply4_size_short },
    { "md5-wrong",            "stage4",               END_STALL, reply4_md5_wrong },
    { "md5-wrong-upper-case", "stage4",               END_STALL, reply4_md5_wrong_upper },
    { "stall-before-reply",   "stage3 stage4",        END_STALL, reply_nothing },
    { "stall-mid-length",     "stage3",               END_STALL, reply_len_cut },
    { "stall-mid-length",     "stage4",               END_STALL, reply_len_cut },
    { "stall-mid-header",     "stage4",               END_STALL, reply4_header_cut },
    { "stall-mid-body",       "stage3",               END_STALL, reply3_body_cut },
    { "stall-mid-body",       "stage4",               END_STALL, reply4_body_cut },
    { "close-before-reply",   "stage5",               END_CLOSE, reply_nothing },
    { "reset-before-reply",   "stage5",               END_RESET, reply_nothing },
    { "close-mid-length",     "stage5",               END_CLOSE, reply5_len_cut },
    { "close-mid-header",     "stage5",               END_CLOSE, reply5_header_cut },
    { "close-mid-body",       "stage5",               END_CLOSE, reply5_body_cut },
    { "reset-mid-body",       "stage5",               END_RESET, reply5_body_cut },
    { "header-length-0",      "stage5",               END_STALL, reply5_len_zero },
    { "length-2^31-1",        "stage5",               END_STALL, reply5_len_max },
    { "length-negative",      "stage5",               END_STALL, reply5_len_negative },
    { "length-ascii",         "stage5",               END_STALL, reply_len_ascii },
    { "json-invalid",         "stage5",               END_STALL, reply5_json_invalid },
    { "json-nested-5000",     "stage5",               END_STALL, reply5_json_nested },
    { "header-not-object",    "stage5",               END_STALL, reply5_not_object },
    { "header-nul",           "stage5",               END_STALL, reply5_nul_header },
    { "header-not-utf8",      "stage5",               END_STALL, reply5_not_utf8 },
    { "size-missing",         "stage5",               END_STALL, reply5_size_missing },
    { "size-negative",        "stage5",               END_STALL, reply5_size_negative },
    { "size-1e308",           "stage5",               END_STALL, reply5_size_huge },
    { "unknown-op",           "stage5",               END_STALL, reply5_unknown_op },
    { "unknown-field",        "stage5",               END_STALL, reply5_unknown_field },
    { "output-bad-stream",    "stage5",               END_STALL, reply5_bad_stream },
    { "file-during-exec",     "stage5",               END_STALL, reply5_wrong_op },
    { "sha256-wrong",         "stage5",               END_STALL, reply5_sha_wrong },
    { "sizes-lie",            "stage5",               END_STALL, reply5_size_lies },
    { "exit-code-3",          "stage5",               END_STALL, reply5_exit_code },
    { "exit-code-1e308",      "stage5",               END_STALL, reply5_exit_code_huge },
    { "error-reply",          "stage5",               END_STALL, reply5_error },
    { "error-reply-nul",      "stage5",               END_STALL, reply5_error_nul },
    { "error-with-body",      "stage5",               END_STALL, reply5_error_with_body },
    { "close-before-exit",    "stage5",               END_CLOSE, reply5_output_only },
    { "stall-before-reply",   "stage5",               END_STALL, reply_nothing },
    { "stall-mid-length",     "stage5",               END_STALL, reply5_len_cut },
    { "stall-mid-header",     "stage5",               END_STALL, reply5_header_cut },
    { "stall-mid-body",       "stage5",               END_STALL, reply5_body_cut },
};
const size_t n_client_cases = sizeof client_cases / sizeof client_cases[0];

int case_applies(const struct client_case *c, const char *proto)
{
    size_t len = strlen(proto);
    for (const char *at = c->protos; (at = strstr(at, proto)) != NULL; at += len)
        if ((at == c->protos || at[-1] == ' ') && (at[len] == ' ' || at[len] == '\0'))
            return 1;
    return 0;
}
