/* [reshape], [flatten] and [dropout]: views. They change how the same
 * dense NHWC buffer is read (or, for dropout, nothing at inference), so
 * the compiled network gives them their input's buffer and no work. */
#include "config.h"
#include "nn/nn_internal.h"

static int reshape_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long h, w, c;
    int rc;
    if ((rc = mfr_ini_get_int(ini, sec, "height", 1, 1, NN_MAX_DIM, &h)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "width", 1, 1, NN_MAX_DIM, &w)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "channels", 0, 1, 1 << 24, &c)) != MFR_OK)
        return rc;
    if (c == 0)
        return mfr_ini_error(ini, sec, NULL, MFR_ERR_FORMAT, "[reshape] needs 'channels' (and height, width: default 1)");
    l->out_h = (int)h;
    l->out_w = (int)w;
    l->out_c = (int)c;
    return MFR_OK;
}

static void reshape_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "height = %d\nwidth = %d\nchannels = %d\n", l->out_h, l->out_w, l->out_c);
}

static int reshape_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    if (l->out_h <= 0 || l->out_w <= 0 || l->out_c <= 0 ||
        (uint64_t)l->out_h * (uint64_t)l->out_w * (uint64_t)l->out_c != (uint64_t)nn_elems(in))
        return nn_layer_error(net, l, MFR_ERR_FORMAT, "%dx%dx%d does not hold the %zu values of '%s' (%dx%dx%d)",
                              l->out_h, l->out_w, l->out_c, nn_elems(in), in->name, in->h, in->w, in->c);
    l->h = l->out_h;
    l->w = l->out_w;
    l->c = l->out_c;
    return MFR_OK;
}

static int flatten_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    l->h = l->w = 1;
    l->c = nn_elems(in) > (1u << 24) ? (1 << 24) + 1 : (int)nn_elems(in);
    return MFR_OK;
}

static int dropout_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    double p;
    int rc = mfr_ini_get_double(ini, sec, "probability", l->dropout_p, 0, 0.999, &p);
    l->dropout_p = (float)p;
    return rc;
}

static void dropout_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "probability = %.9g\n", l->dropout_p);
}

static int same_shape(mfr_net *net, mfr_layer *l)
{
    const mfr_layer *in = nn_input(net, l, 0);
    l->h = in->h;
    l->w = in->w;
    l->c = in->c;
    return MFR_OK;
}

static void view_forward(nn_step *s, int n)
{
    (void)s;
    (void)n; /* the output is the input's buffer */
}

static void view_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    size_t count = (size_t)n * nn_elems(s->l);
    for (size_t i = 0; i < count; i++)
        g->dx[0][i] += g->dy[i]; /* same values, same order */
}

const nn_opdef nn_op_reshape = {"reshape", MFR_OP_RESHAPE, MFR_ACT_NONE, 1, 1, reshape_parse, reshape_write,
                                reshape_shape, NULL, view_forward, view_backward};
const nn_opdef nn_op_flatten = {"flatten", MFR_OP_FLATTEN, MFR_ACT_NONE, 1, 1, nn_parse_nothing, nn_write_nothing,
                                flatten_shape, NULL, view_forward, view_backward};
const nn_opdef nn_op_dropout = {"dropout", MFR_OP_DROPOUT, MFR_ACT_NONE, 1, 1, dropout_parse, dropout_write,
                                same_shape, NULL, view_forward, view_backward};
