/* Tests of src/nn/kernels: every optimised path against the references,
 * every epilogue, tails, and bit-identical results at 1, 2 and 3 threads.
 *
 * Tolerances: the references accumulate in double; a float path summing k
 * products in any order is within gamma_k * sum|a||b| of the exact value
 * (Higham, Accuracy and Stability, 3.1), gamma_k ~ k u with u = 2^-24. The
 * epilogue adds a few roundings (alpha, beta, bias, residual), and every
 * activation is Lipschitz with constant <= 1.5, so we allow
 * 2 (k + 4) u (|alpha| sum|a||b| + |beta c| + |bias| + |residual|). */
#include "config.h"
#include "testutil.h"
#include "mfr/kernels.h"
#include "nn/kernels/chanpass.h"
#include "nn/kernels/gemm_internal.h"
#include "nn/kernels/spatial.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double unit_roundoff = 1.0 / (1 << 24);

static float *rand_buf(size_t n, uint64_t item)
{
    float *x = mfr_alloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(x);
    mfr_rng r;
    mfr_rng_init(&r, 1234, 7, item);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)mfr_rng_range(&r, -1.0, 1.0);
    return x;
}

static mfr_isa isa_list[3];
static int isa_count;

static void find_isas(void)
{
    isa_count = 0;
    for (int i = MFR_ISA_SCALAR; i <= MFR_ISA_AVX512; i++)
        if (mfr_isa_available((mfr_isa)i))
            isa_list[isa_count++] = (mfr_isa)i;
}

/* ------------------------------------------------------------ activations */

START_TEST(test_act_definitions)
{
    ck_assert(mfr_act_scalar(-2.0f, MFR_ACT_NONE, 0, 0) == -2.0f);
    ck_assert(mfr_act_scalar(-2.0f, MFR_ACT_RELU, 0, 0) == 0.0f);
    ck_assert(mfr_act_scalar(3.0f, MFR_ACT_RELU, 0, 0) == 3.0f);
    ck_assert(mfr_act_scalar(7.0f, MFR_ACT_RELU6, 0, 0) == 6.0f);
    ck_assert(mfr_act_scalar(-1.0f, MFR_ACT_RELU6, 0, 0) == 0.0f);
    ck_assert(mfr_act_scalar(-2.0f, MFR_ACT_LEAKY, 0.1f, 0) == 0.1f * -2.0f);
    ck_assert(mfr_act_scalar(-2.0f, MFR_ACT_PRELU, 0, 0.25f) == -0.5f);
    ck_assert(mfr_act_scalar(2.0f, MFR_ACT_PRELU, 0, 0.25f) == 2.0f);
    ck_assert(fabsf(mfr_act_scalar(0.0f, MFR_ACT_SIGMOID, 0, 0) - 0.5f) < 1e-7f);
    ck_assert(fabsf(mfr_act_scalar(1.0f, MFR_ACT_TANH, 0, 0) - 0.76159416f) < 1e-6f);
    ck_assert(mfr_act_scalar(1.0f, MFR_ACT_HSWISH, 0, 0) == 4.0f / 6.0f);
    ck_assert(mfr_act_scalar(-4.0f, MFR_ACT_HSWISH, 0, 0) == 0.0f);
    ck_assert(mfr_act_scalar(5.0f, MFR_ACT_HSWISH, 0, 0) == 5.0f);
    /* PReLU channels wrap: value i belongs to channel (channel0 + i) % channels. */
    float x[5] = {-1, -1, -1, -1, -1}, slopes[3] = {0.1f, 0.2f, 0.3f};
    mfr_act_apply(x, 5, MFR_ACT_PRELU, 0, slopes, 1, 3);
    ck_assert(x[0] == -0.2f && x[1] == -0.3f && x[2] == -0.1f && x[3] == -0.2f && x[4] == -0.3f);
}
END_TEST

/* ------------------------------------------------------------------- GEMM */

typedef struct gemm_case {
    char ta, tb;
    int m, n, k;
    float alpha, beta;
    int bias, per_row, residual;
    mfr_act act;
} gemm_case;

/* Runs one case on one path and checks every element against the reference. */
static void check_gemm(mfr_isa isa, const gemm_case *t, int packed_b)
{
    int m = t->m, n = t->n, k = t->k;
    int lda = (t->ta == 'T' ? m : k) + 3, ldb = (t->tb == 'T' ? k : n) + 1, ldc = n + 2, ldr = n + 5;
    size_t a_rows = t->ta == 'T' ? (size_t)k : (size_t)m, b_rows = t->tb == 'T' ? (size_t)n : (size_t)k;
    float *a = rand_buf(a_rows * lda, 1), *b = rand_buf(b_rows * ldb, 2);
    float *c0 = rand_buf((size_t)m * ldc, 3), *bias = rand_buf((size_t)(m > n ? m : n), 4);
    float *res = rand_buf((size_t)m * ldr, 5), *slopes = rand_buf((size_t)(m > n ? m : n), 6);
    float *c = mfr_alloc((size_t)m * ldc * sizeof(float)), *r = mfr_alloc((size_t)m * ldc * sizeof(float));
    memcpy(c, c0, (size_t)m * ldc * sizeof(float));
    memcpy(r, c0, (size_t)m * ldc * sizeof(float));
    mfr_epilogue ep = {t->bias ? bias : NULL, t->per_row, t->residual ? res : NULL, ldr, t->act, 0.125f, slopes};
    const mfr_epilogue *epp = t->bias || t->residual || t->act ? &ep : NULL;
    mfr_sgemm_reference(t->ta, t->tb, m, n, k, t->alpha, a, lda, b, ldb, t->beta, r, ldc, epp);
    if (packed_b) {
        mfr_packed_b *pb;
        tu_ok(mfr_gemm_pack_b(t->tb, k, n, b, ldb, &pb));
        mfr_sgemm_packed(m, a, lda, pb, c, ldc, epp);
        mfr_gemm_packed_free(pb);
    } else {
        mfr_sgemm_isa(isa, t->ta, t->tb, m, n, k, t->alpha, a, lda, b, ldb, t->beta, c, ldc, epp);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = t->ta == 'T' ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = t->tb == 'T' ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += fabs((double)av * bv);
            }
            s = fabs(t->alpha) * s + fabs(t->beta * c0[(size_t)i * ldc + j]);
            if (t->bias)
                s += fabs(bias[t->per_row ? i : j]);
            if (t->residual)
                s += fabs(res[(size_t)i * ldr + j]);
            double tol = 2.0 * (k + 4) * unit_roundoff * s + 1e-30;
            double got = c[(size_t)i * ldc + j], want = r[(size_t)i * ldc + j];
            ck_assert_msg(fabs(got - want) <= tol,
                          "isa %s%s %c%c m=%d n=%d k=%d alpha=%g beta=%g act=%d: C[%d][%d] = %.9g, want %.9g (tol %.3g)",
                          mfr_isa_name(isa), packed_b ? " packed" : "", t->ta, t->tb, m, n, k, t->alpha, t->beta,
                          (int)t->act, i, j, got, want, tol);
        }
    /* Padding columns between n and ldc are never written. */
    for (int i = 0; i < m; i++)
        for (int j = n; j < ldc; j++)
            ck_assert(c[(size_t)i * ldc + j] == c0[(size_t)i * ldc + j]);
    mfr_free(a), mfr_free(b), mfr_free(c0), mfr_free(bias), mfr_free(res), mfr_free(slopes), mfr_free(c), mfr_free(r);
}

static const int dims[] = {1, 2, 3, 5, 7, 13, 14, 15, 16, 17, 31, 32, 33, 47, 64, 97, 131, 257, 300};
#define NDIMS ((int)(sizeof dims / sizeof dims[0]))

START_TEST(test_gemm_shapes)
{
    /* Many shapes, all transposes, on every available path. */
    mfr_rng r;
    mfr_rng_init(&r, 99, 1, (uint64_t)_i);
    for (int ii = 0; ii < isa_count; ii++) {
        for (int trial = 0; trial < 24; trial++) {
            gemm_case t = {"NT"[trial & 1], "NT"[(trial >> 1) & 1], dims[mfr_rng_below(&r, NDIMS)],
                           dims[mfr_rng_below(&r, NDIMS)], dims[mfr_rng_below(&r, NDIMS)], 1.0f, 0.0f, 0, 0, 0,
                           MFR_ACT_NONE};
            check_gemm(isa_list[ii], &t, 0);
        }
    }
}
END_TEST

