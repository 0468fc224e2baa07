/* The face tasks of the generic trainer: samples from the synthetic
 * generator, augmentation, the embedder's margin head, the detector's target
 * assignment and losses, and validation with the eval library.
 * docs/training.md, "Face tasks". */
#include "config.h"
#include "mfr/eval.h"
#include "mfr/face.h"
#include "mfr/face_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_BATCH 0x7a000001u   /* which image, and its augmentation */
#define STREAM_HEAD 0x7a000002u    /* class-weight initialisation */
#define MAX_LEVELS 4

typedef enum { HEAD_ARCFACE = 0, HEAD_COSFACE, HEAD_SOFTMAX } head_kind;
typedef enum { SCORE_FOCAL = 0, SCORE_BCE } score_kind;
typedef enum { BOX_GIOU = 0, BOX_IOU, BOX_L1, BOX_SMOOTH_L1 } box_kind;

typedef struct level {
    int stride, gh, gw;
    int out_score, out_box, out_lm;   /* output indices */
    size_t cell0;                     /* first cell of this level in a sample's cell list */
} level;

struct mfr_face_task {
    mfr_face_task_kind kind;
    mfr_trainer_task cb;
    mfr_recipe *data, *val;
    uint64_t val_seed;
    long count;                       /* images in the data recipe */
    int in_h, in_w;
    /* augmentation */
    double jitter, flip, color, blur, mask_rate;
    /* embedder */
    long classes, per_id;
    int dim;
    head_kind head;
    mfr_margin_head margin;
    mfr_train_param extra;            /* class weights, classes x dim */
    /* detector */
    level lv[MAX_LEVELS];
    int n_lv;
    size_t cells;                     /* per sample, all levels */
    score_kind score;
    double alpha, gamma;
    box_kind box;
    mfr_reg_loss lm_loss;
    double w_score, w_box, w_lm;
    long val_images;
    float min_face;                   /* faces smaller than this (network pixels) are ignored */
};

/* ------------------------------------------------------------ slots */

typedef struct slot {
    int *labels;                      /* embedder */
    float *score_t, *score_w;         /* detector: per cell */
    float *box_t;                     /* encoded (4 per cell) */
    float *corner_t;                  /* truth corners (4 per cell) */
    float *lm_t, *lm_m;               /* 10 per cell, 5 masks per cell */
    uint8_t *pos;                     /* positive cells */
} slot;

static void slot_free(void *ctx, void *p)
{
    slot *s = p;
    (void)ctx;
    if (!s)
        return;
    free(s->labels);
    free(s->score_t);
    free(s->score_w);
    free(s->box_t);
    free(s->corner_t);
    free(s->lm_t);
    free(s->lm_m);
    free(s->pos);
    free(s);
}

static int slot_create(void *ctx, int batch, void **out)
{
    mfr_face_task *t = ctx;
    slot *s = calloc(1, sizeof *s);
    size_t n = (size_t)batch * t->cells;
    *out = NULL;
    if (!s)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    if (t->kind == MFR_FACE_TASK_EMBEDDER) {
        s->labels = calloc((size_t)batch, sizeof *s->labels);
        if (!s->labels)
            goto fail;
    } else {
        s->score_t = malloc(n * sizeof(float));
        s->score_w = malloc(n * sizeof(float));
        s->box_t = malloc(n * 4 * sizeof(float));
        s->corner_t = malloc(n * 4 * sizeof(float));
        s->lm_t = malloc(n * 10 * sizeof(float));
        s->lm_m = malloc(n * 5 * sizeof(float));
        s->pos = malloc(n);
        if (!s->score_t || !s->score_w || !s->box_t || !s->corner_t || !s->lm_t || !s->lm_m || !s->pos)
            goto fail;
    }
    *out = s;
    return MFR_OK;
fail:
    slot_free(ctx, s);
    return mfr_error(MFR_ERR_NOMEM, "out of memory for a batch of %d", batch);
}

/* ------------------------------------------------------- augmentation */

/* Colour jitter (brightness, contrast, per-channel gain) and an optional
 * 3x3 binomial blur, then (pixel - 127.5) / 128 into out. */
static void to_input(const mfr_image *im, mfr_rng *g, double color, double blur, float *out)
{
    int w = im->width, h = im->height;
    float bright = 1, contrast = 1, gain[3] = {1, 1, 1};
    int do_blur = blur > 0 && mfr_rng_uniform(g) < blur;
    if (color > 0) {
        bright = (float)mfr_rng_range(g, 1 - color, 1 + color);
        contrast = (float)mfr_rng_range(g, 1 - color, 1 + color);
        for (int c = 0; c < 3; c++)
            gain[c] = (float)mfr_rng_range(g, 1 - color / 2, 1 + color / 2);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v;
                if (do_blur) {
                    float s = 0, ws = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy, xx = x + dx;
                            float k = (float)((dy ? 1 : 2) * (dx ? 1 : 2));
                            if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                                continue;
                            s += k * im->data[(size_t)yy * im->stride + (size_t)xx * 3 + (size_t)c];
                            ws += k;
                        }
                    v = s / ws;
                } else {
                    v = im->data[(size_t)y * im->stride + (size_t)x * 3 + (size_t)c];
                }
                v = ((v - 127.5f) * contrast + 127.5f) * bright * gain[c];
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                out[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c] = (v - MFR_FACE_PIXEL_MEAN) * MFR_FACE_PIXEL_SCALE;
            }
}

/* A mask drawn for augmentation: a NIST-grid mask or a typed one. */
static mfr_mask random_mask(mfr_rng *g)
{
    static const mfr_mask typed[5] = {
        {MFR_MASK_SURGICAL, MFR_SHAPE_WIDE, MFR_COVER_MEDIUM, MFR_COLOR_LIGHT_BLUE, 0},
        {MFR_MASK_N95, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_WHITE, 0},
        {MFR_MASK_KN95, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_WHITE, 0},
        {MFR_MASK_CLOTH, MFR_SHAPE_WIDE, MFR_COVER_HIGH, MFR_COLOR_PATTERN, 0},
        {MFR_MASK_GAS, MFR_SHAPE_ROUND, MFR_COVER_HIGH, MFR_COLOR_BLACK, 0},
    };
    mfr_mask m;
    if (mfr_rng_uniform(g) < 0.5) {
        m.type = MFR_MASK_NIST;
        m.shape = (int)mfr_rng_below(g, MFR_SHAPE_COUNT);
        m.coverage = (int)mfr_rng_below(g, MFR_COVER_COUNT);
        m.color = (int)mfr_rng_below(g, MFR_COLOR_COUNT);
    } else {
        m = typed[mfr_rng_below(g, 5)];
    }
    m.seed = mfr_rng_u32(g);
    return m;
}

/* ----------------------------------------------------------- embedder */

