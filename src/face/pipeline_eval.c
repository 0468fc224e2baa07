/* `mfr run`, the scoring stage: writes the manifest, embeddings, detections
 * and timings of the streaming stage, scores them with the eval library
 * (verification, identification, detection, latency, report) and writes
 * results.json (deterministic) and summary.txt (with timings). */
#include "config.h"
#include "face/pipeline.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_label(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    size_t n = 0;
    base = base ? base + 1 : path;
    for (const char *p = base; *p && *p != '.' && n + 1 < size; p++)
        out[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                                  *p == '-' || *p == '_'
                              ? *p
                              : '_');
    if (n == 0 && size > 1)
        out[n++] = 'x';
    out[n] = '\0';
}

/* ------------------------------------------------------------ text output */

/* A growing string for the summary. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) MFR_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int need;
    if (b->failed)
        return;
    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || (b->n + (size_t)need + 1 > b->cap)) {
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)(need > 0 ? need : 0);
        char *s = need < 0 ? NULL : realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* A number for JSON: %.12g, non-finite values as null. */
static void json_num(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, "%.12g", v);
    else
        fputs("null", fp);
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(fp, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(fp, "\\u%04x", (unsigned)*s);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

/* A value from an eval directory's results.tsv ("path<TAB>value"); NaN when
 * absent or null. */
static double tsv_get(const char *dir, const char *key)
{
    char *path = mfr_path_join(dir, "results.tsv");
    void *data = NULL;
    size_t size = 0, klen = strlen(key);
    double v = NAN;
    if (path && mfr_read_file(path, (size_t)64 << 20, &data, &size) == MFR_OK) {
        const char *p = data;
        while (p && *p) {
            const char *nl = strchr(p, '\n');
            if (!strncmp(p, key, klen) && p[klen] == '\t') {
                char buf[64];
                size_t len = (size_t)((nl ? nl : p + strlen(p)) - (p + klen + 1));
                if (len < sizeof buf) {
                    memcpy(buf, p + klen + 1, len);
                    buf[len] = '\0';
                    if (mfr_parse_double(buf, &v) != MFR_OK)
                        v = NAN;
                }
                break;
            }
            p = nl ? nl + 1 : NULL;
        }
    }
    mfr_clear_error();
    free(data);
    free(path);
    return v;
}

/* ----------------------------------------------------------------- files */

static int open_out(mfr_afile *f, const run_state *st, const char *name)
{
    char *path = mfr_path_join(st->tmp, name);
    int rc = path ? mfr_afile_open(f, path) : MFR_ERR_NOMEM;
    free(path);
    return rc;
}

static const char *size_name(int c)
{
    static const char *const names[] = {"easy", "medium", "hard"};
    return c >= 0 && c < 3 ? names[c] : "";
}

static void write_mask_columns(FILE *fp, const mfr_mask *m)
{
    char label[64];
    int masked = m->type != MFR_MASK_NONE;
    mfr_mask_label(m, label, sizeof label);
    fprintf(fp, "%s,%s,%s,%s,%s", label, mfr_mask_type_name(m->type), masked ? mfr_mask_shape_name(m->shape) : "none",
            masked ? mfr_mask_coverage_name(m->coverage) : "none", masked ? mfr_mask_color_name(m->color) : "none");
}

static void write_truth_columns(FILE *fp, const float box[4], const float lm[10], int size_class)
{
    fprintf(fp, "%.2f,%.2f,%.2f,%.2f", box[0], box[1], box[2] - box[0], box[3] - box[1]);
    for (int k = 0; k < 10; k++)
        fprintf(fp, ",%.2f", lm[k]);
    fprintf(fp, ",%s", size_name(size_class));
}

/* manifest.csv: one row per verification image, in .npy row order. */
static int write_manifest(const run_state *st)
{
    mfr_afile f = {0};
    int rc = open_out(&f, st, "manifest.csv");
    if (rc != MFR_OK)
        return rc;
    fprintf(f.fp, "file,index,identity,split,capture,mask,mask_type,mask_shape,mask_coverage,mask_color,acquired,"
                  "det_score,yaw,pitch,roll,box_x,box_y,box_w,box_h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,"
                  "lm4_x,lm4_y,size_class\n");
    for (long i = 0; i < st->n_items; i++) {
        const run_item *it = &st->items[i];
        fprintf(f.fp, "images/%07ld.png,%ld,%ld,%s,%d,", i, i, it->identity, mfr_split_name(it->split), it->capture);
        write_mask_columns(f.fp, &it->mask);
        fprintf(f.fp, ",%d,", it->acquired);
        if (isfinite(it->det_score))
            fprintf(f.fp, "%.6g", it->det_score);
        fprintf(f.fp, ",%.2f,%.2f,%.2f,", it->truth.yaw, it->truth.pitch, it->truth.roll);
        write_truth_columns(f.fp, it->truth.box, it->truth.lm, it->truth.size_class);
        fputc('\n', f.fp);
    }
    rc = mfr_afile_commit(&f);
    mfr_afile_abort(&f);
    return rc;
}

static void write_det(FILE *fp, const char *file, const mfr_face_det *d, int k)
{
    fprintf(fp, "%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g", file, k, d->score, d->x, d->y, d->w, d->h);
    for (int j = 0; j < 10; j++)
        fprintf(fp, ",%.6g", d->lm[j]);
    fputc('\n', fp);
}

/* detections.csv (mfr detect's format) and faces.csv (the truth, one row per
 * face, an empty row for an image without faces), for mfr eval detect. */
static int write_detection_files(const run_state *st)
{
    mfr_afile fd = {0}, ft = {0};
    char file[48];
    int rc = open_out(&fd, st, "detections.csv");
    if (rc == MFR_OK)
        rc = open_out(&ft, st, "faces.csv");
    if (rc != MFR_OK) {
        mfr_afile_abort(&fd);
        return rc;
    }
    fprintf(fd.fp, "image,face,score,x,y,w,h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,lm4_x,lm4_y\n");
    fprintf(ft.fp, "file,face,mask_type,box_x,box_y,box_w,box_h,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,"
                   "lm4_x,lm4_y,size_class\n");
    for (long i = 0; i < st->n_items; i++) {
        const run_item *it = &st->items[i];
        snprintf(file, sizeof file, "images/%07ld.png", i);
        for (int k = 0; k < it->ndet; k++)
            write_det(fd.fp, file, &it->dets[k], k);
        fprintf(ft.fp, "%s,0,%s,", file, mfr_mask_type_name(it->mask.type));
        write_truth_columns(ft.fp, it->truth.box, it->truth.lm, it->truth.size_class);
        fputc('\n', ft.fp);
    }
    for (long j = 0; j < st->n_scenes; j++) {
        const run_scene *sc = &st->scene[j];
        snprintf(file, sizeof file, "scenes/%07ld.png", j);
        for (int k = 0; k < sc->ndet; k++)
            write_det(fd.fp, file, &sc->dets[k], k);
        for (int k = 0; k < sc->nfaces; k++) {
            fprintf(ft.fp, "%s,%d,%s,", file, k, mfr_mask_type_name(sc->faces[k].mask_type));
            write_truth_columns(ft.fp, sc->faces[k].box, sc->faces[k].lm, sc->faces[k].size_class);
            fputc('\n', ft.fp);
        }
        if (sc->nfaces == 0)
            fprintf(ft.fp, "%s,,,,,,,,,,,,,,,,,\n", file);
    }
    rc = mfr_afile_commit(&fd);
    if (rc == MFR_OK)
        rc = mfr_afile_commit(&ft);
    mfr_afile_abort(&fd);
    mfr_afile_abort(&ft);
    return rc;
}

/* timings.csv: one row per image, one column per stage (ms), for mfr eval latency. */
static int write_timings(const run_state *st, char **names)
{
    mfr_afile f = {0};
    long total = st->n_items + st->n_scenes;
    int used[ST_FIXED + 2 * (MFR_RUN_MAX_EMBEDDERS + 1)] = {0};
    int rc = open_out(&f, st, "timings.csv");
    if (rc != MFR_OK)
        return rc;
    /* a stage that never ran (detect with true landmarks) gets no column */
    for (long i = 0; i < total; i++)
        for (int s = 0; s < st->n_stages; s++)
            used[s] |= isfinite(st->ms[(size_t)i * (size_t)st->n_stages + (size_t)s]);
    fprintf(f.fp, "image,threads,batch");
    for (int s = 0; s < st->n_stages; s++)
        if (used[s])
            fprintf(f.fp, ",%s", names[s]);
    fputc('\n', f.fp);
    for (long i = 0; i < total; i++) {
        const double *ms = st->ms + (size_t)i * (size_t)st->n_stages;
        if (i < st->n_items)
            fprintf(f.fp, "images/%07ld.png", i);
        else
            fprintf(f.fp, "scenes/%07ld.png", i - st->n_items);
        fprintf(f.fp, ",%d,%d", st->threads, st->o->batch);
        for (int s = 0; s < st->n_stages; s++) {
            if (!used[s])
                continue;
            fputc(',', f.fp);
            if (isfinite(ms[s]))
                fprintf(f.fp, "%.6f", ms[s]);
        }
        fputc('\n', f.fp);
    }
    rc = mfr_afile_commit(&f);
    mfr_afile_abort(&f);
    return rc;
}

/* ------------------------------------------------------------- comparing */

/* Dot product with 8 partial sums in a fixed order (vectorisable, and the
 * same at any thread count). */
static float dot8(const float *a, const float *b, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * b[i + k];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* The compare stage's latency: each probe searched against the whole
 * enrolment gallery (one dot product per template), timed per probe. The
 * scores themselves are computed again by the eval library. */
static void time_compare(run_state *st, const long *gal, long ng, int k, int stage)
{
    const run_system *sy = &st->sys[k];
#pragma omp parallel for schedule(dynamic, 16) num_threads(mfr_threads())
    for (long i = 0; i < st->n_items; i++) {
        const float *p = sy->rows + (size_t)i * (size_t)sy->dim;
        float best = -INFINITY;
        uint64_t t0;
        if (st->items[i].split != MFR_SPLIT_PROBE || !st->items[i].acquired)
            continue;
        t0 = mfr_time_ns();
        for (long g = 0; g < ng; g++) {
            float s = dot8(p, sy->rows + (size_t)gal[g] * (size_t)sy->dim, sy->dim);
            best = s > best ? s : best;
        }
        st->ms[(size_t)i * (size_t)st->n_stages + (size_t)stage] = (double)(mfr_time_ns() - t0) * 1e-6;
        {
            volatile float sink = best; /* keeps the search from being optimised away */
            (void)sink;
        }
    }
}

/* ----------------------------------------------------------- the NIST table */

/* A column of the printed table: mask types, the NIST type split by nose coverage. */
#define MAX_COLS 24
typedef struct table_col {
    char name[32];
    uint32_t *mk, *nk;       /* keys gathered from the groups */
    size_t nmk, nnk;
    mfr_dist mated, nonmated;
    uint64_t fta_m, fta_n;
    mfr_verify_point pt;
} table_col;

static void column_name(const char *label, char *out, size_t size)
{
    /* labels: "none" or "type-shape-coverage-colour" */
    char type[32] = "", shape[32] = "", cov[32] = "";
    if (sscanf(label, "%31[^-]-%31[^-]-%31[^-]", type, shape, cov) == 3 && !strcmp(type, "nist"))
        snprintf(out, size, "nist-%s", cov);
    else
        snprintf(out, size, "%s", type[0] ? type : label);
}

/* Rank of a column name in the printed order: none, nist-high/medium/low, then mask types. */
static int column_rank(const char *name)
{
    if (!strcmp(name, "none"))
        return 0;
    if (!strncmp(name, "nist-", 5)) {
        int c = mfr_mask_coverage_find(name + 5);
        return 1 + (c >= 0 ? c : MFR_COVER_COUNT);
    }
    int t = mfr_mask_type_find(name);
    return 10 + (t >= 0 ? t : MFR_MASK_TYPE_COUNT);
}

typedef struct sys_result {
    int supported;           /* the reference group supports the target FMR */
    uint64_t ref_nonmated;
    float threshold;
    int ncols;
    table_col cols[MAX_COLS];
    mfr_verify_stats overall;
    mfr_verify_point at_thr; /* overall at the NIST threshold */
    double rank1, rank1_unmasked;
} sys_result;

static int append_keys(uint32_t **keys, size_t *n, const mfr_dist *src)
{
    uint32_t *k;
    if (src->nkeys == 0)
        return MFR_OK;
    if (src->nkeys != src->n)
        return mfr_error(MFR_ERR_INTERNAL, "run: a verification group is not in exact mode");
    k = realloc(*keys, (*n + src->nkeys) * sizeof *k);
    if (!k)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    memcpy(k + *n, src->keys, src->nkeys * sizeof *k);
    *keys = k;
    *n += src->nkeys;
    return MFR_OK;
}

/* The NIST table of one system from its verification set: the threshold on
 * the unmasked (none:none) non-mated comparisons at the target FMR, then FNMR
 * per column over the groups none:<probe mask> that map to it. */
static int nist_table(const mfr_vset *vs, const mfr_verify_opts *vo, sys_result *r)
{
    int rc, ng = mfr_vset_groups(vs), ref = mfr_vset_find(vs, "mask_pair=none:none");
    mfr_verify_point refpt;
    memset(r, 0, sizeof *r);
    r->threshold = NAN;
    if ((rc = mfr_vset_stats(vs, 0, vo, &r->overall)) != MFR_OK)
        return rc;
    if (ref < 0)
        return mfr_error(MFR_ERR_INTERNAL, "run: no unmasked comparisons (group mask_pair=none:none)");
    r->ref_nonmated = mfr_vset_nonmated(vs, ref)->n;
    if ((rc = mfr_verify_at_fmr(mfr_vset_mated(vs, ref), mfr_vset_nonmated(vs, ref), vo->nist_fmr, vo->level, 0, 0,
                                &refpt)) != MFR_OK)
        return rc;
    r->supported = refpt.supported;
    if (r->supported)
        r->threshold = refpt.threshold;
    /* gather the groups into columns */
    for (int g = 1; g < ng; g++) {
        const char *name = mfr_vset_group_name(vs, g);
        char col[32];
        int c;
        mfr_verify_stats gs;
        if (strncmp(name, "mask_pair=none:", 15))
            continue;
        column_name(name + 15, col, sizeof col);
        for (c = 0; c < r->ncols && strcmp(r->cols[c].name, col); c++)
            ;
        if (c == r->ncols) {
            if (r->ncols == MAX_COLS)
                continue;
            snprintf(r->cols[r->ncols++].name, sizeof r->cols[0].name, "%s", col);
        }
        mfr_verify_opts lite = *vo;
        lite.bootstrap = 0;
        if ((rc = mfr_vset_stats(vs, g, &lite, &gs)) != MFR_OK ||
            (rc = append_keys(&r->cols[c].mk, &r->cols[c].nmk, mfr_vset_mated(vs, g))) != MFR_OK ||
            (rc = append_keys(&r->cols[c].nk, &r->cols[c].nnk, mfr_vset_nonmated(vs, g))) != MFR_OK)
            return rc;
        r->cols[c].fta_m += gs.fta_mated;
        r->cols[c].fta_n += gs.fta_nonmated;
    }
    /* order the columns, then make each one an exact distribution */
    for (int a = 1; a < r->ncols; a++)
        for (int b = a; b > 0 && column_rank(r->cols[b].name) < column_rank(r->cols[b - 1].name); b--) {
            table_col t = r->cols[b];
            r->cols[b] = r->cols[b - 1];
            r->cols[b - 1] = t;
        }
    for (int c = 0; c < r->ncols; c++) {
        table_col *tc = &r->cols[c];
        if ((rc = mfr_dist_from_keys(&tc->mated, tc->mk, tc->nmk)) != MFR_OK ||
            (rc = mfr_dist_from_keys(&tc->nonmated, tc->nk, tc->nnk)) != MFR_OK)
            return rc;
        free(tc->mk);
        free(tc->nk);
        tc->mk = tc->nk = NULL;
        if (r->supported &&
            (rc = mfr_verify_at_threshold(&tc->mated, &tc->nonmated, r->threshold, vo->level, tc->fta_m, tc->fta_n,
                                          &tc->pt)) != MFR_OK)
            return rc;
    }
    if (r->supported)
        rc = mfr_verify_at_threshold(mfr_vset_mated(vs, 0), mfr_vset_nonmated(vs, 0), r->threshold, vo->level,
                                     r->overall.fta_mated, r->overall.fta_nonmated, &r->at_thr);
    return rc;
}

static void free_table(sys_result *r)
{
    for (int c = 0; c < r->ncols; c++) {
        free(r->cols[c].mk);
        free(r->cols[c].nk);
        mfr_dist_free(&r->cols[c].mated);
        mfr_dist_free(&r->cols[c].nonmated);
    }
}

/* ---------------------------------------------------------- the evaluation */

/* Dense subject numbers 0..n-1 in order of first appearance... of sorted ids. */
static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

typedef struct protocol {
    long *gal, ng;              /* enrolment rows */
    long nprobe;
    int *ident, *cond;          /* per row: dense subject, mask label index */
    char **cond_names;
    int ncond;
    uint8_t *failed;
    size_t *pa, *pb, npairs;    /* every probe against every enrolment image */
} protocol;

static void protocol_free(protocol *p)
{
    free(p->gal);
    free(p->ident);
    free(p->cond);
    for (int c = 0; c < p->ncond; c++)
        free(p->cond_names[c]);
    free(p->cond_names);
    free(p->failed);
    free(p->pa);
    free(p->pb);
}

static int protocol_build(const run_state *st, protocol *p)
{
    long n = st->n_items;
    long *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    long nu = 0;
    memset(p, 0, sizeof *p);
    p->gal = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->gal);
    p->ident = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->ident);
    p->cond = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->cond);
    p->failed = malloc((size_t)(n > 0 ? n : 1));
    p->cond_names = calloc(256, sizeof *p->cond_names);
    if (!ids || !p->gal || !p->ident || !p->cond || !p->failed || !p->cond_names) {
        free(ids);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++)
        ids[i] = st->items[i].identity;
    qsort(ids, (size_t)n, sizeof *ids, cmp_long);
    for (long i = 0; i < n; i++)
        if (nu == 0 || ids[nu - 1] != ids[i])
            ids[nu++] = ids[i];
    for (long i = 0; i < n; i++) {
        const run_item *it = &st->items[i];
        char label[64];
        long *hit = bsearch(&it->identity, ids, (size_t)nu, sizeof *ids, cmp_long);
        int c;
        p->ident[i] = (int)(hit - ids);
        p->failed[i] = (uint8_t)!it->acquired;
        mfr_mask_label(&it->mask, label, sizeof label);
        for (c = 0; c < p->ncond && strcmp(p->cond_names[c], label); c++)
            ;
        if (c == p->ncond) {
            if (p->ncond == 256) {
                free(ids);
                return mfr_error(MFR_ERR_RANGE, "%s: more than 256 mask conditions", st->o->recipe);
            }
            if (!(p->cond_names[p->ncond++] = mfr_strdup(label))) {
                free(ids);
                return MFR_ERR_NOMEM;
            }
        }
        p->cond[i] = c;
        if (it->split == MFR_SPLIT_ENROL)
            p->gal[p->ng++] = i;
        else
            p->nprobe++;
    }
    free(ids);
    if (p->ng == 0 || p->nprobe == 0)
        return mfr_error(MFR_ERR_ARG, "%s: needs enrolment and probe images (it has %ld and %ld)", st->o->recipe,
                         p->ng, p->nprobe);
    if (mfr_size_mul((size_t)p->ng, (size_t)p->nprobe, &p->npairs) != MFR_OK)
        return MFR_ERR_NOMEM;
    p->pa = malloc(p->npairs * sizeof *p->pa);
    p->pb = malloc(p->npairs * sizeof *p->pb);
    if (!p->pa || !p->pb)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for %zu comparisons", p->npairs);
    size_t k = 0;
    for (long i = 0; i < n; i++) {
        if (st->items[i].split == MFR_SPLIT_ENROL)
            continue;
        for (long g = 0; g < p->ng; g++) {
            p->pa[k] = (size_t)p->gal[g];
            p->pb[k] = (size_t)i;
            k++;
        }
    }
    return MFR_OK;
}

