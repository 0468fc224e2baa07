/* mfr eval: verification, identification, detection and latency metrics. Not built yet: see issue #5. */
#include "config.h"
#include "cli/cli.h"

static int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'eval' is not available in this build yet (issue #5)");
}

const cli_command cli_cmd_eval = {
    "eval", cmd_eval, "verification, identification, detection and latency metrics (not available yet)",
    "usage: mfr eval ...\n\nNot available in this build yet (issue #5).\n",
};