START_TEST(test_gemm_alpha_beta_epilogues)
{
    static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, -0.75f}, {0.0f, 0.5f}};
    for (int ii = 0; ii < isa_count; ii++)
        for (int act = MFR_ACT_NONE; act <= MFR_ACT_HSWISH; act++)
            for (int v = 0; v < 4; v++) {
                /* Small (unpacked path) and larger (packed, several k-blocks) shapes. */
                int big = (v + act) & 1;
                gemm_case t = {"NT"[v & 1], "NT"[(v + act) % 2], big ? 61 : 9, big ? 45 : 23, big ? 700 : 11,
                               ab[v][0], ab[v][1], v != 0, v == 2, v >= 2, (mfr_act)act};
                check_gemm(isa_list[ii], &t, 0);
                /* N <= 16 over several k-blocks: the narrow packed tiles */
                gemm_case tn = {"NT"[v & 1], "NT"[(v + act) % 2], 100, 16 - 3 * (v & 1), 900,
                                ab[v][0], ab[v][1], v != 0, v == 2, v >= 2, (mfr_act)act};
                check_gemm(isa_list[ii], &tn, 0);
            }
}
END_TEST

START_TEST(test_gemm_packed_b)
{
    for (int ii = 0; ii < isa_count; ii++) {
        setenv("MFR_ISA", mfr_isa_name(isa_list[ii]), 1);
        gemm_case t1 = {'N', 'T', 37, 70, 129, 1.0f, 0.0f, 1, 0, 1, MFR_ACT_RELU};
        gemm_case t2 = {'N', 'N', 200, 33, 600, 1.0f, 0.0f, 0, 0, 0, MFR_ACT_NONE};
        gemm_case t3 = {'N', 'N', 1, 5, 3, 1.0f, 0.0f, 1, 0, 0, MFR_ACT_PRELU};
        check_gemm(isa_list[ii], &t1, 1);
        check_gemm(isa_list[ii], &t2, 1);
        check_gemm(isa_list[ii], &t3, 1);
    }
    unsetenv("MFR_ISA");
}
END_TEST

START_TEST(test_gemm_short)
{
    /* Fewer rows than a micro-tile (fully connected layers on one face):
     * the in-place path, with B as a matrix and prepacked, and its threads. */
    static const int ms[] = {1, 2, 3, 4, 5, 13};
    for (int ii = 0; ii < isa_count; ii++) {
        setenv("MFR_ISA", mfr_isa_name(isa_list[ii]), 1);
        for (int q = 0; q < 6; q++) {
            gemm_case t = {'N', 'N', ms[q], 300, 257, 1.0f, 0.5f, 1, 0, 1, MFR_ACT_PRELU};
            check_gemm(isa_list[ii], &t, 0);
            gemm_case tp = {'N', 'T', ms[q], 77, 515, 1.0f, 0.0f, 1, 0, 0, MFR_ACT_RELU};
            check_gemm(isa_list[ii], &tp, 1);
        }
        /* Large enough for the wide one- to three-row tiles to be dealt to
         * threads: the reference at 2 threads, the same bits at 1, 2, 3. */
        const int m = 3, n = 700, k = 1100;
        mfr_set_threads(2);
        for (int mm = 1; mm <= m; mm++) {
            gemm_case tl = {'N', 'N', mm, n, k, 1.0f, 0.0f, 1, 0, 0, MFR_ACT_NONE};
            check_gemm(isa_list[ii], &tl, 0);
        }
        float *a = rand_buf((size_t)m * k, 31), *b = rand_buf((size_t)k * n, 32), *c[3];
        for (int t = 0; t < 3; t++) {
            c[t] = rand_buf((size_t)m * n, 33);
            mfr_set_threads(t + 1);
            mfr_sgemm_isa(isa_list[ii], 'N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c[t], n, NULL);
        }
        for (int t = 1; t < 3; t++)
            ck_assert_msg(memcmp(c[0], c[t], sizeof(float) * (size_t)m * n) == 0, "%s: %d rows, 1 vs %d threads",
                          mfr_isa_name(isa_list[ii]), m, t + 1);
        mfr_set_threads(0);
        mfr_free(a), mfr_free(b), mfr_free(c[0]), mfr_free(c[1]), mfr_free(c[2]);
    }
    unsetenv("MFR_ISA");
}
END_TEST

START_TEST(test_gemm_degenerate)
{
    /* k = 0: C = beta C (+ epilogue); m = 0 or n = 0: nothing is touched. */
    float c[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {10, 20, 30};
    mfr_epilogue ep = {bias, 0, NULL, 0, MFR_ACT_NONE, 0, NULL};
    mfr_sgemm_ex('N', 'N', 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, c, 3, &ep);
    ck_assert(c[0] == 12 && c[1] == 24 && c[2] == 36 && c[3] == 18 && c[4] == 30 && c[5] == 42);
    mfr_sgemm('N', 'N', 0, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, c, 3);
    mfr_sgemm('N', 'N', 2, 0, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, c, 3);
    ck_assert(c[0] == 12);
    /* beta == 0 never reads C: NaN there must not leak into the result. */
    float a[2] = {1, 2}, b[2] = {3, 4}, cn[1] = {NAN};
    mfr_sgemm('N', 'N', 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, cn, 1);
    ck_assert(cn[0] == 11.0f);
}
END_TEST

/* Bitwise-identical output at 1, 2 and 3 threads, on every path. */
START_TEST(test_gemm_threads_bitwise)
{
    /* k = 517: two KC-blocks (B shared, double-buffered); k = 200: one block
     * (each thread packs its own B); m = 2: fewer rows than threads; n = 16:
     * the narrow two-panel tiles; 49 x 133 x 1100: few rows, three blocks of
     * B, the last one shorter (split over N, each thread packing its own
     * panels, threads free to run a block apart). */
    static const int shapes[][3] = {{333, 211, 517}, {301, 150, 200}, {2, 300, 999}, {333, 16, 517}, {49, 133, 1100}};
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        float *a = rand_buf((size_t)m * k, 11), *b = rand_buf((size_t)k * n, 12), *bias = rand_buf((size_t)n, 13);
        float *c[3];
        mfr_epilogue ep = {bias, 0, NULL, 0, MFR_ACT_RELU6, 0, NULL};
        for (int ii = 0; ii < isa_count; ii++) {
            for (int t = 0; t < 3; t++) {
                c[t] = rand_buf((size_t)m * n, 14);
                mfr_set_threads(t + 1);
                mfr_sgemm_isa(isa_list[ii], 'N', 'T', m, n, k, 0.5f, a, k, b, k, 0.25f, c[t], n, &ep);
            }
            ck_assert_msg(memcmp(c[0], c[1], (size_t)m * n * sizeof(float)) == 0, "%s, shape %d: 1 vs 2 threads",
                          mfr_isa_name(isa_list[ii]), si);
            ck_assert_msg(memcmp(c[0], c[2], (size_t)m * n * sizeof(float)) == 0, "%s, shape %d: 1 vs 3 threads",
                          mfr_isa_name(isa_list[ii]), si);
            for (int t = 0; t < 3; t++)
                mfr_free(c[t]);
        }
        mfr_set_threads(0);
        mfr_free(a), mfr_free(b), mfr_free(bias);
    }
}
END_TEST

/* A small C with a very long K (weight gradients): K is cut into chunks by
 * the shape alone and the chunk products added in order. Every transpose,
 * alpha and beta against the reference, and the same bits at 1, 2 and 3
 * threads; an epilogue keeps the plain path (checked too). */
START_TEST(test_gemm_long_k)
{
    static const gemm_case cases[] = {
        {'T', 'N', 16, 16, 20000, 1.0f, 1.0f, 0, 0, 0, MFR_ACT_NONE},
        {'N', 'T', 5, 33, 17000, 0.5f, 1.5f, 0, 0, 0, MFR_ACT_NONE},
        {'T', 'T', 64, 40, 16400, -1.0f, 0.0f, 0, 0, 0, MFR_ACT_NONE},
        {'N', 'N', 3, 2, 40000, 2.0f, 0.25f, 0, 0, 0, MFR_ACT_NONE},
        {'T', 'N', 16, 16, 20000, 1.0f, 0.0f, 1, 0, 0, MFR_ACT_RELU},
    };
    for (int ii = 0; ii < isa_count; ii++)
        for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++)
            check_gemm(isa_list[ii], &cases[q], 0);
    {
        int m = 64, n = 48, k = 20000;
        float *a = rand_buf((size_t)k * m, 21), *b = rand_buf((size_t)k * n, 22), *c[3];
        for (int ii = 0; ii < isa_count; ii++) {
            for (int t = 0; t < 3; t++) {
                c[t] = rand_buf((size_t)m * n, 23);
                mfr_set_threads(t + 1);
                mfr_sgemm_isa(isa_list[ii], 'T', 'N', m, n, k, 1.0f, a, m, b, n, 1.0f, c[t], n, NULL);
            }
            ck_assert_msg(memcmp(c[0], c[1], (size_t)m * n * sizeof(float)) == 0, "%s: 1 vs 2 threads",
                          mfr_isa_name(isa_list[ii]));
            ck_assert_msg(memcmp(c[0], c[2], (size_t)m * n * sizeof(float)) == 0, "%s: 1 vs 3 threads",
                          mfr_isa_name(isa_list[ii]));
            for (int t = 0; t < 3; t++)
                mfr_free(c[t]);
        }
        mfr_set_threads(0);
        mfr_free(a), mfr_free(b);
    }
}
END_TEST

