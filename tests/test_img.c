/* Tests of src/img: codecs, conversions, geometry, drawing. */
#include "config.h"
#include "testutil.h"
#include "mfr/img.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------- helpers */

/* A deterministic test pattern: smooth gradients plus some texture. */
static void fill_pattern(mfr_image *im, unsigned seed)
{
    for (int y = 0; y < im->height; y++) {
        uint8_t *row = mfr_image_row(im, y);
        for (int x = 0; x < im->width; x++)
            for (int k = 0; k < im->channels; k++) {
                unsigned v = (unsigned)(x * 7 + y * 3 + k * 50) + ((unsigned)(x * y) ^ seed) % 17;
                row[x * im->channels + k] = (uint8_t)(v & 255);
            }
    }
}

/* A smooth pattern, the kind of content JPEG is made for. */
static void fill_smooth(mfr_image *im)
{
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            for (int k = 0; k < im->channels; k++)
                mfr_image_row(im, y)[x * im->channels + k] =
                    (uint8_t)(128 + 100 * sin(0.11 * x + 0.7 * k) * cos(0.07 * y - 0.3 * k));
}

static void fill_const(mfr_image *im, const uint8_t *color)
{
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            memcpy(mfr_image_row(im, y) + (size_t)x * im->channels, color, (size_t)im->channels);
}

static int images_equal(const mfr_image *a, const mfr_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(mfr_image_row(a, y), mfr_image_row(b, y), (size_t)a->width * (size_t)a->channels) != 0)
            return 0;
    return 1;
}

static double psnr(const mfr_image *a, const mfr_image *b)
{
    double se = 0;
    size_t n = (size_t)a->width * a->height * a->channels;
    for (int y = 0; y < a->height; y++)
        for (int i = 0; i < a->width * a->channels; i++) {
            double d = (double)mfr_image_row(a, y)[i] - mfr_image_row(b, y)[i];
            se += d * d;
        }
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static uint8_t px(const mfr_image *im, int x, int y, int k)
{
    return mfr_image_row(im, y)[(size_t)x * im->channels + k];
}

/* Asserts that decoding fails cleanly: an error status, no image, and a
 * message naming the input. */
static void expect_decode_error(const void *data, size_t size, const char *what)
{
    mfr_image im;
    int rc;
    memset(&im, 0xab, sizeof im);
    rc = mfr_image_decode(data, size, "bad-input", &im);
    ck_assert_msg(rc != MFR_OK, "%s: decoded %zu bytes without error", what, size);
    ck_assert_msg(im.data == NULL, "%s: image left allocated", what);
    ck_assert_msg(strstr(mfr_last_error(), "bad-input") != NULL, "%s: message does not name the input: %s", what,
                  mfr_last_error());
}

/* ------------------------------------------------ a tiny PNG writer
 * Independent of libpng, to make the variants mfr never writes: 16-bit,
 * palettes, low bit depths, grey+alpha, and hostile headers. */

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    ck_assert_ptr_nonnull(b->p);
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_chunk(bytes *b, const char *type, const void *data, size_t n)
{
    unsigned char head[8], tail[4];
    uLong crc = crc32(0, (const Bytef *)type, 4);
    put_u32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    if (n)
        crc = crc32(crc, data, (uInt)n);
    put_u32(tail, (uint32_t)crc);
    put(b, head, 8);
    if (n)
        put(b, data, n);
    put(b, tail, 4);
}

/* raw: height rows of `rowbytes` bytes (no filter bytes). */
static bytes make_png(uint32_t w, uint32_t h, int depth, int color, const void *plte, size_t plte_n,
                      const void *trns, size_t trns_n, const unsigned char *raw, size_t rowbytes, uint32_t rows)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    bytes b = {0};
    unsigned char ihdr[13];
    put(&b, sig, 8);
    put_u32(ihdr, w);
    put_u32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth;
    ihdr[9] = (unsigned char)color;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    put_chunk(&b, "IHDR", ihdr, 13);
    if (plte)
        put_chunk(&b, "PLTE", plte, plte_n);
    if (trns)
        put_chunk(&b, "tRNS", trns, trns_n);
    {
        size_t n = (rowbytes + 1) * rows;
        unsigned char *filtered = calloc(n ? n : 1, 1);
        uLongf zn = compressBound((uLong)n);
        unsigned char *z = malloc(zn);
        ck_assert(filtered && z);
        for (uint32_t y = 0; y < rows; y++)
            memcpy(filtered + y * (rowbytes + 1) + 1, raw + y * rowbytes, rowbytes);
        ck_assert_int_eq(compress(z, &zn, filtered, (uLong)n), Z_OK);
        put_chunk(&b, "IDAT", z, zn);
        free(filtered);
        free(z);
    }
    put_chunk(&b, "IEND", NULL, 0);
    return b;
}

/* --------------------------------------------------------------- image */

START_TEST(test_alloc_limits)
{
    mfr_image im;
    tu_ok(mfr_image_alloc(&im, 5, 3, 3));
    ck_assert_int_eq((int)im.stride, 15);
    for (int i = 0; i < 45; i++)
        ck_assert_int_eq(im.data[i], 0);
    mfr_image_free(&im);
    ck_assert_ptr_null(im.data);
    ck_assert_int_eq(mfr_image_alloc(&im, 0, 3, 3), MFR_ERR_FORMAT);
    ck_assert_int_eq(mfr_image_alloc(&im, 3, -1, 3), MFR_ERR_FORMAT);
    ck_assert_int_eq(mfr_image_alloc(&im, 3, 3, 2), MFR_ERR_UNSUPPORTED);
    ck_assert_int_eq(mfr_image_alloc(&im, MFR_IMAGE_MAX_DIM + 1, 1, 1), MFR_ERR_RANGE);
    ck_assert_int_eq(mfr_image_alloc(&im, MFR_IMAGE_MAX_DIM, MFR_IMAGE_MAX_DIM, 1), MFR_ERR_RANGE);
    ck_assert_ptr_null(im.data);
}
END_TEST

START_TEST(test_copy)
{
    mfr_image a, b;
    tu_ok(mfr_image_alloc(&a, 9, 4, 4));
    fill_pattern(&a, 3);
    tu_ok(mfr_image_copy(&a, &b));
    ck_assert(images_equal(&a, &b));
    ck_assert_ptr_ne(a.data, b.data);
    mfr_image_free(&a);
    mfr_image_free(&b);
}
END_TEST

/* -------------------------------------------------------------- codecs */

START_TEST(test_sniff)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char jpg[3] = {0xff, 0xd8, 0xff};
    ck_assert_int_eq(mfr_image_sniff(png, 8), MFR_IMAGE_PNG);
    ck_assert_int_eq(mfr_image_sniff(png, 7), MFR_IMAGE_UNKNOWN);
    ck_assert_int_eq(mfr_image_sniff(jpg, 3), MFR_IMAGE_JPEG);
    ck_assert_int_eq(mfr_image_sniff("P6\n", 3), MFR_IMAGE_PNM);
    ck_assert_int_eq(mfr_image_sniff("GIF89a", 6), MFR_IMAGE_UNKNOWN);
    ck_assert_int_eq(mfr_image_format_from_path("a/b.PNG"), MFR_IMAGE_PNG);
    ck_assert_int_eq(mfr_image_format_from_path("x.jpeg"), MFR_IMAGE_JPEG);
    ck_assert_int_eq(mfr_image_format_from_path("x.jpg"), MFR_IMAGE_JPEG);
    ck_assert_int_eq(mfr_image_format_from_path("x.pgm"), MFR_IMAGE_PNM);
    ck_assert_int_eq(mfr_image_format_from_path("dir.png/x"), MFR_IMAGE_UNKNOWN);
    ck_assert_int_eq(mfr_image_format_from_path("x.gif"), MFR_IMAGE_UNKNOWN);
}
END_TEST

