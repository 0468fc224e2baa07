/* The op table and the helpers the ops share (keys, windows, batch norm,
 * activations). Each op itself lives in its own op_*.c file. */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/kernels/chanpass.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern const nn_opdef nn_op_input, nn_op_conv, nn_op_dwconv, nn_op_fc, nn_op_batchnorm, nn_op_relu, nn_op_relu6,
    nn_op_leaky, nn_op_prelu, nn_op_sigmoid, nn_op_tanh, nn_op_hswish, nn_op_maxpool, nn_op_avgpool, nn_op_gap,
    nn_op_upsample, nn_op_add, nn_op_mul, nn_op_concat, nn_op_slice, nn_op_reshape, nn_op_flatten, nn_op_softmax,
    nn_op_l2norm, nn_op_dropout;

static const nn_opdef *const op_table[] = {
    &nn_op_input,   &nn_op_conv,    &nn_op_dwconv,  &nn_op_fc,      &nn_op_batchnorm, &nn_op_relu,
    &nn_op_relu6,   &nn_op_leaky,   &nn_op_prelu,   &nn_op_sigmoid, &nn_op_tanh,      &nn_op_hswish,
    &nn_op_maxpool, &nn_op_avgpool, &nn_op_gap,     &nn_op_upsample, &nn_op_add,      &nn_op_mul,
    &nn_op_concat,  &nn_op_slice,   &nn_op_reshape, &nn_op_flatten, &nn_op_softmax,   &nn_op_l2norm,
    &nn_op_dropout, NULL,
};

const nn_opdef *nn_opdef_at(int i)
{
    if (i < 0 || i >= (int)(sizeof op_table / sizeof op_table[0]))
        return NULL;
    return op_table[i];
}

const nn_opdef *nn_opdef_find(const char *section)
{
    for (int i = 0; op_table[i]; i++)
        if (strcmp(op_table[i]->name, section) == 0)
            return op_table[i];
    return NULL;
}

const nn_opdef *nn_opdef_of(const mfr_layer *l)
{
    for (int i = 0; op_table[i]; i++)
        if (op_table[i]->op == l->op && (l->op != MFR_OP_ACT || op_table[i]->act == l->act))
            return op_table[i];
    return &nn_op_relu; /* an ACT layer with act none: treated as relu by nobody; see defaults */
}

const char *mfr_op_name(mfr_op op, mfr_act act)
{
    for (int i = 0; op_table[i]; i++)
        if (op_table[i]->op == op && (op != MFR_OP_ACT || op_table[i]->act == act))
            return op_table[i]->name;
    return op == MFR_OP_ACT ? "activation" : "?";
}

void nn_layer_defaults(mfr_layer *l, mfr_op op, mfr_act act)
{
    l->op = op;
    l->act = op == MFR_OP_ACT ? act : MFR_ACT_NONE;
    l->act_param = 0.1f;
    l->kh = l->kw = 1;
    l->stride_h = l->stride_w = 1;
    l->dil_h = l->dil_w = 1;
    l->groups = 1;
    l->has_bias = 1;
    l->bn_eps = 1e-5f;
    l->scale = 2;
    l->eps = 1e-12f;
    l->dropout_p = 0.5f;
    if (op == MFR_OP_DWCONV)
        l->kh = l->kw = 3;
    if (op == MFR_OP_MAXPOOL || op == MFR_OP_AVGPOOL)
        l->kh = l->kw = l->stride_h = l->stride_w = 2;
}

int nn_threads_for(size_t work)
{
    return work < (1u << 15) ? 1 : mfr_threads();
}

/* ----------------------------------------------------------- keys */

int nn_parse_nothing(mfr_ini *ini, int sec, mfr_layer *l)
{
    (void)ini;
    (void)sec;
    (void)l;
    return MFR_OK;
}

void nn_write_nothing(FILE *fp, const mfr_layer *l)
{
    (void)fp;
    (void)l;
}

static const char *const act_names[] = {"none", "relu", "relu6", "leaky", "prelu", "sigmoid", "tanh", "hswish", NULL};

