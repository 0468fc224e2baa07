/* libFuzzer target: drawing and geometry on coordinates from the input.
 *
 * Input: 4 header bytes (width, height, channel choice, operation), then
 * 32-bit floats. Even operations take the floats as raw bit patterns (NaN,
 * infinities, 1e38 ...), odd ones as small values (byte / 4 - 16) that land
 * on and around the image. The image is a view into a larger buffer whose
 * frame must stay untouched: a write just outside the view stays inside the
 * allocation, where AddressSanitizer would not see it. */
#include "config.h"
#include "mfr/img.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME 3
#define MAX_POINTS 64

static size_t take_floats(const uint8_t *p, size_t n, int raw, float *out, size_t max)
{
    size_t count = 0;
    if (raw) {
        for (; count < max && (count + 1) * 4 <= n; count++)
            memcpy(&out[count], p + count * 4, 4);
    } else {
        for (; count < max && count < n; count++)
            out[count] = (float)p[count] / 4.0f - 16.0f;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int chans[3] = {1, 3, 4};
    const uint8_t color[4] = {200, 10, 99, 255};
    float f[2 * MAX_POINTS];
    mfr_image big, view, other;
    int w, h, c, op, raw;
    size_t nf;

    if (size < 4)
        return 0;
    w = 1 + data[0] % 48;
    h = 1 + data[1] % 48;
    c = chans[data[2] % 3];
    op = data[3] % 12;
    raw = op % 2 == 0;
    nf = take_floats(data + 4, size - 4, raw, f, 2 * MAX_POINTS);

    if (mfr_image_alloc(&big, w + 2 * FRAME, h + 2 * FRAME, c) != MFR_OK)
        abort();
    memset(big.data, 0x5a, big.stride * (size_t)big.height);
    view = big;
    view.width = w;
    view.height = h;
    view.data = mfr_image_row(&big, FRAME) + FRAME * c;

    switch (op / 2) {
    case 0:
        mfr_draw_polygon(&view, f, (int)(nf / 2), color, nf ? fabsf(f[0]) : 1.0f);
        break;
    case 1:
        if (nf >= 5)
            mfr_draw_line(&view, f[0], f[1], f[2], f[3], color, 1.0f, (int)data[4] % 12 - 2);
        break;
    case 2:
        if (nf >= 4)
            mfr_draw_rect(&view, f[0], f[1], f[2], f[3], color, 0.5f, (int)data[4] % 12 - 2);
        break;
    case 3:
        if (nf >= 3)
            mfr_draw_point(&view, f[0], f[1], f[2], color, 0.8f);
        break;
    case 4:
        /* Warp into a view, from an image of another size. */
        if (nf >= 6 && mfr_image_alloc(&other, 1 + (int)(size % 37), 1 + (int)(size % 23), c) == MFR_OK) {
            memset(other.data, 0x33, other.stride * (size_t)other.height);
            (void)mfr_image_warp_affine(&other, &view, f, raw ? NULL : color);
            mfr_image_free(&other);
        }
        break;
    default:
        /* Resize both ways between the view and an image of another size. */
        if (mfr_image_alloc(&other, 1 + (int)(size % 61), 1 + (int)(size % 29), c) == MFR_OK) {
            if (mfr_image_resize_bilinear(&view, &other) != MFR_OK || mfr_image_resize_area(&other, &view) != MFR_OK ||
                mfr_image_resize_area(&view, &other) != MFR_OK || mfr_image_resize_bilinear(&other, &view) != MFR_OK)
                abort();
            mfr_image_free(&other);
        }
        break;
    }

    /* The frame around the view is untouched. */
    for (int y = 0; y < big.height; y++)
        for (int x = 0; x < big.width; x++) {
            int inside = x >= FRAME && x < FRAME + w && y >= FRAME && y < FRAME + h;
            if (!inside)
                for (int k = 0; k < c; k++)
                    if (mfr_image_row(&big, y)[x * c + k] != 0x5a)
                        abort();
        }
    mfr_image_free(&big);
    return 0;
}
