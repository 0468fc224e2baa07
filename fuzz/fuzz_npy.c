/* libFuzzer target: the .npy float32 matrix reader. */
#include "config.h"
#include "mfr/core.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float *m = NULL;
    size_t rows, cols;
    if (mfr_npy_parse(data, size, "fuzz.npy", 1u << 20, &m, &rows, &cols) == MFR_OK) {
        volatile float sink = 0;
        for (size_t i = 0; i < rows * cols; i++)
            sink += m[i];
        (void)sink;
        mfr_free(m);
    }
    return 0;
}
