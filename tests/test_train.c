/* Tests of src/nn/train: losses (values, gradients, references), optimisers,
 * schedules, clipping, the gradient checker, and thread-count determinism. */
#include "config.h"
#include "testutil.h"
#include "mfr/train.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- helpers */

/* x_k = a sin(b k + c), rounded to float: the inputs tests/train_reference.py
 * used too. */
static void seq(float *x, size_t n, double a, double b, double c)
{
    for (size_t k = 0; k < n; k++)
        x[k] = (float)(a * sin(b * (double)k + c));
}

/* |got - want| <= rtol |want| + atol, with a message naming the element. */
#define assert_near(got, want, rtol, atol, what, idx)                                              \
    do {                                                                                          \
        double g_ = (got), w_ = (want);                                                          \
        ck_assert_msg(fabs(g_ - w_) <= (rtol) * fabs(w_) + (atol), "%s[%d]: got %.9g, want %.9g", \
                      (what), (int)(idx), g_, w_);                                                \
    } while (0)

static void assert_all_near(const float *got, const double *want, size_t n, double rtol, double atol,
                            const char *what)
{
    for (size_t i = 0; i < n; i++)
        assert_near(got[i], want[i], rtol, atol, what, i);
}

/* Gradient checks of losses use these options: step 1e-3 (1e-4 for the
 * s = 64 margin heads, whose third derivative is large), floor 1e-3. The
 * losses compute in double, so a correct gradient lands near 1e-6. */
#define GRAD_TOL 1e-4

static void check_grad(mfr_gradcheck_fn fn, void *ctx, float *x, size_t n, size_t checks, double h,
                       const char *what)
{
    mfr_gradcheck_opts o = {h, 1e-3, checks};
    mfr_gradcheck_result r;
    /* One thread: the checker calls the loss hundreds of times, and thread
     * counts are tested apart (check_threads). */
    mfr_set_threads(1);
    tu_ok(mfr_gradcheck(fn, ctx, x, n, &o, &r));
    mfr_set_threads(0);
    ck_assert_uint_eq(r.checked, checks && checks < n ? checks : n);
    ck_assert_msg(r.max_err < GRAD_TOL, "%s: gradient error %.3g at %zu (analytic %.9g, numeric %.9g)", what,
                  r.max_err, r.worst, r.analytic, r.numeric);
}

/* The same loss at 1, 2 and 3 threads: bit-identical value and gradient. */
typedef int (*eval_fn)(void *ctx, double *loss, float *grad);

static void check_threads(eval_fn fn, void *ctx, size_t ngrad, const char *what)
{
    float *g1 = malloc(ngrad * sizeof *g1), *g = malloc(ngrad * sizeof *g);
    double l1, l;
    ck_assert(g1 && g);
    mfr_set_threads(1);
    tu_ok(fn(ctx, &l1, g1));
    for (int t = 2; t <= 3; t++) {
        mfr_set_threads(t);
        memset(g, 0xff, ngrad * sizeof *g);
        tu_ok(fn(ctx, &l, g));
        ck_assert_msg(memcmp(&l, &l1, sizeof l) == 0, "%s: loss differs at %d threads (%.17g vs %.17g)", what, t,
                      l, l1);
        ck_assert_msg(memcmp(g, g1, ngrad * sizeof *g) == 0, "%s: gradient differs at %d threads", what, t);
    }
    mfr_set_threads(0);
    free(g1);
    free(g);
}

/* ------------------------------------------------------- PyTorch references */

/* Printed by tests/train_reference.py (PyTorch 1.13, float64 autograd on the
 * float32 inputs below). */
/* softmax CE: logits seq(15, 2, 1.3, 0.7), labels {1, 4, 0}, smoothing 0.1 */
static const double ref_ce_loss[] = {1.4256221846269472};
static const double ref_ce_grad[] = {0.10195980377785623, -0.12208821344717877, 0.015178690277959522, -0.0025621100515953164, 0.0075118294429582814, 0.13935760675335504, 0.14077187349680723, 0.007679444422460463, -0.002581624976936087, -0.28522729969568666, -0.12729696806426369, 0.10090048586496886, 0.0029301851647418851, -0.0022743772024137986, 0.025740674236966708};
/* arcface: emb seq(12, 1.5, 0.9, 0.3), weights seq(20, 1, 0.7, 1.1) with row 3 = -2 emb row 2 + {.25, -.125, .125, .25}, labels {2, 0, 3}, s 64, m 0.5 */
static const double ref_arc_loss[] = {93.666636658138373};
static const double ref_arc_gemb[] = {3.0841983358729235, 2.5088708936216459, -2.3122156315561835, -8.8852221133956384, -1.7275110152918813, 0.42833259969792259, -0.8682465126896739, -3.9788123484142983, 0.090297851327523659, 1.9569359254701535, 3.045193208734275, 3.0520926129356427};
static const double ref_arc_gw[] = {-4.2141633017792266, 3.1344492815358151, 0.46788815373961157, -7.2497721449263661, -0.94042926903862956, -1.3777492645261766, 1.0257885200104919, 4.1591183193710624, 1.0732491752684821, -4.7452814066394424, -1.4374967457790291, 8.9317455381357629, -0.30078412756205264, -0.14401848354371216, -0.59621664121031026, -0.55605710590102175, 4.5259217512554541e-06, 6.6546972116477186e-06, 3.0138567096613519e-06, -4.4893084667002154e-06};
/* cosface: emb seq(12, 1.5, 0.9, 0.3), weights seq(20, 1, 0.7, 1.1) with row 3 = -2 emb row 2 + {.25, -.125, .125, .25}, labels {2, 0, 3}, s 64, m 0.4 */
static const double ref_cos_loss[] = {103.44905680857219};
static const double ref_cos_gemb[] = {3.9092951895855599, 1.3315829043820124, -2.0277864493719271, -4.5773727921616585, -1.7275110152918813, 0.42833259969792259, -0.8682465126896739, -3.9788123484142983, 0.090297851327523659, 1.9569359254701535, 3.045193208734275, 3.0520926129356427};
static const double ref_cos_gw[] = {-4.2141853352215435, 3.1344574848216311, 0.46790858626533094, -7.2497621973385558, -0.94042926903862956, -1.3777492645261766, 1.0257885200104919, 4.1591183193710624, 0.45013677323043577, -1.9902420702201589, -0.60290765796396784, 3.746107808406729, -0.30078412756205264, -0.14401848354371216, -0.59621664121031026, -0.55605710590102175, 4.5259431469526204e-06, 6.6547286708496435e-06, 3.0138709572707901e-06, -4.4893296893129151e-06};
/* BCE: logits seq(7, 3, 2.1, 0.2), targets and weights as in the test, norm 4 */
static const double ref_bce_loss[] = {2.278350643949989};
static const double ref_bce_grad[] = {-0.088814382494086214, 0.22588333647509479, -0.11819582368928649, 0.32798204362890304, 0.15013392779051596, -0, 0.16674344303440186};
/* focal: alpha 0.25, gamma 2, same inputs */
static const double ref_focal_loss[] = {0.81432127846810642};
static const double ref_focal_grad[] = {-0.0072665628042788664, 0.20736663586409168, -0.035273592964181755, 0.22431116711330801, 0.050952147712092048, 0, 0.11671755227170147};
/* regression l1: pred seq(12, 4, 1.7, 0.4), target seq(12, 1, 0.6, 2), mask {1, .5, 0}, norm 2 */
static const double ref_l1_loss[] = {6.8722748886793852};
static const double ref_l1_grad[] = {0.5, 0.5, -0.5, -0.5, 0.25, 0.25, -0.25, -0.25, 0, -0, -0, 0};
/* regression sl1: pred seq(12, 4, 1.7, 0.4), target seq(12, 1, 0.6, 2), mask {1, .5, 0}, norm 2 */
static const double ref_sl1_loss[] = {5.4032984809079236};
static const double ref_sl1_grad[] = {0.32418796420097351, 0.5, -0.5, -0.5, 0.25, 0.25, -0.25, -0.24245943315327168, 0, -0, -0, 0};
/* regression l2: pred seq(12, 4, 1.7, 0.4), target seq(12, 1, 0.6, 2), mask {1, .5, 0}, norm 2 */
static const double ref_l2_loss[] = {18.847866336889556};
static const double ref_l2_grad[] = {0.64837592840194702, 2.9373360872268677, -2.389057420194149, -2.2103033065795898, 2.0631367564201355, 1.4815038442611694, -1.5299175679683685, -0.48491886630654335, 0, -0, -0, 0};
/* regression wing: pred seq(12, 4, 1.7, 0.4), target seq(12, 1, 0.6, 2), mask {1, .5, 0}, norm 2 */
static const double ref_wing_loss[] = {21.953792677073242};
static const double ref_wing_grad[] = {1.8879494962850849, 1.0126918467096553, -1.139196761699879, -1.1875628988976454, 0.40807841745233259, 0.50372680376490364, -0.49408724451200331, -0.84179683372812153, 0, -0, -0, 0};
/* iou loss of the three boxes in the test, norm 3 */
static const double ref_iou_loss[] = {0.83096590962620265};
static const double ref_iou_grad[] = {-0.012396694102178812, -0.016528925469571749, -0.026170798797896314, -0.041322313880540938, 0, 0, 0, 0, -0.009765624969482422, -0.009765624969482422, 0.009765624969482422, 0.009765624969482422};
/* giou loss of the three boxes in the test, norm 3 */
static const double ref_giou_loss[] = {1.1829317212320365};
static const double ref_giou_grad[] = {-0.03106336072617881, -0.021862258813571747, -0.039504132077896312, -0.054655647160540943, 0.0064102564061472708, 0.0042735042707648472, -0.004629629609997082, -0.002629848766626211, -0.0097656249694824254, -0.0097656249694824254, 0.0097656249694824254, 0.0097656249694824254};
/* sgd: w0 {1, -2}, gradients {.5, -1}, {.25, .75}, {-.5, .125}; float32 */
static const double ref_opt_sgd[] = {0.94999998807907104, -1.8999999761581421, 0.92500001192092896, -1.9750000238418579, 0.97500002384185791, -1.9875000715255737};
/* momentum: w0 {1, -2}, gradients {.5, -1}, {.25, .75}, {-.5, .125}; float32 */
static const double ref_opt_momentum[] = {0.94900000095367432, -1.8980000019073486, 0.8771510124206543, -1.8793020248413086, 0.86160975694656372, -1.8730945587158203};
/* nesterov: w0 {1, -2}, gradients {.5, -1}, {.25, .75}, {-.5, .125}; float32 */
static const double ref_opt_nesterov[] = {0.90310001373291016, -1.8062000274658203, 0.81257414817810059, -1.8626482486724854, 0.84786975383758545, -1.8677881956100464};
/* adamw: w0 {1, -2}, gradients {.5, -1}, {.25, .75}, {-.5, .125}; float32 */
static const double ref_opt_adamw[] = {0.89900004863739014, -1.8980000019073486, 0.80488306283950806, -1.8871695995330811, 0.79299986362457275, -1.8847734928131104};


