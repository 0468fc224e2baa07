/* Depthwise convolution, portable C: the reference for the SIMD versions
 * (same tap order, same epilogue order). */
#include "config.h"
#include "dwconv.h"

void dwconv_rows_scalar(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1)
{
    const int C = p->c_in;
    for (int row = row0; row < row1; row++) {
        int nimg = row / oh, oy = row % oh;
        const float *img = in + (ptrdiff_t)nimg * p->h * p->w * C;
        for (int ox = 0; ox < ow; ox++) {
            float *o = out + ((ptrdiff_t)row * ow + ox) * C;
            for (int c = 0; c < C; c++)
                o[c] = 0.0f;
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                if (iy < 0 || iy >= p->h)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                    if (ix < 0 || ix >= p->w)
                        continue;
                    const float *s = img + ((ptrdiff_t)iy * p->w + ix) * C;
                    const float *w = wt + (ptrdiff_t)(ky * p->kw + kx) * C;
                    for (int c = 0; c < C; c++)
                        o[c] += s[c] * w[c];
                }
            }
            const float *r = ep && ep->residual ? ep->residual + ((ptrdiff_t)row * ow + ox) * C : NULL;
            for (int c = 0; c < C; c++) {
                float v = o[c];
                if (bias)
                    v += bias[c];
                if (r)
                    v += r[c];
                if (ep)
                    v = mfr_act_scalar(v, ep->act, ep->act_param, ep->prelu ? ep->prelu[c] : 0.0f);
                o[c] = v;
            }
        }
    }
}

void dwconv_bwd_weights_scalar(const mfr_conv_params *p, int oh, int ow, const float *in, const float *dout,
                               float *dwt, int c0, int c1)
{
    const int C = p->c_in;
    for (int nimg = 0; nimg < p->n; nimg++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *d = dout + (((ptrdiff_t)nimg * oh + oy) * ow + ox) * C;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                        if (ix < 0 || ix >= p->w)
                            continue;
                        const float *s = in + (((ptrdiff_t)nimg * p->h + iy) * p->w + ix) * C;
                        float *a = dwt + (ptrdiff_t)(ky * p->kw + kx) * C;
                        for (int c = c0; c < c1; c++)
                            a[c] += d[c] * s[c];
                    }
                }
            }
}

void dwconv_bwd_data_scalar(const mfr_conv_params *p, int oh, int ow, const float *dout, const float *wt,
                            float *din, int row0, int row1)
{
    const int C = p->c_in;
    for (int row = row0; row < row1; row++) {
        int nimg = row / p->h, iy = row % p->h;
        for (int ix = 0; ix < p->w; ix++) {
            float *dx = din + ((ptrdiff_t)row * p->w + ix) * C;
            for (int ky = 0; ky < p->kh; ky++) {
                int ty = iy + p->pad_top - ky * p->dil_h;
                if (ty < 0 || ty % p->stride_h || ty / p->stride_h >= oh)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int tx = ix + p->pad_left - kx * p->dil_w;
                    if (tx < 0 || tx % p->stride_w || tx / p->stride_w >= ow)
                        continue;
                    const float *d =
                        dout + (((ptrdiff_t)nimg * oh + ty / p->stride_h) * ow + tx / p->stride_w) * C;
                    const float *w = wt + (ptrdiff_t)(ky * p->kw + kx) * C;
                    for (int c = 0; c < C; c++)
                        dx[c] += d[c] * w[c];
                }
            }
        }
    }
}
