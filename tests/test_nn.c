/* Tests of src/nn: every op and both shipped networks against a naive
 * evaluation written here with plain loops (and mfr_conv_reference),
 * thread-count invariance, batch-norm folding, the memory plan, model
 * files (round trip, truncation, corruption, versions, absurd sizes) and
 * network-definition errors. */
#include "config.h"
#include "testutil.h"
#include "mfr/nn.h"
#include "nn/memplan.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ helpers */

static float *rand_floats(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    mfr_rng r;
    ck_assert_ptr_nonnull(x);
    mfr_rng_init(&r, seed, 77, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)mfr_rng_range(&r, lo, hi);
    return x;
}

/* Random weights plus batch-norm statistics and PReLU slopes that are not
 * the identity, so folding and per-channel paths are really exercised. */
static void randomize(mfr_net *net, uint64_t seed)
{
    tu_ok(mfr_net_init_weights(net, seed));
    for (int i = 0; i < mfr_net_param_count(net); i++) {
        mfr_tensor *t = mfr_net_param(net, i);
        const char *dot = strrchr(t->name, '.');
        mfr_rng r;
        mfr_rng_init(&r, seed, 99, (uint64_t)i);
        for (size_t k = 0; k < t->size; k++) {
            if (strcmp(dot, ".var") == 0)
                t->data[k] = (float)mfr_rng_range(&r, 0.5, 2.0);
            else if (strcmp(dot, ".gamma") == 0)
                t->data[k] = (float)mfr_rng_range(&r, 0.5, 1.5);
            else if (strcmp(dot, ".beta") == 0 || strcmp(dot, ".mean") == 0 || strcmp(dot, ".bias") == 0)
                t->data[k] = (float)mfr_rng_range(&r, -0.2, 0.2);
            else if (strcmp(dot, ".slope") == 0)
                t->data[k] = (float)mfr_rng_range(&r, 0.0, 0.5);
        }
    }
}

static mfr_net *parse(const char *text)
{
    mfr_net *net = NULL;
    int rc = mfr_net_parse(text, strlen(text), "test.cfg", &net);
    ck_assert_msg(rc == MFR_OK, "parse failed: %s\n%s", mfr_last_error(), text);
    return net;
}

/* ------------------------------------------------- naive evaluation */

static float bn_naive(const mfr_layer *l, int c, float x)
{
    double g = l->params[MFR_P_GAMMA]->data[c], b = l->params[MFR_P_BETA]->data[c];
    double m = l->params[MFR_P_MEAN]->data[c], v = l->params[MFR_P_VAR]->data[c];
    return (float)(((double)x - m) / sqrt(v + (double)l->bn_eps) * g + b);
}

static float act_naive(const mfr_layer *l, int c, float x)
{
    float slope = l->params[MFR_P_SLOPE] ? l->params[MFR_P_SLOPE]->data[c] : 0.0f;
    return mfr_act_scalar(x, l->act, l->act_param, slope);
}

/* Every layer's output for n samples, computed layer by layer with no
 * fusion, no folding and double accumulation. outs[i]: n x h x w x c. */
static float **naive_forward(const mfr_net *net, const float *const *inputs, int n)
{
    float **outs = calloc((size_t)net->n_layers, sizeof *outs);
    int n_in = 0;
    ck_assert_ptr_nonnull(outs);
    for (int k = 0; k < net->n_layers; k++) {
        int li = net->order[k];
        const mfr_layer *l = &net->layers[li];
        const mfr_layer *a = l->op == MFR_OP_INPUT ? NULL : &net->layers[l->inputs[0]];
        const float *x = a ? outs[l->inputs[0]] : NULL;
        size_t per = (size_t)l->h * l->w * l->c, pix = (size_t)l->h * l->w;
        float *y = calloc((size_t)n * per, sizeof *y);
        int C = l->c;
        ck_assert_ptr_nonnull(y);
        outs[li] = y;
        if (l->op == MFR_OP_INPUT) {
            memcpy(y, inputs[n_in++], (size_t)n * per * sizeof *y);
            continue;
        }
        switch (l->op) {
        case MFR_OP_CONV:
        case MFR_OP_DWCONV: {
            mfr_conv_params p = {.n = n, .h = a->h, .w = a->w, .c_in = a->c, .c_out = l->c, .kh = l->kh, .kw = l->kw,
                                 .stride_h = l->stride_h, .stride_w = l->stride_w, .pad_top = l->pad_top,
                                 .pad_left = l->pad_left, .pad_bottom = l->pad_bottom, .pad_right = l->pad_right,
                                 .dil_h = l->dil_h, .dil_w = l->dil_w, .groups = l->groups};
            mfr_conv_reference(&p, x, l->params[MFR_P_WEIGHT]->data,
                               l->has_bias ? l->params[MFR_P_BIAS]->data : NULL, y, NULL);
            for (size_t i = 0; i < (size_t)n * per; i++) {
                int c = (int)(i % (size_t)C);
                if (l->batch_normalize)
                    y[i] = bn_naive(l, c, y[i]);
                y[i] = act_naive(l, c, y[i]);
            }
            break;
        }
        case MFR_OP_FC: {
            size_t K = (size_t)a->h * a->w * a->c;
            for (int b = 0; b < n; b++)
                for (int o = 0; o < C; o++) {
                    double s = 0;
                    for (size_t i = 0; i < K; i++)
                        s += (double)x[b * K + i] * l->params[MFR_P_WEIGHT]->data[(size_t)o * K + i];
                    float v = (float)s;
                    if (l->has_bias)
                        v += l->params[MFR_P_BIAS]->data[o];
                    if (l->batch_normalize)
                        v = bn_naive(l, o, v);
                    y[(size_t)b * C + o] = act_naive(l, o, v);
                }
            break;
        }
        case MFR_OP_BATCHNORM:
            for (size_t i = 0; i < (size_t)n * per; i++)
                y[i] = bn_naive(l, (int)(i % (size_t)C), x[i]);
            break;
        case MFR_OP_ACT:
            for (size_t i = 0; i < (size_t)n * per; i++)
                y[i] = act_naive(l, (int)(i % (size_t)C), x[i]);
            break;
        case MFR_OP_MAXPOOL:
        case MFR_OP_AVGPOOL:
            for (int b = 0; b < n; b++)
                for (int oy = 0; oy < l->h; oy++)
                    for (int ox = 0; ox < l->w; ox++)
                        for (int c = 0; c < C; c++) {
                            double acc = l->op == MFR_OP_MAXPOOL ? -INFINITY : 0;
                            int cnt = 0;
                            for (int ky = 0; ky < l->kh; ky++)
                                for (int kx = 0; kx < l->kw; kx++) {
                                    int iy = oy * l->stride_h - l->pad_top + ky, ix = ox * l->stride_w - l->pad_left + kx;
                                    if (iy < 0 || ix < 0 || iy >= a->h || ix >= a->w)
                                        continue;
                                    double v = x[(((size_t)b * a->h + iy) * a->w + ix) * C + c];
                                    acc = l->op == MFR_OP_MAXPOOL ? (v > acc ? v : acc) : acc + v;
                                    cnt++;
                                }
                            y[(((size_t)b * l->h + oy) * l->w + ox) * C + c] =
                                (float)(l->op == MFR_OP_MAXPOOL ? acc : acc / cnt);
                        }
            break;
        case MFR_OP_GAP:
            for (int b = 0; b < n; b++)
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    size_t ap = (size_t)a->h * a->w;
                    for (size_t p = 0; p < ap; p++)
                        s += x[(b * ap + p) * C + c];
                    y[(size_t)b * C + c] = (float)(s / (double)ap);
                }
            break;
        case MFR_OP_UPSAMPLE:
            for (int b = 0; b < n; b++)
                for (int oy = 0; oy < l->h; oy++)
                    for (int ox = 0; ox < l->w; ox++)
                        for (int c = 0; c < C; c++) {
                            const float *src = x + (size_t)b * a->h * a->w * C;
                            double v;
                            if (!l->bilinear) {
                                v = src[((size_t)(oy / l->scale) * a->w + ox / l->scale) * C + c];
                            } else {
                                double fy = (oy + 0.5) / l->scale - 0.5, fx = (ox + 0.5) / l->scale - 0.5;
                                fy = fy < 0 ? 0 : fy;
                                fx = fx < 0 ? 0 : fx;
                                int y0 = (int)fy, x0 = (int)fx;
                                int y1 = y0 + 1 < a->h ? y0 + 1 : a->h - 1, x1 = x0 + 1 < a->w ? x0 + 1 : a->w - 1;
                                double ty = fy - y0, tx = fx - x0;
#define S(yy, xx) (double)src[((size_t)(yy) * a->w + (xx)) * C + c]
                                v = (1 - ty) * ((1 - tx) * S(y0, x0) + tx * S(y0, x1)) +
                                    ty * ((1 - tx) * S(y1, x0) + tx * S(y1, x1));
#undef S
                            }
                            y[(((size_t)b * l->h + oy) * l->w + ox) * C + c] = (float)v;
                        }
            break;
        case MFR_OP_ADD:
        case MFR_OP_MUL:
            for (size_t i = 0; i < (size_t)n * per; i++) {
                size_t b = i / per, c = i % (size_t)C;
                double v = l->op == MFR_OP_ADD ? 0.0 : 1.0;
                for (int k2 = 0; k2 < l->n_inputs; k2++) {
                    const mfr_layer *in = &net->layers[l->inputs[k2]];
                    float xv = in->h * in->w == 1 && pix > 1 ? outs[l->inputs[k2]][b * C + c] : outs[l->inputs[k2]][i];
                    v = l->op == MFR_OP_ADD ? v + xv : v * xv;
                }
                y[i] = (float)v;
            }
            break;
        case MFR_OP_CONCAT:
            for (size_t p = 0; p < (size_t)n * pix; p++) {
                int at = 0;
                for (int k2 = 0; k2 < l->n_inputs; k2++) {
                    const mfr_layer *in = &net->layers[l->inputs[k2]];
                    for (int c = 0; c < in->c; c++)
                        y[p * C + at + c] = outs[l->inputs[k2]][p * in->c + c];
                    at += in->c;
                }
            }
            break;
        case MFR_OP_SLICE:
            for (size_t p = 0; p < (size_t)n * pix; p++)
                for (int c = 0; c < C; c++)
                    y[p * C + c] = x[p * a->c + l->begin + c];
            break;
        case MFR_OP_RESHAPE:
        case MFR_OP_FLATTEN:
        case MFR_OP_DROPOUT:
            memcpy(y, x, (size_t)n * per * sizeof *y);
            break;
        case MFR_OP_SOFTMAX:
            for (size_t p = 0; p < (size_t)n * pix; p++) {
                double m = -INFINITY, s = 0;
                for (int c = 0; c < C; c++)
                    m = x[p * C + c] > m ? x[p * C + c] : m;
                for (int c = 0; c < C; c++)
                    s += exp(x[p * C + c] - m);
                for (int c = 0; c < C; c++)
                    y[p * C + c] = (float)(exp(x[p * C + c] - m) / s);
            }
            break;
        case MFR_OP_L2NORM:
            for (size_t p = 0; p < (size_t)n * pix; p++) {
                double s = 0;
                for (int c = 0; c < C; c++)
                    s += (double)x[p * C + c] * x[p * C + c];
                s = sqrt(s);
                if (s < l->eps)
                    s = l->eps;
                for (int c = 0; c < C; c++)
                    y[p * C + c] = (float)(x[p * C + c] / s);
            }
            break;
        default:
            ck_abort_msg("no naive version of op %d", (int)l->op);
        }
    }
    return outs;
}

