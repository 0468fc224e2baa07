/* Tests of the statistics behind `mfr bench` (bench/bench_common.c): the
 * paired ratios that the tables and the CSV report. The timings themselves
 * are not tested here: speed is measured, never asserted. */
#include "config.h"
#include "testutil.h"
#include "../bench/bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A result with two contenders (and a third, the copy, when bound) whose
 * round k took a[k] and b[k] seconds. */
static bench_result two(const double *a, const double *b, int reps)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    r.ncont = 2;
    r.reps = reps;
    for (int k = 0; k < reps; k++) {
        r.round_s[0][k] = a[k];
        r.round_s[1][k] = b[k];
    }
    return r;
}

START_TEST(test_paired_ratio_cancels_round_load)
{
    /* The load changes from round to round (x1 to x8), the same for both
     * contenders of a round: the peer always takes 1.25x mfr's time. */
    const double mfr[5] = {1.0, 8.0, 1.0, 8.0, 2.0}, peer[5] = {1.25, 10.0, 1.25, 10.0, 2.5};
    const double peer_off[5] = {1.25, 10.0, 10.0, 10.0, 2.5};
    bench_result r = two(mfr, peer, 5);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.5), 1.25, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.25), 1.25, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.75), 1.25, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 0, 1, 0.5), 0.8, 1e-12);
    /* One round where only the peer was slowed (a burst of load between
     * the two samples): the paired median ignores it, while the ratio of
     * the two columns' medians (10 / 2) would say 5. */
    r = two(mfr, peer_off, 5);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.5), 1.25, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 1.0), 10.0, 1e-12);
}
END_TEST

START_TEST(test_paired_ratio_quantiles)
{
    /* ratios 1, 2, 3, 4 (rounds in another order): median 2.5, quartiles
     * interpolated at positions 0.75 and 2.25 */
    const double mfr[4] = {1, 1, 1, 1}, peer[4] = {3, 1, 4, 2};
    bench_result r = two(mfr, peer, 4);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.5), 2.5, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.25), 1.75, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.75), 3.25, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.0), 1.0, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 1.0), 4.0, 1e-12);
    /* one round */
    r = two(mfr, peer, 1);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.5), 3.0, 1e-12);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.25), 3.0, 1e-12);
    /* rounds whose divisor is zero are left out; none left gives 0 */
    const double zero[4] = {0, 1, 0, 1};
    r = two(zero, peer, 4);
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 1, 0, 0.5), 1.5, 1e-12);
    r = two(mfr, peer, 0);
    ck_assert_double_eq(bench_paired_ratio(&r, 1, 0, 0.5), 0.0);
}
END_TEST

/* The copy of a depthwise row's bound lives in round_s[ncont]. */
START_TEST(test_paired_ratio_bound)
{
    const double layer[3] = {3.0, 6.0, 3.3}, copy[3] = {2.0, 4.0, 2.0};
    bench_result r = two(layer, layer, 3);
    r.ncont = 1;
    for (int k = 0; k < 3; k++)
        r.round_s[1][k] = copy[k];
    ck_assert_double_eq_tol(bench_paired_ratio(&r, 0, r.ncont, 0.5), 1.5, 1e-12);
}
END_TEST

/* % of peak against the FMA loop timed in the same rounds (round_s[ncont]):
 * a product of 1000 flop that takes twice the loop's time of 800 flop runs
 * at 1000 / 2 / 800 = 62.5 % of it, whatever the load of the round. */
START_TEST(test_paired_peak_pct)
{
    const double gemm[4] = {2.0, 16.0, 2.0, 6.0}, loop[4] = {1.0, 8.0, 2.0, 3.0};
    bench_result r = two(gemm, gemm, 4);
    r.ncont = 1;
    r.flop = 1000;
    for (int k = 0; k < 4; k++)
        r.round_s[1][k] = loop[k];
    ck_assert_double_eq(bench_paired_peak_pct(&r, 0, 0.5), 0.0); /* no loop timed */
    r.peak_flop = 800;
    /* per round 62.5 %, 62.5 %, 125 % (the loop slowed alone), 62.5 % */
    ck_assert_double_eq_tol(bench_paired_peak_pct(&r, 0, 0.5), 62.5, 1e-9);
    ck_assert_double_eq_tol(bench_paired_peak_pct(&r, 0, 1.0), 125.0, 1e-9);
    /* the loop's flop count grows with its threads: a loop on 2 threads
     * doing twice the work in the same time is twice the peak */
    ck_assert_double_eq_tol(bench_fma_flop(MFR_ISA_SCALAR, 2), 2 * bench_fma_flop(MFR_ISA_SCALAR, 1), 1e-9);
    ck_assert(bench_fma_flop(mfr_isa_best(), 1) >= bench_fma_flop(MFR_ISA_SCALAR, 1));
}
END_TEST

/* A whole `mfr bench gemm` on a tiny shape, its CSV read back: one row per
 * thread count for mfr alone (no peers), the FMA loop timed beside it but
 * not listed as a contender, and a % of peak that is a positive number. */
START_TEST(test_bench_gemm_csv)
{
    const char *csv = tu_tmp("gemm.csv");
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.threads[0] = 1;
    o.threads[1] = 2;
    o.nthreads = 2;
    o.reps = 3;
    o.sample_s = 0.001;
    o.shapes = "48x40x24";
    o.csv = csv;
    o.quiet = 1;
    o.peers = 0;
    ck_assert_int_eq(bench_gemm(&o), MFR_OK);
    FILE *f = fopen(csv, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, "pct_peak"));
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char kind[16], shape[64], name[16];
        int threads;
        double median, min, gf, pct;
        ck_assert_int_eq(sscanf(line, "%15[^,],%63[^,],%d,%15[^,],%lf,%lf,%lf,%lf", kind, shape, &threads, name,
                                &median, &min, &gf, &pct),
                         8);
        ck_assert_str_eq(shape, "48x40x24");
        ck_assert_str_eq(name, "mfr");
        ck_assert_int_eq(threads, rows + 1);
        ck_assert(median > 0 && gf > 0);
        ck_assert(pct > 0 && isfinite(pct));
        rows++;
    }
    fclose(f);
    ck_assert_int_eq(rows, 2);
}
END_TEST

static Suite *bench_suite(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("paired");
    tcase_add_test(tc, test_paired_ratio_cancels_round_load);
    tcase_add_test(tc, test_paired_ratio_quantiles);
    tcase_add_test(tc, test_paired_ratio_bound);
    tcase_add_test(tc, test_paired_peak_pct);
    tcase_add_test(tc, test_bench_gemm_csv);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(bench_suite());
    tu_cleanup();
    return rc;
}