/* One aligned, augmented crop of image `index` into out (112 x 112 x 3). */
static int embed_sample(const mfr_face_task *t, const mfr_recipe *r, uint64_t seed, long index, mfr_rng *g,
                        int augment, int force_mask, float *out, mfr_sample *s, int *masked)
{
    mfr_image im = {0}, crop = {0};
    float lm[10];
    int rc = mfr_recipe_sample(r, seed, index, &im, s);
    if (rc == MFR_OK && s->nfaces < 1)
        rc = mfr_error(MFR_ERR_INTERNAL, "image %ld has no face", index);
    *masked = rc == MFR_OK && s->faces[0].mask.type != MFR_MASK_NONE;
    if (rc == MFR_OK && augment && (force_mask || (t->mask_rate > 0 && mfr_rng_uniform(g) < t->mask_rate))) {
        /* the same person and capture, drawn again wearing a mask */
        mfr_identity id;
        mfr_mask m = random_mask(g);
        mfr_identity_sample(seed, s->faces[0].identity, &id);
        rc = mfr_face_render(&id, &s->faces[0].nz, &m, &im, &s->faces[0].truth);
        *masked = 1;
    }
    if (rc == MFR_OK) {
        memcpy(lm, s->faces[0].truth.lm, sizeof lm);
        if (augment && t->jitter > 0)
            for (int k = 0; k < 10; k++)
                lm[k] += (float)(t->jitter * mfr_rng_normal(g));
        rc = mfr_align_crop(&im, lm, &crop);
    }
    if (rc == MFR_OK) {
        if (augment && t->flip > 0 && mfr_rng_uniform(g) < t->flip)
            mfr_image_flip_horizontal(&crop);
        to_input(&crop, g, augment ? t->color : 0, augment ? t->blur : 0, out);
    }
    mfr_image_free(&im);
    mfr_image_free(&crop);
    return rc;
}

static int embed_fill(void *ctx, uint64_t seed, long step, int batch, float *input, void *sp)
{
    mfr_face_task *t = ctx;
    slot *sl = sp;
    size_t in = (size_t)t->in_h * (size_t)t->in_w * 3;
    int rc = MFR_OK;
    char msg[256] = "";
#pragma omp parallel for schedule(dynamic) num_threads(mfr_threads())
    for (int i = 0; i < batch; i++) {
        mfr_rng g;
        mfr_sample *s = malloc(sizeof *s);
        int e, masked;
        long cls;
        mfr_rng_init(&g, seed, STREAM_BATCH, (uint64_t)step * 65536u + (uint64_t)i);
        cls = (long)mfr_rng_below(&g, (uint32_t)t->classes);
        sl->labels[i] = (int)cls;
        e = s ? embed_sample(t, t->data, seed, cls * t->per_id + (long)mfr_rng_below(&g, (uint32_t)t->per_id), &g, 1,
                             0, input + (size_t)i * in, s, &masked)
              : mfr_error(MFR_ERR_NOMEM, "out of memory");
        free(s);
        if (e != MFR_OK) {
#pragma omp critical(mfr_train_fill)
            if (rc == MFR_OK) {
                rc = e;
                snprintf(msg, sizeof msg, "%s", mfr_last_error());
            }
        }
    }
    return rc == MFR_OK ? MFR_OK : mfr_error(rc, "%s", msg);
}

/* Softmax head: logits = emb W^T (no normalisation, no margin). */
static int softmax_head(const mfr_face_task *t, int batch, const float *emb, const int *labels, double *loss,
                        float *demb)
{
    int C = (int)t->classes, D = t->dim, rc;
    float *logits = calloc((size_t)batch * (size_t)C, sizeof(float));
    float *dl = malloc((size_t)batch * (size_t)C * sizeof(float));
    const float *W = t->extra.value;
    float *dW = t->extra.grad;
    if (!logits || !dl) {
        free(logits);
        free(dl);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < batch; i++)
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (int k = 0; k < D; k++)
                s += (double)emb[(size_t)i * D + k] * W[(size_t)j * D + k];
            logits[(size_t)i * C + j] = (float)s;
        }
    rc = mfr_loss_softmax_ce(batch, C, logits, labels, 0, loss, dl);
    if (rc == MFR_OK) {
        for (int i = 0; i < batch; i++)
            for (int k = 0; k < D; k++) {
                double s = 0;
                for (int j = 0; j < C; j++)
                    s += (double)dl[(size_t)i * C + j] * W[(size_t)j * D + k];
                demb[(size_t)i * D + k] = (float)s;
            }
        for (int j = 0; j < C; j++)
            for (int k = 0; k < D; k++) {
                double s = 0;
                for (int i = 0; i < batch; i++)
                    s += (double)dl[(size_t)i * C + j] * emb[(size_t)i * D + k];
                dW[(size_t)j * D + k] = (float)s;
            }
    }
    free(logits);
    free(dl);
    return rc;
}

static int embed_loss(void *ctx, const void *sp, int batch, const float *const *outputs, float *const *d_outputs,
                      double *loss, double *parts)
{
    mfr_face_task *t = ctx;
    const slot *sl = sp;
    (void)parts;
    if (t->head == HEAD_SOFTMAX)
        return softmax_head(t, batch, outputs[0], sl->labels, loss, d_outputs[0]);
    return mfr_loss_margin(&t->margin, batch, t->dim, (int)t->classes, outputs[0], t->extra.value, sl->labels, loss,
                           d_outputs[0], t->extra.grad);
}

/* Embeds `n` crops (n x 112 x 112 x 3 floats) with a fresh executable,
 * L2-normalised rows into emb. */
static int embed_all(const mfr_net *net, const float *crops, long n, int dim, float *emb)
{
    const int B = 32;
    mfr_exec *ex;
    size_t in = 112 * 112 * 3;
    int rc = mfr_exec_create(net, B, 0, &ex);
    for (long i = 0; i < n && rc == MFR_OK; i += B) {
        int m = (int)(n - i < B ? n - i : B);
        if ((rc = mfr_exec_forward(ex, crops + (size_t)i * in, m)) != MFR_OK)
            break;
        const float *o = mfr_exec_output(ex, 0, NULL);
        for (int k = 0; k < m; k++) {
            double s = 0;
            for (int d = 0; d < dim; d++)
                s += (double)o[(size_t)k * dim + d] * o[(size_t)k * dim + d];
            s = s > 0 ? 1 / sqrt(s) : 0;
            for (int d = 0; d < dim; d++)
                emb[(size_t)(i + k) * dim + d] = (float)(o[(size_t)k * dim + d] * s);
        }
    }
    mfr_exec_free(ex);
    return rc;
}

static void fmt_rate(char *buf, size_t size, const mfr_verify_point *p)
{
    if (p->supported)
        snprintf(buf, size, "%.4f", p->fnmr);
    else
        snprintf(buf, size, "unsupported");
}

