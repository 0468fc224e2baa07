/* Colour conversions: channel counts, float tensors, HSV. */
#include "config.h"
#include "mfr/img.h"

#include <math.h>

/* BT.601 luma in 8-bit fixed point: 0.299, 0.587, 0.114 scaled by 2^16. */
static uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16);
}

int mfr_image_convert(const mfr_image *src, int channels, mfr_image *dst)
{
    int sc = src->channels, rc;
    rc = mfr_image_alloc(dst, src->width, src->height, channels);
    if (rc != MFR_OK)
        return rc;
    for (int y = 0; y < src->height; y++) {
        const uint8_t *s = mfr_image_row(src, y);
        uint8_t *d = mfr_image_row(dst, y);
        for (int x = 0; x < src->width; x++, s += sc, d += channels) {
            uint8_t rgb[3], a = sc == 4 ? s[3] : 255;
            if (sc == 1) {
                rgb[0] = rgb[1] = rgb[2] = s[0];
            } else {
                rgb[0] = s[0];
                rgb[1] = s[1];
                rgb[2] = s[2];
            }
            if (channels == 1) {
                d[0] = sc == 1 ? s[0] : luma(rgb);
            } else {
                d[0] = rgb[0];
                d[1] = rgb[1];
                d[2] = rgb[2];
                if (channels == 4)
                    d[3] = a;
            }
        }
    }
    return MFR_OK;
}

void mfr_image_to_float(const mfr_image *im, float mean, float scale, float *out)
{
    size_t n = (size_t)im->width * (size_t)im->channels;
    for (int y = 0; y < im->height; y++) {
        const uint8_t *row = mfr_image_row(im, y);
        float *o = out + (size_t)y * n;
        for (size_t i = 0; i < n; i++)
            o[i] = ((float)row[i] - mean) * scale;
    }
}

void mfr_image_from_float(const float *in, float mean, float scale, mfr_image *im)
{
    size_t n = (size_t)im->width * (size_t)im->channels;
    for (int y = 0; y < im->height; y++) {
        uint8_t *row = mfr_image_row(im, y);
        const float *v = in + (size_t)y * n;
        for (size_t i = 0; i < n; i++) {
            float p = v[i] / scale + mean;
            /* NaN fails both comparisons and ends up 0. */
            row[i] = p >= 255.0f ? 255 : p > 0.0f ? (uint8_t)(p + 0.5f) : 0;
        }
    }
}

void mfr_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
    float hue = 0.0f;
    *v = mx;
    *s = mx > 0.0f ? d / mx : 0.0f;
    if (d > 0.0f) {
        if (mx == r)
            hue = 60.0f * (g - b) / d;
        else if (mx == g)
            hue = 60.0f * ((b - r) / d + 2.0f);
        else
            hue = 60.0f * ((r - g) / d + 4.0f);
        if (hue < 0.0f)
            hue += 360.0f;
        if (hue >= 360.0f)
            hue -= 360.0f;
    }
    *h = hue;
}

void mfr_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b)
{
    float hh, f, p, q, t;
    int sector;
    if (!(s > 0.0f)) {
        *r = *g = *b = v;
        return;
    }
    hh = fmodf(h, 360.0f);
    if (hh < 0.0f)
        hh += 360.0f;
    if (!(hh >= 0.0f && hh < 360.0f)) /* NaN, or -tiny + 360 rounding to 360 */
        hh = 0.0f;
    hh /= 60.0f;
    sector = (int)hh;
    if (sector > 5)
        sector = 5;
    f = hh - (float)sector;
    p = v * (1.0f - s);
    q = v * (1.0f - s * f);
    t = v * (1.0f - s * (1.0f - f));
    switch (sector) {
    case 0: *r = v; *g = t; *b = p; break;
    case 1: *r = q; *g = v; *b = p; break;
    case 2: *r = p; *g = v; *b = t; break;
    case 3: *r = p; *g = q; *b = v; break;
    case 4: *r = t; *g = p; *b = v; break;
    default: *r = v; *g = p; *b = q; break;
    }
}
