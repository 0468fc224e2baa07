/* Masks on real photographs: estimate the head pose from the 5 landmarks,
 * render the mask on an average head in that pose, fit it to the landmarks
 * with a least-squares similarity, match its brightness to the face and
 * alpha-blend it in. */
#include "config.h"
#include "synth.h"

#include <stdlib.h>
#include <string.h>

static void average_identity(mfr_identity *id)
{
    memset(id, 0, sizeof *id);
    id->width = id->length = id->depth = 1.0f;
    id->jaw = id->chin = id->cheekbone = id->brow_ridge = 1.0f;
    id->eye_size = id->eye_spacing = 1.0f;
    id->nose_length = id->nose_width = id->nose_bridge = id->nose_tip = 1.0f;
    id->mouth_width = id->lip_upper = id->lip_lower = 1.0f;
    id->ear_size = 1.0f;
    const float skin[3] = {0.80f, 0.62f, 0.50f};
    memcpy(id->skin, skin, sizeof skin);
    id->lip_color[0] = 0.74f, id->lip_color[1] = 0.40f, id->lip_color[2] = 0.35f;
    id->iris[0] = 0.3f, id->iris[1] = 0.2f, id->iris[2] = 0.1f;
    id->brow_color[0] = id->brow_color[1] = id->brow_color[2] = 0.15f;
    id->brow_thick = id->brow_length = 1.0f;
    id->hair_style = MFR_HAIR_BALD;
    id->texture_seed = 1;
}

/* Least-squares similarity taking points src onto dst: dst = m * src. */
static void fit_similarity(const float *src, const float *dst, int n, float m[6])
{
    double sx = 0, sy = 0, dx = 0, dy = 0, na = 0, nb = 0, den = 0;
    for (int i = 0; i < n; i++)
        sx += src[2 * i], sy += src[2 * i + 1], dx += dst[2 * i], dy += dst[2 * i + 1];
    sx /= n, sy /= n, dx /= n, dy /= n;
    for (int i = 0; i < n; i++) {
        double x = src[2 * i] - sx, y = src[2 * i + 1] - sy, u = dst[2 * i] - dx, v = dst[2 * i + 1] - dy;
        na += x * u + y * v;
        nb += x * v - y * u;
        den += x * x + y * y;
    }
    double a = den > 0 ? na / den : 1, b = den > 0 ? nb / den : 0;
    m[0] = (float)a, m[1] = (float)-b, m[2] = (float)(dx - a * sx + b * sy);
    m[3] = (float)b, m[4] = (float)a, m[5] = (float)(dy - b * sx - a * sy);
}

/* Nose position relative to the eyes and mouth, after removing the roll:
 * rx across (in eye distances), ry down (0 at the eyes, 1 at the mouth). */
static void nose_ratios(const float lm[10], float roll_rad, float *rx, float *ry)
{
    float c = cosf(-roll_rad), s = sinf(-roll_rad), p[10];
    for (int i = 0; i < 5; i++) {
        p[2 * i] = c * lm[2 * i] - s * lm[2 * i + 1];
        p[2 * i + 1] = s * lm[2 * i] + c * lm[2 * i + 1];
    }
    float ex = 0.5f * (p[0] + p[2]), ey = 0.5f * (p[1] + p[3]);
    float mx = 0.5f * (p[6] + p[8]), my = 0.5f * (p[7] + p[9]);
    float E = fmaxf(1e-3f, fabsf(p[2] - p[0]));
    *rx = (p[4] - 0.5f * (ex + mx)) / E;
    *ry = (p[5] - ey) / fmaxf(1e-3f, my - ey);
}

/* The same ratios for the model head in a pose (orthographic view). */
static void model_ratios(const v3 lm3[5], float yaw, float pitch, float *rx, float *ry)
{
    m3 r = synth_rotation(yaw, pitch, 0.0f);
    float p[10];
    for (int i = 0; i < 5; i++) {
        v3 q = m3_apply(&r, lm3[i]);
        p[2 * i] = q.x;
        p[2 * i + 1] = -q.y;
    }
    nose_ratios(p, 0.0f, rx, ry);
}

