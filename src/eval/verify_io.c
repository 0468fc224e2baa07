/* Verification inputs: a scores CSV, or embeddings compared over pairs.csv;
 * both become rows of comparisons, grouped by condition. */
#include "config.h"
#include "eval/verify_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 400000000u     /* explicit comparisons held in memory */
#define MAX_NPY_VALUES (1u << 30)

/* --------------------------------------------------------------- the set */

mfr_vset *vset_new(const char *mode, const char *source)
{
    mfr_vset *s = calloc(1, sizeof *s);
    if (!s) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->mode = mode;
    s->source = mfr_strdup(source ? source : "");
    if (!s->source) {
        free(s);
        return NULL;
    }
    return s;
}

vgroup *vset_add_group(mfr_vset *s, const char *column, const char *value)
{
    vgroup *g;
    char *name;
    size_t len;
    if (s->ng == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        vgroup *n = realloc(s->g, (size_t)cap * sizeof *n);
        if (!n) {
            mfr_error(MFR_ERR_NOMEM, "out of memory");
            return NULL;
        }
        s->g = n;
        s->cap = cap;
    }
    len = (column ? strlen(column) + strlen(value) + 2 : 8);
    name = malloc(len);
    if (!name) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (column)
        snprintf(name, len, "%s=%s", column, value);
    else
        snprintf(name, len, "overall");
    g = &s->g[s->ng];
    memset(g, 0, sizeof *g);
    g->name = name;
    g->column = column ? mfr_strdup(column) : NULL;
    g->value = value ? mfr_strdup(value) : NULL;
    if ((column && !g->column) || (value && !g->value)) {
        free(g->column), free(g->value), free(name);
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->ng++;
    return g;
}

void mfr_vset_free(mfr_vset *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ng; i++) {
        vgroup *g = &s->g[i];
        free(g->name), free(g->column), free(g->value);
        mfr_dist_free(&g->m);
        mfr_dist_free(&g->nm);
        free(g->mc), free(g->nc);
    }
    free(s->g);
    free(s->source);
    free(s);
}

int mfr_vset_groups(const mfr_vset *s) { return s->ng; }
const char *mfr_vset_group_name(const mfr_vset *s, int g) { return s->g[g].name; }
const mfr_dist *mfr_vset_mated(const mfr_vset *s, int g) { return &s->g[g].m; }
const mfr_dist *mfr_vset_nonmated(const mfr_vset *s, int g) { return &s->g[g].nm; }

int mfr_vset_find(const mfr_vset *s, const char *name)
{
    for (int i = 0; i < s->ng; i++)
        if (!strcmp(s->g[i].name, name))
            return i;
    return -1;
}

/* --------------------------------------------------------------- rows */

int vrows_init(vrows *r, int ncond, const char *const *names)
{
    memset(r, 0, sizeof *r);
    if (ncond > VROWS_MAX_COND)
        return mfr_error(MFR_ERR_RANGE, "more than %d condition columns", VROWS_MAX_COND);
    r->ncond = ncond;
    for (int c = 0; c < ncond; c++)
        if (!(r->cname[c] = mfr_strdup(names[c]))) {
            vrows_free(r);
            return MFR_ERR_NOMEM;
        }
    return MFR_OK;
}

void vrows_free(vrows *r)
{
    free(r->key), free(r->flag), free(r->a), free(r->b);
    for (int c = 0; c < r->ncond; c++) {
        free(r->cname[c]);
        strtab_free(&r->tab[c]);
        free(r->cval[c]);
    }
    strtab_free(&r->subjects);
    memset(r, 0, sizeof *r);
}

static int vrows_grow(vrows *r)
{
    size_t cap = r->cap ? r->cap * 2 : 1024;
    if (cap > MAX_ROWS)
        cap = MAX_ROWS;
    if (r->n >= cap)
        return mfr_error(MFR_ERR_RANGE, "more than %u comparisons", MAX_ROWS);
#define GROW(p)                                                         \
    do {                                                                \
        void *g_ = realloc(p, cap * sizeof *(p));                       \
        if (!g_)                                                        \
            return mfr_error(MFR_ERR_NOMEM, "out of memory (%zu comparisons)", cap); \
        p = g_;                                                         \
    } while (0)
    GROW(r->key);
    GROW(r->flag);
    GROW(r->a);
    GROW(r->b);
    for (int c = 0; c < r->ncond; c++)
        GROW(r->cval[c]);
#undef GROW
    r->cap = cap;
    return MFR_OK;
}

