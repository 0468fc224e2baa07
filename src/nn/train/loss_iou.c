/* IoU and generalised IoU losses for boxes in corner form (x0, y0, x1, y1). */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>

#define IOU_EPS 1e-7   /* torchvision's, added to the union and enclosing area */

typedef struct iou_ctx {
    mfr_iou_kind kind;
    const float *pred, *target, *mask;
    double norm;
    float *grad;
} iou_ctx;

/* The loss of one box and, when g is not NULL, d loss / d pred (4 values). */
static double iou_one(mfr_iou_kind kind, const float *p, const float *t, double g[4])
{
    const double px0 = p[0], py0 = p[1], px1 = p[2], py1 = p[3];
    const double tx0 = t[0], ty0 = t[1], tx1 = t[2], ty1 = t[3];
    /* Intersection: overlap of the intervals, clamped at zero. */
    const double ix0 = px0 > tx0 ? px0 : tx0, ix1 = px1 < tx1 ? px1 : tx1;
    const double iy0 = py0 > ty0 ? py0 : ty0, iy1 = py1 < ty1 ? py1 : ty1;
    const double iw = ix1 - ix0 > 0 ? ix1 - ix0 : 0, ih = iy1 - iy0 > 0 ? iy1 - iy0 : 0;
    const double pw = px1 - px0, ph = py1 - py0;
    const double inter = iw * ih, uni = pw * ph + (tx1 - tx0) * (ty1 - ty0) - inter;
    const double ue = uni + IOU_EPS, iou = inter / ue;
    double loss = 1 - iou;
    /* Partial derivatives with respect to (px0, py0, px1, py1). */
    double di[4] = {0, 0, 0, 0}, du[4], dc[4] = {0, 0, 0, 0};
    double ce = 0, cw, chh;
    if (iw > 0 && ih > 0) {
        di[0] = px0 > tx0 ? -ih : 0;
        di[2] = px1 < tx1 ? ih : 0;
        di[1] = py0 > ty0 ? -iw : 0;
        di[3] = py1 < ty1 ? iw : 0;
    }
    du[0] = -ph - di[0];
    du[2] = ph - di[2];
    du[1] = -pw - di[1];
    du[3] = pw - di[3];
    if (kind == MFR_GIOU) {
        /* Smallest box holding both. */
        cw = (px1 > tx1 ? px1 : tx1) - (px0 < tx0 ? px0 : tx0);
        chh = (py1 > ty1 ? py1 : ty1) - (py0 < ty0 ? py0 : ty0);
        ce = cw * chh + IOU_EPS;
        loss += (cw * chh - uni) / ce;
        dc[0] = px0 < tx0 ? -chh : 0;
        dc[2] = px1 > tx1 ? chh : 0;
        dc[1] = py0 < ty0 ? -cw : 0;
        dc[3] = py1 > ty1 ? cw : 0;
    }
    if (g) {
        for (int k = 0; k < 4; k++) {
            /* d(1 - I/ue) = -(dI ue - I dU) / ue^2 */
            g[k] = -(di[k] * ue - inter * du[k]) / (ue * ue);
            if (kind == MFR_GIOU) {
                /* d((C - U) / ce) = ((dC - dU) ce - (C - U) dC) / ce^2, C = ce - eps */
                double cc = ce - IOU_EPS;
                g[k] += ((dc[k] - du[k]) * ce - (cc - uni) * dc[k]) / (ce * ce);
            }
        }
    }
    return loss;
}

static double iou_range(void *arg, size_t begin, size_t end)
{
    const iou_ctx *c = arg;
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        double m = c->mask ? c->mask[i] : 1.0, g[4];
        sum += m * iou_one(c->kind, c->pred + 4 * i, c->target + 4 * i, c->grad ? g : NULL);
        if (c->grad)
            for (int k = 0; k < 4; k++)
                c->grad[4 * i + k] = (float)(m * g[k] / c->norm);
    }
    return sum;
}

int mfr_loss_iou(mfr_iou_kind kind, size_t n, const float *pred, const float *target, const float *mask,
                 double norm, double *loss, float *grad)
{
    const char *f = "mfr_loss_iou";
    iou_ctx c = {kind, pred, target, mask, norm, grad};
    double sum;
    int rc = tr_check_norm(f, norm);
    if (rc != MFR_OK)
        return rc;
    if (kind != MFR_IOU && kind != MFR_GIOU)
        return mfr_error(MFR_ERR_ARG, "%s: unknown IoU kind %d", f, (int)kind);
    if (n > 0 && (!pred || !target))
        return mfr_error(MFR_ERR_ARG, "%s: NULL predictions or targets", f);
    rc = mfr_train_chunked_sum(n, TR_CHUNK_ITEMS, iou_range, &c, &sum);
    if (rc != MFR_OK)
        return rc;
    if (loss)
        *loss = sum / norm;
    return MFR_OK;
}