START_TEST(test_png_roundtrip)
{
    static const int chans[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        mfr_image im, back;
        void *buf;
        size_t n;
        tu_ok(mfr_image_alloc(&im, 37, 23, chans[i]));
        fill_pattern(&im, 5);
        tu_ok(mfr_png_encode(&im, &buf, &n));
        ck_assert_int_eq(mfr_image_sniff(buf, n), MFR_IMAGE_PNG);
        tu_ok(mfr_image_decode(buf, n, "mem.png", &back));
        ck_assert(images_equal(&im, &back));
        mfr_image_free(&back);
        tu_ok(mfr_image_write(tu_tmp("rt.png"), &im));
        tu_ok(mfr_image_read(tu_tmp("rt.png"), &back));
        ck_assert(images_equal(&im, &back));
        free(buf);
        mfr_image_free(&im);
        mfr_image_free(&back);
    }
}
END_TEST

START_TEST(test_pnm_roundtrip)
{
    static const int chans[2] = {1, 3};
    static const char *names[2] = {"rt.pgm", "rt.ppm"};
    for (int i = 0; i < 2; i++) {
        mfr_image im, back;
        tu_ok(mfr_image_alloc(&im, 31, 17, chans[i]));
        fill_pattern(&im, 9);
        tu_ok(mfr_image_write(tu_tmp(names[i]), &im));
        tu_ok(mfr_image_read(tu_tmp(names[i]), &back));
        ck_assert(images_equal(&im, &back));
        mfr_image_free(&back);
        tu_ok(mfr_image_write(tu_tmp("rt.pnm"), &im));
        tu_ok(mfr_image_read(tu_tmp("rt.pnm"), &back));
        ck_assert(images_equal(&im, &back));
        mfr_image_free(&im);
        mfr_image_free(&back);
    }
}
END_TEST

START_TEST(test_pnm_variants)
{
    mfr_image im;
    /* ASCII, comments anywhere in the header, maxval 15 scaled to 255. */
    const char *p2 = "P2 # grey\n3 2\n# a comment\n15\n0 15 7\n8 1 15\n";
    const char *p3 = "P3\n2 1 255\n255 0 10   20 30 40";
    /* 16-bit binary, big-endian: 65535 -> 255, 257 -> 1, 32768 -> 128. */
    const unsigned char p5[] = {'P', '5', '\n', '3', ' ', '1', '\n', '6', '5', '5', '3', '5', '\n',
                                0xff, 0xff, 0x01, 0x01, 0x80, 0x00};
    tu_ok(mfr_image_decode(p2, strlen(p2), "p2", &im));
    ck_assert_int_eq(im.width, 3);
    ck_assert_int_eq(im.height, 2);
    ck_assert_int_eq(im.channels, 1);
    ck_assert_int_eq(px(&im, 0, 0, 0), 0);
    ck_assert_int_eq(px(&im, 1, 0, 0), 255);
    ck_assert_int_eq(px(&im, 2, 0, 0), 119); /* 7 * 255 / 15 */
    ck_assert_int_eq(px(&im, 0, 1, 0), 136);
    ck_assert_int_eq(px(&im, 1, 1, 0), 17);
    mfr_image_free(&im);
    tu_ok(mfr_image_decode(p3, strlen(p3), "p3", &im));
    ck_assert_int_eq(im.channels, 3);
    ck_assert_int_eq(px(&im, 0, 0, 0), 255);
    ck_assert_int_eq(px(&im, 0, 0, 2), 10);
    ck_assert_int_eq(px(&im, 1, 0, 1), 30);
    mfr_image_free(&im);
    tu_ok(mfr_image_decode(p5, sizeof p5, "p5", &im));
    ck_assert_int_eq(px(&im, 0, 0, 0), 255);
    ck_assert_int_eq(px(&im, 1, 0, 0), 1);
    ck_assert_int_eq(px(&im, 2, 0, 0), 128);
    mfr_image_free(&im);

    expect_decode_error("P2\n2 1\n255\n1 256", 16, "sample over maxval");
    expect_decode_error("P2\n2 1\n255\n1", 12, "ascii truncated");
    expect_decode_error("P5\n2 2\n255\nabc", 14, "binary truncated");
    expect_decode_error("P5\n2 2\n0\nabcd", 13, "maxval 0");
    expect_decode_error("P5\n2 2\n65536\nabcdabcd", 21, "maxval too big");
    expect_decode_error("P5\n0 2\n255\n", 11, "zero width");
    expect_decode_error("P5 -1 2 255\n", 12, "negative width");
    expect_decode_error("P5\n2x 2\n255\nabcd", 16, "junk in number");
    expect_decode_error("P4\n2 2\n\x01\x02", 9, "PBM");
    expect_decode_error("P7\nWIDTH 1\n", 10, "PAM");
    expect_decode_error("P6", 2, "magic only");
    expect_decode_error("P5\n99999999999999999999 1\n255\n", 30, "overflowing width");
    /* Huge but within int: refused by the limit, before allocating. */
    ck_assert_int_eq(mfr_image_decode("P5\n30000 30000\n255\n", 19, "huge", &im), MFR_ERR_RANGE);
    /* Within the limits but the file is far too short: refused before allocating. */
    expect_decode_error("P6\n10000 10000\n255\nxyz", 22, "short for its header");
}
END_TEST

START_TEST(test_jpeg_roundtrip)
{
    static const int chans[2] = {1, 3};
    for (int i = 0; i < 2; i++) {
        mfr_image im, back;
        void *buf;
        size_t n;
        double q;
        tu_ok(mfr_image_alloc(&im, 64, 48, chans[i]));
        fill_smooth(&im);
        tu_ok(mfr_jpeg_encode(&im, 95, &buf, &n));
        ck_assert_int_eq(mfr_image_sniff(buf, n), MFR_IMAGE_JPEG);
        tu_ok(mfr_image_decode(buf, n, "mem.jpg", &back));
        ck_assert_int_eq(back.width, 64);
        ck_assert_int_eq(back.height, 48);
        ck_assert_int_eq(back.channels, chans[i]);
        q = psnr(&im, &back);
        /* Quality 95 on smooth content: well above 38 dB (libjpeg-turbo gives ~45). */
        ck_assert_msg(q > 38.0, "PSNR %.2f dB at quality 95", q);
        mfr_image_free(&back);
        free(buf);
        /* Lower quality: smaller and worse, but still recognisably the image. */
        tu_ok(mfr_image_write_jpeg(tu_tmp("rt.jpg"), &im, 30));
        tu_ok(mfr_image_read(tu_tmp("rt.jpg"), &back));
        ck_assert_msg(psnr(&im, &back) > 28.0, "PSNR %.2f dB at quality 30", psnr(&im, &back));
        mfr_image_free(&back);
        tu_ok(mfr_image_write(tu_tmp("rt.jpeg"), &im));
        tu_ok(mfr_image_read(tu_tmp("rt.jpeg"), &back));
        ck_assert(psnr(&im, &back) > 38.0);
        mfr_image_free(&back);
        mfr_image_free(&im);
    }
}
END_TEST

START_TEST(test_fixtures)
{
    /* Files written by another encoder (ImageMagick) from pattern.ppm: an
     * Adam7-interlaced PNG, a 16-bit PNG and a progressive JPEG. */
    mfr_image ref, im, grey;
    tu_ok(mfr_image_read(tu_src("tests/data/img/pattern.ppm"), &ref));
    ck_assert_int_eq(ref.width, 19);
    ck_assert_int_eq(ref.height, 13);
    ck_assert_int_eq(px(&ref, 2, 1, 0), (2 * 13 + 1 * 5) % 256);
    tu_ok(mfr_image_read(tu_src("tests/data/img/pattern-adam7.png"), &im));
    ck_assert(images_equal(&ref, &im));
    mfr_image_free(&im);
    tu_ok(mfr_image_read(tu_src("tests/data/img/pattern-16.png"), &im));
    ck_assert(images_equal(&ref, &im));
    mfr_image_free(&im);
    tu_ok(mfr_image_read(tu_src("tests/data/img/pattern-progressive.jpg"), &im));
    ck_assert_int_eq(im.channels, 3);
    ck_assert_msg(psnr(&ref, &im) > 30.0, "PSNR %.2f", psnr(&ref, &im));
    mfr_image_free(&im);
    /* A palette PNG of 8 grey levels expands to RGB with the exact levels. */
    tu_ok(mfr_image_read(tu_src("tests/data/img/levels.pgm"), &grey));
    tu_ok(mfr_image_read(tu_src("tests/data/img/levels-palette.png"), &im));
    ck_assert_int_eq(im.width, grey.width);
    for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width; x++)
            for (int k = 0; k < im.channels && k < 3; k++)
                ck_assert_int_eq(px(&im, x, y, k), px(&grey, x, y, 0));
    mfr_image_free(&im);
    mfr_image_free(&grey);
    mfr_image_free(&ref);
    /* CMYK JPEG: refused by name, not decoded as nonsense. */
    ck_assert_int_eq(mfr_image_read(tu_src("tests/data/img/cmyk.jpg"), &im), MFR_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "cmyk.jpg"));
    ck_assert_ptr_null(im.data);
}
END_TEST

