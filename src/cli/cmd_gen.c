/* mfr gen: generate a synthetic masked-face dataset from a recipe. Not built yet: see issue #4. */
#include "config.h"
#include "cli/cli.h"

static int cmd_gen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'gen' is not available in this build yet (issue #4)");
}

const cli_command cli_cmd_gen = {
    "gen", cmd_gen, "generate a synthetic masked-face dataset from a recipe (not available yet)",
    "usage: mfr gen ...\n\nNot available in this build yet (issue #4).\n",
};
