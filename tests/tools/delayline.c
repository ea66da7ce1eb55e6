/* delayline - a link with a delay, for a kernel without netem.
 *
 * The classroom test (tests/heavy/serial/classroom.bats) joins each room
 * to the teacher's bridge with a link that delays every frame by 20 ms, as
 * `tc qdisc add ... netem delay 20ms` does. Where the kernel has no netem
 * (the machines this lab is tested on), this program is that link: each
 * pair of tap devices, one in each network namespace, is joined through
 * it, and every frame that leaves one end comes out of the other DELAY
 * later, in order. Queued frames are held in a ring per direction; one
 * that finds the ring full is dropped, as netem drops past its limit.
 *
 * The taps exist already (`ip -n NS tuntap add dev NAME mode tap`, set up
 * with their MTU and address); this program only attaches to them, so a
 * tap has a carrier while it runs. It prints one line when every end is
 * attached, and its counts when it ends (SIGTERM, SIGINT). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "duration.h"

#define PROG_NAME "delayline"
#define FRAME_MAX 1600            /* an Ethernet frame of MTU 1500 and more */
#define MAX_PAIRS 16
#define END_MAX 4096              /* DEV@NETNS, the namespace's path included */

struct slot {
    uint64_t due_ns;
    uint16_t len;
    unsigned char data[FRAME_MAX];
};