/* FNMR at FMR 1e-3 and 1e-4, the threshold fixed on the unmasked impostor
 * scores (NIST FRVT 6A/6B), for unmasked and for masked probes. */
static int embed_validate(mfr_face_task *t, mfr_net *net, char *text, size_t size)
{
    long n = mfr_recipe_count(t->val);
    size_t in = 112 * 112 * 3;
    float *crops = NULL, *emb = NULL;
    int *ident = NULL, *split = NULL, *masked = NULL, rc = MFR_OK;
    size_t *pa = NULL, *pb = NULL, np[2] = {0, 0};
    mfr_vset *set[2] = {NULL, NULL};
    char msg[256] = "";
    crops = malloc((size_t)n * in * sizeof(float));
    emb = malloc((size_t)n * (size_t)t->dim * sizeof(float));
    ident = malloc((size_t)n * sizeof(int));
    split = malloc((size_t)n * sizeof(int));
    masked = malloc((size_t)n * sizeof(int));
    if (!crops || !emb || !ident || !split || !masked) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %ld validation images", n);
        goto done;
    }
#pragma omp parallel for schedule(dynamic) num_threads(mfr_threads())
    for (long i = 0; i < n; i++) {
        mfr_sample *s = malloc(sizeof *s);
        int e = s ? embed_sample(t, t->val, t->val_seed, i, NULL, 0, 0, crops + (size_t)i * in, s, &masked[i])
                  : mfr_error(MFR_ERR_NOMEM, "out of memory");
        if (e == MFR_OK) {
            ident[i] = (int)s->identity;
            split[i] = s->split;
        }
        free(s);
        if (e != MFR_OK) {
#pragma omp critical(mfr_train_val)
            if (rc == MFR_OK) {
                rc = e;
                snprintf(msg, sizeof msg, "%s", mfr_last_error());
            }
        }
    }
    if (rc != MFR_OK) {
        rc = mfr_error(rc, "%s", msg);
        goto done;
    }
    if ((rc = embed_all(net, crops, n, t->dim, emb)) != MFR_OK)
        goto done;
    {
        /* identities as small indices; pairs: every enrolment image against
         * every probe image, split by the probe's mask */
        int base = ident[0];
        long ne = 0, npr = 0;
        for (long i = 0; i < n; i++) {
            base = ident[i] < base ? ident[i] : base;
            ne += split[i] == MFR_SPLIT_ENROL;
            npr += split[i] == MFR_SPLIT_PROBE;
        }
        for (long i = 0; i < n; i++)
            ident[i] -= base;
        pa = malloc((size_t)(ne * npr + 1) * 2 * sizeof(size_t));
        pb = malloc((size_t)(ne * npr + 1) * 2 * sizeof(size_t));
        if (!pa || !pb) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int m = 0; m < 2; m++) {
            size_t *a = pa + (size_t)m * (size_t)(ne * npr + 1), *b = pb + (size_t)m * (size_t)(ne * npr + 1);
            mfr_verify_opts o;
            mfr_verify_opts_default(&o);
            o.quiet = 1;
            for (long i = 0; i < n; i++) {
                if (split[i] != MFR_SPLIT_ENROL)
                    continue;
                for (long j = 0; j < n; j++)
                    if (split[j] == MFR_SPLIT_PROBE && masked[j] == m) {
                        a[np[m]] = (size_t)i;
                        b[np[m]] = (size_t)j;
                        np[m]++;
                    }
            }
            if (np[m] == 0) {
                rc = mfr_error(MFR_ERR_ARG, "the validation recipe has no %s probes (a verification recipe with "
                               "probe_unmasked = yes and mask variants is needed)", m ? "masked" : "unmasked");
                goto done;
            }
            if ((rc = mfr_vset_pairs_mem(emb, (size_t)n, (size_t)t->dim, ident, NULL, NULL, 0, NULL, a, b, np[m], &o,
                                         &set[m])) != MFR_OK)
                goto done;
        }
    }
    {
        const double targets[2] = {1e-3, 1e-4};
        char out[2][2][32];
        mfr_eer eer[2];
        for (int k = 0; k < 2; k++) {
            mfr_verify_point ref, p;
            if ((rc = mfr_verify_at_fmr(mfr_vset_mated(set[0], 0), mfr_vset_nonmated(set[0], 0), targets[k], 0.95, 0,
                                        0, &ref)) != MFR_OK)
                goto done;
            fmt_rate(out[0][k], sizeof out[0][k], &ref);
            if (ref.supported) {
                if ((rc = mfr_verify_at_threshold(mfr_vset_mated(set[1], 0), mfr_vset_nonmated(set[1], 0), ref.threshold,
                                                  0.95, 0, 0, &p)) != MFR_OK)
                    goto done;
                p.supported = 1;
                fmt_rate(out[1][k], sizeof out[1][k], &p);
            } else {
                snprintf(out[1][k], sizeof out[1][k], "unsupported");
            }
        }
        for (int m = 0; m < 2; m++)
            if ((rc = mfr_verify_eer(mfr_vset_mated(set[m], 0), mfr_vset_nonmated(set[m], 0), &eer[m])) != MFR_OK)
                goto done;
        snprintf(text, size,
                 "fnmr@1e-3=%s,fnmr@1e-4=%s,masked_fnmr@1e-3=%s,masked_fnmr@1e-4=%s,eer=%.4f,masked_eer=%.4f,"
                 "mated=%llu,nonmated=%llu",
                 out[0][0], out[0][1], out[1][0], out[1][1], eer[0].eer, eer[1].eer,
                 (unsigned long long)mfr_vset_mated(set[0], 0)->n, (unsigned long long)mfr_vset_nonmated(set[0], 0)->n);
    }
done:
    for (int m = 0; m < 2; m++)
        mfr_vset_free(set[m]);
    free(pa);
    free(pb);
    free(crops);
    free(emb);
    free(ident);
    free(split);
    free(masked);
    return rc;
}

/* ----------------------------------------------------------- detector */

/* The level a face of size s (the longer box side, network pixels) is
 * assigned to: the smallest stride S with s < 8 S, else the largest. */
static int level_of(const mfr_face_task *t, float s)
{
    for (int k = 0; k < t->n_lv; k++)
        if (s < 8.0f * (float)t->lv[k].stride)
            return k;
    return t->n_lv - 1;
}

typedef struct gt_face {
    float box[4];    /* corners, network pixels */
    float lm[10];
    int vis[5];
} gt_face;

/* Fills the targets of one sample from its faces (network pixels). A cell is
 * positive for a face when its prior centre lies in the middle half of the
 * box (|px - cx| <= w/4 and |py - cy| <= h/4) or is the cell holding the
 * centre, on the face's level; a cell claimed twice goes to the smaller face.
 * Faces below min_face pixels make their cells "ignore" (weight 0). */
