/* The depthwise row kernel, written once for both vector widths: included by
 * dwconv_avx512.c and dwconv_avx2.c after they define
 *   V, VL (lanes), MASK, mask_for(n), vload(m, p), vstore(p, m, v), vzero(),
 *   vset1(x), vfma(a, b, c), vadd(a, b), vact(v, act, slope), DW_FN.
 * Loop order: output pixel, then blocks of VL channels, then taps (ky, kx),
 * the same tap order as dwconv_scalar.c. Interior pixels (every tap inside
 * the image) run an unrolled tap loop without bounds checks. */

/* Makes the compiler forget what it knows of pointer p (an empty asm that
 * may change it): an address stepped this way is computed where it is
 * used, not hoisted out of a loop into a register that then spills. */
#define DW_OPAQUE(p) __asm__("" : "+r"(p))
/* p += n, then opaque. */
#define DW_STEP(p, n)                                                                                      \
    do {                                                                                                   \
        (p) += (n);                                                                                        \
        DW_OPAQUE(p);                                                                                      \
    } while (0)

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

/* Epilogue and store of N pixels' vectors of channels [c, c + VL): pixel q's
 * output at o + q * C (residual at r + q * C). Residual RES and activation A
 * are constants here (dw_store_n picks them once per call), so that no test
 * or switch is left per pixel. */
static inline __attribute__((always_inline)) void dw_store_px(const V *acc, const int N, float *o, const float *r,
                                                              ptrdiff_t C, V bv, V slope, int c, MASK m,
                                                              const int RES, const mfr_act A)
{
#pragma GCC unroll 8
    for (int q = 0; q < N; q++) {
        V a = vadd(acc[q], bv);
        if (RES)
            a = vadd(a, vload(m, r + (ptrdiff_t)q * C + c));
        if (A != MFR_ACT_NONE)
            a = vact(a, A, slope);
        vstore(o + (ptrdiff_t)q * C + c, m, a);
    }
}

/* Bias (zero when there is none: adding +0 to a sum that started at +0
 * changes nothing), residual and activation of N pixels, the order of
 * dw_store. Scalar-only activations are left to the caller, as with dw_store. */
