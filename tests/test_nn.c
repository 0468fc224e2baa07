/* Tests of src/nn. */
#include "config.h"
#include "testutil.h"
#include "mfr/nn.h"

static Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    return s;
}

int main(void)
{
    int rc = tu_run(nn_suite());
    tu_cleanup();
    return rc;
}
