/* The camera after the scene: procedural backgrounds, optical blur, sRGB
 * encoding, sensor noise and JPEG-like block artefacts. */
#include "config.h"
#include "synth.h"
#include "camera_simd.h"

#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The background's colours, gradient and blobs, from the seed (bg_params:
 * camera_simd.h). */

static void bg_setup(const synth_frame *f, uint32_t seed, bg_params *P)
{
    for (int c = 0; c < 3; c++) {
        float g0 = synth_hash2f((int32_t)seed, 10, 1u), g1 = synth_hash2f((int32_t)seed, 11, 1u);
        P->c0[c] = synth_to_linear(clampf(0.15f + 0.7f * g0 + 0.25f * (synth_hash2f((int32_t)seed, c, 2u) - 0.5f), 0, 1));
        P->c1[c] = synth_to_linear(clampf(0.10f + 0.8f * g1 + 0.30f * (synth_hash2f((int32_t)seed, c, 3u) - 0.5f), 0, 1));
    }
    float ang = 6.2831853f * synth_hash2f((int32_t)seed, 12, 1u);
    P->gx = cosf(ang) / (float)f->w, P->gy = sinf(ang) / (float)f->h;
    for (int b = 0; b < 4; b++) {
        P->blob[b][0] = synth_hash2f((int32_t)seed, 20 + b, 4u) * (float)f->w;
        P->blob[b][1] = synth_hash2f((int32_t)seed, 20 + b, 5u) * (float)f->h;
        float r = (0.1f + 0.4f * synth_hash2f((int32_t)seed, 20 + b, 6u)) * (float)(f->w > f->h ? f->w : f->h);
        P->blob[b][2] = 1.0f / (r * r);
        for (int c = 0; c < 3; c++)
            P->blob[b][3 + c] = synth_to_linear(synth_hash2f((int32_t)seed, 30 + b * 3 + c, 7u));
    }
}

/* The blobs row y can reach: dx^2 + dy^2 >= dy^2, so a blob with dy^2 / r^2
 * >= 1 is out of reach on the whole row (its test could not pass). */
static int bg_near(const bg_params *P, int y, int near[4])
{
    int nb = 0;
    for (int b = 0; b < 4; b++) {
        float dy = (float)y - P->blob[b][1];
        if (dy * dy * P->blob[b][2] < 1.0f)
            near[nb++] = b;
    }
    return nb;
}

/* Reference: pixel by pixel. */
void synth_background_ref(synth_frame *f, uint32_t seed, int clutter)
{
    (void)clutter;
    bg_params P;
    bg_setup(f, seed, &P);
    for (int y = 0; y < f->h; y++) {
        int near[4], nb = bg_near(&P, y, near);
        for (int x = 0; x < f->w; x++) {
            if (f->mesh[(size_t)y * (size_t)f->w + (size_t)x] >= 0)
                continue; /* hidden by geometry already rasterised */
            float t = clampf(0.5f + (float)x * P.gx + (float)y * P.gy - 0.5f * (P.gx * (float)f->w + P.gy * (float)f->h), 0, 1);
            float n = 1.0f;
            float *p = f->rgb + 3 * ((size_t)y * (size_t)f->w + (size_t)x);
            for (int c = 0; c < 3; c++)
                p[c] = mixf(P.c0[c], P.c1[c], t) * n;
            for (int q = 0; q < nb; q++) {
                const int b = near[q];
                float dx = (float)x - P.blob[b][0], dy = (float)y - P.blob[b][1];
                float d = (dx * dx + dy * dy) * P.blob[b][2];
                if (d < 1.0f) {
                    float a = 0.5f * bump2(d);
                    for (int c = 0; c < 3; c++)
                        p[c] += (P.blob[b][3 + c] - p[c]) * a;
                }
            }
        }
    }
}

/* The reference's operations in its order, a row at a time in planes:
 * with SSE2 four pixels at a time (the blob's test a mask; groups of four
 * all under meshes skipped), then copied into the pixels no mesh took. */