static inline __attribute__((always_inline)) void dw_store_n(const V *acc, const int N, float *o, const float *r,
                                                             ptrdiff_t C, const float *bias, const mfr_epilogue *ep,
                                                             mfr_act act, int c, MASK m)
{
    const V bv = bias ? vload(m, bias + c) : vzero();
    const V slope = act == MFR_ACT_PRELU ? (ep->prelu ? vload(m, ep->prelu + c) : vzero())
                    : act == MFR_ACT_LEAKY ? vset1(ep->act_param)
                                           : vzero();
#define DW_STORE_CASE(A)                                                                                   \
    do {                                                                                                   \
        if (r)                                                                                             \
            dw_store_px(acc, N, o, r, C, bv, slope, c, m, 1, A);                                           \
        else                                                                                               \
            dw_store_px(acc, N, o, r, C, bv, slope, c, m, 0, A);                                           \
    } while (0)
    switch (act) {
    case MFR_ACT_RELU:
        DW_STORE_CASE(MFR_ACT_RELU);
        break;
    case MFR_ACT_PRELU:
    case MFR_ACT_LEAKY:
        DW_STORE_CASE(MFR_ACT_PRELU); /* the same vector code: v < 0 ? v * slope : v */
        break;
    case MFR_ACT_RELU6:
        DW_STORE_CASE(MFR_ACT_RELU6);
        break;
    case MFR_ACT_HSWISH:
        DW_STORE_CASE(MFR_ACT_HSWISH);
        break;
    default:
        DW_STORE_CASE(MFR_ACT_NONE);
        break;
    }
#undef DW_STORE_CASE
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

/* One pixel, all C channels: four vectors of channels at a time (four
 * independent FMA chains; one chain alone waits on the FMA latency at every
 * tap, which made the border pixels of small layers cost as much as their
 * interior), then the rest one vector at a time. Same taps, same order. */
static inline __attribute__((always_inline)) void dw_pixel_all(const float *s, const float *wt, int C, int W,
                                                               int ix0, int dw, int ky0, int ky1,
                                                               ptrdiff_t row_step, int KW, float *o,
                                                               const float *bias, const float *res,
                                                               const mfr_epilogue *ep, mfr_act act)
{
    int c = 0;
    const MASK full = mask_for(VL);
    for (; c + 4 * VL <= C; c += 4 * VL) {
        V a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
        for (int ky = ky0; ky < ky1; ky++) {
            const float *sr = s + (ptrdiff_t)(ky - ky0) * row_step + c;
            const float *w = wt + (ptrdiff_t)ky * KW * C + c;
            for (int kx = 0; kx < KW; kx++) {
                int ix = ix0 + kx * dw;
                if (ix < 0 || ix >= W)
                    continue;
                const float *sk = sr + (ptrdiff_t)kx * dw * C, *wk = w + (ptrdiff_t)kx * C;
                a0 = vfma(vload(full, sk), vload(full, wk), a0);
                a1 = vfma(vload(full, sk + VL), vload(full, wk + VL), a1);
                a2 = vfma(vload(full, sk + 2 * VL), vload(full, wk + 2 * VL), a2);
                a3 = vfma(vload(full, sk + 3 * VL), vload(full, wk + 3 * VL), a3);
            }
        }
        dw_store(a0, o, bias, res, ep, act, c, full);
        dw_store(a1, o, bias, res, ep, act, c + VL, full);
        dw_store(a2, o, bias, res, ep, act, c + 2 * VL, full);
        dw_store(a3, o, bias, res, ep, act, c + 3 * VL, full);
    }
    for (; c < C; c += VL) {
        const MASK m = mask_for(C - c);
        V acc = dw_pixel(s + c, wt, C, W, ix0, dw, ky0, ky1, row_step, KW, c, m);
        dw_store(acc, o, bias, res, ep, act, c, m);
    }
    if (act_is_scalar_only(act))
        for (c = 0; c < C; c++)
            o[c] = mfr_act_scalar(o[c], act, ep->act_param, 0.0f);
}

/* Eight interior pixels of one output row, no dilation, stride SW: the
 * SW * 7 + KW input vectors of each kernel row are loaded once and feed every
 * pixel they belong to, and each weight vector is loaded once per eight
 * pixels (four-pixel groups loaded the weights twice as often and, with stride
 * 2, every input vector once per tap). Registers: 8 accumulators, KW weights,
 * one input. Accumulator q sums tap kx = j - SW q at column j, so in kx order
 * within each kernel row, and kernel rows in ky order: the scalar order. */
static inline __attribute__((always_inline)) void dw_group8(const float *s, ptrdiff_t row_step, const float *w,
                                                            int C, int ky0, int ky1, const int KW, const int SW,
                                                            MASK m, V *acc)
{
    V a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero(), a4 = vzero(), a5 = vzero(), a6 = vzero(),
      a7 = vzero();
    for (int ky = ky0; ky < ky1; ky++) {
        const float *sr = s + (ptrdiff_t)(ky - ky0) * row_step;
        const float *wr = w + (ptrdiff_t)ky * KW * C;
        V wv[8];
#pragma GCC unroll 8
        for (int kx = 0; kx < 8; kx++)
            wv[kx] = kx < KW ? vload(m, wr + (ptrdiff_t)kx * C) : vzero();
#pragma GCC unroll 32
        for (int j = 0; j < SW * 7 + KW; j++) {
            V x = vload(m, sr + (ptrdiff_t)j * C);
#define DW_ACC(Q, A)                                                                                       \
    if (j - SW * (Q) >= 0 && j - SW * (Q) < KW)                                                            \
        A = vfma(x, wv[j - SW * (Q)], A);
            DW_ACC(0, a0)
            DW_ACC(1, a1)
            DW_ACC(2, a2)
            DW_ACC(3, a3)
            DW_ACC(4, a4)
            DW_ACC(5, a5)
            DW_ACC(6, a6)
            DW_ACC(7, a7)
#undef DW_ACC
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

static inline __attribute__((always_inline)) void dw_row(const mfr_conv_params *p, int oh, int ow,
                                                         const float *in, const float *wt, const float *bias,
                                                         float *out, const mfr_epilogue *ep, int row, const int KH,
                                                         const int KW, const int SW)
{
    /* SW > 0: the stride is SW and there is no dilation (eight-pixel groups);
     * SW == 0: any stride and dilation, four-pixel groups only. */
    const int C = p->c_in, W = p->w, sw = SW > 0 ? SW : p->stride_w, dw = SW > 0 ? 1 : p->dil_w;
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
    int ox_lo, ox_hi;
    dw_interior_cols(p, ow, KW, sw, dw, &ox_lo, &ox_hi);
    int ox = 0;
    while (ox < ow) {
        if (SW > 0 && ox >= ox_lo && ox + 8 <= ox_hi) {
            const int ix0 = ox * sw - p->pad_left;
            for (int c = 0; c < C; c += VL) {
                const MASK m = mask_for(C - c);
                V acc[8];
                dw_group8(srow + (ptrdiff_t)ix0 * C + c, row_step, wt + c, C, ky0, ky1, KW, SW, m, acc);
                dw_store_n(acc, 8, orow + (ptrdiff_t)ox * C, res ? res + (ptrdiff_t)ox * C : NULL, C, bias, ep,
                           act, c, m);
            }
            if (act_is_scalar_only(act))
                for (int c = 0; c < 8 * C; c++)
                    orow[(ptrdiff_t)ox * C + c] = mfr_act_scalar(orow[(ptrdiff_t)ox * C + c], act, ep->act_param, 0.0f);
            ox += 8;
            continue;
        }
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
                const V acc4[4] = {a0, a1, a2, a3};
                dw_store_n(acc4, 4, orow + (ptrdiff_t)ox * C, res ? res + (ptrdiff_t)ox * C : NULL, C, bias, ep,
                           act, c, m);
            }
            if (act_is_scalar_only(act))
                for (int c = 0; c < 4 * C; c++)
                    orow[(ptrdiff_t)ox * C + c] = mfr_act_scalar(orow[(ptrdiff_t)ox * C + c], act, ep->act_param, 0.0f);
            ox += 4;
            continue;
        }
        const int ix0 = ox * sw - p->pad_left;
        dw_pixel_all(srow + (ptrdiff_t)ix0 * C, wt, C, W, ix0, dw, ky0, ky1, row_step, KW,
                     orow + (ptrdiff_t)ox * C, bias, res ? res + (ptrdiff_t)ox * C : NULL, ep, act);
        ox++;
    }
}

/* R output rows (oy .. oy + R - 1) at once, 3x3, stride 1 and no dilation,
 * every row with all kernel rows inside the image: the R + 2 input rows are
 * read once for all R (3 R row reads otherwise), which cuts the traffic
 * from L2 to L1 that limits these layers. Interior pixels four at a time
 * (4 R accumulators and up to 9 weight vectors: R = 2 fits AVX2's 16
 * registers, R = 4 AVX-512's 32); the border pixels go through
 * dw_pixel_all. Input row r is kernel row r - h of output row h; every
 * output still sums its taps in (ky, kx) order. */
static inline __attribute__((always_inline)) void dw_rows_s1(const mfr_conv_params *p, int oh, int ow,
                                                             const float *in, const float *wt, const float *bias,
                                                             float *out, const mfr_epilogue *ep, int row, const int R)
{
    const int C = p->c_in, W = p->w;
    const int nimg = row / oh, oy = row % oh;
    const float *img = in + (ptrdiff_t)nimg * p->h * W * C;
    const float *srow = img + (ptrdiff_t)(oy - p->pad_top) * W * C; /* input row of ky = 0 for oy */
    const ptrdiff_t row_step = (ptrdiff_t)W * C;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    float *orow[4];
    const float *rrow[4];
    for (int h = 0; h < R; h++) {
        orow[h] = out + (ptrdiff_t)(row + h) * ow * C;
        rrow[h] = ep && ep->residual ? ep->residual + (ptrdiff_t)(row + h) * ow * C : NULL;
    }
    int ox_lo = p->pad_left;
    int ox_hi = W - 3 + 1 + p->pad_left;
    if (ox_hi > ow)
        ox_hi = ow;
    if (ox_lo > ox_hi)
        ox_lo = ox_hi;
    int ox = 0;
    while (ox < ow) {
        if (ox >= ox_lo && ox + 4 <= ox_hi) {
            const int ix0 = ox - p->pad_left;
            for (int c = 0; c < C; c += VL) {
                const MASK m = mask_for(C - c);
                V acc[4][4];
#pragma GCC unroll 4
                for (int h = 0; h < 4; h++)
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++)
                        acc[h][q] = vzero();
                /* addresses stepped and opaque, as in dw_pair_s2_core */
                const float *sr = srow + (ptrdiff_t)ix0 * C + c;
#pragma GCC unroll 6
                for (int r = 0; r < R + 2; r++) {
                    /* the kernel rows that input row r feeds: ky_lo .. ky_hi,
                     * whose taps are consecutive in wt */
                    const int ky_lo = r - R + 1 > 0 ? r - R + 1 : 0, ky_hi = r < 2 ? r : 2;
                    const float *wq = wt + c + (ptrdiff_t)ky_lo * 3 * C;
                    V wk[3][3];
#pragma GCC unroll 3
                    for (int ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
                        for (int kx = 0; kx < 3; kx++) {
                            wk[ky][kx] = vzero();
                            if (ky >= ky_lo && ky <= ky_hi) {
                                wk[ky][kx] = vload(m, wq);
                                DW_STEP(wq, C);
                            }
                        }
                    const float *px = sr;
                    DW_STEP(sr, row_step);
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++) {
                        V x = vload(m, px);
                        DW_STEP(px, C);
#pragma GCC unroll 4
                        for (int h = 0; h < R; h++) {
                            const int ky = r - h;
                            if (ky < 0 || ky >= 3)
                                continue;
#pragma GCC unroll 4
                            for (int q = 0; q < 4; q++)
                                if (j - q >= 0 && j - q < 3)
                                    acc[h][q] = vfma(x, wk[ky][j - q], acc[h][q]);
                        }
                    }
                }
#pragma GCC unroll 4
                for (int h = 0; h < R; h++)
                    dw_store_n(acc[h], 4, orow[h] + (ptrdiff_t)ox * C, rrow[h] ? rrow[h] + (ptrdiff_t)ox * C : NULL,
                               C, bias, ep, act, c, m);
            }
            if (act_is_scalar_only(act))
                for (int h = 0; h < R; h++)
                    for (int c = 0; c < 4 * C; c++)
                        orow[h][(ptrdiff_t)ox * C + c] =
                            mfr_act_scalar(orow[h][(ptrdiff_t)ox * C + c], act, ep->act_param, 0.0f);
            ox += 4;
            continue;
        }
        const int ix0 = ox - p->pad_left;
        for (int h = 0; h < R; h++)
            dw_pixel_all(srow + (ptrdiff_t)h * row_step + (ptrdiff_t)ix0 * C, wt, C, W, ix0, 1, 0, 3, row_step, 3,
                         orow[h] + (ptrdiff_t)ox * C, bias, rrow[h] ? rrow[h] + (ptrdiff_t)ox * C : NULL, ep, act);
        ox++;
    }
}

/* Rows of 3x3 stride 1 computed in one pass: 4 on AVX-512, 2 on AVX2. */
#define DW_ROWS_S1 (VL == 16 ? 4 : 2)

/* Stride 2, 3x3, no dilation: output rows oy and oy + 1 read input rows
 * 2 oy - pad_top + (0 .. 4); the middle one (row 2) belongs to both. One
 * pass over the five rows computes both output rows: 5 input rows per two
 * output rows instead of 6, and these layers are limited by the traffic
 * from L2 to L1 (each pixel's channels are 0.5 - 2 KiB, so a row pass
 * never leaves the shared row in L1 for the next). N pixels (N constant,
 * at most DW_PAIR_N = 4) x 2 rows of accumulators, 3 + 3 weight vectors,
 * one input: 15 registers. On AVX-512 two vectors of channels go through
 * at once (NV = 2: 16 accumulators, 12 weights, 2 inputs): each
 * pixel is then read 128 contiguous bytes at a time, and the layers ran
 * 1.1 - 1.25x faster than with one vector of 8 pixels (0.81 - 0.90x ->
 * 0.95 - 1.07x oneDNN at one thread, session 10), with fewer L1 misses per
 * FMA than before although more loads.
 * L = 1: the first pixel's left tap lies in the padding (ix0 = -1) and is
 * skipped, as the scalar version skips it; sb then points at column 0
 * (the group's column j is at sb + (j - L) C). Each output sums its taps in
 * (ky, kx) order: input row r is kernel row r of oy and r - 2 of oy + 1. */
#define DW_PAIR_N 4
static inline __attribute__((always_inline)) void dw_pair_s2_core(const float *sb, ptrdiff_t row_step,
                                                                  const float *w, int C, const int N, const int L,
                                                                  const int NV, MASK m, V a[][4], V b[][4])
{
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            a[v][q] = vzero(), b[v][q] = vzero();
    /* Every address is a pointer stepped by C (or row_step) and made opaque
     * (DW_STEP) after each step: otherwise GCC hoisted all the input and
     * weight addresses (103 with 8 pixels) out of the caller's channel loop
     * as invariants, kept them on the stack, and each vector load waited on
     * a scalar load of its address (session 10). */
    const float *sr = sb, *wpa = w, *wpb = w;
#pragma GCC unroll 5
    for (int r = 0; r < 5; r++) {
        V wa[2][3], wb[2][3];
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++) {
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                wa[v][kx] = r < 3 ? vload(m, wpa + v * VL) : vzero();
                wb[v][kx] = r >= 2 ? vload(m, wpb + v * VL) : vzero();
            }
            if (r < 3)
                DW_STEP(wpa, C);
            if (r >= 2)
                DW_STEP(wpb, C);
        }
        const float *px = sr;
        DW_STEP(sr, row_step);
#pragma GCC unroll 9
        for (int j = L; j < 2 * N + 1; j++) {
            V x[2];
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                x[v] = vload(m, px + v * VL);
            DW_STEP(px, C);
#pragma GCC unroll 4
            for (int q = 0; q < N; q++) {
                const int kx = j - 2 * q;
                if (kx < 0 || kx >= 3)
                    continue;
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) {
                    if (r < 3)
                        a[v][q] = vfma(x[v], wa[v][kx], a[v][q]);
                    if (r >= 2)
                        b[v][q] = vfma(x[v], wb[v][kx], b[v][q]);
                }
            }
        }
    }
}

