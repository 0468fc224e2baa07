/* [fc]: fully connected over the whole h x w x c input (NHWC order), with
 * optional bias, batch norm and activation like [conv]. The weight is
 * [filters][h * w * c]; compiled as a GEMM with B = W^T packed once. */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/op_affine.h"

#include <string.h>

static int fc_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long v;
    int rc;
    if ((rc = mfr_ini_get_int(ini, sec, "filters", 0, 1, 1 << 20, &v)) != MFR_OK)
        return rc;
    if (v == 0)
        return mfr_ini_error(ini, sec, NULL, MFR_ERR_FORMAT, "[fc] needs 'filters = N' (outputs)");
    l->filters = (int)v;
    return nn_affine_parse(ini, sec, l);
}

static void fc_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "filters = %d\n", l->filters);
    nn_affine_write(fp, l);
}

static int fc_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    size_t k = nn_elems(in);
    int rc, wshape[2];
    if (k > (1u << 30) / (size_t)l->filters)
        return nn_layer_error(net, l, MFR_ERR_RANGE, "%zu inputs x %d outputs is too large", k, l->filters);
    wshape[0] = l->filters;
    wshape[1] = (int)k;
    l->h = l->w = 1;
    l->c = l->filters;
    l->macs = (uint64_t)k * (uint64_t)l->filters;
    if ((rc = nn_param(net, l, MFR_P_WEIGHT, "weight", 2, wshape)) != MFR_OK)
        return rc;
    return nn_affine_params(net, l, l->filters);
}

static int fc_compile(nn_step *s)
{
    size_t k = nn_elems(nn_input(s->net, s->l, 0));
    float *w;
    int rc = nn_affine_prepare(s, (size_t)s->l->c, k, &w);
    if (rc != MFR_OK)
        return rc;
    rc = mfr_gemm_pack_b('T', (int)k, s->l->c, w, (int)k, &s->packed);
    mfr_free(w);
    if (rc != MFR_OK)
        return nn_layer_error(s->net, s->l, rc, "cannot pack the weights: %s", mfr_last_error());
    return MFR_OK;
}

static void fc_forward(nn_step *s, int n)
{
    mfr_epilogue ep;
    int k = (int)nn_elems(nn_input(s->net, s->l, 0));
    nn_affine_epilogue(s, &ep);
    mfr_sgemm_packed(n, s->in[0], k, s->packed, nn_affine_target(s), s->l->c, &ep);
    nn_affine_finish(s, (size_t)n);
}

static void fc_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    int k = (int)nn_elems(nn_input(s->net, l, 0));
    const float *u = s->pre, *du;
    if (!u && nn_affine_needs_u(s)) {
        mfr_epilogue ep;
        memset(&ep, 0, sizeof ep);
        ep.bias = s->bias;
        mfr_sgemm_packed(n, s->in[0], k, s->packed, g->scratch, l->c, &ep); /* u = x W^T + b */
        u = g->scratch;
    }
    du = nn_affine_backward_head(s, u, (size_t)n, g);
    /* dW += du^T x (the sum over the batch is GEMM's K: never split); dx += du W. */
    if (g->dp[MFR_P_WEIGHT])
        mfr_sgemm('T', 'N', l->c, k, n, 1.0f, du, l->c, s->in[0], k, 1.0f, g->dp[MFR_P_WEIGHT], k);
    if (g->dx[0])
        mfr_sgemm('N', 'N', n, k, l->c, 1.0f, du, l->c, l->params[MFR_P_WEIGHT]->data, k,
                  g->dx_fresh[0] ? 0.0f : 1.0f, g->dx[0], k); /* fresh: write, do not add */
}

const nn_opdef nn_op_fc = {"fc", MFR_OP_FC, MFR_ACT_NONE, 1, 1, fc_parse, fc_write, fc_shape, fc_compile, fc_forward, fc_backward};
