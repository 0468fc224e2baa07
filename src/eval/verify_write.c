/* Verification results: results.json (+ results.tsv), CSV curves. */
#include "config.h"
#include "eval/verify_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DET_BITS 16       /* DET/ROC points at these bin edges when sets are large */
#define DET_EXACT_MAX 1000000
#define HIST_BINS 64

static void write_point(jw *w, const char *key, const mfr_verify_point *p)
{
    jw_obj(w, key);
    if (!isnan(p->fmr_target))
        jw_num(w, "fmr_target", p->fmr_target);
    jw_bool(w, "supported", p->supported);
    jw_float(w, "threshold", p->threshold);
    jw_int(w, "false_matches", p->false_matches);
    jw_int(w, "false_non_matches", p->false_non_matches);
    jw_num(w, "fmr", p->fmr);
    jw_interval(w, "fmr_ci", p->fmr_lo, p->fmr_hi);
    jw_num(w, "fnmr", p->fnmr);
    jw_interval(w, "fnmr_ci", p->fnmr_lo, p->fnmr_hi);
    jw_num(w, "tar", p->tar);
    jw_interval(w, "tar_ci", 1.0 - p->fnmr_hi, 1.0 - p->fnmr_lo);
    jw_num(w, "far", p->far);
    jw_interval(w, "far_ci", p->far_lo, p->far_hi);
    jw_num(w, "frr", p->frr);
    jw_interval(w, "frr_ci", p->frr_lo, p->frr_hi);
    jw_end(w);
}

static void target_key(char *buf, size_t cap, double t)
{
    snprintf(buf, cap, "%g", t);
}

static void write_group(jw *w, const char *key, const mfr_verify_stats *st, const mfr_verify_opts *o)
{
    double lo, hi;
    char buf[32];
    jw_obj(w, key);
    jw_int(w, "mated", st->mated);
    jw_int(w, "nonmated", st->nonmated);
    jw_obj(w, "fta");
    jw_int(w, "mated_failed", st->fta_mated);
    jw_int(w, "nonmated_failed", st->fta_nonmated);
    jw_num(w, "mated_rate", st->fta_mated_rate);
    mfr_clopper_pearson(st->fta_mated, st->mated + st->fta_mated, o->level, &lo, &hi);
    jw_interval(w, "mated_ci", lo, hi);
    jw_num(w, "nonmated_rate", st->fta_nonmated_rate);
    mfr_clopper_pearson(st->fta_nonmated, st->nonmated + st->fta_nonmated, o->level, &lo, &hi);
    jw_interval(w, "nonmated_ci", lo, hi);
    jw_end(w);
    jw_obj(w, "eer");
    jw_bool(w, "defined", st->eer.defined);
    jw_num(w, "value", st->eer.eer);
    jw_num(w, "low", st->eer.low);
    jw_num(w, "high", st->eer.high);
    jw_float(w, "threshold_t1", st->eer.t1);
    jw_float(w, "threshold_t2", st->eer.t2);
    jw_obj(w, "bootstrap");
    jw_int(w, "replicates", (uint64_t)st->eer.boot_reps);
    jw_interval(w, "interval", st->eer.boot_lo, st->eer.boot_hi);
    jw_end(w);
    jw_end(w);
    jw_obj(w, "dprime");
    jw_num(w, "value", st->dprime);
    jw_num(w, "mean_mated", st->mean_mated);
    jw_num(w, "sd_mated", st->sd_mated);
    jw_num(w, "mean_nonmated", st->mean_nonmated);
    jw_num(w, "sd_nonmated", st->sd_nonmated);
    jw_end(w);
    jw_num(w, "min_fmr_supported", st->min_fmr_supported);
    jw_obj(w, "fnmr_at_fmr");
    for (int i = 0; i < st->n_points; i++)
        if (st->at_fmr[i].supported) {
            target_key(buf, sizeof buf, st->at_fmr[i].fmr_target);
            write_point(w, buf, &st->at_fmr[i]);
        }
    jw_end(w);
    jw_arr(w, "unsupported_fmr");
    for (int i = 0; i < st->n_points; i++)
        if (!st->at_fmr[i].supported)
            jw_num(w, NULL, st->at_fmr[i].fmr_target);
    jw_end(w);
    jw_arr(w, "at_threshold");
    for (int i = 0; i < st->n_fixed; i++)
        write_point(w, NULL, &st->at_threshold[i]);
    jw_end(w);
    jw_end(w);
}

