/* The rasteriser's triangle loop (synth_raster) as inline code, compiled
 * three times: in raster.c for the baseline (SSE2: four pixels of a row at
 * a time), in raster_avx2.c with -mavx2, where a small triangle's box runs
 * two rows in one 256-bit register (row8), and in raster_avx512.c with
 * AVX-512, the same two rows with mask registers and masked stores (row8m). Both make the reference's
 * decisions with its arithmetic (synth_raster_ref; a test). Not installed. */
#ifndef MFR_SYNTH_RASTER_SIMD_H
#define MFR_SYNTH_RASTER_SIMD_H

#include "synth.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ceilf and floorf of v as ints without library calls, for |v| up to 1e6
 * (larger values are clamped: they lie far outside any picture either way). */
static inline int ceil_i(float v)
{
    v = v < -1e6f ? -1e6f : v > 1e6f ? 1e6f : v;
    int i = (int)v;
    return (float)i < v ? i + 1 : i;
}
static inline int floor_i(float v)
{
    v = v < -1e6f ? -1e6f : v > 1e6f ? 1e6f : v;
    int i = (int)v;
    return (float)i > v ? i - 1 : i;
}
static inline float min3(float a, float b, float c)
{
    float m = a < b ? a : b;
    return m < c ? m : c;
}
static inline float max3(float a, float b, float c)
{
    float m = a > b ? a : b;
    return m > c ? m : c;
}

#if defined(__SSE2__)
static inline __m128 sel4(__m128 mask, __m128 a, __m128 b)
{
    return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}
#endif

#if defined(__SSE2__)
/* Four pixels of a row, k .. k+3 (k a multiple of 4), of a triangle: the
 * reference's tests and values, written where `lanes` (a mask) and the
 * tests pass, the old values kept elsewhere. */
static inline void row4(synth_frame *f, size_t k, __m128 dx, float dy, float e1x, float e1y, float e2x, float e2y,
                        float inv, float iz0, float iz1, float iz2, __m128 lanes, int mesh_index, int t)
{
    const float r1 = dy * e2x, r2 = e1x * dy; /* the row's terms of b1 and b2 */
    const __m128 vinv = _mm_set1_ps(inv), zero = _mm_setzero_ps();
    __m128 b1 = _mm_mul_ps(_mm_sub_ps(_mm_mul_ps(dx, _mm_set1_ps(e2y)), _mm_set1_ps(r1)), vinv);
    __m128 b2 = _mm_mul_ps(_mm_sub_ps(_mm_set1_ps(r2), _mm_mul_ps(_mm_set1_ps(e1y), dx)), vinv);
    __m128 b0 = _mm_sub_ps(_mm_sub_ps(_mm_set1_ps(1.0f), b1), b2);
    __m128 sum = _mm_add_ps(_mm_add_ps(_mm_mul_ps(b0, _mm_set1_ps(iz0)), _mm_mul_ps(b1, _mm_set1_ps(iz1))),
                            _mm_mul_ps(b2, _mm_set1_ps(iz2)));
    __m128 z = _mm_div_ps(_mm_set1_ps(1.0f), sum);
    float *depth = f->depth + k, *bk = f->b + 2 * k;
    const __m128 dk = _mm_load_ps(depth);
    __m128 in = _mm_and_ps(_mm_cmpnlt_ps(b0, zero), _mm_cmpnlt_ps(b1, zero));
    in = _mm_and_ps(_mm_and_ps(in, _mm_cmpnlt_ps(b2, zero)), _mm_and_ps(_mm_cmpnge_ps(z, dk), lanes));
    _mm_store_ps(depth, sel4(in, z, dk));
    const __m128i ini = _mm_castps_si128(in);
    __m128i *pm = (__m128i *)(void *)(f->mesh + k), *pt = (__m128i *)(void *)(f->tri + k);
    _mm_store_si128(pm, _mm_or_si128(_mm_and_si128(ini, _mm_set1_epi32(mesh_index)), _mm_andnot_si128(ini, _mm_load_si128(pm))));
    _mm_store_si128(pt, _mm_or_si128(_mm_and_si128(ini, _mm_set1_epi32(t)), _mm_andnot_si128(ini, _mm_load_si128(pt))));
    const __m128 v1 = _mm_mul_ps(_mm_mul_ps(b1, _mm_set1_ps(iz1)), z);
    const __m128 v2 = _mm_mul_ps(_mm_mul_ps(b2, _mm_set1_ps(iz2)), z);
    _mm_store_ps(bk, sel4(_mm_unpacklo_ps(in, in), _mm_unpacklo_ps(v1, v2), _mm_load_ps(bk)));
    _mm_store_ps(bk + 4, sel4(_mm_unpackhi_ps(in, in), _mm_unpackhi_ps(v1, v2), _mm_load_ps(bk + 4)));
}

