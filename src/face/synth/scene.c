/* Detection scenes: 0..N heads of varied sizes, positions, poses and masks
 * in one perspective camera, over a cluttered procedural background with
 * face-like distractors (cartoon faces, balls). */
#include "config.h"
#include "recipe.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A filled ellipse (axis-aligned) blended into the linear frame. */
static void fill_ellipse(synth_frame *f, float cx, float cy, float rx, float ry, const float rgb[3], float alpha, int shaded)
{
    int x0 = (int)floorf(cx - rx - 1), x1 = (int)ceilf(cx + rx + 1);
    int y0 = (int)floorf(cy - ry - 1), y1 = (int)ceilf(cy + ry + 1);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 >= f->w) x1 = f->w - 1;
    if (y1 >= f->h) y1 = f->h - 1;
    float edge = 1.0f / fmaxf(1.0f, fminf(rx, ry));
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = ((float)x + 0.5f - cx) / rx, dy = ((float)y + 0.5f - cy) / ry;
            float d = sqrtf(dx * dx + dy * dy);
            float a = clampf((1.0f - d) / edge + 0.5f, 0.0f, 1.0f) * alpha;
            if (a <= 0.0f)
                continue;
            float s = shaded ? 0.35f + 0.65f * clampf(1.0f - 0.7f * (dx + 0.4f) * (dx + 0.4f) - 0.7f * (dy + 0.4f) * (dy + 0.4f), 0, 1) : 1.0f;
            float *p = f->rgb + 3 * ((size_t)y * (size_t)f->w + (size_t)x);
            for (int c = 0; c < 3; c++)
                p[c] += (rgb[c] * s - p[c]) * a;
        }
}

static void fill_rect(synth_frame *f, float x0f, float y0f, float x1f, float y1f, const float rgb[3], float alpha)
{
    int x0 = (int)x0f < 0 ? 0 : (int)x0f, y0 = (int)y0f < 0 ? 0 : (int)y0f;
    int x1 = (int)x1f >= f->w ? f->w - 1 : (int)x1f, y1 = (int)y1f >= f->h ? f->h - 1 : (int)y1f;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float *p = f->rgb + 3 * ((size_t)y * (size_t)f->w + (size_t)x);
            for (int c = 0; c < 3; c++)
                p[c] += (rgb[c] - p[c]) * alpha;
        }
}

static void random_color(mfr_rng *g, float rgb[3])
{
    for (int c = 0; c < 3; c++)
        rgb[c] = synth_to_linear((float)mfr_rng_uniform(g));
}

static void clutter(synth_frame *f, mfr_rng *g, int distractors)
{
    float W = (float)f->w, H = (float)f->h, c[3];
    /* furniture-like blocks and stripes */
    int blocks = 3 + (int)mfr_rng_below(g, 6);
    for (int i = 0; i < blocks; i++) {
        random_color(g, c);
        float x = (float)mfr_rng_uniform(g) * W, y = (float)mfr_rng_uniform(g) * H;
        float w = (float)mfr_rng_range(g, 0.05, 0.4) * W, h = (float)mfr_rng_range(g, 0.05, 0.5) * H;
        if (mfr_rng_uniform(g) < 0.6)
            fill_rect(f, x, y, x + w, y + h, c, (float)mfr_rng_range(g, 0.4, 1.0));
        else
            fill_ellipse(f, x, y, w * 0.5f, h * 0.5f, c, (float)mfr_rng_range(g, 0.4, 1.0), mfr_rng_uniform(g) < 0.5);
    }
    /* face-like distractors: cartoon faces and balls */
    for (int i = 0; i < distractors; i++) {
        float x = (float)mfr_rng_uniform(g) * W, y = (float)mfr_rng_uniform(g) * H;
        float r = (float)mfr_rng_range(g, 6, 0.12 * H);
        if (mfr_rng_uniform(g) < 0.5) {
            float skin[3] = {synth_to_linear((float)mfr_rng_range(g, 0.5, 0.95)), 0, 0};
            skin[1] = skin[0] * 0.7f;
            skin[2] = skin[0] * 0.55f;
            float dark[3] = {0.01f, 0.01f, 0.01f};
            fill_ellipse(f, x, y, r * 0.8f, r, skin, 1.0f, 0);
            fill_ellipse(f, x - 0.3f * r, y - 0.2f * r, 0.12f * r, 0.08f * r, dark, 1.0f, 0);
            fill_ellipse(f, x + 0.3f * r, y - 0.2f * r, 0.12f * r, 0.08f * r, dark, 1.0f, 0);
            fill_ellipse(f, x, y + 0.45f * r, 0.3f * r, 0.05f * r, dark, 1.0f, 0);
        } else {
            random_color(g, c);
            fill_ellipse(f, x, y, r, r, c, 1.0f, 1);
        }
    }
}

