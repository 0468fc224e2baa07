/* [concat] along channels (inputs of equal height and width) and [slice]
 * of channels [begin, end). NHWC makes both a copy of runs of channels. */
#include "config.h"
#include "nn/nn_internal.h"

#include <string.h>

static int concat_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *first = nn_input(net, l, 0);
    long c = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const mfr_layer *in = nn_input(net, l, k);
        if (in->h != first->h || in->w != first->w)
            return nn_layer_error(net, l, MFR_ERR_FORMAT, "input '%s' is %dx%d but '%s' is %dx%d", in->name, in->h,
                                  in->w, first->name, first->h, first->w);
        c += in->c;
    }
    l->h = first->h;
    l->w = first->w;
    l->c = c > (1 << 24) ? (1 << 24) + 1 : (int)c; /* too many: resolve reports it */
    return MFR_OK;
}

static void concat_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l;
    long rows = (long)n * l->h * l->w;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * (size_t)l->c)) schedule(static)
    for (long r = 0; r < rows; r++) {
        float *dst = s->out + (size_t)r * (size_t)l->c;
        for (int k = 0; k < l->n_inputs; k++) {
            size_t c = (size_t)nn_input(s->net, l, k)->c;
            memcpy(dst, s->in[k] + (size_t)r * c, c * sizeof(float));
            dst += c;
        }
    }
}

static int slice_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long b, e;
    int rc;
    if ((rc = mfr_ini_get_int(ini, sec, "begin", 0, 0, 1 << 24, &b)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "end", 0, 0, 1 << 24, &e)) != MFR_OK)
        return rc;
    l->begin = (int)b;
    l->end = (int)e;
    return MFR_OK;
}

static void slice_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "begin = %d\n", l->begin);
    if (l->end)
        fprintf(fp, "end = %d\n", l->end);
}

static int slice_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    int end = l->end ? l->end : in->c; /* end = 0: up to the last channel */
    if (l->begin >= end || end > in->c)
        return nn_layer_error(net, l, MFR_ERR_FORMAT, "channels [%d, %d) are not a range inside the %d of '%s'",
                              l->begin, end, in->c, in->name);
    l->h = in->h;
    l->w = in->w;
    l->c = end - l->begin;
    return MFR_OK;
}

static void slice_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l;
    size_t cin = (size_t)nn_input(s->net, l, 0)->c, c = (size_t)l->c;
    long rows = (long)n * l->h * l->w;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * c)) schedule(static)
    for (long r = 0; r < rows; r++)
        memcpy(s->out + (size_t)r * c, s->in[0] + (size_t)r * cin + (size_t)l->begin, c * sizeof(float));
}

static void concat_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    long rows = (long)n * l->h * l->w;
    for (int k = 0, at = 0; k < l->n_inputs; k++) {
        size_t c = (size_t)nn_input(s->net, l, k)->c;
        for (long r = 0; r < rows; r++)
            for (size_t i = 0; i < c; i++)
                g->dx[k][(size_t)r * c + i] += g->dy[(size_t)r * (size_t)l->c + (size_t)at + i];
        at += (int)c;
    }
}

static void slice_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l;
    size_t cin = (size_t)nn_input(s->net, l, 0)->c, c = (size_t)l->c;
    long rows = (long)n * l->h * l->w;
    for (long r = 0; r < rows; r++)
        for (size_t i = 0; i < c; i++)
            g->dx[0][(size_t)r * cin + (size_t)l->begin + i] += g->dy[(size_t)r * c + i];
}

const nn_opdef nn_op_concat = {"concat", MFR_OP_CONCAT, MFR_ACT_NONE, 1, MFR_LAYER_MAX_INPUTS, nn_parse_nothing,
                               nn_write_nothing, concat_shape, NULL, concat_forward, concat_backward};
const nn_opdef nn_op_slice = {"slice", MFR_OP_SLICE, MFR_ACT_NONE, 1, 1, slice_parse, slice_write, slice_shape, NULL,
                              slice_forward, slice_backward};