static void free_outs(const mfr_net *net, float **outs)
{
    for (int i = 0; i < net->n_layers; i++)
        free(outs[i]);
    free(outs);
}

/* max |a - b| relative to the scale of b (at least 1). */
static double rel_err(const float *a, const float *b, size_t n)
{
    double scale = 1.0, err = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= err)) /* NaN counts as an error */
            err = d;
    }
    return err / scale;
}

/* Runs net (compiled with flags) and compares every output with the naive
 * evaluation; returns the worst relative error. */
static double compare_naive(mfr_net *net, int n, int flags, uint64_t seed)
{
    const float *ins[8];
    float *bufs[8];
    int n_in = 0;
    mfr_exec *ex;
    float **ref;
    double worst = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const mfr_layer *l = &net->layers[i];
        if (l->op == MFR_OP_INPUT) {
            bufs[n_in] = rand_floats((size_t)n * l->h * l->w * l->c, seed + (uint64_t)n_in, -1, 1);
            ins[n_in] = bufs[n_in];
            n_in++;
        }
    }
    tu_ok(mfr_exec_create(net, n, flags, &ex));
    tu_ok(mfr_exec_forward_multi(ex, ins, n));
    ref = naive_forward(net, ins, n);
    for (int o = 0; o < mfr_exec_output_count(ex); o++) {
        int li;
        const float *got = mfr_exec_output(ex, o, &li);
        const mfr_layer *l = &net->layers[li];
        double e = rel_err(got, ref[li], (size_t)n * l->h * l->w * l->c);
        worst = e > worst ? e : worst;
    }
    free_outs(net, ref);
    mfr_exec_free(ex);
    for (int i = 0; i < n_in; i++)
        free(bufs[i]);
    return worst;
}

/* ------------------------------------------------------------ op tests */

/* Each op on an odd-shaped input (7 x 5 x 6, batch 3). */
static const char *const op_cases[] = {
    "[conv]\nfilters = 5\nsize = 3\nstride = 2\npad = 1, 0, 2, 1\n",
    "[conv]\nfilters = 4\nsize = 3, 2\ndilation = 2, 1\npad = same\ngroups = 2\nactivation = leaky\nslope = 0.2\n",
    "[conv]\nfilters = 7\nsize = 1\nbatch_normalize = yes\nactivation = prelu\n",
    "[conv]\nfilters = 6\nsize = 5\nstride = 1, 2\npad = 2\nbias = no\nactivation = relu6\n",
    "[dwconv]\nsize = 3\npad = 1\nbatch_normalize = yes\nactivation = hswish\n",
    "[dwconv]\nmultiplier = 2\nsize = 3\nstride = 2\ndilation = 2\npad = 2\nactivation = tanh\n",
    "[fc]\nfilters = 9\nactivation = sigmoid\n",
    "[fc]\nfilters = 4\nbatch_normalize = yes\n",
    "[batchnorm]\neps = 0.001\n",
    "[relu]\n", "[relu6]\n", "[leaky]\nslope = 0.3\n", "[prelu]\n", "[sigmoid]\n", "[tanh]\n", "[hswish]\n",
    "[maxpool]\nsize = 3\nstride = 2\npad = 1\n",
    "[maxpool]\nsize = 2\n",
    "[avgpool]\nsize = 3\nstride = 2\npad = 1\n",
    "[avgpool]\nsize = 2, 3\nstride = 1\n",
    "[gap]\n",
    "[upsample]\nscale = 2\n",
    "[upsample]\nscale = 3\nmode = bilinear\n",
    "[conv]\nname = a\nfilters = 6\nsize = 3\npad = 1\n[add]\ninput = a, in\n",
    "[gap]\nname = g\n[mul]\ninput = in, g\n",
    "[gap]\nname = g\n[add]\ninput = g, in, in\n",
    "[conv]\nname = a\nfilters = 3\nsize = 1\n[concat]\ninput = in, a, in\n",
    "[slice]\nbegin = 1\nend = 4\n",
    "[slice]\nbegin = 2\n",
    "[reshape]\nheight = 5\nwidth = 7\nchannels = 6\n[conv]\nfilters = 2\nsize = 3\n",
    "[flatten]\n[fc]\nfilters = 3\n",
    "[softmax]\n",
    "[l2norm]\n",
    "[dropout]\nprobability = 0.3\n[relu]\n",
};

START_TEST(test_each_op)
{
    const char *head = "[input]\nname = in\nheight = 7\nwidth = 5\nchannels = 6\n\n";
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        char text[1024];
        mfr_net *net;
        snprintf(text, sizeof text, "%s%s", head, op_cases[i]);
        net = parse(text);
        randomize(net, 1000 + i);
        for (int flags = 0; flags <= (MFR_EXEC_NO_FOLD | MFR_EXEC_NO_FUSE); flags += 3) {
            double e = compare_naive(net, 3, flags, 50 + i);
            ck_assert_msg(e < 1e-5, "op case %zu (flags %d): relative error %g\n%s", i, flags, e, op_cases[i]);
        }
        mfr_net_free(net);
    }
}
END_TEST

/* Fused chains: conv -> batchnorm -> add -> act, and fc -> batchnorm. */
START_TEST(test_fusion_and_folding)
{
    const char *text = "[input]\nname = in\nheight = 9\nwidth = 7\nchannels = 5\n"
                       "[conv]\nname = c\nfilters = 5\nsize = 3\npad = 1\n"
                       "[batchnorm]\n[add]\ninput = batchnorm2, in\n[prelu]\n"
                       "[conv]\nname = c2\nfilters = 8\nsize = 3\nstride = 2\nbatch_normalize = yes\n"
                       "[add]\ninput = c2, c3\n[relu6]\nname = out\n"
                       "[conv]\nname = c3\ninput = prelu4\nfilters = 8\nsize = 3\nstride = 2\n"
                       "[fc]\nname = f\ninput = out\nfilters = 6\n[batchnorm]\n";
    mfr_net *net = parse(text);
    mfr_exec *fused, *plain;
    const float *a, *b;
    float *x;
    int li;
    randomize(net, 7);
    tu_ok(mfr_exec_create(net, 2, 0, &fused));
    tu_ok(mfr_exec_create(net, 2, MFR_EXEC_NO_FOLD | MFR_EXEC_NO_FUSE, &plain));
    /* c+bn+add+prelu is one step; c2 absorbs nothing (c3 is later in order:
     * its add cannot be fused), fc+bn is one step. */
    ck_assert_int_lt(mfr_exec_step_count(fused), mfr_exec_step_count(plain));
    {
        mfr_exec_step_info si;
        mfr_exec_step_get(fused, 1, &si);
        ck_assert_str_eq(si.what, "conv+bn+add+prelu");
    }
    x = rand_floats(2 * 9 * 7 * 5, 3, -1, 1);
    tu_ok(mfr_exec_forward(fused, x, 2));
    tu_ok(mfr_exec_forward(plain, x, 2));
    a = mfr_exec_output(fused, 0, &li);
    b = mfr_exec_output(plain, 0, NULL);
    ck_assert_str_eq(net->layers[li].name, "batchnorm10");
    ck_assert_double_lt(rel_err(a, b, 2 * 6), 1e-5);
    ck_assert_double_lt(compare_naive(net, 2, 0, 9), 1e-5);
    free(x);
    mfr_exec_free(fused);
    mfr_exec_free(plain);
    mfr_net_free(net);
}
END_TEST

