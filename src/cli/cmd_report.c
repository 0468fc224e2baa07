/* mfr report: render plots and an HTML report from results. Not built yet: see issue #5. */
#include "config.h"
#include "cli/cli.h"

static int cmd_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("'report' is not available in this build yet (issue #5)");
}

const cli_command cli_cmd_report = {
    "report", cmd_report, "render plots and an HTML report from results (not available yet)",
    "usage: mfr report ...\n\nNot available in this build yet (issue #5).\n",
};