START_TEST(test_gemm_blocking)
{
    mfr_gemm_blocking bl = mfr_gemm_get_blocking();
    ck_assert_int_gt(bl.mr, 0);
    ck_assert_int_gt(bl.nr, 0);
    ck_assert_int_eq(bl.mc % bl.mr, 0);
    ck_assert_int_eq(bl.nc % bl.nr, 0);
    ck_assert_int_ge(bl.kc, 64);
}
END_TEST

/* ------------------------------------------------------------ convolution */

typedef struct conv_case {
    int n, h, w, c_in, c_out, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
    int bias, residual;
    mfr_act act;
} conv_case;

static mfr_conv_params conv_params(const conv_case *t)
{
    mfr_conv_params p = {t->n,  t->h,  t->w,  t->c_in, t->c_out, t->kh, t->kw, t->sh,
                         t->sw, t->pt, t->pl, t->pb,   t->pr,    t->dh, t->dw, t->groups};
    return p;
}

static const conv_case conv_cases[] = {
    /* n  h   w  ci  co kh kw sh sw pt pl pb pr dh dw g  bias res act */
    {1, 9, 11, 8, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, MFR_ACT_RELU},          /* pointwise */
    {2, 7, 6, 13, 35, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, MFR_ACT_NONE},          /* pointwise + residual */
    {1, 9, 9, 5, 7, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0, 0, MFR_ACT_NONE},            /* 1x1 stride 2 */
    {1, 5, 41, 40, 80, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, MFR_ACT_PRELU},       /* pointwise direct: 4 + 1 vectors, chunk tail */
    {1, 2, 3, 200, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, MFR_ACT_RELU6},       /* pointwise direct: fewer pixels than a block */
    {3, 7, 9, 24, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, MFR_ACT_HSWISH},       /* pointwise direct: 3 images, no bias */
    {1, 3, 5, 300, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, MFR_ACT_LEAKY},       /* pointwise, c_in beyond the direct kernel */
    {1, 12, 10, 3, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_PRELU},        /* stem */
    {1, 6, 72, 3, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_RELU},         /* stem, interior blocks */
    {1, 5, 50, 3, 40, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 1, 1, 0, MFR_ACT_HSWISH},       /* stem, 40 outputs */
    {1, 9, 41, 3, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_RELU},         /* stem, 64 outputs, right border */
    {1, 7, 38, 3, 32, 3, 3, 1, 2, 0, 1, 2, 0, 2, 1, 1, 0, 0, MFR_ACT_LEAKY},        /* stem, stride 1x2, row dilation */
    {2, 8, 70, 3, 20, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_HSWISH},       /* stem, 2 images, 20 outputs */
    {1, 5, 37, 3, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_PRELU},        /* stem, 48 outputs (3 vectors) */
    {2, 8, 9, 17, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_HSWISH},        /* 3x3 s1 + residual */
    {1, 6, 40, 12, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_PRELU},      /* dense direct: 4 + 2 + 1 vectors, wide rows */
    {1, 9, 33, 20, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_RELU},        /* dense direct, stride 2 */
    {1, 8, 30, 10, 16, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0, 1, MFR_ACT_HSWISH},      /* dense direct, dilation 2, 24-pixel blocks */
    {2, 5, 27, 16, 40, 5, 5, 1, 1, 2, 1, 2, 3, 1, 1, 1, 1, 0, MFR_ACT_LEAKY},       /* dense direct 5x5, uneven pads, 2 images */
    {1, 11, 13, 6, 10, 5, 5, 2, 1, 2, 2, 1, 0, 1, 1, 1, 1, 0, MFR_ACT_LEAKY},        /* 5x5, odd pads */
    {1, 10, 10, 4, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0, 0, MFR_ACT_TANH},          /* dilation 2 */
    {1, 8, 8, 12, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, MFR_ACT_SIGMOID},       /* groups 3 */
    {1, 7, 9, 4, 4, 3, 2, 1, 3, 0, 1, 2, 0, 1, 1, 2, 1, 0, MFR_ACT_RELU6},           /* 3x2, groups 2 */
    {1, 13, 11, 35, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 35, 1, 1, MFR_ACT_PRELU},      /* depthwise 3x3 s1 */
    {2, 14, 15, 20, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 20, 1, 0, MFR_ACT_RELU},       /* depthwise 3x3 s2 */
    {1, 12, 12, 16, 16, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 16, 1, 1, MFR_ACT_HSWISH},     /* depthwise 5x5 s1 */
    {1, 15, 13, 9, 9, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 9, 0, 0, MFR_ACT_SIGMOID},       /* depthwise 5x5 s2 */
    {1, 10, 10, 7, 7, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 7, 1, 0, MFR_ACT_NONE},          /* depthwise 7x7 */
    {2, 120, 120, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, MFR_ACT_NONE},     /* backward: one image per patch chunk */
    /* wide rows: the eight-pixel groups, then four, then single pixels */
    {1, 6, 40, 24, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 24, 1, 1, MFR_ACT_PRELU},      /* depthwise 3x3 s2 */
    {1, 3, 29, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, 0, 0, MFR_ACT_HSWISH},     /* depthwise 3x3 s1, single rows */
    {1, 7, 37, 20, 20, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 20, 1, 1, MFR_ACT_RELU6},      /* depthwise 5x5 s1 */
    {1, 9, 45, 33, 33, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 33, 1, 0, MFR_ACT_TANH},       /* depthwise 5x5 s2 */
    {1, 9, 9, 17, 17, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 17, 1, 0, MFR_ACT_LEAKY},        /* depthwise dilated */
    {1, 9, 9, 69, 69, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 69, 1, 1, MFR_ACT_RELU},        /* dw s2, 4 vectors + tail per pixel */
    {2, 5, 6, 80, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 80, 0, 1, MFR_ACT_PRELU},        /* dw s1, small, 2 images */
    {1, 8, 11, 72, 72, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 72, 1, 0, MFR_ACT_HSWISH},      /* dw 5x5 s2, 72 channels */
    {1, 7, 9, 40, 40, 3, 3, 1, 2, 1, 0, 1, 2, 2, 1, 40, 1, 0, MFR_ACT_NONE},         /* dw stride 1x2, row dilation */
    {1, 7, 7, 128, 128, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 128, 1, 0, MFR_ACT_NONE},      /* global depthwise (GDConv) */
    {2, 10, 18, 48, 48, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 48, 1, 1, MFR_ACT_RELU6},     /* dw s2 row pairs from row 0, no left pad */
    {1, 12, 35, 37, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 37, 1, 1, MFR_ACT_SIGMOID},   /* dw s2 row pairs: 8 + 8 + 1 pixels, right border */
    {1, 6, 6, 5, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 0, MFR_ACT_NONE},           /* depth multiplier 2 */
    {1, 4, 4, 600, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_NONE},         /* k > KC */
    {1, 9, 10, 32, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_RELU},         /* channels % 16 == 0 */
    {1, 11, 9, 32, 18, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 2, 1, 0, MFR_ACT_NONE},         /* groups of 16 channels */
    {1, 5, 4, 640, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, MFR_ACT_NONE},         /* k-blocks across taps */
};
#define NCONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

static float *conv_run_isa(mfr_isa isa, const mfr_conv_params *p, const float *in, const float *w,
                           const float *bias, const mfr_epilogue *ep, size_t out_n)
{
    setenv("MFR_ISA", mfr_isa_name(isa), 1);
    mfr_conv_plan *plan;
    tu_ok(mfr_conv_plan_create(p, w, bias, &plan));
    unsetenv("MFR_ISA");
    float *out = rand_buf(out_n, 77); /* garbage that must be overwritten */
    mfr_conv_run(plan, in, out, ep);
    mfr_conv_plan_free(plan);
    return out;
}