/* ------------------------------------------------------- deterministic sums */

static double sum_values(void *arg, size_t begin, size_t end)
{
    const double *v = arg;
    double s = 0;
    for (size_t i = begin; i < end; i++)
        s += v[i];
    return s;
}

START_TEST(test_chunked_sum)
{
    enum { N = 10007 };
    double *v = malloc(N * sizeof *v), s1, s, want = 0;
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < N; i++)
        v[i] = 1.0 / (i + 1) * (i % 3 ? 1 : -1e3);   /* a sum whose rounding depends on order */
    /* The definition: chunk sums in chunk order. */
    for (size_t c = 0; c < N; c += 7)
        want += sum_values(v, c, c + 7 < N ? c + 7 : N);
    mfr_set_threads(1);
    tu_ok(mfr_train_chunked_sum(N, 7, sum_values, v, &s1));
    ck_assert(memcmp(&s1, &want, sizeof s1) == 0);
    for (int t = 2; t <= 3; t++) {
        mfr_set_threads(t);
        tu_ok(mfr_train_chunked_sum(N, 7, sum_values, v, &s));
        ck_assert_msg(memcmp(&s, &s1, sizeof s) == 0, "%d threads: %.17g vs %.17g", t, s, s1);
    }
    mfr_set_threads(0);
    tu_ok(mfr_train_chunked_sum(0, 7, sum_values, v, &s));
    ck_assert(s == 0);
    free(v);
}
END_TEST

/* ------------------------------------------------------------- softmax CE */

typedef struct ce_case {
    int batch, classes;
    float *logits;
    const int *labels;
    double smoothing;
} ce_case;

static int ce_eval(void *arg, double *loss, float *grad)
{
    ce_case *c = arg;
    return mfr_loss_softmax_ce(c->batch, c->classes, c->logits, c->labels, c->smoothing, loss, grad);
}

static int ce_fn(void *arg, const float *x, double *f, float *grad)
{
    ce_case *c = arg;
    return mfr_loss_softmax_ce(c->batch, c->classes, x, c->labels, c->smoothing, f, grad);
}

START_TEST(test_ce_uniform_is_log_c)
{
    float z[4 * 10], g[4 * 10];
    int labels[4] = {0, 3, 9, 5};
    double loss;
    for (int i = 0; i < 40; i++)
        z[i] = 2.5f;
    tu_ok(mfr_loss_softmax_ce(4, 10, z, labels, 0, &loss, g));
    ck_assert_double_eq_tol(loss, log(10.0), 1e-15);
    /* p = 1/10 everywhere: grad = (0.1 - onehot) / 4. */
    for (int i = 0; i < 40; i++)
        ck_assert_float_eq_tol(g[i], (float)((0.1 - ((i % 10) == labels[i / 10])) / 4), 1e-8f);
    /* Smoothing does not change the loss of uniform logits. */
    tu_ok(mfr_loss_softmax_ce(4, 10, z, labels, 0.3, &loss, NULL));
    ck_assert_double_eq_tol(loss, log(10.0), 1e-15);
}
END_TEST

START_TEST(test_ce_matches_torch_and_is_stable)
{
    float z[15], g[15], big[3] = {1000, 0, -1000};
    int labels[3] = {1, 4, 0}, lb = 0;
    double loss;
    seq(z, 15, 2.0, 1.3, 0.7);
    tu_ok(mfr_loss_softmax_ce(3, 5, z, labels, 0.1, &loss, g));
    assert_near(loss, ref_ce_loss[0], 1e-12, 0, "ce loss", 0);
    assert_all_near(g, ref_ce_grad, 15, 1e-6, 1e-9, "ce grad");
    /* Huge logits: log-sum-exp keeps it finite: loss = 0 for the right class,
     * 1000 for a class 1000 below the best. */
    tu_ok(mfr_loss_softmax_ce(1, 3, big, &lb, 0, &loss, g));
    ck_assert_double_eq_tol(loss, 0, 1e-12);
    lb = 1;
    tu_ok(mfr_loss_softmax_ce(1, 3, big, &lb, 0, &loss, g));
    ck_assert_double_eq_tol(loss, 1000, 1e-9);
    ck_assert_float_eq_tol(g[0], 1.0f, 1e-7f);
    ck_assert_float_eq_tol(g[1], -1.0f, 1e-7f);
}
END_TEST

START_TEST(test_ce_gradcheck_and_threads)
{
    enum { B = 40, C = 7 };
    float z[B * C];
    int labels[B];
    ce_case c = {B, C, z, labels, 0.15};
    seq(z, B * C, 3.0, 0.77, 0.1);
    for (int i = 0; i < B; i++)
        labels[i] = (i * 5) % C;
    check_grad(ce_fn, &c, z, B * C, 0, 1e-3, "softmax CE");
    c.smoothing = 0;
    check_grad(ce_fn, &c, z, B * C, 0, 1e-3, "softmax CE, no smoothing");
    check_threads(ce_eval, &c, B * C, "softmax CE");
}
END_TEST

START_TEST(test_ce_errors)
{
    float z[6] = {0};
    int bad[2] = {0, 3}, ok[2] = {0, 2};
    double loss = 42;
    float g[6] = {7, 7, 7, 7, 7, 7};
    ck_assert_int_eq(mfr_loss_softmax_ce(2, 3, z, bad, 0, &loss, g), MFR_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "label 3 of row 1"));
    ck_assert(loss == 42 && g[0] == 7);   /* nothing written */
    ck_assert_int_eq(mfr_loss_softmax_ce(2, 3, z, ok, 1.0, &loss, g), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_loss_softmax_ce(0, 3, z, ok, 0, &loss, g), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_loss_softmax_ce(2, 3, NULL, ok, 0, &loss, g), MFR_ERR_ARG);
}
END_TEST

/* ------------------------------------------------------------ margin heads */

typedef struct head_case {
    mfr_margin_head head;
    int batch, dim, classes;
    float *emb, *weight;
    const int *labels;
    int wrt_weight;   /* gradcheck: 0 the embeddings, 1 the weights */
    int reference;    /* check_threads: 1 the double loops, 0 the GEMM path */
} head_case;

