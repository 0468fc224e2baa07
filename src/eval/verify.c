/* Verification (1:1) metrics: rates at a threshold, the threshold at a
 * target FMR, the FVC2000 EER, d', the subject bootstrap of the EER. All
 * counts are exact integers; rates are ratios of them. */
#include "config.h"
#include "eval/verify_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_BOOTSTRAP 0xB0075u

void mfr_verify_opts_default(mfr_verify_opts *o)
{
    static const double targets[] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
    memset(o, 0, sizeof *o);
    for (int i = 0; i < 6; i++)
        o->fmr_targets[i] = targets[i];
    o->n_fmr_targets = 6;
    o->level = 0.95;
    o->nist_fmr = 1e-5;
    o->unmasked = "none";
    o->enrol_mask = "enrol_mask";
    o->probe_mask = "probe_mask";
    o->manifest_mask = NULL; /* "mask_type" if the manifest has it, else "mask" */
    o->bootstrap = 200;
    o->seed = 1;
    o->label = "system";
    o->hist_bits = 20;
    o->block = 512;
}

/* A threshold key as a float: key 0 stands for -inf, 2^32 for +inf. */
static float key_threshold(uint64_t key)
{
    if (key == 0)
        return -INFINITY;
    if (key >= 0x100000000ull)
        return INFINITY;
    return mfr_score_value((uint32_t)key);
}

static int count_ge64(const mfr_dist *d, uint64_t key, uint64_t *count, uint32_t *bin)
{
    if (key >= 0x100000000ull) {
        *count = 0;
        return MFR_OK;
    }
    return mfr_dist_count_ge(d, (uint32_t)key, count, bin);
}

static int point_at_key(const mfr_dist *m, const mfr_dist *nm, uint64_t key, double level, uint64_t fta_m,
                        uint64_t fta_nm, mfr_verify_point *p, uint32_t *bin)
{
    uint64_t fm, mge;
    int rc;
    if ((rc = count_ge64(nm, key, &fm, bin)) != MFR_OK)
        return rc;
    if ((rc = count_ge64(m, key, &mge, bin)) != MFR_OK)
        return rc;
    p->supported = 1;
    p->threshold = key_threshold(key);
    p->false_matches = fm;
    p->false_non_matches = m->n - mge;
    p->fmr = nm->n ? (double)fm / (double)nm->n : NAN;
    p->fnmr = m->n ? (double)p->false_non_matches / (double)m->n : NAN;
    mfr_clopper_pearson(fm, nm->n, level, &p->fmr_lo, &p->fmr_hi);
    mfr_clopper_pearson(p->false_non_matches, m->n, level, &p->fnmr_lo, &p->fnmr_hi);
    p->tar = 1.0 - p->fnmr;
    /* FAR = FMR (1 - FTA_n) = false matches / attempted non-mated, and
     * FRR = FTA_m + FNMR (1 - FTA_m) = (failures + false non-matches) /
     * attempted mated: both are binomial proportions of attempts. */
    p->far = nm->n + fta_nm ? (double)fm / (double)(nm->n + fta_nm) : NAN;
    p->frr = m->n + fta_m ? (double)(fta_m + p->false_non_matches) / (double)(m->n + fta_m) : NAN;
    mfr_clopper_pearson(fm, nm->n + fta_nm, level, &p->far_lo, &p->far_hi);
    mfr_clopper_pearson(fta_m + p->false_non_matches, m->n + fta_m, level, &p->frr_lo, &p->frr_hi);
    return MFR_OK;
}

