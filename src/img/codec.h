/* Internal to src/img: the per-format decoders behind mfr_image_decode_max.
 * Each checks the header's size against MFR_IMAGE_MAX_DIM and `max_pixels`
 * (with img_check_header) before allocating anything. */
#ifndef MFR_IMG_CODEC_H
#define MFR_IMG_CODEC_H

#include "mfr/img.h"

int img_png_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out);
int img_jpeg_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out);
int img_pnm_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out);

/* MFR_OK when 1 <= width, height <= MFR_IMAGE_MAX_DIM and width * height <=
 * max_pixels; else MFR_ERR_FORMAT (zero) or MFR_ERR_RANGE naming `name`. */
int img_check_header(unsigned long long width, unsigned long long height, long max_pixels, const char *name);

#endif
