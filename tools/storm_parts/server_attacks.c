/* server_attacks.c - the bad requests of the server storm (see storm.h).
 *
 * The servers of stages 1-4 run every request as a shell command (requests
 * are not framed before stage 5). So every byte string storm sends them is
 * checked to be inert to /bin/sh, however recv cuts it: no white space, no
 * shell operator or expansion character, and no letter or digit just before
 * a NUL or at the end (see payload_is_inert). The worst a piece can do is
 * "command not found". */
#define _GNU_SOURCE
#include "storm.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

static void build_nothing(struct payload *p, struct storm_rng *rng)
{
    (void)p, (void)rng;
}

static void build_len_cut(struct payload *p, struct storm_rng *rng)
{
    unsigned char len[WIRE_LEN_SIZE];
    le32_encode(200, len);
    put(p, len, 1 + rng_below(rng, 3));
}

static void build_header_cut(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_len(p, 144);
    put_text(p, "{\"total_size\":5,\"md5\":\"");
}

static void build_body_cut(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_header(p, "{\"file_name\":\"a.txt\",\"total_size\":100,\"md5\":\"md5\"}", 1);
    put_repeat(p, "\x80\x81", 20);
}

static void build_len_negative(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_len(p, -1);
    put_text(p, "\x80\x81\x82");
}

static void build_len_huge(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_len(p, INT32_MAX);
    put_text(p, "\x80\x81\x82");
}

static void build_len_min(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_len(p, INT32_MIN);
    put_text(p, "{}");
}

static void build_len_ascii(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_text(p, "GET/index.html/HTTP/1.1\x80\x80");
}

static void build_json_invalid(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_header(p, "{\"total_size\":,\"md5\":[}", 0);
}

static void build_json_nested_arrays(struct payload *p, struct storm_rng *rng)
{
    size_t depth = 1000 + rng_below(rng, 4000);
    while (!len_is_inert((uint32_t)(2 * depth)))
        depth++;
    put_len(p, (int32_t)(2 * depth));
    put_repeat(p, "[", depth);
    put_repeat(p, "]", depth);
}

static void build_json_nested_objects(struct payload *p, struct storm_rng *rng)
{
    size_t depth = 500 + rng_below(rng, 1500);
    while (!len_is_inert((uint32_t)(6 * depth + 1 + depth)))
        depth++;
    put_len(p, (int32_t)(6 * depth + 1 + depth));
    put_repeat(p, "{\"a\":", depth);
    put_text(p, "[");
    put_repeat(p, "}", depth);
}

static void build_nul(struct payload *p, struct storm_rng *rng)
{
    static const unsigned char zeros[512];
    put_text(p, "\x80");
    put(p, zeros, 1 + rng_below(rng, sizeof zeros));
    put_text(p, "\x81");
}

static void build_not_utf8(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    /* a lone continuation byte, an overlong '/', a cut 3-byte sequence, a
     * surrogate, a code point past U+10FFFF, and bytes no UTF-8 has */
    put_text(p, "\x80\xc0\xaf\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80\xfe\xff");
}

static void build_random(struct payload *p, struct storm_rng *rng)
{
    size_t len = 1 + rng_below(rng, 3000);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)rng_next(rng);
        /* keep it inert: no shell-special byte, no word characters at all */
        if (c && (strchr(shell_special, c) || is_word_char(c)))
            c |= 0x80;
        put(p, &c, 1);
    }
}

static void build_long(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_repeat(p, "\x80{}[]:,", 1000);     /* 7001 bytes: read as several commands */
    put_text(p, "\x80");
}

static void build_big_reply(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_text(p, "seq 1 200000");          /* 1.3 MB of output, never read */
}

static const struct server_case server_cases[] = {
    { "connect-close",      END_CLOSE,   build_nothing },
    { "connect-reset",      END_RESET,   build_nothing },
    { "connect-eof",        END_EOF,     build_nothing },
    { "eof-mid-length",     END_EOF,     build_len_cut },
    { "eof-mid-header",     END_EOF,     build_header_cut },
    { "eof-mid-body",       END_EOF,     build_body_cut },
    { "reset-mid-body",     END_RESET,   build_body_cut },
    { "length-negative",    END_EOF,     build_len_negative },
    { "length-int-min",     END_EOF,     build_len_min },
    { "length-2^31-1",      END_EOF,     build_len_huge },
    { "length-ascii",       END_EOF,     build_len_ascii },
    { "json-invalid",       END_EOF,     build_json_invalid },
    { "json-nested-arrays", END_EOF,     build_json_nested_arrays },
    { "json-nested-objects", END_EOF,    build_json_nested_objects },
    { "nul-bytes",          END_EOF,     build_nul },
    { "not-utf8",           END_EOF,     build_not_utf8 },
    { "random-bytes",       END_EOF,     build_random },
    { "random-reset",       END_RESET,   build_random },
    { "longer-than-1024",   END_EOF,     build_long },
    /* the stalls: few, spread over the run (--stalls) */
    { "connect-stall",      END_STALL,   build_nothing },
    { "stall-mid-length",   END_STALL,   build_len_cut },
    { "never-reads-reply",  END_NO_READ, build_big_reply },
};
#define N_SERVER_CASES (sizeof server_cases / sizeof server_cases[0])

