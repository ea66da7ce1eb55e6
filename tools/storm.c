/* storm.c - bad peers in bulk, to prove the lab's programs survive them.
 *
 * storm server: thousands of broken connections against a running server -
 *   frames cut in the middle, EOF or a reset mid-frame, huge, negative and
 *   textual lengths, invalid and deeply nested JSON, NUL bytes and invalid
 *   UTF-8, connect-and-close, connect-and-stall, a client that never reads
 *   its reply - a few at a time, each bounded in time; then one good client,
 *   whose reply must be exact. The test around it checks what cannot be
 *   seen from outside (the server's descriptors and children).
 * storm client: plays a malicious server against a client program: for
 *   each case (a reply cut mid-length, mid-header, mid-body; lengths
 *   negative, 2^31-1, ASCII; invalid JSON; total_size that lies; a wrong
 *   MD5; a server that stalls...) it runs the client, answers its request
 *   with the bad reply, and checks that the client ends with its error line
 *   and a non-zero exit within 2 s (--within), never by a signal.
 *
 * The servers of stages 1-4 run every request as a shell command (requests
 * are not framed before stage 5). So every byte string storm sends them is
 * checked to be inert to /bin/sh, however recv cuts it: no white space, no
 * shell operator or expansion character, and no letter or digit just before
 * a NUL or at the end (see payload_is_inert). The worst a piece can do is
 * "command not found".
 *
 * The numbers come from splitmix64 seeded with --seed (as the slicer), so a
 * storm that found something replays exactly. */
#define _GNU_SOURCE
#include "cli.h"
#include "digest.h"
#include "frame.h"
#include "net.h"
#include "spawn_child.h"
#include "wire.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG_NAME "storm"
#define MAX_PAYLOAD 16384
#define MAX_CONCURRENCY 64        /* an iterative server's backlog is 5 */
#define CLIENT_DEADLINE_MS 2000   /* a client must be done this soon (--within) */

/* ---- numbers ------------------------------------------------------------ */

/* splitmix64, as tools/slicer.c: a seed means the same everywhere. */
struct storm_rng {
    uint64_t state;
};

