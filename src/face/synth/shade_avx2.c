/* The shading's lighting and colour passes eight pixels at a time (AVX2),
 * compiled with -mavx2 -ffp-contract=off (no fused multiply-add: the same
 * roundings as the reference). The operations of synth_light_batch_ref and
 * synth_colour_batch_ref in their order, comparisons as masks, the sRGB
 * table read by a gather: the same bits (tests). synth_shade_from calls
 * them where mfr_isa_best() allows. */
#include "config.h"
#include "synth.h"

#include <immintrin.h>

/* mask ? a : b (masks from comparisons: all ones or zero per lane) */
static inline __m256 sel8(__m256 mask, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, mask); }

static inline __m256 dot8(__m256 ax, __m256 ay, __m256 az, __m256 bx, __m256 by, __m256 bz)
{
    return _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(ax, bx), _mm256_mul_ps(ay, by)), _mm256_mul_ps(az, bz));
}

/* v3_norm: (0, 0, 1) where the length is not above 1e-12 (NaN included) */
static inline void norm8(__m256 *x, __m256 *y, __m256 *z)
{
    const __m256 l = _mm256_sqrt_ps(dot8(*x, *y, *z, *x, *y, *z));
    const __m256 ok = _mm256_cmp_ps(l, _mm256_set1_ps(1e-12f), _CMP_GT_OQ);
    const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), l);
    *x = sel8(ok, _mm256_mul_ps(*x, r), _mm256_setzero_ps());
    *y = sel8(ok, _mm256_mul_ps(*y, r), _mm256_setzero_ps());
    *z = sel8(ok, _mm256_mul_ps(*z, r), _mm256_set1_ps(1.0f));
}

/* pos0: x > 0 ? x : 0 (NaN -> 0) */
static inline __m256 pos08(__m256 x) { return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), x); }

void synth_light_batch_avx2(synth_shade_batch *b, int n, const synth_light *light)
{
    const __m256 lx = _mm256_set1_ps(light->dir.x), ly = _mm256_set1_ps(light->dir.y), lz = _mm256_set1_ps(light->dir.z);
    const __m256 amb = _mm256_set1_ps(light->ambient), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 m1 = _mm256_set1_ps(-1.0f);
    for (int i = 0; i < n; i += 8) {
        __m256 nx = _mm256_loadu_ps(b->nx + i), ny = _mm256_loadu_ps(b->ny + i), nz = _mm256_loadu_ps(b->nz + i);
        __m256 vx = _mm256_mul_ps(_mm256_loadu_ps(b->px + i), m1), vy = _mm256_mul_ps(_mm256_loadu_ps(b->py + i), m1),
               vz = _mm256_mul_ps(_mm256_loadu_ps(b->pz + i), m1);
        norm8(&nx, &ny, &nz);
        norm8(&vx, &vy, &vz);
        /* turned towards the camera: dot < 0 (false for NaN) flips */
        const __m256 flip = _mm256_cmp_ps(dot8(nx, ny, nz, vx, vy, vz), zero, _CMP_LT_OQ);
        nx = sel8(flip, _mm256_mul_ps(nx, m1), nx);
        ny = sel8(flip, _mm256_mul_ps(ny, m1), ny);
        nz = sel8(flip, _mm256_mul_ps(nz, m1), nz);
        const __m256 ndl = dot8(nx, ny, nz, lx, ly, lz);
        /* clampf(t, 0, 1): t < 0 ? 0 : t > 1 ? 1 : t */
        __m256 t = _mm256_div_ps(_mm256_add_ps(ndl, _mm256_set1_ps(0.1f)), _mm256_set1_ps(1.1f));
        t = sel8(_mm256_cmp_ps(t, zero, _CMP_LT_OQ), zero, sel8(_mm256_cmp_ps(t, one, _CMP_GT_OQ), one, t));
        _mm256_storeu_ps(b->diff + i, _mm256_mul_ps(t, _mm256_add_ps(one, _mm256_loadu_ps(b->bend + i))));
        __m256 hx = _mm256_add_ps(lx, vx), hy = _mm256_add_ps(ly, vy), hz = _mm256_add_ps(lz, vz);
        norm8(&hx, &hy, &hz);
        const __m256 sh = pos08(dot8(nx, ny, nz, hx, hy, hz));
        const __m256 s2 = _mm256_mul_ps(sh, sh), s4 = _mm256_mul_ps(s2, s2), s8 = _mm256_mul_ps(s4, s4);
        const __m256 s16 = _mm256_mul_ps(s8, s8);
        const __m256 sp = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(b->spec + i), s16), s8);
        _mm256_storeu_ps(b->sp + i, _mm256_and_ps(_mm256_cmp_ps(ndl, zero, _CMP_GT_OQ), sp));
        const __m256 ao = _mm256_add_ps(_mm256_set1_ps(0.75f),
                                        _mm256_mul_ps(_mm256_set1_ps(0.25f), pos08(dot8(nx, ny, nz, vx, vy, vz))));
        _mm256_storeu_ps(b->ka + i, _mm256_mul_ps(amb, ao));
    }
}

/* synth_to_linear of eight values: the index and the interpolation as in
 * the reference, both table entries by a gather. */
static inline __m256 to_linear8(__m256 s)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), top = _mm256_set1_ps(256.0f);
    /* s > 0 ? (s < 1 ? s * 256 : 256) : 0, NaN -> 0 */
    s = _mm256_and_ps(_mm256_cmp_ps(s, zero, _CMP_GT_OQ),
                      sel8(_mm256_cmp_ps(s, one, _CMP_LT_OQ), _mm256_mul_ps(s, top), top));
    const __m256i i = _mm256_cvttps_epi32(s);
    const __m256i k = _mm256_min_epi32(i, _mm256_set1_epi32(255));
    const __m256 a = _mm256_i32gather_ps(synth_lin_lut, k, 4);
    const __m256 b = _mm256_i32gather_ps(synth_lin_lut + 1, k, 4);
    const __m256 lin = _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), _mm256_sub_ps(s, _mm256_cvtepi32_ps(i))));
    /* i >= 256: the table's last entry */
    return sel8(_mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(255))), _mm256_set1_ps(synth_lin_lut[256]),
                lin);
}

void synth_colour_batch_avx2(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                             float (*out)[3])
{
    const __m256i by3 = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21); /* alb[l][c], l = 0..7 */
    for (int i = 0; i < n; i += 8) {
        const __m256 ka = _mm256_loadu_ps(b->ka + i), diff = _mm256_loadu_ps(b->diff + i);
        const __m256 sp = _mm256_loadu_ps(b->sp + i);
        float o[3][8];
        for (int c = 0; c < 3; c++) {
            const __m256 lc = _mm256_set1_ps(light->color[c]);
            const __m256 s = _mm256_i32gather_ps(&alb[i][c], by3, 4);
            const __m256 v = _mm256_add_ps(_mm256_mul_ps(to_linear8(s), _mm256_add_ps(ka, _mm256_mul_ps(diff, lc))),
                                           _mm256_mul_ps(sp, lc));
            _mm256_storeu_ps(o[c], v);
        }
        for (int l = 0; l < 8 && i + l < n; l++) {
            out[i + l][0] = o[0][l];
            out[i + l][1] = o[1][l];
            out[i + l][2] = o[2][l];
        }
    }
}
