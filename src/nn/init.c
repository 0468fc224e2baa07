/* Deterministic weight initialisation: tensor i of the network draws only
 * from mfr_rng(seed, MFR_NN_STREAM_INIT, i), so the same seed gives the
 * same bytes whatever else changes (thread count, other tensors). */
#include "config.h"
#include "nn/nn_internal.h"

#include <math.h>

/* Whether the layer's output goes through a ReLU-family activation (He)
 * rather than a linear or saturating one (Xavier). */
static int relu_like(const mfr_net *net, const mfr_layer *l)
{
    mfr_act a = l->act;
    if (a == MFR_ACT_NONE) {
        /* The activation may be a separate layer right after (possibly after a batch norm). */
        for (int hop = 0, cur = (int)(l - net->layers); hop < 2; hop++) {
            int next = -1;
            for (int i = 0; i < net->n_layers && next < 0; i++)
                if (net->layers[i].op != MFR_OP_INPUT && net->layers[i].n_inputs == 1 &&
                    net->layers[i].inputs[0] == cur)
                    next = i;
            if (next < 0)
                break;
            if (net->layers[next].op == MFR_OP_ACT) {
                a = net->layers[next].act;
                break;
            }
            if (net->layers[next].op != MFR_OP_BATCHNORM)
                break;
            cur = next;
        }
    }
    return a == MFR_ACT_RELU || a == MFR_ACT_RELU6 || a == MFR_ACT_LEAKY || a == MFR_ACT_PRELU ||
           a == MFR_ACT_HSWISH;
}

int mfr_net_init_weights(mfr_net *net, uint64_t seed)
{
    int rc = mfr_net_resolve(net), idx = 0;
    if (rc != MFR_OK)
        return rc;
    for (int i = 0; i < net->n_layers; i++) {
        mfr_layer *l = &net->layers[i];
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++) {
            mfr_tensor *t = l->params[s];
            mfr_rng r;
            if (!t)
                continue;
            mfr_rng_init(&r, seed, MFR_NN_STREAM_INIT, (uint64_t)idx++);
            if (s == MFR_P_WEIGHT && l->op != MFR_OP_ACT) {
                /* fan_in: one output's taps; fan_out: one input's reach. */
                double fan_in = (double)(t->size / (size_t)t->shape[0]);
                double fan_out = (double)t->shape[0] / (double)l->groups;
                if (t->ndim == 4)
                    fan_out *= (double)t->shape[1] * (double)t->shape[2];
                if (relu_like(net, l)) {
                    double sd = sqrt(2.0 / fan_in);
                    for (size_t k = 0; k < t->size; k++)
                        t->data[k] = (float)(sd * mfr_rng_normal(&r));
                } else {
                    double a = sqrt(6.0 / (fan_in + fan_out));
                    for (size_t k = 0; k < t->size; k++)
                        t->data[k] = (float)mfr_rng_range(&r, -a, a);
                }
            } else {
                float v = s == MFR_P_GAMMA || s == MFR_P_VAR ? 1.0f : s == MFR_P_SLOPE ? 0.25f : 0.0f;
                for (size_t k = 0; k < t->size; k++)
                    t->data[k] = v;
            }
        }
    }
    return MFR_OK;
}
