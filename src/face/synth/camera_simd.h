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

#endif
