/* The float-vector vocabulary of the AVX-512 kernels (16 lanes), shared by
 * the files that include a kernel body written once for both widths
 * (dwconv_simd.h, convsmall_simd.h, chanpass_simd.h): V, VL, MASK,
 * mask_for(n), vload(m, p), vstore(p, m, v), vzero(), vset1(x),
 * vfma(a, b, c), vadd(a, b), vact(v, act, slope). Include only from a file
 * compiled with the AVX-512 flags. */
#ifndef MFR_VEC_AVX512_H
#define MFR_VEC_AVX512_H

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

#endif