int vrows_add(vrows *r, float score, int mated, int failed, int32_t a, int32_t b, const char *const *vals,
              const char *where)
{
    int rc;
    if (!failed && !isfinite(score))
        return mfr_error(MFR_ERR_FORMAT, "%s: score is infinite", where);
    if (r->n == r->cap && (rc = vrows_grow(r)) != MFR_OK)
        return rc;
    r->key[r->n] = failed ? 0 : mfr_score_key(score);
    r->flag[r->n] = (uint8_t)((mated ? VROW_MATED : 0) | (failed ? VROW_FAILED : 0));
    r->a[r->n] = a;
    r->b[r->n] = b;
    for (int c = 0; c < r->ncond; c++) {
        int id;
        if (r->skip[c]) {
            r->cval[c][r->n] = -1;
            continue;
        }
        id = strtab_id(&r->tab[c], vals[c]);
        if (id < 0)
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
        if (id >= VROWS_MAX_VALUES) {
            mfr_log(MFR_LOG_WARN, "%s: column '%s' has more than %d distinct values: not used as a condition",
                    where, r->cname[c], VROWS_MAX_VALUES);
            r->skip[c] = 1;
            id = -1;
        }
        r->cval[c][r->n] = id;
    }
    r->n++;
    return MFR_OK;
}

static int cmp_vcmp(const void *x, const void *y)
{
    const vcmp *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

/* Fills group g from the rows whose sel[row] == want (sel NULL: all rows). */
static int fill_group(vgroup *g, const vrows *r, const int32_t *sel, int32_t want, int subjects)
{
    size_t nm = 0, nn = 0, im = 0, in = 0;
    uint32_t *mk, *nk;
    int rc;
    for (size_t i = 0; i < r->n; i++) {
        if (sel && sel[i] != want)
            continue;
        if (r->flag[i] & VROW_FAILED) {
            if (r->flag[i] & VROW_MATED)
                g->fta_m++;
            else
                g->fta_nm++;
        } else if (r->flag[i] & VROW_MATED)
            nm++;
        else
            nn++;
    }
    mk = malloc((nm + 1) * sizeof *mk);
    nk = malloc((nn + 1) * sizeof *nk);
    if (subjects) {
        g->mc = malloc((nm + 1) * sizeof *g->mc);
        g->nc = malloc((nn + 1) * sizeof *g->nc);
    }
    if (!mk || !nk || (subjects && (!g->mc || !g->nc))) {
        free(mk), free(nk);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n; i++) {
        if ((sel && sel[i] != want) || (r->flag[i] & VROW_FAILED))
            continue;
        if (r->flag[i] & VROW_MATED) {
            if (subjects)
                g->mc[im] = (vcmp){r->key[i], r->a[i], r->b[i]};
            mk[im++] = r->key[i];
        } else {
            if (subjects)
                g->nc[in] = (vcmp){r->key[i], r->a[i], r->b[i]};
            nk[in++] = r->key[i];
        }
    }
    if (subjects) {
        qsort(g->mc, nm, sizeof *g->mc, cmp_vcmp);
        qsort(g->nc, nn, sizeof *g->nc, cmp_vcmp);
        g->nmc = nm;
        g->nnc = nn;
    }
    rc = mfr_dist_from_keys(&g->m, mk, nm);
    if (rc == MFR_OK)
        rc = mfr_dist_from_keys(&g->nm, nk, nn);
    free(mk), free(nk);
    return rc;
}

/* Value indices of a column sorted by their text, for a stable report order. */
static int *sorted_values(const strtab *t)
{
    int *ord = malloc(((size_t)t->n + 1) * sizeof *ord);
    if (!ord)
        return NULL;
    for (int i = 0; i < t->n; i++)
        ord[i] = i;
    for (int i = 1; i < t->n; i++)
        for (int j = i; j > 0 && strcmp(t->s[ord[j - 1]], t->s[ord[j]]) > 0; j--) {
            int x = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = x;
        }
    return ord;
}

int vset_from_rows(vrows *r, const mfr_verify_opts *o, const char *mode, const char *source, mfr_vset **out)
{
    mfr_vset *s = vset_new(mode, source);
    int rc = MFR_OK, ce = -1, cp = -1;
    int32_t *pair = NULL;
    strtab pairs = {0};
    vgroup *g;
    *out = NULL;
    if (!s)
        return MFR_ERR_NOMEM;
    s->nsubjects = r->has_subjects ? r->subjects.n : 0;
    for (int c = 0; c < r->ncond; c++) {
        if (!strcmp(r->cname[c], o->enrol_mask))
            ce = c;
        if (!strcmp(r->cname[c], o->probe_mask))
            cp = c;
    }
    if (!(g = vset_add_group(s, NULL, NULL))) {
        rc = MFR_ERR_NOMEM;
        goto fail;
    }
    if ((rc = fill_group(g, r, NULL, 0, s->nsubjects > 0)) != MFR_OK)
        goto fail;
    for (int c = 0; c < r->ncond; c++) {
        int *ord;
        if (r->skip[c])
            continue;
        if (!(ord = sorted_values(&r->tab[c]))) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int v = 0; v < r->tab[c].n && rc == MFR_OK; v++) {
            if (!(g = vset_add_group(s, r->cname[c], r->tab[c].s[ord[v]])))
                rc = MFR_ERR_NOMEM;
            else
                rc = fill_group(g, r, r->cval[c], ord[v], s->nsubjects > 0);
        }
        free(ord);
        if (rc != MFR_OK)
            goto fail;
    }
    /* The combined enrolment:probe mask state, the NIST condition. */
    if (ce >= 0 && cp >= 0 && !r->skip[ce] && !r->skip[cp]) {
        int *ord;
        pair = malloc((r->n + 1) * sizeof *pair);
        if (!pair) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < r->n; i++) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s:%s", r->tab[ce].s[r->cval[ce][i]], r->tab[cp].s[r->cval[cp][i]]);
            if ((pair[i] = strtab_id(&pairs, buf)) < 0) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
        if (!(ord = sorted_values(&pairs))) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int v = 0; v < pairs.n && rc == MFR_OK; v++) {
            if (!(g = vset_add_group(s, "mask_pair", pairs.s[ord[v]])))
                rc = MFR_ERR_NOMEM;
            else
                rc = fill_group(g, r, pair, ord[v], s->nsubjects > 0);
        }
        free(ord);
        if (rc != MFR_OK)
            goto fail;
    }
    free(pair);
    strtab_free(&pairs);
    *out = s;
    return MFR_OK;