int nn_parse_act(mfr_ini *ini, int sec, mfr_layer *l)
{
    int a, rc;
    double slope;
    if ((rc = mfr_ini_get_choice(ini, sec, "activation", act_names, (int)l->act, &a)) != MFR_OK)
        return rc;
    l->act = (mfr_act)a;
    if (l->act == MFR_ACT_LEAKY) {
        if ((rc = mfr_ini_get_double(ini, sec, "slope", l->act_param, -1e3, 1e3, &slope)) != MFR_OK)
            return rc;
        l->act_param = (float)slope;
    }
    return MFR_OK;
}

void nn_write_act(FILE *fp, const mfr_layer *l)
{
    if (l->act != MFR_ACT_NONE)
        fprintf(fp, "activation = %s\n", act_names[l->act]);
    if (l->act == MFR_ACT_LEAKY)
        fprintf(fp, "slope = %.9g\n", l->act_param);
}

/* "3" or "3,5": one value for both, or height then width. */
static int get_pair(mfr_ini *ini, int sec, const char *key, int lo, int hi, int *a, int *b)
{
    double v[2];
    int n, rc;
    if ((rc = mfr_ini_get_doubles(ini, sec, key, lo, hi, v, 2, &n)) != MFR_OK)
        return rc;
    for (int i = 0; i < n; i++)
        if (v[i] != floor(v[i]))
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "%s: %g is not an integer", key, v[i]);
    if (n >= 1)
        *a = *b = (int)v[0];
    if (n == 2)
        *b = (int)v[1];
    return MFR_OK;
}

int nn_parse_window(mfr_ini *ini, int sec, mfr_layer *l, int dilation)
{
    int rc;
    const char *pad;
    if ((rc = get_pair(ini, sec, "size", 1, NN_MAX_KERNEL, &l->kh, &l->kw)) != MFR_OK ||
        (rc = get_pair(ini, sec, "stride", 1, NN_MAX_KERNEL, &l->stride_h, &l->stride_w)) != MFR_OK)
        return rc;
    if (dilation && (rc = get_pair(ini, sec, "dilation", 1, NN_MAX_KERNEL, &l->dil_h, &l->dil_w)) != MFR_OK)
        return rc;
    pad = mfr_ini_get(ini, sec, "pad");
    if (pad && strcmp(pad, "same") == 0) {
        l->pad_same = 1;
    } else if (pad) {
        double v[4];
        int n;
        if ((rc = mfr_ini_get_doubles(ini, sec, "pad", 0, NN_MAX_KERNEL, v, 4, &n)) != MFR_OK)
            return rc;
        for (int i = 0; i < n; i++)
            if (v[i] != floor(v[i]))
                return mfr_ini_error(ini, sec, "pad", MFR_ERR_FORMAT, "pad: %g is not an integer", v[i]);
        if (n == 1) {
            l->pad_top = l->pad_bottom = l->pad_left = l->pad_right = (int)v[0];
        } else if (n == 2) {
            l->pad_top = l->pad_bottom = (int)v[0];
            l->pad_left = l->pad_right = (int)v[1];
        } else if (n == 4) {
            l->pad_top = (int)v[0];
            l->pad_left = (int)v[1];
            l->pad_bottom = (int)v[2];
            l->pad_right = (int)v[3];
        } else {
            return mfr_ini_error(ini, sec, "pad", MFR_ERR_FORMAT,
                                 "pad: expected 'same', one value, 'vertical, horizontal' or 'top, left, bottom, right'");
        }
    }
    return MFR_OK;
}

static void write_pair(FILE *fp, const char *key, int a, int b, int def)
{
    if (a == b && a != def)
        fprintf(fp, "%s = %d\n", key, a);
    else if (a != b)
        fprintf(fp, "%s = %d, %d\n", key, a, b);
}

void nn_write_window(FILE *fp, const mfr_layer *l, int dilation)
{
    write_pair(fp, "size", l->kh, l->kw, -1);
    write_pair(fp, "stride", l->stride_h, l->stride_w, 1);
    if (dilation)
        write_pair(fp, "dilation", l->dil_h, l->dil_w, 1);
    if (l->pad_same)
        fprintf(fp, "pad = same\n");
    else if (l->pad_top == l->pad_bottom && l->pad_left == l->pad_right && l->pad_top == l->pad_left) {
        if (l->pad_top)
            fprintf(fp, "pad = %d\n", l->pad_top);
    } else if (l->pad_top == l->pad_bottom && l->pad_left == l->pad_right)
        fprintf(fp, "pad = %d, %d\n", l->pad_top, l->pad_left);
    else
        fprintf(fp, "pad = %d, %d, %d, %d\n", l->pad_top, l->pad_left, l->pad_bottom, l->pad_right);
}

