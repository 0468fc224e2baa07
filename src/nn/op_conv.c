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

/* The kernel parameters of layer l on input in, for a batch of n. */
static void conv_params_of(const mfr_layer *l, const mfr_layer *in, int n, mfr_conv_params *pp)
{
    mfr_conv_params p;
    memset(&p, 0, sizeof p);
    p.n = n;
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
    *pp = p;
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
    conv_params_of(l, in, s->max_batch, &p);
    rc = mfr_conv_plan_create(&p, w, s->bias, &s->plan);
    mfr_free(w);
    if (rc != MFR_OK)
        return nn_layer_error(s->net, l, rc, "cannot plan the convolution: %s", mfr_last_error());
    return MFR_OK;
}

static void conv_forward(nn_step *s, int n)
{
    mfr_epilogue ep;
    /* The plan runs the compiled batch; rows past n are never read. */
    nn_affine_epilogue(s, &ep);
    mfr_conv_run(s->plan, s->in[0], nn_affine_target(s), &ep);
    nn_affine_finish(s, (size_t)n * (size_t)s->l->h * (size_t)s->l->w);
}

/* Whether a convolution is a plain per-pixel product (1x1, stride 1, no
 * padding or dilation, one group). */
static int is_pointwise(const mfr_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->stride_h == 1 && l->stride_w == 1 && l->pad_top == 0 &&
           l->pad_left == 0 && l->pad_bottom == 0 && l->pad_right == 0 && l->groups == 1;
}

/* Gradients of the weights (parallel over output channels) and of the
 * input (parallel over input rows, gathering every tap that reads a pixel),
 * so each value is summed in one fixed order by one thread. */
static void conv_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    const float *x = s->in[0], *w = l->params[MFR_P_WEIGHT]->data, *du, *u = s->pre;
    float *dw = g->dp[MFR_P_WEIGHT], *dx = g->dx[0];
    int cig = in->c / l->groups, cog = l->c / l->groups, C = l->c;
    if (!u && nn_affine_needs_u(s)) {
        /* not kept by the forward: u = conv(x) + bias again (raw weights: NO_FOLD) */
        mfr_epilogue ep;
        memset(&ep, 0, sizeof ep);
        mfr_conv_run(s->plan, x, g->scratch, &ep);
        u = g->scratch;
    }
    du = nn_affine_backward_head(s, u, (size_t)n * (size_t)l->h * (size_t)l->w, g);
    int fresh = dx && g->dx_fresh[0]; /* dx holds nothing yet: write, do not add */
    size_t dx_bytes = (size_t)n * nn_elems(in) * sizeof(float);
    if (is_pointwise(l)) {
        /* A 1x1 convolution is U = X W^T over M = n h w pixels, so its
         * gradients are two GEMMs: dW += dU^T X (the batch is the GEMM's K,
         * never split across threads) and dX += dU W. */
        int m = n * l->h * l->w;
        if (dw)
            mfr_sgemm('T', 'N', C, in->c, m, 1.0f, du, C, x, in->c, 1.0f, dw, in->c);
        if (dx)
            mfr_sgemm('N', 'N', m, in->c, C, 1.0f, du, C, w, in->c, fresh ? 0.0f : 1.0f, dx, in->c);
        return;
    }
    if (l->groups == 1 || (l->groups == in->c && l->groups == C)) {
        mfr_conv_params p;
        conv_params_of(l, in, n, &p);
        int rc = MFR_OK;
        if (l->groups == 1) {
            if (fresh) {
                memset(dx, 0, dx_bytes);
                fresh = 0;
            }
            rc = mfr_conv_backward(&p, x, du, w, dx, dw);
        } else {
            if (dw && (rc = mfr_dwconv_backward_weights(&p, x, du, dw)) == MFR_OK)
                dw = NULL; /* done: the loops below must not add it again */
            if (dx && rc == MFR_OK)
                rc = mfr_dwconv_backward_data_ex(&p, du, w, dx, !fresh);
        }
        if (rc == MFR_OK)
            return;
        /* Out of memory for a scratch buffer (the kernels fail before they
         * write anything): the direct loops below do what is left. */
    }
    if (fresh)
        memset(dx, 0, dx_bytes);
    if (dw) {
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
        for (int o = 0; o < C; o++) {
            int grp = o / cog;
            for (int b = 0; b < n; b++)
                for (int oy = 0; oy < l->h; oy++)
                    for (int ox = 0; ox < l->w; ox++) {
                        float d = du[(((size_t)b * l->h + oy) * l->w + ox) * C + o];
                        if (d == 0.0f)
                            continue;
                        for (int ky = 0; ky < l->kh; ky++) {
                            int iy = oy * l->stride_h - l->pad_top + ky * l->dil_h;
                            if (iy < 0 || iy >= in->h)
                                continue;
                            for (int kx = 0; kx < l->kw; kx++) {
                                int ix = ox * l->stride_w - l->pad_left + kx * l->dil_w;
                                const float *xp;
                                float *wp;
                                if (ix < 0 || ix >= in->w)
                                    continue;
                                xp = x + (((size_t)b * in->h + iy) * in->w + ix) * in->c + (size_t)grp * cig;
                                wp = dw + (((size_t)o * l->kh + ky) * l->kw + kx) * cig;
                                for (int ci = 0; ci < cig; ci++)
                                    wp[ci] += d * xp[ci];
                            }
                        }
                    }
        }
    }
    if (dx) {
        long rows = (long)n * in->h;
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
        for (long r = 0; r < rows; r++) {
            int b = (int)(r / in->h), iy = (int)(r % in->h);
            for (int ix = 0; ix < in->w; ix++) {
                float *dxp = dx + ((size_t)r * in->w + ix) * in->c;
                for (int ky = 0; ky < l->kh; ky++) {
                    int ty = iy + l->pad_top - ky * l->dil_h, oy;
                    if (ty < 0 || ty % l->stride_h)
                        continue;
                    oy = ty / l->stride_h;
                    if (oy >= l->h)
                        continue;
                    for (int kx = 0; kx < l->kw; kx++) {
                        int tx = ix + l->pad_left - kx * l->dil_w, ox;
                        const float *dup;
                        if (tx < 0 || tx % l->stride_w)
                            continue;
                        ox = tx / l->stride_w;
                        if (ox >= l->w)
                            continue;
                        dup = du + (((size_t)b * l->h + oy) * l->w + ox) * C;
                        for (int o = 0; o < C; o++) {
                            const float *wp = w + (((size_t)o * l->kh + ky) * l->kw + kx) * cig;
                            float *dst = dxp + (size_t)(o / cog) * cig;
                            for (int ci = 0; ci < cig; ci++)
                                dst[ci] += dup[o] * wp[ci];
                        }
                    }
                }
            }
        }
    }
}

const nn_opdef nn_op_conv = {"conv", MFR_OP_CONV, MFR_ACT_NONE, 1, 1, conv_parse, conv_write, conv_shape,
                             conv_compile, conv_forward, conv_backward};
const nn_opdef nn_op_dwconv = {"dwconv", MFR_OP_DWCONV, MFR_ACT_NONE, 1, 1, conv_parse, conv_write, conv_shape,
                               conv_compile, conv_forward, conv_backward};
