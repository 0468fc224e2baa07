/* Shared by conv, dwconv and fc: see op_affine.h. */
#include "config.h"
#include "nn/op_affine.h"

#include <stdlib.h>
#include <string.h>

int nn_affine_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    int rc;
    double eps;
    if ((rc = mfr_ini_get_bool(ini, sec, "batch_normalize", 0, &l->batch_normalize)) != MFR_OK ||
        (rc = mfr_ini_get_bool(ini, sec, "bias", !l->batch_normalize, &l->has_bias)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "eps", l->bn_eps, 0, 1, &eps)) != MFR_OK)
        return rc;
    l->bn_eps = (float)eps;
    if (!l->batch_normalize && mfr_ini_get(ini, sec, "eps"))
        return mfr_ini_error(ini, sec, "eps", MFR_ERR_FORMAT, "eps is the batch-norm epsilon: it needs batch_normalize = yes");
    return nn_parse_act(ini, sec, l);
}

void nn_affine_write(FILE *fp, const mfr_layer *l)
{
    if (l->batch_normalize) {
        fprintf(fp, "batch_normalize = yes\n");
        if (l->has_bias)
            fprintf(fp, "bias = yes\n");
        if (l->bn_eps != 1e-5f)
            fprintf(fp, "eps = %.9g\n", l->bn_eps);
    } else if (!l->has_bias) {
        fprintf(fp, "bias = no\n");
    }
    nn_write_act(fp, l);
}

int nn_affine_params(mfr_net *net, mfr_layer *l, int c_out)
{
    int rc;
    if ((int)l->act < 0 || l->act > MFR_ACT_HSWISH)
        return nn_layer_error(net, l, MFR_ERR_ARG, "unknown activation %d", (int)l->act);
    if (l->has_bias && (rc = nn_param(net, l, MFR_P_BIAS, "bias", 1, &c_out)) != MFR_OK)
        return rc;
    if (l->batch_normalize &&
        ((rc = nn_param_fill(net, l, MFR_P_GAMMA, "gamma", 1, &c_out, 1.0f)) != MFR_OK ||
         (rc = nn_param(net, l, MFR_P_BETA, "beta", 1, &c_out)) != MFR_OK ||
         (rc = nn_param(net, l, MFR_P_MEAN, "mean", 1, &c_out)) != MFR_OK ||
         (rc = nn_param_fill(net, l, MFR_P_VAR, "var", 1, &c_out, 1.0f)) != MFR_OK))
        return rc;
    if (l->act == MFR_ACT_PRELU && (rc = nn_param_fill(net, l, MFR_P_SLOPE, "slope", 1, &c_out, 0.25f)) != MFR_OK)
        return rc;
    return MFR_OK;
}

int nn_affine_prepare(nn_step *s, size_t c_out, size_t row, float **wout)
{
    const mfr_layer *l = s->l;
    const mfr_layer *bn = l->batch_normalize ? l : s->bn_layer;
    float *w, *scale = NULL, *shift = NULL;
    size_t count;
    *wout = NULL;
    if (mfr_size_mul(c_out, row, &count) != MFR_OK)
        return MFR_ERR_NOMEM;
    w = mfr_alloc(count * sizeof *w);
    s->bias = mfr_calloc(c_out, sizeof *s->bias);
    if (!w || !s->bias) {
        mfr_free(w);
        return MFR_ERR_NOMEM;
    }
    memcpy(w, l->params[MFR_P_WEIGHT]->data, count * sizeof *w);
    if (l->has_bias)
        memcpy(s->bias, l->params[MFR_P_BIAS]->data, c_out * sizeof *s->bias);
    if (bn) {
        if (nn_bn_scale_shift(bn, (int)c_out, &scale, &shift) != MFR_OK) {
            mfr_free(w);
            return MFR_ERR_NOMEM;
        }
        if (s->fold_bn) {
            /* (W x + b - mean) * g / sqrt(var + eps) + beta = (W s) x + (b s + shift) */
            for (size_t o = 0; o < c_out; o++) {
                for (size_t k = 0; k < row; k++)
                    w[o * row + k] *= scale[o];
                s->bias[o] = s->bias[o] * scale[o] + shift[o];
            }
            mfr_free(scale);
            mfr_free(shift);
        } else {
            s->bn_scale = scale;
            s->bn_shift = shift;
            if (nn_bn_train_alloc(s, (int)c_out) != MFR_OK) {
                mfr_free(w);
                return MFR_ERR_NOMEM;
            }
        }
    }
    *wout = w;
    return MFR_OK;
}

void nn_affine_epilogue(const nn_step *s, mfr_epilogue *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->bias = s->bias;
    ep->residual = s->residual;
    ep->ldr = s->l->c;
    if (s->act_in_epilogue) {
        ep->act = s->act;
        ep->act_param = s->act_param;
        ep->prelu = s->prelu;
    }
}

void nn_affine_finish(nn_step *s, size_t rows)
{
    const mfr_layer *l = s->l;
    float *u = nn_affine_target(s);
    mfr_act act = s->act_in_epilogue ? MFR_ACT_NONE : s->act;
    if (s->bn_scale && s->bn_train)
        nn_bn_batch_stats(l, u, rows, l->c, s->bn_mean, s->bn_var, s->bn_scale, s->bn_shift);
    if (s->bn_scale) {
        nn_scale_shift_act(u, s->out, rows, l->c, s->bn_scale, s->bn_shift, act, s->act_param, s->prelu);
        return;
    }
    if (u != s->out)
        memcpy(s->out, u, rows * (size_t)l->c * sizeof *u);
    nn_apply_act(s->out, rows, l->c, act, s->act_param, s->prelu);
}

const float *nn_affine_backward_head(nn_step *s, const float *u, size_t rows, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    int c = l->c;
    float *dz = g->scratch2;
    const float *du;
    if (!nn_affine_needs_u(s)) {
        du = g->dy; /* only a bias: dL/du = dL/dy */
    } else if (s->bn_scale && s->bn_train) {
        /* batch statistics: two passes, act' recomputed (ops.c) */
        nn_bn_act_backward_batch(l, u, g->dy, dz, rows, c, s->bn_mean, s->bn_var, s->bn_scale, s->bn_shift, s->act,
                                 s->act_param, s->prelu, g->dp[MFR_P_GAMMA], g->dp[MFR_P_BETA], g->dp[MFR_P_SLOPE]);
        du = dz;
    } else {
        if (s->bn_scale && s->act != MFR_ACT_PRELU) {
            /* dz = dy * act'(bn(u)) in one pass */
            nn_scale_shift_act_backward(u, g->dy, dz, rows, c, s->bn_scale, s->bn_shift, s->act, s->act_param);
        } else {
            /* z = bn(u) (or u) into dz, then dz = dy * act'(z) in place, with
             * the PReLU slopes' gradients */
            const float *z = u;
            if (s->bn_scale) {
                nn_scale_shift_act(u, dz, rows, c, s->bn_scale, s->bn_shift, MFR_ACT_NONE, 0.0f, NULL);
                z = dz;
            }
            nn_act_backward(z, g->dy, dz, rows, c, s->act, s->act_param, s->prelu, g->dp[MFR_P_SLOPE]);
        }
        if (s->bn_scale) /* running statistics */
            nn_bn_backward(l, u, dz, rows, c, s->bn_scale, g->dp[MFR_P_GAMMA], g->dp[MFR_P_BETA]);
        du = dz;
    }
    if (l->has_bias && g->dp[MFR_P_BIAS])
        nn_channel_sum(du, rows, c, g->dp[MFR_P_BIAS]);
    return du;
}