static void assign(const mfr_face_task *t, const gt_face *f, int nf, slot *sl, size_t base)
{
    float *area = malloc(t->cells * sizeof(float));
    for (size_t c = 0; c < t->cells; c++) {
        sl->score_t[base + c] = 0;
        sl->score_w[base + c] = 1;
        sl->pos[base + c] = 0;
        if (area)
            area[c] = INFINITY;
    }
    memset(sl->box_t + 4 * base, 0, t->cells * 4 * sizeof(float));
    memset(sl->corner_t + 4 * base, 0, t->cells * 4 * sizeof(float));
    memset(sl->lm_t + 10 * base, 0, t->cells * 10 * sizeof(float));
    memset(sl->lm_m + 5 * base, 0, t->cells * 5 * sizeof(float));
    if (!area)
        return;
    for (int k = 0; k < nf; k++) {
        const gt_face *g = &f[k];
        float w = g->box[2] - g->box[0], h = g->box[3] - g->box[1], cx = (g->box[0] + g->box[2]) / 2,
              cy = (g->box[1] + g->box[3]) / 2, s = w > h ? w : h;
        const level *L;
        int ci, cj;
        if (w <= 0 || h <= 0)
            continue;
        L = &t->lv[level_of(t, s)];
        ci = (int)floorf(cy / (float)L->stride);
        cj = (int)floorf(cx / (float)L->stride);
        for (int i = 0; i < L->gh; i++)
            for (int j = 0; j < L->gw; j++) {
                float px = ((float)j + 0.5f) * (float)L->stride, py = ((float)i + 0.5f) * (float)L->stride;
                size_t c = base + L->cell0 + (size_t)i * (size_t)L->gw + (size_t)j;
                int inside = (fabsf(px - cx) <= w / 4 && fabsf(py - cy) <= h / 4) || (i == ci && j == cj);
                if (!inside)
                    continue;
                if (s < t->min_face) {
                    if (!sl->pos[c])
                        sl->score_w[c] = 0;
                    continue;
                }
                if (w * h >= area[c - base])
                    continue;
                area[c - base] = w * h;
                sl->pos[c] = 1;
                sl->score_t[c] = 1;
                sl->score_w[c] = 1;
                sl->box_t[4 * c + 0] = (cx - px) / (float)L->stride;
                sl->box_t[4 * c + 1] = (cy - py) / (float)L->stride;
                sl->box_t[4 * c + 2] = logf(w / (float)L->stride);
                sl->box_t[4 * c + 3] = logf(h / (float)L->stride);
                memcpy(sl->corner_t + 4 * c, g->box, 4 * sizeof(float));
                for (int p = 0; p < 5; p++) {
                    sl->lm_t[10 * c + 2 * p] = (g->lm[2 * p] - px) / (float)L->stride;
                    sl->lm_t[10 * c + 2 * p + 1] = (g->lm[2 * p + 1] - py) / (float)L->stride;
                    sl->lm_m[5 * c + p] = (float)g->vis[p];
                }
            }
    }
    free(area);
}

/* Letterboxes a scene into the network input (one scale, top-left, grey
 * padding, as mfr_detector_run does) and maps its faces. */
static int letterbox(const mfr_face_task *t, const mfr_image *im, const mfr_sample *s, mfr_image *canvas, gt_face *f,
                     int *nf)
{
    float sc = fminf((float)t->in_w / (float)im->width, (float)t->in_h / (float)im->height);
    int sw = (int)lroundf((float)im->width * sc), sh = (int)lroundf((float)im->height * sc), rc;
    mfr_image scaled = {0};
    sw = sw < 1 ? 1 : sw > t->in_w ? t->in_w : sw;
    sh = sh < 1 ? 1 : sh > t->in_h ? t->in_h : sh;
    if ((rc = mfr_image_alloc(canvas, t->in_w, t->in_h, 3)) != MFR_OK)
        return rc;
    memset(canvas->data, 128, canvas->stride * (size_t)canvas->height);
    if ((rc = mfr_image_alloc(&scaled, sw, sh, 3)) != MFR_OK || (rc = mfr_image_resize_area(im, &scaled)) != MFR_OK) {
        mfr_image_free(&scaled);
        return rc;
    }
    for (int y = 0; y < sh; y++)
        memcpy(canvas->data + (size_t)y * canvas->stride, scaled.data + (size_t)y * scaled.stride, (size_t)sw * 3);
    mfr_image_free(&scaled);
    {
        float fx = (float)sw / (float)im->width, fy = (float)sh / (float)im->height;
        *nf = 0;
        for (int k = 0; k < s->nfaces; k++) {
            const mfr_face_truth *tr = &s->faces[k].truth;
            gt_face *g = &f[(*nf)++];
            for (int q = 0; q < 4; q++)
                g->box[q] = tr->box[q] * (q & 1 ? fy : fx);
            for (int p = 0; p < 5; p++) {
                g->lm[2 * p] = tr->lm[2 * p] * fx;
                g->lm[2 * p + 1] = tr->lm[2 * p + 1] * fy;
                g->vis[p] = tr->vis[p];
            }
        }
    }
    return MFR_OK;
}

/* Mirrors the canvas and its faces (image-left landmarks stay image-left). */
static void flip_faces(const mfr_face_task *t, mfr_image *canvas, gt_face *f, int nf)
{
    static const int swap[5] = {1, 0, 2, 4, 3};
    float W = (float)t->in_w;
    mfr_image_flip_horizontal(canvas);
    for (int k = 0; k < nf; k++) {
        gt_face g = f[k];
        f[k].box[0] = W - g.box[2];
        f[k].box[2] = W - g.box[0];
        for (int p = 0; p < 5; p++) {
            f[k].lm[2 * swap[p]] = W - g.lm[2 * p];
            f[k].lm[2 * swap[p] + 1] = g.lm[2 * p + 1];
            f[k].vis[swap[p]] = g.vis[p];
        }
    }
}

