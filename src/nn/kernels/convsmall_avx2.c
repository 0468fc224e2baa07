/* Direct small-c_in convolution with AVX2+FMA: 8 output channels per vector (the loop is in
 * convsmall_simd.h). The only difference from convsmall_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "convsmall.h"
#include "simd_act.h"

#define V __m256
#define VL 8
#define MASK __m256i
#define mask_for(n) tail_mask_avx2(n)
#define vload(m, p) _mm256_maskload_ps((p), (m))
#define vstore(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define vzero() _mm256_setzero_ps()
#define vset1(x) _mm256_set1_ps(x)
#define vfma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm256_add_ps((a), (b))
#define vact(v, act, slope) act_avx2((v), (act), (slope))
#define CS_FN convsmall_row_avx2
#define CS_STEM_ACC 12 /* stem accumulators: 12 of the 16 registers */

#include "convsmall_simd.h"
