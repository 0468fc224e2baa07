/* [maxpool], [avgpool] (size, stride, pad; padding is excluded: max over
 * the taps inside the image, mean over them) and [gap] (global average
 * pooling to 1 x 1 x c). */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/kernels/spatial.h"

#include <math.h>

static int pool_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    int had_stride = mfr_ini_get(ini, sec, "stride") != NULL;
    int rc = nn_parse_window(ini, sec, l, 0);
    if (rc == MFR_OK && !had_stride) {
        l->stride_h = l->kh; /* default stride: the window size */
        l->stride_w = l->kw;
    }
    return rc;
}

static void pool_write(FILE *fp, const mfr_layer *l)
{
    nn_write_window(fp, l, 0);
    if (l->stride_h == 1 && l->stride_w == 1)
        fprintf(fp, "stride = 1\n"); /* the default would be the size */
}

static int pool_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    int rc = nn_window_out(net, l, in->h, in->w, &l->h, &l->w);
    if (rc != MFR_OK)
        return rc;
    if (l->pad_top >= l->kh || l->pad_bottom >= l->kh || l->pad_left >= l->kw || l->pad_right >= l->kw)
        return nn_layer_error(net, l, MFR_ERR_FORMAT, "padding must be smaller than the window");
    l->c = in->c;
    return MFR_OK;
}

static void pool_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    const spatial_pool p = {in->h,      in->w,       l->c,        l->h,         l->w,          l->kh,
                            l->kw,      l->stride_h, l->stride_w, l->pad_top,   l->pad_left,   l->op == MFR_OP_MAXPOOL};
    const spatial_ops *k = spatial_for(mfr_isa_best());
    long rows = (long)n * l->h;
    /* rows are independent: any split gives the same bits */
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * (size_t)l->w * (size_t)l->c * (size_t)(l->kh * l->kw))) schedule(static)
    for (long r = 0; r < rows; r++)
        k->pool_rows(&p, s->in[0], s->out, r, r + 1);
}

static int gap_shape(mfr_net *net, mfr_layer *l)
{
    l->h = l->w = 1;
    l->c = nn_input(net, l, 0)->c;
    return MFR_OK;
}

static void gap_forward(nn_step *s, int n)
{
    const mfr_layer *in = nn_input(s->net, s->l, 0);
    size_t pixels = (size_t)in->h * (size_t)in->w;
    int c = in->c;
    float inv = 1.0f / (float)pixels;
#pragma omp parallel for num_threads(nn_threads_for((size_t)n * nn_elems(in))) schedule(static)
    for (int b = 0; b < n; b++) {
        const float *src = s->in[0] + (size_t)b * nn_elems(in);
        float *dst = s->out + (size_t)b * (size_t)c;
        for (int i = 0; i < c; i++)
            dst[i] = 0.0f;
        for (size_t p = 0; p < pixels; p++)
            for (int i = 0; i < c; i++)
                dst[i] += src[p * (size_t)c + (size_t)i];
        for (int i = 0; i < c; i++)
            dst[i] *= inv;
    }
}

/* Channels per block of the backward's per-channel arrays. */
#define POOL_CBLOCK 256
/* Windows up to this many taps keep a table of tap offsets. */
#define POOL_TAB_TAPS 64

/* Each window sends its gradient to the tap the forward picked (the first
 * maximum in scan order; none when no tap beats -inf, as for an all-NaN
 * window) or spreads it evenly. Channels are the inner loop, so it
 * vectorises; windows overlap, so one thread per sample scatters in a fixed
 * order (each input value gets its windows' shares in (oy, ox) order). */
