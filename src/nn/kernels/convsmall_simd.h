/* The small-c_in direct convolution row, written once for both vector
 * widths: included by convsmall_avx512.c / convsmall_avx2.c after the same
 * macros as dwconv_simd.h, plus CS_FN. A block is PX output pixels times NV
 * vectors of output channels (PX * NV = 16 accumulators, so that 16
 * independent FMA chains hide the FMA latency); per (tap, ci) the NV weight
 * vectors are loaded once and each pixel's input value is broadcast once.
 * Kernel rows outside the image are skipped; columns outside it read a zero
 * row (interior blocks simply step through the image). */

/* Bias, residual, activation and store of a block's PX x NV accumulators
 * (acc[x * NV + v]); only pixels x0 <= x < npx are stored. */
static inline __attribute__((always_inline)) void cs_store(const V *acc, int ox0, int x0, int npx, float *orow,
                                                           const float *rrow, const float *bias,
                                                           const mfr_epilogue *ep, int co0, int CO, const int NV,
                                                           const int PX)
{
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
#pragma GCC unroll 32
    for (int x = 0; x < PX; x++) {
        if (x >= npx)
            break;
        if (x < x0)
            continue;
        float *o = orow + (ptrdiff_t)(ox0 + x) * CO;
        const float *r = rrow ? rrow + (ptrdiff_t)(ox0 + x) * CO : NULL;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            int c = co0 + v * VL;
            MASK m = mask_for(CO - c);
            V a = acc[x * NV + v];
            if (bias)
                a = vadd(a, vload(m, bias + c));
            if (r)
                a = vadd(a, vload(m, r + c));
            if (act != MFR_ACT_NONE) {
                V slope = act == MFR_ACT_PRELU ? (ep->prelu ? vload(m, ep->prelu + c) : vzero()) : vset1(ep->act_param);
                a = vact(a, act, slope);
            }
            vstore(o + c, m, a);
        }
        if (act_is_scalar_only(act))
            for (int c = co0; c < co0 + NV * VL && c < CO; c++)
                o[c] = mfr_act_scalar(o[c], act, ep->act_param, 0.0f);
    }
}

static inline __attribute__((always_inline)) void cs_block(const mfr_conv_params *p, int oy, int ox0, int npx,
                                                           int cout_pad, const float *img, const float *wt,
                                                           const float *bias, float *orow, const float *rrow,
                                                           const mfr_epilogue *ep, int co0, const int NV,
                                                           const int PX, const int CI, const int SW)
{
    /* CI, SW > 0: c_in and the stride as compile-time constants (the RGB
     * stems: 3 channels, stride 2), so that the interior's input addresses
     * are one base register plus constant offsets and the ci loop unrolls. */
    static const float zeros[CONV_SMALL_MAX_CIN];
    const int C = CI > 0 ? CI : p->c_in, CO = p->c_out, sw = SW > 0 ? SW : p->stride_w;
    const ptrdiff_t xstep = (ptrdiff_t)sw * C;
    const int ixa = ox0 * sw - p->pad_left, ixb = (ox0 + npx - 1) * sw - p->pad_left + (p->kw - 1) * p->dil_w;
    const int interior = npx == PX && ixa >= 0 && ixb < p->w;
    V acc[16]; /* acc[x * NV + v]: PX * NV <= 16, one flat array so that it stays in registers */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = vzero();
    for (int ky = 0; ky < p->kh; ky++) {
        int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        if (iy < 0 || iy >= p->h)
            continue;
        for (int kx = 0; kx < p->kw; kx++) {
            const float *w = wt + (ptrdiff_t)(ky * p->kw + kx) * C * cout_pad + co0;
            const float *base = img + ((ptrdiff_t)iy * p->w + ixa + kx * p->dil_w) * C;
            if (interior) {
#pragma GCC unroll 8
                for (int ci = 0; ci < C; ci++) {
                    V wv[4];
#pragma GCC unroll 4
                    for (int v = 0; v < 4; v++)
                        wv[v] = v < NV ? vload(mask_for(VL), w + (ptrdiff_t)ci * cout_pad + v * VL) : vzero();
#pragma GCC unroll 16
                    for (int x = 0; x < PX; x++) {
                        V xv = vset1(base[x * xstep + ci]);
#pragma GCC unroll 4
                        for (int v = 0; v < NV; v++)
                            acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
                    }
                }
                continue;
            }
            const float *src[16];
#pragma GCC unroll 16
            for (int x = 0; x < 16; x++) {
                int ix = ixa + (x < npx ? x : 0) * sw + kx * p->dil_w;
                src[x] = ix >= 0 && ix < p->w ? img + ((ptrdiff_t)iy * p->w + ix) * C : zeros;
            }
            for (int ci = 0; ci < C; ci++) {
                V wv[4];
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++)
                    wv[v] = v < NV ? vload(mask_for(VL), w + (ptrdiff_t)ci * cout_pad + v * VL) : vzero();
#pragma GCC unroll 16
                for (int x = 0; x < PX; x++) {
                    V xv = vset1(src[x][ci]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
                }
            }
        }
    }
    cs_store(acc, ox0, 0, npx, orow, rrow, bias, ep, co0, CO, NV, PX);
}