void synth_background(synth_frame *f, uint32_t seed, int clutter)
{
    (void)clutter;
    bg_params P;
    bg_setup(f, seed, &P);
    float pl[3][SYNTH_BG_SPAN];
    const float off = 0.5f * (P.gx * (float)f->w + P.gy * (float)f->h);
#ifdef MFR_HAVE_AVX2
    const int avx2 = mfr_isa_best() >= MFR_ISA_AVX2;
#endif
    for (int y = 0; y < f->h; y++) {
        int near[4], nb = bg_near(&P, y, near);
        const float fy = (float)y, ygy = fy * P.gy;
        float dy2[4];
        for (int j = 0; j < nb; j++) {
            float dy = fy - P.blob[near[j]][1];
            dy2[j] = dy * dy;
        }
        for (int x0 = 0; x0 < f->w; x0 += SYNTH_BG_SPAN) {
            const int n = f->w - x0 < SYNTH_BG_SPAN ? f->w - x0 : SYNTH_BG_SPAN;
            const int32_t *mrow = f->mesh + (size_t)y * (size_t)f->w + (size_t)x0;
            int any = 0;
            for (int i = 0; i < n; i++)
                any |= mrow[i] < 0;
            if (!any)
                continue;
            int i = 0;
#ifdef MFR_HAVE_AVX2
            if (avx2) /* eight pixels at a time (camera_avx2.c) */
                i = synth_bg_span_avx2(&P, mrow, x0, n, ygy, off, near, dy2, nb, pl);
#endif
#if defined(__SSE2__)
            const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
            for (; i + 4 <= n; i += 4) {
                /* four pixels all under meshes: nothing to draw */
                const __m128i mk = _mm_loadu_si128((const __m128i *)(const void *)(mrow + i));
                if (_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(mk, _mm_setzero_si128()))) == 0)
                    continue;
                const __m128 x = _mm_cvtepi32_ps(_mm_add_epi32(_mm_set1_epi32(x0 + i), _mm_setr_epi32(0, 1, 2, 3)));
                __m128 t = _mm_sub_ps(_mm_add_ps(_mm_add_ps(_mm_set1_ps(0.5f), _mm_mul_ps(x, _mm_set1_ps(P.gx))),
                                                 _mm_set1_ps(ygy)), _mm_set1_ps(off));
                /* clampf(t, 0, 1): t < 0 ? 0 : t > 1 ? 1 : t */
                t = _mm_or_ps(_mm_and_ps(_mm_cmplt_ps(t, zero), zero),
                              _mm_andnot_ps(_mm_cmplt_ps(t, zero),
                                            _mm_or_ps(_mm_and_ps(_mm_cmpgt_ps(t, one), one),
                                                      _mm_andnot_ps(_mm_cmpgt_ps(t, one), t))));
                __m128 q[3];
                for (int c = 0; c < 3; c++)
                    q[c] = _mm_mul_ps(_mm_add_ps(_mm_set1_ps(P.c0[c]),
                                                 _mm_mul_ps(_mm_sub_ps(_mm_set1_ps(P.c1[c]), _mm_set1_ps(P.c0[c])), t)),
                                      one);
                for (int j = 0; j < nb; j++) {
                    const float *B = P.blob[near[j]];
                    const __m128 dx = _mm_sub_ps(x, _mm_set1_ps(B[0]));
                    const __m128 d = _mm_mul_ps(_mm_add_ps(_mm_mul_ps(dx, dx), _mm_set1_ps(dy2[j])), _mm_set1_ps(B[2]));
                    const __m128 in = _mm_cmplt_ps(d, one), e = _mm_sub_ps(one, d);
                    const __m128 a = _mm_mul_ps(_mm_set1_ps(0.5f), _mm_mul_ps(e, e));
                    for (int c = 0; c < 3; c++) {
                        const __m128 nq = _mm_add_ps(q[c], _mm_mul_ps(_mm_sub_ps(_mm_set1_ps(B[3 + c]), q[c]), a));
                        q[c] = _mm_or_ps(_mm_and_ps(in, nq), _mm_andnot_ps(in, q[c]));
                    }
                }
                for (int c = 0; c < 3; c++)
                    _mm_storeu_ps(pl[c] + i, q[c]);
            }
#endif
            for (; i < n; i++) {
                const float xf = (float)(x0 + i);
                float t = clampf(0.5f + xf * P.gx + ygy - off, 0, 1);
                for (int c = 0; c < 3; c++)
                    pl[c][i] = mixf(P.c0[c], P.c1[c], t) * 1.0f;
                for (int j = 0; j < nb; j++) {
                    const float *B = P.blob[near[j]];
                    float dx = xf - B[0];
                    float d = (dx * dx + dy2[j]) * B[2];
                    if (d < 1.0f) {
                        float a = 0.5f * bump2(d);
                        for (int c = 0; c < 3; c++)
                            pl[c][i] += (B[3 + c] - pl[c][i]) * a;
                    }
                }
            }
            float *p = f->rgb + 3 * ((size_t)y * (size_t)f->w + (size_t)x0);
            for (int k = 0; k < n; k++)
                if (mrow[k] < 0) {
                    p[3 * k] = pl[0][k];
                    p[3 * k + 1] = pl[1][k];
                    p[3 * k + 2] = pl[2][k];
                }
        }
    }
}

static int blur_radius(float sigma)
{
    int r = (int)ceilf(3.0f * sigma);
    return r > 24 ? 24 : r;
}

