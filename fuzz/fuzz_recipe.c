/* libFuzzer target: the recipes users write. Any text must either load as a
 * dataset recipe (datasets/NAME.ini) or fail with a message; a recipe that
 * loads must describe a sane number of images and summarise itself. The same
 * text is also read as a training recipe's [train] [optim] [schedule]
 * sections (models/NAME.ini), which must likewise fail with a message or give a
 * configuration within its documented ranges. */
#include "config.h"
#include "mfr/face.h"
#include "mfr/train.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_recipe *r = NULL;
    if (mfr_recipe_parse((const char *)data, size, "fuzz.ini", &r) == MFR_OK) {
        char *summary = mfr_recipe_summary(r, 1);
        if (mfr_recipe_count(r) < 1 || !summary)
            abort(); /* a recipe that loads describes at least one image */
        free(summary);
        mfr_recipe_free(r);
    } else if (mfr_last_error()[0] == '\0') {
        abort(); /* a failure must say why */
    }

    mfr_ini *ini = NULL;
    if (mfr_ini_parse((const char *)data, size, "fuzz.ini", 0, &ini) == MFR_OK) {
        mfr_trainer_config cfg;
        mfr_trainer_config_default(&cfg);
        if (mfr_trainer_config_read(ini, &cfg) == MFR_OK) {
            if (cfg.steps < 1 || cfg.batch < 1)
                abort(); /* a configuration that reads is runnable */
        } else if (mfr_last_error()[0] == '\0') {
            abort();
        }
        mfr_ini_free(ini);
    }
    return 0;
}
