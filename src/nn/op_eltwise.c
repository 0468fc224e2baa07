/* [add] and [mul]: elementwise over 2 to 8 inputs of the same shape; an
 * input of shape 1 x 1 x c broadcasts over every pixel (squeeze-excitation
 * style). After a conv, a two-input add is fused into its epilogue as a
 * residual. */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/kernels/spatial.h"

static int elt_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *big = nn_input(net, l, 0);
    for (int k = 1; k < l->n_inputs; k++) {
        const mfr_layer *in = nn_input(net, l, k);
        if ((size_t)in->h * (size_t)in->w > (size_t)big->h * (size_t)big->w)
            big = in;
    }
    for (int k = 0; k < l->n_inputs; k++) {
        const mfr_layer *in = nn_input(net, l, k);
        int same = in->h == big->h && in->w == big->w && in->c == big->c;
        int bcast = in->h == 1 && in->w == 1 && in->c == big->c;
        if (!same && !bcast)
            return nn_layer_error(net, l, MFR_ERR_FORMAT,
                                  "input '%s' is %dx%dx%d but '%s' is %dx%dx%d (shapes must match, or be 1x1x%d)",
                                  in->name, in->h, in->w, in->c, big->name, big->h, big->w, big->c, big->c);
    }
    l->h = big->h;
    l->w = big->w;
    l->c = big->c;
    return MFR_OK;
}

/* Elements per block of a flat sum or product: the blocks are split over
 * the threads; each element is computed the same way in any block. */
#define ELT_BLOCK 16384

static void elt_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l;
    size_t pixels = (size_t)l->h * (size_t)l->w, c = (size_t)l->c;
    long rows = (long)n * (long)pixels;
    int is_mul = l->op == MFR_OP_MUL, bcast = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const mfr_layer *in = nn_input(s->net, l, k);
        bcast |= in->h == 1 && in->w == 1 && pixels > 1;
    }
    if (!bcast) {
        /* same shapes: one flat pass per input after the first two, in
         * input order (((a + b) + c) ...), the order of the loop below */
        const spatial_ops *kr = spatial_for(mfr_isa_best());
        size_t total = (size_t)rows * c;
        long blocks = (long)((total + ELT_BLOCK - 1) / ELT_BLOCK);
#pragma omp parallel for num_threads(nn_threads_for(total * (size_t)l->n_inputs)) schedule(static)
        for (long bl = 0; bl < blocks; bl++) {
            size_t i0 = (size_t)bl * ELT_BLOCK, len = total - i0 < ELT_BLOCK ? total - i0 : ELT_BLOCK;
            kr->binary(is_mul, s->in[0] + i0, s->in[1] + i0, s->out + i0, len);
            for (int k = 2; k < l->n_inputs; k++)
                kr->binary(is_mul, s->out + i0, s->in[k] + i0, s->out + i0, len);
        }
        return;
    }
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c * (size_t)l->n_inputs)) schedule(static)
    for (long r = 0; r < rows; r++) {
        size_t b = (size_t)r / pixels;
        float *dst = s->out + (size_t)r * c;
        for (int k = 0; k < l->n_inputs; k++) {
            const mfr_layer *in = nn_input(s->net, l, k);
            const float *src = in->h == 1 && in->w == 1 && pixels > 1 ? s->in[k] + b * c : s->in[k] + (size_t)r * c;
            if (k == 0)
                for (size_t i = 0; i < c; i++)
                    dst[i] = src[i];
            else if (is_mul)
                for (size_t i = 0; i < c; i++)
                    dst[i] *= src[i];
            else
                for (size_t i = 0; i < c; i++)
                    dst[i] += src[i];
        }
    }
}

/* dL/dx_k = dy (add) or dy times the other inputs (mul); a broadcast input
 * sums over the pixels. Inputs are visited one after another, so an input
 * named twice accumulates both shares. */
static void elt_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    size_t pixels = (size_t)l->h * (size_t)l->w, c = (size_t)l->c;
    int is_mul = l->op == MFR_OP_MUL;
    for (int k = 0; k < l->n_inputs; k++) {
        const mfr_layer *in = nn_input(s->net, l, k);
        int bcast = in->h == 1 && in->w == 1 && pixels > 1;
#pragma omp parallel for num_threads(nn_threads_for((size_t)n * pixels * c)) schedule(static)
        for (int b = 0; b < n; b++)
            for (size_t p = 0; p < pixels; p++) {
                size_t r = (size_t)b * pixels + p;
                float *dst = g->dx[k] + (bcast ? (size_t)b : r) * c;
                for (size_t i = 0; i < c; i++) {
                    float v = g->dy[r * c + i];
                    if (is_mul)
                        for (int j = 0; j < l->n_inputs; j++) {
                            const mfr_layer *o = nn_input(s->net, l, j);
                            if (j != k)
                                v *= s->in[j][(o->h == 1 && o->w == 1 && pixels > 1 ? (size_t)b : r) * c + i];
                        }
                    dst[i] += v;
                }
            }
    }
}

const nn_opdef nn_op_add = {"add", MFR_OP_ADD, MFR_ACT_NONE, 2, MFR_LAYER_MAX_INPUTS, nn_parse_nothing,
                            nn_write_nothing, elt_shape, NULL, elt_forward, elt_backward};
const nn_opdef nn_op_mul = {"mul", MFR_OP_MUL, MFR_ACT_NONE, 2, MFR_LAYER_MAX_INPUTS, nn_parse_nothing,
                            nn_write_nothing, elt_shape, NULL, elt_forward, elt_backward};
