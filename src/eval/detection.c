/* Detection metrics: AP with all-point interpolation (PASCAL VOC 2010+,
 * WIDER FACE), AP averaged over IoU 0.50:0.05:0.95 (COCO), per size class and
 * mask state, recall at fixed false positives per image, and the normalised
 * mean error of the five landmarks. */
#include "config.h"
#include "eval/eval_internal.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NLM 5

void mfr_detect_opts_default(mfr_detect_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mask_col = NULL; /* "mask_type" if the truth has it, else "mask" */
    o->level = 0.95;
    o->label = "system";
}

double mfr_iou(const float a[4], const float b[4])
{
    double x0 = fmax(a[0], b[0]), y0 = fmax(a[1], b[1]);
    double x1 = fmin((double)a[0] + a[2], (double)b[0] + b[2]), y1 = fmin((double)a[1] + a[3], (double)b[1] + b[3]);
    double inter = (x1 > x0 && y1 > y0) ? (x1 - x0) * (y1 - y0) : 0.0;
    double uni = (double)a[2] * a[3] + (double)b[2] * b[3] - inter;
    return uni > 0 ? inter / uni : 0.0;
}

double mfr_average_precision(const uint8_t *tp, size_t n, uint64_t npos)
{
    double *prec, ap = 0, prev_r = 0;
    uint64_t ctp = 0;
    if (npos == 0)
        return NAN;
    if (n == 0)
        return 0.0;
    prec = malloc(n * sizeof *prec);
    if (!prec)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        ctp += tp[i] ? 1 : 0;
        prec[i] = (double)ctp / (double)(i + 1);
    }
    /* The precision envelope: the best precision at this recall or beyond. */
    for (size_t i = n - 1; i-- > 0;)
        if (prec[i] < prec[i + 1])
            prec[i] = prec[i + 1];
    ctp = 0;
    for (size_t i = 0; i < n; i++)
        if (tp[i]) {
            double r = (double)++ctp / (double)npos;
            ap += (r - prev_r) * prec[i];
            prev_r = r;
        }
    free(prec);
    return ap;
}

typedef struct truth {
    int image;
    float box[4];
    float lm[2 * NLM];
    int has_lm;
    int mask;     /* index into the mask values, -1 if none */
    int size;     /* size class from the truth's size_class column: 0 easy, 1 medium, 2 hard; -1 absent */
} truth;

typedef struct det {
    int image;
    double score;
    float box[4];
    float lm[2 * NLM];
    int has_lm;
    size_t order;
} det;

