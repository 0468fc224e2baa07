/* Tests of src/eval and the .npy files of src/core: small hand-computed
 * cases for every metric, ties, empty and one-class inputs, NaNs, malformed
 * files, properties, and the streamed all-pairs path against explicit pairs. */
#include "config.h"
#include "testutil.h"
#include "mfr/core.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dist_of(mfr_dist *d, const float *v, size_t n)
{
    uint32_t *k = malloc((n + 1) * sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = mfr_score_key(v[i]);
    tu_ok(mfr_dist_from_keys(d, k, n));
    free(k);
}

static const char *read_text(const char *path)
{
    static char *buf;
    size_t size;
    free(buf);
    buf = NULL;
    tu_ok(mfr_read_file(path, 1 << 26, (void **)&buf, &size));
    return buf;
}

/* ------------------------------------------------------------ statistics */

START_TEST(test_score_keys)
{
    const float v[] = {-INFINITY, -1.0f, -0.5f, -1e-40f, 0.0f, 1e-40f, 0.25f, 1.0f, 3e38f};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ck_assert(mfr_score_value(mfr_score_key(v[i])) == v[i]);
        if (i > 0)
            ck_assert_uint_lt(mfr_score_key(v[i - 1]), mfr_score_key(v[i]));
    }
    /* -0 and +0 compare equal, so they share one key. */
    ck_assert_uint_eq(mfr_score_key(-0.0f), mfr_score_key(0.0f));
}
END_TEST

START_TEST(test_normal_and_beta)
{
    ck_assert(fabs(mfr_normal_cdf(0) - 0.5) < 1e-15);
    ck_assert(fabs(mfr_probit(0.975) - 1.959963984540054) < 1e-12);
    ck_assert(fabs(mfr_probit(1e-6) + 4.753424308822899) < 1e-10);
    ck_assert(fabs(mfr_probit(0.5)) < 1e-15);
    ck_assert(isinf(mfr_probit(0)) && mfr_probit(0) < 0);
    ck_assert(isnan(mfr_probit(1.5)));
    for (double p = 1e-12; p < 1; p *= 3.7)
        ck_assert(fabs(mfr_normal_cdf(mfr_probit(p)) - p) <= 1e-12 * p + 1e-16);
    /* I_x(1, 1) = x; I_x(2, 1) = x^2; I_0.5(a, a) = 0.5. */
    ck_assert(fabs(mfr_beta_inc(1, 1, 0.3) - 0.3) < 1e-14);
    ck_assert(fabs(mfr_beta_inc(2, 1, 0.3) - 0.09) < 1e-14);
    ck_assert(fabs(mfr_beta_inc(7, 7, 0.5) - 0.5) < 1e-13);
}
END_TEST

START_TEST(test_clopper_pearson)
{
    double lo, hi;
    /* x = 0: [0, 1 - (alpha/2)^(1/n)]. */
    mfr_clopper_pearson(0, 10, 0.95, &lo, &hi);
    ck_assert(lo == 0);
    ck_assert(fabs(hi - (1 - pow(0.025, 0.1))) < 1e-10);
    mfr_clopper_pearson(10, 10, 0.95, &lo, &hi);
    ck_assert(hi == 1);
    ck_assert(fabs(lo - pow(0.025, 0.1)) < 1e-10);
    /* 5 of 10: the textbook [0.187086, 0.812914]. */
    mfr_clopper_pearson(5, 10, 0.95, &lo, &hi);
    ck_assert(fabs(lo - 0.187086) < 1e-6 && fabs(hi - 0.812914) < 1e-6);
    /* Large n, tiny rate: 3 in 1e9 -> [0.618718e-9, 8.767273e-9]. */
    mfr_clopper_pearson(3, 1000000000ull, 0.95, &lo, &hi);
    ck_assert(fabs(lo / 0.6187e-9 - 1) < 1e-3 && fabs(hi / 8.7673e-9 - 1) < 1e-3);
    mfr_clopper_pearson(0, 0, 0.95, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
}
END_TEST

START_TEST(test_quantile)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    ck_assert(mfr_quantile_sorted(v, 100, 0.5) == 50);
    ck_assert(mfr_quantile_sorted(v, 100, 0.9) == 90);
    ck_assert(mfr_quantile_sorted(v, 100, 0.99) == 99);
    ck_assert(mfr_quantile_sorted(v, 100, 1.0) == 100);
    ck_assert(mfr_quantile_sorted(v, 1, 0.5) == 1);
    ck_assert(isnan(mfr_quantile_sorted(v, 0, 0.5)));
}
END_TEST

/* ---------------------------------------------------------- verification */

static const float MATED[] = {0.4f, 0.7f, 0.8f, 0.9f};
static const float NONMATED[] = {0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f, 0.35f, 0.5f, 0.6f, 0.75f};