START_TEST(test_conv_against_reference)
{
    const conv_case *t = &conv_cases[_i];
    mfr_conv_params p = conv_params(t);
    int oh, ow;
    tu_ok(mfr_conv_output_size(&p, &oh, &ow));
    int cin_g = t->c_in / t->groups, cout_g = t->c_out / t->groups;
    size_t in_n = (size_t)t->n * t->h * t->w * t->c_in, out_n = (size_t)t->n * oh * ow * t->c_out;
    size_t w_n = (size_t)t->c_out * t->kh * t->kw * cin_g;
    float *in = rand_buf(in_n, 20), *w = rand_buf(w_n, 21), *bias = rand_buf((size_t)t->c_out, 22);
    float *res = rand_buf(out_n, 23), *slopes = rand_buf((size_t)t->c_out, 24);
    float *ref = mfr_alloc(out_n * sizeof(float));
    mfr_epilogue ep = {NULL, 0, t->residual ? res : NULL, 0, t->act, 0.1f, slopes};
    mfr_conv_reference(&p, in, w, t->bias ? bias : NULL, ref, &ep);
    for (int ii = 0; ii < isa_count; ii++) {
        float *out = conv_run_isa(isa_list[ii], &p, in, w, t->bias ? bias : NULL, &ep, out_n);
        for (int nimg = 0; nimg < t->n; nimg++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int co = 0; co < t->c_out; co++) {
                        size_t o = (((size_t)nimg * oh + oy) * ow + ox) * t->c_out + co;
                        int g = co / cout_g;
                        double s = 0;
                        for (int ky = 0; ky < t->kh; ky++)
                            for (int kx = 0; kx < t->kw; kx++) {
                                int iy = oy * t->sh - t->pt + ky * t->dh, ix = ox * t->sw - t->pl + kx * t->dw;
                                if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w)
                                    continue;
                                for (int ci = 0; ci < cin_g; ci++)
                                    s += fabs((double)in[(((size_t)nimg * t->h + iy) * t->w + ix) * t->c_in +
                                                         g * cin_g + ci] *
                                              w[(((size_t)co * t->kh + ky) * t->kw + kx) * cin_g + ci]);
                            }
                        if (t->bias)
                            s += fabs(bias[co]);
                        if (t->residual)
                            s += fabs(res[o]);
                        double tol = 2.0 * (t->kh * t->kw * cin_g + 4) * unit_roundoff * s + 1e-30;
                        ck_assert_msg(fabs((double)out[o] - ref[o]) <= tol,
                                      "case %d isa %s: out[%d,%d,%d,%d] = %.9g, want %.9g (tol %.3g)", _i,
                                      mfr_isa_name(isa_list[ii]), nimg, oy, ox, co, out[o], ref[o], tol);
                    }
        mfr_free(out);
    }
    mfr_free(in), mfr_free(w), mfr_free(bias), mfr_free(res), mfr_free(slopes), mfr_free(ref);
}
END_TEST

/* Convolutions whose tiles read their patches in place from a padded copy
 * of the input (AVX-512, output width a multiple of the 14-row tile, 16 or
 * more channels a group) give the bits of the packed GEMM on an explicit
 * im2col matrix with the same prepacked weights: one, two and three
 * k-blocks, strides, dilation, groups, two images, epilogues. */
START_TEST(test_conv_direct_tiles)
{
    static const conv_case cases[] = {
        {1, 28, 28, 128, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_RELU},
        {2, 14, 14, 96, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, MFR_ACT_NONE},
        {1, 56, 56, 64, 64, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 2, 1, 0, MFR_ACT_RELU6},
        {1, 30, 28, 80, 24, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0, 0, MFR_ACT_PRELU},
        {1, 28, 28, 32, 17, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, MFR_ACT_NONE},
    };
    if (!mfr_isa_available(MFR_ISA_AVX512))
        return;
    for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        const conv_case *t = &cases[ci];
        mfr_conv_params p = conv_params(t);
        int oh, ow, cg = t->c_in / t->groups, og = t->c_out / t->groups, k = t->kh * t->kw * cg;
        tu_ok(mfr_conv_output_size(&p, &oh, &ow));
        int m = t->n * oh * ow;
        gemm_conv_src cs = {NULL, t->h, t->w, t->c_in, 0, cg, t->kh, t->kw, t->sh, t->sw,
                            t->pt, t->pl, t->dh, t->dw, oh, ow, NULL, 0, 0};
        ck_assert_msg(gemm_conv_direct_ok(MFR_ISA_AVX512, &cs, k), "case %d does not read patches in place", ci);
        size_t in_n = (size_t)t->n * t->h * t->w * t->c_in, out_n = (size_t)m * t->c_out;
        float *in = rand_buf(in_n, 90), *w = rand_buf((size_t)t->c_out * k, 91), *bias = rand_buf((size_t)t->c_out, 92);
        float *res = rand_buf(out_n, 93), *slopes = rand_buf((size_t)t->c_out, 94);
        mfr_epilogue ep = {NULL, 0, t->residual ? res : NULL, 0, t->act, 0.1f, slopes};
        float *got = conv_run_isa(MFR_ISA_AVX512, &p, in, w, t->bias ? bias : NULL, &ep, out_n);
        float *want = rand_buf(out_n, 95), *cols = mfr_alloc((size_t)m * k * sizeof(float));
        setenv("MFR_ISA", "avx512", 1);
        for (int g = 0; g < t->groups; g++) {
            for (int r = 0; r < m; r++) {
                int nimg = r / (oh * ow), oy = r % (oh * ow) / ow, ox = r % ow;
                for (int tap = 0; tap < t->kh * t->kw; tap++) {
                    int iy = oy * t->sh - t->pt + tap / t->kw * t->dh, ix = ox * t->sw - t->pl + tap % t->kw * t->dw;
                    for (int c = 0; c < cg; c++)
                        cols[(size_t)r * k + tap * cg + c] =
                            iy < 0 || iy >= t->h || ix < 0 || ix >= t->w
                                ? 0.0f
                                : in[(((size_t)nimg * t->h + iy) * t->w + ix) * t->c_in + g * cg + c];
                }
            }
            mfr_packed_b *pb;
            tu_ok(mfr_gemm_pack_b('T', k, og, w + (size_t)g * og * k, k, &pb));
            mfr_epilogue e = {t->bias ? bias + g * og : NULL, 0, t->residual ? res + g * og : NULL, t->c_out, t->act,
                              0.1f, slopes + g * og};
            mfr_sgemm_packed(m, cols, k, pb, want + g * og, t->c_out, &e);
            mfr_gemm_packed_free(pb);
        }
        unsetenv("MFR_ISA");
        for (size_t o = 0; o < out_n; o++)
            ck_assert_msg(memcmp(&got[o], &want[o], sizeof(float)) == 0, "case %d: out[%zu] = %.9g, packed %.9g", ci,
                          o, got[o], want[o]);
        mfr_free(in), mfr_free(w), mfr_free(bias), mfr_free(res), mfr_free(slopes), mfr_free(got), mfr_free(want);
        mfr_free(cols);
    }
}
END_TEST

/* Depthwise 3x3 blocking edges: every width 1..20 and height 1..9 (strips of
 * every width, the pixel path for narrow leftovers, bands and rows near the
 * padding), channel counts below, at and above one vector (1, 15, 16, 17,
 * 48), stride 1 and 2, several paddings, two images; each instruction set
 * against mfr_conv_reference at the tolerance of the table above, and the
 * best one bit-identical at 1, 2 and 3 threads. */
START_TEST(test_dwconv_edges)
{
    static const int chans[] = {1, 15, 16, 17, 48, 40}; /* 48: two vectors + one (AVX-512); 40: + a masked one */
    static const int pads[][4] = {{1, 1, 1, 1}, {0, 0, 0, 0}, {2, 2, 2, 2}, {1, 0, 2, 1}, {0, 2, 1, 0}};
    const int C = chans[_i % 6], sh = 1 + _i / 6;
    for (int h = 1; h <= 9; h++)
        for (int w = 1; w <= 20; w++) {
            const int *pd = pads[(h + w) % 5];
            mfr_conv_params p = {2, h, w, C, C, 3, 3, sh, sh, pd[0], pd[1], pd[2], pd[3], 1, 1, C};
            int oh, ow;
            if (mfr_conv_output_size(&p, &oh, &ow) != MFR_OK)
                continue; /* the kernel does not fit the padded input */
            size_t in_n = (size_t)2 * h * w * C, out_n = (size_t)2 * oh * ow * C;
            float *in = rand_buf(in_n, 60), *wt = rand_buf((size_t)9 * C, 61), *bias = rand_buf((size_t)C, 62);
            float *res = rand_buf(out_n, 63), *slopes = rand_buf((size_t)C, 64), *ref = mfr_alloc(out_n * sizeof(float));
            static const mfr_act acts[] = {MFR_ACT_RELU6, MFR_ACT_PRELU, MFR_ACT_LEAKY, MFR_ACT_HSWISH,
                                           MFR_ACT_SIGMOID, MFR_ACT_NONE, MFR_ACT_RELU, MFR_ACT_PRELU};
            mfr_epilogue ep = {NULL, 0, (h + w) % 2 ? res : NULL, 0, acts[(h * w) % 8], 0.1f, h % 3 ? slopes : NULL};
            mfr_conv_reference(&p, in, wt, bias, ref, &ep);
            for (int ii = 0; ii < isa_count; ii++) {
                float *out = conv_run_isa(isa_list[ii], &p, in, wt, bias, &ep, out_n);
                for (int nimg = 0; nimg < 2; nimg++)
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++)
                            for (int c = 0; c < C; c++) {
                                size_t o = (((size_t)nimg * oh + oy) * ow + ox) * C + c;
                                double s = fabs(bias[c]) + (ep.residual ? fabs(res[o]) : 0.0);
                                for (int ky = 0; ky < 3; ky++)
                                    for (int kx = 0; kx < 3; kx++) {
                                        int iy = oy * sh - pd[0] + ky, ix = ox * sh - pd[1] + kx;
                                        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                            s += fabs((double)in[(((size_t)nimg * h + iy) * w + ix) * C + c] *
                                                      wt[(size_t)c * 9 + ky * 3 + kx]);
                                    }
                                double tol = 2.0 * (9 + 4) * unit_roundoff * s + 1e-30;
                                ck_assert_msg(fabs((double)out[o] - ref[o]) <= tol,
                                              "%dx%dx%d stride %d isa %s: out[%d,%d,%d,%d] = %.9g, want %.9g", h, w,
                                              C, sh, mfr_isa_name(isa_list[ii]), nimg, oy, ox, c, out[o], ref[o]);
                            }
                mfr_free(out);
            }
            float *o1 = NULL;
            for (int th = 1; th <= 3; th++) {
                mfr_set_threads(th);
                float *o = conv_run_isa(isa_list[isa_count - 1], &p, in, wt, bias, &ep, out_n);
                if (o1) {
                    ck_assert_msg(memcmp(o1, o, out_n * sizeof(float)) == 0,
                                  "%dx%dx%d stride %d differs at %d threads", h, w, C, sh, th);
                    mfr_free(o);
                } else {
                    o1 = o;
                }
            }
            mfr_set_threads(0);
            mfr_free(o1);
            mfr_free(in), mfr_free(wt), mfr_free(bias), mfr_free(res), mfr_free(slopes), mfr_free(ref);
        }
}
END_TEST

