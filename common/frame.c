/* frame.c - header-length + JSON header + body frames (see frame.h). */
#define _GNU_SOURCE
#include "frame.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "net.h"
#include "protolimits.h"
#include "wire.h"

/* JSON keeps integers exact up to 2^53 - 1. */
#define FRAME_MAX_EXACT ((uint64_t)FT_MAX_INTEGER)
#define FEW_KEYS 16        /* a header with more is checked by sorting */

const struct frame_format frame_stage4 = { 0, "total_size", NB_MAX_HEADER_DEFAULT,
                                           NB_MAX_LEN_DEFAULT };
const struct frame_format frame_stage5 = { 1, "size", FT_MAX_HEADER, FRAME_MAX_EXACT };

static uint32_t len_decode(const struct frame_format *fmt, const unsigned char b[FRAME_LEN_SIZE])
{
    if (fmt->big_endian)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static void len_encode(const struct frame_format *fmt, uint32_t value,
                       unsigned char b[FRAME_LEN_SIZE])
{
    for (int i = 0; i < FRAME_LEN_SIZE; i++) {
        int shift = fmt->big_endian ? 8 * (FRAME_LEN_SIZE - 1 - i) : 8 * i;
        b[i] = (unsigned char)(value >> shift);
    }
}

void frame_reader_init(struct frame_reader *r, const struct frame_format *fmt)
{
    memset(r, 0, sizeof *r);
    r->fmt = *fmt;
    r->state = FRAME_IN_LEN;
}

static void release_header(struct frame_reader *r)
{
    cJSON_Delete(r->header);
    r->header = NULL;
    free(r->header_json);
    r->header_json = NULL;
    r->header_len = r->header_have = 0;
}

void frame_reader_free(struct frame_reader *r)
{
    release_header(r);
    r->state = FRAME_IN_ERROR;
}

int frame_reader_idle(const struct frame_reader *r)
{
    return r->state == FRAME_IN_LEN && r->len_have == 0 && !r->end_pending;
}

const char *frame_reader_describe_cut(const struct frame_reader *r, const char *what, char *out,
                                      size_t outlen)
{
    if (r->state == FRAME_IN_HEADER)
        snprintf(out, outlen, "connection closed after %" PRIu32 " of %" PRIu32 " bytes of the "
                 "%s's header", r->header_have, r->header_len, what);
    else if (r->state == FRAME_IN_BODY)
        snprintf(out, outlen, "connection closed after %" PRIu64 " of %" PRIu64 " bytes of the "
                 "%s's body", r->body_size - r->body_left, r->body_size, what);
    else
        snprintf(out, outlen, "connection closed after %zu of %d bytes of the %s's header "
                 "length", r->len_have, FRAME_LEN_SIZE, what);
    return out;
}

static enum frame_event fail(struct frame_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum frame_event fail(struct frame_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->state = FRAME_IN_ERROR;
    return FRAME_ERROR;
}

/* The 4 length bytes are in: check them, make room for the header. */
static enum frame_event begin_header(struct frame_reader *r)
{
    uint32_t header_len = len_decode(&r->fmt, r->len_bytes);
    char shown[32];

    if (header_len < 1 || header_len > r->fmt.max_header) {
        escape_bytes(r->len_bytes, FRAME_LEN_SIZE, shown, sizeof shown);
        return fail(r, "header length %" PRIu32 " is out of range 1..%" PRIu32
                    " (bytes %02x %02x %02x %02x \"%s\"): is the peer speaking another protocol?",
                    header_len, r->fmt.max_header, r->len_bytes[0], r->len_bytes[1],
                    r->len_bytes[2], r->len_bytes[3], shown);
    }
    r->header_json = malloc((size_t)header_len + 1);
    if (!r->header_json)
        return fail(r, "out of memory for a %" PRIu32 "-byte header", header_len);
    r->header_len = header_len;
    r->header_have = 0;
    r->state = FRAME_IN_HEADER;
    return FRAME_NEED_MORE;
}

/* Returns the length of the valid UTF-8 sequence at P (at most LEFT bytes),
 * or 0 when it is not valid (overlong forms, surrogates, > U+10FFFF too). */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t need;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { need = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { need = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 4; cp = c & 0x07; }
    else return 0;
    if (left < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

int frame_utf8_valid(const void *text, size_t len, size_t *bad_at)
{
    const unsigned char *p = text;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(p + i, len - i);
        if (n == 0) {
            if (bad_at)
                *bad_at = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

/* ---- the raw text of a header's values ---------------------------------- */

static size_t skip_space(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* S[I] opens a string: the index just past its closing quote. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* S[I] starts a value: the index just past it. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    size_t depth = 0;

    while (i < len) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, len, i);
            if (depth == 0)
                return i;
        } else if (ch == '{' || ch == '[') {
            depth++;
            i++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            i++;
            if (--depth == 0)
                return i;
        } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' ||
                                  ch == '\r')) {
            return i;
        } else {
            i++;
        }
    }
    return i;
}

/* 1 when the string token TOKEN (N bytes, quotes included) says KEY. */
static int key_is(const char *token, size_t n, const char *key)
{
    size_t key_len = strlen(key);

    if (!memchr(token, '\\', n))
        return n == key_len + 2 && memcmp(token + 1, key, key_len) == 0;
    /* "\u0073ize" is "size" too. */
    cJSON *decoded = cJSON_ParseWithLength(token, n);
    int same = cJSON_IsString(decoded) && strcmp(decoded->valuestring, key) == 0;
    cJSON_Delete(decoded);
    return same;
}

int frame_raw_value(const char *json, size_t len, const char *key, const char **at,
                    size_t *at_len)
{
    size_t i = skip_space(json, len, 0);

    if (i >= len || json[i] != '{')
        return -1;
    for (i++;;) {
        i = skip_space(json, len, i);
        if (i >= len || json[i] != '"')
            return -1;
        size_t key_at = i;
        i = skip_string(json, len, i);
        size_t key_len = i - key_at;
        i = skip_space(json, len, i);
        if (i >= len || json[i] != ':')
            return -1;
        i = skip_space(json, len, i + 1);
        size_t value_at = i;
        i = skip_value(json, len, i);
        if (key_is(json + key_at, key_len, key)) {
            *at = json + value_at;
            *at_len = i - value_at;
            return 0;
        }
        i = skip_space(json, len, i);
        if (i >= len || json[i] != ',')
            return -1;
        i++;
    }
}

int frame_plain_integer(const char *text, size_t len)
{
    if (len == 0 || (len > 1 && text[0] == '0'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return 0;
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int frame_parse_header(const struct frame_format *fmt, const char *json, size_t len,
                       cJSON **header_out, uint64_t *body_size, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)json;
    const char *parsed_to = NULL;
    char shown[96];
    cJSON *header = NULL;
    const char **names = NULL;
    int rc = -1;

    *header_out = NULL;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
            snprintf(err, errlen, "header has a raw control character (byte %zu is 0x%02x): "
                     "JSON allows none", i, p[i]);
            goto end;
        }
        size_t n = utf8_sequence(p + i, len - i);
        if (n == 0) {
            snprintf(err, errlen, "header is not valid UTF-8 (byte %zu is 0x%02x)", i, p[i]);
            goto end;
        }
        i += n;
    }
    /* cJSON skips a UTF-8 byte-order mark; JSON in a frame has none. */
    if (len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
        snprintf(err, errlen, "header starts with a UTF-8 byte-order mark (bytes ef bb bf): "
                 "a header is one JSON object and nothing else but white space");
        goto end;
    }
    header = cJSON_ParseWithLengthOpts(json, len, &parsed_to, 0);
    while (header && parsed_to < json + len &&
           (*parsed_to == ' ' || *parsed_to == '\t' || *parsed_to == '\n' || *parsed_to == '\r'))
        parsed_to++;
    if (!header || parsed_to != json + len || !cJSON_IsObject(header)) {
        escape_bytes(json, len, shown, sizeof shown);
        snprintf(err, errlen, "header is not %s: \"%s\"",
                 header && parsed_to == json + len ? "a JSON object" : "valid JSON", shown);
        goto end;
    }
    /* cJSON keeps both of two equal keys and finds the first: a header
     * that says "size" twice means two things. */
    size_t count = 0;
    for (const cJSON *item = header->child; item; item = item->next)
        count++;
    /* A header's few keys are compared pairwise; many are sorted first. */
    const char *few[FEW_KEYS];
    names = count <= FEW_KEYS ? NULL : malloc(count * sizeof *names);
    if (count > FEW_KEYS && !names) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    const char **keys = names ? names : few;
    count = 0;
    for (const cJSON *item = header->child; item; item = item->next)
        keys[count++] = item->string;
    if (names)
        qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 1; i < count; i++) {
        const char *twice = NULL;
        if (names && strcmp(names[i - 1], names[i]) == 0)
            twice = names[i];
        for (size_t j = 0; !names && j < i && !twice; j++)
            if (strcmp(keys[j], keys[i]) == 0)
                twice = keys[i];
        if (twice) {
            escape_bytes(twice, strlen(twice), shown, sizeof shown);
            snprintf(err, errlen, "header has the key \"%s\" twice", shown);
            goto end;
        }
    }
    if (frame_get_uint(header, fmt->size_field, fmt->max_body, body_size, err, errlen) < 0)
        goto end;
    /* -0, 0.0 and 0e5 are 0 to cJSON, but not integers as JSON writes them. */
    const char *raw;
    size_t raw_len;
    if (frame_raw_value(json, len, fmt->size_field, &raw, &raw_len) == 0 &&
        !frame_plain_integer(raw, raw_len)) {
        snprintf(err, errlen, "%s %.*s is not written as a whole number (digits only: no "
                 "sign, point or exponent)", fmt->size_field, raw_len > 40 ? 40 : (int)raw_len,
                 raw);
        goto end;
    }
    *header_out = header;
    header = NULL;
    rc = 0;
end:
    free(names);
    cJSON_Delete(header);
    return rc;
}

