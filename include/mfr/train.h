/*
 * mfr/train.h - the model-independent half of training (src/nn/train):
 * losses with their gradients, optimisers, learning-rate schedules, gradient
 * clipping and a finite-difference gradient checker. Everything works on
 * plain float arrays, so a network (mfr/nn.h) plugs in by handing over its
 * outputs, its output gradients and its parameter tensors.
 *
 * One training step, in a nutshell:
 *
 *     mfr_train_param params[] = {{"fc.w", w, gw, 512 * 128, 0},
 *                                 {"fc.b", b, gb, 128, 1}};      // no decay on biases
 *     mfr_optim_config cfg = mfr_optim_defaults(MFR_OPTIM_SGD);
 *     mfr_optim *opt;
 *     mfr_optim_create(&cfg, params, 2, &opt);
 *     mfr_lr_schedule sched = mfr_lr_schedule_defaults(MFR_LR_COSINE, 0.1);
 *     sched.warmup_steps = 1000;
 *     sched.total_steps = 100000;
 *     for (long t = 0; t < sched.total_steps; t++) {
 *         double loss, norm;
 *         ... forward pass: emb (B x D) ...
 *         mfr_loss_margin(&head, B, D, C, emb, classw, labels, &loss, demb, dclassw);
 *         ... backward pass fills gw, gb from demb ...
 *         mfr_clip_grad_norm(params, 2, 5.0, &norm);
 *         mfr_optim_step(opt, mfr_lr_at(&sched, t));
 *     }
 *
 * Conventions (docs/training.md has every formula):
 *  - A loss returns its value in double through `loss` (may be NULL) and
 *    writes d(loss)/d(input) to `grad` (same layout as the input; NULL: the
 *    value only). Arrays are float; hyperparameters (margins, scales,
 *    smoothing) are double, and the arithmetic inside is double.
 *  - Reductions: row losses (softmax cross-entropy, margin heads) are the
 *    mean over the batch rows. Element losses (BCE, focal, regression, IoU)
 *    are the (weighted) sum over items divided by a caller-given `norm` > 0:
 *    pass the item count for a mean, or the number of positive anchors as
 *    detectors usually do.
 *  - Determinism: items are processed in chunks of a fixed size (never a
 *    number that depends on the thread count), each chunk summed in order by
 *    one thread, and the chunk sums added in chunk order. Results are
 *    bit-identical at any mfr_threads().
 *  - Bad arguments (a label out of range, a norm <= 0, a zero-length
 *    embedding) return MFR_ERR_ARG / MFR_ERR_RANGE with a message; they are
 *    checked before anything is computed, so a failed call writes nothing.
 *    NaN or infinite inputs are not checked: they propagate into the loss.
 */
#ifndef MFR_TRAIN_H
#define MFR_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "mfr/core.h"
#include "mfr/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- deterministic sums */

/* Sums a function over [0, n): `range(ctx, begin, end)` handles items
 * [begin, end) and returns their sum (it may also write per-item outputs,
 * e.g. gradients, which must be disjoint between items). The range is cut
 * into chunks of `chunk` items, chunks run in parallel on mfr_threads()
 * threads, and the chunk results are added in chunk order into *sum, so the
 * result does not depend on the thread count. Fails only on allocation. */
typedef double (*mfr_range_fn)(void *ctx, size_t begin, size_t end);
int mfr_train_chunked_sum(size_t n, size_t chunk, mfr_range_fn range, void *ctx, double *sum);

/* ------------------------------------------------------------------ losses */

/* Softmax cross-entropy over `classes` logits per row, mean over `batch` rows,
 * with label smoothing `smoothing` in [0, 1): the target distribution is
 * q = (1 - smoothing) * onehot(label) + smoothing / classes (PyTorch's
 * definition). loss = mean_i [logsumexp(z_i) - sum_j q_ij z_ij];
 * grad = (softmax(z_i) - q_i) / batch. Labels must lie in [0, classes). */
int mfr_loss_softmax_ce(int batch, int classes, const float *logits, const int *labels, double smoothing,
                        double *loss, float *grad);

