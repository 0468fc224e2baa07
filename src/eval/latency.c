/* Latency: per-item timing records summarised per stage, runs side by side. */
#include "config.h"
#include "eval/eval_internal.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES 32
#define MAX_ITEMS 100000000u

typedef struct stage {
    char *name;
    double *v;
    size_t n, cap;
} stage;

typedef struct run {
    const char *label, *path;
    stage st[MAX_STAGES + 1];   /* the last one is "total" when no column has that name */
    int ns;
    long threads, batch;        /* -1: absent, -2: varies */
    double t0, t1;              /* wall-clock span from start_ms/end_ms, if given */
    int has_wall;
    size_t items;
} run;

static int push(stage *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *g;
        if (cap > MAX_ITEMS)
            return mfr_error(MFR_ERR_RANGE, "more than %u timing records", MAX_ITEMS);
        g = realloc(s->v, cap * sizeof *g);
        if (!g)
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
        s->v = g;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return MFR_OK;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int is_meta(const char *name)
{
    static const char *const meta[] = {"item", "image", "file", "threads", "batch", "start_ms", "end_ms", NULL};
    for (int i = 0; meta[i]; i++)
        if (!strcmp(name, meta[i]))
            return 1;
    return 0;
}

static void meta_value(long *slot, long v)
{
    if (*slot == -1)
        *slot = v;
    else if (*slot != v)
        *slot = -2;
}

static int load_run(run *r)
{
    mfr_csv *c;
    int rc, has, cols[MAX_STAGES], ct, cb, cs, ce, total = -1;
    if ((rc = mfr_csv_open(r->path, &c)) != MFR_OK)
        return rc;
    r->threads = r->batch = -1;
    r->t0 = INFINITY;
    r->t1 = -INFINITY;
    for (int k = 0; k < mfr_csv_columns(c); k++) {
        const char *h = mfr_csv_header(c, k);
        if (is_meta(h))
            continue;
        if (r->ns == MAX_STAGES) {
            mfr_csv_close(c);
            return mfr_error(MFR_ERR_RANGE, "%s:1: more than %d stage columns", r->path, MAX_STAGES);
        }
        if (!strcmp(h, "total"))
            total = r->ns;
        cols[r->ns] = k;
        if (!(r->st[r->ns++].name = mfr_strdup(h))) {
            mfr_csv_close(c);
            return MFR_ERR_NOMEM;
        }
    }
    if (r->ns == 0) {
        mfr_csv_close(c);
        return mfr_error(MFR_ERR_FORMAT, "%s:1: no stage columns (decode, detect, align, embed, compare, ...)",
                         r->path);
    }
    if (total < 0 && !(r->st[r->ns].name = mfr_strdup("total"))) {
        mfr_csv_close(c);
        return MFR_ERR_NOMEM;
    }
    ct = mfr_csv_column(c, "threads");
    cb = mfr_csv_column(c, "batch");
    cs = mfr_csv_column(c, "start_ms");
    ce = mfr_csv_column(c, "end_ms");
    r->has_wall = cs >= 0 && ce >= 0;
    while ((rc = mfr_csv_next(c, &has)) == MFR_OK && has) {
        double sum = 0;
        int any = 0;
        long v;
        for (int k = 0; k < r->ns && rc == MFR_OK; k++) {
            double x;
            if ((rc = mfr_csv_double(c, cols[k], 1, &x)) != MFR_OK)
                break;
            if (isnan(x))
                continue;
            if (!(x >= 0) || isinf(x)) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%ld: column '%s': %g is not a duration in ms", r->path,
                               mfr_csv_line(c), r->st[k].name, x);
                break;
            }
            rc = push(&r->st[k], x);
            if (k != total) {
                sum += x;
                any = 1;
            }
        }
        if (rc == MFR_OK && total < 0 && any)
            rc = push(&r->st[r->ns], sum);
        if (rc == MFR_OK && ct >= 0 && (rc = mfr_csv_long(c, ct, 1, 1 << 20, &v)) == MFR_OK)
            meta_value(&r->threads, v);
        if (rc == MFR_OK && cb >= 0 && (rc = mfr_csv_long(c, cb, 1, 1 << 30, &v)) == MFR_OK)
            meta_value(&r->batch, v);
        if (rc == MFR_OK && r->has_wall) {
            double a, b;
            if ((rc = mfr_csv_double(c, cs, 0, &a)) == MFR_OK && (rc = mfr_csv_double(c, ce, 0, &b)) == MFR_OK) {
                r->t0 = fmin(r->t0, a);
                r->t1 = fmax(r->t1, b);
            }
        }
        if (rc != MFR_OK)
            break;
        r->items++;
    }
    mfr_csv_close(c);
    if (rc != MFR_OK)
        return rc;
    if (total < 0)
        r->ns++;
    for (int k = 0; k < r->ns; k++)
        if (r->st[k].n > 0) /* qsort of NULL, even with 0 items, is undefined */
            qsort(r->st[k].v, r->st[k].n, sizeof(double), cmp_d);
    return MFR_OK;
}

static double mean_of(const stage *s)
{
    double m = 0;
    for (size_t i = 0; i < s->n; i++)
        m += s->v[i];
    return s->n ? m / (double)s->n : NAN;
}

