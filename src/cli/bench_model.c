/* mfr bench model: placeholder until the network runtime lands (issue #3);
 * the graph engineer replaces this file. */
#include "config.h"
#include "cli/cli.h"

#include <stdio.h>

int bench_model_main(int argc, char **argv);

int bench_model_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mfr: 'bench model' needs the network runtime (issue #3)\n");
    return CLI_FAIL;
}
