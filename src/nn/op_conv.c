/* [conv] and [dwconv]: convolution with any kernel size, stride, padding,
 * dilation and groups; depthwise is the case groups = input channels.
 * Optional bias, batch norm (batch_normalize = yes) and activation, all
 * folded or fused into the kernel's epilogue at compile time. */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/op_affine.h"

#include <stdlib.h>
#include <string.h>

static int conv_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long v;
    int rc;
    if (l->op == MFR_OP_CONV) {
        if ((rc = mfr_ini_get_int(ini, sec, "filters", 0, 1, 1 << 20, &v)) != MFR_OK)
            return rc;
        if (v == 0)
            return mfr_ini_error(ini, sec, NULL, MFR_ERR_FORMAT, "[conv] needs 'filters = N' (output channels)");
        l->filters = (int)v;
        if ((rc = mfr_ini_get_int(ini, sec, "groups", 1, 1, 1 << 20, &v)) != MFR_OK)
            return rc;
        l->groups = (int)v;
    } else {
        if ((rc = mfr_ini_get_int(ini, sec, "multiplier", 1, 1, 1024, &v)) != MFR_OK)
            return rc;
        l->filters = (int)v;
    }
    if ((rc = nn_parse_window(ini, sec, l, 1)) != MFR_OK)
        return rc;
    return nn_affine_parse(ini, sec, l);
}

static void conv_write(FILE *fp, const mfr_layer *l)
{
    if (l->op == MFR_OP_CONV)
        fprintf(fp, "filters = %d\n", l->filters);
    else if (l->filters != 1)
        fprintf(fp, "multiplier = %d\n", l->filters);
    nn_write_window(fp, l, 1);
    if (l->op == MFR_OP_CONV && l->groups != 1)
        fprintf(fp, "groups = %d\n", l->groups);
    nn_affine_write(fp, l);
}

static int conv_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    int oh, ow, c_out, cig, rc;
    if (l->op == MFR_OP_DWCONV) {
        l->groups = in->c;
        c_out = in->c * l->filters;
    } else {
        c_out = l->filters;
    }
    if (in->c % l->groups || c_out % l->groups)
        return nn_layer_error(net, l, MFR_ERR_FORMAT, "groups = %d must divide the input channels (%d) and filters (%d)",
                              l->groups, in->c, c_out);
    if ((rc = nn_window_out(net, l, in->h, in->w, &oh, &ow)) != MFR_OK)
        return rc;
    cig = in->c / l->groups;
    l->h = oh;
    l->w = ow;
    l->c = c_out;
    l->macs = (uint64_t)oh * (uint64_t)ow * (uint64_t)c_out * (uint64_t)l->kh * (uint64_t)l->kw * (uint64_t)cig;
    {
        int wshape[4] = {c_out, l->kh, l->kw, cig};
        if ((rc = nn_param(net, l, MFR_P_WEIGHT, "weight", 4, wshape)) != MFR_OK)
            return rc;
    }
    return nn_affine_params(net, l, c_out);
}

static int conv_compile(nn_step *s)
{
    const mfr_layer *l = s->l;
    const mfr_layer *in = nn_input(s->net, l, 0);
    mfr_conv_params p;
    float *w = NULL;
    int rc;
    size_t row = (size_t)l->kh * (size_t)l->kw * (size_t)(in->c / l->groups);
    if ((rc = nn_affine_prepare(s, (size_t)l->c, row, &w)) != MFR_OK)
        return rc;
    memset(&p, 0, sizeof p);
    p.n = s->max_batch;
    p.h = in->h;
    p.w = in->w;
    p.c_in = in->c;
    p.c_out = l->c;
    p.kh = l->kh;
    p.kw = l->kw;
    p.stride_h = l->stride_h;
    p.stride_w = l->stride_w;
    p.pad_top = l->pad_top;
    p.pad_left = l->pad_left;
    p.pad_bottom = l->pad_bottom;
    p.pad_right = l->pad_right;
    p.dil_h = l->dil_h;
    p.dil_w = l->dil_w;
    p.groups = l->groups;
    rc = mfr_conv_plan_create(&p, w, s->bias, &s->plan);
    mfr_free(w);
    if (rc != MFR_OK)
        return nn_layer_error(s->net, l, rc, "cannot plan the convolution: %s", mfr_last_error());
    return MFR_OK;
}

static void conv_forward(nn_step *s, int n)
{
    mfr_epilogue ep;
    (void)n; /* the plan runs the compiled batch; extra samples are ignored */
    nn_affine_epilogue(s, &ep);
    mfr_conv_run(s->plan, s->in[0], s->out, &ep);
    nn_affine_finish(s, (size_t)s->max_batch * (size_t)s->l->h * (size_t)s->l->w);
}

const nn_opdef nn_op_conv = {"conv", MFR_OP_CONV, MFR_ACT_NONE, 1, 1, conv_parse, conv_write, conv_shape,
                             conv_compile, conv_forward};
const nn_opdef nn_op_dwconv = {"dwconv", MFR_OP_DWCONV, MFR_ACT_NONE, 1, 1, conv_parse, conv_write, conv_shape,
                               conv_compile, conv_forward};