/* One direction of a pair: frames read from FROM, written to TO. */
struct way {
    int from, to;
    struct slot *ring;
    size_t head, count;
    unsigned long long passed, dropped_full, dropped_big, lost;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* 1 when the LEN bytes at END read DEV@NETNS: a device name that fits
 * IFNAMSIZ, '@', a namespace; shorter than END_MAX. */
static int end_named(const char *end, size_t len)
{
    const char *at = memchr(end, '@', len);
    return len < END_MAX && at && at > end && (size_t)(at - end) < IFNAMSIZ &&
           (size_t)(at - end) + 1 < len;
}

/* Opens the tap END ("NAME@NETNS": NETNS a name under /run/netns, or a
 * path) in its namespace. Returns the descriptor, or -1 with ERR filled. */
static int open_end(const char *end, int home_ns, char *err, size_t errlen)
{
    char name[IFNAMSIZ], path[END_MAX + 16];
    const char *at = strchr(end, '@');

    if (!end_named(end, strlen(end))) {    /* checked with the operands */
        snprintf(err, errlen, "'%s' is not DEV@NETNS", end);
        return -1;
    }
    memcpy(name, end, (size_t)(at - end));
    name[at - end] = '\0';
    if (strchr(at + 1, '/'))
        snprintf(path, sizeof path, "%s", at + 1);
    else
        snprintf(path, sizeof path, "/run/netns/%s", at + 1);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        snprintf(err, errlen, "cannot open the network namespace %s: %s", path, strerror(errno));
        return -1;
    }
    if (setns(ns, CLONE_NEWNET) < 0) {
        snprintf(err, errlen, "cannot enter the network namespace %s: %s", path, strerror(errno));
        close(ns);
        return -1;
    }
    close(ns);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "cannot attach to the tap %s in %s: %s", name, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (setns(home_ns, CLONE_NEWNET) < 0 && fd >= 0) {
        snprintf(err, errlen, "cannot go back to our network namespace: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Reads every frame waiting on W->from into W's ring, due DELAY from now. */
static void take(struct way *w, size_t limit, uint64_t delay_ns)
{
    unsigned char spill[FRAME_MAX + 1];

    for (;;) {
        int full = w->count == limit;
        struct slot *s = full ? NULL : &w->ring[(w->head + w->count) % limit];
        ssize_t n = full ? read(w->from, spill, sizeof spill) : read(w->from, s->data, FRAME_MAX);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;    /* EAGAIN: all read (an error: the next wake-up says) */
        }
        if (full) {
            w->dropped_full++;
        } else if (n >= FRAME_MAX) {
            w->dropped_big++;    /* may have been cut: never pass part of a frame */
        } else {
            s->due_ns = now_ns() + delay_ns;
            s->len = (uint16_t)n;
            w->count++;
        }
    }
}

/* Writes every frame of W that is due by NOW; returns the next due time
 * (0: none queued). */
static uint64_t give(struct way *w, size_t limit, uint64_t now)
{
    while (w->count > 0) {
        struct slot *s = &w->ring[w->head];
        if (s->due_ns > now)
            return s->due_ns;
        if (write(w->to, s->data, s->len) == (ssize_t)s->len)
            w->passed++;
        else
            w->lost++;    /* the far end down, or its queue full */
        w->head = (w->head + 1) % limit;
        w->count--;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long delay_ms = 20, limit = 4096;
    const struct cli_option options[] = {
        { "delay", 'd', CLI_DURATION, &delay_ms, "SECS",
          "how long each frame takes to cross (default 20ms)", 0, DURATION_S(10) },
        { "limit", 'l', CLI_UINT, &limit, "N",
          "frames held each way; one more is dropped (default 4096)", 1, 65536 },
    };
    const struct cli_program prog = {
        .name = PROG_NAME,
        .summary = "joins pairs of tap devices through a link that delays every frame",
        .version = "a lab tool, not in the document: netem's delay where the kernel has none",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .epilog = "Each operand is a pair A=B, each end DEV@NETNS: a tap device (made by\n"
                  "`ip -n NETNS tuntap add dev DEV mode tap`) in a network namespace (a name\n"
                  "under /run/netns, or a path). Frames up to 1599 bytes (MTU 1500 and a\n"
                  "VLAN tag); a longer one is dropped. Prints one line once every end is\n"
                  "attached; SIGTERM or SIGINT end it, with its counts.\n"
                  "Example: " PROG_NAME " --delay 20ms eth0@room1=room1@teacher",
    };
    struct cli_outcome outcome;
    struct way ways[2 * MAX_PAIRS];
    size_t n_ways = 0;
    char err[END_MAX + 200];
    int status = 1, home_ns = -1, ep = -1, tfd = -1, sfd = -1;

    if (cli_std_fds_open() < 0)
        return 1;
    memset(ways, 0, sizeof ways);
    cli_parse_operands(&prog, "A=B...", 0, argc, argv, &outcome);
    if (outcome.run && outcome.first_operand >= argc)
        cli_usage_error(&prog, &outcome, "no pair of taps to join: give at least one A=B");
    else if (outcome.run && argc - outcome.first_operand > MAX_PAIRS)
        cli_usage_error(&prog, &outcome, "at most %d pairs", MAX_PAIRS);
    if (!outcome.run) {
        fputs(outcome.text, outcome.to_stderr ? stderr : stdout);
        return outcome.exit_status;
    }
    for (int i = outcome.first_operand; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || !end_named(argv[i], (size_t)(eq - argv[i])) || !end_named(eq + 1, strlen(eq + 1))) {
            cli_usage_error(&prog, &outcome, "'%.100s%s' is not a pair A=B of DEV@NETNS ends",
                            argv[i], strlen(argv[i]) > 100 ? "..." : "");
            fputs(outcome.text, stderr);
            return outcome.exit_status;
        }
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (home_ns < 0 || ep < 0 || tfd < 0 || sigprocmask(SIG_BLOCK, &stop, NULL) < 0 ||
        (sfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up: %s\n", strerror(errno));
        goto out;
    }
    for (int i = outcome.first_operand; i < argc; i++) {
        char a[END_MAX];
        const char *eq = strchr(argv[i], '=');
        snprintf(a, sizeof a, "%.*s", (int)(eq - argv[i]), argv[i]);
        int fa = open_end(a, home_ns, err, sizeof err);
        int fb = fa < 0 ? -1 : open_end(eq + 1, home_ns, err, sizeof err);
        if (fb < 0) {
            fprintf(stderr, PROG_NAME ": %s\n", err);
            if (fa >= 0)
                close(fa);
            goto out;
        }
        ways[n_ways] = (struct way){ .from = fa, .to = fb };
        ways[n_ways + 1] = (struct way){ .from = fb, .to = fa };
        for (int k = 0; k < 2; k++) {
            ways[n_ways + k].ring = malloc(limit * sizeof(struct slot));
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = n_ways + k };
            if (!ways[n_ways + k].ring || epoll_ctl(ep, EPOLL_CTL_ADD, ways[n_ways + k].from, &ev) < 0) {
                fprintf(stderr, PROG_NAME ": cannot set up: %s\n", strerror(errno));
                n_ways += 2;
                goto out;
            }
        }
        n_ways += 2;
    }
    struct epoll_event tev = { .events = EPOLLIN, .data.u64 = UINT64_MAX - 1 };
    struct epoll_event sev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
        fprintf(stderr, PROG_NAME ": cannot set up: %s\n", strerror(errno));
        goto out;
    }
    fprintf(stderr, "delaying every frame by %lu ms on %zu pairs of taps\n", delay_ms, n_ways / 2);

    uint64_t delay_ns = (uint64_t)delay_ms * 1000000ULL, armed = 0;
    for (;;) {
        struct epoll_event evs[2 * MAX_PAIRS + 2];
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG_NAME ": epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == UINT64_MAX) {
                status = 0;
                goto out;
            }
            if (evs[i].data.u64 == UINT64_MAX - 1) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                    goto out;
                armed = 0;
            } else {
                take(&ways[evs[i].data.u64], limit, delay_ns);
            }
        }
        /* Every way passes what is due; the timer is set for the earliest
         * frame still held. */
        uint64_t now = now_ns(), next = 0;
        for (size_t w = 0; w < n_ways; w++) {
            uint64_t due = give(&ways[w], limit, now);
            if (due && (!next || due < next))
                next = due;
        }
        if (next && next != armed) {
            struct itimerspec its = { .it_value = { .tv_sec = (time_t)(next / 1000000000ULL),
                                                    .tv_nsec = (long)(next % 1000000000ULL) } };
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
                fprintf(stderr, PROG_NAME ": timerfd_settime: %s\n", strerror(errno));
                goto out;
            }
            armed = next;
        }
    }

out:
    if (n_ways > 0) {
        unsigned long long passed = 0, full = 0, big = 0, lost = 0;
        for (size_t w = 0; w < n_ways; w++) {
            passed += ways[w].passed;
            full += ways[w].dropped_full;
            big += ways[w].dropped_big;
            lost += ways[w].lost;
        }
        fprintf(stderr, PROG_NAME ": passed %llu frames; dropped %llu (queue full), %llu (too long), "
                "%llu (the far end refused them)\n", passed, full, big, lost);
    }
    for (size_t w = 0; w < n_ways; w++) {
        free(ways[w].ring);
        if (w % 2 == 0) {
            close(ways[w].from);
            close(ways[w].to);
        }
    }
    if (sfd >= 0)
        close(sfd);
    if (tfd >= 0)
        close(tfd);
    if (ep >= 0)
        close(ep);
    if (home_ns >= 0)
        close(home_ns);
    return status;
}