static int window_dim(int in, int k, int s, int d, int *pa, int *pb, int same, int *out)
{
    long eff = (long)(k - 1) * d + 1;
    if (same) {
        long o = (in + s - 1) / s;
        long total = (o - 1) * s + eff - in;
        if (total < 0)
            total = 0;
        *pa = (int)(total / 2);
        *pb = (int)(total - total / 2);
        *out = (int)o;
        return 0;
    }
    if ((long)in + *pa + *pb < eff)
        return -1;
    *out = (int)(((long)in + *pa + *pb - eff) / s + 1);
    return 0;
}

int nn_window_out(const mfr_net *net, mfr_layer *l, int in_h, int in_w, int *oh, int *ow)
{
    if (window_dim(in_h, l->kh, l->stride_h, l->dil_h, &l->pad_top, &l->pad_bottom, l->pad_same, oh) < 0 ||
        window_dim(in_w, l->kw, l->stride_w, l->dil_w, &l->pad_left, &l->pad_right, l->pad_same, ow) < 0)
        return nn_layer_error(net, l, MFR_ERR_FORMAT,
                              "a %dx%d window (dilation %dx%d) does not fit the %dx%d input with padding %d,%d,%d,%d",
                              l->kh, l->kw, l->dil_h, l->dil_w, in_h, in_w, l->pad_top, l->pad_left, l->pad_bottom,
                              l->pad_right);
    return MFR_OK;
}

/* ------------------------------------------------- batch norm, activations */

int nn_bn_scale_shift(const mfr_layer *l, int c, float **scale, float **shift)
{
    const float *g = l->params[MFR_P_GAMMA]->data, *b = l->params[MFR_P_BETA]->data;
    const float *m = l->params[MFR_P_MEAN]->data, *v = l->params[MFR_P_VAR]->data;
    *scale = mfr_alloc((size_t)c * sizeof(float));
    *shift = mfr_alloc((size_t)c * sizeof(float));
    if (!*scale || !*shift) {
        mfr_free(*scale);
        mfr_free(*shift);
        *scale = *shift = NULL;
        return MFR_ERR_NOMEM;
    }
    for (int i = 0; i < c; i++) {
        double var = (double)v[i] + (double)l->bn_eps;
        double s = var > 0 ? (double)g[i] / sqrt(var) : NAN;
        (*scale)[i] = (float)s;
        (*shift)[i] = (float)((double)b[i] - (double)m[i] * s);
    }
    return MFR_OK;
}

/* Rows per chunk of a per-channel reduction. A constant, never derived from
 * the thread count: each chunk's partial sums are computed in row order by
 * whichever thread gets it, then the partials are added in chunk order, so the
 * result has the same bits at any thread count (see docs/nn.md). */
#define NN_CHUNK_ROWS 256

static size_t chunk_count(size_t rows)
{
    return rows / NN_CHUNK_ROWS + (rows % NN_CHUNK_ROWS != 0);
}

/* The row after the chunk that starts at row r0. */
static size_t chunk_end(size_t r0, size_t rows)
{
    return r0 + NN_CHUNK_ROWS < rows ? r0 + NN_CHUNK_ROWS : rows;
}

/* Per-chunk partial sums: nchunks x nsums x c doubles, zeroed. */
static double *chunk_partials(size_t nchunks, int nsums, int c)
{
    return mfr_calloc(nchunks * (size_t)nsums * (size_t)c, sizeof(double));
}

/* sum[j][i] = the partials part[k][j][i] added in chunk order k. */
static void chunk_merge(const double *part, size_t nchunks, int nsums, int c, double *sum)
{
    size_t width = (size_t)nsums * (size_t)c;
    memset(sum, 0, width * sizeof *sum);
    for (size_t k = 0; k < nchunks; k++) {
        const double *p = part + k * width;
        NN_SIMD
        for (size_t j = 0; j < width; j++)
            sum[j] += p[j];
    }
}

void nn_apply_scale_shift(float *x, size_t rows, int c, const float *scale, const float *shift)
{
    long nr = (long)rows;
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long r = 0; r < nr; r++) {
        float *restrict row = x + (size_t)r * (size_t)c;
        const float *restrict sc = scale, *restrict sh = shift;
        NN_SIMD
        for (int i = 0; i < c; i++)
            row[i] = row[i] * sc[i] + sh[i];
    }
}