/* The whole header is in: parse and check it. */
static enum frame_event finish_header(struct frame_reader *r)
{
    char err[sizeof r->err];

    r->header_json[r->header_len] = '\0';
    if (frame_parse_header(&r->fmt, r->header_json, r->header_len, &r->header,
                           &r->body_size, err, sizeof err) < 0)
        return fail(r, "%s", err);
    r->body_left = r->body_size;
    r->state = FRAME_IN_BODY;
    if (r->body_left == 0)
        r->end_pending = 1;
    return FRAME_HEADER;
}

static void end_frame(struct frame_reader *r)
{
    r->end_pending = 0;
    r->state = FRAME_IN_LEN;
    r->len_have = 0;
    r->frames++;
}

enum frame_event frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
                                   size_t *used, const unsigned char **body,
                                   size_t *body_len)
{
    const unsigned char *p = buf;
    size_t pos = 0;
    enum frame_event ev = FRAME_NEED_MORE;

    *used = 0;
    *body = NULL;
    *body_len = 0;
    if (r->state == FRAME_IN_ERROR)
        return FRAME_ERROR;
    if (r->end_pending) {
        end_frame(r);
        return FRAME_END;
    }
    while (pos < len && ev == FRAME_NEED_MORE) {
        size_t n;
        switch (r->state) {
        case FRAME_IN_LEN:
            if (r->len_have == 0)
                release_header(r);     /* the previous frame's header ends here */
            n = FRAME_LEN_SIZE - r->len_have;
            if (n > len - pos)
                n = len - pos;
            memcpy(r->len_bytes + r->len_have, p + pos, n);
            r->len_have += n;
            pos += n;
            if (r->len_have == FRAME_LEN_SIZE)
                ev = begin_header(r);
            break;
        case FRAME_IN_HEADER:
            n = r->header_len - r->header_have;
            if (n > len - pos)
                n = len - pos;
            memcpy(r->header_json + r->header_have, p + pos, n);
            r->header_have += (uint32_t)n;
            pos += n;
            if (r->header_have == r->header_len)
                ev = finish_header(r);
            break;
        case FRAME_IN_BODY:
            n = len - pos;
            if (n > r->body_left)
                n = (size_t)r->body_left;
            *body = p + pos;
            *body_len = n;
            pos += n;
            r->body_left -= n;
            if (r->body_left == 0)
                r->end_pending = 1;
            ev = FRAME_BODY;
            break;
        case FRAME_IN_ERROR:
            ev = FRAME_ERROR;
            break;
        }
    }
    r->offset += pos;
    *used = pos;
    return ev;
}