int mfr_verify_at_threshold(const mfr_dist *mated, const mfr_dist *nonmated, float t, double level,
                            uint64_t fta_m, uint64_t fta_nm, mfr_verify_point *out)
{
    uint32_t bin = 0;
    int rc;
    memset(out, 0, sizeof *out);
    out->fmr_target = NAN;
    if (isnan(t))
        return mfr_error(MFR_ERR_ARG, "threshold is NaN");
    rc = point_at_key(mated, nonmated, mfr_score_key(t), level, fta_m, fta_nm, out, &bin);
    if (rc == MFR_ERR_RANGE)
        return mfr_error(rc, "threshold %g falls in histogram bin %u, which was not refined", (double)t, bin);
    out->threshold = t;
    out->fmr_target = NAN;
    return rc;
}

/* k = floor(target n): the most false matches the target allows. The slack
 * keeps 0.1 * 10 from landing just under 1. */
static uint64_t allowed_false_matches(double target, uint64_t n)
{
    double k = floor(target * (double)n * (1.0 + 1e-12));
    return k < 0 ? 0 : (uint64_t)k;
}

/* The smallest threshold key with count_ge <= k: one past the (k+1)-th largest
 * score, so that exactly the scores above it match. */
static int threshold_for_count(const mfr_dist *nm, uint64_t k, uint64_t *key, uint32_t *bin)
{
    uint32_t s;
    int rc;
    if (k >= nm->n) {
        *key = 0;
        return MFR_OK;
    }
    if ((rc = mfr_dist_kth_largest(nm, k + 1, &s, bin)) != MFR_OK)
        return rc;
    *key = (uint64_t)s + 1;
    return MFR_OK;
}

static int at_fmr(const mfr_dist *m, const mfr_dist *nm, double target, double level, uint64_t fta_m, uint64_t fta_nm,
                  mfr_verify_point *p, uint32_t *bin)
{
    uint64_t k, key;
    int rc;
    memset(p, 0, sizeof *p);
    p->fmr_target = target;
    k = allowed_false_matches(target, nm->n);
    if (nm->n == 0 || k < 1 || m->n == 0) {
        p->supported = 0;
        p->threshold = NAN;
        p->fmr = p->fnmr = p->fmr_lo = p->fmr_hi = p->fnmr_lo = p->fnmr_hi = NAN;
        p->tar = p->far = p->frr = p->far_lo = p->far_hi = p->frr_lo = p->frr_hi = NAN;
        return MFR_OK;
    }
    if ((rc = threshold_for_count(nm, k, &key, bin)) != MFR_OK)
        return rc;
    rc = point_at_key(m, nm, key, level, fta_m, fta_nm, p, bin);
    p->fmr_target = target;
    return rc;
}

int mfr_verify_at_fmr(const mfr_dist *mated, const mfr_dist *nonmated, double target, double level,
                      uint64_t fta_m, uint64_t fta_nm, mfr_verify_point *out)
{
    uint32_t bin = 0;
    int rc;
    if (!(target > 0 && target < 1))
        return mfr_error(MFR_ERR_ARG, "target FMR %g outside (0, 1)", target);
    rc = at_fmr(mated, nonmated, target, level, fta_m, fta_nm, out, &bin);
    if (rc == MFR_ERR_RANGE)
        return mfr_error(rc, "the threshold at FMR %g falls in histogram bin %u, which was not refined", target,
                         bin);
    return rc;
}

/* ------------------------------------------------------------------- EER */

/* sign(fnm / G - fm / I), exactly. */
static int d_sign(uint64_t fnm, uint64_t G, uint64_t fm, uint64_t I)
{
    unsigned __int128 x = (unsigned __int128)fnm * I, y = (unsigned __int128)fm * G;
    return (x > y) - (x < y);
}

typedef struct sweep {
    uint64_t key1, key2, fnm1, fm1, fnm2, fm2;
    int have1, have2;
} sweep;

static void sweep_candidate(sweep *r, uint64_t key, uint64_t fnm, uint64_t fm, uint64_t G, uint64_t I)
{
    int s = d_sign(fnm, G, fm, I);
    if (s <= 0) {
        r->key1 = key, r->fnm1 = fnm, r->fm1 = fm, r->have1 = 1;
    }
    if (s >= 0 && !r->have2) {
        r->key2 = key, r->fnm2 = fnm, r->fm2 = fm, r->have2 = 1;
    }
}

