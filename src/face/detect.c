/* The face detector's front-end: letterbox, forward, decode heads, NMS. */
#include "config.h"
#include "mfr/face.h"
#include "mfr/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DET_MAX_LEVELS 8
#define DET_ALIGN 32          /* input sides are multiples of the largest stride we accept */
#define DET_MAX_LOG_SIZE 10.0f /* exp() argument clamp: a box of e^10 strides is already absurd */

typedef struct det_level {
    int stride;
    int score_layer, box_layer, lm_layer;
} det_level;

struct mfr_detector {
    mfr_net *net;
    mfr_detector_opts opts;
    int input_layer;
    det_level levels[DET_MAX_LEVELS];
    int n_levels;
    int net_w, net_h;        /* the size the executable is compiled for */
    mfr_exec *ex;
    float *input;            /* net_h x net_w x 3 */
    mfr_image canvas, scaled;
};

float mfr_face_iou(const mfr_face_det *a, const mfr_face_det *b)
{
    float x0 = fmaxf(a->x, b->x), y0 = fmaxf(a->y, b->y);
    float x1 = fminf(a->x + a->w, b->x + b->w), y1 = fminf(a->y + a->h, b->y + b->h);
    float inter, uni;
    if (a->w <= 0 || a->h <= 0 || b->w <= 0 || b->h <= 0 || x1 <= x0 || y1 <= y0)
        return 0.0f;
    inter = (x1 - x0) * (y1 - y0);
    uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

int mfr_face_decode(const float *score, const float *box, const float *lm, int gh, int gw, int stride,
                    float score_min, mfr_face_det **dets, int *n, int *cap)
{
    for (int i = 0; i < gh; i++) {
        for (int j = 0; j < gw; j++) {
            size_t cell = (size_t)i * (size_t)gw + (size_t)j;
            const float *b = box + 4 * cell, *l = lm + 10 * cell;
            float s = score[cell], px = ((float)j + 0.5f) * (float)stride, py = ((float)i + 0.5f) * (float)stride;
            float bw, bh;
            mfr_face_det *d;
            if (!(s >= score_min))
                continue;
            if (*n == *cap) {
                int grown_cap = *cap ? *cap * 2 : 64;
                mfr_face_det *grown = realloc(*dets, (size_t)grown_cap * sizeof *grown);
                if (!grown)
                    return mfr_error(MFR_ERR_NOMEM, "out of memory decoding detections");
                *dets = grown;
                *cap = grown_cap;
            }
            d = &(*dets)[(*n)++];
            bw = expf(fminf(fmaxf(b[2], -DET_MAX_LOG_SIZE), DET_MAX_LOG_SIZE)) * (float)stride;
            bh = expf(fminf(fmaxf(b[3], -DET_MAX_LOG_SIZE), DET_MAX_LOG_SIZE)) * (float)stride;
            d->x = px + b[0] * (float)stride - 0.5f * bw;
            d->y = py + b[1] * (float)stride - 0.5f * bh;
            d->w = bw;
            d->h = bh;
            d->score = s;
            for (int k = 0; k < 5; k++) {
                d->lm[2 * k] = px + l[2 * k] * (float)stride;
                d->lm[2 * k + 1] = py + l[2 * k + 1] * (float)stride;
            }
        }
    }
    return MFR_OK;
}

static int by_score(const void *pa, const void *pb)
{
    const mfr_face_det *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->w != b->w)
        return a->w < b->w ? -1 : 1;
    return 0;
}

void mfr_face_nms(mfr_face_det *dets, int n, float iou_max, int max_keep, int *n_kept)
{
    int kept = 0;
    qsort(dets, (size_t)n, sizeof *dets, by_score);
    for (int i = 0; i < n && kept < max_keep; i++) {
        int keep = 1;
        for (int k = 0; k < kept && keep; k++)
            keep = mfr_face_iou(&dets[i], &dets[k]) <= iou_max;
        if (keep)
            dets[kept++] = dets[i];
    }
    *n_kept = kept;
}

