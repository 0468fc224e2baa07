/* Identities: one parameter set per person, drawn from (seed, identity stream, index). */
#include "config.h"
#include "synth.h"

#include <string.h>

/* Skin tones from light to dark (sRGB), interpolated along this ramp. */
static const float skin_ramp[][3] = {
    {0.96f, 0.80f, 0.69f}, {0.91f, 0.72f, 0.60f}, {0.84f, 0.63f, 0.50f},
    {0.74f, 0.53f, 0.40f}, {0.60f, 0.41f, 0.30f}, {0.45f, 0.30f, 0.21f}, {0.32f, 0.21f, 0.15f},
};
static const float hair_colors[][3] = {
    {0.06f, 0.05f, 0.05f}, {0.18f, 0.12f, 0.08f}, {0.32f, 0.21f, 0.12f}, {0.52f, 0.36f, 0.20f},
    {0.80f, 0.65f, 0.40f}, {0.55f, 0.22f, 0.10f}, {0.62f, 0.60f, 0.58f}, {0.85f, 0.84f, 0.82f},
};
static const float iris_colors[][3] = {
    {0.25f, 0.14f, 0.07f}, {0.40f, 0.25f, 0.12f}, {0.30f, 0.45f, 0.65f}, {0.35f, 0.50f, 0.35f},
    {0.45f, 0.45f, 0.42f}, {0.15f, 0.10f, 0.06f},
};

static float around(mfr_rng *r, float sd) { return (float)mfr_rng_normal(r) * sd; }
/* A multiplier near 1 with spread sd, clipped at 2.5 sd. */
static float factor(mfr_rng *r, float sd) { return 1.0f + clampf(around(r, sd), -2.5f * sd, 2.5f * sd); }
static float shift(mfr_rng *r, float sd) { return clampf(around(r, sd), -2.5f * sd, 2.5f * sd); }

static void jitter_color(mfr_rng *r, const float in[3], float sd, float out[3])
{
    float k = factor(r, sd);
    for (int c = 0; c < 3; c++)
        out[c] = clampf(in[c] * k * factor(r, sd * 0.4f), 0.0f, 1.0f);
}

void mfr_identity_sample(uint64_t seed, long index, mfr_identity *id)
{
    mfr_rng r;
    memset(id, 0, sizeof *id);
    mfr_rng_init(&r, seed, MFR_STREAM_IDENTITY, (uint64_t)index);
    id->seed = seed;
    id->index = index;
    id->width = factor(&r, 0.09f);
    id->length = factor(&r, 0.06f);
    id->depth = factor(&r, 0.05f);
    id->jaw = factor(&r, 0.40f);
    id->chin = factor(&r, 0.60f);
    id->cheekbone = factor(&r, 0.60f);
    id->brow_ridge = factor(&r, 0.60f);
    id->eye_size = factor(&r, 0.16f);
    id->eye_spacing = factor(&r, 0.07f);
    id->eye_height = shift(&r, 0.03f);
    id->eye_tilt = shift(&r, 0.12f);
    id->nose_length = factor(&r, 0.14f);
    id->nose_width = factor(&r, 0.22f);
    id->nose_bridge = factor(&r, 0.35f);
    id->nose_tip = factor(&r, 0.25f);
    id->mouth_width = factor(&r, 0.13f);
    id->lip_upper = factor(&r, 0.35f);
    id->lip_lower = factor(&r, 0.35f);
    id->mouth_height = shift(&r, 0.03f);
    id->ear_size = factor(&r, 0.15f);

    /* Skin: a position on the tone ramp plus a little hue jitter. */
    {
        float t = (float)mfr_rng_uniform(&r) * 5.999f;
        int i = (int)t;
        float f = t - (float)i;
        float base[3];
        for (int c = 0; c < 3; c++)
            base[c] = mixf(skin_ramp[i][c], skin_ramp[i + 1][c], f);
        jitter_color(&r, base, 0.05f, id->skin);
        id->lip_color[0] = clampf(id->skin[0] * 0.85f + 0.06f, 0, 1);
        id->lip_color[1] = id->skin[1] * 0.62f;
        id->lip_color[2] = id->skin[2] * 0.66f;
        id->cheek_red = (float)mfr_rng_uniform(&r) * 0.6f;
        id->freckles = mfr_rng_uniform(&r) < 0.3 ? (float)mfr_rng_range(&r, 0.3, 1.0) : 0.0f;
        id->wrinkles = (float)mfr_rng_uniform(&r);
        id->wrinkles *= id->wrinkles;
    }
    id->moles = (int)mfr_rng_below(&r, MFR_MAX_MOLES + 1);
    for (int i = 0; i < id->moles; i++) {
        id->mole[i][0] = (float)mfr_rng_range(&r, -1.1, 1.1);
        id->mole[i][1] = (float)mfr_rng_range(&r, -0.95, 0.45);
        id->mole[i][2] = (float)mfr_rng_range(&r, 0.006, 0.016);
    }
    jitter_color(&r, iris_colors[mfr_rng_below(&r, 6)], 0.10f, id->iris);

    /* Hair and brows share a colour, with age greying some heads. */
    {
        int hc = (int)mfr_rng_below(&r, 8);
        jitter_color(&r, hair_colors[hc], 0.12f, id->hair_color);
        jitter_color(&r, hair_colors[hc < 6 ? hc : 2], 0.10f, id->brow_color);
        for (int c = 0; c < 3; c++)
            id->brow_color[c] = clampf(id->brow_color[c] * 0.8f, 0, 1);
    }
    id->brow_thick = factor(&r, 0.40f);
    id->brow_arch = shift(&r, 0.8f);
    id->brow_length = factor(&r, 0.12f);
    id->brow_slope = shift(&r, 0.8f);
    {
        static const double w[MFR_HAIR_COUNT] = {0.08, 0.12, 0.35, 0.25, 0.20};
        id->hair_style = mfr_rng_pick(&r, w, MFR_HAIR_COUNT);
    }
    id->hairline = shift(&r, 0.09f);
    id->hair_peak = (float)mfr_rng_uniform(&r);
    id->hair_part = (float)mfr_rng_range(&r, -1.0, 1.0);
    {
        static const double w[MFR_BEARD_COUNT] = {0.62, 0.12, 0.08, 0.08, 0.10};
        id->beard = mfr_rng_pick(&r, w, MFR_BEARD_COUNT);
        id->beard_density = (float)mfr_rng_range(&r, 0.5, 1.0);
    }
    {
        static const double w[3] = {0.75, 0.12, 0.13};
        id->glasses = mfr_rng_pick(&r, w, 3);
        float g = (float)mfr_rng_range(&r, 0.02, 0.6);
        id->glasses_color[0] = g * factor(&r, 0.3f);
        id->glasses_color[1] = g * factor(&r, 0.2f);
        id->glasses_color[2] = g * factor(&r, 0.2f);
        for (int c = 0; c < 3; c++)
            id->glasses_color[c] = clampf(id->glasses_color[c], 0, 1);
    }
    id->texture_seed = mfr_rng_u32(&r);
}