/* The RGB stem's interior block: 3 input channels, 3x3 kernel, stride 2 in
 * x, no dilation in x, every column of the block inside the image. Its own
 * small function per NV (not inlined into the row) so that the 16
 * accumulators stay in registers: inlined into the generic block above, GCC
 * kept them on the stack. Per kernel row the (kx, ci) loop is the 9 values
 * in a row of input, at offsets 0..8 from the pixel's first column; the sum
 * order (ky, kx, ci) is the generic block's. */
static inline __attribute__((always_inline)) void cs_stem(const mfr_conv_params *p, int oy, int ox0, int cout_pad,
                                                          const float *img, const float *wt, const float *bias,
                                                          float *orow, const float *rrow, const mfr_epilogue *ep,
                                                          int co0, int skip, const int NV)
{
    const int PX = CS_STEM_ACC / NV;
    const float *col = img + (ptrdiff_t)(ox0 * 2 - p->pad_left) * 3;
    V acc[CS_STEM_ACC];
#pragma GCC unroll 32
    for (int i = 0; i < CS_STEM_ACC; i++)
        acc[i] = vzero();
    for (int ky = 0; ky < 3; ky++) {
        int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        if (iy < 0 || iy >= p->h)
            continue;
        const float *s = col + (ptrdiff_t)iy * p->w * 3;
        const float *w = wt + (ptrdiff_t)ky * 9 * cout_pad + co0;
        /* Opaque to the optimiser: otherwise GCC makes each of the 9 * PX
         * input addresses an induction variable of its own and keeps them
         * on the stack; this way they are all s plus a constant. */
        __asm__("" : "+r"(s), "+r"(w));
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            /* Column kx = 2 of pixel x is column 0 of pixel x + 1: left to
             * itself GCC keeps those broadcasts for the next kx and spills
             * them (and the accumulators) to the stack. An empty asm with a
             * memory clobber between kernel columns makes it load them again
             * (a broadcast from L1 is cheap; a spill costs a store and a load). */
            if (t % 3 == 0)
                __asm__ volatile("" ::: "memory");
            V wv[4];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                wv[v] = vload(mask_for(VL), w + (ptrdiff_t)t * cout_pad + v * VL);
#pragma GCC unroll 32
            for (int x = 0; x < PX; x++) {
                V xv = vset1(s[x * 6 + t]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
            }
        }
    }
    cs_store(acc, ox0, skip, PX, orow, rrow, bias, ep, co0, p->c_out, NV, PX);
}

#define CS_STEM_FN(NAME, NV)                                                                               \
    static __attribute__((noinline)) void NAME(const mfr_conv_params *p, int oy, int ox0, int cout_pad,    \
                                               const float *img, const float *wt, const float *bias,       \
                                               float *orow, const float *rrow, const mfr_epilogue *ep,     \
                                               int co0, int skip)                                          \
    {                                                                                                      \
        cs_stem(p, oy, ox0, cout_pad, img, wt, bias, orow, rrow, ep, co0, skip, NV);                       \
    }
CS_STEM_FN(cs_stem1, 1)
CS_STEM_FN(cs_stem2, 2)
CS_STEM_FN(cs_stem4, 4)
#undef CS_STEM_FN

