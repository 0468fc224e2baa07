/* Spatial passes (spatial.h): the scalar reference, nearest upsampling
 * (a copy for every ISA) and the dispatch. */
#include "config.h"
#include "spatial.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* a > b ? a : b as a bit blend: with a non-constant arm gcc keeps a float
 * ?: as a branch (trapping math). Same bits. */
static inline float pick_greater(float a, float b)
{
    uint32_t ab, bb, m = -(uint32_t)(a > b);
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & m) | (bb & ~m);
    memcpy(&a, &ab, sizeof a);
    return a;
}

static void pool_rows_scalar(const spatial_pool *p, const float *in, float *out, long r0, long r1)
{
    const int c = p->c;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / p->oh), oy = (int)(r % p->oh);
        const float *src = in + (size_t)b * p->h * p->w * c;
        for (int ox = 0; ox < p->ow; ox++) {
            float *dst = out + ((size_t)r * p->ow + ox) * c;
            int y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left, count = 0;
            for (int i = 0; i < c; i++)
                dst[i] = p->is_max ? -INFINITY : 0.0f;
            for (int ky = 0; ky < p->kh; ky++) {
                int y = y0 + ky;
                if (y < 0 || y >= p->h)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int x = x0 + kx;
                    if (x < 0 || x >= p->w)
                        continue;
                    const float *s = src + ((size_t)y * p->w + x) * c;
                    count++;
                    if (p->is_max)
                        for (int i = 0; i < c; i++)
                            dst[i] = pick_greater(s[i], dst[i]);
                    else
                        for (int i = 0; i < c; i++)
                            dst[i] += s[i];
                }
            }
            if (!p->is_max) {
                float inv = 1.0f / (float)count;
                for (int i = 0; i < c; i++)
                    dst[i] *= inv;
            }
        }
    }
}

void spatial_bilinear_src(int o, int scale, int size, int *i0, int *i1, float *t)
{
    float f = ((float)o + 0.5f) / (float)scale - 0.5f;
    int a;
    if (f < 0.0f)
        f = 0.0f;
    a = (int)floorf(f);
    if (a > size - 1)
        a = size - 1;
    *i0 = a;
    *i1 = a + 1 < size ? a + 1 : size - 1;
    *t = f - (float)a;
}

void spatial_upsample_nearest_rows(const spatial_up *p, const float *in, float *out, long r0, long r1)
{
    const int oh = p->h * p->scale, ow = p->w * p->scale;
    const size_t c = (size_t)p->c, row = (size_t)ow * c;
    for (long r = r0; r < r1; r++) {
        float *dst = out + (size_t)r * row;
        if (r > r0 && r % oh % p->scale != 0) {
            memcpy(dst, dst - row, row * sizeof(float)); /* the row above reads the same input row */
            continue;
        }
        int b = (int)(r / oh), oy = (int)(r % oh);
        const float *src = in + ((size_t)b * p->h + (size_t)(oy / p->scale)) * p->w * c;
        for (int x = 0; x < p->w; x++)
            for (int k = 0; k < p->scale; k++)
                memcpy(dst + ((size_t)x * p->scale + k) * c, src + (size_t)x * c, c * sizeof(float));
    }
}

static void bilinear_rows_scalar(const spatial_up *p, const float *in, float *out, long r0, long r1)
{
    const int oh = p->h * p->scale, ow = p->w * p->scale, c = p->c;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / oh), oy = (int)(r % oh), y0, y1;
        float ty;
        const float *src = in + (size_t)b * p->h * p->w * c;
        float *dst = out + (size_t)r * ow * c;
        spatial_bilinear_src(oy, p->scale, p->h, &y0, &y1, &ty);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            float tx;
            spatial_bilinear_src(ox, p->scale, p->w, &x0, &x1, &tx);
            const float *p00 = src + ((size_t)y0 * p->w + x0) * c, *p01 = src + ((size_t)y0 * p->w + x1) * c;
            const float *p10 = src + ((size_t)y1 * p->w + x0) * c, *p11 = src + ((size_t)y1 * p->w + x1) * c;
            for (int i = 0; i < c; i++) {
                float top = p00[i] + (p01[i] - p00[i]) * tx;
                float bot = p10[i] + (p11[i] - p10[i]) * tx;
                dst[(size_t)ox * c + i] = top + (bot - top) * ty;
            }
        }
    }
}

static void upsample_rows_scalar(const spatial_up *p, const float *in, float *out, long r0, long r1)
{
    if (p->bilinear)
        bilinear_rows_scalar(p, in, out, r0, r1);
    else
        spatial_upsample_nearest_rows(p, in, out, r0, r1);
}

static void binary_scalar(int is_mul, const float *a, const float *b, float *dst, size_t n)
{
    if (is_mul)
        for (size_t i = 0; i < n; i++)
            dst[i] = a[i] * b[i];
    else
        for (size_t i = 0; i < n; i++)
            dst[i] = a[i] + b[i];
}

static const spatial_ops spatial_scalar = {pool_rows_scalar, upsample_rows_scalar, binary_scalar};

const spatial_ops *spatial_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return &spatial_avx512_ops;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return &spatial_avx2_ops;
#endif
    (void)isa;
    return &spatial_scalar;
}
