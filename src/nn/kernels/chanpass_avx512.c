/* Per-channel passes with AVX-512: 16 floats or 8 doubles per vector (the
 * loops are in chanpass_simd.h). */
#include "config.h"
#include "chanpass.h"
#include "vec_avx512.h"

#define vmul(a, b) _mm512_mul_ps((a), (b))
#define vsub(a, b) _mm512_sub_ps((a), (b))
#define vdiv(a, b) _mm512_div_ps((a), (b))
#define vsel_lt(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ), (y), (x))
#define vsel_gt(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ), (y), (x))

#define VD __m512d
#define DL 8
#define DMASK __mmask8
#define vd_cvt(m, p) _mm512_cvtps_pd(_mm256_maskz_loadu_ps((m), (p)))
#define vd_load(m, p) _mm512_maskz_loadu_pd((m), (p))
#define vd_store(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define vd_add(a, b) _mm512_add_pd((a), (b))
#define vd_sub(a, b) _mm512_sub_pd((a), (b))
#define vd_fma(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define vd_lo(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define vd_hi(v) _mm512_cvtps_pd(_mm512_extractf32x8_ps((v), 1))

static inline __mmask8 dmask_for(int n)
{
    return n >= 8 ? (__mmask8)0xff : n <= 0 ? (__mmask8)0 : (__mmask8)((1u << n) - 1);
}

#define CP_NAME(x) chanpass_avx512_##x
#include "chanpass_simd.h"
