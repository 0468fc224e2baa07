/* oneDNN as a benchmark peer for convolutions (never the engine). Tensors
 * are NHWC (channels-last) like ours; the weights may be reordered once,
 * outside the timed runs, into whatever blocked format oneDNN prefers, so
 * that it runs at its best. */
#include "config.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef MFR_HAVE_DNNL
#include <dnnl.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

struct peer_dnnl_conv {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bias, dst;
};

static char impl_name[128];

int peer_dnnl_available(void)
{
    return 1;
}

const char *peer_dnnl_info(void)
{
    static char buf[256];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d; NHWC; last convolution implementation: %s", v->major, v->minor,
             v->patch, impl_name[0] ? impl_name : "(none yet)");
    return buf;
}

void peer_dnnl_threads(int n)
{
#ifdef MFR_HAVE_OPENMP
    omp_set_num_threads(n); /* oneDNN (OpenMP runtime) uses omp_get_max_threads() */
#else
    (void)n;
#endif
}

#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            peer_dnnl_conv_free(pc);                                                               \
            return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN: %s failed (status %d)", #call, (int)st_); \
        }                                                                                          \
    } while (0)

int peer_dnnl_conv_create(const mfr_conv_params *p, const float *weights, const float *bias, int relu,
                          peer_dnnl_conv **out)
{
    int oh, ow, rc;
    *out = NULL;
    if ((rc = mfr_conv_output_size(p, &oh, &ow)) != MFR_OK)
        return rc;
    peer_dnnl_conv *pc = calloc(1, sizeof *pc);
    if (!pc)
        return mfr_error(MFR_ERR_NOMEM, "oneDNN peer: out of memory");
    int g = p->groups;
    dnnl_memory_desc_t src_md, dst_md, wei_any, wei_user, bias_md;
    dnnl_dims_t src_dims = {p->n, p->c_in, p->h, p->w}, dst_dims = {p->n, p->c_out, oh, ow};
    dnnl_dims_t bias_dims = {p->c_out};
    dnnl_dims_t strides = {p->stride_h, p->stride_w}, dil = {p->dil_h - 1, p->dil_w - 1};
    dnnl_dims_t pad_l = {p->pad_top, p->pad_left}, pad_r = {p->pad_bottom, p->pad_right};
    DN(dnnl_engine_create(&pc->eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&pc->stream, pc->eng, dnnl_stream_default_flags));
    DN(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x));
    if (g == 1) {
        dnnl_dims_t wd = {p->c_out, p->c_in, p->kh, p->kw};
        DN(dnnl_memory_desc_init_by_tag(&wei_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
        DN(dnnl_memory_desc_init_by_tag(&wei_user, 4, wd, dnnl_f32, dnnl_ohwi));
    } else {
        dnnl_dims_t wd = {g, p->c_out / g, p->c_in / g, p->kh, p->kw};
        DN(dnnl_memory_desc_init_by_tag(&wei_any, 5, wd, dnnl_f32, dnnl_format_tag_any));
        DN(dnnl_memory_desc_init_by_tag(&wei_user, 5, wd, dnnl_f32, dnnl_gohwi));
    }
    dnnl_convolution_desc_t cd;
    DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                  &wei_any, bias ? &bias_md : NULL, &dst_md, strides, dil, pad_l,
                                                  pad_r));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    DN(dnnl_primitive_attr_create(&attr));
    if (relu) {
        DN(dnnl_post_ops_create(&po));
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
        DN(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &cd, attr, pc->eng, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    DN(st);
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(impl_name, sizeof impl_name, "%s", impl);
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    DN(dnnl_primitive_create(&pc->prim, pd));
    DN(dnnl_memory_create(&pc->src, &src_md, pc->eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&pc->dst, &dst_md, pc->eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&pc->wei, wei_md, pc->eng, DNNL_MEMORY_ALLOCATE));
    if (bias) {
        DN(dnnl_memory_create(&pc->bias, &bias_md, pc->eng, DNNL_MEMORY_ALLOCATE));
        float *bp;
        DN(dnnl_memory_get_data_handle(pc->bias, (void **)&bp));
        for (int i = 0; i < p->c_out; i++)
            bp[i] = bias[i];
    }
    /* Weights: user OHWI -> the primitive's format, once. */
    dnnl_memory_t user;
    DN(dnnl_memory_create(&user, &wei_user, pc->eng, (void *)weights));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    DN(dnnl_reorder_primitive_desc_create(&rpd, &wei_user, pc->eng, wei_md, pc->eng, NULL));
    DN(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, pc->wei}};
    DN(dnnl_primitive_execute(reorder, pc->stream, 2, rargs));
    DN(dnnl_stream_wait(pc->stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    dnnl_primitive_desc_destroy(pd);
    *out = pc;
    return MFR_OK;
}

void peer_dnnl_conv_run(peer_dnnl_conv *pc, const float *in, float *out)
{
    dnnl_memory_set_data_handle(pc->src, (void *)in);
    dnnl_memory_set_data_handle(pc->dst, out);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, pc->src}, {DNNL_ARG_WEIGHTS, pc->wei}, {DNNL_ARG_DST, pc->dst},
                               {DNNL_ARG_BIAS, pc->bias}};
    dnnl_primitive_execute(pc->prim, pc->stream, pc->bias ? 4 : 3, args);
    dnnl_stream_wait(pc->stream);
}

void peer_dnnl_conv_free(peer_dnnl_conv *pc)
{
    if (!pc)
        return;
    if (pc->prim)
        dnnl_primitive_destroy(pc->prim);
    if (pc->src)
        dnnl_memory_destroy(pc->src);
    if (pc->dst)
        dnnl_memory_destroy(pc->dst);
    if (pc->wei)
        dnnl_memory_destroy(pc->wei);
    if (pc->bias)
        dnnl_memory_destroy(pc->bias);
    if (pc->stream)
        dnnl_stream_destroy(pc->stream);
    if (pc->eng)
        dnnl_engine_destroy(pc->eng);
    free(pc);
}
#else
int peer_dnnl_available(void)
{
    return 0;
}
const char *peer_dnnl_info(void)
{
    return "oneDNN: not compiled in (./configure --with-dnnl)";
}
void peer_dnnl_threads(int n)
{
    (void)n;
}
int peer_dnnl_conv_create(const mfr_conv_params *p, const float *weights, const float *bias, int relu,
                          peer_dnnl_conv **out)
{
    (void)p, (void)weights, (void)bias, (void)relu;
    *out = NULL;
    return mfr_error(MFR_ERR_UNSUPPORTED, "oneDNN is not compiled in");
}
void peer_dnnl_conv_run(peer_dnnl_conv *pc, const float *in, float *out)
{
    (void)pc, (void)in, (void)out;
}
void peer_dnnl_conv_free(peer_dnnl_conv *pc)
{
    (void)pc;
}
#endif
