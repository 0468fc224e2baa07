/* mfr embed: align and embed faces into L2-normalised vectors. Not built yet: see issue #6. */
#include "config.h"
#include "cli/cli.h"

static int cmd_embed(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'embed' is not available in this build yet (issue #6)");
}

const cli_command cli_cmd_embed = {
    "embed", cmd_embed, "align and embed faces into L2-normalised vectors (not available yet)",
    "usage: mfr embed ...\n\nNot available in this build yet (issue #6).\n",
};
