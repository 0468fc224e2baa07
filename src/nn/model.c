/* Model files: one self-describing file with the network definition and its
 * named tensors (docs/nn.md has the layout byte by byte).
 *
 *   header (64 bytes, little-endian)
 *   definition text, zlib-compressed
 *   tensor records, zlib-compressed
 *
 * Loading trusts nothing: every size is checked against the bytes that are
 * really there and against fixed limits before anything is allocated, each
 * section has a CRC32, and every tensor must match the definition's
 * parameter of the same name exactly. */
#include "config.h"
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HEADER_SIZE 64
#define MAX_TENSORS 1000000u
/* zlib cannot expand more than about 1032:1; a larger claim is a lie. */
#define MAX_RATIO 1032u

static const unsigned char magic[8] = {'M', 'F', 'R', 'M', 'O', 'D', 'E', 'L'};

static void put_u16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The tensor section: per tensor u16 name length, name, u8 dtype (0 =
 * float32), u8 ndim, u32 sizes, then the values as little-endian float32. */
static int encode_tensors(const mfr_net *net, unsigned char **out, size_t *size)
{
    size_t total = 0, at = 0;
    int n = mfr_net_param_count(net);
    unsigned char *buf;
    for (int i = 0; i < n; i++) {
        const mfr_tensor *t = mfr_net_param(net, i); /* O(layers) each: fine for hundreds */
        total += 2 + strlen(t->name) + 2 + 4 * (size_t)t->ndim + 4 * t->size;
    }
    if (total > MFR_MODEL_MAX_DATA)
        return mfr_error(MFR_ERR_RANGE, "the tensors take %zu bytes, more than a model file holds (%llu)", total,
                         (unsigned long long)MFR_MODEL_MAX_DATA);
    buf = malloc(total ? total : 1);
    if (!buf)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for %zu bytes of tensors", total);
    for (int i = 0; i < n; i++) {
        const mfr_tensor *t = mfr_net_param(net, i);
        size_t len = strlen(t->name);
        put_u16(buf + at, (uint32_t)len);
        memcpy(buf + at + 2, t->name, len);
        at += 2 + len;
        buf[at++] = 0; /* float32 */
        buf[at++] = (unsigned char)t->ndim;
        for (int d = 0; d < t->ndim; d++, at += 4)
            put_u32(buf + at, (uint32_t)t->shape[d]);
        for (size_t k = 0; k < t->size; k++, at += 4) {
            uint32_t bits;
            memcpy(&bits, &t->data[k], 4);
            put_u32(buf + at, bits);
        }
    }
    *out = buf;
    *size = total;
    return MFR_OK;
}

static int deflate_buf(const void *src, size_t n, unsigned char **out, size_t *zn)
{
    uLongf cap = compressBound((uLong)n);
    unsigned char *dst = malloc(cap ? cap : 1);
    int zrc;
    if (!dst)
        return mfr_error(MFR_ERR_NOMEM, "out of memory compressing %zu bytes", n);
    zrc = compress2(dst, &cap, src, (uLong)n, 6);
    if (zrc != Z_OK) {
        free(dst);
        return mfr_error(MFR_ERR_INTERNAL, "zlib compress failed: %s", zError(zrc));
    }
    *out = dst;
    *zn = cap;
    return MFR_OK;
}

