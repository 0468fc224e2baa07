/* Identification (1:N): gallery against probes, scored as one GEMM per block
 * of probes. Closed set: the CMC over mated searches. Open set, as in NIST's
 * FRVT 1:N reports: FPIR(T), the share of non-mated searches whose best
 * candidate scores >= T, and FNIR(T), the share of mated searches whose mate
 * is not the rank-1 candidate with a score >= T. A gallery identity's score
 * is its best template; ties with the mate count against it. */
#include "config.h"
#include "eval/eval_internal.h"
#include "mfr/eval.h"
#include "mfr/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NPY_VALUES (1u << 30)
#define STREAM_ENROL 0xE7201u
#define PROBE_BLOCK 256

void mfr_identify_opts_default(mfr_identify_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_rank = 20;
    o->enrol_fraction = 1.0;
    o->seed = 1;
    o->level = 0.95;
    o->label = "system";
}

static int select_rows(const manifest *m, const char *spec, uint8_t *sel)
{
    char col[256];
    const char *eq = strchr(spec, '=');
    int c;
    size_t len = (size_t)(eq - spec);
    if (!eq || len == 0 || len >= sizeof col)
        return mfr_error(MFR_ERR_ARG, "'%s' is not COLUMN=VALUE", spec);
    memcpy(col, spec, len);
    col[len] = '\0';
    if ((c = manifest_col(m, col)) < 0)
        return mfr_error(MFR_ERR_NOTFOUND, "%s: no column '%s' (for '%s')", m->path, col, spec);
    for (size_t i = 0; i < m->n; i++)
        sel[i] = !strcmp(m->cells[c][i], eq + 1);
    return MFR_OK;
}

static int all_nan(const float *e, size_t dim)
{
    for (size_t k = 0; k < dim; k++)
        if (!isnan(e[k]))
            return 0;
    return 1;
}

typedef struct search {
    int mated;       /* the probe's identity is enrolled */
    int failed;      /* the probe could not be acquired */
    int rank;        /* mated: rank of the mate (1 = best) */
    float mate, top; /* mated: the mate's score; the best score overall */
} search;

