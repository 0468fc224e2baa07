/* Tests of src/face: the synthetic generator, recipes, masks on photos,
 * alignment and the LBP baseline. */
#include "config.h"
#include "testutil.h"
#include "mfr/face.h"
#include "face/synth/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ helpers */

static uint32_t file_crc(const char *path)
{
    void *data;
    size_t size;
    tu_ok(mfr_read_file(path, 1 << 26, &data, &size));
    uint32_t c = mfr_crc32(0, data, size);
    free(data);
    return c;
}

/* CRC over manifest, pairs and every image of a written dataset. */
static uint32_t dataset_crc(const char *dir, long images)
{
    char path[512];
    uint32_t c = 0, v;
    snprintf(path, sizeof path, "%s/manifest.csv", dir);
    v = file_crc(path);
    c = mfr_crc32(c, &v, sizeof v);
    snprintf(path, sizeof path, "%s/pairs.csv", dir);
    v = file_crc(path);
    c = mfr_crc32(c, &v, sizeof v);
    for (long i = 0; i < images; i++) {
        snprintf(path, sizeof path, "%s/images/%07ld.png", dir, i);
        v = file_crc(path);
        c = mfr_crc32(c, &v, sizeof v);
    }
    return c;
}

static mfr_nuisance plain_nuisance(float yaw)
{
    mfr_nuisance nz;
    memset(&nz, 0, sizeof nz);
    nz.yaw = yaw;
    nz.light_el = 20.0f;
    nz.light_intensity = 0.8f;
    nz.ambient = 0.4f;
    nz.light_color[0] = nz.light_color[1] = nz.light_color[2] = 1.0f;
    nz.distance = 5.0f;
    nz.scale = 1.0f;
    nz.noise = 2.0f;
    nz.background = 7;
    return nz;
}

/* Mean absolute difference of two RGB images in a square around (x, y). */
static double patch_diff(const mfr_image *a, const mfr_image *b, float x, float y, int r)
{
    double d = 0;
    int n = 0;
    for (int yy = (int)y - r; yy <= (int)y + r; yy++)
        for (int xx = (int)x - r; xx <= (int)x + r; xx++) {
            if (xx < 0 || yy < 0 || xx >= a->width || yy >= a->height)
                continue;
            const uint8_t *p = mfr_image_row(a, yy) + 3 * xx, *q = mfr_image_row(b, yy) + 3 * xx;
            for (int c = 0; c < 3; c++)
                d += fabs((double)p[c] - q[c]);
            n += 3;
        }
    return n ? d / n : 0;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_reproducible_across_threads)
{
    mfr_recipe *r;
    tu_ok(mfr_recipe_load(tu_src("datasets/tiny.ini"), &r));
    long n = mfr_recipe_count(r);
    ck_assert_int_gt(n, 10);
    mfr_set_threads(1);
    tu_ok(mfr_gen_write(r, 5, tu_tmp("t1"), 1));
    mfr_set_threads(2);
    tu_ok(mfr_gen_write(r, 5, tu_tmp("t2"), 1));
    tu_ok(mfr_gen_write(r, 5, tu_tmp("t3"), 1));
    mfr_set_threads(0);
    uint32_t a = dataset_crc(tu_tmp("t1"), n), b = dataset_crc(tu_tmp("t2"), n), c = dataset_crc(tu_tmp("t3"), n);
    ck_assert_uint_eq(a, b);
    ck_assert_uint_eq(b, c);
    /* another seed gives other images */
    tu_ok(mfr_gen_write(r, 6, tu_tmp("t4"), 1));
    ck_assert_uint_ne(a, dataset_crc(tu_tmp("t4"), n));

    /* the in-memory sample is the image on disk */
    mfr_image im = {0}, disk = {0};
    mfr_sample s;
    tu_ok(mfr_recipe_sample(r, 5, 7, &im, &s));
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmp("t1"), s.file);
    tu_ok(mfr_image_read(path, &disk));
    ck_assert_int_eq(disk.width, im.width);
    ck_assert_int_eq(disk.height, im.height);
    for (int y = 0; y < im.height; y++)
        ck_assert(memcmp(mfr_image_row(&im, y), mfr_image_row(&disk, y), (size_t)im.width * 3) == 0);
    mfr_image_free(&im);
    mfr_image_free(&disk);
    /* outside the recipe: an error, no crash */
    ck_assert_int_ne(mfr_recipe_sample(r, 5, n, &im, &s), MFR_OK);
    mfr_recipe_free(r);
}
END_TEST

START_TEST(test_landmarks_follow_pose)
{
    mfr_image im = {0};
    tu_ok(mfr_image_alloc(&im, 112, 112, 3));
    for (int i = 0; i < 12; i++) {
        mfr_identity id;
        mfr_identity_sample(3, i, &id);
        float nose_offset[2];
        for (int s = 0; s < 2; s++) {
            mfr_nuisance nz = plain_nuisance(s ? 25.0f : -25.0f);
            nz.pitch = (float)(i % 5) * 3.0f - 6.0f;
            nz.roll = (float)(i % 3) * 4.0f - 4.0f;
            mfr_face_truth t;
            tu_ok(mfr_face_render(&id, &nz, NULL, &im, &t));
            /* every landmark inside the face box, the box inside the image */
            for (int k = 0; k < 5; k++) {
                ck_assert_msg(t.lm[2 * k] >= t.box[0] - 1 && t.lm[2 * k] <= t.box[2] + 1 &&
                              t.lm[2 * k + 1] >= t.box[1] - 1 && t.lm[2 * k + 1] <= t.box[3] + 1,
                              "identity %d landmark %d (%.1f, %.1f) outside box (%.1f %.1f %.1f %.1f)", i, k,
                              t.lm[2 * k], t.lm[2 * k + 1], t.box[0], t.box[1], t.box[2], t.box[3]);
            }
            ck_assert(t.box[0] >= 0 && t.box[2] <= 112 && t.box[1] >= 0 && t.box[3] <= 112);
            ck_assert(t.box[2] - t.box[0] > 40 && t.box[3] - t.box[1] > 50);
            /* image order: the eye on the image left comes first; eyes above the nose above the mouth */
            ck_assert(t.lm[0] < t.lm[2]);
            ck_assert(t.lm[7] < t.lm[9] + 20 && t.lm[3] > t.lm[1] - 20);
            ck_assert(t.lm[5] > 0.5f * (t.lm[1] + t.lm[3]));
            ck_assert(t.lm[5] < 0.5f * (t.lm[7] + t.lm[9]));
            ck_assert_msg(t.vis[2], "identity %d: an unmasked nose tip at yaw %g must be visible", i, nz.yaw);
            nose_offset[s] = t.lm[4] - 0.5f * (t.lm[0] + t.lm[2]);
        }
        /* yaw > 0 turns the face to the image right: the nose moves right of the eyes */
        ck_assert_msg(nose_offset[0] < -2.0f && nose_offset[1] > 2.0f, "identity %d: nose offsets %.1f, %.1f", i,
                      nose_offset[0], nose_offset[1]);
    }
    mfr_image_free(&im);
}
END_TEST

