/* Surface colour of the head in its (u, v) space: skin with pores, blush,
 * freckles, moles and wrinkles; eyes with iris, pupil, lids and lashes;
 * brows; lips and an open mouth; nostrils; scalp and facial hair. */
#include "config.h"
#include "synth.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void blend(float rgb[3], const float c[3], float a)
{
    for (int k = 0; k < 3; k++)
        rgb[k] += (c[k] - rgb[k]) * a;
}
static void scale3(float rgb[3], float s)
{
    for (int k = 0; k < 3; k++)
        rgb[k] *= s;
}

/* Hair colour with strands running along `along`; noise seeds texture_seed
 * + sk and + sk + 7. */
static void hair_texture(const synth_head *h, const float base[3], float across, float along, int sk, float out[3])
{
    float n = synth_vnoise_h(across * 55.0f, along * 5.0f, h->nh[sk]);
    float m = synth_vnoise_h(across * 13.0f, along * 2.0f, h->nh[sk + 7]);
    float s = 0.70f + 0.45f * n + 0.2f * m;
    for (int k = 0; k < 3; k++)
        out[k] = clampf(base[k] * s + 0.03f * n, 0.0f, 1.0f);
}

void synth_hair_albedo(const synth_head *h, float u, float v, float rgb[3])
{
    hair_texture(h, h->id->hair_color, u * 0.8f, v * 0.5f, 12, rgb);
}

/* Eye of one side: ex, ey in eye half-widths. Returns 1 and the colour when
 * the point belongs to the eye (opening, lash line). */
static int eye_color(const synth_head *h, float ex, float ey, float rgb[3], float *spec)
{
    const mfr_identity *id = h->id;
    float q = 1.0f - ex * ex;
    if (q <= 0.0f)
        return 0;
    float open = 1.0f - 0.92f * h->eye_close;
    float hmax = h->eye_h / h->eye_w;
    float up = hmax * powf(q, 0.7f) * open * (1.0f + 0.15f * ex);
    float lo = -0.8f * hmax * powf(q, 0.8f) * (0.3f + 0.7f * open);
    if (ey > lo && ey < up) {
        float ri = sqrtf(ex * ex + ey * ey) / 0.43f;
        if (ri < 1.0f) {
            float fib = synth_vnoise_h(atan2f(ey, ex) * 9.0f, ri * 3.0f, h->nh[11]);
            float s = 0.55f + 0.6f * ri * (0.6f + 0.4f * fib);
            for (int k = 0; k < 3; k++)
                rgb[k] = id->iris[k] * s;
            if (ri > 0.85f)
                scale3(rgb, 0.6f);
            if (ri < 0.38f)
                rgb[0] = rgb[1] = rgb[2] = 0.03f;
        } else {
            float sc = 0.86f - 0.18f * smoothstep(0.5f, 1.0f, fabsf(ex));
            rgb[0] = sc;
            rgb[1] = sc * 0.97f;
            rgb[2] = sc * 0.94f;
        }
        /* the upper lid shades the top of the eye */
        scale3(rgb, 1.0f - 0.45f * smoothstep(up - 0.25f, up, ey));
        *spec = 0.9f;
        return 1;
    }
    /* lash line along the upper lid, heavier at the outer corner */
    float lash = 0.07f + 0.05f * smoothstep(-0.2f, 1.0f, ex);
    if (ey >= up && ey < up + lash && fabsf(ex) < 1.0f) {
        float c[3] = {id->brow_color[0] * 0.35f, id->brow_color[1] * 0.35f, id->brow_color[2] * 0.35f};
        blend(rgb, c, 0.85f);
        return 1;
    }
    return 0;
}

/* The skin's tone factor (low-frequency variation and pores) and specular
 * strength at (u, v): out[0], out[1]. */
static inline void skin_base(const synth_head *h, float u, float v, float out[2])
{
    const float X = u * 0.75f, Y = v;
    float lf = synth_vnoise_h(u * 4.0f, v * 4.0f, h->nh[0]) - 0.5f;
    /* pores: one random value per texel of about a pixel (no interpolation: cheap) */
    float pore = synth_hash2f(synth_floor_i(u * 90.0f), synth_floor_i(v * 90.0f), h->id->texture_seed + 1u) - 0.5f;
    out[0] = 1.0f + 0.10f * lf + 0.05f * pore;
    out[1] = 0.10f + 0.10f * bump2((X / 0.2f) * (X / 0.2f) + ((Y - h->nose_tip - 0.15f) / 0.5f) * ((Y - h->nose_tip - 0.15f) / 0.5f));
}

#if defined(__SSE2__)
/* skin_base four points at a time with the same operations: floor as
 * synth_floor_i, the lattice read lane by lane, 32-bit products from
 * pmuludq, the same float sums and products in the same order. */