#if defined(__AVX2__)
/* The barycentrics and perspective depth of two 4-pixel blocks (lanes 0-3
 * at dy0, 4-7 at dy1): the arithmetic of row8 and row8m. */
static inline __attribute__((always_inline)) void bary8(__m256 dx, float dy0, float dy1, float e1x, float e1y,
                                                        float e2x, float e2y, float inv, float iz0, float iz1,
                                                        float iz2, __m256 *b0, __m256 *b1, __m256 *b2, __m256 *z)
{
    const __m256 r1 = _mm256_setr_m128(_mm_set1_ps(dy0 * e2x), _mm_set1_ps(dy1 * e2x));
    const __m256 r2 = _mm256_setr_m128(_mm_set1_ps(e1x * dy0), _mm_set1_ps(e1x * dy1));
    const __m256 vinv = _mm256_set1_ps(inv);
    *b1 = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(dx, _mm256_set1_ps(e2y)), r1), vinv);
    *b2 = _mm256_mul_ps(_mm256_sub_ps(r2, _mm256_mul_ps(_mm256_set1_ps(e1y), dx)), vinv);
    *b0 = _mm256_sub_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), *b1), *b2);
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(*b0, _mm256_set1_ps(iz0)), _mm256_mul_ps(*b1, _mm256_set1_ps(iz1))),
                                     _mm256_mul_ps(*b2, _mm256_set1_ps(iz2)));
    *z = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
}

/* row4 for two blocks at once: k0 .. k0+3 (lanes 0-3) and k1 .. k1+3
 * (lanes 4-7), each with its own dy: two rows (k1 = k0 + w) or the two
 * blocks of one row (k1 = k0 + 4, dy1 = dy0); the same operations. */