START_TEST(test_every_mask_variant)
{
    const char *text = "[dataset]\nkind = verification\nidentities = 4\n[masks]\n"
                       "nist_colors = light_blue, black, white, red, green, grey, navy, pink, pattern\n"
                       "[probe]\nyaw = 10\npitch = 5\nroll = 5\noccluder_prob = 0\n"
                       "jpeg_prob = 0\nblur = 0, 0.5\n"; /* JPEG blocks and blur would carry the mask onto the eyes */
    mfr_recipe *r;
    tu_ok(mfr_recipe_parse(text, strlen(text), "grid.ini", &r));
    /* 2 shapes x 3 coverages x 9 colours + 5 types, each a probe condition */
    long per_id = mfr_recipe_count(r) / 4;
    ck_assert_int_eq(per_id, 1 + 1 * (1 + 2 * 3 * 9 + 5));
    mfr_image bare = {0}, im = {0};
    mfr_sample s0, s;
    long first = 1; /* identity 0: enrolment, then the unmasked probe */
    tu_ok(mfr_recipe_sample(r, 1, first, &bare, &s0));
    ck_assert_int_eq(s0.faces[0].mask.type, MFR_MASK_NONE);
    int seen[MFR_MASK_TYPE_COUNT][MFR_SHAPE_COUNT][MFR_COVER_COUNT] = {{{0}}};
    for (long i = first + 1; i < per_id; i++) {
        tu_ok(mfr_recipe_sample(r, 1, i, &im, &s));
        const mfr_mask *m = &s.faces[0].mask;
        const mfr_face_truth *t = &s.faces[0].truth;
        char label[64];
        mfr_mask_label(m, label, sizeof label);
        ck_assert_int_ne(m->type, MFR_MASK_NONE);
        seen[m->type][m->shape][m->coverage]++;
        /* the same capture: identical pose, so the landmarks agree */
        ck_assert(fabsf(t->lm[4] - s0.faces[0].truth.lm[4]) < 1e-3f);
        float mx = 0.5f * (t->lm[6] + t->lm[8]), my = 0.5f * (t->lm[7] + t->lm[9]);
        double dm = patch_diff(&bare, &im, mx, my, 3);
        double de = patch_diff(&bare, &im, t->lm[0], t->lm[1], 1) + patch_diff(&bare, &im, t->lm[2], t->lm[3], 1);
        ck_assert_msg(dm > 8.0, "%s: the mouth barely changed (%.2f)", label, dm);
        ck_assert_msg(de < 0.5, "%s: the eyes changed (%.2f)", label, de);
        ck_assert_msg(!t->vis[3] && !t->vis[4], "%s: mouth corners reported visible under the mask", label);
        ck_assert_msg(t->vis[0] && t->vis[1], "%s: eyes reported hidden", label);
        if (m->type == MFR_MASK_NIST)
            ck_assert_msg(t->vis[2] == (m->coverage == MFR_COVER_LOW), "%s: nose tip visibility %d", label, t->vis[2]);
        mfr_image_free(&im);
    }
    for (int sh = 0; sh < MFR_SHAPE_COUNT; sh++)
        for (int c = 0; c < MFR_COVER_COUNT; c++)
            ck_assert_int_eq(seen[MFR_MASK_NIST][sh][c], 9);
    for (int ty = MFR_MASK_SURGICAL; ty < MFR_MASK_TYPE_COUNT; ty++) {
        int n = 0;
        for (int sh = 0; sh < MFR_SHAPE_COUNT; sh++)
            for (int c = 0; c < MFR_COVER_COUNT; c++)
                n += seen[ty][sh][c];
        ck_assert_int_eq(n, 1);
    }
    mfr_image_free(&bare);
    mfr_recipe_free(r);
}
END_TEST

static void expect_error(const char *text, const char *needle)
{
    mfr_recipe *r = NULL;
    int rc = mfr_recipe_parse(text, strlen(text), "bad.ini", &r);
    ck_assert_msg(rc != MFR_OK, "accepted: %s", text);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(mfr_last_error(), needle) != NULL, "error '%s' lacks '%s'", mfr_last_error(), needle);
}

START_TEST(test_recipe_errors)
{
    expect_error("[dataset]\nidentities = 10\nidentitys = 3\n", "bad.ini:3:");
    expect_error("[dataset]\nkind = verification\nidentities = -4\n", "bad.ini:3:");
    expect_error("[dataset]\nkind = videos\n", "bad.ini:2:");
    expect_error("[dataset]\n[probe]\nyaw = 100\n", "bad.ini:3:");
    expect_error("[dataset]\n[probe]\ndistance = 9, 3\n", "bad.ini:3:");
    expect_error("[dataset]\n[masks]\n\nnist_colors = light_blue, purple\n", "bad.ini:4:");
    expect_error("[dataset]\n[masks]\ntypes = surgical, bandana\n", "bandana");
    expect_error("[dataset]\nidentities = 3\nnonmated = 5\n", "bad.ini:3:");
    expect_error("[dataset]\n[scenes]\nfaces = 2, 99\n", "bad.ini:3:");
    expect_error("[datasett]\nkind = scenes\n", "bad.ini");
    /* the file loader names the file */
    const char *typo = "[dataset]\n\n[enrol]\nyaw = 5\nyaw_max = 3\n";
    tu_write(tu_tmp("typo.ini"), typo, strlen(typo));
    mfr_recipe *r;
    ck_assert_int_ne(mfr_recipe_load(tu_tmp("typo.ini"), &r), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "typo.ini:5:") != NULL, "%s", mfr_last_error());
}
END_TEST

START_TEST(test_scenes)
{
    const char *text = "[dataset]\nkind = scenes\nidentities = 50\nwidth = 320\nheight = 240\n"
                       "[scenes]\ncount = 6\nfaces = 1, 6\nface_size = 10, 90\ndistractors = 2, 4\n";
    mfr_recipe *r;
    tu_ok(mfr_recipe_parse(text, strlen(text), "scenes.ini", &r));
    ck_assert_int_eq(mfr_recipe_count(r), 6);
    int total = 0, classes[3] = {0};
    for (long i = 0; i < 6; i++) {
        mfr_image im = {0};
        mfr_sample s;
        tu_ok(mfr_recipe_sample(r, 2, i, &im, &s));
        ck_assert_int_eq(im.width, 320);
        ck_assert_int_le(s.nfaces, 6);
        for (int k = 0; k < s.nfaces; k++) {
            const mfr_face_truth *t = &s.faces[k].truth;
            ck_assert(t->box[0] >= -1 && t->box[1] >= -1 && t->box[2] <= 321 && t->box[3] <= 241);
            ck_assert(t->box[2] > t->box[0] && t->box[3] > t->box[1]);
            for (int j = 0; j < 5; j++)
                if (t->vis[j])
                    ck_assert(t->lm[2 * j] >= t->box[0] - 1 && t->lm[2 * j] <= t->box[2] + 1);
            classes[t->size_class]++;
        }
        total += s.nfaces;
        mfr_image_free(&im);
    }
    ck_assert_int_gt(total, 6);
    ck_assert_int_gt(classes[MFR_SIZE_HARD] + classes[MFR_SIZE_MEDIUM], 0);
    mfr_recipe_free(r);
}
END_TEST

START_TEST(test_mask_photo)
{
    mfr_image im = {0}, before = {0};
    tu_ok(mfr_image_read(tu_src("tests/data/face/photo.jpg"), &im));
    tu_ok(mfr_image_copy(&im, &before));
    /* face 0 of the fixture (tests/data/face/photo_landmarks.csv) */
    const float lm[10] = {63.82f, 47.35f, 105.87f, 49.34f, 80.04f, 69.45f, 71.32f, 90.67f, 95.46f, 91.46f};
    mfr_mask m = {MFR_MASK_NIST, MFR_SHAPE_WIDE, MFR_COVER_HIGH, MFR_COLOR_BLACK, 1};
    float pose[3];
    tu_ok(mfr_mask_photo(&im, lm, &m, pose));
    ck_assert(fabsf(pose[2]) < 10.0f && fabsf(pose[0]) < 30.0f);
    double mouth = patch_diff(&before, &im, 0.5f * (lm[6] + lm[8]), 0.5f * (lm[7] + lm[9]), 3);
    double eyes = patch_diff(&before, &im, lm[0], lm[1], 2) + patch_diff(&before, &im, lm[2], lm[3], 2);
    ck_assert_msg(mouth > 30.0, "mouth changed by %.1f only", mouth);
    ck_assert_msg(eyes < 0.5, "eyes changed by %.1f", eyes);
    /* a black mask is dark where it covers the mouth */
    const uint8_t *p = mfr_image_row(&im, (int)lm[7]) + 3 * (int)(0.5f * (lm[6] + lm[8]));
    ck_assert_int_lt(p[0] + p[1] + p[2], 150);
    /* far from the face nothing moved */
    ck_assert(patch_diff(&before, &im, 300, 180, 5) == 0.0);
    /* bad landmarks: an error, the image untouched */
    const float bad[10] = {10, 10, 10.5f, 10, 10, 12, 9, 14, 11, 14};
    ck_assert_int_ne(mfr_mask_photo(&before, bad, &m, NULL), MFR_OK);
    mfr_image_free(&im);
    mfr_image_free(&before);
}
END_TEST

