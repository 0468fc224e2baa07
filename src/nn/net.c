/* Networks: the layer list, the builder API, name resolution, topological
 * order and shape inference (mfr_net_resolve). */
#include "config.h"
#include "nn/nn_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int mfr_net_create(mfr_net **out)
{
    mfr_net *net = calloc(1, sizeof *net);
    *out = NULL;
    if (!net)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    *out = net;
    return MFR_OK;
}

static void layer_clear(mfr_layer *l)
{
    free(l->name);
    for (int i = 0; i < MFR_LAYER_MAX_INPUTS; i++)
        free(l->input_names[i]);
    for (int i = 0; i < MFR_LAYER_MAX_PARAMS; i++)
        mfr_tensor_free(l->params[i]);
}

void mfr_net_free(mfr_net *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->n_layers; i++)
        layer_clear(&net->layers[i]);
    free(net->layers);
    free(net->order);
    free(net->name);
    free(net);
}

int nn_layer_error(const mfr_net *net, const mfr_layer *l, int code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->line > 0 && net->name)
        return mfr_error(code, "%s:%d: [%s] '%s': %s", net->name, l->line, mfr_op_name(l->op, l->act),
                         l->name ? l->name : "?", msg);
    return mfr_error(code, "layer '%s' (%s): %s", l->name ? l->name : "?", mfr_op_name(l->op, l->act), msg);
}

int mfr_net_find(const mfr_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].name && strcmp(net->layers[i].name, name) == 0)
            return i;
    return -1;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NN_NAME_MAX - 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

/* Splits "a, b" into the layer's input names. */
static int set_inputs(mfr_layer *l, const char *input)
{
    const char *p = input;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *s = p, *e = comma ? comma : p + strlen(p);
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e)
            return mfr_error(MFR_ERR_FORMAT, "empty name in input list '%s'", input);
        if (l->n_inputs == MFR_LAYER_MAX_INPUTS)
            return mfr_error(MFR_ERR_RANGE, "more than %d inputs in '%s'", MFR_LAYER_MAX_INPUTS, input);
        l->input_names[l->n_inputs] = malloc((size_t)(e - s) + 1);
        if (!l->input_names[l->n_inputs])
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
        memcpy(l->input_names[l->n_inputs], s, (size_t)(e - s));
        l->input_names[l->n_inputs][e - s] = '\0';
        l->n_inputs++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return MFR_OK;
}

mfr_layer *mfr_net_add(mfr_net *net, mfr_op op, const char *name, const char *input)
{
    mfr_layer *l;
    char auto_name[64];
    if ((int)op < 0 || op >= MFR_OP_COUNT_) {
        mfr_error(MFR_ERR_ARG, "unknown layer type %d", (int)op);
        return NULL;
    }
    if (net->n_layers >= NN_MAX_LAYERS) {
        mfr_error(MFR_ERR_RANGE, "more than %d layers", NN_MAX_LAYERS);
        return NULL;
    }
    if (!name) {
        snprintf(auto_name, sizeof auto_name, "%s%d", mfr_op_name(op, MFR_ACT_NONE), net->n_layers);
        name = auto_name;
    }
    if (!valid_name(name)) {
        mfr_error(MFR_ERR_FORMAT, "bad layer name '%.40s' (letters, digits, _ and -, at most %d)", name,
                  NN_NAME_MAX - 16);
        return NULL;
    }
    if (mfr_net_find(net, name) >= 0) {
        mfr_error(MFR_ERR_FORMAT, "duplicate layer name '%s'", name);
        return NULL;
    }
    if (net->n_layers == net->cap) {
        int cap = net->cap ? net->cap * 2 : 16;
        mfr_layer *g = realloc(net->layers, (size_t)cap * sizeof *g);
        if (!g) {
            mfr_error(MFR_ERR_NOMEM, "out of memory");
            return NULL;
        }
        net->layers = g;
        net->cap = cap;
    }
    l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    nn_layer_defaults(l, op, op == MFR_OP_ACT ? MFR_ACT_RELU : MFR_ACT_NONE);
    l->name = mfr_strdup(name);
    if (!l->name)
        return NULL;
    if (input && set_inputs(l, input) != MFR_OK) {
        layer_clear(l);
        return NULL;
    }
    net->n_layers++;
    net->resolved = 0;
    return l;
}

