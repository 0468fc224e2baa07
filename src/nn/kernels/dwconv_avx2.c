/* Depthwise convolution with AVX2+FMA: 8 channels per vector (the loop is in
 * dwconv_simd.h). The only difference from dwconv_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "dwconv.h"
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
#define DW_FN dwconv_rows_avx2

#include "dwconv_simd.h"

/* The weight gradient (training), on the same vector definitions. */
#define DWW_FN dwconv_bwd_weights_avx2
#include "dwconv_bwd_simd.h"