/* Activations over n contiguous values, one loop per type with the same
 * expressions as mfr_act_scalar (so the same bits); sigmoid and tanh call the
 * scalar code (libm calls do not vectorise without -ffast-math). */
static void act_span(float *restrict x, size_t n, mfr_act act, float param)
{
    switch (act) {
    case MFR_ACT_RELU:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            x[j] = x[j] > 0.0f ? x[j] : 0.0f;
        return;
    case MFR_ACT_RELU6:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            x[j] = x[j] > 0.0f ? (x[j] < 6.0f ? x[j] : 6.0f) : 0.0f;
        return;
    case MFR_ACT_LEAKY:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            x[j] = nn_pick(x[j] < 0.0f, param * x[j], x[j]);
        return;
    case MFR_ACT_HSWISH:
        NN_SIMD
        for (size_t j = 0; j < n; j++) {
            float r = x[j] + 3.0f;
            r = r > 0.0f ? (r < 6.0f ? r : 6.0f) : 0.0f;
            x[j] = x[j] * r / 6.0f;
        }
        return;
    default:
        for (size_t j = 0; j < n; j++)
            x[j] = mfr_act_scalar(x[j], act, param, 0.0f);
        return;
    }
}

void nn_apply_act(float *x, size_t rows, int c, mfr_act act, float param, const float *prelu)
{
    long nr = (long)rows, nchunks = (long)chunk_count(rows);
    if (act == MFR_ACT_NONE)
        return;
    if (act == MFR_ACT_PRELU && prelu) {
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
        for (long r = 0; r < nr; r++) {
            float *restrict row = x + (size_t)r * (size_t)c;
            NN_SIMD
            for (int i = 0; i < c; i++)
                row[i] = nn_pick(row[i] < 0.0f, prelu[i] * row[i], row[i]);
        }
        return;
    }
    /* Chunks of rows only to give the threads big contiguous spans. */
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        act_span(x + r0 * (size_t)c, (r1 - r0) * (size_t)c, act, param);
    }
}

/* ---------------------------------------------------------- gradients */

float nn_act_derivative(float z, mfr_act act, float param, float slope)
{
    return mfr_act_derivative_scalar(z, act, param, slope);
}

/* dz = dy * act'(z) over n contiguous values (not PReLU): one loop per type,
 * each the same expression as nn_act_derivative. z and dz may be the same. */
static void act_backward_span(const float *z, const float *dy, float *dz, size_t n, mfr_act act, float param)
{
    switch (act) {
    case MFR_ACT_NONE:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            dz[j] = dy[j] * 1.0f;
        return;
    case MFR_ACT_RELU:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            dz[j] = dy[j] * nn_pick(z[j] > 0.0f, 1.0f, 0.0f);
        return;
    case MFR_ACT_RELU6:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            dz[j] = dy[j] * nn_pick((z[j] > 0.0f) & (z[j] < 6.0f), 1.0f, 0.0f);
        return;
    case MFR_ACT_LEAKY:
        NN_SIMD
        for (size_t j = 0; j < n; j++)
            dz[j] = dy[j] * nn_pick(z[j] < 0.0f, param, 1.0f);
        return;
    case MFR_ACT_HSWISH:
        NN_SIMD
        for (size_t j = 0; j < n; j++) {
            float zj = z[j], d = nn_pick(zj > 3.0f, 1.0f, (2.0f * zj + 3.0f) / 6.0f);
            dz[j] = dy[j] * nn_pick(zj < -3.0f, 0.0f, d);
        }
        return;
    default:
        for (size_t j = 0; j < n; j++)
            dz[j] = dy[j] * nn_act_derivative(z[j], act, param, 0.0f);
        return;
    }
}

/* PReLU over rows r0..r1: adds sum dy z (z < 0) to part[i], then dz = dy *
 * (z < 0 ? slope : 1). Row by row, so z is read before dz overwrites it. */
