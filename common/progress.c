/* progress.c - a transfer's progress bar (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_human(double bytes, char *out, size_t outlen)
{
    const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;

    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, outlen, "%.1f %s", bytes, units[u]);
}

void progress_start(struct progress *p, int on, uint64_t total, uint64_t start_at)
{
    p->on = on;
    p->total = total;
    p->start_at = start_at;
    p->started = now_s();
    p->drawn = p->started;      /* the first redraw after 0.1 s: a rate by then means something */
}

int progress_line(struct progress *p, uint64_t done, int final, char *out, size_t outlen)
{
    char have[32], total[32], rate_text[32], left[32], line[160];
    double now = now_s();

    if (!p->on || (!final && now - p->drawn < 0.1))
        return 0;
    p->drawn = now;
    double elapsed = now - p->started, moved = (double)(done - p->start_at);
    double rate = elapsed > 0 ? moved / elapsed : 0;
    progress_human((double)done, have, sizeof have);
    progress_human((double)p->total, total, sizeof total);
    progress_human(rate, rate_text, sizeof rate_text);
    if (final || done >= p->total)
        snprintf(left, sizeof left, "done");
    else if (rate > 0) {
        unsigned long secs = (unsigned long)((double)(p->total - done) / rate + 0.5);
        snprintf(left, sizeof left, "%lu:%02lu:%02lu left", secs / 3600, secs / 60 % 60, secs % 60);
    } else
        snprintf(left, sizeof left, "--:--:-- left");
    int pct = p->total ? (int)((double)done * 100 / (double)p->total) : 100;
    snprintf(line, sizeof line, "\r%10s / %-10s %3d%%  %10s/s  %s", have, total, pct,
             rate_text, left);
    snprintf(out, outlen, "%-64s%s", line, final ? "\n" : "");
    return 1;
}

void progress_draw(struct progress *p, uint64_t done, int final, FILE *to)
{
    char line[160];

    if (progress_line(p, done, final, line, sizeof line)) {
        fputs(line, to);
        fflush(to);
    }
}
