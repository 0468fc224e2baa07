/* Tensors: named float32 arrays with sizes and strides. */
#include "config.h"
#include "mfr/nn.h"

#include <stdlib.h>
#include <string.h>

int mfr_tensor_create(const char *name, int ndim, const int *shape, mfr_tensor **out)
{
    mfr_tensor *t;
    size_t size = 1, bytes;
    *out = NULL;
    if (ndim < 1 || ndim > MFR_TENSOR_MAX_DIMS)
        return mfr_error(MFR_ERR_ARG, "tensor '%s': %d dimensions (1 to %d allowed)", name ? name : "", ndim,
                         MFR_TENSOR_MAX_DIMS);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return mfr_error(MFR_ERR_ARG, "tensor '%s': size %d along dimension %d", name ? name : "", shape[i], i);
        if (mfr_size_mul(size, (size_t)shape[i], &size) != MFR_OK)
            return MFR_ERR_NOMEM;
    }
    if (mfr_size_mul(size, sizeof(float), &bytes) != MFR_OK)
        return MFR_ERR_NOMEM;
    t = calloc(1, sizeof *t);
    if (!t)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    t->data = mfr_calloc(size, sizeof(float));
    t->name = name ? mfr_strdup(name) : NULL;
    if (!t->data || (name && !t->name)) {
        mfr_free(t->data);
        free(t->name);
        free(t);
        return mfr_error(MFR_ERR_NOMEM, "tensor '%s': out of memory for %zu bytes", name ? name : "", bytes);
    }
    t->ndim = ndim;
    t->size = size;
    t->owns = 1;
    size_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = s;
        s *= (size_t)shape[i];
    }
    *out = t;
    return MFR_OK;
}

void mfr_tensor_free(mfr_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        mfr_free(t->data);
    free(t->name);
    free(t);
}

const char *mfr_tensor_shape_str(const mfr_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < t->ndim && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%d", i ? "x" : "", t->shape[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}
