/* Convolution plans: validate once, prepack weights once, then run.
 *
 * Strategies (docs/kernels.md):
 *   - depthwise (groups == c_in == c_out): direct, vectorised over channels;
 *   - few input channels (c_in <= 8, groups == 1: the RGB stem), and
 *     groups == 1 with kh * kw * c_in <= CONV_DENSE_MAX_K (e.g. 3x3 over
 *     up to 64 channels): direct, vectorised over output channels
 *     (convsmall.h);
 *   - 1x1, stride 1, no padding, c_in <= 256: direct pointwise (convsmall.h);
 *   - larger 1x1, stride 1, no padding: a plain GEMM [N*H*W, c_in] x [c_in, c_out];
 *   - anything else (k x k, strides, dilation, groups): implicit GEMM per
 *     group, the patches packed straight into the A panels (no im2col buffer).
 * Bias, residual and activation are fused into the GEMM or depthwise store. */
#include "config.h"
#include "convsmall.h"
#include "dwconv.h"
#include "gemm_internal.h"

#include <stdint.h>
#include <string.h>

enum { CONV_GEMM = 0, CONV_POINTWISE, CONV_DEPTHWISE, CONV_SMALL_CIN };

struct mfr_conv_plan {
    mfr_conv_params p;
    int oh, ow, kind;
    mfr_isa isa;
    int k, cout_g;              /* GEMM: depth of the product per group, output channels per group */
    mfr_packed_b **packed;      /* GEMM: one per group */
    float *dw_weights;          /* depthwise: tap-major [kh][kw][C]; small c_in: [kh][kw][c_in][cout_pad] */
    int cout_pad;               /* small c_in: c_out rounded up to 16 */
    int pw;                     /* small c_in: a pointwise layer (convsmall_pw) */
    float *bias;                /* c_out values or NULL */
};

/* Limits that keep every index within int and every buffer reasonable. */
#define CONV_MAX_DIM (1 << 16)
#define CONV_MAX_ELEMS ((int64_t)1 << 31)