/* ------------------------------------------------------ network tests */

static mfr_net *load_model_def(const char *rel)
{
    mfr_net *net = NULL;
    tu_ok(mfr_net_load_def(tu_src(rel), &net));
    return net;
}

START_TEST(test_mobilefacenet)
{
    mfr_net *net = load_model_def("models/mobilefacenet.cfg");
    const mfr_layer *out = &net->layers[mfr_net_output_layer(net, 0)];
    /* The paper: about 0.99M parameters and 221M MACs (ours counts BN statistics too). */
    ck_assert_int_eq(mfr_net_output_count(net), 1);
    ck_assert_int_eq(out->c, 128);
    ck_assert_uint_ge(mfr_net_param_total(net), 900000);
    ck_assert_uint_le(mfr_net_param_total(net), 1100000);
    ck_assert_uint_ge(mfr_net_macs(net), 200000000);
    ck_assert_uint_le(mfr_net_macs(net), 230000000);
    randomize(net, 11);
    ck_assert_double_lt(compare_naive(net, 1, 0, 12), 1e-4);
    mfr_net_free(net);
}
END_TEST

START_TEST(test_detector)
{
    mfr_net *net = load_model_def("models/detector.cfg");
    ck_assert_int_eq(mfr_net_output_count(net), 9);
    ck_assert_uint_ge(mfr_net_param_total(net), 75000);
    ck_assert_uint_le(mfr_net_param_total(net), 100000);
    randomize(net, 13);
    ck_assert_double_lt(compare_naive(net, 2, 0, 14), 1e-4);
    mfr_net_free(net);
}
END_TEST

/* The same bytes at 1, 2 and 3 threads. */
START_TEST(test_threads_bitwise)
{
    static const char *const models[] = {"models/mobilefacenet.cfg", "models/detector.cfg"};
    for (int m = 0; m < 2; m++) {
        mfr_net *net = load_model_def(models[m]);
        const mfr_layer *in = &net->layers[0];
        size_t n_in = 2 * (size_t)in->h * in->w * in->c;
        float *x = rand_floats(n_in, 21, -1, 1), *first[16] = {0};
        mfr_exec *ex;
        randomize(net, 22);
        tu_ok(mfr_exec_create(net, 2, 0, &ex));
        for (int t = 1; t <= 3; t++) {
            mfr_set_threads(t);
            tu_ok(mfr_exec_forward(ex, x, 2));
            for (int o = 0; o < mfr_exec_output_count(ex); o++) {
                int li;
                const float *y = mfr_exec_output(ex, o, &li);
                size_t bytes = 2 * (size_t)net->layers[li].h * net->layers[li].w * net->layers[li].c * sizeof(float);
                if (t == 1) {
                    first[o] = malloc(bytes);
                    memcpy(first[o], y, bytes);
                } else {
                    ck_assert_msg(memcmp(first[o], y, bytes) == 0, "%s: output %d differs at %d threads", models[m], o, t);
                }
            }
        }
        mfr_set_threads(0);
        for (int o = 0; o < 16; o++)
            free(first[o]);
        free(x);
        mfr_exec_free(ex);
        mfr_net_free(net);
    }
}
END_TEST

/* ------------------------------------------------------- memory plan */

static void check_plan(const mfr_exec *ex)
{
    int n = mfr_exec_buffer_count(ex);
    for (int i = 0; i < n; i++) {
        mfr_exec_buffer a;
        mfr_exec_buffer_get(ex, i, &a);
        ck_assert_uint_le(a.offset + a.bytes, mfr_exec_arena_bytes(ex));
        for (int j = i + 1; j < n; j++) {
            mfr_exec_buffer b;
            mfr_exec_buffer_get(ex, j, &b);
            if (a.last < b.first || b.last < a.first)
                continue; /* never live together */
            ck_assert_msg(a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset,
                          "buffers of layers %d and %d are live together and overlap", a.layer, b.layer);
        }
    }
}

START_TEST(test_memory_plan)
{
    static const char *const models[] = {"models/mobilefacenet.cfg", "models/detector.cfg"};
    for (int m = 0; m < 2; m++) {
        mfr_net *net = load_model_def(models[m]);
        for (int batch = 1; batch <= 3; batch += 2) {
            mfr_exec *ex;
            tu_ok(mfr_exec_create(net, batch, 0, &ex));
            check_plan(ex);
            /* Reuse must actually happen in these deep networks. */
            ck_assert_uint_lt(mfr_exec_arena_bytes(ex) * 2, mfr_exec_naive_bytes(ex));
            mfr_exec_free(ex);
            tu_ok(mfr_exec_create(net, batch, MFR_EXEC_NO_FUSE | MFR_EXEC_NO_FOLD, &ex));
            check_plan(ex);
            mfr_exec_free(ex);
        }
        mfr_net_free(net);
    }
}
END_TEST

/* The planner alone on random sizes and lifetimes. */
START_TEST(test_memplan_random)
{
    mfr_rng r;
    mfr_rng_init(&r, 5, 1, 0);
    for (int trial = 0; trial < 50; trial++) {
        nn_membuf b[60];
        int n = 1 + (int)mfr_rng_below(&r, 60);
        size_t total, peak = 0;
        for (int i = 0; i < n; i++) {
            b[i].bytes = 1 + mfr_rng_below(&r, 5000);
            b[i].first = (int)mfr_rng_below(&r, 40);
            b[i].last = b[i].first + (int)mfr_rng_below(&r, 10);
        }
        tu_ok(nn_memplan(b, n, &total));
        for (int i = 0; i < n; i++) {
            ck_assert_uint_eq(b[i].offset % MFR_ALIGN, 0);
            ck_assert_uint_le(b[i].offset + b[i].bytes, total);
            for (int j = 0; j < n; j++)
                if (i != j && !(b[i].last < b[j].first || b[j].last < b[i].first))
                    ck_assert(b[i].offset + b[i].bytes <= b[j].offset || b[j].offset + b[j].bytes <= b[i].offset);
        }
        /* No plan can be smaller than the most memory live at one step. */
        for (int s = 0; s < 50; s++) {
            size_t live = 0;
            for (int i = 0; i < n; i++)
                if (b[i].first <= s && s <= b[i].last)
                    live += b[i].bytes;
            peak = live > peak ? live : peak;
        }
        ck_assert_uint_ge(total, peak);
    }
}
END_TEST

/* ------------------------------------------------------ model files */

static const char *small_def = "[input]\nname = in\nheight = 4\nwidth = 3\nchannels = 2\n"
                               "[conv]\nname = c1\nfilters = 3\nsize = 3\npad = same\nbatch_normalize = yes\nactivation = prelu\n"
                               "[fc]\nname = f\nfilters = 2\n";

static mfr_net *small_net(void)
{
    mfr_net *net = parse(small_def);
    randomize(net, 31);
    return net;
}

static void assert_same_net(const mfr_net *a, const mfr_net *b)
{
    char *ta, *tb;
    size_t na, nb;
    tu_ok(mfr_net_to_text(a, &ta, &na));
    tu_ok(mfr_net_to_text(b, &tb, &nb));
    ck_assert_str_eq(ta, tb);
    free(ta);
    free(tb);
    ck_assert_int_eq(mfr_net_param_count(a), mfr_net_param_count(b));
    for (int i = 0; i < mfr_net_param_count(a); i++) {
        const mfr_tensor *x = mfr_net_param(a, i), *y = mfr_net_param(b, i);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->ndim, y->ndim);
        ck_assert_uint_eq(x->size, y->size);
        ck_assert(memcmp(x->data, y->data, x->size * sizeof(float)) == 0);
    }
}

START_TEST(test_model_round_trip)
{
    mfr_net *net = load_model_def("models/mobilefacenet.cfg"), *back;
    const char *path = tu_tmp("mfn.mfrm");
    randomize(net, 41);
    tu_ok(mfr_model_save(net, path));
    tu_ok(mfr_model_load(path, &back));
    assert_same_net(net, back);
    mfr_net_free(back);
    tu_ok(mfr_net_load_any(path, &back));
    assert_same_net(net, back);
    mfr_net_free(back);
    /* A definition file through the same entry point. */
    tu_ok(mfr_net_load_any(tu_src("models/detector.cfg"), &back));
    ck_assert_int_eq(mfr_net_output_count(back), 9);
    mfr_net_free(back);
    mfr_net_free(net);
}
END_TEST

