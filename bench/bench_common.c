/* Timing, FMA peak, bandwidth and reporting for mfr bench. */
#include "config.h"
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void settle(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One thread: this thread's CPU time. Every contender then runs in the
 * calling thread (OpenBLAS, BLIS and oneDNN do at one thread, as do we), so
 * the time does not include other processes that share the cores. More
 * threads: wall time. */
static double sample_clock(int threads)
{
    if (threads == 1) {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
            return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    return mfr_time_now();
}

int bench_measure(const bench_opts *o, bench_contender *c, int nc, int threads, bench_result *r)
{
    long iters[BENCH_MAX_CONTENDERS];
    double samples[BENCH_MAX_CONTENDERS][BENCH_MAX_REPS] = {{0}};
    int reps = o->reps < 1 ? 1 : o->reps > BENCH_MAX_REPS ? BENCH_MAX_REPS : o->reps;
    if (nc > BENCH_MAX_CONTENDERS)
        nc = BENCH_MAX_CONTENDERS;
    /* Warm-up: caches, page faults, thread pools, lazy initialisation; it
     * also sizes each contender's batch so that one sample lasts sample_s. */
    for (int i = 0; i < nc; i++) {
        if (c[i].set_threads)
            c[i].set_threads(threads);
        c[i].run(c[i].ctx);
        double t0 = mfr_time_now(), t;
        long n = 0;
        do {
            c[i].run(c[i].ctx);
            n++;
            t = mfr_time_now() - t0;
        } while (t < 0.02 && n < 1000);
        double per = t / (double)n;
        iters[i] = (long)ceil(o->sample_s / (per > 1e-9 ? per : 1e-9));
        if (iters[i] < 1)
            iters[i] = 1;
        if (iters[i] > 100000)
            iters[i] = 100000;
        settle(c[i].settle_s);
    }
    for (int rep = 0; rep < reps; rep++)
        for (int q = 0; q < nc; q++) {
            int i = (q + rep) % nc; /* rotate who goes first */
            if (c[i].set_threads)
                c[i].set_threads(threads);
            /* An untimed pass of the same length first: a contender that
             * follows another one pays for the other's footprint in the
             * caches, and with 64 MiB working sets (the streaming depthwise
             * rows) its first calls ran up to twice as slow for about 25 ms
             * (session 10). With three contenders in rotating order that
             * fell on mfr in two rounds of three and on oneDNN in one. */
            for (long it = 0; it < iters[i]; it++)
                c[i].run(c[i].ctx);
            double t0 = sample_clock(threads);
            for (long it = 0; it < iters[i]; it++)
                c[i].run(c[i].ctx);
            samples[i][rep] = (sample_clock(threads) - t0) / (double)iters[i];
            settle(c[i].settle_s);
        }
    r->threads = threads;
    r->ncont = nc;
    r->reps = reps;
    memcpy(r->round_s, samples, sizeof samples);
    for (int i = 0; i < nc; i++) {
        qsort(samples[i], (size_t)reps, sizeof(double), cmp_double);
        r->median_s[i] = reps % 2 ? samples[i][reps / 2] : 0.5 * (samples[i][reps / 2 - 1] + samples[i][reps / 2]);
        r->min_s[i] = samples[i][0];
        snprintf(r->names[i], sizeof r->names[i], "%s", c[i].name);
    }
    return MFR_OK;
}

/* Quantile q of the sorted v[0..n-1], interpolated between neighbours (for
 * q = 0.5 and even n: the mean of the two middle values, as the median). */
static double quantile_sorted(const double *v, int n, double q)
{
    double pos = q * (double)(n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1)
        return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

double bench_paired_ratio(const bench_result *r, int i, int j, double q)
{
    double ratio[BENCH_MAX_REPS];
    int n = 0;
    for (int k = 0; k < r->reps; k++)
        if (r->round_s[j][k] > 0)
            ratio[n++] = r->round_s[i][k] / r->round_s[j][k];
    if (n == 0)
        return 0.0;
    qsort(ratio, (size_t)n, sizeof(double), cmp_double);
    return quantile_sorted(ratio, n, q);
}

int bench_table_add(bench_table *t, const bench_result *r)
{
    if (t->count == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        bench_result *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        if (!rows)
            return mfr_error(MFR_ERR_NOMEM, "bench: out of memory");
        t->rows = rows;
        t->cap = cap;
    }
    t->rows[t->count++] = *r;
    return MFR_OK;
}

void bench_table_free(bench_table *t)
{
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- FMA peak */

#if defined(__x86_64__) && defined(__GNUC__)
#define PEAK_CHAINS 12
__attribute__((target("avx512f,fma"))) static double peak_loop_avx512(long iters)
{
    __m512 acc[PEAK_CHAINS], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int j = 0; j < PEAK_CHAINS; j++)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < PEAK_CHAINS; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], b, c);
    }
    __m512 s = acc[0];
    for (int j = 1; j < PEAK_CHAINS; j++)
        s = _mm512_add_ps(s, acc[j]);
    return (double)_mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double peak_loop_avx2(long iters)
{
    __m256 acc[PEAK_CHAINS], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int j = 0; j < PEAK_CHAINS; j++)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < PEAK_CHAINS; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], b, c);
    }
    __m256 s = acc[0];
    for (int j = 1; j < PEAK_CHAINS; j++)
        s = _mm256_add_ps(s, acc[j]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
}
#endif