/* ---- on a blocking socket ---------------------------------------------- */

int frame_recv_header(int fd, struct frame_reader *r, const char *what)
{
    char part[64];

    if (r->state == FRAME_IN_ERROR)
        return -1;
    if (r->end_pending || (r->state == FRAME_IN_BODY && r->body_left == 0))
        end_frame(r);
    if (r->state != FRAME_IN_LEN || r->len_have != 0) {
        fail(r, "the previous %s's body was not read to its end", what);
        return -1;
    }
    release_header(r);
    ssize_t got = recv_exact(fd, r->len_bytes, FRAME_LEN_SIZE);
    if (got == 0)
        return 0;
    if (got != FRAME_LEN_SIZE) {
        snprintf(part, sizeof part, "%s's header length", what);
        wire_describe_short(got, FRAME_LEN_SIZE, part, r->err, sizeof r->err);
        r->cut = got >= 0;
        r->state = FRAME_IN_ERROR;
        return -1;
    }
    r->offset += FRAME_LEN_SIZE;
    r->len_have = FRAME_LEN_SIZE;
    if (begin_header(r) == FRAME_ERROR)
        return -1;
    got = recv_exact(fd, r->header_json, r->header_len);
    if (got != (ssize_t)r->header_len) {
        snprintf(part, sizeof part, "%s's header", what);
        wire_describe_short(got, r->header_len, part, r->err, sizeof r->err);
        r->cut = got >= 0;
        r->state = FRAME_IN_ERROR;
        return -1;
    }
    r->offset += r->header_len;
    r->header_have = r->header_len;
    if (finish_header(r) == FRAME_ERROR)
        return -1;
    snprintf(r->what, sizeof r->what, "%s", what);
    return 1;
}

