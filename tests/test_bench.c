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

/* oneDNN running a network (mfr bench model's peer) computes what mfr
 * computes: both models of models/, batch norm statistics and PReLU slopes
 * made non-trivial so that the folding and the post-ops are exercised.
 * Only where the peer is compiled in (./configure --with-dnnl). */
static void randomise_affine(mfr_net *net, uint64_t seed)
{
    mfr_rng r;
    mfr_rng_init(&r, seed, 7, 0);
    for (int i = 0; i < net->n_layers; i++) {
        mfr_layer *l = &net->layers[i];
        const int slots[5] = {MFR_P_GAMMA, MFR_P_BETA, MFR_P_MEAN, MFR_P_VAR, MFR_P_SLOPE};
        for (int k = 0; k < 5; k++) {
            mfr_tensor *t = l->params[slots[k]];
            if (!t)
                continue;
            for (size_t e = 0; e < t->size; e++)
                t->data[e] = slots[k] == MFR_P_VAR ? (float)mfr_rng_range(&r, 0.5, 2.0)
                             : slots[k] == MFR_P_GAMMA ? (float)mfr_rng_range(&r, 0.5, 1.5)
                                                       : (float)mfr_rng_range(&r, -0.3, 0.3);
        }
    }
}

START_TEST(test_dnnl_net_matches_mfr)
{
    if (!peer_dnnl_available()) {
        fprintf(stderr, "test_dnnl_net_matches_mfr: oneDNN not compiled in, nothing to compare\n");
        return;
    }
    const char *models[2] = {"models/mobilefacenet.cfg", "models/detector.cfg"};
    for (int m = 0; m < 2; m++) {
        mfr_net *net;
        mfr_exec *ex;
        peer_dnnl_net *pn;
        const int batch = 2;
        ck_assert_int_eq(mfr_net_load_def(tu_src(models[m]), &net), MFR_OK);
        ck_assert_int_eq(mfr_net_init_weights(net, 5), MFR_OK);
        randomise_affine(net, 11);
        ck_assert_int_eq(mfr_exec_create(net, batch, 0, &ex), MFR_OK);
        ck_assert_int_eq(peer_dnnl_net_create(net, batch, &pn), MFR_OK);
        const mfr_layer *in = &net->layers[net->order[0]];
        size_t n = (size_t)batch * in->h * in->w * in->c;
        float *x = mfr_alloc(n * sizeof *x);
        mfr_rng r;
        mfr_rng_init(&r, 3, 0, 0);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)mfr_rng_range(&r, -1, 1);
        ck_assert_int_eq(mfr_exec_forward(ex, x, batch), MFR_OK);
        ck_assert_int_eq(peer_dnnl_net_run(pn, x), MFR_OK);
        for (int o = 0; o < mfr_exec_output_count(ex); o++) {
            int layer;
            const float *a = mfr_exec_output(ex, o, &layer), *b = peer_dnnl_net_layer_output(pn, layer);
            const mfr_layer *l = &net->layers[layer];
            size_t count = (size_t)batch * l->h * l->w * l->c;
            double mag = 0, diff = 0;
            ck_assert_ptr_nonnull(b);
            for (size_t i = 0; i < count; i++) {
                mag = fmax(mag, fabs(a[i]));
                diff = fmax(diff, fabs((double)a[i] - b[i]));
            }
            ck_assert_msg(mag > 0 && diff <= 1e-4 * mag, "%s output %s: differs by %g (largest %g)", models[m],
                          l->name, diff, mag);
        }
        mfr_free(x);
        peer_dnnl_net_free(pn);
        mfr_exec_free(ex);
        mfr_net_free(net);
    }
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
    tcase_add_test(tc, test_dnnl_net_matches_mfr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(bench_suite());
    tu_cleanup();
    return rc;
}
