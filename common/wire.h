/* wire.h - the length fields of stages 3 and 4, and how to describe bytes.
 *
 * A length field is a 4-byte signed little-endian integer: exactly what the
 * document's struct.pack('i', n) writes on x86-64. We build and read it byte
 * by byte rather than copying a native int, so a big-endian host speaks the
 * same wire format. */
#ifndef NIANBAO_WIRE_H
#define NIANBAO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protolimits.h"

#define WIRE_LEN_SIZE 4

void le32_encode(int32_t value, unsigned char out[WIRE_LEN_SIZE]);
int32_t le32_decode(const unsigned char in[WIRE_LEN_SIZE]);

/* Checks a decoded length against 0..MAX. Returns 0 when it fits; otherwise
 * -1 with ERR filled, naming WHAT ("reply length", "header length"), the raw
 * bytes in hex and as ASCII, and the likely cause: a nonsense length almost
 * always means the peer speaks another protocol (1195725860 is "GET "). */
int wire_check_length(const char *what, int32_t value, uint64_t max,
                      const unsigned char raw[WIRE_LEN_SIZE],
                      char *err, size_t errlen);

/* Describes a receive of WANT bytes that ended early: GOT < 0 means recv
 * failed (errno is read; EAGAIN means SO_RCVTIMEO expired), otherwise the
 * peer closed after GOT bytes:
 * "connection closed after 2 of 4 bytes of the reply length".
 * Always fills ERR; returns nothing to check. */
void wire_describe_short(ssize_t got, size_t want, const char *what,
                         char *err, size_t errlen);

/* Writes BYTES as C-style escaped text into OUT (always NUL-terminated):
 * printable ASCII as is, \n \r \t \\ \" and \xNN for the rest. When OUT is
 * too small the text ends with "...". Returns the number of input bytes shown. */
size_t escape_bytes(const void *bytes, size_t len, char *out, size_t outlen);

#endif
