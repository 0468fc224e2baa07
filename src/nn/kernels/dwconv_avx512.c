/* Depthwise convolution with AVX-512: 16 channels per vector (the loop is in
 * dwconv_simd.h). The only difference from dwconv_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "dwconv.h"
#include "vec_avx512.h"

#define DW_FN dwconv_rows_avx512

#include "dwconv_simd.h"

/* The weight gradient (training), on the same vector definitions. */
#define DWW_FN dwconv_bwd_weights_avx512
#include "dwconv_bwd_simd.h"
