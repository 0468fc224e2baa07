/* oneDNN as a whole-network peer for `mfr bench model` (never the engine):
 * the network of an mfr_net rebuilt from oneDNN primitives, one per layer,
 * on NHWC tensors, and set up the way a oneDNN user would run it at its
 * best: batch norm folded into the convolution's weights and bias, the
 * layer's activation and a residual add that only consumes the layer fused
 * as post-ops, the weights reordered once (outside the timed runs) into the
 * format each primitive prefers. L2 normalisation has no oneDNN primitive
 * and runs as a plain loop (a 128-float vector per image in the embedder). */
#include "config.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MFR_HAVE_DNNL
#include <dnnl.h>

enum { DN_MAX_ARGS = 8 };

typedef struct dn_step {
    dnnl_primitive_t prim;       /* NULL: an L2 normalisation, done in C */
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int nargs;
    int layer;                   /* the mfr layer it computes */
    char impl[48];               /* oneDNN's name for the implementation */
    double seconds;              /* profile: time in this step, over `calls` runs */
    long calls;
} dn_step;

struct peer_dnnl_net {
    const mfr_net *net;
    int batch;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_memory_t *out;          /* per layer: the memory that holds its output */
    dnnl_memory_t *owned;        /* every memory created, destroyed at the end */
    int nowned, capowned;
    dn_step *steps;
    int nsteps;
    int input_layer;
    int profile;
};

static char net_impl[160];
static char last_impl[48]; /* of the last primitive made: its step's name */

static int own(peer_dnnl_net *pn, dnnl_memory_t m)
{
    if (pn->nowned == pn->capowned) {
        int cap = pn->capowned ? 2 * pn->capowned : 64;
        dnnl_memory_t *o = realloc(pn->owned, (size_t)cap * sizeof *o);
        if (!o) {
            dnnl_memory_destroy(m);
            return mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
        }
        pn->owned = o;
        pn->capowned = cap;
    }
    pn->owned[pn->nowned++] = m;
    return MFR_OK;
}

#define DNC(what, call)                                                                            \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success)                                                                   \
            return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': %s failed (status %d)", \
                             (what)->name, #call, (int)st_);                                       \
    } while (0)

/* NHWC activation of layer l for the whole batch. */
static dnnl_status_t act_md(const peer_dnnl_net *pn, const mfr_layer *l, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d = {pn->batch, l->c, l->h, l->w};
    return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_nhwc);
}

/* A new memory of descriptor md owned by the peer; data copied from src when given. */
static int new_memory(peer_dnnl_net *pn, const mfr_layer *l, const dnnl_memory_desc_t *md, const float *src,
                      size_t count, dnnl_memory_t *m)
{
    DNC(l, dnnl_memory_create(m, md, pn->eng, DNNL_MEMORY_ALLOCATE));
    int rc = own(pn, *m);
    if (rc != MFR_OK)
        return rc;
    if (src) {
        float *p;
        DNC(l, dnnl_memory_get_data_handle(*m, (void **)&p));
        memcpy(p, src, count * sizeof(float));
    }
    return MFR_OK;
}

static int add_step(peer_dnnl_net *pn, dnnl_primitive_t prim, const dnnl_exec_arg_t *args, int nargs, int layer)
{
    dn_step *s = realloc(pn->steps, (size_t)(pn->nsteps + 1) * sizeof *s);
    if (!s) {
        if (prim)
            dnnl_primitive_destroy(prim);
        return mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
    }
    pn->steps = s;
    dn_step *st = &s[pn->nsteps++];
    memset(st, 0, sizeof *st);
    st->prim = prim;
    st->layer = layer;
    st->nargs = nargs;
    snprintf(st->impl, sizeof st->impl, "%s", prim ? last_impl : "plain C");
    if (nargs)
        memcpy(st->args, args, (size_t)nargs * sizeof *args);
    return MFR_OK;
}

