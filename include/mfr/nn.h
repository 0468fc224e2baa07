/*
 * mfr/nn.h - the neural-network runtime: tensors, graphs, compile, forward,
 * model files (src/nn). docs/nn.md has the formats byte by byte.
 *
 * Usage in a nutshell:
 *
 *     mfr_net *net;
 *     if (mfr_net_load_def("models/mobilefacenet.cfg", &net) != MFR_OK)  // text -> graph
 *         die(mfr_last_error());                     // "models/...cfg:12: unknown key 'fliters' in [conv]"
 *     mfr_net_init_weights(net, 42);                 // He/Xavier, a pure function of the seed
 *     mfr_model_save(net, "mfn.mfrm");              // definition + named tensors, zlib, CRC32
 *
 *     mfr_exec *ex;
 *     mfr_exec_create(net, 8, 0, &ex);               // compile for batches of up to 8
 *     mfr_exec_forward(ex, images, 8);               // images: 8 x 112 x 112 x 3, NHWC
 *     const float *emb = mfr_exec_output(ex, 0, NULL); // 8 x 1 x 1 x 128
 *     mfr_exec_free(ex);
 *     mfr_net_free(net);
 *
 * Layout: every activation is NHWC float32 (batch, height, width, channels),
 * densely packed; a layer's output shape is given per sample as (h, w, c).
 * NHWC keeps the channels of one pixel together, so a 1x1 convolution is one
 * GEMM over all pixels and a depthwise convolution vectorises across channels
 * (docs/nn.md explains the choice). Weights are OHWI: [c_out][kh][kw][c_in/groups].
 *
 * A network (mfr_net) is the definition: layers with named inputs and named
 * parameter tensors ("conv1.weight"). An executable (mfr_exec) is the network
 * compiled for a batch size: topological order, batch norm folded, weights
 * prepacked, activations fused into convolution epilogues, and every
 * activation buffer placed in one arena by liveness.
 */
#ifndef MFR_NN_H
#define MFR_NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "mfr/core.h"
#include "mfr/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ tensor */

#define MFR_TENSOR_MAX_DIMS 4

/* A named float32 tensor: sizes plus element strides (row-major and dense
 * unless it is a view). Parameter tensors own their data. */
typedef struct mfr_tensor {
    char *name;                          /* "layer.weight", unique in a network */
    int ndim;                            /* 1 .. MFR_TENSOR_MAX_DIMS */
    int shape[MFR_TENSOR_MAX_DIMS];      /* sizes, outermost first */
    size_t stride[MFR_TENSOR_MAX_DIMS];  /* elements between neighbours along each dim */
    size_t size;                         /* number of elements (product of shape) */
    float *data;                         /* 64-byte aligned */
    int owns;                            /* data freed with the tensor */
} mfr_tensor;

/* Allocates a zeroed dense tensor; name may be NULL. */
int mfr_tensor_create(const char *name, int ndim, const int *shape, mfr_tensor **out);
void mfr_tensor_free(mfr_tensor *t);
/* "3x3x16x1" into buf (always terminated). */
const char *mfr_tensor_shape_str(const mfr_tensor *t, char *buf, size_t size);

/* ------------------------------------------------------------------ layers */

/* Layer types. The name in a network definition is the section name. */
typedef enum mfr_op {
    MFR_OP_INPUT = 0,  /* [input]      height, width, channels */
    MFR_OP_CONV,       /* [conv]       any kernel, stride, padding, dilation, groups */
    MFR_OP_DWCONV,     /* [dwconv]     depthwise: groups = channels = filters (times multiplier) */
    MFR_OP_FC,         /* [fc]         fully connected over the whole h x w x c input */
    MFR_OP_BATCHNORM,  /* [batchnorm]  per-channel (x - mean) / sqrt(var + eps) * gamma + beta */
    MFR_OP_ACT,        /* [relu] [relu6] [leaky] [prelu] [sigmoid] [tanh] [hswish] */
    MFR_OP_MAXPOOL,    /* [maxpool] */
    MFR_OP_AVGPOOL,    /* [avgpool]    padding excluded from the mean */
    MFR_OP_GAP,        /* [gap]        global average pooling -> 1 x 1 x c */
    MFR_OP_UPSAMPLE,   /* [upsample]   integer scale, mode = nearest | bilinear */
    MFR_OP_ADD,        /* [add]        elementwise over 2+ inputs (1x1xc broadcasts) */
    MFR_OP_MUL,        /* [mul]        elementwise product (1x1xc broadcasts) */
    MFR_OP_CONCAT,     /* [concat]     along channels */
    MFR_OP_SLICE,      /* [slice]      channels [begin, end) */
    MFR_OP_RESHAPE,    /* [reshape]    same element count, new (h, w, c) */
    MFR_OP_FLATTEN,    /* [flatten]    -> 1 x 1 x (h w c) */
    MFR_OP_SOFTMAX,    /* [softmax]    over channels at each pixel */
    MFR_OP_L2NORM,     /* [l2norm]     x / max(||x||, eps) over channels at each pixel */
    MFR_OP_DROPOUT,    /* [dropout]    identity at inference */
    MFR_OP_COUNT_
} mfr_op;