/* Margin heads for face embedders (ArcFace, CosFace). The embeddings (B x D)
 * and class weights (C x D) are both L2-normalised inside, cosines
 * c_ij = <x_i/|x_i|, w_j/|w_j|>, the target cosine of each row is replaced by
 *   ArcFace:  phi(c) = cos(theta + m)          when c > cos(pi - m),
 *             phi(c) = c - m sin(m)            otherwise (InsightFace's
 *                                              threshold fallback, easy_margin off)
 *   CosFace:  phi(c) = c - m
 * and the loss is the softmax cross-entropy of s * (modified cosines), mean
 * over the batch. Gradients are with respect to the raw, unnormalised inputs
 * (the normalisation is differentiated too), so the network may or may not
 * normalise its embeddings itself. grad_emb (B x D) and grad_weight (C x D)
 * may each be NULL. */
typedef enum mfr_margin_kind { MFR_MARGIN_ARCFACE = 0, MFR_MARGIN_COSFACE } mfr_margin_kind;

typedef struct mfr_margin_head {
    mfr_margin_kind kind;
    double s;   /* scale of the logits, > 0 */
    double m;   /* margin: radians for ArcFace (in [0, pi/2)), cosine units for CosFace */
} mfr_margin_head;

/* InsightFace's defaults: ArcFace s = 64, m = 0.5; CosFace s = 64, m = 0.4. */
mfr_margin_head mfr_margin_defaults(mfr_margin_kind kind);

/* The products over B x C (cosines and both gradients) run as float GEMMs
 * (mfr_sgemm); norms, margins, softmax and the normalisation's backward pass
 * are double. Memory: B x C doubles and floats, plus normalised float copies
 * of the inputs (B x D and C x D). */
int mfr_loss_margin(const mfr_margin_head *head, int batch, int dim, int classes, const float *emb,
                    const float *weight, const int *labels, double *loss, float *grad_emb, float *grad_weight);
/* The same with every product as a plain double loop: the reference the GEMM
 * path is tested against, and the one to gradient-check. */
int mfr_loss_margin_reference(const mfr_margin_head *head, int batch, int dim, int classes, const float *emb,
                              const float *weight, const int *labels, double *loss, float *grad_emb,
                              float *grad_weight);

/* Binary cross-entropy with logits: per item
 *   l_i = w_i * [max(x,0) - x t + log(1 + exp(-|x|))]   (= -t log p - (1-t) log(1-p))
 * with p = sigmoid(x), targets t in [0, 1], weights w (NULL: all 1; 0 ignores
 * an item). loss = sum_i l_i / norm, grad_i = w_i (p_i - t_i) / norm. */
int mfr_loss_bce_logits(size_t n, const float *logits, const float *targets, const float *weights, double norm,
                        double *loss, float *grad);

/* Sigmoid focal loss (Lin et al. 2017, torchvision's definition):
 *   l_i = w_i * a_t * (1 - p_t)^gamma * bce_i,  p_t = p t + (1 - p)(1 - t),
 *   a_t = alpha t + (1 - alpha)(1 - t)  (alpha < 0: a_t = 1).
 * RetinaNet defaults: alpha = 0.25, gamma = 2. gamma >= 0. Reduction as BCE. */
int mfr_loss_focal(size_t n, const float *logits, const float *targets, const float *weights, double alpha,
                   double gamma, double norm, double *loss, float *grad);

/* Regression losses on d = pred - target, summed over the `dim` coordinates of
 * each item, times the item's mask value, summed over items, divided by norm:
 *   L1:        |d|
 *   SMOOTH_L1: 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta  (PyTorch's)
 *   L2:        d^2
 *   WING:      w ln(1 + |d|/eps) if |d| < w, else |d| - (w - w ln(1 + w/eps))
 *              (Feng et al. 2018)
 * Boxes: items = boxes, dim = 4, mask = 1 for positive anchors (or NULL).
 * Landmarks: items = faces * points, dim = 2, mask = visibility of each point. */