START_TEST(test_png_variants)
{
    mfr_image im;
    bytes b;
    /* 16-bit grey: scaled to 8 bits with rounding (v * 255 / 65535). */
    {
        const unsigned char raw[6] = {0xff, 0xff, 0x00, 0x00, 0x80, 0x80};
        b = make_png(3, 1, 16, 0, NULL, 0, NULL, 0, raw, 6, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "g16", &im));
        ck_assert_int_eq(im.channels, 1);
        ck_assert_int_eq(px(&im, 0, 0, 0), 255);
        ck_assert_int_eq(px(&im, 1, 0, 0), 0);
        ck_assert_int_eq(px(&im, 2, 0, 0), 128);
        mfr_image_free(&im);
        free(b.p);
    }
    /* 16-bit RGBA. */
    {
        const unsigned char raw[8] = {0x12, 0x12, 0x34, 0x34, 0x56, 0x56, 0xff, 0xff};
        b = make_png(1, 1, 16, 6, NULL, 0, NULL, 0, raw, 8, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "rgba16", &im));
        ck_assert_int_eq(im.channels, 4);
        ck_assert_int_eq(px(&im, 0, 0, 0), 0x12);
        ck_assert_int_eq(px(&im, 0, 0, 1), 0x34);
        ck_assert_int_eq(px(&im, 0, 0, 2), 0x56);
        ck_assert_int_eq(px(&im, 0, 0, 3), 0xff);
        mfr_image_free(&im);
        free(b.p);
    }
    /* A 2-bit palette with transparency: expands to RGBA. */
    {
        const unsigned char plte[9] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
        const unsigned char trns[1] = {0};
        const unsigned char raw[1] = {0x24}; /* indices 0, 2, 1, 0 */
        b = make_png(4, 1, 2, 3, plte, 9, trns, 1, raw, 1, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "pal", &im));
        ck_assert_int_eq(im.channels, 4);
        ck_assert_int_eq(px(&im, 0, 0, 0), 10);
        ck_assert_int_eq(px(&im, 0, 0, 3), 0);
        ck_assert_int_eq(px(&im, 1, 0, 0), 70);
        ck_assert_int_eq(px(&im, 1, 0, 3), 255);
        ck_assert_int_eq(px(&im, 2, 0, 1), 50);
        mfr_image_free(&im);
        free(b.p);
    }
    /* 8-bit palette without transparency: RGB. */
    {
        const unsigned char plte[6] = {1, 2, 3, 200, 201, 202};
        const unsigned char raw[2] = {1, 0};
        b = make_png(2, 1, 8, 3, plte, 6, NULL, 0, raw, 2, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "pal8", &im));
        ck_assert_int_eq(im.channels, 3);
        ck_assert_int_eq(px(&im, 0, 0, 2), 202);
        ck_assert_int_eq(px(&im, 1, 0, 0), 1);
        mfr_image_free(&im);
        free(b.p);
    }
    /* 1-bit grey: 0 -> 0, 1 -> 255. */
    {
        const unsigned char raw[1] = {0xa0}; /* 1 0 1 */
        b = make_png(3, 1, 1, 0, NULL, 0, NULL, 0, raw, 1, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "g1", &im));
        ck_assert_int_eq(im.channels, 1);
        ck_assert_int_eq(px(&im, 0, 0, 0), 255);
        ck_assert_int_eq(px(&im, 1, 0, 0), 0);
        ck_assert_int_eq(px(&im, 2, 0, 0), 255);
        mfr_image_free(&im);
        free(b.p);
    }
    /* Grey + alpha becomes RGBA. */
    {
        const unsigned char raw[2] = {77, 128};
        b = make_png(1, 1, 8, 4, NULL, 0, NULL, 0, raw, 2, 1);
        tu_ok(mfr_image_decode(b.p, b.n, "ga", &im));
        ck_assert_int_eq(im.channels, 4);
        ck_assert_int_eq(px(&im, 0, 0, 0), 77);
        ck_assert_int_eq(px(&im, 0, 0, 2), 77);
        ck_assert_int_eq(px(&im, 0, 0, 3), 128);
        mfr_image_free(&im);
        free(b.p);
    }
}
END_TEST

START_TEST(test_png_hostile_headers)
{
    const unsigned char raw[4] = {0};
    mfr_image im;
    int rc;
    bytes b;
    /* 100000 x 100000 claims 10^10 pixels: refused by the per-side limit
     * before libpng or mfr allocate anything (the data is 1 row). */
    b = make_png(100000, 100000, 8, 0, NULL, 0, NULL, 0, raw, 4, 1);
    expect_decode_error(b.p, b.n, "100000 x 100000 PNG");
    free(b.p);
    /* 30000 x 30000 passes the per-side limit but not the pixel limit. */
    b = make_png(30000, 30000, 8, 0, NULL, 0, NULL, 0, raw, 4, 1);
    rc = mfr_image_decode(b.p, b.n, "big.png", &im);
    ck_assert_int_eq(rc, MFR_ERR_RANGE);
    ck_assert_ptr_null(im.data);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "big.png"));
    free(b.p);
    /* Zero width, and a width above 2^31 (invalid in PNG). */
    b = make_png(0, 4, 8, 0, NULL, 0, NULL, 0, raw, 0, 0);
    expect_decode_error(b.p, b.n, "zero-width PNG");
    free(b.p);
    b = make_png(0x80000001u, 1, 8, 0, NULL, 0, NULL, 0, raw, 4, 1);
    expect_decode_error(b.p, b.n, "2^31+1 wide PNG");
    free(b.p);
    /* Fewer rows of data than the header says. */
    b = make_png(4, 3, 8, 0, NULL, 0, NULL, 0, raw, 4, 1);
    expect_decode_error(b.p, b.n, "PNG short of rows");
    free(b.p);
    /* An invalid bit depth for the colour type. */
    b = make_png(1, 1, 4, 2, NULL, 0, NULL, 0, raw, 1, 1);
    expect_decode_error(b.p, b.n, "RGB at 4 bits");
    free(b.p);
}
END_TEST

/* b with one more chunk right after IHDR (which ends at byte 33). */
static bytes with_chunk(bytes b, const char *type, const void *data, size_t n)
{
    bytes out = {0};
    put(&out, b.p, 33);
    put_chunk(&out, type, data, n);
    put(&out, b.p + 33, b.n - 33);
    free(b.p);
    return out;
}

/* Ancillary chunks change nothing in the pixels, whatever they hold; one
 * whose declared length runs past the end of the file is a clear error. */
