/* bytes.h - a growing byte buffer, and the 32-bit fields the framings
 * write into one. Everything the grader builds or receives is kept in
 * these: the streams of a script, what came on a connection.
 *
 * Nothing here prints or exits: an allocation that fails marks the buffer
 * (FAILED) and the bytes after it are dropped. */
#ifndef GRADER_BYTES_H
#define GRADER_BYTES_H

#include <stddef.h>
#include <stdint.h>

struct bytes {
    unsigned char *p;
    size_t len, cap;
    int failed;               /* an allocation failed: the content is cut */
};

void bytes_add(struct bytes *b, const void *p, size_t len);
void bytes_addf(struct bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bytes_free(struct bytes *b);

/* The bytes of a little-endian / big-endian 32-bit field, and back. */
void put_le32(uint32_t v, unsigned char out[4]);
void put_be32(uint32_t v, unsigned char out[4]);
uint32_t get_le32(const unsigned char in[4]);
uint32_t get_be32(const unsigned char in[4]);

#endif
