/* Direct small-c_in convolution with AVX-512: 16 output channels per vector (the loop is in
 * convsmall_simd.h). The only difference from convsmall_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "convsmall.h"
#include "simd_act.h"

#define V __m512
#define VL 16
#define MASK __mmask16
#define mask_for(n) tail_mask_avx512(n)
#define vload(m, p) _mm512_maskz_loadu_ps((m), (p))
#define vstore(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define vzero() _mm512_setzero_ps()
#define vset1(x) _mm512_set1_ps(x)
#define vfma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm512_add_ps((a), (b))
#define vact(v, act, slope) act_avx512((v), (act), (slope))
#define CS_FN convsmall_row_avx512
#define CS_STEM_ACC 24 /* stem accumulators: 24 of the 32 registers */

#include "convsmall_simd.h"