static void estimate_pose(const synth_head *h, const float lm[10], float pose[3])
{
    v3 lm3[5];
    synth_head_landmarks(h, lm3);
    float roll = atan2f(lm[3] - lm[1], lm[2] - lm[0]);
    float tx, ty, yaw = 0.0f, pitch = 0.0f;
    nose_ratios(lm, roll, &tx, &ty);
    /* alternate bisections: rx grows with yaw, ry shrinks as the head tilts up */
    for (int round = 0; round < 3; round++) {
        float lo = -75.0f, hi = 75.0f, rx, ry;
        for (int it = 0; it < 30; it++) {
            float mid = 0.5f * (lo + hi);
            model_ratios(lm3, mid, pitch, &rx, &ry);
            if (rx < tx)
                lo = mid;
            else
                hi = mid;
        }
        yaw = 0.5f * (lo + hi);
        lo = -40.0f, hi = 40.0f;
        for (int it = 0; it < 30; it++) {
            float mid = 0.5f * (lo + hi);
            model_ratios(lm3, yaw, mid, &rx, &ry);
            if (ry > ty)
                lo = mid;
            else
                hi = mid;
        }
        pitch = 0.5f * (lo + hi);
    }
    pose[0] = yaw;
    pose[1] = pitch;
    pose[2] = roll * 180.0f / SYNTH_PI;
}

static float luma(const float *p) { return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }

/* Bilinear sample of a float plane with `c` channels; outside: zeros. */
static void sample(const float *buf, int w, int h, int c, float x, float y, float *out)
{
    x -= 0.5f, y -= 0.5f;
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    for (int k = 0; k < c; k++)
        out[k] = 0.0f;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int xx = x0 + i, yy = y0 + j;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                continue;
            float wgt = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            for (int k = 0; k < c; k++)
                out[k] += wgt * buf[((size_t)yy * (size_t)w + (size_t)xx) * (size_t)c + (size_t)k];
        }
}

