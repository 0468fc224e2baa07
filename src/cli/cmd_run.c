/* mfr run: the end-to-end masked-face benchmark on built-in defaults. Not built yet: see issue #7. */
#include "config.h"
#include "cli/cli.h"

static int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'run' is not available in this build yet (issue #7)");
}

const cli_command cli_cmd_run = {
    "run", cmd_run, "the end-to-end masked-face benchmark on built-in defaults (not available yet)",
    "usage: mfr run ...\n\nNot available in this build yet (issue #7).\n",
};