START_TEST(test_rates_by_hand)
{
    mfr_dist m, n;
    mfr_verify_point p;
    dist_of(&m, MATED, 4);
    dist_of(&n, NONMATED, 10);
    /* t = 0.5: matches are score >= t, so 0.5 counts: FMR 3/10, FNMR 1/4. */
    tu_ok(mfr_verify_at_threshold(&m, &n, 0.5f, 0.95, 0, 0, &p));
    ck_assert_uint_eq(p.false_matches, 3);
    ck_assert_uint_eq(p.false_non_matches, 1);
    ck_assert(p.fmr == 0.3 && p.fnmr == 0.25 && p.tar == 0.75);
    /* FAR and FRR with failures to acquire: 1 failed of 5 mated attempts
     * (FTA_m 0.2), 2 of 12 non-mated (FTA_n 1/6): FAR = 0.3 (1 - 1/6) = 3/12,
     * FRR = 0.2 + 0.25 * 0.8 = 2/5, each with its binomial interval. */
    tu_ok(mfr_verify_at_threshold(&m, &n, 0.5f, 0.95, 1, 2, &p));
    ck_assert(fabs(p.far - 0.3 * (1 - 2.0 / 12)) < 1e-15 && p.far == 3.0 / 12);
    ck_assert(fabs(p.frr - (0.2 + 0.25 * 0.8)) < 1e-15 && p.frr == 2.0 / 5);
    {
        double lo, hi;
        mfr_clopper_pearson(2, 5, 0.95, &lo, &hi);
        ck_assert(p.frr_lo == lo && p.frr_hi == hi);
    }
    /* FMR 0.1 of 10 allows 1 false match: the threshold lies just above the
     * second largest non-mated score (0.6), so only 0.75 matches. */
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.1, 0.95, 0, 0, &p));
    ck_assert(p.supported);
    ck_assert(p.threshold == nextafterf(0.6f, INFINITY));
    ck_assert_uint_eq(p.false_matches, 1);
    ck_assert(p.fnmr == 0.25);
    /* 10 non-mated comparisons cannot support FMR 0.01. */
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.01, 0.95, 0, 0, &p));
    ck_assert(!p.supported && isnan(p.fnmr));
    mfr_dist_free(&m);
    mfr_dist_free(&n);
}
END_TEST

START_TEST(test_eer_by_hand)
{
    mfr_dist m, n;
    mfr_eer e;
    dist_of(&m, MATED, 4);
    dist_of(&n, NONMATED, 10);
    /* t1 = 0.5 (FNMR 0.25 <= FMR 0.3), t2 = 0.6 (FNMR 0.25 >= FMR 0.2);
     * 0.25 + 0.3 > 0.2 + 0.25, so [low, high] = [0.2, 0.25], EER 0.225. */
    tu_ok(mfr_verify_eer(&m, &n, &e));
    ck_assert(e.defined);
    ck_assert(e.t1 == 0.5f && e.t2 == 0.6f);
    ck_assert(e.low == 0.2 && e.high == 0.25);
    ck_assert(fabs(e.eer - 0.225) < 1e-15);
    mfr_dist_free(&m);
    mfr_dist_free(&n);
    /* Equal rates at some threshold: EER is exactly that rate. Mated {0.3,
     * 0.6}, non-mated {0.2, 0.5}: at t = 0.5 FNMR = 1/2 = FMR. */
    {
        const float a[] = {0.3f, 0.6f}, b[] = {0.2f, 0.5f};
        dist_of(&m, a, 2);
        dist_of(&n, b, 2);
        tu_ok(mfr_verify_eer(&m, &n, &e));
        ck_assert(e.eer == 0.5 && e.low == 0.5 && e.high == 0.5);
        mfr_dist_free(&m);
        mfr_dist_free(&n);
    }
    /* Perfect separation: EER 0. */
    {
        const float a[] = {0.8f, 0.9f}, b[] = {0.1f, 0.2f, 0.3f};
        dist_of(&m, a, 2);
        dist_of(&n, b, 3);
        tu_ok(mfr_verify_eer(&m, &n, &e));
        ck_assert(e.eer == 0);
        mfr_dist_free(&m);
        mfr_dist_free(&n);
    }
}
END_TEST

START_TEST(test_ties)
{
    const float a[] = {0.5f, 0.5f, 0.9f}, b[] = {0.1f, 0.2f, 0.3f, 0.3f, 0.4f, 0.5f, 0.6f, 0.9f, 0.9f, 0.9f};
    mfr_dist m, n;
    mfr_verify_point p;
    mfr_eer e;
    dist_of(&m, a, 3);
    dist_of(&n, b, 10);
    /* score == threshold is a match, on both sides. */
    tu_ok(mfr_verify_at_threshold(&m, &n, 0.5f, 0.95, 0, 0, &p));
    ck_assert_uint_eq(p.false_non_matches, 0);
    ck_assert_uint_eq(p.false_matches, 5);
    /* Three non-mated scores tie at 0.9: FMR <= 0.1 needs a threshold above
     * all three, so the achieved FMR is 0, not 0.1. */
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.1, 0.95, 0, 0, &p));
    ck_assert(p.threshold > 0.9f && p.fmr == 0);
    ck_assert_uint_eq(p.false_non_matches, 3);
    /* FMR 0.3 allows 3: threshold just above 0.6, FMR exactly 0.3. */
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.3, 0.95, 0, 0, &p));
    ck_assert(p.fmr == 0.3 && p.threshold == nextafterf(0.6f, INFINITY));
    tu_ok(mfr_verify_eer(&m, &n, &e));
    ck_assert(e.low <= e.eer && e.eer <= e.high);
    mfr_dist_free(&m);
    mfr_dist_free(&n);
}
END_TEST

START_TEST(test_one_class_and_empty)
{
    mfr_dist m, n;
    mfr_verify_point p;
    mfr_eer e;
    dist_of(&m, MATED, 4);
    dist_of(&n, NULL, 0);
    tu_ok(mfr_verify_eer(&m, &n, &e));
    ck_assert(!e.defined && isnan(e.eer));
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.1, 0.95, 0, 0, &p));
    ck_assert(!p.supported);
    tu_ok(mfr_verify_at_threshold(&m, &n, 0.5f, 0.95, 0, 0, &p));
    ck_assert(isnan(p.fmr) && p.fnmr == 0.25);
    mfr_dist_free(&m);
    mfr_dist_free(&n);
    dist_of(&m, NULL, 0);
    dist_of(&n, NONMATED, 10);
    tu_ok(mfr_verify_eer(&m, &n, &e));
    ck_assert(!e.defined);
    tu_ok(mfr_verify_at_fmr(&m, &n, 0.1, 0.95, 0, 0, &p));
    ck_assert(!p.supported);
    mfr_dist_free(&m);
    mfr_dist_free(&n);
}
END_TEST

