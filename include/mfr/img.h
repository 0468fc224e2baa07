/*
 * mfr/img.h - 8-bit images: codecs (PNG, JPEG, PNM), geometry and drawing.
 *
 *     mfr_image im = {0};
 *     if (mfr_image_read("face.jpg", &im) != MFR_OK) { puts(mfr_last_error()); ... }
 *     mfr_image crop = {0};
 *     mfr_image_alloc(&crop, 112, 112, 3);
 *     float m[6];               // dst -> src affine map, see mfr_image_warp_affine
 *     ...
 *     mfr_image_warp_affine(&im, &crop, m, NULL);
 *     mfr_image_write("crop.png", &crop);   // atomic: temp file + rename
 *     mfr_image_free(&im); mfr_image_free(&crop);
 *
 * Pixels are interleaved (HWC), rows top to bottom, `stride` bytes apart.
 * Channels: 1 (grey), 3 (RGB) or 4 (RGBA). Decoders enforce MFR_IMAGE_MAX_DIM
 * and MFR_IMAGE_MAX_PIXELS before allocating, so a hostile header cannot ask
 * for unbounded memory; every failure is an error naming the file.
 */
#ifndef MFR_IMG_H
#define MFR_IMG_H

#include <stddef.h>
#include <stdint.h>
#include "mfr/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MFR_IMAGE_MAX_DIM 32768
#define MFR_IMAGE_MAX_PIXELS (1L << 27) /* 134 Mpixel */
#define MFR_IMAGE_MAX_FILE ((size_t)1 << 30) /* mfr_image_read refuses larger files */
#define MFR_JPEG_QUALITY_DEFAULT 95       /* mfr_image_write's JPEG quality */

typedef struct mfr_image {
    int width, height, channels;
    size_t stride;      /* bytes between rows, >= width * channels */
    uint8_t *data;      /* owned; free with mfr_image_free */
} mfr_image;

typedef enum mfr_image_format {
    MFR_IMAGE_UNKNOWN = 0, MFR_IMAGE_PNG, MFR_IMAGE_JPEG, MFR_IMAGE_PNM
} mfr_image_format;

/* Allocates (zeroed) pixel memory with stride = width * channels; any
 * previous data is NOT freed. Sizes beyond the limits are MFR_ERR_RANGE. */
int mfr_image_alloc(mfr_image *im, int width, int height, int channels);
/* MFR_OK when channels is 1, 3 or 4, both sides are in [1, MFR_IMAGE_MAX_DIM]
 * and the pixel count is at most MFR_IMAGE_MAX_PIXELS; else an error naming
 * `what`. Decoders call it on header values before allocating anything. */
int mfr_image_check_size(int width, int height, int channels, const char *what);
void mfr_image_free(mfr_image *im);
/* dst = a new, tightly packed copy of src (previous dst data NOT freed). */
int mfr_image_copy(const mfr_image *src, mfr_image *dst);
static inline uint8_t *mfr_image_row(const mfr_image *im, int y) { return im->data + (size_t)y * im->stride; }

/* ---- codecs */
/* Format from the first bytes (magic), or from a file extension. */
mfr_image_format mfr_image_sniff(const void *data, size_t size);
mfr_image_format mfr_image_format_from_path(const char *path);
/* Decodes PNG, JPEG or PNM from memory; `name` appears in messages. 16-bit
 * PNG is reduced to 8 bits, palettes expanded; grey+alpha becomes RGBA.
 * JPEG: grey or RGB (CMYK is MFR_ERR_UNSUPPORTED); libjpeg's warnings that
 * pixel data is missing or corrupt (premature end, bad Huffman code...) are
 * errors. PNM: P2, P3, P5,
 * P6 with maxval 1..65535, scaled to 8 bits. On failure *out is zeroed. */
int mfr_image_decode(const void *data, size_t size, const char *name, mfr_image *out);
/* As mfr_image_decode, with a lower pixel limit (at most
 * MFR_IMAGE_MAX_PIXELS; <= 0 means that): larger images are MFR_ERR_RANGE
 * before anything is allocated. For callers that know what size to expect,
 * and for fuzzing. */
int mfr_image_decode_max(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out);
int mfr_image_read(const char *path, mfr_image *out);
/* Writes by extension (.png, .jpg/.jpeg, .ppm/.pgm/.pnm), atomically. JPEG
 * uses MFR_JPEG_QUALITY_DEFAULT and 1 or 3 channels; .pgm needs 1 channel,
 * .ppm 3, .pnm 1 or 3 (PNM has no alpha). */
int mfr_image_write(const char *path, const mfr_image *im);
int mfr_image_write_jpeg(const char *path, const mfr_image *im, int quality);
/* Encoders into malloc'd memory (free with free). JPEG quality 1..100. */
int mfr_png_encode(const mfr_image *im, void **data, size_t *size);
int mfr_jpeg_encode(const mfr_image *im, int quality, void **data, size_t *size);
int mfr_pnm_encode(const mfr_image *im, void **data, size_t *size);

/* ---- conversions */
/* New image with `channels` (1, 3, 4) converted from src: grey uses BT.601
 * luma weights; alpha is dropped or set to 255. */
int mfr_image_convert(const mfr_image *src, int channels, mfr_image *dst);
/* To float HWC: out[(y*w + x)*c + k] = (pixel - mean) * scale. */
void mfr_image_to_float(const mfr_image *im, float mean, float scale, float *out);
/* From float HWC: pixel = clamp(round(v / scale + mean)). */
void mfr_image_from_float(const float *in, float mean, float scale, mfr_image *im);
/* RGB <-> HSV on one pixel; h in [0, 360), s and v in [0, 1]. */
void mfr_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v);
void mfr_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b);

/* ---- geometry; dst must be allocated with the wanted size and channels
 * equal to src's */
int mfr_image_resize_bilinear(const mfr_image *src, mfr_image *dst);
/* Area averaging (box filter), for shrinking without aliasing. */
int mfr_image_resize_area(const mfr_image *src, mfr_image *dst);
/* dst(x, y) = src(m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]) with bilinear
 * sampling at pixel centres; outside src the `border` colour (NULL: black). */
int mfr_image_warp_affine(const mfr_image *src, mfr_image *dst, const float m[6], const uint8_t *border);
/* Crop a rectangle; parts outside src are filled with `border` (NULL: black). */
int mfr_image_crop(const mfr_image *src, int x, int y, int width, int height, const uint8_t *border, mfr_image *dst);
void mfr_image_flip_horizontal(mfr_image *im);
/* Inverts a 2x3 affine map; MFR_ERR_ARG when singular. */
int mfr_affine_invert(const float m[6], float inv[6]);

/* ---- drawing; colours have `channels` entries, alpha in [0, 1] */
void mfr_draw_rect(mfr_image *im, float x0, float y0, float x1, float y1, const uint8_t *color, float alpha, int thickness);
void mfr_draw_line(mfr_image *im, float x0, float y0, float x1, float y1, const uint8_t *color, float alpha, int thickness);
void mfr_draw_point(mfr_image *im, float x, float y, float radius, const uint8_t *color, float alpha);
/* Filled polygon (any simple or self-intersecting outline, even-odd rule),
 * with anti-aliased edges by 4x4 supersampling of coverage. xy: n points. */
void mfr_draw_polygon(mfr_image *im, const float *xy, int n, const uint8_t *color, float alpha);

#ifdef __cplusplus
}
#endif
#endif /* MFR_IMG_H */
