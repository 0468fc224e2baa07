/* Tests of the face detector front-end: decoding, NMS, letterboxing. */
#include "config.h"
#include "testutil.h"
#include "mfr/face.h"
#include "mfr/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_iou)
{
    mfr_face_det a = {.x = 0, .y = 0, .w = 10, .h = 10}, b = {.x = 5, .y = 0, .w = 10, .h = 10};
    mfr_face_det c = {.x = 20, .y = 20, .w = 5, .h = 5}, e = {.x = 0, .y = 0, .w = 0, .h = 10};
    ck_assert_float_eq_tol(mfr_face_iou(&a, &b), 50.0f / 150.0f, 1e-6f);
    ck_assert_float_eq(mfr_face_iou(&a, &a), 1.0f);
    ck_assert_float_eq(mfr_face_iou(&a, &c), 0.0f);
    ck_assert_float_eq(mfr_face_iou(&a, &e), 0.0f);
}
END_TEST

START_TEST(test_decode_follows_the_documented_convention)
{
    /* A 2x3 grid at stride 8: only cell (1, 2) scores above the threshold. */
    float score[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.9f};
    float box[6 * 4] = {0}, lm[6 * 10] = {0};
    mfr_face_det *d = NULL;
    int n = 0, cap = 0;
    float *b = box + 5 * 4, *l = lm + 5 * 10;
    b[0] = 0.25f;           /* centre x offset, in strides */
    b[1] = -0.5f;
    b[2] = logf(2.0f);      /* width 2 strides */
    b[3] = 0.0f;            /* height 1 stride */
    for (int k = 0; k < 5; k++) {
        l[2 * k] = (float)k;
        l[2 * k + 1] = -(float)k;
    }
    tu_ok(mfr_face_decode(score, box, lm, 2, 3, 8, 0.8f, &d, &n, &cap));
    ck_assert_int_eq(n, 1);
    /* prior centre (2.5 * 8, 1.5 * 8) = (20, 12); centre (22, 8); size 16 x 8. */
    ck_assert_float_eq_tol(d[0].w, 16.0f, 1e-4f);
    ck_assert_float_eq_tol(d[0].h, 8.0f, 1e-4f);
    ck_assert_float_eq_tol(d[0].x, 22.0f - 8.0f, 1e-4f);
    ck_assert_float_eq_tol(d[0].y, 8.0f - 4.0f, 1e-4f);
    ck_assert_float_eq(d[0].score, 0.9f);
    for (int k = 0; k < 5; k++) {
        ck_assert_float_eq_tol(d[0].lm[2 * k], 20.0f + 8.0f * (float)k, 1e-4f);
        ck_assert_float_eq_tol(d[0].lm[2 * k + 1], 12.0f - 8.0f * (float)k, 1e-4f);
    }
    /* A huge log-size is clamped, not turned into inf. */
    b[2] = 1e6f;
    n = 0;
    tu_ok(mfr_face_decode(score, box, lm, 2, 3, 8, 0.8f, &d, &n, &cap));
    ck_assert(isfinite(d[0].w) && isfinite(d[0].x));
    /* NaN scores never pass. */
    score[5] = NAN;
    n = 0;
    tu_ok(mfr_face_decode(score, box, lm, 2, 3, 8, 0.0f, &d, &n, &cap));
    ck_assert_int_eq(n, 5);
    free(d);
}
END_TEST

START_TEST(test_nms_keeps_best_of_overlapping)
{
    mfr_face_det d[5] = {
        {.x = 0, .y = 0, .w = 10, .h = 10, .score = 0.6f},
        {.x = 1, .y = 0, .w = 10, .h = 10, .score = 0.9f},   /* overlaps 0 strongly */
        {.x = 50, .y = 50, .w = 10, .h = 10, .score = 0.7f},
        {.x = 100, .y = 0, .w = 10, .h = 10, .score = 0.7f}, /* same score as 2: y breaks the tie */
        {.x = 6, .y = 0, .w = 10, .h = 10, .score = 0.8f},   /* IoU with 1 = 5/15 */
    };
    int kept;
    mfr_face_nms(d, 5, 0.4f, 10, &kept);
    ck_assert_int_eq(kept, 4);
    ck_assert_float_eq(d[0].score, 0.9f);
    ck_assert_float_eq(d[1].score, 0.8f);
    ck_assert_float_eq(d[2].x, 100.0f);   /* y = 0 before y = 50 */
    ck_assert_float_eq(d[3].x, 50.0f);
    mfr_face_nms(d, 4, 0.4f, 2, &kept);
    ck_assert_int_eq(kept, 2);
}
END_TEST