START_TEST(test_png_ancillary_chunks)
{
    const unsigned char raw[3] = {10, 200, 77};
    static const unsigned char gama[4] = {0, 0, 0xb1, 0x8f}, phys[9] = {0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1};
    static const unsigned char ztxt[] = "Comment\0\0x\x9c\xcb\x48\xcd\xc9\xc9\x07\x00\x06\x2c\x02\x15";
    static const unsigned char bad_iccp[] = "icc\0\0garbage, not zlib";
    size_t big_n = 12u << 20; /* over the 8 MiB cap on one ancillary chunk */
    unsigned char *big = malloc(big_n);
    mfr_image im;
    bytes b;
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', big_n);
    big[7] = '\0'; /* keyword "aaaaaaa", then text */
    b = make_png(3, 1, 8, 0, NULL, 0, NULL, 0, raw, 3, 1);
    b = with_chunk(b, "gAMA", gama, sizeof gama);
    b = with_chunk(b, "pHYs", phys, sizeof phys);
    b = with_chunk(b, "zTXt", ztxt, sizeof ztxt - 1);
    b = with_chunk(b, "iCCP", bad_iccp, sizeof bad_iccp - 1);
    b = with_chunk(b, "tEXt", big, big_n);
    b = with_chunk(b, "prVt", "private", 7); /* unknown, safe to copy */
    tu_ok(mfr_image_decode(b.p, b.n, "chunks.png", &im));
    ck_assert_int_eq(im.width, 3);
    ck_assert_int_eq(im.height, 1);
    ck_assert_int_eq(im.channels, 1);
    ck_assert_mem_eq(mfr_image_row(&im, 0), raw, 3);
    mfr_image_free(&im);
    free(b.p);
    free(big);

    /* A zTXt chunk that claims 2^31 - 1 bytes in a file of 100. */
    b = make_png(3, 1, 8, 0, NULL, 0, NULL, 0, raw, 3, 1);
    {
        unsigned char head[8 + 9];
        put_u32(head, 0x7fffffffu);
        memcpy(head + 4, "zTXt", 4);
        memcpy(head + 8, "Comment\0\0", 9);
        bytes out = {0};
        put(&out, b.p, 33);
        put(&out, head, sizeof head);
        free(b.p);
        b = out;
    }
    expect_decode_error(b.p, b.n, "PNG with a zTXt chunk longer than the file");
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "truncated"));
    free(b.p);
}
END_TEST

START_TEST(test_jpeg_hostile_headers)
{
    mfr_image im, small;
    void *buf;
    size_t n;
    unsigned char *p;
    size_t sof = 0;
    tu_ok(mfr_image_alloc(&small, 16, 16, 3));
    fill_smooth(&small);
    tu_ok(mfr_jpeg_encode(&small, 80, &buf, &n));
    p = buf;
    for (size_t i = 2; i + 9 < n; i++)
        if (p[i] == 0xff && (p[i + 1] == 0xc0 || p[i + 1] == 0xc1 || p[i + 1] == 0xc2)) {
            sof = i;
            break;
        }
    ck_assert_msg(sof > 0, "no SOF marker in our own JPEG");
    /* SOF: FF Cn, length (2), precision (1), height (2), width (2). */
    p[sof + 5] = 0x75; p[sof + 6] = 0x30; /* height 30000 */
    p[sof + 7] = 0x75; p[sof + 8] = 0x30; /* width 30000 */
    ck_assert_int_eq(mfr_image_decode(buf, n, "big.jpg", &im), MFR_ERR_RANGE);
    ck_assert_ptr_null(im.data);
    p[sof + 5] = 0xff; p[sof + 6] = 0xdc; /* 65500 x 30000: over the side limit */
    ck_assert_int_eq(mfr_image_decode(buf, n, "big.jpg", &im), MFR_ERR_RANGE);
    p[sof + 5] = 0xff; p[sof + 6] = 0xff; /* 65535: beyond libjpeg's own limit */
    expect_decode_error(buf, n, "65535-high JPEG");
    p[sof + 5] = 0; p[sof + 6] = 0;       /* height 0 */
    expect_decode_error(buf, n, "zero-height JPEG");
    p[sof + 5] = 0; p[sof + 6] = 16;
    p[sof + 7] = 0; p[sof + 8] = 0;       /* width 0 */
    expect_decode_error(buf, n, "zero-width JPEG");
    /* Restored, it decodes again (the patching hit the right bytes). */
    p[sof + 8] = 16;
    tu_ok(mfr_image_decode(buf, n, "ok.jpg", &im));
    ck_assert_int_eq(im.width, 16);
    mfr_image_free(&im);
    free(buf);
    mfr_image_free(&small);
}
END_TEST

START_TEST(test_jpeg_harmless_warning)
{
    /* Junk bytes between header segments (seen in files from some cameras)
     * make libjpeg warn "extraneous bytes before marker" but the pixels are
     * intact: the image decodes, identical to the clean file. */
    mfr_image im, a, b;
    void *buf;
    size_t n, dqt = 0;
    unsigned char *junk, *p;
    tu_ok(mfr_image_alloc(&im, 16, 16, 3));
    fill_smooth(&im);
    tu_ok(mfr_jpeg_encode(&im, 90, &buf, &n));
    p = buf;
    for (size_t i = 2; i + 1 < n && !dqt; i++)
        if (p[i] == 0xff && p[i + 1] == 0xdb)
            dqt = i;
    ck_assert(dqt > 0);
    junk = malloc(n + 3);
    memcpy(junk, buf, dqt);
    memcpy(junk + dqt, "abc", 3);
    memcpy(junk + dqt + 3, p + dqt, n - dqt);
    tu_ok(mfr_image_decode(buf, n, "clean.jpg", &a));
    tu_ok(mfr_image_decode(junk, n + 3, "junk.jpg", &b));
    ck_assert(images_equal(&a, &b));
    mfr_image_free(&a);
    mfr_image_free(&b);
    mfr_image_free(&im);
    free(junk);
    free(buf);
}
END_TEST

/* Every prefix of a valid file is an error, never a crash or an image. */
static void check_truncations(const void *buf, size_t n, const char *what)
{
    for (size_t cut = 0; cut < n; cut++)
        expect_decode_error(buf, cut, what);
}

START_TEST(test_truncation)
{
    mfr_image im;
    void *buf;
    size_t n;
    tu_ok(mfr_image_alloc(&im, 24, 16, 3));
    fill_pattern(&im, 1);
    tu_ok(mfr_png_encode(&im, &buf, &n));
    check_truncations(buf, n, "truncated PNG");
    free(buf);
    tu_ok(mfr_jpeg_encode(&im, 90, &buf, &n));
    check_truncations(buf, n, "truncated JPEG");
    free(buf);
    tu_ok(mfr_pnm_encode(&im, &buf, &n));
    check_truncations(buf, n, "truncated PNM");
    free(buf);
    mfr_image_free(&im);
    /* A progressive JPEG and an interlaced PNG end differently. */
    {
        void *data;
        size_t size;
        tu_ok(mfr_read_file(tu_src("tests/data/img/pattern-progressive.jpg"), 1 << 20, &data, &size));
        check_truncations(data, size, "truncated progressive JPEG");
        free(data);
        tu_ok(mfr_read_file(tu_src("tests/data/img/pattern-adam7.png"), 1 << 20, &data, &size));
        check_truncations(data, size, "truncated interlaced PNG");
        free(data);
    }
}
END_TEST

START_TEST(test_garbage)
{
    unsigned char buf[512];
    mfr_image im;
    uint32_t s = 12345;
    void *png;
    size_t n;
    for (int trial = 0; trial < 200; trial++) {
        size_t len = 1 + trial * 2;
        for (size_t i = 0; i < len; i++) {
            s = s * 1664525u + 1013904223u;
            buf[i] = (unsigned char)(s >> 24);
        }
        /* Raw garbage, then garbage behind each format's signature. */
        expect_decode_error(buf, len, "garbage");
        if (len >= 8) {
            memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
            expect_decode_error(buf, len, "PNG signature + garbage");
            memcpy(buf, "\xff\xd8\xff", 3);
            expect_decode_error(buf, len, "JPEG SOI + garbage");
            memcpy(buf, "P6 4 4 255", 3);
            expect_decode_error(buf, len, "PNM magic + garbage");
        }
    }
    /* A valid PNG with a flipped byte in the pixel data: the CRC catches it. */
    tu_ok(mfr_image_alloc(&im, 8, 8, 3));
    fill_pattern(&im, 2);
    tu_ok(mfr_png_encode(&im, &png, &n));
    ((unsigned char *)png)[n - 20] ^= 0x40;
    expect_decode_error(png, n, "PNG with a bad CRC");
    free(png);
    mfr_image_free(&im);
    expect_decode_error("", 0, "empty");
}
END_TEST