typedef enum mfr_reg_kind { MFR_REG_L1 = 0, MFR_REG_SMOOTH_L1, MFR_REG_L2, MFR_REG_WING } mfr_reg_kind;

typedef struct mfr_reg_loss {
    mfr_reg_kind kind;
    double beta;             /* SMOOTH_L1: > 0 (default 1) */
    double wing_w, wing_eps; /* WING: > 0 (defaults 10 and 2, in the units of the coordinates) */
} mfr_reg_loss;

mfr_reg_loss mfr_reg_loss_defaults(mfr_reg_kind kind);

int mfr_loss_regression(const mfr_reg_loss *r, size_t items, int dim, const float *pred, const float *target,
                        const float *mask, double norm, double *loss, float *grad);

/* IoU losses on boxes in corner form (x0, y0, x1, y1), x1 >= x0, y1 >= y0:
 *   IOU:  l = 1 - I / (U + eps)
 *   GIOU: l = 1 - I / (U + eps) + (A_c - U) / (A_c + eps)
 * with I the intersection, U the union, A_c the smallest enclosing box and
 * eps = 1e-7 (torchvision's). Items are weighted by mask (NULL: 1), summed and
 * divided by norm; the gradient is with respect to the predicted corners. */
typedef enum mfr_iou_kind { MFR_IOU = 0, MFR_GIOU } mfr_iou_kind;

int mfr_loss_iou(mfr_iou_kind kind, size_t n, const float *pred, const float *target, const float *mask,
                 double norm, double *loss, float *grad);

/* -------------------------------------------------------------- parameters */

/* One parameter tensor as the optimiser and clipping see it: a flat float
 * array and its gradient. The arrays stay owned by the caller (the network). */
typedef struct mfr_train_param {
    const char *name;   /* unique, non-empty: names the optimiser state for checkpoints */
    float *value;
    float *grad;
    size_t size;        /* number of floats */
    int no_decay;       /* 1: no weight decay (biases, batch-norm, PReLU slopes) */
} mfr_train_param;

/* ------------------------------------------------------------- optimisers */

typedef enum mfr_optim_kind { MFR_OPTIM_SGD = 0, MFR_OPTIM_ADAMW } mfr_optim_kind;

/* Update rules (PyTorch's documented algorithms, dampening 0), per element,
 * at step t = 1, 2, ... with learning rate lr and decay wd (0 for no_decay):
 *   SGD:    g = g + wd w;  b = mu b + g;  d = nesterov ? g + mu b : b
 *           (d = g when mu = 0);  w = w - lr d
 *   AdamW:  w = w (1 - lr wd);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *           w = w - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Each element is computed in double from the float state and rounded back. */
typedef struct mfr_optim_config {
    mfr_optim_kind kind;
    double momentum;         /* SGD: mu in [0, 1) */
    int nesterov;            /* SGD: 1 for Nesterov momentum (needs momentum > 0) */
    double weight_decay;     /* >= 0; SGD: L2 added to the gradient; AdamW: decoupled */
    double beta1, beta2;     /* AdamW: in [0, 1) */
    double eps;              /* AdamW: > 0 */
} mfr_optim_config;

/* SGD: momentum 0.9, weight decay 5e-4 (InsightFace); AdamW: betas 0.9, 0.999,
 * eps 1e-8, weight decay 0.01 (PyTorch). */
mfr_optim_config mfr_optim_defaults(mfr_optim_kind kind);

typedef struct mfr_optim mfr_optim;

/* Validates the configuration and the parameter list (copied; the arrays are
 * not) and allocates the zeroed state. */
int mfr_optim_create(const mfr_optim_config *cfg, const mfr_train_param *params, int count, mfr_optim **out);
void mfr_optim_free(mfr_optim *o);
/* One update of every parameter from its gradient; lr must be finite, >= 0. */
int mfr_optim_step(mfr_optim *o, double lr);
/* Sets every gradient to zero. */
void mfr_optim_zero_grad(mfr_optim *o);

