/* Finite-difference gradient checker: central differences in double. */
#include "config.h"
#include "mfr/train.h"

#include <math.h>

int mfr_gradcheck(mfr_gradcheck_fn fn, void *ctx, float *x, size_t n, const mfr_gradcheck_opts *opts,
                  mfr_gradcheck_result *res)
{
    mfr_gradcheck_opts o = {1e-3, 1e-3, 0};
    mfr_gradcheck_result r = {0};
    float *grad;
    size_t checks;
    double f0;
    int rc;
    if (!fn || !res || (n > 0 && !x))
        return mfr_error(MFR_ERR_ARG, "mfr_gradcheck: NULL function, input or result");
    if (opts) {
        o = *opts;
        if (!(o.h > 0) || !(o.floor > 0))
            return mfr_error(MFR_ERR_ARG, "mfr_gradcheck: h and floor must be > 0 (got %g, %g)", o.h, o.floor);
    }
    grad = mfr_calloc(n ? n : 1, sizeof *grad);
    if (!grad)
        return mfr_error_context(MFR_ERR_NOMEM, "mfr_gradcheck");
    if ((rc = fn(ctx, x, &f0, grad)) != MFR_OK)
        goto done;
    checks = o.max_checks && o.max_checks < n ? o.max_checks : n;
    for (size_t k = 0; k < checks; k++) {
        /* Evenly spread indices when only some elements are checked. */
        size_t i = checks == n ? k : (size_t)((double)k * (double)n / (double)checks);
        const float x0 = x[i];
        const double h = o.h * (fabs(x0) > 1 ? fabs(x0) : 1);
        const float xp = (float)(x0 + h), xm = (float)(x0 - h);
        double fp, fm, num, a = grad[i], err;
        x[i] = xp;
        rc = fn(ctx, x, &fp, NULL);
        x[i] = xm;
        if (rc == MFR_OK)
            rc = fn(ctx, x, &fm, NULL);
        x[i] = x0;
        if (rc != MFR_OK)
            goto done;
        /* Divide by the step actually taken after rounding to float. */
        num = (fp - fm) / ((double)xp - (double)xm);
        err = fabs(a - num);
        {
            double den = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
            err /= den > o.floor ? den : o.floor;
        }
        if (isnan(err))
            err = INFINITY;   /* a NaN derivative is the worst possible result */
        if (k == 0 || err > r.max_err) {
            r.max_err = err;
            r.worst = i;
            r.analytic = a;
            r.numeric = num;
        }
        r.checked++;
    }
done:
    mfr_free(grad);
    *res = r;
    return rc;
}
