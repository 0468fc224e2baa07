/* Binary cross-entropy with logits and the sigmoid focal loss. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>

typedef struct bce_ctx {
    const float *x, *t, *w;
    double alpha, gamma;   /* focal only */
    double norm;
    float *grad;
} bce_ctx;

static double bce_range(void *arg, size_t begin, size_t end)
{
    const bce_ctx *c = arg;
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        double x = c->x[i], t = c->t[i], w = c->w ? c->w[i] : 1.0;
        /* -t log p - (1 - t) log(1 - p) = softplus(x) - t x, stable for any x. */
        sum += w * (tr_softplus(x) - t * x);
        if (c->grad)
            c->grad[i] = (float)(w * (tr_sigmoid(x) - t) / c->norm);
    }
    return sum;
}

static double focal_range(void *arg, size_t begin, size_t end)
{
    const bce_ctx *c = arg;
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        double x = c->x[i], t = c->t[i], w = c->w ? c->w[i] : 1.0;
        double p = tr_sigmoid(x);
        double ce = tr_softplus(x) - t * x;
        /* q = 1 - p_t = p (1 - t) + (1 - p) t; 1 - p is computed as sigmoid(-x)
         * so that q keeps its precision when p is close to 1. */
        double q = p * (1 - t) + tr_sigmoid(-x) * t;
        double at = c->alpha < 0 ? 1.0 : c->alpha * t + (1 - c->alpha) * (1 - t);
        double mod = c->gamma == 0 ? 1.0 : pow(q, c->gamma);
        sum += w * at * mod * ce;
        if (c->grad) {
            /* d/dx [q^gamma ce] = q^gamma (p - t) + ce gamma q^(gamma-1) dq/dx,
             * dq/dx = p (1 - p) (1 - 2t). The second term vanishes with gamma
             * or, as q -> 0, with ce; skip it there to avoid 0 * inf. */
            double d = mod * (p - t);
            if (c->gamma != 0 && q > 0)
                d += ce * c->gamma * pow(q, c->gamma - 1) * p * (1 - p) * (1 - 2 * t);
            c->grad[i] = (float)(w * at * d / c->norm);
        }
    }
    return sum;
}

static int run(const char *func, mfr_range_fn fn, bce_ctx *c, size_t n, double *loss)
{
    double sum;
    int rc = tr_check_norm(func, c->norm);
    if (rc != MFR_OK)
        return rc;
    if (n > 0 && (!c->x || !c->t))
        return mfr_error(MFR_ERR_ARG, "%s: NULL logits or targets", func);
    rc = mfr_train_chunked_sum(n, TR_CHUNK_ITEMS, fn, c, &sum);
    if (rc != MFR_OK)
        return rc;
    if (loss)
        *loss = sum / c->norm;
    return MFR_OK;
}

int mfr_loss_bce_logits(size_t n, const float *logits, const float *targets, const float *weights, double norm,
                        double *loss, float *grad)
{
    bce_ctx c = {logits, targets, weights, 0, 0, norm, grad};
    return run("mfr_loss_bce_logits", bce_range, &c, n, loss);
}

int mfr_loss_focal(size_t n, const float *logits, const float *targets, const float *weights, double alpha,
                   double gamma, double norm, double *loss, float *grad)
{
    bce_ctx c = {logits, targets, weights, alpha, gamma, norm, grad};
    if (!(alpha <= 1) || !(gamma >= 0) || !isfinite(gamma))
        return mfr_error(MFR_ERR_ARG, "mfr_loss_focal: need alpha <= 1 (negative: off) and finite gamma >= 0, "
                                      "got alpha %g, gamma %g", alpha, gamma);
    return run("mfr_loss_focal", focal_range, &c, n, loss);
}