static void write_definitions(jw *w, const mfr_verify_opts *o)
{
    jw_obj(w, "definitions");
    jw_str(w, "match", "a comparison is a match when score >= threshold");
    jw_str(w, "fmr", "false match rate: non-mated completed comparisons with score >= t / non-mated completed "
                     "comparisons (ISO/IEC 19795-1)");
    jw_str(w, "fnmr", "false non-match rate: mated completed comparisons with score < t / mated completed "
                      "comparisons");
    jw_str(w, "fta", "failure-to-acquire rate: comparisons that could not be completed (empty/NaN score, "
                     "all-NaN embedding, acquired=0) / attempted comparisons, per class");
    jw_str(w, "far", "FAR = FMR (1 - FTA_nonmated) = false matches / attempted non-mated comparisons");
    jw_str(w, "frr", "FRR = FTA_mated + FNMR (1 - FTA_mated) = (failures + false non-matches) / attempted mated "
                     "comparisons");
    jw_str(w, "tar", "TAR = 1 - FNMR");
    jw_str(w, "threshold_at_fmr",
           "the smallest threshold t with FMR(t) <= target: one float above the (floor(target N)+1)-th largest "
           "non-mated score; supported only when N >= 1/target (never extrapolated)");
    jw_str(w, "eer", "FVC2000 (Maio et al. 2002): t1 = max{t: FNMR<=FMR}, t2 = min{t: FNMR>=FMR}; [low, high] = "
                     "[FNMR(t1), FMR(t1)] if FNMR(t1)+FMR(t1) <= FMR(t2)+FNMR(t2) else [FMR(t2), FNMR(t2)]; "
                     "EER = (low+high)/2");
    jw_str(w, "dprime", "d' = |mean_m - mean_n| / sqrt((sd_m^2 + sd_n^2) / 2), population standard deviations");
    jw_str(w, "intervals", "Clopper-Pearson exact binomial intervals at the stated level");
    jw_str(w, "eer_bootstrap", "percentile interval over replicates that resample subjects with replacement; a "
                               "comparison of subjects a, b counts w_a w_b times (w_a when a = b)");
    jw_num(w, "level", o->level);
    jw_end(w);
}

/* The NIST conditions: the groups of the reference's column (mask_pair or
 * probe_mask), or only "overall" when the reference is overall. */
static int same_dimension(const mfr_vset *s, int ref, int g)
{
    if (!s->g[ref].column)
        return g == ref;
    return s->g[g].column && !strcmp(s->g[g].column, s->g[ref].column);
}

