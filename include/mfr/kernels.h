/*
 * mfr/kernels.h - the compute kernels of the mfr runtime (src/nn/kernels).
 *
 *     // C = A * B for row-major matrices, BLAS conventions:
 *     mfr_sgemm('N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
 *
 *     // A 3x3 convolution on NHWC input with weights prepacked once:
 *     mfr_conv_params p = {.n = 1, .h = 112, .w = 112, .c_in = 3, .c_out = 64,
 *                          .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
 *                          .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
 *                          .dil_h = 1, .dil_w = 1, .groups = 1};
 *     mfr_conv_plan *plan;
 *     mfr_conv_plan_create(&p, weights, bias, &plan);    // weights: OHWI
 *     mfr_epilogue ep = {.act = MFR_ACT_RELU};
 *     mfr_conv_run(plan, input, output, &ep);            // output: N x OH x OW x c_out
 *     mfr_conv_plan_free(plan);
 *
 * Every optimised kernel has a scalar reference here too (the *_reference
 * functions); the tests hold them equal. Which instruction set runs is chosen
 * at run time (mfr_isa_best(), capped by MFR_ISA=scalar|avx2|avx512).
 * Work is split over threads by blocks of M and N, never K, so results are
 * bit-identical at any thread count (mfr_threads()).
 */
#ifndef MFR_KERNELS_H
#define MFR_KERNELS_H

#include <stddef.h>
#include "mfr/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ activations */

typedef enum mfr_act {
    MFR_ACT_NONE = 0,
    MFR_ACT_RELU,
    MFR_ACT_RELU6,
    MFR_ACT_LEAKY,     /* x < 0 ? slope * x : x, slope = act_param */
    MFR_ACT_PRELU,     /* per-channel slopes in `prelu` */
    MFR_ACT_SIGMOID,
    MFR_ACT_TANH,
    MFR_ACT_HSWISH,    /* x * relu6(x + 3) / 6 */
} mfr_act;

/* What a kernel does to each output value v before storing it:
 *   v = alpha * (A B) + beta * C_old      (GEMM; convolutions: the sum)
 *   v += bias[channel]                    (if bias)
 *   v += residual[same position]          (if residual)
 *   v = act(v)
 * For GEMM, "channel" is the column (bias_per_row = 0) or the row
 * (bias_per_row = 1). For convolutions it is the output channel. */
typedef struct mfr_epilogue {
    const float *bias;
    int bias_per_row;
    const float *residual;
    int ldr;              /* GEMM: leading dimension of residual; conv: unused (dense NHWC) */
    mfr_act act;
    float act_param;
    const float *prelu;   /* slopes, one per channel */
} mfr_epilogue;

/* Applies an activation to n values in place (the scalar definition every
 * fused epilogue must match). channel0/channels give the per-channel index
 * for PReLU: value i belongs to channel (channel0 + i) % channels. */
void mfr_act_apply(float *x, size_t n, mfr_act act, float param, const float *prelu, int channel0, int channels);
float mfr_act_scalar(float x, mfr_act act, float param, float prelu_slope);
/* d act / dx at x (training); for ReLU-like kinks the derivative at 0 is 0
 * (1 for leaky ReLU and PReLU). */
float mfr_act_derivative_scalar(float x, mfr_act act, float param, float prelu_slope);

/* ------------------------------------------------------------------- GEMM */

/* C = alpha * op(A) op(B) + beta * C, row-major, op = 'N' or 'T'.
 * op(A) is m x k, op(B) is k x n, C is m x n. When beta == 0, C is not read. */
void mfr_sgemm(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);
/* The same with a fused epilogue (ep may be NULL). */
void mfr_sgemm_ex(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep);
/* Plain triple loop: the reference the tests hold the fast paths to. */
void mfr_sgemm_reference(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep);
/* Runs a given instruction-set path (tests and benchmarks); falls back to
 * scalar when that path is not available. */
void mfr_sgemm_isa(mfr_isa isa, char transa, char transb, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep);