static char *sub_path(const run_state *st, const char *prefix, const char *label)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, label);
    return mfr_path_join(st->tmp, name);
}

/* Verification and identification of one system. */
static int eval_system(run_state *st, int k, const protocol *p, sys_result *res)
{
    run_system *sy = &st->sys[k];
    mfr_verify_opts vo;
    mfr_identify_opts io;
    mfr_vset *vs = NULL;
    char *vdir = sub_path(st, "verify-", sy->label), *idir = sub_path(st, "identify-", sy->label);
    char *npy = NULL, *manifest = mfr_path_join(st->tmp, "manifest.csv");
    char name[96];
    int rc;
    snprintf(name, sizeof name, "embeddings-%s.npy", sy->label);
    npy = mfr_path_join(st->tmp, name);
    if (!vdir || !idir || !npy || !manifest) {
        rc = MFR_ERR_NOMEM;
        goto done;
    }
    if ((rc = mfr_npy_write(npy, sy->rows, (size_t)st->n_items, (size_t)sy->dim)) != MFR_OK)
        goto done;
    mfr_verify_opts_default(&vo);
    vo.nist_fmr = st->o->fmr;
    vo.bootstrap = 0; /* millions of comparisons in ~70 groups: see docs/run.md */
    vo.seed = st->o->seed;
    vo.label = sy->label;
    vo.quiet = 1;
    if ((rc = mfr_vset_pairs_mem(sy->rows, (size_t)st->n_items, (size_t)sy->dim, p->ident, p->cond,
                                 (const char *const *)p->cond_names, p->ncond, p->failed, p->pa, p->pb, p->npairs, &vo,
                                 &vs)) != MFR_OK ||
        (rc = mfr_verify_write(vs, &vo, vdir)) != MFR_OK || (rc = nist_table(vs, &vo, res)) != MFR_OK)
        goto done;
    mfr_identify_opts_default(&io);
    io.gallery = "split=enrol";
    io.seed = st->o->seed;
    io.label = sy->label;
    io.quiet = 1;
    if ((rc = mfr_eval_identify(npy, manifest, &io, idir)) != MFR_OK)
        goto done;
    res->rank1 = tsv_get(idir, "identify/cmc/0/rate");
done:
    if (rc != MFR_OK)
        mfr_error_context(rc, "system %s", sy->label);
    mfr_vset_free(vs);
    free(vdir);
    free(idir);
    free(npy);
    free(manifest);
    return rc;
}

