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

/* ------------------------------------------------------------------------
 * The head's features (texture.c's head_albedo without the scalp) eight
 * points at a time: every test a lane mask, every change of colour a blend
 * by that mask, the same operations in the same order as head_albedo; powf,
 * sinf and atan2f (which have no vector build with the same bits) are
 * called lane by lane for the lanes that reach them. */

static inline __m256 bc(float x) { return _mm256_set1_ps(x); }
static inline __m256 vabs(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
static inline __m256 vlt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline __m256 vgt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline __m256 vand(__m256 a, __m256 b) { return _mm256_and_ps(a, b); }
static inline int lanes(__m256 m) { return _mm256_movemask_ps(m); }
/* x s where m is set (texture.c's scale3 on those lanes) */
static inline __m256 scale_in(__m256 m, __m256 x, __m256 s) { return sel8(m, _mm256_mul_ps(x, s), x); }
/* x + (c - x) a where m is set (texture.c's blend) */
static inline __m256 blend_in(__m256 m, __m256 x, __m256 c, __m256 a)
{
    return sel8(m, _mm256_add_ps(x, _mm256_mul_ps(_mm256_sub_ps(c, x), a)), x);
}
static inline __m256 smooth8(__m256 e0, __m256 e1, __m256 x) /* smoothstep */
{
    const __m256 t = clamp01(_mm256_div_ps(_mm256_sub_ps(x, e0), _mm256_sub_ps(e1, e0)));
    return _mm256_mul_ps(_mm256_mul_ps(t, t), _mm256_sub_ps(bc(3.0f), _mm256_mul_ps(bc(2.0f), t)));
}
static inline __m256 bump8(__m256 t) /* bump2: t < 1 ? (1 - t)^2 : 0 */
{
    const __m256 e = _mm256_sub_ps(bc(1.0f), t);
    return _mm256_and_ps(vlt(t, bc(1.0f)), _mm256_mul_ps(e, e));
}
static inline __m256 hash2f8(__m256i i, __m256i j, uint32_t seed) /* synth_hash2f */
{
    const __m256i hj = hash8(_mm256_add_epi32(j, _mm256_set1_epi32((int32_t)seed)));
    const __m256i hp = hash8(_mm256_xor_si256(_mm256_mullo_epi32(i, _mm256_set1_epi32((int32_t)0x9e3779b1u)), hj));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(hp, 8)), bc(1.0f / 16777216.0f));
}

/* powf(x, e), sinf(x), atan2f(y, x) in the lanes of m (a bit per lane);
 * the other lanes keep x */
static inline __m256 lanes_pow(__m256 x, float e, int m)
{
    float a[8];
    _mm256_storeu_ps(a, x);
    for (int l = 0; l < 8; l++)
        if (m >> l & 1)
            a[l] = powf(a[l], e);
    return _mm256_loadu_ps(a);
}
static inline __m256 lanes_sin(__m256 x, int m)
{
    float a[8];
    _mm256_storeu_ps(a, x);
    for (int l = 0; l < 8; l++)
        if (m >> l & 1)
            a[l] = sinf(a[l]);
    return _mm256_loadu_ps(a);
}
static inline __m256 lanes_atan2(__m256 y, __m256 x, int m)
{
    float a[8], b[8];
    _mm256_storeu_ps(a, y);
    _mm256_storeu_ps(b, x);
    for (int l = 0; l < 8; l++)
        if (m >> l & 1)
            a[l] = atan2f(a[l], b[l]);
    return _mm256_loadu_ps(a);
}

/* texture.c's hair_texture: strands of colour c along `along` */
static inline void hair8(const synth_head *h, const float c[3], __m256 across, __m256 along, int sk, __m256 out[3])
{
    const __m256 n = vnoise8(_mm256_mul_ps(across, bc(55.0f)), _mm256_mul_ps(along, bc(5.0f)), h->nh[sk]);
    const __m256 m = vnoise8(_mm256_mul_ps(across, bc(13.0f)), _mm256_mul_ps(along, bc(2.0f)), h->nh[sk + 7]);
    const __m256 s = _mm256_add_ps(_mm256_add_ps(bc(0.70f), _mm256_mul_ps(bc(0.45f), n)), _mm256_mul_ps(bc(0.2f), m));
    const __m256 n3 = _mm256_mul_ps(bc(0.03f), n);
    for (int k = 0; k < 3; k++)
        out[k] = clamp01(_mm256_add_ps(_mm256_mul_ps(bc(c[k]), s), n3));
}

