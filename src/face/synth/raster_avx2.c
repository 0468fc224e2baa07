/* The rasteriser's triangle loop compiled with -mavx2 (two rows of a small
 * triangle's box per instruction; see raster_simd.h). Called through
 * synth_raster where mfr_isa_best() allows. */
#include "config.h"
#include "raster_simd.h"

void synth_raster_avx2(synth_frame *f, const synth_mesh *m, int mesh_index)
{
    raster_mesh(f, m, mesh_index);
}