static void print_rate(sbuf *b, double v)
{
    if (isfinite(v))
        sb_printf(b, " %9.4f", v);
    else
        sb_printf(b, " %9s", "-");
}

static int write_results_json(const run_state *st, const protocol *p, const sys_result *res, const char *ddir)
{
    const mfr_run_opts *o = st->o;
    mfr_afile f = {0};
    long fta = 0;
    int rc = open_out(&f, st, "results.json");
    if (rc != MFR_OK)
        return rc;
    for (long i = 0; i < st->n_items; i++)
        fta += !st->items[i].acquired;
    FILE *fp = f.fp;
    fprintf(fp, "{\n  \"kind\": \"run\",\n  \"mfr_version\": ");
    json_str(fp, mfr_build()->version);
    fprintf(fp, ",\n  \"recipe\": ");
    json_str(fp, o->recipe);
    fprintf(fp, ",\n  \"scenes\": ");
    if (o->scenes)
        json_str(fp, o->scenes);
    else
        fputs("null", fp);
    fprintf(fp, ",\n  \"seed\": %llu,\n  \"detector\": ", (unsigned long long)o->seed);
    if (o->detector)
        json_str(fp, o->detector);
    else
        fputs("null", fp);
    fprintf(fp, ",\n  \"landmarks\": \"%s\",\n  \"fmr_target\": ", o->detector ? "detected" : "truth");
    json_num(fp, o->fmr);
    fprintf(fp, ",\n  \"images\": { \"verification\": %ld, \"enrol\": %ld, \"probes\": %ld, \"scenes\": %ld },\n",
            st->n_items, p->ng, p->nprobe, st->n_scenes);
    fprintf(fp, "  \"acquisition\": { \"attempts\": %ld, \"failures\": %ld, \"rate\": ", st->n_items, fta);
    json_num(fp, st->n_items ? (double)fta / (double)st->n_items : NAN);
    fprintf(fp, " },\n  \"protocol\": { \"definition\": \"every probe image against every enrolment image; a "
                "failure to acquire on either side fails the comparison\", \"comparisons\": %zu },\n",
            p->npairs);
    fprintf(fp, "  \"systems\": [");
    for (int k = 0; k < st->n_sys; k++) {
        const run_system *sy = &st->sys[k];
        const sys_result *r = &res[k];
        fprintf(fp, "%s\n    {\n      \"label\": ", k ? "," : "");
        json_str(fp, sy->label);
        fprintf(fp, ", \"model\": ");
        if (sy->model)
            json_str(fp, sy->model);
        else
            fputs("\"lbp\"", fp);
        fprintf(fp, ", \"dim\": %d,\n      \"verify\": \"verify-%s\", \"identify\": \"identify-%s\",\n", sy->dim,
                sy->label, sy->label);
        fprintf(fp, "      \"mated\": %llu, \"nonmated\": %llu, \"fta_mated\": %llu, \"fta_nonmated\": %llu,\n",
                (unsigned long long)r->overall.mated, (unsigned long long)r->overall.nonmated,
                (unsigned long long)r->overall.fta_mated, (unsigned long long)r->overall.fta_nonmated);
        fprintf(fp, "      \"eer\": ");
        json_num(fp, r->overall.eer.defined ? r->overall.eer.eer : NAN);
        fprintf(fp, ", \"rank1\": ");
        json_num(fp, r->rank1);
        fprintf(fp, ",\n      \"nist\": { \"reference\": \"mask_pair=none:none\", \"reference_nonmated\": %llu, "
                    "\"supported\": %s, \"threshold\": ",
                (unsigned long long)r->ref_nonmated, r->supported ? "true" : "false");
        if (r->supported)
            fprintf(fp, "%.9g", (double)r->threshold);
        else
            fputs("null", fp);
        fprintf(fp, ",\n        \"far\": ");
        json_num(fp, r->supported ? r->at_thr.far : NAN);
        fprintf(fp, ", \"frr\": ");
        json_num(fp, r->supported ? r->at_thr.frr : NAN);
        fprintf(fp, ", \"fmr\": ");
        json_num(fp, r->supported ? r->at_thr.fmr : NAN);
        fprintf(fp, ", \"fnmr\": ");
        json_num(fp, r->supported ? r->at_thr.fnmr : NAN);
        fprintf(fp, ",\n        \"columns\": {");
        for (int c = 0; c < r->ncols; c++) {
            const table_col *tc = &r->cols[c];
            fprintf(fp, "%s\n          ", c ? "," : "");
            json_str(fp, tc->name);
            fprintf(fp, ": { \"mated\": %llu, \"nonmated\": %llu, \"fta_mated\": %llu, \"fta_nonmated\": %llu",
                    (unsigned long long)tc->mated.n, (unsigned long long)tc->nonmated.n,
                    (unsigned long long)tc->fta_m, (unsigned long long)tc->fta_n);
            if (r->supported) {
                fprintf(fp, ", \"false_non_matches\": %llu, \"false_matches\": %llu, \"fnmr\": ",
                        (unsigned long long)tc->pt.false_non_matches, (unsigned long long)tc->pt.false_matches);
                json_num(fp, tc->pt.fnmr);
                fprintf(fp, ", \"fnmr_ci\": [");
                json_num(fp, tc->pt.fnmr_lo);
                fprintf(fp, ", ");
                json_num(fp, tc->pt.fnmr_hi);
                fprintf(fp, "], \"fmr\": ");
                json_num(fp, tc->pt.fmr);
                fprintf(fp, ", \"frr\": ");
                json_num(fp, tc->pt.frr);
                fprintf(fp, ", \"far\": ");
                json_num(fp, tc->pt.far);
            }
            fprintf(fp, " }");
        }
        fprintf(fp, "\n        }\n      }\n    }");
    }
    fprintf(fp, "\n  ],\n  \"detection\": ");
    if (ddir) {
        static const char *const subs[] = {"all", "easy", "medium", "hard"};
        fprintf(fp, "{ \"dir\": \"detect\", \"ap50\": {");
        for (int s = 0; s < 4; s++) {
            char key[96];
            snprintf(key, sizeof key, "detect/subsets/%s/ap50", subs[s]);
            fprintf(fp, "%s \"%s\": ", s ? "," : "", subs[s]);
            json_num(fp, tsv_get(ddir, key));
        }
        for (int t = 0; t < MFR_MASK_TYPE_COUNT; t++) {
            char key[96];
            double v;
            snprintf(key, sizeof key, "detect/subsets/mask_type=%s/ap50", mfr_mask_type_name(t));
            v = tsv_get(ddir, key);
            if (isfinite(v)) {
                fprintf(fp, ", \"mask_type=%s\": ", mfr_mask_type_name(t));
                json_num(fp, v);
            }
        }
        fprintf(fp, " } }");
    } else {
        fputs("null", fp);
    }
    fprintf(fp, ",\n  \"latency\": \"latency/results.json (timings, not deterministic)\"\n}\n");
    rc = mfr_afile_commit(&f);
    mfr_afile_abort(&f);
    return rc;
}