START_TEST(test_properties)
{
    /* FMR is non-increasing and FNMR non-decreasing in the threshold; the
     * EER lies between the rates at its two neighbouring thresholds. */
    mfr_rng r;
    float a[300], b[2000];
    mfr_dist m, n;
    mfr_eer e;
    double last_fmr = 2, last_fnmr = -1;
    mfr_rng_init(&r, 7, 1, 0);
    for (int i = 0; i < 300; i++)
        a[i] = (float)(0.5 + 0.2 * mfr_rng_normal(&r));
    for (int i = 0; i < 2000; i++)
        b[i] = (float)(0.1 * mfr_rng_normal(&r));
    for (int i = 0; i < 50; i++) /* ties across the classes */
        b[i] = a[i];
    dist_of(&m, a, 300);
    dist_of(&n, b, 2000);
    for (float t = -1.0f; t <= 1.5f; t += 0.01f) {
        mfr_verify_point p;
        tu_ok(mfr_verify_at_threshold(&m, &n, t, 0.95, 0, 0, &p));
        ck_assert(p.fmr <= last_fmr && p.fnmr >= last_fnmr);
        ck_assert(p.fmr_lo <= p.fmr && p.fmr <= p.fmr_hi && p.fnmr_lo <= p.fnmr && p.fnmr <= p.fnmr_hi);
        last_fmr = p.fmr;
        last_fnmr = p.fnmr;
    }
    tu_ok(mfr_verify_eer(&m, &n, &e));
    {
        mfr_verify_point p1, p2;
        tu_ok(mfr_verify_at_threshold(&m, &n, e.t1, 0.95, 0, 0, &p1));
        tu_ok(mfr_verify_at_threshold(&m, &n, e.t2, 0.95, 0, 0, &p2));
        ck_assert(p1.fnmr <= p1.fmr && p2.fnmr >= p2.fmr);
        ck_assert(e.eer >= fmin(p1.fnmr, p2.fmr) && e.eer <= fmax(p1.fmr, p2.fnmr));
        ck_assert(e.t1 < e.t2 || (e.t1 == e.t2 && e.low == e.high));
    }
    mfr_dist_free(&m);
    mfr_dist_free(&n);
}
END_TEST

START_TEST(test_scores_csv)
{
    const char *csv = "score,mated,enrol_id,probe_id,site\n"
                      "0.9,1,a,a,x\n0.8,1,b,b,y\n,1,c,c,x\nNaN,0,a,b,y\n0.1,0,a,c,x\n0.95,0,b,c,y\n";
    mfr_verify_opts o;
    mfr_vset *s;
    mfr_verify_stats st;
    int g;
    mfr_verify_opts_default(&o);
    o.bootstrap = 20;
    tu_write(tu_tmp("s.csv"), csv, strlen(csv));
    tu_ok(mfr_vset_load_scores(tu_tmp("s.csv"), &o, &s));
    tu_ok(mfr_vset_stats(s, 0, &o, &st));
    ck_assert_uint_eq(st.mated, 2);
    ck_assert_uint_eq(st.nonmated, 2);
    ck_assert_uint_eq(st.fta_mated, 1);
    ck_assert_uint_eq(st.fta_nonmated, 1);
    ck_assert(fabs(st.fta_mated_rate - 1.0 / 3) < 1e-15);
    g = mfr_vset_find(s, "site=y");
    ck_assert_int_ge(g, 0);
    tu_ok(mfr_vset_stats(s, g, &o, &st));
    ck_assert_uint_eq(st.mated, 1);
    ck_assert_uint_eq(st.nonmated, 1);
    ck_assert_uint_eq(st.fta_nonmated, 1);
    tu_ok(mfr_verify_write(s, &o, tu_tmp("out")));
    {
        const char *js = read_text(tu_tmp("out/results.json"));
        ck_assert(strstr(js, "\"overall\"") && strstr(js, "\"site=y\"") && strstr(js, "\"nist\""));
        ck_assert(strstr(js, "\"fnmr_at_fmr\"") && strstr(js, "\"eer\"") && strstr(js, "\"fta\""));
    }
    mfr_vset_free(s);
    tu_cleanup();
}
END_TEST

START_TEST(test_hand_file)
{
    mfr_verify_opts o;
    mfr_vset *s;
    mfr_verify_stats st;
    mfr_verify_opts_default(&o);
    o.n_thresholds = 1;
    o.thresholds[0] = 0.5;
    tu_ok(mfr_vset_load_scores(tu_src("tests/data/eval/scores_hand.csv"), &o, &s));
    tu_ok(mfr_vset_stats(s, 0, &o, &st));
    ck_assert_uint_eq(st.mated, 4);
    ck_assert_uint_eq(st.nonmated, 10);
    ck_assert_uint_eq(st.fta_mated, 1);
    ck_assert(fabs(st.eer.eer - 0.225) < 1e-15);
    ck_assert(st.at_threshold[0].fmr == 0.3 && st.at_threshold[0].fnmr == 0.25);
    ck_assert(st.at_fmr[0].supported && st.at_fmr[0].fnmr == 0.25);
    ck_assert(fabs(st.at_fmr[0].frr - 0.4) < 1e-15);
    ck_assert(!st.at_fmr[1].supported);
    ck_assert(st.eer.boot_reps > 0 && st.eer.boot_lo <= st.eer.boot_hi);
    ck_assert_int_ge(mfr_vset_find(s, "session=b"), 0);
    mfr_vset_free(s);
}
END_TEST

