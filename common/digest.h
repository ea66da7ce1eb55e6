/* digest.h - MD5 (stage 4, as the document) and SHA-256 (stage 5 on), from
 * OpenSSL's libcrypto: it has assembly for both, and uses this CPU's SHA
 * extensions for SHA-256 (see the stage 4 and 5 READMEs for the figures).
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_DIGEST_H
#define NIANBAO_DIGEST_H

#include <stddef.h>

enum digest_kind { DIGEST_NONE = 0, DIGEST_MD5, DIGEST_SHA256 };

/* Room for the longest hex digest (SHA-256: 64 digits) and the NUL. */
#define DIGEST_HEX_MAX 65

struct digest {
    enum digest_kind kind;
    void *ctx;                /* digest.c's state (libcrypto's context) */
};

/* Returns 0, or -1 (out of memory; KIND unknown: EINVAL). */
int digest_init(struct digest *d, enum digest_kind kind);

/* The same, but once more than DIGEST_BEHIND_AFTER bytes were given,
 * digest_update copies the bytes into a bounded ring (DIGEST_BEHIND_SLOTS
 * slots of DIGEST_BEHIND_SLOT bytes) and returns: a second thread hashes
 * them meanwhile, so the caller's reading and writing overlap the hash
 * (stage 4's server and client, whose MD5 costs more than the transfer).
 * A short input never starts the thread. When the thread cannot start,
 * the bytes are hashed in line: the result is the same either way. */
int digest_init_behind(struct digest *d, enum digest_kind kind);
#define DIGEST_BEHIND_AFTER (1u << 20)
#define DIGEST_BEHIND_SLOT (512u << 10)
#define DIGEST_BEHIND_SLOTS 8
void digest_update(struct digest *d, const void *bytes, size_t len);
/* Writes the lower-case hex digest into HEX (DIGEST_HEX_MAX bytes) and
 * frees the context (and stops the thread of digest_init_behind). */
void digest_final_hex(struct digest *d, char hex[DIGEST_HEX_MAX]);
/* Writes the hex digest of the bytes given so far into HEX, and goes on:
 * more digest_update calls may follow (a resumed transfer checks the part
 * already there, then hashes the rest). Returns 0, or -1 (out of memory;
 * HEX is then ""). */
int digest_peek_hex(const struct digest *d, char hex[DIGEST_HEX_MAX]);
/* Frees the context without a result (after an error). */
void digest_free(struct digest *d);

/* Frees what libcrypto keeps for the calling thread (its error queue).
 * A thread that used a digest and is not joined calls it before it tells
 * anyone it is done: otherwise a process that exits the moment it hears
 * so may exit while the thread is still freeing that state. */
void digest_thread_end(void);

/* The number of hex digits of KIND's digest: 32, 64, or 0. */
size_t digest_hex_len(enum digest_kind kind);

/* 1 when TEXT is exactly KIND's number of hex digits (either case). */
int digest_is_hex(enum digest_kind kind, const char *text);

#endif
