/* timerheap.c - deadlines in a binary min-heap (see timerheap.h). */
#include "timerheap.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

void timer_init(struct timer *t)
{
    t->deadline_ms = -1;
    t->index = TIMER_OFF;
}

int timerheap_init(struct timerheap *h, size_t capacity)
{
    h->count = 0;
    h->capacity = capacity;
    h->timers = calloc(capacity ? capacity : 1, sizeof *h->timers);
    if (!h->timers) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void timerheap_free(struct timerheap *h)
{
    for (size_t i = 0; i < h->count; i++)
        h->timers[i]->index = TIMER_OFF;
    free(h->timers);
    h->timers = NULL;
    h->count = h->capacity = 0;
}

static void place(struct timerheap *h, size_t i, struct timer *t)
{
    h->timers[i] = t;
    t->index = i;
}

/* T, at place I or coming there, moves up while its parent is later. */
static void sift_up(struct timerheap *h, size_t i, struct timer *t)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->timers[parent]->deadline_ms <= t->deadline_ms)
            break;
        place(h, i, h->timers[parent]);
        i = parent;
    }
    place(h, i, t);
}

/* T, at place I or coming there, moves down while a child is earlier. */
static void sift_down(struct timerheap *h, size_t i, struct timer *t)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count &&
            h->timers[child + 1]->deadline_ms < h->timers[child]->deadline_ms)
            child++;
        if (t->deadline_ms <= h->timers[child]->deadline_ms)
            break;
        place(h, i, h->timers[child]);
        i = child;
    }
    place(h, i, t);
}

int timerheap_set(struct timerheap *h, struct timer *t, long long deadline_ms)
{
    if (t->index == TIMER_OFF) {
        if (h->count == h->capacity) {
            errno = ENOSPC;
            return -1;
        }
        t->deadline_ms = deadline_ms;
        sift_up(h, h->count++, t);
        return 0;
    }
    long long was = t->deadline_ms;
    t->deadline_ms = deadline_ms;
    if (deadline_ms < was)
        sift_up(h, t->index, t);
    else if (deadline_ms > was)
        sift_down(h, t->index, t);
    return 0;
}

void timerheap_cancel(struct timerheap *h, struct timer *t)
{
    if (t->index == TIMER_OFF)
        return;
    size_t i = t->index;
    t->index = TIMER_OFF;
    struct timer *last = h->timers[--h->count];
    if (last == t)
        return;
    /* The last timer fills the hole, then finds its place from there. */
    if (i > 0 && last->deadline_ms < h->timers[(i - 1) / 2]->deadline_ms)
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

struct timer *timerheap_pop_due(struct timerheap *h, long long now_ms)
{
    if (h->count == 0 || h->timers[0]->deadline_ms > now_ms)
        return NULL;
    struct timer *t = h->timers[0];
    timerheap_cancel(h, t);
    return t;
}

int timerheap_wait_ms(const struct timerheap *h, long long now_ms)
{
    if (h->count == 0)
        return -1;
    long long left = h->timers[0]->deadline_ms - now_ms;
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}
