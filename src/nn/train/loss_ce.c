/* Softmax cross-entropy with label smoothing, mean over the batch. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>

typedef struct ce_ctx {
    int batch, classes;
    const float *logits;
    const int *labels;
    double smoothing;
    float *grad;
} ce_ctx;

/* Loss of rows [begin, end), summed; writes their gradient rows. */
static double ce_rows(void *arg, size_t begin, size_t end)
{
    const ce_ctx *c = arg;
    const int nc = c->classes;
    const double off = c->smoothing / nc;          /* q_j for j != label */
    const double on = 1.0 - c->smoothing + off;    /* q_label */
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        const float *z = c->logits + i * (size_t)nc;
        const int y = c->labels[i];
        double mx = z[0], se = 0, qz = 0, lse;
        for (int j = 1; j < nc; j++)
            mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < nc; j++) {
            se += exp(z[j] - mx);
            qz += (j == y ? on : off) * z[j];
        }
        lse = mx + log(se);
        /* -sum_j q_j log p_j = lse - sum_j q_j z_j because sum_j q_j = 1. */
        sum += lse - qz;
        if (c->grad) {
            float *g = c->grad + i * (size_t)nc;
            for (int j = 0; j < nc; j++)
                g[j] = (float)((exp(z[j] - lse) - (j == y ? on : off)) / c->batch);
        }
    }
    return sum;
}

int mfr_loss_softmax_ce(int batch, int classes, const float *logits, const int *labels, double smoothing,
                        double *loss, float *grad)
{
    ce_ctx c = {batch, classes, logits, labels, smoothing, grad};
    double sum;
    int rc;
    if (batch <= 0 || classes <= 0 || !logits || !labels)
        return mfr_error(MFR_ERR_ARG, "mfr_loss_softmax_ce: need batch > 0, classes > 0, logits and labels "
                                      "(batch %d, classes %d)", batch, classes);
    if (!(smoothing >= 0 && smoothing < 1))
        return mfr_error(MFR_ERR_ARG, "mfr_loss_softmax_ce: label smoothing must lie in [0, 1), not %g",
                         smoothing);
    for (int i = 0; i < batch; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return mfr_error(MFR_ERR_RANGE, "mfr_loss_softmax_ce: label %d of row %d is outside [0, %d)",
                             labels[i], i, classes);
    rc = mfr_train_chunked_sum((size_t)batch, TR_CHUNK_ROWS, ce_rows, &c, &sum);
    if (rc != MFR_OK)
        return rc;
    if (loss)
        *loss = sum / batch;
    return MFR_OK;
}