/* Finds "<prefix><stride>" output layers. */
static int find_levels(mfr_detector *det)
{
    mfr_net *net = det->net;
    for (int i = 0; i < net->n_layers; i++) {
        const char *name = net->layers[i].name;
        char box_name[64], lm_name[64];
        long stride;
        det_level *lv;
        if (strncmp(name, "score", 5) != 0 || mfr_parse_long(name + 5, &stride) != MFR_OK)
            continue;
        if (stride < 1 || stride > 1024 || det->n_levels == DET_MAX_LEVELS)
            return mfr_error(MFR_ERR_FORMAT, "%s: head '%s': bad stride or too many heads", net->name, name);
        snprintf(box_name, sizeof box_name, "box%ld", stride);
        snprintf(lm_name, sizeof lm_name, "landmarks%ld", stride);
        lv = &det->levels[det->n_levels++];
        lv->stride = (int)stride;
        lv->score_layer = i;
        lv->box_layer = mfr_net_find(net, box_name);
        lv->lm_layer = mfr_net_find(net, lm_name);
        if (lv->box_layer < 0 || lv->lm_layer < 0)
            return mfr_error(MFR_ERR_FORMAT, "%s: head '%s' needs layers '%s' and '%s'", net->name, name, box_name,
                             lm_name);
    }
    if (det->n_levels == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: not a detector: no output layer named score<stride> (e.g. score8)",
                         net->name ? net->name : "network");
    return MFR_OK;
}

/* Checks the heads' shapes for the current input size. */
static int check_heads(mfr_detector *det)
{
    mfr_net *net = det->net;
    for (int k = 0; k < det->n_levels; k++) {
        const det_level *lv = &det->levels[k];
        const mfr_layer *s = &net->layers[lv->score_layer], *b = &net->layers[lv->box_layer],
                        *l = &net->layers[lv->lm_layer];
        int gh = det->net_h / lv->stride, gw = det->net_w / lv->stride;
        if (s->c != 1 || b->c != 4 || l->c != 10)
            return mfr_error(MFR_ERR_FORMAT, "%s: stride %d heads have %d, %d, %d channels; expected 1, 4, 10",
                             net->name, lv->stride, s->c, b->c, l->c);
        if (s->h != gh || s->w != gw || b->h != gh || b->w != gw || l->h != gh || l->w != gw)
            return mfr_error(MFR_ERR_FORMAT, "%s: stride %d heads are %dx%d for a %dx%d input; expected %dx%d",
                             net->name, lv->stride, s->h, s->w, det->net_w, det->net_h, gh, gw);
    }
    return MFR_OK;
}

/* Recompiles the network for a new input size (weights are kept). */
static int set_input_size(mfr_detector *det, int w, int h)
{
    mfr_layer *in = &det->net->layers[det->input_layer];
    int rc;
    if (det->ex && det->net_w == w && det->net_h == h)
        return MFR_OK;
    mfr_exec_free(det->ex);
    det->ex = NULL;
    mfr_free(det->input);
    det->input = NULL;
    mfr_image_free(&det->canvas);
    in->in_w = w;
    in->in_h = h;
    det->net->resolved = 0;
    det->net_w = w;
    det->net_h = h;
    if ((rc = mfr_net_resolve(det->net)) != MFR_OK || (rc = check_heads(det)) != MFR_OK ||
        (rc = mfr_exec_create(det->net, 1, 0, &det->ex)) != MFR_OK)
        return rc;
    det->input = mfr_alloc((size_t)w * (size_t)h * 3 * sizeof(float));
    if (!det->input || mfr_image_alloc(&det->canvas, w, h, 3) != MFR_OK)
        return MFR_ERR_NOMEM;
    return MFR_OK;
}

int mfr_detector_create(mfr_net *net, const mfr_detector_opts *opts, mfr_detector **out)
{
    mfr_detector *det;
    int rc;
    *out = NULL;
    if ((rc = mfr_net_resolve(net)) != MFR_OK)
        return rc;
    det = calloc(1, sizeof *det);
    if (!det)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    det->net = net;
    det->opts = (mfr_detector_opts){0.5f, 0.4f, 256, 640};
    if (opts) {
        det->opts = *opts;
        if (!(opts->score_min >= 0 && opts->score_min <= 1) || !(opts->nms_iou >= 0 && opts->nms_iou <= 1) ||
            opts->max_faces < 1 || opts->max_side < DET_ALIGN || opts->max_side > 8192) {
            free(det);
            return mfr_error(MFR_ERR_ARG, "detector options out of range (score and IoU in [0, 1], max_faces >= 1, "
                                          "max_side in [%d, 8192])", DET_ALIGN);
        }
    }
    det->input_layer = -1;
    for (int i = 0; i < net->n_layers; i++) {
        if (net->layers[i].op == MFR_OP_INPUT) {
            if (det->input_layer >= 0 || net->layers[i].in_c != 3) {
                free(det);
                return mfr_error(MFR_ERR_FORMAT, "%s: a detector has one RGB input layer", net->name);
            }
            det->input_layer = i;
        }
    }
    if ((rc = find_levels(det)) != MFR_OK) {
        free(det);
        return rc;
    }
    *out = det;
    return MFR_OK;
}