/* ---- stage 5 (and stage 6, the same protocol): framed requests ----------
 * A 4-byte big-endian header length, a JSON header with "op" and "size",
 * the body. Nothing sent here is run as a command: the server runs only
 * the body of a whole "exec" frame, and only never-reads-reply sends one
 * (a real command on purpose, as for stages 1-4). */

static void build5_len_cut(struct payload *p, struct storm_rng *rng)
{
    unsigned char len[4] = { 0, 0, 0, 30 };
    put(p, len, 1 + rng_below(rng, 3));
}

static void build5_header_cut(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_be(p, 40);
    put_text(p, "{\"op\":\"get\",\"name\":\"a");
}

static void build5_body_cut(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"exec\",\"size\":100}", "echo cut", 8);
}

static void build5_len(struct payload *p, uint32_t len)
{
    put_be(p, len);
    put_text(p, "{\"op\":\"list\",\"size\":0}");
}

static void build5_len_zero(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    build5_len(p, 0);
}

static void build5_len_negative(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    build5_len(p, 0xffffffffu);          /* -1 as a signed int32 */
}

static void build5_len_huge(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    build5_len(p, 0x7fffffffu);
}

static void build5_len_ascii(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_text(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

static void build5_json_invalid(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"list\",\"size\":,}", "", 0);
}

static void build5_json_nested(struct payload *p, struct storm_rng *rng)
{
    size_t depth = 1000 + rng_below(rng, 4000);
    put_be(p, (uint32_t)(2 * depth));
    put_repeat(p, "[", depth);
    put_repeat(p, "]", depth);
}

static void build5_json_nested_objects(struct payload *p, struct storm_rng *rng)
{
    size_t depth = 500 + rng_below(rng, 1000);
    put_be(p, (uint32_t)(6 * depth + 1 + depth));
    put_repeat(p, "{\"a\":", depth);
    put_text(p, "[");
    put_repeat(p, "}", depth);
}

static void build5_nul_name(struct payload *p, struct storm_rng *rng)
{
    static const char header[] = "{\"op\":\"get\",\"name\":\"a\0b\",\"size\":0}";
    (void)rng;
    put_be(p, sizeof header - 1);
    put(p, header, sizeof header - 1);
    put_frame5(p, "{\"op\":\"get\",\"name\":\"a\\u0000b\",\"size\":0}", "", 0);
}

static void build5_not_utf8_name(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"stat\",\"name\":\"\xc0\xaf\xed\xa0\x80\xff\",\"size\":0}", "", 0);
}

static void build5_escape_name(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"get\",\"name\":\"\\u001b]0;pwned\\u0007\\u001b[2J\",\"size\":0}", "", 0);
}

static void build5_dotdot(struct payload *p, struct storm_rng *rng)
{
    static const char *const names[] = { "../../../../etc/passwd", "/etc/passwd", "a/../../b",
                                         "..", "", "./../x" };
    char header[160];
    const char *name = names[rng_below(rng, sizeof names / sizeof names[0])];
    snprintf(header, sizeof header, "{\"op\":\"get\",\"name\":\"%s\",\"size\":0}", name);
    put_frame5(p, header, "", 0);
    snprintf(header, sizeof header, "{\"op\":\"put\",\"name\":\"%s\",\"file_size\":4,\"size\":0}",
             name);
    put_frame5(p, header, "", 0);
    put_frame5(p, "{\"op\":\"data\",\"size\":4}", "evil", 4);
}

static void build5_unknown(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"getattr\",\"size\":0}", "", 0);
    put_frame5(p, "{\"op\":\"__class__\",\"size\":3}", "abc", 3);
    put_frame5(p, "{\"op\":\"list\",\"mode\":\"all\",\"size\":0}", "", 0);
    put_frame5(p, "{\"op\":5,\"size\":0}", "", 0);
    put_frame5(p, "{\"size\":0}", "", 0);
    put_frame5(p, "{\"op\":\"data\",\"size\":2}", "xy", 2);
}

static void build5_sizes(struct payload *p, struct storm_rng *rng)
{
    static const char *const sizes[] = { "-1", "0.5", "1e308", "9007199254740993", "\"5\"",
                                         "null", "18446744073709551616" };
    char header[96];
    snprintf(header, sizeof header, "{\"op\":\"exec\",\"size\":%s}",
             sizes[rng_below(rng, sizeof sizes / sizeof sizes[0])]);
    put_frame5(p, header, "x", 1);
}

static void build5_size_huge(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"exec\",\"size\":9007199254740991}", "echo", 4);
}