static int head_eval(void *arg, double *loss, float *grad)
{
    head_case *c = arg;
    /* grad holds both: B x D embedding gradient, then C x D weight gradient */
    return (c->reference ? mfr_loss_margin_reference : mfr_loss_margin)(
        &c->head, c->batch, c->dim, c->classes, c->emb, c->weight, c->labels, loss, grad,
        grad + (size_t)c->batch * c->dim);
}

static int head_fn(void *arg, const float *x, double *f, float *grad)
{
    head_case *c = arg;
    const float *e = c->wrt_weight ? c->emb : x, *w = c->wrt_weight ? x : c->weight;
    return mfr_loss_margin_reference(&c->head, c->batch, c->dim, c->classes, e, w, c->labels, f,
                                     c->wrt_weight ? NULL : grad, c->wrt_weight ? grad : NULL);
}

START_TEST(test_margin_defaults)
{
    mfr_margin_head a = mfr_margin_defaults(MFR_MARGIN_ARCFACE), c = mfr_margin_defaults(MFR_MARGIN_COSFACE);
    ck_assert(a.kind == MFR_MARGIN_ARCFACE && a.s == 64 && a.m == 0.5);
    ck_assert(c.kind == MFR_MARGIN_COSFACE && c.s == 64 && c.m == 0.4);
}
END_TEST

/* How far the GEMM path of the margin heads may stray from the double
 * reference. Its cosines are float dot products of float-rounded unit
 * vectors: off by at most about (D + 2) u, u = 2^-24, so each logit by
 * s (D + 2) u and the loss of a row (log-sum-exp minus the target logit)
 * by twice that; a factor 2 covers d phi / d cos of ArcFace, up to about 2
 * at the angles tested. */
static double gemm_loss_tol(double s, int dim)
{
    return 4 * s * (dim + 2) * 0x1p-24;
}

/* Gradients: d loss / d cos (sum of magnitudes <= 2 s / B per row) moves
 * by the relative logit error 2 s (D + 2) u and is rounded to float; the
 * products add C + D roundings. Measured against the largest gradient. */
static void assert_gemm_near(const float *got, const float *want, size_t n, double s, int dim, int classes,
                             const char *what)
{
    double big = 0, tol;
    for (size_t i = 0; i < n; i++)
        big = fabs(want[i]) > big ? fabs(want[i]) : big;
    tol = 4 * (2 * s * (dim + 2) + classes + dim) * 0x1p-24 * big;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "%s[%zu]: GEMM %.9g, reference %.9g (tolerance %.3g)", what, i,
                      got[i], want[i], tol);
}

/* With m = 0 both heads are the softmax cross-entropy of s * cosines. */
START_TEST(test_margin_zero_is_scaled_softmax)
{
    enum { B = 3, D = 5, C = 4 };
    float x[B * D], w[C * D], z[B * C];
    int labels[B] = {1, 3, 0};
    double want, got;
    seq(x, B * D, 2.0, 1.1, 0.4);
    seq(w, C * D, 0.7, 0.5, 2.2);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < C; j++) {
            double dot = 0, nx = 0, nw = 0;
            for (int d = 0; d < D; d++) {
                dot += (double)x[i * D + d] * w[j * D + d];
                nx += (double)x[i * D + d] * x[i * D + d];
                nw += (double)w[j * D + d] * w[j * D + d];
            }
            z[i * C + j] = (float)(30.0 * dot / sqrt(nx * nw));
        }
    tu_ok(mfr_loss_softmax_ce(B, C, z, labels, 0, &want, NULL));
    for (int k = 0; k < 2; k++) {
        mfr_margin_head h = {k ? MFR_MARGIN_COSFACE : MFR_MARGIN_ARCFACE, 30.0, 0.0};
        tu_ok(mfr_loss_margin_reference(&h, B, D, C, x, w, labels, &got, NULL, NULL));
        /* the logits above were rounded to float: 30 * 2^-24 per logit at most */
        ck_assert_msg(fabs(got - want) < 1e-5, "%s m = 0: %.9g vs %.9g", k ? "CosFace" : "ArcFace", got, want);
        tu_ok(mfr_loss_margin(&h, B, D, C, x, w, labels, &got, NULL, NULL));
        ck_assert_msg(fabs(got - want) < 1e-5 + gemm_loss_tol(30, D), "%s m = 0, GEMM: %.9g vs %.9g",
                      k ? "CosFace" : "ArcFace", got, want);
    }
    /* A margin makes the task harder: the loss grows. */
    {
        mfr_margin_head a = {MFR_MARGIN_ARCFACE, 30.0, 0.5}, c = {MFR_MARGIN_COSFACE, 30.0, 0.4};
        double la, lc;
        tu_ok(mfr_loss_margin(&a, B, D, C, x, w, labels, &la, NULL, NULL));
        tu_ok(mfr_loss_margin(&c, B, D, C, x, w, labels, &lc, NULL, NULL));
        ck_assert(la > want && lc > want);
    }
}
END_TEST

START_TEST(test_margin_matches_torch)
{
    enum { B = 3, D = 4, C = 5 };
    float x[B * D], w[C * D], gx[B * D], gw[C * D];
    int labels[B] = {2, 0, 3};
    const float dev[4] = {0.25f, -0.125f, 0.125f, 0.25f};
    double loss;
    seq(x, B * D, 1.5, 0.9, 0.3);
    seq(w, C * D, 1.0, 0.7, 1.1);
    for (int d = 0; d < D; d++)
        w[3 * D + d] = -2 * x[2 * D + d] + dev[d];   /* row 2 takes ArcFace's theta + m > pi branch */
    for (int path = 0; path < 2; path++) {
        /* path 0: the double reference, to PyTorch's precision; 1: the GEMM
         * path, within its float rounding (gemm_loss_tol, assert_gemm_near) */
        int (*fn)(const mfr_margin_head *, int, int, int, const float *, const float *, const int *, double *,
                  float *, float *) = path ? mfr_loss_margin : mfr_loss_margin_reference;
        const double rtol = path ? 0 : 1e-5, ltol = path ? gemm_loss_tol(64, D) : 1e-10 * ref_arc_loss[0];
        float fx[B * D], fw[C * D];
        mfr_margin_head a = mfr_margin_defaults(MFR_MARGIN_ARCFACE), c = mfr_margin_defaults(MFR_MARGIN_COSFACE);
        tu_ok(fn(&a, B, D, C, x, w, labels, &loss, gx, gw));
        assert_near(loss, ref_arc_loss[0], 0, ltol, "arcface loss", path);
        if (path) {
            for (int i = 0; i < B * D; i++)
                fx[i] = (float)ref_arc_gemb[i];
            for (int i = 0; i < C * D; i++)
                fw[i] = (float)ref_arc_gw[i];
            assert_gemm_near(gx, fx, B * D, 64, D, C, "arcface grad emb");
            assert_gemm_near(gw, fw, C * D, 64, D, C, "arcface grad weight");
        } else {
            assert_all_near(gx, ref_arc_gemb, B * D, rtol, 1e-9, "arcface grad emb");
            assert_all_near(gw, ref_arc_gw, C * D, rtol, 1e-9, "arcface grad weight");
        }
        tu_ok(fn(&c, B, D, C, x, w, labels, &loss, gx, gw));
        assert_near(loss, ref_cos_loss[0], 0, path ? ltol : 1e-10 * ref_cos_loss[0], "cosface loss", path);
        if (path) {
            for (int i = 0; i < B * D; i++)
                fx[i] = (float)ref_cos_gemb[i];
            for (int i = 0; i < C * D; i++)
                fw[i] = (float)ref_cos_gw[i];
            assert_gemm_near(gx, fx, B * D, 64, D, C, "cosface grad emb");
            assert_gemm_near(gw, fw, C * D, 64, D, C, "cosface grad weight");
        } else {
            assert_all_near(gx, ref_cos_gemb, B * D, rtol, 1e-9, "cosface grad emb");
            assert_all_near(gw, ref_cos_gw, C * D, rtol, 1e-9, "cosface grad weight");
        }
    }
}
END_TEST

/* The GEMM path against the double reference on a size where the GEMM
 * packs and blocks (B 37, D 64, C 300). */