START_TEST(test_nist_by_hand)
{
    /* Reference none:none: 10 non-mated scores; FMR 0.1 allows 1 false match,
     * so the threshold lies just above 0.45. none:surgical at that threshold:
     * mated 0.3 and 0.4 fail (FNMR 1/2); non-mated 0.46 matches (FMR 1/2, five
     * times the reference's 1/10). */
    const char *csv = "score,mated,enrol_mask,probe_mask\n"
                      "0.9,1,none,none\n0.8,1,none,none\n"
                      "0.05,0,none,none\n0.1,0,none,none\n0.15,0,none,none\n0.2,0,none,none\n"
                      "0.25,0,none,none\n0.3,0,none,none\n0.35,0,none,none\n0.4,0,none,none\n"
                      "0.45,0,none,none\n0.5,0,none,none\n"
                      "0.3,1,none,surgical\n0.6,1,none,surgical\n0.7,1,none,surgical\n0.4,1,none,surgical\n"
                      "0.46,0,none,surgical\n0.2,0,none,surgical\n";
    mfr_verify_opts o;
    mfr_vset *s;
    const char *t;
    mfr_verify_opts_default(&o);
    o.nist_fmr = 0.1;
    o.bootstrap = 0;
    tu_write(tu_tmp("n.csv"), csv, strlen(csv));
    tu_ok(mfr_vset_load_scores(tu_tmp("n.csv"), &o, &s));
    tu_ok(mfr_verify_write(s, &o, tu_tmp("nist")));
    mfr_vset_free(s);
    t = read_text(tu_tmp("nist/results.tsv"));
    ck_assert(strstr(t, "verify/nist/reference\tmask_pair=none:none\n"));
    ck_assert(strstr(t, "verify/nist/threshold\t0.450000018\n"));
    ck_assert(strstr(t, "verify/nist/reference_fmr\t0.1\n"));
    ck_assert(strstr(t, "verify/nist/fnmr/none:none\t0\n"));
    ck_assert(strstr(t, "verify/nist/fnmr/none:surgical\t0.5\n"));
    ck_assert(strstr(t, "verify/nist/conditions/none:surgical/fmr\t0.5\n"));
    ck_assert(strstr(t, "verify/nist/conditions/none:surgical/fmr_ratio\t5\n"));
    tu_cleanup();
}
END_TEST

START_TEST(test_scores_csv_empty)
{
    const char *csv = "score,mated\n";
    mfr_verify_opts o;
    mfr_vset *s;
    mfr_verify_stats st;
    mfr_verify_opts_default(&o);
    tu_write(tu_tmp("e.csv"), csv, strlen(csv));
    tu_ok(mfr_vset_load_scores(tu_tmp("e.csv"), &o, &s));
    tu_ok(mfr_vset_stats(s, 0, &o, &st));
    ck_assert_uint_eq(st.mated + st.nonmated, 0);
    ck_assert(!st.eer.defined);
    tu_ok(mfr_verify_write(s, &o, tu_tmp("out")));
    mfr_vset_free(s);
    tu_cleanup();
}
END_TEST

static void expect_error(const char *text, const char *needle)
{
    mfr_verify_opts o;
    mfr_vset *s = NULL;
    int rc;
    mfr_verify_opts_default(&o);
    tu_write(tu_tmp("bad.csv"), text, strlen(text));
    rc = mfr_vset_load_scores(tu_tmp("bad.csv"), &o, &s);
    ck_assert_int_ne(rc, MFR_OK);
    ck_assert(s == NULL);
    ck_assert_msg(strstr(mfr_last_error(), needle), "error '%s' lacks '%s'", mfr_last_error(), needle);
}

START_TEST(test_scores_csv_malformed)
{
    expect_error("score,mated\n0.5,1\n0.2,maybe\n", "bad.csv:3: column 'mated'");
    expect_error("score,mated\n0.5,1\nabc,0\n", "bad.csv:3");
    expect_error("score,mated\n0.5,1\n0.2\n", "bad.csv:3");
    expect_error("value,mated\n0.5,1\n", "bad.csv:1: the header needs");
    expect_error("score,mated\ninf,1\n", "bad.csv:2");
    expect_error("score,mated,enrol_id,probe_id\n0.5,1,a,b\n", "bad.csv:2: a mated comparison of different");
    tu_cleanup();
}
END_TEST

/* Embeddings whose dot products are exact in float (multiples of 1/8, 8-d),
 * so any summation order gives the same scores. Rows 0..n/2 are unmasked,
 * the rest masked, so every mixed pair i < j is none:masked. */
static void make_embeddings(float *e, int *id, int *cond, uint8_t *failed, size_t n, size_t dim)
{
    mfr_rng r;
    mfr_rng_init(&r, 99, 3, 0);
    for (size_t i = 0; i < n; i++) {
        id[i] = (int)(i % 37);
        cond[i] = i < n / 2 ? 0 : 1;
        failed[i] = i % 41 == 5;
        for (size_t k = 0; k < dim; k++)
            e[i * dim + k] = (float)((int)mfr_rng_below(&r, 9) - 4) / 8.0f + (k == (size_t)id[i] % dim ? 0.5f : 0);
    }
    for (size_t k = 0; k < dim; k++) /* an all-NaN row: a failure to acquire */
        e[7 * dim + k] = NAN;
}