/* Evaluates FNMR and FMR at every distinct threshold in [lo_key, hi_key]:
 * lo_key itself, each distinct key of g (mated) and im (non-mated), hi_key.
 * FNMR counts g_below + the g keys below t; FMR counts i_above + the im keys
 * at or above t. Weights (NULL: 1 each) are integer multiplicities. */
static void eer_sweep(const uint32_t *g, const uint64_t *gw, size_t ng, uint64_t g_below, const uint32_t *im,
                      const uint64_t *iw, size_t ni, uint64_t i_above, uint64_t G, uint64_t I, uint64_t lo_key,
                      uint64_t hi_key, sweep *r)
{
    uint64_t below = g_below, above = i_above;
    size_t i = 0, j = 0;
    for (size_t t = 0; t < ni; t++)
        above += iw ? iw[t] : 1;
    memset(r, 0, sizeof *r);
    sweep_candidate(r, lo_key, below, above, G, I);
    while (i < ng || j < ni) {
        uint32_t v = i < ng && (j >= ni || g[i] <= im[j]) ? g[i] : im[j];
        if (r->have2 && d_sign(below, G, above, I) > 0)
            break;
        sweep_candidate(r, v, below, above, G, I);
        while (i < ng && g[i] == v)
            below += gw ? gw[i++] : (i++, 1);
        while (j < ni && im[j] == v)
            above -= iw ? iw[j++] : (j++, 1);
    }
    if (i == ng && j == ni)
        sweep_candidate(r, hi_key, below, above, G, I);
    /* FNMR == FMR at t2: the rates are equal wherever D = 0, so t1 = t2. */
    if (d_sign(r->fnm2, G, r->fm2, I) == 0) {
        r->key1 = r->key2, r->fnm1 = r->fnm2, r->fm1 = r->fm2;
    }
}

static void eer_from_sweep(const sweep *r, uint64_t G, uint64_t I, mfr_eer *e)
{
    double fnmr1 = (double)r->fnm1 / (double)G, fmr1 = (double)r->fm1 / (double)I;
    double fnmr2 = (double)r->fnm2 / (double)G, fmr2 = (double)r->fm2 / (double)I;
    e->defined = 1;
    if (fnmr1 + fmr1 <= fmr2 + fnmr2) {
        e->low = fnmr1;
        e->high = fmr1;
    } else {
        e->low = fmr2;
        e->high = fnmr2;
    }
    e->eer = 0.5 * (e->low + e->high);
    e->t1 = key_threshold(r->key1);
    e->t2 = key_threshold(r->key2);
}

