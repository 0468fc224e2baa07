/* Depthwise convolution with AVX-512: 16 channels per vector (the loop is in
 * dwconv_simd.h). The only difference from dwconv_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "dwconv.h"
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
#define DW_FN dwconv_rows_avx512

#include "dwconv_simd.h"

/* The weight gradient (training), on the same vector definitions. */
#define DWW_FN dwconv_bwd_weights_avx512
#include "dwconv_bwd_simd.h"
