/* 5-point alignment: the least-squares similarity onto ArcFace's template. */
#include "config.h"
#include "mfr/face.h"

#include <math.h>

const float mfr_align_template[10] = {38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f,
                                      71.7366f, 41.5493f, 92.3655f, 70.7299f, 92.2041f};

void mfr_align_similarity(const float lm[10], int size, float m[6])
{
    /* Find a, b, tx, ty minimising sum |[a -b; b a] t_i + (tx, ty) - p_i|^2,
     * t_i the template scaled to `size`, p_i the image landmarks. */
    double s = (double)size / 112.0, tx = 0, ty = 0, px = 0, py = 0;
    for (int i = 0; i < 5; i++) {
        tx += mfr_align_template[2 * i] * s;
        ty += mfr_align_template[2 * i + 1] * s;
        px += lm[2 * i];
        py += lm[2 * i + 1];
    }
    tx /= 5, ty /= 5, px /= 5, py /= 5;
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        double x = mfr_align_template[2 * i] * s - tx, y = mfr_align_template[2 * i + 1] * s - ty;
        double u = lm[2 * i] - px, v = lm[2 * i + 1] - py;
        num_a += x * u + y * v;
        num_b += x * v - y * u;
        den += x * x + y * y;
    }
    double a = num_a / den, b = num_b / den;
    m[0] = (float)a;
    m[1] = (float)-b;
    m[2] = (float)(px - a * tx + b * ty);
    m[3] = (float)b;
    m[4] = (float)a;
    m[5] = (float)(py - b * tx - a * ty);
}

int mfr_align_crop_size(const mfr_image *im, const float lm[10], int size, mfr_image *crop)
{
    float m[6];
    for (int i = 0; i < 10; i++)
        if (!isfinite(lm[i]))
            return mfr_error(MFR_ERR_ARG, "align: landmark %d is not a finite number", i / 2);
    if (size < 8 || size > 4096)
        return mfr_error(MFR_ERR_ARG, "align: crop size %d is outside [8, 4096]", size);
    mfr_align_similarity(lm, size, m);
    int rc = mfr_image_alloc(crop, size, size, im->channels);
    if (rc != MFR_OK)
        return rc;
    return mfr_image_warp_affine(im, crop, m, NULL);
}

int mfr_align_crop(const mfr_image *im, const float lm[10], mfr_image *crop)
{
    return mfr_align_crop_size(im, lm, 112, crop);
}