static size_t lb(const uint32_t *v, size_t n, uint64_t k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int eer_dists(const mfr_dist *m, const mfr_dist *nm, mfr_eer *e, uint32_t *bin)
{
    uint64_t G = m->n, I = nm->n;
    sweep r;
    memset(e, 0, sizeof *e);
    e->eer = e->low = e->high = e->boot_lo = e->boot_hi = NAN;
    e->t1 = e->t2 = NAN;
    if (G == 0 || I == 0)
        return MFR_OK;
    if (m->bits)
        return mfr_error(MFR_ERR_INTERNAL, "EER: mated scores must be held exactly");
    if (!nm->bits) {
        eer_sweep(m->keys, NULL, m->nkeys, 0, nm->keys, NULL, nm->nkeys, 0, G, I, 0, 0x100000000ull, &r);
    } else {
        /* Find the last bin edge where FNMR < FMR, then sweep inside that bin. */
        int shift = 32 - nm->bits;
        size_t lo = 0, hi = (size_t)1 << nm->bits, e_bin;
        uint64_t edge, next;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            uint64_t ek = (uint64_t)mid << shift;
            uint64_t fnm = lb(m->keys, m->nkeys, ek);
            if (d_sign(fnm, G, nm->cum[mid], I) < 0)
                lo = mid;
            else
                hi = mid;
        }
        e_bin = lo;
        if (!nm->refined[e_bin]) {
            *bin = (uint32_t)e_bin;
            return MFR_ERR_RANGE;
        }
        edge = (uint64_t)e_bin << shift;
        next = (uint64_t)(e_bin + 1) << shift;
        {
            size_t g0 = lb(m->keys, m->nkeys, edge), g1 = lb(m->keys, m->nkeys, next);
            size_t i0 = lb(nm->keys, nm->nkeys, edge), i1 = lb(nm->keys, nm->nkeys, next);
            eer_sweep(m->keys + g0, NULL, g1 - g0, g0, nm->keys + i0, NULL, i1 - i0, nm->cum[e_bin + 1], G, I,
                      edge, next, &r);
        }
        eer_from_sweep(&r, G, I, e);
        /* t1 at the bin edge stands for the largest score below the bin,
         * which this bin alone does not tell: unknown (the rates are exact). */
        if (r.key1 == edge)
            e->t1 = NAN;
        return MFR_OK;
    }
    eer_from_sweep(&r, G, I, e);
    return MFR_OK;
}

int mfr_verify_eer(const mfr_dist *mated, const mfr_dist *nonmated, mfr_eer *out)
{
    uint32_t bin = 0;
    int rc = eer_dists(mated, nonmated, out, &bin);
    if (rc == MFR_ERR_RANGE)
        return mfr_error(rc, "the EER falls in histogram bin %u, which was not refined", bin);
    return rc;
}

/* ------------------------------------------------------------- bootstrap */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Subjects are drawn with replacement (n draws from n subjects); a comparison
 * of subjects a and b then counts w_a * w_b times (w_a times when a == b),
 * where w is how often each subject was drawn. Replicate r uses the random
 * stream (seed, STREAM_BOOTSTRAP, r) only, so any thread count gives the
 * same intervals. */
static int bootstrap_eer(const vgroup *grp, int nsubjects, const mfr_verify_opts *o, mfr_eer *e)
{
    int reps = o->bootstrap, rc = MFR_OK, valid = 0;
    uint32_t *gk = malloc((grp->nmc + 1) * sizeof *gk), *ik = malloc((grp->nnc + 1) * sizeof *ik);
    double *vals = malloc((size_t)reps * sizeof *vals);
    if (!gk || !ik || !vals) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for the bootstrap");
        goto done;
    }
    for (size_t i = 0; i < grp->nmc; i++)
        gk[i] = grp->mc[i].key;
    for (size_t i = 0; i < grp->nnc; i++)
        ik[i] = grp->nc[i].key;
    {
        int failed = 0;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(mfr_threads()) schedule(dynamic, 1) reduction(| : failed)
#endif
        for (int r = 0; r < reps; r++) {
            uint64_t *w = calloc((size_t)nsubjects, sizeof *w);
            uint64_t *gw = malloc((grp->nmc + 1) * sizeof *gw), *iw = malloc((grp->nnc + 1) * sizeof *iw);
            uint64_t G = 0, I = 0;
            mfr_rng rng;
            vals[r] = NAN;
            if (!w || !gw || !iw) {
                failed = 1;
                free(w), free(gw), free(iw);
                continue;
            }
            mfr_rng_init(&rng, o->seed, STREAM_BOOTSTRAP, (uint64_t)r);
            for (int d = 0; d < nsubjects; d++)
                w[mfr_rng_below(&rng, (uint32_t)nsubjects)]++;
            for (size_t i = 0; i < grp->nmc; i++) {
                const vcmp *c = &grp->mc[i];
                gw[i] = c->a == c->b ? w[c->a] : w[c->a] * w[c->b];
                G += gw[i];
            }
            for (size_t i = 0; i < grp->nnc; i++) {
                const vcmp *c = &grp->nc[i];
                iw[i] = c->a == c->b ? w[c->a] : w[c->a] * w[c->b];
                I += iw[i];
            }
            if (G > 0 && I > 0) {
                sweep sw;
                mfr_eer er;
                eer_sweep(gk, gw, grp->nmc, 0, ik, iw, grp->nnc, 0, G, I, 0, 0x100000000ull, &sw);
                eer_from_sweep(&sw, G, I, &er);
                vals[r] = er.eer;
            }
            free(w), free(gw), free(iw);
        }
        if (failed) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory in a bootstrap replicate");
            goto done;
        }
    }
    for (int r = 0; r < reps; r++)
        if (!isnan(vals[r]))
            vals[valid++] = vals[r];
    qsort(vals, (size_t)valid, sizeof *vals, cmp_double);
    e->boot_reps = valid;
    if (valid > 0) {
        double a = (1.0 - o->level) / 2;
        e->boot_lo = mfr_quantile_sorted(vals, (size_t)valid, a);
        e->boot_hi = mfr_quantile_sorted(vals, (size_t)valid, 1.0 - a);
    }