START_TEST(test_margin_gemm_matches_reference)
{
    enum { B = 37, D = 64, C = 300 };
    float *x = malloc(B * D * sizeof *x), *w = malloc(C * D * sizeof *w);
    float *gx = malloc(B * D * sizeof *gx), *gw = malloc(C * D * sizeof *gw);
    float *rx = malloc(B * D * sizeof *rx), *rw = malloc(C * D * sizeof *rw);
    int labels[B];
    ck_assert(x && w && gx && gw && rx && rw);
    seq(x, B * D, 1.0, 0.123, 0.5);
    seq(w, C * D, 0.3, 0.731, 0.1);
    for (int i = 0; i < B; i++)
        labels[i] = (i * 41) % C;
    for (int k = 0; k < 2; k++) {
        mfr_margin_head h = mfr_margin_defaults(k ? MFR_MARGIN_COSFACE : MFR_MARGIN_ARCFACE);
        double lf, lr;
        tu_ok(mfr_loss_margin(&h, B, D, C, x, w, labels, &lf, gx, gw));
        tu_ok(mfr_loss_margin_reference(&h, B, D, C, x, w, labels, &lr, rx, rw));
        ck_assert_msg(fabs(lf - lr) <= gemm_loss_tol(h.s, D), "loss: GEMM %.12g, reference %.12g", lf, lr);
        assert_gemm_near(gx, rx, B * D, h.s, D, C, "grad emb");
        assert_gemm_near(gw, rw, C * D, h.s, D, C, "grad weight");
    }
    {
        head_case c = {mfr_margin_defaults(MFR_MARGIN_ARCFACE), B, D, C, x, w, labels, 0, 0};
        check_threads(head_eval, &c, B * D + C * D, "ArcFace GEMM, B 37 D 64 C 300");
    }
    free(x);
    free(w);
    free(gx);
    free(gw);
    free(rx);
    free(rw);
}
END_TEST

START_TEST(test_margin_gradcheck_and_threads)
{
    enum { B = 20, D = 6, C = 11 };
    float x[B * D], w[C * D];
    int labels[B];
    head_case c = {{MFR_MARGIN_ARCFACE, 64.0, 0.5}, B, D, C, x, w, labels, 0, 1};
    seq(x, B * D, 1.0, 0.61, 0.2);
    seq(w, C * D, 1.0, 1.37, 0.9);
    for (int i = 0; i < B; i++)
        labels[i] = (i * 7) % C;
    for (int k = 0; k < 2; k++) {
        c.head = mfr_margin_defaults(k ? MFR_MARGIN_COSFACE : MFR_MARGIN_ARCFACE);
        c.wrt_weight = 0;
        check_grad(head_fn, &c, x, B * D, 0, 1e-4, k ? "CosFace d/d emb" : "ArcFace d/d emb");
        c.wrt_weight = 1;
        check_grad(head_fn, &c, w, C * D, 0, 1e-4, k ? "CosFace d/d weight" : "ArcFace d/d weight");
        c.reference = 1;
        check_threads(head_eval, &c, B * D + C * D, k ? "CosFace reference" : "ArcFace reference");
        c.reference = 0;
        check_threads(head_eval, &c, B * D + C * D, k ? "CosFace GEMM" : "ArcFace GEMM");
    }
    /* A smaller scale exercises the softmax away from saturation. */
    c.head = (mfr_margin_head){MFR_MARGIN_ARCFACE, 8.0, 0.3};
    c.wrt_weight = 0;
    check_grad(head_fn, &c, x, B * D, 0, 1e-3, "ArcFace s = 8");
}
END_TEST

START_TEST(test_margin_errors)
{
    float x[4] = {1, 0, 0, 0}, w[4] = {1, 1, 0, 0};
    int labels[2] = {0, 1};
    mfr_margin_head h = mfr_margin_defaults(MFR_MARGIN_ARCFACE);
    double loss;
    ck_assert_int_eq(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL), MFR_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "embedding 1 has zero"));
    x[3] = 1;
    ck_assert_int_eq(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL), MFR_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "class weight 1"));
    w[3] = 1;
    tu_ok(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL));
    labels[1] = 2;
    ck_assert_int_eq(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL), MFR_ERR_RANGE);
    labels[1] = 1;
    h.m = 2.0;
    ck_assert_int_eq(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL), MFR_ERR_ARG);
    h.m = 0.5;
    h.s = 0;
    ck_assert_int_eq(mfr_loss_margin(&h, 2, 2, 2, x, w, labels, &loss, NULL, NULL), MFR_ERR_ARG);
}
END_TEST

/* ------------------------------------------------------------ BCE, focal */

typedef struct bce_case {
    size_t n;
    float *x;
    const float *t, *w;
    int focal;
    double alpha, gamma;
    double norm;
} bce_case;

static int bce_eval(void *arg, double *loss, float *grad)
{
    bce_case *c = arg;
    if (c->focal)
        return mfr_loss_focal(c->n, c->x, c->t, c->w, c->alpha, c->gamma, c->norm, loss, grad);
    return mfr_loss_bce_logits(c->n, c->x, c->t, c->w, c->norm, loss, grad);
}

static int bce_fn(void *arg, const float *x, double *f, float *grad)
{
    bce_case *c = arg;
    if (c->focal)
        return mfr_loss_focal(c->n, x, c->t, c->w, c->alpha, c->gamma, c->norm, f, grad);
    return mfr_loss_bce_logits(c->n, x, c->t, c->w, c->norm, f, grad);
}

START_TEST(test_bce_focal_match_torch)
{
    float x[7], g[7];
    const float t[7] = {1, 0, 1, 0, 0.3f, 1, 0}, w[7] = {1, 1, 0.5f, 2, 1, 0, 1};
    double loss;
    seq(x, 7, 3.0, 2.1, 0.2);
    tu_ok(mfr_loss_bce_logits(7, x, t, w, 4, &loss, g));
    assert_near(loss, ref_bce_loss[0], 1e-12, 0, "bce loss", 0);
    assert_all_near(g, ref_bce_grad, 7, 1e-6, 1e-9, "bce grad");
    tu_ok(mfr_loss_focal(7, x, t, w, 0.25, 2.0, 4, &loss, g));
    assert_near(loss, ref_focal_loss[0], 1e-12, 0, "focal loss", 0);
    assert_all_near(g, ref_focal_grad, 7, 1e-6, 1e-9, "focal grad");
}
END_TEST

START_TEST(test_bce_focal_properties)
{
    float x[4] = {0, 2, -3, 100}, t[4] = {1, 0, 1, 1}, g[4], gb[4], ext[2] = {-200, 200}, te[2] = {1, 0};
    double lb, lf;
    /* BCE of logit 0 is log 2 whatever the target. */
    tu_ok(mfr_loss_bce_logits(1, x, t, NULL, 1, &lb, g));
    ck_assert_double_eq_tol(lb, log(2.0), 1e-15);
    ck_assert_float_eq_tol(g[0], -0.5f, 1e-8f);
    /* Focal with gamma 0 and alpha off is BCE. */
    tu_ok(mfr_loss_bce_logits(4, x, t, NULL, 4, &lb, gb));
    tu_ok(mfr_loss_focal(4, x, t, NULL, -1, 0, 4, &lf, g));
    ck_assert_double_eq_tol(lf, lb, 1e-15);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(g[i], gb[i], 1e-9f);
    /* Focal down-weights easy examples: never above alpha-free BCE. */
    tu_ok(mfr_loss_focal(4, x, t, NULL, -1, 2, 4, &lf, g));
    ck_assert(lf < lb);
    /* Confidently wrong logits: finite loss (200 each) and gradients. */
    tu_ok(mfr_loss_bce_logits(2, ext, te, NULL, 2, &lb, g));
    ck_assert_double_eq_tol(lb, 200, 1e-9);
    ck_assert_float_eq_tol(g[0], -0.5f, 1e-8f);
    ck_assert_float_eq_tol(g[1], 0.5f, 1e-8f);
    tu_ok(mfr_loss_focal(2, ext, te, NULL, 0.25, 2, 2, &lf, g));
    ck_assert(isfinite(lf) && isfinite(g[0]) && isfinite(g[1]));
    /* Confidently right: a vanishing loss and gradient (about e^-200)... */
    ext[0] = 200;
    ext[1] = -200;
    tu_ok(mfr_loss_focal(2, ext, te, NULL, 0.25, 0.5, 2, &lf, g));
    ck_assert(lf >= 0 && lf < 1e-80 && fabsf(g[0]) < 1e-30f && fabsf(g[1]) < 1e-30f);
    /* ... and exactly zero once e^-x underflows (1 - p_t = 0), with no NaN
     * from 0^(gamma - 1). */
    ext[0] = 800;
    ext[1] = -800;
    tu_ok(mfr_loss_focal(2, ext, te, NULL, 0.25, 0.5, 2, &lf, g));
    ck_assert(lf == 0 && g[0] == 0 && g[1] == 0);
    ck_assert_int_eq(mfr_loss_bce_logits(2, ext, te, NULL, 0, &lb, g), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_loss_focal(2, ext, te, NULL, 0.25, -1, 2, &lb, g), MFR_ERR_ARG);
}
END_TEST

