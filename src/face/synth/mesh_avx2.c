/* The meshes' vertex loops compiled with -mavx2 (eight vertices per
 * instruction; see mesh_simd.h). Called through synth_mesh_grid_normals,
 * synth_mesh_transform and synth_mesh_project where mfr_isa_best() allows. */
#include "config.h"
#include "mesh_simd.h"

void synth_mesh_grid_normals_avx2(synth_mesh *m, int nu, int nv, int wrap, int flip)
{
    grid_normals_all(m->pos, m->nrm, nu, nv, wrap, flip);
}

void synth_mesh_transform_avx2(synth_mesh *m, const m3 *r, v3 pivot, v3 offset)
{
    mesh_transform_loop(m->pos, m->nrm, m->nv, r, pivot, offset);
}

void synth_mesh_project_avx2(synth_mesh *m, const synth_camera *cam)
{
    mesh_project_loop(m->pos, m->scr, m->nv, cam->f, cam->cx, cam->cy);
}