static double peak_loop_scalar(long iters)
{
    /* 12 independent scalar chains; the compiler may use SSE, not FMA. */
    volatile float seed = 1.0f;
    float acc[12], b = 0.999999f, c = 1e-6f;
    for (int j = 0; j < 12; j++)
        acc[j] = seed * (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            acc[j] = acc[j] * b + c;
    double s = 0;
    for (int j = 0; j < 12; j++)
        s += acc[j];
    return s;
}

/* Lanes of the FMA loop that runs for an ISA on this machine. */
static int fma_lanes(mfr_isa isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return 16;
    if (isa >= MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return 8;
#endif
    return 1;
}

/* iters steps of the 12-chain FMA loop for an ISA (its sum, so that the
 * compiler keeps it). */
static double fma_loop(mfr_isa isa, long iters)
{
#if defined(__x86_64__) && defined(__GNUC__)
    switch (fma_lanes(isa)) {
    case 16:
        return peak_loop_avx512(iters);
    case 8:
        return peak_loop_avx2(iters);
    default:
        break;
    }
#endif
    return peak_loop_scalar(iters);
}

double bench_fma_peak(mfr_isa isa)
{
    volatile double sink = 0;
    double best = 0;
    long iters = 2000000;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = sample_clock(1);
        sink += fma_loop(isa, iters);
        double t = sample_clock(1) - t0;
        double gf = 2.0 * fma_lanes(isa) * 12.0 * (double)iters / t * 1e-9;
        if (gf > best)
            best = gf; /* the peak is the best of a few tries (others share the machine) */
    }
    (void)sink;
    return best;
}

/* The FMA loop as a contender: one run is BENCH_FMA_ITERS steps on each of
 * fma_threads threads at once (about 0.5 ms at AVX-512's peak). */
enum { BENCH_FMA_ITERS = 100000 };
static int fma_threads = 1;
static volatile double fma_sink;

void bench_fma_threads(int n)
{
    fma_threads = n < 1 ? 1 : n;
}

void bench_fma_run(void *isa)
{
    const mfr_isa which = *(const mfr_isa *)isa;
    double s = 0;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel num_threads(fma_threads) reduction(+ : s)
#endif
    s += fma_loop(which, BENCH_FMA_ITERS);
    fma_sink = s;
}

double bench_fma_flop(mfr_isa isa, int threads)
{
    return 2.0 * fma_lanes(isa) * 12.0 * (double)BENCH_FMA_ITERS * (threads < 1 ? 1 : threads);
}

double bench_paired_peak_pct(const bench_result *r, int i, double q)
{
    if (r->peak_flop <= 0)
        return 0.0;
    /* contender i's GFLOP/s over the loop's, round by round:
     * (flop / t_i) / (peak_flop / t_loop) */
    return 100.0 * r->flop / r->peak_flop * bench_paired_ratio(r, r->ncont, i, q);
}

struct bench_copy {
    float *src, *dst;
    size_t n;
};

static int copy_threads = 1;

bench_copy *bench_copy_create(size_t bytes)
{
    bench_copy *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = bytes / 2 / sizeof(float);
    if (c->n < 16)
        c->n = 16;
    c->src = mfr_alloc(c->n * sizeof(float));
    c->dst = mfr_alloc(c->n * sizeof(float));
    if (!c->src || !c->dst) {
        bench_copy_free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->n; i++)
        c->src[i] = (float)i, c->dst[i] = 0;
    return c;
}

void bench_copy_free(bench_copy *c)
{
    if (!c)
        return;
    mfr_free(c->src);
    mfr_free(c->dst);
    free(c);
}

void bench_copy_threads(int n)
{
    copy_threads = n < 1 ? 1 : n;
}

void bench_copy_run(void *p)
{
    bench_copy *c = p;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel num_threads(copy_threads)
#endif
    {
#ifdef MFR_HAVE_OPENMP
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        int t = 0, nt = 1;
#endif
        size_t a = c->n * (size_t)t / (size_t)nt, b = c->n * (size_t)(t + 1) / (size_t)nt;
        memcpy(c->dst + a, c->src + a, (b - a) * sizeof(float));
    }
}

double bench_copy_bandwidth(int threads, size_t bytes)
{
    bench_copy *c = bench_copy_create(bytes < 4096 * 2 * sizeof(float) ? 4096 * 2 * sizeof(float) : bytes);
    if (!c)
        return 0;
    bench_copy_threads(threads);
    double best = 0;
    for (int rep = 0; rep < 20; rep++) {
        double t0 = mfr_time_now();
        bench_copy_run(c);
        double dt = mfr_time_now() - t0;
        double gbs = 2.0 * (double)c->n * sizeof(float) / dt * 1e-9;
        if (gbs > best)
            best = gbs;
    }
    bench_copy_free(c);
    return best;
}

/* ---------------------------------------------------------------- reports */

double bench_copy_gbs(const bench_result *r)
{
    return r->bytes > 0 && r->bound_s > 0 ? r->bytes / r->bound_s * 1e-9 : 0.0;
}

static double gflops(const bench_result *r, int i)
{
    return r->flop / r->median_s[i] * 1e-9;
}

/* Contender i's share of the FMA peak (percent): paired with the FMA loop
 * when the row timed it in its rounds, else against the table's peak. */
static double pct_peak(const bench_table *t, const bench_result *r, int i)
{
    if (r->peak_flop > 0)
        return bench_paired_peak_pct(r, i, 0.5);
    return 100.0 * gflops(r, i) / (t->peak_gflops_core * r->threads);
}

static void print_table(const bench_table *t, const char *title)
{
    int paired_peak = t->count > 0 && t->rows[0].peak_flop > 0;
    printf("%s (isa %s, FMA peak %.1f GFLOP/s per core", title, t->isa, t->peak_gflops_core);
    printf("; ratio = peer time / mfr time in the same round, > 1 means mfr is faster:\n the median over the rounds, then the quartiles; times are medians of the interleaved samples;\n 1 thread: thread CPU time, more: wall time");
    if (paired_peak)
        printf(";\n %%peak = GFLOP/s over those of the FMA loop timed in the same round on as many threads, median\n over the rounds");
    printf(")\n");
    printf("%-8s %-28s %3s %10s %8s %6s", "kind", "shape", "thr", "mfr ms", "GFLOP/s", "%peak");
    if (t->count > 0 && t->rows[0].bytes > 0)
        printf(" %7s %6s", "GB/s", "%copy");
    printf("  peers: name ms (ratio)\n");
    for (int i = 0; i < t->count; i++) {
        const bench_result *r = &t->rows[i];
        printf("%-8s %-28s %3d %10.4f %8.1f %5.1f%%", r->kind, r->shape, r->threads, r->median_s[0] * 1e3,
               gflops(r, 0), pct_peak(t, r, 0));
        if (r->bytes > 0) {
            double gbs = r->bytes / r->median_s[0] * 1e-9;
            printf(" %7.1f %5.1f%%", gbs, bench_copy_gbs(r) > 0 ? 100.0 * gbs / bench_copy_gbs(r) : 0.0);
        }
        printf(" ");
        for (int c = 1; c < r->ncont; c++)
            printf(" %s %.4f (%.2fx %.2f-%.2f)", r->names[c], r->median_s[c] * 1e3, bench_paired_ratio(r, c, 0, 0.5),
                   bench_paired_ratio(r, c, 0, 0.25), bench_paired_ratio(r, c, 0, 0.75));
        printf("\n");
    }
}

static int write_csv(const bench_table *t, const char *path)
{
    mfr_afile f;
    int rc = mfr_afile_open(&f, path);
    if (rc != MFR_OK)
        return rc;
    fprintf(f.fp, "kind,shape,threads,contender,median_s,min_s,gflops,pct_peak,ratio_peer_over_mfr,gbs,copy_gbs,"
                  "ratio_q1,ratio_q3\n");
    for (int i = 0; i < t->count; i++) {
        const bench_result *r = &t->rows[i];
        for (int c = 0; c < r->ncont; c++) {
            double gf = gflops(r, c);
            fprintf(f.fp, "%s,%s,%d,%s,%.9g,%.9g,%.4f,%.2f,%.4f,%.3f,%.3f,%.4f,%.4f\n", r->kind, r->shape, r->threads,
                    r->names[c], r->median_s[c], r->min_s[c], gf, pct_peak(t, r, c),
                    bench_paired_ratio(r, c, 0, 0.5), r->bytes > 0 ? r->bytes / r->median_s[c] * 1e-9 : 0.0,
                    bench_copy_gbs(r), bench_paired_ratio(r, c, 0, 0.25), bench_paired_ratio(r, c, 0, 0.75));
        }
    }
    return mfr_afile_commit(&f);
}

static int write_plot(const bench_table *t, const char *path, const char *title)
{
    const char *gp = "gnuplot";
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "mfr: bench: gnuplot is not installed; skipping the plot %s (apt-get install gnuplot-nox)\n",
                path);
        return MFR_OK;
    }
    /* gnuplot writes a temporary file beside the target; renamed on success. */
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp)
        return mfr_error(MFR_ERR_NOMEM, "bench: out of memory");
    snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    if (strchr(path, '\'') || strchr(path, '\n')) {
        free(tmp);
        return mfr_error(MFR_ERR_ARG, "%s: plot path may not contain quotes or newlines", path);
    }
    FILE *p = popen(gp, "w");
    if (!p) {
        free(tmp);
        return mfr_error(MFR_ERR_IO, "bench: cannot run gnuplot");
    }
    fprintf(p, "set terminal pngcairo size 1400,700 noenhanced\nset output '%s'\n", tmp);
    fprintf(p, "set title '%s (%s)'\nset ylabel 'GFLOP/s'\nset grid ytics\n", title, t->isa);
    fprintf(p, "set xtics rotate by -45 font ',8'\nset key outside right\nset style data linespoints\n");
    /* One series per contender and thread count: block index = series. */
    int threads[BENCH_MAX_THREADS], nt = 0;
    char names[BENCH_MAX_CONTENDERS][16];
    int nn = 0;
    for (int i = 0; i < t->count; i++) {
        int f = 0;
        for (int j = 0; j < nt; j++)
            f |= threads[j] == t->rows[i].threads;
        if (!f && nt < BENCH_MAX_THREADS)
            threads[nt++] = t->rows[i].threads;
        for (int c = 0; c < t->rows[i].ncont; c++) {
            f = 0;
            for (int j = 0; j < nn; j++)
                f |= strcmp(names[j], t->rows[i].names[c]) == 0;
            if (!f && nn < BENCH_MAX_CONTENDERS)
                snprintf(names[nn++], sizeof names[0], "%s", t->rows[i].names[c]);
        }
    }
    fprintf(p, "$d << EOD\n");
    for (int a = 0; a < nn; a++)
        for (int b = 0; b < nt; b++) {
            int x = 0;
            for (int i = 0; i < t->count; i++) {
                const bench_result *r = &t->rows[i];
                if (r->threads != threads[b])
                    continue;
                for (int c = 0; c < r->ncont; c++)
                    if (strcmp(r->names[c], names[a]) == 0)
                        fprintf(p, "%d \"%s\" %.3f\n", x, r->shape, gflops(r, c));
                x++;
            }
            fprintf(p, "\n\n");
        }
    fprintf(p, "EOD\nplot ");
    for (int a = 0; a < nn; a++)
        for (int b = 0; b < nt; b++)
            fprintf(p, "%s$d index %d using 1:3:xtic(2) title '%s %dT'", a + b ? ", " : "", a * nt + b, names[a],
                    threads[b]);
    fprintf(p, "\n");
    int st = pclose(p);
    if (st != 0 || access(tmp, F_OK) != 0) {
        remove(tmp);
        free(tmp);
        return mfr_error(MFR_ERR_IO, "%s: gnuplot failed (status %d)", path, st);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return mfr_error(MFR_ERR_IO, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return MFR_OK;
}

int bench_report(const bench_table *t, const bench_opts *o, const char *title)
{
    int rc;
    print_table(t, title);
    if (o->csv && (rc = write_csv(t, o->csv)) != MFR_OK)
        return rc;
    if (o->plot && (rc = write_plot(t, o->plot, title)) != MFR_OK)
        return rc;
    return MFR_OK;
}
