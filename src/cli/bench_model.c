/* mfr bench model: times a network's forward pass, per layer (compiled
 * step) and whole, at each thread count asked. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"
#include "mfr/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_model_main(int argc, char **argv);

enum { OPT_BATCH = CLI_OPT_FIRST_PRIVATE + 50, OPT_REPS, OPT_CSV, OPT_LAYERS };
enum { MAX_THREAD_COUNTS = 16 };

static int parse_thread_list(const char *arg, int *out, int *n)
{
    const char *p = arg;
    *n = 0;
    while (*p) {
        char buf[16];
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        long v;
        if (len == 0 || len >= sizeof buf || *n == MAX_THREAD_COUNTS)
            return cli_usage_error("bench", "--threads: expected N or N,M,... (at most %d), got '%s'", MAX_THREAD_COUNTS,
                                   arg);
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (cli_parse_long("bench", "--threads", buf, 1, 1024, &v) < 0)
            return -1;
        out[(*n)++] = (int)v;
        p += len + (end ? 1 : 0);
    }
    return *n ? 0 : cli_usage_error("bench", "--threads: empty list");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_model_run(const char *path, int batch, int reps, const int *threads, int nthreads, int layers,
                           uint64_t seed, int seed_set, const char *csv, int quiet)
{
    mfr_net *net;
    mfr_exec *ex;
    float *input;
    size_t in_elems;
    double *times = NULL, base = 0.0;
    FILE *cf = NULL;
    mfr_afile af = {0};
    int rc, is_def;
    if (mfr_net_load_any(path, &net) != MFR_OK)
        return cli_fail_last();
    /* A definition has no weights: make them (a model file keeps its own unless --seed). */
    is_def = !mfr_model_is_file(path);
    if ((is_def || seed_set) && mfr_net_init_weights(net, seed) != MFR_OK) {
        mfr_net_free(net);
        return cli_fail_last();
    }
    if (mfr_exec_create(net, batch, 0, &ex) != MFR_OK) {
        mfr_net_free(net);
        return cli_fail_last();
    }
    {
        const mfr_layer *in = &net->layers[net->order[0]];
        mfr_rng r;
        in_elems = (size_t)batch * (size_t)in->h * (size_t)in->w * (size_t)in->c;
        input = malloc(in_elems * sizeof *input);
        times = malloc((size_t)reps * sizeof *times);
        if (!input || !times) {
            free(input);
            free(times);
            mfr_exec_free(ex);
            mfr_net_free(net);
            return cli_fail("out of memory");
        }
        mfr_rng_init(&r, seed, 0x42454e43u, 0);
        for (size_t i = 0; i < in_elems; i++)
            input[i] = (float)mfr_rng_range(&r, -1.0, 1.0);
    }
    if (csv) {
        if (mfr_afile_open(&af, csv) != MFR_OK) {
            rc = cli_fail_last();
            goto out;
        }
        cf = af.fp;
        fprintf(cf, "model,batch,threads,step,layer,what,macs_per_sample,mean_seconds\n");
    }
    printf("model: %s  batch %d  %llu MACs per sample (%.3f G)  %d reps  isa %s\n", path, batch,
           (unsigned long long)mfr_net_macs(net), (double)mfr_net_macs(net) / 1e9, reps, mfr_isa_name(mfr_isa_best()));
    for (int t = 0; t < nthreads; t++) {
        double median, gflops;
        mfr_set_threads(threads[t]);
        /* Warm-up: first touches of the arena and packed weights. */
        for (int w = 0; w < 2; w++)
            if (mfr_exec_forward(ex, input, batch) != MFR_OK) {
                rc = cli_fail_last();
                goto out;
            }
        mfr_exec_profile_reset(ex);
        for (int i = 0; i < reps; i++) {
            double t0;
            mfr_exec_profile(ex, layers || cf);
            t0 = mfr_time_now();
            mfr_exec_forward(ex, input, batch);
            times[i] = mfr_time_now() - t0;
        }
        mfr_exec_profile(ex, 0);
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        median = times[reps / 2];
        if (t == 0)
            base = median;
        gflops = 2.0 * (double)mfr_net_macs(net) * batch / median / 1e9;
        if (layers && !quiet) {
            printf("\nthreads %d: per step (mean of %d; profiled runs include timer overhead)\n", threads[t], reps);
            printf("  %-4s %-22s %-24s %12s %10s %9s %6s\n", "#", "layer", "what", "MACs", "ms", "GFLOP/s", "%");
        }
        for (int s = 0; s < mfr_exec_step_count(ex); s++) {
            mfr_exec_step_info si;
            double mean;
            mfr_exec_step_get(ex, s, &si);
            mean = si.calls ? si.seconds / (double)si.calls : 0.0;
            if (layers && !quiet)
                printf("  %-4d %-22s %-24s %12llu %10.4f %9.2f %6.2f\n", s, si.name, si.what,
                       (unsigned long long)si.macs, mean * 1e3,
                       mean > 0 ? 2.0 * (double)si.macs * batch / mean / 1e9 : 0.0, 100.0 * mean / median);
            if (cf)
                fprintf(cf, "%s,%d,%d,%d,%s,%s,%llu,%.9g\n", path, batch, threads[t], s, si.name, si.what,
                        (unsigned long long)si.macs, mean);
        }
        printf("threads %2d: forward median %.3f ms (min %.3f ms), %.1f samples/s, %.2f GFLOP/s, speed-up vs %d "
               "thread%s: %.2fx\n",
               threads[t], median * 1e3, times[0] * 1e3, batch / median, gflops, threads[0],
               threads[0] == 1 ? "" : "s", base / median);
    }
    rc = CLI_OK;
    if (cf && mfr_afile_commit(&af) != MFR_OK)
        rc = cli_fail_last();
    cf = NULL;
