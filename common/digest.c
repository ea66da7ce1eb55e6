/* digest.c - MD5 and SHA-256 through libcrypto's EVP interface (see digest.h). */
#include "digest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* The ring between digest_update (the producer, the caller's thread) and
 * the hashing thread. Slots are filled in order; [head, head + queued) are
 * full and wait for (or are in) the hash; the producer fills slot `filling`,
 * which is never one of them. */
struct digest_behind {
    pthread_t thread;
    EVP_MD_CTX *ctx;          /* the digest's: the thread's alone while it runs */
    pthread_mutex_t lock;
    pthread_cond_t work, room;
    unsigned char *slot[DIGEST_BEHIND_SLOTS];
    size_t slot_len[DIGEST_BEHIND_SLOTS];
    unsigned head, queued;    /* under the lock */
    int stop;                 /* under the lock */
    unsigned filling;         /* the producer's alone */
    size_t filled;
};

/* What struct digest's ctx points to. */
struct digest_state {
    EVP_MD_CTX *md;
    int may_go_behind;        /* digest_init_behind, thread not tried yet */
    size_t given;             /* bytes hashed in line so far              */
    struct digest_behind *behind;   /* the hashing thread, once started  */
};

static const EVP_MD *digest_md(enum digest_kind kind)
{
    switch (kind) {
    case DIGEST_MD5: return EVP_md5();
    case DIGEST_SHA256: return EVP_sha256();
    case DIGEST_NONE: break;
    }
    return NULL;
}

int digest_init(struct digest *d, enum digest_kind kind)
{
    const EVP_MD *md = digest_md(kind);
    struct digest_state *s;

    d->kind = kind;
    d->ctx = NULL;
    if (!md) {
        errno = EINVAL;
        return -1;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->md, md, NULL) != 1) {
        if (s)
            EVP_MD_CTX_free(s->md);
        free(s);
        errno = ENOMEM;
        return -1;
    }
    d->ctx = s;
    return 0;
}

int digest_init_behind(struct digest *d, enum digest_kind kind)
{
    if (digest_init(d, kind) < 0)
        return -1;
    ((struct digest_state *)d->ctx)->may_go_behind = 1;
    return 0;
}