/* Normalised Gaussian taps k[0..2r]. */
static void blur_kernel(float sigma, int r, float k[49])
{
    float sum = 0.0f;
    for (int i = -r; i <= r; i++)
        sum += k[i + r] = expf(-(float)(i * i) / (2.0f * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] /= sum;
}

/* Reference: a plain separable blur, clamping at the edges on every tap. */
void synth_gaussian_blur_ref(float *rgb, int w, int h, float sigma, float *tmp)
{
    int r = blur_radius(sigma);
    if (r < 1)
        return;
    float k[49];
    blur_kernel(sigma, r, k);
    /* rows into tmp, then columns back into rgb; edges clamp */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float a = 0.0f;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    a += k[i + r] * rgb[3 * ((size_t)y * (size_t)w + (size_t)xx) + c];
                }
                tmp[3 * ((size_t)y * (size_t)w + (size_t)x) + c] = a;
            }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float a = 0.0f;
                for (int i = -r; i <= r; i++) {
                    int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                    a += k[i + r] * tmp[3 * ((size_t)yy * (size_t)w + (size_t)x) + c];
                }
                rgb[3 * ((size_t)y * (size_t)w + (size_t)x) + c] = a;
            }
}

/* The same sums as synth_gaussian_blur_ref, in the same order (so the same
 * bits), arranged for speed: the row pass clamps only near the two ends,
 * and the column pass adds whole weighted rows, which the compiler
 * vectorises. */
void synth_gaussian_blur(float *rgb, int w, int h, float sigma, float *tmp)
{
    int r = blur_radius(sigma);
    if (r < 1)
        return;
    float k[49];
    blur_kernel(sigma, r, k);
    synth_blur_taps(rgb, w, h, r, k, tmp);
}

void synth_blur_taps_base(float *rgb, int w, int h, int r, const float *k, float *tmp)
{
    blur_taps(rgb, w, h, r, k, tmp);
}

/* The taps through the build for this CPU: AVX2 (eight samples per
 * instruction) where it is compiled in and runs, else the baseline. Both
 * are the same C, whose sums the compiler does not reorder, so the same
 * bits (a test). */
void synth_blur_taps(float *rgb, int w, int h, int r, const float *k, float *tmp)
{
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_blur_taps_avx2(rgb, w, h, r, k, tmp);
        return;
    }
#endif
    blur_taps(rgb, w, h, r, k, tmp);
}

void synth_encode_srgb8_ref(const float *lin, uint8_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = synth_to_srgb8(lin[i]);
}

/* synth_to_srgb8's table index four samples at a time (the look-ups stay
 * scalar): lin * 4096 + 0.5 truncated where 0 < lin < 1, 4096 from 1 on, 0
 * below 0 and for NaN; the same rounding as the scalar cast. */
void synth_encode_srgb8(const float *lin, uint8_t *out, int n)
{
    int i = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
    for (; i + 4 <= n; i += 4) {
        __m128 x = _mm_loadu_ps(lin + i);
        __m128i q = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(4096.0f)), _mm_set1_ps(0.5f)));
        __m128i lo = _mm_castps_si128(_mm_cmpgt_ps(x, zero)), hi = _mm_castps_si128(_mm_cmplt_ps(x, one));
        /* in (0, 1): q; from 1 on (and not NaN): 4096; else 0 */
        __m128i top = _mm_andnot_si128(hi, _mm_and_si128(lo, _mm_set1_epi32(4096)));
        q = _mm_or_si128(_mm_and_si128(_mm_and_si128(lo, hi), q), top);
        int32_t ix[4];
        _mm_storeu_si128((__m128i *)ix, q);
        out[i] = synth_srgb_lut[ix[0]];
        out[i + 1] = synth_srgb_lut[ix[1]];
        out[i + 2] = synth_srgb_lut[ix[2]];
        out[i + 3] = synth_srgb_lut[ix[3]];
    }
#endif
    for (; i < n; i++)
        out[i] = synth_to_srgb8(lin[i]);
}

void synth_sensor_noise(uint8_t *row, int nx, uint32_t key, uint32_t n, float sd)
{
    sensor_noise(row, nx, key, n, sd);
}

