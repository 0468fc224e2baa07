/* Deterministic parallel sums: fixed-size chunks merged in chunk order. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

/* Up to this many chunk sums live on the stack; more are allocated. */
#define STACK_CHUNKS 64

int mfr_train_chunked_sum(size_t n, size_t chunk, mfr_range_fn range, void *ctx, double *sum)
{
    double local[STACK_CHUNKS], *part = local, total = 0;
    size_t nchunks;
    if (!range || !sum)
        return mfr_error(MFR_ERR_ARG, "mfr_train_chunked_sum: NULL function or result");
    if (chunk == 0)
        chunk = 1;
    nchunks = n / chunk + (n % chunk != 0);
    if (nchunks > STACK_CHUNKS) {
        part = mfr_calloc(nchunks, sizeof *part);
        if (!part)
            return mfr_error_context(MFR_ERR_NOMEM, "mfr_train_chunked_sum");
    }
    /* Each chunk is one iteration: whichever thread runs it, the same
     * operations in the same order produce part[c]. */
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if (nchunks > 1)
#endif
    for (long c = 0; c < (long)nchunks; c++) {
        size_t begin = (size_t)c * chunk;
        size_t end = begin + chunk < n ? begin + chunk : n;
        part[c] = range(ctx, begin, end);
    }
    for (size_t c = 0; c < nchunks; c++)
        total += part[c];
    if (part != local)
        mfr_free(part);
    *sum = total;
    return MFR_OK;
}

int tr_check_norm(const char *func, double norm)
{
    if (!(norm > 0) || !isfinite(norm))
        return mfr_error(MFR_ERR_ARG, "%s: norm must be a finite number > 0, not %g", func, norm);
    return MFR_OK;
}

int tr_thread_num(void)
{
#ifdef MFR_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