static inline __m128i floor4(__m128 v)
{
    const __m128i i = _mm_cvttps_epi32(v);
    return _mm_add_epi32(i, _mm_castps_si128(_mm_cmpgt_ps(_mm_cvtepi32_ps(i), v))); /* i - ((float)i > v) */
}
static inline __m128i mul32(__m128i a, __m128i b)
{
    const __m128i even = _mm_mul_epu32(a, b), odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), _mm_srli_epi64(b, 32));
    return _mm_unpacklo_epi32(_mm_shuffle_epi32(even, _MM_SHUFFLE(0, 0, 2, 0)), _mm_shuffle_epi32(odd, _MM_SHUFFLE(0, 0, 2, 0)));
}
static inline __m128i hash4(__m128i x) /* synth_hash */
{
    x = _mm_xor_si128(x, _mm_srli_epi32(x, 16));
    x = mul32(x, _mm_set1_epi32(0x7feb352d));
    x = _mm_xor_si128(x, _mm_srli_epi32(x, 15));
    x = mul32(x, _mm_set1_epi32((int32_t)0x846ca68bu));
    return _mm_xor_si128(x, _mm_srli_epi32(x, 16));
}
static inline __m128 mix4(__m128 a, __m128 b, __m128 t) { return _mm_add_ps(a, _mm_mul_ps(_mm_sub_ps(b, a), t)); }

static inline __m128 vnoise4(__m128 x, __m128 y, uint32_t hs) /* synth_vnoise_h */
{
    const __m128i xi = floor4(x), yi = floor4(y), m = _mm_set1_epi32(SYNTH_NOISE_N - 1);
    const __m128i i0 = _mm_and_si128(_mm_add_epi32(xi, _mm_set1_epi32((int32_t)hs)), m);
    const __m128i j0 = _mm_and_si128(_mm_add_epi32(yi, _mm_set1_epi32((int32_t)(hs >> 16))), m);
    int32_t I0[4], J0[4];
    _mm_storeu_si128((__m128i *)(void *)I0, i0);
    _mm_storeu_si128((__m128i *)(void *)J0, j0);
    float A[4], B[4], C[4], D[4];
    for (int l = 0; l < 4; l++) {
        const uint32_t a0 = (uint32_t)I0[l], a1 = (a0 + 1) & (SYNTH_NOISE_N - 1);
        const uint32_t b0 = (uint32_t)J0[l], b1 = (b0 + 1) & (SYNTH_NOISE_N - 1);
        const uint16_t *r0 = synth_noise_lattice + b0 * SYNTH_NOISE_N, *r1 = synth_noise_lattice + b1 * SYNTH_NOISE_N;
        A[l] = (float)r0[a0], B[l] = (float)r0[a1], C[l] = (float)r1[a0], D[l] = (float)r1[a1];
    }
    const __m128 s16 = _mm_set1_ps(1.0f / 65536.0f), three = _mm_set1_ps(3.0f), two = _mm_set1_ps(2.0f);
    const __m128 a = _mm_mul_ps(_mm_loadu_ps(A), s16), b = _mm_mul_ps(_mm_loadu_ps(B), s16);
    const __m128 c = _mm_mul_ps(_mm_loadu_ps(C), s16), d = _mm_mul_ps(_mm_loadu_ps(D), s16);
    __m128 tx = _mm_sub_ps(x, _mm_cvtepi32_ps(xi)), ty = _mm_sub_ps(y, _mm_cvtepi32_ps(yi));
    tx = _mm_mul_ps(_mm_mul_ps(tx, tx), _mm_sub_ps(three, _mm_mul_ps(two, tx)));
    ty = _mm_mul_ps(_mm_mul_ps(ty, ty), _mm_sub_ps(three, _mm_mul_ps(two, ty)));
    return mix4(mix4(a, b, tx), mix4(c, d, tx), ty);
}

static void skin_base4(const synth_head *h, const float *u, const float *v, float *tone, float *spec)
{
    const __m128 U = _mm_loadu_ps(u), V = _mm_loadu_ps(v), half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
    const __m128 lf = _mm_sub_ps(vnoise4(_mm_mul_ps(U, _mm_set1_ps(4.0f)), _mm_mul_ps(V, _mm_set1_ps(4.0f)), h->nh[0]), half);
    /* synth_hash2f(i, j, seed) */
    const __m128i pi = floor4(_mm_mul_ps(U, _mm_set1_ps(90.0f))), pj = floor4(_mm_mul_ps(V, _mm_set1_ps(90.0f)));
    const __m128i hj = hash4(_mm_add_epi32(pj, _mm_set1_epi32((int32_t)(h->id->texture_seed + 1u))));
    const __m128i hp = hash4(_mm_xor_si128(mul32(pi, _mm_set1_epi32((int32_t)0x9e3779b1u)), hj));
    const __m128 pore = _mm_sub_ps(_mm_mul_ps(_mm_cvtepi32_ps(_mm_srli_epi32(hp, 8)), _mm_set1_ps(1.0f / 16777216.0f)), half);
    _mm_storeu_ps(tone, _mm_add_ps(_mm_add_ps(one, _mm_mul_ps(_mm_set1_ps(0.10f), lf)), _mm_mul_ps(_mm_set1_ps(0.05f), pore)));
    const __m128 X = _mm_mul_ps(U, _mm_set1_ps(0.75f));
    const __m128 qx = _mm_div_ps(X, _mm_set1_ps(0.2f));
    const __m128 qy = _mm_div_ps(_mm_sub_ps(_mm_sub_ps(V, _mm_set1_ps(h->nose_tip)), _mm_set1_ps(0.15f)), half);
    const __m128 t = _mm_add_ps(_mm_mul_ps(qx, qx), _mm_mul_ps(qy, qy)), e = _mm_sub_ps(one, t);
    const __m128 b2 = _mm_and_ps(_mm_cmplt_ps(t, one), _mm_mul_ps(e, e)); /* bump2 */
    _mm_storeu_ps(spec, _mm_add_ps(_mm_set1_ps(0.10f), _mm_mul_ps(_mm_set1_ps(0.10f), b2)));
}
#endif

