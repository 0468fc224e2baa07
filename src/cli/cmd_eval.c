/* mfr eval: verification, identification, detection and latency metrics
 * (docs/metrics.md). Each subcommand writes results.json, results.tsv and
 * CSV curves into --out DIR; `mfr report DIR` draws them. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"
#include "mfr/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_SCORES = CLI_OPT_FIRST_PRIVATE, OPT_EMB, OPT_MANIFEST, OPT_PAIRS, OPT_ALLPAIRS, OPT_FMR, OPT_TARGETS,
    OPT_THRESHOLD, OPT_LEVEL, OPT_BOOT, OPT_LABEL, OPT_UNMASKED, OPT_MASKCOL, OPT_HISTBITS, OPT_BLOCK,
    OPT_GALLERY, OPT_PROBES, OPT_RANKS, OPT_PRED, OPT_TIMINGS, OPT_ENROLFRAC, OPT_FACES
};

static int parse_targets(const char *arg, mfr_verify_opts *o)
{
    char buf[512], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", arg);
    o->n_fmr_targets = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double v;
        if (o->n_fmr_targets == MFR_MAX_FMR_TARGETS)
            return cli_usage_error("eval", "--targets: at most %d values", MFR_MAX_FMR_TARGETS), -1;
        if (mfr_parse_double(tok, &v) != MFR_OK || !(v > 0 && v < 1))
            return cli_usage_error("eval", "--targets: '%s' is not a rate in (0, 1)", tok), -1;
        o->fmr_targets[o->n_fmr_targets++] = v;
    }
    if (o->n_fmr_targets == 0)
        return cli_usage_error("eval", "--targets: no values"), -1;
    return 0;
}

static void print_verify_summary(const mfr_vset *s, const mfr_verify_opts *o)
{
    printf("%-36s %10s %12s %8s %10s %10s\n", "group", "mated", "non-mated", "EER", "FNMR@1e-3", "d'");
    for (int g = 0; g < mfr_vset_groups(s); g++) {
        mfr_verify_stats st;
        double f3 = NAN;
        if (mfr_vset_stats(s, g, o, &st) != MFR_OK)
            continue;
        for (int i = 0; i < st.n_points; i++)
            if (st.at_fmr[i].fmr_target == 1e-3 && st.at_fmr[i].supported)
                f3 = st.at_fmr[i].fnmr;
        {
            char e[32], f[32], dp[32];
            snprintf(e, sizeof e, isnan(st.eer.eer) ? "-" : "%.4f", st.eer.eer);
            snprintf(f, sizeof f, isnan(f3) ? "-" : "%.4f", f3);
            snprintf(dp, sizeof dp, isnan(st.dprime) ? "-" : "%.3f", st.dprime);
            printf("%-36s %10llu %12llu %8s %10s %10s\n", mfr_vset_group_name(s, g), (unsigned long long)st.mated,
                   (unsigned long long)st.nonmated, e, f, dp);
        }
    }
}

static int eval_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"scores", required_argument, NULL, OPT_SCORES},
        {"embeddings", required_argument, NULL, OPT_EMB},
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"pairs", required_argument, NULL, OPT_PAIRS},
        {"all-pairs", no_argument, NULL, OPT_ALLPAIRS},
        {"fmr", required_argument, NULL, OPT_FMR},
        {"targets", required_argument, NULL, OPT_TARGETS},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"bootstrap", required_argument, NULL, OPT_BOOT},
        {"label", required_argument, NULL, OPT_LABEL},
        {"unmasked", required_argument, NULL, OPT_UNMASKED},
        {"mask-column", required_argument, NULL, OPT_MASKCOL},
        {"hist-bits", required_argument, NULL, OPT_HISTBITS},
        {"block", required_argument, NULL, OPT_BLOCK},
        {0, 0, 0, 0}};
    const char *cmd = "eval", *scores = NULL, *emb = NULL, *man = NULL, *pairs = NULL;
    int all = 0, opt, rc;
    cli_common common = {0};
    mfr_verify_opts o;
    mfr_vset *set = NULL;
    long v;
    double d;
    mfr_verify_opts_default(&o);
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option(cmd, opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_SCORES: scores = optarg; break;
        case OPT_EMB: emb = optarg; break;
        case OPT_MANIFEST: man = optarg; break;
        case OPT_PAIRS: pairs = optarg; break;
        case OPT_ALLPAIRS: all = 1; break;
        case OPT_FMR:
            if (cli_parse_double(cmd, "--fmr", optarg, 1e-12, 0.5, &o.nist_fmr) < 0)
                return CLI_USAGE;
            break;
        case OPT_TARGETS:
            if (parse_targets(optarg, &o) < 0)
                return CLI_USAGE;
            break;
        case OPT_THRESHOLD:
            if (o.n_thresholds == MFR_MAX_THRESHOLDS)
                return cli_usage_error(cmd, "--threshold: at most %d", MFR_MAX_THRESHOLDS);
            if (cli_parse_double(cmd, "--threshold", optarg, -3.4e38, 3.4e38, &d) < 0)
                return CLI_USAGE;
            o.thresholds[o.n_thresholds++] = d;
            break;
        case OPT_LEVEL:
            if (cli_parse_double(cmd, "--level", optarg, 0.5, 0.9999, &o.level) < 0)
                return CLI_USAGE;
            break;
        case OPT_BOOT:
            if (cli_parse_long(cmd, "--bootstrap", optarg, 0, 100000, &v) < 0)
                return CLI_USAGE;
            o.bootstrap = (int)v;
            break;
        case OPT_LABEL: o.label = optarg; break;
        case OPT_UNMASKED: o.unmasked = optarg; break;
        case OPT_MASKCOL: o.manifest_mask = optarg; break;
        case OPT_HISTBITS:
            if (cli_parse_long(cmd, "--hist-bits", optarg, 8, 24, &v) < 0)
                return CLI_USAGE;
            o.hist_bits = (int)v;
            break;
        case OPT_BLOCK:
            if (cli_parse_long(cmd, "--block", optarg, 16, 8192, &v) < 0)
                return CLI_USAGE;
            o.block = (int)v;
            break;
        default:
            return cli_bad_option(cmd, optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("eval");
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!common.out)
        return cli_usage_error(cmd, "--out DIR is required");
    if (!!scores + !!emb != 1)
        return cli_usage_error(cmd, "give either --scores FILE or --embeddings FILE.npy --manifest FILE");
    if (emb && (!man || (!!pairs + all != 1)))
        return cli_usage_error(cmd, "--embeddings needs --manifest and one of --pairs FILE or --all-pairs");
    if (scores && (man || pairs || all))
        return cli_usage_error(cmd, "--scores does not take --manifest, --pairs or --all-pairs");
    cli_common_apply(&common);
    if (common.seed_set)
        o.seed = common.seed;
    o.quiet = common.quiet;
    if (scores)
        rc = mfr_vset_load_scores(scores, &o, &set);
    else if (pairs)
        rc = mfr_vset_load_pairs(emb, man, pairs, &o, &set);
    else
        rc = mfr_vset_all_pairs(emb, man, &o, &set);
    if (rc == MFR_OK)
        rc = mfr_verify_write(set, &o, common.out);
    if (rc != MFR_OK) {
        mfr_vset_free(set);
        return cli_fail_last();
    }
    if (!common.quiet)
        print_verify_summary(set, &o);
    mfr_vset_free(set);
    return CLI_OK;
}

static int eval_identify(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"embeddings", required_argument, NULL, OPT_EMB},
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"gallery", required_argument, NULL, OPT_GALLERY},
        {"probes", required_argument, NULL, OPT_PROBES},
        {"ranks", required_argument, NULL, OPT_RANKS},
        {"enrol-fraction", required_argument, NULL, OPT_ENROLFRAC},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"label", required_argument, NULL, OPT_LABEL},
        {0, 0, 0, 0}};
    const char *cmd = "eval", *emb = NULL, *man = NULL;
    cli_common common = {0};
    mfr_identify_opts o;
    int opt;
    long v;
    mfr_identify_opts_default(&o);
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option(cmd, opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_EMB: emb = optarg; break;
        case OPT_MANIFEST: man = optarg; break;
        case OPT_GALLERY: o.gallery = optarg; break;
        case OPT_PROBES: o.probes = optarg; break;
        case OPT_RANKS:
            if (cli_parse_long(cmd, "--ranks", optarg, 1, 1000, &v) < 0)
                return CLI_USAGE;
            o.max_rank = (int)v;
            break;
        case OPT_ENROLFRAC:
            if (cli_parse_double(cmd, "--enrol-fraction", optarg, 0.01, 1.0, &o.enrol_fraction) < 0)
                return CLI_USAGE;
            break;
        case OPT_LEVEL:
            if (cli_parse_double(cmd, "--level", optarg, 0.5, 0.9999, &o.level) < 0)
                return CLI_USAGE;
            break;
        case OPT_LABEL: o.label = optarg; break;
        default:
            return cli_bad_option(cmd, optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("eval");
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!common.out || !emb || !man || !o.gallery)
        return cli_usage_error(cmd, "needs --embeddings, --manifest, --gallery COLUMN=VALUE and --out");
    if (!strchr(o.gallery, '=') || (o.probes && !strchr(o.probes, '=')))
        return cli_usage_error(cmd, "--gallery and --probes take COLUMN=VALUE");
    cli_common_apply(&common);
    o.quiet = common.quiet;
    if (common.seed_set)
        o.seed = common.seed;
    if (mfr_eval_identify(emb, man, &o, common.out) != MFR_OK)
        return cli_fail_last();
    return CLI_OK;
}

static int eval_detect(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"predictions", required_argument, NULL, OPT_PRED},
        {"faces", required_argument, NULL, OPT_FACES},
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"mask-column", required_argument, NULL, OPT_MASKCOL},
        {"label", required_argument, NULL, OPT_LABEL},
        {0, 0, 0, 0}};
    const char *cmd = "eval", *pred = NULL, *man = NULL;
    cli_common common = {0};
    mfr_detect_opts o;
    int opt;
    mfr_detect_opts_default(&o);
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option(cmd, opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_PRED: pred = optarg; break;
        case OPT_FACES: o.faces = optarg; break;
        case OPT_MANIFEST: man = optarg; break;
        case OPT_MASKCOL: o.mask_col = optarg; break;
        case OPT_LABEL: o.label = optarg; break;
        default:
            return cli_bad_option(cmd, optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("eval");
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!common.out || !pred || !man)
        return cli_usage_error(cmd, "needs --predictions FILE, --manifest FILE and --out DIR");
    cli_common_apply(&common);
    if (mfr_eval_detect(pred, man, &o, common.out) != MFR_OK)
        return cli_fail_last();
    return CLI_OK;
}

static int eval_latency(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"timings", required_argument, NULL, OPT_TIMINGS},
        {"label", required_argument, NULL, OPT_LABEL},
        {0, 0, 0, 0}};
    const char *cmd = "eval", *files[MFR_LATENCY_MAX_RUNS], *labels[MFR_LATENCY_MAX_RUNS];
    cli_common common = {0};
    int opt, nf = 0, nl = 0;
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option(cmd, opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_TIMINGS:
            if (nf == MFR_LATENCY_MAX_RUNS)
                return cli_usage_error(cmd, "at most %d runs", MFR_LATENCY_MAX_RUNS);
            files[nf++] = optarg;
            break;
        case OPT_LABEL:
            if (nl == MFR_LATENCY_MAX_RUNS)
                return cli_usage_error(cmd, "at most %d labels", MFR_LATENCY_MAX_RUNS);
            labels[nl++] = optarg;
            break;
        default:
            return cli_bad_option(cmd, optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("eval");
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!common.out || nf == 0)
        return cli_usage_error(cmd, "needs --timings FILE (once per run) and --out DIR");
    if (nl != 0 && nl != nf)
        return cli_usage_error(cmd, "give one --label per --timings, or none");
    for (int i = nl; i < nf; i++)
        labels[i] = files[i];
    cli_common_apply(&common);
    if (mfr_eval_latency(files, labels, nf, common.out) != MFR_OK)
        return cli_fail_last();
    return CLI_OK;
}

static int cmd_eval(int argc, char **argv)
{
    const char *sub;
    if (argc < 2)
        return cli_usage_error("eval", "which evaluation? verify, identify, detect or latency");
    sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help"))
        return cli_print_help("eval");
    cli_getopt_reset();
    if (!strcmp(sub, "verify"))
        return eval_verify(argc - 1, argv + 1);
    if (!strcmp(sub, "identify"))
        return eval_identify(argc - 1, argv + 1);
    if (!strcmp(sub, "detect"))
        return eval_detect(argc - 1, argv + 1);
    if (!strcmp(sub, "latency"))
        return eval_latency(argc - 1, argv + 1);
    return cli_usage_error("eval", "unknown evaluation '%s' (verify, identify, detect, latency)", sub);
}

const cli_command cli_cmd_eval = {
    "eval", cmd_eval, "verification, identification, detection and latency metrics",
    "usage: mfr eval verify (--scores FILE | --embeddings E.npy --manifest M.csv (--pairs P.csv | --all-pairs))\n"
    "                       --out DIR [options]\n"
    "       mfr eval identify --embeddings E.npy --manifest M.csv --gallery COL=VALUE [--probes COL=VALUE]\n"
    "                       [--ranks K] [--enrol-fraction F] --out DIR\n"
    "       mfr eval detect --predictions P.csv --manifest M.csv [--faces F.csv] --out DIR\n"
    "       mfr eval latency --timings T.csv [--label NAME] [--timings T2.csv --label NAME2] --out DIR\n"
    "\n"
    "Every evaluation writes DIR/results.json (each metric with its definition and sample\n"
    "counts), DIR/results.tsv (the same, one value per line) and CSV curves; 'mfr report DIR'\n"
    "draws them. Definitions and file formats: docs/metrics.md (ISO/IEC 19795-1 vocabulary).\n"
    "\n"
    "verify (1:1): a comparison is a match when score >= threshold.\n"
    "  --scores FILE       CSV with columns score,mated[,enrol_id,probe_id] and any condition\n"
    "                      columns; an empty or NaN score is a failure to acquire\n"
    "  --embeddings FILE   float32 N x D .npy, rows matching --manifest (identity column;\n"
    "                      optional acquired, mask); an all-NaN row is a failure to acquire\n"
    "  --pairs FILE        pairs.csv: enrol,probe (file names or row indices)[,mated], conditions\n"
    "  --all-pairs         every pair, scored in GEMM blocks, streamed into exact statistics\n"
    "  --targets LIST      FMR targets for FNMR@FMR (default 1e-1,1e-2,...,1e-6)\n"
    "  --threshold T       also report the rates at threshold T (repeatable)\n"
    "  --fmr X             NIST mode: threshold at FMR X on unmasked pairs (default 1e-5)\n"
    "  --unmasked NAME     the unmasked mask state (default none)\n"
    "  --mask-column COL   manifest column of the mask state (default: --pairs: mask,\n"
    "                      else mask_type; --all-pairs: mask_type, else mask)\n"
    "  --level P           confidence level of the intervals (default 0.95)\n"
    "  --bootstrap N       subject-bootstrap replicates for the EER interval (default 200)\n"
    "  --label NAME        system name in reports (default system)\n"
    "  --hist-bits N       all-pairs histogram resolution, 8..24 (default 20)\n"
    "  --block N           all-pairs GEMM block edge (default 512)\n"
    "identify (1:N): gallery rows (e.g. --gallery mask=none) against probes (the other rows\n"
    "  or --probes COL=VALUE): CMC at ranks 1..K, FNIR at FPIR (rank 1) with intervals;\n"
    "  --enrol-fraction F enrols a share F of the identities (by --seed) so that the\n"
    "  probes of the others are non-mated searches.\n"
    "detect: AP at IoU 0.5 and 0.5:0.95 (all-point), per size class and mask state, recall\n"
    "  at fixed false positives per image, landmark NME. Predictions: image,score,x,y,w,h\n"
    "  (or x0,y0,x1,y1)[,5 landmarks]. Truth: the manifest's boxes, or --faces F.csv (one\n"
    "  row per face; default faces.csv beside the manifest when it has no boxes).\n"
    "latency: mean, p50, p90, p99, max per stage and throughput; several runs side by side.\n"
    "Common: --threads N, --seed N (bootstrap), --quiet.\n",
};
