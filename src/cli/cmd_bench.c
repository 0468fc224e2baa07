/* mfr bench: benchmark kernels and models against peer libraries. Not built yet: see issue #3. */
#include "config.h"
#include "cli/cli.h"

static int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'bench' is not available in this build yet (issue #3)");
}

const cli_command cli_cmd_bench = {
    "bench", cmd_bench, "benchmark kernels and models against peer libraries (not available yet)",
    "usage: mfr bench ...\n\nNot available in this build yet (issue #3).\n",
};