#define MFR_LAYER_MAX_INPUTS 8
#define MFR_LAYER_MAX_PARAMS 7

/* Parameter slots of a layer (which are used depends on the type). */
enum {
    MFR_P_WEIGHT = 0, /* conv/dwconv: OHWI; fc: [c_out][h*w*c_in] */
    MFR_P_BIAS,       /* [c_out] */
    MFR_P_GAMMA,      /* batch norm (standalone or batch_normalize = yes): scale */
    MFR_P_BETA,       /* shift */
    MFR_P_MEAN,       /* running mean */
    MFR_P_VAR,        /* running variance */
    MFR_P_SLOPE,      /* PReLU slopes: [prelu], or conv/fc with activation = prelu */
};

/* One node of the graph. Fields below "derived" are filled by
 * mfr_net_resolve() and must not be set by hand. */
typedef struct mfr_layer {
    char *name;                 /* unique; default "<type><index>" */
    mfr_op op;
    int line;                   /* line in the definition text (0: built from C) */
    char *input_names[MFR_LAYER_MAX_INPUTS]; /* NULL: the previous layer */
    int n_inputs;

    /* input */
    int in_h, in_w, in_c;
    /* conv, dwconv, fc: output channels (dwconv: multiplier x channels) */
    int filters;                /* dwconv: the channel multiplier (default 1) */
    int kh, kw, stride_h, stride_w, dil_h, dil_w, groups;
    int pad_top, pad_left, pad_bottom, pad_right;
    int pad_same;               /* padding = same: output = ceil(input / stride) */
    int has_bias;               /* conv/fc: default yes unless batch_normalize */
    int batch_normalize;        /* conv/fc: a batch norm after the product */
    float bn_eps;               /* batch norm epsilon (default 1e-5) */
    mfr_act act;                /* conv/fc fused activation; [relu] etc.: which one */
    float act_param;            /* leaky slope */
    /* pooling (size/stride/pad reuse kh/kw/stride/pad above) */
    int bilinear;               /* upsample: 0 nearest, 1 bilinear (half-pixel centres) */
    int scale;                  /* upsample factor */
    int begin, end;             /* slice: channels [begin, end) */
    int out_h, out_w, out_c;    /* reshape target (0 h/w: keep as 1) */
    float eps;                  /* l2norm */
    float dropout_p;            /* dropout: kept for training, identity here */

    /* derived */
    int inputs[MFR_LAYER_MAX_INPUTS]; /* indices of the input layers */
    int h, w, c;                /* output shape per sample */
    mfr_tensor *params[MFR_LAYER_MAX_PARAMS];     /* by slot MFR_P_*; NULL when unused */
    uint64_t macs;              /* multiply-adds per sample */
} mfr_layer;

/* ---------------------------------------------------------------- networks */

typedef struct mfr_net {
    char *name;                 /* definition file name, for messages */
    mfr_layer *layers;          /* in definition order */
    int n_layers, cap;
    int *order;                 /* topological order (after resolve) */
    int resolved;
} mfr_net;

int mfr_net_create(mfr_net **out);
void mfr_net_free(mfr_net *net);

/* Parses a network definition (INI text, docs/nn.md); resolves it. Errors
 * name "name:line". */
int mfr_net_parse(const char *text, size_t size, const char *name, mfr_net **out);
int mfr_net_load_def(const char *path, mfr_net **out);
/* Writes the definition back as text that parses to the same graph. */
int mfr_net_write(const mfr_net *net, FILE *fp);
/* The same into a malloc'd NUL-terminated string (free with free). */
int mfr_net_to_text(const mfr_net *net, char **text, size_t *size);

/* Builder API: appends a layer of type `op`, named `name` (NULL: automatic),
 * reading `input` (NULL: the previous layer; "a,b" for several). Returns the
 * layer to adjust (fields as in mfr_layer, defaults already set), or NULL
 * with the last error set. The pointer is valid until the next append. */
mfr_layer *mfr_net_add(mfr_net *net, mfr_op op, const char *name, const char *input);
/* Shorthands for the common layers. */
mfr_layer *mfr_net_input(mfr_net *net, const char *name, int h, int w, int c);
mfr_layer *mfr_net_conv(mfr_net *net, const char *name, const char *input, int filters, int size, int stride,
                        int groups, mfr_act act);