START_TEST(test_mask_command)
{
    struct stat st;
    if (stat("./mfr", &st) != 0) {
        fprintf(stderr, "test_mask_command: ./mfr not built here, skipped\n");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "./mfr mask -q --landmarks %s --out %s --face 1 --mask surgical",
             tu_src("tests/data/face/photo_landmarks.csv"), tu_tmp("masked"));
    ck_assert_int_eq(system(cmd), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/photo.jpg", tu_tmp("masked"));
    mfr_image im = {0};
    tu_ok(mfr_image_read(path, &im));
    ck_assert_int_eq(im.width, 320);
    mfr_image_free(&im);
    void *data;
    size_t size;
    snprintf(path, sizeof path, "%s/applied.csv", tu_tmp("masked"));
    tu_ok(mfr_read_file(path, 1 << 20, &data, &size));
    ck_assert_msg(strstr(data, "photo.jpg,1,surgical-wide-medium-light_blue,surgical,wide,medium,light_blue,") != NULL,
                  "%s", (char *)data);
    ck_assert_msg(strstr(data, "photo.jpg,0,") == NULL, "face 0 was masked too: %s", (char *)data);
    free(data);
    /* a path escaping the output directory is refused, nothing written */
    const char *evil = "file,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4\n../x.jpg,1,1,9,1,5,5,2,9,8,9\n";
    tu_write(tu_tmp("evil.csv"), evil, strlen(evil));
    snprintf(cmd, sizeof cmd, "./mfr mask -q --landmarks %s --out %s 2>/dev/null", tu_tmp("evil.csv"), tu_tmp("evil"));
    int rc = system(cmd);
    ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    ck_assert_int_ne(stat(tu_tmp("evil"), &st), 0);
}
END_TEST

START_TEST(test_align_and_lbp)
{
    /* the template itself maps by the identity */
    float m[6];
    mfr_align_similarity(mfr_align_template, 112, m);
    ck_assert(fabsf(m[0] - 1) < 1e-4f && fabsf(m[1]) < 1e-4f && fabsf(m[2]) < 1e-3f);
    ck_assert(fabsf(m[3]) < 1e-4f && fabsf(m[4] - 1) < 1e-4f && fabsf(m[5]) < 1e-3f);
    /* a rotated, scaled, shifted copy is recovered */
    float lm[10], c = cosf(0.3f) * 2.0f, s = sinf(0.3f) * 2.0f;
    for (int i = 0; i < 5; i++) {
        float x = mfr_align_template[2 * i], y = mfr_align_template[2 * i + 1];
        lm[2 * i] = c * x - s * y + 40;
        lm[2 * i + 1] = s * x + c * y - 7;
    }
    mfr_align_similarity(lm, 112, m);
    ck_assert(fabsf(m[0] - c) < 1e-3f && fabsf(m[1] + s) < 1e-3f && fabsf(m[2] - 40) < 1e-2f);
    ck_assert(fabsf(m[3] - s) < 1e-3f && fabsf(m[4] - c) < 1e-3f && fabsf(m[5] + 7) < 1e-2f);

    /* LBP: unit length; the same identity closer than a different one on average */
    mfr_image im = {0}, crop = {0};
    tu_ok(mfr_image_alloc(&im, 112, 112, 3));
    static float e[6][MFR_LBP_DIM];
    for (int k = 0; k < 6; k++) {
        mfr_identity id;
        mfr_identity_sample(9, k / 2, &id);
        mfr_nuisance nz = plain_nuisance((k & 1) ? 8.0f : -8.0f);
        nz.background = (uint32_t)k;
        mfr_face_truth t;
        tu_ok(mfr_face_render(&id, &nz, NULL, &im, &t));
        tu_ok(mfr_align_crop(&im, t.lm, &crop));
        tu_ok(mfr_lbp_embed(&crop, e[k]));
        mfr_image_free(&crop);
        double n = 0;
        for (int i = 0; i < MFR_LBP_DIM; i++)
            n += (double)e[k][i] * e[k][i];
        ck_assert(fabs(n - 1.0) < 1e-4);
    }
    double mated = 0, non = 0;
    for (int a = 0; a < 3; a++) {
        mated += mfr_cosine(e[2 * a], e[2 * a + 1], MFR_LBP_DIM);
        non += mfr_cosine(e[2 * a], e[(2 * a + 3) % 6], MFR_LBP_DIM);
    }
    ck_assert_msg(mated > non, "mated %.3f <= non-mated %.3f", mated / 3, non / 3);
    mfr_image_free(&im);
    tu_ok(mfr_image_alloc(&im, 64, 64, 3));
    ck_assert_int_eq(mfr_lbp_embed(&im, e[0]), MFR_ERR_ARG);
    mfr_image_free(&im);
}
END_TEST

/* The fast separable blur gives the reference's bits at every radius,
 * including images narrower than the kernel. */
START_TEST(test_blur_matches_reference)
{
    static const int sizes[3][2] = {{37, 23}, {5, 9}, {112, 112}};
    static const float sigmas[4] = {0.3f, 0.8f, 2.5f, 9.0f};
    for (int s = 0; s < 3; s++)
        for (int g = 0; g < 4; g++) {
            int w = sizes[s][0], h = sizes[s][1];
            size_t n = 3 * (size_t)w * (size_t)h;
            float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *t = malloc(n * sizeof *t);
            ck_assert(a && b && t);
            for (size_t i = 0; i < n; i++)
                a[i] = b[i] = (float)((i * 2654435761u) % 1000u) / 999.0f;
            synth_gaussian_blur_ref(b, w, h, sigmas[g], t);
            /* each build of the taps: the baseline, and AVX2 where it runs */
            static const char *isa[2] = {"scalar", "avx2"};
            for (int v = 0; v < 2; v++) {
                if (v == 1 && !mfr_isa_available(MFR_ISA_AVX2))
                    continue;
                for (size_t i = 0; i < n; i++)
                    a[i] = (float)((i * 2654435761u) % 1000u) / 999.0f;
                ck_assert(setenv("MFR_ISA", isa[v], 1) == 0);
                synth_gaussian_blur(a, w, h, sigmas[g], t);
                ck_assert(unsetenv("MFR_ISA") == 0);
                ck_assert_msg(memcmp(a, b, n * sizeof *a) == 0, "blur %dx%d sigma %.1f (%s) differs", w, h, sigmas[g],
                              isa[v]);
            }
            free(a), free(b), free(t);
        }
}
END_TEST

/* The JPEG-like blocks, baseline build and AVX2 build, equal the plain
 * loops (synth_jpeg_artefacts_ref) byte for byte: whole and partial blocks,
 * busy pictures (most coefficients kept), smooth ones (most quantised to
 * zero, which the inverse transform leaves out), flat ones, and ones that
 * round beyond 0 and 255; low and high quality. */
static void copy_image(const mfr_image *a, mfr_image *b)
{
    for (int y = 0; y < a->height; y++)
        memcpy(mfr_image_row(b, y), mfr_image_row(a, y), 3 * (size_t)a->width);
}

START_TEST(test_jpeg_builds_agree)
{
    static const int sizes[4][2] = {{112, 112}, {37, 21}, {8, 9}, {16, 8}};
    static const int quality[4] = {5, 30, 75, 95};
    long kept = 0, changed = 0;
    for (int s = 0; s < 4; s++)
        for (int kind = 0; kind < 4; kind++) {
            mfr_image orig, ref, im;
            tu_ok(mfr_image_alloc(&orig, sizes[s][0], sizes[s][1], 3));
            tu_ok(mfr_image_alloc(&ref, sizes[s][0], sizes[s][1], 3));
            tu_ok(mfr_image_alloc(&im, sizes[s][0], sizes[s][1], 3));
            for (int y = 0; y < orig.height; y++)
                for (int x = 0; x < 3 * orig.width; x++) {
                    int v;
                    switch (kind) {
                    case 0: v = (x * 37 + y * 101 + (x * y) % 17) & 255; break;                  /* busy */
                    case 1: v = 60 + x / 3 + y + (int)(synth_hash((uint32_t)(x * 977 + y)) % 5u); break; /* smooth */
                    case 2: v = 128 + (x % 3) * 20; break;                                        /* flat */
                    default: v = ((x / 3 + y) & 1) ? 255 : (x / 3) % 5 == 0 ? 0 : 250;            /* edges */
                    }
                    mfr_image_row(&orig, y)[x] = (uint8_t)v;
                }
            for (int q = 0; q < 4; q++) {
                copy_image(&orig, &ref);
                synth_jpeg_artefacts_ref(&ref, quality[q]);
                for (int isa = 0; isa < 2; isa++) {
                    if (isa == 1 && !mfr_isa_available(MFR_ISA_AVX2))
                        break;
                    copy_image(&orig, &im);
                    ck_assert(setenv("MFR_ISA", isa ? "avx2" : "scalar", 1) == 0);
                    synth_jpeg_artefacts(&im, quality[q]);
                    ck_assert(unsetenv("MFR_ISA") == 0);
                    for (int y = 0; y < im.height; y++) {
                        ck_assert_msg(memcmp(mfr_image_row(&ref, y), mfr_image_row(&im, y), 3 * (size_t)im.width) == 0,
                                      "%dx%d picture %d quality %d row %d differs (%s)", im.width, im.height, kind,
                                      quality[q], y, isa ? "avx2" : "baseline");
                        for (int x = 0; x < 3 * im.width; x++) {
                            kept += mfr_image_row(&im, y)[x] == mfr_image_row(&orig, y)[x];
                            changed += mfr_image_row(&im, y)[x] != mfr_image_row(&orig, y)[x];
                        }
                    }
                }
            }
            mfr_image_free(&orig);
            mfr_image_free(&ref);
            mfr_image_free(&im);
        }
    ck_assert(kept > 0 && changed > 0); /* the round trip does change pictures */
}
END_TEST

/* A small deterministic generator for the kernel tests. */
static uint32_t lcg_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static float lcg_range(uint32_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)lcg_next(s) / 16777216.0f;
}

