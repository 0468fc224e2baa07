/* PNG through libpng: decode from memory, encode into memory.
 *
 * libpng reports errors by calling our error function, which longjmps back
 * to the setjmp in decode_body/encode_body. All state that changes after the
 * setjmp lives in a struct owned by the caller (not in locals of the function
 * that calls setjmp), so it keeps its value across the longjmp without
 * `volatile`. libpng never prints: warnings are dropped, errors become our
 * message. */
#include "config.h"
#include "mfr/img.h"
#include "codec.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* Ancillary chunks (text, ICC profiles) larger than this are refused, so a
 * hostile file cannot make libpng allocate without bound. */
#define PNG_CHUNK_MAX (8u << 20)

/* The ancillary chunks libpng would otherwise parse, none of which changes
 * the 8-bit pixels we return (tRNS, which does, is not listed). libpng 1.6
 * reports an over-long chunk as a benign error, that is a warning, and its
 * text handlers then allocate the declared length anyway (up to 2 GiB from a
 * file of a few hundred bytes). Listed here, the chunks are skipped in
 * small reads without a buffer. */
static const png_byte ignored_chunks[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0"
                                          "pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";

/* decode_body's status when libpng reported an error (text in msg). */
#define LIB_FAILED (-1)

typedef struct png_state {
    const char *name;
    long max_pixels;
    char msg[200];
    /* decoding */
    const unsigned char *src;
    size_t size, pos;
    mfr_image im;
    png_bytep *rows;
    /* encoding */
    unsigned char *out;
    size_t out_size, out_cap;
    int nomem;
} png_state;

static void on_error(png_structp png, png_const_charp text)
{
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text)
{
    (void)png;
    (void)text;
}

static void read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_state *s = png_get_io_ptr(png);
    if (n > s->size - s->pos)
        png_error(png, "file is truncated");
    memcpy(dst, s->src + s->pos, n);
    s->pos += n;
}

/* Everything between png_create_read_struct and png_destroy_read_struct. */
static int decode_body(png_structp png, png_infop info, png_state *s)
{
    png_uint_32 w, h;
    int depth, color, interlace, channels;
    size_t rowbytes;

    if (setjmp(png_jmpbuf(png)))
        return LIB_FAILED;

    png_set_read_fn(png, s, read_mem);
    png_set_user_limits(png, MFR_IMAGE_MAX_DIM, MFR_IMAGE_MAX_DIM);
    png_set_chunk_malloc_max(png, PNG_CHUNK_MAX);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks, (int)(sizeof ignored_chunks / 5));
    png_read_info(png, info);
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    /* png_set_user_limits caps each side; the pixel count is ours to check. */
    if (img_check_header(w, h, s->max_pixels, s->name) != MFR_OK)
        return MFR_ERR_RANGE; /* zero sizes never get here: libpng refuses them */

    /* To 8-bit grey, RGB or RGBA: palettes and low bit depths expand, tRNS
     * becomes an alpha channel, 16 bits scale to 8, grey+alpha to RGBA. */
    png_set_expand(png);
    if (depth == 16)
        png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY_ALPHA ||
        (color == PNG_COLOR_TYPE_GRAY && png_get_valid(png, info, PNG_INFO_tRNS)))
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    channels = png_get_channels(png, info);
    rowbytes = png_get_rowbytes(png, info);
    if ((channels != 1 && channels != 3 && channels != 4) || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)w * (size_t)channels)
        return mfr_error(MFR_ERR_INTERNAL, "%s: libpng gave %d channels of %d bits; expected 8-bit grey, RGB or RGBA",
                         s->name, channels, png_get_bit_depth(png, info));

    if (mfr_image_alloc(&s->im, (int)w, (int)h, channels) != MFR_OK)
        return mfr_error_context(MFR_ERR_NOMEM, "%s", s->name);
    s->rows = malloc(sizeof *s->rows * h);
    if (!s->rows)
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", s->name);
    for (png_uint_32 y = 0; y < h; y++)
        s->rows[y] = mfr_image_row(&s->im, (int)y);
    png_read_image(png, s->rows);
    /* Reads up to IEND, so a file cut after the pixels is still an error. */
    png_read_end(png, NULL);
    return MFR_OK;
}

int img_png_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out)
{
    png_state s;
    png_structp png;
    png_infop info = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&s, 0, sizeof s);
    s.name = name;
    s.max_pixels = max_pixels;
    s.src = data;
    s.size = size;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: not a PNG file (bad signature)", name);
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (png)
        info = png_create_info_struct(png);
    if (!png || !info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", name);
    }
    rc = decode_body(png, info, &s);
    if (rc == LIB_FAILED)
        rc = mfr_error(MFR_ERR_FORMAT, "%s: invalid PNG: %s", name, s.msg);
    png_destroy_read_struct(&png, &info, NULL);
    free(s.rows);
    if (rc != MFR_OK) {
        mfr_image_free(&s.im);
        return rc;
    }
    *out = s.im;
    return MFR_OK;
}

static void write_mem(png_structp png, png_bytep src, size_t n)
{
    png_state *s = png_get_io_ptr(png);
    if (n > s->out_cap - s->out_size) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        unsigned char *grown;
        while (cap - s->out_size < n) {
            if (cap > SIZE_MAX / 2) {
                s->nomem = 1;
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        grown = realloc(s->out, cap);
        if (!grown) {
            s->nomem = 1;
            png_error(png, "out of memory");
        }
        s->out = grown;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_size, src, n);
    s->out_size += n;
}

static void flush_mem(png_structp png)
{
    (void)png;
}

static int encode_body(png_structp png, png_infop info, const mfr_image *im, png_state *s)
{
    static const int color_of[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};

    if (setjmp(png_jmpbuf(png)))
        return s->nomem ? MFR_ERR_NOMEM : MFR_ERR_INTERNAL;
    png_set_write_fn(png, s, write_mem, flush_mem);
    /* Level 6 with adaptive filters: libpng's defaults, a good size/speed balance. */
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)im->width, (png_uint_32)im->height, 8, color_of[im->channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < im->height; y++)
        png_write_row(png, mfr_image_row(im, y));
    png_write_end(png, NULL);
    return MFR_OK;
}

int mfr_png_encode(const mfr_image *im, void **data, size_t *size)
{
    png_state s;
    png_structp png;
    png_infop info = NULL;
    int rc;

    *data = NULL;
    *size = 0;
    rc = mfr_image_check_size(im->width, im->height, im->channels, "PNG encoder");
    if (rc != MFR_OK)
        return rc;
    memset(&s, 0, sizeof s);
    s.name = "PNG encoder";
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (png)
        info = png_create_info_struct(png);
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        return mfr_error(MFR_ERR_NOMEM, "PNG encoder: out of memory");
    }
    rc = encode_body(png, info, im, &s);
    png_destroy_write_struct(&png, &info);
    if (rc != MFR_OK) {
        free(s.out);
        return mfr_error(rc, "PNG encoder: %s", s.msg[0] ? s.msg : "failed");
    }
    *data = s.out;
    *size = s.out_size;
    return MFR_OK;
}