static void prelu_backward_rows(const float *z, const float *dy, float *dz, size_t r0, size_t r1, int c,
                                const float *prelu, double *part)
{
    for (size_t r = r0; r < r1; r++) {
        size_t o = r * (size_t)c;
        if (part) {
            NN_SIMD
            for (int i = 0; i < c; i++) {
                /* z >= 0 adds dy * 0 */
                float zneg = nn_pick(z[o + (size_t)i] < 0.0f, z[o + (size_t)i], 0.0f);
                part[i] += (double)dy[o + (size_t)i] * (double)zneg;
            }
        }
        if (prelu) {
            NN_SIMD
            for (int i = 0; i < c; i++)
                dz[o + (size_t)i] = dy[o + (size_t)i] * nn_pick(z[o + (size_t)i] < 0.0f, prelu[i], 1.0f);
        } else {
            for (int i = 0; i < c; i++)
                dz[o + (size_t)i] = dy[o + (size_t)i] * nn_pick(z[o + (size_t)i] < 0.0f, 0.0f, 1.0f);
        }
    }
}

int nn_act_backward(const float *z, const float *dy, float *dz, size_t rows, int c, mfr_act act, float param,
                    const float *prelu, float *dslope)
{
    long nchunks = (long)chunk_count(rows);
    double *part = NULL, *sum;
    if (act == MFR_ACT_PRELU && dslope) {
        part = chunk_partials((size_t)nchunks + 1, 1, c);
        if (!part)
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        if (act == MFR_ACT_PRELU)
            prelu_backward_rows(z, dy, dz, r0, r1, c, prelu, part ? part + (size_t)k * (size_t)c : NULL);
        else
            act_backward_span(z + o, dy + o, dz + o, (r1 - r0) * (size_t)c, act, param);
    }
    if (part) {
        sum = part + (size_t)nchunks * (size_t)c;
        chunk_merge(part, (size_t)nchunks, 1, c, sum);
        for (int i = 0; i < c; i++)
            dslope[i] += (float)sum[i];
        mfr_free(part);
    }
    return MFR_OK;
}

/* What the batch-norm passes sum per chunk (see chanpass.h): CH_SUM: x;
 * CH_SQDEV: (x - m)^2; CH_DZ_DEV: dz and dz (u - m). */
enum { CH_SUM = CHANPASS_SUM, CH_SQDEV = CHANPASS_SQDEV, CH_DZ_DEV = CHANPASS_DZ_DEV, CH_SUM_SQ = CHANPASS_SUM_SQ };

/* Per-channel sums over rows x c (chunked; see NN_CHUNK_ROWS) into sum
 * (nsums x c doubles). */
static int channel_sums(int what, const float *x, const float *dz, size_t rows, int c, const double *m, double *sum)
{
    int nsums = what == CH_DZ_DEV || what == CH_SUM_SQ ? 2 : 1;
    long nchunks = (long)chunk_count(rows);
    double *part = chunk_partials((size_t)nchunks, nsums, c);
    const chanpass_ops *cp = chanpass_for(mfr_isa_best());
    if (!part)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        cp->sums(what, x + r0 * (size_t)c, dz ? dz + r0 * (size_t)c : NULL, r1 - r0, c, m,
                 part + (size_t)k * (size_t)nsums * (size_t)c);
    }
    chunk_merge(part, (size_t)nchunks, nsums, c, sum);
    mfr_free(part);
    return MFR_OK;
}

int nn_channel_sum(const float *x, size_t rows, int c, float *sum)
{
    double *s = mfr_alloc((size_t)c * sizeof *s);
    int rc = s ? channel_sums(CH_SUM, x, NULL, rows, c, NULL, s) : mfr_error(MFR_ERR_NOMEM, "out of memory");
    if (rc == MFR_OK)
        for (int i = 0; i < c; i++)
            sum[i] += (float)s[i];
    mfr_free(s);
    return rc;
}

/* dz = k1 dz + k2 (u - m) + k3 per channel, in float (the batch-norm
 * backward's last pass; k2 = k3 = 0 for running statistics). */
static void bn_backward_apply(const float *u, float *dz, size_t rows, int c, const float *m, const float *k1,
                              const float *k2, const float *k3)
{
    long nchunks = (long)chunk_count(rows);
    const chanpass_ops *cp = chanpass_for(mfr_isa_best());
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        cp->bn_apply(u + o, dz + o, r1 - r0, c, m, k1, k2, k3);
    }
}

/* out = act(in * scale + shift) (one fused multiply-add) per channel; the
 * forward of an unfolded batch norm and its activation, in one pass. */