fail:
    free(pair);
    strtab_free(&pairs);
    mfr_vset_free(s);
    return rc;
}

/* ------------------------------------------------------------ scores CSV */

/* Subject label columns are never conditions. */
static int is_subject_column(const char *name)
{
    static const char *const cols[] = {"enrol_id", "probe_id", "a_identity", "b_identity", "enrol_identity",
                                       "probe_identity", NULL};
    for (int i = 0; cols[i]; i++)
        if (!strcmp(name, cols[i]))
            return 1;
    return 0;
}

const char *verify_mask_column(const manifest *m, const mfr_verify_opts *o, int fine)
{
    if (o->manifest_mask)
        return o->manifest_mask;
    if (fine)
        return manifest_col(m, "mask") >= 0 ? "mask" : "mask_type";
    return manifest_col(m, "mask_type") >= 0 ? "mask_type" : "mask";
}

static int load_scores_csv(mfr_csv *csv, const char *path, const mfr_verify_opts *o, mfr_vset **out);

int mfr_vset_load_scores(const char *path, const mfr_verify_opts *o, mfr_vset **out)
{
    mfr_csv *csv;
    int rc;
    *out = NULL;
    if ((rc = mfr_csv_open(path, &csv)) != MFR_OK)
        return rc;
    return load_scores_csv(csv, path, o, out);
}

int mfr_vset_parse_scores(const void *data, size_t size, const char *name, const mfr_verify_opts *o,
                          mfr_vset **out)
{
    mfr_csv *csv;
    int rc;
    *out = NULL;
    if ((rc = mfr_csv_open_mem(data, size, name, &csv)) != MFR_OK)
        return rc;
    return load_scores_csv(csv, name, o, out);
}

