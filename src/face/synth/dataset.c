/* Datasets from recipes: one sample by (recipe, seed, index), the whole
 * dataset on disk (images, manifest, pairs, recipe) and contact sheets. */
#include "config.h"
#include "recipe.h"
#include "synth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mfr_split_name(int split)
{
    static const char *const names[] = {"enrol", "probe", "train", "scene"};
    return split >= 0 && split < 4 ? names[split] : "?";
}

/* Verification layout: per identity `enrol` captures, then `probes`
 * captures each drawn in every probe condition (unmasked first). */
static long verify_block(const mfr_recipe *r) { return r->enrol + (long)r->probes * (r->nvariants + r->probe_unmasked); }

static long verify_index(const mfr_recipe *r, long identity, int capture, int condition)
{
    long b = identity * verify_block(r);
    if (capture < r->enrol)
        return b + capture;
    return b + r->enrol + (long)(capture - r->enrol) * (r->nvariants + r->probe_unmasked) + condition;
}

static mfr_mask condition_mask(const mfr_recipe *r, int condition)
{
    mfr_mask none = {0};
    if (r->probe_unmasked && condition == 0)
        return none;
    return r->variants[condition - r->probe_unmasked];
}

static int face_sample(const mfr_recipe *r, uint64_t seed, long index, mfr_image *img, mfr_sample *s)
{
    long i, person;
    int capture, split;
    mfr_mask mask = {0};
    const nz_range *range;
    mfr_rng g;
    if (r->kind == RECIPE_VERIFY) {
        long B = verify_block(r);
        i = index / B;
        long k = index % B;
        if (k < r->enrol) {
            capture = (int)k;
            split = MFR_SPLIT_ENROL;
            range = &r->enrol_nz;
        } else {
            int V = r->nvariants + r->probe_unmasked;
            capture = r->enrol + (int)((k - r->enrol) / V);
            split = MFR_SPLIT_PROBE;
            range = &r->probe_nz;
            mask = condition_mask(r, (int)((k - r->enrol) % V));
        }
    } else {
        i = index / r->per_identity;
        capture = (int)(index % r->per_identity);
        split = MFR_SPLIT_TRAIN;
        range = &r->probe_nz;
        mfr_rng_init(&g, seed, MFR_STREAM_MASK, (uint64_t)index);
        if (r->nvariants > 0 && mfr_rng_uniform(&g) < r->mask_prob)
            mask = r->variants[mfr_rng_below(&g, (uint32_t)r->nvariants)];
    }
    person = r->identity_offset + i;
    /* the mask's own randomness (pattern, jitter) belongs to the capture, so
     * every condition of a probe capture differs only in the mask */
    mfr_rng_init(&g, seed, MFR_STREAM_MASK, (uint64_t)person * 4096u + (uint64_t)capture + (1ull << 60));
    mask.seed = mfr_rng_u32(&g);

    mfr_identity id;
    mfr_identity_sample(seed, person, &id);
    mfr_nuisance nz;
    mfr_rng_init(&g, seed, MFR_STREAM_NUISANCE, (uint64_t)person * 4096u + (uint64_t)capture);
    recipe_sample_nuisance(range, &g, &nz);

    memset(s, 0, sizeof *s);
    s->index = index;
    s->identity = person;
    s->split = split;
    s->capture = capture;
    s->width = r->width;
    s->height = r->height;
    s->nfaces = 1;
    snprintf(s->file, sizeof s->file, "images/%07ld.png", index);
    mfr_sample_face *f = &s->faces[0];
    f->identity = person;
    f->nz = nz;
    f->mask = mask;
    f->glasses = id.glasses;
    f->beard = id.beard;
    f->hair_style = id.hair_style;
    int rc = mfr_image_alloc(img, r->width, r->height, 3);
    if (rc != MFR_OK)
        return rc;
    return mfr_face_render(&id, &nz, &mask, img, &f->truth);
}

int mfr_recipe_sample(const mfr_recipe *r, uint64_t seed, long index, mfr_image *img, mfr_sample *info)
{
    if (index < 0 || index >= mfr_recipe_count(r))
        return mfr_error(MFR_ERR_RANGE, "%s: image %ld is outside the recipe's %ld images", r->name, index,
                         mfr_recipe_count(r));
    img->data = NULL;
    if (r->kind == RECIPE_SCENES)
        return recipe_scene(r, seed, index, img, info);
    return face_sample(r, seed, index, img, info);
}

/* ------------------------------------------------------------ CSV files */

static const char *face_columns =
    "mask,mask_type,mask_shape,mask_coverage,mask_color,yaw,pitch,roll,smile,mouth_open,brow_raise,eye_close,"
    "light_az,light_el,light_intensity,ambient,light_r,light_g,light_b,distance,scale,noise,blur,jpeg_quality,"
    "occluder,glasses,beard,hair,box_x,box_y,box_w,box_h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,"
    "lm3_x,lm3_y,lm4_x,lm4_y,lm0_vis,lm1_vis,lm2_vis,lm3_vis,lm4_vis,size_class";
