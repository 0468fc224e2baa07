/* [upsample]: integer scale, mode = nearest (copy) or bilinear (half-pixel
 * centres, clamped at the border: the align_corners = false convention). */
#include "config.h"
#include "nn/nn_internal.h"

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

/* Source coordinate of output index o: two neighbours and the weight of the second. */
static void bilinear_src(int o, int scale, int size, int *i0, int *i1, float *t)
{
    float f = ((float)o + 0.5f) / (float)scale - 0.5f;
    int a;
    if (f < 0.0f)
        f = 0.0f;
    a = (int)floorf(f);
    if (a > size - 1)
        a = size - 1;
    *i0 = a;
    *i1 = a + 1 < size ? a + 1 : size - 1;
    *t = f - (float)a;
}

static void up_forward(nn_step *s, int n)
{
    const mfr_layer *l = s->l, *in = nn_input(s->net, l, 0);
    int c = l->c;
    long rows = (long)n * l->h;
#pragma omp parallel for num_threads(nn_threads_for((size_t)rows * (size_t)l->w * (size_t)c)) schedule(static)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / l->h), oy = (int)(r % l->h);
        const float *src = s->in[0] + (size_t)b * nn_elems(in);
        float *dst = s->out + (size_t)r * (size_t)l->w * (size_t)c;
        if (!l->bilinear) {
            const float *row = src + (size_t)(oy / l->scale) * (size_t)in->w * (size_t)c;
            for (int ox = 0; ox < l->w; ox++) {
                const float *p = row + (size_t)(ox / l->scale) * (size_t)c;
                for (int i = 0; i < c; i++)
                    dst[(size_t)ox * (size_t)c + (size_t)i] = p[i];
            }
        } else {
            int y0, y1;
            float ty;
            bilinear_src(oy, l->scale, in->h, &y0, &y1, &ty);
            for (int ox = 0; ox < l->w; ox++) {
                int x0, x1;
                float tx;
                const float *p00, *p01, *p10, *p11;
                bilinear_src(ox, l->scale, in->w, &x0, &x1, &tx);
                p00 = src + ((size_t)y0 * (size_t)in->w + (size_t)x0) * (size_t)c;
                p01 = src + ((size_t)y0 * (size_t)in->w + (size_t)x1) * (size_t)c;
                p10 = src + ((size_t)y1 * (size_t)in->w + (size_t)x0) * (size_t)c;
                p11 = src + ((size_t)y1 * (size_t)in->w + (size_t)x1) * (size_t)c;
                for (int i = 0; i < c; i++) {
                    float top = p00[i] + (p01[i] - p00[i]) * tx;
                    float bot = p10[i] + (p11[i] - p10[i]) * tx;
                    dst[(size_t)ox * (size_t)c + (size_t)i] = top + (bot - top) * ty;
                }
            }
        }
    }
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
                bilinear_src(oy, l->scale, in->h, &y0, &y1, &ty);
            else
                y0 = y1 = oy / l->scale;
            for (int ox = 0; ox < l->w; ox++) {
                const float *dy = g->dy + (((size_t)b * l->h + oy) * l->w + ox) * (size_t)c;
                int x0, x1;
                float tx = 0.0f;
                if (l->bilinear)
                    bilinear_src(ox, l->scale, in->w, &x0, &x1, &tx);
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
