/* The head albedo's skin (value noise, pores, specular bump) and scalp hair
 * eight points at a time (AVX2), compiled with -mavx2 -ffp-contract=off.
 * The SSE2 code of texture.c (skin_base4, scalp4) widened: the same
 * operations in the same order, so the same bits (tests against
 * synth_head_albedo); the value-noise lattice is read by gathers and the
 * hash's 32-bit products are one instruction. synth_head_albedo_batch calls
 * them where synth_head.avx2 says the CPU allows. */
#include "config.h"
#include "synth.h"

#include <immintrin.h>

static inline __m256 sel8(__m256 mask, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, mask); }

/* synth_floor_i: (int)v less one where that is above v */
static inline __m256i floor8(__m256 v)
{
    const __m256i i = _mm256_cvttps_epi32(v);
    return _mm256_add_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(i), v, _CMP_GT_OQ)));
}

static inline __m256i hash8(__m256i x) /* synth_hash */
{
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int32_t)0x846ca68bu));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

static inline __m256 mix8(__m256 a, __m256 b, __m256 t) { return _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), t)); }

/* lattice[k] for eight indices k: 32 bits read at each (the lattice has
 * two spare entries at its end), the low 16 kept, as floats */
static inline __m256 lattice8(__m256i k)
{
    const __m256i w = _mm256_i32gather_epi32((const int *)(const void *)synth_noise_lattice, k, 2);
    return _mm256_cvtepi32_ps(_mm256_and_si256(w, _mm256_set1_epi32(0xffff)));
}

_Static_assert(SYNTH_NOISE_N == 512, "vnoise8 multiplies by SYNTH_NOISE_N as a shift by 9");

static inline __m256 vnoise8(__m256 x, __m256 y, uint32_t hs) /* synth_vnoise_h */
{
    const __m256i xi = floor8(x), yi = floor8(y), m = _mm256_set1_epi32(SYNTH_NOISE_N - 1);
    const __m256i i0 = _mm256_and_si256(_mm256_add_epi32(xi, _mm256_set1_epi32((int32_t)hs)), m);
    const __m256i j0 = _mm256_and_si256(_mm256_add_epi32(yi, _mm256_set1_epi32((int32_t)(hs >> 16))), m);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i i1 = _mm256_and_si256(_mm256_add_epi32(i0, one), m), j1 = _mm256_and_si256(_mm256_add_epi32(j0, one), m);
    const __m256i r0 = _mm256_slli_epi32(j0, 9), r1 = _mm256_slli_epi32(j1, 9); /* j * SYNTH_NOISE_N */
    const __m256 s16 = _mm256_set1_ps(1.0f / 65536.0f), three = _mm256_set1_ps(3.0f), two = _mm256_set1_ps(2.0f);
    const __m256 a = _mm256_mul_ps(lattice8(_mm256_add_epi32(r0, i0)), s16);
    const __m256 b = _mm256_mul_ps(lattice8(_mm256_add_epi32(r0, i1)), s16);
    const __m256 c = _mm256_mul_ps(lattice8(_mm256_add_epi32(r1, i0)), s16);
    const __m256 d = _mm256_mul_ps(lattice8(_mm256_add_epi32(r1, i1)), s16);
    __m256 tx = _mm256_sub_ps(x, _mm256_cvtepi32_ps(xi)), ty = _mm256_sub_ps(y, _mm256_cvtepi32_ps(yi));
    tx = _mm256_mul_ps(_mm256_mul_ps(tx, tx), _mm256_sub_ps(three, _mm256_mul_ps(two, tx)));
    ty = _mm256_mul_ps(_mm256_mul_ps(ty, ty), _mm256_sub_ps(three, _mm256_mul_ps(two, ty)));
    return mix8(mix8(a, b, tx), mix8(c, d, tx), ty);
}

