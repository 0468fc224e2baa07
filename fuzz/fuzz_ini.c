/* libFuzzer target: the recipe (INI) parser, with and without repeated
 * sections, then every getter on every key it found. */
#include "config.h"
#include "mfr/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(mfr_ini *ini)
{
    static const char *const choices[] = {"a", "b", "relu", "true", NULL};
    int nsec = mfr_ini_section_count(ini);
    (void)mfr_ini_name(ini);
    for (int s = 0; s < nsec; s++) {
        const char *sname = mfr_ini_section_name(ini, s);
        int nkey = mfr_ini_key_count(ini, s);
        if (!sname || mfr_ini_find(ini, sname) < 0 || mfr_ini_find(ini, sname) > s)
            abort();
        (void)mfr_ini_section_line(ini, s);
        (void)mfr_ini_line(ini, s, NULL);
        for (int k = 0; k < nkey; k++) {
            const char *key = mfr_ini_key_name(ini, s, k), *str;
            long l;
            double d, ds[8];
            int b, count, ch;
            if (!key || !mfr_ini_get(ini, s, key))
                abort();
            (void)mfr_ini_line(ini, s, key);
            (void)mfr_ini_get_int(ini, s, key, 0, -1000000, 1000000, &l);
            (void)mfr_ini_get_double(ini, s, key, 0.0, -1e300, 1e300, &d);
            (void)mfr_ini_get_bool(ini, s, key, 0, &b);
            (void)mfr_ini_get_string(ini, s, key, "", &str);
            (void)mfr_ini_get_choice(ini, s, key, choices, 0, &ch);
            if (mfr_ini_get_doubles(ini, s, key, -1e9, 1e9, ds, 8, &count) == MFR_OK && (count < 0 || count > 8))
                abort();
        }
        (void)mfr_ini_get(ini, s, "missing-key");
    }
    (void)mfr_ini_check_unused(ini);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int flags[2] = {0, MFR_INI_REPEATED_SECTIONS};
    for (int i = 0; i < 2; i++) {
        mfr_ini *ini = NULL;
        if (mfr_ini_parse((const char *)data, size, "fuzz.ini", flags[i], &ini) != MFR_OK) {
            if (mfr_last_error()[0] == '\0')
                abort();
            continue;
        }
        exercise(ini);
        mfr_ini_free(ini);
    }
    return 0;
}
