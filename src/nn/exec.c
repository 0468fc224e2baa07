/* Compiling a network into steps and running them (docs/nn.md, "Compile").
 *
 * 1. Order: the network's topological order (mfr_net_resolve).
 * 2. Fusion: a conv/dwconv/fc absorbs the layers that follow it when each
 *    is the only reader of the one before: a batch norm (folded into the
 *    weights and bias), then a two-input add (the kernel's residual), then
 *    an activation (the kernel's epilogue).
 * 3. Storage: every step writes one buffer; views (reshape, flatten,
 *    dropout) and fused layers share their producer's buffer.
 * 4. Memory plan: buffers live from the step that writes them to the last
 *    step that reads them (network outputs: to the end) and are placed in
 *    one arena by nn_memplan.
 * 5. Prepacking: each op's compile hook folds and packs its weights once. */
#include "config.h"
#include "nn/nn_internal.h"
#include "nn/memplan.h"

#include <stdlib.h>
#include <string.h>


static int is_view(mfr_op op)
{
    return op == MFR_OP_RESHAPE || op == MFR_OP_FLATTEN || op == MFR_OP_DROPOUT;
}

static int is_affine(mfr_op op)
{
    return op == MFR_OP_CONV || op == MFR_OP_DWCONV || op == MFR_OP_FC;
}

/* The only reader of layer j, or -1 when it has none or several. */
static int single_reader(const mfr_net *net, const int *readers, int j)
{
    if (readers[j] != 1)
        return -1;
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_inputs && net->layers[i].op != MFR_OP_INPUT; k++)
            if (net->layers[i].inputs[k] == j)
                return i;
    return -1;
}

static void step_what(nn_step *s)
{
    size_t used = 0;
    used += (size_t)snprintf(s->what, sizeof s->what, "%s", mfr_op_name(s->l->op, s->l->act));
    if (s->l->batch_normalize && used < sizeof s->what)
        used += (size_t)snprintf(s->what + used, sizeof s->what - used, "+bn");
    if (is_affine(s->l->op) && s->l->act != MFR_ACT_NONE && used < sizeof s->what)
        used += (size_t)snprintf(s->what + used, sizeof s->what - used, "+%s", mfr_op_name(MFR_OP_ACT, s->l->act));
    for (int f = 0; f < s->n_fused && used < sizeof s->what; f++) {
        const mfr_layer *x = &s->net->layers[s->fused[f]];
        used += (size_t)snprintf(s->what + used, sizeof s->what - used, "+%s",
                                 x->op == MFR_OP_BATCHNORM ? "bn" : mfr_op_name(x->op, x->act));
    }
}

/* Decides what the affine step s absorbs (see the file comment). */
static void plan_fusion(mfr_exec *ex, nn_step *s, const int *readers, const int *pos, char *absorbed)
{
    const mfr_net *net = ex->net;
    const mfr_layer *l = s->l;
    int fold = !(ex->flags & MFR_EXEC_NO_FOLD), fuse = !(ex->flags & MFR_EXEC_NO_FUSE);
    int cur = s->layer, next;
    s->act = l->act;
    s->act_param = l->act_param;
    s->prelu = l->params[MFR_P_SLOPE] ? l->params[MFR_P_SLOPE]->data : NULL;
    s->fold_bn = fold;
    s->act_in_epilogue = fuse && (fold || !l->batch_normalize);
    if (l->act != MFR_ACT_NONE)
        return;
    if (fold && !l->batch_normalize && (next = single_reader(net, readers, cur)) >= 0 &&
        net->layers[next].op == MFR_OP_BATCHNORM) {
        s->bn_layer = &net->layers[next];
        s->fused[s->n_fused++] = next;
        absorbed[next] = 1;
        cur = next;
    }
    if (!s->act_in_epilogue)
        return;
    if ((next = single_reader(net, readers, cur)) >= 0 && net->layers[next].op == MFR_OP_ADD &&
        net->layers[next].n_inputs == 2) {
        const mfr_layer *add = &net->layers[next];
        int other = add->inputs[0] == cur ? add->inputs[1] : add->inputs[0];
        const mfr_layer *o = &net->layers[other];
        if (other != cur && pos[other] < pos[s->layer] && o->h == l->h && o->w == l->w && o->c == l->c) {
            s->fused[s->n_fused++] = next;
            absorbed[next] = 1;
            cur = next;
        }
    }
    if ((next = single_reader(net, readers, cur)) >= 0 && net->layers[next].op == MFR_OP_ACT) {
        const mfr_layer *a = &net->layers[next];
        s->act = a->act;
        s->act_param = a->act_param;
        s->prelu = a->params[MFR_P_SLOPE] ? a->params[MFR_P_SLOPE]->data : NULL;
        s->fused[s->n_fused++] = next;
        absorbed[next] = 1;
    }
}