/* N pixels of both rows, all channels, with their epilogue. */
static inline __attribute__((always_inline)) void dw_pair_s2_px(const float *sb, ptrdiff_t row_step,
                                                                const float *wt, int C, const int N, const int L,
                                                                float *o0, float *o1, const float *r0,
                                                                const float *r1, const float *bias,
                                                                const mfr_epilogue *ep, mfr_act act)
{
    int c = 0;
    if (VL == 16)
        for (; c + 2 * VL <= C; c += 2 * VL) {
            const MASK m = mask_for(VL);
            V a[2][4], b[2][4];
            dw_pair_s2_core(sb + c, row_step, wt + c, C, N, L, 2, m, a, b);
            for (int v = 0; v < 2; v++) {
                dw_store_n(a[v], N, o0, r0, C, bias, ep, act, c + v * VL, m);
                dw_store_n(b[v], N, o1, r1, C, bias, ep, act, c + v * VL, m);
            }
        }
    for (; c < C; c += VL) {
        const MASK m = mask_for(C - c);
        V a[1][4], b[1][4];
        dw_pair_s2_core(sb + c, row_step, wt + c, C, N, L, 1, m, a, b);
        dw_store_n(a[0], N, o0, r0, C, bias, ep, act, c, m);
        dw_store_n(b[0], N, o1, r1, C, bias, ep, act, c, m);
    }
    if (act_is_scalar_only(act))
        for (int i = 0; i < N * C; i++) {
            o0[i] = mfr_act_scalar(o0[i], act, ep->act_param, 0.0f);
            o1[i] = mfr_act_scalar(o1[i], act, ep->act_param, 0.0f);
        }
}