ssize_t frame_recv_body(int fd, struct frame_reader *r, void *buf, size_t len)
{
    char part[64];

    if (r->state == FRAME_IN_ERROR)
        return -1;
    if (r->state != FRAME_IN_BODY || r->body_left == 0) {
        if (r->state == FRAME_IN_BODY)
            end_frame(r);
        return 0;
    }
    size_t want = len < r->body_left ? len : (size_t)r->body_left;
    for (;;) {
        ssize_t got = recv(fd, buf, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            snprintf(part, sizeof part, "%s's body", r->what);
            wire_describe_short(got < 0 ? -1 : (ssize_t)(r->body_size - r->body_left),
                                (size_t)r->body_size, part, r->err, sizeof r->err);
            r->cut = got == 0;
            r->state = FRAME_IN_ERROR;
            return -1;
        }
        r->body_left -= (uint64_t)got;
        r->offset += (uint64_t)got;
        return got;
    }
}

/* ---- writing ----------------------------------------------------------- */

int frame_add_uint(cJSON *obj, const char *name, uint64_t value)
{
    char digits[24], *at = digits + sizeof digits;

    if (value > FRAME_MAX_EXACT)      /* as cJSON says a double this large */
        return cJSON_AddNumberToObject(obj, name, (double)value) ? 0 : -1;
    *--at = '\0';
    do
        *--at = (char)('0' + value % 10);
    while ((value /= 10) > 0);
    return cJSON_AddRawToObject(obj, name, at) ? 0 : -1;
}