/* Reads the rows and closes csv. */
static int load_scores_csv(mfr_csv *csv, const char *path, const mfr_verify_opts *o, mfr_vset **out)
{
    vrows r;
    int rc, has, cs, cm, ca, cb, ncond = 0;
    int cidx[VROWS_MAX_COND];
    const char *names[VROWS_MAX_COND];
    cs = mfr_csv_column(csv, "score");
    cm = mfr_csv_column(csv, "mated");
    ca = mfr_csv_column(csv, "enrol_id");
    cb = mfr_csv_column(csv, "probe_id");
    if (cs < 0 || cm < 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: the header needs columns 'score' and 'mated'", path);
        mfr_csv_close(csv);
        return rc;
    }
    for (int c = 0; c < mfr_csv_columns(csv); c++) {
        if (c == cs || c == cm || c == ca || c == cb || is_subject_column(mfr_csv_header(csv, c)))
            continue;
        if (ncond == VROWS_MAX_COND) {
            mfr_csv_close(csv);
            return mfr_error(MFR_ERR_RANGE, "%s:1: more than %d condition columns", path, VROWS_MAX_COND);
        }
        cidx[ncond] = c;
        names[ncond++] = mfr_csv_header(csv, c);
    }
    if ((rc = vrows_init(&r, ncond, names)) != MFR_OK) {
        mfr_csv_close(csv);
        return rc;
    }
    r.has_subjects = ca >= 0 && cb >= 0;
    while ((rc = mfr_csv_next(csv, &has)) == MFR_OK && has) {
        char where[512];
        const char *vals[VROWS_MAX_COND];
        double score;
        int mated = parse_bool(mfr_csv_field(csv, cm)), failed;
        int32_t a = -1, b = -1;
        snprintf(where, sizeof where, "%s:%ld", path, mfr_csv_line(csv));
        if (mated < 0) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: column 'mated': '%s' is not 0/1/true/false", where,
                           mfr_csv_field(csv, cm));
            break;
        }
        if ((rc = mfr_csv_double(csv, cs, 1, &score)) != MFR_OK)
            break;
        failed = isnan(score);
        if (r.has_subjects) {
            a = strtab_id(&r.subjects, mfr_csv_field(csv, ca));
            b = strtab_id(&r.subjects, mfr_csv_field(csv, cb));
            if (a < 0 || b < 0) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
            if (mated && a != b) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: a mated comparison of different subjects '%s' and '%s'",
                               where, mfr_csv_field(csv, ca), mfr_csv_field(csv, cb));
                break;
            }
            if (!mated && a == b) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: a non-mated comparison of one subject '%s'", where,
                               mfr_csv_field(csv, ca));
                break;
            }
        }
        for (int c = 0; c < ncond; c++)
            vals[c] = mfr_csv_field(csv, cidx[c]);
        if (!failed && fabs(score) > 3.4e38) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: score %g is outside the float range", where, score);
            break;
        }
        if ((rc = vrows_add(&r, (float)score, mated, failed, a, b, vals, where)) != MFR_OK)
            break;
    }
    mfr_csv_close(csv);
    if (rc == MFR_OK)
        rc = vset_from_rows(&r, o, "scores", path, out);
    vrows_free(&r);
    return rc;
}

/* ------------------------------------------------------------- embeddings */

static float dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static int row_failed(const float *e, size_t dim)
{
    for (size_t i = 0; i < dim; i++)
        if (!isnan(e[i]))
            return 0;
    return 1;
}