/* Output channels [co0, co0 + NV * VL) of a whole row, PX = 16 / NV pixels at a time. */
static inline __attribute__((always_inline)) void cs_row(const mfr_conv_params *p, int oy, int ow, int cout_pad,
                                                         const float *img, const float *wt, const float *bias,
                                                         float *orow, const float *rrow, const mfr_epilogue *ep,
                                                         int co0, const int NV)
{
    const int PX = 16 / NV;
    const int rgb_s2 = p->c_in == 3 && p->stride_w == 2;
    const int stem = rgb_s2 && p->kh == 3 && p->kw == 3 && p->dil_w == 1 && NV != 3;
#define CS_BLOCK(OX, NPX)                                                                                  \
    do {                                                                                                   \
        if (rgb_s2)                                                                                        \
            cs_block(p, oy, OX, NPX, cout_pad, img, wt, bias, orow, rrow, ep, co0, NV, PX, 3, 2);        \
        else                                                                                               \
            cs_block(p, oy, OX, NPX, cout_pad, img, wt, bias, orow, rrow, ep, co0, NV, PX, 0, 0);        \
    } while (0)
#define CS_STEM(OX, SKIP)                                                                                  \
    do {                                                                                                   \
        if (NV == 1)                                                                                       \
            cs_stem1(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);                       \
        else if (NV == 2)                                                                                  \
            cs_stem2(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);                       \
        else                                                                                               \
            cs_stem4(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);                       \
    } while (0)
#define CS_PIXEL(OX)                                                                                       \
    do {                                                                                                   \
        if (rgb_s2)                                                                                        \
            cs_block(p, oy, OX, 1, cout_pad, img, wt, bias, orow, rrow, ep, co0, NV, 1, 3, 2);             \
        else                                                                                               \
            cs_block(p, oy, OX, 1, cout_pad, img, wt, bias, orow, rrow, ep, co0, NV, 1, 0, 0);             \
    } while (0)
    /* Interior pixels [lo, hi): every column of the kernel inside the image.
     * Blocks start at lo so that only the padded border pixels take the
     * checked path; the last interior block is moved back to end at hi and
     * recomputes a few pixels exactly as before (same taps, same order). */
    const int sw = p->stride_w, reach = (p->kw - 1) * p->dil_w;
    const int lo = (p->pad_left + sw - 1) / sw;
    int hi = p->w - 1 - reach + p->pad_left < 0 ? 0 : (p->w - 1 - reach + p->pad_left) / sw + 1;
    if (hi > ow)
        hi = ow;
    const int SPX = CS_STEM_ACC / NV;
    if (stem && hi - lo >= SPX) {
        for (int ox = 0; ox < lo; ox++)
            CS_PIXEL(ox);
        int ox = lo;
        for (; ox + SPX <= hi; ox += SPX)
            CS_STEM(ox, 0);
        /* The last block ends at hi and stores only its pixels not yet
         * written: nothing is stored twice, so an output that is also the
         * residual stays correct. */
        if (ox < hi)
            CS_STEM(hi - SPX, ox - (hi - SPX));
        for (ox = hi; ox < ow; ox++)
            CS_PIXEL(ox);
        return;
    }
    if (hi - lo >= PX) {
        /* The padded border, one pixel at a time (a block would compute
         * PX pixels to store one or two of them). */
        for (int ox = 0; ox < lo; ox++)
            CS_PIXEL(ox);
        int ox = lo;
        for (; ox + PX <= hi; ox += PX)
            CS_BLOCK(ox, PX);
        if (ox < hi)
            CS_BLOCK(hi - PX, PX);
        for (ox = hi; ox < ow; ox++)
            CS_PIXEL(ox);
        return;
    }
    for (int ox = 0; ox < ow; ox += PX)
        CS_BLOCK(ox, ow - ox < PX ? ow - ox : PX);
#undef CS_BLOCK
#undef CS_PIXEL
#undef CS_STEM
}

void CS_FN(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
           const float *bias, float *out, const mfr_epilogue *ep, int row)
{
    const int nimg = row / oh, oy = row % oh;
    const float *img = in + (ptrdiff_t)nimg * p->h * p->w * p->c_in;
    float *orow = out + (ptrdiff_t)row * ow * p->c_out;
    const float *rrow = ep && ep->residual ? ep->residual + (ptrdiff_t)row * ow * p->c_out : NULL;
    for (int co0 = 0; co0 < p->c_out; co0 += 4 * VL) {
        int nv = (p->c_out - co0 + VL - 1) / VL;
        if (nv == 1)
            cs_row(p, oy, ow, cout_pad, img, wt, bias, orow, rrow, ep, co0, 1);
        else if (nv == 2)
            cs_row(p, oy, ow, cout_pad, img, wt, bias, orow, rrow, ep, co0, 2);
        else
            cs_row(p, oy, ow, cout_pad, img, wt, bias, orow, rrow, ep, co0, 4 - (nv == 3));
    }
}
