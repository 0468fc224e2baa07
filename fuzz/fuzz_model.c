/* libFuzzer target: model files. Any bytes must load or fail with a
 * message, never crash or allocate absurdly; a loaded model must encode to
 * bytes that load again to the same model. */
#include "config.h"
#include "mfr/nn.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_net *net = NULL, *again = NULL;
    void *enc = NULL;
    size_t n;
    if (mfr_model_decode(data, size, "fuzz.mfrm", &net) != MFR_OK) {
        if (mfr_last_error()[0] == '\0')
            abort();
        return 0;
    }
    if (mfr_model_encode(net, &enc, &n) != MFR_OK || mfr_model_decode(enc, n, "again.mfrm", &again) != MFR_OK ||
        mfr_net_param_count(net) != mfr_net_param_count(again))
        abort();
    for (int i = 0; i < mfr_net_param_count(net); i++) {
        const mfr_tensor *a = mfr_net_param(net, i), *b = mfr_net_param(again, i);
        if (a->size != b->size || memcmp(a->data, b->data, a->size * sizeof(float)) != 0)
            abort();
    }
    free(enc);
    mfr_net_free(again);
    mfr_net_free(net);
    return 0;
}
