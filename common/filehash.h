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
 * Without a thread (THREADED = 0), file_hash_advance hashes in line. An
 * event loop must not wait for a hash of any size (stage 6's poll model:
 * one resumed get of a 4 GiB file would stall every client while its
 * prefix is hashed): it hashes in the thread and asks file_hash_ready
 * before file_hash_peek or file_hash_finish, which then never wait; until
 * then it watches the descriptor file_hash_ready hands it.
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
    int wake_fd;              /* eventfd for file_hash_ready, -1 until asked */
    uint64_t wake_at;         /* write wake_fd once [0, wake_at) is hashed   */
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

/* 1 when [0, limit) is hashed (or hashing failed), so file_hash_finish
 * will not wait: for an event loop that must not block. */
int file_hash_done(struct file_hash *h);

/* For an event loop (THREADED only): 1 when [0, AT) is hashed or hashing
 * failed, so file_hash_peek at AT (AT: the limit given so far) or
 * file_hash_finish (AT: the limit) returns without waiting. Else 0, and
 * the thread makes *WAKE_FD readable (an eventfd, non-blocking; read it
 * to clear it) once that is so: watch it, then ask again. The descriptor
 * is the hash's until file_hash_finish or _cancel closes it. Returns -1
 * (errno) when no eventfd can be made. */
int file_hash_ready(struct file_hash *h, uint64_t at, int *wake_fd);

/* Waits until [0, limit) is hashed, writes the digest into HEX and frees
 * everything. Returns 0, or -1 with ERR filled (and everything freed). */
int file_hash_finish(struct file_hash *h, char hex[DIGEST_HEX_MAX], char *err, size_t errlen);

/* Stops at once and frees everything (the transfer failed). */
void file_hash_cancel(struct file_hash *h);

#endif