static void expect_decode_error(const void *data, size_t size, const char *needle, const char *what)
{
    mfr_net *net = (mfr_net *)1;
    int rc = mfr_model_decode(data, size, "m.mfrm", &net);
    ck_assert_msg(rc != MFR_OK, "%s: decoding succeeded", what);
    ck_assert_ptr_null(net);
    ck_assert_msg(strstr(mfr_last_error(), "m.mfrm") != NULL, "%s: message lacks the name: %s", what, mfr_last_error());
    if (needle)
        ck_assert_msg(strstr(mfr_last_error(), needle) != NULL, "%s: expected '%s' in: %s", what, needle,
                      mfr_last_error());
}

START_TEST(test_model_truncation)
{
    mfr_net *net = small_net(), *back;
    unsigned char *data;
    size_t size;
    tu_ok(mfr_model_encode(net, (void **)&data, &size));
    tu_ok(mfr_model_decode(data, size, "m.mfrm", &back));
    assert_same_net(net, back);
    mfr_net_free(back);
    for (size_t cut = 0; cut < size; cut++)
        expect_decode_error(data, cut, NULL, "truncated");
    free(data);
    mfr_net_free(net);
}
END_TEST

START_TEST(test_model_flipped_bytes)
{
    mfr_net *net = small_net();
    unsigned char *data;
    size_t size;
    tu_ok(mfr_model_encode(net, (void **)&data, &size));
    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            data[i] ^= (unsigned char)(1u << bit);
            expect_decode_error(data, size, NULL, "flipped");
            data[i] ^= (unsigned char)(1u << bit);
        }
    }
    free(data);
    mfr_net_free(net);
}
END_TEST

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void reseal(unsigned char *h)
{
    put32(h + 60, mfr_crc32(0, h, 60));
}

START_TEST(test_model_header_fields)
{
    mfr_net *net = small_net();
    unsigned char *data, *copy;
    size_t size;
    tu_ok(mfr_model_encode(net, (void **)&data, &size));
    copy = malloc(size + 16);
    ck_assert_ptr_nonnull(copy);
    /* Documented layout. */
    ck_assert(memcmp(data, "MFRMODEL", 8) == 0);
    ck_assert_uint_eq(data[8], MFR_MODEL_VERSION);

    memcpy(copy, data, size);
    put32(copy + 8, 2);
    reseal(copy);
    expect_decode_error(copy, size, "version 2", "wrong version");

    memcpy(copy, data, size);
    memcpy(copy, "MFRMODEX", 8);
    expect_decode_error(copy, size, "not an mfr model", "bad magic");

    memcpy(copy, data, size);
    put64(copy + 16, 1ull << 40); /* definition size */
    reseal(copy);
    expect_decode_error(copy, size, "claims", "absurd definition size");

    memcpy(copy, data, size);
    put64(copy + 40, 1ull << 62); /* tensor bytes */
    reseal(copy);
    expect_decode_error(copy, size, "claims", "absurd tensor size");

    memcpy(copy, data, size);
    put32(copy + 36, 0xffffffffu); /* tensor count */
    reseal(copy);
    expect_decode_error(copy, size, "claims", "absurd tensor count");

    memcpy(copy, data, size);
    put64(copy + 24, 1ull << 60); /* compressed definition size */
    reseal(copy);
    expect_decode_error(copy, size, "truncated", "absurd compressed size");

    memcpy(copy, data, size);
    put64(copy + 40, 4096ull * 1032 * 1000); /* more than zlib can inflate from the bytes there */
    reseal(copy);
    expect_decode_error(copy, size, NULL, "impossible ratio");

    memcpy(copy, data, size);
    memset(copy + size, 0, 16);
    expect_decode_error(copy, size + 16, "unexpected bytes", "trailing bytes");

    memcpy(copy, data, size);
    put32(copy + 12, 1); /* flags */
    reseal(copy);
    expect_decode_error(copy, size, "flags", "unknown flags");
    free(copy);
    free(data);
    mfr_net_free(net);
}
END_TEST

/* Builds a model file by hand from the byte layout in docs/nn.md. */
static unsigned char *assemble(const char *def, const unsigned char *tens, size_t tn, uint32_t count, size_t *size)
{
    size_t dn = strlen(def);
    uLongf zd = compressBound(dn), zt = compressBound(tn);
    unsigned char *f = malloc(64 + zd + zt);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(compress(f + 64, &zd, (const Bytef *)def, dn), Z_OK);
    ck_assert_int_eq(compress(f + 64 + zd, &zt, tens, tn), Z_OK);
    memcpy(f, "MFRMODEL", 8);
    put32(f + 8, 1);
    put32(f + 12, 0);
    put64(f + 16, dn);
    put64(f + 24, zd);
    put32(f + 32, mfr_crc32(0, f + 64, zd));
    put32(f + 36, count);
    put64(f + 40, tn);
    put64(f + 48, zt);
    put32(f + 56, mfr_crc32(0, f + 64 + zd, zt));
    reseal(f);
    *size = 64 + zd + zt;
    return f;
}

/* One tensor record: name, float32, dims, values v0, v0+1, ... */
static size_t record(unsigned char *p, const char *name, int ndim, const int *dims, float v0)
{
    size_t at = 0, n = 1, len = strlen(name);
    p[at++] = (unsigned char)len;
    p[at++] = 0;
    memcpy(p + at, name, len);
    at += len;
    p[at++] = 0;
    p[at++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++, at += 4) {
        put32(p + at, (uint32_t)dims[d]);
        n *= (size_t)dims[d];
    }
    for (size_t i = 0; i < n; i++, at += 4) {
        float v = v0 + (float)i;
        uint32_t bits;
        memcpy(&bits, &v, 4);
        put32(p + at, bits);
    }
    return at;
}

START_TEST(test_model_by_hand)
{
    const char *def = "[input]\nheight = 1\nwidth = 1\nchannels = 3\n[fc]\nname = f\nfilters = 2\n";
    unsigned char tens[256], *file;
    size_t tn, size;
    mfr_net *net;
    mfr_exec *ex;
    float x[3] = {1, 2, 3};
    const float *y;
    int wd[2] = {2, 3}, bd[1] = {2}, bad[2] = {3, 2};
    tn = record(tens, "f.weight", 2, wd, 0.0f);
    tn += record(tens + tn, "f.bias", 1, bd, 10.0f);
    file = assemble(def, tens, tn, 2, &size);
    tu_ok(mfr_model_decode(file, size, "m.mfrm", &net));
    tu_ok(mfr_exec_create(net, 1, 0, &ex));
    tu_ok(mfr_exec_forward(ex, x, 1));
    y = mfr_exec_output(ex, 0, NULL);
    /* weight rows (0 1 2) and (3 4 5), bias (10 11) */
    ck_assert_float_eq(y[0], 0 * 1 + 1 * 2 + 2 * 3 + 10);
    ck_assert_float_eq(y[1], 3 * 1 + 4 * 2 + 5 * 3 + 11);
    mfr_exec_free(ex);
    mfr_net_free(net);
    free(file);

    /* Shape against the definition. */
    tn = record(tens, "f.weight", 2, bad, 0.0f);
    tn += record(tens + tn, "f.bias", 1, bd, 10.0f);
    file = assemble(def, tens, tn, 2, &size);
    expect_decode_error(file, size, "tensor 'f.weight' is 3x2 but the network needs 2x3", "shape mismatch");
    free(file);
    /* Unknown, missing and duplicated tensors. */
    tn = record(tens, "f.weights", 2, wd, 0.0f);
    tn += record(tens + tn, "f.bias", 1, bd, 10.0f);
    file = assemble(def, tens, tn, 2, &size);
    expect_decode_error(file, size, "'f.weights' is not a parameter", "unknown tensor");
    free(file);
    tn = record(tens, "f.weight", 2, wd, 0.0f);
    file = assemble(def, tens, tn, 1, &size);
    expect_decode_error(file, size, "holds 1 tensors", "missing tensor");
    free(file);
    tn = record(tens, "f.bias", 1, bd, 0.0f);
    tn += record(tens + tn, "f.bias", 1, bd, 10.0f);
    file = assemble(def, tens, tn, 2, &size);
    expect_decode_error(file, size, "appears twice", "duplicate tensor");
    free(file);
    /* A broken definition inside a model names it. */
    tn = record(tens, "f.weight", 2, wd, 0.0f);
    file = assemble("[input]\nheight = 1\nwidth = 1\nchannels = 3\n[fc]\nfilter = 2\n", tens, tn, 1, &size);
    expect_decode_error(file, size, "m.mfrm[definition]:5", "bad definition");
    free(file);
}
END_TEST

/* --------------------------------------------------- definition text */

static void expect_parse_error(const char *text, const char *needle)
{
    mfr_net *net = (mfr_net *)1;
    int rc = mfr_net_parse(text, strlen(text), "net.cfg", &net);
    ck_assert_msg(rc != MFR_OK, "parsing succeeded:\n%s", text);
    ck_assert_ptr_null(net);
    ck_assert_msg(strstr(mfr_last_error(), needle) != NULL, "expected '%s' in: %s", needle, mfr_last_error());
}

