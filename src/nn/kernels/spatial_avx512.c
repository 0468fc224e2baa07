/* Spatial passes with AVX-512: 16 channels per vector (the loops are in
 * spatial_simd.h). */
#include "config.h"
#include "spatial.h"
#include "vec_avx512.h"

#include <math.h>

#define vmul(a, b) _mm512_mul_ps((a), (b))
#define vsub(a, b) _mm512_sub_ps((a), (b))
#define vsel_gt(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ), (y), (x))
#define vloadu(p) _mm512_loadu_ps(p)
#define vstoreu(p, v) _mm512_storeu_ps((p), (v))
#define SP_NAME(x) spatial_avx512_##x
#include "spatial_simd.h"
