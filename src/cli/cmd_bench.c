/* mfr bench: time the kernels against peer libraries in the same run.
 * The measuring code lives in bench/ (see bench/README.md). */
#include "config.h"
#include "cli/bench_cli.h"
#include "mfr/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Defined in src/cli/bench_model.c (the network runtime's benchmark). */
int bench_model_main(int argc, char **argv);

enum { OPT_SHAPES = BENCH_OPT_FIRST_OWN };

int bench_cli_threads(const char *arg, bench_opts *o)
{
    long lo, hi;
    char *dash = strchr(arg, '-');
    o->nthreads = 0;
    if (dash && !strchr(arg, ',')) {
        char buf[32];
        size_t len = (size_t)(dash - arg);
        if (len == 0 || len >= sizeof buf) {
            cli_usage_error("bench", "--threads: expected N, N-M or N,M,..., got '%s'", arg);
            return -1;
        }
        memcpy(buf, arg, len);
        buf[len] = '\0';
        if (cli_parse_long("bench", "--threads", buf, 1, 1024, &lo) < 0 ||
            cli_parse_long("bench", "--threads", dash + 1, lo, 1024, &hi) < 0)
            return -1;
        for (long t = lo; t <= hi && o->nthreads < BENCH_MAX_THREADS; t++)
            o->threads[o->nthreads++] = (int)t;
        return 0;
    }
    const char *p = arg;
    while (*p) {
        char buf[32];
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= sizeof buf || o->nthreads == BENCH_MAX_THREADS) {
            cli_usage_error("bench", "--threads: expected N, N-M or N,M,... (at most %d), got '%s'",
                            BENCH_MAX_THREADS, arg);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (cli_parse_long("bench", "--threads", buf, 1, 1024, &lo) < 0)
            return -1;
        o->threads[o->nthreads++] = (int)lo;
        p += len + (end ? 1 : 0);
        if (end && !*p) {
            cli_usage_error("bench", "--threads: trailing comma in '%s'", arg);
            return -1;
        }
    }
    return 0;
}

int bench_cli_option(int opt, const char *arg, bench_opts *o)
{
    long v;
    double d;
    switch (opt) {
    case CLI_OPT_THREADS:
        return bench_cli_threads(arg, o) < 0 ? -1 : 1;
    case BENCH_OPT_CSV:
        o->csv = arg;
        return 1;
    case BENCH_OPT_PLOT:
        o->plot = arg;
        return 1;
    case BENCH_OPT_REPS:
        if (cli_parse_long("bench", "--reps", arg, 1, BENCH_MAX_REPS, &v) < 0)
            return -1;
        o->reps = (int)v;
        return 1;
    case BENCH_OPT_SAMPLE:
        if (cli_parse_double("bench", "--sample-time", arg, 0.0001, 10.0, &d) < 0)
            return -1;
        o->sample_s = d;
        return 1;
    case BENCH_OPT_NO_PEERS:
        o->peers = 0;
        return 1;
    default:
        return 0;
    }
}

/* OpenBLAS picks its kernel when the library is loaded, from
 * OPENBLAS_CORETYPE; 0.3.21 does not know Sapphire Rapids and falls back to
 * a slow SSE3 kernel. To compare against its best, re-run ourselves once
 * with the variable set (an explicit setting by the user is respected). */
static void openblas_best_kernel(char **argv, int argc)
{
#ifdef MFR_HAVE_OPENBLAS
    if (getenv("OPENBLAS_CORETYPE") || getenv("MFR_BENCH_REEXEC"))
        return;
    const mfr_cpu_info *ci = mfr_cpu();
    const char *core = ci->avx512f && ci->os_avx512 ? "SkylakeX" : ci->avx2 ? "Haswell" : NULL;
    if (!core)
        return;
    char **nargv = calloc((size_t)argc + 2, sizeof *nargv);
    if (!nargv)
        return;
    nargv[0] = (char *)"mfr";
    for (int i = 0; i < argc; i++)
        nargv[i + 1] = argv[i];
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("MFR_BENCH_REEXEC", "1", 1);
    fprintf(stderr, "mfr: bench: re-running with OPENBLAS_CORETYPE=%s (OpenBLAS's best kernel here)\n", core);
    fflush(NULL);
    execv("/proc/self/exe", nargv);
    free(nargv); /* exec failed: go on with whatever OpenBLAS chose */
#else
    (void)argv;
    (void)argc;
#endif
}