static void same_stats(const mfr_verify_stats *a, const mfr_verify_stats *b)
{
    ck_assert_uint_eq(a->mated, b->mated);
    ck_assert_uint_eq(a->nonmated, b->nonmated);
    ck_assert_uint_eq(a->fta_mated, b->fta_mated);
    ck_assert_uint_eq(a->fta_nonmated, b->fta_nonmated);
    ck_assert(a->eer.eer == b->eer.eer && a->eer.low == b->eer.low && a->eer.high == b->eer.high);
    ck_assert_int_eq(isnan(a->eer.t2), isnan(b->eer.t2));
    ck_assert(fabs(a->dprime - b->dprime) <= 1e-9 * fabs(a->dprime));
    for (int i = 0; i < a->n_points; i++) {
        const mfr_verify_point *p = &a->at_fmr[i], *q = &b->at_fmr[i];
        ck_assert_int_eq(p->supported, q->supported);
        if (!p->supported)
            continue;
        ck_assert(p->threshold == q->threshold);
        ck_assert_uint_eq(p->false_matches, q->false_matches);
        ck_assert_uint_eq(p->false_non_matches, q->false_non_matches);
        ck_assert(p->fmr_lo == q->fmr_lo && p->fnmr_hi == q->fnmr_hi);
    }
}

START_TEST(test_all_pairs_equals_pairs)
{
    enum { N = 400, D = 8 };
    static float e[N * D];
    static int id[N], cond[N];
    static uint8_t failed[N];
    static size_t pa[N * (N - 1) / 2], pb[N * (N - 1) / 2];
    const char *names[] = {"none", "surgical"};
    size_t np = 0;
    mfr_verify_opts o;
    mfr_vset *ap, *ap1, *ex;
    const char *groups[] = {"overall", "mask_pair=none:none", "mask_pair=none:surgical",
                            "mask_pair=surgical:surgical"};
    make_embeddings(e, id, cond, failed, N, D);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            pa[np] = i;
            pb[np++] = j;
        }
    mfr_verify_opts_default(&o);
    o.bootstrap = 0;
    o.hist_bits = 12;  /* coarse bins: most statistics need a refined bin */
    o.block = 48;      /* many blocks, ragged edges */
    o.nist_fmr = 1e-3;
    o.n_thresholds = 2;
    o.thresholds[0] = 0.3;
    o.thresholds[1] = 0.7;
    mfr_set_threads(2);
    tu_ok(mfr_vset_all_pairs_mem(e, N, D, id, cond, names, 2, failed, &o, &ap));
    mfr_set_threads(1);
    tu_ok(mfr_vset_all_pairs_mem(e, N, D, id, cond, names, 2, failed, &o, &ap1));
    mfr_set_threads(0);
    tu_ok(mfr_vset_pairs_mem(e, N, D, id, cond, names, 2, failed, pa, pb, np, &o, &ex));
    for (size_t k = 0; k < sizeof groups / sizeof *groups; k++) {
        int ga = mfr_vset_find(ap, groups[k]), g1 = mfr_vset_find(ap1, groups[k]), gx = mfr_vset_find(ex, groups[k]);
        mfr_verify_stats sa, s1, sx;
        ck_assert_msg(ga >= 0 && g1 >= 0 && gx >= 0, "group %s missing", groups[k]);
        tu_ok(mfr_vset_stats(ap, ga, &o, &sa));
        tu_ok(mfr_vset_stats(ap1, g1, &o, &s1));
        tu_ok(mfr_vset_stats(ex, gx, &o, &sx));
        ck_assert(sa.nonmated > 10000 && sa.mated > 300 && (k > 0 || sa.fta_mated > 0));
        same_stats(&sa, &sx);
        same_stats(&sa, &s1);
        /* The EER thresholds may differ (a bin edge can stand in for the
         * nearest score) but give the same rates. */
        {
            mfr_verify_point p, q;
            tu_ok(mfr_verify_at_threshold(mfr_vset_mated(ex, gx), mfr_vset_nonmated(ex, gx), sa.eer.t2, 0.95, 0, 0, &p));
            tu_ok(mfr_verify_at_threshold(mfr_vset_mated(ex, gx), mfr_vset_nonmated(ex, gx), sx.eer.t2, 0.95, 0, 0, &q));
            ck_assert(p.fmr == q.fmr && p.fnmr == q.fnmr);
        }
        ck_assert(sa.dprime == s1.dprime); /* same bits at any thread count */
        for (int i = 0; i < o.n_thresholds; i++)
            ck_assert_uint_eq(sa.at_threshold[i].false_matches, sx.at_threshold[i].false_matches);
    }
    /* The NIST section (threshold on none:none at FMR 1e-3) is identical too. */
    tu_ok(mfr_verify_write(ap, &o, tu_tmp("ap")));
    tu_ok(mfr_verify_write(ex, &o, tu_tmp("ex")));
    {
        char *x = strdup(strstr(read_text(tu_tmp("ap/fnmr_conditions.csv")), "\n"));
        ck_assert_str_eq(x, strstr(read_text(tu_tmp("ex/fnmr_conditions.csv")), "\n"));
        free(x);
    }
    mfr_vset_free(ap);
    mfr_vset_free(ap1);
    mfr_vset_free(ex);
    tu_cleanup();
}
END_TEST

START_TEST(test_bootstrap_deterministic)
{
    enum { N = 120, D = 8 };
    static float e[N * D];
    static int id[N], cond[N];
    static uint8_t failed[N];
    static size_t pa[N * N], pb[N * N];
    size_t np = 0;
    mfr_verify_opts o;
    mfr_vset *s;
    mfr_verify_stats a, b;
    make_embeddings(e, id, cond, failed, N, D);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            pa[np] = i, pb[np++] = j;
    mfr_verify_opts_default(&o);
    o.bootstrap = 50;
    tu_ok(mfr_vset_pairs_mem(e, N, D, id, NULL, NULL, 0, NULL, pa, pb, np, &o, &s));
    mfr_set_threads(1);
    tu_ok(mfr_vset_stats(s, 0, &o, &a));
    mfr_set_threads(2);
    tu_ok(mfr_vset_stats(s, 0, &o, &b));
    mfr_set_threads(0);
    ck_assert_int_eq(a.eer.boot_reps, 50);
    ck_assert(a.eer.boot_lo == b.eer.boot_lo && a.eer.boot_hi == b.eer.boot_hi);
    ck_assert(a.eer.boot_lo <= a.eer.boot_hi);
    mfr_vset_free(s);
}
END_TEST