START_TEST(test_definition_errors)
{
    const char *in = "[input]\nheight = 8\nwidth = 8\nchannels = 3\n";
    char text[512];
    snprintf(text, sizeof text, "%s[convolution]\nfilters = 3\n", in);
    expect_parse_error(text, "net.cfg:5: unknown layer type [convolution]");
    snprintf(text, sizeof text, "%s[conv]\nfilters = 3\nfliters = 4\n", in);
    expect_parse_error(text, "net.cfg:7: unknown key 'fliters' in [conv]");
    snprintf(text, sizeof text, "%s[conv]\nfilters = 3\n[add]\ninput = conv1, nothere\n", in);
    expect_parse_error(text, "net.cfg:7: [add] 'add2': input 'nothere' is not a layer");
    snprintf(text, sizeof text, "%s[conv]\nname = a\nfilters = 3\nstride = 2\n[add]\ninput = a, input0\n", in);
    expect_parse_error(text, "net.cfg:9: [add] 'add2': input 'a' is 4x4x3 but 'input0' is 8x8x3");
    snprintf(text, sizeof text, "%s[conv]\nfilters = 3\nsize = 9\n", in);
    expect_parse_error(text, "net.cfg:5: [conv] 'conv1': a 9x9 window");
    snprintf(text, sizeof text, "%s[conv]\nfilters = 4\ngroups = 3\n", in);
    expect_parse_error(text, "net.cfg:5: [conv] 'conv1': groups = 3 must divide");
    snprintf(text, sizeof text, "%s[conv]\nname = a\ninput = b\nfilters = 3\n[conv]\nname = b\ninput = a\nfilters = 3\n", in);
    expect_parse_error(text, "cycle");
    snprintf(text, sizeof text, "%s[conv]\nname = a\nfilters = 3\n[relu]\nname = a\n", in);
    expect_parse_error(text, "net.cfg:9: duplicate layer name 'a'");
    snprintf(text, sizeof text, "%s[conv]\nsize = 3\n", in);
    expect_parse_error(text, "net.cfg:5: [conv] needs 'filters = N'");
    snprintf(text, sizeof text, "%s[conv]\nfilters = -2\n", in);
    expect_parse_error(text, "net.cfg:6:");
    snprintf(text, sizeof text, "%s[reshape]\nchannels = 5\n", in);
    expect_parse_error(text, "net.cfg:5: [reshape]");
    snprintf(text, sizeof text, "%s[fc]\nfilters = 3\n[add]\n", in);
    expect_parse_error(text, "net.cfg:7: [add] 'add2': needs at least 2 inputs");
    expect_parse_error("[relu]\n", "net.cfg: the network has no [input] layer");
    expect_parse_error("", "no layers");
    expect_parse_error("filters = 3\n[input]\nheight = 1\nwidth = 1\nchannels = 1\n", "net.cfg:1: unknown key 'filters'");
}
END_TEST

/* Text -> graph -> text -> graph gives the same text and shapes. */
START_TEST(test_definition_round_trip)
{
    static const char *const models[] = {"models/mobilefacenet.cfg", "models/detector.cfg"};
    for (int m = 0; m < 2; m++) {
        mfr_net *a = load_model_def(models[m]), *b;
        char *t1, *t2;
        size_t n1, n2;
        tu_ok(mfr_net_to_text(a, &t1, &n1));
        tu_ok(mfr_net_parse(t1, n1, "again.cfg", &b));
        tu_ok(mfr_net_to_text(b, &t2, &n2));
        ck_assert_str_eq(t1, t2);
        ck_assert_int_eq(a->n_layers, b->n_layers);
        for (int i = 0; i < a->n_layers; i++) {
            ck_assert_int_eq(a->layers[i].h, b->layers[i].h);
            ck_assert_int_eq(a->layers[i].c, b->layers[i].c);
            ck_assert_uint_eq(a->layers[i].macs, b->layers[i].macs);
        }
        ck_assert_uint_eq(mfr_net_param_total(a), mfr_net_param_total(b));
        free(t1);
        free(t2);
        mfr_net_free(a);
        mfr_net_free(b);
    }
    /* Every op case writes back to a definition that parses to the same text. */
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        char text[1024], *t1, *t2;
        size_t n1, n2;
        mfr_net *a, *b;
        snprintf(text, sizeof text, "[input]\nname = in\nheight = 7\nwidth = 5\nchannels = 6\n%s", op_cases[i]);
        a = parse(text);
        tu_ok(mfr_net_to_text(a, &t1, &n1));
        b = parse(t1);
        tu_ok(mfr_net_to_text(b, &t2, &n2));
        ck_assert_str_eq(t1, t2);
        free(t1);
        free(t2);
        mfr_net_free(a);
        mfr_net_free(b);
    }
}
END_TEST

/* The C builder makes the same graph as the text. */
START_TEST(test_builder)
{
    mfr_net *built, *parsed;
    mfr_layer *l;
    char *text;
    size_t n;
    tu_ok(mfr_net_create(&built));
    ck_assert_ptr_nonnull(mfr_net_input(built, "in", 9, 9, 4));
    l = mfr_net_conv(built, "c1", NULL, 8, 3, 2, 1, MFR_ACT_RELU);
    ck_assert_ptr_nonnull(l);
    l->batch_normalize = 1;
    l->has_bias = 0;
    ck_assert_ptr_nonnull(mfr_net_conv(built, "c2", NULL, 8, 3, 1, 8, MFR_ACT_NONE));
    ck_assert_ptr_nonnull(mfr_net_add(built, MFR_OP_ADD, "sum", "c1, c2"));
    l = mfr_net_add(built, MFR_OP_ACT, "act", NULL);
    l->act = MFR_ACT_HSWISH;
    ck_assert_ptr_nonnull(mfr_net_add(built, MFR_OP_GAP, NULL, NULL));
    ck_assert_ptr_null(mfr_net_add(built, MFR_OP_COUNT_, NULL, NULL));
    tu_ok(mfr_net_resolve(built));
    ck_assert_int_eq(built->layers[5].c, 8);
    tu_ok(mfr_net_to_text(built, &text, &n));
    parsed = parse(text);
    randomize(built, 3);
    randomize(parsed, 3);
    assert_same_net(built, parsed);
    ck_assert_double_lt(compare_naive(built, 2, 0, 4), 1e-5);
    free(text);
    mfr_net_free(built);
    mfr_net_free(parsed);
}
END_TEST

START_TEST(test_init_deterministic)
{
    mfr_net *a = load_model_def("models/detector.cfg"), *b = load_model_def("models/detector.cfg");
    int differ = 0;
    tu_ok(mfr_net_init_weights(a, 5));
    tu_ok(mfr_net_init_weights(b, 5));
    for (int i = 0; i < mfr_net_param_count(a); i++)
        ck_assert(memcmp(mfr_net_param(a, i)->data, mfr_net_param(b, i)->data, mfr_net_param(a, i)->size * 4) == 0);
    tu_ok(mfr_net_init_weights(b, 6));
    for (int i = 0; i < mfr_net_param_count(a); i++)
        differ |= memcmp(mfr_net_param(a, i)->data, mfr_net_param(b, i)->data, mfr_net_param(a, i)->size * 4) != 0;
    ck_assert(differ);
    /* He init: the first conv's weights have roughly the right spread. */
    {
        const mfr_tensor *w = mfr_net_param_find(a, "stem.weight");
        double ss = 0;
        ck_assert_ptr_nonnull(w);
        for (size_t k = 0; k < w->size; k++)
            ss += (double)w->data[k] * w->data[k];
        ck_assert_double_gt(ss / (double)w->size, 0.5 * 2.0 / 27);
        ck_assert_double_lt(ss / (double)w->size, 1.5 * 2.0 / 27);
    }
    mfr_net_free(a);
    mfr_net_free(b);
}
END_TEST

/* After the weights change, mfr_exec_reload_weights gives the same bytes as
 * a newly compiled executable (folded batch norm, fused and training-mode). */
