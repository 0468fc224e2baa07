/* Gradients of a depthwise convolution (training).
 *
 * Weights: a direct kernel, vectorised over channels (dwconv_bwd_simd.h).
 * Each image's sums over (oy, ox) go to a partial of their own, computed by
 * one thread for a block of channels, and the partials are added in image
 * order: a 16-channel layer (one block) still has the images to split, and
 * no split changes a bit.
 *
 * Input: the transposed convolution. din[iy, ix] gathers dout[oy, ox] w[ky, kx]
 * over oy * s - pad + ky * d = iy, which is a stride-1 depthwise convolution
 * of dout, with zeros stuffed between its pixels when the stride is above 1,
 * by the kernel flipped in both directions, padded by (k - 1) d - pad. So it
 * runs on the forward kernels; the result is then added to din.
 * Shapes where that padding would be negative gather directly instead. */
#include "config.h"
#include "dwconv.h"

#include <stdint.h>
#include <string.h>

static dwconv_bwd_weights_fn bwd_weights_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return dwconv_bwd_weights_avx512;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return dwconv_bwd_weights_avx2;
#endif
    (void)isa;
    return dwconv_bwd_weights_scalar;
}

static int check_depthwise(const mfr_conv_params *p, int *oh, int *ow, const char *what)
{
    int rc = mfr_conv_output_size(p, oh, ow);
    if (rc != MFR_OK)
        return rc;
    if (p->groups != p->c_in || p->c_out != p->c_in)
        return mfr_error(MFR_ERR_ARG, "%s: not a depthwise convolution (groups=%d c_in=%d c_out=%d)", what,
                         p->groups, p->c_in, p->c_out);
    return MFR_OK;
}

int mfr_dwconv_backward_weights_isa(mfr_isa isa, const mfr_conv_params *p, const float *in, const float *dout,
                                    float *dweights)
{
    int oh, ow, rc;
    if ((rc = check_depthwise(p, &oh, &ow, "mfr_dwconv_backward_weights")) != MFR_OK)
        return rc;
    const int C = p->c_in, taps = p->kh * p->kw;
    float *dwt = mfr_calloc((size_t)taps * (size_t)C, sizeof(float));
    if (!dwt)
        return mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_weights: out of memory");
    dwconv_bwd_weights_fn fn = bwd_weights_for(isa);
    /* Blocks of 16 channels (a whole number of vectors on every path). */
    const int blocks = (C + 15) / 16;
    const size_t plane = (size_t)taps * (size_t)C;
    float *part = p->n > 1 ? mfr_calloc((size_t)p->n * plane, sizeof(float)) : NULL;
    if (p->n > 1 && !part) {
        mfr_free(dwt);
        return mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_weights: out of memory");
    }
    const long items = (long)(p->n > 1 ? p->n : 1) * blocks;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (long it = 0; it < items; it++) {
        int img = (int)(it / blocks), blk = (int)(it % blocks);
        int c0 = 16 * blk, c1 = c0 + 16 < C ? c0 + 16 : C;
        if (!part) {
            fn(p, oh, ow, in, dout, dwt, c0, c1);
            continue;
        }
        mfr_conv_params one = *p;
        one.n = 1;
        fn(&one, oh, ow, in + (size_t)img * p->h * p->w * C, dout + (size_t)img * oh * ow * C, part + (size_t)img * plane,
           c0, c1);
    }
    if (part) {
        /* the images' partials in image order */
        for (int img = 0; img < p->n; img++)
            for (size_t i = 0; i < plane; i++)
                dwt[i] += part[(size_t)img * plane + i];
        mfr_free(part);
    }
    /* Back to OHWI ([c][ky][kx]), accumulating. */
    for (int c = 0; c < C; c++)
        for (int t = 0; t < taps; t++)
            dweights[(size_t)c * taps + t] += dwt[(size_t)t * C + c];
    mfr_free(dwt);
    return MFR_OK;
}

int mfr_dwconv_backward_weights(const mfr_conv_params *p, const float *in, const float *dout, float *dweights)
{
    return mfr_dwconv_backward_weights_isa(mfr_isa_best(), p, in, dout, dweights);
}