static inline void row8(synth_frame *f, size_t k0, size_t k1, __m256 dx, float dy0, float dy1, float e1x, float e1y,
                        float e2x, float e2y, float inv, float iz0, float iz1, float iz2, __m256 lanes, int mesh_index,
                        int t)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 b0, b1, b2, z;
    bary8(dx, dy0, dy1, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2, &b0, &b1, &b2, &z);
    float *d0 = f->depth + k0, *d1 = f->depth + k1;
    const __m256 dk = _mm256_setr_m128(_mm_load_ps(d0), _mm_load_ps(d1));
    __m256 in = _mm256_and_ps(_mm256_cmp_ps(b0, zero, _CMP_NLT_UQ), _mm256_cmp_ps(b1, zero, _CMP_NLT_UQ));
    in = _mm256_and_ps(_mm256_and_ps(in, _mm256_cmp_ps(b2, zero, _CMP_NLT_UQ)),
                       _mm256_and_ps(_mm256_cmp_ps(z, dk, _CMP_NGE_UQ), lanes));
    const __m256 nd = _mm256_blendv_ps(dk, z, in);
    _mm_store_ps(d0, _mm256_castps256_ps128(nd));
    _mm_store_ps(d1, _mm256_extractf128_ps(nd, 1));
    const __m256i ini = _mm256_castps_si256(in);
    int32_t *m0 = f->mesh + k0, *m1 = f->mesh + k1, *t0 = f->tri + k0, *t1 = f->tri + k1;
    const __m256i om = _mm256_setr_m128i(_mm_load_si128((const __m128i *)(const void *)m0), _mm_load_si128((const __m128i *)(const void *)m1));
    const __m256i ot = _mm256_setr_m128i(_mm_load_si128((const __m128i *)(const void *)t0), _mm_load_si128((const __m128i *)(const void *)t1));
    const __m256i nm = _mm256_blendv_epi8(om, _mm256_set1_epi32(mesh_index), ini);
    const __m256i nt = _mm256_blendv_epi8(ot, _mm256_set1_epi32(t), ini);
    _mm_store_si128((__m128i *)(void *)m0, _mm256_castsi256_si128(nm));
    _mm_store_si128((__m128i *)(void *)m1, _mm256_extracti128_si256(nm, 1));
    _mm_store_si128((__m128i *)(void *)t0, _mm256_castsi256_si128(nt));
    _mm_store_si128((__m128i *)(void *)t1, _mm256_extracti128_si256(nt, 1));
    const __m256 v1 = _mm256_mul_ps(_mm256_mul_ps(b1, _mm256_set1_ps(iz1)), z);
    const __m256 v2 = _mm256_mul_ps(_mm256_mul_ps(b2, _mm256_set1_ps(iz2)), z);
    /* per 128-bit half: unpacklo = pixels 0, 1 of its row, unpackhi = 2, 3 */
    const __m256 lo = _mm256_unpacklo_ps(v1, v2), hi = _mm256_unpackhi_ps(v1, v2);
    const __m256 ilo = _mm256_unpacklo_ps(in, in), ihi = _mm256_unpackhi_ps(in, in);
    float *bk0 = f->b + 2 * k0, *bk1 = f->b + 2 * k1;
    const __m256 ob0 = _mm256_loadu_ps(bk0), ob1 = _mm256_loadu_ps(bk1);
    /* row 0: (lo, hi) low halves; row 1: their high halves */
    _mm256_storeu_ps(bk0, _mm256_blendv_ps(ob0, _mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(ilo, ihi, 0x20)));
    _mm256_storeu_ps(bk1, _mm256_blendv_ps(ob1, _mm256_permute2f128_ps(lo, hi, 0x31), _mm256_permute2f128_ps(ilo, ihi, 0x31)));
}
#endif

#if defined(__AVX512F__)
/* Each bit of a mask twice (bit i to bits 2i and 2i + 1; 16 bits): the
 * barycentrics' mask, two floats per pixel. */
static inline uint32_t bits_twice(uint32_t m)
{
    m = (m | m << 8) & 0x00ff00ffu;
    m = (m | m << 4) & 0x0f0f0f0fu;
    m = (m | m << 2) & 0x33333333u;
    m = (m | m << 1) & 0x55555555u;
    return m | m << 1;
}

/* row8 with AVX-512's mask registers: the tests give a mask of 8 bits, the
 * meshes, triangles and barycentrics are written by masked stores (nothing
 * read back), the depths as in row8 (blended, whole stores). Lanes 0-3 are
 * the block at k0, lanes 4-7 the one at k1: the next row's (k1 = k0 + w)
 * or the next block of the same row (k1 = k0 + 4, dy1 = dy0). */
