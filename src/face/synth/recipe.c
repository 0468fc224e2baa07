/* Recipes: the INI file that says what a dataset holds (docs/datasets.md). */
#include "config.h"
#include "recipe.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A range "lo, hi" (or one value for both); lo <= hi is checked. */
static int get_range(mfr_ini *ini, int sec, const char *key, double lo, double hi, double min, double max, double out[2])
{
    double v[2];
    int n, rc = mfr_ini_get_doubles(ini, sec, key, min, max, v, 2, &n);
    if (rc != MFR_OK)
        return rc;
    if (n == 0) {
        out[0] = lo;
        out[1] = hi;
    } else {
        out[0] = v[0];
        out[1] = n == 2 ? v[1] : v[0];
    }
    if (out[0] > out[1])
        return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "%s: the first value (%g) is above the second (%g)", key,
                             out[0], out[1]);
    return MFR_OK;
}

static int get_nz(mfr_ini *ini, const char *section, const nz_range *def, nz_range *r)
{
    int sec = mfr_ini_find(ini, section), rc = MFR_OK;
    *r = *def;
#define D(key, field, lo, hi) \
    if (rc == MFR_OK) rc = mfr_ini_get_double(ini, sec, key, def->field, lo, hi, &r->field)
#define R(key, field, lo, hi) \
    if (rc == MFR_OK) rc = get_range(ini, sec, key, def->field[0], def->field[1], lo, hi, r->field)
    D("yaw", yaw, 0, 90);
    D("pitch", pitch, 0, 45);
    D("roll", roll, 0, 45);
    D("smile", smile, 0, 1);
    D("mouth_open", mouth_open, 0, 1);
    D("brow_raise", brow_raise, 0, 1);
    D("eye_close", eye_close, 0, 1);
    D("expression_prob", expression_prob, 0, 1);
    D("light_az", light_az, 0, 90);
    R("light_el", light_el, -60, 80);
    R("light_intensity", intensity, 0, 3);
    R("ambient", ambient, 0, 2);
    D("light_tint", tint, 0, 0.5);
    R("distance", distance, 1.5, 50);
    R("scale", scale, 0.5, 2);
    D("shift", shift, 0, 0.2);
    R("noise", noise, 0, 40);
    R("blur", blur, 0, 5);
    D("jpeg_prob", jpeg_prob, 0, 1);
    R("jpeg_quality", jpeg_quality, 5, 100);
    D("occluder_prob", occluder_prob, 0, 1);
#undef D
#undef R
    return rc;
}

/* Splits a comma list and maps each name through find(); *mask gets a bit per index. */
static int get_names(mfr_ini *ini, int sec, const char *key, int (*find)(const char *), const char *def, unsigned *mask)
{
    const char *v;
    int rc = mfr_ini_get_string(ini, sec, key, def, &v);
    *mask = 0;
    if (rc != MFR_OK)
        return rc;
    if (strcmp(v, "none") == 0 || *v == '\0')
        return MFR_OK;
    while (*v) {
        char item[32];
        size_t n = strcspn(v, ",");
        const char *s = v, *e = v + n;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s || (size_t)(e - s) >= sizeof item)
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "%s: an empty or over-long name in the list", key);
        memcpy(item, s, (size_t)(e - s));
        item[e - s] = '\0';
        int i = find(item);
        if (i < 0 || (find == mfr_mask_type_find && (i == MFR_MASK_NONE || i == MFR_MASK_NIST)))
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "%s: unknown name '%s'", key, item);
        *mask |= 1u << i;
        v += n;
        if (*v == ',')
            v++;
    }
    return MFR_OK;
}

static const nz_range default_enrol = {
    .yaw = 10, .pitch = 6, .roll = 4, .smile = 0.2, .mouth_open = 0.0, .brow_raise = 0.1, .eye_close = 0.0,
    .expression_prob = 0.3, .light_az = 30, .light_el = {10, 40}, .intensity = {0.8, 1.0}, .ambient = {0.35, 0.5},
    .tint = 0.05, .distance = {4, 8}, .scale = {0.95, 1.05}, .shift = 0.02, .noise = {0.5, 2}, .blur = {0, 0.5},
    .jpeg_prob = 0.0, .jpeg_quality = {70, 95}, .occluder_prob = 0.0,
};
static const nz_range default_probe = {
    .yaw = 30, .pitch = 15, .roll = 10, .smile = 0.8, .mouth_open = 0.5, .brow_raise = 0.6, .eye_close = 0.3,
    .expression_prob = 0.5, .light_az = 70, .light_el = {-20, 60}, .intensity = {0.5, 1.3}, .ambient = {0.15, 0.5},
    .tint = 0.15, .distance = {2.5, 10}, .scale = {0.9, 1.1}, .shift = 0.04, .noise = {0.5, 6}, .blur = {0, 1.2},
    .jpeg_prob = 0.3, .jpeg_quality = {30, 90}, .occluder_prob = 0.05,
};

