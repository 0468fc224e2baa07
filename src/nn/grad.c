/* Gradients: a forward that keeps everything (an mfr_exec compiled with
 * MFR_EXEC_NO_FOLD | NO_FUSE | KEEP_ALL, so there is one step per layer)
 * and a backward pass that walks the steps in reverse, calling each op's
 * backward. Gradients of layer outputs live in their own buffers (views
 * included), gradients of parameters in tensors named like the parameters. */
#include "config.h"
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

struct mfr_grad {
    const mfr_net *net;
    mfr_exec *ex;
    int max_batch, n, flags;
    int input_grads;         /* compute dL/d(input samples) (default on) */
    float **dlayer;          /* per layer: max_batch x h x w x c */
    unsigned char *fresh;    /* per layer: dlayer not written yet in this backward */
    mfr_tensor **dparam;     /* per parameter, in mfr_net_param order */
    int n_params;
    float *scratch, *scratch2;
};

/* A new executable for the current flags. */
static int grad_rebuild(mfr_grad *g)
{
    /* The old one goes first: each holds every activation of a batch, so
     * two at once would double the peak memory. On failure g->ex stays NULL
     * and the next forward tries again. */
    mfr_exec_free(g->ex);
    g->ex = NULL;
    g->n = 0;
    return mfr_exec_create(g->net, g->max_batch,
                           MFR_EXEC_NO_FOLD | MFR_EXEC_NO_FUSE | MFR_EXEC_KEEP_ALL | MFR_EXEC_KEEP_PRE | g->flags,
                           &g->ex);
}

int mfr_grad_refresh(mfr_grad *g)
{
    int rc;
    if (!g->ex)
        return grad_rebuild(g);
    /* Same shapes and flags: only the weights changed. A failure leaves a
     * half-compiled executable, so it is rebuilt from scratch instead. */
    g->n = 0;
    if ((rc = mfr_exec_reload_weights(g->ex)) != MFR_OK) {
        mfr_exec_free(g->ex);
        g->ex = NULL;
        return grad_rebuild(g);
    }
    return MFR_OK;
}

void mfr_grad_free(mfr_grad *g)
{
    if (!g)
        return;
    mfr_exec_free(g->ex);
    if (g->dlayer)
        for (int i = 0; i < g->net->n_layers; i++)
            mfr_free(g->dlayer[i]);
    free(g->dlayer);
    free(g->fresh);
    if (g->dparam)
        for (int i = 0; i < g->n_params; i++)
            mfr_tensor_free(g->dparam[i]);
    free(g->dparam);
    mfr_free(g->scratch);
    mfr_free(g->scratch2);
    free(g);
}

int mfr_grad_create(const mfr_net *net, int max_batch, mfr_grad **out)
{
    mfr_grad *g;
    size_t biggest = 1;
    int rc;
    *out = NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    g->net = net;
    g->max_batch = max_batch;
    g->input_grads = 1;
    if ((rc = mfr_grad_refresh(g)) != MFR_OK) {
        free(g);
        return rc;
    }
    for (int i = 0; i < net->n_layers; i++) {
        const nn_opdef *d = nn_opdef_of(&net->layers[i]);
        if (!d->backward) {
            mfr_grad_free(g);
            return nn_layer_error(net, &net->layers[i], MFR_ERR_UNSUPPORTED, "no backward pass for this op yet");
        }
    }
    g->n_params = mfr_net_param_count(net);
    g->dlayer = calloc((size_t)net->n_layers, sizeof *g->dlayer);
    g->fresh = calloc((size_t)net->n_layers, 1);
    g->dparam = calloc((size_t)g->n_params + 1, sizeof *g->dparam);
    if (!g->dlayer || !g->dparam || !g->fresh) {
        mfr_grad_free(g);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < net->n_layers; i++) {
        size_t e = (size_t)max_batch * nn_elems(&net->layers[i]);
        biggest = e > biggest ? e : biggest;
        if (!(g->dlayer[i] = mfr_calloc(e, sizeof(float)))) {
            mfr_grad_free(g);
            return MFR_ERR_NOMEM;
        }
    }
    for (int i = 0; i < g->n_params; i++) {
        const mfr_tensor *p = mfr_net_param(net, i);
        if ((rc = mfr_tensor_create(p->name, p->ndim, p->shape, &g->dparam[i])) != MFR_OK) {
            mfr_grad_free(g);
            return rc;
        }
    }
    g->scratch = mfr_calloc(biggest, sizeof(float));
    g->scratch2 = mfr_calloc(biggest, sizeof(float));
    if (!g->scratch || !g->scratch2) {
        mfr_grad_free(g);
        return MFR_ERR_NOMEM;
    }
    *out = g;
    return MFR_OK;
}

int mfr_grad_forward(mfr_grad *g, const float *const *inputs, int n)
{
    int rc = g->ex ? MFR_OK : grad_rebuild(g);
    if (rc == MFR_OK)
        rc = mfr_exec_forward_multi(g->ex, inputs, n);
    g->n = rc == MFR_OK ? n : 0;
    return rc;
}

