/* filehash.h - the SHA-256 of a file, computed beside the transfer.
 *
 * Stage 5 proves every file it moves with SHA-256, on both ends. Hashing
 * the bytes in line would add the hash's time to the transfer's; instead a
 * file_hash follows the file: the bytes are sent with sendfile, or received
 * and written, and a second thread reads them back from the page cache
 * (pread) and hashes them meanwhile. Whoever writes the file says how far it
 * holds valid bytes (file_hash_advance); the hasher never reads past that.
 *   server get:  the whole file [0, F) is there at once;
 *   server put:  the partial file grows as the body arrives;
 *   client get:  the download's temporary file grows;
 *   client put:  the local file [0, F) is there at once.
 * A resumed transfer needs the digest of the part already there first
 * (file_hash_peek at the offset), then goes on hashing from it.
 *
 * Without a thread (THREADED = 0, for an event loop that wants none),
 * file_hash_advance hashes in line.
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_FILEHASH_H
#define NIANBAO_FILEHASH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define FILE_HASH_CHUNK (1 << 20)

struct file_hash {
    int fd;                   /* read with pread: the owner's offset is kept */
    struct digest digest;
    uint64_t hashed;          /* bytes [0, hashed) are in the digest          */
    uint64_t limit;           /* bytes [0, limit) may be read                 */
    int threaded, stop, failed_errno;
    int thread_started;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned char *buf;
};

/* Starts hashing FD from byte 0, allowed up to LIMIT (more with
 * file_hash_advance). Returns 0, or -1 with ERR filled (memory, thread). */
int file_hash_start(struct file_hash *h, int fd, uint64_t limit, int threaded,
                    char *err, size_t errlen);

/* The file now holds valid bytes [0, LIMIT). Never moves back. */
void file_hash_advance(struct file_hash *h, uint64_t limit);

/* Waits until [0, AT) is hashed (AT <= the limit) and writes that digest
 * into HEX; hashing goes on. Returns 0, or -1 with ERR filled (a read
 * failed, or the file is shorter than AT: "the file ends at N of M"). */
int file_hash_peek(struct file_hash *h, uint64_t at, char hex[DIGEST_HEX_MAX],
                   char *err, size_t errlen);

/* Waits until [0, limit) is hashed, writes the digest into HEX and frees
 * everything. Returns 0, or -1 with ERR filled (and everything freed). */
int file_hash_finish(struct file_hash *h, char hex[DIGEST_HEX_MAX], char *err, size_t errlen);

/* Stops at once and frees everything (the transfer failed). */
void file_hash_cancel(struct file_hash *h);

#endif
