/* Resizing: bilinear interpolation and area averaging.
 *
 * Both map pixel centres: dst pixel x has its centre at src coordinate
 * (x + 0.5) * sw / dw - 0.5 (the convention of docs/img.md), so resizing
 * never shifts the image by half a pixel. Both are separable: weights are
 * computed once per column and per row, rows are filtered vertically into a
 * float buffer, then horizontally. Rows are independent, so the loop runs in
 * parallel and gives the same bytes at any thread count. */
#include "config.h"
#include "mfr/img.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

/* One output coordinate's taps: `count` weights starting at src index `first`. */
typedef struct taps {
    int *first, *count;
    float *w;   /* `max` weights per output coordinate */
    int max;
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

static int taps_alloc(taps *t, int n, int max)
{
    t->first = malloc(sizeof *t->first * (size_t)n);
    t->count = malloc(sizeof *t->count * (size_t)n);
    t->w = calloc((size_t)n * (size_t)max, sizeof *t->w);
    t->max = max;
    if (!t->first || !t->count || !t->w) {
        taps_free(t);
        return mfr_error(MFR_ERR_NOMEM, "resize: out of memory");
    }
    return MFR_OK;
}

/* Linear interpolation between the two nearest centres, clamped at the
 * borders (edge pixels repeat). */
static int taps_bilinear(taps *t, int sn, int dn)
{
    double scale = (double)sn / dn;
    int rc = taps_alloc(t, dn, 2);
    if (rc != MFR_OK)
        return rc;
    for (int i = 0; i < dn; i++) {
        double s = (i + 0.5) * scale - 0.5;
        int i0;
        float f;
        if (s < 0)
            s = 0;
        if (s > sn - 1)
            s = sn - 1;
        i0 = (int)floor(s);
        f = (float)(s - i0);
        if (i0 >= sn - 1 || f == 0.0f) {
            t->first[i] = i0;
            t->count[i] = 1;
            t->w[i * 2] = 1.0f;
        } else {
            t->first[i] = i0;
            t->count[i] = 2;
            t->w[i * 2] = 1.0f - f;
            t->w[i * 2 + 1] = f;
        }
    }
    return MFR_OK;
}

/* Output pixel i covers [i * scale, (i + 1) * scale) in source units; each
 * source pixel is weighted by its overlap, normalised to sum 1. When
 * enlarging, this is nearest-neighbour with blended boundaries. */
static int taps_area(taps *t, int sn, int dn)
{
    double scale = (double)sn / dn;
    int max = (int)ceil(scale) + 1, rc;
    rc = taps_alloc(t, dn, max);
    if (rc != MFR_OK)
        return rc;
    for (int i = 0; i < dn; i++) {
        double a = i * scale, b = (i + 1) * scale;
        int j0 = (int)floor(a), j1 = (int)ceil(b), n = 0;
        if (j1 > sn)
            j1 = sn;
        t->first[i] = j0;
        for (int j = j0; j < j1 && n < max; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
            t->w[i * max + n++] = (float)((hi - lo) / scale);
        }
        t->count[i] = n;
    }
    return MFR_OK;
}

static int resize_with(const mfr_image *src, mfr_image *dst, int area)
{
    int c = src->channels, rc;
    int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height;
    taps tx = {0}, ty = {0};
    float *buf;

    if (!src->data || !dst->data || dst->channels != c)
        return mfr_error(MFR_ERR_ARG, "resize: dst must be allocated with src's channel count (%d), has %d",
                         c, dst->channels);
    rc = area ? taps_area(&tx, sw, dw) : taps_bilinear(&tx, sw, dw);
    if (rc == MFR_OK)
        rc = area ? taps_area(&ty, sh, dh) : taps_bilinear(&ty, sh, dh);
    if (rc != MFR_OK) {
        taps_free(&tx);
        return rc;
    }
    /* One float row per output row in flight: threads x sw x c floats. */
    buf = malloc(sizeof *buf * (size_t)sw * (size_t)c * (size_t)mfr_threads());
    if (!buf) {
        taps_free(&tx);
        taps_free(&ty);
        return mfr_error(MFR_ERR_NOMEM, "resize: out of memory");
    }
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
#endif
    for (int y = 0; y < dh; y++) {
        int tid = 0;
#ifdef MFR_HAVE_OPENMP
        tid = omp_get_thread_num();
#endif
        float *row = buf + (size_t)tid * (size_t)sw * (size_t)c;
        size_t n = (size_t)sw * (size_t)c;
        const float *wy = ty.w + (size_t)y * (size_t)ty.max;
        uint8_t *out = mfr_image_row(dst, y);
        /* Vertical pass into `row`, in a fixed order of taps. */
        for (size_t i = 0; i < n; i++)
            row[i] = 0.0f;
        for (int k = 0; k < ty.count[y]; k++) {
            const uint8_t *s = mfr_image_row(src, ty.first[y] + k);
            float w = wy[k];
            for (size_t i = 0; i < n; i++)
                row[i] += w * (float)s[i];
        }
        /* Horizontal pass. */
        for (int x = 0; x < dw; x++) {
            const float *wx = tx.w + (size_t)x * (size_t)tx.max;
            const float *s = row + (size_t)tx.first[x] * (size_t)c;
            for (int ch = 0; ch < c; ch++) {
                float v = 0.0f;
                for (int k = 0; k < tx.count[x]; k++)
                    v += wx[k] * s[k * c + ch];
                out[x * c + ch] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)(v + 0.5f) : 0;
            }
        }
    }
    free(buf);
    taps_free(&tx);
    taps_free(&ty);
    return MFR_OK;
}

int mfr_image_resize_bilinear(const mfr_image *src, mfr_image *dst)
{
    return resize_with(src, dst, 0);
}

int mfr_image_resize_area(const mfr_image *src, mfr_image *dst)
{
    return resize_with(src, dst, 1);
}
