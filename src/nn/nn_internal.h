/* Inside src/nn: the op table and the compiled step every op works on.
 *
 * Each op is one unit (kann style) described by an nn_opdef: how it reads
 * and writes its keys in a network definition, how it infers its output
 * shape and declares its parameters, how it prepares (prepacks) itself at
 * compile time and how it runs forward. Backward passes (issue #6) get
 * their own slot in nn_opdef next to forward. */
#ifndef MFR_NN_INTERNAL_H
#define MFR_NN_INTERNAL_H

#include "mfr/nn.h"
#include "nn/memplan.h"

#include <stdint.h>
#include <string.h>

/* Fixed limits that keep a hostile definition from asking for absurd work. */
#define NN_MAX_LAYERS 100000
#define NN_MAX_DIM 65536            /* any height, width or channel count */
#define NN_MAX_KERNEL 255
#define NN_MAX_ELEMS (1ull << 31)   /* elements of one tensor or activation per sample */
#define NN_NAME_MAX 255

/* One step of a compiled network: a main layer plus the layers fused into
 * it (a folded batch norm, a residual add, an activation). */
typedef struct nn_step {
    int layer;                  /* main layer index */
    const mfr_layer *l;
    const mfr_net *net;
    int fused[3];               /* absorbed layers, in order */
    int n_fused;
    const float *in[MFR_LAYER_MAX_INPUTS];  /* inputs in the arena */
    int in_h[MFR_LAYER_MAX_INPUTS], in_w[MFR_LAYER_MAX_INPUTS], in_c[MFR_LAYER_MAX_INPUTS];
    float *out;                 /* output in the arena */
    int max_batch;

    /* conv / fc state prepared by compile */
    mfr_conv_plan *plan;
    mfr_packed_b *packed;
    float *bias;                /* folded bias (c_out), owned */
    float *bn_scale, *bn_shift; /* an unfolded batch norm as scale/shift (c), owned */
    int bn_train;               /* scale/shift come from the batch's statistics */
    float *bn_mean, *bn_var;    /* those statistics (c), owned; NULL unless bn_train */
    mfr_act act;                /* activation applied by this step */
    float act_param;
    const float *prelu;
    int act_in_epilogue;        /* the kernel applies act (else a separate pass) */
    float *pre;                 /* MFR_EXEC_KEEP_PRE: the kernel's raw output u (max_batch
                                 * samples) before batch norm and act, kept for the backward;
                                 * owned; NULL where there is nothing to keep */
    const float *residual;      /* fused add: the other input */
    int fold_bn;                /* 1: batch norm folded into weights/bias */
    const mfr_layer *bn_layer;  /* standalone batch norm absorbed (folded), or NULL */

    /* profile */
    uint64_t macs;
    double seconds;
    long calls;
    char what[64];
} nn_step;

/* A compiled network (mfr_exec_create). */
struct mfr_exec {
    const mfr_net *net;
    int max_batch, flags;
    nn_step *steps;
    int n_steps;
    int *storage_of;        /* layer -> storage index */
    int *kept;              /* layer -> its own output is readable after forward */
    nn_membuf *bufs;        /* per storage */
    int *buf_layer;         /* storage -> layer that writes it */
    int n_bufs;
    float *arena;
    size_t arena_bytes, naive_bytes;
    int *inputs, n_inputs;
    int *outputs, n_outputs;
    int profile;
};

/* Gradients flowing through one step (grad.c): everything accumulates. */
typedef struct nn_grad_ctx {
    const float *dy;                    /* dL/d(this layer's output), n x h x w x c */
    float *dx[MFR_LAYER_MAX_INPUTS];    /* dL/d(input k): add to it (NULL: not wanted) */
    int dx_fresh[MFR_LAYER_MAX_INPUTS]; /* conv and fc only: dx[k] holds nothing yet, so
                                         * write it whole instead of adding (other ops
                                         * get it zeroed) */
    float *dp[MFR_LAYER_MAX_PARAMS];    /* dL/d(parameter slot): add to it */
    float *scratch;                     /* n x h x w x c floats of the output shape */
    float *scratch2;                    /* as many again */
} nn_grad_ctx;

