/* mfr mask: put synthetic masks on real photos from landmarks. Not built yet: see issue #4. */
#include "config.h"
#include "cli/cli.h"

static int cmd_mask(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'mask' is not available in this build yet (issue #4)");
}

const cli_command cli_cmd_mask = {
    "mask", cmd_mask, "put synthetic masks on real photos from landmarks (not available yet)",
    "usage: mfr mask ...\n\nNot available in this build yet (issue #4).\n",
};