mfr_layer *mfr_net_input(mfr_net *net, const char *name, int h, int w, int c)
{
    mfr_layer *l = mfr_net_add(net, MFR_OP_INPUT, name, NULL);
    if (l) {
        l->in_h = h;
        l->in_w = w;
        l->in_c = c;
    }
    return l;
}

mfr_layer *mfr_net_conv(mfr_net *net, const char *name, const char *input, int filters, int size, int stride,
                        int groups, mfr_act act)
{
    mfr_layer *l = mfr_net_add(net, MFR_OP_CONV, name, input);
    if (l) {
        l->filters = filters;
        l->kh = l->kw = size;
        l->stride_h = l->stride_w = stride;
        l->groups = groups;
        l->pad_same = 1;
        l->act = act;
    }
    return l;
}

static int param_make(mfr_net *net, mfr_layer *l, int slot, const char *suffix, int ndim, const int *shape,
                      int *created)
{
    mfr_tensor *t = l->params[slot];
    char name[NN_NAME_MAX + 1];
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || mfr_size_mul(size, (size_t)shape[i], &size) != MFR_OK || size > NN_MAX_ELEMS)
            return nn_layer_error(net, l, MFR_ERR_RANGE, "parameter '%s' is too large", suffix);
    }
    if (t) {
        int same = t->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = t->shape[i] == shape[i];
        if (same)
            return MFR_OK;
        mfr_tensor_free(t);
        l->params[slot] = NULL;
    }
    snprintf(name, sizeof name, "%s.%s", l->name, suffix);
    if (mfr_tensor_create(name, ndim, shape, &t) != MFR_OK)
        return mfr_error_context(MFR_ERR_NOMEM, "layer '%s'", l->name);
    l->params[slot] = t;
    *created = 1;
    return MFR_OK;
}

int nn_param(mfr_net *net, mfr_layer *l, int slot, const char *suffix, int ndim, const int *shape)
{
    int created = 0;
    return param_make(net, l, slot, suffix, ndim, shape, &created);
}

int nn_param_fill(mfr_net *net, mfr_layer *l, int slot, const char *suffix, int ndim, const int *shape, float value)
{
    int created = 0;
    int rc = param_make(net, l, slot, suffix, ndim, shape, &created);
    if (rc == MFR_OK && created)
        for (size_t i = 0; i < l->params[slot]->size; i++)
            l->params[slot]->data[i] = value;
    return rc;
}

/* Resolves input names to indices (default: the previous layer). */
static int resolve_inputs(mfr_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        mfr_layer *l = &net->layers[i];
        const nn_opdef *d = nn_opdef_of(l);
        if (l->op == MFR_OP_INPUT) {
            if (l->n_inputs > 0)
                return nn_layer_error(net, l, MFR_ERR_FORMAT, "an input layer takes no input");
            continue;
        }
        if (l->n_inputs == 0) {
            if (i == 0)
                return nn_layer_error(net, l, MFR_ERR_FORMAT, "the first layer has no previous layer to read");
            if (d->min_inputs > 1)
                return nn_layer_error(net, l, MFR_ERR_FORMAT, "needs at least %d inputs (input = a, b)",
                                      d->min_inputs);
            /* From here on every layer names its inputs explicitly. */
            l->input_names[0] = mfr_strdup(net->layers[i - 1].name);
            if (!l->input_names[0])
                return MFR_ERR_NOMEM;
            l->n_inputs = 1;
            l->inputs[0] = i - 1;
            continue;
        }
        if (l->n_inputs < d->min_inputs || l->n_inputs > d->max_inputs) {
            if (d->min_inputs == d->max_inputs)
                return nn_layer_error(net, l, MFR_ERR_FORMAT, "takes %d input%s, not %d", d->min_inputs,
                                      d->min_inputs == 1 ? "" : "s", l->n_inputs);
            return nn_layer_error(net, l, MFR_ERR_FORMAT, "takes %d to %d inputs, not %d", d->min_inputs,
                                  d->max_inputs, l->n_inputs);
        }
        for (int k = 0; k < l->n_inputs; k++) {
            int j = mfr_net_find(net, l->input_names[k]);
            if (j < 0)
                return nn_layer_error(net, l, MFR_ERR_NOTFOUND, "input '%s' is not a layer of this network",
                                      l->input_names[k]);
            if (j == i)
                return nn_layer_error(net, l, MFR_ERR_FORMAT, "reads its own output");
            l->inputs[k] = j;
        }
    }
    return MFR_OK;
}

/* Kahn's algorithm, always taking the lowest-numbered ready layer, so a
 * definition written in order keeps its order. */