static int cmp_det(const void *x, const void *y)
{
    const det *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

typedef struct subset {
    const char *name;
    float hmin, hmax;   /* truth (and unmatched detection) height range */
    int size;           /* size class (-1: any); a truth's own size_class wins over its height */
    int mask;           /* -1: any */
} subset;

static int in_subset(const truth *b, const subset *s)
{
    int size_ok = b->size >= 0 && s->size >= 0 ? b->size == s->size : b->box[3] >= s->hmin && b->box[3] < s->hmax;
    return size_ok && (s->mask < 0 || b->mask == s->mask);
}

/* Greedy VOC matching at one IoU: each detection, best score first, goes to
 * the truth of its image with the highest IoU; if that truth is matched
 * already, or IoU < thr, the detection is a false positive. In
 * a subset, a detection whose best truth lies outside the subset is ignored,
 * and an unmatched detection outside the height range is ignored. Writes
 * tp flags of the kept detections; returns their count. */
static size_t match(const det *d, size_t nd, const truth *t, const size_t *first, const size_t *count, double thr,
                    const subset *s, uint8_t *matched, uint8_t *tp, int *match_of)
{
    size_t kept = 0;
    for (size_t i = 0; i < nd; i++) {
        size_t t0 = first[d[i].image], tn = count[d[i].image], best = (size_t)-1;
        double bi = -1;
        for (size_t k = t0; k < t0 + tn; k++) {
            double v = mfr_iou(d[i].box, t[k].box);
            if (v > bi) {
                bi = v;
                best = k;
            }
        }
        if (match_of)
            match_of[i] = -1;
        if (best != (size_t)-1 && bi >= thr) {
            const truth *b = &t[best];
            if (!in_subset(b, s))
                continue;
            if (!matched[best]) {
                matched[best] = 1;
                tp[kept++] = 1;
                if (match_of)
                    match_of[i] = (int)best;
            } else {
                tp[kept++] = 0;
            }
            continue;
        }
        if (d[i].box[3] < s->hmin || d[i].box[3] >= s->hmax)
            continue;
        tp[kept++] = 0;
    }
    return kept;
}

static int read_floats(mfr_csv *c, const int *cols, int n, float *out)
{
    for (int k = 0; k < n; k++) {
        double v;
        int rc = mfr_csv_double(c, cols[k], 0, &v);
        if (rc != MFR_OK)
            return rc;
        out[k] = (float)v;
    }
    return MFR_OK;
}

/* Column indices of a box (x, y, w, h, or the corners x0, y0, x1, y1) and
 * of the 5 landmarks under either naming. */
typedef struct colset {
    int box[4];
    int corners;      /* box[] are x0, y0, x1, y1 */
    int lm[2 * NLM];
    int has_lm;
} colset;

static const char *const LM_A[2 * NLM] = {"lm0_x", "lm0_y", "lm1_x", "lm1_y", "lm2_x",
                                          "lm2_y", "lm3_x", "lm3_y", "lm4_x", "lm4_y"};
static const char *const LM_B[2 * NLM] = {"leye_x", "leye_y", "reye_x", "reye_y", "nose_x",
                                          "nose_y", "mouth_l_x", "mouth_l_y", "mouth_r_x", "mouth_r_y"};

static int find_set(int (*find)(const void *, const char *), const void *src, const char *const *names, int n,
                    int *out)
{
    for (int k = 0; k < n; k++)
        if ((out[k] = find(src, names[k])) < 0)
            return 0;
    return 1;
}

static int find_cols(int (*find)(const void *, const char *), const void *src, const char *const xywh[4],
                     const char *const corners[4], colset *c)
{
    c->corners = 0;
    if (!find_set(find, src, xywh, 4, c->box)) {
        if (!find_set(find, src, corners, 4, c->box))
            return 0;
        c->corners = 1;
    }
    c->has_lm = find_set(find, src, LM_A, 2 * NLM, c->lm) || find_set(find, src, LM_B, 2 * NLM, c->lm);
    return 1;
}

static void to_xywh(float b[4], int corners)
{
    if (corners) {
        b[2] -= b[0];
        b[3] -= b[1];
    }
}

static int find_manifest(const void *m, const char *name) { return manifest_col(m, name); }
static int find_csv(const void *c, const char *name) { return mfr_csv_column(c, name); }

static const char *const TRUTH_XYWH[4] = {"box_x", "box_y", "box_w", "box_h"};
static const char *const TRUTH_CORNERS[4] = {"box_x0", "box_y0", "box_x1", "box_y1"};
static const char *const PRED_XYWH[4] = {"x", "y", "w", "h"};
static const char *const PRED_CORNERS[4] = {"x0", "y0", "x1", "y1"};

/* The truth table: `faces` if given; else the manifest itself when it has box
 * columns; else faces.csv beside it (mfr gen's scene datasets). */
static int load_truth_table(const char *mpath, const manifest *m, const char *faces, manifest *tm, int *own)
{
    colset c;
    char *dir, *slash, *alt;
    int rc;
    *own = 0;
    if (faces) {
        *own = 1;
        return manifest_load(faces, tm);
    }
    if (find_cols(find_manifest, m, TRUTH_XYWH, TRUTH_CORNERS, &c)) {
        *tm = *m;
        return MFR_OK;
    }
    if (!(dir = mfr_strdup(mpath)))
        return MFR_ERR_NOMEM;
    slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    alt = mfr_path_join(*dir ? dir : ".", "faces.csv");
    free(dir);
    if (!alt)
        return MFR_ERR_NOMEM;
    if (access(alt, R_OK) != 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no face boxes (box_x,box_y,box_w,box_h or box_x0,box_y0,box_x1,"
                       "box_y1) and no faces.csv beside it; give --faces FILE", mpath);
        free(alt);
        return rc;
    }
    *own = 1;
    rc = manifest_load(alt, tm);
    free(alt);
    return rc;
}

int mfr_eval_detect(const char *ppath, const char *mpath, const mfr_detect_opts *o, const char *out)
{
    manifest m, tm;
    strtab images = {0}, masks = {0};
    truth *t = NULL;
    det *d = NULL;
    size_t nt = 0, nd = 0, capd = 0, *first = NULL, *count = NULL;
    uint8_t *matched = NULL, *tp = NULL;
    int *match_of = NULL;
    int rc, cfile, tfile, cmask, csize, own_tm = 0;
    const char *mask_col;
    colset tc;
    mfr_csv *csv = NULL;
    mfr_outdir od = {0};
    memset(&tm, 0, sizeof tm);
    if ((rc = manifest_load(mpath, &m)) != MFR_OK)
        return rc;
    if ((cfile = manifest_col(&m, "file")) < 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no 'file' column", mpath);
        goto done;
    }
    for (size_t i = 0; i < m.n; i++)
        if (strtab_id(&images, m.cells[cfile][i]) < 0) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
    if ((rc = load_truth_table(mpath, &m, o->faces, &tm, &own_tm)) != MFR_OK)
        goto done;
    tfile = manifest_col(&tm, "file");
    if (tfile < 0 || !find_cols(find_manifest, &tm, TRUTH_XYWH, TRUTH_CORNERS, &tc)) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: detection truth needs columns file and box_x, box_y, box_w, box_h "
                       "(or box_x0, box_y0, box_x1, box_y1)", tm.path);
        goto done;
    }
    mask_col = o->mask_col ? o->mask_col : manifest_col(&tm, "mask_type") >= 0 ? "mask_type" : "mask";
    cmask = manifest_col(&tm, mask_col);
    csize = manifest_col(&tm, "size_class");
    /* Truth: one row per face (rows of one file are its faces; a row with an
     * empty box is an image without a face). */
    t = calloc(tm.n + 1, sizeof *t);
    if (!t) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < tm.n; i++) {
        int img = strtab_find(&images, tm.cells[tfile][i]);
        double v[4];
        if (img < 0) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: row %zu: file '%s' is not in the manifest %s", tm.path, i + 1,
                           tm.cells[tfile][i], mpath);
            goto done;
        }
        if (!*tm.cells[tc.box[0]][i])
            continue;
        for (int k = 0; k < 4; k++)
            if (mfr_parse_double(tm.cells[tc.box[k]][i], &v[k]) != MFR_OK || !isfinite(v[k])) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: row %zu: column %s: '%s' is not a number", tm.path, i + 1,
                               tm.names[tc.box[k]], tm.cells[tc.box[k]][i]);
                goto done;
            }
        t[nt].image = img;
        for (int k = 0; k < 4; k++)
            t[nt].box[k] = (float)v[k];
        to_xywh(t[nt].box, tc.corners);
        if (!(t[nt].box[2] >= 0 && t[nt].box[3] >= 0)) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: row %zu: a box of negative size", tm.path, i + 1);
            goto done;
        }
        t[nt].mask = cmask >= 0 ? strtab_id(&masks, tm.cells[cmask][i]) : -1;
        t[nt].size = -1;
        if (csize >= 0) {
            const char *sc = tm.cells[csize][i];
            t[nt].size = !strcmp(sc, "easy") ? 0 : !strcmp(sc, "medium") ? 1 : !strcmp(sc, "hard") ? 2 : -1;
        }
        t[nt].has_lm = tc.has_lm;
        for (int k = 0; tc.has_lm && k < 2 * NLM; k++) {
            double x;
            if (mfr_parse_double(tm.cells[tc.lm[k]][i], &x) != MFR_OK) {
                t[nt].has_lm = 0;
                break;
            }
            t[nt].lm[k] = (float)x;
        }
        nt++;
    }
    {
        /* Stable sort of truths by image: counting sort. */
        truth *s = malloc((nt + 1) * sizeof *s);
        first = calloc((size_t)images.n + 1, sizeof *first);
        count = calloc((size_t)images.n + 1, sizeof *count);
        if (!s || !first || !count) {
            free(s);
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nt; i++)
            count[t[i].image]++;
        for (int k = 1; k <= images.n; k++)
            first[k] = first[k - 1] + count[k - 1];
        {
            size_t *pos = calloc((size_t)images.n + 1, sizeof *pos);
            if (!pos) {
                free(s);
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                goto done;
            }
            for (size_t i = 0; i < nt; i++)
                s[first[t[i].image] + pos[t[i].image]++] = t[i];
            free(pos);
        }
        free(t);
        t = s;
    }
    /* Predictions. */
    if ((rc = mfr_csv_open(ppath, &csv)) != MFR_OK)
        goto done;
    {
        int cimg = mfr_csv_column(csv, "image"), cs = mfr_csv_column(csv, "score"), has;
        colset pc;
        int have_box = find_cols(find_csv, csv, PRED_XYWH, PRED_CORNERS, &pc);
        if (cimg < 0)
            cimg = mfr_csv_column(csv, "file");
        if (cimg < 0 || cs < 0 || !have_box) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s:1: predictions need columns image, score and x, y, w, h (or x0, y0, "
                           "x1, y1)", ppath);
            goto done;
        }
        while ((rc = mfr_csv_next(csv, &has)) == MFR_OK && has) {
            det *x;
            int img = strtab_find(&images, mfr_csv_field(csv, cimg));
            if (img < 0) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%ld: image '%s' is not in the manifest %s", ppath,
                               mfr_csv_line(csv), mfr_csv_field(csv, cimg), mpath);
                break;
            }
            if (nd == capd) {
                size_t cap = capd ? capd * 2 : 1024;
                det *g = realloc(d, cap * sizeof *g);
                if (!g || cap > 100000000u) {
                    rc = mfr_error(MFR_ERR_NOMEM, "%s:%ld: out of memory or too many detections", ppath,
                                   mfr_csv_line(csv));
                    break;
                }
                d = g;
                capd = cap;
            }
            x = &d[nd];
            memset(x, 0, sizeof *x);
            x->image = img;
            x->order = nd;
            if ((rc = mfr_csv_double(csv, cs, 0, &x->score)) != MFR_OK || (rc = read_floats(csv, pc.box, 4, x->box)) != MFR_OK)
                break;
            to_xywh(x->box, pc.corners);
            if (!isfinite(x->score) || !(x->box[2] >= 0) || !(x->box[3] >= 0)) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%ld: a non-finite score or a negative box size", ppath,
                               mfr_csv_line(csv));
                break;
            }
            if (pc.has_lm) {
                if ((rc = read_floats(csv, pc.lm, 2 * NLM, x->lm)) != MFR_OK)
                    break;
                x->has_lm = 1;
            }
            nd++;
        }
        if (rc != MFR_OK)
            goto done;
    }
    qsort(d, nd, sizeof *d, cmp_det);
    matched = calloc(nt + 1, 1);
    tp = malloc(nd + 1);
    match_of = malloc((nd + 1) * sizeof *match_of);
    if (!matched || !tp || !match_of) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        mfr_afile fj = {0}, ft = {0}, fp = {0};
        jw w;
        subset subs[4 + 16];
        char mask_names[4 + 16][128];
        int ns = 0;
        subset all = {"all", -INFINITY, INFINITY, -1, -1};
        double fppi[] = {0.01, 0.1, 1.0};
        if ((rc = mfr_outdir_begin(&od, out)) != MFR_OK)
            goto done;
        if ((rc = out_open(&fj, od.tmp, "results.json")) != MFR_OK || (rc = out_open(&ft, od.tmp, "results.tsv")) != MFR_OK ||
            (rc = out_open(&fp, od.tmp, "pr.csv")) != MFR_OK) {
            mfr_afile_abort(&fj), mfr_afile_abort(&ft), mfr_afile_abort(&fp);
            goto done;
        }
        subs[ns++] = all;
        subs[ns++] = (subset){"easy", 64, INFINITY, 0, -1};
        subs[ns++] = (subset){"medium", 24, 64, 1, -1};
        subs[ns++] = (subset){"hard", -INFINITY, 24, 2, -1};
        for (int k = 0; k < masks.n && ns < (int)(sizeof subs / sizeof *subs); k++) {
            snprintf(mask_names[ns], sizeof mask_names[0], "%s=%s", mask_col, masks.s[k]);
            subs[ns] = (subset){mask_names[ns], -INFINITY, INFINITY, -1, k};
            ns++;
        }
        jw_begin(&w, fj.fp, ft.fp);
        jw_str(&w, "kind", "detect");
        jw_str(&w, "label", o->label);
        jw_str(&w, "mfr_version", mfr_build()->version);
        jw_obj(&w, "detect");
        jw_obj(&w, "definitions");
        jw_str(&w, "ap50", "average precision at IoU >= 0.5, all-point interpolation (VOC 2010+, WIDER FACE); "
                           "greedy matching by descending score, each detection to its highest-IoU truth");
        jw_str(&w, "ap50_95", "mean AP over IoU thresholds 0.50, 0.55, ..., 0.95 (COCO)");
        jw_str(&w, "size_classes", "the truth's size_class column (mfr gen) if present, else by box height h in "
                                   "pixels: easy h >= 64, medium 24 <= h < 64, hard h < 24; detections matching "
                                   "truths of other classes, and unmatched detections outside the class's height "
                                   "range, are ignored");
        jw_str(&w, "mask_subsets", "truths of one mask state; detections matching other truths are ignored, "
                                   "unmatched detections count as false positives");
        jw_str(&w, "recall_at_fppi", "recall at the lowest score threshold with false positives / images <= v");
        jw_str(&w, "nme", "landmark normalised mean error: mean over the 5 points of the Euclidean error divided "
                          "by the inter-ocular distance |lm0 - lm1| of the truth, over truths matched at IoU 0.5");
        jw_end(&w);
        jw_int(&w, "images", (uint64_t)images.n);
        jw_int(&w, "faces", nt);
        jw_int(&w, "detections", nd);
        jw_obj(&w, "subsets");
        for (int si = 0; si < ns; si++) {
            uint64_t npos = 0;
            double ap50 = NAN, apsum = 0;
            int nap = 0;
            for (size_t k = 0; k < nt; k++)
                npos += in_subset(&t[k], &subs[si]);
            for (int q = 0; q < 10; q++) {
                double thr = 0.5 + 0.05 * q, ap;
                size_t kept;
                memset(matched, 0, nt + 1);
                kept = match(d, nd, t, first, count, thr - 1e-12, &subs[si], matched, tp, NULL);
                ap = mfr_average_precision(tp, kept, npos);
                if (q == 0)
                    ap50 = ap;
                if (!isnan(ap)) {
                    apsum += ap;
                    nap++;
                }
            }
            jw_obj(&w, subs[si].name);
            jw_int(&w, "faces", npos);
            jw_num(&w, "ap50", ap50);
            jw_num(&w, "ap50_95", nap == 10 ? apsum / 10 : NAN);
            jw_end(&w);
        }
        jw_end(&w);
        /* Overall at IoU 0.5: PR curve, recall at FPPI, landmark NME. */
        {
            size_t kept;
            uint64_t ctp = 0, cfp = 0;
            double *nme = malloc((nt + 1) * sizeof *nme);
            size_t nn = 0;
            memset(matched, 0, nt + 1);
            kept = match(d, nd, t, first, count, 0.5 - 1e-12, &all, matched, tp, match_of);
            fprintf(fp.fp, "score,recall,precision,fp_per_image\n");
            jw_obj(&w, "recall_at_fppi");
            for (int f = 0; f < 3; f++) {
                uint64_t c_tp = 0, c_fp = 0, best = 0;
                char name[32];
                for (size_t i = 0; i < kept; i++) {
                    if (tp[i])
                        c_tp++;
                    else
                        c_fp++;
                    if ((double)c_fp <= fppi[f] * images.n)
                        best = c_tp;
                }
                snprintf(name, sizeof name, "%g", fppi[f]);
                jw_num(&w, name, nt ? (double)best / (double)nt : NAN);
            }
            jw_end(&w);
            for (size_t i = 0; i < kept; i++) {
                if (tp[i])
                    ctp++;
                else
                    cfp++;
                fprintf(fp.fp, "%.9g,%.9g,%.9g,%.9g\n", d[i].score, nt ? (double)ctp / (double)nt : NAN,
                        (double)ctp / (double)(i + 1), images.n ? (double)cfp / images.n : NAN);
            }
            if (nme) {
                for (size_t i = 0; i < nd; i++) {
                    const truth *tr;
                    double iod, e = 0;
                    if (match_of[i] < 0 || !d[i].has_lm)
                        continue;
                    tr = &t[match_of[i]];
                    if (!tr->has_lm)
                        continue;
                    iod = hypot(tr->lm[0] - tr->lm[2], tr->lm[1] - tr->lm[3]);
                    if (!(iod > 0))
                        continue;
                    for (int k = 0; k < NLM; k++)
                        e += hypot(d[i].lm[2 * k] - tr->lm[2 * k], d[i].lm[2 * k + 1] - tr->lm[2 * k + 1]);
                    nme[nn++] = e / NLM / iod;
                }
                {
                    double s = 0;
                    for (size_t i = 0; i < nn; i++)
                        s += nme[i];
                    jw_obj(&w, "landmarks");
                    jw_int(&w, "faces", nn);
                    jw_num(&w, "nme", nn ? s / (double)nn : NAN);
                    jw_end(&w);
                }
                free(nme);
            }
        }
        jw_end(&w);
        jw_finish(&w);
        if ((rc = mfr_afile_commit(&fj)) != MFR_OK || (rc = mfr_afile_commit(&ft)) != MFR_OK ||
            (rc = mfr_afile_commit(&fp)) != MFR_OK) {
            mfr_afile_abort(&fj), mfr_afile_abort(&ft), mfr_afile_abort(&fp);
            goto done;
        }
        rc = mfr_outdir_commit(&od);
    }
done:
    if (rc != MFR_OK)
        mfr_outdir_abort(&od);
    if (csv)
        mfr_csv_close(csv);
    free(t), free(d), free(first), free(count), free(matched), free(tp), free(match_of);
    strtab_free(&images);
    strtab_free(&masks);
    if (own_tm)
        manifest_free(&tm);
    manifest_free(&m);
    return rc;
}