static void summarise(const run_state *st, const protocol *p, const sys_result *res, const char *ddir,
                      const char *ldir, char **names, double wall, sbuf *b)
{
    const mfr_run_opts *o = st->o;
    long fta = 0;
    for (long i = 0; i < st->n_items; i++)
        fta += !st->items[i].acquired;
    sb_printf(b, "mfr run: %s, seed %llu: %ld images (%ld enrolment, %ld probes), %ld scenes; landmarks: %s\n",
              o->recipe, (unsigned long long)o->seed, st->n_items, p->ng, p->nprobe, st->n_scenes,
              o->detector ? o->detector : "true (--no-detect)");
    sb_printf(b, "failures to acquire: %ld of %ld images (%.4f)\n", fta, st->n_items,
              st->n_items ? (double)fta / (double)st->n_items : 0.0);
    sb_printf(b, "verification: every probe against every enrolment image, %zu comparisons per system\n\n",
              p->npairs);
    /* the NIST table: columns from the first system (all share the protocol) */
    const sys_result *r0 = &res[0];
    sb_printf(b, "FNMR at the threshold fixed on unmasked non-mated comparisons at FMR %g (NIST FRVT style)\n", o->fmr);
    sb_printf(b, "%-18s %10s", "system", "threshold");
    for (int c = 0; c < r0->ncols; c++)
        sb_printf(b, " %9.9s", r0->cols[c].name);
    sb_printf(b, "\n");
    for (int k = 0; k < st->n_sys; k++) {
        const sys_result *r = &res[k];
        sb_printf(b, "%-18.18s", st->sys[k].label);
        if (!r->supported) {
            sb_printf(b, " unsupported: %llu unmasked non-mated comparisons < 1/FMR\n",
                      (unsigned long long)r->ref_nonmated);
            continue;
        }
        sb_printf(b, " %10.6f", (double)r->threshold);
        for (int c = 0; c < r->ncols; c++)
            print_rate(b, r->cols[c].pt.fnmr);
        sb_printf(b, "\n");
    }
    sb_printf(b, "\n%-18s %9s %9s %9s %9s %9s %9s\n", "system", "FTA", "FAR", "FRR", "EER", "d'", "rank-1");
    for (int k = 0; k < st->n_sys; k++) {
        const sys_result *r = &res[k];
        uint64_t att = r->overall.mated + r->overall.fta_mated;
        sb_printf(b, "%-18.18s", st->sys[k].label);
        print_rate(b, att ? (double)r->overall.fta_mated / (double)att : NAN);
        print_rate(b, r->supported ? r->at_thr.far : NAN);
        print_rate(b, r->supported ? r->at_thr.frr : NAN);
        print_rate(b, r->overall.eer.defined ? r->overall.eer.eer : NAN);
        print_rate(b, r->overall.dprime);
        print_rate(b, r->rank1);
        sb_printf(b, "\n");
    }
    sb_printf(b, "(FTA: failed share of mated comparisons; FAR, FRR at the threshold above, all probes, failures "
                 "to acquire counted; EER over all comparisons)\n");
    if (ddir) {
        static const char *const subs[] = {"all", "easy", "medium", "hard"};
        sb_printf(b, "\ndetection AP50:");
        for (int s = 0; s < 4; s++) {
            char key[96];
            snprintf(key, sizeof key, "detect/subsets/%s/ap50", subs[s]);
            sb_printf(b, " %s", subs[s]);
            print_rate(b, tsv_get(ddir, key));
        }
        sb_printf(b, "\n               ");
        for (int t = 0; t < MFR_MASK_TYPE_COUNT; t++) {
            char key[96];
            double v;
            snprintf(key, sizeof key, "detect/subsets/mask_type=%s/ap50", mfr_mask_type_name(t));
            v = tsv_get(ddir, key);
            if (isfinite(v)) {
                sb_printf(b, " %s", mfr_mask_type_name(t));
                print_rate(b, v);
            }
        }
        sb_printf(b, "\n");
    }
    sb_printf(b, "\nlatency per image, ms, %d threads (p50 / p99):\n", st->threads);
    for (int s = 0; s < st->n_stages; s++) {
        char key[160];
        double p50, p99;
        snprintf(key, sizeof key, "latency/runs/run/stages/%s/p50", names[s]);
        p50 = tsv_get(ldir, key);
        snprintf(key, sizeof key, "latency/runs/run/stages/%s/p99", names[s]);
        p99 = tsv_get(ldir, key);
        if (isfinite(p50))
            sb_printf(b, "  %-24s %10.4f / %10.4f\n", names[s], p50, p99);
    }
    sb_printf(b, "wall time: %.1f s (streaming %.1f s)\n", wall, st->wall_stream);
}

