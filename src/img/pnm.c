/* Netpbm grey and colour maps: P2/P5 (PGM) and P3/P6 (PPM), maxval 1..65535.
 *
 * Header: magic, width, height, maxval as ASCII decimals separated by
 * whitespace, '#' comments to the end of a line allowed between them. Binary
 * variants have exactly one whitespace byte after maxval, then rows of
 * samples (2 bytes big-endian when maxval > 255). Samples are scaled to
 * 0..255 with rounding. The decoder checks the file is long enough for the
 * declared size before allocating, so a short file with a huge header
 * allocates nothing. */
#include "config.h"
#include "mfr/img.h"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    const unsigned char *p;
    size_t size, pos;
} cursor;

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void skip_space_and_comments(cursor *c)
{
    while (c->pos < c->size) {
        if (is_space(c->p[c->pos])) {
            c->pos++;
        } else if (c->p[c->pos] == '#') {
            while (c->pos < c->size && c->p[c->pos] != '\n' && c->p[c->pos] != '\r')
                c->pos++;
        } else {
            break;
        }
    }
}

/* An unsigned decimal in [0, max]; -1 when missing, too large or not a number. */
static long read_number(cursor *c, long max)
{
    long v = 0;
    size_t start;
    skip_space_and_comments(c);
    start = c->pos;
    while (c->pos < c->size && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
        v = v * 10 + (c->p[c->pos] - '0');
        if (v > max)
            return -1;
        c->pos++;
    }
    if (c->pos == start)
        return -1;
    /* A number must end at whitespace, a comment or the end of the file. */
    if (c->pos < c->size && !is_space(c->p[c->pos]) && c->p[c->pos] != '#')
        return -1;
    return v;
}

int img_pnm_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out)
{
    cursor c = {data, size, 2};
    const unsigned char *p = data;
    long w, h, maxval;
    int channels, binary, rc;
    size_t samples, bytes_per;

    memset(out, 0, sizeof *out);
    if (size < 2 || p[0] != 'P')
        return mfr_error(MFR_ERR_FORMAT, "%s: not a PNM file", name);
    switch (p[1]) {
    case '2': channels = 1; binary = 0; break;
    case '3': channels = 3; binary = 0; break;
    case '5': channels = 1; binary = 1; break;
    case '6': channels = 3; binary = 1; break;
    case '1': case '4':
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: PBM bitmaps (P%c) are not supported; use PGM or PPM", name, p[1]);
    case '7':
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: PAM (P7) is not supported; use PGM, PPM or PNG", name);
    default:
        return mfr_error(MFR_ERR_FORMAT, "%s: not a PNM file (bad magic)", name);
    }
    if (size > 2 && !is_space(p[2]) && p[2] != '#')
        return mfr_error(MFR_ERR_FORMAT, "%s: not a PNM file (bad magic)", name);
    w = read_number(&c, 1L << 30);
    h = w < 0 ? -1 : read_number(&c, 1L << 30);
    maxval = h < 0 ? -1 : read_number(&c, 65535);
    if (w < 0 || h < 0 || maxval < 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: malformed or truncated PNM header", name);
    if (maxval == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: PNM maxval 0 is invalid", name);
    rc = img_check_header((unsigned long long)w, (unsigned long long)h, max_pixels, name);
    if (rc != MFR_OK)
        return rc;
    samples = (size_t)w * (size_t)h * (size_t)channels;
    bytes_per = maxval > 255 ? 2 : 1;

    if (binary) {
        /* Exactly one whitespace byte ends the header. */
        if (c.pos >= size || !is_space(p[c.pos]))
            return mfr_error(MFR_ERR_FORMAT, "%s: malformed PNM header (no whitespace after maxval)", name);
        c.pos++;
        if (samples > (size - c.pos) / bytes_per)
            return mfr_error(MFR_ERR_FORMAT, "%s: PNM is truncated: %ld x %ld needs %zu bytes of pixels, the file has %zu",
                             name, w, h, samples * bytes_per, size - c.pos);
    } else if (samples > (size - c.pos + 1) / 2) {
        /* Every ASCII sample takes a digit and a separator. */
        return mfr_error(MFR_ERR_FORMAT, "%s: PNM is truncated: %ld x %ld samples cannot fit in %zu bytes",
                         name, w, h, size - c.pos);
    }

    rc = mfr_image_alloc(out, (int)w, (int)h, channels);
    if (rc != MFR_OK)
        return mfr_error_context(rc, "%s", name);
    for (int y = 0; y < (int)h; y++) {
        uint8_t *row = mfr_image_row(out, y);
        for (size_t i = 0; i < (size_t)w * (size_t)channels; i++) {
            long v;
            if (binary) {
                v = p[c.pos++];
                if (bytes_per == 2)
                    v = v * 256 + p[c.pos++];
            } else {
                v = read_number(&c, 65535);
                if (v < 0) {
                    mfr_image_free(out);
                    return mfr_error(MFR_ERR_FORMAT, "%s: PNM is truncated or has a bad sample in row %d", name, y);
                }
            }
            if (v > maxval) {
                mfr_image_free(out);
                return mfr_error(MFR_ERR_FORMAT, "%s: PNM sample %ld in row %d exceeds maxval %ld", name, v, y, maxval);
            }
            row[i] = (uint8_t)(maxval == 255 ? v : (v * 255 + maxval / 2) / maxval);
        }
    }
    return MFR_OK;
}

int mfr_pnm_encode(const mfr_image *im, void **data, size_t *size)
{
    char header[64];
    int n, rc;
    size_t rowbytes, total;
    unsigned char *buf;

    *data = NULL;
    *size = 0;
    rc = mfr_image_check_size(im->width, im->height, im->channels, "PNM encoder");
    if (rc != MFR_OK)
        return rc;
    if (im->channels == 4)
        return mfr_error(MFR_ERR_UNSUPPORTED, "PNM encoder: PNM has no alpha channel; convert to 3 channels or use PNG");
    n = snprintf(header, sizeof header, "P%c\n%d %d\n255\n", im->channels == 1 ? '5' : '6', im->width, im->height);
    rowbytes = (size_t)im->width * (size_t)im->channels;
    total = (size_t)n + rowbytes * (size_t)im->height;
    buf = malloc(total);
    if (!buf)
        return mfr_error(MFR_ERR_NOMEM, "PNM encoder: out of memory");
    memcpy(buf, header, (size_t)n);
    for (int y = 0; y < im->height; y++)
        memcpy(buf + n + (size_t)y * rowbytes, mfr_image_row(im, y), rowbytes);
    *data = buf;
    *size = total;
    return MFR_OK;
}
