/* The depthwise weight-gradient kernel, written once for both vector widths:
 * included by dwconv_avx512.c and dwconv_avx2.c after they define
 *   V, VL, MASK, mask_for(n), vload(m, p), vstore(p, m, v), vzero(), vfma(a, b, c), DWW_FN.
 *
 * dwt[(ky * kw + kx) * C + c] += sum over (image, oy, ox), in that order, of
 * dout[image, oy, ox, c] * in[image, iy, ix, c]: the order dwconv_bwd_weights_scalar
 * uses. Loop order: output row, then vectors of channels, then pixels; the
 * accumulators of one channel vector (one per tap) are loaded from dwt at
 * the start of a row and stored back at its end, which continues the same
 * sequential sum, while the row's inputs stay in L1 for every channel. */

/* One channel vector of one output row; KH, KW constant in the unrolled
 * instances (3x3, 5x5), at most DWW_MAX_TAPS taps. */
#define DWW_MAX_TAPS 25

static inline __attribute__((always_inline)) void dww_row(const mfr_conv_params *p, int ow, const float *img,
                                                          const float *drow, float *dwt, int iy0, int c, MASK m,
                                                          const int KH, const int KW)
{
    const int C = p->c_in, W = p->w, sw = p->stride_w, dh = p->dil_h, dw = p->dil_w;
    V acc[DWW_MAX_TAPS];
#pragma GCC unroll 25
    for (int t = 0; t < KH * KW; t++)
        acc[t] = vload(m, dwt + (ptrdiff_t)t * C + c);
    /* Interior columns: every kx inside the image. */
    int ox_lo, ox_hi;
    dw_interior_cols(p, ow, KW, sw, dw, &ox_lo, &ox_hi);
    for (int ox = 0; ox < ow; ox++) {
        const V d = vload(m, drow + (ptrdiff_t)ox * C + c);
        const int ix0 = ox * sw - p->pad_left;
        const int inside = ox >= ox_lo && ox < ox_hi;
#pragma GCC unroll 5
        for (int ky = 0; ky < KH; ky++) {
            const int iy = iy0 + ky * dh;
            if (iy < 0 || iy >= p->h)
                continue;
            const float *s = img + ((ptrdiff_t)iy * W + ix0) * C + c;
#pragma GCC unroll 5
            for (int kx = 0; kx < KW; kx++) {
                if (!inside && (ix0 + kx * dw < 0 || ix0 + kx * dw >= W))
                    continue;
                acc[ky * KW + kx] = vfma(d, vload(m, s + (ptrdiff_t)kx * dw * C), acc[ky * KW + kx]);
            }
        }
    }
#pragma GCC unroll 25
    for (int t = 0; t < KH * KW; t++)
        vstore(dwt + (ptrdiff_t)t * C + c, m, acc[t]);
}

/* Any kernel size: one tap at a time, its accumulator in memory (the 7x7
 * global depthwise convolution of a face embedder has one output pixel). */
static void dww_row_any(const mfr_conv_params *p, int ow, const float *img, const float *drow, float *dwt, int iy0,
                        int c, MASK m)
{
    const int C = p->c_in, W = p->w, sw = p->stride_w;
    for (int ox = 0; ox < ow; ox++) {
        const V d = vload(m, drow + (ptrdiff_t)ox * C + c);
        const int ix0 = ox * sw - p->pad_left;
        for (int ky = 0; ky < p->kh; ky++) {
            const int iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->h)
                continue;
            for (int kx = 0; kx < p->kw; kx++) {
                const int ix = ix0 + kx * p->dil_w;
                if (ix < 0 || ix >= W)
                    continue;
                float *a = dwt + (ptrdiff_t)(ky * p->kw + kx) * C + c;
                vstore(a, m, vfma(d, vload(m, img + ((ptrdiff_t)iy * W + ix) * C + c), vload(m, a)));
            }
        }
    }
}

void DWW_FN(const mfr_conv_params *p, int oh, int ow, const float *in, const float *dout, float *dwt, int c0, int c1)
{
    const int C = p->c_in;
    for (int nimg = 0; nimg < p->n; nimg++) {
        const float *img = in + (ptrdiff_t)nimg * p->h * p->w * C;
        for (int oy = 0; oy < oh; oy++) {
            const float *drow = dout + ((ptrdiff_t)nimg * oh + oy) * ow * C;
            const int iy0 = oy * p->stride_h - p->pad_top;
            for (int c = c0; c < c1; c += VL) {
                const MASK m = mask_for(c1 - c);
                if (p->kh == 3 && p->kw == 3)
                    dww_row(p, ow, img, drow, dwt, iy0, c, m, 3, 3);
                else if (p->kh == 5 && p->kw == 5)
                    dww_row(p, ow, img, drow, dwt, iy0, c, m, 5, 5);
                else
                    dww_row_any(p, ow, img, drow, dwt, iy0, c, m);
            }
        }
    }
}