/* The group sizes as constants: one copy of the body per (N, L). */
static __attribute__((noinline)) void dw_pair_s2_group(const float *sb, ptrdiff_t row_step, const float *wt, int C,
                                                       int n, int left, float *o0, float *o1, const float *r0,
                                                       const float *r1, const float *bias, const mfr_epilogue *ep,
                                                       mfr_act act)
{
#define DW_PAIR_CASE(N)                                                                                    \
    case N:                                                                                                \
        if (left)                                                                                          \
            dw_pair_s2_px(sb, row_step, wt, C, N, 1, o0, o1, r0, r1, bias, ep, act);                       \
        else                                                                                               \
            dw_pair_s2_px(sb, row_step, wt, C, N, 0, o0, o1, r0, r1, bias, ep, act);                       \
        break;
    switch (n) {
        DW_PAIR_CASE(1)
        DW_PAIR_CASE(2)
        DW_PAIR_CASE(3)
        DW_PAIR_CASE(4)
    default:
        break;
    }
#undef DW_PAIR_CASE
}

/* Output rows row and row + 1 (same image, every kernel row inside the
 * image for both), 3x3, stride 2, no dilation, pad_left <= 1: groups of
 * up to DW_PAIR_N pixels from column 0 (the padded first pixel inside the
 * first group) to the last interior one, then the rest one pixel at a time. */