/* One sample of synth_finish's sensor noise, written plainly: the reference
 * of synth_sensor_noise and its AVX2 build. */
static uint8_t noise_one(uint8_t s, uint32_t key, uint32_t i, float sd)
{
    uint32_t b = synth_hash(key ^ i * 0x9e3779b9u);
    float g = (float)(int32_t)((b & 255u) + ((b >> 8) & 255u) + ((b >> 16) & 255u) + (b >> 24)) - 510.0f;
    float v = (float)s + g * sd + 0.5f;
    v = v < 0.0f ? 0.0f : v;
    v = v > 255.0f ? 255.0f : v;
    return (uint8_t)(int32_t)v;
}

/* Both builds of the sensor noise equal the plain one on rows of every
 * length mod 8, strong and weak noise, first sample numbers near 2^32. */
START_TEST(test_noise_matches_reference)
{
    enum { N = 700 };
    uint8_t in[N], ref[N], a[N];
    uint32_t st = 777u;
    for (int i = 0; i < N; i++)
        in[i] = (uint8_t)(i < 6 ? (i % 2 ? 255 : 0) : lcg_next(&st) & 255u);
    static const float sds[3] = {0.5f / 147.8f, 6.0f / 147.8f, 60.0f / 147.8f};
    for (int len = 1; len < 40; len++)
        for (int z = 0; z < 3; z++) {
            int nx = len < 30 ? len : N - (len - 30);
            uint32_t key = 0x9e3779b9u * (uint32_t)len, n0 = len % 2 ? 0u : 0xfffffff0u - (uint32_t)len;
            for (int i = 0; i < nx; i++)
                ref[i] = noise_one(in[i], key, n0 + (uint32_t)i, sds[z]);
            memcpy(a, in, (size_t)nx);
            synth_sensor_noise(a, nx, key, n0, sds[z]);
            ck_assert_msg(memcmp(a, ref, (size_t)nx) == 0, "noise, %d samples", nx);
#ifdef MFR_HAVE_AVX2
            if (mfr_isa_available(MFR_ISA_AVX2)) {
                memcpy(a, in, (size_t)nx);
                synth_sensor_noise_avx2(a, nx, key, n0, sds[z]);
                ck_assert_msg(memcmp(a, ref, (size_t)nx) == 0, "noise (AVX2), %d samples", nx);
            }
#endif
        }
}
END_TEST

/* The batch albedo (features out of a batch's reach skipped), in the
 * baseline build and the AVX2 one, equals the per-point one bit for bit: many people and expressions, batches of
 * points spread narrowly (a row of pixels) or widely, centred on the
 * features (eyes, brows, nose, mouth, moles) and elsewhere. */
START_TEST(test_albedo_batch_matches_reference)
{
    synth_tables_init(); /* the value-noise lattice (else all zeros) */
    uint32_t st = 12345u;
    long checked = 0;
    for (int i = 0; i < 60; i++) {
        mfr_identity id;
        mfr_identity_sample(21, i, &id);
        mfr_nuisance nz = plain_nuisance(0.0f);
        nz.smile = (float)(i % 3) * 0.4f;
        nz.mouth_open = (float)(i % 4) * 0.2f;
        nz.brow_raise = (float)(i % 5) * 0.15f;
        nz.eye_close = (float)(i % 2) * 0.3f;
        synth_head h;
        synth_head_setup(&h, &id, &nz);
        const float cy[8] = {h.eye_y, h.brow_y, h.nose_tip, h.nose_base, h.mouth_y, h.hair_front, -1.0f,
                             id.moles ? id.mole[0][1] : 0.3f};
        for (int b = 0; b < 40; b++) {
            float u0 = b % 8 == 7 && id.moles ? id.mole[0][0] : lcg_range(&st, -1.7f, 1.7f);
            float v0 = cy[b % 8] + lcg_range(&st, -0.05f, 0.05f);
            float su = b % 3 == 0 ? 0.02f : b % 3 == 1 ? 0.3f : 2.0f, sv = b % 3 == 0 ? 0.01f : su * 0.5f;
            int n = 1 + (int)(lcg_next(&st) % SYNTH_SHADE_BATCH);
            float u[SYNTH_SHADE_BATCH], v[SYNTH_SHADE_BATCH], rgb[SYNTH_SHADE_BATCH][3], spec[SYNTH_SHADE_BATCH];
            for (int k = 0; k < n; k++) {
                u[k] = u0 + lcg_range(&st, -su, su);
                v[k] = v0 + lcg_range(&st, -sv, sv);
            }
            /* the baseline build (SSE2), then the AVX2 one where it runs */
            const int avx2 = h.avx2;
            for (int pass = 0; pass < 1 + avx2; pass++) {
                h.avx2 = pass;
                synth_head_albedo_batch(&h, n, u, v, rgb, spec);
                for (int k = 0; k < n; k++) {
                    float ref[3], rs;
                    synth_head_albedo(&h, u[k], v[k], ref, &rs);
                    ck_assert_msg(memcmp(ref, rgb[k], sizeof ref) == 0 && memcmp(&rs, &spec[k], sizeof rs) == 0,
                                  "person %d batch %d point %d (%g, %g) differs (avx2 %d)", i, b, k, (double)u[k],
                                  (double)v[k], pass);
                    checked++;
                }
            }
        }
    }
    ck_assert(checked > 50000);
}
END_TEST

/* The SSE2 and AVX2 lighting equal the per-pixel reference bit for bit, for any
 * batch length, with degenerate normals and positions (zero, NaN) too. */
