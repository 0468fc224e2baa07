/* Regression losses for boxes and landmarks: L1, smooth-L1, L2 and wing. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>

mfr_reg_loss mfr_reg_loss_defaults(mfr_reg_kind kind)
{
    mfr_reg_loss r = {kind, 1.0, 10.0, 2.0};
    return r;
}

typedef struct reg_ctx {
    mfr_reg_kind kind;
    double beta, ww, weps, wc;  /* wc: the wing constant w - w ln(1 + w / eps) */
    int dim;
    const float *pred, *target, *mask;
    double norm;
    float *grad;
} reg_ctx;

/* The loss of one coordinate difference d and its derivative. */
static double reg_one(const reg_ctx *c, double d, double *dl)
{
    double a = fabs(d), sg = d > 0 ? 1 : d < 0 ? -1 : 0;
    switch (c->kind) {
    case MFR_REG_L1:
        *dl = sg;
        return a;
    case MFR_REG_SMOOTH_L1:
        if (a < c->beta) {
            *dl = d / c->beta;
            return 0.5 * d * d / c->beta;
        }
        *dl = sg;
        return a - 0.5 * c->beta;
    case MFR_REG_L2:
        *dl = 2 * d;
        return d * d;
    case MFR_REG_WING:
    default:
        if (a < c->ww) {
            *dl = sg * c->ww / (c->weps + a);
            return c->ww * log1p(a / c->weps);
        }
        *dl = sg;
        return a - c->wc;
    }
}

static double reg_range(void *arg, size_t begin, size_t end)
{
    const reg_ctx *c = arg;
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        double m = c->mask ? c->mask[i] : 1.0, item = 0;
        for (int k = 0; k < c->dim; k++) {
            size_t e = i * (size_t)c->dim + k;
            double dl;
            item += reg_one(c, (double)c->pred[e] - c->target[e], &dl);
            if (c->grad)
                c->grad[e] = (float)(m * dl / c->norm);
        }
        sum += m * item;
    }
    return sum;
}

int mfr_loss_regression(const mfr_reg_loss *r, size_t items, int dim, const float *pred, const float *target,
                        const float *mask, double norm, double *loss, float *grad)
{
    const char *f = "mfr_loss_regression";
    reg_ctx c;
    double sum;
    int rc = tr_check_norm(f, norm);
    if (rc != MFR_OK)
        return rc;
    if (!r || dim <= 0 || (items > 0 && (!pred || !target)))
        return mfr_error(MFR_ERR_ARG, "%s: need the loss, dim > 0 (got %d), predictions and targets", f, dim);
    if (r->kind < MFR_REG_L1 || r->kind > MFR_REG_WING)
        return mfr_error(MFR_ERR_ARG, "%s: unknown regression loss %d", f, (int)r->kind);
    if (r->kind == MFR_REG_SMOOTH_L1 && !(r->beta > 0 && isfinite(r->beta)))
        return mfr_error(MFR_ERR_ARG, "%s: smooth-L1 beta must be finite and > 0, not %g", f, r->beta);
    if (r->kind == MFR_REG_WING && !(r->wing_w > 0 && r->wing_eps > 0 && isfinite(r->wing_w) && isfinite(r->wing_eps)))
        return mfr_error(MFR_ERR_ARG, "%s: wing w and eps must be finite and > 0, not %g and %g", f,
                         r->wing_w, r->wing_eps);
    c = (reg_ctx){r->kind, r->beta, r->wing_w, r->wing_eps, 0, dim, pred, target, mask, norm, grad};
    c.wc = c.ww - c.ww * log1p(c.ww / c.weps);
    rc = mfr_train_chunked_sum(items, TR_CHUNK_ITEMS, reg_range, &c, &sum);
    if (rc != MFR_OK)
        return rc;
    if (loss)
        *loss = sum / norm;
    return MFR_OK;
}