static void dw_rows2_s2(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row)
{
    const int C = p->c_in, W = p->w;
    const int nimg = row / oh, oy = row % oh;
    const float *srow = in + ((ptrdiff_t)nimg * p->h + 2 * oy - p->pad_top) * W * C;
    const ptrdiff_t row_step = (ptrdiff_t)W * C;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    float *o0 = out + (ptrdiff_t)row * ow * C, *o1 = o0 + (ptrdiff_t)ow * C;
    const float *r0 = ep && ep->residual ? ep->residual + (ptrdiff_t)row * ow * C : NULL;
    const float *r1 = r0 ? r0 + (ptrdiff_t)ow * C : NULL;
    int ox_lo, ox_hi;
    dw_interior_cols(p, ow, 3, 2, 1, &ox_lo, &ox_hi);
    int ox = 0;
    /* pad_left 1: only pixel 0 has a tap outside, on its left */
    int left = ox_lo == 1 && ox_hi > 1;
    for (; ox < ox_lo && !left; ox++)
        for (int h = 0; h < 2; h++) {
            const int ix0 = 2 * ox - p->pad_left;
            dw_pixel_all(srow + (ptrdiff_t)h * 2 * row_step + (ptrdiff_t)ix0 * C, wt, C, W, ix0, 1, 0, 3, row_step,
                         3, (h ? o1 : o0) + (ptrdiff_t)ox * C, bias, (h ? r1 : r0) ? (h ? r1 : r0) + (ptrdiff_t)ox * C : NULL,
                         ep, act);
        }
    while (ox < ox_hi) {
        int n = ox_hi - ox < DW_PAIR_N ? ox_hi - ox : DW_PAIR_N;
        const int ix = 2 * ox - p->pad_left + left; /* first column read */
        dw_pair_s2_group(srow + (ptrdiff_t)ix * C, row_step, wt, C, n, left, o0 + (ptrdiff_t)ox * C,
                         o1 + (ptrdiff_t)ox * C, r0 ? r0 + (ptrdiff_t)ox * C : NULL, r1 ? r1 + (ptrdiff_t)ox * C : NULL,
                         bias, ep, act);
        left = 0;
        ox += n;
    }
    for (; ox < ow; ox++)
        for (int h = 0; h < 2; h++) {
            const int ix0 = 2 * ox - p->pad_left;
            dw_pixel_all(srow + (ptrdiff_t)h * 2 * row_step + (ptrdiff_t)ix0 * C, wt, C, W, ix0, 1, 0, 3, row_step,
                         3, (h ? o1 : o0) + (ptrdiff_t)ox * C, bias, (h ? r1 : r0) ? (h ? r1 : r0) + (ptrdiff_t)ox * C : NULL,
                         ep, act);
        }
}

/* Whether rows row and row + 1 can go through dw_rows2_s2. */
static int dw_pair_s2_ok(const mfr_conv_params *p, int oh, int row)
{
    int oy = row % oh;
    return p->kh == 3 && p->kw == 3 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 && p->dil_w == 1 &&
           p->pad_left <= 1 && oy + 1 < oh && 2 * oy - p->pad_top >= 0 && 2 * oy - p->pad_top + 4 < p->h;
}

/* Whether rows row .. row + n - 1 can go through dw_rows_s1. */
static int dw_rows_s1_ok(const mfr_conv_params *p, int oh, int row, int n)
{
    int oy = row % oh;
    return p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1 &&
           oy + n - 1 < oh && oy - p->pad_top >= 0 && oy + n - 1 - p->pad_top + 2 < p->h;
}

/* 3x3, stride 1, no dilation: strips of up to DW_S1_N output columns swept
 * down the rows, one vector of channels at a time. Three rows of
 * accumulators are live: input row iy feeds output row iy + pad_top - 2
 * with kernel row 2 (which completes it: stored), row iy + pad_top - 1 with
 * kernel row 1 and row iy + pad_top with kernel row 0. Each input vector is
 * loaded once per strip and feeds up to 3 x 3 outputs, the nine weight
 * vectors stay in registers (3 x 6 accumulators + 9 weights + 1 input +
 * bias and slope: 30 of AVX-512's 32 registers), and every output still sums its taps in
 * (ky, kx) order: kernel rows arrive in ky order as the sweep goes down,
 * and within a row columns q .. q + 2 in kx order. Padding needs no other
 * path: input rows outside the image are not read, and neither are the
 * strip's columns outside it (only its first two and last two can be). */