static inline void row8m(synth_frame *f, size_t k0, size_t k1, __m256 dx, float dy0, float dy1, float e1x, float e1y,
                         float e2x, float e2y, float inv, float iz0, float iz1, float iz2, __mmask8 lanes, int mesh_index,
                         int t)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 b0, b1, b2, z;
    bary8(dx, dy0, dy1, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2, &b0, &b1, &b2, &z);
    float *d0 = f->depth + k0, *d1 = f->depth + k1;
    const __m256 dk = _mm256_setr_m128(_mm_load_ps(d0), _mm_load_ps(d1));
    __mmask8 in = _mm256_mask_cmp_ps_mask(lanes, b0, zero, _CMP_NLT_UQ);
    in = _mm256_mask_cmp_ps_mask(in, b1, zero, _CMP_NLT_UQ);
    in = _mm256_mask_cmp_ps_mask(in, b2, zero, _CMP_NLT_UQ);
    in = _mm256_mask_cmp_ps_mask(in, z, dk, _CMP_NGE_UQ);
    const __m256 nd = _mm256_mask_blend_ps(in, dk, z);
    _mm_store_ps(d0, _mm256_castps256_ps128(nd));
    _mm_store_ps(d1, _mm256_extractf128_ps(nd, 1));
    const __m128i vm = _mm_set1_epi32(mesh_index), vt = _mm_set1_epi32(t);
    const __mmask8 in0 = (__mmask8)(in & 0xf), in1 = (__mmask8)(in >> 4);
    _mm_mask_store_epi32(f->mesh + k0, in0, vm);
    _mm_mask_store_epi32(f->mesh + k1, in1, vm);
    _mm_mask_store_epi32(f->tri + k0, in0, vt);
    _mm_mask_store_epi32(f->tri + k1, in1, vt);
    const __m256 v1 = _mm256_mul_ps(_mm256_mul_ps(b1, _mm256_set1_ps(iz1)), z);
    const __m256 v2 = _mm256_mul_ps(_mm256_mul_ps(b2, _mm256_set1_ps(iz2)), z);
    const __m256 lo = _mm256_unpacklo_ps(v1, v2), hi = _mm256_unpackhi_ps(v1, v2);
    const uint32_t in2 = bits_twice((uint32_t)in);
    _mm256_mask_storeu_ps(f->b + 2 * k0, (__mmask8)in2, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_mask_storeu_ps(f->b + 2 * k1, (__mmask8)(in2 >> 8), _mm256_permute2f128_ps(lo, hi, 0x31));
}
#endif

/* The box x0..x1, y0..y1 of a triangle in aligned blocks of 4 pixels
 * (the frame's width a multiple of 4). Aligned blocks, because the next
 * triangle reads back what this one stored: a load that only partly
 * overlaps a recent store waits for it (no store forwarding), while one at
 * the same address does not. Most triangles fit one block in width and 4
 * rows in height: those run 2 or 4 rows, masked, so that few branches
 * depend on the triangle's shape. */
