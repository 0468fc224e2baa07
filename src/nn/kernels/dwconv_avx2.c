/* Depthwise convolution with AVX2+FMA: 8 channels per vector. For each
 * block of 8 channels the 3x3 weight vectors stay in registers (9 of the 16
 * ymm; larger kernels read them from L1) while the output row is swept; interior pixels
 * run without bounds checks. Tap order (ky, kx) and epilogue order match
 * dwconv_scalar.c; the only difference is the fused multiply-add. */
#include "config.h"
#include "dwconv.h"
#include "simd_act.h"

#define DW_MAX_REG_TAPS 9

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
    for (int c = 0; c < C; c += 8) {
        __m256i k = tail_mask_avx2(C - c);
        __m256 wv[DW_MAX_REG_TAPS];
        const int wreg = KH * KW <= DW_MAX_REG_TAPS;
        if (wreg)
            for (int t = 0; t < KH * KW; t++)
                wv[t] = _mm256_maskload_ps(wt + (ptrdiff_t)t * C + c, k);
        __m256 bv = bias ? _mm256_maskload_ps(bias + c, k) : _mm256_setzero_ps();
        __m256 slope = _mm256_set1_ps(ep ? ep->act_param : 0.0f);
        if (act == MFR_ACT_PRELU)
            slope = ep->prelu ? _mm256_maskload_ps(ep->prelu + c, k) : _mm256_setzero_ps();
        for (int ox = 0; ox < ow; ox++) {
            __m256 acc = _mm256_setzero_ps();
            int ix0 = ox * sw - p->pad_left;
            int inside = ox >= ox_lo && ox < ox_hi;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *srow = img + (ptrdiff_t)(iy0 + ky * p->dil_h) * p->w * C + c;
                for (int kx = 0; kx < KW; kx++) {
                    int ix = ix0 + kx * dw;
                    if (!inside && (ix < 0 || ix >= p->w))
                        continue;
                    __m256 w = wreg ? wv[ky * KW + kx] : _mm256_maskload_ps(wt + (ptrdiff_t)(ky * KW + kx) * C + c, k);
                    acc = _mm256_fmadd_ps(_mm256_maskload_ps(srow + (ptrdiff_t)ix * C, k), w, acc);
                }
            }
            ptrdiff_t o = ((ptrdiff_t)row * ow + ox) * C + c;
            if (bias)
                acc = _mm256_add_ps(acc, bv);
            if (ep && ep->residual)
                acc = _mm256_add_ps(acc, _mm256_maskload_ps(ep->residual + o, k));
            acc = act_avx2(acc, act, slope);
            _mm256_maskstore_ps(out + o, k, acc);
            if (act_is_scalar_only(act))
                for (int q = 0; q < 8 && c + q < C; q++)
                    out[o + q] = mfr_act_scalar(out[o + q], act, ep->act_param, 0.0f);
        }
    }
}

void dwconv_rows_avx2(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
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