/* How many layers read layer i's output. */
static int readers(const mfr_net *net, int i, int *only)
{
    int n = 0;
    for (int j = 0; j < net->n_layers; j++)
        for (int k = 0; k < net->layers[j].n_inputs; k++)
            if (net->layers[j].inputs[k] == i) {
                n++;
                *only = j;
            }
    return n;
}

static int position(const mfr_net *net, int layer)
{
    for (int i = 0; i < net->n_layers; i++)
        if (net->order[i] == layer)
            return i;
    return -1;
}

/* The eltwise form of an activation; 0 when it is none or PReLU. */
static int eltwise_of(mfr_act act, float param, dnnl_alg_kind_t *alg, float *alpha, float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    switch (act) {
    case MFR_ACT_RELU:
        *alg = dnnl_eltwise_relu;
        return 1;
    case MFR_ACT_LEAKY:
        *alg = dnnl_eltwise_relu;
        *alpha = param;
        return 1;
    case MFR_ACT_RELU6:
        *alg = dnnl_eltwise_clip_v2;
        *beta = 6.0f;
        return 1;
    case MFR_ACT_SIGMOID:
        *alg = dnnl_eltwise_logistic;
        return 1;
    case MFR_ACT_TANH:
        *alg = dnnl_eltwise_tanh;
        return 1;
    case MFR_ACT_HSWISH:
        *alg = dnnl_eltwise_hardswish;
        return 1;
    default:
        return 0;
    }
}

/* A primitive from its descriptor with the attributes, and its name. */
static dnnl_status_t make_prim(peer_dnnl_net *pn, const void *desc, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *pd)
{
    dnnl_status_t st = dnnl_primitive_desc_create(pd, desc, attr, pn->eng, NULL);
    const char *impl = NULL;
    if (st == dnnl_success && dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl) {
        snprintf(last_impl, sizeof last_impl, "%s", impl);
        if (strstr(impl, "conv") || !net_impl[0])
            snprintf(net_impl, sizeof net_impl, "%s", impl);
    }
    return st;
}

/* build_product's answer when oneDNN has only its reference code for a
 * PReLU post-op (2.6 on AVX-512: every convolution); the caller then asks
 * for the product without it and a PReLU primitive after it. */
enum { PRODUCT_PRELU_APART = 1 };

/* Convolution, depthwise convolution or fully connected layer li, with
 * its batch norm folded, activation and (when fuse_add >= 0) the residual
 * add of layer fuse_add as post-ops; with prelu_apart, a PReLU activation
 * as its own primitive after it (in place). */