done:
    free(gk);
    free(ik);
    free(vals);
    return rc;
}

/* ---------------------------------------------------------- group stats */

static void moments(const mfr_dist *d, double *mean, double *sd)
{
    double mu, var;
    if (d->n == 0) {
        *mean = *sd = NAN;
        return;
    }
    mu = d->sum / (double)d->n;
    var = d->sumsq / (double)d->n - mu * mu;
    *mean = mu;
    *sd = sqrt(var > 0 ? var : 0);
}

static int group_stats(const mfr_vset *s, int g, const mfr_verify_opts *o, mfr_verify_stats *st, uint32_t *bin)
{
    const vgroup *grp = &s->g[g];
    int rc;
    memset(st, 0, sizeof *st);
    st->mated = grp->m.n;
    st->nonmated = grp->nm.n;
    st->fta_mated = grp->fta_m;
    st->fta_nonmated = grp->fta_nm;
    st->fta_mated_rate = grp->m.n + grp->fta_m ? (double)grp->fta_m / (double)(grp->m.n + grp->fta_m) : 0.0;
    st->fta_nonmated_rate =
        grp->nm.n + grp->fta_nm ? (double)grp->fta_nm / (double)(grp->nm.n + grp->fta_nm) : 0.0;
    moments(&grp->m, &st->mean_mated, &st->sd_mated);
    moments(&grp->nm, &st->mean_nonmated, &st->sd_nonmated);
    st->dprime = fabs(st->mean_mated - st->mean_nonmated) /
                 sqrt(0.5 * (st->sd_mated * st->sd_mated + st->sd_nonmated * st->sd_nonmated));
    st->min_fmr_supported = grp->nm.n ? 1.0 / (double)grp->nm.n : NAN;
    if ((rc = eer_dists(&grp->m, &grp->nm, &st->eer, bin)) != MFR_OK)
        return rc;
    st->n_points = o->n_fmr_targets;
    for (int i = 0; i < o->n_fmr_targets; i++)
        if ((rc = at_fmr(&grp->m, &grp->nm, o->fmr_targets[i], o->level, st->fta_mated,
                         st->fta_nonmated, &st->at_fmr[i], bin)) != MFR_OK)
            return rc;
    st->n_fixed = o->n_thresholds;
    for (int i = 0; i < o->n_thresholds; i++) {
        if ((rc = point_at_key(&grp->m, &grp->nm, mfr_score_key((float)o->thresholds[i]), o->level,
                               st->fta_mated, st->fta_nonmated, &st->at_threshold[i], bin)) != MFR_OK)
            return rc;
        st->at_threshold[i].fmr_target = NAN;
    }
    return MFR_OK;
}