START_TEST(test_light_matches_reference)
{
    uint32_t st = 777u;
    for (int rep = 0; rep < 200; rep++) {
        mfr_nuisance nz = plain_nuisance(0.0f);
        nz.light_az = lcg_range(&st, -80.0f, 80.0f);
        nz.light_el = lcg_range(&st, -30.0f, 70.0f);
        nz.light_color[1] = lcg_range(&st, 0.8f, 1.2f);
        synth_light light;
        synth_light_from(&nz, &light);
        synth_shade_batch a, b;
        int n = 1 + rep % SYNTH_SHADE_BATCH;
        for (int i = 0; i < SYNTH_SHADE_BATCH; i++) {
            float *f[8] = {a.nx, a.ny, a.nz, a.px, a.py, a.pz, a.spec, a.bend};
            for (int j = 0; j < 8; j++)
                f[j][i] = lcg_range(&st, -1.0f, 1.0f);
            a.pz[i] -= 5.0f;
            if (i % 17 == 3)
                a.nx[i] = a.ny[i] = a.nz[i] = 0.0f;
            if (i % 29 == 5)
                a.px[i] = NAN;
        }
        b = a;
        synth_shade_batch c = a;
        synth_light_batch(&a, n, &light);
        synth_light_batch_ref(&b, n, &light);
        ck_assert(memcmp(a.ka, b.ka, (size_t)n * sizeof *a.ka) == 0);
        ck_assert(memcmp(a.diff, b.diff, (size_t)n * sizeof *a.diff) == 0);
        ck_assert(memcmp(a.sp, b.sp, (size_t)n * sizeof *a.sp) == 0);
#ifdef MFR_HAVE_AVX2
        if (mfr_isa_available(MFR_ISA_AVX2)) {
            synth_light_batch_avx2(&c, n, &light);
            ck_assert_msg(memcmp(c.ka, b.ka, (size_t)n * sizeof *c.ka) == 0, "ka (AVX2), n %d", n);
            ck_assert_msg(memcmp(c.diff, b.diff, (size_t)n * sizeof *c.diff) == 0, "diff (AVX2), n %d", n);
            ck_assert_msg(memcmp(c.sp, b.sp, (size_t)n * sizeof *c.sp) == 0, "sp (AVX2), n %d", n);
        }
#else
        (void)c;
#endif
    }
}
END_TEST

/* The meshes' vertex loops (grid normals, transform, projection) in the
 * baseline build and the AVX2 one equal their references bit for bit: grids
 * of 1 to 37 columns, wrapping or not, flipped or not, with poles (rows of
 * one repeated point), NaN and vertices behind the camera. */
START_TEST(test_mesh_loops_match_reference)
{
    uint32_t st = 4242u;
    static const int sizes[6][2] = {{1, 3}, {2, 2}, {3, 5}, {9, 4}, {37, 11}, {80, 7}};
    for (int s = 0; s < 6; s++)
        for (int mode = 0; mode < 4; mode++) {
            const int nu = sizes[s][0], nv = sizes[s][1], wrap = mode & 1, flip = mode >> 1;
            synth_mesh a, b;
            tu_ok(synth_mesh_grid(&a, nu, nv, wrap));
            tu_ok(synth_mesh_grid(&b, nu, nv, wrap));
            for (int j = 0; j < nv; j++)
                for (int i = 0; i < nu; i++) {
                    float *p = a.pos + 3 * (j * nu + i);
                    const float r = 1.0f + lcg_range(&st, -0.2f, 0.2f), t = (float)i * 0.7f;
                    /* the first row a pole (one point), then a bumpy cylinder */
                    p[0] = j == 0 ? 0.0f : r * cosf(t);
                    p[1] = j == 0 ? -1.0f : (float)j * 0.3f;
                    p[2] = j == 0 ? 0.0f : r * sinf(t) + (j % 3 == 2 ? 9.0f : 0.0f); /* behind the camera */
                    if ((i * 7 + j) % 23 == 5)
                        p[i % 3] = NAN;
                }
            for (int isa = 0; isa < 2; isa++) {
                if (isa == 1 && !mfr_isa_available(MFR_ISA_AVX2))
                    break;
                memcpy(b.pos, a.pos, 3 * (size_t)a.nv * sizeof(float));
                synth_mesh c = b; /* the fast one on b's buffers, the reference on copies */
                float *pos0 = malloc(3 * (size_t)a.nv * sizeof(float)), *nrm0 = malloc(3 * (size_t)a.nv * sizeof(float));
                float *scr0 = malloc(4 * (size_t)a.nv * sizeof(float));
                ck_assert(pos0 && nrm0 && scr0);
                synth_mesh r = b;
                r.pos = pos0, r.nrm = nrm0, r.scr = scr0;
                memcpy(pos0, a.pos, 3 * (size_t)a.nv * sizeof(float));
                m3 rot = synth_rotation(lcg_range(&st, -40, 40), lcg_range(&st, -20, 20), lcg_range(&st, -10, 10));
                v3 pivot = v3_make(0.1f, -0.7f, -0.1f), off = v3_make(0.05f, -0.1f, -6.0f);
                synth_camera cam = {300.0f, 56.0f, 60.0f};
                synth_mesh_grid_normals_ref(&r, nu, nv, wrap, flip);
                synth_mesh_transform_ref(&r, &rot, pivot, off);
                synth_mesh_project_ref(&r, &cam);
                ck_assert(setenv("MFR_ISA", isa ? "avx2" : "scalar", 1) == 0);
                synth_mesh_grid_normals(&c, nu, nv, wrap, flip);
                synth_mesh_transform(&c, &rot, pivot, off);
                synth_mesh_project(&c, &cam);
                ck_assert(unsetenv("MFR_ISA") == 0);
                ck_assert_msg(memcmp(pos0, c.pos, 3 * (size_t)a.nv * sizeof(float)) == 0, "pos %dx%d mode %d isa %d", nu, nv, mode, isa);
                ck_assert_msg(memcmp(nrm0, c.nrm, 3 * (size_t)a.nv * sizeof(float)) == 0, "nrm %dx%d mode %d isa %d", nu, nv, mode, isa);
                ck_assert_msg(memcmp(scr0, c.scr, 4 * (size_t)a.nv * sizeof(float)) == 0, "scr %dx%d mode %d isa %d", nu, nv, mode, isa);
                free(pos0);
                free(nrm0);
                free(scr0);
            }
            synth_mesh_free(&a);
            synth_mesh_free(&b);
        }
}
END_TEST

/* synth_line3 (rows through line_simd.h, baseline and AVX2 builds) equals
 * its pixel-by-pixel reference: thick, thin and zero-length lines, partly
 * off the frame and partly behind the depth buffer. */
START_TEST(test_line_matches_reference)
{
    uint32_t st = 777u;
    synth_frame a, b;
    tu_ok(synth_frame_init(&a, 37, 29));
    tu_ok(synth_frame_init(&b, 37, 29));
    const size_t n = 37 * 29;
    const synth_camera cam = {60.0f, 18.5f, 14.5f};
    for (int rep = 0; rep < 300; rep++)
        for (int isa = 0; isa < 2; isa++) {
            if (isa == 1 && !mfr_isa_available(MFR_ISA_AVX2))
                break;
            for (size_t k = 0; k < n; k++) {
                a.depth[k] = b.depth[k] = lcg_range(&st, 4.0f, 6.0f);
                for (int c = 0; c < 3; c++)
                    a.rgb[3 * k + c] = b.rgb[3 * k + c] = lcg_range(&st, 0.0f, 1.0f);
            }
            v3 p = v3_make(lcg_range(&st, -2, 2), lcg_range(&st, -2, 2), -lcg_range(&st, 4.5f, 5.5f));
            v3 q = rep % 10 == 3 ? p : v3_make(lcg_range(&st, -2, 2), lcg_range(&st, -2, 2), -lcg_range(&st, 4.5f, 5.5f));
            const float width = rep % 3 == 0 ? lcg_range(&st, 0.1f, 0.6f) : lcg_range(&st, 0.6f, 6.0f);
            const float col[3] = {lcg_range(&st, 0, 1), lcg_range(&st, 0, 1), lcg_range(&st, 0, 1)};
            const float alpha = rep % 2 ? 1.0f : 0.9f;
            synth_line3_ref(&a, &cam, p, q, width, col, alpha);
            ck_assert(setenv("MFR_ISA", isa ? "avx2" : "scalar", 1) == 0);
            synth_line3(&b, &cam, p, q, width, col, alpha);
            ck_assert(unsetenv("MFR_ISA") == 0);
            ck_assert_msg(memcmp(a.rgb, b.rgb, 3 * n * sizeof(float)) == 0, "line %d differs (isa %d)", rep, isa);
        }
    synth_frame_free(&a);
    synth_frame_free(&b);
}
END_TEST

/* The head's surface over a grid (row and column terms once) equals the
 * point-by-point surface, hair volume and expressions included. */
