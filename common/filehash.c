/* filehash.c - the SHA-256 of a file, computed beside the transfer (see
 * filehash.h). */
#define _GNU_SOURCE
#include "filehash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* With the lock held: tell a waiting event loop that [0, wake_at) is
 * hashed, or that hashing failed. */
static void wake_if_due(struct file_hash *h)
{
    if (h->wake_at && (h->hashed >= h->wake_at || h->failed_errno)) {
        uint64_t one = 1;
        h->wake_at = 0;
        /* Fails only when the counter is full: it is readable anyway. */
        if (write(h->wake_fd, &one, sizeof one) < 0)
            return;
    }
}

/* Hashes what is allowed and not hashed yet, one chunk at a time, with the
 * lock released while reading and hashing. Called with the lock held;
 * returns with it held. In line (no thread) it runs until caught up. */
static void hash_available(struct file_hash *h)
{
    while (!h->stop && !h->failed_errno && h->hashed < h->limit) {
        uint64_t at = h->hashed, left = h->limit - at;
        size_t want = left < FILE_HASH_CHUNK ? (size_t)left : FILE_HASH_CHUNK;
        pthread_mutex_unlock(&h->lock);
        ssize_t got = pread(h->fd, h->buf, want, (off_t)at);
        int saved = errno;
        if (got > 0)
            digest_update(&h->digest, h->buf, (size_t)got);
        pthread_mutex_lock(&h->lock);
        if (got < 0 && saved == EINTR)
            continue;
        if (got <= 0) {
            /* 0: the file is shorter than its owner said (it shrank). */
            h->failed_errno = got < 0 ? saved : ENODATA;
        } else {
            h->hashed += (uint64_t)got;
        }
        wake_if_due(h);
        pthread_cond_broadcast(&h->changed);
    }
}

static void *hash_thread(void *arg)
{
    struct file_hash *h = arg;

    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        hash_available(h);
        if (h->stop)
            break;
        pthread_cond_wait(&h->changed, &h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int file_hash_start(struct file_hash *h, int fd, uint64_t limit, int threaded,
                    char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->fd = fd;
    h->wake_fd = -1;
    h->limit = limit;
    h->threaded = threaded;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    h->buf = malloc(FILE_HASH_CHUNK);
    if (!h->buf || digest_init(&h->digest, DIGEST_SHA256) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (threaded) {
        int rc = pthread_create(&h->thread, NULL, hash_thread, h);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the hashing thread: %s", strerror(rc));
            goto fail;
        }
        h->thread_started = 1;
    }
    return 0;
fail:
    digest_free(&h->digest);
    free(h->buf);
    h->buf = NULL;
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->changed);
    return -1;
}

void file_hash_advance(struct file_hash *h, uint64_t limit)
{
    pthread_mutex_lock(&h->lock);
    if (limit > h->limit) {
        h->limit = limit;
        /* The thread sleeps only when it has caught up: wake it for a whole
         * chunk, not for every piece written (file_hash_peek and _finish
         * wake it for the rest). */
        if (!h->threaded)
            hash_available(h);
        else if (h->limit - h->hashed >= FILE_HASH_CHUNK)
            pthread_cond_broadcast(&h->changed);
    }
    pthread_mutex_unlock(&h->lock);
}

/* Waits (with the lock held) until [0, AT) is hashed or hashing failed. */
static int wait_for(struct file_hash *h, uint64_t at, char *err, size_t errlen)
{
    if (!h->threaded)
        hash_available(h);
    else
        pthread_cond_broadcast(&h->changed);    /* it may wait for a whole chunk */
    while (h->hashed < at && !h->failed_errno)
        pthread_cond_wait(&h->changed, &h->lock);
    if (h->hashed >= at)
        return 0;
    if (h->failed_errno == ENODATA)
        snprintf(err, errlen, "the file ended after %" PRIu64 " of %" PRIu64 " bytes while "
                 "being hashed", h->hashed, at);
    else
        snprintf(err, errlen, "reading the file to hash it: %s", strerror(h->failed_errno));
    return -1;
}

int file_hash_peek(struct file_hash *h, uint64_t at, char hex[DIGEST_HEX_MAX],
                   char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&h->lock);
    if (at > h->limit) {
        snprintf(err, errlen, "cannot hash %" PRIu64 " bytes: only %" PRIu64 " are there",
                 at, h->limit);
        rc = -1;
    } else if (h->hashed > at) {
        snprintf(err, errlen, "hashed past %" PRIu64 " already", at);
        rc = -1;
    } else {
        /* Hash exactly up to AT, not past it: hold the limit there. */
        uint64_t limit = h->limit;
        h->limit = at;
        rc = wait_for(h, at, err, errlen);
        h->limit = limit;
        if (rc == 0 && digest_peek_hex(&h->digest, hex) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        pthread_cond_broadcast(&h->changed);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int file_hash_done(struct file_hash *h)
{
    pthread_mutex_lock(&h->lock);
    int done = h->hashed >= h->limit || h->failed_errno != 0;
    pthread_mutex_unlock(&h->lock);
    return done;
}

int file_hash_ready(struct file_hash *h, uint64_t at, int *wake_fd)
{
    int rc = 1;

    pthread_mutex_lock(&h->lock);
    if (h->hashed < at && !h->failed_errno) {
        if (h->wake_fd < 0)
            h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->wake_fd < 0) {
            rc = -1;
        } else {
            h->wake_at = at;
            *wake_fd = h->wake_fd;
            rc = 0;
            /* It may sleep until a whole chunk is allowed (see
             * file_hash_advance): the rest is wanted now. */
            pthread_cond_broadcast(&h->changed);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static void stop_and_free(struct file_hash *h)
{
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started)
        pthread_join(h->thread, NULL);
    h->thread_started = 0;
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    h->wake_fd = -1;
    digest_free(&h->digest);
    free(h->buf);
    h->buf = NULL;
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->changed);
}

int file_hash_finish(struct file_hash *h, char hex[DIGEST_HEX_MAX], char *err, size_t errlen)
{
    pthread_mutex_lock(&h->lock);
    int rc = wait_for(h, h->limit, err, errlen);
    pthread_mutex_unlock(&h->lock);
    hex[0] = '\0';
    if (rc == 0)
        digest_final_hex(&h->digest, hex);
    stop_and_free(h);
    return rc;
}

void file_hash_cancel(struct file_hash *h)
{
    stop_and_free(h);
}