static void pool_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    int c = l->c, is_max = l->op == MFR_OP_MAXPOOL;
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
    for (int b = 0; b < n; b++) {
        const float *src = s->in[0] + (size_t)b * nn_elems(in);
        float *dsrc = g->dx[0] + (size_t)b * nn_elems(in);
        float best[POOL_CBLOCK];
        int at[POOL_CBLOCK];
        /* tap t = ky kw + kx -> its offset from the window's origin, so that
         * the scatter divides by kw only for windows above POOL_TAB_TAPS */
        ptrdiff_t tap_off[POOL_TAB_TAPS];
        const int tab = l->kh * l->kw <= POOL_TAB_TAPS;
        for (int t = 0; tab && t < l->kh * l->kw; t++)
            tap_off[t] = ((ptrdiff_t)(t / l->kw) * in->w + t % l->kw) * c;
        for (int oy = 0; oy < l->h; oy++)
            for (int ox = 0; ox < l->w; ox++) {
                const float *dy = g->dy + (((size_t)b * l->h + oy) * l->w + ox) * (size_t)c;
                int y0 = oy * l->stride_h - l->pad_top, x0 = ox * l->stride_w - l->pad_left;
                int ky0 = y0 < 0 ? -y0 : 0, ky1 = in->h - y0 < l->kh ? in->h - y0 : l->kh;
                int kx0 = x0 < 0 ? -x0 : 0, kx1 = in->w - x0 < l->kw ? in->w - x0 : l->kw;
                /* the window's origin (may lie outside the image: only taps inside are used) */
                ptrdiff_t origin = ((ptrdiff_t)y0 * in->w + x0) * c;
                if (ky1 <= ky0 || kx1 <= kx0)
                    continue;
                for (int c0 = 0; c0 < c; c0 += POOL_CBLOCK) {
                    int cn = c - c0 < POOL_CBLOCK ? c - c0 : POOL_CBLOCK;
                    if (!is_max) {
                        float w = 1.0f / (float)((ky1 - ky0) * (kx1 - kx0));
                        for (int ky = ky0; ky < ky1; ky++)
                            for (int kx = kx0; kx < kx1; kx++) {
                                float *d = dsrc + ((size_t)(y0 + ky) * in->w + (size_t)(x0 + kx)) * (size_t)c + c0;
                                NN_SIMD
                                for (int i = 0; i < cn; i++)
                                    d[i] += dy[c0 + i] * w;
                            }
                        continue;
                    }
                    for (int i = 0; i < cn; i++) {
                        best[i] = -INFINITY;
                        at[i] = -1;
                    }
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++) {
                            const float *p = src + ((size_t)(y0 + ky) * in->w + (size_t)(x0 + kx)) * (size_t)c + c0;
                            int t = ky * l->kw + kx;
                            NN_SIMD
                            for (int i = 0; i < cn; i++) {
                                int gt = p[i] > best[i];
                                best[i] = nn_pick(gt, p[i], best[i]);
                                at[i] = gt ? t : at[i];
                            }
                        }
                    for (int i = 0; i < cn; i++)
                        if (at[i] >= 0) {
                            ptrdiff_t off = tab ? tap_off[at[i]]
                                                : ((ptrdiff_t)(at[i] / l->kw) * in->w + at[i] % l->kw) * c;
                            dsrc[origin + off + c0 + i] += dy[c0 + i];
                        }
                }
            }
    }
}

static void gap_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *in = nn_input(s->net, s->l, 0);
    size_t pixels = (size_t)in->h * (size_t)in->w;
    int c = in->c;
    float inv = 1.0f / (float)pixels;
#pragma omp parallel for num_threads(nn_threads_for((size_t)n * nn_elems(in))) schedule(static)
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < pixels; p++)
            for (int i = 0; i < c; i++)
                g->dx[0][((size_t)b * pixels + p) * (size_t)c + (size_t)i] += g->dy[(size_t)b * (size_t)c + (size_t)i] * inv;
}

const nn_opdef nn_op_maxpool = {"maxpool", MFR_OP_MAXPOOL, MFR_ACT_NONE, 1, 1, pool_parse, pool_write, pool_shape,
                                NULL, pool_forward, pool_backward};
const nn_opdef nn_op_avgpool = {"avgpool", MFR_OP_AVGPOOL, MFR_ACT_NONE, 1, 1, pool_parse, pool_write, pool_shape,
                                NULL, pool_forward, pool_backward};
const nn_opdef nn_op_gap = {"gap", MFR_OP_GAP, MFR_ACT_NONE, 1, 1, nn_parse_nothing, nn_write_nothing, gap_shape, NULL, gap_forward,
                            gap_backward};