START_TEST(test_head_grid_matches_reference)
{
    enum { NU = 37, NV = 29 };
    static float col[4 * NU], row[NV], pos[3 * NU * NV];
    for (int p = 0; p < 12; p++) {
        mfr_identity id;
        mfr_identity_sample(5, p, &id);
        mfr_nuisance nz = plain_nuisance(0.0f);
        nz.smile = (float)(p % 3) * 0.4f;
        nz.mouth_open = (float)(p % 2) * 0.5f;
        synth_head h;
        synth_head_setup(&h, &id, &nz);
        for (int i = 0; i < NU; i++) {
            float u = -3.1f + 6.2f * (float)i / (float)(NU - 1);
            col[4 * i] = u, col[4 * i + 1] = cosf(u), col[4 * i + 2] = sinf(u);
            col[4 * i + 3] = synth_hairline(&h, u);
        }
        for (int j = 0; j < NV; j++)
            row[j] = -1.56f + 3.12f * (float)j / (float)(NV - 1);
        for (int hair = 0; hair < 2; hair++) {
            tu_ok(synth_head_grid(&h, NU, NV, col, row, hair, pos));
            for (int j = 0; j < NV; j++)
                for (int i = 0; i < NU; i++) {
                    const float *c = col + 4 * i;
                    v3 q = synth_head_point_cs(&h, c[0], row[j], c[1], c[2], cosf(row[j]), sinf(row[j]), c[3], hair);
                    const float *g = pos + 3 * (j * NU + i);
                    ck_assert_msg(memcmp(g, &q.x, 4) == 0 && memcmp(g + 1, &q.y, 4) == 0 && memcmp(g + 2, &q.z, 4) == 0,
                                  "person %d point %d,%d differs", p, i, j);
                }
        }
    }
}
END_TEST

/* The SSE2 and AVX2 colour passes (sRGB albedo to linear light, lit) equal
 * the plain one, albedo at and beyond the table's ends and NaN included. */
START_TEST(test_colour_matches_reference)
{
    synth_tables_init();
    uint32_t st = 31u;
    for (int rep = 0; rep < 200; rep++) {
        mfr_nuisance nz = plain_nuisance(0.0f);
        nz.light_color[2] = lcg_range(&st, 0.7f, 1.3f);
        synth_light light;
        synth_light_from(&nz, &light);
        synth_shade_batch b;
        float alb[SYNTH_SHADE_BATCH][3], x[SYNTH_SHADE_BATCH][3], y[SYNTH_SHADE_BATCH][3];
        int n = 1 + rep % SYNTH_SHADE_BATCH;
        const float special[6] = {0.0f, 1.0f, -0.5f, 1.5f, NAN, 255.5f / 256.0f};
        for (int i = 0; i < SYNTH_SHADE_BATCH; i++) {
            b.ka[i] = lcg_range(&st, 0.0f, 0.6f);
            b.diff[i] = lcg_range(&st, 0.0f, 1.2f);
            b.sp[i] = lcg_range(&st, 0.0f, 0.3f);
            for (int c = 0; c < 3; c++)
                alb[i][c] = (i + c) % 7 == 0 ? special[(i + rep) % 6] : lcg_range(&st, 0.0f, 1.0f);
        }
        synth_colour_batch(&b, (const float (*)[3])alb, n, &light, x);
        synth_colour_batch_ref(&b, (const float (*)[3])alb, n, &light, y);
        ck_assert(memcmp(x, y, (size_t)n * sizeof x[0]) == 0);
#ifdef MFR_HAVE_AVX2
        if (mfr_isa_available(MFR_ISA_AVX2)) {
            memset(x, 0, sizeof x);
            synth_colour_batch_avx2(&b, (const float (*)[3])alb, n, &light, x);
            ck_assert_msg(memcmp(x, y, (size_t)n * sizeof x[0]) == 0, "colours (AVX2), n %d", n);
        }
#endif
    }
}
END_TEST

/* The SSE2 and AVX2 sRGB encoders equal the table look-up sample by
 * sample, at the ends of the range, out of it and for NaN. */
START_TEST(test_encode_srgb_matches_reference)
{
    synth_tables_init();
    enum { N = 4099 };
    static float lin[N];
    static uint8_t a[N], b[N];
    uint32_t st = 99u;
    const float special[8] = {0.0f, -0.0f, 1.0f, -1.0f, NAN, 1e30f, -1e30f, 0.99999994f};
    for (int i = 0; i < N; i++)
        lin[i] = i < 8 ? special[i] : i < 4105 - 8 ? (float)(i - 8) / 4088.0f : lcg_range(&st, -0.2f, 1.2f);
    for (int i = N - 500; i < N; i++)
        lin[i] = lcg_range(&st, -0.2f, 1.2f);
    for (int off = 0; off < 4; off++) {
        synth_encode_srgb8(lin + off, a, N - off);
        synth_encode_srgb8_ref(lin + off, b, N - off);
        ck_assert(memcmp(a, b, (size_t)(N - off)) == 0);
#ifdef MFR_HAVE_AVX2
        if (mfr_isa_available(MFR_ISA_AVX2)) {
            memset(a, 0, sizeof a);
            synth_encode_srgb8_avx2(lin + off, a, N - off);
            ck_assert(memcmp(a, b, (size_t)(N - off)) == 0);
        }
#endif
    }
}
END_TEST

/* The SSE2 JPEG quantiser equals the plain one, exact halves included. */
START_TEST(test_quantise_matches_reference)
{
    uint32_t st = 4242u;
    for (int rep = 0; rep < 500; rep++) {
        float a[64], b[64], q[64];
        for (int i = 0; i < 64; i++) {
            q[i] = (float)(1 + lcg_next(&st) % 255u);
            a[i] = rep % 2 ? lcg_range(&st, -2000.0f, 2000.0f) : ((float)(int)(lcg_next(&st) % 41u) - 20.0f + 0.5f) * q[i];
            b[i] = a[i];
        }
        synth_quantise64(a, q);
        synth_quantise64_ref(b, q);
        ck_assert(memcmp(a, b, sizeof a) == 0);
    }
}
END_TEST

/* The SSE2 background equals the per-pixel one, on empty frames and where
 * meshes already cover some pixels, at widths that are and are not
 * multiples of 4. */
START_TEST(test_background_matches_reference)
{
    synth_tables_init();
    static const int sizes[3][2] = {{112, 112}, {37, 21}, {640, 48}};
    for (int z = 0; z < 3; z++)
        for (uint32_t seed = 1; seed < 12; seed++) {
            int w = sizes[z][0], h = sizes[z][1];
            synth_frame a, b;
            tu_ok(synth_frame_init(&a, w, h));
            tu_ok(synth_frame_init(&b, w, h));
            size_t n = (size_t)w * (size_t)h;
            for (size_t k = 0; k < n; k++) {
                a.rgb[3 * k] = a.rgb[3 * k + 1] = a.rgb[3 * k + 2] = -1.0f;
                a.mesh[k] = seed % 2 && (k * 7 + seed) % 5 < 2 ? 0 : -1;
                if (seed % 3 == 0 && (int)(k % (size_t)w) >= 5 && (int)(k % (size_t)w) < 29) /* a run of mesh */
                    a.mesh[k] = 1;
            }
            memcpy(b.mesh, a.mesh, n * sizeof *a.mesh);
            memcpy(b.rgb, a.rgb, 3 * n * sizeof *a.rgb);
            synth_background_ref(&b, seed * 7919u, 0);
            /* the baseline build, then the AVX2 one where it runs */
            for (int isa = 0; isa < 2; isa++) {
                if (isa == 1 && !mfr_isa_available(MFR_ISA_AVX2))
                    break;
                for (size_t k = 0; k < 3 * n; k++)
                    a.rgb[k] = -1.0f;
                ck_assert(setenv("MFR_ISA", isa ? "avx2" : "scalar", 1) == 0);
                synth_background(&a, seed * 7919u, 0);
                ck_assert(unsetenv("MFR_ISA") == 0);
                ck_assert_msg(memcmp(a.rgb, b.rgb, 3 * n * sizeof *a.rgb) == 0, "background %dx%d seed %u isa %d", w, h,
                              seed, isa);
            }
            synth_frame_free(&a);
            synth_frame_free(&b);
        }
}
END_TEST

