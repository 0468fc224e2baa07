/* Activation layers: [relu] [relu6] [leaky] [prelu] [sigmoid] [tanh]
 * [hswish]. The definitions are the kernels' (mfr_act_scalar); after a conv
 * or fc the activation is fused into their epilogue at compile time. */
#include "config.h"
#include "nn/nn_internal.h"

#include <string.h>

static int act_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    double slope;
    int rc;
    if (l->act != MFR_ACT_LEAKY)
        return MFR_OK;
    rc = mfr_ini_get_double(ini, sec, "slope", l->act_param, -1e3, 1e3, &slope);
    l->act_param = (float)slope;
    return rc;
}

static void act_write(FILE *fp, const mfr_layer *l)
{
    if (l->act == MFR_ACT_LEAKY)
        fprintf(fp, "slope = %.9g\n", l->act_param);
}

static int act_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    if (l->act == MFR_ACT_NONE || (int)l->act < 0 || l->act > MFR_ACT_HSWISH)
        return nn_layer_error(net, l, MFR_ERR_ARG, "an activation layer needs an activation (act = MFR_ACT_RELU, ...)");
    l->h = in->h;
    l->w = in->w;
    l->c = in->c;
    if (l->act == MFR_ACT_PRELU)
        return nn_param_fill(net, l, MFR_P_SLOPE, "slope", 1, &l->c, 0.25f);
    return MFR_OK;
}

static void act_forward(nn_step *s, int n)
{
    size_t rows = (size_t)n * (size_t)s->l->h * (size_t)s->l->w;
    if (s->out != s->in[0])
        memcpy(s->out, s->in[0], rows * (size_t)s->l->c * sizeof(float));
    nn_apply_act(s->out, rows, s->l->c, s->l->act, s->l->act_param,
                 s->l->params[MFR_P_SLOPE] ? s->l->params[MFR_P_SLOPE]->data : NULL);
}

static void act_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    size_t rows = (size_t)n * (size_t)l->h * (size_t)l->w, count = rows * (size_t)l->c;
    nn_act_backward(s->in[0], g->dy, g->scratch, rows, l->c, l->act, l->act_param,
                    l->params[MFR_P_SLOPE] ? l->params[MFR_P_SLOPE]->data : NULL, g->dp[MFR_P_SLOPE]);
    for (size_t i = 0; i < count; i++)
        g->dx[0][i] += g->scratch[i];
}

#define ACT_OP(NAME, ACT)                                                                                    \
    const nn_opdef nn_op_##NAME = {#NAME, MFR_OP_ACT, ACT, 1, 1, act_parse, act_write, act_shape, NULL, act_forward, act_backward};
ACT_OP(relu, MFR_ACT_RELU)
ACT_OP(relu6, MFR_ACT_RELU6)
ACT_OP(leaky, MFR_ACT_LEAKY)
ACT_OP(prelu, MFR_ACT_PRELU)
ACT_OP(sigmoid, MFR_ACT_SIGMOID)
ACT_OP(tanh, MFR_ACT_TANH)
ACT_OP(hswish, MFR_ACT_HSWISH)
