/* mfr detect: detect faces and 5 landmarks in images. Not built yet: see issue #6. */
#include "config.h"
#include "cli/cli.h"

static int cmd_detect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'detect' is not available in this build yet (issue #6)");
}

const cli_command cli_cmd_detect = {
    "detect", cmd_detect, "detect faces and 5 landmarks in images (not available yet)",
    "usage: mfr detect ...\n\nNot available in this build yet (issue #6).\n",
};
