/* [softmax] over the channels of each pixel (max subtracted first) and
 * [l2norm]: x / max(||x||, eps) over the channels of each pixel (for an
 * embedding of shape 1 x 1 x d: the whole vector). */
#include "config.h"
#include "nn/nn_internal.h"

#include <math.h>

static int same_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    l->h = in->h;
    l->w = in->w;
    l->c = in->c;
    return MFR_OK;
}

static void softmax_forward(nn_step *s, int n)
{
    size_t c = (size_t)s->l->c;
    long rows = (long)n * s->l->h * s->l->w;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c * 8)) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *x = s->in[0] + (size_t)r * c;
        float *y = s->out + (size_t)r * c;
        float m = x[0], sum = 0.0f;
        for (size_t i = 1; i < c; i++)
            m = x[i] > m ? x[i] : m;
        for (size_t i = 0; i < c; i++) {
            y[i] = expf(x[i] - m);
            sum += y[i];
        }
        for (size_t i = 0; i < c; i++)
            y[i] /= sum;
    }
}

static int l2_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    double eps;
    int rc = mfr_ini_get_double(ini, sec, "eps", l->eps, 0, 1, &eps);
    l->eps = (float)eps;
    return rc;
}

static void l2_write(FILE *fp, const mfr_layer *l)
{
    if (l->eps != 1e-12f)
        fprintf(fp, "eps = %.9g\n", l->eps);
}

static void l2_forward(nn_step *s, int n)
{
    size_t c = (size_t)s->l->c;
    long rows = (long)n * s->l->h * s->l->w;
    float eps = s->l->eps;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c)) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *x = s->in[0] + (size_t)r * c;
        float *y = s->out + (size_t)r * c;
        double ss = 0.0;
        float norm, inv;
        for (size_t i = 0; i < c; i++)
            ss += (double)x[i] * (double)x[i];
        norm = (float)sqrt(ss);
        inv = 1.0f / (norm > eps ? norm : eps);
        for (size_t i = 0; i < c; i++)
            y[i] = x[i] * inv;
    }
}

/* softmax: dx = y (dy - sum(dy y)); l2norm: dx = (dy - y (y . dy)) / norm,
 * or dy / eps where the norm was clamped to eps. */
static void softmax_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    size_t c = (size_t)s->l->c;
    long rows = (long)n * s->l->h * s->l->w;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c)) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *y = s->out + (size_t)r * c, *dy = g->dy + (size_t)r * c;
        float *dx = g->dx[0] + (size_t)r * c;
        double dot = 0.0;
        for (size_t i = 0; i < c; i++)
            dot += (double)dy[i] * y[i];
        for (size_t i = 0; i < c; i++)
            dx[i] += y[i] * (float)((double)dy[i] - dot);
    }
}

static void l2_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    size_t c = (size_t)s->l->c;
    long rows = (long)n * s->l->h * s->l->w;
    float eps = s->l->eps;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c)) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *x = s->in[0] + (size_t)r * c, *y = s->out + (size_t)r * c, *dy = g->dy + (size_t)r * c;
        float *dx = g->dx[0] + (size_t)r * c;
        double ss = 0.0, dot = 0.0;
        float norm;
        for (size_t i = 0; i < c; i++) {
            ss += (double)x[i] * x[i];
            dot += (double)y[i] * dy[i];
        }
        norm = (float)sqrt(ss);
        if (norm > eps)
            for (size_t i = 0; i < c; i++)
                dx[i] += (float)(((double)dy[i] - (double)y[i] * dot) / norm);
        else
            for (size_t i = 0; i < c; i++)
                dx[i] += dy[i] / eps;
    }
}

const nn_opdef nn_op_softmax = {"softmax", MFR_OP_SOFTMAX, MFR_ACT_NONE, 1, 1, nn_parse_nothing, nn_write_nothing,
                                same_shape, NULL, softmax_forward, softmax_backward};
const nn_opdef nn_op_l2norm = {"l2norm", MFR_OP_L2NORM, MFR_ACT_NONE, 1, 1, l2_parse, l2_write, same_shape, NULL,
                               l2_forward, l2_backward};