int recipe_scene(const mfr_recipe *r, uint64_t seed, long index, mfr_image *img, mfr_sample *s)
{
    mfr_rng g;
    mfr_rng_init(&g, seed, MFR_STREAM_SCENE, (uint64_t)index);
    memset(s, 0, sizeof *s);
    s->index = index;
    s->identity = -1;
    s->split = MFR_SPLIT_SCENE;
    s->width = r->width;
    s->height = r->height;
    snprintf(s->file, sizeof s->file, "images/%07ld.png", index);
    synth_tables_init();

    mfr_nuisance cam_nz;
    recipe_sample_nuisance(&r->probe_nz, &g, &cam_nz);
    int nf = r->faces[0] + (int)mfr_rng_below(&g, (uint32_t)(r->faces[1] - r->faces[0] + 1));
    int nd = r->distractors[0] + (int)mfr_rng_below(&g, (uint32_t)(r->distractors[1] - r->distractors[0] + 1));
    float W = (float)r->width, H = (float)r->height;
    synth_camera cam = {0.9f * W, 0.5f * W, 0.5f * H};
    synth_light light;
    synth_light_from(&cam_nz, &light);

    int rc = MFR_OK;
    synth_frame *f = synth_scratch_frame(r->width, r->height); /* every pixel gets the background below */
    if (!f)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for a %d x %d scene", r->width, r->height);
    synth_face *faces = calloc((size_t)(nf > 0 ? nf : 1), sizeof *faces);
    const synth_mesh **list = calloc((size_t)(nf > 0 ? nf : 1) * SYNTH_FACE_MESHES, sizeof *list);
    if (!faces || !list)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
    synth_background(f, cam_nz.background, 1);
    clutter(f, &g, nd);
    int nm = 0, built = 0;
    float placed[MFR_MAX_FACES][3];
    int placed_n = 0; /* == built unless a build failed */
    for (int k = 0; k < nf && rc == MFR_OK; k++) {
        mfr_sample_face *sf = &s->faces[built];
        long person = r->identity_offset + (long)mfr_rng_below(&g, (uint32_t)(r->identities < 0x7fffffffL ? r->identities : 0x7fffffffL));
        mfr_identity id;
        mfr_identity_sample(seed, person, &id);
        mfr_rng fg;
        mfr_rng_init(&fg, seed, MFR_STREAM_NUISANCE, ((uint64_t)index << 6) + (uint64_t)k + (1ull << 62));
        recipe_sample_nuisance(&r->probe_nz, &fg, &sf->nz);
        /* the camera's nuisances apply to the whole picture */
        sf->nz.noise = cam_nz.noise;
        sf->nz.blur = cam_nz.blur;
        sf->nz.jpeg_quality = cam_nz.jpeg_quality;
        sf->nz.light_az = cam_nz.light_az;
        sf->nz.light_el = cam_nz.light_el;
        sf->nz.light_intensity = cam_nz.light_intensity;
        sf->nz.ambient = cam_nz.ambient;
        memcpy(sf->nz.light_color, cam_nz.light_color, sizeof cam_nz.light_color);
        mfr_mask mask = {0};
        if (r->nvariants > 0 && mfr_rng_uniform(&fg) < r->mask_prob) {
            mask = r->variants[mfr_rng_below(&fg, (uint32_t)r->nvariants)];
            mask.seed = mfr_rng_u32(&fg);
        }
        /* size: log-uniform face height in pixels; depth follows */
        float hpx = (float)exp(mfr_rng_range(&fg, log(r->face_size[0]), log(r->face_size[1])));
        float D = cam.f * 1.3f / hpx;
        float mx = fminf(0.45f * W, hpx), my = fminf(0.45f * H, hpx);
        /* a free spot: faces may touch but not hide each other (30 tries) */
        float px = 0.0f, py = 0.0f;
        int clear = 0;
        for (int tries = 0; tries < 30 && !clear; tries++) {
            px = (float)mfr_rng_range(&fg, mx, W - mx);
            py = (float)mfr_rng_range(&fg, my, H - my);
            clear = 1;
            for (int q = 0; q < placed_n; q++) {
                float dx = px - placed[q][0], dy = py - placed[q][1], d = 0.75f * (hpx + placed[q][2]);
                clear &= dx * dx + dy * dy > d * d;
            }
        }
        if (!clear)
            continue; /* the picture is full: fewer faces than drawn */
        placed[placed_n][0] = px, placed[placed_n][1] = py, placed[placed_n][2] = hpx;
        placed_n++;
        v3 c = v3_make(0.0f, -0.3f, 0.8f); /* about the middle of the face */
        v3 offset = v3_make(0.0f, -0.75f, -0.1f);
        offset = v3_add(offset, v3_make((px - cam.cx) * D / cam.f - c.x, -(py - cam.cy) * D / cam.f - c.y, -D));
        sf->identity = person;
        sf->mask = mask;
        sf->glasses = id.glasses;
        sf->beard = id.beard;
        sf->hair_style = id.hair_style;
        rc = synth_face_build(&faces[built], &id, &sf->nz, &mask, offset, clampf(hpx / 150.0f, 0.2f, 1.0f), &cam,
                              (uint32_t)(index * 64 + k));
        if (rc == MFR_OK) {
            nm += synth_face_raster(&faces[built], f, list, nm);
            built++;
        }
    }
    if (rc == MFR_OK) {
        synth_shade(f, list, nm, &light);
        for (int k = 0; k < built; k++)
            synth_face_overlay(&faces[k], f, &cam, &light);
        for (int k = 0; k < built; k++)
            synth_face_truth(&faces[k], f, &cam, &s->faces[k].truth);
        s->nfaces = built;
        rc = mfr_image_alloc(img, r->width, r->height, 3);
        if (rc == MFR_OK)
            synth_finish(f, &cam_nz, seed, (uint64_t)index + (1ull << 40), img);
    }
    for (int k = 0; k < built; k++)
        synth_face_free(&faces[k]);
    free(faces);
    free(list);
    return rc;
}