static const int face_ncolumns = 52;

static void write_face(FILE *fp, const mfr_sample_face *f)
{
    static const char *const occ[] = {"none", "hand", "hair"};
    static const char *const hair[] = {"bald", "buzz", "short", "medium", "long"};
    static const char *const beard[] = {"none", "stubble", "moustache", "goatee", "full"};
    static const char *const size[] = {"easy", "medium", "hard"};
    const mfr_nuisance *n = &f->nz;
    const mfr_face_truth *t = &f->truth;
    char label[64];
    int m = f->mask.type != MFR_MASK_NONE;
    mfr_mask_label(&f->mask, label, sizeof label);
    fprintf(fp, "%s,%s,%s,%s,%s,", label, mfr_mask_type_name(f->mask.type), m ? mfr_mask_shape_name(f->mask.shape) : "none",
            m ? mfr_mask_coverage_name(f->mask.coverage) : "none", m ? mfr_mask_color_name(f->mask.color) : "none");
    fprintf(fp, "%.2f,%.2f,%.2f,%.3f,%.3f,%.3f,%.3f,%.1f,%.1f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%d,%s,",
            n->yaw, n->pitch, n->roll, n->smile, n->mouth_open, n->brow_raise, n->eye_close, n->light_az, n->light_el,
            n->light_intensity, n->ambient, n->light_color[0], n->light_color[1], n->light_color[2], n->distance,
            n->scale, n->noise, n->blur, n->jpeg_quality, occ[n->occluder]);
    fprintf(fp, "%d,%s,%s,", f->glasses, beard[f->beard], hair[f->hair_style]);
    fprintf(fp, "%.2f,%.2f,%.2f,%.2f", t->box[0], t->box[1], t->box[2] - t->box[0], t->box[3] - t->box[1]);
    for (int i = 0; i < 10; i++)
        fprintf(fp, ",%.2f", t->lm[i]);
    for (int i = 0; i < 5; i++)
        fprintf(fp, ",%d", t->vis[i]);
    fprintf(fp, ",%s\n", size[t->size_class]);
}

typedef struct rec {
    long index, identity;
    int split, capture, nfaces;
    mfr_sample_face *faces;
} rec;

static int write_manifest(const mfr_recipe *r, const rec *recs, long n, const char *dir)
{
    mfr_afile f = {0};
    char *path = mfr_path_join(dir, "manifest.csv");
    int rc = path ? mfr_afile_open(&f, path) : MFR_ERR_NOMEM;
    if (rc == MFR_OK) {
        if (r->kind == RECIPE_SCENES) {
            /* one row per face; an image without faces gets one row with an empty box */
            fprintf(f.fp, "file,index,face,identity,%s\n", face_columns);
            for (long i = 0; i < n; i++) {
                for (int k = 0; k < recs[i].nfaces; k++) {
                    fprintf(f.fp, "images/%07ld.png,%ld,%d,%ld,", recs[i].index, recs[i].index, k,
                            recs[i].faces[k].identity);
                    write_face(f.fp, &recs[i].faces[k]);
                }
                if (recs[i].nfaces == 0) {
                    fprintf(f.fp, "images/%07ld.png,%ld,,", recs[i].index, recs[i].index);
                    for (int c = 0; c < face_ncolumns; c++)
                        fputc(',', f.fp);
                    fputc('\n', f.fp);
                }
            }
        } else {
            fprintf(f.fp, "file,index,identity,split,capture,%s\n", face_columns);
            for (long i = 0; i < n; i++) {
                fprintf(f.fp, "images/%07ld.png,%ld,%ld,%s,%d,", recs[i].index, recs[i].index, recs[i].identity,
                        mfr_split_name(recs[i].split), recs[i].capture);
                write_face(f.fp, &recs[i].faces[0]);
            }
        }
        rc = mfr_afile_commit(&f);
    }
    mfr_afile_abort(&f);
    free(path);
    return rc;
}

static void pair_row(FILE *fp, long a, long b, long ia, long ib, const char *cond, const mfr_mask *em, const mfr_mask *m)
{
    char label[64], elabel[64];
    int masked = m->type != MFR_MASK_NONE;
    mfr_mask_label(m, label, sizeof label);
    mfr_mask_label(em, elabel, sizeof elabel);
    fprintf(fp, "images/%07ld.png,images/%07ld.png,%d,%s,%s,%s,%s,%s,%s,%s\n", a, b, ia == ib, cond, elabel, label,
            mfr_mask_type_name(m->type), masked ? mfr_mask_shape_name(m->shape) : "none",
            masked ? mfr_mask_coverage_name(m->coverage) : "none", masked ? mfr_mask_color_name(m->color) : "none");
}

