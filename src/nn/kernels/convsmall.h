/* Direct convolution for few input channels (the first layer of a network:
 * RGB in, c_in <= CONV_SMALL_MAX_CIN, groups == 1), vectorised over output
 * channels. An implicit GEMM would spend most of its time packing patches
 * of 3 channels; here each input value is broadcast once per tap against a
 * vector of output channels. Weights are repacked to [kh][kw][c_in][c_out_pad]
 * (c_out_pad = c_out rounded up to 16, zero filled). Every output sums its
 * taps in (ky, kx, ci) order, like mfr_conv_reference. */
#ifndef MFR_CONVSMALL_H
#define MFR_CONVSMALL_H

#include "mfr/kernels.h"

#define CONV_SMALL_MAX_CIN 8

typedef void (*convsmall_rows_fn)(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in,
                                  const float *wt, const float *bias, float *out, const mfr_epilogue *ep, int row);

void convsmall_row_scalar(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
                          const float *bias, float *out, const mfr_epilogue *ep, int row);
#ifdef MFR_HAVE_AVX512
void convsmall_row_avx512(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
                          const float *bias, float *out, const mfr_epilogue *ep, int row);
#endif
#ifdef MFR_HAVE_AVX2
void convsmall_row_avx2(const mfr_conv_params *p, int oh, int ow, int cout_pad, const float *in, const float *wt,
                        const float *bias, float *out, const mfr_epilogue *ep, int row);
#endif

#endif