static int build_product(peer_dnnl_net *pn, int li, int fuse_add, int prelu_apart)
{
    const mfr_net *net = pn->net;
    const mfr_layer *l = &net->layers[li], *in = &net->layers[l->inputs[0]];
    const int fc = l->op == MFR_OP_FC, oc = l->c;
    const int g = l->op == MFR_OP_DWCONV ? in->c : fc ? 1 : l->groups;
    const int icg = in->c / g, kh = fc ? in->h : l->kh, kw = fc ? in->w : l->kw;
    const size_t per_out = (size_t)kh * kw * icg;
    const mfr_tensor *W = l->params[MFR_P_WEIGHT];
    if (!W || W->size != per_out * (size_t)oc)
        return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': unexpected weight shape", l->name);
    /* weights and bias with the batch norm folded in (double, then float) */
    float *w = malloc(W->size * sizeof *w), *b = malloc((size_t)oc * sizeof *b);
    if (!w || !b) {
        free(w);
        free(b);
        return mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
    }
    for (int o = 0; o < oc; o++) {
        double scale = 1.0, bias = l->params[MFR_P_BIAS] ? l->params[MFR_P_BIAS]->data[o] : 0.0;
        if (l->batch_normalize) {
            scale = l->params[MFR_P_GAMMA]->data[o] / sqrt((double)l->params[MFR_P_VAR]->data[o] + l->bn_eps);
            bias = (bias - l->params[MFR_P_MEAN]->data[o]) * scale + l->params[MFR_P_BETA]->data[o];
        }
        for (size_t i = 0; i < per_out; i++)
            w[(size_t)o * per_out + i] = (float)(W->data[(size_t)o * per_out + i] * scale);
        b[o] = (float)bias;
    }
    dnnl_memory_desc_t src_md, dst_md, wei_any, wei_user, bias_md;
    dnnl_dims_t bias_dims = {oc};
    int rc = MFR_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_t user = NULL;
#define TRY(call)                                                                                  \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            rc = mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': %s failed (status %d)", l->name, #call, \
                           (int)st_);                                                              \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)
    TRY(act_md(pn, in, &src_md));
    TRY(act_md(pn, l, &dst_md));
    TRY(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x));
    if (g == 1) {
        dnnl_dims_t wd = {oc, in->c, kh, kw};
        TRY(dnnl_memory_desc_init_by_tag(&wei_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
        TRY(dnnl_memory_desc_init_by_tag(&wei_user, 4, wd, dnnl_f32, dnnl_ohwi));
    } else {
        dnnl_dims_t wd = {g, oc / g, icg, kh, kw};
        TRY(dnnl_memory_desc_init_by_tag(&wei_any, 5, wd, dnnl_f32, dnnl_format_tag_any));
        TRY(dnnl_memory_desc_init_by_tag(&wei_user, 5, wd, dnnl_f32, dnnl_gohwi));
    }
    /* post-ops: the activation, then the residual add */
    TRY(dnnl_primitive_attr_create(&attr));
    TRY(dnnl_post_ops_create(&po));
    dnnl_alg_kind_t alg;
    float alpha, beta;
    int npo = 0, prelu_idx = -1, add_idx = -1, other = -1;
    if (eltwise_of(l->act, l->act_param, &alg, &alpha, &beta)) {
        TRY(dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta));
        npo++;
    } else if (l->act == MFR_ACT_PRELU && !prelu_apart) {
        TRY(dnnl_post_ops_append_prelu(po, 1 << 1));
        prelu_idx = npo++;
    }
    if (fuse_add >= 0) {
        const mfr_layer *a = &net->layers[fuse_add];
        other = a->inputs[0] == li ? a->inputs[1] : a->inputs[0];
        dnnl_memory_desc_t o_md;
        TRY(act_md(pn, &net->layers[other], &o_md));
        TRY(dnnl_post_ops_append_binary(po, dnnl_binary_add, &o_md));
        add_idx = npo++;
    }
    if (npo)
        TRY(dnnl_primitive_attr_set_post_ops(attr, po));
    if (fc) {
        dnnl_inner_product_desc_t d;
        TRY(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, &src_md, &wei_any, &bias_md, &dst_md));
        TRY(make_prim(pn, &d, attr, &pd));
    } else {
        dnnl_dims_t strides = {l->stride_h, l->stride_w}, dil = {l->dil_h - 1, l->dil_w - 1};
        dnnl_dims_t pad_l = {l->pad_top, l->pad_left}, pad_r = {l->pad_bottom, l->pad_right};
        dnnl_convolution_desc_t d;
        TRY(dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                      &wei_any, &bias_md, &dst_md, strides, dil, pad_l, pad_r));
        TRY(make_prim(pn, &d, attr, &pd));
    }
    if (prelu_idx >= 0) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
            strncmp(impl, "ref", 3) == 0) {
            rc = PRODUCT_PRELU_APART;
            goto done;
        }
    }
    {
        const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_t wei, bm, dst, slopes = NULL;
        if ((rc = new_memory(pn, l, wei_md, NULL, 0, &wei)) != MFR_OK ||
            (rc = new_memory(pn, l, &bias_md, b, (size_t)oc, &bm)) != MFR_OK)
            goto done;
        /* weights: OHWI (folded) -> the primitive's format, once */
        TRY(dnnl_memory_create(&user, &wei_user, pn->eng, w));
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t reorder;
        TRY(dnnl_reorder_primitive_desc_create(&rpd, &wei_user, pn->eng, wei_md, pn->eng, NULL));
        dnnl_status_t st = dnnl_primitive_create(&reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
        TRY(st);
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, wei}};
        st = dnnl_primitive_execute(reorder, pn->stream, 2, rargs);
        if (st == dnnl_success)
            st = dnnl_stream_wait(pn->stream);
        dnnl_primitive_destroy(reorder);
        TRY(st);
        if ((rc = new_memory(pn, l, &dst_md, NULL, 0, &dst)) != MFR_OK)
            goto done;
        /* PReLU slopes, as a post-op's or a primitive's weights: 1 x oc x 1 x 1 */
        dnnl_memory_desc_t s_md;
        if (l->act == MFR_ACT_PRELU) {
            dnnl_dims_t sd = {1, oc, 1, 1};
            const mfr_tensor *S = l->params[MFR_P_SLOPE];
            if (!S || S->size != (size_t)oc) {
                rc = mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': no PReLU slopes", l->name);
                goto done;
            }
            TRY(dnnl_memory_desc_init_by_tag(&s_md, 4, sd, dnnl_f32, dnnl_abcd));
            if ((rc = new_memory(pn, l, &s_md, S->data, (size_t)oc, &slopes)) != MFR_OK)
                goto done;
        }
        dnnl_primitive_t prim;
        TRY(dnnl_primitive_create(&prim, pd));
        dnnl_exec_arg_t args[DN_MAX_ARGS];
        int n = 0;
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, pn->out[in - net->layers]};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wei};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bm};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
        if (prelu_idx >= 0)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(prelu_idx) | DNNL_ARG_WEIGHTS, slopes};
        if (add_idx >= 0)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(add_idx) | DNNL_ARG_SRC_1, pn->out[other]};
        if ((rc = add_step(pn, prim, args, n, li)) != MFR_OK)
            goto done;
        if (prelu_apart && l->act == MFR_ACT_PRELU) {
            /* y = x > 0 ? x : slope x per channel, in place on dst */
            dnnl_prelu_desc_t pdsc;
            dnnl_primitive_desc_t ppd;
            dnnl_primitive_t pprim;
            TRY(dnnl_prelu_forward_desc_init(&pdsc, dnnl_forward_inference, &dst_md, &s_md));
            TRY(make_prim(pn, &pdsc, NULL, &ppd));
            dnnl_status_t pst = dnnl_primitive_create(&pprim, ppd);
            dnnl_primitive_desc_destroy(ppd);
            TRY(pst);
            dnnl_exec_arg_t pargs[3] = {{DNNL_ARG_SRC, dst}, {DNNL_ARG_WEIGHTS, slopes}, {DNNL_ARG_DST, dst}};
            if ((rc = add_step(pn, pprim, pargs, 3, li)) != MFR_OK)
                goto done;
        }
        pn->out[li] = dst;
        if (fuse_add >= 0)
            pn->out[fuse_add] = dst; /* the add's output is this product's */
    }