#if defined(__SSE2__)
/* synth_hairline of four longitudes: the segments tried from the last to
 * the first, so that the first one the point falls in wins, as in the loop. */
static inline __m128 hairline4(const synth_head *h, __m128 u)
{
    const __m128 au = _mm_andnot_ps(_mm_set1_ps(-0.0f), u);
    const __m128 q = _mm_div_ps(_mm_mul_ps(u, _mm_set1_ps(0.75f)), _mm_set1_ps(0.12f)), t = _mm_mul_ps(q, q);
    const __m128 one = _mm_set1_ps(1.0f), e = _mm_sub_ps(one, t);
    const __m128 b2 = _mm_and_ps(_mm_cmplt_ps(t, one), _mm_mul_ps(e, e));
    const __m128 hf = _mm_sub_ps(_mm_set1_ps(h->hair_front), _mm_mul_ps(_mm_set1_ps(0.07f * h->id->hair_peak), b2));
    const float ku[8] = {0.0f, 0.75f, 1.15f, 1.33f, 1.48f, 1.85f, 2.25f, SYNTH_PI + 0.01f};
    float kv[8] = {0.0f, 0.0f, 0.30f, -0.02f, 0.24f, 0.24f, -0.45f, -0.6f}; /* 0, 1: hf, hf + 0.05 per lane */
    if (h->id->hair_style == MFR_HAIR_LONG) {
        kv[3] = 0.05f;
        kv[4] = kv[5] = 0.10f;
        kv[6] = kv[7] = -0.9f;
    }
    __m128 kvl[8];
    kvl[0] = hf;
    kvl[1] = _mm_add_ps(hf, _mm_set1_ps(0.05f));
    for (int i = 2; i < 8; i++)
        kvl[i] = _mm_set1_ps(kv[i]);
    __m128 r = kvl[7];
    for (int i = 6; i >= 0; i--) {
        const __m128 f = _mm_div_ps(_mm_sub_ps(au, _mm_set1_ps(ku[i])), _mm_set1_ps(ku[i + 1] - ku[i]));
        const __m128 m = mix4(kvl[i], kvl[i + 1], f), in = _mm_cmple_ps(au, _mm_set1_ps(ku[i + 1]));
        r = _mm_or_ps(_mm_and_ps(in, m), _mm_andnot_ps(in, r));
    }
    return r;
}

static inline __m128 clamp01(__m128 x) /* clampf(x, 0, 1) */
{
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
    const __m128 lo = _mm_cmplt_ps(x, zero), hi = _mm_cmpgt_ps(x, one);
    return _mm_or_ps(_mm_andnot_ps(lo, _mm_or_ps(_mm_and_ps(hi, one), _mm_andnot_ps(hi, x))), _mm_and_ps(lo, zero));
}

