/* [upsample]: integer scale, mode = nearest (copy) or bilinear (half-pixel
 * centres, clamped at the border: the align_corners = false convention). */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/kernels/spatial.h"

#include <math.h>

static const char *const modes[] = {"nearest", "bilinear", NULL};

static int up_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long scale;
    int rc;
    if ((rc = mfr_ini_get_int(ini, sec, "scale", 2, 1, 64, &scale)) != MFR_OK ||
        (rc = mfr_ini_get_choice(ini, sec, "mode", modes, 0, &l->bilinear)) != MFR_OK)
        return rc;
    l->scale = (int)scale;
    return MFR_OK;
}

static void up_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "scale = %d\n", l->scale);
    if (l->bilinear)
        fprintf(fp, "mode = bilinear\n");
}

static int up_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    if (l->scale < 1 || l->scale > 64)
        return nn_layer_error(net, l, MFR_ERR_RANGE, "scale %d is outside 1..64", l->scale);
    l->h = in->h * l->scale;
    l->w = in->w * l->scale;
    l->c = in->c;
    return MFR_OK;
}

static void up_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    const spatial_up p = {in->h, in->w, l->c, l->scale, l->bilinear};
    const spatial_ops *k = spatial_for(mfr_isa_best());
    long rows = (long)n * l->h;
    int nt = nn_threads_for((size_t)rows * (size_t)l->w * (size_t)l->c);
    /* one contiguous range of rows per thread (nearest copies a row from
     * the one above it within a range); rows are independent, so any split
     * gives the same bits */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        k->upsample_rows(&p, s->in[0], s->out, rows * t / nt, rows * (t + 1) / nt);
}

/* Scatters each output's gradient back to the pixels it read; one thread
 * per sample, so the sums keep one order. */
static void up_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    int c = l->c;
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
    for (int b = 0; b < n; b++) {
        float *dsrc = g->dx[0] + (size_t)b * nn_elems(in);
        for (int oy = 0; oy < l->h; oy++) {
            int y0, y1;
            float ty = 0.0f;
            if (l->bilinear)
                spatial_bilinear_src(oy, l->scale, in->h, &y0, &y1, &ty);
            else
                y0 = y1 = oy / l->scale;
            for (int ox = 0; ox < l->w; ox++) {
                const float *dy = g->dy + (((size_t)b * l->h + oy) * l->w + ox) * (size_t)c;
                int x0, x1;
                float tx = 0.0f;
                if (l->bilinear)
                    spatial_bilinear_src(ox, l->scale, in->w, &x0, &x1, &tx);
                else
                    x0 = x1 = ox / l->scale;
                for (int i = 0; i < c; i++) {
                    if (!l->bilinear) {
                        dsrc[((size_t)y0 * in->w + x0) * (size_t)c + (size_t)i] += dy[i];
                        continue;
                    }
                    dsrc[((size_t)y0 * in->w + x0) * (size_t)c + (size_t)i] += dy[i] * (1 - ty) * (1 - tx);
                    dsrc[((size_t)y0 * in->w + x1) * (size_t)c + (size_t)i] += dy[i] * (1 - ty) * tx;
                    dsrc[((size_t)y1 * in->w + x0) * (size_t)c + (size_t)i] += dy[i] * ty * (1 - tx);
                    dsrc[((size_t)y1 * in->w + x1) * (size_t)c + (size_t)i] += dy[i] * ty * tx;
                }
            }
        }
    }
}

const nn_opdef nn_op_upsample = {"upsample", MFR_OP_UPSAMPLE, MFR_ACT_NONE, 1, 1, up_parse, up_write, up_shape, NULL,
                                 up_forward, up_backward};