/* The optimiser state, for checkpoints: the step counter t and a list of
 * float arrays (SGD with momentum: "<param>.momentum"; AdamW: "<param>.exp_avg"
 * and "<param>.exp_avg_sq"; plain SGD: none). Saving the arrays' bytes and the
 * counter and writing them back into a fresh optimiser with the same
 * configuration and parameters continues the run bit-identically. */
typedef struct mfr_optim_state {
    const char *name;   /* valid while the optimiser lives */
    float *data;        /* writable, for loading */
    size_t size;
} mfr_optim_state;

int64_t mfr_optim_steps(const mfr_optim *o);
void mfr_optim_set_steps(mfr_optim *o, int64_t steps);
int mfr_optim_state_count(const mfr_optim *o);
/* MFR_ERR_RANGE when i is not in [0, mfr_optim_state_count). */
int mfr_optim_state_get(const mfr_optim *o, int i, mfr_optim_state *out);

/* -------------------------------------------------------------- schedules */

/* lr(t) = warmup(t) * main(t) for steps t = 0, 1, 2, ...
 *   warmup(t) = f0 + (1 - f0) t / W for t < W (W = warmup_steps), else 1
 *   CONSTANT:  main = base
 *   STEP:      main = base * gamma^floor(t / step_size)
 *   MULTISTEP: main = base * gamma^(number of milestones <= t)
 *   COSINE:    main = min + (base - min) (1 + cos(pi p)) / 2
 *   POLY:      main = min + (base - min) (1 - p)^power
 * with p = clamp((t - W) / (total_steps - W), 0, 1). */
typedef enum mfr_lr_kind { MFR_LR_CONSTANT = 0, MFR_LR_STEP, MFR_LR_MULTISTEP, MFR_LR_COSINE, MFR_LR_POLY } mfr_lr_kind;

#define MFR_LR_MAX_MILESTONES 16

typedef struct mfr_lr_schedule {
    mfr_lr_kind kind;
    double base_lr;
    long warmup_steps;          /* W >= 0 */
    double warmup_start;        /* f0 in [0, 1] */
    long step_size;             /* STEP: > 0 */
    double gamma;               /* STEP, MULTISTEP: in (0, 1] */
    long milestones[MFR_LR_MAX_MILESTONES]; /* MULTISTEP: increasing */
    int milestone_count;
    long total_steps;           /* COSINE, POLY: > warmup_steps */
    double min_lr;              /* COSINE, POLY: floor, in [0, base_lr] */
    double power;               /* POLY: > 0 */
} mfr_lr_schedule;

/* base_lr, no warm-up (f0 = 0 when one is set), gamma 0.1, power 2 (InsightFace's
 * PolyScheduler); step_size, milestones and total_steps must be set by the caller. */
mfr_lr_schedule mfr_lr_schedule_defaults(mfr_lr_kind kind, double base_lr);
/* Checks every field the kind uses; errors name the field. */
int mfr_lr_schedule_check(const mfr_lr_schedule *s);
/* The learning rate at step t (t < 0 counts as 0). The schedule must pass
 * mfr_lr_schedule_check. */
double mfr_lr_at(const mfr_lr_schedule *s, long t);

/* --------------------------------------------------------------- clipping */

/* Global L2 norm of all gradients: squares summed in double per chunk of
 * 4096 elements, chunks in order within a parameter, parameters in order. */
int mfr_train_grad_norm(const mfr_train_param *params, int count, double *norm);
/* Scales every gradient by max_norm / (norm + 1e-6) when norm > max_norm
 * (PyTorch's clip_grad_norm_). *norm (may be NULL) gets the norm before
 * clipping. A non-finite norm returns MFR_ERR_RANGE and leaves the gradients
 * as they were, so a diverging run is noticed. */
int mfr_clip_grad_norm(const mfr_train_param *params, int count, double max_norm, double *norm);
/* Clamps every gradient element into [-clip, clip]; NaN stays NaN. */
int mfr_clip_grad_value(const mfr_train_param *params, int count, double clip);

/* ---------------------------------------------------- gradient checking */

/* A function under test: computes f(x) into *f and, when grad is not NULL,
 * its analytic gradient df/dx (n floats). */