static int parse_masks(mfr_ini *ini, mfr_recipe *r)
{
    int sec = mfr_ini_find(ini, "masks"), rc;
    unsigned shapes, covers, colors, types;
    rc = get_names(ini, sec, "nist_shapes", mfr_mask_shape_find, "wide, round", &shapes);
    if (rc == MFR_OK)
        rc = get_names(ini, sec, "nist_coverages", mfr_mask_coverage_find, "high, medium, low", &covers);
    if (rc == MFR_OK)
        rc = get_names(ini, sec, "nist_colors", mfr_mask_color_find, "light_blue, black", &colors);
    if (rc == MFR_OK)
        rc = get_names(ini, sec, "types", mfr_mask_type_find, "surgical, n95, kn95, cloth, gas", &types);
    if (rc == MFR_OK)
        rc = mfr_ini_get_bool(ini, sec, "probe_unmasked", 1, &r->probe_unmasked);
    if (rc == MFR_OK)
        rc = mfr_ini_get_double(ini, sec, "probability", 0.5, 0, 1, &r->mask_prob);
    if (rc != MFR_OK)
        return rc;
    r->nvariants = 0;
    /* the NIST grid: shape x coverage x colour */
    for (int s = 0; s < MFR_SHAPE_COUNT; s++)
        for (int c = 0; c < MFR_COVER_COUNT; c++)
            for (int k = 0; k < MFR_COLOR_COUNT; k++)
                if ((shapes >> s & 1u) && (covers >> c & 1u) && (colors >> k & 1u)) {
                    mfr_mask m = {MFR_MASK_NIST, s, c, k, 0};
                    r->variants[r->nvariants++] = m;
                }
    /* MaskTheFace-like types, each in its usual cut and colour */
    static const mfr_mask typical[MFR_MASK_TYPE_COUNT] = {
        [MFR_MASK_SURGICAL] = {MFR_MASK_SURGICAL, MFR_SHAPE_WIDE, MFR_COVER_MEDIUM, MFR_COLOR_LIGHT_BLUE, 0},
        [MFR_MASK_N95] = {MFR_MASK_N95, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_WHITE, 0},
        [MFR_MASK_KN95] = {MFR_MASK_KN95, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_WHITE, 0},
        [MFR_MASK_CLOTH] = {MFR_MASK_CLOTH, MFR_SHAPE_WIDE, MFR_COVER_HIGH, MFR_COLOR_PATTERN, 0},
        [MFR_MASK_GAS] = {MFR_MASK_GAS, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_BLACK, 0},
    };
    for (int t = MFR_MASK_SURGICAL; t < MFR_MASK_TYPE_COUNT; t++)
        if (types >> t & 1u)
            r->variants[r->nvariants++] = typical[t];
    if (r->kind == RECIPE_VERIFY && r->nvariants == 0 && !r->probe_unmasked)
        return mfr_ini_error(ini, sec, NULL, MFR_ERR_RANGE, "[masks]: no probe conditions: no mask variant and probe_unmasked = no");
    return MFR_OK;
}