/* NIST FRVT style: threshold on the reference (unmasked) non-mated scores. */
static int write_nist(jw *w, const mfr_vset *s, const mfr_verify_opts *o, FILE *csv)
{
    int ref = verify_nist_reference(s, o), sup, rc;
    uint32_t key = 0, bin = 0;
    const vgroup *rg = &s->g[ref];
    mfr_verify_point rp;
    rc = verify_nist_threshold(s, ref, o, &sup, &key, &bin);
    if (rc == MFR_ERR_RANGE)
        return mfr_error(MFR_ERR_INTERNAL, "NIST threshold bin %u was not refined", bin);
    if (rc != MFR_OK)
        return rc;
    jw_obj(w, "nist");
    jw_num(w, "fmr_target", o->nist_fmr);
    jw_str(w, "reference", rg->name);
    jw_int(w, "reference_nonmated", rg->nm.n);
    jw_bool(w, "supported", sup);
    fprintf(csv, "condition,mated,nonmated,fnmr,fnmr_lo,fnmr_hi,fmr,fmr_lo,fmr_hi,fmr_ratio\n");
    if (!sup) {
        jw_str(w, "note", "the reference group has fewer non-mated comparisons than 1/fmr_target");
        jw_end(w);
        return MFR_OK;
    }
    {
        uint64_t fm = 0;
        mfr_dist_count_ge(&rg->nm, key, &fm, &bin);
        rp.fmr = rg->nm.n ? (double)fm / (double)rg->nm.n : NAN;
    }
    jw_float(w, "threshold", mfr_score_value(key));
    jw_num(w, "reference_fmr", rp.fmr);
    jw_obj(w, "fnmr");
    for (int g = 0; g < s->ng; g++) {
        mfr_verify_point p;
        if (!same_dimension(s, ref, g))
            continue;
        if (verify_group_point(&s->g[g], key, o, &p) != MFR_OK)
            return mfr_error(MFR_ERR_INTERNAL, "%s: NIST threshold not exact", s->g[g].name);
        jw_num(w, s->g[g].value ? s->g[g].value : s->g[g].name, p.fnmr);
    }
    jw_end(w);
    jw_obj(w, "conditions");
    for (int g = 0; g < s->ng; g++) {
        mfr_verify_point p;
        const char *name;
        if (!same_dimension(s, ref, g))
            continue;
        name = s->g[g].value ? s->g[g].value : s->g[g].name;
        verify_group_point(&s->g[g], key, o, &p);
        jw_obj(w, name);
        jw_int(w, "mated", s->g[g].m.n);
        jw_int(w, "nonmated", s->g[g].nm.n);
        jw_num(w, "fnmr", p.fnmr);
        jw_interval(w, "fnmr_ci", p.fnmr_lo, p.fnmr_hi);
        jw_num(w, "fmr", p.fmr);
        jw_interval(w, "fmr_ci", p.fmr_lo, p.fmr_hi);
        jw_num(w, "fmr_ratio", rp.fmr > 0 ? p.fmr / rp.fmr : NAN);
        jw_num(w, "fmr_shift", p.fmr - rp.fmr);
        jw_num(w, "frr", p.frr);
        jw_interval(w, "frr_ci", p.frr_lo, p.frr_hi);
        jw_end(w);
        fprintf(csv, "%s,%llu,%llu,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", name, (unsigned long long)s->g[g].m.n,
                (unsigned long long)s->g[g].nm.n, p.fnmr, p.fnmr_lo, p.fnmr_hi, p.fmr, p.fmr_lo, p.fmr_hi,
                rp.fmr > 0 ? p.fmr / rp.fmr : NAN);
    }
    jw_end(w);
    jw_end(w);
    return MFR_OK;
}

/* A count that may fall inside an unrefined bin: the bin's lower edge count
 * (display only: score histograms). */
static uint64_t count_ge_display(const mfr_dist *d, uint32_t key)
{
    uint64_t c;
    uint32_t bin = 0;
    if (mfr_dist_count_ge(d, key, &c, &bin) == MFR_OK)
        return c;
    return d->cum[bin];
}

static int det_row(FILE *fp, const vgroup *g, uint64_t key, double *last_fmr, double *last_fnmr)
{
    uint64_t fm, mge;
    uint32_t bin = 0;
    double fmr, fnmr;
    if (key >= 0x100000000ull) {
        fm = 0;
        mge = 0;
    } else if (mfr_dist_count_ge(&g->nm, (uint32_t)key, &fm, &bin) != MFR_OK ||
               mfr_dist_count_ge(&g->m, (uint32_t)key, &mge, &bin) != MFR_OK) {
        return MFR_OK; /* not exact here: not a curve point */
    }
    fmr = (double)fm / (double)g->nm.n;
    fnmr = (double)(g->m.n - mge) / (double)g->m.n;
    if (fmr == *last_fmr && fnmr == *last_fnmr)
        return MFR_OK;
    *last_fmr = fmr;
    *last_fnmr = fnmr;
    fprintf(fp, "%.9g,%.12g,%.12g,%.12g,%.9g,%.9g\n",
            key == 0 ? -INFINITY : key >= 0x100000000ull ? INFINITY : (double)mfr_score_value((uint32_t)key), fmr,
            fnmr, 1.0 - fnmr, mfr_probit(fmr), mfr_probit(fnmr));
    return MFR_OK;
}

