/* The depthwise row kernel, written once for both vector widths: included by
 * dwconv_avx512.c and dwconv_avx2.c after they define
 *   V, VL (lanes), MASK, mask_for(n), vload(m, p), vstore(p, m, v), vzero(),
 *   vset1(x), vfma(a, b, c), vadd(a, b), vact(v, act, slope), DW_FN.
 * Loop order: output pixel, then blocks of VL channels, then taps (ky, kx),
 * the same tap order as dwconv_scalar.c. Interior pixels (every tap inside
 * the image) run an unrolled tap loop without bounds checks. */

/* Epilogue and store of one vector of channels. */
static inline __attribute__((always_inline)) void dw_store(V acc, float *o, const float *bias, const float *res,
                                                           const mfr_epilogue *ep, mfr_act act, int c, MASK m)
{
    if (bias)
        acc = vadd(acc, vload(m, bias + c));
    if (res)
        acc = vadd(acc, vload(m, res + c));
    if (act != MFR_ACT_NONE) {
        V slope = act == MFR_ACT_PRELU ? (ep->prelu ? vload(m, ep->prelu + c) : vzero()) : vset1(ep->act_param);
        acc = vact(acc, act, slope);
    }
    vstore(o + c, m, acc);
}

/* One pixel, any position: taps outside the image are skipped. */
static inline __attribute__((always_inline)) V dw_pixel(const float *s, const float *wt, int C, int W, int ix0,
                                                        int dw, int ky0, int ky1, ptrdiff_t row_step, int KW,
                                                        int c, MASK m)
{
    V acc = vzero();
    for (int ky = ky0; ky < ky1; ky++) {
        const float *sr = s + (ptrdiff_t)(ky - ky0) * row_step;
        const float *w = wt + (ptrdiff_t)ky * KW * C + c;
        for (int kx = 0; kx < KW; kx++) {
            int ix = ix0 + kx * dw;
            if (ix >= 0 && ix < W)
                acc = vfma(vload(m, sr + (ptrdiff_t)kx * dw * C), vload(m, w + (ptrdiff_t)kx * C), acc);
        }
    }
    return acc;
}

