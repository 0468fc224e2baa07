/* [batchnorm]: y = (x - mean) / sqrt(var + eps) * gamma + beta per channel.
 * After a conv or fc it is folded into their weights at compile time;
 * elsewhere it runs as a per-channel scale and shift. */
#include "config.h"
#include "nn/nn_internal.h"

#include <string.h>

static int bn_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    double eps;
    int rc = mfr_ini_get_double(ini, sec, "eps", l->bn_eps, 0, 1, &eps);
    l->bn_eps = (float)eps;
    return rc;
}

static void bn_write(FILE *fp, const mfr_layer *l)
{
    if (l->bn_eps != 1e-5f)
        fprintf(fp, "eps = %.9g\n", l->bn_eps);
}

static int bn_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    int c = in->c, rc;
    l->h = in->h;
    l->w = in->w;
    l->c = c;
    if ((rc = nn_param_fill(net, l, MFR_P_GAMMA, "gamma", 1, &c, 1.0f)) != MFR_OK ||
        (rc = nn_param(net, l, MFR_P_BETA, "beta", 1, &c)) != MFR_OK ||
        (rc = nn_param(net, l, MFR_P_MEAN, "mean", 1, &c)) != MFR_OK ||
        (rc = nn_param_fill(net, l, MFR_P_VAR, "var", 1, &c, 1.0f)) != MFR_OK)
        return rc;
    return MFR_OK;
}

static int bn_compile(nn_step *s)
{
    int rc = nn_bn_scale_shift(s->l, s->l->c, &s->bn_scale, &s->bn_shift);
    return rc == MFR_OK ? nn_bn_train_alloc(s, s->l->c) : rc;
}

static void bn_forward(nn_step *s, int n)
{
    size_t rows = (size_t)n * (size_t)s->l->h * (size_t)s->l->w;
    int c = s->l->c;
    long nr = (long)rows;
    const float *in = s->in[0], *scale = s->bn_scale, *shift = s->bn_shift;
    float *out = s->out;
    if (s->bn_train)
        nn_bn_batch_stats(s->l, in, rows, c, s->bn_mean, s->bn_var, s->bn_scale, s->bn_shift);
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long r = 0; r < nr; r++)
        for (int i = 0; i < c; i++)
            out[(size_t)r * (size_t)c + (size_t)i] = in[(size_t)r * (size_t)c + (size_t)i] * scale[i] + shift[i];
}

static void bn_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    size_t rows = (size_t)n * (size_t)s->l->h * (size_t)s->l->w, count = rows * (size_t)s->l->c;
    memcpy(g->scratch, g->dy, count * sizeof(float));
    if (s->bn_train)
        nn_bn_backward_batch(s->l, s->in[0], g->scratch, rows, s->l->c, s->bn_mean, s->bn_var, g->dp[MFR_P_GAMMA],
                             g->dp[MFR_P_BETA]);
    else
        nn_bn_backward(s->l, s->in[0], g->scratch, rows, s->l->c, s->bn_scale, g->dp[MFR_P_GAMMA], g->dp[MFR_P_BETA]);
    for (size_t i = 0; i < count; i++)
        g->dx[0][i] += g->scratch[i];
}

const nn_opdef nn_op_batchnorm = {"batchnorm", MFR_OP_BATCHNORM, MFR_ACT_NONE, 1, 1, bn_parse, bn_write, bn_shape,
                                  bn_compile, bn_forward, bn_backward};