int mfr_vset_pairs_mem(const float *emb, size_t n, size_t dim, const int *identity, const int *cond,
                       const char *const *cond_names, int n_cond, const uint8_t *failed, const size_t *pa,
                       const size_t *pb, size_t npairs, const mfr_verify_opts *o, mfr_vset **out)
{
    vrows r;
    const char *names[2] = {o->enrol_mask, o->probe_mask};
    int rc;
    *out = NULL;
    (void)n_cond;
    if ((rc = vrows_init(&r, cond ? 2 : 0, names)) != MFR_OK)
        return rc;
    r.has_subjects = 1;
    {
        int maxid = -1;
        for (size_t i = 0; i < n; i++)
            if (identity[i] > maxid)
                maxid = identity[i];
        for (int i = 0; i <= maxid; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%d", i);
            if (strtab_id(&r.subjects, buf) < 0) {
                vrows_free(&r);
                return MFR_ERR_NOMEM;
            }
        }
    }
    for (size_t p = 0; p < npairs && rc == MFR_OK; p++) {
        size_t a = pa[p], b = pb[p];
        const char *vals[2];
        char where[64];
        int fail;
        snprintf(where, sizeof where, "pair %zu", p);
        if (a >= n || b >= n) {
            rc = mfr_error(MFR_ERR_RANGE, "%s: row index outside 0..%zu", where, n ? n - 1 : 0);
            break;
        }
        fail = (failed && (failed[a] || failed[b])) || row_failed(emb + a * dim, dim) ||
               row_failed(emb + b * dim, dim);
        if (cond) {
            vals[0] = cond_names[cond[a]];
            vals[1] = cond_names[cond[b]];
        }
        rc = vrows_add(&r, fail ? NAN : dot(emb + a * dim, emb + b * dim, dim), identity[a] == identity[b], fail,
                       identity[a], identity[b], vals, where);
    }
    if (rc == MFR_OK)
        rc = vset_from_rows(&r, o, "pairs", "memory", out);
    vrows_free(&r);
    return rc;
}

/* A file name -> row lookup for big manifests: names sorted with their rows. */
typedef struct name_row {
    const char *name;
    size_t row;
} name_row;

typedef struct name_index {
    const manifest *m;
    name_row *ord;   /* NULL when the manifest has no 'file' column */
} name_index;