/* Sets HEADER's size field to BODY_LEN, within FMT's limit. */
static int set_size(const struct frame_format *fmt, cJSON *header, uint64_t body_len, char *err,
                    size_t errlen)
{
    if (body_len > fmt->max_body) {
        snprintf(err, errlen, "a body of %" PRIu64 " bytes is over the limit of %" PRIu64,
                 body_len, fmt->max_body);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(header, fmt->size_field);
    if (frame_add_uint(header, fmt->size_field, body_len) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int check_json_len(const struct frame_format *fmt, size_t json_len, char *err,
                          size_t errlen)
{
    if (json_len < 1 || json_len > fmt->max_header) {
        snprintf(err, errlen, "a header of %zu bytes is over the limit of %" PRIu32, json_len,
                 fmt->max_header);
        return -1;
    }
    return 0;
}

int frame_encode(const struct frame_format *fmt, cJSON *header, uint64_t body_len,
                 unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    char *json = NULL;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    if (set_size(fmt, header, body_len, err, errlen) < 0)
        return -1;
    if (!(json = cJSON_PrintUnformatted(header))) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    size_t json_len = strlen(json);
    if (check_json_len(fmt, json_len, err, errlen) < 0)
        goto end;
    *out = malloc(FRAME_LEN_SIZE + json_len);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    len_encode(fmt, (uint32_t)json_len, *out);
    memcpy(*out + FRAME_LEN_SIZE, json, json_len);
    *out_len = FRAME_LEN_SIZE + json_len;
    rc = 0;
end:
    cJSON_free(json);
    return rc;
}

ssize_t frame_encode_in(const struct frame_format *fmt, cJSON *header, uint64_t body_len,
                        unsigned char *buf, size_t cap, char *err, size_t errlen)
{
    char *json = (char *)buf + FRAME_LEN_SIZE;

    if (cap <= FRAME_LEN_SIZE + 1)
        return 0;
    if (set_size(fmt, header, body_len, err, errlen) < 0)
        return -1;
    cap -= FRAME_LEN_SIZE;
    if (!cJSON_PrintPreallocated(header, json, cap > INT_MAX ? INT_MAX : (int)cap, 0))
        return 0;
    size_t json_len = strlen(json);
    if (check_json_len(fmt, json_len, err, errlen) < 0)
        return -1;
    len_encode(fmt, (uint32_t)json_len, buf);
    return (ssize_t)(FRAME_LEN_SIZE + json_len);
}

int frame_send(int fd, const struct frame_format *fmt, cJSON *header,
               const void *body, uint64_t body_len, int more,
               char *err, size_t errlen)
{
    unsigned char *head = NULL;
    size_t head_len;
    struct iovec iov[2];
    int rc = -1;

    if (frame_encode(fmt, header, body_len, &head, &head_len, err, errlen) < 0)
        return -1;
    iov[0] = (struct iovec){ head, head_len };
    iov[1] = (struct iovec){ (void *)body, body ? (size_t)body_len : 0 };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
    while (msg.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &msg, flags);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            snprintf(err, errlen, "send: %s", strerror(saved));
            errno = saved;
            goto end;
        }
        /* Step past what went out; sendmsg may stop anywhere. */
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= (size_t)n;
        }
    }
    rc = 0;
end:
    free(head);
    return rc;
}

int frame_get_uint(const cJSON *header, const char *name, uint64_t max,
                   uint64_t *value, char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(header, name);

    if (max > FRAME_MAX_EXACT)
        max = FRAME_MAX_EXACT;
    if (!item) {
        snprintf(err, errlen, "header has no %s", name);
        return -1;
    }
    if (!cJSON_IsNumber(item)) {
        snprintf(err, errlen, "%s is not a number", name);
        return -1;
    }
    double d = item->valuedouble;
    /* In range first: converting a double beyond 2^64 is undefined. */
    if (!(d >= 0 && d <= (double)max) || d != (double)(uint64_t)d) {
        snprintf(err, errlen, "%s %.17g is out of range 0..%" PRIu64, name, d, max);
        return -1;
    }
    *value = (uint64_t)d;
    return 0;
}