/* A picture does not depend on what the thread rendered before: the mask
 * variants of a capture reuse its unmasked render (render.c), and a masked
 * picture of a capture the thread has not kept is drawn in one pass, so a
 * masked picture drawn cold, after another person, right after its own
 * unmasked capture, and right after another masked picture of its capture
 * (which fills the cache) must be the same bytes with the same truth. */
START_TEST(test_render_independent_of_history)
{
    mfr_identity a, b;
    mfr_identity_sample(5, 1, &a);
    mfr_identity_sample(5, 2, &b);
    mfr_nuisance nz = plain_nuisance(12.0f), nzb = plain_nuisance(-20.0f);
    nz.occluder = MFR_OCCLUDER_HAND;
    nz.occluder_x = 0.15f;
    nz.occluder_y = -0.6f;
    nz.blur = 0.6f;
    nz.jpeg_quality = 60;
    mfr_mask masks[3] = {{MFR_MASK_NIST, MFR_SHAPE_WIDE, MFR_COVER_HIGH, MFR_COLOR_BLACK, 11u},
                         {MFR_MASK_N95, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_WHITE, 12u},
                         {MFR_MASK_NONE, 0, 0, 0, 0u}};
    mfr_image ref = {0}, im = {0}, other = {0};
    tu_ok(mfr_image_alloc(&ref, 112, 112, 3));
    tu_ok(mfr_image_alloc(&im, 112, 112, 3));
    tu_ok(mfr_image_alloc(&other, 112, 112, 3));
    for (int k = 0; k < 3; k++) {
        mfr_face_truth t0, t1, t2;
        tu_ok(mfr_face_render(&b, &nzb, &masks[k], &other, NULL)); /* another person first */
        tu_ok(mfr_face_render(&a, &nz, &masks[k], &ref, &t0));
        tu_ok(mfr_face_render(&a, &nz, NULL, &other, NULL)); /* the same capture, unmasked */
        tu_ok(mfr_face_render(&a, &nz, &masks[k], &im, &t1));
        ck_assert_msg(memcmp(ref.data, im.data, (size_t)112 * 112 * 3) == 0, "mask %d: bytes depend on history", k);
        ck_assert(memcmp(&t0, &t1, sizeof t0) == 0);
        tu_ok(mfr_face_render(&a, &nz, &masks[k], &im, &t2)); /* twice in a row */
        ck_assert_msg(memcmp(ref.data, im.data, (size_t)112 * 112 * 3) == 0, "mask %d: a repeat differs", k);
        ck_assert(memcmp(&t0, &t2, sizeof t0) == 0);
        if (k < 2) { /* the other mask first, drawn in one pass; then this one */
            tu_ok(mfr_face_render(&b, &nzb, &masks[k], &other, NULL));
            tu_ok(mfr_face_render(&a, &nz, &masks[1 - k], &other, NULL));
            tu_ok(mfr_face_render(&a, &nz, &masks[k], &im, &t1));
            ck_assert_msg(memcmp(ref.data, im.data, (size_t)112 * 112 * 3) == 0, "mask %d after another mask", k);
            ck_assert(memcmp(&t0, &t1, sizeof t0) == 0);
        }
    }
    mfr_image_free(&ref);
    mfr_image_free(&im);
    mfr_image_free(&other);
}
END_TEST


/* Selects the rasteriser build number isa (0 baseline, 1 AVX2, 2 AVX-512)
 * through MFR_ISA; 0 when this machine cannot run it (nor the ones after). */
static int raster_isa_set(int isa)
{
    static const char *const isa_name[3] = {"scalar", "avx2", "avx512"};
    if (isa > 2 || (isa == 1 && !mfr_isa_available(MFR_ISA_AVX2)) || (isa == 2 && !mfr_isa_available(MFR_ISA_AVX512)))
        return 0;
    ck_assert(setenv("MFR_ISA", isa_name[isa], 1) == 0);
    return 1;
}

/* The fast rasteriser (SSE2 blocks where the width is a multiple of 4, else
 * spans; in the AVX2 build two rows of a small box at a time, in the
 * AVX-512 build the whole box), every build,
 * writes the reference's G-buffer exactly: same depths, meshes,
 * triangles and barycentrics, for whole faces with masks and hands at
 * several sizes (big triangles at 400 px, sub-pixel ones at 24). */
START_TEST(test_raster_matches_reference)
{
    static const int sizes[4] = {24, 37, 112, 400}; /* 37: rows not a multiple of 4 (no aligned blocks) */
    synth_tables_init();
    for (int i = 0; i < 6; i++) {
        mfr_identity id;
        mfr_identity_sample(11, i, &id);
        mfr_nuisance nz = plain_nuisance((float)(i * 13 % 70) - 35.0f);
        nz.roll = (float)(i % 3) * 9.0f - 9.0f;
        nz.pitch = (float)(i % 4) * 6.0f - 9.0f;
        nz.occluder = i == 3 ? MFR_OCCLUDER_HAND : MFR_OCCLUDER_NONE;
        nz.occluder_x = 0.1f, nz.occluder_y = -0.5f;
        mfr_mask mask = {i % 2 ? MFR_MASK_SURGICAL : MFR_MASK_NIST, i % 2, i % 3, i % 9, 5u + (uint32_t)i};
        for (int z = 0; z < 4; z++) {
            int w = sizes[z];
            synth_head head;
            synth_head_setup(&head, &id, &nz);
            synth_camera cam;
            v3 offset;
            float lod;
            synth_face_framing(&head, &nz, w, w, &cam, &offset, &lod);
            synth_face F;
            synth_frame a, b;
            tu_ok(synth_frame_init(&a, w, w));
            tu_ok(synth_frame_init(&b, w, w));
            tu_ok(synth_face_build(&F, &id, &nz, &mask, offset, lod, &cam, 3u));
            for (int m = 0; m < F.nmesh; m++)
                synth_raster_ref(&b, &F.mesh[m], m);
            /* the baseline build, then the AVX2 and AVX-512 ones where they run */
            for (int isa = 0; raster_isa_set(isa); isa++) {
                synth_frame_clear(&a);
                for (int m = 0; m < F.nmesh; m++)
                    synth_raster(&a, &F.mesh[m], m);
                ck_assert(unsetenv("MFR_ISA") == 0);
                size_t n = (size_t)w * (size_t)w, covered = 0;
                ck_assert_msg(memcmp(a.depth, b.depth, n * sizeof *a.depth) == 0, "depth, face %d, %d px, isa %d", i, w, isa);
                ck_assert_msg(memcmp(a.mesh, b.mesh, n * sizeof *a.mesh) == 0, "mesh, face %d, %d px, isa %d", i, w, isa);
                for (size_t k = 0; k < n; k++)
                    if (a.mesh[k] >= 0) {
                        covered++;
                        ck_assert(a.tri[k] == b.tri[k]);
                        ck_assert(memcmp(a.b + 2 * k, b.b + 2 * k, 2 * sizeof *a.b) == 0);
                    }
                ck_assert_msg(covered > n / 4, "face %d at %d px covers only %zu pixels", i, w, covered);
            }
            synth_face_free(&F);
            synth_frame_free(&a);
            synth_frame_free(&b);
        }
    }
}
END_TEST

/* The rasteriser's builds equal the reference on hand-made triangles that
 * reach its edge cases: vertices exactly on pixel centres (where the box's
 * ceil and floor are exact), vertices too near or behind the camera, zero
 * areas, both windings with and without culling, boxes partly or wholly
 * off the frame, boxes of many shapes; 61 triangles (the AVX2 builds set
 * up eight at a time, then the rest one by one). */