int mfr_recipe_parse(const char *text, size_t size, const char *name, mfr_recipe **out)
{
    static const char *const kinds[] = {"verification", "training", "scenes", NULL};
    mfr_ini *ini = NULL;
    mfr_recipe *r;
    long v;
    int rc, sec;
    *out = NULL;
    r = calloc(1, sizeof *r);
    if (!r)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    r->name = mfr_strdup(name ? name : "recipe");
    r->text = malloc(size + 1);
    if (!r->name || !r->text) {
        mfr_recipe_free(r);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    memcpy(r->text, text, size);
    r->text[size] = '\0';
    rc = mfr_ini_parse(text, size, r->name, 0, &ini);
    if (rc != MFR_OK) {
        mfr_recipe_free(r);
        return rc;
    }
    sec = mfr_ini_find(ini, "dataset");
    if (sec < 0)
        rc = mfr_error(MFR_ERR_FORMAT, "%s: no [dataset] section", r->name);
    if (rc == MFR_OK)
        rc = mfr_ini_get_choice(ini, sec, "kind", kinds, 0, &r->kind);
    if (rc == MFR_OK)
        rc = mfr_ini_get_int(ini, sec, "identities", 100, 2, 10000000, &r->identities);
    if (rc == MFR_OK)
        rc = mfr_ini_get_int(ini, sec, "identity_offset", 0, 0, 1000000000, &r->identity_offset);
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "enrol", 1, 1, 64, &v)) == MFR_OK)
        r->enrol = (int)v;
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "probes", 1, 1, 64, &v)) == MFR_OK)
        r->probes = (int)v;
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "images_per_identity", 10, 1, 100000, &v)) == MFR_OK)
        r->per_identity = (int)v;
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "width", r->kind == RECIPE_SCENES ? 640 : 112, 16, 4096, &v)) == MFR_OK)
        r->width = (int)v;
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "height", r->kind == RECIPE_SCENES ? 480 : 112, 16, 4096, &v)) == MFR_OK)
        r->height = (int)v;
    /* impostors per probe capture: 10, or all other identities when fewer */
    if (rc == MFR_OK && (rc = mfr_ini_get_int(ini, sec, "nonmated", r->identities > 10 ? 10 : r->identities - 1, 1,
                                              1000, &v)) == MFR_OK)
        r->nonmated = (int)v;
    if (rc == MFR_OK && r->nonmated >= r->identities)
        rc = mfr_ini_error(ini, sec, "nonmated", MFR_ERR_RANGE, "nonmated = %d needs more identities than that (%ld)",
                           r->nonmated, r->identities);
    if (rc == MFR_OK)
        rc = get_nz(ini, "enrol", &default_enrol, &r->enrol_nz);
    if (rc == MFR_OK)
        rc = get_nz(ini, "probe", &default_probe, &r->probe_nz);
    if (rc == MFR_OK)
        rc = parse_masks(ini, r);
    if (rc == MFR_OK) {
        int s2 = mfr_ini_find(ini, "scenes");
        double f[2] = {0, 0}, d[2] = {0, 0};
        rc = mfr_ini_get_int(ini, s2, "count", 20, 1, 10000000, &r->scenes);
        if (rc == MFR_OK)
            rc = get_range(ini, s2, "faces", 0, 8, 0, MFR_MAX_FACES, f);
        if (rc == MFR_OK)
            rc = get_range(ini, s2, "face_size", 12, 160, 6, 4096, r->face_size);
        if (rc == MFR_OK)
            rc = get_range(ini, s2, "distractors", 0, 4, 0, 64, d);
        r->faces[0] = (int)f[0];
        r->faces[1] = (int)f[1];
        r->distractors[0] = (int)d[0];
        r->distractors[1] = (int)d[1];
    }
    if (rc == MFR_OK)
        rc = mfr_ini_check_unused(ini);
    if (rc == MFR_OK && mfr_recipe_count(r) > 100000000L)
        rc = mfr_error(MFR_ERR_RANGE, "%s: the recipe describes %ld images, more than 100 million", r->name, mfr_recipe_count(r));
    mfr_ini_free(ini);
    if (rc != MFR_OK) {
        mfr_recipe_free(r);
        return rc;
    }
    *out = r;
    return MFR_OK;
}

int mfr_recipe_load(const char *path, mfr_recipe **out)
{
    void *data;
    size_t size;
    *out = NULL;
    int rc = mfr_read_file(path, 1 << 20, &data, &size);
    if (rc != MFR_OK)
        return rc;
    rc = mfr_recipe_parse(data, size, path, out);
    free(data);
    return rc;
}

void mfr_recipe_free(mfr_recipe *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->text);
    free(r);
}

long mfr_recipe_count(const mfr_recipe *r)
{
    switch (r->kind) {
    case RECIPE_VERIFY:
        return r->identities * (r->enrol + (long)r->probes * (r->nvariants + r->probe_unmasked));
    case RECIPE_TRAIN:
        return r->identities * r->per_identity;
    default:
        return r->scenes;
    }
}

static void nz_text(char *buf, size_t size, const char *name, const nz_range *n)
{
    snprintf(buf, size,
             "[%s]\nyaw = %g\npitch = %g\nroll = %g\nsmile = %g\nmouth_open = %g\nbrow_raise = %g\neye_close = %g\n"
             "expression_prob = %g\nlight_az = %g\nlight_el = %g, %g\nlight_intensity = %g, %g\nambient = %g, %g\n"
             "light_tint = %g\ndistance = %g, %g\nscale = %g, %g\nshift = %g\nnoise = %g, %g\nblur = %g, %g\n"
             "jpeg_prob = %g\njpeg_quality = %g, %g\noccluder_prob = %g\n\n",
             name, n->yaw, n->pitch, n->roll, n->smile, n->mouth_open, n->brow_raise, n->eye_close,
             n->expression_prob, n->light_az, n->light_el[0], n->light_el[1], n->intensity[0], n->intensity[1],
             n->ambient[0], n->ambient[1], n->tint, n->distance[0], n->distance[1], n->scale[0], n->scale[1],
             n->shift, n->noise[0], n->noise[1], n->blur[0], n->blur[1], n->jpeg_prob, n->jpeg_quality[0],
             n->jpeg_quality[1], n->occluder_prob);
}

