/* bytes.c - storm's numbers, clock and byte strings (see storm.h).
 *
 * The numbers come from splitmix64 seeded with --seed (as the slicer), so a
 * storm that found something replays exactly. */
#define _GNU_SOURCE
#include "storm.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "wire.h"

/* splitmix64, as tools/slicer.c: a seed means the same everywhere. */
uint64_t rng_next(struct storm_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

size_t rng_below(struct storm_rng *rng, size_t n)
{
    return (size_t)(((rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

void md5_hex(const void *bytes, size_t len, char hex[DIGEST_HEX_MAX])
{
    struct digest md5;
    hex[0] = '\0';
    if (digest_init(&md5, DIGEST_MD5) < 0)
        return;
    digest_update(&md5, bytes, len);
    digest_final_hex(&md5, hex);
}

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void put(struct payload *p, const void *bytes, size_t len)
{
    if (len > MAX_PAYLOAD - p->len)
        len = MAX_PAYLOAD - p->len;
    memcpy(p->bytes + p->len, bytes, len);
    p->len += len;
}

void put_text(struct payload *p, const char *text)
{
    put(p, text, strlen(text));
}

void put_len(struct payload *p, int32_t value)
{
    unsigned char len[WIRE_LEN_SIZE];
    le32_encode(value, len);
    put(p, len, sizeof len);
}

void put_repeat(struct payload *p, const char *text, size_t times)
{
    while (times-- > 0)
        put_text(p, text);
}

/* 1 when the 4 bytes of VALUE, followed by anything, are inert to sh. */
int len_is_inert(uint32_t value)
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
void put_header(struct payload *p, const char *text, int valid)
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
const char shell_special[] = " \t\n\r;&|<>()$`*?!\\'\"#~=%";

int is_word_char(unsigned char c)
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
int payload_is_inert(const struct payload *p, const char *allowed)
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

void put_be(struct payload *p, uint32_t value)
{
    unsigned char len[4] = { (unsigned char)(value >> 24), (unsigned char)(value >> 16),
                             (unsigned char)(value >> 8), (unsigned char)value };
    put(p, len, sizeof len);
}

/* One frame: HEADER's length, HEADER, then BODY_LEN bytes of BODY. */
void put_frame5(struct payload *p, const char *header, const void *body, size_t body_len)
{
    put_be(p, (uint32_t)strlen(header));
    put_text(p, header);
    put(p, body, body_len);
}

/* Reads exactly LEN bytes before DEADLINE. Returns the count read. */
size_t read_until(int fd, void *buf, size_t len, long long deadline)
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
