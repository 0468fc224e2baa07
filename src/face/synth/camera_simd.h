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
        for (size_t x = 0; x < rw; x++)
            dst[x] = 0.0f;
        for (int i = -r; i <= r; i++) {
            int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
            const float *restrict src = tmp + (size_t)yy * rw;
            const float kk = k[i + r];
#pragma omp simd
            for (size_t x = 0; x < rw; x++)
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

/* out = A in A^T for 8x8 blocks, At the transpose of A: the DCT-II with A
 * the orthonormal basis C, its inverse with A = C^T. Each sum runs over k
 * in increasing order, as the plain triple loop would; the loops are
 * arranged so that the innermost one runs along rows (vectorised). */
static inline void dct8(const float in[64], float out[64], const float A[64], const float At[64])
{
    float t[64];
    for (int i = 0; i < 8; i++) {
        float acc[8] = {0};
        for (int k = 0; k < 8; k++) {
            const float a = A[i * 8 + k];
#pragma omp simd
            for (int j = 0; j < 8; j++)
                acc[j] += a * in[k * 8 + j];
        }
        for (int j = 0; j < 8; j++)
            t[i * 8 + j] = acc[j];
    }
    for (int i = 0; i < 8; i++) {
        float acc[8] = {0};
        for (int k = 0; k < 8; k++) {
            const float a = t[i * 8 + k];
#pragma omp simd
            for (int j = 0; j < 8; j++)
                acc[j] += a * At[k * 8 + j];
        }
        for (int j = 0; j < 8; j++)
            out[i * 8 + j] = acc[j];
    }
}

/* The JPEG-like round trip of every 8 x 8 block of an 8-bit RGB image: to
 * YCbCr, DCT-II with the orthonormal basis C (Ct its transpose), quantised
 * by Q[0] (luma) and Q[1] (chroma), back, and rounded to 8 bits. */
static inline void jpeg_blocks(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64])
{
    for (int by = 0; by < im->height; by += 8)
        for (int bx = 0; bx < im->width; bx += 8) {
            float blk[3][64];
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
                dct8(F, blk[c], Ct, C);
            }
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