static inline void tri_blocks(synth_frame *f, int x0, int x1, int y0, int y1, float x0v, float y0v, float e1x, float e1y,
                       float e2x, float e2y, float inv, float iz0, float iz1, float iz2, int mesh_index, int t)
{
    const size_t w = (size_t)f->w;
    const int xb = x0 & ~3;
    const __m128i lo = _mm_set1_epi32(x0 - 1), hi = _mm_set1_epi32(x1 + 1);
    if (x1 - xb < 4 && y1 - y0 < 4 && y0 + 3 < f->h) {
        const __m128i xi = _mm_add_epi32(_mm_set1_epi32(xb), _mm_setr_epi32(0, 1, 2, 3));
        const __m128 cols = _mm_castsi128_ps(_mm_and_si128(_mm_cmpgt_epi32(xi, lo), _mm_cmpgt_epi32(hi, xi)));
        const __m128 dx = _mm_sub_ps(_mm_add_ps(_mm_cvtepi32_ps(xi), _mm_set1_ps(0.5f)), _mm_set1_ps(x0v));
#if defined(__AVX512F__)
        /* as the AVX2 build, the tests in mask registers and masked stores */
        const __m256 dx8 = _mm256_set_m128(dx, dx);
        const unsigned cb = (unsigned)_mm_movemask_ps(cols);
        const unsigned rb = (1u << (4 * (y1 - y0 + 1))) - 1u; /* 1 to 4 rows */
        const unsigned lm = cb * 0x1111u & rb;
        for (int r = 0; r < 4; r += 2) {
            const int y = y0 + r;
            const float dy0 = (float)y + 0.5f - y0v, dy1 = (float)(y + 1) + 0.5f - y0v;
            row8m(f, (size_t)y * w + (size_t)xb, (size_t)(y + 1) * w + (size_t)xb, dx8, dy0, dy1, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2,
                  (__mmask8)(lm >> (4 * r)), mesh_index, t);
            if (y1 - y0 < 2)
                break;
        }
#elif defined(__AVX2__)
        /* rows y0, y0 + 1 in one register, then y0 + 2, y0 + 3 if the box has them */
        const __m256 cols8 = _mm256_set_m128(cols, cols), dx8 = _mm256_set_m128(dx, dx);
        for (int r = 0; r < 4; r += 2) {
            const int y = y0 + r;
            const __m256 rows = _mm256_castsi256_ps(_mm256_setr_epi32(
                -(int32_t)(y <= y1), -(int32_t)(y <= y1), -(int32_t)(y <= y1), -(int32_t)(y <= y1),
                -(int32_t)(y + 1 <= y1), -(int32_t)(y + 1 <= y1), -(int32_t)(y + 1 <= y1), -(int32_t)(y + 1 <= y1)));
            const float dy0 = (float)y + 0.5f - y0v, dy1 = (float)(y + 1) + 0.5f - y0v;
            row8(f, (size_t)y * w + (size_t)xb, (size_t)(y + 1) * w + (size_t)xb, dx8, dy0, dy1, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2,
                 _mm256_and_ps(cols8, rows), mesh_index, t);
            if (y1 - y0 < 2)
                break;
        }
#else
        const int nr = y1 - y0 < 2 ? 2 : 4;
        for (int r = 0; r < nr; r++) {
            const int y = y0 + r;
            const __m128 lanes = _mm_and_ps(cols, _mm_castsi128_ps(_mm_set1_epi32(-(int32_t)(y <= y1))));
            row4(f, (size_t)y * w + (size_t)xb, dx, (float)y + 0.5f - y0v, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2,
                 lanes, mesh_index, t);
        }
#endif
        return;
    }
#if defined(__AVX2__)
    /* two blocks wide, at most 4 rows: a row's two blocks in one register
     * (the second block inside the row: a box of one block reaches here at
     * the frame's last rows, where the first test fails on y0 + 3) */
    if (x1 - xb < 8 && xb + 8 <= (int)w && y1 - y0 < 4) {
        const __m256i xi = _mm256_add_epi32(_mm256_set1_epi32(xb), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 dx = _mm256_sub_ps(_mm256_add_ps(_mm256_cvtepi32_ps(xi), _mm256_set1_ps(0.5f)), _mm256_set1_ps(x0v));
        const unsigned cb = (0xffu << (x0 - xb)) & (0xffu >> (7 - (x1 - xb))); /* the box's columns */
#if !defined(__AVX512F__)
        const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        const __m256 cols = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)cb), bit), bit));
#endif
        for (int y = y0; y <= y1; y++) {
            const size_t k = (size_t)y * w + (size_t)xb;
            const float dy = (float)y + 0.5f - y0v;
#if defined(__AVX512F__)
            row8m(f, k, k + 4, dx, dy, dy, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2, (__mmask8)cb, mesh_index, t);
#else
            row8(f, k, k + 4, dx, dy, dy, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2, cols, mesh_index, t);
#endif
        }
        return;
    }
#endif
    for (int y = y0; y <= y1; y++)
        for (int x = xb; x <= x1; x += 4) {
            const __m128i xi = _mm_add_epi32(_mm_set1_epi32(x), _mm_setr_epi32(0, 1, 2, 3));
            const __m128 lanes = _mm_castsi128_ps(_mm_and_si128(_mm_cmpgt_epi32(xi, lo), _mm_cmpgt_epi32(hi, xi)));
            const __m128 dx = _mm_sub_ps(_mm_add_ps(_mm_cvtepi32_ps(xi), _mm_set1_ps(0.5f)), _mm_set1_ps(x0v));
            row4(f, (size_t)y * w + (size_t)x, dx, (float)y + 0.5f - y0v, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2,
                 lanes, mesh_index, t);
        }
}
#endif