static uint64_t rng_next(struct storm_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in 0..N-1 (N < 2^32). */
static size_t rng_below(struct storm_rng *rng, size_t n)
{
    return (size_t)(((rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

/* The MD5 of BYTES as 32 hex digits in HEX ("" when out of memory). */
static void md5_hex(const void *bytes, size_t len, char hex[DIGEST_HEX_MAX])
{
    struct digest md5;
    hex[0] = '\0';
    if (digest_init(&md5, DIGEST_MD5) < 0)
        return;
    digest_update(&md5, bytes, len);
    digest_final_hex(&md5, hex);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- byte strings ------------------------------------------------------- */

struct payload {
    unsigned char bytes[MAX_PAYLOAD];
    size_t len;
};

static void put(struct payload *p, const void *bytes, size_t len)
{
    if (len > MAX_PAYLOAD - p->len)
        len = MAX_PAYLOAD - p->len;
    memcpy(p->bytes + p->len, bytes, len);
    p->len += len;
}

static void put_text(struct payload *p, const char *text)
{
    put(p, text, strlen(text));
}

static void put_len(struct payload *p, int32_t value)
{
    unsigned char len[WIRE_LEN_SIZE];
    le32_encode(value, len);
    put(p, len, sizeof len);
}

static void put_repeat(struct payload *p, const char *text, size_t times)
{
    while (times-- > 0)
        put_text(p, text);
}

static int payload_is_inert(const struct payload *p, const char *allowed);

/* 1 when the 4 bytes of VALUE, followed by anything, are inert to sh. */
static int len_is_inert(uint32_t value)
{
    struct payload probe = { .len = 0 };
    put_len(&probe, (int32_t)value);
    put_text(&probe, "\x80");
    return payload_is_inert(&probe, NULL);
}

/* A frame's header as the servers of stages 1-4 may safely get it: its
 * length, then TEXT. When the length's bytes would mean something to sh
 * (60 is '<'), TEXT grows until they do not: a JSON object (VALID) gets a
 * padding field before its last '}', anything else trailing 0x80 bytes. */
static void put_header(struct payload *p, const char *text, int valid)
{
    size_t len = strlen(text), pad = 0;
    size_t extra = valid ? 7 : 0;      /* ,"_":"" */
    while (!len_is_inert((uint32_t)(len + (pad ? extra + pad : 0))))
        pad++;
    put_len(p, (int32_t)(len + (pad ? extra + pad : 0)));
    if (pad == 0) {
        put_text(p, text);
    } else if (valid) {
        put(p, text, len - 1);
        put_text(p, ",\"_\":\"");
        put_repeat(p, "-", pad);
        put_text(p, "\"}");
    } else {
        put_text(p, text);
        put_repeat(p, "\x80", pad);
    }
}

/* Bytes that /bin/sh treats as anything but part of a word, and white
 * space (which would make a second word: an argument). */
static const char shell_special[] = " \t\n\r;&|<>()$`*?!\\'\"#~=%";

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '/' || c == '-' || c == '+' || c == ',';
}

/* 1 when P, cut anywhere and each piece run by sh -c (which stops at a
 * NUL), can only fail: no shell special byte but those in ALLOWED (JSON's
 * double quotes: sh then fails on an unbalanced quote or takes "..." as part
 * of one word), so a piece is one word, with no argument, redirection or
 * expansion; and no letter or digit just before a NUL or at the end, so a
 * piece that starts at a word character runs on into others and names no
 * real command ("total_size\":5,..." is not found). */
static int payload_is_inert(const struct payload *p, const char *allowed)
{
    for (size_t i = 0; i < p->len; i++) {
        unsigned char c = p->bytes[i];
        if (c != 0 && strchr(shell_special, c) && !(allowed && strchr(allowed, c)))
            return 0;
        if (c == 0 && i > 0 && is_word_char(p->bytes[i - 1]))
            return 0;
    }
    return p->len == 0 || !is_word_char(p->bytes[p->len - 1]);
}

/* ---- the server storm --------------------------------------------------- */

enum end_action {
    END_EOF,      /* shut our side for writing, read until the server closes */
    END_CLOSE,    /* close at once                                           */
    END_RESET,    /* close with SO_LINGER 0: a reset                         */
    END_STALL,    /* keep the connection, send nothing more, read; closed by
                     the server (an idle limit) or by us after --stall-ms     */
    END_NO_READ,  /* a command whose reply we never read; close after
                     --stall-ms                                              */
};

struct server_case {
    const char *name;
    enum end_action end;
    /* Fills P with what to send (RNG for the random cases). */
    void (*build)(struct payload *p, struct storm_rng *rng);
};

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
#define N_QUICK_CASES (N_SERVER_CASES - 3)

/* ---- stage 5 (and stage 6, the same protocol): framed requests ----------
 * A 4-byte big-endian header length, a JSON header with "op" and "size",
 * the body. Nothing sent here is run as a command: the server runs only
 * the body of a whole "exec" frame, and only never-reads-reply sends one
 * (a real command on purpose, as for stages 1-4). */

static void put_be(struct payload *p, uint32_t value)
{
    unsigned char len[4] = { (unsigned char)(value >> 24), (unsigned char)(value >> 16),
                             (unsigned char)(value >> 8), (unsigned char)value };
    put(p, len, sizeof len);
}

/* One frame: HEADER's length, HEADER, then BODY_LEN bytes of BODY. */
static void put_frame5(struct payload *p, const char *header, const void *body, size_t body_len)
{
    put_be(p, (uint32_t)strlen(header));
    put_text(p, header);
    put(p, body, body_len);
}

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
#define N_SERVER5_CASES (sizeof server5_cases / sizeof server5_cases[0])
#define MAX_SERVER_CASES (N_SERVER5_CASES > N_SERVER_CASES ? N_SERVER5_CASES : N_SERVER_CASES)

/* The cases of the protocol in use: stages 1-4 end with 3 that stall (or
 * never read), stage 5 with 4. */
static const struct server_case *cases = server_cases;
static size_t n_cases = N_SERVER_CASES, n_quick = N_QUICK_CASES;

/* JSON-shaped payloads hold quotes, braces and colons: harmless words to
 * sh, but outside the strict rule. The legitimate command of
 * never-reads-reply is a real command on purpose. */
static int server_payload_is_inert(const struct server_case *c, const struct payload *p)
{
    if (c->build == build_big_reply || cases == server5_cases)
        return 1;
    return payload_is_inert(p, "\"");
}

struct server_config {
    const char *host;
    const char *port;
    const char *proto;
    unsigned long count;
    unsigned long concurrency;
    unsigned long stalls;
    unsigned long stall_ms;
    unsigned long conn_timeout_ms;
    unsigned long seed;
    const char *command;
    const char *expect;
    int verbose;
};

enum conn_state { CONN_CONNECTING, CONN_SENDING, CONN_ENDING, CONN_DONE };

struct storm_conn {
    int fd;
    unsigned long number;         /* 1-based */
    const struct server_case *kase;
    enum conn_state state;
    struct payload *payload;
    size_t sent;
    long long started_ms, stall_until_ms;
};

struct storm_totals {
    unsigned long by_case[MAX_SERVER_CASES];
    unsigned long closed_by_server, reset_by_server, closed_by_us;
    unsigned long stalls, stalls_closed_by_server, no_reads;
    long long stall_close_ms_max;
    unsigned long failures;
};

/* Starts connection NUMBER (non-blocking connect). Returns 0, or -1 with
 * ERR filled. */
static int conn_start(struct storm_conn *c, const struct addrinfo *to, char *err, size_t errlen)
{
    c->fd = socket(to->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "connection %lu: socket: %s", c->number, strerror(errno));
        return -1;
    }
    c->started_ms = now_ms();
    c->sent = 0;
    if (connect(c->fd, to->ai_addr, to->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connection %lu: cannot connect: %s (is the server still there?)",
                 c->number, strerror(errno));
        return -1;
    }
    c->state = CONN_CONNECTING;
    return 0;
}

/* Closes C, with a reset (RST) when RESET. Returns 0, or -1 (errno set)
 * when the reset could not be asked for: C is closed with a FIN then. */
static int conn_close(struct storm_conn *c, int reset)
{
    int rc = 0;
    if (reset) {
        struct linger now = { 1, 0 };
        rc = setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    }
    int saved = errno;
    close(c->fd);
    c->fd = -1;
    c->state = CONN_DONE;
    errno = saved;
    return rc;
}

/* What the payload is sent, the case's end. Returns 0, or -1 (errno set)
 * when the connection could not be reset. */
static int conn_end(struct storm_conn *c, const struct server_config *cfg,
                    struct storm_totals *t)
{
    switch (c->kase->end) {
    case END_EOF:
        shutdown(c->fd, SHUT_WR);
        c->state = CONN_ENDING;
        break;
    case END_CLOSE:
        conn_close(c, 0);
        t->closed_by_us++;
        break;
    case END_RESET:
        t->closed_by_us++;
        return conn_close(c, 1);
    case END_STALL:
    case END_NO_READ:
        c->stall_until_ms = now_ms() + (long long)cfg->stall_ms;
        c->state = CONN_ENDING;
        if (c->kase->end == END_STALL)
            t->stalls++;
        else
            t->no_reads++;
        break;
    }
    return 0;
}

/* Makes progress on C after poll said REVENTS. Returns 0, or -1 with ERR
 * filled when the server failed the connection (refused it, did not end
 * it in time). */
static int conn_step(struct storm_conn *c, short revents, const struct server_config *cfg,
                     struct storm_totals *t, char *err, size_t errlen)
{
    unsigned char sink[65536];

    if (c->state == CONN_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
            so_error = errno;
        if (so_error != 0) {
            snprintf(err, errlen, "connection %lu (%s): cannot connect: %s (is the server "
                     "still there?)", c->number, c->kase->name, strerror(so_error));
            return -1;
        }
        c->state = CONN_SENDING;
    }
    if (c->state == CONN_SENDING) {
        while (c->sent < c->payload->len) {
            ssize_t n = send(c->fd, c->payload->bytes + c->sent, c->payload->len - c->sent,
                             MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
            if (n < 0) {
                /* the server closed on bad bytes before we were done: fine */
                conn_close(c, 0);
                t->reset_by_server++;
                return 0;
            }
            c->sent += (size_t)n;
        }
        if (conn_end(c, cfg, t) < 0) {
            snprintf(err, errlen, "connection %lu (%s): cannot reset it (setsockopt SO_LINGER: "
                     "%s)", c->number, c->kase->name, strerror(errno));
            return -1;
        }
        if (c->state != CONN_ENDING)
            return 0;
    }
    if (c->state == CONN_ENDING && c->kase->end != END_NO_READ &&
        (revents & (POLLIN | POLLERR | POLLHUP))) {
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (c->kase->end == END_STALL) {
                t->stalls_closed_by_server++;
                long long waited = now_ms() - (c->stall_until_ms - (long long)cfg->stall_ms);
                if (waited > t->stall_close_ms_max)
                    t->stall_close_ms_max = waited;
            }
            if (n == 0)
                t->closed_by_server++;
            else
                t->reset_by_server++;
            conn_close(c, 0);
            return 0;
        }
    }
    if (c->state == CONN_ENDING && (c->kase->end == END_STALL || c->kase->end == END_NO_READ) &&
        now_ms() >= c->stall_until_ms) {
        conn_close(c, 0);
        t->closed_by_us++;
        return 0;
    }
    if (c->state != CONN_DONE &&
        now_ms() - c->started_ms > (long long)cfg->conn_timeout_ms) {
        snprintf(err, errlen, "connection %lu (%s): the server did not end it within %s s",
                 c->number, c->kase->name, duration_text(cfg->conn_timeout_ms).s);
        return -1;
    }
    return 0;
}

/* The case of connection NUMBER (1-based): the stalls evenly spread, the
 * rest drawn at random. */
static const struct server_case *pick_case(const struct server_config *cfg, unsigned long number,
                                           struct storm_rng *rng, unsigned long *stalls_made)
{
    if (cfg->stalls > 0 && *stalls_made < cfg->stalls &&
        number * cfg->stalls >= (*stalls_made + 1) * cfg->count) {
        return &cases[n_quick + (*stalls_made)++ % (n_cases - n_quick)];
    }
    return &cases[rng_below(rng, n_quick)];
}

/* ---- the good client after the storm ------------------------------------- */

/* Reads exactly LEN bytes before DEADLINE. Returns the count read. */
static size_t read_until(int fd, void *buf, size_t len, long long deadline)
{
    size_t have = 0;
    while (have < len) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, (char *)buf + have, len - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    return have;
}

/* Sends the good command and checks that the reply, framed as PROTO says,
 * is exactly the expected output. Returns 0, or -1 with ERR filled. */
static int good_client(const struct server_config *cfg, char *err, size_t errlen)
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
static int good_client5(const struct server_config *cfg, char *err, size_t errlen)
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

static int storm_server(const struct server_config *cfg)
{
    struct storm_conn conns[MAX_CONCURRENCY];
    struct payload *payloads = NULL;
    struct storm_totals totals;
    struct storm_rng rng = { cfg->seed };
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *to = NULL;
    char err[512];
    unsigned long started = 0, done = 0, stalls_made = 0;
    int status = 1;

    memset(&totals, 0, sizeof totals);
    int gai = getaddrinfo(cfg->host, cfg->port, &hints, &to);
    if (gai != 0) {
        fprintf(stderr, PROG_NAME ": cannot resolve %s: %s\n", cfg->host, gai_strerror(gai));
        return 1;
    }
    payloads = calloc(cfg->concurrency, sizeof *payloads);
    if (payloads == NULL) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        goto end;
    }
    for (unsigned long i = 0; i < cfg->concurrency; i++) {
        conns[i].fd = -1;
        conns[i].state = CONN_DONE;
        conns[i].payload = &payloads[i];
    }
    long long start = now_ms();
    while (done < cfg->count) {
        struct pollfd pfd[MAX_CONCURRENCY];
        for (unsigned long i = 0; i < cfg->concurrency; i++) {
            struct storm_conn *c = &conns[i];
            if (c->state == CONN_DONE && started < cfg->count) {
                c->number = ++started;
                c->kase = pick_case(cfg, c->number, &rng, &stalls_made);
                c->payload->len = 0;
                c->kase->build(c->payload, &rng);
                if (!server_payload_is_inert(c->kase, c->payload)) {
                    fprintf(stderr, PROG_NAME ": internal error: payload of %s is not inert "
                            "to sh\n", c->kase->name);
                    goto end;
                }
                totals.by_case[c->kase - cases]++;
                if (cfg->verbose)
                    fprintf(stderr, "connection %lu: %s, %zu bytes\n", c->number,
                            c->kase->name, c->payload->len);
                if (conn_start(c, to, err, sizeof err) < 0) {
                    fprintf(stderr, PROG_NAME ": %s\n", err);
                    goto end;
                }
            }
            pfd[i].fd = c->state == CONN_DONE ? -1 : c->fd;
            pfd[i].events = c->state == CONN_CONNECTING || c->state == CONN_SENDING
                            ? POLLOUT : c->kase && c->kase->end == END_NO_READ ? 0 : POLLIN;
            pfd[i].revents = 0;
        }
        if (poll(pfd, cfg->concurrency, 50) < 0 && errno != EINTR) {
            fprintf(stderr, PROG_NAME ": poll: %s\n", strerror(errno));
            goto end;
        }
        for (unsigned long i = 0; i < cfg->concurrency; i++) {
            struct storm_conn *c = &conns[i];
            if (c->state == CONN_DONE)
                continue;
            if (conn_step(c, pfd[i].revents, cfg, &totals, err, sizeof err) < 0) {
                fprintf(stderr, PROG_NAME ": %s\n", err);
                goto end;
            }
            if (c->state == CONN_DONE)
                done++;
        }
    }
    double secs = (double)(now_ms() - start) / 1000.0;
    printf("storm: %lu bad connections to %s:%s (%s, seed %lu, %lu at a time) ended in %.1f s\n",
           cfg->count, cfg->host, cfg->port, cfg->proto, cfg->seed, cfg->concurrency, secs);
    printf("storm: closed by the server %lu, reset by the server %lu, closed by storm %lu\n",
           totals.closed_by_server, totals.reset_by_server, totals.closed_by_us);
    if (totals.stalls > 0)
        printf("storm: stalled connections %lu: the server closed %lu of them first "
               "(the last after %lld ms), storm the rest after %lu ms\n", totals.stalls,
               totals.stalls_closed_by_server, totals.stall_close_ms_max, cfg->stall_ms);
    if (totals.no_reads > 0)
        printf("storm: connections that never read their reply %lu, closed by storm after "
               "%lu ms\n", totals.no_reads, cfg->stall_ms);
    printf("storm: cases:");
    for (size_t i = 0; i < n_cases; i++)
        if (totals.by_case[i] > 0)
            printf(" %s %lu", cases[i].name, totals.by_case[i]);
    printf("\n");
    if ((cases == server5_cases ? good_client5(cfg, err, sizeof err)
                                : good_client(cfg, err, sizeof err)) < 0) {
        printf("storm: FAIL: %s\n", err);
        goto end;
    }
    printf("storm: good client: \"%s\" answered exactly (%zu bytes)\n", cfg->command,
           strlen(cfg->expect));
    status = 0;
end:
    for (unsigned long i = 0; payloads && i < cfg->concurrency; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(payloads);
    freeaddrinfo(to);
    fflush(stdout);
    return status;
}

/* ---- the client storm --------------------------------------------------- */

struct client_case {
    const char *name;
    const char *protos;       /* "stage1 stage3 stage4": who it applies to */
    enum end_action end;      /* END_CLOSE, END_RESET or END_STALL          */
    void (*build)(struct payload *p);
};

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

static const struct client_case client_cases[] = {
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
#define N_CLIENT_CASES (sizeof client_cases / sizeof client_cases[0])

static int case_applies(const struct client_case *c, const char *proto)
{
    size_t len = strlen(proto);
    for (const char *at = c->protos; (at = strstr(at, proto)) != NULL; at += len)
        if ((at == c->protos || at[-1] == ' ') && (at[len] == ' ' || at[len] == '\0'))
            return 1;
    return 0;
}

struct client_config {
    const char *proto;
    const char *only;         /* --case NAME, or NULL for all */
    const char *command;
    const char *prefix;       /* the error line's start: "client: " */
    char **argv;              /* the client's command, {port} not yet replaced */
    int argc;
    unsigned long within_ms;  /* the client must have ended this soon */
};

/* ARGV with every "{port}" replaced by PORT, in a new NULL-terminated
 * array (strings malloc'ed). Returns NULL when out of memory. */
static char **argv_with_port(char **argv, int argc, const char *port)
{
    char **out = calloc((size_t)argc + 1, sizeof *out);
    for (int i = 0; out && i < argc; i++) {
        size_t len = strlen(argv[i]) + 1, n = 0;
        for (const char *at = argv[i]; (at = strstr(at, "{port}")) != NULL; at += 6)
            n++;
        out[i] = malloc(len + n * strlen(port));
        if (out[i] == NULL)
            goto fail;
        char *w = out[i];
        for (const char *r = argv[i]; *r;) {
            if (strncmp(r, "{port}", 6) == 0) {
                w = stpcpy(w, port);
                r += 6;
            } else {
                *w++ = *r++;
            }
        }
        *w = '\0';
    }
    return out;
fail:
    for (int i = 0; i < argc; i++)
        free(out[i]);
    free(out);
    return NULL;
}

struct client_run {
    pid_t pid;
    int stderr_fd;
    char errtext[8192];
    size_t errlen;
    int exited, status;
};

/* Starts the client: stdin a pipe holding COMMAND and a newline (then
 * closed), stdout /dev/null, stderr a pipe we read. */
static int client_spawn(char **argv, const char *command, struct client_run *run,
                        char *err, size_t errlen)
{
    struct spawn_opts opts = { .fd = { SPAWN_PIPE, SPAWN_NULL, SPAWN_PIPE }, .search_path = 1 };
    struct spawn_child child;

    if (spawn_start(&child, argv[0], argv, &opts, err, errlen) < 0)
        return -1;
    run->pid = child.pid;
    /* One short line: the pipe holds it, then end of file. */
    dprintf(child.fd[STDIN_FILENO], "%s\n", command);
    close(child.fd[STDIN_FILENO]);
    run->stderr_fd = child.fd[STDERR_FILENO];
    if (fcntl(run->stderr_fd, F_SETFL, O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the client's stderr pipe non-blocking: %s",
                 strerror(errno));
        return -1;
    }
    run->errlen = 0;
    run->exited = 0;
    return 0;
}

/* Reads what the client wrote to stderr so far. */
static void client_read_stderr(struct client_run *run)
{
    while (run->stderr_fd >= 0) {
        char buf[4096];
        ssize_t n = read(run->stderr_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0) {
                close(run->stderr_fd);
                run->stderr_fd = -1;
            }
            return;
        }
        size_t room = sizeof run->errtext - 1 - run->errlen;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        memcpy(run->errtext + run->errlen, buf, keep);
        run->errlen += keep;
        run->errtext[run->errlen] = '\0';
    }
}

/* Waits until the client exits or DEADLINE; reads its stderr meanwhile;
 * also returns when FD (if >= 0) becomes readable. Returns 1 when it
 * exited, 0 otherwise. */
static int client_wait(struct client_run *run, long long deadline, int fd)
{
    for (;;) {
        client_read_stderr(run);
        if (!run->exited) {
            pid_t w = waitpid(run->pid, &run->status, WNOHANG);
            if (w == run->pid)
                run->exited = 1;
        }
        if (run->exited) {
            /* the rest of its stderr, now that it is gone */
            struct pollfd last = { run->stderr_fd, POLLIN, 0 };
            while (run->stderr_fd >= 0 && poll(&last, 1, 100) > 0)
                client_read_stderr(run);
            return 1;
        }
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd[2] = { { run->stderr_fd, POLLIN, 0 }, { fd, POLLIN, 0 } };
        int n = poll(pfd, 2, left < 20 ? (int)left : 20);
        if (n > 0 && fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            return 0;
    }
}

/* The last line of TEXT (without its newline), in LINE, control bytes
 * shown as \xNN (a client's message must not drive our terminal). */
static void last_line(const char *text, size_t len, char *line, size_t linelen)
{
    while (len > 0 && text[len - 1] == '\n')
        len--;
    size_t start = len, out = 0;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    for (size_t i = start; i < len && out + 5 < linelen; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            out += (size_t)snprintf(line + out, linelen - out, "\\x%02x", c);
        else
            line[out++] = (char)c;
    }
    line[out] = '\0';
}

/* One case: run the client, answer with the case's bytes, end as the case
 * says, and judge. Prints one line. Returns 1 when it passed. */
static int client_case_run(const struct client_config *cfg, const struct client_case *c,
                           int listener, const char *port)
{
    struct payload *reply = calloc(1, sizeof *reply);
    struct client_run run = { .pid = -1, .stderr_fd = -1 };
    char err[512] = "", line[300], verdict[600] = "";
    char **argv = argv_with_port(cfg->argv, cfg->argc, port);
    int conn = -1, passed = 0;
    long long t0 = 0;

    if (reply == NULL || argv == NULL) {
        snprintf(verdict, sizeof verdict, "out of memory");
        goto end;
    }
    c->build(reply);
    if (client_spawn(argv, cfg->command, &run, err, sizeof err) < 0) {
        snprintf(verdict, sizeof verdict, "%s", err);
        goto end;
    }
    /* its connection */
    long long deadline = now_ms() + 5000;
    while (conn < 0) {
        if (client_wait(&run, deadline, listener)) {
            last_line(run.errtext, run.errlen, line, sizeof line);
            snprintf(verdict, sizeof verdict, "the client exited before connecting: %s", line);
            goto end;
        }
        if (now_ms() >= deadline) {
            snprintf(verdict, sizeof verdict, "the client did not connect within 5 s");
            goto end;
        }
        conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
            snprintf(verdict, sizeof verdict, "accept: %s", strerror(errno));
            goto end;
        }
    }
    /* its request, all of it (it is not framed: one line, one send), so
     * that closing later sends a FIN, not the reset unread bytes cause */
    unsigned char request[4096];
    if (read_until(conn, request, 1, now_ms() + 5000) != 1) {
        snprintf(verdict, sizeof verdict, "the client sent no request within 5 s");
        goto end;
    }
    size_t request_len = 1, command_len = strlen(cfg->command) + 1;
    if (strcmp(cfg->proto, "stage5") == 0) {
        /* one frame: its length, its header, the body its size gives */
        request_len += read_until(conn, request + 1, 3, now_ms() + 1000);
        uint32_t hlen = request_len == 4 ? ((uint32_t)request[0] << 24 |
                        (uint32_t)request[1] << 16 | (uint32_t)request[2] << 8 | request[3]) : 0;
        if (hlen > 0 && hlen < sizeof request - 4 &&
            read_until(conn, request + 4, hlen, now_ms() + 1000) == hlen) {
            request_len += hlen;
            cJSON *h = cJSON_ParseWithLength((const char *)request + 4, hlen);
            const cJSON *size = cJSON_GetObjectItemCaseSensitive(h, "size");
            if (cJSON_IsNumber(size) && size->valuedouble >= 0 &&
                size->valuedouble < (double)(sizeof request - request_len))
                command_len = request_len + (size_t)size->valuedouble;
            cJSON_Delete(h);
        }
    }
    while (request_len < command_len && request_len < sizeof request) {
        size_t more = read_until(conn, request + request_len, 1, now_ms() + 200);
        if (more == 0)
            break;
        request_len += more;
    }
    size_t sent = 0;
    while (sent < reply->len) {
        ssize_t n = send(conn, reply->bytes + sent, reply->len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd pfd = { conn, POLLOUT, 0 };
            poll(&pfd, 1, 100);
            continue;
        }
        if (n <= 0)
            break;              /* it hung up at once: allowed */
        sent += (size_t)n;
    }
    if (c->end == END_CLOSE || c->end == END_RESET) {
        struct linger now = { 1, 0 };
        if (c->end == END_RESET &&
            setsockopt(conn, SOL_SOCKET, SO_LINGER, &now, sizeof now) < 0) {
            snprintf(verdict, sizeof verdict, "cannot reset the connection "
                     "(setsockopt SO_LINGER): %s", strerror(errno));
            goto end;
        }
        close(conn);
        conn = -1;
    }
    t0 = now_ms();
    /* END_STALL: the connection stays open and silent until it exits */
    if (!client_wait(&run, t0 + (long long)cfg->within_ms, -1)) {
        kill(run.pid, SIGKILL);
        waitpid(run.pid, &run.status, 0);
        run.exited = 1;
        snprintf(verdict, sizeof verdict, "still running %s s after the %s; killed",
                 duration_text(cfg->within_ms).s,
                 c->end == END_STALL ? "reply stalled" : "connection closed");
        goto end;
    }
    long long took = now_ms() - t0;
    last_line(run.errtext, run.errlen, line, sizeof line);
    if (WIFSIGNALED(run.status)) {
        snprintf(verdict, sizeof verdict, "killed by signal %d (%s)", WTERMSIG(run.status),
                 strsignal(WTERMSIG(run.status)));
    } else if (WEXITSTATUS(run.status) == 0) {
        snprintf(verdict, sizeof verdict, "exit 0: a bad reply taken as good");
    } else if (run.errlen == 0 || run.errtext[run.errlen - 1] != '\n' ||
               strncmp(line, cfg->prefix, strlen(cfg->prefix)) != 0) {
        snprintf(verdict, sizeof verdict, "exit %d, but its last line on stderr is not an "
                 "error line \"%s...\": \"%s\"", WEXITSTATUS(run.status), cfg->prefix, line);
    } else {
        snprintf(verdict, sizeof verdict, "exit %d in %lld ms: %s", WEXITSTATUS(run.status),
                 took, line);
        passed = 1;
    }
end:
    if (run.pid > 0 && !run.exited) {
        kill(run.pid, SIGKILL);
        waitpid(run.pid, NULL, 0);
    }
    if (run.stderr_fd >= 0)
        close(run.stderr_fd);
    if (conn >= 0)
        close(conn);
    printf("%s %s %s: %s\n", passed ? "PASS" : "FAIL", cfg->proto, c->name, verdict);
    fflush(stdout);
    for (int i = 0; argv && i < cfg->argc; i++)
        free(argv[i]);
    free(argv);
    free(reply);
    return passed;
}

static int storm_client(const struct client_config *cfg)
{
    char err[256], name[NET_ADDRSTRLEN];
    int listener = net_listen("127.0.0.1", "0", SOCK_STREAM, err, sizeof err);
    if (listener < 0) {
        fprintf(stderr, PROG_NAME ": %s\n", err);
        return 1;
    }
    if (fcntl(listener, F_SETFL, O_NONBLOCK) < 0) {
        fprintf(stderr, PROG_NAME ": cannot make the listening socket non-blocking: %s\n",
                strerror(errno));
        close(listener);
        return 1;
    }
    net_local_name(listener, name, sizeof name);
    const char *port = strrchr(name, ':') + 1;
    unsigned passed = 0, run = 0;
    for (size_t i = 0; i < N_CLIENT_CASES; i++) {
        const struct client_case *c = &client_cases[i];
        if (!case_applies(c, cfg->proto) || (cfg->only && strcmp(cfg->only, c->name) != 0))
            continue;
        run++;
        passed += (unsigned)client_case_run(cfg, c, listener, port);
    }
    close(listener);
    if (run == 0) {
        fprintf(stderr, PROG_NAME ": no case '%s' for %s\n", cfg->only ? cfg->only : "",
                cfg->proto);
        return 1;
    }
    printf("storm: %u of %u cases passed\n", passed, run);
    return passed == run ? 0 : 1;
}

/* ---- the command line --------------------------------------------------- */

static const char server_epilog[] =
    "The server's requests are bad on purpose; its replies are read and dropped.\n"
    "Stages 1-4 run each request as a shell command: every byte string sent to\n"
    "them is checked to be inert to sh however it is cut (see tools/README.md).\n"
    "Example:\n"
    "  stage3_struct_len/server --port 0 --timeout 2 &   # listening on 127.0.0.1:PORT\n"
    "  " PROG_NAME " server --proto stage3 -p PORT --count 10000";

static const char client_epilog[] =
    "The client's command line follows --; {port} in it becomes storm's port.\n"
    "Each case runs it once with one command on stdin. A case passes when the\n"
    "client exits non-zero within 2 s (--within) of the bad reply (or of the\n"
    "stall), not by a signal, its last stderr line starting with PREFIX.\n"
    "Exit 0: every case passed.\n"
    "Example:\n"
    "  " PROG_NAME " client --proto stage4 -- stage4_json_header/client -p {port} --timeout 1";

int main(int argc, char **argv)
{
    struct cli_outcome out;
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "server") == 0) {
        struct server_config cfg = {
            .host = "127.0.0.1", .proto = NULL, .count = 10000, .concurrency = 4,
            .stalls = 10, .stall_ms = 1000, .conn_timeout_ms = DURATION_S(30), .seed = 1,
            .command = "echo storm-ok", .expect = "storm-ok\n",
        };
        const struct cli_option options[] = {
            CLI_HOST_OPTION(&cfg.host),
            { "port", 'p', CLI_PORT, &cfg.port, "PORT", "the server's port (required)", 1, 0 },
            { "proto", 0, CLI_CHOICE, &cfg.proto, "stage1|stage3|stage4|stage5",
              "what the server speaks (required): how the good client reads its reply; "
              "stage5 for stage 6's servers too", 0, 0 },
            { "count", 'n', CLI_UINT, &cfg.count, "N", "bad connections (default 10000)",
              1, 10000000 },
            { "concurrency", 'c', CLI_UINT, &cfg.concurrency, "N",
              "connections open at once (default 4)", 1, MAX_CONCURRENCY },
            { "stalls", 0, CLI_UINT, &cfg.stalls, "N",
              "how many of them stall (default 10), spread over the run", 0, 10000000 },
            { "stall-ms", 0, CLI_UINT, &cfg.stall_ms, "MS",
              "a stalled connection is closed after MS ms unless the server closes it "
              "first (default 1000)", 0, 600000 },
            { "conn-timeout", 0, CLI_DURATION, &cfg.conn_timeout_ms, "SECS",
              "fail when a connection has not ended after SECS (default 30)",
              1, DURATION_S(86400) },
            { "seed", 0, CLI_UINT, &cfg.seed, "S",
              "the same seed gives the same storm (default 1)", 0, ULONG_MAX },
            { "command", 0, CLI_STRING, &cfg.command, "CMD",
              "the good client's command (default 'echo storm-ok')", 0, 0 },
            { "expect", 0, CLI_STRING, &cfg.expect, "TEXT",
              "its exact reply; \\n is a newline (default 'storm-ok\\n')", 0, 0 },
            { "verbose", 'v', CLI_FLAG, &cfg.verbose, NULL, "one stderr line per connection",
              0, 0 },
        };
        const struct cli_program prog = {
            PROG_NAME " server", "Bad connections in bulk against a running server, then one "
            "good client whose reply must be exact.",
            "a lab tool, not in the document", options, sizeof options / sizeof options[0],
            server_epilog
        };
        cli_parse(&prog, argc - 1, argv + 1, &out);
        if (out.run && (cfg.port == NULL || cfg.proto == NULL))
            cli_usage_error(&prog, &out, "%s is required", cfg.port ? "--proto" : "--port");
        if (!out.run) {
            fputs(out.text, out.to_stderr ? stderr : stdout);
            return out.exit_status;
        }
        /* --expect's \n */
        char *expect = strdup(cfg.expect), *w = expect;
        if (expect == NULL)
            return 1;
        for (const char *r = cfg.expect; *r; r++) {
            if (r[0] == '\\' && r[1] == 'n') {
                *w++ = '\n';
                r++;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        cfg.expect = expect;
        if (strcmp(cfg.proto, "stage5") == 0) {
            cases = server5_cases;
            n_cases = N_SERVER5_CASES;
            n_quick = N_SERVER5_CASES - 4;
        }
        signal(SIGPIPE, SIG_IGN);
        int status = storm_server(&cfg);
        free(expect);
        return status;
    }
    if (strcmp(mode, "client") == 0) {
        struct client_config cfg = { .proto = NULL, .command = "echo storm",
                                     .within_ms = CLIENT_DEADLINE_MS };
        int dashes = 2;
        while (dashes < argc && strcmp(argv[dashes], "--") != 0)
            dashes++;
        const struct cli_option options[] = {
            { "proto", 0, CLI_CHOICE, &cfg.proto, "stage1|stage3|stage4|stage5",
              "what the client speaks (required)", 0, 0 },
            { "case", 0, CLI_STRING, &cfg.only, "NAME", "run only this case", 0, 0 },
            { "command", 0, CLI_STRING, &cfg.command, "CMD",
              "the line fed to the client (default 'echo storm')", 0, 0 },
            { "prefix", 0, CLI_STRING, &cfg.prefix, "TEXT",
              "how its error line starts (default: its name and ': ')", 0, 0 },
            { "within", 0, CLI_DURATION, &cfg.within_ms, "SECS",
              "a client still running SECS after the bad reply or the stall fails, and is "
              "killed (default 2)", 1, DURATION_S(600) },
        };
        const struct cli_program prog = {
            PROG_NAME " client", "Plays a malicious server against a client program: every "
            "bad reply must end it with its error line and a non-zero exit within 2 s "
            "(--within).",
            "a lab tool, not in the document", options, sizeof options / sizeof options[0],
            client_epilog
        };
        cli_parse(&prog, dashes - 1, argv + 1, &out);
        if (out.run && cfg.proto == NULL)
            cli_usage_error(&prog, &out, "--proto is required");
        else if (out.run && dashes + 1 >= argc)
            cli_usage_error(&prog, &out, "no client to run: give its command after --");
        if (!out.run) {
            fputs(out.text, out.to_stderr ? stderr : stdout);
            return out.exit_status;
        }
        cfg.argv = argv + dashes + 1;
        cfg.argc = argc - dashes - 1;
        char prefix[256];
        if (cfg.prefix == NULL) {
            const char *slash = strrchr(cfg.argv[0], '/');
            snprintf(prefix, sizeof prefix, "%s: ", slash ? slash + 1 : cfg.argv[0]);
            cfg.prefix = prefix;
        }
        signal(SIGPIPE, SIG_IGN);
        return storm_client(&cfg);
    }
    const struct cli_program prog = {
        PROG_NAME, "Bad peers in bulk: against a server (storm server) or a client "
        "(storm client).", "a lab tool, not in the document", NULL, 0,
        "Usage: " PROG_NAME " server --proto P -p PORT [OPTION]...\n"
        "       " PROG_NAME " client --proto P [OPTION]... -- CLIENT [ARG]...\n"
        "'" PROG_NAME " server --help' and '" PROG_NAME " client --help' list their options."
    };
    cli_parse(&prog, argc, argv, &out);
    if (out.run)
        cli_usage_error(&prog, &out, "say what to storm: 'server' or 'client'");
    fputs(out.text, out.to_stderr ? stderr : stdout);
    return out.exit_status;
}