START_TEST(test_conv_threads_bitwise)
{
    /* A 3x3 implicit GEMM, a pointwise GEMM, depthwise (stride 2, and
     * stride 1 with two images: rows computed in pairs), a stem and a 3x3
     * GEMM whose tiles read the padded input in place. */
    static const conv_case cases[] = {
        {1, 28, 28, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_RELU},
        {1, 28, 28, 64, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, MFR_ACT_NONE},
        {1, 28, 28, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 64, 1, 0, MFR_ACT_PRELU},
        {2, 15, 13, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 40, 1, 0, MFR_ACT_RELU6},
        {1, 30, 20, 3, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_RELU},
        {1, 28, 28, 128, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_RELU}, /* patches read in place */
    };
    for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        const conv_case *t = &cases[ci];
        mfr_conv_params p = conv_params(t);
        int oh, ow;
        tu_ok(mfr_conv_output_size(&p, &oh, &ow));
        size_t in_n = (size_t)t->n * t->h * t->w * t->c_in, out_n = (size_t)t->n * oh * ow * t->c_out;
        float *in = rand_buf(in_n, 30), *w = rand_buf((size_t)t->c_out * 9 * t->c_in, 31);
        float *bias = rand_buf((size_t)t->c_out, 32);
        mfr_epilogue ep = {NULL, 0, NULL, 0, t->act, 0, bias};
        for (int ii = 0; ii < isa_count; ii++) {
            float *o[3];
            for (int th = 0; th < 3; th++) {
                mfr_set_threads(th + 1);
                o[th] = conv_run_isa(isa_list[ii], &p, in, w, bias, &ep, out_n);
            }
            ck_assert_msg(memcmp(o[0], o[1], out_n * sizeof(float)) == 0 && memcmp(o[0], o[2], out_n * sizeof(float)) == 0,
                          "conv case %d isa %s differs across thread counts", ci, mfr_isa_name(isa_list[ii]));
            for (int th = 0; th < 3; th++)
                mfr_free(o[th]);
        }
        mfr_set_threads(0);
        mfr_free(in), mfr_free(w), mfr_free(bias);
    }
}
END_TEST

/* The gradients of one case on one path, accumulated onto copies of dx0/dw0. */
static void conv_backward_isa(mfr_isa isa, const mfr_conv_params *p, const float *in, const float *du,
                              const float *w, float *dx, float *dw)
{
    setenv("MFR_ISA", mfr_isa_name(isa), 1);
    if (p->groups == 1)
        tu_ok(mfr_conv_backward(p, in, du, w, dx, dw));
    else {
        tu_ok(mfr_dwconv_backward_weights_isa(isa, p, in, du, dw));
        tu_ok(mfr_dwconv_backward_data(p, du, w, dx));
    }
    unsetenv("MFR_ISA");
}

/* Training gradients of dense and depthwise convolutions against double
 * sums over the definition, accumulated onto earlier values (+=). */
START_TEST(test_conv_backward_against_reference)
{
    const conv_case *t = &conv_cases[_i];
    if (t->groups != 1 && !(t->groups == t->c_in && t->groups == t->c_out))
        return;
    mfr_conv_params p = conv_params(t);
    int oh, ow;
    tu_ok(mfr_conv_output_size(&p, &oh, &ow));
    const int cin_g = t->c_in / t->groups, cout_g = t->c_out / t->groups;
    size_t in_n = (size_t)t->n * t->h * t->w * t->c_in, out_n = (size_t)t->n * oh * ow * t->c_out;
    size_t w_n = (size_t)t->c_out * t->kh * t->kw * cin_g;
    float *in = rand_buf(in_n, 40), *w = rand_buf(w_n, 41), *du = rand_buf(out_n, 42);
    float *dx0 = rand_buf(in_n, 43), *dw0 = rand_buf(w_n, 44);
    double *rdx = calloc(in_n, sizeof(double)), *sdx = calloc(in_n, sizeof(double));
    double *rdw = calloc(w_n, sizeof(double)), *sdw = calloc(w_n, sizeof(double));
    int *ndx = calloc(in_n, sizeof(int)), *ndw = calloc(w_n, sizeof(int));
    ck_assert(rdx && sdx && rdw && sdw && ndx && ndw);
    for (int nimg = 0; nimg < t->n; nimg++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int co = 0; co < t->c_out; co++) {
                    int g = co / cout_g;
                    double d = du[(((size_t)nimg * oh + oy) * ow + ox) * t->c_out + co];
                    for (int ky = 0; ky < t->kh; ky++)
                        for (int kx = 0; kx < t->kw; kx++) {
                            int iy = oy * t->sh - t->pt + ky * t->dh, ix = ox * t->sw - t->pl + kx * t->dw;
                            if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w)
                                continue;
                            for (int ci = 0; ci < cin_g; ci++) {
                                size_t xi = (((size_t)nimg * t->h + iy) * t->w + ix) * t->c_in + g * cin_g + ci;
                                size_t wi = (((size_t)co * t->kh + ky) * t->kw + kx) * cin_g + ci;
                                rdw[wi] += d * in[xi], sdw[wi] += fabs(d * in[xi]), ndw[wi]++;
                                rdx[xi] += d * w[wi], sdx[xi] += fabs(d * w[wi]), ndx[xi]++;
                            }
                        }
                }
    float *dx = mfr_alloc(in_n * sizeof(float)), *dw = mfr_alloc(w_n * sizeof(float));
    for (int ii = 0; ii < isa_count; ii++) {
        memcpy(dx, dx0, in_n * sizeof(float));
        memcpy(dw, dw0, w_n * sizeof(float));
        conv_backward_isa(isa_list[ii], &p, in, du, w, dx, dw);
        for (size_t i = 0; i < w_n; i++) {
            double want = dw0[i] + rdw[i], tol = 2.0 * (ndw[i] + 2) * unit_roundoff * (sdw[i] + fabs(dw0[i]));
            ck_assert_msg(fabs(dw[i] - want) <= tol, "case %d isa %s: dweights[%zu] = %.9g, want %.9g (tol %.3g)",
                          _i, mfr_isa_name(isa_list[ii]), i, dw[i], want, tol);
        }
        for (size_t i = 0; i < in_n; i++) {
            double want = dx0[i] + rdx[i], tol = 2.0 * (ndx[i] + 2) * unit_roundoff * (sdx[i] + fabs(dx0[i]));
            ck_assert_msg(fabs(dx[i] - want) <= tol, "case %d isa %s: din[%zu] = %.9g, want %.9g (tol %.3g)", _i,
                          mfr_isa_name(isa_list[ii]), i, dx[i], want, tol);
        }
        if (t->groups != 1) {
            /* accumulate = 0 overwrites din: NaN before, the gradient alone after */
            for (size_t i = 0; i < in_n; i++)
                dx[i] = NAN;
            setenv("MFR_ISA", mfr_isa_name(isa_list[ii]), 1);
            tu_ok(mfr_dwconv_backward_data_ex(&p, du, w, dx, 0));
            unsetenv("MFR_ISA");
            for (size_t i = 0; i < in_n; i++) {
                double tol = 2.0 * (ndx[i] + 2) * unit_roundoff * sdx[i];
                ck_assert_msg(fabs(dx[i] - rdx[i]) <= tol, "case %d isa %s: overwritten din[%zu] = %.9g, want %.9g",
                              _i, mfr_isa_name(isa_list[ii]), i, dx[i], rdx[i]);
            }
        }
    }
    mfr_free(in), mfr_free(w), mfr_free(du), mfr_free(dx0), mfr_free(dw0), mfr_free(dx), mfr_free(dw);
    free(rdx), free(sdx), free(rdw), free(sdw), free(ndx), free(ndw);
}
END_TEST