/* head_albedo's scalp hair for four points, in its operations. */
static void scalp4(const synth_head *h, const float *u, const float *v, float (*rgb)[3], float *spec)
{
    const mfr_identity *id = h->id;
    if (id->hair_style == MFR_HAIR_BALD)
        return;
    const __m128 U = _mm_loadu_ps(u), V = _mm_loadu_ps(v);
    const float hf_low = h->hair_front - 0.07f * fabsf(id->hair_peak);
    const __m128 front = _mm_cmple_ps(_mm_andnot_ps(_mm_set1_ps(-0.0f), U), _mm_set1_ps(1.15f));
    const __m128 hair_low = _mm_or_ps(_mm_and_ps(front, _mm_set1_ps((hf_low < 0.30f ? hf_low : 0.30f) - 0.03f)),
                                      _mm_andnot_ps(front, _mm_set1_ps(-1e30f)));
    __m128 in = _mm_cmpgt_ps(V, hair_low);
    if (_mm_movemask_ps(in) == 0)
        return;
    const __m128 hv = hairline4(h, U);
    /* smoothstep(hv - 0.02, hv + 0.04, v) */
    const __m128 e0 = _mm_sub_ps(hv, _mm_set1_ps(0.02f)), e1 = _mm_add_ps(hv, _mm_set1_ps(0.04f));
    const __m128 st = clamp01(_mm_div_ps(_mm_sub_ps(V, e0), _mm_sub_ps(e1, e0)));
    __m128 a = _mm_mul_ps(_mm_mul_ps(st, st), _mm_sub_ps(_mm_set1_ps(3.0f), _mm_mul_ps(_mm_set1_ps(2.0f), st)));
    in = _mm_and_ps(in, _mm_cmpgt_ps(a, _mm_setzero_ps()));
    if (_mm_movemask_ps(in) == 0)
        return;
    /* hair_texture(h, hair_color, across, along, 12) */
    const __m128 part = _mm_and_ps(_mm_cmpgt_ps(V, _mm_set1_ps(0.8f)), _mm_set1_ps(1.0f));
    const __m128 across = _mm_add_ps(_mm_mul_ps(U, _mm_set1_ps(0.8f)), _mm_mul_ps(_mm_set1_ps(0.3f * id->hair_part), part));
    const __m128 along = _mm_mul_ps(V, _mm_set1_ps(1.0f));
    const __m128 nn = vnoise4(_mm_mul_ps(across, _mm_set1_ps(55.0f)), _mm_mul_ps(along, _mm_set1_ps(5.0f)), h->nh[12]);
    const __m128 mm = vnoise4(_mm_mul_ps(across, _mm_set1_ps(13.0f)), _mm_mul_ps(along, _mm_set1_ps(2.0f)), h->nh[19]);
    const __m128 sc = _mm_add_ps(_mm_add_ps(_mm_set1_ps(0.70f), _mm_mul_ps(_mm_set1_ps(0.45f), nn)), _mm_mul_ps(_mm_set1_ps(0.2f), mm));
    const __m128 n3 = _mm_mul_ps(_mm_set1_ps(0.03f), nn);
    if (id->hair_style == MFR_HAIR_BUZZ)
        a = _mm_mul_ps(a, _mm_set1_ps(0.75f));
    float A[4], HC[3][4];
    _mm_storeu_ps(A, a);
    for (int k = 0; k < 3; k++)
        _mm_storeu_ps(HC[k], clamp01(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(id->hair_color[k]), sc), n3)));
    const int m = _mm_movemask_ps(in);
    for (int l = 0; l < 4; l++)
        if (m >> l & 1) {
            for (int k = 0; k < 3; k++)
                rgb[l][k] += (HC[k][l] - rgb[l][k]) * A[l];
            spec[l] = mixf(spec[l], 0.2f, A[l]);
        }
}
#endif

/* The albedo. `feat`: the features (F_*) that may reach this point, `moles`:
 * bit i set when mole i may; the others are skipped, which changes nothing
 * where they could not have applied. */
