/* The camera's sample loops as inline C, compiled twice: in camera.c for
 * the baseline (SSE2 on x86-64) and in camera_avx2.c with -mavx2, where
 * the compiler vectorises the same loops eight samples wide. Neither build
 * may contract a product and a sum into one rounding (no -mfma, and
 * -ffp-contract=off for the AVX2 file), so both give the bits of the plain
 * loops (tests: the blur against synth_gaussian_blur_ref, the noise
 * against its one-sample reference). Not installed. */
#ifndef MFR_SYNTH_CAMERA_SIMD_H
#define MFR_SYNTH_CAMERA_SIMD_H

#include "synth.h"

#include <stddef.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The background's colours, gradient and blobs (camera.c's bg_setup). */
typedef struct bg_params {
    float c0[3], c1[3], gx, gy, blob[4][6]; /* blob: x, y, 1 / r^2, colour */
} bg_params;

#if defined(__AVX2__)
/* synth_background's SSE2 groups widened to eight pixels: pixels x0 + i of
 * row y (mrow: its mesh indices) into the planes pl, for i up to n less
 * n % 8; returns where it stopped. The reference's operations in its order. */
static inline int bg_span8(const bg_params *P, const int32_t *mrow, int x0, int n, float ygy, float off,
                           const int *near, const float *dy2, int nb, float (*pl)[SYNTH_BG_SPAN])
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        /* eight pixels all under meshes: nothing to draw */
        const __m256i mk = _mm256_loadu_si256((const __m256i *)(const void *)(mrow + i));
        if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setzero_si256(), mk))) == 0)
            continue;
        const __m256 x = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(x0 + i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        __m256 t = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(x, _mm256_set1_ps(P->gx))),
                                               _mm256_set1_ps(ygy)), _mm256_set1_ps(off));
        /* clampf(t, 0, 1): t < 0 ? 0 : t > 1 ? 1 : t */
        t = _mm256_blendv_ps(_mm256_blendv_ps(t, one, _mm256_cmp_ps(t, one, _CMP_GT_OQ)), zero, _mm256_cmp_ps(t, zero, _CMP_LT_OQ));
        __m256 q[3];
        for (int c = 0; c < 3; c++)
            q[c] = _mm256_mul_ps(_mm256_add_ps(_mm256_set1_ps(P->c0[c]),
                                               _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(P->c1[c]), _mm256_set1_ps(P->c0[c])), t)),
                                 one);
        for (int j = 0; j < nb; j++) {
            const float *B = P->blob[near[j]];
            const __m256 dx = _mm256_sub_ps(x, _mm256_set1_ps(B[0]));
            const __m256 d = _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_set1_ps(dy2[j])), _mm256_set1_ps(B[2]));
            const __m256 in = _mm256_cmp_ps(d, one, _CMP_LT_OQ), e = _mm256_sub_ps(one, d);
            const __m256 a = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(e, e));
            for (int c = 0; c < 3; c++) {
                const __m256 nq = _mm256_add_ps(q[c], _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(B[3 + c]), q[c]), a));
                q[c] = _mm256_blendv_ps(q[c], nq, in);
            }
        }
        for (int c = 0; c < 3; c++)
            _mm256_storeu_ps(pl[c] + i, q[c]);
    }
    return i;
}
#endif

#if defined(__AVX2__)
/* synth_encode_srgb8 eight samples at a time: the same table index (lin *
 * 4096 + 0.5 truncated in (0, 1), 4096 from 1 on, 0 below 0 and for NaN),
 * the table read by a gather of 32 bits at each index (synth_srgb_lut has
 * three spare bytes at its end), the low byte kept. Returns how many it did
 * (n less n % 8). */
static inline int encode_srgb8_8(const float *lin, uint8_t *out, int n)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(lin + i);
        const __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(4096.0f)), _mm256_set1_ps(0.5f)));
        const __m256i lo = _mm256_castps_si256(_mm256_cmp_ps(x, zero, _CMP_GT_OQ));
        const __m256i hi = _mm256_castps_si256(_mm256_cmp_ps(x, one, _CMP_LT_OQ));
        const __m256i top = _mm256_andnot_si256(hi, _mm256_and_si256(lo, _mm256_set1_epi32(4096)));
        const __m256i ix = _mm256_or_si256(_mm256_and_si256(_mm256_and_si256(lo, hi), q), top);
        const __m256i v = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)synth_srgb_lut, ix, 1),
                                           _mm256_set1_epi32(255));
        /* eight 32-bit values 0..255 to eight bytes */
        const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(v, v), _mm256_setzero_si256());
        const __m128i o = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
        _mm_storel_epi64((__m128i *)(void *)(out + i), o);
    }
    return i;
}
#endif

