/* The float-vector vocabulary of the AVX2 kernels (8 lanes), shared by the
 * files that include a kernel body written once for both widths
 * (dwconv_simd.h, convsmall_simd.h, chanpass_simd.h): V, VL, MASK,
 * mask_for(n), vload(m, p), vstore(p, m, v), vzero(), vset1(x),
 * vfma(a, b, c), vadd(a, b), vact(v, act, slope). Include only from a file
 * compiled with the AVX2 flags. */
#ifndef MFR_VEC_AVX2_H
#define MFR_VEC_AVX2_H

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

#endif