int mfr_mask_photo(mfr_image *im, const float lm[10], const mfr_mask *mask, float pose_out[3])
{
    if (!im || !im->data || (im->channels != 3 && im->channels != 4))
        return mfr_error(MFR_ERR_ARG, "mask: needs an RGB or RGBA image");
    for (int i = 0; i < 10; i++)
        if (!isfinite(lm[i]) || fabsf(lm[i]) > 1e6f)
            return mfr_error(MFR_ERR_ARG, "mask: landmark %d is not a usable number", i / 2);
    float eye = hypotf(lm[2] - lm[0], lm[3] - lm[1]);
    if (eye < 4.0f)
        return mfr_error(MFR_ERR_ARG, "mask: the eyes are %.1f pixels apart; at least 4 are needed", eye);
    if (!mask || mask->type == MFR_MASK_NONE)
        return MFR_OK;
    synth_tables_init();
    mfr_identity id;
    average_identity(&id);
    mfr_nuisance nz;
    memset(&nz, 0, sizeof nz);
    nz.scale = 1.0f;
    nz.distance = 6.0f;
    synth_head head;
    synth_head_setup(&head, &id, &nz);
    float pose[3];
    estimate_pose(&head, lm, pose);
    if (pose_out)
        memcpy(pose_out, pose, sizeof pose);
    nz.yaw = pose[0], nz.pitch = pose[1], nz.roll = pose[2];
    nz.light_el = 20.0f, nz.light_intensity = 0.7f, nz.ambient = 0.45f;
    nz.light_color[0] = nz.light_color[1] = nz.light_color[2] = 1.0f;

    /* the layer: about twice the photo's resolution of the face */
    int L = (int)clampf(2.0f * eye * 112.0f / 35.24f, 64.0f, 1024.0f);
    synth_camera cam;
    v3 offset;
    float lod;
    synth_face_framing(&head, &nz, L, L, &cam, &offset, &lod);
    synth_frame f;
    synth_face F;
    int rc = synth_frame_init(&f, L, L);
    if (rc != MFR_OK)
        return rc;
    rc = synth_face_build(&F, &id, &nz, mask, offset, lod, &cam, 1u);
    if (rc != MFR_OK) {
        synth_frame_free(&f);
        return rc;
    }
    const synth_mesh *list[SYNTH_FACE_MESHES];
    synth_light light;
    synth_light_from(&nz, &light);
    int n = synth_face_raster(&F, &f, list, 0);
    synth_shade(&f, list, n, &light);
    mfr_face_truth t;
    synth_face_truth(&F, &f, &cam, &t);
    int mask_mesh = -1;
    for (int i = 0; i < n; i++)
        if (list[i]->material == MAT_MASK)
            mask_mesh = i;
    /* layer: sRGB colour in 0..255 and coverage */
    size_t np = (size_t)L * (size_t)L;
    float *layer = malloc(np * 6 * sizeof(float));
    if (!layer) {
        synth_face_free(&F);
        synth_frame_free(&f);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < np; k++) {
        /* mask colour premultiplied by its coverage, coverage, model skin, model luma */
        float a = f.mesh[k] == mask_mesh ? 1.0f : 0.0f, rgb[3];
        for (int c = 0; c < 3; c++)
            rgb[c] = (float)synth_to_srgb8(f.rgb[3 * k + c]);
        for (int c = 0; c < 3; c++)
            layer[6 * k + c] = rgb[c] * a;
        layer[6 * k + 3] = a;
        layer[6 * k + 4] = f.mesh[k] == F.head_mesh ? 1.0f : 0.0f;
        layer[6 * k + 5] = luma(rgb);
    }
    /* photo -> layer similarity from the landmarks */
    float m[6];
    fit_similarity(lm, t.lm, 5, m);
    float inv[6];
    rc = mfr_affine_invert(m, inv);
    if (rc == MFR_OK) {
        /* the photo region the layer covers: map the layer's corners back */
        float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
        for (int c = 0; c < 4; c++) {
            float lx = (c & 1) ? (float)L : 0.0f, ly = (c & 2) ? (float)L : 0.0f;
            float px = inv[0] * lx + inv[1] * ly + inv[2], py = inv[3] * lx + inv[4] * ly + inv[5];
            x0 = fminf(x0, px), x1 = fmaxf(x1, px), y0 = fminf(y0, py), y1 = fmaxf(y1, py);
        }
        int ix0 = (int)fmaxf(0.0f, floorf(x0)), iy0 = (int)fmaxf(0.0f, floorf(y0));
        int ix1 = (int)fminf((float)im->width - 1, ceilf(x1)), iy1 = (int)fminf((float)im->height - 1, ceilf(y1));
        /* brightness: the photo's skin against the model's skin where the model shows skin */
        double sp = 0, sl = 0;
        for (int y = iy0; y <= iy1; y++)
            for (int x = ix0; x <= ix1; x++) {
                float lx = m[0] * ((float)x + 0.5f) + m[1] * ((float)y + 0.5f) + m[2];
                float ly = m[3] * ((float)x + 0.5f) + m[4] * ((float)y + 0.5f) + m[5];
                float s[6];
                sample(layer, L, L, 6, lx, ly, s);
                if (s[4] < 0.99f)
                    continue;
                const uint8_t *p = mfr_image_row(im, y) + (size_t)x * (size_t)im->channels;
                float pf[3] = {p[0], p[1], p[2]};
                sp += luma(pf);
                sl += s[5];
            }
        float gain = sl > 0 ? clampf((float)(sp / sl), 0.25f, 2.0f) : 1.0f;
        for (int y = iy0; y <= iy1; y++)
            for (int x = ix0; x <= ix1; x++) {
                float lx = m[0] * ((float)x + 0.5f) + m[1] * ((float)y + 0.5f) + m[2];
                float ly = m[3] * ((float)x + 0.5f) + m[4] * ((float)y + 0.5f) + m[5];
                float s[6];
                sample(layer, L, L, 6, lx, ly, s);
                if (s[3] <= 0.0f)
                    continue;
                float a = clampf(s[3], 0.0f, 1.0f);
                uint8_t *p = mfr_image_row(im, y) + (size_t)x * (size_t)im->channels;
                for (int c = 0; c < 3; c++) {
                    float v = s[c] / a * gain; /* un-premultiply the bilinear colour */
                    p[c] = (uint8_t)clampf((float)p[c] + (v - (float)p[c]) * a + 0.5f, 0.0f, 255.0f);
                }
            }
    }
    free(layer);
    synth_face_free(&F);
    synth_frame_free(&f);
    return rc;
}

void mfr_landmarks_from68(const float p[136], float lm[10])
{
    /* iBUG 68: eyes 36-41 and 42-47, nose tip 30, mouth corners 48 and 54 */
    float ax = 0, ay = 0, bx = 0, by = 0;
    for (int i = 36; i < 42; i++)
        ax += p[2 * i], ay += p[2 * i + 1];
    for (int i = 42; i < 48; i++)
        bx += p[2 * i], by += p[2 * i + 1];
    lm[0] = ax / 6, lm[1] = ay / 6, lm[2] = bx / 6, lm[3] = by / 6;
    lm[4] = p[60], lm[5] = p[61];
    lm[6] = p[96], lm[7] = p[97];
    lm[8] = p[108], lm[9] = p[109];
}