static int cmp_name_row(const void *x, const void *y)
{
    const name_row *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* A manifest file name, else a row index. */
static int find_row(const name_index *ix, const char *s, size_t *row, const char *where)
{
    size_t lo = 0, hi = ix->m->n;
    long v;
    if (ix->ord) {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(ix->ord[mid].name, s);
            if (c == 0) {
                while (mid > 0 && !strcmp(ix->ord[mid - 1].name, s))
                    mid--; /* the first row of that name */
                *row = ix->ord[mid].row;
                return MFR_OK;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    if (mfr_parse_long(s, &v) == MFR_OK && v >= 0 && (size_t)v < ix->m->n) {
        *row = (size_t)v;
        return MFR_OK;
    }
    return mfr_error(MFR_ERR_FORMAT, "%s: '%s' is neither a file of the manifest nor a row index 0..%zu", where,
                     s, ix->m->n ? ix->m->n - 1 : 0);
}

int mfr_vset_load_pairs(const char *npy, const char *mpath, const char *ppath, const mfr_verify_opts *o,
                        mfr_vset **out)
{
    manifest m;
    float *emb = NULL;
    size_t rows, dim;
    mfr_csv *csv = NULL;
    vrows r;
    name_index ix = {0};
    int rc, has, cid, cacq, cmask, ce, cp, cmated, ncond = 0, cidx[VROWS_MAX_COND];
    const char *names[VROWS_MAX_COND];
    int add_e = -1, add_p = -1, n_add = 0;
    *out = NULL;
    memset(&r, 0, sizeof r);
    if ((rc = manifest_load(mpath, &m)) != MFR_OK)
        return rc;
    if ((rc = mfr_npy_read(npy, MAX_NPY_VALUES, &emb, &rows, &dim)) != MFR_OK)
        goto done;
    if (rows != m.n) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s has %zu rows but the manifest %s has %zu", npy, rows, mpath, m.n);
        goto done;
    }
    if ((cid = manifest_col(&m, "identity")) < 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no 'identity' column", mpath);
        goto done;
    }
    cacq = manifest_col(&m, "acquired");
    cmask = manifest_col(&m, verify_mask_column(&m, o, 1));
    ix.m = &m;
    {
        int cfile = manifest_col(&m, "file");
        if (cfile >= 0) {
            if (!(ix.ord = malloc((m.n + 1) * sizeof *ix.ord))) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                goto done;
            }
            for (size_t i = 0; i < m.n; i++)
                ix.ord[i] = (name_row){m.cells[cfile][i], i};
            qsort(ix.ord, m.n, sizeof *ix.ord, cmp_name_row);
        }
    }
    if ((rc = mfr_csv_open(ppath, &csv)) != MFR_OK)
        goto done;
    {
        /* Enrolment and probe: 'enrol'/'probe', 'a'/'b' (mfr gen), or row indices. */
        static const char *const names2[][2] = {{"enrol", "probe"}, {"a", "b"}, {"enrol_index", "probe_index"}};
        ce = cp = -1;
        for (size_t k = 0; k < 3 && (ce < 0 || cp < 0); k++) {
            ce = mfr_csv_column(csv, names2[k][0]);
            cp = mfr_csv_column(csv, names2[k][1]);
        }
    }
    if (ce < 0 || cp < 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: the header needs columns 'enrol' and 'probe' (or 'a' and 'b'): "
                       "file names or row indices", ppath);
        goto done;
    }
    cmated = mfr_csv_column(csv, "mated");
    for (int c = 0; c < mfr_csv_columns(csv); c++) {
        if (c == ce || c == cp || c == cmated || is_subject_column(mfr_csv_header(csv, c)))
            continue;
        if (ncond == VROWS_MAX_COND - 2) {
            rc = mfr_error(MFR_ERR_RANGE, "%s:1: too many condition columns", ppath);
            goto done;
        }
        cidx[ncond] = c;
        names[ncond++] = mfr_csv_header(csv, c);
    }
    /* The manifest's mask state gives the enrolment and probe conditions
     * that pairs.csv does not have. */
    if (cmask >= 0 && mfr_csv_column(csv, o->enrol_mask) < 0) {
        names[ncond + n_add] = o->enrol_mask;
        add_e = ncond + n_add++;
    }
    if (cmask >= 0 && mfr_csv_column(csv, o->probe_mask) < 0) {
        names[ncond + n_add] = o->probe_mask;
        add_p = ncond + n_add++;
    }
    if ((rc = vrows_init(&r, ncond + n_add, names)) != MFR_OK)
        goto done;
    r.has_subjects = 1;
    while ((rc = mfr_csv_next(csv, &has)) == MFR_OK && has) {
        char where[512];
        const char *vals[VROWS_MAX_COND];
        size_t a, b;
        int mated, fail;
        int32_t sa, sb;
        snprintf(where, sizeof where, "%s:%ld", ppath, mfr_csv_line(csv));
        if ((rc = find_row(&ix, mfr_csv_field(csv, ce), &a, where)) != MFR_OK ||
            (rc = find_row(&ix, mfr_csv_field(csv, cp), &b, where)) != MFR_OK)
            break;
        sa = strtab_id(&r.subjects, m.cells[cid][a]);
        sb = strtab_id(&r.subjects, m.cells[cid][b]);
        if (sa < 0 || sb < 0) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            break;
        }
        mated = sa == sb;
        if (cmated >= 0) {
            int given = parse_bool(mfr_csv_field(csv, cmated));
            if (given < 0) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: column 'mated': '%s' is not 0/1/true/false", where,
                               mfr_csv_field(csv, cmated));
                break;
            }
            if (given != mated) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: 'mated' is %d but the manifest identities are '%s' and '%s'",
                               where, given, m.cells[cid][a], m.cells[cid][b]);
                break;
            }
        }
        fail = row_failed(emb + a * dim, dim) || row_failed(emb + b * dim, dim);
        if (cacq >= 0 && (parse_bool(m.cells[cacq][a]) == 0 || parse_bool(m.cells[cacq][b]) == 0))
            fail = 1;
        for (int c = 0; c < ncond; c++)
            vals[c] = mfr_csv_field(csv, cidx[c]);
        if (add_e >= 0)
            vals[add_e] = m.cells[cmask][a];
        if (add_p >= 0)
            vals[add_p] = m.cells[cmask][b];
        if ((rc = vrows_add(&r, fail ? NAN : dot(emb + a * dim, emb + b * dim, dim), mated, fail, sa, sb, vals,
                            where)) != MFR_OK)
            break;
    }
    if (rc == MFR_OK)
        rc = vset_from_rows(&r, o, "pairs", ppath, out);
    if (rc == MFR_OK) {
        (*out)->embeddings = rows;
        (*out)->dim = dim;
    }
done:
    if (csv)
        mfr_csv_close(csv);
    vrows_free(&r);
    free(ix.ord);
    mfr_free(emb);
    manifest_free(&m);
    return rc;
}
