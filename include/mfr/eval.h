/*
 * mfr/eval.h - evaluation: verification (1:1), identification (1:N),
 * detection, latency, and the reports built from them (src/eval).
 *
 * Usage in a nutshell (what `mfr eval verify --scores s.csv --out DIR` does):
 *
 *     mfr_verify_opts o;
 *     mfr_verify_opts_default(&o);
 *     mfr_vset *set;
 *     if (mfr_vset_load_scores("s.csv", &o, &set) != MFR_OK) ... mfr_last_error() ...
 *     mfr_verify_stats st;
 *     mfr_vset_stats(set, 0, &o, &st);          // group 0 is "overall"
 *     printf("EER %.4f\n", st.eer.eer);
 *     mfr_verify_write(set, &o, "DIR");         // results.json, results.tsv, CSV curves
 *     mfr_vset_free(set);
 *
 * Vocabulary and conventions: ISO/IEC 19795-1; docs/metrics.md has every
 * definition. A comparison is a match when score >= threshold. FMR and FNMR
 * count completed comparisons only; FAR and FRR also count failures to
 * acquire (FTA). Statistics are exact (sorted scores, exact counts), never
 * binned, and a rate the sample cannot support is reported as unsupported.
 */
#ifndef MFR_EVAL_H
#define MFR_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include "mfr/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- statistics */

/* Standard normal CDF and its inverse (the "normal deviate" of DET axes).
 * mfr_probit(0) = -INFINITY, mfr_probit(1) = INFINITY, NaN outside [0, 1]. */
double mfr_normal_cdf(double x);
double mfr_probit(double p);
/* Regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]. */
double mfr_beta_inc(double a, double b, double x);
/* Clopper-Pearson ("exact") interval for x successes in n trials at a
 * confidence level such as 0.95. n == 0 gives [NaN, NaN]. */
void mfr_clopper_pearson(uint64_t x, uint64_t n, double level, double *lo, double *hi);

/* ------------------------------------------------- exact score distributions */

/* Scores are float32. mfr_score_key maps them to uint32 keys whose unsigned
 * order is the numeric order (-0 is folded onto +0; NaN is not a score). */
uint32_t mfr_score_key(float s);
float mfr_score_value(uint32_t key);

/* An exact multiset of scores. Two representations:
 *  - exact mode (bits == 0): every key, sorted;
 *  - histogram mode (bits = 8..24): a count per bin (bin = key >> (32 - bits)),
 *    kept as cum[b] = number of scores in bins >= b, plus every key of the
 *    "refined" bins, sorted. Counts at a bin's lower edge, and at any key of a
 *    refined bin, are exact; elsewhere the queries refuse (MFR_ERR_RANGE).
 * The streamed all-pairs path builds histogram mode and refines exactly the
 * bins that the reported thresholds fall in (docs/metrics.md). */
typedef struct mfr_dist {
    uint64_t n;          /* number of scores */
    uint32_t *keys;      /* sorted ascending */
    size_t nkeys;
    int bits;            /* 0: exact mode */
    uint64_t *cum;       /* histogram mode: 2^bits + 1 entries, cum[2^bits] = 0 */
    uint8_t *refined;    /* histogram mode: 2^bits flags */
    double sum, sumsq;   /* sum of scores and of their squares (for d') */
} mfr_dist;

/* Exact mode from `n` keys (copied and sorted). */
int mfr_dist_from_keys(mfr_dist *d, const uint32_t *keys, size_t n);
/* Histogram mode from 2^bits bin counts (copied); no bin refined yet. */
int mfr_dist_from_hist(mfr_dist *d, int bits, const uint64_t *counts, double sum, double sumsq);
/* Adds the keys of bins now refined (the caller passes every key of those bins). */
int mfr_dist_refine(mfr_dist *d, const uint8_t *bins, const uint32_t *keys, size_t n);
void mfr_dist_free(mfr_dist *d);
/* Number of scores >= the score with this key. MFR_ERR_RANGE when the
 * histogram cannot answer exactly there; *bin then names the bin to refine. */
int mfr_dist_count_ge(const mfr_dist *d, uint32_t key, uint64_t *count, uint32_t *bin);
/* The k-th largest score's key, 1 <= k <= n; MFR_ERR_RANGE + *bin as above. */
int mfr_dist_kth_largest(const mfr_dist *d, uint64_t k, uint32_t *key, uint32_t *bin);
uint32_t mfr_dist_bin(const mfr_dist *d, uint32_t key);

/* ----------------------------------------------------------- verification */

#define MFR_MAX_FMR_TARGETS 8
#define MFR_MAX_THRESHOLDS 16