#if defined(__AVX2__)
/* dst[j] = sum over taps i = 0..nt-1 of k[i] src[j + i step], for j from lo
 * while 32 more fit below hi: each sum from +0, tap 0 first, in registers
 * (the loops below keep it in dst and add one tap at a time: the same
 * sums). Returns where it stopped. */
static inline size_t blur_span32(float *restrict dst, const float *src, ptrdiff_t step, size_t lo, size_t hi,
                                 const float *k, int nt)
{
    size_t j = lo;
    for (; j + 32 <= hi; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = src + j;
        for (int i = 0; i < nt; i++, p += step) {
            const __m256 kk = _mm256_set1_ps(k[i]);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(kk, _mm256_loadu_ps(p)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(kk, _mm256_loadu_ps(p + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(kk, _mm256_loadu_ps(p + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(kk, _mm256_loadu_ps(p + 24)));
        }
        _mm256_storeu_ps(dst + j, a0);
        _mm256_storeu_ps(dst + j + 8, a1);
        _mm256_storeu_ps(dst + j + 16, a2);
        _mm256_storeu_ps(dst + j + 24, a3);
    }
    return j;
}
#endif

/* The taps k[0..2r] of the separable blur (r >= 1), the same sums in the
 * same order as synth_gaussian_blur_ref: the row pass clamps only near the
 * two ends, and the column pass adds whole weighted rows. */
static inline void blur_taps(float *rgb, int w, int h, int r, const float *k, float *tmp)
{
    const size_t rw = 3 * (size_t)w;
    for (int y = 0; y < h; y++) {
        const float *restrict src = rgb + (size_t)y * rw;
        float *restrict dst = tmp + (size_t)y * rw;
        /* the interior, one tap at a time over the whole span (same order of
         * additions per sample as the reference) */
        size_t lo = 3 * (size_t)r, hi = w > 2 * r ? rw - 3 * (size_t)r : lo;
#if defined(__AVX2__)
        /* 32 samples at a time with their sums in registers over all the
         * taps (the same sums in the same order: from +0, tap 0 first) */
        lo = blur_span32(dst, src - 3 * (ptrdiff_t)r, 3, lo, hi, k, 2 * r + 1);
#endif
        for (size_t j = lo; j < hi; j++)
            dst[j] = 0.0f;
        for (int i = 0; i <= 2 * r; i++) {
            const float kk = k[i];
            const float *restrict p = src + 3 * (ptrdiff_t)(i - r);
#pragma omp simd
            for (size_t j = lo; j < hi; j++)
                dst[j] += kk * p[j];
        }
        /* the ends, clamping */
        for (int x = 0; x < w; x++) {
            if (x - r >= 0 && x + r < w)
                continue;
            for (int c = 0; c < 3; c++) {
                float a = 0.0f;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    a += k[i + r] * src[3 * xx + c];
                }
                dst[3 * x + c] = a;
            }
        }
    }
    for (int y = 0; y < h; y++) {
        float *restrict dst = rgb + (size_t)y * rw;
        size_t x0 = 0;
#if defined(__AVX2__)
        if (y - r >= 0 && y + r < h) /* rows that need no clamping */
            x0 = blur_span32(dst, tmp + (size_t)(y - r) * rw, (ptrdiff_t)rw, 0, rw, k, 2 * r + 1);
#endif
        for (size_t x = x0; x < rw; x++)
            dst[x] = 0.0f;
        for (int i = -r; i <= r; i++) {
            int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
            const float *restrict src = tmp + (size_t)yy * rw;
            const float kk = k[i + r];
#pragma omp simd
            for (size_t x = x0; x < rw; x++)
                dst[x] += kk * src[x];
        }
    }
}

/* Sensor noise on nx 8-bit samples numbered n, n+1, ...: each sample's
 * hash (key, number) has four bytes whose sum is near-Gaussian. */
static inline void sensor_noise(uint8_t *restrict row, int nx, uint32_t key, uint32_t n, float sd)
{
#pragma omp simd
    for (int x = 0; x < nx; x++) {
        uint32_t b = synth_hash(key ^ (n + (uint32_t)x) * 0x9e3779b9u);
        float g = (float)(int32_t)((b & 255u) + ((b >> 8) & 255u) + ((b >> 16) & 255u) + (b >> 24)) - 510.0f;
        float v = (float)row[x] + g * sd + 0.5f;
        v = v < 0.0f ? 0.0f : v;
        v = v > 255.0f ? 255.0f : v;
        row[x] = (uint8_t)(int32_t)v;
    }
}

/* The JPEG-like quantiser, as synth_quantise64_ref four coefficients at a
 * time (where there is SSE2). */
static inline void quantise64(float F[64], const float Q[64])
{
#if defined(__SSE2__)
    const __m128 half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
    for (int i = 0; i < 64; i += 4) {
        const __m128 q = _mm_loadu_ps(Q + i);
        const __m128 x = _mm_div_ps(_mm_loadu_ps(F + i), q);
        const __m128 t = _mm_cvtepi32_ps(_mm_cvttps_epi32(x)), d = _mm_sub_ps(x, t);
        const __m128 up = _mm_and_ps(_mm_cmpge_ps(d, half), one);
        const __m128 down = _mm_and_ps(_mm_andnot_ps(_mm_cmpge_ps(d, half), _mm_cmple_ps(d, _mm_set1_ps(-0.5f))), one);
        _mm_storeu_ps(F + i, _mm_mul_ps(_mm_sub_ps(_mm_add_ps(t, up), down), q));
    }
#else
    synth_quantise64_ref(F, Q);
#endif
}

/* out[i][j] = the sum of X[i][k] M[k][j] over the listed k (ks[0..nk-1],
 * increasing), from +0; the loops are arranged so that the innermost one
 * runs along rows (vectorised). */
static inline void mm8_rows(const float X[64], const float M[64], const int *ks, int nk, float out[64])
{
    for (int i = 0; i < 8; i++) {
        float acc[8] = {0};
        for (int n = 0; n < nk; n++) {
            const int k = ks[n];
            const float a = X[i * 8 + k];
#pragma omp simd
            for (int j = 0; j < 8; j++)
                acc[j] += a * M[k * 8 + j];
        }
        for (int j = 0; j < 8; j++)
            out[i * 8 + j] = acc[j];
    }
}

/* out = A in A^T for 8x8 blocks, At the transpose of A: the DCT-II with A
 * the orthonormal basis C, its inverse with A = C^T. Each sum runs over k
 * in increasing order, as the plain triple loop would. */
static inline void dct8(const float in[64], float out[64], const float A[64], const float At[64])
{
    static const int all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    float t[64];
    mm8_rows(A, in, all, 8, t);
    mm8_rows(t, At, all, 8, out);
}

/* dct8 for the inverse transform of quantised coefficients F (A = C^T):
 * the rows of F that are all zero are left out of the first pass and the
 * columns of F that are all zero (so the columns of t that are all +0) out
 * of the second. Each left-out term is a product of a finite basis value
 * and a zero, a zero of either sign, and adding one to a sum changes no
 * bit: the sums start at +0 and never become -0 (in round-to-nearest only
 * -0 + -0 is -0), and x + (+-0) = x for any other x. So the same bits as
 * dct8 (tests against synth_jpeg_artefacts_ref). */
static inline void idct8_sparse(const float F[64], float out[64], const float A[64], const float At[64])
{
    unsigned rows = 0, cols = 0; /* bit k: row k, column k of F holds a non-zero */
#if defined(__AVX2__)
    __m256 any = _mm256_setzero_ps();
    for (int k = 0; k < 8; k++) {
        const __m256 nz = _mm256_cmp_ps(_mm256_loadu_ps(F + 8 * k), _mm256_setzero_ps(), _CMP_NEQ_UQ);
        any = _mm256_or_ps(any, nz);
        rows |= (unsigned)(_mm256_movemask_ps(nz) != 0) << k;
    }
    cols = (unsigned)_mm256_movemask_ps(any);
#elif defined(__SSE2__)
    __m128 any0 = _mm_setzero_ps(), any1 = _mm_setzero_ps();
    for (int k = 0; k < 8; k++) {
        const __m128 n0 = _mm_cmpneq_ps(_mm_loadu_ps(F + 8 * k), _mm_setzero_ps());
        const __m128 n1 = _mm_cmpneq_ps(_mm_loadu_ps(F + 8 * k + 4), _mm_setzero_ps());
        any0 = _mm_or_ps(any0, n0), any1 = _mm_or_ps(any1, n1);
        rows |= (unsigned)(_mm_movemask_ps(_mm_or_ps(n0, n1)) != 0) << k;
    }
    cols = (unsigned)(_mm_movemask_ps(any0) | _mm_movemask_ps(any1) << 4);
#else
    for (int k = 0; k < 64; k++)
        if (F[k] != 0.0f)
            rows |= 1u << (k >> 3), cols |= 1u << (k & 7);
#endif
    int rk[8], ck[8], nr = 0, nc = 0;
    for (int k = 0; k < 8; k++) {
        if (rows >> k & 1u)
            rk[nr++] = k;
        if (cols >> k & 1u)
            ck[nc++] = k;
    }
    float t[64];
    mm8_rows(A, F, rk, nr, t);
    mm8_rows(t, At, ck, nc, out);
}

#if defined(__AVX2__)
/* Eight RGB pixels (24 bytes at p) as three vectors of floats. */
static inline void rgb8_load(const uint8_t *p, __m256 *r, __m256 *g, __m256 *b)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)p);        /* bytes 0-15 */
    const __m128i hi = _mm_loadl_epi64((const __m128i *)(const void *)(p + 16)); /* bytes 16-23 */
    const __m128i rr = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                                    _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m128i gg = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                                    _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m128i bb = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                                    _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, -1, -1, -1, -1, -1, -1, -1, -1)));
    *r = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(rr));
    *g = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(gg));
    *b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bb));
}

