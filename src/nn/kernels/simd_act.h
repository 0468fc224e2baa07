/* Vector forms of the activations, for files compiled with AVX2 or AVX-512
 * flags. Each follows the scalar definition in act.c operation by operation
 * (max/min return the second operand for NaN, as the scalar comparisons do).
 * SIGMOID and TANH are not vectorised: callers store, then apply
 * mfr_act_scalar, so every path shares one definition of them. */
#ifndef MFR_SIMD_ACT_H
#define MFR_SIMD_ACT_H

#include <immintrin.h>
#include "mfr/kernels.h"

static inline int act_is_scalar_only(mfr_act act)
{
    return act == MFR_ACT_SIGMOID || act == MFR_ACT_TANH;
}

#ifdef __AVX512F__
static inline __attribute__((always_inline)) __m512 act_avx512(__m512 v, mfr_act act, __m512 slope)
{
    const __m512 zero = _mm512_setzero_ps();
    switch (act) {
    case MFR_ACT_RELU:
        return _mm512_max_ps(v, zero);
    case MFR_ACT_RELU6:
        return _mm512_min_ps(_mm512_max_ps(v, zero), _mm512_set1_ps(6.0f));
    case MFR_ACT_LEAKY:
    case MFR_ACT_PRELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, slope);
    case MFR_ACT_HSWISH: {
        __m512 r = _mm512_add_ps(v, _mm512_set1_ps(3.0f));
        r = _mm512_min_ps(_mm512_max_ps(r, zero), _mm512_set1_ps(6.0f));
        return _mm512_div_ps(_mm512_mul_ps(v, r), _mm512_set1_ps(6.0f));
    }
    default:
        return v;
    }
}
#endif

#ifdef __AVX2__
static inline __attribute__((always_inline)) __m256 act_avx2(__m256 v, mfr_act act, __m256 slope)
{
    const __m256 zero = _mm256_setzero_ps();
    switch (act) {
    case MFR_ACT_RELU:
        return _mm256_max_ps(v, zero);
    case MFR_ACT_RELU6:
        return _mm256_min_ps(_mm256_max_ps(v, zero), _mm256_set1_ps(6.0f));
    case MFR_ACT_LEAKY:
    case MFR_ACT_PRELU:
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    case MFR_ACT_HSWISH: {
        __m256 r = _mm256_add_ps(v, _mm256_set1_ps(3.0f));
        r = _mm256_min_ps(_mm256_max_ps(r, zero), _mm256_set1_ps(6.0f));
        return _mm256_div_ps(_mm256_mul_ps(v, r), _mm256_set1_ps(6.0f));
    }
    default:
        return v;
    }
}

/* Lanes [0, n) set. */
static inline __m256i tail_mask_avx2(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#ifdef __AVX512F__
static inline __mmask16 tail_mask_avx512(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}
#endif

#endif