void nn_scale_shift_act(const float *in, float *out, size_t rows, int c, const float *scale, const float *shift,
                        mfr_act act, float param, const float *prelu)
{
    long nchunks = (long)chunk_count(rows);
    const chanpass_ops *cp = chanpass_for(mfr_isa_best());
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        cp->scale_shift_act(in + o, out + o, r1 - r0, c, scale, shift, act, param, prelu);
    }
}

void nn_scale_shift_act_backward(const float *u, const float *dy, float *dz, size_t rows, int c,
                                 const float *scale, const float *shift, mfr_act act, float param)
{
    long nchunks = (long)chunk_count(rows);
    const chanpass_ops *cp = chanpass_for(mfr_isa_best());
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long k = 0; k < nchunks; k++) {
        size_t r0 = (size_t)k * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        cp->act_backward(u + o, dy + o, dz + o, r1 - r0, c, scale, shift, act, param);
    }
}

int nn_bn_backward(const mfr_layer *bn, const float *u, float *dz, size_t rows, int c, const float *scale,
                   float *dgamma, float *dbeta)
{
    const float *mean = bn->params[MFR_P_MEAN]->data, *var = bn->params[MFR_P_VAR]->data;
    double *s = mfr_alloc((size_t)c * 3 * sizeof *s), *m = s + 2 * c;
    long nr = (long)rows;
    int rc = MFR_OK;
    if (!s)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    if (dgamma || dbeta) {
        for (int i = 0; i < c; i++)
            m[i] = mean[i];
        rc = channel_sums(CH_DZ_DEV, u, dz, rows, c, m, s);
        for (int i = 0; rc == MFR_OK && i < c; i++) {
            if (dgamma)
                dgamma[i] += (float)(s[c + i] / sqrt((double)var[i] + bn->bn_eps));
            if (dbeta)
                dbeta[i] += (float)s[i];
        }
    }
    mfr_free(s);
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long r = 0; r < nr; r++) {
        float *restrict dr = dz + (size_t)r * (size_t)c;
        NN_SIMD
        for (int i = 0; i < c; i++)
            dr[i] *= scale[i];
    }
    return rc;
}

int nn_bn_batch_stats(const mfr_layer *bn, const float *u, size_t rows, int c, float *mean, float *var, float *scale,
                      float *shift)
{
    double *sum = mfr_alloc((size_t)c * 2 * sizeof *sum), *sq = sum + c;
    const float *g = bn->params[MFR_P_GAMMA]->data, *b = bn->params[MFR_P_BETA]->data;
    int rc;
    if (!sum)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    /* One pass: sums of d = u - k and d^2 around k = the first row (a value
     * of the batch, so within a few standard deviations of the mean; in
     * double, the subtraction mean(d^2) - mean(d)^2 then loses only a few of
     * 53 bits). */
    double *k = mfr_alloc((size_t)c * sizeof *k);
    if (!k) {
        mfr_free(sum);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < c; i++)
        k[i] = rows ? (double)u[i] : 0.0;
    rc = channel_sums(CH_SUM_SQ, u, NULL, rows, c, k, sum);
    for (int i = 0; rc == MFR_OK && i < c; i++) {
        double md = sum[i] / (double)rows, v = fmax(sq[i] / (double)rows - md * md, 0.0);
        double s = (double)g[i] / sqrt(v + (double)bn->bn_eps);
        sum[i] = k[i] + md;
        mean[i] = (float)sum[i];
        var[i] = (float)v;
        scale[i] = (float)s;
        shift[i] = (float)((double)b[i] - sum[i] * s);
    }
    mfr_free(k);
    mfr_free(sum);
    return rc;
}