typedef int (*mfr_gradcheck_fn)(void *ctx, const float *x, double *f, float *grad);

typedef struct mfr_gradcheck_opts {
    double h;          /* step: x_i +- h max(1, |x_i|); default 1e-3 */
    double floor;      /* error denominator floor; default 1e-3 */
    size_t max_checks; /* 0: every element; else that many, evenly spread */
} mfr_gradcheck_opts;

typedef struct mfr_gradcheck_result {
    double max_err;     /* the largest error over the checked elements */
    size_t worst;       /* its index */
    double analytic, numeric; /* the two derivatives there */
    size_t checked;
} mfr_gradcheck_result;

/* Central differences in double: numeric_i = (f(x+) - f(x-)) / (x+ - x-),
 * with x+- the float values actually evaluated, compared with the analytic
 * gradient at x by err_i = |a_i - n_i| / max(|a_i|, |n_i|, floor).
 * x is perturbed in place and restored. opts may be NULL (defaults). */
int mfr_gradcheck(mfr_gradcheck_fn fn, void *ctx, float *x, size_t n, const mfr_gradcheck_opts *opts,
                  mfr_gradcheck_result *res);


/* ---------------------------------------------------------------- trainer
 * A generic training loop over an mfr_net (src/nn/train/trainer.c). The
 * task (what the samples are, what the loss is) plugs in through callbacks,
 * so nothing here knows about faces (src/face/train_data.c is the face task).
 *
 * Each step t = 0, 1, ...: the task fills batch t (the input tensor of the
 * network's first input layer plus its own targets in a "slot"), the network
 * runs forward with batch-norm in training mode (mfr_grad), the task's loss
 * turns the outputs into a loss and dL/d(outputs), backward fills the
 * gradients, running statistics are updated, gradients are clipped, the
 * optimiser steps at lr(t), and the weights are re-read. While step t
 * trains, batch t + 1 is filled on a second thread (two slots alternate).
 * Determinism: the task must make sample i of step t a function of
 * (seed, t, i) only; then the weights after N steps are the same bytes at
 * any thread count, and a run resumed from a checkpoint continues exactly
 * as if it had never stopped (docs/training.md, "The trainer"). */

typedef struct mfr_trainer_task {
    void *ctx;
    /* Allocates one batch slot (targets etc.) for up to `batch` samples. */
    int (*slot_create)(void *ctx, int batch, void **slot);
    void (*slot_free)(void *ctx, void *slot);
    /* Fills batch `step`: `input` (batch x h x w x c floats of the input
     * layer) and the slot. Runs on the prefetch thread: it may use OpenMP,
     * must not touch the network, and must depend on (seed, step, i) only. */
    int (*fill)(void *ctx, uint64_t seed, long step, int batch, float *input, void *slot);
    /* The loss of the batch in `slot` from the network outputs (mfr_net_output_layer
     * order, batch x h x w x c each): *loss, d_outputs[i] (zeroed, same
     * layout; leave a row of zeros for an output without loss), and the
     * gradients of the task's own parameters (extra[]). parts[0..n_parts)
     * receive loss components for the log. */
    int (*loss)(void *ctx, const void *slot, int batch, const float *const *outputs, float *const *d_outputs,
                double *loss, double *parts);
    /* Optional: validation of the current weights; writes one line of
     * "name=value" pairs (comma separated) into text. */
    int (*validate)(void *ctx, mfr_net *net, long step, char *text, size_t size);
    /* Trainable tensors owned by the task (e.g. the margin head's class
     * weights): optimised, clipped and checkpointed with the network's. */
    mfr_train_param *extra;
    int n_extra;
    int n_parts;                 /* <= MFR_TRAINER_MAX_PARTS */
    const char *part_names[4];
} mfr_trainer_task;

#define MFR_TRAINER_MAX_PARTS 4