START_TEST(test_exec_reload_weights)
{
    static const int flag_sets[2] = {0, MFR_EXEC_NO_FOLD | MFR_EXEC_NO_FUSE | MFR_EXEC_KEEP_ALL | MFR_EXEC_TRAIN_BN};
    mfr_net *net = load_model_def("models/detector.cfg");
    const mfr_layer *in = &net->layers[0];
    size_t in_n = (size_t)2 * in->h * in->w * in->c;
    float *x = mfr_alloc(in_n * sizeof(float));
    mfr_rng r;
    mfr_rng_init(&r, 3, 0, 0);
    for (size_t i = 0; i < in_n; i++)
        x[i] = (float)mfr_rng_range(&r, -1, 1);
    for (int f = 0; f < 2; f++) {
        mfr_exec *ex, *fresh;
        int layer;
        tu_ok(mfr_net_init_weights(net, 5));
        tu_ok(mfr_exec_create(net, 2, flag_sets[f], &ex));
        tu_ok(mfr_exec_forward(ex, x, 2));
        const mfr_layer *ol = &net->layers[mfr_net_output_layer(net, 0)];
        size_t out_n = (size_t)2 * ol->h * ol->w * ol->c;
        float *before = mfr_alloc(out_n * sizeof(float));
        memcpy(before, mfr_exec_output(ex, 0, &layer), out_n * sizeof(float));
        tu_ok(mfr_net_init_weights(net, 6));
        tu_ok(mfr_exec_reload_weights(ex));
        tu_ok(mfr_exec_forward(ex, x, 2));
        tu_ok(mfr_exec_create(net, 2, flag_sets[f], &fresh));
        tu_ok(mfr_exec_forward(fresh, x, 2));
        ck_assert_msg(memcmp(mfr_exec_output(ex, 0, &layer), mfr_exec_output(fresh, 0, &layer),
                             out_n * sizeof(float)) == 0,
                      "flags %d: reloaded weights differ from a new executable", flag_sets[f]);
        ck_assert(memcmp(before, mfr_exec_output(ex, 0, &layer), out_n * sizeof(float)) != 0);
        mfr_free(before);
        mfr_exec_free(fresh);
        mfr_exec_free(ex);
    }
    mfr_free(x);
    mfr_net_free(net);
}
END_TEST

START_TEST(test_exec_arguments)
{
    mfr_net *net = small_net();
    mfr_exec *ex;
    float x[4 * 3 * 2 * 2] = {0};
    ck_assert_int_ne(mfr_exec_create(net, 0, 0, &ex), MFR_OK);
    tu_ok(mfr_exec_create(net, 2, 0, &ex));
    ck_assert_int_ne(mfr_exec_forward(ex, x, 3), MFR_OK);
    ck_assert_int_ne(mfr_exec_forward(ex, x, 0), MFR_OK);
    tu_ok(mfr_exec_forward(ex, x, 1));
    mfr_exec_profile(ex, 1);
    tu_ok(mfr_exec_forward(ex, x, 2));
    {
        mfr_exec_step_info si;
        uint64_t macs = 0;
        for (int i = 0; i < mfr_exec_step_count(ex); i++) {
            mfr_exec_step_get(ex, i, &si);
            ck_assert_int_eq(si.calls, 1);
            macs += si.macs;
        }
        ck_assert_uint_eq(macs, mfr_net_macs(net));
    }
    mfr_exec_free(ex);
    /* A partial batch gives the naive answer for the samples given. */
    {
        float *xs = rand_floats(4 * 3 * 2 * 2, 61, -1, 1), **ref;
        const float *ins[1] = {xs};
        const float *y;
        int li;
        tu_ok(mfr_exec_create(net, 5, 0, &ex));
        tu_ok(mfr_exec_forward(ex, xs, 2));
        ref = naive_forward(net, ins, 2);
        y = mfr_exec_output(ex, 0, &li);
        ck_assert_double_lt(rel_err(y, ref[li], 2 * (size_t)net->layers[li].c), 1e-5);
        free_outs(net, ref);
        mfr_exec_free(ex);
        free(xs);
    }
    mfr_net_free(net);
}
END_TEST

/* ---------------------------------------------------------- gradients */

/* L = sum over outputs of R . output, in double. */
static double loss(mfr_grad *g, const mfr_net *net, const float *const *ins, int n, float **r)
{
    double L = 0;
    tu_ok(mfr_grad_forward(g, ins, n));
    for (int o = 0; o < mfr_net_output_count(net); o++) {
        int li = mfr_net_output_layer(net, o);
        const float *y = mfr_grad_value(g, li);
        size_t cnt = (size_t)n * net->layers[li].h * net->layers[li].w * net->layers[li].c;
        for (size_t i = 0; i < cnt; i++)
            L += (double)r[o][i] * y[i];
    }
    return L;
}

/* The central difference of L at *slot with step h (re-compiling when the
 * slot is a weight). */
static double central(mfr_grad *g, const mfr_net *net, const float *const *ins, int n, float **r, float *slot,
                      int refresh, double h)
{
    float keep = *slot;
    double lp, lm;
    *slot = (float)(keep + h);
    if (refresh)
        tu_ok(mfr_grad_refresh(g));
    lp = loss(g, net, ins, n, r);
    *slot = (float)(keep - h);
    if (refresh)
        tu_ok(mfr_grad_refresh(g));
    lm = loss(g, net, ins, n, r);
    *slot = keep;
    if (refresh)
        tu_ok(mfr_grad_refresh(g));
    return (lp - lm) / (2 * h);
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-2 * (fabs(a) + fabs(b)) + 2e-3;
}

/* Central differences against the backward pass for some inputs and a few
 * elements of every trained parameter. ReLU-like kinks and max-pooling ties
 * make a difference quotient meaningless when one lies within the step: such
 * points show up as a disagreement between steps h and h/2 and are replaced
 * by another element (at most a few times). Returns the values checked. */
static int grad_check(mfr_net *net, int n, uint64_t seed, const char *what, int train_bn)
{
    mfr_grad *g;
    float *x, *r[16];
    const float *ins[1];
    const mfr_layer *in = &net->layers[0];
    size_t nx = (size_t)n * in->h * in->w * in->c;
    const double h = 1e-3;
    int checked = 0, kinks = 0, nout = mfr_net_output_count(net);
    mfr_rng pick;
    ck_assert_int_le(nout, 16);
    x = rand_floats(nx, seed, -1, 1);
    ins[0] = x;
    for (int o = 0; o < nout; o++) {
        const mfr_layer *l = &net->layers[mfr_net_output_layer(net, o)];
        r[o] = rand_floats((size_t)n * l->h * l->w * l->c, seed + 100 + (uint64_t)o, -1, 1);
    }
    tu_ok(mfr_grad_create(net, n, &g));
    if (train_bn)
        tu_ok(mfr_grad_train_bn(g, 1));
    mfr_rng_init(&pick, seed, 5, 0);
    for (int p = -1; p < mfr_net_param_count(net); p++) {
        mfr_tensor *t = p >= 0 ? mfr_net_param(net, p) : NULL;
        int want = p < 0 ? 6 : 3, tries = 0;
        if (t && (strstr(t->name, ".mean") || strstr(t->name, ".var")))
            continue; /* running statistics: not trained by gradients */
        while (want > 0) {
            size_t i = mfr_rng_below(&pick, (uint32_t)(t ? t->size : nx));
            float *slot = t ? &t->data[i] : &x[i];
            double an, f1, f2;
            loss(g, net, ins, n, r);
            tu_ok(mfr_grad_backward(g, (const float *const *)r));
            an = t ? mfr_grad_param(g, p)->data[i] : mfr_grad_layer(g, 0)[i];
            f1 = central(g, net, ins, n, r, slot, t != NULL, h);
            f2 = central(g, net, ins, n, r, slot, t != NULL, h / 2);
            if (!close_enough(f1, f2)) {
                kinks++;
                ck_assert_msg(++tries < 6, "%s: %s: six kinks in a row", what, t ? t->name : "input");
                continue;
            }
            ck_assert_msg(close_enough(f1, an), "%s: dL/d%s[%zu]: backward %g, differences %g", what,
                          t ? t->name : "input", i, an, f1);
            checked++;
            want--;
        }
    }
    ck_assert_int_le(kinks, checked / 4 + 1);
    mfr_grad_free(g);
    free(x);
    for (int o = 0; o < nout; o++)
        free(r[o]);
    return checked;
}

START_TEST(test_gradients_each_op)
{
    const char *head = "[input]\nname = in\nheight = 7\nwidth = 5\nchannels = 6\n\n";
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        char text[1024], what[32];
        mfr_net *net;
        snprintf(text, sizeof text, "%s%s", head, op_cases[i]);
        snprintf(what, sizeof what, "op case %zu", i);
        net = parse(text);
        randomize(net, 2000 + i);
        ck_assert_int_gt(grad_check(net, 2, 300 + i, what, 0), 0);
        if (strstr(op_cases[i], "batch"))
            ck_assert_int_gt(grad_check(net, 2, 400 + i, what, 1), 0);
        mfr_net_free(net);
    }
}
END_TEST

/* A residual block with everything MobileFaceNet uses, end to end. */
START_TEST(test_gradients_block)
{
    const char *text = "[input]\nname = in\nheight = 6\nwidth = 6\nchannels = 4\n"
                       "[conv]\nname = e\nfilters = 8\nbatch_normalize = yes\nactivation = prelu\n"
                       "[dwconv]\nsize = 3\npad = 1\nbatch_normalize = yes\nactivation = prelu\n"
                       "[conv]\nname = p\nfilters = 4\nbatch_normalize = yes\n"
                       "[add]\ninput = p, in\n[maxpool]\nsize = 2\n[avgpool]\nsize = 3\nstride = 1\npad = 1\n"
                       "[dwconv]\nsize = 3\n[flatten]\n[fc]\nfilters = 5\nbatch_normalize = yes\n[l2norm]\n";
    mfr_net *net = parse(text);
    randomize(net, 71);
    ck_assert_int_gt(grad_check(net, 3, 72, "block", 0), 40);
    ck_assert_int_gt(grad_check(net, 3, 73, "block, batch statistics", 1), 40);
    mfr_net_free(net);
}
END_TEST

