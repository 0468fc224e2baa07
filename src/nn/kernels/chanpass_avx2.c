/* Per-channel passes with AVX2 and FMA: 8 floats or 4 doubles per vector
 * (the loops are in chanpass_simd.h). */
#include "config.h"
#include "chanpass.h"
#include "vec_avx2.h"

#define vmul(a, b) _mm256_mul_ps((a), (b))
#define vsub(a, b) _mm256_sub_ps((a), (b))
#define vdiv(a, b) _mm256_div_ps((a), (b))
#define vsel_lt(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_LT_OQ))
#define vsel_gt(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_GT_OQ))

/* A double-vector mask as the two loads need it: 32-bit lanes for the four
 * floats, 64-bit lanes for the four doubles. */
typedef struct {
    __m128i f;
    __m256i d;
} dmask_avx2;

static inline dmask_avx2 dmask_for(int n)
{
    dmask_avx2 m;
    m.f = _mm_cmpgt_epi32(_mm_set1_epi32(n), _mm_setr_epi32(0, 1, 2, 3));
    m.d = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    return m;
}

#define VD __m256d
#define DL 4
#define DMASK dmask_avx2
#define vd_cvt(m, p) _mm256_cvtps_pd(_mm_maskload_ps((p), (m).f))
#define vd_load(m, p) _mm256_maskload_pd((p), (m).d)
#define vd_store(p, m, v) _mm256_maskstore_pd((p), (m).d, (v))
#define vd_add(a, b) _mm256_add_pd((a), (b))
#define vd_sub(a, b) _mm256_sub_pd((a), (b))
#define vd_fma(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define vd_lo(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define vd_hi(v) _mm256_cvtps_pd(_mm256_extractf128_ps((v), 1))

#define CP_NAME(x) chanpass_avx2_##x
#include "chanpass_simd.h"