/* (uint8_t)clampf(v, 0, 255) of eight values: clamped as clampf (a NaN
 * stays NaN), truncated by cvttps as the scalar conversion, packed with
 * unsigned saturation (0 to 255 kept; a NaN's 0x80000000 becomes 0, the
 * low byte the scalar conversion keeps). */
static inline __m256i u8_of(__m256 v)
{
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
    v = _mm256_blendv_ps(_mm256_blendv_ps(v, top, _mm256_cmp_ps(v, top, _CMP_GT_OQ)), zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    return _mm256_cvttps_epi32(v);
}

/* Eight RGB pixels from three vectors of 32-bit values 0..255, interleaved
 * into the 24 bytes at p. */
static inline void rgb8_store(uint8_t *p, __m256i r, __m256i g, __m256i b)
{
    /* per 128-bit half: r0-3 g0-3 b0-3 b0-3 (bytes), then r4-7 ... in the high half */
    const __m256i x = _mm256_packus_epi16(_mm256_packus_epi32(r, g), _mm256_packus_epi32(b, b));
    const __m128i L = _mm256_castsi256_si128(x), H = _mm256_extracti128_si256(x, 1);
    const __m128i o0 = _mm_or_si128(_mm_shuffle_epi8(L, _mm_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1)),
                                    _mm_shuffle_epi8(H, _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 1)));
    const __m128i o1 = _mm_shuffle_epi8(H, _mm_setr_epi8(5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1, -1, -1, -1, -1));
    _mm_storeu_si128((__m128i *)(void *)p, o0);
    _mm_storel_epi64((__m128i *)(void *)(p + 16), o1);
}
#endif

