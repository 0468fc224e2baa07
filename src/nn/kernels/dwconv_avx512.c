/* Depthwise convolution with AVX-512: 16 channels per vector. For each
 * block of 16 channels the kh x kw weight vectors stay in registers (3x3: 9,
 * 5x5: 25 of the 32 zmm) while the output row is swept; interior pixels
 * run without bounds checks. Tap order (ky, kx) and epilogue order match
 * dwconv_scalar.c; the only difference is the fused multiply-add. */
#include "config.h"
#include "dwconv.h"
#include "simd_act.h"

#define DW_MAX_REG_TAPS 25

static inline __attribute__((always_inline)) void dw_row(const mfr_conv_params *p, int oh, int ow,
                                                         const float *in, const float *wt, const float *bias,
                                                         float *out, const mfr_epilogue *ep, int row, const int KH,
                                                         const int KW)
{
    const int C = p->c_in, sw = p->stride_w, dw = p->dil_w;
    int nimg = row / oh, oy = row % oh;
    const float *img = in + (ptrdiff_t)nimg * p->h * p->w * C;
    /* Valid kernel rows for this output row. */
    int ky0 = 0, ky1 = KH;
    int iy0 = oy * p->stride_h - p->pad_top;
    while (ky0 < KH && iy0 + ky0 * p->dil_h < 0)
        ky0++;
    while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->h)
        ky1--;
    /* Output columns whose taps all lie inside the image. */
    int ox_lo = (p->pad_left + sw - 1) / sw;
    int lim = p->w - 1 - (KW - 1) * dw + p->pad_left;
    int ox_hi = lim < 0 ? 0 : lim / sw + 1;
    if (ox_hi > ow)
        ox_hi = ow;
    if (ox_lo > ox_hi)
        ox_lo = ox_hi;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    for (int c = 0; c < C; c += 16) {
        __mmask16 k = tail_mask_avx512(C - c);
        __m512 wv[DW_MAX_REG_TAPS];
        const int wreg = KH * KW <= DW_MAX_REG_TAPS;
        if (wreg)
            for (int t = 0; t < KH * KW; t++)
                wv[t] = _mm512_maskz_loadu_ps(k, wt + (ptrdiff_t)t * C + c);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(k, bias + c) : _mm512_setzero_ps();
        __m512 slope = _mm512_set1_ps(ep ? ep->act_param : 0.0f);
        if (act == MFR_ACT_PRELU)
            slope = ep->prelu ? _mm512_maskz_loadu_ps(k, ep->prelu + c) : _mm512_setzero_ps();
        for (int ox = 0; ox < ow; ox++) {
            __m512 acc = _mm512_setzero_ps();
            int ix0 = ox * sw - p->pad_left;
            int inside = ox >= ox_lo && ox < ox_hi;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *srow = img + (ptrdiff_t)(iy0 + ky * p->dil_h) * p->w * C + c;
                for (int kx = 0; kx < KW; kx++) {
                    int ix = ix0 + kx * dw;
                    if (!inside && (ix < 0 || ix >= p->w))
                        continue;
                    __m512 w = wreg ? wv[ky * KW + kx] : _mm512_maskz_loadu_ps(k, wt + (ptrdiff_t)(ky * KW + kx) * C + c);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, srow + (ptrdiff_t)ix * C), w, acc);
                }
            }
            ptrdiff_t o = ((ptrdiff_t)row * ow + ox) * C + c;
            if (bias)
                acc = _mm512_add_ps(acc, bv);
            if (ep && ep->residual)
                acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(k, ep->residual + o));
            acc = act_avx512(acc, act, slope);
            _mm512_mask_storeu_ps(out + o, k, acc);
            if (act_is_scalar_only(act))
                for (int q = 0; q < 16 && c + q < C; q++)
                    out[o + q] = mfr_act_scalar(out[o + q], act, ep->act_param, 0.0f);
        }
    }
}

void dwconv_rows_avx512(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1)
{
    for (int row = row0; row < row1; row++) {
        if (p->kh == 3 && p->kw == 3)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 3, 3);
        else if (p->kh == 5 && p->kw == 5)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 5, 5);
        else
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, p->kh, p->kw);
    }
}
