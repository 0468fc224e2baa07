/* Gradient clipping by global norm and by value. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>

static double squares(void *arg, size_t begin, size_t end)
{
    const float *g = arg;
    double s = 0;
    for (size_t i = begin; i < end; i++)
        s += (double)g[i] * g[i];
    return s;
}

static int check_list(const char *f, const mfr_train_param *params, int count)
{
    if (count < 0 || (count > 0 && !params))
        return mfr_error(MFR_ERR_ARG, "%s: bad parameter list (count %d)", f, count);
    for (int i = 0; i < count; i++)
        if (params[i].size > 0 && !params[i].grad)
            return mfr_error(MFR_ERR_ARG, "%s: parameter %d ('%s') has no gradient", f, i,
                             params[i].name ? params[i].name : "");
    return MFR_OK;
}

int mfr_train_grad_norm(const mfr_train_param *params, int count, double *norm)
{
    double total = 0;
    int rc = check_list("mfr_train_grad_norm", params, count);
    if (rc != MFR_OK)
        return rc;
    if (!norm)
        return mfr_error(MFR_ERR_ARG, "mfr_train_grad_norm: NULL result");
    for (int i = 0; i < count; i++) {
        double s;
        rc = mfr_train_chunked_sum(params[i].size, TR_CHUNK_GRAD, squares, params[i].grad, &s);
        if (rc != MFR_OK)
            return rc;
        total += s;
    }
    *norm = sqrt(total);
    return MFR_OK;
}

int mfr_clip_grad_norm(const mfr_train_param *params, int count, double max_norm, double *norm)
{
    double n, scale;
    int rc;
    if (!(max_norm > 0))
        return mfr_error(MFR_ERR_ARG, "mfr_clip_grad_norm: max_norm must be > 0, not %g", max_norm);
    if ((rc = mfr_train_grad_norm(params, count, &n)) != MFR_OK)
        return rc;
    if (norm)
        *norm = n;
    if (!isfinite(n))
        return mfr_error(MFR_ERR_RANGE, "mfr_clip_grad_norm: the gradient norm is %g; gradients left unchanged", n);
    if (n <= max_norm)
        return MFR_OK;
    scale = max_norm / (n + 1e-6);
    for (int i = 0; i < count; i++) {
        float *g = params[i].grad;
        const long size = (long)params[i].size;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if (size >= 16384)
#endif
        for (long k = 0; k < size; k++)
            g[k] = (float)(g[k] * scale);
    }
    return MFR_OK;
}

int mfr_clip_grad_value(const mfr_train_param *params, int count, double clip)
{
    int rc = check_list("mfr_clip_grad_value", params, count);
    if (rc != MFR_OK)
        return rc;
    if (!(clip >= 0) || !isfinite(clip))
        return mfr_error(MFR_ERR_ARG, "mfr_clip_grad_value: clip must be finite and >= 0, not %g", clip);
    for (int i = 0; i < count; i++) {
        float *g = params[i].grad;
        const float c = (float)clip;
        for (size_t k = 0; k < params[i].size; k++)
            g[k] = g[k] > c ? c : g[k] < -c ? -c : g[k];
    }
    return MFR_OK;
}