/* Resolves names, checks the graph (no cycles, one input layer at least),
 * orders it topologically, infers every shape, counts MACs and allocates the
 * parameter tensors (zeroed; batch-norm variances 1). Idempotent until the
 * next mfr_net_add. After changing a layer's fields by hand (say the input
 * size), set net->resolved = 0 and resolve again: parameter tensors whose
 * shapes stay the same keep their values. */
int mfr_net_resolve(mfr_net *net);
int mfr_net_find(const mfr_net *net, const char *name);     /* layer index or -1 */
const char *mfr_op_name(mfr_op op, mfr_act act);            /* "conv", "relu6", ... */

/* Parameters, addressable by name, in a fixed order (layer order, slot order). */
int mfr_net_param_count(const mfr_net *net);
mfr_tensor *mfr_net_param(const mfr_net *net, int i);
mfr_tensor *mfr_net_param_find(const mfr_net *net, const char *name);
/* Totals per sample. */
uint64_t mfr_net_param_total(const mfr_net *net);
uint64_t mfr_net_macs(const mfr_net *net);
/* Layers whose output nobody reads: the network's outputs, in layer order. */
int mfr_net_output_count(const mfr_net *net);
int mfr_net_output_layer(const mfr_net *net, int i);

/* Deterministic initialisation: weights He-normal (layers followed by a
 * ReLU-family activation) or Xavier-uniform, biases and BN shifts 0, BN scales
 * and variances 1, PReLU slopes 0.25. Tensor i draws from
 * mfr_rng(seed, MFR_NN_STREAM_INIT, i) only. */
#define MFR_NN_STREAM_INIT 0x4e4e0001u
int mfr_net_init_weights(mfr_net *net, uint64_t seed);

/* ------------------------------------------------------------ model files */

/* A model file: header, the definition text and the named tensors, each
 * section zlib-compressed and CRC32-checked (docs/nn.md, byte by byte). */
#define MFR_MODEL_VERSION 1
#define MFR_MODEL_MAX_DEF (16u << 20)        /* definition text */
#define MFR_MODEL_MAX_DATA (1ull << 31)      /* uncompressed tensor section */

int mfr_model_save(const mfr_net *net, const char *path);
/* Serialises into a malloc'd buffer (free with free). */
int mfr_model_encode(const mfr_net *net, void **data, size_t *size);
int mfr_model_load(const char *path, mfr_net **out);
/* Loads from memory; `name` is used in messages. */
int mfr_model_decode(const void *data, size_t size, const char *name, mfr_net **out);
/* Whether the file starts with the model magic ("MFRMODEL"). */
int mfr_model_is_file(const char *path);
/* A model file (by its magic) or else a definition text; the latter gets zero weights. */
int mfr_net_load_any(const char *path, mfr_net **out);

/* ------------------------------------------------------------- execution */

enum {
    MFR_EXEC_NO_FOLD = 1,  /* keep batch norm as its own step (tests) */
    MFR_EXEC_NO_FUSE = 2,  /* run activations and adds as their own steps (tests) */
    MFR_EXEC_KEEP_ALL = 4, /* keep every layer's output until the next forward (no reuse) */
    MFR_EXEC_TRAIN_BN = 8, /* batch norm uses the batch's statistics (implies NO_FOLD) */
    MFR_EXEC_KEEP_PRE = 16, /* training: keep each conv/fc output before its batch norm and
                             * activation, so the backward need not recompute it */
};

typedef struct mfr_exec mfr_exec;

/* Compiles `net` (resolved) for batches of up to max_batch. The executable
 * reads the network's shapes while it runs, so `net` must outlive it; the
 * weights are copied (folded, packed) here, so changes to them later need
 * mfr_exec_reload_weights. A batch smaller than max_batch costs a full batch
 * in the convolutions (their plans are made for max_batch). */
int mfr_exec_create(const mfr_net *net, int max_batch, int flags, mfr_exec **out);
void mfr_exec_free(mfr_exec *ex);
/* Folds and packs the network's weights again after they changed (same
 * shapes), keeping the compiled steps and the activation buffers: what a
 * training step needs, without a new mfr_exec's allocations. */
int mfr_exec_reload_weights(mfr_exec *ex);
/* Runs the network on n <= max_batch samples (the first input layer; NHWC).
 * Thread count: mfr_threads(). Results do not depend on it. One forward at
 * a time per mfr_exec (its buffers are shared): one per thread for
 * concurrent inference. */
int mfr_exec_forward(mfr_exec *ex, const float *input, int n);
/* Several input layers: inputs[i] for the i-th input layer in layer order. */
int mfr_exec_forward_multi(mfr_exec *ex, const float *const *inputs, int n);
int mfr_exec_output_count(const mfr_exec *ex);
/* Output i (layer order of mfr_net_output_layer) of the last forward: n x h x w x c.
 * `layer` (optional) receives the layer index. Valid until the next forward. */
