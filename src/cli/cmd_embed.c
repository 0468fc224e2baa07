/* mfr embed: align faces on 5 landmarks and embed them into L2-normalised vectors. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/face.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_MANIFEST = CLI_OPT_FIRST_PRIVATE, OPT_MODEL, OPT_METHOD, OPT_DETECTIONS, OPT_BATCH };

/* One manifest row: its text (to copy out), image and landmarks. */
typedef struct erow {
    char *line;        /* the row re-serialised as CSV, without newline */
    char *file;
    float lm[10];      /* NaN: unknown */
    float box[4];      /* x, y, w, h of the truth (NaN: unknown) */
    int acquired;      /* the input's own acquired column (1 if absent) */
} erow;

typedef struct edet {
    char *image;
    float score, box[4], lm[10];
} edet;

typedef struct etable {
    char *header;
    int has_acquired;
    erow *rows;
    long n, cap;
    edet *dets;
    long nd, capd;
} etable;

static void table_free(etable *t)
{
    for (long i = 0; i < t->n; i++) {
        free(t->rows[i].line);
        free(t->rows[i].file);
    }
    for (long i = 0; i < t->nd; i++)
        free(t->dets[i].image);
    free(t->rows);
    free(t->dets);
    free(t->header);
}

/* The row (or header) as CSV text. */
static char *join_fields(mfr_csv *c, int header)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&buf, &size);
    if (!fp) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int k = 0; k < mfr_csv_columns(c); k++) {
        if (k)
            fputc(',', fp);
        mfr_csv_write_field(fp, header ? mfr_csv_header(c, k) : mfr_csv_field(c, k));
    }
    if (fclose(fp) != 0) {
        free(buf);
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return buf;
}

/* Landmark columns: lm0_x..lm4_y, else mfr gen's leye_x.. names. */
static int find_landmarks(mfr_csv *c, int col[10])
{
    static const char *const alt[10] = {"leye_x", "leye_y", "reye_x", "reye_y", "nose_x",
                                        "nose_y", "mouth_l_x", "mouth_l_y", "mouth_r_x", "mouth_r_y"};
    int found = 1;
    for (int k = 0; k < 10; k++) {
        char name[16];
        snprintf(name, sizeof name, "lm%d_%c", k / 2, k % 2 ? 'y' : 'x');
        col[k] = mfr_csv_column(c, name);
        found &= col[k] >= 0;
    }
    if (found)
        return 1;
    found = 1;
    for (int k = 0; k < 10; k++) {
        col[k] = mfr_csv_column(c, alt[k]);
        found &= col[k] >= 0;
    }
    return found;
}

static float field_float(mfr_csv *c, int col)
{
    double v;
    const char *s = col >= 0 ? mfr_csv_field(c, col) : "";
    return s[0] && mfr_parse_double(s, &v) == MFR_OK ? (float)v : NAN;
}