/* The gradients are the same bytes at 1, 2 and 3 threads on every path:
 * a 3x3 GEMM case whose patches (4.1 Mi floats an image) exceed the 4 Mi
 * float budget, so that it runs one image at a time, a stem, and depthwise
 * 3x3 stride 1 and 2 with the channels split unevenly. */
START_TEST(test_conv_backward_threads_bitwise)
{
    static const conv_case cases[] = {
        {2, 120, 120, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_NONE},
        {2, 30, 20, 3, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, MFR_ACT_NONE},
        {2, 15, 13, 72, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 72, 1, 0, MFR_ACT_NONE},
        {2, 16, 14, 40, 40, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 40, 1, 0, MFR_ACT_NONE},
    };
    for (int ci = 0; ci < 4; ci++) {
        const conv_case *t = &cases[ci];
        mfr_conv_params p = conv_params(t);
        int oh, ow;
        tu_ok(mfr_conv_output_size(&p, &oh, &ow));
        size_t in_n = (size_t)t->n * t->h * t->w * t->c_in, out_n = (size_t)t->n * oh * ow * t->c_out;
        size_t w_n = (size_t)t->c_out * t->kh * t->kw * (t->c_in / t->groups);
        float *in = rand_buf(in_n, 50), *w = rand_buf(w_n, 51), *du = rand_buf(out_n, 52);
        for (int ii = 0; ii < isa_count; ii++) {
            float *dx[3], *dw[3];
            for (int th = 0; th < 3; th++) {
                mfr_set_threads(th + 1);
                dx[th] = rand_buf(in_n, 53);
                dw[th] = rand_buf(w_n, 54);
                conv_backward_isa(isa_list[ii], &p, in, du, w, dx[th], dw[th]);
            }
            for (int th = 1; th < 3; th++) {
                ck_assert_msg(memcmp(dx[0], dx[th], in_n * sizeof(float)) == 0,
                              "conv backward case %d isa %s: din differs at %d threads", ci,
                              mfr_isa_name(isa_list[ii]), th + 1);
                ck_assert_msg(memcmp(dw[0], dw[th], w_n * sizeof(float)) == 0,
                              "conv backward case %d isa %s: dweights differ at %d threads", ci,
                              mfr_isa_name(isa_list[ii]), th + 1);
            }
            for (int th = 0; th < 3; th++)
                mfr_free(dx[th]), mfr_free(dw[th]);
        }
        mfr_set_threads(0);
        mfr_free(in), mfr_free(w), mfr_free(du);
    }
}
END_TEST

START_TEST(test_conv_bad_params)
{
    mfr_conv_params ok = {1, 8, 8, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int oh, ow;
    tu_ok(mfr_conv_output_size(&ok, &oh, &ow));
    ck_assert_int_eq(oh, 8);
    ck_assert_int_eq(ow, 8);
    mfr_conv_params p = ok;
    p.groups = 3;
    ck_assert_int_eq(mfr_conv_output_size(&p, &oh, &ow), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "groups"));
    p = ok;
    p.stride_h = 0;
    ck_assert_int_eq(mfr_conv_output_size(&p, &oh, &ow), MFR_ERR_ARG);
    p = ok;
    p.kh = 11;
    p.pad_top = p.pad_bottom = 0;
    ck_assert_int_eq(mfr_conv_output_size(&p, &oh, &ow), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "larger"));
    p = ok;
    p.pad_left = -1;
    ck_assert_int_eq(mfr_conv_output_size(&p, &oh, &ow), MFR_ERR_ARG);
    p = ok;
    p.h = 1 << 20;
    ck_assert_int_eq(mfr_conv_output_size(&p, &oh, &ow), MFR_ERR_RANGE);
    mfr_conv_plan *plan = (mfr_conv_plan *)&p;
    float w[144] = {0};
    p = ok;
    p.groups = 3;
    ck_assert_int_ne(mfr_conv_plan_create(&p, w, NULL, &plan), MFR_OK);
    ck_assert_ptr_null(plan);
}
END_TEST

/* A row of C = A B is computed by the same operations however many rows the
 * product has (up to the short-product limit), so a face's embedding does
 * not depend on the other faces in its batch. */
START_TEST(test_gemm_rows_independent_of_m)
{
    const int k = 512, n = 128, mmax = 4;
    float *a = rand_buf((size_t)mmax * k, 41), *b = rand_buf((size_t)k * n, 42);
    float *full = malloc(sizeof(float) * (size_t)mmax * n), *part = malloc(sizeof(float) * (size_t)mmax * n);
    for (int isa = MFR_ISA_SCALAR; isa <= MFR_ISA_AVX512; isa++) {
        if (!mfr_isa_available((mfr_isa)isa))
            continue;
        mfr_sgemm_isa((mfr_isa)isa, 'N', 'N', mmax, n, k, 1.0f, a, k, b, n, 0.0f, full, n, NULL);
        for (int m = 1; m < mmax; m++) {
            mfr_sgemm_isa((mfr_isa)isa, 'N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, part, n, NULL);
            ck_assert_msg(memcmp(part, full, sizeof(float) * (size_t)m * n) == 0,
                          "isa %s: the first %d rows differ from those of a %d-row product",
                          mfr_isa_name((mfr_isa)isa), m, mmax);
        }
    }
    mfr_free(a);
    mfr_free(b);
    free(full);
    free(part);
}
END_TEST

/* With one k-block (K <= KC, at least 128 on every machine) each vector
 * path computes a value of alpha = 1, beta = 0 as one chain of fused
 * multiply-adds over k in order from zero, whichever tile shape runs it:
 * the packed tiles, the strided ones, the wide few-row ones and the narrow
 * (N <= 16) ones. So the bits do not depend on the path a shape takes. */
START_TEST(test_gemm_fma_chain)
{
    static const int shapes[][3] = {{300, 16, 27},  {300, 13, 100}, {57, 16, 27}, {1, 300, 600},
                                    {3, 130, 257}, {2, 40, 1000},  {100, 70, 128}, {5, 40, 30},
                                    {30, 2100, 128}}; /* B > L2 / 4 on any L2 up to 4 MiB: packed */
    for (int ii = 0; ii < isa_count; ii++) {
        if (isa_list[ii] == MFR_ISA_SCALAR)
            continue; /* the portable kernel leaves contraction to the compiler */
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
            int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
            float *a = rand_buf((size_t)m * k, 51), *b = rand_buf((size_t)k * n, 52), *c = rand_buf((size_t)m * n, 53);
            mfr_sgemm_isa(isa_list[ii], 'N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n, NULL);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    float want = 0.0f;
                    for (int p = 0; p < k; p++)
                        want = fmaf(a[(size_t)i * k + p], b[(size_t)p * n + j], want);
                    ck_assert_msg(c[(size_t)i * n + j] == want, "%s %dx%dx%d: C[%d][%d] = %.9g, the FMA chain %.9g",
                                  mfr_isa_name(isa_list[ii]), m, n, k, i, j, c[(size_t)i * n + j], want);
                }
            mfr_free(a), mfr_free(b), mfr_free(c);
        }
    }
}
END_TEST

/* The fused epilogue in the exact scalar order (gemm_ep_value) after the
 * FMA chain of each k-block: v = chain of the first block, then v + chain
 * of each later block, then + bias, + residual, activation. Every vector
 * path (packed tiles, N <= 16 tiles, small and few-row tiles), every
 * activation, bias per column and per row, K of one and of three blocks. */