static int detect_fill(void *ctx, uint64_t seed, long step, int batch, float *input, void *sp)
{
    mfr_face_task *t = ctx;
    slot *sl = sp;
    size_t in = (size_t)t->in_h * (size_t)t->in_w * 3;
    int rc = MFR_OK;
    char msg[256] = "";
#pragma omp parallel for schedule(dynamic) num_threads(mfr_threads())
    for (int i = 0; i < batch; i++) {
        mfr_rng g;
        mfr_sample *s = malloc(sizeof *s);
        gt_face f[MFR_MAX_FACES];
        mfr_image im = {0}, canvas = {0};
        int e, nf = 0;
        mfr_rng_init(&g, seed, STREAM_BATCH, (uint64_t)step * 65536u + (uint64_t)i);
        e = s ? mfr_recipe_sample(t->data, seed, (long)mfr_rng_below(&g, (uint32_t)t->count), &im, s)
              : mfr_error(MFR_ERR_NOMEM, "out of memory");
        if (e == MFR_OK)
            e = letterbox(t, &im, s, &canvas, f, &nf);
        if (e == MFR_OK) {
            if (t->flip > 0 && mfr_rng_uniform(&g) < t->flip)
                flip_faces(t, &canvas, f, nf);
            to_input(&canvas, &g, t->color, t->blur, input + (size_t)i * in);
            assign(t, f, nf, sl, (size_t)i * t->cells);
        }
        mfr_image_free(&im);
        mfr_image_free(&canvas);
        free(s);
        if (e != MFR_OK) {
#pragma omp critical(mfr_train_fill)
            if (rc == MFR_OK) {
                rc = e;
                snprintf(msg, sizeof msg, "%s", mfr_last_error());
            }
        }
    }
    return rc == MFR_OK ? MFR_OK : mfr_error(rc, "%s", msg);
}

/* Gathers one level's rows of an output (batch x gh x gw x ch) into the
 * sample-major cell order of the slot, or scatters gradients back. */
static void gather(const mfr_face_task *t, const level *L, int batch, int ch, const float *src, float *dst, int back)
{
    size_t n = (size_t)L->gh * (size_t)L->gw;
    for (int b = 0; b < batch; b++)
        for (size_t c = 0; c < n; c++) {
            size_t o = ((size_t)b * n + c) * (size_t)ch, d = ((size_t)b * t->cells + L->cell0 + c) * (size_t)ch;
            for (int q = 0; q < ch; q++) {
                if (back)
                    dst[o + q] = src[d + q];
                else
                    dst[d + q] = src[o + q];
            }
        }
}

static int detect_loss(void *ctx, const void *sp, int batch, const float *const *outputs, float *const *d_outputs,
                       double *loss, double *parts)
{
    mfr_face_task *t = ctx;
    const slot *sl = sp;
    size_t n = (size_t)batch * t->cells, npos = 0;
    float *p = malloc(n * sizeof(float)), *z = malloc(n * sizeof(float)), *gz = malloc(n * sizeof(float));
    float *b = malloc(n * 4 * sizeof(float)), *gb = malloc(n * 4 * sizeof(float));
    float *l = malloc(n * 10 * sizeof(float)), *gl = malloc(n * 10 * sizeof(float));
    float *pc = malloc(n * 4 * sizeof(float)), *gc = malloc(n * 4 * sizeof(float)), *m = malloc(n * sizeof(float));
    double ls = 0, lb = 0, ll = 0, norm;
    int rc = MFR_OK;
    if (!p || !z || !gz || !b || !gb || !l || !gl || !pc || !gc || !m) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < t->n_lv; k++) {
        gather(t, &t->lv[k], batch, 1, outputs[t->lv[k].out_score], p, 0);
        gather(t, &t->lv[k], batch, 4, outputs[t->lv[k].out_box], b, 0);
        gather(t, &t->lv[k], batch, 10, outputs[t->lv[k].out_lm], l, 0);
    }
    for (size_t c = 0; c < n; c++) {
        npos += sl->pos[c];
        m[c] = sl->pos[c];
        /* the score head ends in a sigmoid: its logit, clamped where the
         * float probability saturates */
        float q = fminf(fmaxf(p[c], 1e-7f), 1 - 1e-7f);
        z[c] = logf(q / (1 - q));
    }
    norm = npos > 0 ? (double)npos : 1.0;
    rc = t->score == SCORE_FOCAL ? mfr_loss_focal(n, z, sl->score_t, sl->score_w, t->alpha, t->gamma, norm, &ls, gz)
                                 : mfr_loss_bce_logits(n, z, sl->score_t, sl->score_w, norm, &ls, gz);
    if (rc != MFR_OK)
        goto done;
    /* boxes */
    if (t->box == BOX_GIOU || t->box == BOX_IOU) {
        for (int k = 0; k < t->n_lv; k++) {
            const level *L = &t->lv[k];
            float S = (float)L->stride;
            for (int bb = 0; bb < batch; bb++)
                for (int i = 0; i < L->gh; i++)
                    for (int j = 0; j < L->gw; j++) {
                        size_t c = (size_t)bb * t->cells + L->cell0 + (size_t)i * (size_t)L->gw + (size_t)j;
                        float px = ((float)j + 0.5f) * S, py = ((float)i + 0.5f) * S;
                        float cx = px + b[4 * c] * S, cy = py + b[4 * c + 1] * S;
                        float w = expf(fminf(b[4 * c + 2], 10.0f)) * S, h = expf(fminf(b[4 * c + 3], 10.0f)) * S;
                        pc[4 * c] = cx - w / 2;
                        pc[4 * c + 1] = cy - h / 2;
                        pc[4 * c + 2] = cx + w / 2;
                        pc[4 * c + 3] = cy + h / 2;
                    }
        }
        rc = mfr_loss_iou(t->box == BOX_GIOU ? MFR_GIOU : MFR_IOU, n, pc, sl->corner_t, m, norm, &lb, gc);
        if (rc != MFR_OK)
            goto done;
        for (int k = 0; k < t->n_lv; k++) {
            const level *L = &t->lv[k];
            float S = (float)L->stride;
            for (int bb = 0; bb < batch; bb++)
                for (size_t q = 0; q < (size_t)L->gh * (size_t)L->gw; q++) {
                    size_t c = (size_t)bb * t->cells + L->cell0 + q;
                    float w = pc[4 * c + 2] - pc[4 * c], h = pc[4 * c + 3] - pc[4 * c + 1];
                    const float *g = gc + 4 * c;
                    gb[4 * c] = S * (g[0] + g[2]);
                    gb[4 * c + 1] = S * (g[1] + g[3]);
                    gb[4 * c + 2] = b[4 * c + 2] < 10.0f ? w / 2 * (g[2] - g[0]) : 0;
                    gb[4 * c + 3] = b[4 * c + 3] < 10.0f ? h / 2 * (g[3] - g[1]) : 0;
                }
        }
    } else {
        mfr_reg_loss r = mfr_reg_loss_defaults(t->box == BOX_L1 ? MFR_REG_L1 : MFR_REG_SMOOTH_L1);
        if ((rc = mfr_loss_regression(&r, n, 4, b, sl->box_t, m, norm, &lb, gb)) != MFR_OK)
            goto done;
    }
    if ((rc = mfr_loss_regression(&t->lm_loss, n * 5, 2, l, sl->lm_t, sl->lm_m, norm, &ll, gl)) != MFR_OK)
        goto done;
    /* back through the sigmoid: dL/dp = dL/dz / (p (1 - p)) */
    for (size_t c = 0; c < n; c++) {
        double d = (double)p[c] * (1.0 - (double)p[c]);
        gz[c] = (float)(t->w_score * gz[c] / (d > 1e-12 ? d : 1e-12));
    }
    for (size_t c = 0; c < 4 * n; c++)
        gb[c] *= (float)t->w_box;
    for (size_t c = 0; c < 10 * n; c++)
        gl[c] *= (float)t->w_lm;
    for (int k = 0; k < t->n_lv; k++) {
        gather(t, &t->lv[k], batch, 1, gz, d_outputs[t->lv[k].out_score], 1);
        gather(t, &t->lv[k], batch, 4, gb, d_outputs[t->lv[k].out_box], 1);
        gather(t, &t->lv[k], batch, 10, gl, d_outputs[t->lv[k].out_lm], 1);
    }
    *loss = t->w_score * ls + t->w_box * lb + t->w_lm * ll;
    parts[0] = ls;
    parts[1] = lb;
    parts[2] = ll;
    parts[3] = (double)npos / batch;
