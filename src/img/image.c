/* The image type: allocation, copy, free. */
#include "config.h"
#include "mfr/img.h"
#include "codec.h"

#include <stdlib.h>

#include <string.h>

/* Checks a size against the limits every decoder and allocator shares;
 * `what` names the image in the message. */
int mfr_image_check_size(int width, int height, int channels, const char *what)
{
    if (channels != 1 && channels != 3 && channels != 4)
        return mfr_error(MFR_ERR_UNSUPPORTED, "%s: %d channels (mfr handles 1, 3 or 4)", what, channels);
    if (width <= 0 || height <= 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: invalid size %d x %d", what, width, height);
    if (width > MFR_IMAGE_MAX_DIM || height > MFR_IMAGE_MAX_DIM ||
        (long long)width * height > MFR_IMAGE_MAX_PIXELS)
        return mfr_error(MFR_ERR_RANGE, "%s: %d x %d pixels is over the limit (%d per side, %ld in all)",
                         what, width, height, MFR_IMAGE_MAX_DIM, (long)MFR_IMAGE_MAX_PIXELS);
    return MFR_OK;
}

int img_check_header(unsigned long long width, unsigned long long height, long max_pixels, const char *name)
{
    if (width == 0 || height == 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: invalid size %llu x %llu", name, width, height);
    if (width > MFR_IMAGE_MAX_DIM || height > MFR_IMAGE_MAX_DIM || width * height > (unsigned long long)max_pixels)
        return mfr_error(MFR_ERR_RANGE, "%s: %llu x %llu pixels is over the limit (%d per side, %ld in all)",
                         name, width, height, MFR_IMAGE_MAX_DIM, max_pixels);
    return MFR_OK;
}

int mfr_image_alloc(mfr_image *im, int width, int height, int channels)
{
    int rc = mfr_image_check_size(width, height, channels, "image");
    size_t stride, bytes;
    memset(im, 0, sizeof *im);
    if (rc != MFR_OK)
        return rc;
    /* Within the limits these products cannot overflow a 64-bit size_t.
     * Plain calloc: large blocks come from mmap already zeroed, so a decoder
     * that fails early (a truncated file with a big header) never touches
     * most of the pages. Rows need no particular alignment. */
    stride = (size_t)width * (size_t)channels;
    bytes = stride * (size_t)height;
    im->data = calloc(bytes, 1);
    if (!im->data)
        return mfr_error(MFR_ERR_NOMEM, "out of memory for a %d x %d x %d image", width, height, channels);
    im->width = width;
    im->height = height;
    im->channels = channels;
    im->stride = stride;
    return MFR_OK;
}

void mfr_image_free(mfr_image *im)
{
    if (!im)
        return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

int mfr_image_copy(const mfr_image *src, mfr_image *dst)
{
    int rc = mfr_image_alloc(dst, src->width, src->height, src->channels);
    if (rc != MFR_OK)
        return rc;
    for (int y = 0; y < src->height; y++)
        memcpy(mfr_image_row(dst, y), mfr_image_row(src, y), (size_t)src->width * (size_t)src->channels);
    return MFR_OK;
}