static inline __attribute__((always_inline)) void dw_row(const mfr_conv_params *p, int oh, int ow,
                                                         const float *in, const float *wt, const float *bias,
                                                         float *out, const mfr_epilogue *ep, int row, const int KH,
                                                         const int KW)
{
    const int C = p->c_in, W = p->w, sw = p->stride_w, dw = p->dil_w;
    const int nimg = row / oh, oy = row % oh;
    const float *img = in + (ptrdiff_t)nimg * p->h * W * C;
    const int iy0 = oy * p->stride_h - p->pad_top;
    int ky0 = 0, ky1 = KH;
    while (ky0 < KH && iy0 + ky0 * p->dil_h < 0)
        ky0++;
    while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->h)
        ky1--;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    const float *res = ep && ep->residual ? ep->residual + (ptrdiff_t)row * ow * C : NULL;
    float *orow = out + (ptrdiff_t)row * ow * C;
    const ptrdiff_t row_step = (ptrdiff_t)p->dil_h * W * C; /* between kernel rows */
    const float *srow = img + (ptrdiff_t)(iy0 + ky0 * p->dil_h) * W * C;
    /* Interior columns [ox_lo, ox_hi): every tap inside the image. */
    int ox_lo = (p->pad_left + sw - 1) / sw;
    int lim = W - 1 - (KW - 1) * dw + p->pad_left;
    int ox_hi = lim < 0 ? 0 : lim / sw + 1;
    if (ox_hi > ow)
        ox_hi = ow;
    if (ox_lo > ox_hi)
        ox_lo = ox_hi;
    int ox = 0;
    while (ox < ow) {
        if (ox >= ox_lo && ox + 4 <= ox_hi) {
            /* Four interior pixels at once: four independent accumulators,
             * each weight vector loaded once for all four. */
            const int ix0 = ox * sw - p->pad_left;
            const int full_rows = ky0 == 0 && ky1 == KH;
            for (int c = 0; c < C; c += VL) {
                const MASK m = mask_for(C - c);
                V a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
#define DW_TAPS(KY)                                                                                \
    {                                                                                              \
        const float *s = srow + (ptrdiff_t)((KY) - ky0) * row_step + (ptrdiff_t)ix0 * C + c;       \
        const float *w = wt + (ptrdiff_t)(KY) * KW * C + c;                                        \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < KW; kx++)                                    \
        {                                                                                          \
            V wv = vload(m, w + (ptrdiff_t)kx * C);                                                \
            const float *sk = s + (ptrdiff_t)kx * dw * C;                                          \
            a0 = vfma(vload(m, sk), wv, a0);                                                       \
            a1 = vfma(vload(m, sk + (ptrdiff_t)sw * C), wv, a1);                                   \
            a2 = vfma(vload(m, sk + (ptrdiff_t)2 * sw * C), wv, a2);                               \
            a3 = vfma(vload(m, sk + (ptrdiff_t)3 * sw * C), wv, a3);                               \
        }                                                                                          \
    }
/* Stride 1, no dilation: neighbouring pixels share input columns. Each of
 * the 3 + KW input vectors of a kernel row is loaded once and feeds every
 * pixel it belongs to; each accumulator still sums its taps in kx order. */
#define DW_TAPS_S1(KY)                                                                             \
    {                                                                                              \
        const float *s = srow + (ptrdiff_t)((KY) - ky0) * row_step + (ptrdiff_t)ix0 * C + c;       \
        const float *w = wt + (ptrdiff_t)(KY) * KW * C + c;                                        \
        V wv[8];                                                                                   \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < 8; kx++)                                     \
            wv[kx] = kx < KW ? vload(m, w + (ptrdiff_t)kx * C) : vzero();                          \
        _Pragma("GCC unroll 16") for (int j = 0; j < KW + 3; j++)                                  \
        {                                                                                          \
            V x = vload(m, s + (ptrdiff_t)j * C);                                                  \
            if (j - 0 >= 0 && j - 0 < KW)                                                          \
                a0 = vfma(x, wv[j - 0], a0);                                                       \
            if (j - 1 >= 0 && j - 1 < KW)                                                          \
                a1 = vfma(x, wv[j - 1], a1);                                                       \
            if (j - 2 >= 0 && j - 2 < KW)                                                          \
                a2 = vfma(x, wv[j - 2], a2);                                                       \
            if (j - 3 >= 0 && j - 3 < KW)                                                          \
                a3 = vfma(x, wv[j - 3], a3);                                                       \
        }                                                                                          \
    }
                if (full_rows && sw == 1 && dw == 1 && KW <= 8) {
#pragma GCC unroll 8
                    for (int ky = 0; ky < KH; ky++)
                        DW_TAPS_S1(ky)
                } else if (full_rows) {
                    /* all kernel rows inside: a constant trip count, unrolled */
#pragma GCC unroll 8
                    for (int ky = 0; ky < KH; ky++)
                        DW_TAPS(ky)
                } else {
                    for (int ky = ky0; ky < ky1; ky++)
                        DW_TAPS(ky)
                }
#undef DW_TAPS
#undef DW_TAPS_S1
                float *o = orow + (ptrdiff_t)ox * C;
                const float *r = res ? res + (ptrdiff_t)ox * C : NULL;
                dw_store(a0, o, bias, r, ep, act, c, m);
                dw_store(a1, o + C, bias, r ? r + C : NULL, ep, act, c, m);
                dw_store(a2, o + 2 * C, bias, r ? r + 2 * C : NULL, ep, act, c, m);
                dw_store(a3, o + 3 * C, bias, r ? r + 3 * C : NULL, ep, act, c, m);
            }
            if (act_is_scalar_only(act))
                for (int c = 0; c < 4 * C; c++)
                    orow[(ptrdiff_t)ox * C + c] = mfr_act_scalar(orow[(ptrdiff_t)ox * C + c], act, ep->act_param, 0.0f);
            ox += 4;
            continue;
        }
        const int ix0 = ox * sw - p->pad_left;
        float *o = orow + (ptrdiff_t)ox * C;
        for (int c = 0; c < C; c += VL) {
            const MASK m = mask_for(C - c);
            V acc = dw_pixel(srow + (ptrdiff_t)ix0 * C + c, wt, C, W, ix0, dw, ky0, ky1, row_step, KW, c, m);
            dw_store(acc, o, bias, res ? res + (ptrdiff_t)ox * C : NULL, ep, act, c, m);
        }
        if (act_is_scalar_only(act))
            for (int c = 0; c < C; c++)
                o[c] = mfr_act_scalar(o[c], act, ep->act_param, 0.0f);
        ox++;
    }
}

void DW_FN(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt, const float *bias,
           float *out, const mfr_epilogue *ep, int row0, int row1)
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