done:
    free(p);
    free(z);
    free(gz);
    free(b);
    free(gb);
    free(l);
    free(gl);
    free(pc);
    free(gc);
    free(m);
    return rc;
}

/* AP@0.5 over the validation scenes, overall and per size class and mask
 * state. For a subset, truth faces outside it are "ignore": a detection
 * matching one (IoU >= 0.5) counts neither way. */
typedef struct vdet {
    int image;
    float score, box[4];
} vdet;

typedef struct vgt {
    int image, size_class, masked;
    float box[4];
} vgt;

static int by_score_desc(const void *x, const void *y)
{
    const vdet *a = x, *b = y;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return (a->image > b->image) - (a->image < b->image);
}

static double ap_subset(const vdet *d, size_t nd, const vgt *g, size_t ng, int which)
{
    /* which: 0 all, 1..3 size class 0..2, 4 unmasked, 5 masked */
    uint8_t *used = calloc(ng + 1, 1), *tp = malloc(nd + 1);
    size_t kept = 0;
    uint64_t npos = 0;
    double ap;
    if (!used || !tp) {
        free(used);
        free(tp);
        return NAN;
    }
    for (size_t k = 0; k < ng; k++) {
        int in = which == 0 || (which >= 1 && which <= 3 && g[k].size_class == which - 1) ||
                 (which == 4 && !g[k].masked) || (which == 5 && g[k].masked);
        npos += (uint64_t)in;
    }
    for (size_t i = 0; i < nd; i++) {
        float best = 0.5f;
        long bk = -1;
        for (size_t k = 0; k < ng; k++) {
            float iou;
            if (g[k].image != d[i].image || used[k])
                continue;
            iou = (float)mfr_iou(d[i].box, g[k].box);
            if (iou >= best) {
                best = iou;
                bk = (long)k;
            }
        }
        if (bk >= 0) {
            const vgt *m = &g[bk];
            int in = which == 0 || (which >= 1 && which <= 3 && m->size_class == which - 1) ||
                     (which == 4 && !m->masked) || (which == 5 && m->masked);
            used[bk] = 1;
            if (!in)
                continue;   /* ignored */
            tp[kept++] = 1;
        } else {
            tp[kept++] = 0;
        }
    }
    ap = mfr_average_precision(tp, kept, npos);
    free(used);
    free(tp);
    return ap;
}

