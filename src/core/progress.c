/* A progress bar on stderr, drawn only for people watching a terminal. */
#include "config.h"
#include "mfr/core.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_DELAY 1.0     /* seconds before the first draw */
#define PROGRESS_PERIOD 0.1    /* seconds between redraws */

void mfr_progress_begin(mfr_progress *p, const char *label, uint64_t total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->start = mfr_time_now();
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

static void format_seconds(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(mfr_progress *p, double now)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    char eta[32] = "--:--", bar[31];
    int filled = 0;
    if (p->total > 0) {
        filled = (int)(30.0 * (double)p->done / (double)p->total);
        if (filled > 30)
            filled = 30;
        if (rate > 0 && p->done <= p->total)
            format_seconds((double)(p->total - p->done) / rate, eta, sizeof eta);
    }
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(30 - filled));
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %llu/%llu %.1f/s ETA %s  ", p->label ? p->label : "", bar,
            (unsigned long long)p->done, (unsigned long long)p->total, rate, eta);
    fflush(stderr);
    p->drawn = 1;
    p->last_draw = now;
}

void mfr_progress_update(mfr_progress *p, uint64_t done)
{
    double now;
    p->done = done;
    if (!p->enabled)
        return;
    now = mfr_time_now();
    if (now - p->start < PROGRESS_DELAY || now - p->last_draw < PROGRESS_PERIOD)
        return;
    draw(p, now);
}

void mfr_progress_end(mfr_progress *p)
{
    if (p->enabled && p->drawn) {
        draw(p, mfr_time_now());
        fputc('\n', stderr);
    }
    p->enabled = 0;
}
