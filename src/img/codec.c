/* Format detection and dispatch: decode, read and write by format. */
#include "config.h"
#include "mfr/img.h"
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

mfr_image_format mfr_image_sniff(const void *data, size_t size)
{
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = data;
    if (size >= 8 && memcmp(p, png_magic, 8) == 0)
        return MFR_IMAGE_PNG;
    if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return MFR_IMAGE_JPEG;
    /* P1..P7: all netpbm variants, so that the PNM decoder can name the
     * ones it does not handle. */
    if (size >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7')
        return MFR_IMAGE_PNM;
    return MFR_IMAGE_UNKNOWN;
}

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return "";
    return dot + 1;
}

mfr_image_format mfr_image_format_from_path(const char *path)
{
    const char *ext = extension(path);
    if (strcasecmp(ext, "png") == 0)
        return MFR_IMAGE_PNG;
    if (strcasecmp(ext, "jpg") == 0 || strcasecmp(ext, "jpeg") == 0)
        return MFR_IMAGE_JPEG;
    if (strcasecmp(ext, "ppm") == 0 || strcasecmp(ext, "pgm") == 0 || strcasecmp(ext, "pnm") == 0)
        return MFR_IMAGE_PNM;
    return MFR_IMAGE_UNKNOWN;
}

int mfr_image_decode_max(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "image";
    if (max_pixels <= 0 || max_pixels > MFR_IMAGE_MAX_PIXELS)
        max_pixels = MFR_IMAGE_MAX_PIXELS;
    if (size == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: empty file", name);
    switch (mfr_image_sniff(data, size)) {
    case MFR_IMAGE_PNG: return img_png_decode(data, size, name, max_pixels, out);
    case MFR_IMAGE_JPEG: return img_jpeg_decode(data, size, name, max_pixels, out);
    case MFR_IMAGE_PNM: return img_pnm_decode(data, size, name, max_pixels, out);
    default: break;
    }
    return mfr_error(MFR_ERR_UNSUPPORTED, "%s: not a PNG, JPEG or PNM image (unknown signature)", name);
}

int mfr_image_decode(const void *data, size_t size, const char *name, mfr_image *out)
{
    return mfr_image_decode_max(data, size, name, MFR_IMAGE_MAX_PIXELS, out);
}

int mfr_image_read(const char *path, mfr_image *out)
{
    void *data;
    size_t size;
    int rc;
    memset(out, 0, sizeof *out);
    rc = mfr_read_file(path, MFR_IMAGE_MAX_FILE, &data, &size);
    if (rc != MFR_OK)
        return rc;
    rc = mfr_image_decode(data, size, path, out);
    free(data);
    return rc;
}

static int write_encoded(const char *path, const mfr_image *im, mfr_image_format format, int quality)
{
    void *data = NULL;
    size_t size = 0;
    int rc;
    if (!im->data)
        return mfr_error(MFR_ERR_ARG, "%s: the image to write has no pixels", path);
    switch (format) {
    case MFR_IMAGE_PNG: rc = mfr_png_encode(im, &data, &size); break;
    case MFR_IMAGE_JPEG: rc = mfr_jpeg_encode(im, quality, &data, &size); break;
    case MFR_IMAGE_PNM: rc = mfr_pnm_encode(im, &data, &size); break;
    default:
        return mfr_error(MFR_ERR_ARG, "%s: unknown image extension (use .png, .jpg, .jpeg, .ppm, .pgm or .pnm)", path);
    }
    if (rc != MFR_OK)
        return mfr_error_context(rc, "%s", path);
    rc = mfr_write_file_atomic(path, data, size);
    free(data);
    return rc;
}

int mfr_image_write(const char *path, const mfr_image *im)
{
    mfr_image_format format = mfr_image_format_from_path(path);
    const char *ext = extension(path);
    /* A .pgm must hold grey and a .ppm colour; .pnm takes either. */
    if (strcasecmp(ext, "pgm") == 0 && im->channels != 1)
        return mfr_error(MFR_ERR_ARG, "%s: a .pgm file holds 1 channel, the image has %d", path, im->channels);
    if (strcasecmp(ext, "ppm") == 0 && im->channels != 3)
        return mfr_error(MFR_ERR_ARG, "%s: a .ppm file holds 3 channels, the image has %d", path, im->channels);
    return write_encoded(path, im, format, MFR_JPEG_QUALITY_DEFAULT);
}

int mfr_image_write_jpeg(const char *path, const mfr_image *im, int quality)
{
    return write_encoded(path, im, MFR_IMAGE_JPEG, quality);
}