static int detect_validate(mfr_face_task *t, mfr_net *net, char *text, size_t size)
{
    long n = mfr_recipe_count(t->val);
    mfr_detector *det = NULL;
    mfr_detector_opts o = {0.02f, 0.4f, 256, t->in_w > t->in_h ? t->in_w : t->in_h};
    vdet *d = NULL;
    vgt *g = NULL;
    size_t nd = 0, ng = 0, capd = 0, capg = 0;
    int rc;
    mfr_sample *s = malloc(sizeof *s);
    if (t->val_images > 0 && t->val_images < n)
        n = t->val_images;
    if (!s)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    if ((rc = mfr_detector_create(net, &o, &det)) != MFR_OK)
        goto done;
    for (long i = 0; i < n && rc == MFR_OK; i++) {
        mfr_image im = {0};
        mfr_face_det *found = NULL;
        int nf = 0;
        if ((rc = mfr_recipe_sample(t->val, t->val_seed, i, &im, s)) == MFR_OK &&
            (rc = mfr_detector_run(det, &im, &found, &nf)) == MFR_OK) {
            if (nd + (size_t)nf > capd || ng + (size_t)s->nfaces > capg) {
                size_t cd = (nd + (size_t)nf) * 2 + 64, cg = (ng + (size_t)s->nfaces) * 2 + 64;
                vdet *d2 = realloc(d, cd * sizeof *d);
                if (d2)
                    d = d2;
                vgt *g2 = realloc(g, cg * sizeof *g);
                if (g2)
                    g = g2;
                if (!d2 || !g2)
                    rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                capd = cd;
                capg = cg;
            }
            for (int k = 0; k < nf && rc == MFR_OK; k++) {
                vdet *v = &d[nd++];
                v->image = (int)i;
                v->score = found[k].score;
                v->box[0] = found[k].x;
                v->box[1] = found[k].y;
                v->box[2] = found[k].x + found[k].w;
                v->box[3] = found[k].y + found[k].h;
            }
            for (int k = 0; k < s->nfaces && rc == MFR_OK; k++) {
                vgt *v = &g[ng++];
                v->image = (int)i;
                v->size_class = s->faces[k].truth.size_class;
                v->masked = s->faces[k].mask.type != MFR_MASK_NONE;
                memcpy(v->box, s->faces[k].truth.box, sizeof v->box);
            }
        }
        free(found);
        mfr_image_free(&im);
    }
    if (rc == MFR_OK) {
        double ap[6];
        if (nd > 1)
            qsort(d, nd, sizeof *d, by_score_desc);
        for (int w = 0; w < 6; w++)
            ap[w] = ap_subset(d, nd, g, ng, w);
        snprintf(text, size,
                 "ap50=%.4f,ap50_easy=%.4f,ap50_medium=%.4f,ap50_hard=%.4f,ap50_unmasked=%.4f,ap50_masked=%.4f,"
                 "faces=%zu,detections=%zu",
                 ap[0], ap[1], ap[2], ap[3], ap[4], ap[5], ng, nd);
    }
done:
    mfr_detector_free(det);
    free(d);
    free(g);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ setup */

static int validate_cb(void *ctx, mfr_net *net, long step, char *text, size_t size)
{
    (void)step;
    return mfr_face_task_validate(ctx, net, text, size);
}

int mfr_face_task_validate(mfr_face_task *t, mfr_net *net, char *text, size_t size)
{
    if (!t->val)
        return mfr_error(MFR_ERR_ARG, "the recipe has no [validate] recipe");
    return t->kind == MFR_FACE_TASK_EMBEDDER ? embed_validate(t, net, text, size) : detect_validate(t, net, text, size);
}

static int find_output(const mfr_net *net, const char *name, int *out)
{
    int layer = mfr_net_find(net, name);
    for (int i = 0; i < mfr_net_output_count(net); i++)
        if (mfr_net_output_layer(net, i) == layer && layer >= 0) {
            *out = i;
            return 1;
        }
    return 0;
}

static int setup_detector(mfr_face_task *t, mfr_ini *ini, const mfr_net *net)
{
    static const char *const scores[] = {"focal", "bce", NULL};
    static const char *const boxes[] = {"giou", "iou", "l1", "smooth_l1", NULL};
    static const char *const lms[] = {"smooth_l1", "l1", "wing", NULL};
    int sec = mfr_ini_find(ini, "loss"), rc, sk = 0, bk = 0, lk = 0;
    double mf;
    for (int S = 4; S <= 128 && t->n_lv < MAX_LEVELS; S *= 2) {
        char a[32], b[32], c[32];
        level *L = &t->lv[t->n_lv];
        snprintf(a, sizeof a, "score%d", S);
        snprintf(b, sizeof b, "box%d", S);
        snprintf(c, sizeof c, "landmarks%d", S);
        if (!find_output(net, a, &L->out_score))
            continue;
        if (!find_output(net, b, &L->out_box) || !find_output(net, c, &L->out_lm))
            return mfr_error(MFR_ERR_ARG, "%s: %s has no %s or %s output", net->name, a, b, c);
        L->stride = S;
        L->gh = net->layers[mfr_net_output_layer(net, L->out_score)].h;
        L->gw = net->layers[mfr_net_output_layer(net, L->out_score)].w;
        if (L->gh * S != t->in_h || L->gw * S != t->in_w)
            return mfr_error(MFR_ERR_ARG, "%s: head %s is %dx%d, not the input %dx%d over stride %d", net->name, a,
                             L->gh, L->gw, t->in_h, t->in_w, S);
        L->cell0 = t->cells;
        t->cells += (size_t)L->gh * (size_t)L->gw;
        t->n_lv++;
    }
    if (t->n_lv == 0)
        return mfr_error(MFR_ERR_ARG, "%s: no detection heads (outputs named scoreS, boxS, landmarksS)", net->name);
    if ((rc = mfr_ini_get_choice(ini, sec, "score", scores, 0, &sk)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "alpha", 0.25, -1, 1, &t->alpha)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "gamma", 2, 0, 10, &t->gamma)) != MFR_OK ||
        (rc = mfr_ini_get_choice(ini, sec, "box", boxes, 0, &bk)) != MFR_OK ||
        (rc = mfr_ini_get_choice(ini, sec, "landmark", lms, 0, &lk)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "score_weight", 1, 0, 1000, &t->w_score)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "box_weight", 1, 0, 1000, &t->w_box)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "landmark_weight", 0.1, 0, 1000, &t->w_lm)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, mfr_ini_find(ini, "data"), "min_face", 4, 0, 1000, &mf)) != MFR_OK)
        return rc;
    t->score = (score_kind)sk;
    t->box = (box_kind)bk;
    t->lm_loss = mfr_reg_loss_defaults(lk == 0 ? MFR_REG_SMOOTH_L1 : lk == 1 ? MFR_REG_L1 : MFR_REG_WING);
    if (lk == 2) {
        /* landmark targets are in stride units: a narrower wing */
        t->lm_loss.wing_w = 1;
        t->lm_loss.wing_eps = 0.2;
    }
    t->min_face = (float)mf;
    t->cb.n_parts = 4;
    t->cb.part_names[0] = "score_loss";
    t->cb.part_names[1] = "box_loss";
    t->cb.part_names[2] = "landmark_loss";
    t->cb.part_names[3] = "positives_per_image";
    t->cb.fill = detect_fill;
    t->cb.loss = detect_loss;
    return MFR_OK;
}

static int setup_embedder(mfr_face_task *t, mfr_ini *ini, const mfr_net *net, uint64_t seed)
{
    static const char *const heads[] = {"arcface", "cosface", "softmax", NULL};
    int sec = mfr_ini_find(ini, "loss"), rc, hk = 0;
    long classes;
    const mfr_layer *out;
    mfr_image im = {0};
    mfr_sample *s;
    long first, last;
    if (mfr_net_output_count(net) != 1)
        return mfr_error(MFR_ERR_ARG, "%s: an embedder needs exactly one output", net->name);
    out = &net->layers[mfr_net_output_layer(net, 0)];
    if (out->h != 1 || out->w != 1)
        return mfr_error(MFR_ERR_ARG, "%s: the embedder's output is %dx%dx%d, not 1x1xD", net->name, out->h, out->w,
                         out->c);
    if (t->in_h != 112 || t->in_w != 112)
        return mfr_error(MFR_ERR_ARG, "%s: an embedder takes 112x112 aligned crops, the input is %dx%d", net->name,
                         t->in_w, t->in_h);
    t->dim = out->c;
    /* identities of the data recipe: the first image's and the last one's */
    s = malloc(sizeof *s);
    if (!s)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    rc = mfr_recipe_sample(t->data, seed, 0, &im, s);
    first = s->identity;
    mfr_image_free(&im);
    if (rc == MFR_OK)
        rc = mfr_recipe_sample(t->data, seed, t->count - 1, &im, s);
    last = s->identity;
    mfr_image_free(&im);
    free(s);
    if (rc != MFR_OK)
        return rc;
    t->classes = last - first + 1;
    t->per_id = t->count / t->classes;
    if ((rc = mfr_ini_get_int(ini, mfr_ini_find(ini, "data"), "classes", 0, 0, t->classes, &classes)) != MFR_OK)
        return rc;
    if (classes > 0)
        t->classes = classes;
    if (t->classes < 2)
        return mfr_error(MFR_ERR_ARG, "%s: an embedder needs 2 identities at least", mfr_ini_name(ini));
    if ((rc = mfr_ini_get_choice(ini, sec, "head", heads, 0, &hk)) != MFR_OK)
        return rc;
    t->head = (head_kind)hk;
    t->margin = mfr_margin_defaults(hk == HEAD_COSFACE ? MFR_MARGIN_COSFACE : MFR_MARGIN_ARCFACE);
    if ((rc = mfr_ini_get_double(ini, sec, "s", t->margin.s, 1e-3, 1e3, &t->margin.s)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "m", t->margin.m, 0, hk == HEAD_COSFACE ? 1 : 1.5, &t->margin.m)) != MFR_OK)
        return rc;
    /* class weights: N(0, 0.01^2) from (seed, STREAM_HEAD, class) */
    t->extra.name = "head.weight";
    t->extra.size = (size_t)t->classes * (size_t)t->dim;
    t->extra.value = mfr_alloc(t->extra.size * sizeof(float));
    t->extra.grad = mfr_alloc(t->extra.size * sizeof(float));
    if (!t->extra.value || !t->extra.grad)
        return MFR_ERR_NOMEM;
    for (long c = 0; c < t->classes; c++) {
        mfr_rng g;
        mfr_rng_init(&g, seed, STREAM_HEAD, (uint64_t)c);
        for (int d = 0; d < t->dim; d++)
            t->extra.value[(size_t)c * (size_t)t->dim + (size_t)d] = (float)(0.01 * mfr_rng_normal(&g));
    }
    t->cb.extra = &t->extra;
    t->cb.n_extra = 1;
    t->cb.fill = embed_fill;
    t->cb.loss = embed_loss;
    return MFR_OK;
}