typedef struct nn_opdef {
    const char *name;           /* section name in a definition */
    mfr_op op;
    mfr_act act;                /* activation layers: which one */
    int min_inputs, max_inputs;
    /* Reads the op's keys from section `sec` (defaults already in l). */
    int (*parse)(mfr_ini *ini, int sec, mfr_layer *l);
    /* Writes the op's keys, one "key = value" per line. */
    void (*write)(FILE *fp, const mfr_layer *l);
    /* Output shape (l->h, w, c), MACs and parameter tensors from the inputs. */
    int (*shape)(mfr_net *net, mfr_layer *l);
    /* Optional: prepares s (fold, prepack). */
    int (*compile)(nn_step *s);
    /* Runs on n samples. */
    void (*forward)(nn_step *s, int n);
    /* Gradients of the inputs and parameters from the gradient of the
     * output, for a step compiled with MFR_EXEC_NO_FOLD | NO_FUSE |
     * KEEP_ALL (grad.c); NULL where not written yet. */
    void (*backward)(nn_step *s, int n, nn_grad_ctx *g);
} nn_opdef;

/* The op of a layer, and lookup by section name (NULL if unknown). */
const nn_opdef *nn_opdef_of(const mfr_layer *l);
const nn_opdef *nn_opdef_find(const char *section);
const nn_opdef *nn_opdef_at(int i);   /* NULL past the end */

/* Sets the defaults of a fresh layer of type op. */
void nn_layer_defaults(mfr_layer *l, mfr_op op, mfr_act act);

/* "file:line: [type] 'name': message" (or "layer 'name': ..." without a line). */
int nn_layer_error(const mfr_net *net, const mfr_layer *l, int code, const char *fmt, ...) MFR_PRINTF(4, 5);

/* Creates or keeps parameter slot `slot` of l, named "<layer>.<suffix>". */
int nn_param(mfr_net *net, mfr_layer *l, int slot, const char *suffix, int ndim, const int *shape);
/* The same, filling a newly created tensor with `value`. */
int nn_param_fill(mfr_net *net, mfr_layer *l, int slot, const char *suffix, int ndim, const int *shape, float value);

/* Input i of l (resolved). */
static inline const mfr_layer *nn_input(const mfr_net *net, const mfr_layer *l, int i)
{
    return &net->layers[l->inputs[i]];
}

/* Shared helpers of the ops. */
int nn_parse_nothing(mfr_ini *ini, int sec, mfr_layer *l);  /* ops without keys */
void nn_write_nothing(FILE *fp, const mfr_layer *l);
int nn_parse_act(mfr_ini *ini, int sec, mfr_layer *l);  /* activation, slope */
void nn_write_act(FILE *fp, const mfr_layer *l);
int nn_parse_window(mfr_ini *ini, int sec, mfr_layer *l, int need_size); /* size, stride, pad, dilation */
void nn_write_window(FILE *fp, const mfr_layer *l, int dilation);
/* Output size of a sliding window; resolves pad_same; error names the layer. */
int nn_window_out(const mfr_net *net, mfr_layer *l, int in_h, int in_w, int *oh, int *ow);
/* Batch norm as per-channel scale and shift (c values each, malloc'd via mfr_alloc). */
int nn_bn_scale_shift(const mfr_layer *l, int c, float **scale, float **shift);
/* Applies y = x * scale[c] + shift[c] in place over rows x c. */
void nn_apply_scale_shift(float *x, size_t rows, int c, const float *scale, const float *shift);
/* Activation in place over rows x c, parallel over rows. */
void nn_apply_act(float *x, size_t rows, int c, mfr_act act, float param, const float *prelu);
/* out = act(fma(in, scale, shift)) per channel, in one pass (in may be out):
 * an unfolded batch norm and its activation (kernels/chanpass.h). */
