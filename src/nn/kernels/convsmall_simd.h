/* The small-c_in direct convolution row, written once for both vector
 * widths: included by convsmall_avx512.c / convsmall_avx2.c after the same
 * macros as dwconv_simd.h, plus CS_FN. A block is PX output pixels times NV
 * vectors of output channels (PX * NV = 16 accumulators, so that 16
 * independent FMA chains hide the FMA latency); per (tap, ci) the NV weight
 * vectors are loaded once and each pixel's input value is broadcast once.
 * Kernel rows outside the image are skipped; columns outside it read a zero
 * row (interior blocks simply step through the image). */

/* Bias, residual, activation A and store of a block's PX x NV accumulators
 * (acc[x * NV + v]); only pixels x0 <= x < npx are stored. The masks, bias
 * and slope vectors come from cs_store; RES and A are constants, so that no
 * test or switch is left per pixel. */
static inline __attribute__((always_inline)) void cs_store_px(const V *acc, int ox0, int x0, int npx, float *orow,
                                                              const float *rrow, const V *bv, const V *slope,
                                                              const MASK *m, int co0, int CO, const int NV,
                                                              const int PX, const int RES, const mfr_act A)
{
#pragma GCC unroll 32
    for (int x = 0; x < PX; x++) {
        if (x >= npx)
            break;
        if (x < x0)
            continue;
        float *o = orow + (ptrdiff_t)(ox0 + x) * CO + co0;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            V a = vadd(acc[x * NV + v], bv[v]);
            if (RES)
                a = vadd(a, vload(m[v], rrow + (ptrdiff_t)(ox0 + x) * CO + co0 + v * VL));
            if (A != MFR_ACT_NONE)
                a = vact(a, A, slope[v]);
            vstore(o + v * VL, m[v], a);
        }
    }
}

/* The epilogue of a block: the bias (zero when there is none: adding +0 to
 * a sum that started at +0 changes nothing), then the residual, then the
 * activation, as in the reference; the activation is chosen once per block. */