int mfr_conv_output_size(const mfr_conv_params *p, int *oh, int *ow)
{
    if (!p)
        return mfr_error(MFR_ERR_ARG, "conv: no parameters");
    if (p->n < 1 || p->h < 1 || p->w < 1 || p->c_in < 1 || p->c_out < 1)
        return mfr_error(MFR_ERR_ARG, "conv: sizes must be >= 1 (n=%d h=%d w=%d c_in=%d c_out=%d)", p->n, p->h,
                         p->w, p->c_in, p->c_out);
    if (p->kh < 1 || p->kw < 1 || p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1)
        return mfr_error(MFR_ERR_ARG, "conv: kernel %dx%d, stride %dx%d and dilation %dx%d must be >= 1", p->kh,
                         p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w);
    if (p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return mfr_error(MFR_ERR_ARG, "conv: padding must be >= 0");
    if (p->n > CONV_MAX_DIM || p->h > CONV_MAX_DIM || p->w > CONV_MAX_DIM || p->c_in > CONV_MAX_DIM ||
        p->c_out > CONV_MAX_DIM || p->kh > 256 || p->kw > 256 || p->stride_h > 256 || p->stride_w > 256 ||
        p->dil_h > 256 || p->dil_w > 256 || p->pad_top > 4096 || p->pad_left > 4096 || p->pad_bottom > 4096 ||
        p->pad_right > 4096)
        return mfr_error(MFR_ERR_RANGE, "conv: a size is beyond the supported limits (dims <= %d)", CONV_MAX_DIM);
    if (p->groups < 1 || p->c_in % p->groups != 0 || p->c_out % p->groups != 0)
        return mfr_error(MFR_ERR_ARG, "conv: groups=%d must divide c_in=%d and c_out=%d", p->groups, p->c_in,
                         p->c_out);
    int ekh = (p->kh - 1) * p->dil_h + 1, ekw = (p->kw - 1) * p->dil_w + 1;
    int hp = p->h + p->pad_top + p->pad_bottom, wp = p->w + p->pad_left + p->pad_right;
    if (ekh > hp || ekw > wp)
        return mfr_error(MFR_ERR_ARG, "conv: dilated kernel %dx%d is larger than the padded input %dx%d", ekh, ekw,
                         hp, wp);
    int h_out = (hp - ekh) / p->stride_h + 1, w_out = (wp - ekw) / p->stride_w + 1;
    if ((int64_t)p->n * p->h * p->w * p->c_in > CONV_MAX_ELEMS ||
        (int64_t)p->n * h_out * w_out * p->c_out > CONV_MAX_ELEMS ||
        (int64_t)p->n * h_out * w_out > INT32_MAX / 2 ||
        (int64_t)p->kh * p->kw * p->c_in * p->c_out > CONV_MAX_ELEMS)
        return mfr_error(MFR_ERR_RANGE, "conv: tensors beyond %lld elements are not supported",
                         (long long)CONV_MAX_ELEMS);
    *oh = h_out;
    *ow = w_out;
    return MFR_OK;
}

static int conv_is_pointwise(const mfr_conv_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
           p->pad_bottom == 0 && p->pad_right == 0 && p->groups == 1;
}

void mfr_conv_plan_free(mfr_conv_plan *plan)
{
    if (!plan)
        return;
    if (plan->packed) {
        for (int g = 0; g < plan->p.groups; g++)
            mfr_gemm_packed_free(plan->packed[g]);
        mfr_free(plan->packed);
    }
    mfr_free(plan->dw_weights);
    mfr_free(plan->bias);
    mfr_free(plan);
}

int mfr_conv_plan_create(const mfr_conv_params *p, const float *weights, const float *bias, mfr_conv_plan **out)
{
    int oh, ow, rc;
    *out = NULL;
    if ((rc = mfr_conv_output_size(p, &oh, &ow)) != MFR_OK)
        return rc;
    if (!weights)
        return mfr_error(MFR_ERR_ARG, "conv: no weights");
    mfr_conv_plan *plan = mfr_calloc(1, sizeof *plan);
    if (!plan)
        return MFR_ERR_NOMEM;
    plan->p = *p;
    plan->oh = oh;
    plan->ow = ow;
    plan->isa = mfr_isa_best();
    int cin_g = p->c_in / p->groups;
    plan->cout_g = p->c_out / p->groups;
    plan->k = p->kh * p->kw * cin_g;
    if (bias) {
        plan->bias = mfr_alloc((size_t)p->c_out * sizeof(float));
        if (!plan->bias)
            goto nomem;
        memcpy(plan->bias, bias, (size_t)p->c_out * sizeof(float));
    }
    if (p->groups == p->c_in && p->c_out == p->c_in) {
        /* Depthwise: repack OHWI [C][kh][kw][1] to tap-major [kh][kw][C]. */
        int taps = p->kh * p->kw, C = p->c_in;
        plan->kind = CONV_DEPTHWISE;
        plan->dw_weights = mfr_alloc((size_t)taps * C * sizeof(float));
        if (!plan->dw_weights)
            goto nomem;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < taps; t++)
                plan->dw_weights[(size_t)t * C + c] = weights[(size_t)c * taps + t];
    } else if (p->groups == 1 && (conv_is_pointwise(p) ? p->c_in <= CONV_PW_MAX_CIN
                                                       : p->c_in <= CONV_SMALL_MAX_CIN ||
                                                             p->kh * p->kw * p->c_in <= CONV_DENSE_MAX_K)) {
        int taps = p->kh * p->kw, C = p->c_in;
        plan->kind = CONV_SMALL_CIN;
        plan->pw = conv_is_pointwise(p);
        plan->cout_pad = (p->c_out + 15) / 16 * 16;
        plan->dw_weights = mfr_calloc((size_t)taps * C * plan->cout_pad, sizeof(float));
        if (!plan->dw_weights)
            goto nomem;
        for (int co = 0; co < p->c_out; co++)
            for (int t = 0; t < taps; t++)
                for (int ci = 0; ci < C; ci++)
                    plan->dw_weights[((size_t)t * C + ci) * plan->cout_pad + co] = weights[((size_t)co * taps + t) * C + ci];
    } else {
        plan->kind = conv_is_pointwise(p) ? CONV_POINTWISE : CONV_GEMM;
        plan->packed = mfr_calloc((size_t)p->groups, sizeof *plan->packed);
        if (!plan->packed)
            goto nomem;
        /* Group g's B is [k x cout_g] = the transpose of its OHWI weights. */
        for (int g = 0; g < p->groups; g++) {
            const float *wg = weights + (size_t)g * plan->cout_g * plan->k;
            if ((rc = mfr_gemm_pack_b('T', plan->k, plan->cout_g, wg, plan->k, &plan->packed[g])) != MFR_OK) {
                mfr_conv_plan_free(plan);
                return rc;
            }
        }
    }
    *out = plan;
    return MFR_OK;
nomem:
    mfr_conv_plan_free(plan);
    return MFR_ERR_NOMEM;
}