out:
    if (cf)
        mfr_afile_abort(&af);
    mfr_set_threads(0);
    free(input);
    free(times);
    mfr_exec_free(ex);
    mfr_net_free(net);
    return rc;
}

int bench_model_main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"batch", required_argument, NULL, OPT_BATCH},
        {"reps", required_argument, NULL, OPT_REPS},
        {"csv", required_argument, NULL, OPT_CSV},
        {"layers", no_argument, NULL, OPT_LAYERS},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    int threads[MAX_THREAD_COUNTS], nthreads = 0, layers = 0, opt;
    long batch = 1, reps = 20;
    const char *csv = NULL;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (opt) {
        case CLI_OPT_THREADS:
            if (parse_thread_list(optarg, threads, &nthreads) < 0)
                return CLI_USAGE;
            continue;
        case OPT_BATCH:
            if (cli_parse_long("bench", "--batch", optarg, 1, 4096, &batch) < 0)
                return CLI_USAGE;
            continue;
        case OPT_REPS:
            if (cli_parse_long("bench", "--reps", optarg, 1, 100000, &reps) < 0)
                return CLI_USAGE;
            continue;
        case OPT_CSV:
            csv = optarg;
            continue;
        case OPT_LAYERS:
            layers = 1;
            continue;
        default:
            break;
        }
        {
            int r = cli_common_option("bench", opt, optarg, &common);
            if (r < 0)
                return CLI_USAGE;
            if (r == 0)
                return cli_bad_option("bench", optopt, argv);
        }
    }
    if (common.help) {
        printf("usage: mfr bench model MODEL [--threads N,M,...] [--batch N] [--reps N] [--layers]\n"
               "                              [--csv PATH] [--seed N]\n\n"
               "Times the forward pass of MODEL (a model file or a network definition such as\n"
               "models/mobilefacenet.cfg; a definition gets weights from --seed, default 1)\n"
               "at each thread count: median and minimum over --reps runs (default 20) after\n"
               "two warm-up runs, samples per second, GFLOP/s (2 x MACs) and the speed-up\n"
               "over the first thread count. --layers adds a table per thread count with\n"
               "each compiled step (fused layers shown as conv+bn+relu etc.): mean time,\n"
               "MACs, GFLOP/s and share of the forward. --csv writes the per-step times.\n"
               "Default threads: the current thread count (--threads, OMP_NUM_THREADS).\n");
        return CLI_OK;
    }
    if (optind >= argc)
        return cli_usage_error("bench", "model: missing MODEL (a model file or a .cfg definition)");
    if (optind + 1 < argc)
        return cli_usage_error("bench", "model: unexpected argument '%s'", argv[optind + 1]);
    if (nthreads == 0)
        threads[nthreads++] = mfr_threads();
    return bench_model_run(argv[optind], (int)batch, (int)reps, threads, nthreads, layers,
                           common.seed_set ? common.seed : 1, common.seed_set, csv, common.quiet);
}