START_TEST(test_bce_focal_gradcheck_and_threads)
{
    enum { N = 3000 };
    float *x = malloc(N * sizeof *x), *t = malloc(N * sizeof *t), *w = malloc(N * sizeof *w);
    bce_case c = {N, x, t, w, 0, 0.25, 2.0, 123.0};
    ck_assert(x && t && w);
    seq(x, N, 4.0, 0.37, 0.1);
    for (int i = 0; i < N; i++) {
        t[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : 0.7f;
        w[i] = i % 7 == 3 ? 0.0f : 1.0f;   /* not a multiple of the checked stride */
    }
    check_grad(bce_fn, &c, x, N, 300, 1e-3, "BCE");
    check_threads(bce_eval, &c, N, "BCE");
    c.focal = 1;
    check_grad(bce_fn, &c, x, N, 300, 1e-3, "focal");
    c.gamma = 0.5;
    c.alpha = -1;
    check_grad(bce_fn, &c, x, N, 300, 1e-3, "focal gamma 0.5");
    check_threads(bce_eval, &c, N, "focal");
    free(x);
    free(t);
    free(w);
}
END_TEST

/* -------------------------------------------------------------- regression */

typedef struct reg_case {
    mfr_reg_loss r;
    size_t items;
    int dim;
    float *pred;
    const float *target, *mask;
    double norm;
} reg_case;

static int reg_eval(void *arg, double *loss, float *grad)
{
    reg_case *c = arg;
    return mfr_loss_regression(&c->r, c->items, c->dim, c->pred, c->target, c->mask, c->norm, loss, grad);
}

static int reg_fn(void *arg, const float *x, double *f, float *grad)
{
    reg_case *c = arg;
    return mfr_loss_regression(&c->r, c->items, c->dim, x, c->target, c->mask, c->norm, f, grad);
}

START_TEST(test_regression_matches_torch)
{
    float p[12], t[12], g[12];
    const float mask[3] = {1, 0.5f, 0};
    const double *refs[4][2] = {{ref_l1_loss, ref_l1_grad},
                                {ref_sl1_loss, ref_sl1_grad},
                                {ref_l2_loss, ref_l2_grad},
                                {ref_wing_loss, ref_wing_grad}};
    const char *names[4] = {"L1", "smooth-L1", "L2", "wing"};
    seq(p, 12, 4.0, 1.7, 0.4);
    seq(t, 12, 1.0, 0.6, 2.0);
    for (int k = 0; k < 4; k++) {
        mfr_reg_loss r = mfr_reg_loss_defaults((mfr_reg_kind)k);
        double loss;
        tu_ok(mfr_loss_regression(&r, 3, 4, p, t, mask, 2, &loss, g));
        assert_near(loss, refs[k][0][0], 1e-12, 0, names[k], 0);
        assert_all_near(g, refs[k][1], 12, 1e-6, 1e-9, names[k]);
    }
}
END_TEST

START_TEST(test_regression_values)
{
    /* d = pred - target = {0.5, -2, 30}; one item of dim 3. */
    const float p[3] = {1.5f, -2, 30}, t[3] = {1, 0, 0};
    mfr_reg_loss r = mfr_reg_loss_defaults(MFR_REG_SMOOTH_L1);
    double loss;
    tu_ok(mfr_loss_regression(&r, 1, 3, p, t, NULL, 1, &loss, NULL));
    ck_assert_double_eq_tol(loss, 0.125 + 1.5 + 29.5, 1e-12);
    r = mfr_reg_loss_defaults(MFR_REG_WING);
    tu_ok(mfr_loss_regression(&r, 1, 3, p, t, NULL, 1, &loss, NULL));
    ck_assert_double_eq_tol(loss, 10 * log(1.25) + 10 * log(2) + 30 - (10 - 10 * log(6)), 1e-12);
    /* Wing is continuous at |d| = w. */
    {
        float a[1] = {nextafterf(10.0f, 0)}, b[1] = {10.0f}, z[1] = {0};
        double la, lb;
        tu_ok(mfr_loss_regression(&r, 1, 1, a, z, NULL, 1, &la, NULL));
        tu_ok(mfr_loss_regression(&r, 1, 1, b, z, NULL, 1, &lb, NULL));
        ck_assert_double_eq_tol(la, lb, 1e-5);
    }
    r = mfr_reg_loss_defaults(MFR_REG_L2);
    tu_ok(mfr_loss_regression(&r, 1, 3, p, t, NULL, 4, &loss, NULL));
    ck_assert_double_eq_tol(loss, (0.25 + 4 + 900) / 4, 1e-12);
    r.kind = (mfr_reg_kind)9;
    ck_assert_int_eq(mfr_loss_regression(&r, 1, 3, p, t, NULL, 1, &loss, NULL), MFR_ERR_ARG);
    r = mfr_reg_loss_defaults(MFR_REG_SMOOTH_L1);
    r.beta = 0;
    ck_assert_int_eq(mfr_loss_regression(&r, 1, 3, p, t, NULL, 1, &loss, NULL), MFR_ERR_ARG);
}
END_TEST

START_TEST(test_regression_gradcheck_and_threads)
{
    enum { ITEMS = 1500, DIM = 2 };
    float *p = malloc(ITEMS * DIM * sizeof *p), *t = malloc(ITEMS * DIM * sizeof *t), *m = malloc(ITEMS * sizeof *m);
    reg_case c = {mfr_reg_loss_defaults(MFR_REG_L1), ITEMS, DIM, p, t, m, 77.0};
    ck_assert(p && t && m);
    seq(t, ITEMS * DIM, 5.0, 0.91, 0.3);
    for (int i = 0; i < ITEMS * DIM; i++) {
        /* differences spread over (-15, 15), kept 0.05 away from the kinks
         * at 0 (L1), +-1 (smooth-L1) and +-10 (wing) */
        double d = 15 * sin(0.37 * i + 1.0), a = fabs(d);
        if (fmod(a, 1.0) < 0.05 || fmod(a, 1.0) > 0.95 || fabs(a - 10) < 0.05)
            d += 0.5;
        p[i] = t[i] + (float)d;
    }
    for (int i = 0; i < ITEMS; i++)
        m[i] = i % 4 == 0 ? 0.0f : 1.0f;
    for (int k = 0; k < 4; k++) {
        c.r = mfr_reg_loss_defaults((mfr_reg_kind)k);
        check_grad(reg_fn, &c, p, ITEMS * DIM, 400, 1e-3, "regression");
        check_threads(reg_eval, &c, ITEMS * DIM, "regression");
    }
    free(p);
    free(t);
    free(m);
}
END_TEST

/* ------------------------------------------------------------------- IoU */

typedef struct iou_case {
    mfr_iou_kind kind;
    size_t n;
    float *pred;
    const float *target;
    double norm;
} iou_case;

static int iou_eval(void *arg, double *loss, float *grad)
{
    iou_case *c = arg;
    return mfr_loss_iou(c->kind, c->n, c->pred, c->target, NULL, c->norm, loss, grad);
}

static int iou_fn(void *arg, const float *x, double *f, float *grad)
{
    iou_case *c = arg;
    return mfr_loss_iou(c->kind, c->n, x, c->target, NULL, c->norm, f, grad);
}

START_TEST(test_iou_matches_torch)
{
    /* overlapping, disjoint, and one box inside the other */
    const float p[12] = {0, 0, 4, 3, 10, 10, 12, 13, 1, 1, 9, 9};
    const float t[12] = {1, 1, 5, 5, 0, 0, 2, 2, 3, 2, 6, 7};
    float g[12];
    double loss;
    tu_ok(mfr_loss_iou(MFR_IOU, 3, p, t, NULL, 3, &loss, g));
    assert_near(loss, ref_iou_loss[0], 1e-12, 0, "iou loss", 0);
    assert_all_near(g, ref_iou_grad, 12, 1e-6, 1e-9, "iou grad");
    tu_ok(mfr_loss_iou(MFR_GIOU, 3, p, t, NULL, 3, &loss, g));
    assert_near(loss, ref_giou_loss[0], 1e-12, 0, "giou loss", 0);
    assert_all_near(g, ref_giou_grad, 12, 1e-6, 1e-9, "giou grad");
    /* By hand: box 0 overlaps 3 x 2 = 6, union 12 + 16 - 6 = 22; box 1 is
     * disjoint (IoU 0, hull 12 x 13); box 2 holds all of its target (15 / 64). */
    ck_assert_double_eq_tol(ref_iou_loss[0], ((1 - 6.0 / 22) + 1 + (1 - 15.0 / 64)) / 3, 1e-7);
}
END_TEST

START_TEST(test_iou_values_and_gradcheck)
{
    enum { N = 2500 };
    const float same[4] = {2, 3, 7, 9};
    float *p = malloc(4 * N * sizeof *p), *t = malloc(4 * N * sizeof *t), g[4];
    iou_case c = {MFR_GIOU, N, p, t, 50.0};
    double loss;
    ck_assert(p && t);
    /* Identical boxes: loss 0 (up to eps). */
    tu_ok(mfr_loss_iou(MFR_GIOU, 1, same, same, NULL, 1, &loss, g));
    ck_assert_double_eq_tol(loss, 0, 1e-8);
    /* A mask of 0 drops the item. */
    {
        const float far[4] = {100, 100, 101, 101}, zero = 0;
        tu_ok(mfr_loss_iou(MFR_IOU, 1, far, same, &zero, 1, &loss, g));
        ck_assert(loss == 0 && g[0] == 0 && g[3] == 0);
    }
    /* Random-ish boxes: corners of width and height in [1, 9], offsets
     * so that some overlap, some nest and some are disjoint. */
    for (int i = 0; i < N; i++) {
        float x = (float)(6 * sin(0.7 * i)), y = (float)(6 * sin(1.3 * i + 1));
        float w = (float)(5 + 4 * sin(0.3 * i + 2)), h = (float)(5 + 4 * sin(0.9 * i + 0.5));
        t[4 * i] = 0;
        t[4 * i + 1] = 0;
        t[4 * i + 2] = 6;
        t[4 * i + 3] = 5;
        p[4 * i] = x;
        p[4 * i + 1] = y;
        p[4 * i + 2] = x + w;
        p[4 * i + 3] = y + h;
    }
    /* Keep predicted coordinates 0.01 away from the target's edges, where
     * min / max and the clamp of the intersection have kinks. */
    for (int i = 0; i < 4 * N; i++) {
        const float hi = i % 2 == 0 ? 6.0f : 5.0f;
        if (fabsf(p[i]) < 0.01f || fabsf(p[i] - hi) < 0.01f)
            p[i] += 0.05f;
    }
    for (int k = 0; k < 2; k++) {
        c.kind = k ? MFR_GIOU : MFR_IOU;
        check_grad(iou_fn, &c, p, 4 * N, 400, 1e-3, k ? "GIoU" : "IoU");
        check_threads(iou_eval, &c, 4 * N, k ? "GIoU" : "IoU");
    }
    ck_assert_int_eq(mfr_loss_iou((mfr_iou_kind)5, 1, same, same, NULL, 1, &loss, g), MFR_ERR_ARG);
    free(p);
    free(t);
}
END_TEST

/* -------------------------------------------------------------- optimisers */

/* Three steps on w = {1, -2} with fixed gradients, as in train_reference.py. */
static void run_three_steps(const mfr_optim_config *cfg, float out[6])
{
    static const float grads[3][2] = {{0.5f, -1.0f}, {0.25f, 0.75f}, {-0.5f, 0.125f}};
    float w[2] = {1, -2}, g[2];
    mfr_train_param p = {"w", w, g, 2, 0};
    mfr_optim *o;
    tu_ok(mfr_optim_create(cfg, &p, 1, &o));
    for (int s = 0; s < 3; s++) {
        g[0] = grads[s][0];
        g[1] = grads[s][1];
        tu_ok(mfr_optim_step(o, 0.1));
        out[2 * s] = w[0];
        out[2 * s + 1] = w[1];
    }
    ck_assert_int_eq(mfr_optim_steps(o), 3);
    mfr_optim_free(o);
}

START_TEST(test_optim_matches_torch)
{
    mfr_optim_config c = mfr_optim_defaults(MFR_OPTIM_SGD);
    float out[6];
    c.momentum = 0;
    c.weight_decay = 0;
    run_three_steps(&c, out);
    assert_all_near(out, ref_opt_sgd, 6, 1e-6, 0, "sgd");
    c.momentum = 0.9;
    c.weight_decay = 0.01;
    run_three_steps(&c, out);
    assert_all_near(out, ref_opt_momentum, 6, 1e-6, 0, "momentum");
    c.nesterov = 1;
    run_three_steps(&c, out);
    assert_all_near(out, ref_opt_nesterov, 6, 1e-6, 0, "nesterov");
    c = mfr_optim_defaults(MFR_OPTIM_ADAMW);
    run_three_steps(&c, out);
    assert_all_near(out, ref_opt_adamw, 6, 1e-6, 0, "adamw");
}
END_TEST

/* First steps by hand from the published update equations. */
START_TEST(test_optim_hand_steps)
{
    mfr_optim_config c = mfr_optim_defaults(MFR_OPTIM_SGD);
    float out[6];
    /* Nesterov, wd 0.01, mu 0.9, lr 0.1, step 1: g' = 0.5 + 0.01 = 0.51,
     * b = 0.51, d = g' + mu b = 0.969, w = 1 - 0.0969 = 0.9031;
     * step 2: g' = 0.25 + 0.01 * 0.9031, b = 0.9 * 0.51 + g',
     * w = 0.9031 - 0.1 (g' + 0.9 b). */
    c.momentum = 0.9;
    c.weight_decay = 0.01;
    c.nesterov = 1;
    run_three_steps(&c, out);
    ck_assert_float_eq_tol(out[0], 0.9031f, 1e-6f);
    {
        double g2 = 0.25 + 0.01 * 0.9031, b2 = 0.9 * 0.51 + g2;
        ck_assert_float_eq_tol(out[2], (float)(0.9031 - 0.1 * (g2 + 0.9 * b2)), 2e-6f);
    }
    /* AdamW step 1: m^ = g, v^ = g^2, so w = w (1 - lr wd) - lr g / (|g| + eps). */
    c = mfr_optim_defaults(MFR_OPTIM_ADAMW);
    run_three_steps(&c, out);
    ck_assert_float_eq_tol(out[0], (float)(1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)), 1e-7f);
    ck_assert_float_eq_tol(out[1], (float)(-2 * (1 - 0.1 * 0.01) + 0.1 * 1.0 / (1.0 + 1e-8)), 1e-7f);
}
END_TEST