START_TEST(test_pairs_files)
{
    /* 4 images of 2 subjects; row 3 failed (acquired=0). */
    const float e[] = {1, 0, 0.6f, 0.8f, 0, 1, 0.8f, 0.6f};
    const char *man = "file,identity,mask,acquired\na,s1,none,1\nb,s1,surgical,1\nc,s2,none,1\nd,s2,none,0\n";
    const char *pairs = "enrol,probe,mated\na,b,1\na,c,0\n2,3,1\nb,c,0\n";
    const char *bad = "enrol,probe,mated\na,b,1\na,c,1\n";
    mfr_verify_opts o;
    mfr_vset *s;
    mfr_verify_stats st;
    int g;
    mfr_verify_opts_default(&o);
    tu_ok(mfr_npy_write(tu_tmp("e.npy"), e, 4, 2));
    tu_write(tu_tmp("m.csv"), man, strlen(man));
    tu_write(tu_tmp("p.csv"), pairs, strlen(pairs));
    tu_write(tu_tmp("bad.csv"), bad, strlen(bad));
    tu_ok(mfr_vset_load_pairs(tu_tmp("e.npy"), tu_tmp("m.csv"), tu_tmp("p.csv"), &o, &s));
    tu_ok(mfr_vset_stats(s, 0, &o, &st));
    ck_assert_uint_eq(st.mated, 1);
    ck_assert_uint_eq(st.nonmated, 2);
    ck_assert_uint_eq(st.fta_mated, 1);
    /* a.b = 0.6 (mated); a.c = 0, b.c = 0.8 (non-mated). t1 = 0.6: FNMR 0,
     * FMR 1/2; t2 = 0.8: FNMR 1, FMR 1/2. 0 + 1/2 <= 1/2 + 1, so [low, high]
     * = [FNMR(t1), FMR(t1)] = [0, 1/2] and EER 1/4. */
    ck_assert(st.eer.low == 0 && st.eer.high == 0.5 && st.eer.eer == 0.25);
    g = mfr_vset_find(s, "mask_pair=none:surgical");
    ck_assert_int_ge(g, 0);
    tu_ok(mfr_vset_stats(s, g, &o, &st));
    ck_assert_uint_eq(st.mated, 1);
    mfr_vset_free(s);
    ck_assert_int_ne(mfr_vset_load_pairs(tu_tmp("e.npy"), tu_tmp("m.csv"), tu_tmp("bad.csv"), &o, &s), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "bad.csv:3"), "%s", mfr_last_error());
    /* All pairs from the files: 6 pairs, 3 with the failed row. */
    tu_ok(mfr_vset_all_pairs(tu_tmp("e.npy"), tu_tmp("m.csv"), &o, &s));
    tu_ok(mfr_vset_stats(s, 0, &o, &st));
    ck_assert_uint_eq(st.mated, 1);
    ck_assert_uint_eq(st.nonmated, 2);
    ck_assert_uint_eq(st.fta_mated + st.fta_nonmated, 3);
    mfr_vset_free(s);
    /* Without failures the embeddings are scored in place: rows a, b, c. */
    {
        const int ids[] = {1, 1, 2};
        tu_ok(mfr_vset_all_pairs_mem(e, 3, 2, ids, NULL, NULL, 0, NULL, &o, &s));
        tu_ok(mfr_vset_stats(s, 0, &o, &st));
        ck_assert_uint_eq(st.mated, 1);
        ck_assert_uint_eq(st.nonmated, 2);
        ck_assert(st.eer.eer == 0.25);
        mfr_vset_free(s);
    }
    tu_cleanup();
}
END_TEST

/* ------------------------------------------------------------------- .npy */

START_TEST(test_npy_roundtrip)
{
    float v[6] = {1, -2, 3.5f, NAN, 0, 1e-30f}, *r;
    size_t rows, cols;
    tu_ok(mfr_npy_write(tu_tmp("a.npy"), v, 2, 3));
    tu_ok(mfr_npy_read(tu_tmp("a.npy"), 100, &r, &rows, &cols));
    ck_assert(rows == 2 && cols == 3);
    ck_assert(memcmp(v, r, sizeof v) == 0);
    mfr_free(r);
    /* The header is padded so that the data starts at a multiple of 64. */
    {
        const unsigned char *b = (const unsigned char *)read_text(tu_tmp("a.npy"));
        ck_assert_int_eq((10 + (b[8] | b[9] << 8)) % 64, 0);
    }
    /* Too many values for the caller's limit: refused before allocation. */
    ck_assert_int_eq(mfr_npy_read(tu_tmp("a.npy"), 5, &r, &rows, &cols), MFR_ERR_RANGE);
    tu_cleanup();
}
END_TEST

static int npy_parse_text(const char *header, const void *data, size_t nbytes, int version)
{
    unsigned char buf[512];
    size_t hl = strlen(header), off = version == 1 ? 10 : 12;
    float *r = NULL;
    size_t rows, cols;
    int rc;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    buf[8] = (unsigned char)hl;
    buf[9] = 0;
    if (version != 1)
        buf[10] = buf[11] = 0;
    memcpy(buf + off, header, hl);
    memcpy(buf + off + hl, data, nbytes);
    rc = mfr_npy_parse(buf, off + hl + nbytes, "t.npy", 1000, &r, &rows, &cols);
    mfr_free(r);
    return rc;
}