int mfr_vset_stats(const mfr_vset *s, int g, const mfr_verify_opts *o, mfr_verify_stats *out)
{
    uint32_t bin = 0;
    int rc;
    if (g < 0 || g >= s->ng)
        return mfr_error(MFR_ERR_ARG, "group %d does not exist", g);
    rc = group_stats(s, g, o, out, &bin);
    if (rc == MFR_ERR_RANGE)
        return mfr_error(MFR_ERR_INTERNAL, "%s: a statistic falls in histogram bin %u, which was not refined",
                         s->g[g].name, bin);
    if (rc != MFR_OK)
        return rc;
    out->eer.boot_lo = out->eer.boot_hi = NAN;
    out->eer.boot_reps = 0;
    if (o->bootstrap > 0 && s->nsubjects > 0 && s->g[g].mc && s->g[g].nc && out->eer.defined)
        rc = bootstrap_eer(&s->g[g], s->nsubjects, o, &out->eer);
    return rc;
}

/* ---------------------------------------------------------------- NIST */

int verify_nist_reference(const mfr_vset *s, const mfr_verify_opts *o)
{
    /* Unmasked enrolment and probe; else unmasked probes (a scores file
     * with only a probe mask column); else everything. */
    char name[512];
    int g;
    snprintf(name, sizeof name, "mask_pair=%s:%s", o->unmasked, o->unmasked);
    if ((g = mfr_vset_find(s, name)) >= 0)
        return g;
    snprintf(name, sizeof name, "%s=%s", o->probe_mask, o->unmasked);
    if ((g = mfr_vset_find(s, name)) >= 0)
        return g;
    return 0;
}

int verify_nist_threshold(const mfr_vset *s, int ref, const mfr_verify_opts *o, int *supported, uint32_t *key,
                          uint32_t *bin)
{
    const mfr_dist *nm = &s->g[ref].nm;
    uint64_t k = allowed_false_matches(o->nist_fmr, nm->n), k64;
    int rc;
    *supported = nm->n > 0 && k >= 1;
    *key = 0;
    if (!*supported)
        return MFR_OK;
    if ((rc = threshold_for_count(nm, k, &k64, bin)) != MFR_OK)
        return rc;
    *key = k64 >= 0xffffffffull ? 0xffffffffu : (uint32_t)k64;
    return MFR_OK;
}

int verify_plan_bins(const mfr_vset *s, int g, const mfr_verify_opts *o, uint8_t *want)
{
    /* The searches below use bin edges only, so they name the bin each
     * statistic falls in without any bin being refined yet. */
    const vgroup *grp = &s->g[g];
    if (!grp->nm.bits)
        return MFR_OK;
    for (int i = 0; i < o->n_fmr_targets; i++) {
        uint64_t k = allowed_false_matches(o->fmr_targets[i], grp->nm.n), key;
        uint32_t bin = 0;
        if (grp->nm.n == 0 || k < 1)
            continue;
        if (threshold_for_count(&grp->nm, k, &key, &bin) == MFR_ERR_RANGE)
            want[bin] = 1;
    }
    for (int i = 0; i < o->n_thresholds; i++) {
        uint64_t c;
        uint32_t bin = 0;
        if (mfr_dist_count_ge(&grp->nm, mfr_score_key((float)o->thresholds[i]), &c, &bin) == MFR_ERR_RANGE)
            want[bin] = 1;
    }
    {
        mfr_eer e;
        uint32_t bin = 0;
        if (eer_dists(&grp->m, &grp->nm, &e, &bin) == MFR_ERR_RANGE)
            want[bin] = 1;
    }
    mfr_clear_error();
    return MFR_OK;
}

int verify_group_point(const vgroup *grp, uint32_t key, const mfr_verify_opts *o, mfr_verify_point *p)
{
    uint32_t bin = 0;
    memset(p, 0, sizeof *p);
    p->fmr_target = NAN;
    return point_at_key(&grp->m, &grp->nm, key, o->level, grp->fta_m, grp->fta_nm, p, &bin);
}