START_TEST(test_optim_no_decay_and_zero_grad)
{
    float w[2] = {1, 1}, b[2] = {1, 1}, gw[2] = {0, 0}, gb[2] = {0, 0};
    mfr_train_param p[2] = {{"w", w, gw, 2, 0}, {"b", b, gb, 2, 1}};
    for (int k = 0; k < 2; k++) {
        mfr_optim_config c = mfr_optim_defaults(k ? MFR_OPTIM_ADAMW : MFR_OPTIM_SGD);
        mfr_optim *o;
        w[0] = w[1] = b[0] = b[1] = 1;
        c.weight_decay = 0.1;
        tu_ok(mfr_optim_create(&c, p, 2, &o));
        tu_ok(mfr_optim_step(o, 0.5));
        /* zero gradient: decay alone moves w (1 - 0.5 * 0.1 = 0.95), never b */
        ck_assert_float_eq_tol(w[0], 0.95f, 1e-7f);
        ck_assert(b[0] == 1 && b[1] == 1);
        gw[0] = gb[1] = 3;
        mfr_optim_zero_grad(o);
        ck_assert(gw[0] == 0 && gb[1] == 0);
        mfr_optim_free(o);
    }
}
END_TEST

/* Logistic regression on 64 separable points: every optimiser brings the
 * BCE loss from log 2 well down. The bias is a no-decay parameter. */