const float *mfr_grad_value(const mfr_grad *g, int layer)
{
    return g->ex ? mfr_exec_layer_output(g->ex, layer) : NULL;
}

/* The gradient tensor of a layer's parameter slot. */
static float *param_grad(const mfr_grad *g, const mfr_layer *l, int slot)
{
    const mfr_tensor *p = l->params[slot];
    if (!p)
        return NULL;
    for (int i = 0; i < g->n_params; i++)
        if (mfr_net_param(g->net, i) == p)
            return g->dparam[i]->data;
    return NULL;
}

int mfr_grad_backward(mfr_grad *g, const float *const *d_outputs)
{
    const mfr_net *net = g->net;
    mfr_exec *ex = g->ex;
    int n = g->n;
    if (n == 0)
        return mfr_error(MFR_ERR_ARG, "mfr_grad_backward needs a forward first");
    /* Layer gradients are zeroed only where an op adds to them: the first
     * convolution or fc to reach one (in reverse order) writes it whole. */
    for (int i = 0; i < net->n_layers; i++)
        g->fresh[i] = 1;
    for (int i = 0; i < g->n_params; i++)
        memset(g->dparam[i]->data, 0, g->dparam[i]->size * sizeof(float));
    for (int o = 0; o < ex->n_outputs; o++) {
        int li = ex->outputs[o];
        size_t bytes = (size_t)n * nn_elems(&net->layers[li]) * sizeof(float);
        if (d_outputs && d_outputs[o])
            memcpy(g->dlayer[li], d_outputs[o], bytes);
        else
            memset(g->dlayer[li], 0, bytes);
        g->fresh[li] = 0;
    }
    for (int si = ex->n_steps - 1; si >= 0; si--) {
        nn_step *s = &ex->steps[si];
        const mfr_layer *l = s->l;
        nn_grad_ctx c;
        memset(&c, 0, sizeof c);
        if (l->op == MFR_OP_INPUT)
            continue;
        c.dy = g->dlayer[s->layer];
        for (int k = 0; k < l->n_inputs; k++) {
            /* Convolutions and fc skip a NULL input gradient and write a
             * fresh one whole; other ops add to a zeroed buffer. */
            c.dx[k] = g->dlayer[l->inputs[k]];
            int assigns = l->op == MFR_OP_CONV || l->op == MFR_OP_DWCONV || l->op == MFR_OP_FC;
            int li = l->inputs[k];
            if (!g->input_grads && net->layers[li].op == MFR_OP_INPUT && assigns) {
                c.dx[k] = NULL;
                continue;
            }
            if (g->fresh[li] && !assigns)
                memset(c.dx[k], 0, (size_t)n * nn_elems(&net->layers[li]) * sizeof(float));
            c.dx_fresh[k] = g->fresh[li] && assigns;
            g->fresh[li] = 0;
        }
        for (int p = 0; p < MFR_LAYER_MAX_PARAMS; p++)
            c.dp[p] = param_grad(g, l, p);
        c.scratch = g->scratch;
        c.scratch2 = g->scratch2;
        nn_opdef_of(l)->backward(s, n, &c);
    }
    for (int i = 0; i < net->n_layers; i++) /* never reached: reads as zeros */
        if (g->fresh[i])
            memset(g->dlayer[i], 0, (size_t)n * nn_elems(&net->layers[i]) * sizeof(float));
    return MFR_OK;
}

const float *mfr_grad_layer(const mfr_grad *g, int layer)
{
    if (layer < 0 || layer >= g->net->n_layers)
        return NULL;
    return g->dlayer[layer];
}

mfr_tensor *mfr_grad_param(const mfr_grad *g, int i)
{
    return i >= 0 && i < g->n_params ? g->dparam[i] : NULL;
}

void mfr_grad_input_grads(mfr_grad *g, int on)
{
    g->input_grads = !!on;
}

int mfr_grad_train_bn(mfr_grad *g, int on)
{
    int flags = on ? MFR_EXEC_TRAIN_BN : 0;
    if (flags == g->flags && g->ex)
        return MFR_OK;
    g->flags = flags;
    return grad_rebuild(g);
}

int mfr_grad_update_running_stats(mfr_grad *g, float momentum)
{
    if (!(g->flags & MFR_EXEC_TRAIN_BN) || g->n == 0)
        return mfr_error(MFR_ERR_ARG, "running statistics need a forward with training-mode batch norm first");
    for (int i = 0; i < g->ex->n_steps; i++) {
        const nn_step *s = &g->ex->steps[i];
        const mfr_layer *l = s->l;
        double m = (double)g->n * l->h * l->w;
        float *rm, *rv;
        if (!s->bn_mean)
            continue;
        rm = l->params[MFR_P_MEAN]->data;
        rv = l->params[MFR_P_VAR]->data;
        for (int c = 0; c < l->c; c++) {
            double unbiased = m > 1 ? (double)s->bn_var[c] * m / (m - 1) : (double)s->bn_var[c];
            rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * s->bn_mean[c]);
            rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * unbiased);
        }
    }
    return MFR_OK;
}
