/* timerheap.h - deadlines in a binary min-heap: the earliest comes first.
 *
 * An event loop serving many connections has a deadline for each (--idle,
 * --frame-timeout, a command's --timeout) and needs only the earliest: how
 * long epoll_wait may sleep. A binary min-heap (libevent's
 * minheap-internal.h) keeps the earliest at its top: reading it costs
 * nothing, adding, moving or removing one costs O(log n).
 *
 * A timer is a struct the caller embeds in its own (a connection's slot),
 * as libevent's events hold theirs: it knows its place in the heap, so it
 * can be moved or taken out without a search, and from a timer that is due
 * the caller finds what it belongs to.
 *
 * Times are milliseconds of CLOCK_MONOTONIC, read truncated (ftconn_now_ms).
 * Nothing here prints or exits. */
#ifndef NIANBAO_TIMERHEAP_H
#define NIANBAO_TIMERHEAP_H

#include <stddef.h>

struct timer {
    long long deadline_ms;
    size_t index;                 /* its place in the heap; TIMER_OFF: none */
};

#define TIMER_OFF ((size_t)-1)

struct timerheap {
    struct timer **timers;        /* timers[0] has the earliest deadline;   */
    size_t count, capacity;       /* timers[i] is never later than its two
                                     children, timers[2i+1] and timers[2i+2] */
};

/* A timer that is in no heap. */
void timer_init(struct timer *t);

/* An empty heap with room for CAPACITY timers: it never grows, so setting
 * a timer never allocates. Returns 0, or -1 (errno ENOMEM). */
int timerheap_init(struct timerheap *h, size_t capacity);

void timerheap_free(struct timerheap *h);

/* T is due at DEADLINE_MS: put in the heap, or moved if it was there.
 * Returns 0, or -1 (errno ENOSPC) when the heap is full and T was not in
 * it (T is then still in no heap). */
int timerheap_set(struct timerheap *h, struct timer *t, long long deadline_ms);

/* Takes T out of the heap; nothing when it is in none. */
void timerheap_cancel(struct timerheap *h, struct timer *t);

/* Takes out and returns the earliest timer if it is due at NOW_MS; NULL
 * when none is. */
struct timer *timerheap_pop_due(struct timerheap *h, long long now_ms);

/* How long epoll_wait or poll may sleep from NOW_MS: the milliseconds to
 * the earliest deadline (0 when due, at most INT_MAX), -1 (forever) when
 * the heap is empty. NOW_MS read truncated to the millisecond makes this
 * rounded up: the wait never ends before the deadline, so a loop does not
 * wake to find nothing due and spin until it is. */
int timerheap_wait_ms(const struct timerheap *h, long long now_ms);

#endif