/* The eyes of the lanes in E (head_albedo's eye_color, then the lid crease
 * and sockets where that leaves the point). */
static inline void eyes8(const synth_head *h, __m256 E, __m256 ex, __m256 ey, __m256 c[3], __m256 *S)
{
    const mfr_identity *id = h->id;
    const __m256 one = bc(1.0f), zero = _mm256_setzero_ps();
    const float hmax = h->eye_h / h->eye_w;
    const __m256 q = _mm256_sub_ps(one, _mm256_mul_ps(ex, ex));
    const __m256 Q = vand(E, _mm256_cmp_ps(q, zero, _CMP_NLE_UQ)); /* eye_color goes on: !(q <= 0) */
    __m256 done = zero;
    if (lanes(Q)) {
        const float open = 1.0f - 0.92f * h->eye_close;
        const __m256 up = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(bc(hmax), lanes_pow(q, 0.7f, lanes(Q))), bc(open)),
                                        _mm256_add_ps(one, _mm256_mul_ps(bc(0.15f), ex)));
        const __m256 lo = _mm256_mul_ps(_mm256_mul_ps(bc(-0.8f * hmax), lanes_pow(q, 0.8f, lanes(Q))),
                                        bc(0.3f + 0.7f * open));
        const __m256 in = vand(Q, vand(vgt(ey, lo), vlt(ey, up)));
        if (lanes(in)) {
            const __m256 ri = _mm256_div_ps(_mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(ex, ex), _mm256_mul_ps(ey, ey))),
                                            bc(0.43f));
            const __m256 iris = vand(in, vlt(ri, one));
            __m256 ic[3] = {zero, zero, zero};
            if (lanes(iris)) {
                const __m256 at = lanes_atan2(ey, ex, lanes(iris));
                const __m256 fib = vnoise8(_mm256_mul_ps(at, bc(9.0f)), _mm256_mul_ps(ri, bc(3.0f)), h->nh[11]);
                const __m256 s = _mm256_add_ps(bc(0.55f), _mm256_mul_ps(_mm256_mul_ps(bc(0.6f), ri),
                                                                     _mm256_add_ps(bc(0.6f), _mm256_mul_ps(bc(0.4f), fib))));
                const __m256 rim = vgt(ri, bc(0.85f)), pupil = vlt(ri, bc(0.38f));
                for (int k = 0; k < 3; k++)
                    ic[k] = sel8(pupil, bc(0.03f), scale_in(rim, _mm256_mul_ps(bc(id->iris[k]), s), bc(0.6f)));
            }
            /* the white: ri >= 1 */
            const __m256 sc = _mm256_sub_ps(bc(0.86f), _mm256_mul_ps(bc(0.18f), smooth8(bc(0.5f), one, vabs(ex))));
            const __m256 wc[3] = {sc, _mm256_mul_ps(sc, bc(0.97f)), _mm256_mul_ps(sc, bc(0.94f))};
            /* the upper lid shades the top of the eye */
            const __m256 lid = _mm256_sub_ps(one, _mm256_mul_ps(bc(0.45f), smooth8(_mm256_sub_ps(up, bc(0.25f)), up, ey)));
            for (int k = 0; k < 3; k++)
                c[k] = sel8(in, _mm256_mul_ps(sel8(iris, ic[k], wc[k]), lid), c[k]);
            *S = sel8(in, bc(0.9f), *S);
        }
        /* lash line */
        const __m256 lash = _mm256_add_ps(bc(0.07f), _mm256_mul_ps(bc(0.05f), smooth8(bc(-0.2f), one, ex)));
        const __m256 lm = _mm256_andnot_ps(in, vand(Q, vand(_mm256_cmp_ps(ey, up, _CMP_GE_OQ),
                                                             vand(vlt(ey, _mm256_add_ps(up, lash)), vlt(vabs(ex), one)))));
        if (lanes(lm))
            for (int k = 0; k < 3; k++)
                c[k] = blend_in(lm, c[k], bc(id->brow_color[k] * 0.35f), bc(0.85f));
        done = _mm256_or_ps(in, lm);
    }
    /* lid crease above, darker sockets */
    const __m256 C = _mm256_andnot_ps(done, E);
    if (!lanes(C))
        return;
    const __m256 ex2 = _mm256_mul_ps(ex, ex);
    const __m256 q2 = _mm256_max_ps(_mm256_sub_ps(one, _mm256_mul_ps(ex2, bc(0.8f))), zero); /* fmaxf(0, .) */
    const __m256 crease = _mm256_mul_ps(bc(hmax * 1.9f), lanes_pow(q2, 0.6f, lanes(C)));
    const __m256 cm = vand(C, vand(vlt(vabs(_mm256_sub_ps(ey, crease)), bc(0.06f)), vlt(vabs(ex), one)));
    const __m256 sock = _mm256_sub_ps(
        one, _mm256_mul_ps(bc(0.10f), bump8(_mm256_add_ps(_mm256_mul_ps(ex2, bc(0.6f)),
                                                          _mm256_mul_ps(_mm256_mul_ps(ey, ey), bc(1.2f))))));
    for (int k = 0; k < 3; k++)
        c[k] = scale_in(C, scale_in(cm, c[k], bc(0.85f)), sock);
}

