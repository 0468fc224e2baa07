/* mfr train: train a detector or an embedder. Not built yet: see issue #6. */
#include "config.h"
#include "cli/cli.h"

static int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'train' is not available in this build yet (issue #6)");
}

const cli_command cli_cmd_train = {
    "train", cmd_train, "train a detector or an embedder (not available yet)",
    "usage: mfr train ...\n\nNot available in this build yet (issue #6).\n",
};