static void build5_put_cut(struct payload *p, struct storm_rng *rng)
{
    char name[64];
    snprintf(name, sizeof name, "storm-%u", (unsigned)rng_below(rng, 4));
    char header[192];
    snprintf(header, sizeof header, "{\"op\":\"put\",\"name\":\"%s\",\"file_size\":1000,"
             "\"overwrite\":true,\"size\":0}", name);
    put_frame5(p, header, "", 0);
    put_frame5(p, "{\"op\":\"data\",\"size\":1000}", "only these", 10);
}

static void build5_put_bad_end(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"put\",\"name\":\"storm-x\",\"file_size\":2,\"overwrite\":true,"
                  "\"size\":0}", "", 0);
    put_frame5(p, "{\"op\":\"data\",\"size\":2}", "xy", 2);
    put_frame5(p, "{\"op\":\"end\",\"sha256\":\"not hex\",\"size\":0}", "", 0);
}

static void build5_random(struct payload *p, struct storm_rng *rng)
{
    size_t len = 1 + rng_below(rng, 3000);
    if (rng_below(rng, 2))                  /* a valid length, then junk */
        put_be(p, (uint32_t)(1 + rng_below(rng, (uint32_t)len)));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)rng_next(rng);
        put(p, &c, 1);
    }
}

static void build5_good_then_eof(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"list\",\"size\":0}", "", 0);
    put_frame5(p, "{\"op\":\"stat\",\"name\":\"nothing-here\",\"size\":0}", "", 0);
}

static void build5_big_reply(struct payload *p, struct storm_rng *rng)
{
    (void)rng;
    put_frame5(p, "{\"op\":\"exec\",\"size\":12}", "seq 1 200000", 12);
}

static const struct server_case server5_cases[] = {
    { "connect-close",      END_CLOSE,   build_nothing },
    { "connect-reset",      END_RESET,   build_nothing },
    { "connect-eof",        END_EOF,     build_nothing },
    { "eof-mid-length",     END_EOF,     build5_len_cut },
    { "eof-mid-header",     END_EOF,     build5_header_cut },
    { "eof-mid-body",       END_EOF,     build5_body_cut },
    { "reset-mid-body",     END_RESET,   build5_body_cut },
    { "length-0",           END_EOF,     build5_len_zero },
    { "length-negative",    END_EOF,     build5_len_negative },
    { "length-2^31-1",      END_EOF,     build5_len_huge },
    { "length-ascii",       END_EOF,     build5_len_ascii },
    { "json-invalid",       END_EOF,     build5_json_invalid },
    { "json-nested-arrays", END_EOF,     build5_json_nested },
    { "json-nested-objects", END_EOF,    build5_json_nested_objects },
    { "nul-name",           END_EOF,     build5_nul_name },
    { "not-utf8-name",      END_EOF,     build5_not_utf8_name },
    { "escape-codes-name",  END_EOF,     build5_escape_name },
    { "dotdot-names",       END_EOF,     build5_dotdot },
    { "unknown-ops",        END_EOF,     build5_unknown },
    { "bad-sizes",          END_EOF,     build5_sizes },
    { "size-2^53-1-eof",    END_EOF,     build5_size_huge },
    { "put-eof-mid-data",   END_EOF,     build5_put_cut },
    { "put-reset-mid-data", END_RESET,   build5_put_cut },
    { "put-bad-end",        END_EOF,     build5_put_bad_end },
    { "random-bytes",       END_EOF,     build5_random },
    { "random-reset",       END_RESET,   build5_random },
    { "good-requests-eof",  END_EOF,     build5_good_then_eof },
    /* the stalls: few, spread over the run (--stalls) */
    { "connect-stall",      END_STALL,   build_nothing },
    { "stall-mid-header",   END_STALL,   build5_header_cut },
    { "stall-mid-body",     END_STALL,   build5_body_cut },
    { "never-reads-reply",  END_NO_READ, build5_big_reply },
};

/* Stages 1-4 end with 3 cases that stall (or never read), stage 5 with 4. */
static const struct server_case_set unframed = {
    server_cases, N_SERVER_CASES, N_SERVER_CASES - 3,
};
static const struct server_case_set framed = {
    server5_cases, sizeof server5_cases / sizeof server5_cases[0],
    sizeof server5_cases / sizeof server5_cases[0] - 4,
};
_Static_assert(N_SERVER_CASES <= MAX_SERVER_CASES &&
               sizeof server5_cases / sizeof server5_cases[0] <= MAX_SERVER_CASES,
               "MAX_SERVER_CASES is too small");

const struct server_case_set *server_cases_for(const char *proto)
{
    return strcmp(proto, "stage5") == 0 ? &framed : &unframed;
}

/* JSON-shaped payloads hold quotes, braces and colons: harmless words to
 * sh, but outside the strict rule. The legitimate command of
 * never-reads-reply is a real command on purpose. */
int server_payload_is_inert(const struct server_case_set *set, const struct server_case *c,
                            const struct payload *p)
{
    if (c->build == build_big_reply || set == &framed)
        return 1;
    return payload_is_inert(p, "\"");
}