START_TEST(test_decode_max)
{
    /* A caller's lower pixel limit applies to every format, before allocating. */
    mfr_image im;
    void *buf[3];
    size_t n[3];
    tu_ok(mfr_image_alloc(&im, 20, 10, 3));
    fill_smooth(&im);
    tu_ok(mfr_png_encode(&im, &buf[0], &n[0]));
    tu_ok(mfr_jpeg_encode(&im, 90, &buf[1], &n[1]));
    tu_ok(mfr_pnm_encode(&im, &buf[2], &n[2]));
    mfr_image_free(&im);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mfr_image_decode_max(buf[i], n[i], "small", 199, &im), MFR_ERR_RANGE);
        ck_assert_ptr_null(im.data);
        ck_assert_ptr_nonnull(strstr(mfr_last_error(), "small"));
        tu_ok(mfr_image_decode_max(buf[i], n[i], "small", 200, &im));
        mfr_image_free(&im);
        tu_ok(mfr_image_decode_max(buf[i], n[i], "small", 0, &im));
        mfr_image_free(&im);
        free(buf[i]);
    }
}
END_TEST

START_TEST(test_write_errors)
{
    mfr_image im, rgba;
    const char *missing = tu_tmp("no-such-dir/x.png");
    tu_ok(mfr_image_alloc(&im, 4, 4, 1));
    tu_ok(mfr_image_alloc(&rgba, 4, 4, 4));
    ck_assert_int_eq(mfr_image_write(missing, &im), MFR_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "no-such-dir/x.png"));
    ck_assert_int_eq(mfr_image_write(tu_tmp("x.gif"), &im), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "x.gif"));
    ck_assert_int_eq(mfr_image_write(tu_tmp("x.ppm"), &im), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_image_write(tu_tmp("x.pgm"), &rgba), MFR_ERR_ARG);
    ck_assert_int_eq(mfr_image_write(tu_tmp("x.jpg"), &rgba), MFR_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "x.jpg"));
    ck_assert_int_eq(mfr_image_write(tu_tmp("x.pnm"), &rgba), MFR_ERR_UNSUPPORTED);
    ck_assert_int_eq(mfr_image_write_jpeg(tu_tmp("q.jpg"), &im, 0), MFR_ERR_ARG);
    /* No partial output was left behind. */
    ck_assert_int_ne(access(tu_tmp("x.jpg"), F_OK), 0);
    ck_assert_int_ne(access(tu_tmp("x.pnm"), F_OK), 0);
    ck_assert_int_ne(access(tu_tmp("q.jpg"), F_OK), 0);
    mfr_image_free(&im);
    ck_assert_int_eq(mfr_image_read(tu_tmp("missing.png"), &im), MFR_ERR_IO);
    ck_assert_ptr_null(im.data);
    mfr_image_free(&rgba);
}
END_TEST

/* --------------------------------------------------------- conversions */

START_TEST(test_convert)
{
    mfr_image rgb, grey, back, rgba;
    tu_ok(mfr_image_alloc(&rgb, 3, 1, 3));
    memcpy(rgb.data, "\xff\x00\x00\x00\xff\x00\x00\x00\xff", 9);
    tu_ok(mfr_image_convert(&rgb, 1, &grey));
    ck_assert_int_eq(px(&grey, 0, 0, 0), 76);  /* 0.299 * 255 */
    ck_assert_int_eq(px(&grey, 1, 0, 0), 150); /* 0.587 * 255 */
    ck_assert_int_eq(px(&grey, 2, 0, 0), 29);  /* 0.114 * 255 */
    tu_ok(mfr_image_convert(&grey, 3, &back));
    ck_assert_int_eq(px(&back, 1, 0, 0), 150);
    ck_assert_int_eq(px(&back, 1, 0, 2), 150);
    tu_ok(mfr_image_convert(&rgb, 4, &rgba));
    ck_assert_int_eq(px(&rgba, 0, 0, 0), 255);
    ck_assert_int_eq(px(&rgba, 0, 0, 3), 255);
    rgba.data[3] = 9;
    mfr_image_free(&back);
    tu_ok(mfr_image_convert(&rgba, 3, &back));
    ck_assert(images_equal(&back, &rgb));
    mfr_image_free(&back);
    /* White stays white in grey (weights sum to exactly 1). */
    memset(rgb.data, 255, 9);
    mfr_image_free(&grey);
    tu_ok(mfr_image_convert(&rgb, 1, &grey));
    ck_assert_int_eq(px(&grey, 2, 0, 0), 255);
    mfr_image_free(&grey);
    mfr_image_free(&rgb);
    mfr_image_free(&rgba);
}
END_TEST

START_TEST(test_float)
{
    mfr_image im, back;
    float *f;
    tu_ok(mfr_image_alloc(&im, 7, 5, 3));
    fill_pattern(&im, 4);
    f = malloc(sizeof *f * 7 * 5 * 3);
    mfr_image_to_float(&im, 127.5f, 1.0f / 128, f);
    ck_assert(fabsf(f[0] - (px(&im, 0, 0, 0) - 127.5f) / 128) < 1e-6f);
    ck_assert(fabsf(f[(2 * 7 + 3) * 3 + 1] - (px(&im, 3, 2, 1) - 127.5f) / 128) < 1e-6f);
    tu_ok(mfr_image_alloc(&back, 7, 5, 3));
    mfr_image_from_float(f, 127.5f, 1.0f / 128, &back);
    ck_assert(images_equal(&im, &back));
    /* Out-of-range and NaN values clamp. */
    f[0] = 1e6f;
    f[1] = -1e6f;
    f[2] = NAN;
    mfr_image_from_float(f, 127.5f, 1.0f / 128, &back);
    ck_assert_int_eq(back.data[0], 255);
    ck_assert_int_eq(back.data[1], 0);
    ck_assert_int_eq(back.data[2], 0);
    free(f);
    mfr_image_free(&im);
    mfr_image_free(&back);
}
END_TEST

START_TEST(test_hsv)
{
    float h, s, v, r, g, b;
    mfr_rgb_to_hsv(1, 0, 0, &h, &s, &v);
    ck_assert(h == 0 && s == 1 && v == 1);
    mfr_rgb_to_hsv(0, 1, 0, &h, &s, &v);
    ck_assert(fabsf(h - 120) < 1e-4f);
    mfr_rgb_to_hsv(0, 0, 1, &h, &s, &v);
    ck_assert(fabsf(h - 240) < 1e-4f);
    mfr_rgb_to_hsv(0.5f, 0.5f, 0.5f, &h, &s, &v);
    ck_assert(s == 0 && v == 0.5f);
    mfr_rgb_to_hsv(1, 0, 0.5f, &h, &s, &v);
    ck_assert(fabsf(h - 330) < 1e-4f);
    mfr_hsv_to_rgb(60, 1, 1, &r, &g, &b);
    ck_assert(fabsf(r - 1) < 1e-6f && fabsf(g - 1) < 1e-6f && b == 0);
    mfr_hsv_to_rgb(-120, 1, 1, &r, &g, &b); /* = 240: blue */
    ck_assert(fabsf(b - 1) < 1e-6f && r < 1e-6f && g < 1e-6f);
    mfr_hsv_to_rgb(NAN, 0.5f, 1, &r, &g, &b);
    ck_assert(isfinite(r) && isfinite(g) && isfinite(b));
    /* Round trip over a grid of colours. */
    for (int i = 0; i <= 10; i++)
        for (int j = 0; j <= 10; j++)
            for (int k = 0; k <= 10; k++) {
                float r0 = i / 10.f, g0 = j / 10.f, b0 = k / 10.f;
                mfr_rgb_to_hsv(r0, g0, b0, &h, &s, &v);
                ck_assert(h >= 0 && h < 360 && s >= 0 && s <= 1 && v >= 0 && v <= 1);
                mfr_hsv_to_rgb(h, s, v, &r, &g, &b);
                ck_assert(fabsf(r - r0) < 1e-5f && fabsf(g - g0) < 1e-5f && fabsf(b - b0) < 1e-5f);
            }
}
END_TEST

