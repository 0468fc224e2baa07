/* Spatial passes over NHWC activations: max and average pooling windows,
 * bilinear and nearest upsampling, and the elementwise sum or product of two
 * tensors. They move data more than they compute; in the baseline ISA
 * (SSE2) a detector's pooling, upsampling and feature-pyramid sums took
 * about 20 % of its forward pass at batch 1 and ran at 0.3x - 0.5x of
 * oneDNN's speed (bench/README.md, "Ninth round").
 *
 * Every version computes the same bits as the scalar reference (spatial.c):
 * the same comparisons and sums in the same tap order, multiplies and adds
 * kept apart (no fused multiply-add), a window's maximum started from -inf
 * and replaced only when a value is greater (so NaN never wins, as in the
 * scalar code). Rows and elements are independent, so callers may split
 * them over threads in any way. */
#ifndef MFR_SPATIAL_H
#define MFR_SPATIAL_H

#include "mfr/kernels.h"

#include <stddef.h>

/* A pooling window over images of h x w x c, output oh x ow. */
typedef struct spatial_pool {
    int h, w, c, oh, ow;
    int kh, kw, stride_h, stride_w, pad_top, pad_left;
    int is_max;                 /* 0: average of the taps inside the image */
} spatial_pool;

/* Upsampling of h x w x c images by an integer scale (oh = h scale). */
typedef struct spatial_up {
    int h, w, c, scale;
    int bilinear;               /* 0: nearest (copies), 1: half-pixel bilinear */
} spatial_up;

typedef struct spatial_ops {
    /* Output rows [r0, r1) of a batch: row r is output row r % oh of image
     * r / oh (in and out point at image 0). */
    void (*pool_rows)(const spatial_pool *p, const float *in, float *out, long r0, long r1);
    /* Output rows [r0, r1) of a batch of upsampled images (row r: output
     * row r % (h scale) of image r / (h scale)). */
    void (*upsample_rows)(const spatial_up *p, const float *in, float *out, long r0, long r1);
    /* dst[i] = a[i] + b[i] (is_mul: a[i] * b[i]) for i < n; dst may be a. */
    void (*binary)(int is_mul, const float *a, const float *b, float *dst, size_t n);
} spatial_ops;

const spatial_ops *spatial_for(mfr_isa isa);

/* Source coordinate of bilinear output index o (half-pixel centres, clamped
 * at the edges): neighbours i0, i1 and the weight t of i1. */
void spatial_bilinear_src(int o, int scale, int size, int *i0, int *i1, float *t);

/* Nearest upsampling is a copy: one routine for every ISA (memcpy). */
void spatial_upsample_nearest_rows(const spatial_up *p, const float *in, float *out, long r0, long r1);

#ifdef MFR_HAVE_AVX2
extern const spatial_ops spatial_avx2_ops;
#endif
#ifdef MFR_HAVE_AVX512
extern const spatial_ops spatial_avx512_ops;
#endif

#endif