typedef struct mfr_verify_opts {
    double fmr_targets[MFR_MAX_FMR_TARGETS];   /* 1e-1 ... 1e-6 */
    int n_fmr_targets;
    double thresholds[MFR_MAX_THRESHOLDS];    /* extra fixed thresholds to report */
    int n_thresholds;
    double level;             /* confidence level of every interval: 0.95 */
    double nist_fmr;          /* NIST mode target FMR: 1e-5 */
    const char *unmasked;     /* the unmasked mask state: "none" */
    const char *enrol_mask;   /* condition columns holding the mask states */
    const char *probe_mask;   /*   ("enrol_mask", "probe_mask") */
    const char *manifest_mask;/* manifest column of the mask state (NULL: "mask_type" if
                                 present, else "mask") */
    int bootstrap;            /* replicates for the EER interval (0: none) */
    uint64_t seed;
    const char *label;        /* system name in reports ("system") */
    int hist_bits;            /* all-pairs histogram resolution: 20 */
    int block;                /* all-pairs GEMM block edge: 512 */
    int quiet;
} mfr_verify_opts;

void mfr_verify_opts_default(mfr_verify_opts *o);

/* An operating point: one threshold and the rates there. */
typedef struct mfr_verify_point {
    int supported;            /* 0 when the sample cannot support the target FMR */
    double fmr_target;
    float threshold;          /* match: score >= threshold */
    uint64_t false_matches, false_non_matches;
    double fmr, fmr_lo, fmr_hi, fnmr, fnmr_lo, fnmr_hi;
    double tar, far, far_lo, far_hi, frr, frr_lo, frr_hi;
} mfr_verify_point;

/* The equal error rate as defined for FVC2000 (Maio et al. 2002): with
 * t1 = max{t : FNMR(t) <= FMR(t)} and t2 = min{t : FNMR(t) >= FMR(t)},
 * [low, high] is [FNMR(t1), FMR(t1)] if FNMR(t1) + FMR(t1) <= FMR(t2) + FNMR(t2),
 * else [FMR(t2), FNMR(t2)]; eer = (low + high) / 2. */
typedef struct mfr_eer {
    int defined;              /* both classes non-empty */
    double eer, low, high;
    float t1, t2;
    double boot_lo, boot_hi;  /* percentile bootstrap interval (NaN: not computed) */
    int boot_reps;
} mfr_eer;

typedef struct mfr_verify_stats {
    uint64_t mated, nonmated, fta_mated, fta_nonmated;
    double fta_mated_rate, fta_nonmated_rate;
    double mean_mated, sd_mated, mean_nonmated, sd_nonmated, dprime;
    mfr_eer eer;
    int n_points;
    mfr_verify_point at_fmr[MFR_MAX_FMR_TARGETS];
    int n_fixed;
    mfr_verify_point at_threshold[MFR_MAX_THRESHOLDS];
    double min_fmr_supported; /* 1 / nonmated: the smallest FMR the sample supports */
} mfr_verify_stats;

/* Rates at threshold t (match: score >= t). fta_m, fta_nm count the failed
 * mated and non-mated comparisons, for FRR and FAR. */
int mfr_verify_at_threshold(const mfr_dist *mated, const mfr_dist *nonmated, float t, double level,
                            uint64_t fta_m, uint64_t fta_nm, mfr_verify_point *out);
/* The smallest threshold with FMR <= target, and the rates there. */
int mfr_verify_at_fmr(const mfr_dist *mated, const mfr_dist *nonmated, double target, double level,
                      uint64_t fta_m, uint64_t fta_nm, mfr_verify_point *out);
int mfr_verify_eer(const mfr_dist *mated, const mfr_dist *nonmated, mfr_eer *out);

/* A verification experiment: groups of comparisons ("overall" first, then one
 * per condition value), each with exact mated and non-mated distributions. */
typedef struct mfr_vset mfr_vset;

/* Scores CSV: header; columns `score` and `mated` (0/1, true/false);
 * optional `enrol_id`, `probe_id` (subjects, for the bootstrap); every other
 * column is a condition. An empty or NaN score is a failure to acquire. */
int mfr_vset_load_scores(const char *path, const mfr_verify_opts *o, mfr_vset **out);
/* The same from a memory buffer; `name` is used in messages. */
int mfr_vset_parse_scores(const void *data, size_t size, const char *name, const mfr_verify_opts *o,
                          mfr_vset **out);
/* Embeddings (.npy rows matching the manifest rows) compared over pairs.csv. */
int mfr_vset_load_pairs(const char *npy, const char *manifest, const char *pairs, const mfr_verify_opts *o,
                        mfr_vset **out);
/* Every pair i < j of the embeddings, scored in GEMM blocks and streamed into
 * histograms (never an N x N matrix), with a second pass over the refined bins. */