done:
#undef TRY
    if (user)
        dnnl_memory_destroy(user);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    free(w);
    free(b);
    return rc;
}

/* A primitive with one source and one destination (pooling, resampling,
 * eltwise, softmax) from its descriptor. */
static int build_unary(peer_dnnl_net *pn, int li, const void *desc, const dnnl_memory_desc_t *dst_md)
{
    const mfr_layer *l = &pn->net->layers[li];
    dnnl_primitive_desc_t pd;
    DNC(l, make_prim(pn, desc, NULL, &pd));
    dnnl_primitive_t prim;
    dnnl_status_t st = dnnl_primitive_create(&prim, pd);
    dnnl_primitive_desc_destroy(pd);
    DNC(l, st);
    dnnl_memory_t dst;
    int rc = new_memory(pn, l, dst_md, NULL, 0, &dst);
    if (rc != MFR_OK) {
        dnnl_primitive_destroy(prim);
        return rc;
    }
    /* a pooling primitive for inference needs no workspace */
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, pn->out[l->inputs[0]]}, {DNNL_ARG_DST, dst}};
    pn->out[li] = dst;
    return add_step(pn, prim, args, 2, li);
}

/* add / mul of two or more inputs (the first n - 1 results in place). */
static int build_binary(peer_dnnl_net *pn, int li)
{
    const mfr_net *net = pn->net;
    const mfr_layer *l = &net->layers[li];
    dnnl_memory_desc_t dst_md;
    DNC(l, act_md(pn, l, &dst_md));
    dnnl_memory_t dst;
    int rc = new_memory(pn, l, &dst_md, NULL, 0, &dst);
    if (rc != MFR_OK)
        return rc;
    dnnl_alg_kind_t alg = l->op == MFR_OP_ADD ? dnnl_binary_add : dnnl_binary_mul;
    for (int k = 1; k < l->n_inputs; k++) {
        const mfr_layer *a = k == 1 ? &net->layers[l->inputs[0]] : l, *b = &net->layers[l->inputs[k]];
        dnnl_memory_desc_t a_md, b_md;
        DNC(l, k == 1 ? act_md(pn, a, &a_md) : act_md(pn, l, &a_md));
        DNC(l, act_md(pn, b, &b_md)); /* 1 x 1 x c broadcasts */
        dnnl_binary_desc_t d;
        DNC(l, dnnl_binary_desc_init(&d, alg, &a_md, &b_md, &dst_md));
        dnnl_primitive_desc_t pd;
        DNC(l, make_prim(pn, &d, NULL, &pd));
        dnnl_primitive_t prim;
        dnnl_status_t st = dnnl_primitive_create(&prim, pd);
        dnnl_primitive_desc_destroy(pd);
        DNC(l, st);
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC_0, k == 1 ? pn->out[l->inputs[0]] : dst},
                                   {DNNL_ARG_SRC_1, pn->out[l->inputs[k]]},
                                   {DNNL_ARG_DST, dst}};
        if ((rc = add_step(pn, prim, args, 3, li)) != MFR_OK)
            return rc;
    }
    pn->out[li] = dst;
    return MFR_OK;
}

