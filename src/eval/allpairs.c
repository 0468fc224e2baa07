/* All-pairs verification: every pair i < j of N embeddings, scored in GEMM
 * blocks and streamed into exact statistics without an N x N matrix.
 *
 * Pass 1 scores every block pair: mated scores are kept (they are few), and
 * non-mated scores are counted in a histogram keyed by the top `hist_bits`
 * bits of their order-preserving key. Counts at bin edges are then exact.
 * The statistics we report (thresholds at target FMRs, the EER, NIST's
 * threshold) each fall in one bin, which the searches over bin edges name
 * without refinement. Pass 2 scores the blocks again and keeps the non-mated
 * keys of just those bins, which makes every reported number exact
 * (docs/metrics.md). Counts are integers, so the result does not depend on
 * how blocks are spread over threads; score sums for d' are added per block
 * pair and then in block order. */
#include "config.h"
#include "eval/verify_internal.h"
#include "mfr/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

#define MAX_COND_VALUES 6
#define MAX_NPY_VALUES (1u << 30)

/* mfr_score_key, inlined for the inner loop. */
static inline uint32_t score_key_inline(float s)
{
    uint32_t u;
    s += 0.0f; /* folds -0 onto +0 */
    memcpy(&u, &s, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

typedef struct kvec {
    uint32_t *v;
    size_t n, cap;
} kvec;

static int kvec_push(kvec *k, uint32_t x)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4096;
        uint32_t *g = realloc(k->v, cap * sizeof *g);
        if (!g)
            return -1;
        k->v = g;
        k->cap = cap;
    }
    k->v[k->n++] = x;
    return 0;
}

/* Per-thread state of a pass. */
typedef struct apt {
    float *c;
    uint64_t *hist;   /* ngc x nbins (pass 1) */
    kvec *mated;      /* ngc (pass 1) */
    kvec *keys;       /* ngc (pass 2) */
    uint64_t *nan_m, *nan_nm;  /* ngc: scores that came out NaN (failures) */
    int oom;
} apt;

typedef struct ap {
    const float *e;   /* m x dim, valid rows only */
    size_t m, dim, block, nblk, npairs;
    const int *id, *cd;
    int ngc;          /* score groups: 1 without conditions, else one per condition pair */
    const int *gid;   /* ncond x ncond -> score group */
    int ncond;
    int bits, shift;
    size_t nbins;
    double *psum;     /* npairs x ngc x 2 (pass 1) */
    const uint8_t *want;  /* ngc x nbins (pass 2) */
    const uint8_t *want_all;
    mfr_progress *prog;   /* drawn by thread 0 only */
    uint64_t done;        /* block pairs finished, both passes */
} ap;

static void block_of(size_t p, size_t nblk, size_t *bi, size_t *bj)
{
    /* Block pairs in row order: (0,0) (0,1) ... (0,nblk-1) (1,1) ... */
    size_t i = 0, row = nblk;
    while (p >= row) {
        p -= row;
        i++;
        row--;
    }
    *bi = i;
    *bj = i + p;
}

