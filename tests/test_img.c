/* Tests of src/img: codecs, conversions, geometry, drawing. */
#include "config.h"
#include "testutil.h"
#include "mfr/img.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A deterministic test pattern: smooth gradients plus some texture. */
static void fill_pattern(mfr_image *im, unsigned seed)
{
    for (int y = 0; y < im->height; y++) {
        uint8_t *row = mfr_image_row(im, y);
        for (int x = 0; x < im->width; x++)
            for (int k = 0; k < im->channels; k++) {
                unsigned v = (unsigned)(x * 7 + y * 3 + k * 50) + ((unsigned)(x * y) ^ seed) % 17;
                row[x * im->channels + k] = (uint8_t)(v & 255);
            }
    }
}

static int images_equal(const mfr_image *a, const mfr_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(mfr_image_row(a, y), mfr_image_row(b, y), (size_t)a->width * (size_t)a->channels) != 0)
            return 0;
    return 1;
}

START_TEST(test_alloc_limits)
{
    mfr_image im;
    tu_ok(mfr_image_alloc(&im, 5, 3, 3));
    ck_assert_int_eq((int)im.stride, 15);
    for (int i = 0; i < 45; i++)
        ck_assert_int_eq(im.data[i], 0);
    mfr_image_free(&im);
    ck_assert_ptr_null(im.data);
    ck_assert_int_eq(mfr_image_alloc(&im, 0, 3, 3), MFR_ERR_FORMAT);
    ck_assert_int_eq(mfr_image_alloc(&im, 3, 3, 2), MFR_ERR_UNSUPPORTED);
    ck_assert_int_eq(mfr_image_alloc(&im, MFR_IMAGE_MAX_DIM + 1, 1, 1), MFR_ERR_RANGE);
    ck_assert_int_eq(mfr_image_alloc(&im, MFR_IMAGE_MAX_DIM, MFR_IMAGE_MAX_DIM, 1), MFR_ERR_RANGE);
    ck_assert_ptr_null(im.data);
}
END_TEST

START_TEST(test_png_roundtrip)
{
    static const int chans[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        mfr_image im, back;
        void *buf;
        size_t n;
        tu_ok(mfr_image_alloc(&im, 37, 23, chans[i]));
        fill_pattern(&im, 5);
        tu_ok(mfr_png_encode(&im, &buf, &n));
        ck_assert_int_eq(mfr_image_sniff(buf, n), MFR_IMAGE_PNG);
        tu_ok(mfr_image_decode(buf, n, "mem.png", &back));
        ck_assert(images_equal(&im, &back));
        tu_ok(mfr_image_write(tu_tmp("rt.png"), &im));
        mfr_image_free(&back);
        tu_ok(mfr_image_read(tu_tmp("rt.png"), &back));
        ck_assert(images_equal(&im, &back));
        free(buf);
        mfr_image_free(&im);
        mfr_image_free(&back);
    }
}
END_TEST

/* Sum of coverage of a drawn shape, in pixels: white on black, grey channel. */
static double coverage_area(const mfr_image *im)
{
    double sum = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            sum += mfr_image_row(im, y)[x] / 255.0;
    return sum;
}

START_TEST(test_polygon_area)
{
    const uint8_t white = 255;
    mfr_image im;
    /* A triangle with a known area (shoelace) at non-integer coordinates. */
    float tri[6] = {3.3f, 4.1f, 40.7f, 9.2f, 17.9f, 35.6f};
    double area = 0.5 * fabs((40.7 - 3.3) * (35.6 - 4.1) - (17.9 - 3.3) * (9.2 - 4.1));
    tu_ok(mfr_image_alloc(&im, 48, 48, 1));
    mfr_draw_polygon(&im, tri, 3, &white, 1.0f);
    /* Coverage is quantised to 1/16 per pixel and each pixel is rounded to
     * 1/255: the error is bounded by the edge pixels. */
    ck_assert_msg(fabs(coverage_area(&im) - area) < 0.01 * area, "area %f, expected %f", coverage_area(&im), area);
    mfr_image_free(&im);
}
END_TEST

static Suite *img_suite(void)
{
    Suite *s = suite_create("img");
    TCase *tc = tcase_create("image");
    tcase_add_test(tc, test_alloc_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("codecs");
    tcase_add_test(tc, test_png_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("draw");
    tcase_add_test(tc, test_polygon_area);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(img_suite());
    tu_cleanup();
    return rc;
}