static int build_concat(peer_dnnl_net *pn, int li)
{
    const mfr_net *net = pn->net;
    const mfr_layer *l = &net->layers[li];
    dnnl_memory_desc_t mds[MFR_LAYER_MAX_INPUTS], dst_md;
    for (int k = 0; k < l->n_inputs; k++)
        DNC(l, act_md(pn, &net->layers[l->inputs[k]], &mds[k]));
    DNC(l, act_md(pn, l, &dst_md));
    dnnl_primitive_desc_t pd;
    DNC(l, dnnl_concat_primitive_desc_create(&pd, &dst_md, l->n_inputs, 1, mds, NULL, pn->eng));
    dnnl_primitive_t prim;
    dnnl_status_t st = dnnl_primitive_create(&prim, pd);
    dnnl_primitive_desc_destroy(pd);
    DNC(l, st);
    dnnl_memory_t dst;
    int rc = new_memory(pn, l, &dst_md, NULL, 0, &dst);
    if (rc != MFR_OK) {
        dnnl_primitive_destroy(prim);
        return rc;
    }
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int n = 0;
    for (int k = 0; k < l->n_inputs && n < DN_MAX_ARGS - 1; k++)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_MULTIPLE_SRC + k, pn->out[l->inputs[k]]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    pn->out[li] = dst;
    return add_step(pn, prim, args, n, li);
}