static inline void head_albedo(const synth_head *h, float u, float v, float rgb[3], float *spec, unsigned feat,
                               unsigned moles, const float *base)
{
    const mfr_identity *id = h->id;
    const uint32_t ts = id->texture_seed;
    float X = u * 0.75f, Y = v, ax = fabsf(X);
    float t;
    /* skin: low-frequency tone, pores (skin_base, or given) */
    {
        float sb[2];
        if (!base)
            skin_base(h, u, v, sb), base = sb;
        for (int k = 0; k < 3; k++)
            rgb[k] = id->skin[k] * base[0];
        *spec = base[1];
    }
    if (fabsf(u) > 1.5f && fabsf(u) < 1.85f) /* ears a little redder */
        rgb[0] *= 1.04f, rgb[1] *= 0.97f;
    if (fabsf(u) < 1.3f) {
        /* blush on the cheeks */
        if (feat & SYNTH_F_BLUSH) {
            t = (ax - 0.38f) / 0.2f;
            t = t * t + ((Y - (h->eye_y - 0.3f)) / 0.18f) * ((Y - (h->eye_y - 0.3f)) / 0.18f);
            if (t < 1.0f) {
                float r = id->cheek_red * 0.12f * bump2(t);
                rgb[1] *= 1.0f - r;
                rgb[2] *= 1.0f - r;
            }
        }
        /* freckles over nose and cheeks */
        if ((feat & SYNTH_F_FRECKLES) && id->freckles > 0.0f && Y > h->nose_tip - 0.1f && Y < h->eye_y - 0.05f && ax < 0.55f) {
            float cx = X / 0.035f, cy = Y / 0.035f;
            int32_t i = (int32_t)floorf(cx), j = (int32_t)floorf(cy);
            float fx = synth_hash2f(i, j, ts + 3u), fy = synth_hash2f(i, j, ts + 4u);
            float dx = cx - (float)i - fx, dy = cy - (float)j - fy;
            if (synth_hash2f(i, j, ts + 5u) < id->freckles * 0.7f && dx * dx + dy * dy < 0.09f)
                scale3(rgb, 0.82f), rgb[2] *= 0.9f;
        }
        /* wrinkles: forehead lines, crow's feet, nasolabial folds */
        if (id->wrinkles > 0.05f) {
            if ((feat & SYNTH_F_FOREHEAD) && Y > h->brow_y + 0.06f && Y < h->hair_front - 0.04f && ax < 0.45f) {
                float w = sinf(Y * 95.0f + synth_vnoise_h(u * 6.0f, 0.0f, h->nh[6]) * 4.0f);
                if (w > 0.8f)
                    scale3(rgb, 1.0f - (0.05f + 0.05f * h->brow_raise) * id->wrinkles);
            }
            if ((feat & SYNTH_F_CROW) && ax > h->eye_x + h->eye_w * 1.1f && ax < h->eye_x + h->eye_w * 1.6f &&
                fabsf(Y - h->eye_y) < 0.06f &&
                sinf(Y * 160.0f) > 0.7f)
                scale3(rgb, 1.0f - 0.06f * id->wrinkles);
        }
        if (feat & SYNTH_F_FOLD) {
            /* nasolabial fold: distance to the segment from the nose wing to past the mouth corner */
            float x0 = h->nose_w * 1.15f, y0 = h->nose_tip - 0.03f;
            float x1 = h->mouth_w * 1.25f, y1 = h->mouth_y - 0.05f;
            float dx = x1 - x0, dy = y1 - y0;
            /* the fold lies within 0.012 of the segment: its box first */
            float xlo = x0 < x1 ? x0 : x1, xhi = x0 < x1 ? x1 : x0, ylo = y0 < y1 ? y0 : y1, yhi = y0 < y1 ? y1 : y0;
            if (ax < xhi + 0.013f && ax > xlo - 0.013f && Y < yhi + 0.013f && Y > ylo - 0.013f) {
                float s = clampf(((ax - x0) * dx + (Y - y0) * dy) / (dx * dx + dy * dy), 0.0f, 1.0f);
                float ex = ax - (x0 + s * dx), ey = Y - (y0 + s * dy);
                float d2 = (ex * ex + ey * ey) / (0.012f * 0.012f);
                if (d2 < 1.0f)
                    scale3(rgb, 1.0f - (0.03f + 0.08f * id->wrinkles + 0.08f * h->smile) * bump2(d2));
            }
        }
        /* moles */
        for (int i = 0; moles >> i; i++) {
            if (!(moles >> i & 1u))
                continue;
            float dx = X - id->mole[i][0] * 0.75f, dy = Y - id->mole[i][1];
            float r = id->mole[i][2];
            if (dx * dx + dy * dy < r * r) {
                const float c[3] = {id->skin[0] * 0.45f, id->skin[1] * 0.35f, id->skin[2] * 0.3f};
                blend(rgb, c, 0.85f);
            }
        }
        /* nostrils */
        if (feat & SYNTH_F_NOSTRILS) {
            float dx = (ax - h->nose_w * 0.42f) / 0.028f, dy = (Y - (h->nose_base + 0.012f)) / 0.014f;
            if (dx * dx + dy * dy < 1.0f)
                scale3(rgb, 0.35f);
        }
        /* lips and mouth */
        if (feat & SYNTH_F_LIPS) {
            float mw = h->mouth_w;
            float xr = X / mw;
            /* a band that holds every lip point (top and bot below are at most
             * this far from mouth_y), tested before the two powf */
            float band = 0.04f * fabsf(h->smile) + 1.25f * h->lip_up + 1.35f * h->lip_low +
                         0.05f * fabsf(h->mouth_open) + 0.01f;
            if (fabsf(xr) < 1.05f && fabsf(Y - h->mouth_y) < band) {
                float q = fmaxf(0.0f, 1.0f - xr * xr);
                float line = h->mouth_y + 0.035f * h->smile * xr * xr;
                float gap = 0.05f * h->mouth_open;
                float bow = 1.0f - 0.25f * bump2((xr / 0.25f) * (xr / 0.25f));
                float top = line + h->lip_up * 1.25f * powf(q, 0.45f) * bow;
                float bot = line - gap - h->lip_low * 1.35f * powf(q, 0.55f);
                if (Y < top && Y > bot) {
                    if (gap > 0.004f && Y < line && Y > line - gap) {
                        /* inside an open mouth: teeth under the upper lip, then darkness */
                        float c[3] = {0.25f, 0.08f, 0.07f};
                        if (Y > line - 0.018f && fabsf(xr) < 0.75f)
                            c[0] = 0.80f, c[1] = 0.78f, c[2] = 0.70f;
                        rgb[0] = c[0], rgb[1] = c[1], rgb[2] = c[2];
                    } else {
                        float edge = smoothstep(0.0f, 0.35f, q);
                        float lip[3];
                        float shade = Y > line ? 0.92f : 1.05f;
                        for (int k = 0; k < 3; k++)
                            lip[k] = id->lip_color[k] * shade;
                        blend(rgb, lip, edge * 0.9f);
                        *spec = 0.3f;
                        if (fabsf(Y - line) < 0.006f + 0.004f * q)
                            scale3(rgb, 0.45f);
                    }
                }
            }
        }
        /* eyes and lash lines (ex grows away from the nose on both sides) */
        if (feat & SYNTH_F_EYES) {
            float ex = (ax - h->eye_x) / h->eye_w;
            float ey = (Y - h->eye_y - id->eye_tilt * 0.4f * (ax - h->eye_x)) / h->eye_w;
            if (fabsf(ex) < 1.3f && fabsf(ey) < 1.0f) {
                if (!eye_color(h, ex, ey, rgb, spec)) {
                    /* lid crease above, darker sockets */
                    float hmax = h->eye_h / h->eye_w;
                    float q = fmaxf(0.0f, 1.0f - ex * ex * 0.8f);
                    float crease = hmax * 1.9f * powf(q, 0.6f);
                    if (fabsf(ey - crease) < 0.06f && fabsf(ex) < 1.0f)
                        scale3(rgb, 0.85f);
                    scale3(rgb, 1.0f - 0.10f * bump2(ex * ex * 0.6f + ey * ey * 1.2f));
                }
            }
        }
        /* eyebrows: an arched band above each eye */
        if (feat & SYNTH_F_BROWS) {
            float bl = 0.17f * id->brow_length;
            float bx = (ax - (h->eye_x - h->eye_w * 0.15f)) / bl;
            if (fabsf(bx) < 1.0f) {
                float yc = h->brow_y + 0.03f * (1.0f + 0.5f * id->brow_arch) * (1.0f - bx * bx) +
                           0.015f * id->brow_slope * bx - 0.02f;
                float th = 0.021f * id->brow_thick * (1.0f - 0.45f * (bx + 1.0f) * 0.5f);
                float d = fabsf(Y - yc) / th;
                if (d < 1.0f) {
                    float hc[3];
                    hair_texture(h, id->brow_color, X * 0.6f, Y * 4.0f, 8, hc);
                    float a = (1.0f - d * d) * smoothstep(1.0f, 0.75f, fabsf(bx)) * 0.95f;
                    blend(rgb, hc, a);
                }
            }
        }
        /* facial hair */
        if ((feat & SYNTH_F_BEARD) && id->beard != MFR_BEARD_NONE) {
            float a = 0.0f;
            int jaw = Y < h->mouth_y + 0.1f && Y > -1.4f && fabsf(u) < 1.45f;
            int lips = 0;
            {
                float xr = X / (h->mouth_w * 1.1f), yr = (Y - h->mouth_y) / 0.06f;
                lips = xr * xr + yr * yr < 1.0f;
            }
            int mous = ax < h->mouth_w * 1.2f && Y > h->mouth_y + h->lip_up && Y < h->nose_base - 0.01f;
            int goat = ax < 0.17f && Y < h->mouth_y - 0.06f && Y > -1.2f;
            switch (id->beard) {
            case MFR_BEARD_STUBBLE: a = jaw && !lips ? 0.35f : 0.0f; break;
            case MFR_BEARD_MOUSTACHE: a = mous ? 0.9f : 0.0f; break;
            case MFR_BEARD_GOATEE: a = (goat || mous) && !lips ? 0.9f : 0.0f; break;
            default:
                a = jaw && !lips && (Y < h->mouth_y - 0.03f || ax > h->mouth_w * 1.1f || mous) ? 0.9f : 0.0f;
                a *= 1.0f - smoothstep(1.0f, 1.45f, fabsf(u)) * (Y > h->eye_y - 0.45f);
                break;
            }
            if (a > 0.0f) {
                float hc[3];
                hair_texture(h, id->hair_color, X * 2.0f, Y * 3.0f, 9, hc);
                blend(rgb, hc, a * id->beard_density * (0.7f + 0.3f * synth_vnoise_h(X * 90.0f, Y * 90.0f, h->nh[10])));
            }
        }
    }
    /* scalp hair */
    /* Across the front (|u| <= 1.15) synth_hairline never falls below the
     * forehead line less the widow's peak, nor below the temples' 0.30:
     * under that bound (less a margin for rounding) the blend weight is 0,
     * so the face below the forehead skips the hairline. */
    if (!(feat & SYNTH_F_SCALP)) /* done over the batch (scalp4) */
        return;
    float hf_low = h->hair_front - 0.07f * fabsf(id->hair_peak);
    float hair_low = fabsf(u) <= 1.15f ? (hf_low < 0.30f ? hf_low : 0.30f) - 0.03f : -1e30f;
    if (id->hair_style != MFR_HAIR_BALD && v > hair_low) {
        float hv = synth_hairline(h, u);
        float a = smoothstep(hv - 0.02f, hv + 0.04f, v);
        if (a > 0.0f) {
            float hc[3];
            float along = v * 1.0f, across = u * 0.8f + 0.3f * id->hair_part * (v > 0.8f);
            hair_texture(h, id->hair_color, across, along, 12, hc);
            if (id->hair_style == MFR_HAIR_BUZZ)
                a *= 0.75f;
            blend(rgb, hc, a);
            *spec = mixf(*spec, 0.2f, a);
        }
    }
}

