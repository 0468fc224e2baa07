/* Direct small-c_in convolution with AVX-512: 16 output channels per vector (the loop is in
 * convsmall_simd.h). The only difference from convsmall_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "convsmall.h"
#include "vec_avx512.h"

#define CS_FN convsmall_row_avx512
#define CS_PW_FN convsmall_pw_avx512
#define CS_STEM_ACC 24 /* stem accumulators: 24 of the 32 registers */

#include "convsmall_simd.h"
