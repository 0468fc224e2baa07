/* What [conv], [dwconv] and [fc] share: bias, batch norm, activation keys
 * and parameters, batch-norm folding and the fused epilogue. */
#ifndef MFR_NN_OP_AFFINE_H
#define MFR_NN_OP_AFFINE_H

#include "nn/nn_internal.h"

/* Keys batch_normalize, bias, eps, activation, slope. */
int nn_affine_parse(mfr_ini *ini, int sec, mfr_layer *l);
void nn_affine_write(FILE *fp, const mfr_layer *l);
/* Parameters bias, gamma/beta/mean/var, slope for c_out channels. */
int nn_affine_params(mfr_net *net, mfr_layer *l, int c_out);
/* Copies the weights (c_out rows of `row` values) into *w (mfr_alloc) with
 * the batch norm folded in when s->fold_bn, and sets s->bias (always c_out
 * values) or s->bn_scale/bn_shift for a separate pass. */
int nn_affine_prepare(nn_step *s, size_t c_out, size_t row, float **w);
/* The epilogue the kernel applies. */
void nn_affine_epilogue(const nn_step *s, mfr_epilogue *ep);
/* Where the kernel writes: s->pre when the step keeps its raw output for
 * training, else s->out. */
static inline float *nn_affine_target(const nn_step *s)
{
    return s->pre ? s->pre : s->out;
}
/* What the kernel did not apply: an unfolded batch norm, then the activation
 * (from s->pre into s->out when the step keeps its raw output). */
void nn_affine_finish(nn_step *s, size_t rows);

/* Whether the backward needs u (the product plus bias): when there is a
 * batch norm or an activation to differentiate. */
static inline int nn_affine_needs_u(const nn_step *s)
{
    return s->bn_scale || s->act != MFR_ACT_NONE;
}
/* Backward through the epilogue: from u (s->pre, or recomputed by the
 * caller into g->scratch; unused when !nn_affine_needs_u) and g->dy, returns
 * dL/du (g->scratch2, or g->dy itself when the epilogue was only a bias) and
 * adds the gradients of bias, batch norm and PReLU slopes. */
const float *nn_affine_backward_head(nn_step *s, const float *u, size_t rows, nn_grad_ctx *g);

#endif