int mfr_face_task_create(mfr_ini *ini, const mfr_net *net, uint64_t seed, mfr_face_task **out)
{
    static const char *const kinds[] = {"embedder", "detector", NULL};
    static const char *const splits[] = {"train", "scene", NULL};
    mfr_face_task *t;
    int rc, kind = 0, split = 0, in_layer = -1;
    int data = mfr_ini_find(ini, "data"), aug = mfr_ini_find(ini, "augment"), val = mfr_ini_find(ini, "validate");
    const char *path = NULL, *vpath = NULL;
    long vseed;
    *out = NULL;
    t = calloc(1, sizeof *t);
    if (!t)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    if ((rc = mfr_ini_get_choice(ini, mfr_ini_find(ini, "train"), "task", kinds, 0, &kind)) != MFR_OK)
        goto fail;
    t->kind = (mfr_face_task_kind)kind;
    if (data < 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: no [data] section", mfr_ini_name(ini));
        goto fail;
    }
    if ((rc = mfr_ini_get_string(ini, data, "recipe", NULL, &path)) != MFR_OK)
        goto fail;
    if (!path) {
        rc = mfr_ini_error(ini, data, NULL, MFR_ERR_ARG, "[data] needs recipe = a dataset recipe (datasets/*.ini)");
        goto fail;
    }
    if ((rc = mfr_ini_get_choice(ini, data, "split", splits, kind == MFR_FACE_TASK_DETECTOR, &split)) != MFR_OK)
        goto fail;
    if (split != kind) {
        rc = mfr_ini_error(ini, data, "split", MFR_ERR_ARG, "the %s trains on the '%s' split", kinds[kind],
                           splits[kind]);
        goto fail;
    }
    if ((rc = mfr_recipe_load(path, &t->data)) != MFR_OK) {
        rc = mfr_error_context(rc, "%s:%d", mfr_ini_name(ini), mfr_ini_line(ini, data, "recipe"));
        goto fail;
    }
    t->count = mfr_recipe_count(t->data);
    {
        mfr_image im = {0};
        mfr_sample *s = malloc(sizeof *s);
        rc = s ? mfr_recipe_sample(t->data, seed, 0, &im, s) : MFR_ERR_NOMEM;
        if (rc == MFR_OK && (s->split != (kind == MFR_FACE_TASK_EMBEDDER ? MFR_SPLIT_TRAIN : MFR_SPLIT_SCENE)))
            rc = mfr_ini_error(ini, data, "recipe", MFR_ERR_ARG, "%s is not a %s recipe", path,
                               kind == MFR_FACE_TASK_EMBEDDER ? "'kind = training'" : "'kind = scenes'");
        mfr_image_free(&im);
        free(s);
        if (rc != MFR_OK)
            goto fail;
    }
    for (int i = 0; i < net->n_layers && in_layer < 0; i++)
        if (net->layers[i].op == MFR_OP_INPUT)
            in_layer = i;
    if (in_layer < 0 || net->layers[in_layer].c != 3) {
        rc = mfr_error(MFR_ERR_ARG, "%s: the network needs an RGB input layer", net->name);
        goto fail;
    }
    t->in_h = net->layers[in_layer].h;
    t->in_w = net->layers[in_layer].w;
    if ((rc = mfr_ini_get_double(ini, aug, "crop_jitter", kind ? 0 : 2, 0, 50, &t->jitter)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, aug, "flip", 0.5, 0, 1, &t->flip)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, aug, "color", 0.2, 0, 0.9, &t->color)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, aug, "blur", 0.1, 0, 1, &t->blur)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, aug, "mask_rate", 0, 0, 1, &t->mask_rate)) != MFR_OK)
        goto fail;
    if (kind == MFR_FACE_TASK_DETECTOR && t->mask_rate > 0) {
        rc = mfr_ini_error(ini, aug, "mask_rate", MFR_ERR_ARG,
                           "mask_rate is for embedders; scenes draw masks by their recipe's [masks] probability");
        goto fail;
    }
    if (kind == MFR_FACE_TASK_DETECTOR && t->jitter > 0) {
        rc = mfr_ini_error(ini, aug, "crop_jitter", MFR_ERR_ARG, "crop_jitter is for embedders");
        goto fail;
    }
    if ((rc = mfr_ini_get_string(ini, val, "recipe", NULL, &vpath)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, val, "seed", (long)(seed + 1), 0, 1L << 62, &vseed)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, val, "images", 0, 0, 1L << 30, &t->val_images)) != MFR_OK)
        goto fail;
    t->val_seed = (uint64_t)vseed;
    if (vpath) {
        if ((rc = mfr_recipe_load(vpath, &t->val)) != MFR_OK) {
            rc = mfr_error_context(rc, "%s:%d", mfr_ini_name(ini), mfr_ini_line(ini, val, "recipe"));
            goto fail;
        }
    }
    t->cb.ctx = t;
    t->cb.slot_create = slot_create;
    t->cb.slot_free = slot_free;
    t->cb.validate = t->val ? validate_cb : NULL;
    rc = kind == MFR_FACE_TASK_EMBEDDER ? setup_embedder(t, ini, net, seed) : setup_detector(t, ini, net);
    if (rc != MFR_OK)
        goto fail;
    *out = t;
    return MFR_OK;
fail:
    mfr_face_task_free(t);
    return rc;
}

void mfr_face_task_free(mfr_face_task *t)
{
    if (!t)
        return;
    mfr_recipe_free(t->data);
    mfr_recipe_free(t->val);
    mfr_free(t->extra.value);
    mfr_free(t->extra.grad);
    free(t);
}

mfr_face_task_kind mfr_face_task_kind_of(const mfr_face_task *t) { return t->kind; }

const mfr_trainer_task *mfr_face_task_get(mfr_face_task *t) { return &t->cb; }