static int build_layer(peer_dnnl_net *pn, int li)
{
    const mfr_net *net = pn->net;
    const mfr_layer *l = &net->layers[li];
    dnnl_memory_desc_t src_md, dst_md;
    if (l->op != MFR_OP_INPUT) {
        DNC(l, act_md(pn, &net->layers[l->inputs[0]], &src_md));
        DNC(l, act_md(pn, l, &dst_md));
    }
    switch (l->op) {
    case MFR_OP_INPUT: {
        DNC(l, act_md(pn, l, &dst_md));
        dnnl_memory_t m;
        DNC(l, dnnl_memory_create(&m, &dst_md, pn->eng, DNNL_MEMORY_NONE));
        int rc = own(pn, m);
        if (rc != MFR_OK)
            return rc;
        if (pn->input_layer >= 0)
            return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: more than one input layer");
        pn->input_layer = li;
        pn->out[li] = m;
        return MFR_OK;
    }
    case MFR_OP_CONV:
    case MFR_OP_DWCONV:
    case MFR_OP_FC: {
        /* a residual add that reads this layer, and nothing else does,
         * whose other input is computed before it: fused */
        int reader = -1, fuse = -1;
        if (readers(net, li, &reader) == 1 && net->layers[reader].op == MFR_OP_ADD &&
            net->layers[reader].n_inputs == 2 && net->layers[reader].inputs[0] != net->layers[reader].inputs[1]) {
            const mfr_layer *a = &net->layers[reader];
            int other = a->inputs[0] == li ? a->inputs[1] : a->inputs[0];
            const mfr_layer *o = &net->layers[other];
            if (position(net, other) < position(net, li) && o->h == l->h && o->w == l->w && o->c == l->c)
                fuse = reader;
        }
        int rc = build_product(pn, li, fuse, 0);
        if (rc == PRODUCT_PRELU_APART) /* then the add (after the PReLU) is not fused either */
            rc = build_product(pn, li, -1, 1);
        return rc;
    }
    case MFR_OP_MAXPOOL:
    case MFR_OP_AVGPOOL:
    case MFR_OP_GAP: {
        const mfr_layer *in = &net->layers[l->inputs[0]];
        int gap = l->op == MFR_OP_GAP;
        dnnl_dims_t strides = {gap ? 1 : l->stride_h, gap ? 1 : l->stride_w};
        dnnl_dims_t kernel = {gap ? in->h : l->kh, gap ? in->w : l->kw}, dil = {0, 0};
        dnnl_dims_t pad_l = {gap ? 0 : l->pad_top, gap ? 0 : l->pad_left};
        dnnl_dims_t pad_r = {gap ? 0 : l->pad_bottom, gap ? 0 : l->pad_right};
        dnnl_pooling_v2_desc_t d;
        DNC(l, dnnl_pooling_v2_forward_desc_init(
                   &d, dnnl_forward_inference,
                   l->op == MFR_OP_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &src_md, &dst_md,
                   strides, kernel, dil, pad_l, pad_r));
        return build_unary(pn, li, &d, &dst_md);
    }
    case MFR_OP_UPSAMPLE: {
        float factors[2] = {(float)l->scale, (float)l->scale};
        dnnl_resampling_desc_t d;
        DNC(l, dnnl_resampling_forward_desc_init(&d, dnnl_forward_inference,
                                                 l->bilinear ? dnnl_resampling_linear : dnnl_resampling_nearest,
                                                 factors, &src_md, &dst_md));
        return build_unary(pn, li, &d, &dst_md);
    }
    case MFR_OP_ACT: {
        dnnl_alg_kind_t alg;
        float alpha, beta;
        if (!eltwise_of(l->act, l->act_param, &alg, &alpha, &beta))
            return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': this activation is not supported",
                             l->name);
        dnnl_eltwise_desc_t d;
        DNC(l, dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, &src_md, alpha, beta));
        return build_unary(pn, li, &d, &dst_md);
    }
    case MFR_OP_SOFTMAX: {
        dnnl_softmax_desc_t d;
        DNC(l, dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, &src_md, 1));
        return build_unary(pn, li, &d, &dst_md);
    }
    case MFR_OP_ADD:
    case MFR_OP_MUL:
        return build_binary(pn, li);
    case MFR_OP_CONCAT:
        return build_concat(pn, li);
    case MFR_OP_L2NORM: {
        dnnl_memory_t dst;
        int rc = new_memory(pn, l, &dst_md, NULL, 0, &dst);
        if (rc != MFR_OK)
            return rc;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, pn->out[l->inputs[0]]}, {DNNL_ARG_DST, dst}};
        pn->out[li] = dst;
        return add_step(pn, NULL, args, 2, li);
    }
    case MFR_OP_DROPOUT:
    case MFR_OP_FLATTEN:
    case MFR_OP_RESHAPE:
        /* the same bytes in NHWC: the input's memory seen with this shape */
        pn->out[li] = pn->out[l->inputs[0]];
        return MFR_OK;
    default:
        return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s': this layer type is not supported", l->name);
    }
}

