/* Tests of src/core. */
#include "config.h"
#include "testutil.h"
#include "mfr/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_philox_known_answer)
{
    /* Known-answer vectors of Random123's kat_vectors for philox4x32_10. */
    uint32_t ctr0[4] = {0, 0, 0, 0}, key0[2] = {0, 0}, out[4];
    mfr_philox4x32(ctr0, key0, out);
    ck_assert_uint_eq(out[0], 0x6627e8d5u);
    ck_assert_uint_eq(out[1], 0xe169c58du);
    ck_assert_uint_eq(out[2], 0xbc57ac4cu);
    ck_assert_uint_eq(out[3], 0x9b00dbd8u);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, test_philox_known_answer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(core_suite());
    tu_cleanup();
    return rc;
}
