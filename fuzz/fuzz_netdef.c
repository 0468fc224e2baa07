/* libFuzzer target: network definitions. Any text must parse to a graph or
 * fail with a message; a graph must write back to text that parses to the
 * same text, and compile. */
#include "config.h"
#include "mfr/nn.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_net *net = NULL, *again = NULL;
    char *t1 = NULL, *t2 = NULL;
    size_t n1, n2;
    if (mfr_net_parse((const char *)data, size, "fuzz.cfg", &net) != MFR_OK) {
        if (mfr_last_error()[0] == '\0')
            abort(); /* a failure must say why */
        return 0;
    }
    if (mfr_net_to_text(net, &t1, &n1) != MFR_OK || mfr_net_parse(t1, n1, "again.cfg", &again) != MFR_OK ||
        mfr_net_to_text(again, &t2, &n2) != MFR_OK || n1 != n2 || memcmp(t1, t2, n1) != 0)
        abort(); /* writing back must round-trip */
    /* Compile only small graphs: the fuzzer looks for crashes, not for big allocations. */
    if (mfr_net_macs(net) < 1000000 && mfr_net_param_total(net) < 1000000) {
        mfr_exec *ex;
        size_t act = 0;
        for (int i = 0; i < net->n_layers; i++)
            act += (size_t)net->layers[i].h * net->layers[i].w * net->layers[i].c;
        if (act < 1000000 && mfr_exec_create(net, 1, 0, &ex) == MFR_OK)
            mfr_exec_free(ex);
    }
    free(t1);
    free(t2);
    mfr_net_free(again);
    mfr_net_free(net);
    return 0;
}