START_TEST(test_gemm_epilogue_bits)
{
    static const int shapes[][3] = {{300, 45, 100}, {300, 13, 100}, {60, 40, 0}, {5, 40, 30}, {2, 130, 257},
                                    {25, 45, 100} /* 14 + 11 rows: strided_full with rows repeated */,
                                    {16, 2100, 64} /* B > L2 / 4: packed, one k-block */};
    for (int ii = 0; ii < isa_count; ii++) {
        if (isa_list[ii] == MFR_ISA_SCALAR)
            continue; /* the portable kernel leaves contraction to the compiler */
        setenv("MFR_ISA", mfr_isa_name(isa_list[ii]), 1);
        const int kc = mfr_gemm_get_blocking().kc;
        unsetenv("MFR_ISA");
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
            for (int act = MFR_ACT_NONE; act <= MFR_ACT_HSWISH; act++) {
                int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2] ? shapes[si][2] : 2 * kc + 5;
                int per_row = (act + si) & 1, ch = per_row ? m : n;
                float *a = rand_buf((size_t)m * k, 61), *b = rand_buf((size_t)k * n, 62);
                float *c = rand_buf((size_t)m * n, 63), *res = rand_buf((size_t)m * n, 64);
                float *bias = rand_buf((size_t)ch, 65), *slopes = rand_buf((size_t)ch, 66);
                mfr_epilogue ep = {bias, per_row, res, n, (mfr_act)act, 0.125f, slopes};
                mfr_sgemm_isa(isa_list[ii], 'N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n, &ep);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        float v = 0.0f;
                        for (int p0 = 0; p0 < k; p0 += kc) {
                            float s = 0.0f;
                            for (int p = p0; p < k && p < p0 + kc; p++)
                                s = fmaf(a[(size_t)i * k + p], b[(size_t)p * n + j], s);
                            v = p0 == 0 ? s : v + s;
                        }
                        int q = per_row ? i : j;
                        v += bias[q];
                        v += res[(size_t)i * n + j];
                        v = mfr_act_scalar(v, (mfr_act)act, 0.125f, slopes[q]);
                        float got = c[(size_t)i * n + j];
                        ck_assert_msg(memcmp(&got, &v, sizeof v) == 0,
                                      "%s %dx%dx%d act %d per_row %d: C[%d][%d] = %.9g, want %.9g",
                                      mfr_isa_name(isa_list[ii]), m, n, k, act, per_row, i, j, got, v);
                    }
                mfr_free(a), mfr_free(b), mfr_free(c), mfr_free(res), mfr_free(bias), mfr_free(slopes);
            }
    }
}
END_TEST

/* ------------------------------------------------- per-channel passes */

static int same_bits(const void *a, const void *b, size_t bytes)
{
    return memcmp(a, b, bytes) == 0;
}

/* Every vector version of the batch-norm / activation passes gives the
 * scalar reference's bits (same fused multiply-adds, same order), for
 * channel counts with and without vector tails; the sums added to a part
 * that is not zero; and the reference matches a plain double evaluation. */
START_TEST(test_chanpass_versions)
{
    static const int cs[] = {1, 3, 8, 16, 17, 37, 64, 100};
    const size_t rows = 700; /* longer than the callers' chunks of 256 rows */
    const chanpass_ops *ref = chanpass_for(MFR_ISA_SCALAR);
    find_isas();
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int c = cs[ci];
        size_t n = rows * (size_t)c;
        float *u = rand_buf(n, 100 + ci), *dy = rand_buf(n, 200 + ci), *pr = rand_buf((size_t)c, 300 + ci);
        float *sc = rand_buf((size_t)c, 400 + ci), *sh = rand_buf((size_t)c, 500 + ci);
        float *m = rand_buf((size_t)c, 600 + ci), *k1 = rand_buf((size_t)c, 700 + ci);
        float *k2 = rand_buf((size_t)c, 800 + ci), *k3 = rand_buf((size_t)c, 900 + ci);
        float *o_ref = rand_buf(n, 1), *o = rand_buf(n, 1);
        double md[100], p_ref[300], p[300];
        for (int i = 0; i < c; i++) {
            md[i] = (double)m[i] * 0.5;
            sc[i] *= 3.0f; /* z = u sc + sh crosses 0, +-3 and 6 */
            sh[i] *= 4.0f;
        }
        /* the reference against plain double arithmetic */
        for (int what = CHANPASS_SUM; what <= CHANPASS_SUM_SQ; what++) {
            memset(p_ref, 0, sizeof p_ref);
            ref->sums(what, u, dy, rows, c, md, p_ref);
            for (int i = 0; i < c; i++) {
                double a = 0, b = 0;
                for (size_t r = 0; r < rows; r++) {
                    double x = u[r * (size_t)c + (size_t)i], d = dy[r * (size_t)c + (size_t)i];
                    a += what == CHANPASS_SUM ? x : what == CHANPASS_DZ_DEV ? d : what == CHANPASS_SQDEV
                         ? (x - md[i]) * (x - md[i]) : x - md[i];
                    b += what == CHANPASS_DZ_DEV ? d * (x - md[i]) : (x - md[i]) * (x - md[i]);
                }
                ck_assert_msg(fabs(p_ref[i] - a) <= 1e-12 * (1 + fabs(a)), "sums %d c %d channel %d", what, c, i);
                if (what == CHANPASS_DZ_DEV || what == CHANPASS_SUM_SQ)
                    ck_assert_msg(fabs(p_ref[c + i] - b) <= 1e-12 * (1 + fabs(b)), "sums %d (2nd) c %d", what, c);
            }
        }
        for (int k = 0; k < isa_count; k++) {
            const chanpass_ops *v = chanpass_for(isa_list[k]);
            for (int what = CHANPASS_SUM; what <= CHANPASS_SUM_SQ; what++) {
                for (int i = 0; i < 300; i++)
                    p_ref[i] = p[i] = 0.25 * i;
                ref->sums(what, u, dy, rows, c, md, p_ref);
                v->sums(what, u, dy, rows, c, md, p);
                ck_assert_msg(same_bits(p, p_ref, sizeof p), "isa %d sums %d c %d", isa_list[k], what, c);
            }
            for (int a = MFR_ACT_NONE; a <= MFR_ACT_HSWISH; a++) {
                chanpass_bnact b = {sc, sh, (mfr_act)a, 0.3f, pr};
                ref->scale_shift_act(u, o_ref, rows, c, sc, sh, (mfr_act)a, 0.3f, pr);
                memcpy(o, u, n * sizeof *o); /* in place */
                v->scale_shift_act(o, o, rows, c, sc, sh, (mfr_act)a, 0.3f, pr);
                ck_assert_msg(same_bits(o, o_ref, n * sizeof *o), "isa %d forward act %d c %d", isa_list[k], a, c);
                for (size_t j = 0; j < n; j++) {
                    int i = (int)(j % (size_t)c);
                    float want = mfr_act_scalar(fmaf(u[j], sc[i], sh[i]), (mfr_act)a, 0.3f, pr[i]);
                    ck_assert_msg(same_bits(&o_ref[j], &want, sizeof want), "reference forward act %d", a);
                }
                if (a != MFR_ACT_PRELU) {
                    ref->act_backward(u, dy, o_ref, rows, c, sc, sh, (mfr_act)a, 0.3f);
                    v->act_backward(u, dy, o, rows, c, sc, sh, (mfr_act)a, 0.3f);
                    ck_assert_msg(same_bits(o, o_ref, n * sizeof *o), "isa %d act' %d c %d", isa_list[k], a, c);
                }
                for (int slope = 0; slope <= 1; slope++) {
                    for (int i = 0; i < 300; i++)
                        p_ref[i] = p[i] = -0.5 * i;
                    ref->bnact_sums(u, dy, rows, c, &b, md, slope, p_ref);
                    v->bnact_sums(u, dy, rows, c, &b, md, slope, p);
                    ck_assert_msg(same_bits(p, p_ref, sizeof p), "isa %d bnact sums act %d c %d", isa_list[k], a, c);
                }
                ref->bnact_apply(u, dy, o_ref, rows, c, &b, m, k1, k2, k3);
                memcpy(o, dy, n * sizeof *o); /* dz may be dy */
                v->bnact_apply(u, o, o, rows, c, &b, m, k1, k2, k3);
                ck_assert_msg(same_bits(o, o_ref, n * sizeof *o), "isa %d bnact apply act %d c %d", isa_list[k], a, c);
            }
            memcpy(o_ref, dy, n * sizeof *o);
            memcpy(o, dy, n * sizeof *o);
            ref->bn_apply(u, o_ref, rows, c, m, k1, k2, k3);
            v->bn_apply(u, o, rows, c, m, k1, k2, k3);
            ck_assert_msg(same_bits(o, o_ref, n * sizeof *o), "isa %d bn apply c %d", isa_list[k], c);
        }
        /* the reference's derivative pass against its definition, PReLU slope sum included */
        {
            chanpass_bnact b = {sc, sh, MFR_ACT_PRELU, 0.0f, pr};
            memset(p_ref, 0, sizeof p_ref);
            ref->bnact_sums(u, dy, rows, c, &b, md, 1, p_ref);
            for (int i = 0; i < c; i++) {
                double s1 = 0, s2 = 0, s3 = 0;
                for (size_t r = 0; r < rows; r++) {
                    size_t j = r * (size_t)c + (size_t)i;
                    float z = fmaf(u[j], sc[i], sh[i]), d = dy[j] * (z < 0 ? pr[i] : 1.0f);
                    s1 += d;
                    s2 += (double)d * ((double)u[j] - md[i]);
                    s3 += z < 0 ? (double)dy[j] * z : 0.0;
                }
                ck_assert(fabs(p_ref[i] - s1) <= 1e-12 * (1 + fabs(s1)));
                ck_assert(fabs(p_ref[c + i] - s2) <= 1e-12 * (1 + fabs(s2)));
                ck_assert(fabs(p_ref[2 * c + i] - s3) <= 1e-12 * (1 + fabs(s3)));
            }
        }
        mfr_free(u);
        mfr_free(dy);
        mfr_free(pr);
        mfr_free(sc);
        mfr_free(sh);
        mfr_free(m);
        mfr_free(k1);
        mfr_free(k2);
        mfr_free(k3);
        mfr_free(o_ref);
        mfr_free(o);
    }
}
END_TEST