#if defined(__AVX2__)
/* ceil_i and floor_i of eight values (the same clamp, truncation and test) */
static inline __m256i ceil8(__m256 v)
{
    v = _mm256_blendv_ps(_mm256_blendv_ps(v, _mm256_set1_ps(1e6f), _mm256_cmp_ps(v, _mm256_set1_ps(1e6f), _CMP_GT_OQ)),
                         _mm256_set1_ps(-1e6f), _mm256_cmp_ps(v, _mm256_set1_ps(-1e6f), _CMP_LT_OQ));
    const __m256i i = _mm256_cvttps_epi32(v);
    return _mm256_sub_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(i), v, _CMP_LT_OQ)));
}
static inline __m256i floor8(__m256 v)
{
    v = _mm256_blendv_ps(_mm256_blendv_ps(v, _mm256_set1_ps(1e6f), _mm256_cmp_ps(v, _mm256_set1_ps(1e6f), _CMP_GT_OQ)),
                         _mm256_set1_ps(-1e6f), _mm256_cmp_ps(v, _mm256_set1_ps(-1e6f), _CMP_LT_OQ));
    const __m256i i = _mm256_cvttps_epi32(v);
    return _mm256_add_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(i), v, _CMP_GT_OQ)));
}

/* The set-up of eight triangles t..t+7 (raster_mesh's tests and terms,
 * each lane one triangle): their boxes and terms into the arrays, and a
 * bit per triangle that reaches a pixel centre (raster_mesh skips the
 * others). min_ps and max_ps are a < b ? a : b and a > b ? a : b, as
 * min3 and max3. */
typedef struct tri_setup8 {
    int32_t x0[8], x1[8], y0[8], y1[8];
    float x0v[8], y0v[8], e1x[8], e1y[8], e2x[8], e2y[8], inv[8], iz0[8], iz1[8], iz2[8];
} tri_setup8;