int mfr_model_encode(const mfr_net *net, void **data, size_t *size)
{
    char *text = NULL;
    unsigned char *tens = NULL, *zdef = NULL, *zten = NULL, *file = NULL, *h;
    size_t text_n = 0, tens_n = 0, zdef_n = 0, zten_n = 0;
    int rc;
    *data = NULL;
    *size = 0;
    if (!net->resolved)
        return mfr_error(MFR_ERR_ARG, "the network is not resolved (call mfr_net_resolve)");
    if ((rc = mfr_net_to_text(net, &text, &text_n)) != MFR_OK || (rc = encode_tensors(net, &tens, &tens_n)) != MFR_OK ||
        (rc = deflate_buf(text, text_n, &zdef, &zdef_n)) != MFR_OK ||
        (rc = deflate_buf(tens, tens_n, &zten, &zten_n)) != MFR_OK)
        goto out;
    file = malloc(HEADER_SIZE + zdef_n + zten_n);
    if (!file) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto out;
    }
    h = file;
    memcpy(h, magic, 8);
    put_u32(h + 8, MFR_MODEL_VERSION);
    put_u32(h + 12, 0);
    put_u64(h + 16, text_n);
    put_u64(h + 24, zdef_n);
    put_u32(h + 32, mfr_crc32(0, zdef, zdef_n));
    put_u32(h + 36, (uint32_t)mfr_net_param_count(net));
    put_u64(h + 40, tens_n);
    put_u64(h + 48, zten_n);
    put_u32(h + 56, mfr_crc32(0, zten, zten_n));
    put_u32(h + 60, mfr_crc32(0, h, 60));
    memcpy(file + HEADER_SIZE, zdef, zdef_n);
    memcpy(file + HEADER_SIZE + zdef_n, zten, zten_n);
    *data = file;
    *size = HEADER_SIZE + zdef_n + zten_n;
out:
    free(text);
    free(tens);
    free(zdef);
    free(zten);
    return rc;
}

int mfr_model_save(const mfr_net *net, const char *path)
{
    void *data;
    size_t size;
    int rc = mfr_model_encode(net, &data, &size);
    if (rc == MFR_OK)
        rc = mfr_write_file_atomic(path, data, size);
    free(data);
    return rc != MFR_OK ? mfr_error_context(rc, "%s", path) : MFR_OK;
}

/* Checks the CRC32 of the `zn` stored bytes, then inflates exactly `n`
 * bytes from them. The CRC covers the bytes as stored, so every flipped bit
 * is caught, even one in the unused padding of the last deflate byte. */
static int inflate_section(const char *name, const char *what, const unsigned char *src, uint64_t zn, uint64_t n,
                           uint32_t crc, unsigned char **out)
{
    unsigned char *dst;
    uLongf got = (uLongf)n;
    int zrc;
    *out = NULL;
    if (mfr_crc32(0, src, (size_t)zn) != crc)
        return mfr_error(MFR_ERR_FORMAT, "%s: the %s section fails its CRC32 check (the file is corrupt)", name, what);
    dst = malloc(n ? (size_t)n : 1);
    if (!dst)
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory for the %s (%llu bytes)", name, what,
                         (unsigned long long)n);
    zrc = uncompress(dst, &got, src, (uLong)zn);
    if (zrc != Z_OK || got != (uLongf)n) {
        free(dst);
        return mfr_error(MFR_ERR_FORMAT, "%s: the %s section is corrupt (%s)", name, what,
                         zrc != Z_OK ? zError(zrc) : "wrong uncompressed size");
    }
    *out = dst;
    return MFR_OK;
}