/* ---------------------------------------------------------- spatial passes */

/* The pooling reference against a plain evaluation, then every ISA's
 * pooling, upsampling and elementwise passes bit for bit against the scalar
 * reference: channel counts with and without a vector tail, windows hanging
 * over every edge, NaN and infinities (a NaN never wins a maximum). */
START_TEST(test_spatial_versions)
{
    static const int cs[] = {1, 3, 8, 16, 17, 40, 64};
    const spatial_ops *ref = spatial_for(MFR_ISA_SCALAR);
    find_isas();
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        const int c = cs[ci], n = 2, h = 9, w = 7;
        size_t in_n = (size_t)n * h * w * c;
        float *in = rand_buf(in_n, 40 + ci);
        in[3 % in_n] = NAN;
        in[(5 * c + 1) % in_n] = INFINITY;
        in[(11 * c + 2) % in_n] = -INFINITY;
        /* pooling: (k, stride, pad) combinations, max and average */
        static const int cfg[][6] = {{2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 2, 1, 2, 0, 1}, {5, 5, 3, 3, 2, 2},
                                     {7, 7, 1, 1, 0, 0}, {1, 1, 1, 1, 0, 0}};
        for (size_t q = 0; q < sizeof cfg / sizeof cfg[0]; q++)
            for (int is_max = 0; is_max < 2; is_max++) {
                spatial_pool p = {h, w, c, 0, 0, cfg[q][0], cfg[q][1], cfg[q][2], cfg[q][3], cfg[q][4], cfg[q][5],
                                  is_max};
                p.oh = (h + 2 * p.pad_top - p.kh) / p.stride_h + 1;
                p.ow = (w + 2 * p.pad_left - p.kw) / p.stride_w + 1;
                size_t out_n = (size_t)n * p.oh * p.ow * c;
                float *o_ref = rand_buf(out_n, 1), *o = rand_buf(out_n, 2);
                ref->pool_rows(&p, in, o_ref, 0, (long)n * p.oh);
                for (int b = 0; b < n; b++)
                    for (int oy = 0; oy < p.oh; oy++)
                        for (int ox = 0; ox < p.ow; ox++)
                            for (int i = 0; i < c; i++) {
                                double m = is_max ? -INFINITY : 0.0;
                                int cnt = 0, nan_seen = 0;
                                for (int ky = 0; ky < p.kh; ky++)
                                    for (int kx = 0; kx < p.kw; kx++) {
                                        int y = oy * p.stride_h - p.pad_top + ky, x = ox * p.stride_w - p.pad_left + kx;
                                        if (y < 0 || y >= h || x < 0 || x >= w)
                                            continue;
                                        float v = in[(((size_t)b * h + y) * w + x) * c + i];
                                        cnt++;
                                        nan_seen |= isnan(v);
                                        if (is_max)
                                            m = v > m ? v : m;
                                        else
                                            m += v;
                                    }
                                float got = o_ref[(((size_t)b * p.oh + oy) * p.ow + ox) * c + i];
                                if (is_max)
                                    ck_assert_msg(got == (float)m, "max c %d cfg %zu", c, q);
                                else if (nan_seen || !isfinite(m))
                                    ck_assert(isnan(got) || isinf(got));
                                else
                                    ck_assert_msg(fabs(got - m / cnt) <= 1e-5 * (1 + fabs(m)), "avg c %d cfg %zu", c, q);
                            }
                for (int k = 0; k < isa_count; k++) {
                    memset(o, 0x55, out_n * sizeof(float));
                    spatial_for(isa_list[k])->pool_rows(&p, in, o, 0, (long)n * p.oh);
                    ck_assert_msg(memcmp(o, o_ref, out_n * sizeof(float)) == 0, "pool %s c %d cfg %zu max %d",
                                  mfr_isa_name(isa_list[k]), c, q, is_max);
                }
                mfr_free(o_ref);
                mfr_free(o);
            }
        /* upsampling, nearest and bilinear, scales 1 - 3, in row ranges */
        for (int scale = 1; scale <= 3; scale++)
            for (int bil = 0; bil < 2; bil++) {
                spatial_up u = {h, w, c, scale, bil};
                long rows = (long)n * h * scale;
                size_t out_n = (size_t)rows * w * scale * c;
                float *o_ref = rand_buf(out_n, 3), *o = rand_buf(out_n, 4);
                ref->upsample_rows(&u, in, o_ref, 0, rows);
                if (!bil)
                    for (long r = 0; r < rows; r++)
                        for (int ox = 0; ox < w * scale; ox++)
                            ck_assert(memcmp(o_ref + ((size_t)r * w * scale + ox) * c,
                                             in + (((size_t)(r / (h * scale)) * h + (r % (h * scale)) / scale) * w +
                                                   ox / scale) * c,
                                             (size_t)c * sizeof(float)) == 0);
                for (int k = 0; k < isa_count; k++) {
                    memset(o, 0x55, out_n * sizeof(float));
                    /* in three ranges, as threads would split it */
                    const spatial_ops *v = spatial_for(isa_list[k]);
                    v->upsample_rows(&u, in, o, 0, rows / 3);
                    v->upsample_rows(&u, in, o, rows / 3, rows / 2);
                    v->upsample_rows(&u, in, o, rows / 2, rows);
                    ck_assert_msg(memcmp(o, o_ref, out_n * sizeof(float)) == 0, "upsample %s c %d scale %d bil %d",
                                  mfr_isa_name(isa_list[k]), c, scale, bil);
                }
                mfr_free(o_ref);
                mfr_free(o);
            }
        /* elementwise sum and product, every length up to a few vectors, in place too */
        float *b2 = rand_buf(in_n, 60 + ci), *o_ref = rand_buf(in_n, 5), *o = rand_buf(in_n, 6);
        for (int mul = 0; mul < 2; mul++)
            for (size_t len = 0; len <= 70 && len <= in_n; len++) {
                ref->binary(mul, in, b2, o_ref, len);
                for (size_t i = 0; i < len; i++) {
                    float e = mul ? in[i] * b2[i] : in[i] + b2[i];
                    ck_assert(memcmp(&o_ref[i], &e, sizeof e) == 0 || (isnan(e) && isnan(o_ref[i])));
                }
                for (int k = 0; k < isa_count; k++) {
                    const spatial_ops *v = spatial_for(isa_list[k]);
                    memcpy(o, in, in_n * sizeof(float));
                    v->binary(mul, o, b2, o, len); /* dst = a */
                    ck_assert_msg(memcmp(o, o_ref, len * sizeof(float)) == 0, "binary %s len %zu",
                                  mfr_isa_name(isa_list[k]), len);
                    ck_assert(len == in_n || memcmp(o + len, in + len, sizeof(float)) == 0); /* nothing past n */
                }
            }
        mfr_free(b2);
        mfr_free(o_ref);
        mfr_free(o);
        mfr_free(in);
    }
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_act_definitions);
    tcase_add_loop_test(tc, test_gemm_shapes, 0, 4);
    tcase_add_test(tc, test_gemm_alpha_beta_epilogues);
    tcase_add_test(tc, test_gemm_packed_b);
    tcase_add_test(tc, test_gemm_short);
    tcase_add_test(tc, test_gemm_rows_independent_of_m);
    tcase_add_test(tc, test_gemm_fma_chain);
    tcase_add_test(tc, test_gemm_epilogue_bits);
    tcase_add_test(tc, test_gemm_degenerate);
    tcase_add_test(tc, test_gemm_threads_bitwise);
    tcase_add_test(tc, test_gemm_blocking);
    tcase_add_test(tc, test_gemm_long_k);
    tcase_add_loop_test(tc, test_conv_against_reference, 0, NCONV);
    tcase_add_test(tc, test_conv_threads_bitwise);
    tcase_add_test(tc, test_conv_direct_tiles);
    tcase_add_loop_test(tc, test_dwconv_edges, 0, 12);
    tcase_add_loop_test(tc, test_conv_backward_against_reference, 0, NCONV);
    tcase_add_test(tc, test_conv_backward_threads_bitwise);
    tcase_add_test(tc, test_conv_bad_params);
    tcase_add_test(tc, test_chanpass_versions);
    tcase_add_test(tc, test_spatial_versions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    find_isas();
    int rc = tu_run(kernels_suite());
    tu_cleanup();
    return rc;
}
