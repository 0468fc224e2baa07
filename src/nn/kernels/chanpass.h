/* Per-channel passes over NHWC activations (rows x c, channels innermost):
 * the batch-norm and activation work of a training step, around every
 * convolution. Memory-bound; the vector versions exist because the baseline
 * ISA (SSE2: two doubles per vector) made the per-channel sums alone 9 % of a
 * detector training step.
 *
 * Every version computes the same bits: the scalar reference (chanpass.c)
 * spells each multiply-add as fma()/fmaf(), the vector versions use fused
 * multiply-adds in the same places, and each channel's sum runs over the rows
 * in row order in every version. Callers split rows into fixed chunks (never
 * by thread count) and merge chunk sums in chunk order (src/nn/ops.c). */
#ifndef MFR_CHANPASS_H
#define MFR_CHANPASS_H

#include "mfr/kernels.h"

#include <stddef.h>

/* What chanpass_sums adds up, per channel i, into part (c doubles per sum):
 *   CHANPASS_SUM:    part[i] += x                      (one sum)
 *   CHANPASS_SQDEV:  part[i] += (x - m[i])^2           (one sum)
 *   CHANPASS_DZ_DEV: part[i] += dz, part[c + i] += dz (x - m[i])   (two sums)
 *   CHANPASS_SUM_SQ: part[i] += x - m[i], part[c + i] += (x - m[i])^2
 *                    (two sums; m a shift near the mean: the mean and the
 *                    variance in one pass)
 * x and dz are float rows; the sums and m are double. */
enum { CHANPASS_SUM, CHANPASS_SQDEV, CHANPASS_DZ_DEV, CHANPASS_SUM_SQ };

/* The backward of z = fma(u, scale, shift), y = act(z) with batch
 * statistics, in two passes that share d = dy * act'(z) (recomputed, never
 * stored). act' is mfr_act_derivative_scalar, with prelu[i] as the slope. */
typedef struct chanpass_bnact {
    const float *scale, *shift; /* c each */
    mfr_act act;
    float param;
    const float *prelu;         /* PReLU slopes (c), or NULL */
} chanpass_bnact;

typedef struct chanpass_ops {
    /* Sums over rows [0, rows) in row order, added to part. */
    void (*sums)(int what, const float *x, const float *dz, size_t rows, int c, const double *m, double *part);
    /* out = act(fma(in, scale, shift)) per channel; in may equal out. For
     * sigmoid and tanh the activation is mfr_act_scalar (one definition). */
    void (*scale_shift_act)(const float *in, float *out, size_t rows, int c, const float *scale,
                            const float *shift, mfr_act act, float param, const float *prelu);
    /* dz = dy * act'(fma(u, scale, shift)): the input-side gradient of
     * act(batch norm(u)) before the batch-norm part; dz may equal dy. Not for
     * PReLU (its slope gradient needs z: use scale_shift_act, then the PReLU
     * pass). act' is mfr_act_derivative_scalar. */
    void (*act_backward)(const float *u, const float *dy, float *dz, size_t rows, int c, const float *scale,
                         const float *shift, mfr_act act, float param);
    /* dz = fma(k1, dz, fma(k2, u - m, k3)) per channel (the batch-norm
     * backward's last pass). */
    void (*bn_apply)(const float *u, float *dz, size_t rows, int c, const float *m, const float *k1,
                     const float *k2, const float *k3);
    /* First pass of the batch-statistics backward: part[i] += d,
     * part[c + i] += d (u - m[i]) and, when slope_sum, part[2c + i] +=
     * dy min(z, 0) (the PReLU slope's gradient). */
    void (*bnact_sums)(const float *u, const float *dy, size_t rows, int c, const chanpass_bnact *b,
                       const double *m, int slope_sum, double *part);
    /* Second pass: dz = fma(k1, d, fma(k2, u - m, k3)); dz may be dy. */
    void (*bnact_apply)(const float *u, const float *dy, float *dz, size_t rows, int c, const chanpass_bnact *b,
                        const float *m, const float *k1, const float *k2, const float *k3);
} chanpass_ops;

/* The version for an instruction set (scalar if that one is not available). */
const chanpass_ops *chanpass_for(mfr_isa isa);

void chanpass_sums_scalar(int what, const float *x, const float *dz, size_t rows, int c, const double *m,
                          double *part);
void chanpass_scale_shift_act_scalar(const float *in, float *out, size_t rows, int c, const float *scale,
                                     const float *shift, mfr_act act, float param, const float *prelu);
void chanpass_act_backward_scalar(const float *u, const float *dy, float *dz, size_t rows, int c,
                                  const float *scale, const float *shift, mfr_act act, float param);
void chanpass_bn_apply_scalar(const float *u, float *dz, size_t rows, int c, const float *m, const float *k1,
                              const float *k2, const float *k3);
void chanpass_bnact_sums_scalar(const float *u, const float *dy, size_t rows, int c, const chanpass_bnact *b,
                                const double *m, int slope_sum, double *part);
void chanpass_bnact_apply_scalar(const float *u, const float *dy, float *dz, size_t rows, int c,
                                 const chanpass_bnact *b, const float *m, const float *k1, const float *k2,
                                 const float *k3);

#ifdef MFR_HAVE_AVX512
extern const chanpass_ops chanpass_avx512_ops;
#endif
#ifdef MFR_HAVE_AVX2
extern const chanpass_ops chanpass_avx2_ops;
#endif

#endif
