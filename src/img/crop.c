/* Crop (and pad, by cropping beyond the borders) and horizontal flip. */
#include "config.h"
#include "mfr/img.h"

#include <string.h>

int mfr_image_crop(const mfr_image *src, int x, int y, int width, int height, const uint8_t *border, mfr_image *dst)
{
    static const uint8_t black[4] = {0, 0, 0, 0};
    const uint8_t *bc = border ? border : black;
    int c = src->channels, rc;
    rc = mfr_image_alloc(dst, width, height, c);
    if (rc != MFR_OK)
        return mfr_error_context(rc, "crop");
    for (int j = 0; j < height; j++) {
        uint8_t *out = mfr_image_row(dst, j);
        long sy = (long)y + j;
        /* Source columns [x0, x1) overlap the image. */
        long x0 = x < 0 ? 0 : x, x1 = (long)x + width < src->width ? (long)x + width : src->width;
        if (sy < 0 || sy >= src->height || x0 >= x1) {
            for (int i = 0; i < width; i++)
                memcpy(out + (size_t)i * (size_t)c, bc, (size_t)c);
            continue;
        }
        for (long i = x; i < x0; i++)
            memcpy(out + (size_t)(i - x) * (size_t)c, bc, (size_t)c);
        memcpy(out + (size_t)(x0 - x) * (size_t)c, mfr_image_row(src, (int)sy) + (size_t)x0 * (size_t)c,
               (size_t)(x1 - x0) * (size_t)c);
        for (long i = x1; i < (long)x + width; i++)
            memcpy(out + (size_t)(i - x) * (size_t)c, bc, (size_t)c);
    }
    return MFR_OK;
}

void mfr_image_flip_horizontal(mfr_image *im)
{
    int c = im->channels;
    for (int y = 0; y < im->height; y++) {
        uint8_t *row = mfr_image_row(im, y);
        for (int a = 0, b = im->width - 1; a < b; a++, b--)
            for (int k = 0; k < c; k++) {
                uint8_t t = row[a * c + k];
                row[a * c + k] = row[b * c + k];
                row[b * c + k] = t;
            }
    }
}
