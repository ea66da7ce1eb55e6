/* wire.c - length fields and byte descriptions (see wire.h). */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void le32_encode(int32_t value, unsigned char out[WIRE_LEN_SIZE])
{
    uint32_t u = (uint32_t)value;   /* two's complement, as struct.pack('i') */
    out[0] = (unsigned char)(u & 0xff);
    out[1] = (unsigned char)((u >> 8) & 0xff);
    out[2] = (unsigned char)((u >> 16) & 0xff);
    out[3] = (unsigned char)((u >> 24) & 0xff);
}

int32_t le32_decode(const unsigned char in[WIRE_LEN_SIZE])
{
    uint32_t u = (uint32_t)in[0] | (uint32_t)in[1] << 8 |
                 (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
    /* Spelled out so it does not depend on implementation-defined casts. */
    if (u <= INT32_MAX)
        return (int32_t)u;
    return -(int32_t)(~u) - 1;
}

int wire_check_length(const char *what, int32_t value, uint64_t max,
                      const unsigned char raw[WIRE_LEN_SIZE],
                      char *err, size_t errlen)
{
    char shown[32];

    if (value >= 0 && (uint64_t)value <= max)
        return 0;
    escape_bytes(raw, WIRE_LEN_SIZE, shown, sizeof shown);
    snprintf(err, errlen,
             "%s %" PRId32 " is out of range 0..%" PRIu64
             " (bytes %02x %02x %02x %02x \"%s\"): is the peer speaking another protocol?",
             what, value, max, raw[0], raw[1], raw[2], raw[3], shown);
    return -1;
}

void wire_describe_short(ssize_t got, size_t want, const char *what,
                         char *err, size_t errlen)
{
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        snprintf(err, errlen, "timed out receiving the %s: the peer sent nothing for "
                 "--timeout seconds", what);
    else if (got < 0)
        snprintf(err, errlen, "receiving the %s: %s", what, strerror(errno));
    else
        snprintf(err, errlen, "connection closed after %zd of %zu bytes of the %s",
                 got, want, what);
}

size_t escape_bytes(const void *bytes, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = bytes;
    size_t used = 0, i;

    if (outlen == 0)
        return 0;
    for (i = 0; i < len; i++) {
        char piece[5];
        unsigned char c = p[i];
        switch (c) {
        case '\n': strcpy(piece, "\\n"); break;
        case '\r': strcpy(piece, "\\r"); break;
        case '\t': strcpy(piece, "\\t"); break;
        case '\\': strcpy(piece, "\\\\"); break;
        case '"':  strcpy(piece, "\\\""); break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                piece[0] = (char)c;
                piece[1] = '\0';
            } else {
                snprintf(piece, sizeof piece, "\\x%02x", c);
            }
        }
        size_t plen = strlen(piece);
        /* Keep room for "..." and the NUL when more input follows. */
        size_t reserve = (i + 1 < len) ? 4 : 1;
        if (used + plen + reserve > outlen) {
            if (outlen >= 4 && used + 4 <= outlen) {
                memcpy(out + used, "...", 3);
                used += 3;
            }
            break;
        }
        memcpy(out + used, piece, plen);
        used += plen;
    }
    out[used < outlen ? used : outlen - 1] = '\0';
    return i;
}