static inline unsigned setup8(const float *scr, const int *tri, int t, int cull, int w, int h, tri_setup8 *S)
{
    const __m256i by3 = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
    const int *tp = tri + 3 * (size_t)t;
    const __m256i v0 = _mm256_slli_epi32(_mm256_i32gather_epi32(tp, by3, 4), 2);
    const __m256i v1 = _mm256_slli_epi32(_mm256_i32gather_epi32(tp + 1, by3, 4), 2);
    const __m256i v2 = _mm256_slli_epi32(_mm256_i32gather_epi32(tp + 2, by3, 4), 2);
    const __m256 x0 = _mm256_i32gather_ps(scr, v0, 4), y0 = _mm256_i32gather_ps(scr + 1, v0, 4);
    const __m256 x1 = _mm256_i32gather_ps(scr, v1, 4), y1 = _mm256_i32gather_ps(scr + 1, v1, 4);
    const __m256 x2 = _mm256_i32gather_ps(scr, v2, 4), y2 = _mm256_i32gather_ps(scr + 1, v2, 4);
    const __m256 near = _mm256_set1_ps(1e-3f);
    /* !(z < 1e-3) for the three vertices */
    __m256 keep = _mm256_and_ps(_mm256_cmp_ps(_mm256_i32gather_ps(scr + 2, v0, 4), near, _CMP_NLT_UQ),
                                _mm256_cmp_ps(_mm256_i32gather_ps(scr + 2, v1, 4), near, _CMP_NLT_UQ));
    keep = _mm256_and_ps(keep, _mm256_cmp_ps(_mm256_i32gather_ps(scr + 2, v2, 4), near, _CMP_NLT_UQ));
    const __m256 e1x = _mm256_sub_ps(x1, x0), e1y = _mm256_sub_ps(y1, y0);
    const __m256 e2x = _mm256_sub_ps(x2, x0), e2y = _mm256_sub_ps(y2, y0);
    const __m256 area = _mm256_sub_ps(_mm256_mul_ps(e1x, e2y), _mm256_mul_ps(e1y, e2x));
    const __m256 zero = _mm256_setzero_ps(), half = _mm256_set1_ps(0.5f);
    keep = _mm256_and_ps(keep, _mm256_cmp_ps(area, zero, _CMP_NEQ_UQ)); /* !(area == 0) */
    if (cull)
        keep = _mm256_and_ps(keep, _mm256_cmp_ps(area, zero, _CMP_NGT_UQ)); /* !(area > 0) */
    __m256i bx0 = ceil8(_mm256_sub_ps(_mm256_min_ps(_mm256_min_ps(x0, x1), x2), half));
    __m256i bx1 = floor8(_mm256_sub_ps(_mm256_max_ps(_mm256_max_ps(x0, x1), x2), half));
    __m256i by0 = ceil8(_mm256_sub_ps(_mm256_min_ps(_mm256_min_ps(y0, y1), y2), half));
    __m256i by1 = floor8(_mm256_sub_ps(_mm256_max_ps(_mm256_max_ps(y0, y1), y2), half));
    bx0 = _mm256_max_epi32(bx0, _mm256_setzero_si256());
    by0 = _mm256_max_epi32(by0, _mm256_setzero_si256());
    bx1 = _mm256_min_epi32(bx1, _mm256_set1_epi32(w - 1));
    by1 = _mm256_min_epi32(by1, _mm256_set1_epi32(h - 1));
    const __m256i empty = _mm256_or_si256(_mm256_cmpgt_epi32(bx0, bx1), _mm256_cmpgt_epi32(by0, by1));
    keep = _mm256_andnot_ps(_mm256_castsi256_ps(empty), keep);
    const unsigned bits = (unsigned)_mm256_movemask_ps(keep);
    if (!bits)
        return 0;
    _mm256_storeu_si256((__m256i *)(void *)S->x0, bx0);
    _mm256_storeu_si256((__m256i *)(void *)S->x1, bx1);
    _mm256_storeu_si256((__m256i *)(void *)S->y0, by0);
    _mm256_storeu_si256((__m256i *)(void *)S->y1, by1);
    _mm256_storeu_ps(S->x0v, x0);
    _mm256_storeu_ps(S->y0v, y0);
    _mm256_storeu_ps(S->e1x, e1x);
    _mm256_storeu_ps(S->e1y, e1y);
    _mm256_storeu_ps(S->e2x, e2x);
    _mm256_storeu_ps(S->e2y, e2y);
    _mm256_storeu_ps(S->inv, _mm256_div_ps(_mm256_set1_ps(1.0f), area));
    _mm256_storeu_ps(S->iz0, _mm256_i32gather_ps(scr + 3, v0, 4));
    _mm256_storeu_ps(S->iz1, _mm256_i32gather_ps(scr + 3, v1, 4));
    _mm256_storeu_ps(S->iz2, _mm256_i32gather_ps(scr + 3, v2, 4));
    return bits;
}
#endif

/* The reference's arithmetic, term for term (so the same bits), with the
 * vertices in locals and the terms that do not change along a row computed
 * once per row: the compiler cannot do that itself, since the stores into
 * the G-buffer might alias the mesh's floats. Where there is SSE2, four
 * pixels of a row at a time, without branches: the triangles are one to
 * three pixels, so "inside?" and "in front?" are coin tosses that a branch
 * per pixel mispredicted about half the time. The comparisons are the
 * reference's negated (`!(b < 0)`, `!(z >= depth)`), so NaN is treated alike. */
