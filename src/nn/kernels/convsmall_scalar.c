/* Direct small-c_in convolution, portable C: the reference for the SIMD
 * versions (same tap order, same epilogue order). */
#include "config.h"
#include "convsmall.h"

/* Bias, residual and activation on one output pixel's n channels. */
static void pixel_epilogue(float *o, int n, const float *bias, const float *r, const mfr_epilogue *ep)
{
    for (int co = 0; co < n; co++) {
        float v = o[co];
        if (bias)
            v += bias[co];
        if (r)
            v += r[co];
        if (ep)
            v = mfr_act_scalar(v, ep->act, ep->act_param, ep->prelu ? ep->prelu[co] : 0.0f);
        o[co] = v;
    }
}

void convsmall_row_scalar(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
                          const float *bias, float *out, const mfr_epilogue *ep, int row)
{
    const int C = p->c_in, CO = p->c_out;
    int nimg = row / oh, oy = row % oh;
    const float *img = in + (ptrdiff_t)nimg * p->h * p->w * C;
    for (int ox = 0; ox < ow; ox++) {
        float *o = out + ((ptrdiff_t)row * ow + ox) * CO;
        for (int co = 0; co < CO; co++)
            o[co] = 0.0f;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
            if (iy < 0 || iy >= p->h)
                continue;
            for (int kx = 0; kx < p->kw; kx++) {
                int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                if (ix < 0 || ix >= p->w)
                    continue;
                const float *s = img + ((ptrdiff_t)iy * p->w + ix) * C;
                const float *w = wt + (ptrdiff_t)(ky * p->kw + kx) * C * cout_pad;
                for (int ci = 0; ci < C; ci++)
                    for (int co = 0; co < CO; co++)
                        o[co] += s[ci] * w[(ptrdiff_t)ci * cout_pad + co];
            }
        }
        const float *r = ep && ep->residual ? ep->residual + ((ptrdiff_t)row * ow + ox) * CO : NULL;
        pixel_epilogue(o, CO, bias, r, ep);
    }
}

void convsmall_pw_scalar(int c_in, int c_out, int cout_pad, const float *in, const float *wt, const float *bias,
                         float *out, const mfr_epilogue *ep, int m0, int m1)
{
    for (int m = m0; m < m1; m++) {
        const float *s = in + (ptrdiff_t)m * c_in;
        float *o = out + (ptrdiff_t)m * c_out;
        for (int co = 0; co < c_out; co++)
            o[co] = 0.0f;
        for (int ci = 0; ci < c_in; ci++)
            for (int co = 0; co < c_out; co++)
                o[co] += s[ci] * wt[(ptrdiff_t)ci * cout_pad + co];
        const float *r = ep && ep->residual ? ep->residual + (ptrdiff_t)m * c_out : NULL;
        pixel_epilogue(o, c_out, bias, r, ep);
    }
}