/* ------------------------------------------------------------ geometry */

START_TEST(test_resize_constant)
{
    const uint8_t color[3] = {200, 17, 255};
    static const int sizes[][2] = {{1, 1}, {3, 2}, {17, 9}, {40, 40}, {113, 57}};
    mfr_image src;
    tu_ok(mfr_image_alloc(&src, 41, 23, 3));
    fill_const(&src, color);
    for (int i = 0; i < 5; i++)
        for (int area = 0; area < 2; area++) {
            mfr_image dst;
            tu_ok(mfr_image_alloc(&dst, sizes[i][0], sizes[i][1], 3));
            tu_ok(area ? mfr_image_resize_area(&src, &dst) : mfr_image_resize_bilinear(&src, &dst));
            for (int y = 0; y < dst.height; y++)
                for (int x = 0; x < dst.width; x++)
                    for (int k = 0; k < 3; k++)
                        ck_assert_int_eq(px(&dst, x, y, k), color[k]);
            mfr_image_free(&dst);
        }
    mfr_image_free(&src);
}
END_TEST

START_TEST(test_resize_analytic)
{
    mfr_image src, dst;
    /* Same size: a copy. */
    tu_ok(mfr_image_alloc(&src, 20, 6, 1));
    fill_pattern(&src, 7);
    tu_ok(mfr_image_alloc(&dst, 20, 6, 1));
    tu_ok(mfr_image_resize_bilinear(&src, &dst));
    ck_assert(images_equal(&src, &dst));
    tu_ok(mfr_image_resize_area(&src, &dst));
    ck_assert(images_equal(&src, &dst));
    mfr_image_free(&dst);
    /* Area halving: each output pixel is the mean of its 2 x 2 block,
     * rounded half up. */
    tu_ok(mfr_image_alloc(&dst, 10, 3, 1));
    tu_ok(mfr_image_resize_area(&src, &dst));
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 10; x++) {
            int sum = px(&src, 2 * x, 2 * y, 0) + px(&src, 2 * x + 1, 2 * y, 0) + px(&src, 2 * x, 2 * y + 1, 0) +
                      px(&src, 2 * x + 1, 2 * y + 1, 0);
            ck_assert_int_eq(px(&dst, x, y, 0), (sum + 2) / 4);
        }
    mfr_image_free(&dst);
    mfr_image_free(&src);
    /* Bilinear doubling of a ramp src(x) = 10 x: pixel centres map to
     * x / 2 - 0.25, so dst(x) = 5 x - 2.5, clamped to the edge values. */
    tu_ok(mfr_image_alloc(&src, 10, 1, 1));
    for (int x = 0; x < 10; x++)
        src.data[x] = (uint8_t)(10 * x);
    tu_ok(mfr_image_alloc(&dst, 20, 2, 1));
    tu_ok(mfr_image_resize_bilinear(&src, &dst));
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 20; x++) {
            double want = fmin(fmax(5.0 * x - 2.5, 0.0), 90.0);
            ck_assert_msg(fabs(px(&dst, x, y, 0) - want) <= 0.5 + 1e-3, "x=%d: %d, want %.1f", x,
                          px(&dst, x, y, 0), want);
        }
    mfr_image_free(&dst);
    mfr_image_free(&src);
}
END_TEST

START_TEST(test_resize_threads)
{
    /* The same bytes at 1 and 4 threads. */
    mfr_image src, a, b;
    tu_ok(mfr_image_alloc(&src, 97, 61, 3));
    fill_pattern(&src, 11);
    tu_ok(mfr_image_alloc(&a, 45, 33, 3));
    tu_ok(mfr_image_alloc(&b, 45, 33, 3));
    mfr_set_threads(1);
    tu_ok(mfr_image_resize_area(&src, &a));
    mfr_set_threads(4);
    tu_ok(mfr_image_resize_area(&src, &b));
    ck_assert(images_equal(&a, &b));
    mfr_set_threads(0);
    mfr_image_free(&src);
    mfr_image_free(&a);
    mfr_image_free(&b);
}
END_TEST

START_TEST(test_warp)
{
    const uint8_t border[3] = {1, 2, 3}, grey[3] = {90, 90, 90};
    const float ident[6] = {1, 0, 0, 0, 1, 0};
    const float shift[6] = {1, 0, 3, 0, 1, -2}; /* dst(x, y) = src(x + 3, y - 2) */
    float rot[6], inv[6];
    mfr_image src, dst;
    tu_ok(mfr_image_alloc(&src, 23, 19, 3));
    fill_pattern(&src, 8);
    tu_ok(mfr_image_alloc(&dst, 23, 19, 3));
    tu_ok(mfr_image_warp_affine(&src, &dst, ident, border));
    ck_assert(images_equal(&src, &dst));
    tu_ok(mfr_image_warp_affine(&src, &dst, shift, border));
    for (int y = 0; y < 19; y++)
        for (int x = 0; x < 23; x++)
            for (int k = 0; k < 3; k++) {
                int sx = x + 3, sy = y - 2;
                int want = sx < 23 && sy >= 0 ? px(&src, sx, sy, k) : border[k];
                ck_assert_int_eq(px(&dst, x, y, k), want);
            }
    /* A constant image stays constant under rotation and scaling, wherever
     * all four neighbours lie inside the source. */
    fill_const(&src, grey);
    {
        double a = 0.4, s = 0.8;
        rot[0] = (float)(s * cos(a)); rot[1] = (float)(-s * sin(a)); rot[2] = 6.0f;
        rot[3] = (float)(s * sin(a)); rot[4] = (float)(s * cos(a)); rot[5] = 2.0f;
    }
    tu_ok(mfr_image_warp_affine(&src, &dst, rot, NULL));
    for (int y = 0; y < 19; y++)
        for (int x = 0; x < 23; x++) {
            double sx = rot[0] * x + rot[1] * y + rot[2], sy = rot[3] * x + rot[4] * y + rot[5];
            if (sx >= 0 && sx <= 22 && sy >= 0 && sy <= 18)
                ck_assert_int_eq(px(&dst, x, y, 1), 90);
            else if (sx <= -1 || sx >= 23 || sy <= -1 || sy >= 19)
                ck_assert_int_eq(px(&dst, x, y, 1), 0);
        }
    /* The inverse map composes to the identity. */
    tu_ok(mfr_affine_invert(rot, inv));
    for (int i = 0; i < 2; i++) {
        double x = 3.5 + i, y = -2.25 * i;
        double u = rot[0] * x + rot[1] * y + rot[2], v = rot[3] * x + rot[4] * y + rot[5];
        ck_assert(fabs(inv[0] * u + inv[1] * v + inv[2] - x) < 1e-4);
        ck_assert(fabs(inv[3] * u + inv[4] * v + inv[5] - y) < 1e-4);
    }
    {
        const float singular[6] = {1, 2, 0, 2, 4, 0};
        ck_assert_int_eq(mfr_affine_invert(singular, inv), MFR_ERR_ARG);
        const float bad[6] = {NAN, 0, 0, 0, 1, 0};
        ck_assert_int_eq(mfr_image_warp_affine(&src, &dst, bad, NULL), MFR_ERR_ARG);
        /* Coordinates far outside any int: border, no crash. */
        const float far[6] = {1, 0, 1e30f, 0, 1, -1e30f};
        tu_ok(mfr_image_warp_affine(&src, &dst, far, border));
        ck_assert_int_eq(px(&dst, 5, 5, 2), 3);
    }
    mfr_image_free(&src);
    mfr_image_free(&dst);
}
END_TEST