START_TEST(test_npy_malformed)
{
    float d[4] = {1, 2, 3, 4};
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", d, 16, 1),
                     MFR_OK);
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", d, 16, 2),
                     MFR_OK);
    ck_assert_int_eq(npy_parse_text("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", d, 16, 1),
                     MFR_OK);
    ck_assert_int_eq(npy_parse_text("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }\n", d, 16, 1),
                     MFR_ERR_UNSUPPORTED);
    ck_assert(strstr(mfr_last_error(), "t.npy") && strstr(mfr_last_error(), "float32"));
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", d, 16, 1),
                     MFR_ERR_UNSUPPORTED);
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", d, 12, 1),
                     MFR_ERR_FORMAT);
    ck_assert(strstr(mfr_last_error(), "12 bytes"));
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 1), }\n", d, 16, 1),
                     MFR_ERR_UNSUPPORTED);
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'shape': (2, 2), }\n", d, 16, 1), MFR_ERR_FORMAT);
    ck_assert_int_eq(npy_parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
                                    d, 16, 1),
                     MFR_ERR_RANGE);
    ck_assert_int_eq(npy_parse_text("garbage", d, 16, 1), MFR_ERR_FORMAT);
    {
        float *r;
        size_t rows, cols;
        ck_assert_int_eq(mfr_npy_parse("\x93NUMPX\x01\x00", 8, "t.npy", 10, &r, &rows, &cols), MFR_ERR_FORMAT);
    }
}
END_TEST

/* -------------------------------------------------------------- detection */

START_TEST(test_ap_and_iou)
{
    const uint8_t tp[] = {1, 0, 1, 0};
    const float a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 10, 10}, c[4] = {20, 20, 5, 5};
    /* Precision 1, 1/2, 2/3, 1/2; envelope at the recall steps: 1 and 2/3.
     * AP = 1/3 * 1 + 1/3 * 2/3 = 5/9 (the third face is never found). */
    ck_assert(fabs(mfr_average_precision(tp, 4, 3) - 5.0 / 9) < 1e-15);
    ck_assert(mfr_average_precision(tp, 0, 3) == 0);
    ck_assert(isnan(mfr_average_precision(tp, 4, 0)));
    {
        const uint8_t all[] = {1, 1};
        ck_assert(mfr_average_precision(all, 2, 2) == 1.0);
    }
    ck_assert(fabs(mfr_iou(a, b) - 1.0 / 3) < 1e-12);
    ck_assert(mfr_iou(a, c) == 0);
    ck_assert(mfr_iou(a, a) == 1);
}
END_TEST

START_TEST(test_detect_files)
{
    const char *man = "file,identity,mask,box_x,box_y,box_w,box_h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,"
                      "lm4_x,lm4_y\n"
                      "a.png,1,none,10,10,100,100,40,50,80,50,60,70,45,90,75,90\n"
                      "b.png,2,surgical,0,0,20,20,5,8,15,8,10,12,6,16,14,16\n"
                      "c.png,3,none,,,,,,,,,,,,,,\n";
    /* a: exact (landmarks off by 4 px on x: NME 4/40 = 0.1); b: a miss plus
     * a false positive on c scoring higher than b's true detection. */
    const char *pred = "image,score,x,y,w,h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,lm4_x,lm4_y\n"
                       "a.png,0.9,10,10,100,100,44,50,84,50,64,70,49,90,79,90\n"
                       "c.png,0.8,0,0,50,50,0,0,0,0,0,0,0,0,0,0\n"
                       "b.png,0.7,0,0,20,20,5,8,15,8,10,12,6,16,14,16\n";
    mfr_detect_opts o;
    const char *js;
    mfr_detect_opts_default(&o);
    tu_write(tu_tmp("m.csv"), man, strlen(man));
    tu_write(tu_tmp("p.csv"), pred, strlen(pred));
    tu_ok(mfr_eval_detect(tu_tmp("p.csv"), tu_tmp("m.csv"), &o, tu_tmp("det")));
    js = read_text(tu_tmp("det/results.tsv"));
    /* TP, FP, TP over 2 faces: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6. */
    ck_assert_msg(strstr(js, "detect/subsets/all/ap50\t0.833333333333\n"), "%s", js);
    /* Easy (h >= 64): only face a; the FP on c (h = 50) is outside: AP 1. */
    ck_assert(strstr(js, "detect/subsets/easy/ap50\t1\n"));
    /* Hard (h < 32): face b, detected after no in-range FP... c's FP is 50 px: ignored. */
    ck_assert(strstr(js, "detect/subsets/hard/ap50\t1\n"));
    /* Mask subsets: the FP on c (no face) counts in each; a's detection is
     * ignored in the surgical subset. surgical: FP then TP: AP 1/2. */
    ck_assert(strstr(js, "detect/subsets/mask=surgical/ap50\t0.5\n"));
    ck_assert(strstr(js, "detect/subsets/mask=none/ap50\t1\n"));
    ck_assert(strstr(js, "detect/landmarks/nme\t0.05\n"));
    ck_assert(strstr(js, "detect/recall_at_fppi/1\t1\n"));
    tu_cleanup();
}
END_TEST

/* ---------------------------------------------------------------- latency */