static int read_tensors(mfr_net *net, const char *name, const unsigned char *p, size_t n, uint32_t count)
{
    int nparams = mfr_net_param_count(net), np = 0;
    char *seen = NULL;
    mfr_tensor **params;
    size_t at = 0;
    int rc = MFR_OK;
    if (count != (uint32_t)nparams)
        return mfr_error(MFR_ERR_FORMAT, "%s: the file holds %u tensors but its network has %d parameters", name,
                         count, nparams);
    seen = calloc((size_t)nparams + 1, 1);
    params = malloc(((size_t)nparams + 1) * sizeof *params);
    if (!seen || !params) {
        free(seen);
        free(params);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < net->n_layers; i++)
        for (int sl = 0; sl < MFR_LAYER_MAX_PARAMS; sl++)
            if (net->layers[i].params[sl])
                params[np++] = net->layers[i].params[sl];
    for (uint32_t i = 0; i < count; i++) {
        char tname[NN_NAME_MAX + 1], want[128], got[128];
        uint32_t len, dtype, ndim;
        int shape[MFR_TENSOR_MAX_DIMS], idx = -1;
        size_t elems = 1;
        mfr_tensor *t = NULL;
        if (n - at < 2) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor %u: record truncated", name, i);
            break;
        }
        len = get_u16(p + at);
        if (len == 0 || len > NN_NAME_MAX || n - at - 2 < (size_t)len + 2) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor %u: bad name length %u or record truncated", name, i, len);
            break;
        }
        memcpy(tname, p + at + 2, len);
        tname[len] = '\0';
        at += 2 + len;
        dtype = p[at++];
        ndim = p[at++];
        if (dtype != 0) {
            rc = mfr_error(MFR_ERR_UNSUPPORTED, "%s: tensor '%s': data type %u (only 0, float32, is known)", name,
                           tname, dtype);
            break;
        }
        if (ndim < 1 || ndim > MFR_TENSOR_MAX_DIMS || n - at < 4 * (size_t)ndim) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s': %u dimensions (1 to %d) or record truncated", name,
                           tname, ndim, MFR_TENSOR_MAX_DIMS);
            break;
        }
        for (uint32_t d = 0; d < ndim; d++, at += 4) {
            uint32_t v = get_u32(p + at);
            if (v == 0 || v > NN_MAX_ELEMS || elems > (n - at) / v) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s': size %u along dimension %u is zero or larger than the data",
                               name, tname, v, d);
                break;
            }
            shape[d] = (int)v;
            elems *= v;
        }
        if (rc != MFR_OK)
            break;
        if (elems > (n - at) / 4) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s': its values are truncated", name, tname);
            break;
        }
        for (int k = 0; k < nparams && idx < 0; k++)
            if (strcmp(params[k]->name, tname) == 0)
                idx = k;
        if (idx < 0) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s' is not a parameter of the network in the file", name, tname);
            break;
        }
        t = params[idx];
        if (seen[idx]) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s' appears twice", name, tname);
            break;
        }
        seen[idx] = 1;
        {
            int same = (int)ndim == t->ndim;
            for (uint32_t d = 0; same && d < ndim; d++)
                same = shape[d] == t->shape[d];
            if (!same) {
                mfr_tensor probe = {0};
                probe.ndim = (int)ndim;
                memcpy(probe.shape, shape, sizeof shape);
                rc = mfr_error(MFR_ERR_FORMAT, "%s: tensor '%s' is %s but the network needs %s", name, tname,
                               mfr_tensor_shape_str(&probe, got, sizeof got), mfr_tensor_shape_str(t, want, sizeof want));
                break;
            }
        }
        for (size_t k = 0; k < elems; k++, at += 4) {
            uint32_t bits = get_u32(p + at);
            memcpy(&t->data[k], &bits, 4);
        }
    }
    if (rc == MFR_OK && at != n)
        rc = mfr_error(MFR_ERR_FORMAT, "%s: %zu unexpected bytes after the last tensor", name, n - at);
    free(seen);
    free(params);
    return rc;
}

