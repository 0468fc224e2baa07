/* Face masks: names, the 3D mask surface laid over the head (so it follows
 * the pose and stretches over the nose like fabric) and its fabric colours,
 * pleats, seams and printed patterns. */
#include "config.h"
#include "synth.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[MFR_MASK_TYPE_COUNT] = {"none", "nist", "surgical", "n95", "kn95", "cloth", "gas"};
static const char *const shape_names[MFR_SHAPE_COUNT] = {"wide", "round"};
static const char *const cover_names[MFR_COVER_COUNT] = {"high", "medium", "low"};
static const char *const color_names[MFR_COLOR_COUNT] = {"light_blue", "black", "white", "red", "green",
                                                        "grey", "navy", "pink", "pattern"};
static const float color_rgb[MFR_COLOR_COUNT][3] = {
    {0.55f, 0.75f, 0.90f}, {0.07f, 0.07f, 0.08f}, {0.92f, 0.92f, 0.90f}, {0.75f, 0.12f, 0.12f}, {0.20f, 0.55f, 0.30f},
    {0.55f, 0.55f, 0.56f}, {0.12f, 0.16f, 0.35f}, {0.93f, 0.65f, 0.72f}, {0.80f, 0.75f, 0.60f},
};

static const char *name_of(const char *const *names, int n, int i) { return i >= 0 && i < n ? names[i] : "?"; }
static int find(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *mfr_mask_type_name(int t) { return name_of(type_names, MFR_MASK_TYPE_COUNT, t); }
const char *mfr_mask_shape_name(int s) { return name_of(shape_names, MFR_SHAPE_COUNT, s); }
const char *mfr_mask_coverage_name(int c) { return name_of(cover_names, MFR_COVER_COUNT, c); }
const char *mfr_mask_color_name(int c) { return name_of(color_names, MFR_COLOR_COUNT, c); }
int mfr_mask_type_find(const char *s) { return find(type_names, MFR_MASK_TYPE_COUNT, s); }
int mfr_mask_shape_find(const char *s) { return find(shape_names, MFR_SHAPE_COUNT, s); }
int mfr_mask_coverage_find(const char *s) { return find(cover_names, MFR_COVER_COUNT, s); }
int mfr_mask_color_find(const char *s) { return find(color_names, MFR_COLOR_COUNT, s); }

void mfr_mask_label(const mfr_mask *m, char *buf, size_t size)
{
    if (!m || m->type == MFR_MASK_NONE)
        snprintf(buf, size, "none");
    else
        snprintf(buf, size, "%s-%s-%s-%s", mfr_mask_type_name(m->type), mfr_mask_shape_name(m->shape),
                 mfr_mask_coverage_name(m->coverage), mfr_mask_color_name(m->color));
}

void synth_mask_color(int color, float rgb[3])
{
    int c = color >= 0 && color < MFR_COLOR_COUNT ? color : 0;
    memcpy(rgb, color_rgb[c], sizeof color_rgb[c]);
}

void synth_mask_albedo(const mfr_mask *m, float s, float t, float rgb[3], float *bend)
{
    float base[3];
    uint32_t seed = m->seed;
    synth_mask_color(m->color, base);
    *bend = 0.0f;
    if (m->color == MFR_COLOR_PATTERN) {
        /* printed fabric: stripes, dots or checks in a second colour */
        float c2[3];
        synth_mask_color((int)(seed % 8u), c2);
        int kind = (int)((seed >> 4) % 3u);
        float a = 0.0f;
        float sx = s * 9.0f, ty = t * 7.0f;
        if (kind == 0)
            a = sinf((sx + ty) * 2.2f) > 0.3f;
        else if (kind == 1) {
            float fx = sx - floorf(sx) - 0.5f, fy = ty - floorf(ty) - 0.5f;
            a = fx * fx + fy * fy < 0.09f;
        } else
            a = ((int)floorf(sx) + (int)floorf(ty)) & 1 ? 1.0f : 0.0f;
        for (int k = 0; k < 3; k++)
            base[k] = mixf(base[k], c2[k], a);
    }
    float weave = synth_vnoise(s * 120.0f, t * 90.0f, seed) - 0.5f;
    for (int k = 0; k < 3; k++)
        rgb[k] = base[k] * (1.0f + 0.06f * weave);
    switch (m->type) {
    case MFR_MASK_SURGICAL: {
        /* three horizontal pleats: a fold shading and a crease line each */
        float p = t * 3.2f + 0.1f;
        float f = p - floorf(p);
        *bend = 0.18f * (f < 0.8f ? -0.5f + f / 0.8f : 0.5f - (f - 0.8f) * 5.0f);
        if (fabsf(s) > 0.93f || t < 0.05f || t > 0.95f) /* bound edges */
            for (int k = 0; k < 3; k++)
                rgb[k] *= 0.9f;
        break;
    }
    case MFR_MASK_KN95:
        if (fabsf(s) < 0.02f) /* centre seam */
            for (int k = 0; k < 3; k++)
                rgb[k] *= 0.75f;
        break;
    case MFR_MASK_N95: {
        /* edge band and, on some, a round exhalation valve */
        float r = sqrtf(s * s * 4.0f + (t - 0.45f) * (t - 0.45f) * 9.0f);
        if ((seed & 1u) && r < 0.55f) {
            float v = r < 0.45f ? 0.45f : 0.3f;
            rgb[0] = rgb[1] = rgb[2] = v;
        }
        if (t < 0.05f || t > 0.95f || fabsf(s) > 0.95f)
            for (int k = 0; k < 3; k++)
                rgb[k] *= 0.85f;
        break;
    }
    case MFR_MASK_GAS: {
        /* a filter canister in front of the mouth and a rubber rim */
        float r = sqrtf(s * s * 5.0f + (t - 0.35f) * (t - 0.35f) * 6.0f);
        if (r < 0.5f) {
            float ring = sinf(r * 60.0f) > 0.0f ? 0.16f : 0.10f;
            rgb[0] = rgb[1] = rgb[2] = ring;
        }
        if (t > 0.92f || fabsf(s) > 0.92f)
            rgb[0] = rgb[1] = rgb[2] = 0.05f;
        break;
    }
    default:
        break;
    }
}

/* Row outline of a mask: height of the bottom and top edges and half-width, in face units. */
static void mask_outline(const synth_head *h, const mfr_mask *m, float s, float t, float *X, float *Y)
{
    float top, bot, hw;
    switch (m->coverage) {
    case MFR_COVER_HIGH: top = h->eye_y - 0.135f; break;
    case MFR_COVER_MEDIUM: top = 0.5f * (h->nose_top + h->nose_tip) - 0.04f; break;
    default: top = h->nose_base - 0.01f; break;
    }
    bot = -1.13f * h->id->length;
    int round = m->shape == MFR_SHAPE_ROUND;
    if (m->type == MFR_MASK_GAS)
        top = fmaxf(top, h->eye_y - 0.135f);
    float jitter = ((float)(m->seed % 1000u) / 1000.0f - 0.5f) * 0.02f;
    top += jitter;
    if (round) {
        hw = 0.50f * (0.30f + 0.70f * powf(fmaxf(0.0f, sinf(SYNTH_PI * fminf(t * 1.1f, 1.0f))), 0.6f));
        top += 0.02f * (1.0f - s * s);
        bot = bot + 0.14f + 0.06f * s * s;
    } else {
        hw = 0.68f * (0.86f + 0.14f * sinf(SYNTH_PI * t));
        top -= 0.04f * s * s; /* a wide mask pulls down towards the ears */
        bot += 0.32f * s * s;
    }
    *X = s * hw;
    *Y = mixf(bot, top, t);
}

int synth_build_mask(synth_mesh *m, const synth_head *h, const mfr_mask *mask, float lod, v3 straps[16])
{
    int ns = (int)(26 * lod) < 9 ? 9 : (int)(26 * lod) | 1, nt = (int)(18 * lod) < 10 ? 10 : (int)(18 * lod);
    int rc = synth_mesh_grid(m, ns, nt, 0);
    if (rc != MFR_OK)
        return rc;
    float dome = 0.0f, seam = 0.0f;
    if (mask->type == MFR_MASK_N95 || (mask->type == MFR_MASK_NIST && mask->shape == MFR_SHAPE_ROUND))
        dome = mask->type == MFR_MASK_N95 ? 0.09f : 0.05f;
    if (mask->type == MFR_MASK_KN95)
        seam = 0.08f;
    if (mask->type == MFR_MASK_GAS)
        dome = 0.16f;
    for (int j = 0; j < nt; j++) {
        float t = (float)j / (float)(nt - 1);
        /* centre-line height the fabric hangs from: the highest point of the
         * face profile above this row, falling back with a slope (drape) */
        float X, Y, Xc, Yc;
        mask_outline(h, mask, 0.0f, t, &Xc, &Yc);
        float ytop;
        mask_outline(h, mask, 0.0f, 1.0f, &Xc, &ytop);
        float zr = -1e9f;
        for (int k = 0; k <= 16; k++) {
            /* from a little below the row (rows are coarse: the fabric must
             * clear a nose tip between two of them) up to the top edge */
            float yy = mixf(Yc - 0.12f, ytop, (float)k / 16.0f);
            float z = synth_head_point(h, 0.0f, yy, 0).z - 0.45f * fmaxf(0.0f, yy - Yc);
            zr = fmaxf(zr, z);
        }
        /* and the nose tip itself, which the head mesh has as a vertex (the
         * 17 samples can straddle it) */
        if (h->nose_tip > Yc - 0.12f && h->nose_tip < ytop)
            zr = fmaxf(zr, synth_head_point(h, 0.0f, h->nose_tip, 0).z - 0.45f * fmaxf(0.0f, h->nose_tip - Yc));
        zr += 0.02f;
        float zside = synth_head_point(h, 0.42f / 0.75f, Yc, 0).z;
        float k2 = fmaxf(0.0f, (zr - zside) / (0.42f * 0.42f));
        for (int i = 0; i < ns; i++) {
            float s = -1.0f + 2.0f * (float)i / (float)(ns - 1);
            mask_outline(h, mask, s, t, &X, &Y);
            v3 p = synth_head_point(h, X / 0.75f, Y, 0);
            v3 d = v3_norm(v3_make(p.x, 0.3f * p.y, p.z));
            p = v3_add(p, v3_scale(d, 0.012f));
            float zt = zr - k2 * X * X;
            zt += dome * sinf(SYNTH_PI * t) * (1.0f - s * s) + seam * (1.0f - fabsf(s)) * sinf(SYNTH_PI * t);
            if (zt > p.z && fabsf(X) < 0.6f)
                p.z = zt;
            int idx = j * ns + i;
            m->pos[3 * idx] = p.x;
            m->pos[3 * idx + 1] = p.y;
            m->pos[3 * idx + 2] = p.z;
            m->uv[2 * idx] = s;
            m->uv[2 * idx + 1] = t;
        }
    }
    synth_mesh_grid_normals(m, ns, nt, 0, 0);
    m->material = MAT_MASK;
    m->cull = 0;
    /* ear loops: from the upper and lower side corners over the cheek to
     * above and below the ear, as two segments each (8 segments, 16 points) */
    for (int side = 0; side < 2; side++) {
        float sg = side ? 1.0f : -1.0f;
        int corner[2] = {(nt - 2) * ns + (side ? ns - 1 : 0), 1 * ns + (side ? ns - 1 : 0)};
        float ear_v[2] = {h->eye_y + 0.02f, h->eye_y - 0.28f};
        for (int k = 0; k < 2; k++) {
            int c = corner[k];
            v3 a = v3_make(m->pos[3 * c], m->pos[3 * c + 1], m->pos[3 * c + 2]);
            v3 mid = synth_head_point(h, sg * 1.3f, 0.5f * (a.y + ear_v[k]), 0);
            v3 d = v3_norm(v3_make(mid.x, 0.0f, mid.z));
            mid = v3_add(mid, v3_scale(d, 0.03f));
            v3 ear = synth_head_point(h, sg * 1.70f, ear_v[k], 0);
            ear.x += sg * 0.08f;
            v3 *o = straps + side * 8 + k * 4;
            o[0] = a;
            o[1] = mid;
            o[2] = mid;
            o[3] = ear;
        }
    }
    return MFR_OK;
}