static int topo_sort(mfr_net *net)
{
    int n = net->n_layers, done = 0, rc = MFR_OK;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *order = malloc((size_t)n * sizeof *order);
    char *placed = calloc((size_t)n, 1);
    if (!indeg || !order || !placed) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        indeg[i] = net->layers[i].op == MFR_OP_INPUT ? 0 : net->layers[i].n_inputs;
    /* O(n^2) in the worst case; networks have hundreds of layers. */
    while (done < n) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++)
            if (!placed[i] && indeg[i] == 0)
                pick = i;
        if (pick < 0) {
            for (int i = 0; i < n; i++)
                if (!placed[i]) {
                    rc = nn_layer_error(net, &net->layers[i], MFR_ERR_FORMAT,
                                        "is part of a cycle (a layer depends on its own output)");
                    goto out;
                }
        }
        placed[pick] = 1;
        order[done++] = pick;
        for (int i = 0; i < n; i++) {
            const mfr_layer *l = &net->layers[i];
            int k_n = l->op == MFR_OP_INPUT ? 0 : l->n_inputs;
            for (int k = 0; k < k_n; k++)
                if (l->inputs[k] == pick)
                    indeg[i]--;
        }
    }
    free(net->order);
    net->order = order;
    order = NULL;
out:
    free(indeg);
    free(order);
    free(placed);
    return rc;
}

int mfr_net_resolve(mfr_net *net)
{
    int rc, n_in = 0;
    if (net->resolved)
        return MFR_OK;
    if (net->n_layers == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: the network has no layers", net->name ? net->name : "network");
    for (int i = 0; i < net->n_layers; i++)
        n_in += net->layers[i].op == MFR_OP_INPUT;
    if (n_in == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: the network has no [input] layer", net->name ? net->name : "network");
    if ((rc = resolve_inputs(net)) != MFR_OK || (rc = topo_sort(net)) != MFR_OK)
        return rc;
    for (int k = 0; k < net->n_layers; k++) {
        mfr_layer *l = &net->layers[net->order[k]];
        const nn_opdef *d = nn_opdef_of(l);
        l->macs = 0;
        if ((rc = d->shape(net, l)) != MFR_OK)
            return rc;
        if (l->h <= 0 || l->w <= 0 || l->c <= 0 || l->h > NN_MAX_DIM || l->w > NN_MAX_DIM || l->c > (1 << 24) ||
            (uint64_t)l->h * (uint64_t)l->w * (uint64_t)l->c > NN_MAX_ELEMS)
            return nn_layer_error(net, l, MFR_ERR_RANGE, "output shape %dx%dx%d is empty or too large", l->h, l->w,
                                  l->c);
    }
    net->resolved = 1;
    return MFR_OK;
}

int mfr_net_param_count(const mfr_net *net)
{
    int n = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++)
            n += net->layers[i].params[s] != NULL;
    return n;
}

mfr_tensor *mfr_net_param(const mfr_net *net, int idx)
{
    for (int i = 0; i < net->n_layers; i++)
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++)
            if (net->layers[i].params[s] && idx-- == 0)
                return net->layers[i].params[s];
    return NULL;
}

mfr_tensor *mfr_net_param_find(const mfr_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++)
            if (net->layers[i].params[s] && strcmp(net->layers[i].params[s]->name, name) == 0)
                return net->layers[i].params[s];
    return NULL;
}

uint64_t mfr_net_param_total(const mfr_net *net)
{
    uint64_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++)
            if (net->layers[i].params[s])
                n += net->layers[i].params[s]->size;
    return n;
}

uint64_t mfr_net_macs(const mfr_net *net)
{
    uint64_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        n += net->layers[i].macs;
    return n;
}

static int is_consumed(const mfr_net *net, int j)
{
    for (int i = 0; i < net->n_layers; i++) {
        const mfr_layer *l = &net->layers[i];
        if (l->op == MFR_OP_INPUT)
            continue;
        for (int k = 0; k < l->n_inputs; k++)
            if (l->inputs[k] == j)
                return 1;
    }
    return 0;
}

int mfr_net_output_count(const mfr_net *net)
{
    int n = 0;
    for (int i = 0; i < net->n_layers; i++)
        n += !is_consumed(net, i);
    return n;
}

int mfr_net_output_layer(const mfr_net *net, int idx)
{
    for (int i = 0; i < net->n_layers; i++)
        if (!is_consumed(net, i) && idx-- == 0)
            return i;
    return -1;
}