/* The other input of a fused add. */
static int residual_layer(const mfr_exec *ex, const nn_step *s)
{
    for (int f = 0; f < s->n_fused; f++) {
        const mfr_layer *add = &ex->net->layers[s->fused[f]];
        if (add->op == MFR_OP_ADD) {
            int prev = f == 0 ? s->layer : s->fused[f - 1];
            return add->inputs[0] == prev ? add->inputs[1] : add->inputs[0];
        }
    }
    return -1;
}

static int build(mfr_exec *ex)
{
    const mfr_net *net = ex->net;
    int n = net->n_layers, rc = MFR_OK;
    int *readers = calloc((size_t)n, sizeof *readers);
    int *pos = malloc((size_t)n * sizeof *pos);
    char *absorbed = calloc((size_t)n, 1);
    ex->steps = calloc((size_t)n, sizeof *ex->steps);
    ex->storage_of = malloc((size_t)n * sizeof *ex->storage_of);
    ex->kept = calloc((size_t)n, sizeof *ex->kept);
    ex->bufs = calloc((size_t)n, sizeof *ex->bufs);
    ex->buf_layer = calloc((size_t)n, sizeof *ex->buf_layer);
    ex->inputs = malloc((size_t)n * sizeof *ex->inputs);
    ex->outputs = malloc((size_t)n * sizeof *ex->outputs);
    if (!readers || !pos || !absorbed || !ex->steps || !ex->storage_of || !ex->kept || !ex->bufs ||
        !ex->buf_layer || !ex->inputs || !ex->outputs) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory compiling the network");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const mfr_layer *l = &net->layers[i];
        pos[net->order[i]] = i;
        if (l->op == MFR_OP_INPUT)
            ex->inputs[ex->n_inputs++] = i;
        else
            for (int k = 0; k < l->n_inputs; k++)
                readers[l->inputs[k]]++;
    }
    for (int i = 0; i < n; i++)
        if (readers[i] == 0)
            ex->outputs[ex->n_outputs++] = i;

    /* Steps in topological order, with fusion. */
    for (int p = 0; p < n; p++) {
        int li = net->order[p];
        nn_step *s;
        if (absorbed[li])
            continue;
        s = &ex->steps[ex->n_steps++];
        s->layer = li;
        s->l = &net->layers[li];
        s->net = net;
        s->max_batch = ex->max_batch;
        s->bn_train = !!(ex->flags & MFR_EXEC_TRAIN_BN);
        if (is_affine(s->l->op))
            plan_fusion(ex, s, readers, pos, absorbed);
    }

    /* Storage: one buffer per step, except views. */
    for (int si = 0; si < ex->n_steps; si++) {
        nn_step *s = &ex->steps[si];
        const mfr_layer *l = s->l;
        int st;
        if (is_view(l->op)) {
            st = ex->storage_of[l->inputs[0]];
        } else {
            size_t bytes;
            st = ex->n_bufs++;
            if (mfr_size_mul(nn_elems(l), (size_t)ex->max_batch * sizeof(float), &bytes) != MFR_OK) {
                rc = MFR_ERR_NOMEM;
                goto out;
            }
            ex->bufs[st].bytes = bytes;
            ex->bufs[st].first = si;
            ex->bufs[st].last = si;
            ex->buf_layer[st] = s->n_fused ? s->fused[s->n_fused - 1] : s->layer;
            ex->naive_bytes += bytes;
        }
        ex->storage_of[s->layer] = st;
        for (int f = 0; f < s->n_fused; f++)
            ex->storage_of[s->fused[f]] = st;
        ex->kept[s->n_fused ? s->fused[s->n_fused - 1] : s->layer] = 1;
    }
    /* Live ranges: extended by every read; outputs live to the end. */
    for (int si = 0; si < ex->n_steps; si++) {
        nn_step *s = &ex->steps[si];
        int r = residual_layer(ex, s);
        if (s->l->op != MFR_OP_INPUT)
            for (int k = 0; k < s->l->n_inputs; k++) {
                nn_membuf *b = &ex->bufs[ex->storage_of[s->l->inputs[k]]];
                b->last = b->last > si ? b->last : si;
            }
        if (r >= 0) {
            nn_membuf *b = &ex->bufs[ex->storage_of[r]];
            b->last = b->last > si ? b->last : si;
        }
    }
    for (int i = 0; i < ex->n_outputs; i++)
        ex->bufs[ex->storage_of[ex->outputs[i]]].last = ex->n_steps;
    if (ex->flags & MFR_EXEC_KEEP_ALL)
        for (int i = 0; i < ex->n_bufs; i++)
            ex->bufs[i].last = ex->n_steps;
    /* An output's buffer is the one to keep; other layers' are reused. */
    for (int i = 0; i < n; i++)
        if (ex->kept[i] && ex->bufs[ex->storage_of[i]].last != ex->n_steps)
            ex->kept[i] = 0;
    if ((rc = nn_memplan(ex->bufs, ex->n_bufs, &ex->arena_bytes)) != MFR_OK)
        goto out;
    ex->arena = mfr_calloc(ex->arena_bytes ? ex->arena_bytes : 1, 1);
    if (!ex->arena) {
        rc = mfr_error_context(MFR_ERR_NOMEM, "activation arena of %zu bytes", ex->arena_bytes);
        goto out;
    }

    /* Bind buffers and prepare each step. */
    for (int si = 0; si < ex->n_steps; si++) {
        nn_step *s = &ex->steps[si];
        const nn_opdef *d = nn_opdef_of(s->l);
        int r = residual_layer(ex, s);
        s->out = (float *)((char *)ex->arena + ex->bufs[ex->storage_of[s->layer]].offset);
        if (s->l->op != MFR_OP_INPUT)
            for (int k = 0; k < s->l->n_inputs; k++) {
                const mfr_layer *in = &net->layers[s->l->inputs[k]];
                s->in[k] = (const float *)((char *)ex->arena + ex->bufs[ex->storage_of[s->l->inputs[k]]].offset);
                s->in_h[k] = in->h;
                s->in_w[k] = in->w;
                s->in_c[k] = in->c;
            }
        s->residual = r >= 0 ? (const float *)((char *)ex->arena + ex->bufs[ex->storage_of[r]].offset) : NULL;
        s->macs = s->l->macs;
        for (int f = 0; f < s->n_fused; f++)
            s->macs += net->layers[s->fused[f]].macs;
        step_what(s);
        if (d->compile && (rc = d->compile(s)) != MFR_OK)
            goto out;
        if ((ex->flags & MFR_EXEC_KEEP_PRE) && is_affine(s->l->op) && (s->bn_scale || s->act != MFR_ACT_NONE)) {
            size_t bytes;
            if (mfr_size_mul(nn_elems(s->l), (size_t)ex->max_batch * sizeof(float), &bytes) != MFR_OK ||
                !(s->pre = mfr_alloc(bytes))) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                goto out;
            }
        }
    }