void mfr_detector_free(mfr_detector *det)
{
    if (!det)
        return;
    mfr_exec_free(det->ex);
    mfr_free(det->input);
    mfr_image_free(&det->canvas);
    mfr_image_free(&det->scaled);
    free(det);
}

static int round_up(int v, int to)
{
    return (v + to - 1) / to * to;
}

int mfr_detector_run(mfr_detector *det, const mfr_image *im, mfr_face_det **dets, int *n)
{
    mfr_image rgb = {0};
    const mfr_image *src = im;
    float scale;
    int sw, sh, rc, cap = 0, count = 0;
    mfr_face_det *found = NULL;
    *dets = NULL;
    *n = 0;
    if (im->width < 1 || im->height < 1)
        return mfr_error(MFR_ERR_ARG, "empty image");
    if (im->channels != 3) {
        if ((rc = mfr_image_convert(im, 3, &rgb)) != MFR_OK)
            return rc;
        src = &rgb;
    }
    /* Letterbox: one scale factor, so that the longest side fits max_side. */
    scale = 1.0f;
    if (src->width > det->opts.max_side || src->height > det->opts.max_side)
        scale = (float)det->opts.max_side / (float)(src->width > src->height ? src->width : src->height);
    sw = (int)lroundf((float)src->width * scale);
    sh = (int)lroundf((float)src->height * scale);
    sw = sw < 1 ? 1 : sw;
    sh = sh < 1 ? 1 : sh;
    if ((rc = set_input_size(det, round_up(sw, DET_ALIGN), round_up(sh, DET_ALIGN))) != MFR_OK)
        goto done;
    memset(det->canvas.data, 128, det->canvas.stride * (size_t)det->canvas.height);
    if (sw == src->width && sh == src->height) {
        for (int y = 0; y < sh; y++)
            memcpy(mfr_image_row(&det->canvas, y), mfr_image_row(src, y), (size_t)sw * 3);
    } else {
        mfr_image_free(&det->scaled);
        if ((rc = mfr_image_alloc(&det->scaled, sw, sh, 3)) != MFR_OK ||
            (rc = mfr_image_resize_area(src, &det->scaled)) != MFR_OK)
            goto done;
        for (int y = 0; y < sh; y++)
            memcpy(mfr_image_row(&det->canvas, y), mfr_image_row(&det->scaled, y), (size_t)sw * 3);
    }
    mfr_image_to_float(&det->canvas, MFR_FACE_PIXEL_MEAN, MFR_FACE_PIXEL_SCALE, det->input);
    if ((rc = mfr_exec_forward(det->ex, det->input, 1)) != MFR_OK)
        goto done;
    for (int k = 0; k < det->n_levels; k++) {
        const det_level *lv = &det->levels[k];
        const float *s = mfr_exec_layer_output(det->ex, lv->score_layer);
        const float *b = mfr_exec_layer_output(det->ex, lv->box_layer);
        const float *l = mfr_exec_layer_output(det->ex, lv->lm_layer);
        if (!s || !b || !l) {
            rc = mfr_error(MFR_ERR_INTERNAL, "%s: a head output of stride %d was not kept", det->net->name, lv->stride);
            goto done;
        }
        if ((rc = mfr_face_decode(s, b, l, det->net_h / lv->stride, det->net_w / lv->stride, lv->stride,
                                  det->opts.score_min, &found, &count, &cap)) != MFR_OK)
            goto done;
    }
    mfr_face_nms(found, count, det->opts.nms_iou, det->opts.max_faces, &count);
    /* Back to image pixels. */
    {
        float fx = (float)src->width / (float)sw, fy = (float)src->height / (float)sh;
        for (int i = 0; i < count; i++) {
            mfr_face_det *d = &found[i];
            d->x *= fx;
            d->w *= fx;
            d->y *= fy;
            d->h *= fy;
            for (int k = 0; k < 5; k++) {
                d->lm[2 * k] *= fx;
                d->lm[2 * k + 1] *= fy;
            }
        }
    }
    *dets = found;
    *n = count;
    found = NULL;
done:
    free(found);
    mfr_image_free(&rgb);
    return rc;
}
