/* Exact score distributions: sorted keys, or bin counts plus the sorted keys
 * of the bins where a reported threshold falls (docs/metrics.md, "Exact
 * statistics over huge comparison sets"). */
#include "config.h"
#include "mfr/eval.h"

#include <stdlib.h>
#include <string.h>

uint32_t mfr_score_key(float s)
{
    uint32_t u;
    if (s == 0.0f)
        s = 0.0f; /* folds -0 onto +0: they compare equal */
    memcpy(&u, &s, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

float mfr_score_value(uint32_t key)
{
    uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    float s;
    memcpy(&s, &u, 4);
    return s;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Index of the first key >= k in a sorted array. */
static size_t lower_bound(const uint32_t *v, size_t n, uint64_t k)
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

static void sums_of_keys(mfr_dist *d)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < d->nkeys; i++) {
        double v = mfr_score_value(d->keys[i]);
        s += v;
        s2 += v * v;
    }
    d->sum = s;
    d->sumsq = s2;
}

int mfr_dist_from_keys(mfr_dist *d, const uint32_t *keys, size_t n)
{
    memset(d, 0, sizeof *d);
    d->keys = malloc((n ? n : 1) * sizeof *d->keys);
    if (!d->keys)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for %zu scores", n);
    if (n)
        memcpy(d->keys, keys, n * sizeof *keys);
    qsort(d->keys, n, sizeof *d->keys, cmp_u32);
    d->nkeys = n;
    d->n = n;
    sums_of_keys(d);
    return MFR_OK;
}

int mfr_dist_from_hist(mfr_dist *d, int bits, const uint64_t *counts, double sum, double sumsq)
{
    size_t nb;
    memset(d, 0, sizeof *d);
    if (bits < 8 || bits > 24)
        return mfr_error(MFR_ERR_ARG, "histogram bits %d outside [8, 24]", bits);
    nb = (size_t)1 << bits;
    d->bits = bits;
    d->cum = malloc((nb + 1) * sizeof *d->cum);
    d->refined = calloc(nb, 1);
    d->keys = malloc(sizeof *d->keys);
    if (!d->cum || !d->refined || !d->keys) {
        mfr_dist_free(d);
        return mfr_error(MFR_ERR_NOMEM, "out of memory for a score histogram");
    }
    d->cum[nb] = 0;
    for (size_t b = nb; b-- > 0;)
        d->cum[b] = d->cum[b + 1] + counts[b];
    d->n = d->cum[0];
    d->sum = sum;
    d->sumsq = sumsq;
    return MFR_OK;
}

uint32_t mfr_dist_bin(const mfr_dist *d, uint32_t key)
{
    return d->bits ? key >> (32 - d->bits) : 0;
}

int mfr_dist_refine(mfr_dist *d, const uint8_t *bins, const uint32_t *keys, size_t n)
{
    size_t nb, total;
    uint32_t *all;
    if (!d->bits)
        return MFR_OK;
    nb = (size_t)1 << d->bits;
    /* Every key given must lie in a newly refined bin, and the counts must match. */
    for (size_t i = 0; i < n; i++) {
        uint32_t b = mfr_dist_bin(d, keys[i]);
        if (!bins[b] || d->refined[b])
            return mfr_error(MFR_ERR_INTERNAL, "refinement key outside the requested bins");
    }
    total = d->nkeys + n;
    all = realloc(d->keys, (total ? total : 1) * sizeof *all);
    if (!all)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for %zu refined scores", total);
    d->keys = all;
    if (n)
        memcpy(all + d->nkeys, keys, n * sizeof *keys);
    qsort(all, total, sizeof *all, cmp_u32);
    d->nkeys = total;
    {
        uint64_t want = 0;
        for (size_t b = 0; b < nb; b++)
            if (bins[b] && !d->refined[b]) {
                want += d->cum[b] - d->cum[b + 1];
                d->refined[b] = 1;
            }
        if (want != n)
            return mfr_error(MFR_ERR_INTERNAL, "refinement found %zu scores where the histogram counts %llu", n,
                             (unsigned long long)want);
    }
    return MFR_OK;
}

void mfr_dist_free(mfr_dist *d)
{
    free(d->keys);
    free(d->cum);
    free(d->refined);
    memset(d, 0, sizeof *d);
}

int mfr_dist_count_ge(const mfr_dist *d, uint32_t key, uint64_t *count, uint32_t *bin)
{
    int shift;
    uint32_t b;
    uint64_t edge, next;
    if (!d->bits) {
        *count = d->nkeys - lower_bound(d->keys, d->nkeys, key);
        return MFR_OK;
    }
    shift = 32 - d->bits;
    b = key >> shift;
    edge = (uint64_t)b << shift;
    next = (uint64_t)(b + 1) << shift;
    if (key == edge) {
        *count = d->cum[b];
        return MFR_OK;
    }
    if (!d->refined[b]) {
        if (bin)
            *bin = b;
        return MFR_ERR_RANGE;
    }
    *count = d->cum[b + 1] + (lower_bound(d->keys, d->nkeys, next) - lower_bound(d->keys, d->nkeys, key));
    return MFR_OK;
}

int mfr_dist_kth_largest(const mfr_dist *d, uint64_t k, uint32_t *key, uint32_t *bin)
{
    size_t lo, hi, b, end;
    uint64_t r;
    if (k < 1 || k > d->n)
        return mfr_error(MFR_ERR_ARG, "rank %llu outside 1..%llu", (unsigned long long)k,
                         (unsigned long long)d->n);
    if (!d->bits) {
        *key = d->keys[d->nkeys - k];
        return MFR_OK;
    }
    /* The bin b with cum[b + 1] < k <= cum[b] (cum is non-increasing). */
    lo = 0;
    hi = (size_t)1 << d->bits;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->cum[mid] >= k)
            lo = mid;
        else
            hi = mid;
    }
    b = lo;
    if (!d->refined[b]) {
        if (bin)
            *bin = (uint32_t)b;
        return MFR_ERR_RANGE;
    }
    r = k - d->cum[b + 1];
    end = lower_bound(d->keys, d->nkeys, (uint64_t)(b + 1) << (32 - d->bits));
    *key = d->keys[end - r];
    return MFR_OK;
}
