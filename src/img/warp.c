/* Affine warp with bilinear sampling, and the inverse of an affine map.
 *
 * The map goes from destination to source: dst(x, y) samples src at
 * (m0 x + m1 y + m2, m3 x + m4 y + m5), integer coordinates being pixel
 * centres. Source pixels outside the image read as the border colour, so
 * the edge of the image blends into the border over one pixel. Rows are
 * independent and computed in parallel; the result does not depend on the
 * thread count. */
#include "config.h"
#include "mfr/img.h"

#include <math.h>
#include <string.h>

int mfr_affine_invert(const float m[6], float inv[6])
{
    double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
    double det = a * e - b * d;
    double scale = fabs(a) + fabs(b) + fabs(d) + fabs(e);
    if (!isfinite(det) || !(fabs(det) > 1e-12 * scale * scale))
        return mfr_error(MFR_ERR_ARG, "affine map [%g %g %g; %g %g %g] is singular", a, b, c, d, e, f);
    inv[0] = (float)(e / det);
    inv[1] = (float)(-b / det);
    inv[2] = (float)((b * f - c * e) / det);
    inv[3] = (float)(-d / det);
    inv[4] = (float)(a / det);
    inv[5] = (float)((c * d - a * f) / det);
    return MFR_OK;
}

int mfr_image_warp_affine(const mfr_image *src, mfr_image *dst, const float m[6], const uint8_t *border)
{
    static const uint8_t black[4] = {0, 0, 0, 0};
    const uint8_t *bc = border ? border : black;
    int c = src->channels, sw = src->width, sh = src->height;
    double m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];

    if (!src->data || !dst->data || dst->channels != c)
        return mfr_error(MFR_ERR_ARG, "warp: dst must be allocated with src's channel count (%d), has %d",
                         c, dst->channels);
    for (int k = 0; k < 6; k++)
        if (!isfinite(m[k]))
            return mfr_error(MFR_ERR_ARG, "warp: affine map has a non-finite entry");
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(mfr_threads()) schedule(static)
#endif
    for (int y = 0; y < dst->height; y++) {
        uint8_t *out = mfr_image_row(dst, y);
        for (int x = 0; x < dst->width; x++) {
            double sx = m0 * x + m1 * y + m2, sy = m3 * x + m4 * y + m5;
            uint8_t *o = out + (size_t)x * (size_t)c;
            double fx0, fy0;
            int x0, y0;
            float fx, fy;
            const uint8_t *p[4];
            /* Entirely outside (also catches huge values before the int cast). */
            if (!(sx > -1.0 && sx < sw && sy > -1.0 && sy < sh)) {
                memcpy(o, bc, (size_t)c);
                continue;
            }
            fx0 = floor(sx);
            fy0 = floor(sy);
            x0 = (int)fx0;
            y0 = (int)fy0;
            fx = (float)(sx - fx0);
            fy = (float)(sy - fy0);
            /* The four neighbours, the border colour standing in for those outside. */
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) {
                    int xi = x0 + i, yj = y0 + j;
                    p[j * 2 + i] = xi >= 0 && xi < sw && yj >= 0 && yj < sh
                                       ? mfr_image_row(src, yj) + (size_t)xi * (size_t)c
                                       : bc;
                }
            for (int k = 0; k < c; k++) {
                float top = (float)p[0][k] + fx * ((float)p[1][k] - (float)p[0][k]);
                float bot = (float)p[2][k] + fx * ((float)p[3][k] - (float)p[2][k]);
                float v = top + fy * (bot - top);
                o[k] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)(v + 0.5f) : 0;
            }
        }
    }
    return MFR_OK;
}