/* The JPEG-like round trip of every 8 x 8 block of an 8-bit RGB image: to
 * YCbCr, DCT-II with the orthonormal basis C (Ct its transpose), quantised
 * by Q[0] (luma) and Q[1] (chroma), back, and rounded to 8 bits (the
 * plain loops: synth_jpeg_artefacts_ref). */
static inline void jpeg_blocks(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64])
{
    for (int by = 0; by < im->height; by += 8)
        for (int bx = 0; bx < im->width; bx += 8) {
            float blk[3][64];
#if defined(__AVX2__)
            /* a whole block: rows of eight pixels, the same products and sums */
            const int whole = bx + 8 <= im->width && by + 8 <= im->height;
            if (whole)
                for (int y = 0; y < 8; y++) {
                    __m256 r, g, b;
                    rgb8_load(mfr_image_row(im, by + y) + 3 * bx, &r, &g, &b);
                    _mm256_storeu_ps(blk[0] + 8 * y,
                                     _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(0.299f), r),
                                                                               _mm256_mul_ps(_mm256_set1_ps(0.587f), g)),
                                                                 _mm256_mul_ps(_mm256_set1_ps(0.114f), b)),
                                                   _mm256_set1_ps(128.0f)));
                    _mm256_storeu_ps(blk[1] + 8 * y,
                                     _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(-0.168736f), r),
                                                                 _mm256_mul_ps(_mm256_set1_ps(0.331264f), g)),
                                                   _mm256_mul_ps(_mm256_set1_ps(0.5f), b)));
                    _mm256_storeu_ps(blk[2] + 8 * y,
                                     _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), r),
                                                                 _mm256_mul_ps(_mm256_set1_ps(0.418688f), g)),
                                                   _mm256_mul_ps(_mm256_set1_ps(0.081312f), b)));
                }
            else
