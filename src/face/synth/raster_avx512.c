/* The rasteriser's triangle loop compiled with AVX-512 (a small triangle's
 * 4 x 4 box in one register, written by masked stores; see raster_simd.h).
 * Called through synth_raster where mfr_isa_best() allows. */
#include "config.h"
#include "raster_simd.h"

void synth_raster_avx512(synth_frame *f, const synth_mesh *m, int mesh_index)
{
    raster_mesh(f, m, mesh_index);
}
