/* mfr run: the end-to-end masked-face benchmark (docs/run.md). */
#include "config.h"
#include "cli/cli.h"
#include "mfr/face.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_RECIPE = CLI_OPT_FIRST_PRIVATE, OPT_SCENES, OPT_NO_SCENES, OPT_DETECTOR, OPT_EMBEDDER, OPT_NO_LBP,
    OPT_NO_DETECT, OPT_KEEP, OPT_FMR, OPT_BATCH, OPT_CHUNK, OPT_NO_PLOTS
};

#define DEFAULT_DETECTOR "models/detector.mfrm"
#define DEFAULT_SCENES "datasets/scenes.ini"
static const char *const default_embedders[] = {"models/embedder.mfrm", "models/embedder-masked.mfrm"};

/* A default model that is not there yet is the usual first failure: say what to do. */
static int check_model(const char *path, const char *what, const char *option, int is_default)
{
    if (access(path, R_OK) == 0)
        return CLI_OK;
    if (is_default)
        return cli_fail("run: the shipped %s %s is missing; train it (docs/training.md) or give one with %s MODEL "
                        "(a model file or a network definition)",
                        what, path, option);
    return cli_fail("run: %s %s: cannot be read", what, path);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"recipe", required_argument, NULL, OPT_RECIPE},
        {"scenes", required_argument, NULL, OPT_SCENES},
        {"no-scenes", no_argument, NULL, OPT_NO_SCENES},
        {"detector", required_argument, NULL, OPT_DETECTOR},
        {"embedder", required_argument, NULL, OPT_EMBEDDER},
        {"no-lbp", no_argument, NULL, OPT_NO_LBP},
        {"no-detect", no_argument, NULL, OPT_NO_DETECT},
        {"keep-images", no_argument, NULL, OPT_KEEP},
        {"fmr", required_argument, NULL, OPT_FMR},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"chunk", required_argument, NULL, OPT_CHUNK},
        {"no-plots", no_argument, NULL, OPT_NO_PLOTS},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    mfr_run_opts ro;
    const char *scenes = NULL;
    int opt, no_scenes = 0, no_detect = 0, rc;
    char *summary = NULL;
    mfr_run_opts_default(&ro);
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("run", opt, optarg, &common);
        double x;
        long v;
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_RECIPE: ro.recipe = optarg; break;
        case OPT_SCENES: scenes = optarg; break;
        case OPT_NO_SCENES: no_scenes = 1; break;
        case OPT_DETECTOR: ro.detector = optarg; break;
        case OPT_EMBEDDER:
            if (ro.n_embedders == MFR_RUN_MAX_EMBEDDERS)
                return cli_usage_error("run", "at most %d --embedder options", MFR_RUN_MAX_EMBEDDERS);
            ro.embedders[ro.n_embedders++] = optarg;
            break;
        case OPT_NO_LBP: ro.lbp = 0; break;
        case OPT_NO_DETECT: no_detect = 1; break;
        case OPT_KEEP: ro.keep_images = 1; break;
        case OPT_NO_PLOTS: ro.no_plots = 1; break;
        case OPT_FMR:
            if (cli_parse_double("run", "--fmr", optarg, 1e-12, 0.5, &x) < 0)
                return CLI_USAGE;
            ro.fmr = x;
            break;
        case OPT_BATCH:
            if (cli_parse_long("run", "--batch", optarg, 1, 4096, &v) < 0)
                return CLI_USAGE;
            ro.batch = (int)v;
            break;
        case OPT_CHUNK:
            if (cli_parse_long("run", "--chunk", optarg, 1, 65536, &v) < 0)
                return CLI_USAGE;
            ro.chunk = (int)v;
            break;
        default:
            return cli_bad_option("run", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("run");
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (no_detect && ro.detector)
        return cli_usage_error("run", "--no-detect and --detector exclude each other");
    if (no_detect && scenes)
        return cli_usage_error("run", "--no-detect and --scenes exclude each other (scenes need the detector)");
    if (no_scenes && scenes)
        return cli_usage_error("run", "--no-scenes and --scenes exclude each other");
    if (common.seed_set)
        ro.seed = common.seed;
    ro.quiet = common.quiet;
    /* The shipped models, unless others are given. */
    if (!no_detect) {
        int dflt = !ro.detector;
        if (dflt)
            ro.detector = DEFAULT_DETECTOR;
        if ((rc = check_model(ro.detector, "detector", "--detector", dflt)) != CLI_OK)
            return rc;
    }
    if (ro.n_embedders == 0) {
        /* Every shipped embedder that is there; one not trained yet is
         * named and left out, and at least one must be there. */
        for (size_t k = 0; k < sizeof default_embedders / sizeof *default_embedders; k++) {
            if (access(default_embedders[k], R_OK) == 0)
                ro.embedders[ro.n_embedders++] = default_embedders[k];
            else
                mfr_log(MFR_LOG_WARN, "run: the shipped embedder %s is missing (docs/models.md): left out",
                        default_embedders[k]);
        }
        if (ro.n_embedders == 0 && (rc = check_model(default_embedders[0], "embedder", "--embedder", 1)) != CLI_OK)
            return rc;
    } else {
        for (int k = 0; k < ro.n_embedders; k++)
            if ((rc = check_model(ro.embedders[k], "embedder", "--embedder", 0)) != CLI_OK)
                return rc;
    }
    /* Scenes: the given recipe; by default datasets/scenes.ini when a detector runs. */
    if (!no_detect && !no_scenes) {
        if (scenes)
            ro.scenes = scenes;
        else if (access(DEFAULT_SCENES, R_OK) == 0)
            ro.scenes = DEFAULT_SCENES;
        else
            mfr_log(MFR_LOG_WARN, "run: %s not found: detection is evaluated on the verification images only",
                    DEFAULT_SCENES);
    }
    cli_common_apply(&common);
    const char *out = common.out ? common.out : "mfr-run";
    rc = mfr_run(&ro, out, &summary);
    if (rc != MFR_OK)
        return cli_fail_last();
    if (!common.quiet) {
        fputs(summary, stdout);
        printf("results: %s/results.json, report: %s/report/report.html\n", out, out);
    }
    free(summary);
    return CLI_OK;
}

