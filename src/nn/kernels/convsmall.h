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
/* groups == 1 layers with kh * kw * c_in up to this (3x3 over up to 64
 * channels) also go direct: per row, blocks of pixels times vectors of
 * output channels, summed in (ky, kx, ci) order, the border pixels one at a
 * time with their outside taps skipped. Measured faster than the implicit
 * GEMM (which packs every patch) on 56x56x64 (0.68x -> 0.93x of oneDNN);
 * on 28x28x128 level at one thread and slower at two (0.72x - 0.74x against
 * 0.79x - 0.80x), so 128 channels stay on the GEMM. */
#define CONV_DENSE_MAX_K 576

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

/* Pointwise (1x1, stride 1, no padding, groups 1) with few input channels
 * (c_in <= CONV_PW_MAX_CIN): out[m][co] = sum over ci, in order, of
 * in[m][ci] * wt[ci][co] for pixels [m0, m1) of the flat N*H*W range, then
 * bias, residual and activation. A GEMM would spend most of its time
 * packing an input this thin; here it is read in place, each value
 * broadcast once against the vectors of output channels. Weights as above
 * ([c_in][cout_pad], one tap). */
#define CONV_PW_MAX_CIN 256
typedef void (*convsmall_pw_fn)(int c_in, int c_out, int cout_pad, const float *in, const float *wt,
                                const float *bias, float *out, const mfr_epilogue *ep, int m0, int m1);
void convsmall_pw_scalar(int c_in, int c_out, int cout_pad, const float *in, const float *wt, const float *bias,
                         float *out, const mfr_epilogue *ep, int m0, int m1);
#ifdef MFR_HAVE_AVX512
void convsmall_pw_avx512(int c_in, int c_out, int cout_pad, const float *in, const float *wt, const float *bias,
                         float *out, const mfr_epilogue *ep, int m0, int m1);
#endif
#ifdef MFR_HAVE_AVX2
void convsmall_pw_avx2(int c_in, int c_out, int cout_pad, const float *in, const float *wt, const float *bias,
                       float *out, const mfr_epilogue *ep, int m0, int m1);
#endif

#endif