const float *mfr_exec_output(const mfr_exec *ex, int i, int *layer);
/* Any layer's output of the last forward, or NULL when its buffer was
 * reused (only outputs are kept) or it was fused away. */
const float *mfr_exec_layer_output(const mfr_exec *ex, int layer);
int mfr_exec_max_batch(const mfr_exec *ex);

/* Activation memory plan. */
size_t mfr_exec_arena_bytes(const mfr_exec *ex);  /* the whole arena */
size_t mfr_exec_naive_bytes(const mfr_exec *ex);  /* sum of all buffers without reuse */
/* Placement of step i's buffer (offset and size in bytes, live range in
 * steps) for tests and `mfr info`; returns 0 when step i has no own buffer. */
typedef struct mfr_exec_buffer {
    int layer;
    size_t offset, bytes;
    int first, last;   /* steps where it is written first and read last */
} mfr_exec_buffer;
int mfr_exec_buffer_count(const mfr_exec *ex);
void mfr_exec_buffer_get(const mfr_exec *ex, int i, mfr_exec_buffer *b);

/* Per-layer profile: on with mfr_exec_profile(ex, 1); times add up over
 * forwards until mfr_exec_profile_reset. Steps are in execution order. */
typedef struct mfr_exec_step_info {
    int layer;          /* main layer of the step */
    const char *name;   /* its name */
    const char *what;   /* "conv+bn+relu", "dwconv+add", ... */
    uint64_t macs;      /* per sample, summed over fused layers */
    double seconds;     /* total over profiled forwards */
    long calls;
} mfr_exec_step_info;
void mfr_exec_profile(mfr_exec *ex, int on);
void mfr_exec_profile_reset(mfr_exec *ex);
int mfr_exec_step_count(const mfr_exec *ex);
void mfr_exec_step_get(const mfr_exec *ex, int i, mfr_exec_step_info *info);

/* ------------------------------------------------------------ gradients */

/* Backward passes for training (issue #6 builds the optimisers on them).
 * The forward here keeps every layer's output, fuses and folds nothing,
 * and evaluates batch norm with its running statistics (mean, var): the
 * gradients are those of that function ("frozen" batch norm), or, after
 * mfr_grad_train_bn(g, 1), with the statistics of the batch. Every op has
 * a backward pass; results do not depend on the thread count.
 *
 *     mfr_grad *g;
 *     mfr_grad_create(net, 32, &g);
 *     mfr_grad_forward(g, &images, 32);
 *     // dL/d(output) for each network output, e.g. from a loss:
 *     mfr_grad_backward(g, &d_embedding);
 *     mfr_tensor *dw = mfr_grad_param(g, 0);   // dL/d(first parameter), same name and shape
 *     ... update the weights in net, then: mfr_grad_refresh(g);
 */
typedef struct mfr_grad mfr_grad;

int mfr_grad_create(const mfr_net *net, int max_batch, mfr_grad **out);
void mfr_grad_free(mfr_grad *g);
/* Re-reads the network's weights after they changed. */
int mfr_grad_refresh(mfr_grad *g);
/* Forward on n <= max_batch samples (inputs[i]: the i-th input layer). */
int mfr_grad_forward(mfr_grad *g, const float *const *inputs, int n);
/* Output of any layer from the last forward (n x h x w x c). */
const float *mfr_grad_value(const mfr_grad *g, int layer);
/* Backward from d_outputs[i] = dL/d(output i) (mfr_net_output_layer order,
 * NULL: zero). Fills the gradient of every layer's output and parameter. */
int mfr_grad_backward(mfr_grad *g, const float *const *d_outputs);
/* dL/d(output of layer), including input layers: dL/d(input samples). */
const float *mfr_grad_layer(const mfr_grad *g, int layer);
/* Off: the backward may skip dL/d(input samples) (a training step needs
 * only the parameters' gradients; for an input read by a convolution this
 * saves that layer's input-gradient work); the input layers' gradients then
 * read as zeros. On by default. */
void mfr_grad_input_grads(mfr_grad *g, int on);
/* dL/d(parameter i): same order, name and shape as mfr_net_param(net, i). */
mfr_tensor *mfr_grad_param(const mfr_grad *g, int i);
/* Training-mode batch norm: on, forward normalises with the mean and
 * (biased) variance of the batch over n x h x w per channel, and backward
 * differentiates through them. Off (the default): running statistics. */
int mfr_grad_train_bn(mfr_grad *g, int on);
/* After a training-mode forward: running = (1 - momentum) running +
 * momentum batch, with the unbiased batch variance (as PyTorch does). */
int mfr_grad_update_running_stats(mfr_grad *g, float momentum);

#ifdef __cplusplus
}
#endif
#endif /* MFR_NN_H */