int mfr_vset_all_pairs(const char *npy, const char *manifest, const mfr_verify_opts *o, mfr_vset **out);
/* The same from memory: emb is n x dim, identity[i] an identity index, cond[i]
 * a condition index into cond_names (or NULL), failed[i] nonzero for a failure
 * to acquire (or NULL). */
int mfr_vset_all_pairs_mem(const float *emb, size_t n, size_t dim, const int *identity, const int *cond,
                           const char *const *cond_names, int n_cond, const uint8_t *failed,
                           const mfr_verify_opts *o, mfr_vset **out);
/* The explicit-pairs path from memory (tests): scores of pairs (a[i], b[i]). */
int mfr_vset_pairs_mem(const float *emb, size_t n, size_t dim, const int *identity, const int *cond,
                       const char *const *cond_names, int n_cond, const uint8_t *failed, const size_t *pa,
                       const size_t *pb, size_t npairs, const mfr_verify_opts *o, mfr_vset **out);
void mfr_vset_free(mfr_vset *s);
int mfr_vset_groups(const mfr_vset *s);
const char *mfr_vset_group_name(const mfr_vset *s, int g);
int mfr_vset_find(const mfr_vset *s, const char *name);   /* -1 if absent */
const mfr_dist *mfr_vset_mated(const mfr_vset *s, int g);
const mfr_dist *mfr_vset_nonmated(const mfr_vset *s, int g);
int mfr_vset_stats(const mfr_vset *s, int g, const mfr_verify_opts *o, mfr_verify_stats *out);
/* Writes results.json, results.tsv and the CSV curves into directory `out`
 * (atomically replaced). */
int mfr_verify_write(const mfr_vset *s, const mfr_verify_opts *o, const char *out);

/* --------------------------------------------------------- identification */

typedef struct mfr_identify_opts {
    const char *gallery;      /* "COLUMN=VALUE": manifest rows that enrol (e.g. mask=none) */
    const char *probes;       /* "COLUMN=VALUE": rows that search; NULL: all others */
    int max_rank;             /* CMC ranks 1..max_rank: 20 */
    double enrol_fraction;    /* share of gallery identities enrolled (1: all); the probes of
                                 the others become non-mated searches (open set) */
    uint64_t seed;            /* which identities are enrolled: mfr_rng(seed, stream, identity) */
    double level;
    const char *label;
    int quiet;
} mfr_identify_opts;

void mfr_identify_opts_default(mfr_identify_opts *o);
/* Closed-set CMC over mated searches, open-set FNIR at FPIR over mated and
 * non-mated searches (rank 1), from embeddings and a manifest. */
int mfr_eval_identify(const char *npy, const char *manifest, const mfr_identify_opts *o, const char *out);

/* -------------------------------------------------------------- detection */

typedef struct mfr_detect_opts {
    const char *faces;        /* truth, one row per face (NULL: the manifest, else faces.csv beside it) */
    const char *mask_col;     /* truth column of the mask state (NULL: "mask_type" if present, else "mask") */
    double level;
    const char *label;
} mfr_detect_opts;

void mfr_detect_opts_default(mfr_detect_opts *o);
/* Average precision at IoU 0.5 and 0.5:0.95, per size class and mask state,
 * recall at fixed false positives per image, landmark NME. */
int mfr_eval_detect(const char *predictions, const char *manifest, const mfr_detect_opts *o, const char *out);

/* All-point interpolated AP of one ranked list: tp[i] is 1 for a true positive
 * of the i-th detection in descending score order; npos true objects. */
double mfr_average_precision(const uint8_t *tp, size_t n, uint64_t npos);
/* Intersection over union of two x,y,w,h boxes. */
double mfr_iou(const float a[4], const float b[4]);

/* ---------------------------------------------------------------- latency */

#define MFR_LATENCY_MAX_RUNS 8
/* Per-item timing records (CSV, milliseconds per stage) summarised per stage:
 * mean, p50, p90, p99, max, throughput; several runs side by side. */
int mfr_eval_latency(const char *const *files, const char *const *labels, int nruns, const char *out);
/* Quantile q of n sorted values: the nearest-rank definition, v[ceil(q n) - 1]. */
double mfr_quantile_sorted(const double *v, size_t n, double q);

/* ----------------------------------------------------------------- report */

typedef struct mfr_report_opts {
    const char *gnuplot;      /* program; NULL: "gnuplot" looked up on PATH */
    int no_plots;
    const char *title;
} mfr_report_opts;

/* Reads results.tsv and the CSV curves of one or more eval directories and
 * writes report.html (self-contained), report.md and the PNG/SVG plots into
 * `out`. Without gnuplot the plots are skipped and the report says so. */
int mfr_report(const char *const *dirs, int ndirs, const mfr_report_opts *o, const char *out);

#ifdef __cplusplus
}
#endif
#endif /* MFR_EVAL_H */
