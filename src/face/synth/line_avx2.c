/* A row of synth_line3 compiled with -mavx2 (eight pixels per instruction;
 * see line_simd.h). Called by synth_line3 where mfr_isa_best() allows. */
#include "config.h"
#include "line_simd.h"

void synth_line_row_avx2(float *rgb, const float *depth, int x0, int x1, float py, const struct line_par *L)
{
    line_row(rgb, depth, x0, x1, py, L);
}