static int write_pairs(const mfr_recipe *r, uint64_t seed, const char *dir)
{
    mfr_afile f = {0};
    char *path = mfr_path_join(dir, "pairs.csv");
    int rc = path ? mfr_afile_open(&f, path) : MFR_ERR_NOMEM;
    int K = r->nonmated, V = r->nvariants + r->probe_unmasked;
    long *imp = malloc((size_t)K * sizeof *imp);
    if (rc == MFR_OK && !imp)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
    if (rc == MFR_OK) {
        FILE *fp = f.fp;
        fprintf(fp, "enrol,probe,mated,condition,enrol_mask,probe_mask,mask_type,mask_shape,mask_coverage,mask_color\n");
        for (long i = 0; i < r->identities; i++)
            for (int p = 0; p < r->probes; p++) {
                int cap = r->enrol + p;
                /* impostors for this probe capture, the same in every condition */
                mfr_rng g;
                mfr_rng_init(&g, seed, MFR_STREAM_PAIRS, (uint64_t)i * 4096u + (uint64_t)p);
                for (int k = 0; k < K; k++) {
                    long j;
                    int dup;
                    do {
                        j = (long)mfr_rng_below(&g, (uint32_t)(r->identities - 1));
                        if (j >= i)
                            j++;
                        dup = 0;
                        for (int q = 0; q < k; q++)
                            dup |= imp[q] == j;
                    } while (dup);
                    imp[k] = j;
                }
                long pi = r->identity_offset + i;
                const mfr_mask none = {0};
                for (int c = 0; c < V; c++) {
                    mfr_mask m = condition_mask(r, c);
                    long b = verify_index(r, i, cap, c);
                    const char *cond = m.type == MFR_MASK_NONE ? "unmasked-unmasked" : "unmasked-masked";
                    for (int e = 0; e < r->enrol; e++)
                        pair_row(fp, verify_index(r, i, e, 0), b, pi, pi, cond, &none, &m);
                    for (int k = 0; k < K; k++)
                        pair_row(fp, verify_index(r, imp[k], 0, 0), b, r->identity_offset + imp[k], pi, cond, &none, &m);
                    /* masked-masked: the first probe capture, masked alike, as the reference */
                    if (m.type != MFR_MASK_NONE && p > 0) {
                        pair_row(fp, verify_index(r, i, r->enrol, c), b, pi, pi, "masked-masked", &m, &m);
                        for (int k = 0; k < K; k++)
                            pair_row(fp, verify_index(r, imp[k], r->enrol, c), b, r->identity_offset + imp[k], pi,
                                     "masked-masked", &m, &m);
                    }
                }
            }
        rc = mfr_afile_commit(&f);
    }
    mfr_afile_abort(&f);
    free(imp);
    free(path);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char *path = mfr_path_join(dir, name);
    if (!path)
        return MFR_ERR_NOMEM;
    int rc = mfr_write_file_atomic(path, text, strlen(text));
    free(path);
    return rc;
}

int mfr_gen_write(const mfr_recipe *r, uint64_t seed, const char *dir, int quiet)
{
    mfr_outdir od;
    int rc = mfr_outdir_begin(&od, dir);
    if (rc != MFR_OK)
        return rc;
    long n = mfr_recipe_count(r);
    rec *recs = calloc((size_t)n, sizeof *recs);
    char *images = mfr_path_join(od.tmp, "images");
    if (!recs || !images)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %ld image records", n);
    if (rc == MFR_OK)
        rc = mfr_mkdir_p(images);
    if (rc == MFR_OK) {
        int failed = 0;
        char msg[1024] = "";
        long done = 0;
        mfr_progress prog;
        mfr_progress_begin(&prog, "gen", (uint64_t)n, quiet);
#pragma omp parallel for schedule(dynamic, 4) num_threads(mfr_threads())
        for (long i = 0; i < n; i++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            mfr_image im = {0};
            mfr_sample *s = malloc(sizeof *s);
            int e = s ? mfr_recipe_sample(r, seed, i, &im, s) : mfr_error(MFR_ERR_NOMEM, "out of memory");
            if (e == MFR_OK) {
                char *path = mfr_path_join(od.tmp, s->file);
                e = path ? mfr_image_write(path, &im) : MFR_ERR_NOMEM;
                free(path);
            }
            if (e == MFR_OK) {
                recs[i].index = i;
                recs[i].identity = s->identity;
                recs[i].split = s->split;
                recs[i].capture = s->capture;
                recs[i].nfaces = s->nfaces;
                recs[i].faces = malloc((size_t)(s->nfaces > 0 ? s->nfaces : 1) * sizeof(mfr_sample_face));
                if (!recs[i].faces)
                    e = mfr_error(MFR_ERR_NOMEM, "out of memory");
                else
                    memcpy(recs[i].faces, s->faces, (size_t)s->nfaces * sizeof(mfr_sample_face));
            }
            mfr_image_free(&im);
            free(s);
#pragma omp critical(mfr_gen)
            {
                if (e != MFR_OK && !failed) {
                    snprintf(msg, sizeof msg, "image %ld: %s", i, mfr_last_error());
                    failed = 1;
                }
                done++;
                mfr_progress_update(&prog, (uint64_t)done);
            }
        }
        mfr_progress_end(&prog);
        if (failed)
            rc = mfr_error(MFR_ERR_IO, "%s", msg);
    }
    if (rc == MFR_OK)
        rc = write_manifest(r, recs, n, od.tmp);
    if (rc == MFR_OK && r->kind == RECIPE_VERIFY)
        rc = write_pairs(r, seed, od.tmp);
    if (rc == MFR_OK)
        rc = write_text(od.tmp, "recipe.ini", r->text);
    if (rc == MFR_OK) {
        char *sum = mfr_recipe_summary(r, seed);
        rc = sum ? write_text(od.tmp, "summary.txt", sum) : MFR_ERR_NOMEM;
        free(sum);
    }
    if (rc == MFR_OK)
        rc = mfr_outdir_commit(&od);
    else
        mfr_outdir_abort(&od);
    if (recs)
        for (long i = 0; i < n; i++)
            free(recs[i].faces);
    free(recs);
    free(images);
    return rc;
}

