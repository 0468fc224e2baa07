/* mfr report: render plots and an HTML report from eval results. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"
#include "mfr/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_TITLE = CLI_OPT_FIRST_PRIVATE, OPT_NOPLOTS, OPT_GNUPLOT };

static int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS,
                                         {"title", required_argument, NULL, OPT_TITLE},
                                         {"no-plots", no_argument, NULL, OPT_NOPLOTS},
                                         {"gnuplot", required_argument, NULL, OPT_GNUPLOT},
                                         {0, 0, 0, 0}};
    cli_common common = {0};
    mfr_report_opts o = {0};
    char *def = NULL;
    const char *out;
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("report", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_TITLE: o.title = optarg; break;
        case OPT_NOPLOTS: o.no_plots = 1; break;
        case OPT_GNUPLOT: o.gnuplot = optarg; break;
        default: return cli_bad_option("report", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("report");
    if (optind >= argc)
        return cli_usage_error("report", "give one or more eval result directories");
    out = common.out;
    if (!out) {
        if (argc - optind > 1)
            return cli_usage_error("report", "--out DIR is required with several result directories");
        if (!(def = mfr_path_join(argv[optind], "report")))
            return cli_fail_last();
        out = def;
    }
    cli_common_apply(&common);
    rc = mfr_report((const char *const *)argv + optind, argc - optind, &o, out);
    if (rc != MFR_OK) {
        free(def);
        return cli_fail_last();
    }
    if (!common.quiet)
        printf("report: %s/report.html\n", out);
    free(def);
    return CLI_OK;
}

const cli_command cli_cmd_report = {
    "report", cmd_report, "render plots and an HTML report from eval results",
    "usage: mfr report DIR [DIR...] [--out OUT] [--title TEXT] [--no-plots] [--gnuplot PROG]\n\n"
    "Reads the results of 'mfr eval ...' (results.tsv and the CSV curves) from each DIR and\n"
    "writes OUT/report.html (self-contained: plots inline as SVG), OUT/report.md, and PNG and\n"
    "SVG plots drawn by gnuplot: DET curves on normal-deviate axes, ROC, score histograms,\n"
    "FNMR per mask condition, CMC, FNIR/FPIR, detection precision-recall, latency CDF.\n"
    "Several DIRs (e.g. a network and the classical baseline, each evaluated with --label)\n"
    "become rows of one table and curves of one plot. OUT defaults to DIR/report with one\n"
    "DIR. Without gnuplot on PATH the plots are skipped (the .gp scripts are still written)\n"
    "and the report says so.\n",
};
