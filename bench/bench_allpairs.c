/* All-pairs verification benchmark: N embeddings of dimension D, every pair
 * i < j scored in GEMM blocks and streamed into exact statistics.
 *
 *   make bench/bench_allpairs && bench/bench_allpairs [N [D [THREADS]]]
 *
 * Defaults: N = 50000, D = 128 (1.25e9 comparisons), threads = 2. It also
 * runs, side by side at a smaller N (N/10), the streamed path and its peer:
 * the explicit-pairs path that scores each pair with a dot product and sorts
 * every score, and prints the time ratio and that both give the same EER. */
#include "config.h"
#include "mfr/core.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* Process CPU seconds (all threads): with other jobs on the machine the wall
 * time depends on the load, the CPU time much less. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void make(float *e, int *id, size_t n, size_t dim, int per_id)
{
    mfr_rng r;
    float *center = malloc(dim * sizeof *center);
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        id[i] = (int)(i / (size_t)per_id);
        if (i % (size_t)per_id == 0) {
            mfr_rng_init(&r, 42, 1, (uint64_t)id[i]);
            for (size_t k = 0; k < dim; k++)
                center[k] = (float)mfr_rng_normal(&r);
        }
        mfr_rng_init(&r, 42, 2, i);
        for (size_t k = 0; k < dim; k++) {
            e[i * dim + k] = center[k] + 1.2f * (float)mfr_rng_normal(&r);
            norm += (double)e[i * dim + k] * e[i * dim + k];
        }
        for (size_t k = 0; k < dim; k++)
            e[i * dim + k] = (float)(e[i * dim + k] / sqrt(norm));
    }
    free(center);
}

static long max_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static double g_cpu;

static int stream(const float *e, const int *id, size_t n, size_t dim, const mfr_verify_opts *o, double *sec,
                  mfr_verify_stats *st)
{
    mfr_vset *s;
    double t0 = mfr_time_now(), c0 = cpu_seconds();
    int rc = mfr_vset_all_pairs_mem(e, n, dim, id, NULL, NULL, 0, NULL, o, &s);
    if (rc != MFR_OK)
        return rc;
    rc = mfr_vset_stats(s, 0, o, st);
    *sec = mfr_time_now() - t0;
    g_cpu = cpu_seconds() - c0;
    mfr_vset_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 50000, dim = argc > 2 ? (size_t)atol(argv[2]) : 128;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    float *e;
    int *id;
    mfr_verify_opts o;
    mfr_verify_stats st, st2;
    double sec, sec2;
    if (n < 20 || dim < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_allpairs [N >= 20 [D [THREADS]]]\n");
        return 2;
    }
    mfr_set_threads(threads);
    mfr_verify_opts_default(&o);
    o.bootstrap = 0;
    e = mfr_alloc(n * dim * sizeof *e);
    id = malloc(n * sizeof *id);
    if (!e || !id)
        return 1;
    make(e, id, n, dim, 10);
    printf("bench_allpairs: N = %zu, D = %zu, threads = %d, %s kernels, histogram bits %d, block %d\n", n, dim,
           threads, mfr_isa_name(mfr_isa_best()), o.hist_bits, o.block);
    if (stream(e, id, n, dim, &o, &sec, &st) != MFR_OK) {
        fprintf(stderr, "bench_allpairs: %s\n", mfr_last_error());
        return 1;
    }
    printf("streamed all-pairs: %.3e comparisons in %.2f s wall (%.3e /s), %.2f s CPU over %d threads, max RSS "
           "%ld MiB\n", (double)n * (double)(n - 1) / 2, sec, (double)n * (double)(n - 1) / 2 / sec, g_cpu, threads,
           max_rss_mib());
    printf("  mated %llu, non-mated %llu, EER %.6f, FNMR@FMR=1e-5 %.6f\n", (unsigned long long)st.mated,
           (unsigned long long)st.nonmated, st.eer.eer, st.at_fmr[4].supported ? st.at_fmr[4].fnmr : NAN);

    /* Side by side with the explicit-pairs peer at N/10. */
    {
        size_t m = n / 10, np = m * (m - 1) / 2, k = 0;
        size_t *pa = malloc(np * sizeof *pa), *pb = malloc(np * sizeof *pb);
        mfr_vset *s;
        double t0;
        if (!pa || !pb)
            return 1;
        for (size_t i = 0; i < m; i++)
            for (size_t j = i + 1; j < m; j++)
                pa[k] = i, pb[k++] = j;
        if (stream(e, id, m, dim, &o, &sec, &st) != MFR_OK)
            return 1;
        t0 = mfr_time_now();
        if (mfr_vset_pairs_mem(e, m, dim, id, NULL, NULL, 0, NULL, pa, pb, np, &o, &s) != MFR_OK ||
            mfr_vset_stats(s, 0, &o, &st2) != MFR_OK) {
            fprintf(stderr, "bench_allpairs: %s\n", mfr_last_error());
            return 1;
        }
        sec2 = mfr_time_now() - t0;
        mfr_vset_free(s);
        printf("at N = %zu (%zu pairs): streamed %.3f s, explicit pairs (dot + sort) %.3f s: ratio %.2fx; "
               "EER %.6f vs %.6f\n", m, np, sec, sec2, sec2 / sec, st.eer.eer, st2.eer.eer);
        free(pa);
        free(pb);
    }
    mfr_free(e);
    free(id);
    return 0;
}