typedef struct mfr_trainer_config {
    long steps;                  /* total steps of the run (the schedule's length) */
    int batch;
    uint64_t seed;
    mfr_optim_config optim;
    mfr_lr_schedule lr;
    double clip_norm;            /* > 0: clip the global L2 norm */
    double clip_value;           /* > 0: clamp each gradient element */
    double bn_momentum;          /* running statistics: (1 - m) r + m batch; default 0.1 */
    long checkpoint_every;       /* 0: only at the end */
    const char *checkpoint;      /* checkpoint path (NULL: none) */
    long validate_every;         /* 0: only at the end (if the task validates) */
    long log_every;              /* CSV row every N steps (default 1) */
    const char *log;             /* CSV log path (NULL: none); appended to on resume */
    int resume;                  /* continue from `checkpoint` when it exists */
    int quiet;                   /* no progress bar */
    long stop_after;             /* > 0: stop after this step count without the final
                                  * checkpoint, as if killed (tests) */
    double max_seconds;          /* > 0: stop after the step that passes this wall time,
                                  * with a checkpoint (resume continues the schedule) */
    int fixed_data;              /* benchmarks: every step trains on the first batch (no
                                  * data preparation after it) */
} mfr_trainer_config;

/* steps 1000, batch 32, seed 1, SGD defaults, constant lr 0.1, no clipping,
 * bn_momentum 0.1, log_every 1. */
void mfr_trainer_config_default(mfr_trainer_config *c);

typedef struct mfr_trainer_result {
    long steps_done;             /* the step count reached */
    long start_step;             /* where this run began (> 0 after a resume) */
    double last_loss, mean_loss_first, mean_loss_last; /* means over the first and last 10% of steps run */
    double images_per_s;         /* over this run */
    double seconds;
    int time_limited;            /* stopped by max_seconds before the last step */
    char validation[512];        /* the last validation line ("" if none) */
} mfr_trainer_result;

/* Trains `net` (resolved, weights initialised) in place. Errors from the
 * task's callbacks are passed on with the step they happened at. */
int mfr_trainer_run(mfr_net *net, const mfr_trainer_config *cfg, const mfr_trainer_task *task,
                    mfr_trainer_result *res);

/* The trainable parameters of a network: every parameter tensor except the
 * batch-norm running statistics, with no_decay on 1-d tensors (biases,
 * batch-norm scales and shifts, PReLU slopes). `grads` (may be NULL) gives
 * the gradient tensors by network parameter index (mfr_grad_param order).
 * *params is malloc'd; *count its length. */
int mfr_trainer_params(const mfr_net *net, mfr_grad *g, mfr_train_param **params, int *count);

/* Reads the generic sections of a training recipe: [train] (steps, batch,
 * seed, bn_momentum, clip_norm, clip_value, checkpoint_every,
 * validate_every, log_every), [optim] and [schedule] (docs/training.md).
 * Keys are marked used; the caller checks for unknown keys after reading its
 * own sections. */
int mfr_trainer_config_read(mfr_ini *ini, mfr_trainer_config *c);

/* ------------------------------------------------------------ checkpoints
 * A checkpoint (docs/training.md, byte by byte) holds the model file bytes
 * (mfr_model_encode: definition, weights, running statistics), the task's
 * extra tensors, the optimiser state and step counter, the next step and the
 * seed (the data's RNG position: batch t is a function of (seed, t)). It is
 * written atomically. */
#define MFR_CKPT_VERSION 1

typedef struct mfr_ckpt_info {
    long step;          /* steps done */
    uint64_t seed;
    int batch;
    long steps;         /* the run's planned length */
} mfr_ckpt_info;

int mfr_ckpt_save(const char *path, const mfr_net *net, const mfr_optim *opt, const mfr_train_param *extra,
                  int n_extra, const mfr_ckpt_info *info);
/* Loads into an existing run of the same configuration: the network's
 * weights (by name, shapes checked), the extra tensors (by name), the
 * optimiser state. Any mismatch or corruption is an error naming the file,
 * and on error nothing useful is promised about the targets' contents. */
int mfr_ckpt_load(const char *path, mfr_net *net, mfr_optim *opt, mfr_train_param *extra, int n_extra,
                  mfr_ckpt_info *info);

#ifdef __cplusplus
}
#endif
#endif /* MFR_TRAIN_H */