/* The lips and an open mouth of the lanes in `face` (head_albedo's). */
static inline void lips8(const synth_head *h, __m256 face, __m256 X, __m256 Y, __m256 c[3], __m256 *S)
{
    const mfr_identity *id = h->id;
    const __m256 one = bc(1.0f), zero = _mm256_setzero_ps();
    const __m256 xr = _mm256_div_ps(X, bc(h->mouth_w));
    const float band = 0.04f * fabsf(h->smile) + 1.25f * h->lip_up + 1.35f * h->lip_low +
                       0.05f * fabsf(h->mouth_open) + 0.01f;
    const __m256 L = vand(face, vand(vlt(vabs(xr), bc(1.05f)), vlt(vabs(_mm256_sub_ps(Y, bc(h->mouth_y))), bc(band))));
    if (!lanes(L))
        return;
    const __m256 q = _mm256_max_ps(_mm256_sub_ps(one, _mm256_mul_ps(xr, xr)), zero); /* fmaxf(0, .) */
    const __m256 line = _mm256_add_ps(bc(h->mouth_y), _mm256_mul_ps(_mm256_mul_ps(bc(0.035f * h->smile), xr), xr));
    const float gap = 0.05f * h->mouth_open;
    const __m256 xq = _mm256_div_ps(xr, bc(0.25f));
    const __m256 bow = _mm256_sub_ps(one, _mm256_mul_ps(bc(0.25f), bump8(_mm256_mul_ps(xq, xq))));
    const __m256 top =
        _mm256_add_ps(line, _mm256_mul_ps(_mm256_mul_ps(bc(h->lip_up * 1.25f), lanes_pow(q, 0.45f, lanes(L))), bow));
    const __m256 bot = _mm256_sub_ps(_mm256_sub_ps(line, bc(gap)),
                                     _mm256_mul_ps(bc(h->lip_low * 1.35f), lanes_pow(q, 0.55f, lanes(L))));
    const __m256 in = vand(L, vand(vlt(Y, top), vgt(Y, bot)));
    if (!lanes(in))
        return;
    /* inside an open mouth: teeth under the upper lip, then darkness */
    __m256 mouth = zero;
    if (gap > 0.004f)
        mouth = vand(in, vand(vlt(Y, line), vgt(Y, _mm256_sub_ps(line, bc(gap)))));
    const __m256 teeth = vand(mouth, vand(vgt(Y, _mm256_sub_ps(line, bc(0.018f))), vlt(vabs(xr), bc(0.75f))));
    const float dark[3] = {0.25f, 0.08f, 0.07f}, white[3] = {0.80f, 0.78f, 0.70f};
    /* the lips elsewhere */
    const __m256 lp = _mm256_andnot_ps(mouth, in);
    const __m256 a = _mm256_mul_ps(smooth8(zero, bc(0.35f), q), bc(0.9f));
    const __m256 shade = sel8(vgt(Y, line), bc(0.92f), bc(1.05f));
    const __m256 seam = vand(lp, vlt(vabs(_mm256_sub_ps(Y, line)), _mm256_add_ps(bc(0.006f), _mm256_mul_ps(bc(0.004f), q))));
    for (int k = 0; k < 3; k++) {
        __m256 x = blend_in(lp, c[k], _mm256_mul_ps(bc(id->lip_color[k]), shade), a);
        x = scale_in(seam, x, bc(0.45f));
        c[k] = sel8(mouth, sel8(teeth, bc(white[k]), bc(dark[k])), x);
    }
    *S = sel8(lp, bc(0.3f), *S);
}