const cli_command cli_cmd_run = {
    "run", cmd_run, "the end-to-end masked-face benchmark (generate, detect, align, embed, score, report)",
    "usage: mfr run [options]\n\n"
    "Generates the default synthetic masked benchmark (datasets/default.ini:\n"
    "unmasked enrolment images; probes unmasked and with every mask of the recipe)\n"
    "and detection scenes (datasets/scenes.ini), runs the detector on every image\n"
    "(a miss is a failure to acquire), aligns and embeds every face with each\n"
    "embedder and the LBP baseline, scores verification (every probe against every\n"
    "enrolment image), identification and detection, times every stage, and writes\n"
    "a report directory. Images stream through memory in chunks; nothing is written\n"
    "to disk but the results (unless --keep-images). It prints the NIST-style table\n"
    "(FNMR per mask condition at the threshold fixed on unmasked non-mated\n"
    "comparisons at --fmr), FAR/FRR with failures to acquire, EER, rank-1,\n"
    "detection AP and latency p50/p99 per stage. The same --seed gives the same\n"
    "OUT/results.json at any --threads; timings are kept apart (docs/run.md).\n\n"
    "options:\n"
    "  --recipe FILE      verification recipe (default datasets/default.ini)\n"
    "  --scenes FILE      detection scene recipe (default datasets/scenes.ini if present)\n"
    "  --no-scenes        no detection scenes\n"
    "  --detector MODEL   detector (default models/detector.mfrm)\n"
    "  --embedder MODEL   an embedder to evaluate; repeat for several (default\n"
    "                     models/embedder.mfrm and models/embedder-masked.mfrm)\n"
    "  --no-lbp           leave out the LBP baseline\n"
    "  --no-detect        align on the true landmarks, no detector (separates\n"
    "                     detector errors from embedder errors)\n"
    "  --keep-images      also write the images (OUT/images, OUT/scenes)\n"
    "  --fmr X            target FMR of the NIST threshold (default 1e-5)\n"
    "  --batch N          faces per embedder forward pass (default 32)\n"
    "  --chunk N          images generated per streamed chunk (default 256)\n"
    "  --no-plots         write the report without running gnuplot\n"
    "  --seed N           generator seed (default 1)\n"
    "  -o, --out DIR      output directory (default mfr-run), replaced atomically\n"
    "  --threads N, -q/--quiet\n"
    "A MODEL is a model file (.mfrm) or a network definition (zero weights).\n",
};