static void run_pass(ap *a, apt *th, int nth, int pass)
{
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
    for (size_t p = 0; p < a->npairs; p++) {
        int t = 0;
        size_t bi, bj, i0, j0, mi, mj;
        apt *me;
#ifdef MFR_HAVE_OPENMP
        t = omp_get_thread_num();
#endif
        (void)nth;
        me = &th[t];
        block_of(p, a->nblk, &bi, &bj);
        i0 = bi * a->block;
        j0 = bj * a->block;
        mi = a->m - i0 < a->block ? a->m - i0 : a->block;
        mj = a->m - j0 < a->block ? a->m - j0 : a->block;
        mfr_sgemm('N', 'T', (int)mi, (int)mj, (int)a->dim, 1.0f, a->e + i0 * a->dim, (int)a->dim,
                  a->e + j0 * a->dim, (int)a->dim, 0.0f, me->c, (int)a->block);
        for (size_t r = 0; r < mi; r++) {
            size_t i = i0 + r, c0 = bi == bj ? r + 1 : 0;
            const float *row = me->c + r * a->block;
            const int *idj = a->id + j0, *cdj = a->cd + j0;
            const int idi = a->id[i];
            const int *grow = a->ncond ? a->gid + (size_t)a->cd[i] * (size_t)a->ncond : NULL;
            /* Two accumulators per sum break the add latency chain; the
             * order is fixed, so the result does not depend on threads. */
            double s0 = 0, s1 = 0, q0 = 0, q1 = 0;
            int last_g = 0;
            for (size_t c = c0; c < mj; c++) {
                float s = row[c];
                int g = grow ? grow[cdj[c]] : 0;
                uint32_t key;
                if (g != last_g && pass == 1) {
                    /* A new condition group in this row: flush the sums. */
                    double *ps = a->psum + (p * (size_t)a->ngc + (size_t)last_g) * 2;
                    ps[0] += s0 + s1;
                    ps[1] += q0 + q1;
                    s0 = s1 = q0 = q1 = 0;
                }
                last_g = g;
                if (s != s) {
                    if (pass == 1) {
                        if (idj[c] == idi)
                            me->nan_m[g]++;
                        else
                            me->nan_nm[g]++;
                    }
                    continue;
                }
                key = score_key_inline(s);
                if (pass == 1) {
                    if (idj[c] == idi) {
                        if (kvec_push(&me->mated[g], key))
                            me->oom = 1;
                    } else {
                        me->hist[(size_t)g * a->nbins + (key >> a->shift)]++;
                        if (c & 1) {
                            s1 += s;
                            q1 += (double)s * s;
                        } else {
                            s0 += s;
                            q0 += (double)s * s;
                        }
                    }
                } else if (idj[c] != idi) {
                    size_t b = key >> a->shift;
                    if (a->want[(size_t)g * a->nbins + b] || a->want_all[b])
                        if (kvec_push(&me->keys[g], key))
                            me->oom = 1;
                }
            }
            if (pass == 1) {
                double *ps = a->psum + (p * (size_t)a->ngc + (size_t)last_g) * 2;
                ps[0] += s0 + s1;
                ps[1] += q0 + q1;
            }
        }
        {
            uint64_t d;
#ifdef MFR_HAVE_OPENMP
#pragma omp atomic capture
#endif
            d = ++a->done;
            if (t == 0)
                mfr_progress_update(a->prog, d);
        }
    }
}

/* Order of two condition values in a pair name: the unmasked state first,
 * then by name, so that "none:surgical" is one group whichever came first. */
static int cond_before(const char *a, const char *b, const char *unmasked)
{
    if (!strcmp(a, unmasked) != !strcmp(b, unmasked))
        return !strcmp(a, unmasked);
    return strcmp(a, b) <= 0;
}