static int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        BENCH_LONG_OPTIONS,
        {"shapes", required_argument, NULL, OPT_SHAPES},
        {0, 0, 0, 0},
    };
    if (argc >= 2 && strcmp(argv[1], "model") == 0)
        return bench_model_main(argc - 1, argv + 1);
    cli_common common = {0};
    bench_opts o = {0};
    o.reps = 7;
    o.sample_s = 0.05;
    o.peers = 1;
    int opt;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        if (opt == OPT_SHAPES) {
            o.shapes = optarg;
            continue;
        }
        int taken = bench_cli_option(opt, optarg, &o);
        if (taken < 0)
            return CLI_USAGE;
        if (taken)
            continue;
        int r = cli_common_option("bench", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_bad_option("bench", optopt, argv);
    }
    if (common.help)
        return cli_print_help("bench");
    if (optind >= argc)
        return cli_usage_error("bench", "missing what to benchmark: gemm, conv, dwconv, peak or model");
    if (optind + 1 < argc)
        return cli_usage_error("bench", "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];
    if (strcmp(what, "gemm") && strcmp(what, "conv") && strcmp(what, "dwconv") && strcmp(what, "peak"))
        return cli_usage_error("bench", "unknown benchmark '%s' (gemm, conv, dwconv, peak, model)", what);
    if (common.out)
        return cli_usage_error("bench", "-o/--out is not used here; use --csv FILE or --plot FILE.png");
    if (o.shapes && strcmp(what, "gemm") == 0 && strcmp(o.shapes, "all") && strcmp(o.shapes, "square") &&
        strcmp(o.shapes, "layers")) {
        bench_gemm_shape list[32];
        if (bench_parse_gemm_shapes(o.shapes, list, 32) < 0)
            return cli_usage_error("bench", "%s", mfr_last_error());
    }
    o.quiet = common.quiet;
    if (o.nthreads == 0) {
        /* Default: 1 thread and all cores. */
        int all = mfr_cpu()->logical_cpus;
        o.threads[o.nthreads++] = 1;
        if (all > 1)
            o.threads[o.nthreads++] = all;
    }
    if (o.peers && strcmp(what, "gemm") == 0)
        openblas_best_kernel(argv, argc);
    int rc;
    if (strcmp(what, "gemm") == 0)
        rc = bench_gemm(&o);
    else if (strcmp(what, "conv") == 0)
        rc = bench_conv(&o, 0);
    else if (strcmp(what, "dwconv") == 0)
        rc = bench_conv(&o, 1);
    else
        rc = bench_peak(&o);
    return rc == MFR_OK ? CLI_OK : cli_fail_last();
}

const cli_command cli_cmd_bench = {
    "bench", cmd_bench, "benchmark the kernels against peer libraries (OpenBLAS, BLIS, oneDNN)",
    "usage: mfr bench gemm|conv|dwconv|peak [options]\n"
    "       mfr bench model ...\n\n"
    "Times mfr's kernels and, when built --with-openblas/--with-blis/--with-dnnl,\n"
    "the same work in those libraries in the same run: a warm-up, then --reps\n"
    "rounds in which every contender runs one sample in rotating order, each\n"
    "sample after an untimed pass of the same length (no contender inherits\n"
    "another's footprint in the caches).\n"
    "Reports the median time, GFLOP/s, the percentage of the measured FMA peak\n"
    "(gemm and model: of the FMA loop timed in the same rounds on as many threads;\n"
    "conv and dwconv: threads x one core's peak measured at the start) and the\n"
    "ratio peer time / mfr time (> 1: mfr faster), taken round by round: the\n"
    "median over the rounds, then its quartiles.\n\n"
    "  gemm     sgemm 'N','N': square 64..2048 and network layer shapes\n"
    "           (peers: OpenBLAS with OPENBLAS_CORETYPE set to its best kernel, BLIS)\n"
    "  conv     convolution layers of MobileFaceNet (112x112) and a YuNet-sized\n"
    "           detector (320x240), NHWC, bias + ReLU fused (peer: oneDNN)\n"
    "  dwconv   the depthwise layers, each also streaming (images added until\n"
    "           input + output >= 64 MiB, row 'NAME xIMAGES'), and a table of each\n"
    "           layer's time against its memory bound (a copy of the bytes that\n"
    "           must move, timed beside it) in both cases (docs/kernels.md)\n"
    "  peak     FMA peak per core of each instruction set, copy bandwidth\n"
    "  model    a network's forward pass, whole and per step (peer: oneDNN running\n"
    "           the same network; see 'mfr bench model --help')\n\n"
    "options:\n"
    "  --threads LIST     thread counts: N, N-M or N,M,... (default: 1 and all cores)\n"
    "  --shapes SEL       gemm: square, layers, all (default) or MxNxK[,MxNxK...];\n"
    "                     conv/dwconv: all or a part of a layer name or a kind (pw, conv, dw3x3)\n"
    "  --reps N           timed samples per contender (default 7; the median is reported)\n"
    "  --sample-time S    minimum seconds per sample; fast runs are repeated (default 0.05)\n"
    "  --csv FILE         also write the results as CSV (one line per contender)\n"
    "  --plot FILE.png    also plot GFLOP/s with gnuplot (skipped with a note if missing)\n"
    "  --no-peers         time mfr only\n"
    "  -q, --quiet        no progress lines\n\n"
    "Set MFR_ISA=scalar|avx2|avx512 to time a lower instruction-set path.\n",
};
