/* Face embedding: aligned crops through a network, in batches, into
 * L2-normalised vectors. */
#include "config.h"
#include "mfr/face.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mfr_embedder {
    mfr_net *net;       /* borrowed */
    mfr_exec *ex;
    int size, dim, max_batch;
    int output;         /* output index in mfr_exec_output order */
    float *input;       /* max_batch x size x size x 3 */
};

void mfr_l2_normalize(float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * (double)v[i];
    if (!(s > 0) || !isfinite(s))
        return; /* a zero (or broken) vector stays as it is */
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < n; i++)
        v[i] *= inv;
}

int mfr_embedder_create(mfr_net *net, int max_batch, mfr_embedder **out)
{
    mfr_embedder *e;
    int rc, input = -1, n_out;
    *out = NULL;
    if (max_batch < 1 || max_batch > 4096)
        return mfr_error(MFR_ERR_ARG, "embedder: batch size %d is outside [1, 4096]", max_batch);
    if ((rc = mfr_net_resolve(net)) != MFR_OK)
        return rc;
    for (int i = 0; i < net->n_layers; i++) {
        const mfr_layer *l = &net->layers[i];
        if (l->op != MFR_OP_INPUT)
            continue;
        if (input >= 0)
            return mfr_error(MFR_ERR_FORMAT, "%s: an embedder has one input layer, this network has several",
                             net->name);
        input = i;
    }
    if (input < 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: no input layer", net->name);
    const mfr_layer *in = &net->layers[input];
    if (in->in_c != 3 || in->in_h != in->in_w || in->in_h < 8 || in->in_h > 1024)
        return mfr_error(MFR_ERR_FORMAT,
                         "%s: an embedder takes a square RGB crop (h = w in [8, 1024], 3 channels); "
                         "its input is %dx%dx%d",
                         net->name, in->in_h, in->in_w, in->in_c);
    n_out = mfr_net_output_count(net);
    if (n_out != 1)
        return mfr_error(MFR_ERR_FORMAT, "%s: an embedder has exactly one output, this network has %d", net->name,
                         n_out);
    const mfr_layer *ol = &net->layers[mfr_net_output_layer(net, 0)];
    long dim = (long)ol->h * ol->w * ol->c;
    if (dim < 1 || dim > (1L << 20))
        return mfr_error(MFR_ERR_FORMAT, "%s: output '%s' has %ld values per sample; an embedding needs 1..2^20",
                         net->name, ol->name, dim);
    e = calloc(1, sizeof *e);
    if (!e)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    e->net = net;
    e->size = in->in_h;
    e->dim = (int)dim;
    e->max_batch = max_batch;
    if ((rc = mfr_exec_create(net, max_batch, 0, &e->ex)) != MFR_OK) {
        free(e);
        return rc;
    }
    e->input = mfr_alloc((size_t)max_batch * (size_t)e->size * (size_t)e->size * 3 * sizeof(float));
    if (!e->input) {
        mfr_embedder_free(e);
        return MFR_ERR_NOMEM;
    }
    *out = e;
    return MFR_OK;
}

void mfr_embedder_free(mfr_embedder *e)
{
    if (!e)
        return;
    mfr_exec_free(e->ex);
    mfr_free(e->input);
    free(e);
}

int mfr_embedder_dim(const mfr_embedder *e) { return e->dim; }
int mfr_embedder_size(const mfr_embedder *e) { return e->size; }
int mfr_embedder_batch(const mfr_embedder *e) { return e->max_batch; }

int mfr_embedder_run(mfr_embedder *e, const mfr_image *crops, int n, float *out)
{
    size_t px = (size_t)e->size * (size_t)e->size * 3;
    int rc = MFR_OK;
    int *slot = malloc((size_t)(e->max_batch > 0 ? e->max_batch : 1) * sizeof *slot);
    if (!slot)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    for (int first = 0; first < n && rc == MFR_OK; first += e->max_batch) {
        int count = n - first < e->max_batch ? n - first : e->max_batch, m = 0;
        /* Pack the crops that exist; a missing crop (no data) is a NaN row. */
        for (int i = 0; i < count; i++) {
            const mfr_image *c = &crops[first + i];
            float *row = out + (size_t)(first + i) * (size_t)e->dim;
            if (!c->data) {
                for (int k = 0; k < e->dim; k++)
                    row[k] = NAN;
                continue;
            }
            if (c->width != e->size || c->height != e->size || c->channels != 3) {
                rc = mfr_error(MFR_ERR_ARG, "embedder: crop %d is %dx%dx%d; %s takes %dx%dx3", first + i, c->width,
                               c->height, c->channels, e->net->name, e->size, e->size);
                break;
            }
            mfr_image_to_float(c, MFR_FACE_PIXEL_MEAN, MFR_FACE_PIXEL_SCALE, e->input + (size_t)m * px);
            slot[m++] = first + i;
        }
        if (rc != MFR_OK || m == 0)
            continue;
        if ((rc = mfr_exec_forward(e->ex, e->input, m)) != MFR_OK)
            break;
        const float *y = mfr_exec_output(e->ex, 0, NULL);
        for (int j = 0; j < m; j++) {
            float *row = out + (size_t)slot[j] * (size_t)e->dim;
            memcpy(row, y + (size_t)j * (size_t)e->dim, (size_t)e->dim * sizeof *row);
            mfr_l2_normalize(row, e->dim);
        }
    }
    free(slot);
    return rc;
}