START_TEST(test_raster_edge_cases)
{
    uint32_t st = 2024u;
    static const int sizes[3][2] = {{24, 24}, {40, 16}, {20, 28}};
    static const float sz[6] = {0.5f, 1.0f, 1.5f, 3.0f, 6.0f, 12.0f};
    static const float nearz[4] = {0.0f, 5e-4f, -1.0f, 1e-3f};
    long covered = 0, centred = 0;
    for (int rep = 0; rep < 60; rep++) {
        const int w = sizes[rep % 3][0], h = sizes[rep % 3][1];
        enum { NT = 61, NV = 3 * NT };
        float scr[4 * NV];
        int tri[NV];
        for (int t = 0; t < NT; t++) {
            const float cx = lcg_range(&st, -4.0f, (float)w + 4.0f), cy = lcg_range(&st, -4.0f, (float)h + 4.0f);
            const float s = sz[lcg_next(&st) % 6u];
            const int grid = lcg_next(&st) % 2u, flat = lcg_next(&st) % 10u == 0, near = lcg_next(&st) % 10u == 0;
            for (int c = 0; c < 3; c++) {
                float *p = scr + 4 * (3 * t + c);
                if (grid) { /* on the half-pixel grid: centres and edges */
                    p[0] = floorf(cx) + 0.5f * (float)(int)(lcg_next(&st) % (unsigned)(4.0f * s + 1.0f)) - s;
                    p[1] = floorf(cy) + 0.5f * (float)(int)(lcg_next(&st) % (unsigned)(4.0f * s + 1.0f)) - s;
                    centred += p[0] - floorf(p[0]) == 0.5f;
                } else {
                    p[0] = cx + lcg_range(&st, -s, s);
                    p[1] = cy + lcg_range(&st, -s, s);
                }
                p[2] = near && c == 1 ? nearz[lcg_next(&st) % 4u] : lcg_range(&st, 1.0f, 3.0f);
                p[3] = p[2] > 0.0f ? 1.0f / p[2] : 0.0f;
                tri[3 * t + c] = 3 * t + c;
            }
            if (flat) /* a zero area */
                memcpy(scr + 4 * (3 * t + 2), scr + 4 * (3 * t + 1), 4 * sizeof(float));
        }
        synth_mesh m;
        memset(&m, 0, sizeof m);
        m.nv = NV, m.nt = NT, m.material = MAT_PLAIN, m.cull = rep % 2, m.scr = scr, m.tri = tri;
        synth_frame a, b;
        tu_ok(synth_frame_init(&a, w, h));
        tu_ok(synth_frame_init(&b, w, h));
        synth_raster_ref(&b, &m, 0);
        synth_raster_ref(&b, &m, 1); /* again: equal depths do not win */
        for (int isa = 0; raster_isa_set(isa); isa++) {
            synth_frame_clear(&a);
            synth_raster(&a, &m, 0);
            synth_raster(&a, &m, 1);
            ck_assert(unsetenv("MFR_ISA") == 0);
            const size_t n = (size_t)w * (size_t)h;
            ck_assert_msg(memcmp(a.depth, b.depth, n * sizeof *a.depth) == 0, "depth, rep %d, isa %d", rep, isa);
            ck_assert_msg(memcmp(a.mesh, b.mesh, n * sizeof *a.mesh) == 0, "mesh, rep %d, isa %d", rep, isa);
            for (size_t k = 0; k < n; k++)
                if (a.mesh[k] >= 0) {
                    covered++;
                    ck_assert(a.tri[k] == b.tri[k]);
                    ck_assert(memcmp(a.b + 2 * k, b.b + 2 * k, 2 * sizeof *a.b) == 0);
                }
        }
        synth_frame_free(&a);
        synth_frame_free(&b);
    }
    ck_assert(covered > 1000 && centred > 1000);
}
END_TEST

/* The shading's interpolation (normals, positions, u, v of covered pixels)
 * in the AVX2 build equals the plain one bit for bit: the pixels of a
 * rasterised face's meshes, runs of every length from 1 to a batch, placed
 * at several lanes of the batch. */
START_TEST(test_interp_matches_reference)
{
    synth_tables_init();
    mfr_identity id;
    mfr_identity_sample(5, 2, &id);
    mfr_nuisance nz = plain_nuisance(20.0f);
    mfr_mask mask = {MFR_MASK_SURGICAL, 0, 0, 0, 9u};
    synth_head head;
    synth_head_setup(&head, &id, &nz);
    synth_camera cam;
    v3 offset;
    float lod;
    synth_face_framing(&head, &nz, 112, 112, &cam, &offset, &lod);
    synth_face F;
    synth_frame fr;
    tu_ok(synth_frame_init(&fr, 112, 112));
    tu_ok(synth_face_build(&F, &id, &nz, &mask, offset, lod, &cam, 3u));
    for (int m = 0; m < F.nmesh; m++)
        synth_raster_ref(&fr, &F.mesh[m], m);
    int tested = 0;
    for (int m = 0; m < F.nmesh; m++) {
        /* the mesh's pixels in frame order */
        int32_t pix[SYNTH_SHADE_BATCH];
        int np = 0;
        for (int k = 0; k < 112 * 112 && np < SYNTH_SHADE_BATCH; k += 1 + k % 3)
            if (fr.mesh[k] == m)
                pix[np++] = (int32_t)k;
        for (int n = 1; n <= np; n++) {
            const int at = (n * 7) % (SYNTH_SHADE_BATCH - n + 1);
            synth_shade_batch a, b;
            float ua[SYNTH_SHADE_BATCH], va[SYNTH_SHADE_BATCH], ub[SYNTH_SHADE_BATCH], vb[SYNTH_SHADE_BATCH];
            memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
            memset(ua, 0, sizeof ua), memset(va, 0, sizeof va), memset(ub, 0, sizeof ub), memset(vb, 0, sizeof vb);
            synth_shade_interp(&fr, &F.mesh[m], pix + (np - n), n, &a, at, ua, va);
#ifdef MFR_HAVE_AVX2
            if (!mfr_isa_available(MFR_ISA_AVX2))
                continue;
            synth_shade_interp_avx2(&fr, &F.mesh[m], pix + (np - n), n, &b, at, ub, vb);
            ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "normals and positions, mesh %d, n %d", m, n);
            ck_assert_msg(memcmp(ua, ub, sizeof ua) == 0 && memcmp(va, vb, sizeof va) == 0, "u, v, mesh %d, n %d", m, n);
            tested++;
#else
            (void)b, (void)ub, (void)vb;
#endif
        }
        /* the plain one: the pixel's barycentric mix of its triangle's vertices */
        if (np > 0) {
            synth_shade_batch a;
            float ua[SYNTH_SHADE_BATCH], va[SYNTH_SHADE_BATCH];
            synth_shade_interp(&fr, &F.mesh[m], pix, 1, &a, 0, ua, va);
            const synth_mesh *M = &F.mesh[m];
            const int *ix = M->tri + 3 * fr.tri[pix[0]];
            const float b1 = fr.b[2 * pix[0]], b2 = fr.b[2 * pix[0] + 1];
            const float want = (1.0f - b1 - b2) * M->uv[2 * ix[0]] + b1 * M->uv[2 * ix[1]] + b2 * M->uv[2 * ix[2]];
            ck_assert(ua[0] == want);
        }
    }
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_available(MFR_ISA_AVX2))
        ck_assert_int_gt(tested, 100);
#endif
    synth_face_free(&F);
    synth_frame_free(&fr);
}
END_TEST

static Suite *synth_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reproducible_across_threads);
    tcase_add_test(tc, test_landmarks_follow_pose);
    tcase_add_test(tc, test_every_mask_variant);
    tcase_add_test(tc, test_recipe_errors);
    tcase_add_test(tc, test_scenes);
    tcase_add_test(tc, test_mask_photo);
    tcase_add_test(tc, test_mask_command);
    tcase_add_test(tc, test_align_and_lbp);
    tcase_add_test(tc, test_blur_matches_reference);
    tcase_add_test(tc, test_noise_matches_reference);
    tcase_add_test(tc, test_jpeg_builds_agree);
    tcase_add_test(tc, test_raster_matches_reference);
    tcase_add_test(tc, test_raster_edge_cases);
    tcase_add_test(tc, test_render_independent_of_history);
    tcase_add_test(tc, test_albedo_batch_matches_reference);
    tcase_add_test(tc, test_light_matches_reference);
    tcase_add_test(tc, test_interp_matches_reference);
    tcase_add_test(tc, test_encode_srgb_matches_reference);
    tcase_add_test(tc, test_quantise_matches_reference);
    tcase_add_test(tc, test_colour_matches_reference);
    tcase_add_test(tc, test_head_grid_matches_reference);
    tcase_add_test(tc, test_mesh_loops_match_reference);
    tcase_add_test(tc, test_line_matches_reference);
    tcase_add_test(tc, test_background_matches_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(synth_suite());
    tu_cleanup();
    return rc;
}
