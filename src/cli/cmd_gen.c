/* mfr gen: generate a synthetic masked-face dataset (or a contact sheet of it) from a recipe. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/face.h"

#include <stdio.h>
#include <stdlib.h>

enum { OPT_RECIPE = CLI_OPT_FIRST_PRIVATE, OPT_SHEET, OPT_FIRST, OPT_COUNT, OPT_COLS, OPT_CELL, OPT_TRUTH, OPT_LIST };

static int cmd_gen(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"recipe", required_argument, NULL, OPT_RECIPE},
        {"sheet", required_argument, NULL, OPT_SHEET},
        {"first", required_argument, NULL, OPT_FIRST},
        {"count", required_argument, NULL, OPT_COUNT},
        {"cols", required_argument, NULL, OPT_COLS},
        {"cell", required_argument, NULL, OPT_CELL},
        {"truth", no_argument, NULL, OPT_TRUTH},
        {"summary", no_argument, NULL, OPT_LIST},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    const char *recipe = NULL, *sheet = NULL;
    long first = 0, count = 24, cols = 8, cell = 112;
    int truth = 0, summary = 0, opt;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("gen", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_RECIPE: recipe = optarg; break;
        case OPT_SHEET: sheet = optarg; break;
        case OPT_FIRST:
            if (cli_parse_long("gen", "--first", optarg, 0, 1000000000L, &first) < 0)
                return CLI_USAGE;
            break;
        case OPT_COUNT:
            if (cli_parse_long("gen", "--count", optarg, 1, 4096, &count) < 0)
                return CLI_USAGE;
            break;
        case OPT_COLS:
            if (cli_parse_long("gen", "--cols", optarg, 1, 256, &cols) < 0)
                return CLI_USAGE;
            break;
        case OPT_CELL:
            if (cli_parse_long("gen", "--cell", optarg, 8, 4096, &cell) < 0)
                return CLI_USAGE;
            break;
        case OPT_TRUTH: truth = 1; break;
        case OPT_LIST: summary = 1; break;
        default: return cli_bad_option("gen", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("gen");
    if (optind < argc)
        return cli_usage_error("gen", "unexpected argument '%s'", argv[optind]);
    if (!recipe)
        return cli_usage_error("gen", "--recipe FILE is required");
    if (!sheet && !summary && !common.out)
        return cli_usage_error("gen", "--out DIR is required (or --sheet PNG, or --summary)");
    cli_common_apply(&common);
    uint64_t seed = common.seed_set ? common.seed : 1;
    mfr_recipe *r;
    if (mfr_recipe_load(recipe, &r) != MFR_OK)
        return cli_fail_last();
    int rc = MFR_OK;
    if (summary) {
        char *s = mfr_recipe_summary(r, seed);
        if (!s)
            rc = MFR_ERR_NOMEM;
        else
            fputs(s, stdout);
        free(s);
    }
    if (rc == MFR_OK && sheet) {
        if (first + count > mfr_recipe_count(r))
            count = mfr_recipe_count(r) - first;
        rc = count > 0 ? mfr_gen_sheet(r, seed, first, count, (int)cols, (int)cell, truth, sheet)
                       : mfr_error(MFR_ERR_ARG, "--first %ld: the recipe has %ld images", first, mfr_recipe_count(r));
    }
    if (rc == MFR_OK && common.out) {
        double t0 = mfr_time_now();
        rc = mfr_gen_write(r, seed, common.out, common.quiet);
        if (rc == MFR_OK && !common.quiet)
            fprintf(stderr, "mfr: gen: %ld images in %s (%.1f s, %d threads)\n", mfr_recipe_count(r), common.out,
                    mfr_time_now() - t0, mfr_threads());
    }
    mfr_recipe_free(r);
    return rc == MFR_OK ? CLI_OK : cli_fail_last();
}

const cli_command cli_cmd_gen = {
    "gen", cmd_gen, "generate a synthetic masked-face dataset from a recipe",
    "usage: mfr gen --recipe FILE --out DIR [--seed N] [--threads N] [--quiet]\n"
    "       mfr gen --recipe FILE --sheet PNG [--first N] [--count N] [--cols N] [--cell PX] [--truth]\n"
    "       mfr gen --recipe FILE --summary\n\n"
    "Renders the images a recipe (datasets/*.ini, docs/datasets.md) describes and\n"
    "writes DIR/images/*.png, DIR/manifest.csv (one row per image: identity, split,\n"
    "every nuisance and mask attribute, face box, 5 landmarks and their visibility),\n"
    "DIR/pairs.csv (verification recipes: mated and non-mated pairs per condition),\n"
    "DIR/faces.csv (scene recipes: one row per face), DIR/recipe.ini (the recipe as\n"
    "given) and DIR/summary.txt (every setting resolved). The directory appears\n"
    "only when everything was written. The same recipe and seed (default 1) give\n"
    "the same bytes at any --threads.\n\n"
    "  --sheet PNG   write a contact sheet of images --first.. (--count, default 24)\n"
    "                instead, --cols per row (8), each --cell pixels wide (112);\n"
    "                --truth draws boxes (yellow easy, orange medium, red hard)\n"
    "                and landmarks (green seen, magenta hidden)\n"
    "  --summary     print the recipe with every default filled in\n",
};