/* B prepacked once (weights) for repeated products C = A B (+ epilogue). */
typedef struct mfr_packed_b mfr_packed_b;
int mfr_gemm_pack_b(char transb, int k, int n, const float *b, int ldb, mfr_packed_b **out);
void mfr_gemm_packed_free(mfr_packed_b *pb);
void mfr_sgemm_packed(int m, const float *a, int lda, const mfr_packed_b *pb, float *c, int ldc,
                      const mfr_epilogue *ep);

/* The blocking the GEMM uses on this machine (for docs, info and benchmarks). */
typedef struct mfr_gemm_blocking {
    mfr_isa isa;
    int mr, nr, mc, kc, nc;
} mfr_gemm_blocking;
mfr_gemm_blocking mfr_gemm_get_blocking(void);

/* ------------------------------------------------------------ convolution */

/* Activations are NHWC; weights are OHWI: [c_out][kh][kw][c_in / groups]. */
typedef struct mfr_conv_params {
    int n, h, w, c_in;
    int c_out, kh, kw;
    int stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int dil_h, dil_w;
    int groups;           /* depthwise: groups == c_in == c_out */
} mfr_conv_params;

/* Output height and width; MFR_ERR_ARG (with a message) for impossible shapes. */
int mfr_conv_output_size(const mfr_conv_params *p, int *oh, int *ow);

typedef struct mfr_conv_plan mfr_conv_plan;
/* Validates p, copies/prepacks weights and bias (bias may be NULL). */
int mfr_conv_plan_create(const mfr_conv_params *p, const float *weights, const float *bias, mfr_conv_plan **out);
void mfr_conv_plan_free(mfr_conv_plan *plan);
/* out = epilogue(conv(in)); the plan's bias is added first; ep->bias is ignored. */
void mfr_conv_run(const mfr_conv_plan *plan, const float *in, float *out, const mfr_epilogue *ep);
/* Direct nested loops over every output and tap: the reference. */
void mfr_conv_reference(const mfr_conv_params *p, const float *in, const float *weights, const float *bias,
                        float *out, const mfr_epilogue *ep);

/* ------------------------------------------------ gradients (training) */

/* For a dense convolution p (groups == 1), given the gradient dout
 * (N x OH x OW x c_out) of its output (before bias): dweights (OHWI) += the
 * weight gradient and din (NHWC) += the input gradient; either may be NULL.
 * Both go through the GEMM on im2col patches, a bounded number of images
 * at a time (the same chunks at any thread count). */
int mfr_conv_backward(const mfr_conv_params *p, const float *in, const float *dout, const float *weights,
                      float *din, float *dweights);


/* For a depthwise convolution p (groups == c_in == c_out), given the
 * gradient dout (N x OH x OW x C) of its output (before bias):
 * dweights (OHWI, [C][kh][kw]) += the weight gradient for input in. Each
 * weight sums over (image, oy, ox) in that order, at any thread count. */
int mfr_dwconv_backward_weights(const mfr_conv_params *p, const float *in, const float *dout, float *dweights);
/* The same on a given instruction-set path (tests, benchmarks). */
int mfr_dwconv_backward_weights_isa(mfr_isa isa, const mfr_conv_params *p, const float *in, const float *dout,
                                    float *dweights);
/* din (N x H x W x C) += the input gradient: the depthwise convolution of
 * dout (zeros stuffed between its pixels for strides above 1) with the
 * kernel flipped in both directions, run on the forward kernels. */
int mfr_dwconv_backward_data(const mfr_conv_params *p, const float *dout, const float *weights, float *din);
/* The same with accumulate = 0: din = the input gradient (overwritten, no
 * read; saves a temporary buffer and a pass). */
int mfr_dwconv_backward_data_ex(const mfr_conv_params *p, const float *dout, const float *weights, float *din,
                                int accumulate);

#ifdef __cplusplus
}
#endif
#endif /* MFR_KERNELS_H */