#define DW_S1_N (VL == 16 ? 6 : 3)
#define DW_S1_MIN (VL == 16 ? 4 : 2)
#define DW_S1_BAND 16

/* Input row s (strip column j at s + (ix0 + j) C) into the three rows of
 * accumulators; columns j < jlo and j >= jhi are padding. U2, U1, U0
 * (constants): whether a2, a1, a0 take it. */
static inline __attribute__((always_inline)) void dw_s1_feed(const float *s, int ix0, ptrdiff_t C, MASK m,
                                                             const V *w, int jlo, int jhi, V *a2, V *a1, V *a0,
                                                             const int N, const int U2, const int U1, const int U0)
{
#pragma GCC unroll 10
    for (int j = 0; j < N + 2; j++) {
        if ((j < 2 && j < jlo) || (j >= N && j >= jhi))
            continue;
        const V x = vload(m, s + (ptrdiff_t)(ix0 + j) * C);
#pragma GCC unroll 8
        for (int q = 0; q < N; q++) {
            const int kx = j - q;
            if (kx < 0 || kx > 2)
                continue;
            if (U2)
                a2[q] = vfma(x, w[6 + kx], a2[q]);
            if (U1)
                a1[q] = vfma(x, w[3 + kx], a1[q]);
            if (U0)
                a0[q] = vfma(x, w[kx], a0[q]);
        }
    }
}

/* A finished row of the strip: epilogue (RES, A constants), store,
 * accumulators back to zero. */
static inline __attribute__((always_inline)) void dw_s1_emit(V *a, const int N, float *o, const float *r,
                                                             ptrdiff_t C, V bv, V slope, int c, MASK m, const int RES,
                                                             const mfr_act A, mfr_act act, float act_param)
{
    dw_store_px(a, N, o, r, C, bv, slope, c, m, RES, A);
    if (A == MFR_ACT_NONE && act_is_scalar_only(act))
        for (int q = 0; q < N; q++)
            for (int l = c; l < c + VL && l < C; l++)
                o[(ptrdiff_t)q * C + l] = mfr_act_scalar(o[(ptrdiff_t)q * C + l], act, act_param, 0.0f);
#pragma GCC unroll 8
    for (int q = 0; q < N; q++)
        a[q] = vzero();
}

/* Output rows [oy0, oy1) of one image, columns [ox, ox + N), channels
 * [c, c + VL): img, o and r (residual, when RES) are the image's input,
 * output and residual. */
static inline __attribute__((always_inline)) void dw_s1_strip_c(const mfr_conv_params *p, int ow, const float *img,
                                                              float *o, const float *r, const float *wt,
                                                              const float *bias, const mfr_epilogue *ep, int oy0,
                                                              int oy1, int ox, int c, const int N, const int RES,
                                                              const mfr_act A)
{
    const ptrdiff_t C = p->c_in, rs = (ptrdiff_t)p->w * C, os = (ptrdiff_t)ow * C;
    const int H = p->h, pt = p->pad_top, ix0 = ox - p->pad_left;
    const int jlo = ix0 < 0 ? -ix0 : 0, jhi = p->w - ix0 < N + 2 ? p->w - ix0 : N + 2;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    const float act_param = ep ? ep->act_param : 0.0f;
    const MASK m = mask_for((int)C - c);
    const V bv = bias ? vload(m, bias + c) : vzero();
    const V slope = act == MFR_ACT_PRELU ? (ep->prelu ? vload(m, ep->prelu + c) : vzero())
                    : act == MFR_ACT_LEAKY ? vset1(ep->act_param)
                                           : vzero();
    V w[9];
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++)
        w[k] = vload(m, wt + (ptrdiff_t)k * C + c);
    const float *s = img + c;
    float *ob = o + (ptrdiff_t)ox * C;
    const float *rb = RES ? r + (ptrdiff_t)ox * C : NULL;
    V A0[8], A1[8], A2[8];