/* Training-mode batch norm normalises each channel over the batch, and the
 * running statistics move toward the batch's. */
START_TEST(test_batch_norm_training)
{
    const char *text = "[input]\nheight = 5\nwidth = 4\nchannels = 3\n"
                       "[conv]\nname = c\nfilters = 6\nsize = 3\npad = 1\nbatch_normalize = yes\n";
    mfr_net *net = parse(text);
    mfr_grad *g;
    float *x = rand_floats(4 * 5 * 4 * 3, 90, -1, 1), *ref;
    const float *ins[1] = {x}, *y;
    int c = 6;
    size_t rows = 4 * 5 * 4;
    randomize(net, 91);
    tu_ok(mfr_grad_create(net, 4, &g));
    tu_ok(mfr_grad_train_bn(g, 1));
    tu_ok(mfr_grad_forward(g, ins, 4));
    y = mfr_grad_value(g, 1);
    for (int i = 0; i < c; i++) {
        double m = 0, v = 0, gamma = net->layers[1].params[MFR_P_GAMMA]->data[i];
        double beta = net->layers[1].params[MFR_P_BETA]->data[i];
        for (size_t r = 0; r < rows; r++)
            m += y[r * c + i];
        m /= rows;
        for (size_t r = 0; r < rows; r++)
            v += (y[r * c + i] - m) * (y[r * c + i] - m);
        v /= rows;
        ck_assert_double_lt(fabs(m - beta), 1e-5);
        ck_assert_double_lt(fabs(v - gamma * gamma), 1e-3); /* up to eps = 1e-5 */
    }
    /* The conv's raw output, to know the batch statistics. */
    {
        mfr_conv_params p = {.n = 4, .h = 5, .w = 4, .c_in = 3, .c_out = 6, .kh = 3, .kw = 3, .stride_h = 1,
                             .stride_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
                             .dil_h = 1, .dil_w = 1, .groups = 1};
        float rm[6], rv[6];
        ref = malloc(rows * c * sizeof *ref);
        mfr_conv_reference(&p, x, net->layers[1].params[MFR_P_WEIGHT]->data, NULL, ref, NULL);
        memcpy(rm, net->layers[1].params[MFR_P_MEAN]->data, sizeof rm);
        memcpy(rv, net->layers[1].params[MFR_P_VAR]->data, sizeof rv);
        tu_ok(mfr_grad_update_running_stats(g, 0.1f));
        for (int i = 0; i < c; i++) {
            double m = 0, v = 0;
            for (size_t r = 0; r < rows; r++)
                m += ref[r * c + i];
            m /= rows;
            for (size_t r = 0; r < rows; r++)
                v += (ref[r * c + i] - m) * (ref[r * c + i] - m);
            v /= rows - 1;
            ck_assert_double_lt(fabs(net->layers[1].params[MFR_P_MEAN]->data[i] - (0.9 * rm[i] + 0.1 * m)), 1e-5);
            ck_assert_double_lt(fabs(net->layers[1].params[MFR_P_VAR]->data[i] - (0.9 * rv[i] + 0.1 * v)), 1e-4);
        }
        free(ref);
    }
    mfr_grad_free(g);
    free(x);
    mfr_net_free(net);
}
END_TEST

/* ------------------------------------ chunked batch-norm / activation passes */

/* Results of the training-time BN and activation passes on one tensor. */
typedef struct {
    float mean[37], var[37], scale[37], shift[37], dgamma[37], dbeta[37], egamma[37], ebeta[37];
    float dslope[37], dbias[37];
    float *dz, *edz, *act[8], *actf[8];
    /* the fused act + batch-norm backward, per activation: dL/du and the
     * gamma, beta and slope gradients */
    float *fz[8], fgamma[8][37], fbeta[8][37], fslope[8][37];
} bn_pass_out;

enum { BNT_ROWS = 1000, BNT_C = 37 }; /* rows not a multiple of the chunk; rows x c above the threading cut */

static void bn_passes(const mfr_layer *bn, const float *u, const float *dy, const float *slope, bn_pass_out *o)
{
    size_t n = (size_t)BNT_ROWS * BNT_C;
    memset(o, 0, sizeof *o);
    tu_ok(nn_bn_batch_stats(bn, u, BNT_ROWS, BNT_C, o->mean, o->var, o->scale, o->shift));
    o->dz = malloc(n * sizeof(float));
    o->edz = malloc(n * sizeof(float));
    memcpy(o->dz, dy, n * sizeof(float));
    memcpy(o->edz, dy, n * sizeof(float));
    tu_ok(nn_bn_backward_batch(bn, u, o->dz, BNT_ROWS, BNT_C, o->mean, o->var, o->dgamma, o->dbeta));
    tu_ok(nn_bn_backward(bn, u, o->edz, BNT_ROWS, BNT_C, o->scale, o->egamma, o->ebeta));
    tu_ok(nn_channel_sum(dy, BNT_ROWS, BNT_C, o->dbias));
    for (int a = 0; a < 8; a++) {
        o->act[a] = malloc(n * sizeof(float));
        o->actf[a] = malloc(n * sizeof(float));
        /* in place (z == dz), as nn_affine_backward_head calls it */
        for (size_t j = 0; j < n; j++)
            o->act[a][j] = u[j] - 3.0f;
        tu_ok(nn_act_backward(o->act[a], dy, o->act[a], BNT_ROWS, BNT_C, (mfr_act)a, 0.3f, slope,
                              a == MFR_ACT_PRELU ? o->dslope : NULL));
        for (size_t j = 0; j < n; j++)
            o->actf[a][j] = 4.0f * (u[j] - 3.0f);
        nn_apply_act(o->actf[a], BNT_ROWS, BNT_C, (mfr_act)a, 0.3f, slope);
        o->fz[a] = malloc(n * sizeof(float));
        tu_ok(nn_bn_act_backward_batch(bn, u, dy, o->fz[a], BNT_ROWS, BNT_C, o->mean, o->var, o->scale, o->shift,
                                       (mfr_act)a, 0.3f, slope, o->fgamma[a], o->fbeta[a], o->fslope[a]));
    }
}

static void bn_passes_free(bn_pass_out *o)
{
    free(o->dz);
    free(o->edz);
    for (int a = 0; a < 8; a++) {
        free(o->act[a]);
        free(o->actf[a]);
        free(o->fz[a]);
    }
}

/* The chunked BN statistics, BN backward (batch and running statistics), bias
 * sums and activation passes give the same bytes at 1 and 3 threads. */
START_TEST(test_bn_act_passes_threads)
{
    mfr_net *net = parse("[input]\nheight = 1\nwidth = 1000\nchannels = 37\n[batchnorm]\n");
    size_t n = (size_t)BNT_ROWS * BNT_C;
    float *u = rand_floats(n, 301, 2, 4), *dy = rand_floats(n, 302, -1, 1), *slope = rand_floats(BNT_C, 303, 0, 0.5f);
    bn_pass_out *o1 = malloc(sizeof *o1), *o3 = malloc(sizeof *o3);
    randomize(net, 304);
    mfr_set_threads(1);
    bn_passes(&net->layers[1], u, dy, slope, o1);
    mfr_set_threads(3);
    bn_passes(&net->layers[1], u, dy, slope, o3);
    mfr_set_threads(0);
    ck_assert(memcmp(o1->mean, o3->mean, sizeof o1->mean * 10) == 0); /* the ten per-channel arrays */
    ck_assert(memcmp(o1->dz, o3->dz, n * sizeof(float)) == 0);
    ck_assert(memcmp(o1->edz, o3->edz, n * sizeof(float)) == 0);
    for (int a = 0; a < 8; a++) {
        ck_assert_msg(memcmp(o1->act[a], o3->act[a], n * sizeof(float)) == 0, "act backward %d", a);
        ck_assert_msg(memcmp(o1->actf[a], o3->actf[a], n * sizeof(float)) == 0, "act forward %d", a);
        ck_assert_msg(memcmp(o1->fz[a], o3->fz[a], n * sizeof(float)) == 0, "fused backward %d", a);
    }
    ck_assert(memcmp(o1->fgamma, o3->fgamma, sizeof o1->fgamma * 3) == 0);
    bn_passes_free(o1);
    bn_passes_free(o3);
    free(o1);
    free(o3);
    free(u);
    free(dy);
    free(slope);
    mfr_net_free(net);
}
END_TEST

static void close_to(double got, double want, double scale, double tol, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= tol * scale, "%s[%d]: %.9g, reference %.9g", what, i, got, want);
}

/* The same passes against plain double loops (activations: bitwise against
 * the scalar definitions mfr_act_scalar and nn_act_derivative). */