#endif
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) {
                    int yy = by + y < im->height ? by + y : im->height - 1;
                    int xx = bx + x < im->width ? bx + x : im->width - 1;
                    const uint8_t *p = mfr_image_row(im, yy) + 3 * xx;
                    float r = p[0], g = p[1], b = p[2];
                    blk[0][y * 8 + x] = 0.299f * r + 0.587f * g + 0.114f * b - 128.0f;
                    blk[1][y * 8 + x] = -0.168736f * r - 0.331264f * g + 0.5f * b;
                    blk[2][y * 8 + x] = 0.5f * r - 0.418688f * g - 0.081312f * b;
                }
            for (int c = 0; c < 3; c++) {
                float F[64];
                dct8(blk[c], F, C, Ct);
                quantise64(F, Q[c ? 1 : 0]);
                idct8_sparse(F, blk[c], Ct, C);
            }
#if defined(__AVX2__)
            if (whole) {
                const __m256 half = _mm256_set1_ps(0.5f);
                for (int y = 0; y < 8; y++) {
                    const __m256 Y = _mm256_add_ps(_mm256_loadu_ps(blk[0] + 8 * y), _mm256_set1_ps(128.0f));
                    const __m256 cb = _mm256_loadu_ps(blk[1] + 8 * y), cr = _mm256_loadu_ps(blk[2] + 8 * y);
                    const __m256 r = _mm256_add_ps(_mm256_add_ps(Y, _mm256_mul_ps(_mm256_set1_ps(1.402f), cr)), half);
                    const __m256 g = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(Y, _mm256_mul_ps(_mm256_set1_ps(0.344136f), cb)),
                                                                 _mm256_mul_ps(_mm256_set1_ps(0.714136f), cr)),
                                                   half);
                    const __m256 b = _mm256_add_ps(_mm256_add_ps(Y, _mm256_mul_ps(_mm256_set1_ps(1.772f), cb)), half);
                    rgb8_store(mfr_image_row(im, by + y) + 3 * bx, u8_of(r), u8_of(g), u8_of(b));
                }
                continue;
            }
#endif
            for (int y = 0; y < 8 && by + y < im->height; y++)
                for (int x = 0; x < 8 && bx + x < im->width; x++) {
                    uint8_t *p = mfr_image_row(im, by + y) + 3 * (bx + x);
                    float Y = blk[0][y * 8 + x] + 128.0f, cb = blk[1][y * 8 + x], cr = blk[2][y * 8 + x];
                    p[0] = (uint8_t)clampf(Y + 1.402f * cr + 0.5f, 0, 255);
                    p[1] = (uint8_t)clampf(Y - 0.344136f * cb - 0.714136f * cr + 0.5f, 0, 255);
                    p[2] = (uint8_t)clampf(Y + 1.772f * cb + 0.5f, 0, 255);
                }
        }
}

#endif
