/* Training checkpoints: model bytes, task tensors, optimiser state, step and
 * seed in one CRC-checked file written atomically (docs/training.md). */
#include "config.h"
#include "mfr/train.h"

#include <stdlib.h>
#include <string.h>

#define CKPT_MAGIC "MFRCKPT"         /* 8 bytes with the NUL */
#define CKPT_HEADER 64
#define CKPT_MAX_FILE (1ull << 32)   /* 4 GiB */
#define CKPT_MAX_NAME 4096

/* A growable byte buffer; the numbers are stored little-endian. */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} buf;

static void put(buf *b, const void *data, size_t size)
{
    if (b->failed)
        return;
    if (b->n + size > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + size)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, size);
    b->n += size;
}

static void put_u16(buf *b, uint16_t v)
{
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, c, 2);
}

static void put_u32(buf *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    put(b, c, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    unsigned char c[8];
    for (int i = 0; i < 8; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    put(b, c, 8);
}

static void put_floats(buf *b, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        put_u32(b, u);
    }
}

static void put_array(buf *b, const char *prefix, const char *name, const float *data, size_t n)
{
    size_t lp = strlen(prefix), ln = strlen(name);
    put_u16(b, (uint16_t)(lp + ln));
    put(b, prefix, lp);
    put(b, name, ln);
    put_u64(b, n);
    put_floats(b, data, n);
}

int mfr_ckpt_save(const char *path, const mfr_net *net, const mfr_optim *opt, const mfr_train_param *extra,
                  int n_extra, const mfr_ckpt_info *info)
{
    buf b = {0};
    void *model = NULL;
    size_t model_size = 0;
    int rc, n_state = opt ? mfr_optim_state_count(opt) : 0;
    char magic[8] = CKPT_MAGIC;
    for (int i = 0; i < n_extra; i++)
        if (strlen(extra[i].name) + 6 > CKPT_MAX_NAME)
            return mfr_error(MFR_ERR_ARG, "%s: tensor name too long", path);
    if ((rc = mfr_model_encode(net, &model, &model_size)) != MFR_OK)
        return mfr_error_context(rc, "%s", path);
    put(&b, magic, 8);
    put_u32(&b, MFR_CKPT_VERSION);
    put_u32(&b, 0);
    put_u64(&b, (uint64_t)info->step);
    put_u64(&b, (uint64_t)info->steps);
    put_u64(&b, info->seed);
    put_u32(&b, (uint32_t)info->batch);
    put_u32(&b, (uint32_t)(n_extra + n_state));
    put_u64(&b, (uint64_t)(opt ? mfr_optim_steps(opt) : 0));
    put_u64(&b, model_size);
    put(&b, model, model_size);
    free(model);
    for (int i = 0; i < n_extra; i++)
        put_array(&b, "task:", extra[i].name, extra[i].value, extra[i].size);
    for (int i = 0; i < n_state; i++) {
        mfr_optim_state st;
        mfr_optim_state_get(opt, i, &st);
        if (strlen(st.name) + 6 > CKPT_MAX_NAME) {
            free(b.p);
            return mfr_error(MFR_ERR_ARG, "%s: state name too long", path);
        }
        put_array(&b, "optim:", st.name, st.data, st.size);
    }
    put_u32(&b, mfr_crc32(0, b.p, b.n));
    if (b.failed) {
        free(b.p);
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    }
    rc = mfr_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

/* ----------------------------------------------------------------- load */

typedef struct rd {
    const unsigned char *p;
    size_t n, at;
    const char *path;
} rd;

static int take(rd *r, size_t size, const unsigned char **out, const char *what)
{
    if (size > r->n - r->at)
        return mfr_error(MFR_ERR_FORMAT, "%s: truncated checkpoint (reading %s at byte %zu)", r->path, what, r->at);
    *out = r->p + r->at;
    r->at += size;
    return MFR_OK;
}

static uint64_t le(const unsigned char *c, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | c[i];
    return v;
}

static int get_u(rd *r, int bytes, uint64_t *v, const char *what)
{
    const unsigned char *c = NULL;
    int rc = take(r, (size_t)bytes, &c, what);
    if (rc == MFR_OK)
        *v = le(c, bytes);
    return rc;
}

/* Finds where a named array goes: a task tensor or an optimiser state. */
static float *target_of(const char *name, size_t size, const mfr_optim *opt, mfr_train_param *extra, int n_extra,
                        size_t *want)
{
    if (strncmp(name, "task:", 5) == 0) {
        for (int i = 0; i < n_extra; i++)
            if (strcmp(extra[i].name, name + 5) == 0) {
                *want = extra[i].size;
                return extra[i].value;
            }
    } else if (strncmp(name, "optim:", 6) == 0 && opt) {
        for (int i = 0; i < mfr_optim_state_count(opt); i++) {
            mfr_optim_state st;
            mfr_optim_state_get(opt, i, &st);
            if (strcmp(st.name, name + 6) == 0) {
                *want = st.size;
                return st.data;
            }
        }
    }
    (void)size;
    return NULL;
}

static int copy_weights(const char *path, mfr_net *dst, const mfr_net *src)
{
    int n = mfr_net_param_count(dst);
    if (mfr_net_param_count(src) != n)
        return mfr_error(MFR_ERR_FORMAT, "%s: the checkpoint's network has %d parameter tensors, this one %d", path,
                         mfr_net_param_count(src), n);
    for (int i = 0; i < n; i++) {
        mfr_tensor *d = mfr_net_param(dst, i);
        const mfr_tensor *s = mfr_net_param_find(src, d->name);
        if (!s || s->size != d->size)
            return mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s' is missing or of another shape in the checkpoint", path,
                             d->name);
        memcpy(d->data, s->data, d->size * sizeof(float));
    }
    return MFR_OK;
}

int mfr_ckpt_load(const char *path, mfr_net *net, mfr_optim *opt, mfr_train_param *extra, int n_extra,
                  mfr_ckpt_info *info)
{
    void *data = NULL;
    size_t size = 0;
    rd r;
    uint64_t version, reserved, step, steps, seed, batch, count, osteps, msize;
    const unsigned char *c = NULL;
    mfr_net *saved = NULL;
    int n_state = opt ? mfr_optim_state_count(opt) : 0, rc;

    if ((rc = mfr_read_file(path, (size_t)CKPT_MAX_FILE, &data, &size)) != MFR_OK)
        return rc;
    r.p = data;
    r.n = size;
    r.at = 0;
    r.path = path;
    if (size < CKPT_HEADER + 4 || memcmp(data, CKPT_MAGIC, 8) != 0) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: not an mfr checkpoint (bad magic or too short)", path);
        goto done;
    }
    if (le(r.p + size - 4, 4) != mfr_crc32(0, r.p, size - 4)) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: checkpoint CRC mismatch: the file is corrupt", path);
        goto done;
    }
    r.n = size - 4;
    r.at = 8;
    if ((rc = get_u(&r, 4, &version, "version")) != MFR_OK || (rc = get_u(&r, 4, &reserved, "flags")) != MFR_OK ||
        (rc = get_u(&r, 8, &step, "step")) != MFR_OK || (rc = get_u(&r, 8, &steps, "steps")) != MFR_OK ||
        (rc = get_u(&r, 8, &seed, "seed")) != MFR_OK || (rc = get_u(&r, 4, &batch, "batch")) != MFR_OK ||
        (rc = get_u(&r, 4, &count, "array count")) != MFR_OK ||
        (rc = get_u(&r, 8, &osteps, "optimiser steps")) != MFR_OK ||
        (rc = get_u(&r, 8, &msize, "model size")) != MFR_OK)
        goto done;
    if (version != MFR_CKPT_VERSION) {
        rc = mfr_error(MFR_ERR_UNSUPPORTED, "%s: checkpoint version %llu (this build reads %d)", path,
                       (unsigned long long)version, MFR_CKPT_VERSION);
        goto done;
    }
    if (step > steps || steps > (uint64_t)1 << 40 || batch < 1 || batch > 1u << 20 || osteps > (uint64_t)1 << 40) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: implausible header (step %llu of %llu, batch %llu)", path,
                       (unsigned long long)step, (unsigned long long)steps, (unsigned long long)batch);
        goto done;
    }
    if (count != (uint64_t)(n_extra + n_state)) {
        rc = mfr_error(MFR_ERR_FORMAT,
                       "%s: the checkpoint holds %llu arrays, this run has %d (another optimiser or task?)", path,
                       (unsigned long long)count, n_extra + n_state);
        goto done;
    }
    if ((rc = take(&r, (size_t)(msize <= r.n ? msize : r.n + 1), &c, "the model")) != MFR_OK)
        goto done;
    if ((rc = mfr_model_decode(c, (size_t)msize, path, &saved)) != MFR_OK)
        goto done;
    if ((rc = copy_weights(path, net, saved)) != MFR_OK)
        goto done;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t ln, n;
        char name[CKPT_MAX_NAME + 1];
        float *dst;
        size_t want = 0;
        if ((rc = get_u(&r, 2, &ln, "an array name")) != MFR_OK || (rc = take(&r, (size_t)ln, &c, "a name")) != MFR_OK)
            goto done;
        memcpy(name, c, (size_t)ln);
        name[ln] = '\0';
        if ((rc = get_u(&r, 8, &n, name)) != MFR_OK)
            goto done;
        dst = target_of(name, (size_t)n, opt, extra, n_extra, &want);
        if (!dst || want != n) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: array '%s' (%llu floats) does not belong to this run", path, name,
                           (unsigned long long)n);
            goto done;
        }
        if (n > (r.n - r.at) / 4) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: truncated checkpoint in array '%s'", path, name);
            goto done;
        }
        take(&r, (size_t)n * 4, &c, name);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)le(c + 4 * i, 4);
            memcpy(&dst[i], &u, 4);
        }
    }
    if (r.at != r.n) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: %zu unexpected bytes after the last array", path, r.n - r.at);
        goto done;
    }
    if (opt)
        mfr_optim_set_steps(opt, (int64_t)osteps);
    info->step = (long)step;
    info->steps = (long)steps;
    info->seed = seed;
    info->batch = (int)batch;
done:
    mfr_net_free(saved);
    free(data);
    return rc;
}