void synth_head_albedo(const synth_head *h, float u, float v, float rgb[3], float *spec)
{
    head_albedo(h, u, v, rgb, spec, SYNTH_F_ALL, (1u << h->id->moles) - 1u, NULL);
}

/* Does [lo, hi] meet [a - m, b + m], m a margin far above rounding? */
static inline int meets(float lo, float hi, float a, float b)
{
    const float m = 0.01f;
    return !(hi < a - m || lo > b + m);
}

/* The features whose tests on Y (each a necessary condition, derived from
 * the test in head_albedo) some point with ylo <= Y <= yhi may pass. */
static unsigned albedo_features(const synth_head *h, float ylo, float yhi)
{
    const mfr_identity *id = h->id;
    unsigned f = 0;
    /* ((Y - c) / 0.18)^2 < 1 */
    if (meets(ylo, yhi, h->eye_y - 0.3f - 0.18f, h->eye_y - 0.3f + 0.18f))
        f |= SYNTH_F_BLUSH;
    if (meets(ylo, yhi, h->nose_tip - 0.1f, h->eye_y - 0.05f))
        f |= SYNTH_F_FRECKLES;
    if (meets(ylo, yhi, h->brow_y + 0.06f, h->hair_front - 0.04f))
        f |= SYNTH_F_FOREHEAD;
    if (meets(ylo, yhi, h->eye_y - 0.06f, h->eye_y + 0.06f))
        f |= SYNTH_F_CROW;
    {
        float y0 = h->nose_tip - 0.03f, y1 = h->mouth_y - 0.05f;
        if (meets(ylo, yhi, (y0 < y1 ? y0 : y1) - 0.013f, (y0 < y1 ? y1 : y0) + 0.013f))
            f |= SYNTH_F_FOLD;
    }
    /* ((Y - c) / 0.014)^2 < 1 */
    if (meets(ylo, yhi, h->nose_base + 0.012f - 0.014f, h->nose_base + 0.012f + 0.014f))
        f |= SYNTH_F_NOSTRILS;
    {
        float band = 0.04f * fabsf(h->smile) + 1.25f * h->lip_up + 1.35f * h->lip_low + 0.05f * fabsf(h->mouth_open) +
                     0.01f;
        if (meets(ylo, yhi, h->mouth_y - fabsf(band), h->mouth_y + fabsf(band)))
            f |= SYNTH_F_LIPS;
    }
    {
        /* |ey| < 1 and |ex| < 1.3: |Y - eye_y| < eye_w (1 + 0.4 * 1.3 |tilt|) */
        float r = fabsf(h->eye_w) * (1.0f + 0.52f * fabsf(id->eye_tilt));
        if (!(h->eye_w > 0.0f) || meets(ylo, yhi, h->eye_y - r, h->eye_y + r))
            f |= SYNTH_F_EYES;
    }
    {
        /* |Y - yc| < th, yc = brow_y - 0.02 + (at most) 0.03 (1 + 0.5 |arch|) + 0.015 |slope|, th <= 0.021 |thick| */
        float r = 0.03f * (1.0f + 0.5f * fabsf(id->brow_arch)) + 0.015f * fabsf(id->brow_slope) +
                  0.021f * fabsf(id->brow_thick);
        if (!(id->brow_thick >= 0.0f) || meets(ylo, yhi, h->brow_y - 0.02f - r, h->brow_y - 0.02f + r))
            f |= SYNTH_F_BROWS; /* (a negative thickness would pass every d < 1) */
    }
    {
        /* jaw: Y < mouth_y + 0.1; moustache: Y < nose_base - 0.01; goatee lower */
        float top = h->mouth_y + 0.1f > h->nose_base - 0.01f ? h->mouth_y + 0.1f : h->nose_base - 0.01f;
        if (meets(ylo, yhi, -1e30f, top))
            f |= SYNTH_F_BEARD;
    }
    return f;
}

