/* Depthwise convolution (groups == c_in == c_out), computed directly with
 * channels innermost so that each tap is a vector multiply-add over C. */
#ifndef MFR_DWCONV_H
#define MFR_DWCONV_H

#include "mfr/kernels.h"

/* Output columns [*lo, *hi) of a row whose every tap (kw taps, stride sw,
 * dilation dw) lies inside the image: the kernels' unchecked interior. */
static inline void dw_interior_cols(const mfr_conv_params *p, int ow, int kw, int sw, int dw, int *lo, int *hi)
{
    int lim = p->w - 1 - (kw - 1) * dw + p->pad_left;
    *lo = (p->pad_left + sw - 1) / sw;
    *hi = lim < 0 ? 0 : lim / sw + 1;
    if (*hi > ow)
        *hi = ow;
    if (*lo > *hi)
        *lo = *hi;
}

/* Weights here are tap-major: wt[(ky * kw + kx) * C + c] (repacked from OHWI).
 * Computes output rows [row0, row1) of the flattened (n, oy) range. Each
 * channel sums its taps in (ky, kx) order, then adds bias, residual and applies
 * the activation: the same order as mfr_conv_reference. */
typedef void (*dwconv_rows_fn)(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                               const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1);

void dwconv_rows_scalar(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1);
#ifdef MFR_HAVE_AVX512
/* Any kernel size, stride and dilation; 3x3 and 5x5 have unrolled interiors. */
void dwconv_rows_avx512(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1);
#endif
#ifdef MFR_HAVE_AVX2
void dwconv_rows_avx2(const mfr_conv_params *p, int oh, int ow, const float *in, const float *wt,
                      const float *bias, float *out, const mfr_epilogue *ep, int row0, int row1);
#endif


/* Training. Weight gradient for channels [c0, c1) into tap-major dwt
 * (dwt[(ky * kw + kx) * C + c] += ...): each value sums over (image, oy, ox)
 * in that order, in every version, so the channel split between threads
 * does not change a bit. c0 is a multiple of 16. */
typedef void (*dwconv_bwd_weights_fn)(const mfr_conv_params *p, int oh, int ow, const float *in,
                                      const float *dout, float *dwt, int c0, int c1);
void dwconv_bwd_weights_scalar(const mfr_conv_params *p, int oh, int ow, const float *in, const float *dout,
                               float *dwt, int c0, int c1);
#ifdef MFR_HAVE_AVX512
void dwconv_bwd_weights_avx512(const mfr_conv_params *p, int oh, int ow, const float *in, const float *dout,
                               float *dwt, int c0, int c1);
#endif
#ifdef MFR_HAVE_AVX2
void dwconv_bwd_weights_avx2(const mfr_conv_params *p, int oh, int ow, const float *in, const float *dout,
                             float *dwt, int c0, int c1);
#endif
/* Input gradient by gathering, for input rows [row0, row1) of the flattened
 * (n, iy) range: din += every tap that reads a pixel, in (ky, kx) order
 * (tap-major weights). The fallback for shapes the flipped-kernel
 * convolution cannot express. */
void dwconv_bwd_data_scalar(const mfr_conv_params *p, int oh, int ow, const float *dout, const float *wt,
                            float *din, int row0, int row1);

#endif
