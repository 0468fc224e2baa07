/* Direct small-c_in convolution with AVX2+FMA: 8 output channels per vector (the loop is in
 * convsmall_simd.h). The only difference from convsmall_scalar.c is the fused
 * multiply-add. */
#include "config.h"
#include "convsmall.h"
#include "vec_avx2.h"

#define CS_FN convsmall_row_avx2
#define CS_PW_FN convsmall_pw_avx2
#define CS_STEM_ACC 12 /* stem accumulators: 12 of the 16 registers */

#include "convsmall_simd.h"
