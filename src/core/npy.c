/* NumPy .npy files holding a float32 matrix (rows x cols, C order).
 *
 * Format (numpy.lib.format, versions 1.0, 2.0 and 3.0):
 *   6 bytes  "\x93NUMPY"
 *   2 bytes  major, minor version
 *   2 bytes  (v1) or 4 bytes (v2, v3) little-endian header length H
 *   H bytes  a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 128), }
 *            padded with spaces and ending in '\n'
 *   the data: rows * cols float32 values, row-major.
 * We read '<f4', '>f4' and '=f4'/'|f4' (taken as little-endian) with
 * fortran_order False and a 2-d shape (a 1-d shape (n,) is read as n x 1).
 * We write version 1.0 '<f4' with the header padded so the data starts at a
 * multiple of 64 bytes, as numpy does. */
#include "config.h"
#include "mfr/core.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER 65536

typedef struct npy_lex {
    const char *s, *end, *name;
} npy_lex;

static void lex_ws(npy_lex *l)
{
    while (l->s < l->end && (*l->s == ' ' || *l->s == '\t' || *l->s == '\n' || *l->s == '\r'))
        l->s++;
}

static int lex_char(npy_lex *l, char c)
{
    lex_ws(l);
    if (l->s < l->end && *l->s == c) {
        l->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, copied into buf. */
static int lex_string(npy_lex *l, char *buf, size_t cap)
{
    char q;
    size_t n = 0;
    lex_ws(l);
    if (l->s >= l->end || (*l->s != '\'' && *l->s != '"'))
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: expected a quoted string", l->name);
    q = *l->s++;
    while (l->s < l->end && *l->s != q) {
        if (*l->s == '\\' || n + 1 >= cap)
            return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: unsupported or overlong string", l->name);
        buf[n++] = *l->s++;
    }
    if (l->s >= l->end)
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: unterminated string", l->name);
    l->s++;
    buf[n] = '\0';
    return MFR_OK;
}

static int lex_uint(npy_lex *l, size_t *out)
{
    size_t v = 0;
    int digits = 0;
    lex_ws(l);
    while (l->s < l->end && *l->s >= '0' && *l->s <= '9') {
        size_t d = (size_t)(*l->s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return mfr_error(MFR_ERR_RANGE, "%s: .npy header: shape value too large", l->name);
        v = v * 10 + d;
        l->s++;
        digits++;
    }
    if (!digits)
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: expected a non-negative integer in 'shape'", l->name);
    if (l->s < l->end && *l->s == 'L') /* Python 2 long suffix */
        l->s++;
    *out = v;
    return MFR_OK;
}

static int parse_header(npy_lex *l, int *swap, size_t *rows, size_t *cols)
{
    int have_descr = 0, have_order = 0, have_shape = 0, rc;
    char key[32], val[32];
    if (!lex_char(l, '{'))
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header does not start with '{'", l->name);
    while (!lex_char(l, '}')) {
        if ((rc = lex_string(l, key, sizeof key)) != MFR_OK)
            return rc;
        if (!lex_char(l, ':'))
            return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: expected ':' after '%s'", l->name, key);
        if (!strcmp(key, "descr")) {
            if ((rc = lex_string(l, val, sizeof val)) != MFR_OK)
                return rc;
            if (!strcmp(val, "<f4") || !strcmp(val, "=f4") || !strcmp(val, "|f4"))
                *swap = 0;
            else if (!strcmp(val, ">f4"))
                *swap = 1;
            else
                return mfr_error(MFR_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not float32 (save with "
                                 "arr.astype(numpy.float32))", l->name, val);
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            lex_ws(l);
            if ((size_t)(l->end - l->s) >= 5 && !memcmp(l->s, "False", 5))
                l->s += 5;
            else if ((size_t)(l->end - l->s) >= 4 && !memcmp(l->s, "True", 4))
                return mfr_error(MFR_ERR_UNSUPPORTED, "%s: .npy array is in Fortran order (save a C-order "
                                 "array: numpy.ascontiguousarray)", l->name);
            else
                return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: fortran_order is not True or False", l->name);
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            size_t dims[2] = {0, 1};
            int nd = 0;
            if (!lex_char(l, '('))
                return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: 'shape' is not a tuple", l->name);
            while (!lex_char(l, ')')) {
                size_t v = 0;
                if (nd == 2)
                    return mfr_error(MFR_ERR_UNSUPPORTED, "%s: .npy array has more than 2 dimensions", l->name);
                if ((rc = lex_uint(l, &v)) != MFR_OK)
                    return rc;
                dims[nd++] = v;
                if (!lex_char(l, ',')) {
                    if (!lex_char(l, ')'))
                        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: malformed 'shape'", l->name);
                    break;
                }
            }
            if (nd == 0)
                return mfr_error(MFR_ERR_UNSUPPORTED, "%s: .npy array is a scalar, not a matrix", l->name);
            *rows = dims[0];
            *cols = dims[1];
            have_shape = 1;
        } else {
            return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: unknown key '%s'", l->name, key);
        }
        if (!lex_char(l, ',')) {
            if (!lex_char(l, '}'))
                return mfr_error(MFR_ERR_FORMAT, "%s: .npy header: expected ',' or '}'", l->name);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header lacks '%s'", l->name,
                         !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return MFR_OK;
}

static int host_is_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int mfr_npy_parse(const void *buf, size_t size, const char *name, size_t max_values, float **data, size_t *rows,
                  size_t *cols)
{
    const unsigned char *p = buf;
    size_t hlen, off, n, bytes;
    int swap = 0, rc;
    npy_lex l;
    float *out;
    *data = NULL;
    *rows = *cols = 0;
    if (size < 10 || memcmp(p, NPY_MAGIC, 6) != 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: not a NumPy .npy file (bad magic)", name);
    if (p[6] == 1) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        off = 10;
    } else if (p[6] == 2 || p[6] == 3) {
        if (size < 12)
            return mfr_error(MFR_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        off = 12;
    } else {
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", name, p[6], p[7]);
    }
    if (hlen > NPY_MAX_HEADER || hlen > size - off)
        return mfr_error(MFR_ERR_FORMAT, "%s: .npy header length %zu exceeds the file or the limit", name, hlen);
    l.s = (const char *)p + off;
    l.end = l.s + hlen;
    l.name = name;
    if ((rc = parse_header(&l, &swap, rows, cols)) != MFR_OK) {
        *rows = *cols = 0;
        return rc;
    }
    if (!host_is_little())
        swap = !swap;
    off += hlen;
    if (mfr_size_mul(*rows, *cols, &n) != MFR_OK || n > max_values || mfr_size_mul(n, 4, &bytes) != MFR_OK) {
        rc = mfr_error(MFR_ERR_RANGE, "%s: .npy shape (%zu, %zu) exceeds the limit of %zu values", name, *rows,
                       *cols, max_values);
        *rows = *cols = 0;
        return rc;
    }
    if (size - off != bytes) {
        rc = mfr_error(MFR_ERR_FORMAT, "%s: .npy data is %zu bytes, shape (%zu, %zu) needs %zu", name, size - off,
                       *rows, *cols, bytes);
        *rows = *cols = 0;
        return rc;
    }
    out = mfr_alloc(bytes);
    if (!out) {
        *rows = *cols = 0;
        return MFR_ERR_NOMEM;
    }
    memcpy(out, p + off, bytes);
    if (swap) {
        unsigned char *b = (unsigned char *)out;
        for (size_t i = 0; i < bytes; i += 4) {
            unsigned char t0 = b[i], t1 = b[i + 1];
            b[i] = b[i + 3];
            b[i + 1] = b[i + 2];
            b[i + 2] = t1;
            b[i + 3] = t0;
        }
    }
    *data = out;
    return MFR_OK;
}

int mfr_npy_read(const char *path, size_t max_values, float **data, size_t *rows, size_t *cols)
{
    void *buf;
    size_t size, max_bytes;
    int rc;
    *data = NULL;
    *rows = *cols = 0;
    if (max_values > (SIZE_MAX - NPY_MAX_HEADER - 16) / 4)
        max_values = (SIZE_MAX - NPY_MAX_HEADER - 16) / 4;
    max_bytes = max_values * 4 + NPY_MAX_HEADER + 16;
    if ((rc = mfr_read_file(path, max_bytes, &buf, &size)) != MFR_OK)
        return rc;
    rc = mfr_npy_parse(buf, size, path, max_values, data, rows, cols);
    free(buf);
    return rc;
}

int mfr_npy_write(const char *path, const float *data, size_t rows, size_t cols)
{
    char head[256];
    unsigned char pre[10];
    int len, pad;
    size_t n;
    mfr_afile f;
    int rc;
    if (mfr_size_mul(rows, cols, &n) != MFR_OK)
        return mfr_error_context(MFR_ERR_NOMEM, "%s", path);
    len = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows,
                   cols);
    /* Pad with spaces and a final '\n' so that 10 + header is a multiple of 64. */
    pad = 64 - (10 + len + 1) % 64;
    if (pad == 64)
        pad = 0;
    memset(head + len, ' ', (size_t)pad);
    len += pad;
    head[len++] = '\n';
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(len & 0xff);
    pre[9] = (unsigned char)(len >> 8);
    if ((rc = mfr_afile_open(&f, path)) != MFR_OK)
        return rc;
    fwrite(pre, 1, 10, f.fp);
    fwrite(head, 1, (size_t)len, f.fp);
    if (host_is_little()) {
        if (n)
            fwrite(data, 4, n, f.fp);
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char b[4], o[4];
            memcpy(b, &data[i], 4);
            o[0] = b[3], o[1] = b[2], o[2] = b[1], o[3] = b[0];
            fwrite(o, 1, 4, f.fp);
        }
    }
    return mfr_afile_commit(&f);
}