out:
    free(readers);
    free(pos);
    free(absorbed);
    return rc;
}

int mfr_exec_create(const mfr_net *net, int max_batch, int flags, mfr_exec **out)
{
    mfr_exec *ex;
    int rc;
    *out = NULL;
    if (!net->resolved)
        return mfr_error(MFR_ERR_ARG, "the network is not resolved (call mfr_net_resolve)");
    if (max_batch < 1 || max_batch > 65536)
        return mfr_error(MFR_ERR_ARG, "batch size %d is outside 1..65536", max_batch);
    ex = calloc(1, sizeof *ex);
    if (!ex)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    ex->net = net;
    ex->max_batch = max_batch;
    ex->flags = flags & MFR_EXEC_TRAIN_BN ? flags | MFR_EXEC_NO_FOLD : flags;
    if ((rc = build(ex)) != MFR_OK) {
        mfr_exec_free(ex);
        return rc;
    }
    *out = ex;
    return MFR_OK;
}

/* Frees what a step's compile hook made from the weights. */
static void step_release(nn_step *s)
{
    mfr_conv_plan_free(s->plan);
    mfr_gemm_packed_free(s->packed);
    mfr_free(s->bias);
    mfr_free(s->bn_scale);
    mfr_free(s->bn_shift);
    mfr_free(s->bn_mean);
    mfr_free(s->bn_var);
    s->plan = NULL;
    s->packed = NULL;
    s->bias = s->bn_scale = s->bn_shift = s->bn_mean = s->bn_var = NULL;
}

int mfr_exec_reload_weights(mfr_exec *ex)
{
    for (int si = 0; si < ex->n_steps; si++) {
        nn_step *s = &ex->steps[si];
        const nn_opdef *d = nn_opdef_of(s->l);
        int rc;
        step_release(s);
        if (d->compile && (rc = d->compile(s)) != MFR_OK)
            return rc;
    }
    return MFR_OK;
}