int mfr_eval_identify(const char *npy, const char *mpath, const mfr_identify_opts *o, const char *out)
{
    manifest m;
    float *emb = NULL, *gal = NULL, *prb = NULL;
    size_t rows, dim, ng = 0, np = 0;
    uint8_t *isg = NULL, *isp = NULL, *bad = NULL, *enrolled = NULL;
    int *gid = NULL, *pid = NULL, cid, cacq, rc, nids;
    search *sr = NULL;
    strtab ids = {0};
    mfr_outdir d = {0};
    *(&rc) = MFR_OK;
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
    isg = calloc(m.n + 1, 1);
    isp = calloc(m.n + 1, 1);
    bad = calloc(m.n + 1, 1);
    gid = malloc((m.n + 1) * sizeof *gid);
    pid = malloc((m.n + 1) * sizeof *pid);
    if (!isg || !isp || !bad || !gid || !pid) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = select_rows(&m, o->gallery, isg)) != MFR_OK)
        goto done;
    if (o->probes) {
        if ((rc = select_rows(&m, o->probes, isp)) != MFR_OK)
            goto done;
    } else {
        for (size_t i = 0; i < m.n; i++)
            isp[i] = !isg[i];
    }
    for (size_t i = 0; i < m.n; i++) {
        bad[i] = all_nan(emb + i * dim, dim) || (cacq >= 0 && parse_bool(m.cells[cacq][i]) == 0);
        if (strtab_id(&ids, m.cells[cid][i]) < 0) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    nids = ids.n;
    /* Which identities are enrolled: every one with a usable gallery row, less
     * the share left out by enrol_fraction (a fixed draw per identity). */
    enrolled = calloc((size_t)nids + 1, 1);
    if (!enrolled) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m.n; i++)
        if (isg[i] && !bad[i])
            enrolled[strtab_find(&ids, m.cells[cid][i])] = 1;
    for (int k = 0; k < nids; k++) {
        mfr_rng r;
        mfr_rng_init(&r, o->seed, STREAM_ENROL, (uint64_t)k);
        if (mfr_rng_uniform(&r) >= o->enrol_fraction)
            enrolled[k] = 0;
    }
    for (size_t i = 0; i < m.n; i++) {
        int id = strtab_find(&ids, m.cells[cid][i]);
        if (isg[i] && !bad[i] && enrolled[id])
            gid[ng++] = id;
        if (isp[i] && !isg[i])
            pid[np++] = id;
    }
    if (ng == 0 || np == 0) {
        rc = mfr_error(MFR_ERR_ARG, "%s: the gallery (%zu rows) or the probes (%zu rows) are empty", mpath, ng, np);
        goto done;
    }
    gal = mfr_alloc(ng * dim * sizeof *gal);
    prb = mfr_alloc(np * dim * sizeof *prb);
    sr = calloc(np, sizeof *sr);
    if (!gal || !prb || !sr) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    {
        size_t a = 0, b = 0;
        for (size_t i = 0; i < m.n; i++) {
            int id = strtab_find(&ids, m.cells[cid][i]);
            if (isg[i] && !bad[i] && enrolled[id])
                memcpy(gal + dim * a++, emb + i * dim, dim * sizeof *gal);
            if (isp[i] && !isg[i]) {
                sr[b].failed = bad[i];
                sr[b].mated = enrolled[id];
                memcpy(prb + dim * b++, emb + i * dim, dim * sizeof *prb);
            }
        }
    }
    /* Score blocks of probes against the whole gallery. */
    {
        size_t nblk = (np + PROBE_BLOCK - 1) / PROBE_BLOCK;
        int oom = 0;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(mfr_threads()) schedule(dynamic, 1) reduction(| : oom)
#endif
        for (size_t blk = 0; blk < nblk; blk++) {
            size_t p0 = blk * PROBE_BLOCK, mp = np - p0 < PROBE_BLOCK ? np - p0 : PROBE_BLOCK;
            float *c = mfr_alloc(mp * ng * sizeof *c), *best = malloc(((size_t)nids + 1) * sizeof *best);
            if (!c || !best) {
                oom = 1;
                mfr_free(c);
                free(best);
                continue;
            }
            mfr_sgemm('N', 'T', (int)mp, (int)ng, (int)dim, 1.0f, prb + p0 * dim, (int)dim, gal, (int)dim, 0.0f, c,
                      (int)ng);
            for (size_t r = 0; r < mp; r++) {
                search *s = &sr[p0 + r];
                int me = pid[p0 + r], rank = 1;
                float top = -INFINITY;
                if (s->failed)
                    continue;
                for (int k = 0; k < nids; k++)
                    best[k] = -INFINITY;
                for (size_t j = 0; j < ng; j++) {
                    float v = c[r * ng + j];
                    if (v > best[gid[j]])
                        best[gid[j]] = v;
                }
                for (int k = 0; k < nids; k++)
                    if (enrolled[k] && best[k] > top)
                        top = best[k];
                s->top = top;
                if (s->mated) {
                    s->mate = best[me];
                    for (int k = 0; k < nids; k++)
                        if (k != me && enrolled[k] && best[k] >= s->mate)
                            rank++;
                    s->rank = rank;
                }
            }
            mfr_free(c);
            free(best);
        }
        if (oom) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory for the score blocks");
            goto done;
        }
    }
    /* Results. */
    {
        uint64_t nmated = 0, nnon = 0, failed_m = 0;
        uint32_t *nk = NULL;
        mfr_dist nd;
        mfr_afile fj = {0}, ft = {0}, fc = {0}, ff = {0};
        jw w;
        static const double fpir_targets[] = {0.1, 0.01, 0.001, 0.0001};
        for (size_t i = 0; i < np; i++) {
            if (sr[i].mated) {
                nmated++;
                failed_m += sr[i].failed;
            } else if (!sr[i].failed) {
                nnon++;
            }
        }
        nk = malloc((nnon + 1) * sizeof *nk);
        if (!nk) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        {
            size_t t = 0;
            for (size_t i = 0; i < np; i++)
                if (!sr[i].mated && !sr[i].failed)
                    nk[t++] = mfr_score_key(sr[i].top);
        }
        rc = mfr_dist_from_keys(&nd, nk, nnon);
        free(nk);
        if (rc != MFR_OK)
            goto done;
        if ((rc = mfr_outdir_begin(&d, out)) != MFR_OK || (rc = out_open(&fj, d.tmp, "results.json")) != MFR_OK ||
            (rc = out_open(&ft, d.tmp, "results.tsv")) != MFR_OK || (rc = out_open(&fc, d.tmp, "cmc.csv")) != MFR_OK ||
            (rc = out_open(&ff, d.tmp, "fnir_fpir.csv")) != MFR_OK) {
            mfr_afile_abort(&fj), mfr_afile_abort(&ft), mfr_afile_abort(&fc), mfr_afile_abort(&ff);
            mfr_dist_free(&nd);
            goto done;
        }
        jw_begin(&w, fj.fp, ft.fp);
        jw_str(&w, "kind", "identify");
        jw_str(&w, "label", o->label);
        jw_str(&w, "mfr_version", mfr_build()->version);
        jw_obj(&w, "identify");
        jw_obj(&w, "definitions");
        jw_str(&w, "cmc", "CMC(r): mated searches whose mate ranks r or better / mated searches; a gallery "
                          "identity scores its best template; identities tying with the mate rank ahead of it; "
                          "failed probes are misses");
        jw_str(&w, "fpir", "FPIR(T): non-mated searches whose best candidate scores >= T / non-mated searches "
                           "(completed)");
        jw_str(&w, "fnir", "FNIR(T): mated searches whose mate is not rank 1 or scores < T, or whose probe "
                           "failed / mated searches (rank 1, NIST FRVT 1:N)");
        jw_end(&w);
        jw_str(&w, "gallery", o->gallery);
        jw_str(&w, "probes", o->probes ? o->probes : "all other rows");
        jw_int(&w, "gallery_templates", ng);
        {
            uint64_t ne = 0;
            for (int k = 0; k < nids; k++)
                ne += enrolled[k];
            jw_int(&w, "gallery_identities", ne);
        }
        jw_int(&w, "mated_searches", nmated);
        jw_int(&w, "nonmated_searches", nnon);
        jw_int(&w, "failed_mated_probes", failed_m);
        jw_arr(&w, "cmc");
        fprintf(fc.fp, "rank,rate,lo,hi\n");
        for (int r = 1; r <= o->max_rank; r++) {
            uint64_t hit = 0;
            double lo, hi;
            for (size_t i = 0; i < np; i++)
                if (sr[i].mated && !sr[i].failed && sr[i].rank <= r)
                    hit++;
            mfr_clopper_pearson(hit, nmated, o->level, &lo, &hi);
            jw_obj(&w, NULL);
            jw_int(&w, "rank", (uint64_t)r);
            jw_int(&w, "hits", hit);
            jw_num(&w, "rate", nmated ? (double)hit / (double)nmated : NAN);
            jw_interval(&w, "ci", lo, hi);
            jw_end(&w);
            fprintf(fc.fp, "%d,%.9g,%.9g,%.9g\n", r, nmated ? (double)hit / (double)nmated : NAN, lo, hi);
        }
        jw_end(&w);
        jw_obj(&w, "fnir_at_fpir");
        for (size_t t = 0; t < sizeof fpir_targets / sizeof *fpir_targets; t++) {
            double target = fpir_targets[t], k = floor(target * (double)nnon * (1.0 + 1e-12)), lo, hi;
            uint64_t key, fp = 0, miss = 0;
            uint32_t s32;
            char name[32];
            if (nnon == 0 || k < 1 || nmated == 0)
                continue;
            if ((uint64_t)k >= nnon)
                key = 0;
            else {
                mfr_dist_kth_largest(&nd, (uint64_t)k + 1, &s32, NULL);
                key = (uint64_t)s32 + 1;
            }
            if (key < 0x100000000ull)
                mfr_dist_count_ge(&nd, (uint32_t)key, &fp, NULL);
            for (size_t i = 0; i < np; i++)
                if (sr[i].mated && (sr[i].failed || sr[i].rank > 1 || mfr_score_key(sr[i].mate) < key))
                    miss++;
            snprintf(name, sizeof name, "%g", target);
            jw_obj(&w, name);
            jw_float(&w, "threshold", key >= 0x100000000ull ? INFINITY : mfr_score_value((uint32_t)key));
            jw_num(&w, "fpir", (double)fp / (double)nnon);
            mfr_clopper_pearson(fp, nnon, o->level, &lo, &hi);
            jw_interval(&w, "fpir_ci", lo, hi);
            jw_num(&w, "fnir", (double)miss / (double)nmated);
            mfr_clopper_pearson(miss, nmated, o->level, &lo, &hi);
            jw_interval(&w, "fnir_ci", lo, hi);
            jw_end(&w);
        }
        jw_end(&w);
        if (nnon == 0)
            jw_str(&w, "note", "no non-mated searches: open-set rates need probes of identities not enrolled "
                               "(set enrol_fraction below 1)");
        jw_end(&w);
        jw_finish(&w);
        /* The FNIR-FPIR trade-off at every distinct non-mated top score. */
        fprintf(ff.fp, "threshold,fpir,fnir\n");
        for (size_t j = 0; j < nd.nkeys; j++) {
            uint64_t miss = 0;
            uint32_t key = nd.keys[j];
            if (j > 0 && nd.keys[j - 1] == key)
                continue;
            for (size_t i = 0; i < np; i++)
                if (sr[i].mated && (sr[i].failed || sr[i].rank > 1 || mfr_score_key(sr[i].mate) < key))
                    miss++;
            fprintf(ff.fp, "%.9g,%.12g,%.12g\n", (double)mfr_score_value(key),
                    (double)(nd.nkeys - j) / (double)nnon, nmated ? (double)miss / (double)nmated : NAN);
            if (nd.nkeys > 2000 && j + 1 < nd.nkeys)
                j += nd.nkeys / 2000; /* at most ~2000 curve points */
        }
        mfr_dist_free(&nd);
        if ((rc = mfr_afile_commit(&fj)) != MFR_OK || (rc = mfr_afile_commit(&ft)) != MFR_OK ||
            (rc = mfr_afile_commit(&fc)) != MFR_OK || (rc = mfr_afile_commit(&ff)) != MFR_OK) {
            mfr_afile_abort(&fj), mfr_afile_abort(&ft), mfr_afile_abort(&fc), mfr_afile_abort(&ff);
            goto done;
        }
        rc = mfr_outdir_commit(&d);
    }
done:
    if (rc != MFR_OK)
        mfr_outdir_abort(&d);
    free(isg), free(isp), free(bad), free(gid), free(pid), free(enrolled), free(sr);
    mfr_free(gal), mfr_free(prb), mfr_free(emb);
    strtab_free(&ids);
    manifest_free(&m);
    return rc;
}