#pragma GCC unroll 8
    for (int q = 0; q < 8; q++)
        A0[q] = vzero(), A1[q] = vzero(), A2[q] = vzero();
    /* The rows before oy0's last: oy0's kernel rows 0 and 1, oy0 + 1's row 0. */
    int iy = oy0 - pt;
    if (iy >= 0 && iy < H)
        dw_s1_feed(s + iy * rs, ix0, C, m, w, jlo, jhi, A2, A2, A0, N, 0, 0, 1);
    iy++;
    if (iy >= 0 && iy < H)
        dw_s1_feed(s + iy * rs, ix0, C, m, w, jlo, jhi, A2, A0, A1, N, 0, 1, 1);
    int oy = oy0;
    /* Three rows at a time with the roles of A0, A1, A2 rotated (no copies) */
    for (iy = oy - pt + 2; oy + 3 <= oy1 && iy >= 0 && iy + 2 < H; oy += 3, iy += 3) {
        dw_s1_feed(s + iy * rs, ix0, C, m, w, jlo, jhi, A0, A1, A2, N, 1, 1, 1);
        dw_s1_emit(A0, N, ob + oy * os, RES ? rb + oy * os : NULL, C, bv, slope, c, m, RES, A, act, act_param);
        dw_s1_feed(s + (iy + 1) * rs, ix0, C, m, w, jlo, jhi, A1, A2, A0, N, 1, 1, 1);
        dw_s1_emit(A1, N, ob + (oy + 1) * os, RES ? rb + (oy + 1) * os : NULL, C, bv, slope, c, m, RES, A, act,
                   act_param);
        dw_s1_feed(s + (iy + 2) * rs, ix0, C, m, w, jlo, jhi, A2, A0, A1, N, 1, 1, 1);
        dw_s1_emit(A2, N, ob + (oy + 2) * os, RES ? rb + (oy + 2) * os : NULL, C, bv, slope, c, m, RES, A, act,
                   act_param);
    }
    /* The last rows (and any whose last kernel row is outside the image) */
    for (; oy < oy1; oy++) {
        iy = oy - pt + 2;
        if (iy >= 0 && iy < H)
            dw_s1_feed(s + iy * rs, ix0, C, m, w, jlo, jhi, A0, A1, A2, N, 1, 1, 1);
        dw_s1_emit(A0, N, ob + oy * os, RES ? rb + oy * os : NULL, C, bv, slope, c, m, RES, A, act, act_param);
#pragma GCC unroll 8
        for (int q = 0; q < N; q++)
            A0[q] = A1[q], A1[q] = A2[q], A2[q] = vzero();
    }
}

static inline __attribute__((always_inline)) void dw_s1_strip(const mfr_conv_params *p, int ow, const float *img,
                                                              float *o, const float *r, const float *wt,
                                                              const float *bias, const mfr_epilogue *ep, int oy0,
                                                              int oy1, int ox, int ns, int c, const int N,
                                                              const int RES, const mfr_act A)
{
    for (int k = 0; k < ns; k++)
        dw_s1_strip_c(p, ow, img, o, r, wt, bias, ep, oy0, oy1, ox + k * N, c, N, RES, A);
}

/* The strip width, residual and activation as constants: one copy of the
 * sweep for each. Scalar-only activations are applied after the store. */
static __attribute__((noinline)) void dw_s1_strip_n(const mfr_conv_params *p, int ow, const float *img, float *o,
                                                    const float *r, const float *wt, const float *bias,
                                                    const mfr_epilogue *ep, int oy0, int oy1, int ox, int ns, int c,
                                                    int n)
{
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
#define DW_S1_A(N, RES, A) dw_s1_strip(p, ow, img, o, r, wt, bias, ep, oy0, oy1, ox, ns, c, N, RES, A)
#define DW_S1_RES(N, A)                                                                                    \
    do {                                                                                                   \
        if (r)                                                                                             \
            DW_S1_A(N, 1, A);                                                                              \
        else                                                                                               \
            DW_S1_A(N, 0, A);                                                                              \
    } while (0)
#define DW_S1_CASE(N)                                                                                      \
    case N:                                                                                                \
        switch (act) {                                                                                     \
        case MFR_ACT_RELU:                                                                                 \
            DW_S1_RES(N, MFR_ACT_RELU);                                                                    \
            break;                                                                                         \
        case MFR_ACT_PRELU:                                                                                \
        case MFR_ACT_LEAKY:                                                                                \
            DW_S1_RES(N, MFR_ACT_PRELU);                                                                   \
            break;                                                                                         \
        case MFR_ACT_RELU6:                                                                                \
            DW_S1_RES(N, MFR_ACT_RELU6);                                                                   \
            break;                                                                                         \
        case MFR_ACT_HSWISH:                                                                               \
            DW_S1_RES(N, MFR_ACT_HSWISH);                                                                  \
            break;                                                                                         \
        default:                                                                                           \
            DW_S1_RES(N, MFR_ACT_NONE);                                                                    \
            break;                                                                                         \
        }                                                                                                  \
        break;
    switch (n) {
#if VL == 16
        DW_S1_CASE(4)
        DW_S1_CASE(5)
        DW_S1_CASE(6)
#else
        DW_S1_CASE(2)
        DW_S1_CASE(3)
#endif
    default:
        break;
    }
#undef DW_S1_CASE
#undef DW_S1_RES
#undef DW_S1_A
}

/* Output rows [oy0, oy1) of image nimg: for each vector of channels, the
 * strips from left to right (widths as even as DW_S1_N allows), each swept
 * down the rows. Strips narrower than DW_S1_MIN (rows of fewer than
 * DW_S1_MIN pixels, or a last narrow strip) are computed pixel by pixel, in
 * the same tap order. */