/* The beard of the lanes in `face` (head_albedo's facial hair). */
static inline void beard8(const synth_head *h, __m256 face, __m256 U, __m256 X, __m256 Y, __m256 c[3])
{
    const mfr_identity *id = h->id;
    const __m256 one = bc(1.0f), ax = vabs(X), au = vabs(U);
    const __m256 jaw = vand(vand(vlt(Y, bc(h->mouth_y + 0.1f)), vgt(Y, bc(-1.4f))), vlt(au, bc(1.45f)));
    const __m256 xr = _mm256_div_ps(X, bc(h->mouth_w * 1.1f)), yr = _mm256_div_ps(_mm256_sub_ps(Y, bc(h->mouth_y)), bc(0.06f));
    const __m256 lips = vlt(_mm256_add_ps(_mm256_mul_ps(xr, xr), _mm256_mul_ps(yr, yr)), one);
    const __m256 mous = vand(vand(vlt(ax, bc(h->mouth_w * 1.2f)), vgt(Y, bc(h->mouth_y + h->lip_up))),
                             vlt(Y, bc(h->nose_base - 0.01f)));
    const __m256 goat = vand(vand(vlt(ax, bc(0.17f)), vlt(Y, bc(h->mouth_y - 0.06f))), vgt(Y, bc(-1.2f)));
    __m256 a;
    switch (id->beard) {
    case MFR_BEARD_STUBBLE: a = vand(_mm256_andnot_ps(lips, jaw), bc(0.35f)); break;
    case MFR_BEARD_MOUSTACHE: a = vand(mous, bc(0.9f)); break;
    case MFR_BEARD_GOATEE: a = vand(_mm256_andnot_ps(lips, _mm256_or_ps(goat, mous)), bc(0.9f)); break;
    default: {
        const __m256 below = _mm256_or_ps(_mm256_or_ps(vlt(Y, bc(h->mouth_y - 0.03f)), vgt(ax, bc(h->mouth_w * 1.1f))), mous);
        a = vand(_mm256_andnot_ps(lips, vand(jaw, below)), bc(0.9f));
        const __m256 high = vand(vgt(Y, bc(h->eye_y - 0.45f)), one); /* (Y > eye_y - 0.45) as 0 or 1 */
        a = _mm256_mul_ps(a, _mm256_sub_ps(one, _mm256_mul_ps(smooth8(one, bc(1.45f), au), high)));
        break;
    }
    }
    const __m256 m = vand(face, vgt(a, _mm256_setzero_ps()));
    if (!lanes(m))
        return;
    __m256 hc[3];
    hair8(h, id->hair_color, _mm256_mul_ps(X, bc(2.0f)), _mm256_mul_ps(Y, bc(3.0f)), 9, hc);
    const __m256 n = vnoise8(_mm256_mul_ps(X, bc(90.0f)), _mm256_mul_ps(Y, bc(90.0f)), h->nh[10]);
    const __m256 w = _mm256_mul_ps(_mm256_mul_ps(a, bc(id->beard_density)), _mm256_add_ps(bc(0.7f), _mm256_mul_ps(bc(0.3f), n)));
    for (int k = 0; k < 3; k++)
        c[k] = blend_in(m, c[k], hc[k], w);
}

