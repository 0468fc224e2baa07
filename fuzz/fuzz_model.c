/* libFuzzer target: model files. Any bytes must load or fail with a
 * message, never crash or allocate absurdly; a loaded model must encode to
 * bytes that load again to the same tensors.
 *
 * The CRCs stop almost every mutation at the door, so each input is also
 * used a second way: bytes 0-1 give a length L, the next L bytes are taken
 * as the definition text and the rest as the uncompressed tensor records
 * (count in byte 2); both are sealed into a well-formed file (zlib, CRCs,
 * header as in docs/nn.md), which reaches the definition parser and the
 * tensor-record checks behind the CRCs. */
#include "config.h"
#include "mfr/nn.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const mfr_net *net)
{
    mfr_net *again = NULL;
    void *enc = NULL;
    size_t n;
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
}

static void decode(const uint8_t *data, size_t size)
{
    mfr_net *net = NULL;
    if (mfr_model_decode(data, size, "fuzz.mfrm", &net) != MFR_OK) {
        if (mfr_last_error()[0] == '\0')
            abort(); /* a failure must say why */
        return;
    }
    /* Round trips only for small models: the fuzzer looks for crashes. */
    if (mfr_net_param_total(net) < 1000000)
        check_round_trip(net);
    mfr_net_free(net);
}

static void put(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void sealed(const uint8_t *data, size_t size)
{
    size_t dn, tn;
    const uint8_t *def, *ten;
    uLongf zd, zt;
    unsigned char *f;
    if (size < 3)
        return;
    dn = (size_t)data[0] | (size_t)data[1] << 8;
    if (dn > size - 3)
        dn = size - 3;
    def = data + 3;
    ten = def + dn;
    tn = size - 3 - dn;
    zd = compressBound((uLong)dn);
    zt = compressBound((uLong)tn);
    f = malloc(64 + zd + zt);
    if (!f)
        return;
    if (compress(f + 64, &zd, def, (uLong)dn) != Z_OK || compress(f + 64 + zd, &zt, ten, (uLong)tn) != Z_OK) {
        free(f);
        return;
    }
    memcpy(f, "MFRMODEL", 8);
    put(f + 8, MFR_MODEL_VERSION, 4);
    put(f + 12, 0, 4);
    put(f + 16, dn, 8);
    put(f + 24, zd, 8);
    put(f + 32, mfr_crc32(0, f + 64, zd), 4);
    put(f + 36, data[2], 4);
    put(f + 40, tn, 8);
    put(f + 48, zt, 8);
    put(f + 56, mfr_crc32(0, f + 64 + zd, zt), 4);
    put(f + 60, mfr_crc32(0, f, 60), 4);
    decode(f, 64 + zd + zt);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    sealed(data, size);
    return 0;
}