char *mfr_recipe_summary(const mfr_recipe *r, uint64_t seed)
{
    static const char *const kinds[] = {"verification", "training", "scenes"};
    size_t cap = 8192 + (size_t)r->nvariants * 64;
    char *s = malloc(cap);
    if (!s) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t n = (size_t)snprintf(s, cap,
                                "# The recipe %s with every default filled in (mfr gen, seed %llu).\n"
                                "# images: %ld\n\n[dataset]\nkind = %s\nidentities = %ld\nidentity_offset = %ld\n"
                                "enrol = %d\nprobes = %d\nimages_per_identity = %d\nwidth = %d\nheight = %d\n"
                                "nonmated = %d\n\n",
                                r->name, (unsigned long long)seed, mfr_recipe_count(r), kinds[r->kind], r->identities,
                                r->identity_offset, r->enrol, r->probes, r->per_identity, r->width, r->height,
                                r->nonmated);
    nz_text(s + n, cap - n, "enrol", &r->enrol_nz);
    n += strlen(s + n);
    nz_text(s + n, cap - n, "probe", &r->probe_nz);
    n += strlen(s + n);
    n += (size_t)snprintf(s + n, cap - n, "[masks]\nprobe_unmasked = %s\nprobability = %g\n# %d variants:\n",
                          r->probe_unmasked ? "yes" : "no", r->mask_prob, r->nvariants);
    for (int i = 0; i < r->nvariants && n < cap; i++) {
        char label[64];
        mfr_mask_label(&r->variants[i], label, sizeof label);
        n += (size_t)snprintf(s + n, cap - n, "#   %s\n", label);
    }
    if (n < cap)
        snprintf(s + n, cap - n, "\n[scenes]\ncount = %ld\nfaces = %d, %d\nface_size = %g, %g\ndistractors = %d, %d\n",
                 r->scenes, r->faces[0], r->faces[1], r->face_size[0], r->face_size[1], r->distractors[0],
                 r->distractors[1]);
    return s;
}

static float pm(mfr_rng *g, double a) { return (float)mfr_rng_range(g, -a, a); }
static float in(mfr_rng *g, const double r[2]) { return r[0] == r[1] ? (float)r[0] : (float)mfr_rng_range(g, r[0], r[1]); }

void recipe_sample_nuisance(const nz_range *r, mfr_rng *g, mfr_nuisance *nz)
{
    memset(nz, 0, sizeof *nz);
    nz->yaw = pm(g, r->yaw);
    nz->pitch = pm(g, r->pitch);
    nz->roll = pm(g, r->roll);
    if (mfr_rng_uniform(g) < r->expression_prob) {
        nz->smile = (float)(mfr_rng_uniform(g) * r->smile);
        nz->mouth_open = mfr_rng_uniform(g) < 0.5 ? (float)(mfr_rng_uniform(g) * r->mouth_open) : 0.0f;
        nz->brow_raise = (float)(mfr_rng_uniform(g) * r->brow_raise);
        nz->eye_close = mfr_rng_uniform(g) < 0.3 ? (float)(mfr_rng_uniform(g) * r->eye_close) : 0.0f;
    }
    nz->light_az = pm(g, r->light_az);
    nz->light_el = in(g, r->light_el);
    nz->light_intensity = in(g, r->intensity);
    nz->ambient = in(g, r->ambient);
    for (int c = 0; c < 3; c++)
        nz->light_color[c] = 1.0f + pm(g, r->tint);
    nz->distance = in(g, r->distance);
    nz->scale = in(g, r->scale);
    nz->shift_x = pm(g, r->shift);
    nz->shift_y = pm(g, r->shift);
    nz->noise = in(g, r->noise);
    nz->blur = in(g, r->blur);
    nz->jpeg_quality = mfr_rng_uniform(g) < r->jpeg_prob ? (int)in(g, r->jpeg_quality) : 0;
    if (mfr_rng_uniform(g) < r->occluder_prob) {
        nz->occluder = 1 + (int)mfr_rng_below(g, 2);
        nz->occluder_x = pm(g, 0.35);
        nz->occluder_y = nz->occluder == MFR_OCCLUDER_HAND ? (float)mfr_rng_range(g, -0.9, -0.3)
                                                           : (float)mfr_rng_range(g, -0.2, 0.1);
    }
    nz->background = mfr_rng_u32(g);
}