static inline __attribute__((always_inline)) void cs_store(const V *acc, int ox0, int x0, int npx, float *orow,
                                                           const float *rrow, const float *bias,
                                                           const mfr_epilogue *ep, int co0, int CO, const int NV,
                                                           const int PX)
{
    const mfr_act act = ep ? ep->act : MFR_ACT_NONE;
    MASK m[4];
    V bv[4], slope[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        int c = co0 + v * VL;
        m[v] = mask_for(v < NV ? CO - c : 0);
        if (v >= NV) {
            bv[v] = slope[v] = vzero();
            continue;
        }
        bv[v] = bias ? vload(m[v], bias + c) : vzero();
        slope[v] = act == MFR_ACT_PRELU ? (ep->prelu ? vload(m[v], ep->prelu + c) : vzero())
                   : act == MFR_ACT_LEAKY ? vset1(ep->act_param)
                                          : vzero();
    }
#define CS_STORE_CASE(A)                                                                                   \
    do {                                                                                                   \
        if (rrow)                                                                                          \
            cs_store_px(acc, ox0, x0, npx, orow, rrow, bv, slope, m, co0, CO, NV, PX, 1, A);               \
        else                                                                                               \
            cs_store_px(acc, ox0, x0, npx, orow, rrow, bv, slope, m, co0, CO, NV, PX, 0, A);               \
    } while (0)
    switch (act) {
    case MFR_ACT_RELU:
        CS_STORE_CASE(MFR_ACT_RELU);
        break;
    case MFR_ACT_PRELU:
    case MFR_ACT_LEAKY:
        CS_STORE_CASE(MFR_ACT_PRELU); /* the same vector code: v < 0 ? v * slope : v */
        break;
    case MFR_ACT_RELU6:
        CS_STORE_CASE(MFR_ACT_RELU6);
        break;
    case MFR_ACT_HSWISH:
        CS_STORE_CASE(MFR_ACT_HSWISH);
        break;
    default: /* none, and the scalar-only ones (applied below) */
        CS_STORE_CASE(MFR_ACT_NONE);
        break;
    }
#undef CS_STORE_CASE
    if (act_is_scalar_only(act))
        for (int x = x0; x < npx && x < PX; x++) {
            float *o = orow + (ptrdiff_t)(ox0 + x) * CO;
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

/* The RGB stem's block: 3 input channels, 3x3 kernel, stride 2 in x, no
 * dilation in x, PX output pixels of which only the first and the last may
 * reach outside the image (the left and right padding). Per kernel row the
 * (kx, ci) loop is the 9 values in a row of input, at offsets 0..8 from the
 * pixel's first column; the first and the last pixel read theirs through
 * pointers of their own, which at a border point to a copy of those 9 values
 * with zeros for the columns outside the image (adding 0 * w leaves the sum
 * unchanged), so that the border pixels run with the block instead of one at
 * a time through the generic path. Its own small function per (NV, PX), not
 * inlined into the row, so that the accumulators stay in registers: inlined
 * into the generic block above, GCC kept them on the stack. The sum order
 * (ky, kx, ci) is the generic block's. */
static inline __attribute__((always_inline)) void cs_stem(const mfr_conv_params *p, int oy, int ox0, int cout_pad,
                                                          const float *img, const float *wt, const float *bias,
                                                          float *orow, const float *rrow, const mfr_epilogue *ep,
                                                          int co0, int skip, const int NV, const int PX)
{
    const int W = p->w, ix0 = ox0 * 2 - p->pad_left, ixr = ix0 + (PX - 1) * 2;
    const int left = ix0 < 0, right = ixr + 2 >= W;
    float lbuf[9], rbuf[9];
    V acc[32];
#pragma GCC unroll 32
    for (int i = 0; i < PX * NV; i++)
        acc[i] = vzero();
    for (int ky = 0; ky < 3; ky++) {
        int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        if (iy < 0 || iy >= p->h)
            continue;
        const float *irow = img + (ptrdiff_t)iy * W * 3;
        /* s: pixel 1's first column (inside the image even when pixel 0 is not) */
        const float *s = irow + (ptrdiff_t)(ix0 + 2) * 3;
        if (left || right) {
            for (int t = 0; t < 9; t++) {
                int il = ix0 + t / 3, ir = ixr + t / 3;
                lbuf[t] = il >= 0 && il < W ? irow[(ptrdiff_t)il * 3 + t % 3] : 0.0f;
                rbuf[t] = ir >= 0 && ir < W ? irow[(ptrdiff_t)ir * 3 + t % 3] : 0.0f;
            }
        }
        const float *sl = left ? lbuf : s - 6, *sr = right ? rbuf : s + (PX - 2) * 6;
        const float *w = wt + (ptrdiff_t)ky * 9 * cout_pad + co0;
        /* Opaque to the optimiser: otherwise GCC makes each of the 9 * PX
         * input addresses an induction variable of its own and keeps them
         * on the stack; this way they are all s plus a constant. */
        __asm__("" : "+r"(s), "+r"(sl), "+r"(sr), "+r"(w));
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
                V xv = vset1(x == 0 ? sl[t] : x == PX - 1 ? sr[t] : s[(x - 1) * 6 + t]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
            }
        }
    }
    cs_store(acc, ox0, skip, PX, orow, rrow, bias, ep, co0, p->c_out, NV, PX);
}

#define CS_STEM_FN(NAME, NV, PX)                                                                           \
    static __attribute__((noinline)) void NAME(const mfr_conv_params *p, int oy, int ox0, int cout_pad,    \
                                               const float *img, const float *wt, const float *bias,       \
                                               float *orow, const float *rrow, const mfr_epilogue *ep,     \
                                               int co0, int skip)                                          \
    {                                                                                                      \
        cs_stem(p, oy, ox0, cout_pad, img, wt, bias, orow, rrow, ep, co0, skip, NV, PX);                   \
    }
CS_STEM_FN(cs_stem1, 1, CS_STEM_ACC)
CS_STEM_FN(cs_stem2, 2, CS_STEM_ACC / 2)
CS_STEM_FN(cs_stem4, 4, CS_STEM_ACC / 4)
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
    if (stem && lo <= 1 && ow - hi <= 1 && ow >= SPX) {
        /* Every pixel in blocks of SPX (cs_stem takes a border pixel at
         * either end of a block); the last block ends at ow and stores only
         * its pixels not yet written: nothing is stored twice, so an output
         * that is also the residual stays correct. */
        int ox = 0;
        for (; ox + SPX <= ow; ox += SPX)
            CS_STEM(ox, 0);
        if (ox < ow)
            CS_STEM(ow - SPX, ox - (ow - SPX));
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

/* Pointwise: PX pixels from m0 (flat index) times NV vectors of output
 * channels from co0, summed over ci in order; the epilogue of the stem. */
static inline __attribute__((always_inline)) void cs_pw(int K, int CO, int cout_pad, const float *in, const float *wt,
                                                        const float *bias, float *out, const float *res,
                                                        const mfr_epilogue *ep, int m0, int co0, int skip,
                                                        const int NV, const int PX)
{
    const float *s = in + (ptrdiff_t)m0 * K, *w = wt + co0;
    V acc[32];
#pragma GCC unroll 32
    for (int i = 0; i < PX * NV; i++)
        acc[i] = vzero();
    /* the next block's inputs (PX K floats from s + PX K, at most 32 per
     * k step), two lines per step: its first step needs all of its pixels'
     * first lines at once, more misses than the line fill buffers take */
    const float *next = s + (ptrdiff_t)PX * K;
    for (int k = 0; k < K; k++) {
        V wv[4];
        if (32 * k < PX * K) {
            _mm_prefetch((const char *)(next + 32 * k), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + 32 * k + 16), _MM_HINT_T0);
        }
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            wv[v] = vload(mask_for(VL), w + (ptrdiff_t)k * cout_pad + v * VL);
#pragma GCC unroll 32
        for (int x = 0; x < PX; x++) {
            V xv = vset1(s[(ptrdiff_t)x * K + k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
        }
    }
    cs_store(acc, m0, skip, PX, out, res, bias, ep, co0, CO, NV, PX);
}

#define CS_PW_BLOCK_FN(NAME, NV, PX)                                                                             \
    static __attribute__((noinline)) void NAME(int K, int CO, int cout_pad, const float *in, const float *wt, \
                                               const float *bias, float *out, const float *res,            \
                                               const mfr_epilogue *ep, int m0, int co0, int skip)          \
    {                                                                                                      \
        cs_pw(K, CO, cout_pad, in, wt, bias, out, res, ep, m0, co0, skip, NV, PX);                         \
    }
CS_PW_BLOCK_FN(cs_pw1, 1, CS_STEM_ACC)
CS_PW_BLOCK_FN(cs_pw2, 2, CS_STEM_ACC / 2)
CS_PW_BLOCK_FN(cs_pw4, 4, CS_STEM_ACC / 4)
CS_PW_BLOCK_FN(cs_pw1_px1, 1, 1)
CS_PW_BLOCK_FN(cs_pw2_px1, 2, 1)
CS_PW_BLOCK_FN(cs_pw4_px1, 4, 1)
#undef CS_PW_BLOCK_FN

/* The same blocks for the usual input channel counts as constants: the
 * pixels' inputs are then fixed displacements from one pointer. With K in a
 * register, the 24 pixels of a block of one output vector need 24 index
 * registers, and gcc spilled half of them to the stack, reloaded in front of
 * every FMA (a 1x1 16 -> 16 convolution ran at 0.66x of oneDNN). Same
 * operations in the same order: the same bits. */
#define CS_PW_BLOCK_FN_K(NAME, NV, PX, KC)                                                                    \
    static __attribute__((noinline)) void NAME(int K, int CO, int cout_pad, const float *in, const float *wt, \
                                               const float *bias, float *out, const float *res,            \
                                               const mfr_epilogue *ep, int m0, int co0, int skip)          \
    {                                                                                                      \
        (void)K;                                                                                           \
        cs_pw(KC, CO, cout_pad, in, wt, bias, out, res, ep, m0, co0, skip, NV, PX);                        \
    }
#define CS_PW_K_SET(KC)                                                                                    \
    CS_PW_BLOCK_FN_K(cs_pw1_k##KC, 1, CS_STEM_ACC, KC)                                                     \
    CS_PW_BLOCK_FN_K(cs_pw2_k##KC, 2, CS_STEM_ACC / 2, KC)                                                 \
    CS_PW_BLOCK_FN_K(cs_pw4_k##KC, 4, CS_STEM_ACC / 4, KC)
CS_PW_K_SET(16)
CS_PW_K_SET(32)
CS_PW_K_SET(64)
CS_PW_K_SET(128)
#undef CS_PW_K_SET
#undef CS_PW_BLOCK_FN_K

typedef void (*cs_pw_block_fn)(int K, int CO, int cout_pad, const float *in, const float *wt, const float *bias,
                               float *out, const float *res, const mfr_epilogue *ep, int m0, int co0, int skip);

/* The block function for nv vectors of output channels (index nv >> 1:
 * 1, 2, 4) and c_in input channels. */
static void cs_pw_blocks(int c_in, cs_pw_block_fn f[3])
{
    switch (c_in) {
    case 16:
        f[0] = cs_pw1_k16, f[1] = cs_pw2_k16, f[2] = cs_pw4_k16;
        return;
    case 32:
        f[0] = cs_pw1_k32, f[1] = cs_pw2_k32, f[2] = cs_pw4_k32;
        return;
    case 64:
        f[0] = cs_pw1_k64, f[1] = cs_pw2_k64, f[2] = cs_pw4_k64;
        return;
    case 128:
        f[0] = cs_pw1_k128, f[1] = cs_pw2_k128, f[2] = cs_pw4_k128;
        return;
    default:
        f[0] = cs_pw1, f[1] = cs_pw2, f[2] = cs_pw4;
        return;
    }
}

/* Pixels [m0, m1) (a chunk small enough for its inputs to stay in L1 across
 * the groups of output channels), per group of NV vectors of output
 * channels, blocks of CS_STEM_ACC / NV pixels; a last short block is moved
 * back to end at m1 and stores only its new pixels (nothing is stored twice,
 * so an output that is also the residual stays correct), or, when the chunk
 * is shorter than a block, the pixels go one at a time. */
void CS_PW_FN(int c_in, int c_out, int cout_pad, const float *in, const float *wt, const float *bias, float *out,
              const mfr_epilogue *ep, int m0, int m1)
{
    const float *res = ep && ep->residual ? ep->residual : NULL;
    cs_pw_block_fn blk[3];
    cs_pw_blocks(c_in, blk);
#define CS_PW_CALL(SUFFIX, M, SKIP)                                                                        \
    do {                                                                                                   \
        if (nv == 4)                                                                                       \
            cs_pw4##SUFFIX(c_in, c_out, cout_pad, in, wt, bias, out, res, ep, M, co0, SKIP);               \
        else if (nv == 2)                                                                                  \
            cs_pw2##SUFFIX(c_in, c_out, cout_pad, in, wt, bias, out, res, ep, M, co0, SKIP);               \
        else                                                                                               \
            cs_pw1##SUFFIX(c_in, c_out, cout_pad, in, wt, bias, out, res, ep, M, co0, SKIP);               \
    } while (0)
    for (int co0 = 0; co0 < c_out;) {
        int nv = (c_out - co0 + VL - 1) / VL;
        nv = nv >= 4 ? 4 : nv >= 2 ? 2 : 1;
        const int px = CS_STEM_ACC / nv;
        const cs_pw_block_fn f = blk[nv >> 1];
        int m = m0;
        for (; m + px <= m1; m += px)
            f(c_in, c_out, cout_pad, in, wt, bias, out, res, ep, m, co0, 0);
        if (m < m1 && m1 - m0 >= px)
            f(c_in, c_out, cout_pad, in, wt, bias, out, res, ep, m1 - px, co0, m - (m1 - px));
        else
            for (; m < m1; m++)
                CS_PW_CALL(_px1, m, 0);
        co0 += nv * VL;
    }
#undef CS_PW_CALL
}

/* Dense (any c_in): PX pixels of a row from ox0 times NV vectors of output
 * channels, summed in (ky, kx, ci) order. CHECK: taps outside the image are
 * skipped (border pixels, PX = 1); otherwise every column is inside. */
static inline __attribute__((always_inline)) void cs_dense(const mfr_conv_params *p, int oy, int ox0, int cout_pad,
                                                           const float *img, const float *wt, const float *bias,
                                                           float *orow, const float *rrow, const mfr_epilogue *ep,
                                                           int co0, int skip, const int NV, const int PX,
                                                           const int CHECK)
{
    const int C = p->c_in, W = p->w;
    const ptrdiff_t xstep = (ptrdiff_t)p->stride_w * C;
    V acc[32];
#pragma GCC unroll 32
    for (int i = 0; i < PX * NV; i++)
        acc[i] = vzero();
    for (int ky = 0; ky < p->kh; ky++) {
        int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        if (iy < 0 || iy >= p->h)
            continue;
        for (int kx = 0; kx < p->kw; kx++) {
            int ix = ox0 * p->stride_w - p->pad_left + kx * p->dil_w;
            if (CHECK && (ix < 0 || ix >= W))
                continue;
            const float *sp = img + ((ptrdiff_t)iy * W + ix) * C;
            const float *w = wt + (ptrdiff_t)(ky * p->kw + kx) * C * cout_pad + co0;
            for (int ci = 0; ci < C; ci++) {
                V wv[4];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    wv[v] = vload(mask_for(VL), w + (ptrdiff_t)ci * cout_pad + v * VL);
#pragma GCC unroll 32
                for (int x = 0; x < PX; x++) {
                    V xv = vset1(sp[x * xstep + ci]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[x * NV + v] = vfma(xv, wv[v], acc[x * NV + v]);
                }
            }
        }
    }
    cs_store(acc, ox0, skip, PX, orow, rrow, bias, ep, co0, p->c_out, NV, PX);
}

#define CS_DENSE_FN(NAME, NV, PX, CHECK)                                                                   \
    static __attribute__((noinline)) void NAME(const mfr_conv_params *p, int oy, int ox0, int cout_pad,    \
                                               const float *img, const float *wt, const float *bias,       \
                                               float *orow, const float *rrow, const mfr_epilogue *ep,     \
                                               int co0, int skip)                                          \
    {                                                                                                      \
        cs_dense(p, oy, ox0, cout_pad, img, wt, bias, orow, rrow, ep, co0, skip, NV, PX, CHECK);           \
    }
CS_DENSE_FN(cs_dense1, 1, CS_STEM_ACC, 0)
CS_DENSE_FN(cs_dense2, 2, CS_STEM_ACC / 2, 0)
CS_DENSE_FN(cs_dense4, 4, CS_STEM_ACC / 4, 0)
CS_DENSE_FN(cs_dense1_px1, 1, 1, 1)
CS_DENSE_FN(cs_dense2_px1, 2, 1, 1)
CS_DENSE_FN(cs_dense4_px1, 4, 1, 1)
#undef CS_DENSE_FN

/* A dense row: per group of NV vectors of output channels, the interior
 * pixels in blocks (the last moved back to end at the last interior pixel,
 * storing only its new pixels), the border pixels one at a time. */
static void cs_dense_row(const mfr_conv_params *p, int oy, int ow, int cout_pad, const float *img, const float *wt,
                         const float *bias, float *orow, const float *rrow, const mfr_epilogue *ep)
{
    const int sw = p->stride_w, reach = (p->kw - 1) * p->dil_w;
    const int lo = (p->pad_left + sw - 1) / sw;
    int hi = p->w - 1 - reach + p->pad_left < 0 ? 0 : (p->w - 1 - reach + p->pad_left) / sw + 1;
    if (hi > ow)
        hi = ow;
#define CS_DENSE_CALL(SUFFIX, OX, SKIP)                                                                    \
    do {                                                                                                   \
        if (nv == 4)                                                                                       \
            cs_dense4##SUFFIX(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);              \
        else if (nv == 2)                                                                                  \
            cs_dense2##SUFFIX(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);              \
        else                                                                                               \
            cs_dense1##SUFFIX(p, oy, OX, cout_pad, img, wt, bias, orow, rrow, ep, co0, SKIP);              \
    } while (0)
    for (int co0 = 0; co0 < p->c_out;) {
        int nv = (p->c_out - co0 + VL - 1) / VL;
        nv = nv >= 4 ? 4 : nv >= 2 ? 2 : 1;
        const int px = CS_STEM_ACC / nv;
        int ox = 0;
        if (hi - lo >= px) {
            for (; ox < lo; ox++)
                CS_DENSE_CALL(_px1, ox, 0);
            for (; ox + px <= hi; ox += px)
                CS_DENSE_CALL(, ox, 0);
            if (ox < hi)
                CS_DENSE_CALL(, hi - px, ox - (hi - px));
            ox = hi;
        }
        for (; ox < ow; ox++)
            CS_DENSE_CALL(_px1, ox, 0);
        co0 += nv * VL;
    }
#undef CS_DENSE_CALL
}

void CS_FN(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
           const float *bias, float *out, const mfr_epilogue *ep, int row)
{
    if (p->c_in > CONV_SMALL_MAX_CIN) {
        const int nimg_ = row / oh;
        cs_dense_row(p, row % oh, ow, cout_pad, in + (ptrdiff_t)nimg_ * p->h * p->w * p->c_in, wt, bias,
                     out + (ptrdiff_t)row * ow * p->c_out,
                     ep && ep->residual ? ep->residual + (ptrdiff_t)row * ow * p->c_out : NULL, ep);
        return;
    }
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