/* DET/ROC points: FMR and FNMR at every distinct score (small exact sets) or
 * at the edges of 2^16 key bins, each exact at its threshold. */
static int write_det(const char *dir, const char *stem, const vgroup *g)
{
    mfr_afile f;
    char name[300];
    double lf = -1, ln = -1;
    int rc;
    snprintf(name, sizeof name, "det_%s.csv", stem);
    if ((rc = out_open(&f, dir, name)) != MFR_OK)
        return rc;
    fprintf(f.fp, "threshold,fmr,fnmr,tar,probit_fmr,probit_fnmr\n");
    if (g->m.n && g->nm.n) {
        det_row(f.fp, g, 0, &lf, &ln);
        if (!g->nm.bits && g->m.nkeys + g->nm.nkeys <= DET_EXACT_MAX) {
            size_t i = 0, j = 0;
            while (i < g->m.nkeys || j < g->nm.nkeys) {
                uint32_t v = i < g->m.nkeys && (j >= g->nm.nkeys || g->m.keys[i] <= g->nm.keys[j]) ? g->m.keys[i]
                                                                                                   : g->nm.keys[j];
                det_row(f.fp, g, v, &lf, &ln);
                while (i < g->m.nkeys && g->m.keys[i] == v)
                    i++;
                while (j < g->nm.nkeys && g->nm.keys[j] == v)
                    j++;
            }
        } else {
            for (uint64_t b = 1; b < (1u << DET_BITS); b++)
                det_row(f.fp, g, b << (32 - DET_BITS), &lf, &ln);
        }
        det_row(f.fp, g, 0x100000000ull, &lf, &ln);
    }
    return mfr_afile_commit(&f);
}

static uint32_t min_key(const mfr_dist *d)
{
    if (!d->bits)
        return d->keys[0];
    for (size_t b = 0;; b++)
        if (d->cum[b + 1] < d->n)
            return (uint32_t)(b << (32 - d->bits));
}

static uint32_t max_key(const mfr_dist *d)
{
    if (!d->bits)
        return d->keys[d->nkeys - 1];
    for (size_t b = (size_t)1 << d->bits; b-- > 0;)
        if (d->cum[b] > 0)
            return (uint32_t)(((uint64_t)(b + 1) << (32 - d->bits)) - 1);
    return 0;
}

/* Score histograms for display: HIST_BINS equal bins over the score range. */
static int write_hist(const char *dir, const char *stem, const vgroup *g)
{
    mfr_afile f;
    char name[300];
    int rc;
    snprintf(name, sizeof name, "hist_%s.csv", stem);
    if ((rc = out_open(&f, dir, name)) != MFR_OK)
        return rc;
    fprintf(f.fp, "lo,hi,mated,nonmated,mated_density,nonmated_density\n");
    if (g->m.n || g->nm.n) {
        float lo = INFINITY, hi = -INFINITY, width;
        if (g->m.n) {
            lo = fminf(lo, mfr_score_value(min_key(&g->m)));
            hi = fmaxf(hi, mfr_score_value(max_key(&g->m)));
        }
        if (g->nm.n) {
            lo = fminf(lo, mfr_score_value(min_key(&g->nm)));
            hi = fmaxf(hi, mfr_score_value(max_key(&g->nm)));
        }
        if (!(hi > lo))
            hi = lo + 1e-6f;
        width = (hi - lo) / HIST_BINS;
        for (int b = 0; b < HIST_BINS; b++) {
            float x0 = lo + width * (float)b, x1 = b == HIST_BINS - 1 ? INFINITY : lo + width * (float)(b + 1);
            uint64_t m0 = count_ge_display(&g->m, mfr_score_key(x0));
            uint64_t m1 = isinf(x1) ? 0 : count_ge_display(&g->m, mfr_score_key(x1));
            uint64_t n0 = count_ge_display(&g->nm, mfr_score_key(x0));
            uint64_t n1 = isinf(x1) ? 0 : count_ge_display(&g->nm, mfr_score_key(x1));
            if (b == 0) {
                m0 = g->m.n;
                n0 = g->nm.n;
            }
            fprintf(f.fp, "%.9g,%.9g,%llu,%llu,%.9g,%.9g\n", (double)x0, (double)(lo + width * (float)(b + 1)),
                    (unsigned long long)(m0 - m1), (unsigned long long)(n0 - n1),
                    g->m.n ? (double)(m0 - m1) / (double)g->m.n / width : 0.0,
                    g->nm.n ? (double)(n0 - n1) / (double)g->nm.n / width : 0.0);
        }
    }
    return mfr_afile_commit(&f);
}