static void *behind_thread(void *arg)
{
    struct digest_behind *b = arg;

    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (b->queued == 0 && !b->stop)
            pthread_cond_wait(&b->work, &b->lock);
        if (b->stop)
            break;              /* drained first, or not wanted any more */
        unsigned at = b->head;
        pthread_mutex_unlock(&b->lock);
        EVP_DigestUpdate(b->ctx, b->slot[at], b->slot_len[at]);
        pthread_mutex_lock(&b->lock);
        b->head = (at + 1) % DIGEST_BEHIND_SLOTS;
        b->queued--;
        /* The producer waits for half the ring (or all of it, to drain):
         * one wake-up per half ring, not one per slot. */
        if (b->queued == DIGEST_BEHIND_SLOTS / 2 || b->queued == 0)
            pthread_cond_signal(&b->room);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void behind_free_slots(struct digest_behind *b)
{
    for (int i = 0; i < DIGEST_BEHIND_SLOTS; i++)
        free(b->slot[i]);
    free(b);
}

/* Starts the thread; leaves s->behind NULL (hash in line) when it cannot. */
static void behind_start(struct digest_state *s)
{
    struct digest_behind *b = calloc(1, sizeof *b);
    sigset_t all, old;

    s->may_go_behind = 0;       /* one try */
    if (!b)
        return;
    for (int i = 0; i < DIGEST_BEHIND_SLOTS; i++) {
        if (!(b->slot[i] = malloc(DIGEST_BEHIND_SLOT))) {
            behind_free_slots(b);
            return;
        }
    }
    b->ctx = s->md;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->room, NULL);
    /* Signals stay with the caller's thread: its recv sees EINTR, its
     * handlers run where they expect. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&b->thread, NULL, behind_thread, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->work);
        pthread_cond_destroy(&b->room);
        behind_free_slots(b);
        return;
    }
    s->behind = b;
}

/* Hands the slot being filled to the thread; when that fills the ring,
 * waits until the thread has emptied half of it. */
static void behind_hand_over(struct digest_behind *b)
{
    pthread_mutex_lock(&b->lock);
    b->slot_len[b->filling] = b->filled;
    b->queued++;
    pthread_cond_signal(&b->work);
    if (b->queued == DIGEST_BEHIND_SLOTS) {
        while (b->queued > DIGEST_BEHIND_SLOTS / 2)
            pthread_cond_wait(&b->room, &b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    b->filling = (b->filling + 1) % DIGEST_BEHIND_SLOTS;
    b->filled = 0;
}

/* Waits until every byte given is in the context. */
static void behind_drain(struct digest_behind *b)
{
    if (b->filled > 0)
        behind_hand_over(b);
    pthread_mutex_lock(&b->lock);
    while (b->queued > 0)
        pthread_cond_wait(&b->room, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

/* Stops the thread (without waiting for what it has not hashed yet). */
static void behind_stop(struct digest_state *s)
{
    struct digest_behind *b = s->behind;

    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->room);
    behind_free_slots(b);
    s->behind = NULL;
}

void digest_update(struct digest *d, const void *bytes, size_t len)
{
    struct digest_state *s = d->ctx;
    const unsigned char *p = bytes;

    if (!s || len == 0)
        return;
    if (s->may_go_behind) {
        if (len <= DIGEST_BEHIND_AFTER - s->given) {
            s->given += len;
            EVP_DigestUpdate(s->md, p, len);
            return;
        }
        behind_start(s);
    }
    struct digest_behind *b = s->behind;
    if (!b) {
        EVP_DigestUpdate(s->md, p, len);
        return;
    }
    while (len > 0) {
        size_t room = DIGEST_BEHIND_SLOT - b->filled;
        size_t take = len < room ? len : room;
        memcpy(b->slot[b->filling] + b->filled, p, take);
        b->filled += take;
        p += take;
        len -= take;
        if (b->filled == DIGEST_BEHIND_SLOT)
            behind_hand_over(b);
    }
}

void digest_final_hex(struct digest *d, char hex[DIGEST_HEX_MAX])
{
    static const char digits[] = "0123456789abcdef";
    struct digest_state *s = d->ctx;
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    hex[0] = '\0';
    if (!s)
        return;
    if (s->behind) {
        behind_drain(s->behind);
        behind_stop(s);
    }
    if (EVP_DigestFinal_ex(s->md, raw, &len) == 1 && len * 2 < DIGEST_HEX_MAX) {
        for (unsigned int i = 0; i < len; i++) {
            hex[2 * i] = digits[raw[i] >> 4];
            hex[2 * i + 1] = digits[raw[i] & 15];
        }
        hex[2 * len] = '\0';
    }
    digest_free(d);
}

int digest_peek_hex(const struct digest *d, char hex[DIGEST_HEX_MAX])
{
    struct digest_state *s = d->ctx;
    struct digest copy;

    hex[0] = '\0';
    if (!s || digest_init(&copy, d->kind) < 0)
        return -1;
    if (s->behind)
        behind_drain(s->behind);
    struct digest_state *c = copy.ctx;
    if (EVP_MD_CTX_copy_ex(c->md, s->md) != 1) {
        digest_free(&copy);
        return -1;
    }
    digest_final_hex(&copy, hex);
    return 0;
}

void digest_free(struct digest *d)
{
    struct digest_state *s = d->ctx;

    if (s) {
        behind_stop(s);
        EVP_MD_CTX_free(s->md);
        free(s);
    }
    d->ctx = NULL;
}

size_t digest_hex_len(enum digest_kind kind)
{
    switch (kind) {
    case DIGEST_MD5: return 32;
    case DIGEST_SHA256: return 64;
    case DIGEST_NONE: break;
    }
    return 0;
}

int digest_is_hex(enum digest_kind kind, const char *text)
{
    size_t want = digest_hex_len(kind);
    return want > 0 && strlen(text) == want &&
           strspn(text, "0123456789abcdefABCDEF") == want;
}

void digest_thread_end(void)
{
    OPENSSL_thread_stop();
}