int mfr_eval_latency(const char *const *files, const char *const *labels, int nruns, const char *out)
{
    run runs[MFR_LATENCY_MAX_RUNS];
    mfr_outdir d = {0};
    mfr_afile fj = {0}, ft = {0}, fs = {0};
    int rc = MFR_OK;
    jw w;
    if (nruns < 1 || nruns > MFR_LATENCY_MAX_RUNS)
        return mfr_error(MFR_ERR_ARG, "1..%d runs", MFR_LATENCY_MAX_RUNS);
    memset(runs, 0, sizeof runs);
    for (int i = 0; i < nruns && rc == MFR_OK; i++) {
        runs[i].path = files[i];
        runs[i].label = labels[i];
        rc = load_run(&runs[i]);
    }
    if (rc != MFR_OK)
        goto done;
    if ((rc = mfr_outdir_begin(&d, out)) != MFR_OK)
        goto done;
    if ((rc = out_open(&fj, d.tmp, "results.json")) != MFR_OK || (rc = out_open(&ft, d.tmp, "results.tsv")) != MFR_OK ||
        (rc = out_open(&fs, d.tmp, "latency.csv")) != MFR_OK)
        goto done;
    jw_begin(&w, fj.fp, ft.fp);
    jw_str(&w, "kind", "latency");
    jw_str(&w, "label", labels[0]);
    jw_str(&w, "mfr_version", mfr_build()->version);
    jw_obj(&w, "latency");
    jw_obj(&w, "definitions");
    jw_str(&w, "quantile", "nearest rank: the smallest value with at least q n values at or below it");
    jw_str(&w, "total", "the 'total' column if given, else the sum of the stage columns of each item");
    jw_str(&w, "throughput", "items / (max end_ms - min start_ms) when those columns are given (measured); "
                             "else threads * 1000 / mean total ms (an estimate assuming no contention)");
    jw_str(&w, "unit", "milliseconds");
    jw_end(&w);
    jw_obj(&w, "runs");
    fprintf(fs.fp, "run,stage,n,mean,p50,p90,p99,max\n");
    for (int i = 0; i < nruns; i++) {
        run *r = &runs[i];
        const stage *tot = NULL;
        double thr;
        int measured;
        jw_obj(&w, r->label);
        jw_str(&w, "file", r->path);
        jw_int(&w, "items", r->items);
        if (r->threads >= 0)
            jw_int(&w, "threads", (uint64_t)r->threads);
        else
            jw_str(&w, "threads", r->threads == -2 ? "varies" : "not recorded");
        if (r->batch >= 0)
            jw_int(&w, "batch", (uint64_t)r->batch);
        else
            jw_str(&w, "batch", r->batch == -2 ? "varies" : "not recorded");
        jw_obj(&w, "stages");
        for (int k = 0; k < r->ns; k++) {
            const stage *s = &r->st[k];
            double mean = mean_of(s), q50 = mfr_quantile_sorted(s->v, s->n, 0.5),
                   q90 = mfr_quantile_sorted(s->v, s->n, 0.9), q99 = mfr_quantile_sorted(s->v, s->n, 0.99),
                   mx = s->n ? s->v[s->n - 1] : NAN;
            if (!strcmp(s->name, "total"))
                tot = s;
            jw_obj(&w, s->name);
            jw_int(&w, "n", s->n);
            jw_num(&w, "mean", mean);
            jw_num(&w, "p50", q50);
            jw_num(&w, "p90", q90);
            jw_num(&w, "p99", q99);
            jw_num(&w, "max", mx);
            jw_end(&w);
            mfr_csv_write_field(fs.fp, r->label);
            fprintf(fs.fp, ",%s,%zu,%.6g,%.6g,%.6g,%.6g,%.6g\n", s->name, s->n, mean, q50, q90, q99, mx);
        }
        jw_end(&w);
        measured = r->has_wall && r->t1 > r->t0;
        if (measured)
            thr = (double)r->items / ((r->t1 - r->t0) / 1000.0);
        else
            thr = tot ? (r->threads > 0 ? (double)r->threads : 1.0) * 1000.0 / mean_of(tot) : NAN;
        jw_num(&w, "throughput_items_per_s", thr);
        jw_bool(&w, "throughput_measured", measured);
        jw_end(&w);
        /* The CDF of the total, for the plot. */
        if (tot) {
            mfr_afile fc = {0};
            char name[300], stem[256];
            safe_name(stem, sizeof stem, r->label);
            snprintf(name, sizeof name, "cdf_%d_%s.csv", i, stem);
            if ((rc = out_open(&fc, d.tmp, name)) != MFR_OK)
                goto done;
            fprintf(fc.fp, "ms,fraction\n");
            for (size_t j = 0; j < tot->n; j++)
                if (j + 1 == tot->n || tot->v[j + 1] != tot->v[j])
                    fprintf(fc.fp, "%.6g,%.9g\n", tot->v[j], (double)(j + 1) / (double)tot->n);
            if ((rc = mfr_afile_commit(&fc)) != MFR_OK)
                goto done;
        }
    }
    jw_end(&w);
    jw_end(&w);
    jw_finish(&w);
    if ((rc = mfr_afile_commit(&fj)) != MFR_OK || (rc = mfr_afile_commit(&ft)) != MFR_OK ||
        (rc = mfr_afile_commit(&fs)) != MFR_OK)
        goto done;
    rc = mfr_outdir_commit(&d);
done:
    mfr_afile_abort(&fj);
    mfr_afile_abort(&ft);
    mfr_afile_abort(&fs);
    if (rc != MFR_OK)
        mfr_outdir_abort(&d);
    for (int i = 0; i < nruns; i++)
        for (int k = 0; k <= MAX_STAGES; k++) {
            free(runs[i].st[k].name);
            free(runs[i].st[k].v);
        }
    return rc;
}