START_TEST(test_bn_act_passes_reference)
{
    mfr_net *net = parse("[input]\nheight = 1\nwidth = 1000\nchannels = 37\n[batchnorm]\n");
    const mfr_layer *bn = &net->layers[1];
    size_t n = (size_t)BNT_ROWS * BNT_C, rows = BNT_ROWS;
    float *u = rand_floats(n, 311, 2, 4), *dy = rand_floats(n, 312, -1, 1), *slope = rand_floats(BNT_C, 313, 0, 0.5f);
    bn_pass_out *o = malloc(sizeof *o);
    randomize(net, 314);
    mfr_set_threads(3);
    bn_passes(bn, u, dy, slope, o);
    mfr_set_threads(0);
    for (int i = 0; i < BNT_C; i++) {
        double m = 0, v = 0, sdz = 0, sdzx = 0, sdzu = 0, sdsl = 0, maxdz = 0, maxedz = 0, sigma, sig_run;
        double g = bn->params[MFR_P_GAMMA]->data[i], rm = bn->params[MFR_P_MEAN]->data[i];
        for (size_t r = 0; r < rows; r++)
            m += u[r * BNT_C + i];
        m /= (double)rows;
        for (size_t r = 0; r < rows; r++)
            v += (u[r * BNT_C + i] - m) * (u[r * BNT_C + i] - m);
        v /= (double)rows;
        close_to(o->mean[i], m, fabs(m), 1e-7, "mean", i);
        close_to(o->var[i], v, v, 1e-6, "var", i);
        close_to(o->scale[i], g / sqrt(v + bn->bn_eps), 1, 1e-6, "scale", i);
        /* backward with the statistics as the forward stored them (floats) */
        sigma = sqrt((double)o->var[i] + bn->bn_eps);
        sig_run = sqrt((double)bn->params[MFR_P_VAR]->data[i] + bn->bn_eps);
        for (size_t r = 0; r < rows; r++) {
            double d = dy[r * BNT_C + i], z = u[r * BNT_C + i] - 3.0f;
            sdz += d;
            sdzx += d * (u[r * BNT_C + i] - (double)o->mean[i]) / sigma;
            sdzu += d * (u[r * BNT_C + i] - rm) / sig_run;
            sdsl += z < 0 ? d * z : 0;
        }
        close_to(o->dbeta[i], sdz, 1 + fabs(sdz), 1e-6, "dbeta", i);
        close_to(o->dgamma[i], sdzx, 1 + fabs(sdzx), 1e-6, "dgamma", i);
        close_to(o->ebeta[i], sdz, 1 + fabs(sdz), 1e-6, "dbeta (running)", i);
        close_to(o->egamma[i], sdzu, 1 + fabs(sdzu), 1e-6, "dgamma (running)", i);
        close_to(o->dbias[i], sdz, 1 + fabs(sdz), 1e-6, "bias sum", i);
        close_to(o->dslope[i], sdsl, 1 + fabs(sdsl), 1e-6, "dslope", i);
        for (size_t r = 0; r < rows; r++) {
            double x = (u[r * BNT_C + i] - (double)o->mean[i]) / sigma;
            double want = g / sigma * (dy[r * BNT_C + i] - sdz / (double)rows - x * sdzx / (double)rows);
            maxdz = fmax(maxdz, fabs(o->dz[r * BNT_C + i] - want));
            maxedz = fmax(maxedz, fabs(o->edz[r * BNT_C + i] - (float)(dy[r * BNT_C + i] * (double)o->scale[i])));
        }
        /* |dz| is about g / sigma < 3: a few float roundings */
        close_to(maxdz, 0, 1, 1e-6, "dz (batch) max error", i);
        close_to(maxedz, 0, 1, 0, "dz (running) max error", i); /* one float product */
    }
    /* the fused backward: d = dy act'(z), z = u scale + shift, through the
     * batch statistics as above, in double */
    for (int a = 0; a < 8; a++)
        for (int i = 0; i < BNT_C; i++) {
            double sd = 0, sdx = 0, ssl = 0, sigma = sqrt((double)o->var[i] + bn->bn_eps), maxe = 0;
            double g = bn->params[MFR_P_GAMMA]->data[i];
            for (size_t r = 0; r < rows; r++) {
                size_t j = r * BNT_C + (size_t)i;
                float z = fmaf(u[j], o->scale[i], o->shift[i]);
                double d = (double)dy[j] * nn_act_derivative(z, (mfr_act)a, 0.3f, slope[i]);
                sd += d;
                sdx += d * (u[j] - (double)o->mean[i]) / sigma;
                ssl += z < 0 ? (double)dy[j] * z : 0;
            }
            close_to(o->fbeta[a][i], sd, 1 + fabs(sd), 1e-6, "fused dbeta", i);
            close_to(o->fgamma[a][i], sdx, 1 + fabs(sdx), 1e-6, "fused dgamma", i);
            if (a == MFR_ACT_PRELU)
                close_to(o->fslope[a][i], ssl, 1 + fabs(ssl), 1e-6, "fused dslope", i);
            for (size_t r = 0; r < rows; r++) {
                size_t j = r * BNT_C + (size_t)i;
                float z = fmaf(u[j], o->scale[i], o->shift[i]);
                double d = (double)dy[j] * nn_act_derivative(z, (mfr_act)a, 0.3f, slope[i]);
                double x = (u[j] - (double)o->mean[i]) / sigma;
                double want = g / sigma * (d - sd / (double)rows - x * sdx / (double)rows);
                maxe = fmax(maxe, fabs(o->fz[a][j] - want));
            }
            close_to(maxe, 0, 1, 1e-6, "fused dz max error", i);
        }
    for (int a = 0; a < 8; a++)
        for (size_t j = 0; j < n; j++) {
            float z = u[j] - 3.0f, s = slope[j % BNT_C];
            float want = dy[j] * nn_act_derivative(z, (mfr_act)a, 0.3f, s);
            float fwd = mfr_act_scalar(4.0f * z, (mfr_act)a, 0.3f, s);
            ck_assert_msg(memcmp(&o->act[a][j], &want, sizeof want) == 0, "act %d backward at %zu", a, j);
            ck_assert_msg(memcmp(&o->actf[a][j], &fwd, sizeof fwd) == 0, "act %d forward at %zu", a, j);
        }
    bn_passes_free(o);
    free(o);
    free(u);
    free(dy);
    free(slope);
    mfr_net_free(net);
}
END_TEST

/* The same gradient bytes at 1, 2 and 3 threads. */
START_TEST(test_gradients_threads)
{
    mfr_net *net = load_model_def("models/detector.cfg");
    const mfr_layer *in = &net->layers[0];
    size_t nx = (size_t)in->h * in->w * in->c;
    float *x = rand_floats(nx, 81, -1, 1), *r[9], *first = NULL;
    const float *ins[1] = {x};
    size_t total = 0;
    randomize(net, 82);
    for (int o = 0; o < 9; o++) {
        const mfr_layer *l = &net->layers[mfr_net_output_layer(net, o)];
        r[o] = rand_floats((size_t)l->h * l->w * l->c, 83 + (uint64_t)o, -1, 1);
    }
    for (int p = 0; p < mfr_net_param_count(net); p++)
        total += mfr_net_param(net, p)->size;
    for (int t = 1; t <= 3; t++) {
        mfr_grad *g;
        float *all = malloc((total + nx) * sizeof *all), *at = all;
        mfr_set_threads(t);
        tu_ok(mfr_grad_create(net, 1, &g));
        tu_ok(mfr_grad_forward(g, ins, 1));
        tu_ok(mfr_grad_backward(g, (const float *const *)r));
        for (int p = 0; p < mfr_net_param_count(net); p++) {
            memcpy(at, mfr_grad_param(g, p)->data, mfr_grad_param(g, p)->size * sizeof *at);
            at += mfr_grad_param(g, p)->size;
        }
        memcpy(at, mfr_grad_layer(g, 0), nx * sizeof *at);
        if (!first)
            first = all;
        else {
            ck_assert_msg(memcmp(first, all, (total + nx) * sizeof *all) == 0, "gradients differ at %d threads", t);
            free(all);
        }
        mfr_grad_free(g);
    }
    mfr_set_threads(0);
    free(first);
    free(x);
    for (int o = 0; o < 9; o++)
        free(r[o]);
    mfr_net_free(net);
}
END_TEST

static Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_each_op);
    tcase_add_test(tc, test_fusion_and_folding);
    tcase_add_test(tc, test_exec_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("networks");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_mobilefacenet);
    tcase_add_test(tc, test_detector);
    tcase_add_test(tc, test_threads_bitwise);
    tcase_add_test(tc, test_memory_plan);
    tcase_add_test(tc, test_memplan_random);
    tcase_add_test(tc, test_init_deterministic);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gradients_each_op);
    tcase_add_test(tc, test_gradients_block);
    tcase_add_test(tc, test_gradients_threads);
    tcase_add_test(tc, test_batch_norm_training);
    tcase_add_test(tc, test_bn_act_passes_threads);
    tcase_add_test(tc, test_bn_act_passes_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_model_round_trip);
    tcase_add_test(tc, test_model_truncation);
    tcase_add_test(tc, test_model_flipped_bytes);
    tcase_add_test(tc, test_model_header_fields);
    tcase_add_test(tc, test_model_by_hand);
    tcase_add_test(tc, test_definition_errors);
    tcase_add_test(tc, test_definition_round_trip);
    tcase_add_test(tc, test_builder);
    tcase_add_test(tc, test_exec_reload_weights);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(nn_suite());
    tu_cleanup();
    return rc;
}
