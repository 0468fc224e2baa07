/* libFuzzer target: the streaming CSV reader, every row and field. */
#include "config.h"
#include "mfr/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfr_csv *c = NULL;
    int has_row = 1, cols, rows = 0;
    if (mfr_csv_open_mem(data, size, "fuzz.csv", &c) != MFR_OK) {
        if (mfr_last_error()[0] == '\0')
            abort();
        return 0;
    }
    cols = mfr_csv_columns(c);
    (void)mfr_csv_name(c);
    for (int i = 0; i < cols; i++) {
        const char *h = mfr_csv_header(c, i);
        int found;
        if (!h)
            abort();
        found = mfr_csv_column(c, h);
        if (found < 0 || found > i)
            abort();
    }
    (void)mfr_csv_column(c, "no such column");
    /* Rows are bounded by the input size; stop at the first error. */
    while (rows < 100000 && mfr_csv_next(c, &has_row) == MFR_OK && has_row) {
        rows++;
        (void)mfr_csv_line(c);
        for (int i = 0; i < cols; i++) {
            double d;
            long l;
            if (!mfr_csv_field(c, i))
                abort();
            (void)mfr_csv_double(c, i, i & 1, &d);
            (void)mfr_csv_long(c, i, -1000, 1000, &l);
        }
    }
    mfr_csv_close(c);
    return 0;
}