static int read_manifest(const char *path, int need_landmarks, etable *t)
{
    mfr_csv *c;
    int rc, has, cfile, cacq, lm[10], has_lm, bx[4], corners = 0;
    if ((rc = mfr_csv_open(path, &c)) != MFR_OK)
        return rc;
    cfile = mfr_csv_column(c, "file");
    cacq = mfr_csv_column(c, "acquired");
    has_lm = find_landmarks(c, lm);
    bx[0] = mfr_csv_column(c, "box_x"), bx[1] = mfr_csv_column(c, "box_y");
    bx[2] = mfr_csv_column(c, "box_w"), bx[3] = mfr_csv_column(c, "box_h");
    if (bx[0] < 0) {
        bx[0] = mfr_csv_column(c, "box_x0"), bx[1] = mfr_csv_column(c, "box_y0");
        bx[2] = mfr_csv_column(c, "box_x1"), bx[3] = mfr_csv_column(c, "box_y1");
        corners = 1;
    }
    if (cfile < 0)
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no column 'file'", path);
    else if (need_landmarks && !has_lm)
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no landmark columns (lm0_x..lm4_y or leye_x..mouth_r_y); give "
                                       "--detections from mfr detect",
                       path);
    if (rc == MFR_OK && !(t->header = join_fields(c, 1)))
        rc = MFR_ERR_NOMEM;
    t->has_acquired = cacq >= 0;
    while (rc == MFR_OK && (rc = mfr_csv_next(c, &has)) == MFR_OK && has) {
        erow *r;
        if (t->n == t->cap) {
            long cap = t->cap ? t->cap * 2 : 256;
            erow *g = realloc(t->rows, (size_t)cap * sizeof *g);
            if (!g) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
            t->rows = g;
            t->cap = cap;
        }
        r = &t->rows[t->n];
        memset(r, 0, sizeof *r);
        r->line = join_fields(c, 0);
        r->file = mfr_strdup(mfr_csv_field(c, cfile));
        t->n++;
        if (!r->line || !r->file) {
            rc = MFR_ERR_NOMEM;
            break;
        }
        for (int k = 0; k < 10; k++)
            r->lm[k] = has_lm ? field_float(c, lm[k]) : NAN;
        for (int k = 0; k < 4; k++)
            r->box[k] = bx[k] >= 0 ? field_float(c, bx[k]) : NAN;
        if (corners) {
            r->box[2] -= r->box[0];
            r->box[3] -= r->box[1];
        }
        r->acquired = cacq < 0 || strcmp(mfr_csv_field(c, cacq), "0") != 0;
    }
    mfr_csv_close(c);
    return rc;
}

static int cmp_det(const void *a, const void *b)
{
    const edet *x = a, *y = b;
    int c = strcmp(x->image, y->image);
    if (c)
        return c;
    return (x->score < y->score) - (x->score > y->score); /* best first */
}

static int read_detections(const char *path, etable *t)
{
    mfr_csv *c;
    int rc, has, ci, cs, cb[4], lm[10];
    if ((rc = mfr_csv_open(path, &c)) != MFR_OK)
        return rc;
    ci = mfr_csv_column(c, "image");
    cs = mfr_csv_column(c, "score");
    cb[0] = mfr_csv_column(c, "x"), cb[1] = mfr_csv_column(c, "y");
    cb[2] = mfr_csv_column(c, "w"), cb[3] = mfr_csv_column(c, "h");
    if (ci < 0 || cs < 0 || cb[0] < 0 || cb[1] < 0 || cb[2] < 0 || cb[3] < 0 || !find_landmarks(c, lm))
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: not a detections file (mfr detect writes image, score, x, y, w, h, "
                                       "lm0_x..lm4_y)",
                       path);
    while (rc == MFR_OK && (rc = mfr_csv_next(c, &has)) == MFR_OK && has) {
        edet *d;
        double v;
        if (t->nd == t->capd) {
            long cap = t->capd ? t->capd * 2 : 256;
            edet *g = realloc(t->dets, (size_t)cap * sizeof *g);
            if (!g) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
            t->dets = g;
            t->capd = cap;
        }
        d = &t->dets[t->nd];
        if ((rc = mfr_csv_double(c, cs, 0, &v)) != MFR_OK)
            break;
        d->score = (float)v;
        for (int k = 0; k < 4 && rc == MFR_OK; k++)
            if ((rc = mfr_csv_double(c, cb[k], 0, &v)) == MFR_OK)
                d->box[k] = (float)v;
        for (int k = 0; k < 10 && rc == MFR_OK; k++)
            if ((rc = mfr_csv_double(c, lm[k], 0, &v)) == MFR_OK)
                d->lm[k] = (float)v;
        if (rc != MFR_OK)
            break;
        if (!(d->image = mfr_strdup(mfr_csv_field(c, ci)))) {
            rc = MFR_ERR_NOMEM;
            break;
        }
        t->nd++;
    }
    mfr_csv_close(c);
    if (rc == MFR_OK)
        qsort(t->dets, (size_t)t->nd, sizeof *t->dets, cmp_det);
    return rc;
}