START_TEST(test_optim_minimises_logistic_regression)
{
    enum { N = 64 };
    float xs[N][2], ys[N], z[N], dz[N];
    for (int i = 0; i < N; i++) {
        xs[i][0] = (float)(2 * sin(1.7 * i));
        xs[i][1] = (float)(2 * cos(0.9 * i + 0.3));
        ys[i] = xs[i][0] + 0.5f * xs[i][1] > 0.3f ? 1.0f : 0.0f;
    }
    /* k: 0 SGD with momentum, 1 Nesterov, 2 AdamW, 3 plain SGD */
    for (int k = 0; k < 4; k++) {
        float w[2] = {0, 0}, b[1] = {0}, gw[2], gb[1];
        mfr_train_param p[2] = {{"w", w, gw, 2, 0}, {"b", b, gb, 1, 1}};
        mfr_optim_config c = mfr_optim_defaults(k == 2 ? MFR_OPTIM_ADAMW : MFR_OPTIM_SGD);
        mfr_lr_schedule s = mfr_lr_schedule_defaults(MFR_LR_COSINE, k == 2 ? 0.1 : 1.0);
        mfr_optim *o;
        double first = 0, loss = 0;
        c.nesterov = k == 1;
        c.momentum = k == 3 ? 0 : c.momentum;
        c.weight_decay = 1e-4;
        s.warmup_steps = 10;
        s.total_steps = 300;
        tu_ok(mfr_lr_schedule_check(&s));
        tu_ok(mfr_optim_create(&c, p, 2, &o));
        for (long t = 0; t < s.total_steps; t++) {
            for (int i = 0; i < N; i++)
                z[i] = w[0] * xs[i][0] + w[1] * xs[i][1] + b[0];
            tu_ok(mfr_loss_bce_logits(N, z, ys, NULL, N, &loss, dz));
            if (t == 0)
                first = loss;
            mfr_optim_zero_grad(o);
            for (int i = 0; i < N; i++) {
                gw[0] += dz[i] * xs[i][0];
                gw[1] += dz[i] * xs[i][1];
                gb[0] += dz[i];
            }
            tu_ok(mfr_optim_step(o, mfr_lr_at(&s, t)));
        }
        ck_assert_double_eq_tol(first, log(2.0), 1e-12);
        ck_assert_msg(loss < 0.1, "optimiser %d: loss %.4g after %ld steps", k, loss, s.total_steps);
        mfr_optim_free(o);
    }
}
END_TEST

/* Gradients of a fixed quadratic 0.5 sum_i a_i (w_i - c_i)^2 at w. */
static void quad_grad(const float *w, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (float)((1 + i % 7) * (w[i] - sin((double)i)));
}

/* Runs `steps` steps from the optimiser's current state. */
static void quad_run(mfr_optim *o, float *w, float *g, size_t n, int from, int steps)
{
    for (int s = from; s < from + steps; s++) {
        quad_grad(w, g, n);
        tu_ok(mfr_optim_step(o, 0.01 * (1 + s % 3)));
    }
}

START_TEST(test_optim_resume_is_bit_identical)
{
    enum { N = 20000 };   /* above the size where updates go parallel */
    for (int k = 0; k < 3; k++) {
        mfr_optim_config c = mfr_optim_defaults(k == 2 ? MFR_OPTIM_ADAMW : MFR_OPTIM_SGD);
        float *w1 = calloc(N, sizeof(float)), *w2 = calloc(N, sizeof(float)), *g = calloc(N, sizeof(float));
        mfr_train_param p1 = {"layer.w", w1, g, N, 0}, p2 = {"layer.w", w2, g, N, 0};
        mfr_optim *a, *b, *r;
        int count;
        ck_assert(w1 && w2 && g);
        c.nesterov = k == 1;
        tu_ok(mfr_optim_create(&c, &p1, 1, &a));
        tu_ok(mfr_optim_create(&c, &p2, 1, &b));
        quad_run(a, w1, g, N, 0, 10);                  /* straight through */
        quad_run(b, w2, g, N, 0, 5);                   /* 5 steps, "checkpoint" */
        count = mfr_optim_state_count(b);
        ck_assert_int_eq(count, k == 2 ? 2 : 1);
        tu_ok(mfr_optim_create(&c, &p2, 1, &r));       /* a fresh optimiser ... */
        for (int i = 0; i < count; i++) {              /* ... gets the saved state */
            mfr_optim_state from, to;
            tu_ok(mfr_optim_state_get(b, i, &from));
            tu_ok(mfr_optim_state_get(r, i, &to));
            ck_assert_str_eq(from.name, to.name);
            ck_assert_uint_eq(from.size, N);
            memcpy(to.data, from.data, N * sizeof(float));
        }
        mfr_optim_set_steps(r, mfr_optim_steps(b));
        mfr_optim_free(b);
        quad_run(r, w2, g, N, 5, 5);
        ck_assert_msg(memcmp(w1, w2, N * sizeof(float)) == 0, "optimiser %d: resumed run differs", k);
        mfr_optim_free(a);
        mfr_optim_free(r);
        free(w1);
        free(w2);
        free(g);
    }
}
END_TEST

START_TEST(test_optim_state_and_errors)
{
    float w[3] = {0}, g[3] = {0};
    mfr_train_param p[2] = {{"a", w, g, 2, 0}, {"b", w + 2, g + 2, 1, 1}};
    mfr_optim_config c = mfr_optim_defaults(MFR_OPTIM_ADAMW);
    mfr_optim_state st;
    mfr_optim *o;
    tu_ok(mfr_optim_create(&c, p, 2, &o));
    ck_assert_int_eq(mfr_optim_state_count(o), 4);
    tu_ok(mfr_optim_state_get(o, 0, &st));
    ck_assert_str_eq(st.name, "a.exp_avg");
    tu_ok(mfr_optim_state_get(o, 3, &st));
    ck_assert_str_eq(st.name, "b.exp_avg_sq");
    ck_assert_uint_eq(st.size, 1);
    ck_assert_int_eq(mfr_optim_state_get(o, 4, &st), MFR_ERR_RANGE);
    ck_assert_int_eq(mfr_optim_step(o, -1), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_optim_step(o, NAN), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_optim_steps(o), 0);
    mfr_optim_free(o);
    c = mfr_optim_defaults(MFR_OPTIM_SGD);
    c.momentum = 0;
    tu_ok(mfr_optim_create(&c, p, 2, &o));
    ck_assert_int_eq(mfr_optim_state_count(o), 0);   /* plain SGD keeps no state */
    mfr_optim_free(o);
    c.nesterov = 1;
    ck_assert_int_eq(mfr_optim_create(&c, p, 2, &o), MFR_ERR_ARG);
    ck_assert_ptr_null(o);
    c = mfr_optim_defaults(MFR_OPTIM_SGD);
    p[1].name = "a";
    ck_assert_int_eq(mfr_optim_create(&c, p, 2, &o), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "'a' is used twice"));
    p[1].name = "";
    ck_assert_int_eq(mfr_optim_create(&c, p, 2, &o), MFR_ERR_ARG);
    p[1].name = "b";
    c.momentum = 1;
    ck_assert_int_eq(mfr_optim_create(&c, p, 2, &o), MFR_ERR_ARG);
}
END_TEST

/* -------------------------------------------------------------- schedules */

START_TEST(test_schedule_values)
{
    mfr_lr_schedule s = mfr_lr_schedule_defaults(MFR_LR_CONSTANT, 0.1);
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert(mfr_lr_at(&s, 0) == 0.1 && mfr_lr_at(&s, 123456) == 0.1);
    /* Warm-up from 0.1 x base over 10 steps. */
    s.warmup_steps = 10;
    s.warmup_start = 0.1;
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert_double_eq_tol(mfr_lr_at(&s, 0), 0.01, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 5), 0.1 * (0.1 + 0.9 * 0.5), 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 10), 0.1, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, -3), 0.01, 1e-15);

    s = mfr_lr_schedule_defaults(MFR_LR_STEP, 1.0);
    s.step_size = 30;
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert_double_eq_tol(mfr_lr_at(&s, 29), 1.0, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 30), 0.1, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 95), 0.001, 1e-15);

    s = mfr_lr_schedule_defaults(MFR_LR_MULTISTEP, 0.1);
    s.milestone_count = 3;
    s.milestones[0] = 100;
    s.milestones[1] = 160;
    s.milestones[2] = 180;
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert_double_eq_tol(mfr_lr_at(&s, 99), 0.1, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 100), 0.01, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 170), 0.001, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 1000), 0.0001, 1e-15);

    s = mfr_lr_schedule_defaults(MFR_LR_COSINE, 0.1);
    s.warmup_steps = 100;
    s.total_steps = 1100;
    s.min_lr = 0.001;
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert_double_eq_tol(mfr_lr_at(&s, 0), 0, 1e-15);            /* warm-up from 0 */
    ck_assert_double_eq_tol(mfr_lr_at(&s, 50), 0.05, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 600), 0.0505, 1e-15);     /* halfway: (base + min) / 2 */
    ck_assert_double_eq_tol(mfr_lr_at(&s, 1100), 0.001, 1e-15);
    ck_assert_double_eq_tol(mfr_lr_at(&s, 5000), 0.001, 1e-15);     /* floor after the end */

    s.kind = MFR_LR_POLY;
    s.min_lr = 0;
    tu_ok(mfr_lr_schedule_check(&s));
    ck_assert_double_eq_tol(mfr_lr_at(&s, 600), 0.1 * 0.25, 1e-15); /* (1 - 1/2)^2 */
    ck_assert_double_eq_tol(mfr_lr_at(&s, 1100), 0, 1e-15);
    /* An unchecked, invalid schedule gives a number, not a crash. */
    s = mfr_lr_schedule_defaults(MFR_LR_STEP, 0.1);
    ck_assert(mfr_lr_at(&s, 10) == 0.1);
    ck_assert(mfr_lr_at(NULL, 10) == 0);
}
END_TEST