int synth_skin_base_avx2(const synth_head *h, int n, const float *u, const float *v, float (*base)[2])
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 U = _mm256_loadu_ps(u + i), V = _mm256_loadu_ps(v + i);
        const __m256 lf = _mm256_sub_ps(
            vnoise8(_mm256_mul_ps(U, _mm256_set1_ps(4.0f)), _mm256_mul_ps(V, _mm256_set1_ps(4.0f)), h->nh[0]), half);
        /* synth_hash2f(i, j, seed) */
        const __m256i pi = floor8(_mm256_mul_ps(U, _mm256_set1_ps(90.0f)));
        const __m256i pj = floor8(_mm256_mul_ps(V, _mm256_set1_ps(90.0f)));
        const __m256i hj = hash8(_mm256_add_epi32(pj, _mm256_set1_epi32((int32_t)(h->id->texture_seed + 1u))));
        const __m256i hp = hash8(_mm256_xor_si256(_mm256_mullo_epi32(pi, _mm256_set1_epi32((int32_t)0x9e3779b1u)), hj));
        const __m256 pore = _mm256_sub_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(hp, 8)), _mm256_set1_ps(1.0f / 16777216.0f)), half);
        const __m256 tone = _mm256_add_ps(_mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.10f), lf)),
                                          _mm256_mul_ps(_mm256_set1_ps(0.05f), pore));
        const __m256 X = _mm256_mul_ps(U, _mm256_set1_ps(0.75f));
        const __m256 qx = _mm256_div_ps(X, _mm256_set1_ps(0.2f));
        const __m256 qy = _mm256_div_ps(
            _mm256_sub_ps(_mm256_sub_ps(V, _mm256_set1_ps(h->nose_tip)), _mm256_set1_ps(0.15f)), half);
        const __m256 t = _mm256_add_ps(_mm256_mul_ps(qx, qx), _mm256_mul_ps(qy, qy)), e = _mm256_sub_ps(one, t);
        const __m256 b2 = _mm256_and_ps(_mm256_cmp_ps(t, one, _CMP_LT_OQ), _mm256_mul_ps(e, e)); /* bump2 */
        const __m256 spec = _mm256_add_ps(_mm256_set1_ps(0.10f), _mm256_mul_ps(_mm256_set1_ps(0.10f), b2));
        /* interleave (tone, spec) pairs into base[i..i+7] */
        const __m256 lo = _mm256_unpacklo_ps(tone, spec), hi = _mm256_unpackhi_ps(tone, spec);
        _mm256_storeu_ps(base[i], _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(base[i + 4], _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    return i;
}

/* synth_hairline of eight longitudes: the segments tried from the last to
 * the first, so that the first one the point falls in wins. */
static inline __m256 hairline8(const synth_head *h, __m256 u)
{
    const __m256 au = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u);
    const __m256 q = _mm256_div_ps(_mm256_mul_ps(u, _mm256_set1_ps(0.75f)), _mm256_set1_ps(0.12f));
    const __m256 t = _mm256_mul_ps(q, q);
    const __m256 one = _mm256_set1_ps(1.0f), e = _mm256_sub_ps(one, t);
    const __m256 b2 = _mm256_and_ps(_mm256_cmp_ps(t, one, _CMP_LT_OQ), _mm256_mul_ps(e, e));
    const __m256 hf = _mm256_sub_ps(_mm256_set1_ps(h->hair_front), _mm256_mul_ps(_mm256_set1_ps(0.07f * h->id->hair_peak), b2));
    const float ku[8] = {0.0f, 0.75f, 1.15f, 1.33f, 1.48f, 1.85f, 2.25f, SYNTH_PI + 0.01f};
    float kv[8] = {0.0f, 0.0f, 0.30f, -0.02f, 0.24f, 0.24f, -0.45f, -0.6f}; /* 0, 1: hf, hf + 0.05 per lane */
    if (h->id->hair_style == MFR_HAIR_LONG) {
        kv[3] = 0.05f;
        kv[4] = kv[5] = 0.10f;
        kv[6] = kv[7] = -0.9f;
    }
    __m256 kvl[8];
    kvl[0] = hf;
    kvl[1] = _mm256_add_ps(hf, _mm256_set1_ps(0.05f));
    for (int i = 2; i < 8; i++)
        kvl[i] = _mm256_set1_ps(kv[i]);
    __m256 r = kvl[7];
    for (int i = 6; i >= 0; i--) {
        const __m256 f = _mm256_div_ps(_mm256_sub_ps(au, _mm256_set1_ps(ku[i])), _mm256_set1_ps(ku[i + 1] - ku[i]));
        const __m256 m = mix8(kvl[i], kvl[i + 1], f);
        const __m256 in = _mm256_cmp_ps(au, _mm256_set1_ps(ku[i + 1]), _CMP_LE_OQ);
        r = sel8(in, m, r);
    }
    return r;
}

