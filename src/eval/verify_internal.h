/* Inside the verification code: groups of comparisons and their builder. */
#ifndef MFR_VERIFY_INTERNAL_H
#define MFR_VERIFY_INTERNAL_H

#include "mfr/eval.h"
#include "eval/eval_internal.h"

/* One completed comparison, with its subjects for the bootstrap (-1: unknown). */
typedef struct vcmp {
    uint32_t key;
    int32_t a, b;
} vcmp;

typedef struct vgroup {
    char *name;              /* "overall" or "column=value" */
    char *column, *value;    /* NULL for overall */
    mfr_dist m, nm;
    uint64_t fta_m, fta_nm;  /* failures to acquire among mated / non-mated comparisons */
    vcmp *mc, *nc;           /* sorted by key; NULL when subjects are unknown */
    size_t nmc, nnc;
} vgroup;

struct mfr_vset {
    vgroup *g;
    int ng, cap;
    int nsubjects;           /* > 0: subjects known, bootstrap possible */
    char *source;
    const char *mode;        /* "scores", "pairs", "all-pairs" */
    size_t embeddings, dim;  /* embedding paths */
};

/* Rows of comparisons collected before grouping (the exact paths). */
#define VROWS_MAX_COND 64
#define VROWS_MAX_VALUES 256
enum { VROW_MATED = 1, VROW_FAILED = 2 };
typedef struct vrows {
    size_t n, cap;
    uint32_t *key;
    uint8_t *flag;
    int32_t *a, *b;
    int ncond;
    char *cname[VROWS_MAX_COND];
    strtab tab[VROWS_MAX_COND];
    int32_t *cval[VROWS_MAX_COND];
    int skip[VROWS_MAX_COND];  /* too many distinct values to be a condition */
    strtab subjects;
    int has_subjects;
} vrows;

int vrows_init(vrows *r, int ncond, const char *const *names);
void vrows_free(vrows *r);
/* vals: ncond condition values (strings). */
int vrows_add(vrows *r, float score, int mated, int failed, int32_t a, int32_t b, const char *const *vals,
              const char *where);
int vset_from_rows(vrows *r, const mfr_verify_opts *o, const char *mode, const char *source, mfr_vset **out);

mfr_vset *vset_new(const char *mode, const char *source);
vgroup *vset_add_group(mfr_vset *s, const char *column, const char *value);

/* The bins of the non-mated histogram that group g's reported statistics
 * need (all-pairs planning): marks want[bin]. `nist_key` (if nonzero) is the
 * NIST threshold key, needed in every group. */
int verify_plan_bins(const mfr_vset *s, int g, const mfr_verify_opts *o, uint8_t *want);
/* The NIST reference group index (mask_pair=unmasked:unmasked, else overall). */
int verify_nist_reference(const mfr_vset *s, const mfr_verify_opts *o);
/* NIST threshold key at o->nist_fmr on group ref; MFR_ERR_RANGE + *bin when a
 * bin must be refined; *supported = 0 when the sample is too small. */
int verify_nist_threshold(const mfr_vset *s, int ref, const mfr_verify_opts *o, int *supported, uint32_t *key,
                          uint32_t *bin);

/* The manifest column of the mask state: o->manifest_mask, else for the
 * pairs path (fine = 1) "mask" (mfr gen's full label, the vocabulary of its
 * pairs.csv probe_mask) or "mask_type"; for all-pairs (fine = 0, few values
 * wanted) "mask_type" or "mask". */
const char *verify_mask_column(const manifest *m, const mfr_verify_opts *o, int fine);

/* Rates of group grp at threshold key (FTA rates from the group). */
int verify_group_point(const vgroup *grp, uint32_t key, const mfr_verify_opts *o, mfr_verify_point *p);

#endif