void synth_head_albedo_batch(const synth_head *h, int n, const float *u, const float *v, float (*rgb)[3], float *spec)
{
    /* The box of the points in face units; a mole shows only where
     * dx^2 + dy^2 < r^2, so only within r of its centre in X and in Y
     * (rounded sums of squares keep that order): a mole farther than r
     * (with a margin far above rounding) from the box is left out. */
    float xlo = 1e30f, xhi = -1e30f, ylo = 1e30f, yhi = -1e30f;
    int k = 0;
#if defined(__SSE2__)
    /* four at a time: minps(a, b) is a < b ? a : b, as below (a NaN point
     * is skipped either way); lanes combined in another order can only
     * swap a -0 for a +0, which the tests on the box cannot tell apart */
    {
        __m128 lo4 = _mm_set1_ps(xlo), hi4 = _mm_set1_ps(xhi), vlo4 = _mm_set1_ps(ylo), vhi4 = _mm_set1_ps(yhi);
        for (; k + 4 <= n; k += 4) {
            const __m128 X = _mm_mul_ps(_mm_loadu_ps(u + k), _mm_set1_ps(0.75f)), V = _mm_loadu_ps(v + k);
            lo4 = _mm_min_ps(X, lo4), hi4 = _mm_max_ps(X, hi4);
            vlo4 = _mm_min_ps(V, vlo4), vhi4 = _mm_max_ps(V, vhi4);
        }
        float a[4], b[4], c[4], d[4];
        _mm_storeu_ps(a, lo4), _mm_storeu_ps(b, hi4), _mm_storeu_ps(c, vlo4), _mm_storeu_ps(d, vhi4);
        for (int l = 0; l < 4; l++) {
            xlo = a[l] < xlo ? a[l] : xlo;
            xhi = b[l] > xhi ? b[l] : xhi;
            ylo = c[l] < ylo ? c[l] : ylo;
            yhi = d[l] > yhi ? d[l] : yhi;
        }
    }
#endif
    for (; k < n; k++) {
        float X = u[k] * 0.75f;
        xlo = X < xlo ? X : xlo;
        xhi = X > xhi ? X : xhi;
        ylo = v[k] < ylo ? v[k] : ylo;
        yhi = v[k] > yhi ? v[k] : yhi;
    }
    const mfr_identity *id = h->id;
    unsigned moles = 0;
    for (int i = 0; i < id->moles; i++) {
        float mx = id->mole[i][0] * 0.75f, my = id->mole[i][1], r = fabsf(id->mole[i][2]) + 1e-3f;
        /* (a NaN point is in no box and takes no mole either way) */
        if (!(mx + r < xlo || mx - r > xhi || my + r < ylo || my - r > yhi))
            moles |= 1u << i;
    }
    const unsigned feat = albedo_features(h, ylo, yhi) | SYNTH_F_SCALP;
    /* the skin under everything, for the whole batch */
    float base[SYNTH_SHADE_BATCH][2];
#ifdef MFR_HAVE_AVX2
    if (h->avx2) {
        /* eight points at a time (texture_avx2.c): the skin, the features,
         * the scalp hair; the last few points padded to eight with copies
         * of the last one, and only theirs kept */
        const unsigned f8 = feat & ~(unsigned)SYNTH_F_SCALP;
        const int full = synth_skin_base_avx2(h, n, u, v, base);
        for (int i = 0; i < full; i += 8) {
            synth_head_features8_avx2(h, u + i, v + i, (const float(*)[2])base + i, f8, moles, rgb + i, spec + i);
            synth_scalp8_avx2(h, u + i, v + i, rgb + i, spec + i);
        }
        if (full < n) {
            const int r = n - full;
            float pu[8], pv[8], pb[8][2], prgb[8][3], ps[8];
            for (int l = 0; l < 8; l++) {
                const int q = full + (l < r ? l : r - 1);
                pu[l] = u[q], pv[l] = v[q];
            }
            synth_skin_base_avx2(h, 8, pu, pv, pb);
            synth_head_features8_avx2(h, pu, pv, (const float(*)[2])pb, f8, moles, prgb, ps);
            synth_scalp8_avx2(h, pu, pv, prgb, ps);
            memcpy(rgb + full, prgb, (size_t)r * sizeof prgb[0]);
            memcpy(spec + full, ps, (size_t)r * sizeof ps[0]);
        }
        return;
    }
#endif
    int i = 0;
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4) {
        float tone[4], sp[4];
        skin_base4(h, u + i, v + i, tone, sp);
        for (int l = 0; l < 4; l++)
            base[i + l][0] = tone[l], base[i + l][1] = sp[l];
    }
#endif
    for (; i < n; i++)
        skin_base(h, u[i], v[i], base[i]);
#if defined(__SSE2__)
    /* the scalp hair last, as head_albedo draws it, over the batch */
    i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int l = 0; l < 4; l++)
            head_albedo(h, u[i + l], v[i + l], rgb[i + l], &spec[i + l], feat & ~(unsigned)SYNTH_F_SCALP, moles, base[i + l]);
        scalp4(h, u + i, v + i, rgb + i, spec + i);
    }
#endif
    for (; i < n; i++)
        head_albedo(h, u[i], v[i], rgb[i], &spec[i], feat, moles, base[i]);
}