int run_evaluate(run_state *st, char **summary)
{
    const mfr_run_opts *o = st->o;
    protocol p;
    sys_result *res = calloc((size_t)st->n_sys, sizeof *res);
    char **names = calloc((size_t)st->n_stages, sizeof *names);
    char *ddir = NULL, *ldir = mfr_path_join(st->tmp, "latency"), *tim = mfr_path_join(st->tmp, "timings.csv");
    char *rdir = mfr_path_join(st->tmp, "report");
    const char *dirs[2 * (MFR_RUN_MAX_EMBEDDERS + 1) + 2];
    int ndirs = 0, rc = MFR_OK;
    sbuf sb = {0};
    memset(&p, 0, sizeof p);
    if (!res || !names || !ldir || !tim || !rdir) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        static const char *const fixed[ST_FIXED] = {"generate", "detect", "align"};
        for (int s = 0; s < st->n_stages && rc == MFR_OK; s++) {
            char name[96];
            if (s < ST_FIXED)
                snprintf(name, sizeof name, "%s", fixed[s]);
            else if (s < ST_FIXED + st->n_sys)
                snprintf(name, sizeof name, "embed_%s", st->sys[s - ST_FIXED].label);
            else
                snprintf(name, sizeof name, "compare_%s", st->sys[s - ST_FIXED - st->n_sys].label);
            if (!(names[s] = mfr_strdup(name)))
                rc = MFR_ERR_NOMEM;
        }
    }
    if (rc == MFR_OK)
        rc = protocol_build(st, &p);
    if (rc == MFR_OK)
        rc = write_manifest(st);
    for (int k = 0; k < st->n_sys && rc == MFR_OK; k++) {
        time_compare(st, p.gal, p.ng, k, ST_FIXED + st->n_sys + k);
        rc = eval_system(st, k, &p, &res[k]);
    }
    if (rc == MFR_OK && o->detector) {
        mfr_detect_opts dop;
        char *pred = mfr_path_join(st->tmp, "detections.csv"), *faces = mfr_path_join(st->tmp, "faces.csv");
        ddir = mfr_path_join(st->tmp, "detect");
        mfr_detect_opts_default(&dop);
        dop.label = "detector";
        rc = pred && faces && ddir ? write_detection_files(st) : MFR_ERR_NOMEM;
        if (rc == MFR_OK)
            rc = mfr_eval_detect(pred, faces, &dop, ddir);
        free(pred);
        free(faces);
    }
    if (rc == MFR_OK)
        rc = write_timings(st, names);
    if (rc == MFR_OK) {
        const char *files[1] = {tim}, *labels[1] = {"run"};
        rc = mfr_eval_latency(files, labels, 1, ldir);
    }
    if (rc == MFR_OK) {
        mfr_report_opts ro;
        char title[256];
        memset(&ro, 0, sizeof ro);
        snprintf(title, sizeof title, "mfr run: %s, seed %llu", o->recipe, (unsigned long long)o->seed);
        ro.title = title;
        ro.no_plots = o->no_plots;
        for (int k = 0; k < st->n_sys; k++) {
            char *v = sub_path(st, "verify-", st->sys[k].label), *i = sub_path(st, "identify-", st->sys[k].label);
            dirs[ndirs++] = v;
            dirs[ndirs++] = i;
            if (!v || !i)
                rc = MFR_ERR_NOMEM;
        }
        if (ddir)
            dirs[ndirs++] = ddir;
        dirs[ndirs++] = ldir;
        if (rc == MFR_OK)
            rc = mfr_report(dirs, ndirs, &ro, rdir);
        for (int k = 0; k < 2 * st->n_sys; k++)
            free((char *)dirs[k]);
    }
    if (rc == MFR_OK)
        rc = write_results_json(st, &p, res, ddir);
    if (rc == MFR_OK) {
        char *path = mfr_path_join(st->tmp, "summary.txt");
        summarise(st, &p, res, ddir, ldir, names, mfr_time_now() - st->t_start, &sb);
        if (sb.failed || !path)
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        else
            rc = mfr_write_file_atomic(path, sb.s, sb.n);
        free(path);
    }
    if (rc == MFR_OK && summary) {
        *summary = sb.s;
        sb.s = NULL;
    }
done:
    free(sb.s);
    for (int k = 0; res && k < st->n_sys; k++)
        free_table(&res[k]);
    free(res);
    for (int s = 0; names && s < st->n_stages; s++)
        free(names[s]);
    free(names);
    free(ddir);
    free(ldir);
    free(tim);
    free(rdir);
    protocol_free(&p);
    return rc;
}
