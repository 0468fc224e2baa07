/* Spatial passes with AVX2: 8 channels per vector (the loops are in
 * spatial_simd.h). */
#include "config.h"
#include "spatial.h"
#include "vec_avx2.h"

#include <math.h>

#define vmul(a, b) _mm256_mul_ps((a), (b))
#define vsub(a, b) _mm256_sub_ps((a), (b))
#define vsel_gt(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_GT_OQ))
#define vloadu(p) _mm256_loadu_ps(p)
#define vstoreu(p, v) _mm256_storeu_ps((p), (v))
#define SP_NAME(x) spatial_avx2_##x
#include "spatial_simd.h"