int mfr_verify_write(const mfr_vset *s, const mfr_verify_opts *o, const char *out)
{
    mfr_outdir d;
    mfr_afile fj = {0}, ft = {0}, fg = {0}, fn = {0};
    jw w;
    int rc;
    if ((rc = mfr_outdir_begin(&d, out)) != MFR_OK)
        return rc;
    if ((rc = out_open(&fj, d.tmp, "results.json")) != MFR_OK || (rc = out_open(&ft, d.tmp, "results.tsv")) != MFR_OK ||
        (rc = out_open(&fg, d.tmp, "groups.csv")) != MFR_OK ||
        (rc = out_open(&fn, d.tmp, "fnmr_conditions.csv")) != MFR_OK)
        goto fail;
    jw_begin(&w, fj.fp, ft.fp);
    jw_str(&w, "kind", "verify");
    jw_str(&w, "label", o->label);
    jw_str(&w, "mfr_version", mfr_build()->version);
    jw_obj(&w, "verify");
    jw_str(&w, "mode", s->mode);
    jw_str(&w, "source", s->source);
    if (s->embeddings) {
        jw_int(&w, "embeddings", s->embeddings);
        jw_int(&w, "dim", s->dim);
    }
    write_definitions(&w, o);
    fprintf(fg.fp, "group,stem,mated,nonmated\n");
    for (int g = 0; g < s->ng; g++) {
        mfr_verify_stats st;
        char stem[256];
        if ((rc = mfr_vset_stats(s, g, o, &st)) != MFR_OK)
            goto fail;
        if (g == 0) {
            write_group(&w, "overall", &st, o);
            jw_obj(&w, "conditions");
        } else {
            write_group(&w, s->g[g].name, &st, o);
        }
        safe_name(stem, sizeof stem, s->g[g].name);
        mfr_csv_write_field(fg.fp, s->g[g].name);
        fprintf(fg.fp, ",%s,%llu,%llu\n", stem, (unsigned long long)st.mated, (unsigned long long)st.nonmated);
        if ((rc = write_det(d.tmp, stem, &s->g[g])) != MFR_OK || (rc = write_hist(d.tmp, stem, &s->g[g])) != MFR_OK)
            goto fail;
    }
    jw_end(&w); /* conditions */
    if ((rc = write_nist(&w, s, o, fn.fp)) != MFR_OK)
        goto fail;
    jw_end(&w); /* verify */
    jw_finish(&w);
    if ((rc = mfr_afile_commit(&fj)) != MFR_OK || (rc = mfr_afile_commit(&ft)) != MFR_OK ||
        (rc = mfr_afile_commit(&fg)) != MFR_OK || (rc = mfr_afile_commit(&fn)) != MFR_OK)
        goto fail;
    return mfr_outdir_commit(&d);
fail:
    mfr_afile_abort(&fj);
    mfr_afile_abort(&ft);
    mfr_afile_abort(&fg);
    mfr_afile_abort(&fn);
    mfr_outdir_abort(&d);
    return rc;
}