void synth_finish(const synth_frame *f, const mfr_nuisance *nz, uint64_t noise_seed, uint64_t noise_item,
                  mfr_image *out)
{
    const int w = f->w, h = f->h;
#ifdef MFR_HAVE_AVX2
    const int avx2 = mfr_isa_best() >= MFR_ISA_AVX2;
#endif
    if (nz->blur > 0.2f)
        synth_gaussian_blur(f->rgb, w, h, nz->blur, f->tmp);
    /* Sensor noise: the image's Philox stream gives a 32-bit key; each
     * sample is then the hash of (key, sample number), whose four bytes sum
     * to a near-Gaussian value. A Philox call per sample cost more than the
     * rest of the camera; the hash keeps the noise a pure function of
     * (seed, item, sample), so it is the same at any thread count. */
    mfr_rng r;
    mfr_rng_init(&r, noise_seed, MFR_STREAM_NOISE, noise_item);
    const uint32_t key = mfr_rng_u32(&r);
    const float sd = nz->noise / 147.8f; /* a sum of four uniform bytes has sd 147.8 */
    for (int y = 0; y < h; y++) {
        uint8_t *restrict row = mfr_image_row(out, y);
        const float *src = f->rgb + 3 * (size_t)y * (size_t)w;
        const uint32_t n = (uint32_t)y * 3u * (uint32_t)w;
        const int nx = 3 * w;
        /* the table look-ups first, then the noise in a loop without them,
         * which the compiler vectorises (the same operations per sample) */
#ifdef MFR_HAVE_AVX2
        if (avx2)
            synth_encode_srgb8_avx2(src, row, nx);
        else
#endif
            synth_encode_srgb8(src, row, nx);
        if (!(sd > 0.0f))
            continue;
#ifdef MFR_HAVE_AVX2
        if (avx2) {
            synth_sensor_noise_avx2(row, nx, key, n, sd);
            continue;
        }
#endif
        synth_sensor_noise(row, nx, key, n, sd);
    }
    if (nz->jpeg_quality > 0)
        synth_jpeg_artefacts(out, nz->jpeg_quality);
}

/* ------------------------------------------------------------- JPEG-like */

static const uint8_t q_luma[64] = {
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
static const uint8_t q_chroma[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

/* roundf (halves away from zero) for |x| < 2^31 without the libm call:
 * x - trunc(x) is exact. A zero may lose its sign, which the sums of the
 * inverse transform (starting from +0) never see. */
static inline float round_half_away(float x)
{
    float t = (float)(int32_t)x, d = x - t;
    return d >= 0.5f ? t + 1.0f : d <= -0.5f ? t - 1.0f : t;
}

void synth_quantise64_ref(float F[64], const float Q[64])
{
    for (int i = 0; i < 64; i++)
        F[i] = round_half_away(F[i] / Q[i]) * Q[i];
}

/* Four coefficients at a time: the same division, the same truncation
 * (cvttps), the same halves away from zero, the same product. */
void synth_quantise64(float F[64], const float Q[64])
{
    quantise64(F, Q);
}

void synth_jpeg_blocks(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64])
{
    jpeg_blocks(im, C, Ct, Q);
}

/* The basis C (Ct its transpose) and the quantisers (luma, chroma) of a quality. */
static void jpeg_tables(int quality, float C[64], float Ct[64], float Q[2][64])
{
    int q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    int scale = q < 50 ? 5000 / q : 200 - 2 * q;
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 8; x++)
            C[u * 8 + x] = (u == 0 ? sqrtf(0.125f) : 0.5f) * cosf((float)((2 * x + 1) * u) * SYNTH_PI / 16.0f);
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 8; x++)
            Ct[x * 8 + u] = C[u * 8 + x];
    for (int i = 0; i < 64; i++) {
        int a = (q_luma[i] * scale + 50) / 100, b = (q_chroma[i] * scale + 50) / 100;
        Q[0][i] = (float)(a < 1 ? 1 : a > 255 ? 255 : a);
        Q[1][i] = (float)(b < 1 ? 1 : b > 255 ? 255 : b);
    }
}

void synth_jpeg_artefacts(mfr_image *im, int quality)
{
    float C[64], Ct[64], Q[2][64];
    jpeg_tables(quality, C, Ct, Q);
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_jpeg_blocks_avx2(im, C, Ct, Q);
        return;
    }
#endif
    synth_jpeg_blocks(im, C, Ct, Q);
}

/* out = A in At for one 8 x 8 block, each sum over k from 0 up, from +0 */
static void dct8_ref(const float in[64], float out[64], const float A[64], const float At[64])
{
    float t[64];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            float s = 0.0f;
            for (int k = 0; k < 8; k++)
                s += A[i * 8 + k] * in[k * 8 + j];
            t[i * 8 + j] = s;
        }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            float s = 0.0f;
            for (int k = 0; k < 8; k++)
                s += t[i * 8 + k] * At[k * 8 + j];
            out[i * 8 + j] = s;
        }
}

void synth_jpeg_artefacts_ref(mfr_image *im, int quality)
{
    float C[64], Ct[64], Q[2][64];
    jpeg_tables(quality, C, Ct, Q);
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
                dct8_ref(blk[c], F, C, Ct);
                synth_quantise64_ref(F, Q[c ? 1 : 0]);
                dct8_ref(F, blk[c], Ct, C);
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
