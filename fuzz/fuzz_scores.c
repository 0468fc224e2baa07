/* libFuzzer target: the verification scores CSV reader and every statistic
 * computed from what it accepts. */
#include "config.h"
#include "mfr/core.h"
#include "mfr/eval.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_verify_opts o;
    mfr_vset *s = NULL;
    mfr_verify_opts_default(&o);
    o.bootstrap = 3;
    o.n_thresholds = 1;
    o.thresholds[0] = 0.5;
    mfr_set_threads(1);
    if (mfr_vset_parse_scores(data, size, "fuzz.csv", &o, &s) == MFR_OK) {
        for (int g = 0; g < mfr_vset_groups(s); g++) {
            mfr_verify_stats st;
            mfr_vset_stats(s, g, &o, &st);
        }
        mfr_vset_free(s);
    }
    return 0;
}