static inline void raster_mesh(synth_frame *f, const synth_mesh *m, int mesh_index)
{
    const int w = f->w, h = f->h;
    const float *scr = m->scr;
    const int *tri = m->tri;
    float *restrict depth = f->depth, *restrict bb = f->b;
    int32_t *restrict fmesh = f->mesh, *restrict ftri = f->tri;
    int t = 0;
#if defined(__SSE2__)
    /* aligned blocks of 4 need rows that start on a multiple of 4 (the
     * buffers themselves are aligned by mfr_alloc) */
    const int blocks = w % 4 == 0;
#endif
#if defined(__AVX2__)
    /* eight triangles' set-up at a time, then those that reach a pixel in
     * their order */
    if (blocks)
        for (; t + 8 <= m->nt; t += 8) {
            tri_setup8 S;
            for (unsigned bits = setup8(scr, tri, t, m->cull, w, h, &S); bits; bits &= bits - 1) {
                const int l = __builtin_ctz(bits);
                tri_blocks(f, S.x0[l], S.x1[l], S.y0[l], S.y1[l], S.x0v[l], S.y0v[l], S.e1x[l], S.e1y[l], S.e2x[l],
                           S.e2y[l], S.inv[l], S.iz0[l], S.iz1[l], S.iz2[l], mesh_index, t + l);
            }
        }
#endif
    for (; t < m->nt; t++) {
        const float *p0 = scr + 4 * tri[3 * t], *p1 = scr + 4 * tri[3 * t + 1], *p2 = scr + 4 * tri[3 * t + 2];
        const float z0 = p0[2], z1 = p1[2], z2 = p2[2];
        if (z0 < 1e-3f || z1 < 1e-3f || z2 < 1e-3f)
            continue;
        const float x0v = p0[0], y0v = p0[1];
        const float e1x = p1[0] - x0v, e1y = p1[1] - y0v; /* vertex 1 - vertex 0 */
        const float e2x = p2[0] - x0v, e2y = p2[1] - y0v; /* vertex 2 - vertex 0 */
        float area = e1x * e2y - e1y * e2x;
        if (area == 0.0f || (m->cull && area > 0.0f))
            continue;
        /* the reference's box, without library calls (vertices are not NaN:
         * their depths passed the test above) */
        int x0 = ceil_i(min3(x0v, p1[0], p2[0]) - 0.5f), x1 = floor_i(max3(x0v, p1[0], p2[0]) - 0.5f);
        int y0 = ceil_i(min3(y0v, p1[1], p2[1]) - 0.5f), y1 = floor_i(max3(y0v, p1[1], p2[1]) - 0.5f);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 >= w) x1 = w - 1;
        if (y1 >= h) y1 = h - 1;
        if (x0 > x1 || y0 > y1)
            continue;
        const float inv = 1.0f / area;
        const float iz0 = p0[3], iz1 = p1[3], iz2 = p2[3]; /* 1 / z, as the reference computes it */
#if defined(__SSE2__)
        if (blocks) {
            tri_blocks(f, x0, x1, y0, y1, x0v, y0v, e1x, e1y, e2x, e2y, inv, iz0, iz1, iz2, mesh_index, t);
            continue;
        }
#endif
        for (int y = y0; y <= y1; y++) {
            const float dy = (float)y + 0.5f - y0v;
            const float r1 = dy * e2x, r2 = e1x * dy; /* the row's terms of b1 and b2 */
            const size_t row = (size_t)y * (size_t)w;
            int x = x0;
            for (; x <= x1; x++) {
                const float dx = (float)x + 0.5f - x0v;
                /* barycentric weights of vertices 1 and 2 (screen space) */
                float b1 = (dx * e2y - r1) * inv;
                float b2 = (r2 - e1y * dx) * inv;
                float b0 = 1.0f - b1 - b2;
                if (b0 < 0.0f || b1 < 0.0f || b2 < 0.0f)
                    continue;
                float z = 1.0f / (b0 * iz0 + b1 * iz1 + b2 * iz2);
                size_t k = row + (size_t)x;
                if (z >= depth[k])
                    continue;
                depth[k] = z;
                fmesh[k] = mesh_index;
                ftri[k] = t;
                bb[2 * k] = b1 * iz1 * z;
                bb[2 * k + 1] = b2 * iz2 * z;
            }
        }
    }
}

#endif
