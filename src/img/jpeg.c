/* JPEG through libjpeg-turbo: decode from memory, encode into memory.
 *
 * libjpeg's default error handler prints and calls exit(); ours formats the
 * message and longjmps back to the setjmp in decode_body/encode_body.
 * Warnings that pixel data is missing or corrupt (e.g. "premature end of
 * data segment", after which libjpeg would pad the image with grey) are
 * errors too: a truncated file must not decode as a plausible image. As in png.c, state that changes
 * after the setjmp lives in a caller-owned struct, so no `volatile` is
 * needed. */
#include "config.h"
#include "mfr/img.h"
#include "codec.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/* decode_body's status when libjpeg reported an error (text in msg). */
#define LIB_FAILED (-1)

typedef struct jpeg_state {
    struct jpeg_error_mgr mgr; /* first, so that cinfo->err points at the state */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    mfr_image im;
    unsigned char *out;
    unsigned long out_size;
} jpeg_state;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_state *s = (jpeg_state *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, s->msg);
    longjmp(s->jmp, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
    /* Level -1 is a warning. Those that mean pixel data is missing or
     * damaged are fatal; the rest (an unknown JFIF revision, junk bytes
     * between markers, a bad ICC marker, an unknown Adobe transform) leave
     * the image intact and are ignored, as are trace messages (level >= 0). */
    if (level < 0) {
        switch (cinfo->err->msg_code) {
        case JWRN_JPEG_EOF: case JWRN_HIT_MARKER: case JWRN_HUFF_BAD_CODE: case JWRN_ARITH_BAD_CODE:
        case JWRN_MUST_RESYNC: case JWRN_NOT_SEQUENTIAL: case JWRN_BOGUS_PROGRESSION:
            on_error_exit(cinfo);
            break;
        default:
            break;
        }
    }
}

static int decode_body(struct jpeg_decompress_struct *cinfo, const void *data, size_t size,
                       const char *name, long max_pixels, jpeg_state *s)
{
    int rc;
    if (setjmp(s->jmp))
        return LIB_FAILED;
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    /* Before jpeg_start_decompress, which allocates (for a progressive
     * file, coefficient buffers for the whole image). */
    rc = img_check_header(cinfo->image_width, cinfo->image_height, max_pixels, name);
    if (rc != MFR_OK)
        return rc;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr: case JCS_RGB: cinfo->out_color_space = JCS_RGB; break;
    default:
        return mfr_error(MFR_ERR_UNSUPPORTED,
                         "%s: JPEG with %d components in colour space %d (CMYK, YCCK or unknown) is not supported; "
                         "convert it to RGB or grey", name, cinfo->num_components, (int)cinfo->jpeg_color_space);
    }
    /* Header sizes are checked above; the output size is the same (no scaling). */
    jpeg_start_decompress(cinfo);
    if (mfr_image_alloc(&s->im, (int)cinfo->output_width, (int)cinfo->output_height, cinfo->output_components) != MFR_OK)
        return mfr_error_context(MFR_ERR_NOMEM, "%s", name);
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = mfr_image_row(&s->im, (int)cinfo->output_scanline);
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
            return mfr_error(MFR_ERR_FORMAT, "%s: JPEG decoder stalled", name);
    }
    jpeg_finish_decompress(cinfo);
    return MFR_OK;
}

int img_jpeg_decode(const void *data, size_t size, const char *name, long max_pixels, mfr_image *out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_state s;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&s, 0, sizeof s);
    memset(&cinfo, 0, sizeof cinfo);
    if (size > (unsigned long)-1)
        return mfr_error(MFR_ERR_RANGE, "%s: file too large for the JPEG decoder", name);
    cinfo.err = jpeg_std_error(&s.mgr);
    s.mgr.error_exit = on_error_exit;
    s.mgr.emit_message = on_message;
    rc = decode_body(&cinfo, data, size, name, max_pixels, &s);
    if (rc == LIB_FAILED)
        rc = mfr_error(MFR_ERR_FORMAT, "%s: invalid JPEG: %s", name, s.msg);
    jpeg_destroy_decompress(&cinfo);
    if (rc != MFR_OK) {
        mfr_image_free(&s.im);
        return rc;
    }
    *out = s.im;
    return MFR_OK;
}

static int encode_body(struct jpeg_compress_struct *cinfo, const mfr_image *im, int quality, jpeg_state *s)
{
    if (setjmp(s->jmp))
        return MFR_ERR_INTERNAL;
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &s->out, &s->out_size);
    cinfo->image_width = (JDIMENSION)im->width;
    cinfo->image_height = (JDIMENSION)im->height;
    cinfo->input_components = im->channels;
    cinfo->in_color_space = im->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    /* Exact DCT and optimised Huffman tables: smaller files, same output on
     * every machine. */
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->optimize_coding = TRUE;
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = mfr_image_row(im, (int)cinfo->next_scanline);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return MFR_OK;
}

int mfr_jpeg_encode(const mfr_image *im, int quality, void **data, size_t *size)
{
    struct jpeg_compress_struct cinfo;
    jpeg_state s;
    int rc;

    *data = NULL;
    *size = 0;
    rc = mfr_image_check_size(im->width, im->height, im->channels, "JPEG encoder");
    if (rc != MFR_OK)
        return rc;
    if (im->channels == 4)
        return mfr_error(MFR_ERR_UNSUPPORTED, "JPEG encoder: JPEG has no alpha channel; convert to 3 channels first");
    if (quality < 1 || quality > 100)
        return mfr_error(MFR_ERR_ARG, "JPEG encoder: quality %d is outside 1..100", quality);
    memset(&s, 0, sizeof s);
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&s.mgr);
    s.mgr.error_exit = on_error_exit;
    s.mgr.emit_message = on_message;
    rc = encode_body(&cinfo, im, quality, &s);
    jpeg_destroy_compress(&cinfo);
    if (rc != MFR_OK) {
        free(s.out);
        return mfr_error(rc, "JPEG encoder: %s", s.msg[0] ? s.msg : "failed");
    }
    /* jpeg_mem_dest's buffer comes from malloc, so the caller frees it. */
    *data = s.out;
    *size = s.out_size;
    return MFR_OK;
}