int mfr_model_decode(const void *data, size_t size, const char *name, mfr_net **out)
{
    const unsigned char *h = data;
    uint32_t version, flags, def_crc, count, data_crc;
    uint64_t def_n, def_zn, ten_n, ten_zn;
    unsigned char *text = NULL, *tens = NULL;
    char defname[512];
    mfr_net *net = NULL;
    int rc;
    *out = NULL;
    if (!name)
        name = "<model>";
    if (size < HEADER_SIZE)
        return mfr_error(MFR_ERR_FORMAT, "%s: truncated: %zu bytes, but a model file starts with a %d-byte header",
                         name, size, HEADER_SIZE);
    if (memcmp(h, magic, 8) != 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: not an mfr model file (the first 8 bytes are not \"MFRMODEL\")", name);
    version = get_u32(h + 8);
    if (version != MFR_MODEL_VERSION)
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: model file version %u; this mfr reads version %d", name, version,
                         MFR_MODEL_VERSION);
    if (get_u32(h + 60) != mfr_crc32(0, h, 60))
        return mfr_error(MFR_ERR_FORMAT, "%s: the header fails its CRC32 check (the file is corrupt)", name);
    flags = get_u32(h + 12);
    def_n = get_u64(h + 16);
    def_zn = get_u64(h + 24);
    def_crc = get_u32(h + 32);
    count = get_u32(h + 36);
    ten_n = get_u64(h + 40);
    ten_zn = get_u64(h + 48);
    data_crc = get_u32(h + 56);
    if (flags != 0)
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: unknown flags 0x%x in the header", name, flags);
    if (def_n > MFR_MODEL_MAX_DEF || ten_n > MFR_MODEL_MAX_DATA || count > MAX_TENSORS)
        return mfr_error(MFR_ERR_RANGE,
                         "%s: the header claims %llu bytes of definition, %llu bytes of tensors and %u tensors "
                         "(limits: %u, %llu, %u)", name, (unsigned long long)def_n, (unsigned long long)ten_n, count,
                         MFR_MODEL_MAX_DEF, (unsigned long long)MFR_MODEL_MAX_DATA, MAX_TENSORS);
    if (def_zn > size - HEADER_SIZE || ten_zn > size - HEADER_SIZE - def_zn)
        return mfr_error(MFR_ERR_FORMAT, "%s: truncated: the header announces %llu + %llu compressed bytes but only %zu follow",
                         name, (unsigned long long)def_zn, (unsigned long long)ten_zn, size - HEADER_SIZE);
    if (HEADER_SIZE + def_zn + ten_zn != size)
        return mfr_error(MFR_ERR_FORMAT, "%s: %llu unexpected bytes after the tensor section", name,
                         (unsigned long long)(size - HEADER_SIZE - def_zn - ten_zn));
    if (def_n > def_zn * MAX_RATIO || ten_n > ten_zn * MAX_RATIO)
        return mfr_error(MFR_ERR_FORMAT, "%s: the header claims more uncompressed bytes than zlib can produce from "
                         "the compressed sizes (the file is corrupt)", name);
    if ((rc = inflate_section(name, "definition", h + HEADER_SIZE, def_zn, def_n, def_crc, &text)) != MFR_OK)
        goto out;
    snprintf(defname, sizeof defname, "%s[definition]", name);
    if ((rc = mfr_net_parse((const char *)text, (size_t)def_n, defname, &net)) != MFR_OK)
        goto out;
    if ((rc = inflate_section(name, "tensor", h + HEADER_SIZE + def_zn, ten_zn, ten_n, data_crc, &tens)) != MFR_OK ||
        (rc = read_tensors(net, name, tens, (size_t)ten_n, count)) != MFR_OK)
        goto out;
    free(net->name);
    net->name = mfr_strdup(name);
    *out = net;
    net = NULL;
out:
    free(text);
    free(tens);
    mfr_net_free(net);
    return rc;
}

int mfr_model_load(const char *path, mfr_net **out)
{
    void *data;
    size_t size;
    int rc;
    *out = NULL;
    if ((rc = mfr_read_file(path, HEADER_SIZE + MFR_MODEL_MAX_DEF + (size_t)MFR_MODEL_MAX_DATA, &data, &size)) != MFR_OK)
        return rc;
    rc = mfr_model_decode(data, size, path, out);
    free(data);
    return rc;
}

int mfr_net_load_any(const char *path, mfr_net **out)
{
    void *data;
    size_t size;
    int rc;
    *out = NULL;
    if ((rc = mfr_read_file(path, HEADER_SIZE + MFR_MODEL_MAX_DEF + (size_t)MFR_MODEL_MAX_DATA, &data, &size)) != MFR_OK)
        return rc;
    if (size >= 8 && memcmp(data, magic, 8) == 0)
        rc = mfr_model_decode(data, size, path, out);
    else
        rc = mfr_net_parse(data, size, path, out);
    free(data);
    return rc;
}

int mfr_model_is_file(const char *path)
{
    unsigned char head[8];
    FILE *fp = fopen(path, "rb");
    int yes;
    if (!fp)
        return 0;
    yes = fread(head, 1, 8, fp) == 8 && memcmp(head, magic, 8) == 0;
    fclose(fp);
    return yes;
}
