/* Per-channel passes: the scalar reference (each fused multiply-add spelled
 * fma/fmaf, as the vector versions compute it) and the dispatch. */
#include "config.h"
#include "chanpass.h"

#include <math.h>

void chanpass_sums_scalar(int what, const float *x, const float *dz, size_t rows, int c, const double *m,
                          double *part)
{
    double *p2 = part + c;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)c;
        const float *dr = dz ? dz + r * (size_t)c : NULL;
        for (int i = 0; i < c; i++) {
            if (what == CHANPASS_SUM) {
                part[i] += (double)xr[i];
            } else if (what == CHANPASS_SQDEV) {
                double d = (double)xr[i] - m[i];
                part[i] = fma(d, d, part[i]);
            } else if (what == CHANPASS_SUM_SQ) {
                double d = (double)xr[i] - m[i];
                part[i] += d;
                p2[i] = fma(d, d, p2[i]);
            } else {
                part[i] += (double)dr[i];
                p2[i] = fma((double)dr[i], (double)xr[i] - m[i], p2[i]);
            }
        }
    }
}

void chanpass_scale_shift_act_scalar(const float *in, float *out, size_t rows, int c, const float *scale,
                                     const float *shift, mfr_act act, float param, const float *prelu)
{
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) {
            size_t o = r * (size_t)c + (size_t)i;
            float z = fmaf(in[o], scale[i], shift[i]);
            out[o] = mfr_act_scalar(z, act, param, act == MFR_ACT_PRELU && prelu ? prelu[i] : 0.0f);
        }
}

void chanpass_act_backward_scalar(const float *u, const float *dy, float *dz, size_t rows, int c,
                                  const float *scale, const float *shift, mfr_act act, float param)
{
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) {
            size_t o = r * (size_t)c + (size_t)i;
            float z = fmaf(u[o], scale[i], shift[i]);
            dz[o] = dy[o] * mfr_act_derivative_scalar(z, act, param, 0.0f);
        }
}

void chanpass_bn_apply_scalar(const float *u, float *dz, size_t rows, int c, const float *m, const float *k1,
                              const float *k2, const float *k3)
{
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) {
            size_t o = r * (size_t)c + (size_t)i;
            dz[o] = fmaf(k1[i], dz[o], fmaf(k2[i], u[o] - m[i], k3[i]));
        }
}

/* d = dy * act'(z) for one value of channel i */
static float bnact_d(const chanpass_bnact *b, float u, float dy, int i, float *z)
{
    *z = fmaf(u, b->scale[i], b->shift[i]);
    return dy * mfr_act_derivative_scalar(*z, b->act, b->param, b->prelu ? b->prelu[i] : 0.0f);
}

void chanpass_bnact_sums_scalar(const float *u, const float *dy, size_t rows, int c, const chanpass_bnact *b,
                                const double *m, int slope_sum, double *part)
{
    double *p2 = part + c, *p3 = part + 2 * (size_t)c;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) {
            size_t o = r * (size_t)c + (size_t)i;
            float z, d = bnact_d(b, u[o], dy[o], i, &z);
            part[i] += (double)d;
            p2[i] = fma((double)d, (double)u[o] - m[i], p2[i]);
            if (slope_sum)
                p3[i] = fma((double)dy[o], (double)(z < 0.0f ? z : 0.0f), p3[i]);
        }
}

void chanpass_bnact_apply_scalar(const float *u, const float *dy, float *dz, size_t rows, int c,
                                 const chanpass_bnact *b, const float *m, const float *k1, const float *k2,
                                 const float *k3)
{
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) {
            size_t o = r * (size_t)c + (size_t)i;
            float z, d = bnact_d(b, u[o], dy[o], i, &z);
            dz[o] = fmaf(k1[i], d, fmaf(k2[i], u[o] - m[i], k3[i]));
        }
}

static const chanpass_ops chanpass_scalar = {chanpass_sums_scalar,        chanpass_scale_shift_act_scalar,
                                             chanpass_act_backward_scalar, chanpass_bn_apply_scalar,
                                             chanpass_bnact_sums_scalar,   chanpass_bnact_apply_scalar};

const chanpass_ops *chanpass_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return &chanpass_avx512_ops;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return &chanpass_avx2_ops;
#endif
    (void)isa;
    return &chanpass_scalar;
}