int mfr_vset_all_pairs_mem(const float *emb, size_t n, size_t dim, const int *identity, const int *cond,
                           const char *const *cond_names, int n_cond, const uint8_t *failed,
                           const mfr_verify_opts *o, mfr_vset **out)
{
    ap a;
    apt *th = NULL;
    int nth = mfr_threads(), rc = MFR_OK, ngc = 1;
    float *e = NULL;
    int *id = NULL, *cd = NULL, gid[MAX_COND_VALUES * MAX_COND_VALUES];
    uint8_t *bad = NULL, *want = NULL;
    size_t m = 0;
    mfr_vset *s = NULL;
    uint64_t *hist = NULL;
    int *gmap = NULL; /* score group -> vset group */
    mfr_progress prog;
    int prog_on = 0;
    *out = NULL;
    memset(&a, 0, sizeof a);
    if (!cond)
        n_cond = 0;
    if (n_cond > MAX_COND_VALUES)
        return mfr_error(MFR_ERR_RANGE, "all-pairs: %d condition values; at most %d are supported (each pair of "
                         "values keeps its own histogram)", n_cond, MAX_COND_VALUES);
    if (o->hist_bits < 8 || o->hist_bits > 24 || o->block < 16)
        return mfr_error(MFR_ERR_ARG, "all-pairs: histogram bits %d outside [8, 24] or block %d < 16",
                         o->hist_bits, o->block);
    if (dim == 0 || dim > (1u << 20))
        return mfr_error(MFR_ERR_ARG, "all-pairs: embedding dimension %zu", dim);
    /* Failed rows (flagged, or all NaN) take part in no scoring; the others
     * are copied together only when some row failed. */
    bad = calloc(n + 1, 1);
    id = malloc((n + 1) * sizeof *id);
    cd = malloc((n + 1) * sizeof *cd);
    if (!bad || !id || !cd) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %zu embeddings", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int allnan = 1;
        for (size_t k = 0; k < dim && allnan; k++)
            allnan = isnan(emb[i * dim + k]);
        bad[i] = (failed && failed[i]) || allnan;
        if (!bad[i]) {
            id[m] = identity[i];
            cd[m] = n_cond ? cond[i] : 0;
            m++;
        }
    }
    if (m < n) {
        size_t k = 0;
        if (!(e = mfr_alloc((m + 1) * dim * sizeof *e))) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %zu embeddings", m);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (!bad[i])
                memcpy(e + dim * k++, emb + i * dim, dim * sizeof *e);
    }
    /* Groups: overall, then one per unordered pair of condition values. */
    if (!(s = vset_new("all-pairs", "memory"))) {
        rc = MFR_ERR_NOMEM;
        goto done;
    }
    s->embeddings = n;
    s->dim = dim;
    if (!vset_add_group(s, NULL, NULL)) {
        rc = MFR_ERR_NOMEM;
        goto done;
    }
    if (n_cond) {
        ngc = 0;
        gmap = malloc(MAX_COND_VALUES * MAX_COND_VALUES * sizeof *gmap);
        if (!gmap) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int x = 0; x < n_cond; x++)
            for (int y = 0; y < n_cond; y++)
                gid[x * n_cond + y] = -1;
        for (int x = 0; x < n_cond; x++)
            for (int y = 0; y < n_cond; y++) {
                int f = cond_before(cond_names[x], cond_names[y], o->unmasked) ? x : y, l = f == x ? y : x;
                if (gid[f * n_cond + l] < 0) {
                    char buf[512];
                    snprintf(buf, sizeof buf, "%s:%s", cond_names[f], cond_names[l]);
                    gid[f * n_cond + l] = ngc;
                    if (!vset_add_group(s, "mask_pair", buf)) {
                        rc = MFR_ERR_NOMEM;
                        goto done;
                    }
                    gmap[ngc++] = s->ng - 1;
                }
                gid[x * n_cond + y] = gid[f * n_cond + l];
            }
    }
    a.e = e ? e : emb;
    a.m = m;
    a.dim = dim;
    a.block = (size_t)o->block;
    a.nblk = (m + a.block - 1) / a.block;
    a.npairs = a.nblk * (a.nblk + 1) / 2;
    a.id = id;
    a.cd = cd;
    a.ngc = ngc;
    a.gid = gid;
    a.ncond = n_cond;
    a.bits = o->hist_bits;
    a.shift = 32 - a.bits;
    a.nbins = (size_t)1 << a.bits;
    a.psum = calloc(a.npairs * (size_t)ngc * 2 + 1, sizeof *a.psum);
    th = calloc((size_t)nth, sizeof *th);
    if (!a.psum || !th) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int t = 0; t < nth; t++) {
        th[t].c = mfr_alloc(a.block * a.block * sizeof(float));
        th[t].hist = calloc(a.nbins * (size_t)ngc, sizeof(uint64_t));
        th[t].mated = calloc((size_t)ngc, sizeof(kvec));
        th[t].keys = calloc((size_t)ngc, sizeof(kvec));
        th[t].nan_m = calloc((size_t)ngc, sizeof(uint64_t));
        th[t].nan_nm = calloc((size_t)ngc, sizeof(uint64_t));
        if (!th[t].c || !th[t].hist || !th[t].mated || !th[t].keys || !th[t].nan_m || !th[t].nan_nm) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory for the all-pairs histograms (%d groups of %zu bins)",
                           ngc, a.nbins);
            goto done;
        }
    }

    a.prog = &prog;
    mfr_progress_begin(a.prog, "all-pairs", 2 * (uint64_t)a.npairs, o->quiet);
    prog_on = 1;
    run_pass(&a, th, nth, 1);
    for (int t = 0; t < nth; t++)
        if (th[t].oom) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory for mated scores");
            goto done;
        }

    /* Merge the threads: integer counts, keys sorted by the dist. */
    hist = calloc(a.nbins * (size_t)(ngc + 1), sizeof *hist);
    if (!hist) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        uint64_t *all = hist + a.nbins * (size_t)ngc;
        double tot[2] = {0, 0};
        kvec allm = {0};
        for (int g = 0; g < ngc; g++) {
            uint64_t *h = hist + a.nbins * (size_t)g;
            double sum[2] = {0, 0};
            kvec mk = {0};
            vgroup *grp = &s->g[n_cond ? gmap[g] : 0];
            for (int t = 0; t < nth; t++) {
                const uint64_t *th_h = th[t].hist + a.nbins * (size_t)g;
                for (size_t b = 0; b < a.nbins; b++)
                    h[b] += th_h[b];
                for (size_t k = 0; k < th[t].mated[g].n; k++)
                    if (kvec_push(&mk, th[t].mated[g].v[k]) || (n_cond && kvec_push(&allm, th[t].mated[g].v[k])))
                        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                grp->fta_m += th[t].nan_m[g];
                grp->fta_nm += th[t].nan_nm[g];
                free(th[t].mated[g].v);
                th[t].mated[g].v = NULL;
            }
            for (size_t p = 0; p < a.npairs; p++) {
                sum[0] += a.psum[(p * (size_t)ngc + (size_t)g) * 2];
                sum[1] += a.psum[(p * (size_t)ngc + (size_t)g) * 2 + 1];
            }
            if (rc == MFR_OK)
                rc = mfr_dist_from_keys(&grp->m, mk.v, mk.n);
            if (rc == MFR_OK)
                rc = mfr_dist_from_hist(&grp->nm, a.bits, h, sum[0], sum[1]);
            free(mk.v);
            if (rc != MFR_OK) {
                free(allm.v);
                goto done;
            }
            for (size_t b = 0; b < a.nbins; b++)
                all[b] += h[b];
        }
        if (n_cond) {
            for (size_t p = 0; p < a.npairs; p++)
                for (int g = 0; g < ngc; g++) {
                    tot[0] += a.psum[(p * (size_t)ngc + (size_t)g) * 2];
                    tot[1] += a.psum[(p * (size_t)ngc + (size_t)g) * 2 + 1];
                }
            for (int g = 0; g < ngc; g++) {
                s->g[0].fta_m += s->g[gmap[g]].fta_m;
                s->g[0].fta_nm += s->g[gmap[g]].fta_nm;
            }
            rc = mfr_dist_from_keys(&s->g[0].m, allm.v, allm.n);
            if (rc == MFR_OK)
                rc = mfr_dist_from_hist(&s->g[0].nm, a.bits, all, tot[0], tot[1]);
        }
        free(allm.v);
        if (rc != MFR_OK)
            goto done;
    }

    /* Failures to acquire: each pair with a failed row, once. */
    for (size_t i = 0; i < n; i++) {
        if (!bad[i])
            continue;
        for (size_t j = 0; j < n; j++) {
            int gi, mated;
            if (j == i || (bad[j] && j < i))
                continue;
            mated = identity[i] == identity[j];
            gi = n_cond ? gmap[gid[cond[i] * n_cond + cond[j]]] : 0;
            if (mated)
                s->g[gi].fta_m++;
            else
                s->g[gi].fta_nm++;
            if (n_cond) {
                if (mated)
                    s->g[0].fta_m++;
                else
                    s->g[0].fta_nm++;
            }
        }
    }

    /* Plan: the bins every reported statistic falls in. */
    want = calloc(a.nbins * (size_t)(ngc + 1), 1);
    if (!want) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        uint8_t *want_all = want + a.nbins * (size_t)ngc;
        int ref = verify_nist_reference(s, o), sup;
        uint32_t key, bin = 0;
        for (int g = 0; g < s->ng; g++) {
            uint8_t *w = g == 0 ? want_all : want + a.nbins * (size_t)(g - 1);
            if (!n_cond && g > 0)
                break;
            verify_plan_bins(s, g, o, w);
        }
        /* NIST: the reference group's threshold bin, in every group. */
        if (verify_nist_threshold(s, ref, o, &sup, &key, &bin) == MFR_ERR_RANGE) {
            want_all[bin] = 1;
            for (int g = 0; g < ngc; g++)
                want[a.nbins * (size_t)g + bin] = 1;
        }
        mfr_clear_error();
        if (!n_cond) /* one score group: it is the overall group */
            for (size_t b = 0; b < a.nbins; b++)
                want[b] |= want_all[b];
        a.want = want;
        a.want_all = want_all;
    }

    run_pass(&a, th, nth, 2);
    mfr_progress_end(a.prog);
    prog_on = 0;
    for (int t = 0; t < nth; t++)
        if (th[t].oom) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory for refined scores");
            goto done;
        }
    {
        kvec allk = {0};
        const uint8_t *want_all = a.want_all;
        for (int g = 0; g < ngc && rc == MFR_OK; g++) {
            kvec gk = {0};
            const uint8_t *w = want + a.nbins * (size_t)g;
            vgroup *grp = &s->g[n_cond ? gmap[g] : 0];
            for (int t = 0; t < nth; t++)
                for (size_t k = 0; k < th[t].keys[g].n; k++) {
                    uint32_t key = th[t].keys[g].v[k];
                    if (w[key >> a.shift] && kvec_push(&gk, key))
                        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                    if (n_cond && want_all[key >> a.shift] && kvec_push(&allk, key))
                        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                }
            if (rc == MFR_OK)
                rc = mfr_dist_refine(&grp->nm, w, gk.v, gk.n);
            free(gk.v);
        }
        if (rc == MFR_OK && n_cond)
            rc = mfr_dist_refine(&s->g[0].nm, want_all, allk.v, allk.n);
        free(allk.v);
        if (rc != MFR_OK)
            goto done;
    }
    *out = s;
    s = NULL;