static dwconv_rows_fn dwconv_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return dwconv_rows_avx512;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return dwconv_rows_avx2;
#endif
    (void)isa;
    return dwconv_rows_scalar;
}

static convsmall_pw_fn convsmall_pw_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return convsmall_pw_avx512;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return convsmall_pw_avx2;
#endif
    (void)isa;
    return convsmall_pw_scalar;
}

static convsmall_rows_fn convsmall_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return convsmall_row_avx512;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return convsmall_row_avx2;
#endif
    (void)isa;
    return convsmall_row_scalar;
}

/* The input with a border of zeros (pad_top, pad_left, pad_bottom,
 * pad_right), for the GEMM tiles that read their patches in place: a copy
 * of the input instead of kh x kw copies of it in packed panels. Kept per
 * calling thread between calls, like the GEMM's packing buffers. */
static _Thread_local float *pad_buf;
static _Thread_local size_t pad_cap;

static const float *pad_input(const mfr_conv_params *p, const float *in, int *hp, int *wp)
{
    const int h = p->h, w = p->w, c = p->c_in, pl = p->pad_left, pr = p->pad_right;
    *hp = h + p->pad_top + p->pad_bottom;
    *wp = w + pl + pr;
    const int rows = p->n * *hp, wpx = *wp;
    size_t floats = (size_t)rows * (size_t)wpx * (size_t)c;
    float *out = gemm_scratch(&pad_buf, &pad_cap, floats);
    if (!out) {
        mfr_clear_error();
        return NULL;
    }
    const int pt = p->pad_top, hpx = *hp;
#ifdef MFR_HAVE_OPENMP
/* a copy of a few MiB takes microseconds: below 4 MiB a second parallel
 * region per call (another fork and join for both threads) costs more */
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if (floats > (1 << 20))
#endif
    for (int r = 0; r < rows; r++) {
        float *d = out + (size_t)r * wpx * c;
        int nimg = r / hpx, y = r % hpx - pt;
        if (y < 0 || y >= h) {
            memset(d, 0, (size_t)wpx * c * sizeof(float));
            continue;
        }
        memset(d, 0, (size_t)pl * c * sizeof(float));
        memcpy(d + (size_t)pl * c, in + ((size_t)nimg * h + y) * w * c, (size_t)w * c * sizeof(float));
        memset(d + (size_t)(pl + w) * c, 0, (size_t)pr * c * sizeof(float));
    }
    return out;
}