int peer_dnnl_net_create(const mfr_net *net, int batch, peer_dnnl_net **out)
{
    *out = NULL;
    peer_dnnl_net *pn = calloc(1, sizeof *pn);
    if (!pn)
        return mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
    pn->net = net;
    pn->batch = batch;
    pn->input_layer = -1;
    pn->out = calloc((size_t)net->n_layers, sizeof *pn->out);
    int rc = pn->out ? MFR_OK : mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
    if (rc == MFR_OK && (dnnl_engine_create(&pn->eng, dnnl_cpu, 0) != dnnl_success ||
                         dnnl_stream_create(&pn->stream, pn->eng, dnnl_stream_default_flags) != dnnl_success))
        rc = mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: no CPU engine");
    for (int i = 0; i < net->n_layers && rc == MFR_OK; i++) {
        int li = net->order[i];
        if (pn->out[li])
            continue; /* an add fused into the product before it */
        rc = build_layer(pn, li);
    }
    if (rc == MFR_OK && pn->input_layer < 0)
        rc = mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: the network has no input layer");
    if (rc != MFR_OK) {
        peer_dnnl_net_free(pn);
        return rc;
    }
    *out = pn;
    return MFR_OK;
}

/* x / max(||x||, eps) over the channels of each pixel, as mfr's [l2norm]. */
static void l2norm(const mfr_layer *l, int batch, const float *x, float *y)
{
    size_t pixels = (size_t)batch * l->h * l->w;
    for (size_t p = 0; p < pixels; p++) {
        const float *a = x + p * l->c;
        double s = 0;
        for (int c = 0; c < l->c; c++)
            s += (double)a[c] * a[c];
        double n = sqrt(s);
        float inv = (float)(1.0 / (n > l->eps ? n : l->eps));
        for (int c = 0; c < l->c; c++)
            y[p * l->c + c] = a[c] * inv;
    }
}

int peer_dnnl_net_run(peer_dnnl_net *pn, const float *input)
{
    if (dnnl_memory_set_data_handle(pn->out[pn->input_layer], (void *)input) != dnnl_success)
        return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: cannot set the input");
    for (int s = 0; s < pn->nsteps; s++) {
        dn_step *st = &pn->steps[s];
        double t0 = pn->profile ? mfr_time_now() : 0.0;
        if (st->prim) {
            if (dnnl_primitive_execute(st->prim, pn->stream, st->nargs, st->args) != dnnl_success)
                return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: layer '%s' failed",
                                 pn->net->layers[st->layer].name);
            if (pn->profile) {
                /* the step's own time: wait for it before the next starts */
                if (dnnl_stream_wait(pn->stream) != dnnl_success)
                    return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: stream failed");
                st->seconds += mfr_time_now() - t0;
                st->calls++;
            }
            continue;
        }
        /* a plain step reads what the primitives before it wrote */
        if (dnnl_stream_wait(pn->stream) != dnnl_success)
            return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: stream failed");
        float *x, *y;
        dnnl_memory_get_data_handle(st->args[0].memory, (void **)&x);
        dnnl_memory_get_data_handle(st->args[1].memory, (void **)&y);
        l2norm(&pn->net->layers[st->layer], pn->batch, x, y);
        if (pn->profile) {
            st->seconds += mfr_time_now() - t0;
            st->calls++;
        }
    }
    return dnnl_stream_wait(pn->stream) == dnnl_success ? MFR_OK
                                                         : mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN peer: stream failed");
}