START_TEST(test_latency)
{
    char csv[8192];
    size_t n = 0;
    const char *files[2], *labels[2] = {"fast", "slow"}, *t;
    n += (size_t)snprintf(csv + n, sizeof csv - n, "item,threads,batch,detect,embed\n");
    for (int i = 1; i <= 100; i++)
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%d,2,8,%d,1\n", i, i);
    tu_write(tu_tmp("t.csv"), csv, n);
    files[0] = files[1] = tu_tmp("t.csv");
    tu_ok(mfr_eval_latency(files, labels, 2, tu_tmp("lat")));
    t = read_text(tu_tmp("lat/results.tsv"));
    ck_assert(strstr(t, "latency/runs/fast/stages/detect/p50\t50\n"));
    ck_assert(strstr(t, "latency/runs/fast/stages/detect/p90\t90\n"));
    ck_assert(strstr(t, "latency/runs/fast/stages/detect/p99\t99\n"));
    ck_assert(strstr(t, "latency/runs/fast/stages/detect/max\t100\n"));
    ck_assert(strstr(t, "latency/runs/fast/stages/detect/mean\t50.5\n"));
    ck_assert(strstr(t, "latency/runs/slow/stages/total/mean\t51.5\n"));
    ck_assert(strstr(t, "latency/runs/slow/threads\t2\n"));
    /* Throughput estimated from threads and the mean total: 2 * 1000 / 51.5. */
    ck_assert(strstr(t, "latency/runs/fast/throughput_items_per_s\t38.8349514563\n"));
    tu_write(tu_tmp("bad.csv"), "detect\n1\n-3\n", 12);
    files[0] = tu_tmp("bad.csv");
    ck_assert_int_ne(mfr_eval_latency(files, labels, 1, tu_tmp("lat2")), MFR_OK);
    ck_assert(strstr(mfr_last_error(), "bad.csv:3"));
    tu_cleanup();
}
END_TEST

/* ---------------------------------------------------------- identification */

START_TEST(test_identify)
{
    /* 2-d embeddings: gallery g1 (1,0), g2 (0,1); probes: p1 close to g1,
     * p2 closer to g1 than to its mate g2 (rank 2), p3 of identity 3 that is
     * not enrolled (a non-mated search). */
    const float e[] = {1, 0, 0, 1, 0.9f, 0.1f, 0.8f, 0.6f, 0.5f, 0.5f};
    const char *man = "file,identity,mask\ng1,1,none\ng2,2,none\np1,1,surgical\np2,2,surgical\np3,3,surgical\n";
    mfr_identify_opts o;
    const char *t;
    tu_ok(mfr_npy_write(tu_tmp("e.npy"), e, 5, 2));
    tu_write(tu_tmp("m.csv"), man, strlen(man));
    mfr_identify_opts_default(&o);
    o.gallery = "mask=none";
    o.max_rank = 2;
    tu_ok(mfr_eval_identify(tu_tmp("e.npy"), tu_tmp("m.csv"), &o, tu_tmp("id")));
    t = read_text(tu_tmp("id/results.tsv"));
    ck_assert(strstr(t, "identify/mated_searches\t2\n") && strstr(t, "identify/nonmated_searches\t1\n"));
    ck_assert(strstr(t, "identify/cmc/0/rate\t0.5\n"));
    ck_assert(strstr(t, "identify/cmc/1/rate\t1\n"));
    tu_cleanup();
}
END_TEST

/* ----------------------------------------------------------------- report */

START_TEST(test_report_without_gnuplot)
{
    const char *csv = "score,mated\n0.9,1\n0.8,1\n0.1,0\n0.3,0\n";
    mfr_verify_opts o;
    mfr_report_opts ro = {0};
    mfr_vset *s;
    const char *dirs[1];
    mfr_verify_opts_default(&o);
    tu_write(tu_tmp("s.csv"), csv, strlen(csv));
    tu_ok(mfr_vset_load_scores(tu_tmp("s.csv"), &o, &s));
    tu_ok(mfr_verify_write(s, &o, tu_tmp("v")));
    mfr_vset_free(s);
    ro.gnuplot = "/nonexistent/gnuplot";
    mfr_log_set_level(MFR_LOG_ERROR); /* the expected warning */
    dirs[0] = tu_tmp("v");
    tu_ok(mfr_report(dirs, 1, &ro, tu_tmp("r")));
    ck_assert(strstr(read_text(tu_tmp("r/report.md")), "plots were skipped"));
    ck_assert(strstr(read_text(tu_tmp("r/report.html")), "<table>"));
    ck_assert(strstr(read_text(tu_tmp("r/report.md")), "| system | 2 | 2 | 0.000% |"));
    tu_cleanup();
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_score_keys);
    tcase_add_test(tc, test_normal_and_beta);
    tcase_add_test(tc, test_clopper_pearson);
    tcase_add_test(tc, test_quantile);
    suite_add_tcase(s, tc);
    tc = tcase_create("verify");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rates_by_hand);
    tcase_add_test(tc, test_eer_by_hand);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_one_class_and_empty);
    tcase_add_test(tc, test_properties);
    tcase_add_test(tc, test_scores_csv);
    tcase_add_test(tc, test_hand_file);
    tcase_add_test(tc, test_nist_by_hand);
    tcase_add_test(tc, test_scores_csv_empty);
    tcase_add_test(tc, test_scores_csv_malformed);
    tcase_add_test(tc, test_all_pairs_equals_pairs);
    tcase_add_test(tc, test_bootstrap_deterministic);
    tcase_add_test(tc, test_pairs_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_npy_roundtrip);
    tcase_add_test(tc, test_npy_malformed);
    suite_add_tcase(s, tc);
    tc = tcase_create("other");
    tcase_add_test(tc, test_ap_and_iou);
    tcase_add_test(tc, test_detect_files);
    tcase_add_test(tc, test_latency);
    tcase_add_test(tc, test_identify);
    tcase_add_test(tc, test_report_without_gnuplot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(eval_suite());
    tu_cleanup();
    return rc;
}