static inline __m256 clamp01(__m256 x) /* clampf(x, 0, 1): x < 0 ? 0 : x > 1 ? 1 : x */
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    return sel8(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), zero, sel8(_mm256_cmp_ps(x, one, _CMP_GT_OQ), one, x));
}

void synth_scalp8_avx2(const synth_head *h, const float *u, const float *v, float (*rgb)[3], float *spec)
{
    const mfr_identity *id = h->id;
    if (id->hair_style == MFR_HAIR_BALD)
        return;
    const __m256 U = _mm256_loadu_ps(u), V = _mm256_loadu_ps(v);
    const float hf_low = h->hair_front - 0.07f * fabsf(id->hair_peak);
    const __m256 front = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), U), _mm256_set1_ps(1.15f), _CMP_LE_OQ);
    const __m256 hair_low = sel8(front, _mm256_set1_ps((hf_low < 0.30f ? hf_low : 0.30f) - 0.03f), _mm256_set1_ps(-1e30f));
    __m256 in = _mm256_cmp_ps(V, hair_low, _CMP_GT_OQ);
    if (_mm256_movemask_ps(in) == 0)
        return;
    const __m256 hv = hairline8(h, U);
    /* smoothstep(hv - 0.02, hv + 0.04, v) */
    const __m256 e0 = _mm256_sub_ps(hv, _mm256_set1_ps(0.02f)), e1 = _mm256_add_ps(hv, _mm256_set1_ps(0.04f));
    const __m256 st = clamp01(_mm256_div_ps(_mm256_sub_ps(V, e0), _mm256_sub_ps(e1, e0)));
    __m256 a = _mm256_mul_ps(_mm256_mul_ps(st, st), _mm256_sub_ps(_mm256_set1_ps(3.0f), _mm256_mul_ps(_mm256_set1_ps(2.0f), st)));
    in = _mm256_and_ps(in, _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ));
    if (_mm256_movemask_ps(in) == 0)
        return;
    /* hair_texture(h, hair_color, across, along, 12) */
    const __m256 part = _mm256_and_ps(_mm256_cmp_ps(V, _mm256_set1_ps(0.8f), _CMP_GT_OQ), _mm256_set1_ps(1.0f));
    const __m256 across = _mm256_add_ps(_mm256_mul_ps(U, _mm256_set1_ps(0.8f)),
                                        _mm256_mul_ps(_mm256_set1_ps(0.3f * id->hair_part), part));
    const __m256 along = _mm256_mul_ps(V, _mm256_set1_ps(1.0f));
    const __m256 nn = vnoise8(_mm256_mul_ps(across, _mm256_set1_ps(55.0f)), _mm256_mul_ps(along, _mm256_set1_ps(5.0f)), h->nh[12]);
    const __m256 mm = vnoise8(_mm256_mul_ps(across, _mm256_set1_ps(13.0f)), _mm256_mul_ps(along, _mm256_set1_ps(2.0f)), h->nh[19]);
    const __m256 sc = _mm256_add_ps(_mm256_add_ps(_mm256_set1_ps(0.70f), _mm256_mul_ps(_mm256_set1_ps(0.45f), nn)),
                                    _mm256_mul_ps(_mm256_set1_ps(0.2f), mm));
    const __m256 n3 = _mm256_mul_ps(_mm256_set1_ps(0.03f), nn);
    if (id->hair_style == MFR_HAIR_BUZZ)
        a = _mm256_mul_ps(a, _mm256_set1_ps(0.75f));
    float A[8], HC[3][8];
    _mm256_storeu_ps(A, a);
    for (int k = 0; k < 3; k++)
        _mm256_storeu_ps(HC[k], clamp01(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(id->hair_color[k]), sc), n3)));
    const int m = _mm256_movemask_ps(in);
    for (int l = 0; l < 8; l++)
        if (m >> l & 1) {
            for (int k = 0; k < 3; k++)
                rgb[l][k] += (HC[k][l] - rgb[l][k]) * A[l];
            spec[l] = mixf(spec[l], 0.2f, A[l]);
        }
}