static double iou_xywh(const float a[4], const float b[4])
{
    double x0 = fmax(a[0], b[0]), y0 = fmax(a[1], b[1]);
    double x1 = fmin(a[0] + a[2], b[0] + b[2]), y1 = fmin(a[1] + a[3], b[1] + b[3]);
    double in = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0, u = (double)a[2] * a[3] + (double)b[2] * b[3] - in;
    return u > 0 ? in / u : 0;
}

/* The landmarks of row i from the detections: the image's best detection when
 * it has one manifest row; with several rows (faces), the detection best
 * overlapping the row's box at IoU >= 0.5. Returns 0 when none fits. */
static int pick_detection(const etable *t, long i, float lm[10])
{
    const erow *r = &t->rows[i];
    long lo = 0, hi = t->nd, best = -1;
    int rows_of_file = 0;
    double best_iou = 0.5;
    for (long k = (i > 0 ? i - 1 : 0); k < t->n && k <= i + 1; k++)
        rows_of_file += !strcmp(t->rows[k].file, r->file);
    while (lo < hi) { /* first detection of the file */
        long mid = lo + (hi - lo) / 2;
        if (strcmp(t->dets[mid].image, r->file) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (long k = lo; k < t->nd && !strcmp(t->dets[k].image, r->file); k++) {
        if (rows_of_file <= 1 || isnan(r->box[0])) {
            best = k; /* sorted best first */
            break;
        }
        double v = iou_xywh(t->dets[k].box, r->box);
        if (v >= best_iou) {
            best_iou = v;
            best = k;
        }
    }
    if (best < 0)
        return 0;
    memcpy(lm, t->dets[best].lm, 10 * sizeof *lm);
    return 1;
}

static int embed_all(etable *t, const char *manifest, const char *model, int lbp, int use_dets, int batch,
                     const char *out, int quiet, long *failures)
{
    mfr_net *net = NULL;
    mfr_embedder *emb = NULL;
    mfr_outdir od = {0};
    mfr_afile fm = {0};
    float *rows = NULL;
    mfr_image *crops = NULL;
    uint8_t *acq = NULL;
    char *dir = mfr_strdup(manifest), *slash, *path = NULL;
    int dim = MFR_LBP_DIM, rc = MFR_OK;
    size_t bytes;
    mfr_progress bar;
    if (!dir)
        return MFR_ERR_NOMEM;
    slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        strcpy(dir, ".");
    if (!lbp) {
        if ((rc = mfr_net_load_any(model, &net)) != MFR_OK || (rc = mfr_embedder_create(net, batch, &emb)) != MFR_OK)
            goto done;
        if (mfr_embedder_size(emb) != 112) {
            rc = mfr_error(MFR_ERR_UNSUPPORTED, "%s: takes %dx%d crops; faces are aligned to 112x112", model,
                           mfr_embedder_size(emb), mfr_embedder_size(emb));
            goto done;
        }
        dim = mfr_embedder_dim(emb);
    }
    crops = calloc((size_t)batch, sizeof *crops);
    acq = calloc((size_t)(t->n > 0 ? t->n : 1), 1);
    if ((rc = mfr_size_mul((size_t)t->n, (size_t)dim * sizeof(float), &bytes)) != MFR_OK)
        goto done;
    rows = mfr_alloc(bytes);
    if (!crops || !acq || !rows) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %ld embeddings of %d values", t->n, dim);
        goto done;
    }
    *failures = 0;
    mfr_progress_begin(&bar, "embed", (uint64_t)t->n, quiet);
    for (long first = 0; first < t->n && rc == MFR_OK; first += batch) {
        long count = t->n - first < batch ? t->n - first : batch;
        int err = 0;
        char msg[512] = "";
        /* read and align in parallel; embed the batch in one forward pass */
#pragma omp parallel for schedule(dynamic, 1) num_threads(mfr_threads())
        for (long j = 0; j < count; j++) {
            erow *r = &t->rows[first + j];
            float lm[10];
            int have = r->acquired, e = MFR_OK;
            mfr_image im = {0};
            char *img = mfr_path_join(dir, r->file);
            if (have && use_dets)
                have = pick_detection(t, first + j, lm);
            else if (have) {
                memcpy(lm, r->lm, sizeof lm);
                for (int k = 0; k < 10; k++)
                    have &= isfinite(lm[k]);
            }
            if (have)
                e = img ? mfr_image_read(img, &im) : MFR_ERR_NOMEM;
            if (have && e == MFR_OK && im.channels != 3) {
                mfr_image rgb = {0};
                e = mfr_image_convert(&im, 3, &rgb);
                mfr_image_free(&im);
                im = rgb;
            }
            if (have && e == MFR_OK)
                e = mfr_align_crop(&im, lm, &crops[j]);
            if (have && e == MFR_OK && lbp)
                e = mfr_lbp_embed(&crops[j], rows + (size_t)(first + j) * (size_t)dim);
            if (!have || e != MFR_OK)
                for (int k = 0; lbp && k < dim; k++)
                    rows[(size_t)(first + j) * (size_t)dim + (size_t)k] = NAN;
            acq[first + j] = (uint8_t)(have && e == MFR_OK);
            if (e != MFR_OK) {
#pragma omp critical(mfr_embed_err)
                if (!err) {
                    err = 1;
                    snprintf(msg, sizeof msg, "%s", mfr_last_error());
                }
            }
            mfr_image_free(&im);
            free(img);
        }
        if (err)
            rc = mfr_error(MFR_ERR_IO, "%s", msg);
        if (rc == MFR_OK && !lbp)
            rc = mfr_embedder_run(emb, crops, (int)count, rows + (size_t)first * (size_t)dim);
        for (long j = 0; j < count; j++) {
            *failures += !acq[first + j];
            mfr_image_free(&crops[j]);
        }
        mfr_progress_update(&bar, (uint64_t)(first + count));
    }
    mfr_progress_end(&bar);
    if (rc != MFR_OK || (rc = mfr_outdir_begin(&od, out)) != MFR_OK)
        goto done;
    if (!(path = mfr_path_join(od.tmp, "embeddings.npy"))) {
        rc = MFR_ERR_NOMEM;
        goto done;
    }
    if ((rc = mfr_npy_write(path, rows, (size_t)t->n, (size_t)dim)) != MFR_OK)
        goto done;
    free(path);
    if (!(path = mfr_path_join(od.tmp, "manifest.csv")) || (rc = mfr_afile_open(&fm, path)) != MFR_OK) {
        rc = path ? rc : MFR_ERR_NOMEM;
        goto done;
    }
    /* The input rows in .npy order, with acquired = 0 where no face was embedded. */
    {
        int col = -1;
        if (t->has_acquired) {
            /* the column's index, from the header we re-serialised */
            mfr_csv *c;
            if ((rc = mfr_csv_open_mem(t->header, strlen(t->header), manifest, &c)) != MFR_OK)
                goto done;
            col = mfr_csv_column(c, "acquired");
            mfr_csv_close(c);
        }
        fprintf(fm.fp, "%s%s\n", t->header, t->has_acquired ? "" : ",acquired");
        for (long i = 0; i < t->n; i++) {
            if (col < 0) {
                fprintf(fm.fp, "%s,%d\n", t->rows[i].line, acq[i]);
                continue;
            }
            /* rewrite the acquired field: the row parsed alone is a header line */
            mfr_csv *c;
            if ((rc = mfr_csv_open_mem(t->rows[i].line, strlen(t->rows[i].line), "row", &c)) != MFR_OK)
                goto done;
            for (int k = 0; k < mfr_csv_columns(c); k++) {
                if (k)
                    fputc(',', fm.fp);
                if (k == col)
                    fputc(acq[i] ? '1' : '0', fm.fp);
                else
                    mfr_csv_write_field(fm.fp, mfr_csv_header(c, k));
            }
            fputc('\n', fm.fp);
            mfr_csv_close(c);
        }
    }
    if ((rc = mfr_afile_commit(&fm)) == MFR_OK)
        rc = mfr_outdir_commit(&od);
done:
    mfr_afile_abort(&fm);
    mfr_outdir_abort(&od);
    free(path);
    free(dir);
    free(crops);
    free(acq);
    mfr_free(rows);
    mfr_embedder_free(emb);
    mfr_net_free(net);
    return rc;
}

static int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"model", required_argument, NULL, OPT_MODEL},
        {"method", required_argument, NULL, OPT_METHOD},
        {"detections", required_argument, NULL, OPT_DETECTIONS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    const char *manifest = NULL, *model = NULL, *method = NULL, *dets = NULL;
    int opt, rc, batch = 32, lbp;
    long failures = 0;
    etable t;
    memset(&t, 0, sizeof t);
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("embed", opt, optarg, &common);
        long v;
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_MANIFEST: manifest = optarg; break;
        case OPT_MODEL: model = optarg; break;
        case OPT_METHOD: method = optarg; break;
        case OPT_DETECTIONS: dets = optarg; break;
        case OPT_BATCH:
            if (cli_parse_long("embed", "--batch", optarg, 1, 4096, &v) < 0)
                return CLI_USAGE;
            batch = (int)v;
            break;
        default:
            return cli_bad_option("embed", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("embed");
    if (optind < argc)
        return cli_usage_error("embed", "unexpected argument '%s'", argv[optind]);
    if (!manifest)
        return cli_usage_error("embed", "--manifest is required");
    if (!common.out)
        return cli_usage_error("embed", "--out DIR is required");
    if (method && strcmp(method, "lbp") && strcmp(method, "network"))
        return cli_usage_error("embed", "--method must be 'lbp' or 'network', not '%s'", method);
    lbp = method && !strcmp(method, "lbp");
    if (lbp && model)
        return cli_usage_error("embed", "--method lbp takes no --model");
    if (!lbp && !model)
        return cli_usage_error("embed", "give --model MODEL (or --method lbp)");
    cli_common_apply(&common);
    rc = read_manifest(manifest, !dets, &t);
    if (rc == MFR_OK && dets)
        rc = read_detections(dets, &t);
    if (rc == MFR_OK)
        rc = embed_all(&t, manifest, model, lbp, dets != NULL, batch, common.out, common.quiet, &failures);
    table_free(&t);
    if (rc != MFR_OK)
        return cli_fail_last();
    if (!common.quiet)
        printf("mfr: %ld faces embedded (%ld failures to acquire) in %s/embeddings.npy, rows in %s/manifest.csv\n",
               t.n - failures, failures, common.out, common.out);
    return CLI_OK;
}

const cli_command cli_cmd_embed = {
    "embed", cmd_embed, "align and embed faces into L2-normalised vectors",
    "usage: mfr embed --manifest DATASET/manifest.csv (--model MODEL | --method lbp) --out DIR [options]\n\n"
    "Aligns every face of a dataset manifest to the 112x112 ArcFace template (the\n"
    "least-squares similarity of its 5 landmarks) and embeds it: with an embedder\n"
    "network (a model file, or a network definition with zero weights), forward\n"
    "passes of --batch faces, or with the LBP baseline. Writes DIR/embeddings.npy\n"
    "(float32, one L2-normalised row per manifest row; a row of NaN where no face\n"
    "was acquired) and DIR/manifest.csv (the input rows in the same order, with an\n"
    "'acquired' column), so that\n"
    "  mfr eval verify --embeddings DIR/embeddings.npy --manifest DIR/manifest.csv\n"
    "                  --pairs DATASET/pairs.csv\n"
    "scores them. Landmarks are the manifest's (lm0_x..lm4_y, or mfr gen's\n"
    "leye_x..mouth_r_y), or with --detections those of 'mfr detect': the image's\n"
    "best-scoring face, or, where an image has several manifest rows, the face\n"
    "overlapping the row's box best (IoU >= 0.5); no such face is a failure to acquire.\n\n"
    "options:\n"
    "  --manifest FILE     the dataset (images relative to the manifest's folder)\n"
    "  --model MODEL       embedder network (one 112x112x3 input, one output)\n"
    "  --method lbp        uniform LBP histograms instead (2891 values)\n"
    "  --detections FILE   landmarks from mfr detect's detections.csv\n"
    "  --batch N           faces per forward pass (default 32)\n"
    "  --threads N, -o/--out DIR, -q/--quiet\n",
};