/* A two-head "detector" whose output does not depend on the image: every
 * cell of stride 16 scores sigmoid(3) with a box of one stride, every cell of
 * stride 32 scores sigmoid(-3). */
static const char tiny_detector[] =
    "[input]\nname = image\nheight = 64\nwidth = 64\nchannels = 3\n"
    "[maxpool]\nname = p16\nsize = 16\n"
    "[maxpool]\nname = p32\nsize = 2\n"
    "[conv]\nname = score16\ninput = p16\nfilters = 1\nsize = 1\nactivation = sigmoid\n"
    "[conv]\nname = box16\ninput = p16\nfilters = 4\nsize = 1\n"
    "[conv]\nname = landmarks16\ninput = p16\nfilters = 10\nsize = 1\n"
    "[conv]\nname = score32\ninput = p32\nfilters = 1\nsize = 1\nactivation = sigmoid\n"
    "[conv]\nname = box32\ninput = p32\nfilters = 4\nsize = 1\n"
    "[conv]\nname = landmarks32\ninput = p32\nfilters = 10\nsize = 1\n";

static void set_bias(mfr_net *net, const char *name, float v)
{
    mfr_tensor *t = mfr_net_param_find(net, name);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = v;
}

START_TEST(test_detector_runs_any_image_size)
{
    mfr_net *net;
    mfr_detector *det;
    mfr_detector_opts opts = {.score_min = 0.5f, .nms_iou = 0.3f, .max_faces = 1000, .max_side = 64};
    mfr_image im = {0};
    mfr_face_det *d;
    int n;
    tu_ok(mfr_net_parse(tiny_detector, strlen(tiny_detector), "tiny.cfg", &net));
    /* weights stay 0: outputs are the biases */
    set_bias(net, "score16.bias", 3.0f);
    set_bias(net, "score32.bias", -3.0f);
    tu_ok(mfr_detector_create(net, &opts, &det));
    /* 100 x 50 grey image: longest side 100 > 64, so scale 0.64 -> 64 x 32. */
    tu_ok(mfr_image_alloc(&im, 100, 50, 1));
    tu_ok(mfr_detector_run(det, &im, &d, &n));
    /* Letterboxed into a 64 x 32 input: a 2 x 4 grid at stride 16 -> boxes of
     * one stride that do not overlap, all kept; stride 32 scores 0.05. */
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < n; i++) {
        ck_assert_float_eq_tol(d[i].score, 1.0f / (1.0f + expf(-3.0f)), 1e-5f);
        ck_assert_float_eq_tol(d[i].w, 16.0f * 100.0f / 64.0f, 1e-3f);
        ck_assert_float_eq_tol(d[i].h, 16.0f * 50.0f / 32.0f, 1e-3f);
    }
    free(d);
    /* A second, smaller image recompiles for its size. */
    mfr_image_free(&im);
    tu_ok(mfr_image_alloc(&im, 30, 30, 3));
    tu_ok(mfr_detector_run(det, &im, &d, &n));
    ck_assert_int_eq(n, 4); /* 32 x 32 input: 2 x 2 cells */
    free(d);
    mfr_image_free(&im);
    mfr_detector_free(det);
    mfr_net_free(net);
}
END_TEST

START_TEST(test_detector_rejects_networks_without_heads)
{
    static const char text[] = "[input]\nheight = 32\nwidth = 32\nchannels = 3\n[conv]\nname = out\nfilters = 2\nsize = 1\n";
    mfr_net *net;
    mfr_detector *det;
    tu_ok(mfr_net_parse(text, strlen(text), "plain.cfg", &net));
    ck_assert_int_eq(mfr_detector_create(net, NULL, &det), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "score<stride>"));
    mfr_net_free(net);
}
END_TEST

static Suite *detect_suite(void)
{
    Suite *s = suite_create("detect");
    TCase *tc = tcase_create("detect");
    tcase_add_test(tc, test_iou);
    tcase_add_test(tc, test_decode_follows_the_documented_convention);
    tcase_add_test(tc, test_nms_keeps_best_of_overlapping);
    tcase_add_test(tc, test_detector_runs_any_image_size);
    tcase_add_test(tc, test_detector_rejects_networks_without_heads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(detect_suite());
}
