/* [input]: where samples enter (height, width, channels per sample). The
 * compiled network copies the caller's NHWC batch into its buffer. */
#include "config.h"
#include "nn/nn_internal.h"

static int input_parse(mfr_ini *ini, int sec, mfr_layer *l)
{
    long h, w, c;
    int rc;
    if ((rc = mfr_ini_get_int(ini, sec, "height", 0, 1, NN_MAX_DIM, &h)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "width", 0, 1, NN_MAX_DIM, &w)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "channels", 0, 1, NN_MAX_DIM, &c)) != MFR_OK)
        return rc;
    if (h == 0 || w == 0 || c == 0)
        return mfr_ini_error(ini, sec, NULL, MFR_ERR_FORMAT, "[input] needs height, width and channels");
    l->in_h = (int)h;
    l->in_w = (int)w;
    l->in_c = (int)c;
    return MFR_OK;
}

static void input_write(FILE *fp, const mfr_layer *l)
{
    fprintf(fp, "height = %d\nwidth = %d\nchannels = %d\n", l->in_h, l->in_w, l->in_c);
}

static int input_shape(mfr_net *net, mfr_layer *l)
{
    if (l->in_h <= 0 || l->in_w <= 0 || l->in_c <= 0 || l->in_h > NN_MAX_DIM || l->in_w > NN_MAX_DIM ||
        l->in_c > NN_MAX_DIM)
        return nn_layer_error(net, l, MFR_ERR_RANGE, "input shape %dx%dx%d is outside 1..%d", l->in_h, l->in_w,
                              l->in_c, NN_MAX_DIM);
    l->h = l->in_h;
    l->w = l->in_w;
    l->c = l->in_c;
    return MFR_OK;
}

static void input_forward(nn_step *s, int n)
{
    (void)s;
    (void)n; /* mfr_exec_forward copies the samples in */
}

static void input_backward(nn_step *s, int n, nn_grad_ctx *g)
{
    (void)s;
    (void)n;
    (void)g; /* dL/d(samples) is the gradient of this layer's output */
}

const nn_opdef nn_op_input = {"input", MFR_OP_INPUT, MFR_ACT_NONE, 0, 0, input_parse, input_write, input_shape, NULL,
                              input_forward, input_backward};
