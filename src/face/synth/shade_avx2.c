/* The shading's lighting and colour passes eight pixels at a time (AVX2),
 * compiled with -mavx2 -ffp-contract=off (no fused multiply-add: the same
 * roundings as the reference). The operations of synth_light_batch_ref and
 * synth_colour_batch_ref in their order, comparisons as masks, the sRGB
 * table read by a gather, the colours (r, g, b triples) moved in and out by
 * blends and permutations: the same bits (tests). synth_shade_from calls
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

/* Eight (r, g, b) triples p[0..23] into three registers of r, g and b,
 * and back: blends pick each channel's three or two values out of each
 * group of eight floats, a permutation puts them in order. */
static inline void deinterleave3(const float *p, __m256 *x, __m256 *y, __m256 *z)
{
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8), c = _mm256_loadu_ps(p + 16);
    *x = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(a, b, 0x92), c, 0x24), _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    *y = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(a, b, 0x24), c, 0x49), _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
    *z = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(a, b, 0x49), c, 0x92), _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
}
static inline void interleave3(float *p, __m256 x, __m256 y, __m256 z)
{
    const __m256 tx = _mm256_permutevar8x32_ps(x, _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    const __m256 ty = _mm256_permutevar8x32_ps(y, _mm256_setr_epi32(5, 0, 3, 6, 1, 4, 7, 2));
    const __m256 tz = _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
    _mm256_storeu_ps(p, _mm256_blend_ps(_mm256_blend_ps(tx, ty, 0x92), tz, 0x24));
    _mm256_storeu_ps(p + 8, _mm256_blend_ps(_mm256_blend_ps(tx, ty, 0x24), tz, 0x49));
    _mm256_storeu_ps(p + 16, _mm256_blend_ps(_mm256_blend_ps(tx, ty, 0x49), tz, 0x92));
}

void synth_colour_batch_avx2(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                             float (*out)[3])
{
    const __m256 l0 = _mm256_set1_ps(light->color[0]), l1 = _mm256_set1_ps(light->color[1]);
    const __m256 l2 = _mm256_set1_ps(light->color[2]);
    for (int i = 0; i < n; i += 8) {
        const __m256 ka = _mm256_loadu_ps(b->ka + i), diff = _mm256_loadu_ps(b->diff + i);
        const __m256 sp = _mm256_loadu_ps(b->sp + i);
        __m256 s0, s1, s2;
        deinterleave3(alb[i], &s0, &s1, &s2);
        /* to_linear(alb) (ka + diff lc) + sp lc, per channel */
        const __m256 v0 = _mm256_add_ps(_mm256_mul_ps(to_linear8(s0), _mm256_add_ps(ka, _mm256_mul_ps(diff, l0))), _mm256_mul_ps(sp, l0));
        const __m256 v1 = _mm256_add_ps(_mm256_mul_ps(to_linear8(s1), _mm256_add_ps(ka, _mm256_mul_ps(diff, l1))), _mm256_mul_ps(sp, l1));
        const __m256 v2 = _mm256_add_ps(_mm256_mul_ps(to_linear8(s2), _mm256_add_ps(ka, _mm256_mul_ps(diff, l2))), _mm256_mul_ps(sp, l2));
        if (i + 8 <= n) {
            interleave3(out[i], v0, v1, v2);
            continue;
        }
        float o[24]; /* the last, partial group: its first n - i pixels */
        interleave3(o, v0, v1, v2);
        for (int l = 0; l < n - i; l++)
            out[i + l][0] = o[3 * l], out[i + l][1] = o[3 * l + 1], out[i + l][2] = o[3 * l + 2];
    }
}

/* a[3 ix + c] of the lanes' vertices ix (gathers), weighted: the
 * reference's b0 a0 + b1 a1 + b2 a2 in its order */
static inline __m256 interp8(const float *a, __m256i i0, __m256i i1, __m256i i2, __m256 b0, __m256 b1, __m256 b2)
{
    return _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(b0, _mm256_i32gather_ps(a, i0, 4)),
                                       _mm256_mul_ps(b1, _mm256_i32gather_ps(a, i1, 4))),
                         _mm256_mul_ps(b2, _mm256_i32gather_ps(a, i2, 4)));
}

/* synth_shade_interp eight pixels at a time: the triangles, vertices,
 * barycentrics and attributes read by gathers; the last n % 8 pixels by
 * the plain one. */
void synth_shade_interp_avx2(const synth_frame *f, const synth_mesh *m, const int32_t *pix, int n,
                             synth_shade_batch *b, int at, float *u, float *v)
{
    const __m256i three = _mm256_set1_epi32(3);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i k = _mm256_loadu_si256((const __m256i *)(const void *)(pix + i));
        const __m256i t3 = _mm256_mullo_epi32(_mm256_i32gather_epi32((const int *)f->tri, k, 4), three);
        const __m256i v0 = _mm256_i32gather_epi32(m->tri, t3, 4), v1 = _mm256_i32gather_epi32(m->tri + 1, t3, 4),
                      v2 = _mm256_i32gather_epi32(m->tri + 2, t3, 4);
        /* f->b[2 k] and f->b[2 k + 1]: the index k at a scale of 8 bytes */
        const __m256 b1 = _mm256_i32gather_ps(f->b, k, 8), b2 = _mm256_i32gather_ps(f->b + 1, k, 8);
        const __m256 b0 = _mm256_sub_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), b1), b2);
        const __m256i a0 = _mm256_mullo_epi32(v0, three), a1 = _mm256_mullo_epi32(v1, three),
                      a2 = _mm256_mullo_epi32(v2, three);
        const int j = at + i;
        _mm256_storeu_ps(b->nx + j, interp8(m->nrm, a0, a1, a2, b0, b1, b2));
        _mm256_storeu_ps(b->ny + j, interp8(m->nrm + 1, a0, a1, a2, b0, b1, b2));
        _mm256_storeu_ps(b->nz + j, interp8(m->nrm + 2, a0, a1, a2, b0, b1, b2));
        _mm256_storeu_ps(b->px + j, interp8(m->pos, a0, a1, a2, b0, b1, b2));
        _mm256_storeu_ps(b->py + j, interp8(m->pos + 1, a0, a1, a2, b0, b1, b2));
        _mm256_storeu_ps(b->pz + j, interp8(m->pos + 2, a0, a1, a2, b0, b1, b2));
        /* uv[2 ix] and uv[2 ix + 1]: the vertex index at a scale of 8 bytes */
        const __m256 u0 = _mm256_i32gather_ps(m->uv, v0, 8), u1 = _mm256_i32gather_ps(m->uv, v1, 8),
                     u2 = _mm256_i32gather_ps(m->uv, v2, 8);
        const __m256 w0 = _mm256_i32gather_ps(m->uv + 1, v0, 8), w1 = _mm256_i32gather_ps(m->uv + 1, v1, 8),
                     w2 = _mm256_i32gather_ps(m->uv + 1, v2, 8);
        _mm256_storeu_ps(u + j, _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(b0, u0), _mm256_mul_ps(b1, u1)), _mm256_mul_ps(b2, u2)));
        _mm256_storeu_ps(v + j, _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(b0, w0), _mm256_mul_ps(b1, w1)), _mm256_mul_ps(b2, w2)));
    }
    if (i < n)
        synth_shade_interp(f, m, pix + i, n - i, b, at + i, u, v);
}