int nn_bn_backward_batch(const mfr_layer *bn, const float *u, float *dz, size_t rows, int c, const float *mean,
                         const float *var, float *dgamma, float *dbeta)
{
    /* xhat = (u - mean) / sigma; du = gamma / sigma (dz - mean(dz) - xhat mean(dz xhat)),
     * i.e. du = k1 dz + k2 (u - mean) + k3 with per-channel constants from two sums. */
    double *s = mfr_alloc((size_t)c * 3 * sizeof *s), *m = s + 2 * c;
    float *k = mfr_alloc((size_t)c * 3 * sizeof *k);
    const float *g = bn->params[MFR_P_GAMMA]->data;
    double n = (double)rows;
    int rc;
    if (!s || !k) {
        mfr_free(s);
        mfr_free(k);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < c; i++)
        m[i] = mean[i];
    rc = channel_sums(CH_DZ_DEV, u, dz, rows, c, m, s);
    for (int i = 0; rc == MFR_OK && i < c; i++) {
        double inv = 1.0 / sqrt((double)var[i] + bn->bn_eps), sdz = s[i], sdzx = s[c + i] * inv;
        double k1 = (double)g[i] * inv;
        if (dgamma)
            dgamma[i] += (float)sdzx;
        if (dbeta)
            dbeta[i] += (float)sdz;
        k[i] = (float)k1;
        k[c + i] = (float)(-k1 * inv * sdzx / n);
        k[2 * c + i] = (float)(-k1 * sdz / n);
    }
    if (rc == MFR_OK)
        bn_backward_apply(u, dz, rows, c, mean, k, k + c, k + 2 * c);
    mfr_free(s);
    mfr_free(k);
    return rc;
}

int nn_bn_act_backward_batch(const mfr_layer *bn, const float *u, const float *dy, float *dz, size_t rows, int c,
                             const float *mean, const float *var, const float *scale, const float *shift, mfr_act act,
                             float param, const float *prelu, float *dgamma, float *dbeta, float *dslope)
{
    /* As nn_bn_backward_batch, with dz = dy * act'(z) recomputed in both
     * passes instead of stored: two passes over u and dy instead of five. */
    const chanpass_ops *cp = chanpass_for(mfr_isa_best());
    chanpass_bnact b = {scale, shift, act, param, prelu};
    int slope_sum = act == MFR_ACT_PRELU && dslope, nsums = slope_sum ? 3 : 2;
    long nchunks = (long)chunk_count(rows);
    double *part = chunk_partials((size_t)nchunks + 1, nsums, c), *s, *m = mfr_alloc((size_t)c * sizeof *m);
    float *k = mfr_alloc((size_t)c * 3 * sizeof *k);
    const float *g = bn->params[MFR_P_GAMMA]->data;
    double n = (double)rows;
    if (!part || !m || !k) {
        mfr_free(part);
        mfr_free(m);
        mfr_free(k);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < c; i++)
        m[i] = mean[i];
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long j = 0; j < nchunks; j++) {
        size_t r0 = (size_t)j * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        cp->bnact_sums(u + o, dy + o, r1 - r0, c, &b, m, slope_sum, part + (size_t)j * (size_t)nsums * (size_t)c);
    }
    s = part + (size_t)nchunks * (size_t)nsums * (size_t)c;
    chunk_merge(part, (size_t)nchunks, nsums, c, s);
    for (int i = 0; i < c; i++) {
        double inv = 1.0 / sqrt((double)var[i] + bn->bn_eps), sdz = s[i], sdzx = s[c + i] * inv;
        double k1 = (double)g[i] * inv;
        if (dgamma)
            dgamma[i] += (float)sdzx;
        if (dbeta)
            dbeta[i] += (float)sdz;
        if (slope_sum)
            dslope[i] += (float)s[2 * c + i];
        k[i] = (float)k1;
        k[c + i] = (float)(-k1 * inv * sdzx / n);
        k[2 * c + i] = (float)(-k1 * sdz / n);
    }
#pragma omp parallel for num_threads(nn_threads_for(rows * (size_t)c)) schedule(static)
    for (long j = 0; j < nchunks; j++) {
        size_t r0 = (size_t)j * NN_CHUNK_ROWS, r1 = chunk_end(r0, rows);
        size_t o = r0 * (size_t)c;
        cp->bnact_apply(u + o, dy + o, dz + o, r1 - r0, c, &b, mean, k, k + c, k + 2 * c);
    }
    mfr_free(part);
    mfr_free(m);
    mfr_free(k);
    return MFR_OK;
}

int nn_bn_train_alloc(nn_step *s, int c)
{
    if (!s->bn_train)
        return MFR_OK;
    s->bn_mean = mfr_calloc((size_t)c, sizeof(float));
    s->bn_var = mfr_calloc((size_t)c, sizeof(float));
    return s->bn_mean && s->bn_var ? MFR_OK : MFR_ERR_NOMEM;
}