/* The direct gather, parallel over input rows (disjoint outputs). */
static int backward_data_gather(const mfr_conv_params *p, int oh, int ow, const float *dout, const float *weights,
                                float *din)
{
    const int C = p->c_in, taps = p->kh * p->kw, rows = p->n * p->h;
    float *wt = mfr_alloc((size_t)taps * (size_t)C * sizeof(float));
    if (!wt)
        return mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_data: out of memory");
    for (int c = 0; c < C; c++)
        for (int t = 0; t < taps; t++)
            wt[(size_t)t * C + c] = weights[(size_t)c * taps + t];
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (int r = 0; r < rows; r++)
        dwconv_bwd_data_scalar(p, oh, ow, dout, wt, din, r, r + 1);
    mfr_free(wt);
    return MFR_OK;
}

int mfr_dwconv_backward_data(const mfr_conv_params *p, const float *dout, const float *weights, float *din)
{
    return mfr_dwconv_backward_data_ex(p, dout, weights, din, 1);
}

int mfr_dwconv_backward_data_ex(const mfr_conv_params *p, const float *dout, const float *weights, float *din,
                                int accumulate)
{
    int oh, ow, rc;
    if ((rc = check_depthwise(p, &oh, &ow, "mfr_dwconv_backward_data")) != MFR_OK)
        return rc;
    const int C = p->c_in, taps = p->kh * p->kw;
    /* The stuffed gradient is (oh - 1) sh + 1 by (ow - 1) sw + 1. */
    const int lh = (oh - 1) * p->stride_h + 1, lw = (ow - 1) * p->stride_w + 1;
    mfr_conv_params q = *p;
    q.h = lh;
    q.w = lw;
    q.stride_h = q.stride_w = 1;
    q.pad_top = (p->kh - 1) * p->dil_h - p->pad_top;
    q.pad_left = (p->kw - 1) * p->dil_w - p->pad_left;
    q.pad_bottom = p->h - lh - q.pad_top + (p->kh - 1) * p->dil_h;
    q.pad_right = p->w - lw - q.pad_left + (p->kw - 1) * p->dil_w;
    if (q.pad_top < 0 || q.pad_left < 0 || q.pad_bottom < 0 || q.pad_right < 0) {
        if (!accumulate)
            memset(din, 0, (size_t)p->n * p->h * p->w * C * sizeof *din);
        return backward_data_gather(p, oh, ow, dout, weights, din);
    }

    float *flipped = mfr_alloc((size_t)taps * (size_t)C * sizeof(float));
    float *stuffed = NULL;
    if (!flipped)
        return mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_data: out of memory");
    for (int c = 0; c < C; c++)
        for (int t = 0; t < taps; t++)
            flipped[(size_t)c * taps + t] = weights[(size_t)c * taps + (taps - 1 - t)];
    const float *src = dout;
    if (p->stride_h > 1 || p->stride_w > 1) {
        size_t plane = (size_t)lh * lw * C;
        stuffed = mfr_calloc((size_t)p->n * plane, sizeof(float));
        if (!stuffed) {
            mfr_free(flipped);
            return mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_data: out of memory");
        }
        for (int i = 0; i < p->n; i++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    memcpy(stuffed + i * plane + ((size_t)oy * p->stride_h * lw + (size_t)ox * p->stride_w) * C,
                           dout + (((size_t)i * oh + oy) * ow + ox) * C, (size_t)C * sizeof(float));
        src = stuffed;
    }
    /* Accumulating: into a buffer of its own, then added (the kernels do
     * not promise to read a residual that aliases their output before
     * writing it). Else straight into din. */
    const size_t total = (size_t)p->n * p->h * p->w * C;
    float *grad = accumulate ? mfr_alloc(total * sizeof(float)) : din;
    mfr_conv_plan *plan = NULL;
    rc = grad ? mfr_conv_plan_create(&q, flipped, NULL, &plan)
              : mfr_error(MFR_ERR_NOMEM, "mfr_dwconv_backward_data: out of memory");
    if (rc == MFR_OK && !accumulate) {
        mfr_conv_run(plan, src, din, NULL);
        mfr_conv_plan_free(plan);
    } else if (rc == MFR_OK) {
        mfr_conv_run(plan, src, grad, NULL);
        mfr_conv_plan_free(plan);
        const long chunks = (long)((total + 4095) / 4096);
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
        for (long k = 0; k < chunks; k++) {
            size_t i1 = (size_t)(k + 1) * 4096 < total ? (size_t)(k + 1) * 4096 : total;
            for (size_t i = (size_t)k * 4096; i < i1; i++)
                din[i] += grad[i];
        }
    }
    if (accumulate)
        mfr_free(grad);
    mfr_free(stuffed);
    mfr_free(flipped);
    return rc;
}