static void dw_s1_image(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int nimg, int oy0, int oy1)
{
    const int C = p->c_in, W = p->w;
    const float *img = in + (ptrdiff_t)nimg * p->h * W * C;
    float *o = out + (ptrdiff_t)nimg * oh * ow * C;
    const float *r = ep && ep->residual ? ep->residual + (ptrdiff_t)nimg * oh * ow * C : NULL;
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    /* strips: nb of width wb, then ns - nb of width wb - 1 (as even as DW_S1_N allows) */
    const int ns = (ow + DW_S1_N - 1) / DW_S1_N, wb = (ow + ns - 1) / ns, nb = ow - ns * (wb - 1);
    /* columns [narrow, ow) are left to the pixel path */
    const int narrow = wb < DW_S1_MIN ? 0 : wb - 1 >= DW_S1_MIN || nb == ns ? ow : nb * wb;
    /* Bands of DW_S1_BAND rows, each swept strip after strip: the input is
     * then read along its rows, as the hardware prefetchers expect (sweeping
     * whole columns of the image was slower on 160 x 120 x 16, 0.9x - 1.1x of
     * the previous kernel against 0.81x - 0.88x with bands of 8 - 16 rows). */
    if (wb >= DW_S1_MIN)
        for (int c = 0; c < C; c += VL)
            for (int b0 = oy0; b0 < oy1; b0 += DW_S1_BAND) {
                const int b1 = b0 + DW_S1_BAND < oy1 ? b0 + DW_S1_BAND : oy1;
                dw_s1_strip_n(p, ow, img, o, r, wt, bias, ep, b0, b1, 0, nb, c, wb);
                if (narrow == ow && nb < ns)
                    dw_s1_strip_n(p, ow, img, o, r, wt, bias, ep, b0, b1, nb * wb, ns - nb, c, wb - 1);
            }
    for (int oy = oy0; oy < oy1; oy++) {
        const int iy0 = oy - p->pad_top;
        int ky0 = 0, ky1 = 3;
        while (ky0 < 3 && iy0 + ky0 < 0)
            ky0++;
        while (ky1 > ky0 && iy0 + ky1 - 1 >= p->h)
            ky1--;
        const float *srow = img + (ptrdiff_t)(iy0 + ky0) * W * C;
        for (int ox = narrow; ox < ow; ox++) {
            const int ix0 = ox - p->pad_left;
            dw_pixel_all(srow + (ptrdiff_t)ix0 * C, wt, C, W, ix0, 1, ky0, ky1, (ptrdiff_t)W * C, 3,
                         o + ((ptrdiff_t)oy * ow + ox) * C, bias, r ? r + ((ptrdiff_t)oy * ow + ox) * C : NULL, ep,
                         act);
        }
    }
}

/* Whether dw_s1_image computes this convolution: 3x3, stride 1, no
 * dilation, left and right padding <= 2, and at most one vector of channels.
 * With more channels the strips were measured slower than dw_rows_s1 on the
 * 56 x 56 x 64, 28 x 28 x 128 and 80 x 60 x 64 layers (1.0x - 1.3x its time
 * at one thread): they read one cache line of each pixel per pass, and the
 * row blocks, which read all of a pixel's channels at once, keep the
 * hardware prefetchers busier. Both give the same bits (same tap order), so
 * the choice does not change an output. */
static int dw_s1_ok(const mfr_conv_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1 &&
           p->pad_left <= 2 && p->pad_right <= 2 && p->c_in <= VL;
}

void DW_FN(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt, const float *bias,
           float *out, const mfr_epilogue *ep, int row0, int row1)
{
    if (dw_s1_ok(p)) {
        for (int row = row0; row < row1;) {
            const int nimg = row / oh, oy0 = row % oh, oy1 = oy0 + (row1 - row) < oh ? oy0 + (row1 - row) : oh;
            dw_s1_image(p, oh, ow, in, wt, bias, out, ep, nimg, oy0, oy1);
            row += oy1 - oy0;
        }
        return;
    }
    for (int row = row0; row < row1; row++) {
        /* Several rows per pass for 3x3 only: with 5x5 the two sets of row
         * weights no longer fit in registers next to the eight accumulators
         * (measured slower). */
        if (row + 1 < row1 && dw_pair_s2_ok(p, oh, row)) {
            dw_rows2_s2(p, oh, ow, in, wt, bias, out, ep, row);
            row++;
            continue;
        }
        if (row + DW_ROWS_S1 <= row1 && dw_rows_s1_ok(p, oh, row, DW_ROWS_S1)) {
            dw_rows_s1(p, oh, ow, in, wt, bias, out, ep, row, DW_ROWS_S1);
            row += DW_ROWS_S1 - 1;
            continue;
        }
        if (DW_ROWS_S1 > 2 && row + 2 <= row1 && dw_rows_s1_ok(p, oh, row, 2)) {
            dw_rows_s1(p, oh, ow, in, wt, bias, out, ep, row, 2);
            row++;
            continue;
        }
        const int s1 = p->stride_w == 1 && p->dil_w == 1, s2 = p->stride_w == 2 && p->dil_w == 1;
        if (p->kh == 3 && p->kw == 3 && s1)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 3, 3, 1);
        else if (p->kh == 3 && p->kw == 3 && s2)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 3, 3, 2);
        else if (p->kh == 3 && p->kw == 3)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 3, 3, 0);
        else if (p->kh == 5 && p->kw == 5 && s1)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 5, 5, 1);
        else if (p->kh == 5 && p->kw == 5 && s2)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 5, 5, 2);
        else if (p->kh == 5 && p->kw == 5)
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, 5, 5, 0);
        else
            dw_row(p, oh, ow, in, wt, bias, out, ep, row, p->kh, p->kw, 0);
    }
}