const float *peer_dnnl_net_layer_output(const peer_dnnl_net *pn, int layer)
{
    float *p = NULL;
    if (layer < 0 || layer >= pn->net->n_layers || !pn->out[layer] ||
        dnnl_memory_get_data_handle(pn->out[layer], (void **)&p) != dnnl_success)
        return NULL;
    return p;
}

void peer_dnnl_net_profile(peer_dnnl_net *pn, int on)
{
    if (on && !pn->profile)
        for (int s = 0; s < pn->nsteps; s++)
            pn->steps[s].seconds = 0.0, pn->steps[s].calls = 0;
    pn->profile = on;
}

int peer_dnnl_net_step_count(const peer_dnnl_net *pn)
{
    return pn ? pn->nsteps : 0;
}

void peer_dnnl_net_step_get(const peer_dnnl_net *pn, int i, const char **layer, const char **impl, double *mean_s)
{
    const dn_step *st = &pn->steps[i];
    *layer = pn->net->layers[st->layer].name;
    *impl = st->impl;
    *mean_s = st->calls ? st->seconds / (double)st->calls : 0.0;
}

const char *peer_dnnl_net_info(void)
{
    static char buf[256];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d, one primitive per layer, NHWC (a convolution ran: %s)", v->major,
             v->minor, v->patch, net_impl[0] ? net_impl : "none yet");
    return buf;
}

void peer_dnnl_net_free(peer_dnnl_net *pn)
{
    if (!pn)
        return;
    for (int s = 0; s < pn->nsteps; s++)
        if (pn->steps[s].prim)
            dnnl_primitive_destroy(pn->steps[s].prim);
    for (int i = 0; i < pn->nowned; i++)
        dnnl_memory_destroy(pn->owned[i]);
    if (pn->stream)
        dnnl_stream_destroy(pn->stream);
    if (pn->eng)
        dnnl_engine_destroy(pn->eng);
    free(pn->steps);
    free(pn->owned);
    free(pn->out);
    free(pn);
}
#else
int peer_dnnl_net_create(const mfr_net *net, int batch, peer_dnnl_net **out)
{
    (void)net, (void)batch;
    *out = NULL;
    return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN is not compiled in (./configure --with-dnnl)");
}
int peer_dnnl_net_run(peer_dnnl_net *pn, const float *input)
{
    (void)pn, (void)input;
    return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN is not compiled in");
}
const float *peer_dnnl_net_layer_output(const peer_dnnl_net *pn, int layer)
{
    (void)pn, (void)layer;
    return NULL;
}
void peer_dnnl_net_profile(peer_dnnl_net *pn, int on)
{
    (void)pn, (void)on;
}
int peer_dnnl_net_step_count(const peer_dnnl_net *pn)
{
    (void)pn;
    return 0;
}
void peer_dnnl_net_step_get(const peer_dnnl_net *pn, int i, const char **layer, const char **impl, double *mean_s)
{
    (void)pn, (void)i;
    *layer = *impl = "";
    *mean_s = 0.0;
}
const char *peer_dnnl_net_info(void)
{
    return "oneDNN: not compiled in (./configure --with-dnnl)";
}
void peer_dnnl_net_free(peer_dnnl_net *pn)
{
    (void)pn;
}
#endif