done:
    if (prog_on)
        mfr_progress_end(&prog);
    if (th)
        for (int t = 0; t < nth; t++) {
            mfr_free(th[t].c);
            free(th[t].hist);
            for (int g = 0; g < ngc; g++) {
                if (th[t].mated)
                    free(th[t].mated[g].v);
                if (th[t].keys)
                    free(th[t].keys[g].v);
            }
            free(th[t].mated), free(th[t].keys), free(th[t].nan_m), free(th[t].nan_nm);
        }
    free(th);
    free(a.psum);
    free(hist);
    free(want);
    free(gmap);
    free(bad), free(id), free(cd);
    mfr_free(e);
    mfr_vset_free(s);
    return rc;
}

int mfr_vset_all_pairs(const char *npy, const char *mpath, const mfr_verify_opts *o, mfr_vset **out)
{
    manifest m;
    float *emb = NULL;
    size_t rows, dim;
    int *identity = NULL, *cond = NULL, cid, cmask, cacq, rc;
    uint8_t *failed = NULL;
    strtab ids = {0}, conds = {0};
    *out = NULL;
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
    cmask = manifest_col(&m, verify_mask_column(&m, o, 0));
    cacq = manifest_col(&m, "acquired");
    identity = malloc((m.n + 1) * sizeof *identity);
    cond = malloc((m.n + 1) * sizeof *cond);
    failed = calloc(m.n + 1, 1);
    if (!identity || !cond || !failed) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m.n; i++) {
        identity[i] = strtab_id(&ids, m.cells[cid][i]);
        cond[i] = cmask >= 0 ? strtab_id(&conds, m.cells[cmask][i]) : 0;
        if (identity[i] < 0 || cond[i] < 0) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (conds.n > MAX_COND_VALUES) {
            rc = mfr_error(MFR_ERR_RANGE, "%s:%zu: column '%s' has more than %d values (all-pairs keeps a "
                           "histogram per pair of values; choose another --mask-column)", mpath, i + 2,
                           verify_mask_column(&m, o, 0), MAX_COND_VALUES);
            goto done;
        }
        if (cacq >= 0) {
            int v = parse_bool(m.cells[cacq][i]);
            if (v < 0) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%zu: column 'acquired': '%s' is not 0/1", mpath, i + 2,
                               m.cells[cacq][i]);
                goto done;
            }
            failed[i] = v == 0;
        }
    }
    rc = mfr_vset_all_pairs_mem(emb, rows, dim, identity, cmask >= 0 ? cond : NULL,
                                (const char *const *)conds.s, conds.n, failed, o, out);
    if (rc == MFR_OK) {
        free((*out)->source);
        (*out)->source = mfr_strdup(npy);
    }
done:
    free(identity), free(cond), free(failed);
    strtab_free(&ids);
    strtab_free(&conds);
    mfr_free(emb);
    manifest_free(&m);
    return rc;
}