void synth_head_features8_avx2(const synth_head *h, const float *u, const float *v, const float (*base)[2],
                               unsigned feat, unsigned moles, float (*rgb)[3], float *spec)
{
    const mfr_identity *id = h->id;
    const uint32_t ts = id->texture_seed;
    const __m256 one = bc(1.0f);
    const __m256 U = _mm256_loadu_ps(u), Y = _mm256_loadu_ps(v), X = _mm256_mul_ps(U, bc(0.75f));
    const __m256 ax = vabs(X), au = vabs(U);
    /* the skin: base holds (tone, specular) pairs */
    const __m256 b0 = _mm256_loadu_ps(base[0]), b1 = _mm256_loadu_ps(base[4]);
    const __m256 tone = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    __m256 S = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1))),
                                                      _MM_SHUFFLE(3, 1, 2, 0)));
    __m256 c[3];
    for (int k = 0; k < 3; k++)
        c[k] = _mm256_mul_ps(bc(id->skin[k]), tone);
    /* ears a little redder */
    const __m256 ears = vand(vgt(au, bc(1.5f)), vlt(au, bc(1.85f)));
    c[0] = scale_in(ears, c[0], bc(1.04f));
    c[1] = scale_in(ears, c[1], bc(0.97f));
    const __m256 face = vlt(au, bc(1.3f));
    if (lanes(face)) {
        if (feat & SYNTH_F_BLUSH) {
            const __m256 tx = _mm256_div_ps(_mm256_sub_ps(ax, bc(0.38f)), bc(0.2f));
            const __m256 ty = _mm256_div_ps(_mm256_sub_ps(Y, bc(h->eye_y - 0.3f)), bc(0.18f));
            const __m256 t = _mm256_add_ps(_mm256_mul_ps(tx, tx), _mm256_mul_ps(ty, ty));
            const __m256 m = vand(face, vlt(t, one));
            if (lanes(m)) {
                const __m256 f = _mm256_sub_ps(one, _mm256_mul_ps(bc(id->cheek_red * 0.12f), bump8(t)));
                c[1] = scale_in(m, c[1], f);
                c[2] = scale_in(m, c[2], f);
            }
        }
        if ((feat & SYNTH_F_FRECKLES) && id->freckles > 0.0f) {
            const __m256 m = vand(vand(face, vgt(Y, bc(h->nose_tip - 0.1f))),
                                  vand(vlt(Y, bc(h->eye_y - 0.05f)), vlt(ax, bc(0.55f))));
            if (lanes(m)) {
                const __m256 cx = _mm256_div_ps(X, bc(0.035f)), cy = _mm256_div_ps(Y, bc(0.035f));
                const __m256i i = _mm256_cvttps_epi32(_mm256_floor_ps(cx)), j = _mm256_cvttps_epi32(_mm256_floor_ps(cy));
                const __m256 dx = _mm256_sub_ps(_mm256_sub_ps(cx, _mm256_cvtepi32_ps(i)), hash2f8(i, j, ts + 3u));
                const __m256 dy = _mm256_sub_ps(_mm256_sub_ps(cy, _mm256_cvtepi32_ps(j)), hash2f8(i, j, ts + 4u));
                const __m256 hit = vand(m, vand(vlt(hash2f8(i, j, ts + 5u), bc(id->freckles * 0.7f)),
                                                vlt(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), bc(0.09f))));
                for (int k = 0; k < 3; k++)
                    c[k] = scale_in(hit, c[k], bc(0.82f));
                c[2] = scale_in(hit, c[2], bc(0.9f));
            }
        }
        if (id->wrinkles > 0.05f) {
            if (feat & SYNTH_F_FOREHEAD) {
                const __m256 m = vand(vand(face, vgt(Y, bc(h->brow_y + 0.06f))),
                                      vand(vlt(Y, bc(h->hair_front - 0.04f)), vlt(ax, bc(0.45f))));
                if (lanes(m)) {
                    const __m256 n = vnoise8(_mm256_mul_ps(U, bc(6.0f)), _mm256_setzero_ps(), h->nh[6]);
                    const __m256 w = lanes_sin(_mm256_add_ps(_mm256_mul_ps(Y, bc(95.0f)), _mm256_mul_ps(n, bc(4.0f))), lanes(m));
                    const __m256 hit = vand(m, vgt(w, bc(0.8f)));
                    const __m256 f = bc(1.0f - (0.05f + 0.05f * h->brow_raise) * id->wrinkles);
                    for (int k = 0; k < 3; k++)
                        c[k] = scale_in(hit, c[k], f);
                }
            }
            if (feat & SYNTH_F_CROW) {
                const __m256 m = vand(vand(face, vgt(ax, bc(h->eye_x + h->eye_w * 1.1f))),
                                      vand(vlt(ax, bc(h->eye_x + h->eye_w * 1.6f)),
                                           vlt(vabs(_mm256_sub_ps(Y, bc(h->eye_y))), bc(0.06f))));
                if (lanes(m)) {
                    const __m256 hit = vand(m, vgt(lanes_sin(_mm256_mul_ps(Y, bc(160.0f)), lanes(m)), bc(0.7f)));
                    const __m256 f = bc(1.0f - 0.06f * id->wrinkles);
                    for (int k = 0; k < 3; k++)
                        c[k] = scale_in(hit, c[k], f);
                }
            }
        }
        if (feat & SYNTH_F_FOLD) {
            /* nasolabial fold: distance to the segment from the nose wing to past the mouth corner */
            const float x0 = h->nose_w * 1.15f, y0 = h->nose_tip - 0.03f;
            const float x1 = h->mouth_w * 1.25f, y1 = h->mouth_y - 0.05f;
            const float dx = x1 - x0, dy = y1 - y0;
            const float xlo = x0 < x1 ? x0 : x1, xhi = x0 < x1 ? x1 : x0, ylo = y0 < y1 ? y0 : y1, yhi = y0 < y1 ? y1 : y0;
            const __m256 m = vand(vand(face, vand(vlt(ax, bc(xhi + 0.013f)), vgt(ax, bc(xlo - 0.013f)))),
                                  vand(vlt(Y, bc(yhi + 0.013f)), vgt(Y, bc(ylo - 0.013f))));
            if (lanes(m)) {
                const __m256 ux = _mm256_sub_ps(ax, bc(x0)), uy = _mm256_sub_ps(Y, bc(y0));
                const __m256 s = clamp01(_mm256_div_ps(_mm256_add_ps(_mm256_mul_ps(ux, bc(dx)), _mm256_mul_ps(uy, bc(dy))),
                                                       bc(dx * dx + dy * dy)));
                const __m256 ex = _mm256_sub_ps(ax, _mm256_add_ps(bc(x0), _mm256_mul_ps(s, bc(dx))));
                const __m256 ey = _mm256_sub_ps(Y, _mm256_add_ps(bc(y0), _mm256_mul_ps(s, bc(dy))));
                const __m256 d2 = _mm256_div_ps(_mm256_add_ps(_mm256_mul_ps(ex, ex), _mm256_mul_ps(ey, ey)), bc(0.012f * 0.012f));
                const __m256 hit = vand(m, vlt(d2, one));
                const __m256 f = _mm256_sub_ps(
                    one, _mm256_mul_ps(bc(0.03f + 0.08f * id->wrinkles + 0.08f * h->smile), bump8(d2)));
                for (int k = 0; k < 3; k++)
                    c[k] = scale_in(hit, c[k], f);
            }
        }
        for (int i = 0; moles >> i; i++) {
            if (!(moles >> i & 1u))
                continue;
            const __m256 dx = _mm256_sub_ps(X, bc(id->mole[i][0] * 0.75f)), dy = _mm256_sub_ps(Y, bc(id->mole[i][1]));
            const float r = id->mole[i][2];
            const __m256 hit = vand(face, vlt(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), bc(r * r)));
            const float mc[3] = {id->skin[0] * 0.45f, id->skin[1] * 0.35f, id->skin[2] * 0.3f};
            for (int k = 0; k < 3; k++)
                c[k] = blend_in(hit, c[k], bc(mc[k]), bc(0.85f));
        }
        if (feat & SYNTH_F_NOSTRILS) {
            const __m256 dx = _mm256_div_ps(_mm256_sub_ps(ax, bc(h->nose_w * 0.42f)), bc(0.028f));
            const __m256 dy = _mm256_div_ps(_mm256_sub_ps(Y, bc(h->nose_base + 0.012f)), bc(0.014f));
            const __m256 hit = vand(face, vlt(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), one));
            for (int k = 0; k < 3; k++)
                c[k] = scale_in(hit, c[k], bc(0.35f));
        }
        if (feat & SYNTH_F_LIPS)
            lips8(h, face, X, Y, c, &S);
        if (feat & SYNTH_F_EYES) {
            const __m256 dxe = _mm256_sub_ps(ax, bc(h->eye_x));
            const __m256 ex = _mm256_div_ps(dxe, bc(h->eye_w));
            const __m256 ey = _mm256_div_ps(
                _mm256_sub_ps(_mm256_sub_ps(Y, bc(h->eye_y)), _mm256_mul_ps(bc(id->eye_tilt * 0.4f), dxe)), bc(h->eye_w));
            const __m256 E = vand(face, vand(vlt(vabs(ex), bc(1.3f)), vlt(vabs(ey), one)));
            if (lanes(E))
                eyes8(h, E, ex, ey, c, &S);
        }
        if (feat & SYNTH_F_BROWS) {
            const float bl = 0.17f * id->brow_length;
            const __m256 bx = _mm256_div_ps(_mm256_sub_ps(ax, bc(h->eye_x - h->eye_w * 0.15f)), bc(bl));
            const __m256 m = vand(face, vlt(vabs(bx), one));
            if (lanes(m)) {
                const __m256 yc = _mm256_sub_ps(
                    _mm256_add_ps(_mm256_add_ps(bc(h->brow_y), _mm256_mul_ps(bc(0.03f * (1.0f + 0.5f * id->brow_arch)),
                                                                            _mm256_sub_ps(one, _mm256_mul_ps(bx, bx)))),
                                  _mm256_mul_ps(bc(0.015f * id->brow_slope), bx)),
                    bc(0.02f));
                const __m256 th = _mm256_mul_ps(
                    bc(0.021f * id->brow_thick),
                    _mm256_sub_ps(one, _mm256_mul_ps(_mm256_mul_ps(bc(0.45f), _mm256_add_ps(bx, one)), bc(0.5f))));
                const __m256 d = _mm256_div_ps(vabs(_mm256_sub_ps(Y, yc)), th);
                const __m256 hit = vand(m, vlt(d, one));
                if (lanes(hit)) {
                    __m256 hc[3];
                    hair8(h, id->brow_color, _mm256_mul_ps(X, bc(0.6f)), _mm256_mul_ps(Y, bc(4.0f)), 8, hc);
                    const __m256 a = _mm256_mul_ps(
                        _mm256_mul_ps(_mm256_sub_ps(one, _mm256_mul_ps(d, d)), smooth8(one, bc(0.75f), vabs(bx))), bc(0.95f));
                    for (int k = 0; k < 3; k++)
                        c[k] = blend_in(hit, c[k], hc[k], a);
                }
            }
        }
        if ((feat & SYNTH_F_BEARD) && id->beard != MFR_BEARD_NONE)
            beard8(h, face, U, X, Y, c);
    }
    float C[3][8];
    for (int k = 0; k < 3; k++)
        _mm256_storeu_ps(C[k], c[k]);
    for (int l = 0; l < 8; l++)
        rgb[l][0] = C[0][l], rgb[l][1] = C[1][l], rgb[l][2] = C[2][l];
    _mm256_storeu_ps(spec, S);
}