void nn_scale_shift_act(const float *in, float *out, size_t rows, int c, const float *scale, const float *shift,
                        mfr_act act, float param, const float *prelu);
/* dz = dy * act'(fma(u, scale, shift)) in one pass (dz may be dy); not PReLU. */
void nn_scale_shift_act_backward(const float *u, const float *dy, float *dz, size_t rows, int c,
                                 const float *scale, const float *shift, mfr_act act, float param);
/* Elements of one sample of layer l's output. */
static inline size_t nn_elems(const mfr_layer *l)
{
    return (size_t)l->h * (size_t)l->w * (size_t)l->c;
}
/* Backward helpers. Per-channel sums are chunked (fixed rows per chunk, chunk
 * partials added in chunk order), so every result has the same bits at any
 * thread count; they return MFR_OK or MFR_ERR_NOMEM.
 * act'(z), the scalar reference of nn_act_backward. */
float nn_act_derivative(float z, mfr_act act, float param, float slope);
/* dz = dy * act'(z) (dz may be z or dy); PReLU slopes' gradients added to dslope. */
int nn_act_backward(const float *z, const float *dy, float *dz, size_t rows, int c, mfr_act act, float param,
                     const float *prelu, float *dslope);
/* sum[i] += x[r][i] over rows. */
int nn_channel_sum(const float *x, size_t rows, int c, float *sum);
/* A batch norm with running statistics, backwards: u is its input, dz the
 * gradient of its output, turned in place into the gradient of u. */
int nn_bn_backward(const mfr_layer *bn, const float *u, float *dz, size_t rows, int c, const float *scale,
                   float *dgamma, float *dbeta);
/* Training-mode batch norm: per-channel mean and biased variance of u
 * (rows x c, chunked double sums), and scale/shift from them. */
int nn_bn_batch_stats(const mfr_layer *bn, const float *u, size_t rows, int c, float *mean, float *var, float *scale,
                      float *shift);
/* Its backward: dz (gradient of the output) becomes dL/du in place. */
int nn_bn_backward_batch(const mfr_layer *bn, const float *u, float *dz, size_t rows, int c, const float *mean,
                         const float *var, float *dgamma, float *dbeta);
/* The backward of y = act(batch norm(u)) with the batch's statistics, in two
 * passes: dz = dL/du from dy = dL/dy (dz may be dy), adding the gradients of
 * gamma, beta and (PReLU) the slopes. The same function as
 * nn_scale_shift_act_backward (or the PReLU pass) then nn_bn_backward_batch. */
int nn_bn_act_backward_batch(const mfr_layer *bn, const float *u, const float *dy, float *dz, size_t rows, int c,
                             const float *mean, const float *var, const float *scale, const float *shift, mfr_act act,
                             float param, const float *prelu, float *dgamma, float *dbeta, float *dslope);
/* Allocates s->bn_mean and s->bn_var when s->bn_train. */
int nn_bn_train_alloc(nn_step *s, int c);
/* OpenMP's simd pragma makes gcc vectorise the ops' loops at -O2 (whose cheap
 * cost model otherwise skips loops of unknown length); each vector lane is a
 * different element or channel, so no sum changes order. */
#ifdef MFR_HAVE_OPENMP
#define NN_SIMD _Pragma("omp simd")
#else
#define NN_SIMD
#endif

/* cond ? a : b as a bit blend: gcc keeps a float ?: with a non-constant arm
 * as a branch (trapping math), which stops vectorisation. Same bits. */
static inline float nn_pick(int cond, float a, float b)
{
    uint32_t ab, bb, m = -(uint32_t)(cond != 0);
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & m) | (bb & ~m);
    memcpy(&a, &ab, sizeof a);
    return a;
}

/* Whether a parallel loop over `work` elements is worth the threads. */
int nn_threads_for(size_t work);

#endif
