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