START_TEST(test_schedule_errors)
{
    mfr_lr_schedule s = mfr_lr_schedule_defaults(MFR_LR_STEP, 0.1);
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);   /* step_size unset */
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "step_size"));
    s = mfr_lr_schedule_defaults(MFR_LR_COSINE, 0.1);
    s.warmup_steps = 10;
    s.total_steps = 10;
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "total_steps"));
    s.total_steps = 20;
    s.min_lr = 0.2;
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);
    s = mfr_lr_schedule_defaults(MFR_LR_MULTISTEP, 0.1);
    s.milestone_count = 2;
    s.milestones[0] = 50;
    s.milestones[1] = 50;
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "increasing"));
    s = mfr_lr_schedule_defaults(MFR_LR_CONSTANT, -1);
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);
    s = mfr_lr_schedule_defaults(MFR_LR_CONSTANT, 1);
    s.warmup_start = 1.5;
    ck_assert_int_eq(mfr_lr_schedule_check(&s), MFR_ERR_ARG);
}
END_TEST

/* --------------------------------------------------------------- clipping */

START_TEST(test_clip_norm)
{
    float a[2] = {3, 0}, b[1] = {4}, va[2], vb[1];
    mfr_train_param p[2] = {{"a", va, a, 2, 0}, {"b", vb, b, 1, 0}};
    double norm;
    tu_ok(mfr_train_grad_norm(p, 2, &norm));
    ck_assert_double_eq(norm, 5);
    tu_ok(mfr_clip_grad_norm(p, 2, 10, &norm));      /* below the limit: unchanged */
    ck_assert(a[0] == 3 && b[0] == 4 && norm == 5);
    tu_ok(mfr_clip_grad_norm(p, 2, 1, &norm));
    ck_assert_double_eq(norm, 5);
    ck_assert_float_eq_tol(a[0], (float)(3 / (5 + 1e-6)), 1e-7f);
    ck_assert_float_eq_tol(b[0], (float)(4 / (5 + 1e-6)), 1e-7f);
    tu_ok(mfr_train_grad_norm(p, 2, &norm));
    ck_assert_double_eq_tol(norm, 1, 1e-6);
    /* A NaN anywhere: error, gradients untouched. */
    a[1] = NAN;
    b[0] = 4;
    ck_assert_int_eq(mfr_clip_grad_norm(p, 2, 1, &norm), MFR_ERR_RANGE);
    ck_assert(b[0] == 4 && isnan(norm));
    ck_assert_int_eq(mfr_clip_grad_norm(p, 2, 0, &norm), MFR_ERR_ARG);
}
END_TEST

START_TEST(test_clip_value_and_norm_threads)
{
    enum { N = 100003 };
    float g[4] = {-3, 0.5f, 2, NAN}, v[4];
    float *big = malloc(N * sizeof *big);
    mfr_train_param p = {"g", v, g, 4, 0}, q = {"big", NULL, big, N, 0};
    double n1, n;
    tu_ok(mfr_clip_grad_value(&p, 1, 1));
    ck_assert(g[0] == -1 && g[1] == 0.5f && g[2] == 1 && isnan(g[3]));
    ck_assert_int_eq(mfr_clip_grad_value(&p, 1, -1), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(big);
    for (int i = 0; i < N; i++)
        big[i] = (float)(sin(i * 0.1) * (i % 11 ? 1e-3 : 1e3));
    mfr_set_threads(1);
    tu_ok(mfr_train_grad_norm(&q, 1, &n1));
    for (int t = 2; t <= 3; t++) {
        mfr_set_threads(t);
        tu_ok(mfr_train_grad_norm(&q, 1, &n));
        ck_assert_msg(memcmp(&n, &n1, sizeof n) == 0, "norm at %d threads: %.17g vs %.17g", t, n, n1);
    }
    mfr_set_threads(0);
    free(big);
}
END_TEST

/* -------------------------------------------------------- gradient checker */

/* f(x) = sum x_i^3 with a correct or a deliberately wrong gradient. */
static int cube_fn(void *arg, const float *x, double *f, float *grad)
{
    const int *wrong = arg;
    double s = 0;
    for (int i = 0; i < 5; i++) {
        s += (double)x[i] * x[i] * x[i];
        if (grad)
            grad[i] = (float)(3.0 * x[i] * x[i] * (*wrong && i == 3 ? 1.01 : 1.0));
    }
    *f = s;
    return MFR_OK;
}

START_TEST(test_gradcheck_detects_errors)
{
    float x[5] = {0.5f, -1.5f, 2, 3, -0.25f};
    int wrong = 0;
    mfr_gradcheck_result r;
    tu_ok(mfr_gradcheck(cube_fn, &wrong, x, 5, NULL, &r));
    ck_assert_uint_eq(r.checked, 5);
    ck_assert_msg(r.max_err < 1e-5, "correct gradient: error %.3g", r.max_err);
    ck_assert(x[3] == 3 && x[0] == 0.5f);   /* inputs restored */
    wrong = 1;   /* 1 % off at element 3 */
    tu_ok(mfr_gradcheck(cube_fn, &wrong, x, 5, NULL, &r));
    ck_assert_uint_eq(r.worst, 3);
    ck_assert_double_eq_tol(r.max_err, 0.01 / 1.01, 1e-4);
    ck_assert_double_eq_tol(r.numeric, 27, 1e-3);
    /* A subset of elements. */
    {
        mfr_gradcheck_opts o = {1e-3, 1e-3, 2};
        tu_ok(mfr_gradcheck(cube_fn, &wrong, x, 5, &o, &r));
        ck_assert_uint_eq(r.checked, 2);
    }
}
END_TEST

/* ------------------------------------------------------------------- suite */

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("losses");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chunked_sum);
    tcase_add_test(tc, test_ce_uniform_is_log_c);
    tcase_add_test(tc, test_ce_matches_torch_and_is_stable);
    tcase_add_test(tc, test_ce_gradcheck_and_threads);
    tcase_add_test(tc, test_ce_errors);
    tcase_add_test(tc, test_margin_defaults);
    tcase_add_test(tc, test_margin_zero_is_scaled_softmax);
    tcase_add_test(tc, test_margin_matches_torch);
    tcase_add_test(tc, test_margin_gemm_matches_reference);
    tcase_add_test(tc, test_margin_gradcheck_and_threads);
    tcase_add_test(tc, test_margin_errors);
    tcase_add_test(tc, test_bce_focal_match_torch);
    tcase_add_test(tc, test_bce_focal_properties);
    tcase_add_test(tc, test_bce_focal_gradcheck_and_threads);
    tcase_add_test(tc, test_regression_matches_torch);
    tcase_add_test(tc, test_regression_values);
    tcase_add_test(tc, test_regression_gradcheck_and_threads);
    tcase_add_test(tc, test_iou_matches_torch);
    tcase_add_test(tc, test_iou_values_and_gradcheck);
    suite_add_tcase(s, tc);
    tc = tcase_create("optimisation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_optim_matches_torch);
    tcase_add_test(tc, test_optim_hand_steps);
    tcase_add_test(tc, test_optim_no_decay_and_zero_grad);
    tcase_add_test(tc, test_optim_minimises_logistic_regression);
    tcase_add_test(tc, test_optim_resume_is_bit_identical);
    tcase_add_test(tc, test_optim_state_and_errors);
    tcase_add_test(tc, test_schedule_values);
    tcase_add_test(tc, test_schedule_errors);
    tcase_add_test(tc, test_clip_norm);
    tcase_add_test(tc, test_clip_value_and_norm_threads);
    tcase_add_test(tc, test_gradcheck_detects_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;
    setenv("CK_FORK", "no", 0);   /* one process: OpenMP pools and forks do not mix */
    rc = tu_run(train_suite());
    tu_cleanup();
    return rc;
}
