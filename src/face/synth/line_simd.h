/* The pixels of one row of synth_line3 as inline C, compiled twice: in
 * raster.c for the baseline and in line_avx2.c with -mavx2, where the
 * compiler runs the `omp simd` loop eight pixels at a time. The arithmetic
 * of synth_line3_ref term for term (no contraction); a pixel the line does
 * not reach gets its own colour back (a select by bit masks, so that the
 * loop has no branch): the same bits (a test). Not installed. */
#ifndef MFR_SYNTH_LINE_SIMD_H
#define MFR_SYNTH_LINE_SIMD_H

#include "mesh_simd.h" /* sel_bits */

/* The line's parameters (synth_line3): end a (ax, ay, az), direction (dx,
 * dy), bz - az, 1 / length^2, half width r, thin * alpha in two factors. */
typedef struct line_par {
    float ax, ay, az, dx, dy, dz, den, r, thin, alpha, rgb[3];
} line_par;

/* clampf(x, lo, hi) by bit-mask selects */
static inline float clamp_bits(float x, float lo, float hi) { return sel_bits(x < lo, lo, sel_bits(x > hi, hi, x)); }

static inline void line_row(float *restrict rgb, const float *restrict depth, int x0, int x1, float py,
                            const line_par *L)
{
    const float ax = L->ax, ay = L->ay, az = L->az, dx = L->dx, dy = L->dy, dz = L->dz, den = L->den, r = L->r;
    const float thin = L->thin, alpha = L->alpha, c0 = L->rgb[0], c1 = L->rgb[1], c2 = L->rgb[2];
#pragma omp simd
    for (int x = x0; x <= x1; x++) {
        const float px = (float)x + 0.5f;
        const float t = clamp_bits(((px - ax) * dx + (py - ay) * dy) * den, 0.0f, 1.0f);
        const float qx = ax + t * dx - px, qy = ay + t * dy - py;
        const float dist = sqrtf(qx * qx + qy * qy);
        const float cov = clamp_bits(r + 0.5f - dist, 0.0f, 1.0f) * thin * alpha;
        const float z = az + t * dz;
        const int on = !(cov <= 0.0f) & !(z > depth[x] + 0.03f + 0.003f * z);
        float *p = rgb + 3 * x;
        const float o0 = p[0], o1 = p[1], o2 = p[2];
        p[0] = sel_bits(on, o0 + (c0 - o0) * cov, o0);
        p[1] = sel_bits(on, o1 + (c1 - o1) * cov, o1);
        p[2] = sel_bits(on, o2 + (c2 - o2) * cov, o2);
    }
}

#endif