START_TEST(test_crop_flip)
{
    const uint8_t border[3] = {7, 8, 9};
    mfr_image src, dst, flip;
    tu_ok(mfr_image_alloc(&src, 10, 8, 3));
    fill_pattern(&src, 6);
    tu_ok(mfr_image_crop(&src, 2, 3, 5, 4, NULL, &dst));
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            ck_assert_int_eq(px(&dst, x, y, 1), px(&src, x + 2, y + 3, 1));
    mfr_image_free(&dst);
    /* Beyond every border: a pad with the border colour. */
    tu_ok(mfr_image_crop(&src, -3, -2, 16, 12, border, &dst));
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++)
            for (int k = 0; k < 3; k++) {
                int sx = x - 3, sy = y - 2;
                int want = sx >= 0 && sx < 10 && sy >= 0 && sy < 8 ? px(&src, sx, sy, k) : border[k];
                ck_assert_int_eq(px(&dst, x, y, k), want);
            }
    mfr_image_free(&dst);
    /* Entirely outside. */
    tu_ok(mfr_image_crop(&src, 50, -40, 3, 3, border, &dst));
    ck_assert_int_eq(px(&dst, 2, 2, 0), 7);
    mfr_image_free(&dst);
    ck_assert_int_ne(mfr_image_crop(&src, 0, 0, 0, 3, NULL, &dst), MFR_OK);
    /* Flip: mirrored columns; twice is the identity. */
    tu_ok(mfr_image_copy(&src, &flip));
    mfr_image_flip_horizontal(&flip);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++)
            ck_assert_int_eq(px(&flip, x, y, 2), px(&src, 9 - x, y, 2));
    mfr_image_flip_horizontal(&flip);
    ck_assert(images_equal(&src, &flip));
    mfr_image_free(&flip);
    mfr_image_free(&src);
}
END_TEST

/* ------------------------------------------------------------- drawing */

/* Sum of coverage of a white shape drawn on black, in pixels. */
static double coverage_area(const mfr_image *im)
{
    double sum = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            sum += mfr_image_row(im, y)[(size_t)x * im->channels] / 255.0;
    return sum;
}

START_TEST(test_polygon_area)
{
    const uint8_t white = 255;
    mfr_image im;
    /* A triangle at non-integer coordinates; area by the shoelace formula. */
    float tri[6] = {3.3f, 4.1f, 40.7f, 9.2f, 17.9f, 35.6f};
    double area = 0.5 * fabs((40.7 - 3.3) * (35.6 - 4.1) - (17.9 - 3.3) * (9.2 - 4.1));
    tu_ok(mfr_image_alloc(&im, 48, 48, 1));
    mfr_draw_polygon(&im, tri, 3, &white, 1.0f);
    /* 4 x 4 samples: each edge pixel errs by at most ~1/16 of a pixel on
     * average; 0.5% of the area is a few edge pixels' worth. */
    ck_assert_msg(fabs(coverage_area(&im) - area) < 0.005 * area, "area %f, expected %f", coverage_area(&im), area);
    mfr_image_free(&im);

    /* A disc: area pi r^2. */
    tu_ok(mfr_image_alloc(&im, 64, 64, 1));
    mfr_draw_point(&im, 31.3f, 30.8f, 20.0f, &white, 1.0f);
    ck_assert_msg(fabs(coverage_area(&im) - M_PI * 400) < 0.005 * M_PI * 400, "disc area %f", coverage_area(&im));
    mfr_image_free(&im);
}
END_TEST

START_TEST(test_polygon_exact)
{
    const uint8_t c[3] = {10, 200, 30};
    mfr_image im;
    /* A square on pixel boundaries (centres at integers, edges at .5):
     * pixels 2..5 x 1..3 exactly, nothing else. */
    float sq[8] = {1.5f, 0.5f, 5.5f, 0.5f, 5.5f, 3.5f, 1.5f, 3.5f};
    tu_ok(mfr_image_alloc(&im, 8, 6, 3));
    mfr_draw_polygon(&im, sq, 4, c, 1.0f);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++) {
            int inside = x >= 2 && x <= 5 && y >= 1 && y <= 3;
            ck_assert_int_eq(px(&im, x, y, 1), inside ? 200 : 0);
            ck_assert_int_eq(px(&im, x, y, 0), inside ? 10 : 0);
        }
    /* Half alpha over black: 200 * 0.5 = 100. */
    memset(im.data, 0, 8 * 6 * 3);
    mfr_draw_polygon(&im, sq, 4, c, 0.5f);
    ck_assert_int_eq(px(&im, 3, 2, 1), 100);
    ck_assert_int_eq(px(&im, 3, 2, 0), 5);
    /* Half a pixel covered: a vertical edge through pixel centres. */
    memset(im.data, 0, 8 * 6 * 3);
    {
        float half[8] = {2.0f, 0.5f, 6.0f, 0.5f, 6.0f, 1.5f, 2.0f, 1.5f};
        mfr_draw_polygon(&im, half, 4, c, 1.0f);
        ck_assert_int_eq(px(&im, 2, 1, 1), 100);
        ck_assert_int_eq(px(&im, 4, 1, 1), 200);
        ck_assert_int_eq(px(&im, 6, 1, 1), 100);
    }
    mfr_image_free(&im);
}
END_TEST

START_TEST(test_polygon_even_odd)
{
    const uint8_t white = 255;
    mfr_image im;
    /* A pentagram: the central pentagon is crossed twice and stays empty. */
    float star[10];
    tu_ok(mfr_image_alloc(&im, 64, 64, 1));
    for (int i = 0; i < 5; i++) {
        double a = -M_PI / 2 + i * 4 * M_PI / 5;
        star[2 * i] = (float)(32 + 28 * cos(a));
        star[2 * i + 1] = (float)(32 + 28 * sin(a));
    }
    mfr_draw_polygon(&im, star, 5, &white, 1.0f);
    ck_assert_int_eq(px(&im, 32, 32, 0), 0);  /* centre: even */
    ck_assert_int_eq(px(&im, 32, 7, 0), 255); /* top point: odd */
    /* A bow tie: two triangles meeting at the crossing. */
    memset(im.data, 0, 64 * 64);
    {
        float bow[8] = {4, 4, 60, 60, 60, 4, 4, 60};
        double area = 2 * 0.5 * 56 * 28;
        mfr_draw_polygon(&im, bow, 4, &white, 1.0f);
        ck_assert_int_eq(px(&im, 10, 32, 0), 255);
        ck_assert_int_eq(px(&im, 32, 10, 0), 0);
        ck_assert(fabs(coverage_area(&im) - area) < 0.005 * area);
    }
    mfr_image_free(&im);
}
END_TEST

/* Samples inside an even-odd polygon, counted point by point: the
 * reference the scanline filler must agree with. Sample (t, u) of pixel
 * (x, y) is at (x - 0.5 + (t + 0.5) / 4, y - 0.5 + (u + 0.5) / 4). */
static int brute_coverage(const float *xy, int n, int x, int y)
{
    int count = 0;
    for (int u = 0; u < 4; u++)
        for (int t = 0; t < 4; t++) {
            double sx = x - 0.5 + (t + 0.5) / 4, sy = y - 0.5 + (u + 0.5) / 4;
            int inside = 0;
            for (int i = 0; i < n; i++) {
                double x0 = xy[2 * i], y0 = xy[2 * i + 1];
                double x1 = xy[2 * ((i + 1) % n)], y1 = xy[2 * ((i + 1) % n) + 1];
                if ((y0 <= sy && sy < y1) || (y1 <= sy && sy < y0)) {
                    double xc = x0 + (sy - y0) * (x1 - x0) / (y1 - y0);
                    if (xc <= sx)
                        inside ^= 1;
                }
            }
            count += inside;
        }
    return count;
}

