/* libFuzzer target: the image decoders (PNG, JPEG, PNM) through
 * mfr_image_decode_max. A decoded image must respect the documented limits,
 * and small ones must survive an exact PNG round trip. The pixel limit is
 * lowered to 4 Mpixel so that headers claiming huge images stay within
 * libFuzzer's memory limit; the limit check itself is the same code. */
#include "config.h"
#include "mfr/img.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_PIXELS (4L << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_image im, back;
    void *png;
    size_t png_size;
    if (mfr_image_decode_max(data, size, "fuzz", FUZZ_MAX_PIXELS, &im) != MFR_OK) {
        /* Failure must leave no image and a message. */
        if (im.data || mfr_last_error()[0] == '\0')
            abort();
        return 0;
    }
    if (im.width < 1 || im.height < 1 || im.width > MFR_IMAGE_MAX_DIM || im.height > MFR_IMAGE_MAX_DIM ||
        (long long)im.width * im.height > FUZZ_MAX_PIXELS ||
        (im.channels != 1 && im.channels != 3 && im.channels != 4) ||
        im.stride < (size_t)im.width * (size_t)im.channels)
        abort();
    if ((long long)im.width * im.height <= 4096) {
        if (mfr_png_encode(&im, &png, &png_size) != MFR_OK)
            abort();
        if (mfr_image_decode(png, png_size, "fuzz-roundtrip", &back) != MFR_OK)
            abort();
        if (back.width != im.width || back.height != im.height || back.channels != im.channels)
            abort();
        for (int y = 0; y < im.height; y++)
            if (memcmp(mfr_image_row(&im, y), mfr_image_row(&back, y), (size_t)im.width * (size_t)im.channels) != 0)
                abort();
        mfr_image_free(&back);
        free(png);
    }
    mfr_image_free(&im);
    return 0;
}