void mfr_exec_free(mfr_exec *ex)
{
    if (!ex)
        return;
    for (int i = 0; i < ex->n_steps; i++) {
        step_release(&ex->steps[i]);
        mfr_free(ex->steps[i].pre);
    }
    free(ex->steps);
    free(ex->storage_of);
    free(ex->kept);
    free(ex->bufs);
    free(ex->buf_layer);
    free(ex->inputs);
    free(ex->outputs);
    mfr_free(ex->arena);
    free(ex);
}

int mfr_exec_forward_multi(mfr_exec *ex, const float *const *inputs, int n)
{
    if (n < 1 || n > ex->max_batch)
        return mfr_error(MFR_ERR_ARG, "batch of %d samples: this network was compiled for 1 to %d", n,
                         ex->max_batch);
    for (int i = 0; i < ex->n_inputs; i++) {
        const mfr_layer *l = &ex->net->layers[ex->inputs[i]];
        float *dst = (float *)((char *)ex->arena + ex->bufs[ex->storage_of[ex->inputs[i]]].offset);
        if (!inputs[i])
            return mfr_error(MFR_ERR_ARG, "no data for input layer '%s'", l->name);
        memcpy(dst, inputs[i], (size_t)n * nn_elems(l) * sizeof(float));
        /* A partial batch: the convolutions still run max_batch samples
         * (their plans are made for it); zeros keep the unused ones finite. */
        if (n < ex->max_batch)
            memset(dst + (size_t)n * nn_elems(l), 0, (size_t)(ex->max_batch - n) * nn_elems(l) * sizeof(float));
    }
    for (int i = 0; i < ex->n_steps; i++) {
        nn_step *s = &ex->steps[i];
        const nn_opdef *d = nn_opdef_of(s->l);
        double t0 = ex->profile ? mfr_time_now() : 0.0;
        d->forward(s, n);
        if (ex->profile) {
            s->seconds += mfr_time_now() - t0;
            s->calls++;
        }
    }
    return MFR_OK;
}

int mfr_exec_forward(mfr_exec *ex, const float *input, int n)
{
    const float *ins[1] = {input};
    if (ex->n_inputs != 1)
        return mfr_error(MFR_ERR_ARG, "the network has %d input layers: use mfr_exec_forward_multi", ex->n_inputs);
    return mfr_exec_forward_multi(ex, ins, n);
}

int mfr_exec_output_count(const mfr_exec *ex)
{
    return ex->n_outputs;
}

const float *mfr_exec_output(const mfr_exec *ex, int i, int *layer)
{
    if (i < 0 || i >= ex->n_outputs)
        return NULL;
    if (layer)
        *layer = ex->outputs[i];
    return (const float *)((char *)ex->arena + ex->bufs[ex->storage_of[ex->outputs[i]]].offset);
}

const float *mfr_exec_layer_output(const mfr_exec *ex, int layer)
{
    if (layer < 0 || layer >= ex->net->n_layers || !ex->kept[layer])
        return NULL;
    return (const float *)((char *)ex->arena + ex->bufs[ex->storage_of[layer]].offset);
}

int mfr_exec_max_batch(const mfr_exec *ex)
{
    return ex->max_batch;
}

size_t mfr_exec_arena_bytes(const mfr_exec *ex)
{
    return ex->arena_bytes;
}

size_t mfr_exec_naive_bytes(const mfr_exec *ex)
{
    return ex->naive_bytes;
}

int mfr_exec_buffer_count(const mfr_exec *ex)
{
    return ex->n_bufs;
}

void mfr_exec_buffer_get(const mfr_exec *ex, int i, mfr_exec_buffer *b)
{
    memset(b, 0, sizeof *b);
    if (i < 0 || i >= ex->n_bufs)
        return;
    b->layer = ex->buf_layer[i];
    b->offset = ex->bufs[i].offset;
    b->bytes = ex->bufs[i].bytes;
    b->first = ex->bufs[i].first;
    b->last = ex->bufs[i].last;
}

void mfr_exec_profile(mfr_exec *ex, int on)
{
    ex->profile = on;
}

void mfr_exec_profile_reset(mfr_exec *ex)
{
    for (int i = 0; i < ex->n_steps; i++) {
        ex->steps[i].seconds = 0.0;
        ex->steps[i].calls = 0;
    }
}

int mfr_exec_step_count(const mfr_exec *ex)
{
    return ex->n_steps;
}

void mfr_exec_step_get(const mfr_exec *ex, int i, mfr_exec_step_info *info)
{
    const nn_step *s;
    memset(info, 0, sizeof *info);
    if (i < 0 || i >= ex->n_steps)
        return;
    s = &ex->steps[i];
    info->layer = s->layer;
    info->name = s->l->name;
    info->what = s->what;
    info->macs = s->macs;
    info->seconds = s->seconds;
    info->calls = s->calls;
}