/* ------------------------------------------------------- contact sheets */

static void draw_truth(mfr_image *im, const mfr_sample *s, float scale)
{
    static const uint8_t box_easy[3] = {255, 230, 0}, box_med[3] = {255, 140, 0}, box_hard[3] = {255, 40, 40};
    static const uint8_t seen[3] = {0, 255, 0}, hidden[3] = {255, 0, 255};
    for (int f = 0; f < s->nfaces; f++) {
        const mfr_face_truth *t = &s->faces[f].truth;
        const uint8_t *bc = t->size_class == MFR_SIZE_EASY ? box_easy : t->size_class == MFR_SIZE_MEDIUM ? box_med : box_hard;
        mfr_draw_rect(im, scale * t->box[0], scale * t->box[1], scale * t->box[2], scale * t->box[3], bc, 1.0f, 1);
        float r = fmaxf(0.8f, scale * (t->box[3] - t->box[1]) / 40.0f);
        for (int i = 0; i < 5; i++)
            mfr_draw_point(im, scale * t->lm[2 * i], scale * t->lm[2 * i + 1], r, t->vis[i] ? seen : hidden, 1.0f);
    }
}

int mfr_gen_sheet(const mfr_recipe *r, uint64_t seed, long first, long count, int cols, int cell, int truth,
                  const char *path)
{
    long total = mfr_recipe_count(r);
    if (first < 0 || count < 1 || first + count > total || cols < 1 || cell < 8 || cell > 4096)
        return mfr_error(MFR_ERR_ARG, "sheet: images %ld..%ld of %ld, %d columns, cell %d: out of range", first,
                         first + count - 1, total, cols, cell);
    int ch = (int)((long)cell * r->height / r->width);
    int rows = (int)((count + cols - 1) / cols);
    mfr_image sheet = {0}, cellim = {0};
    int rc = mfr_image_alloc(&sheet, cols * cell, rows * ch, 3);
    if (rc == MFR_OK)
        rc = mfr_image_alloc(&cellim, cell, ch, 3);
    mfr_sample *s = malloc(sizeof *s);
    if (rc == MFR_OK && !s)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
    for (long i = 0; i < count && rc == MFR_OK; i++) {
        mfr_image im = {0};
        rc = mfr_recipe_sample(r, seed, first + i, &im, s);
        mfr_image *src = &im;
        if (rc == MFR_OK && (im.width != cell || im.height != ch)) {
            rc = mfr_image_resize_area(&im, &cellim);
            src = &cellim;
        }
        /* truth drawn at the sheet's scale, so thin lines stay visible */
        if (rc == MFR_OK && truth)
            draw_truth(src, s, (float)cell / (float)im.width);
        if (rc == MFR_OK) {
            int cx = (int)(i % cols) * cell, cy = (int)(i / cols) * ch;
            for (int y = 0; y < ch; y++)
                memcpy(mfr_image_row(&sheet, cy + y) + 3 * cx, mfr_image_row(src, y), (size_t)cell * 3);
        }
        mfr_image_free(&im);
    }
    if (rc == MFR_OK)
        rc = mfr_image_write(path, &sheet);
    free(s);
    mfr_image_free(&sheet);
    mfr_image_free(&cellim);
    return rc;
}
