/* The meshes' per-vertex loops (grid normals, transform, projection) as
 * inline C, compiled twice: in raster.c for the baseline and in
 * mesh_avx2.c with -mavx2 -ffp-contract=off -fno-math-errno, where the
 * compiler runs the `omp simd` loops eight vertices at a time. Each is the
 * arithmetic of its reference in raster.c (synth_mesh_*_ref) term for term,
 * without contraction, so the same bits (a test). Not installed. */
#ifndef MFR_SYNTH_MESH_SIMD_H
#define MFR_SYNTH_MESH_SIMD_H

#include "synth.h"

#include <string.h>

/* c ? a : b, chosen by bit masks: a and b are both computed, so the
 * compiler does not move a's division under a branch (which would keep the
 * loop from being vectorised: a division may trap). */
static inline float sel_bits(int c, float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const uint32_t m = 0u - (uint32_t)(c != 0), r = (ua & m) | (ub & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* v3_norm(v3_cross(du, dv)) with the pole rule of synth_mesh_grid_normals
 * (pole_y: the normal's y at a pole), times sgn: -1 to flip it, else 1
 * (a product by 1 is exact). Every value is computed, then selected, so
 * that the compiler can run the loop without branches. */
static inline void grid_normal(float dux, float duy, float duz, float dvx, float dvy, float dvz, float pole_y, float sgn,
                               float *out)
{
    float nx = duy * dvz - duz * dvy, ny = duz * dvx - dux * dvz, nz = dux * dvy - duy * dvx;
    const int pole = nx * nx + ny * ny + nz * nz < 1e-20f;
    nx = sel_bits(pole, 0.0f, nx);
    ny = sel_bits(pole, pole_y, ny);
    nz = sel_bits(pole, 0.0f, nz);
    const float l = sqrtf(nx * nx + ny * ny + nz * nz);
    const int ok = l > 1e-12f;
    const float s = 1.0f / l;
    out[0] = sel_bits(ok, nx * s, 0.0f) * sgn;
    out[1] = sel_bits(ok, ny * s, 0.0f) * sgn;
    out[2] = sel_bits(ok, nz * s, 1.0f) * sgn;
}

/* The normals of grid row j's vertices 1 .. nu-2 (neighbours i-1 and i+1
 * in the row, the rows jd and ju above and below); the two ends, where
 * the grid wraps or clamps, are the caller's. */
static inline void grid_normals_row(const float *restrict pos, float *restrict nrm, int nu, int j, int jd, int ju,
                                    float sgn)
{
    const float *row = pos + 3 * (size_t)j * (size_t)nu;
    const float *rd = pos + 3 * (size_t)jd * (size_t)nu, *ru = pos + 3 * (size_t)ju * (size_t)nu;
    float *out = nrm + 3 * (size_t)j * (size_t)nu;
    const float pole_y = j == 0 ? -1.0f : 1.0f;
#pragma omp simd
    for (int i = 1; i < nu - 1; i++) {
        grid_normal(row[3 * i + 3] - row[3 * i - 3], row[3 * i + 4] - row[3 * i - 2], row[3 * i + 5] - row[3 * i - 1],
                    ru[3 * i] - rd[3 * i], ru[3 * i + 1] - rd[3 * i + 1], ru[3 * i + 2] - rd[3 * i + 2], pole_y, sgn,
                    out + 3 * i);
    }
}

/* The normals of a grid of nu x nv vertices (synth_mesh_grid_normals):
 * the rows' inner vertices by grid_normals_row, their two ends here. */
static inline void grid_normals_all(const float *restrict pos, float *restrict nrm, int nu, int nv, int wrap, int flip)
{
    const float sgn = flip ? -1.0f : 1.0f;
    for (int j = 0; j < nv; j++) {
        const int jd = j > 0 ? j - 1 : j, ju = j + 1 < nv ? j + 1 : j;
        grid_normals_row(pos, nrm, nu, j, jd, ju, sgn);
        for (int e = 0; e < 2; e++) {
            const int i = e ? nu - 1 : 0;
            if (e && i == 0)
                break; /* nu == 1: one vertex */
            int il = i - 1, ir = i + 1;
            if (wrap) {
                il = il < 0 ? nu - 1 : il;
                ir = ir >= nu ? 0 : ir;
            } else {
                il = il < 0 ? 0 : il;
                ir = ir >= nu ? nu - 1 : ir;
            }
            const float *a = pos + 3 * ((size_t)j * (size_t)nu + (size_t)ir), *b = pos + 3 * ((size_t)j * (size_t)nu + (size_t)il);
            const float *c = pos + 3 * ((size_t)ju * (size_t)nu + (size_t)i), *d = pos + 3 * ((size_t)jd * (size_t)nu + (size_t)i);
            grid_normal(a[0] - b[0], a[1] - b[1], a[2] - b[2], c[0] - d[0], c[1] - d[1], c[2] - d[2], j == 0 ? -1.0f : 1.0f,
                        sgn, nrm + 3 * ((size_t)j * (size_t)nu + (size_t)i));
        }
    }
}

/* pos = R (pos - pivot) + offset, nrm = R nrm for n vertices */
static inline void mesh_transform_loop(float *restrict pos, float *restrict nrm, int n, const m3 *r, v3 pivot, v3 offset)
{
    const float m0 = r->m[0], m1 = r->m[1], m2 = r->m[2], m3v = r->m[3], m4 = r->m[4], m5 = r->m[5];
    const float m6 = r->m[6], m7 = r->m[7], m8 = r->m[8];
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const float x = pos[3 * i] - pivot.x, y = pos[3 * i + 1] - pivot.y, z = pos[3 * i + 2] - pivot.z;
        pos[3 * i] = m0 * x + m1 * y + m2 * z + offset.x;
        pos[3 * i + 1] = m3v * x + m4 * y + m5 * z + offset.y;
        pos[3 * i + 2] = m6 * x + m7 * y + m8 * z + offset.z;
        const float a = nrm[3 * i], b = nrm[3 * i + 1], c = nrm[3 * i + 2];
        nrm[3 * i] = m0 * a + m1 * b + m2 * c;
        nrm[3 * i + 1] = m3v * a + m4 * b + m5 * c;
        nrm[3 * i + 2] = m6 * a + m7 * b + m8 * c;
    }
}

/* synth_project of n vertices into scr (x, y, depth, 1/depth or 0) */
static inline void mesh_project_loop(const float *restrict pos, float *restrict scr, int n, float f, float cx, float cy)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const float d = -pos[3 * i + 2];
        const int front = !(d < 1e-3f);
        scr[4 * i] = sel_bits(front, cx + f * pos[3 * i] / d, -1e9f);
        scr[4 * i + 1] = sel_bits(front, cy - f * pos[3 * i + 1] / d, -1e9f);
        scr[4 * i + 2] = d;
        scr[4 * i + 3] = sel_bits(d >= 1e-3f, 1.0f / d, 0.0f);
    }
}

#endif