void mfr_conv_run(const mfr_conv_plan *plan, const float *in, float *out, const mfr_epilogue *ep)
{
    const mfr_conv_params *p = &plan->p;
    if (plan->kind == CONV_SMALL_CIN && plan->pw) {
        /* Chunks of pixels whose inputs fit in about 24 KiB (so that they
         * stay in L1 across the groups of output channels), a multiple of
         * 24 (of every block size) and fixed by c_in alone, not by the
         * thread count, so that each output is computed the same way at
         * any thread count. */
        int chunk = 6144 / p->c_in / 24 * 24;
        chunk = chunk < 24 ? 24 : chunk > 384 ? 384 : chunk;
        convsmall_pw_fn fn = convsmall_pw_for(plan->isa);
        int m = p->n * plan->oh * plan->ow;
        /* A small map (7x7 of one image: 49 pixels, two chunks of 48 and 1)
         * gets chunks of at most m / 8 rounded up to 24, dealt round-robin,
         * so that threads share it; still a function of the shape only. */
        int small = ((m + 7) / 8 + 23) / 24 * 24;
        if (small < chunk)
            chunk = small;
        int chunks = (m + chunk - 1) / chunk;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(mfr_threads())
#endif
        for (int i = 0; i < chunks; i++)
            fn(p->c_in, p->c_out, plan->cout_pad, in, plan->dw_weights, plan->bias, out, ep, i * chunk,
               (i + 1) * chunk < m ? (i + 1) * chunk : m);
        return;
    }
    if (plan->kind == CONV_SMALL_CIN) {
        convsmall_rows_fn fn = convsmall_for(plan->isa);
        int rows = p->n * plan->oh;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
        for (int r = 0; r < rows; r++)
            fn(p, plan->oh, plan->ow, plan->cout_pad, in, plan->dw_weights, plan->bias, out, ep, r);
        return;
    }
    if (plan->kind == CONV_DEPTHWISE) {
        dwconv_rows_fn fn = dwconv_for(plan->isa);
        int rows = p->n * plan->oh, pairs = (rows + 1) / 2, nt = mfr_threads();
        if (nt > pairs)
            nt = pairs;
        /* One contiguous range of rows per thread, cut at even rows: the
         * kernels compute two rows in one pass where both are away from
         * the top and bottom padding, which with ranges of two rows left
         * out the pair (1, 2) after a padded row 0. Disjoint outputs, and
         * each output is computed the same way whatever the thread count
         * (a row sums its taps in the same order alone or in a pair). */
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(nt)
#endif
        for (int t = 0; t < nt; t++) {
            int r0 = 2 * (int)((long long)pairs * t / nt), r1 = 2 * (int)((long long)pairs * (t + 1) / nt);
            fn(p, plan->oh, plan->ow, in, plan->dw_weights, plan->bias, out, ep, r0, r1 < rows ? r1 : rows);
        }
        return;
    }
    int m = p->n * plan->oh * plan->ow;
    gemm_conv_src cs = {in, p->h, p->w, p->c_in, 0, p->c_in / p->groups, p->kh, p->kw, p->stride_h, p->stride_w,
                        p->pad_top, p->pad_left, p->dil_h, p->dil_w, plan->oh, plan->ow, NULL, 0, 0};
    if (plan->kind == CONV_GEMM && gemm_conv_direct_ok(plan->isa, &cs, plan->k))
        cs.padded = pad_input(p, in, &cs.hp, &cs.wp); /* NULL without memory: A is packed then */
    for (int g = 0; g < p->groups; g++) {
        int off = g * plan->cout_g;
        mfr_epilogue e = {0};
        e.bias = plan->bias ? plan->bias + off : NULL;
        e.ldr = p->c_out;
        if (ep) {
            e.residual = ep->residual ? ep->residual + off : NULL;
            e.act = ep->act;
            e.act_param = ep->act_param;
            e.prelu = ep->prelu ? ep->prelu + off : NULL;
        }
        gemm_a_src a = {in, p->c_in, 0, NULL};
        if (plan->kind == CONV_GEMM) {
            cs.c0 = g * cs.cg;
            a.conv = &cs;
        }
        gemm_drive(plan->isa, m, plan->cout_g, plan->k, 1.0f, &a, 0, NULL, 0, plan->packed[g], 0.0f, out + off,
                   p->c_out, &e);
    }
}

void mfr_conv_reference(const mfr_conv_params *p, const float *in, const float *weights, const float *bias,
                        float *out, const mfr_epilogue *ep)
{
    int oh, ow;
    if (mfr_conv_output_size(p, &oh, &ow) != MFR_OK)
        return;
    int cin_g = p->c_in / p->groups, cout_g = p->c_out / p->groups;
    for (int nimg = 0; nimg < p->n; nimg++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int co = 0; co < p->c_out; co++) {
                    int g = co / cout_g;
                    double s = 0.0;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        if (iy < 0 || iy >= p->h)
                            continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            if (ix < 0 || ix >= p->w)
                                continue;
                            const float *s_in = in + (((size_t)nimg * p->h + iy) * p->w + ix) * p->c_in + g * cin_g;
                            const float *wv = weights + (((size_t)co * p->kh + ky) * p->kw + kx) * cin_g;
                            for (int ci = 0; ci < cin_g; ci++)
                                s += (double)s_in[ci] * (double)wv[ci];
                        }
                    }
                    size_t o = (((size_t)nimg * oh + oy) * ow + ox) * p->c_out + co;
                    float v = (float)s;
                    if (bias)
                        v += bias[co];
                    if (ep && ep->residual)
                        v += ep->residual[o];
                    if (ep)
                        v = mfr_act_scalar(v, ep->act, ep->act_param, ep->prelu ? ep->prelu[co] : 0.0f);
                    out[o] = v;
                }
}
