/* Gradients of a dense convolution (groups == 1, any kernel, stride,
 * padding, dilation) through the blocked GEMM (training).
 *
 * With the patches of the input laid out as rows, cols[m][(ky, kx, ci)]
 * (im2col; m runs over the output pixels), the convolution is
 * dout = cols W^T, so
 *     dW   += dout^T cols        (C_out x K, K = kh kw c_in)
 *     dcols = dout W             (M x K), then each input pixel gathers the
 *                                 entries of dcols that were copied from it.
 * The images go through in chunks whose size depends only on the shape (a
 * memory budget), never on the thread count, and the GEMM never splits its
 * depth, so every sum has one order. */
#include "config.h"
#include "mfr/kernels.h"

#include <stdint.h>
#include <string.h>

/* The patch buffer's budget: 4 Mi floats (16 MiB), at least one image. */
#define COLS_BUDGET ((size_t)4 << 20)

static void im2col_rows(const mfr_conv_params *p, int oh, int ow, const float *in, int img0, int img1, float *cols)
{
    const int K = p->kh * p->kw * p->c_in;
    const long rows = (long)(img1 - img0) * oh;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (long r = 0; r < rows; r++) {
        int nimg = img0 + (int)(r / oh), oy = (int)(r % oh);
        for (int ox = 0; ox < ow; ox++) {
            float *dst = cols + ((size_t)r * ow + ox) * K;
            int ix0 = ox * p->stride_w - p->pad_left;
            /* the taps of a row are adjacent pixels: one run of kw * c_in
             * floats (a stem has 3 channels: 9 floats, not 3 copies of 3) */
            int run = p->dil_w == 1 && ix0 >= 0 && ix0 + p->kw <= p->w ? p->kw * p->c_in : 0;
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                if (run && iy >= 0 && iy < p->h) {
                    const float *src = in + (((size_t)nimg * p->h + iy) * p->w + ix0) * p->c_in;
                    for (int q = 0; q < run; q++)
                        dst[q] = src[q];
                    dst += run;
                    continue;
                }
                for (int kx = 0; kx < p->kw; kx++, dst += p->c_in) {
                    int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                    if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                        memset(dst, 0, (size_t)p->c_in * sizeof(float));
                    else
                        memcpy(dst, in + (((size_t)nimg * p->h + iy) * p->w + ix) * p->c_in,
                               (size_t)p->c_in * sizeof(float));
                }
            }
        }
    }
}

/* din += for each input pixel, in (ky, kx) order, the dcols entries copied
 * from it; parallel over input rows (disjoint outputs). */
static void col2im_gather(const mfr_conv_params *p, int oh, int ow, const float *dcols, int img0, int img1,
                          float *din)
{
    const int K = p->kh * p->kw * p->c_in;
    const long rows = (long)(img1 - img0) * p->h;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (long r = 0; r < rows; r++) {
        int local = (int)(r / p->h), iy = (int)(r % p->h);
        for (int ix = 0; ix < p->w; ix++) {
            float *dx = din + (((size_t)(img0 + local) * p->h + iy) * p->w + ix) * p->c_in;
            for (int ky = 0; ky < p->kh; ky++) {
                int ty = iy + p->pad_top - ky * p->dil_h;
                if (ty < 0 || ty % p->stride_h || ty / p->stride_h >= oh)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int tx = ix + p->pad_left - kx * p->dil_w;
                    if (tx < 0 || tx % p->stride_w || tx / p->stride_w >= ow)
                        continue;
                    const float *src = dcols +
                                       (((size_t)local * oh + ty / p->stride_h) * ow + tx / p->stride_w) * K +
                                       (size_t)(ky * p->kw + kx) * p->c_in;
                    for (int ci = 0; ci < p->c_in; ci++)
                        dx[ci] += src[ci];
                }
            }
        }
    }
}

int mfr_conv_backward(const mfr_conv_params *p, const float *in, const float *dout, const float *weights,
                      float *din, float *dweights)
{
    int oh, ow, rc;
    if ((rc = mfr_conv_output_size(p, &oh, &ow)) != MFR_OK)
        return rc;
    if (p->groups != 1)
        return mfr_error(MFR_ERR_UNSUPPORTED, "mfr_conv_backward: groups=%d (only 1)", p->groups);
    const int K = p->kh * p->kw * p->c_in, C = p->c_out;
    const size_t per_image = (size_t)oh * ow * K;
    int chunk = per_image >= COLS_BUDGET ? 1 : (int)(COLS_BUDGET / per_image);
    if (chunk > p->n)
        chunk = p->n;
    float *cols = mfr_alloc((size_t)chunk * per_image * sizeof(float));
    if (!cols)
        return mfr_error(MFR_ERR_NOMEM, "mfr_conv_backward: out of memory for %zu patch values",
                         (size_t)chunk * per_image);
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int i1 = i0 + chunk < p->n ? i0 + chunk : p->n;
        int m = (i1 - i0) * oh * ow;
        const float *du = dout + (size_t)i0 * oh * ow * C;
        if (dweights) {
            im2col_rows(p, oh, ow, in, i0, i1, cols);
            mfr_sgemm('T', 'N', C, K, m, 1.0f, du, C, cols, K, 1.0f, dweights, K);
        }
        if (din) {
            mfr_sgemm('N', 'N', m, K, C, 1.0f, du, C, weights, K, 0.0f, cols, K);
            col2im_gather(p, oh, ow, cols, i0, i1, din);
        }
    }
    mfr_free(cols);
    return MFR_OK;
}