START_TEST(test_polygon_reference)
{
    /* Random self-intersecting 7-gons, partly outside the image: every
     * pixel's coverage (recovered from white-on-black, exact for 0..16
     * samples) equals the point-by-point count. Float rounding may move a
     * sample lying within ~1e-5 pixel of an edge; allow that for 0.2% of
     * the pixels, by one sample. */
    const uint8_t white = 255;
    mfr_rng r;
    long pixels = 0, off = 0;
    mfr_rng_init(&r, 42, 0, 0);
    for (int trial = 0; trial < 40; trial++) {
        mfr_image im;
        float xy[14];
        tu_ok(mfr_image_alloc(&im, 24, 20, 1));
        for (int i = 0; i < 14; i++)
            xy[i] = (float)mfr_rng_range(&r, -4, 28);
        mfr_draw_polygon(&im, xy, 7, &white, 1.0f);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 24; x++) {
                int got = (int)lround(px(&im, x, y, 0) * 16.0 / 255.0);
                int want = brute_coverage(xy, 7, x, y);
                ck_assert_msg(abs(got - want) <= 1, "trial %d pixel (%d, %d): %d samples, want %d", trial, x, y,
                              got, want);
                off += got != want;
                pixels++;
            }
        mfr_image_free(&im);
    }
    /* A comb of 24 slanted teeth: sample rows cross ~48 edges, more than the
     * insertion sort handles, so the qsort path is held to the same reference. */
    {
        mfr_image im;
        float comb[2 * 50];
        int n = 0;
        tu_ok(mfr_image_alloc(&im, 24, 20, 1));
        for (int t = 0; t < 24; t++) {
            comb[2 * n] = 0.3f + t * 0.97f;
            comb[2 * n + 1] = 1.2f;
            n++;
            comb[2 * n] = 0.9f + t * 0.97f;
            comb[2 * n + 1] = 18.7f;
            n++;
        }
        comb[2 * n] = 23.6f;
        comb[2 * n + 1] = 19.4f;
        n++;
        comb[2 * n] = 0.1f;
        comb[2 * n + 1] = 19.1f;
        n++;
        mfr_draw_polygon(&im, comb, n, &white, 1.0f);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 24; x++) {
                int got = (int)lround(px(&im, x, y, 0) * 16.0 / 255.0);
                int want = brute_coverage(comb, n, x, y);
                ck_assert_msg(abs(got - want) <= 1, "comb pixel (%d, %d): %d samples, want %d", x, y, got, want);
                off += got != want;
                pixels++;
            }
        mfr_image_free(&im);
    }
    ck_assert_msg(off * 500 <= pixels, "%ld of %ld pixels differ from the reference", off, pixels);
}
END_TEST

/* Draws through a view of the middle of a larger buffer and checks that
 * the frame around the view is untouched. */
START_TEST(test_draw_clipping)
{
    const uint8_t c[3] = {255, 255, 255};
    mfr_image big, view;
    tu_ok(mfr_image_alloc(&big, 40, 40, 3));
    view = big;
    view.width = 20;
    view.height = 20;
    view.data = mfr_image_row(&big, 10) + 10 * 3;
    {
        float huge[8] = {-1e6f, -1e6f, 1e6f, -1e6f, 1e6f, 1e6f, -1e6f, 1e6f};
        float left[6] = {-30, 5, 5, 10, -30, 15};
        float nan[6] = {NAN, 1, 2, 3, 4, 5};
        mfr_draw_polygon(&view, left, 3, c, 1.0f);
        mfr_draw_polygon(&view, nan, 3, c, 1.0f);
        mfr_draw_line(&view, -100, -50, 300, 70, c, 1.0f, 5);
        mfr_draw_point(&view, 19.5f, 0, 8, c, 1.0f);
        mfr_draw_rect(&view, -5, -5, 25, 25, c, 0.5f, 3);
        mfr_draw_line(&view, 5, 5, 5, 5, c, 1.0f, 3);
        /* Found by fuzz_draw: an infinite radius once overflowed an int conversion. */
        mfr_draw_point(&view, 5, 5, INFINITY, c, 1.0f);
        mfr_draw_point(&view, 5, 5, 1e30f, c, 1.0f);
        mfr_draw_point(&view, NAN, 5, NAN, c, 1.0f);
        mfr_draw_line(&view, -3e38f, 0, 3e38f, 1, c, 1.0f, 2);
        mfr_draw_polygon(&view, huge, 4, c, 1.0f);
    }
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 40; x++) {
            int in_view = x >= 10 && x < 30 && y >= 10 && y < 30;
            if (!in_view)
                ck_assert_msg(px(&big, x, y, 0) == 0, "wrote outside the view at (%d, %d)", x, y);
            else
                ck_assert_int_eq(px(&big, x, y, 0), 255); /* the huge polygon covers it all */
        }
    mfr_image_free(&big);
}
END_TEST

START_TEST(test_draw_shapes)
{
    const uint8_t white = 255;
    mfr_image im;
    tu_ok(mfr_image_alloc(&im, 30, 30, 1));
    /* A filled rectangle from pixel centre (3, 4) to (12, 9) inclusive. */
    mfr_draw_rect(&im, 3, 4, 12, 9, &white, 1.0f, 0);
    ck_assert(fabs(coverage_area(&im) - 10 * 6) < 1e-9);
    ck_assert_int_eq(px(&im, 3, 4, 0), 255);
    ck_assert_int_eq(px(&im, 12, 9, 0), 255);
    ck_assert_int_eq(px(&im, 13, 9, 0), 0);
    /* A frame 2 pixels thick: the inside stays empty. */
    memset(im.data, 0, 900);
    mfr_draw_rect(&im, 5, 5, 20, 15, &white, 1.0f, 2);
    ck_assert(fabs(coverage_area(&im) - (16 * 11 - 12 * 7)) < 1e-9);
    ck_assert_int_eq(px(&im, 6, 6, 0), 255);
    ck_assert_int_eq(px(&im, 7, 7, 0), 0);
    /* A horizontal line 1 pixel thick along pixel centres: one row, exactly
     * as long as the segment (butt ends at pixel centres: halves). */
    memset(im.data, 0, 900);
    mfr_draw_line(&im, 4, 10, 14, 10, &white, 1.0f, 1);
    ck_assert(fabs(coverage_area(&im) - 10) <= 2 * 0.5 / 255); /* two half pixels, each rounded */
    ck_assert_int_eq(px(&im, 4, 10, 0), 128);
    ck_assert_int_eq(px(&im, 8, 10, 0), 255);
    ck_assert_int_eq(px(&im, 8, 9, 0), 0);
    /* A diagonal line: area = length x thickness. */
    memset(im.data, 0, 900);
    mfr_draw_line(&im, 3, 3, 25, 20, &white, 1.0f, 3);
    {
        double len = sqrt(22.0 * 22 + 17 * 17) * 3;
        ck_assert_msg(fabs(coverage_area(&im) - len) < 0.02 * len, "line area %f vs %f", coverage_area(&im), len);
    }
    mfr_image_free(&im);
}
END_TEST

static Suite *img_suite(void)
{
    Suite *s = suite_create("img");
    TCase *tc = tcase_create("image");
    tcase_add_test(tc, test_alloc_limits);
    tcase_add_test(tc, test_copy);
    suite_add_tcase(s, tc);
    tc = tcase_create("codecs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sniff);
    tcase_add_test(tc, test_png_roundtrip);
    tcase_add_test(tc, test_pnm_roundtrip);
    tcase_add_test(tc, test_pnm_variants);
    tcase_add_test(tc, test_jpeg_roundtrip);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_png_variants);
    tcase_add_test(tc, test_png_hostile_headers);
    tcase_add_test(tc, test_png_ancillary_chunks);
    tcase_add_test(tc, test_jpeg_hostile_headers);
    tcase_add_test(tc, test_jpeg_harmless_warning);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_decode_max);
    tcase_add_test(tc, test_write_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("convert");
    tcase_add_test(tc, test_convert);
    tcase_add_test(tc, test_float);
    tcase_add_test(tc, test_hsv);
    suite_add_tcase(s, tc);
    tc = tcase_create("geometry");
    tcase_add_test(tc, test_resize_constant);
    tcase_add_test(tc, test_resize_analytic);
    tcase_add_test(tc, test_resize_threads);
    tcase_add_test(tc, test_warp);
    tcase_add_test(tc, test_crop_flip);
    suite_add_tcase(s, tc);
    tc = tcase_create("draw");
    tcase_add_test(tc, test_polygon_area);
    tcase_add_test(tc, test_polygon_exact);
    tcase_add_test(tc, test_polygon_even_odd);
    tcase_add_test(tc, test_polygon_reference);
    tcase_add_test(tc, test_draw_clipping);
    tcase_add_test(tc, test_draw_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(img_suite());
    tu_cleanup();
    return rc;
}
