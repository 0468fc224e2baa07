/* mfr bench model: times a network's forward pass, whole against oneDNN
 * running the same network (when built --with-dnnl), and per compiled step,
 * at each thread count asked. The measuring code is bench/'s. */
#include "config.h"
#include "cli/bench_cli.h"
#include "mfr/core.h"
#include "mfr/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_model_main(int argc, char **argv);

enum { OPT_BATCH = BENCH_OPT_FIRST_OWN, OPT_LAYERS, OPT_LAYERS_CSV };

typedef struct model_job {
    mfr_exec *ex;
    peer_dnnl_net *pn;
    const float *input;
    int batch;
} model_job;

static void run_mfr(void *p)
{
    model_job *j = p;
    (void)mfr_exec_forward(j->ex, j->input, j->batch);
}

static void run_onednn(void *p)
{
    model_job *j = p;
    (void)peer_dnnl_net_run(j->pn, j->input);
}

static void set_mfr_threads(int n)
{
    mfr_set_threads(n);
}

/* The largest |mfr - oneDNN| over every output of the network, relative to
 * the largest |mfr| of that output (after one forward of each). */
static double compare_outputs(const mfr_net *net, const mfr_exec *ex, const peer_dnnl_net *pn, int batch)
{
    double worst = 0.0;
    for (int i = 0; i < mfr_exec_output_count(ex); i++) {
        int layer;
        const float *a = mfr_exec_output(ex, i, &layer), *b = peer_dnnl_net_layer_output(pn, layer);
        const mfr_layer *l = &net->layers[layer];
        size_t n = (size_t)batch * l->h * l->w * l->c;
        double diff = 0.0, mag = 1e-30;
        if (!a || !b)
            return INFINITY;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)a[k] - b[k]);
            diff = d > diff || d != d ? d : diff;
            mag = fabs(a[k]) > mag ? fabs(a[k]) : mag;
        }
        if (diff / mag > worst || diff != diff)
            worst = diff / mag;
    }
    return worst;
}

/* Profiled forward passes: the table of compiled steps (--layers) and
 * their CSV rows (--layers-csv). Separate from the timed rounds, whose
 * samples carry no profiling. */
static int profile_steps(const char *path, mfr_exec *ex, peer_dnnl_net *pn, const float *input, int batch,
                         int reps, int threads, int print, FILE *cf)
{
    double total = 0.0;
    mfr_exec_profile_reset(ex);
    mfr_exec_profile(ex, 1);
    for (int i = 0; i < reps; i++) {
        double t0 = mfr_time_now();
        if (mfr_exec_forward(ex, input, batch) != MFR_OK) {
            mfr_exec_profile(ex, 0);
            return cli_fail_last();
        }
        total += mfr_time_now() - t0;
    }
    mfr_exec_profile(ex, 0);
    double mean_forward = total / reps;
    if (print) {
        printf("\nthreads %d: per step (mean of %d profiled runs, %.3f ms each; timer overhead included)\n", threads,
               reps, mean_forward * 1e3);
        printf("  %-4s %-22s %-24s %12s %10s %9s %6s\n", "#", "layer", "what", "MACs", "ms", "GFLOP/s", "%");
    }
    for (int s = 0; s < mfr_exec_step_count(ex); s++) {
        mfr_exec_step_info si;
        mfr_exec_step_get(ex, s, &si);
        double mean = si.calls ? si.seconds / (double)si.calls : 0.0;
        if (print)
            printf("  %-4d %-22s %-24s %12llu %10.4f %9.2f %6.2f\n", s, si.name, si.what, (unsigned long long)si.macs,
                   mean * 1e3, mean > 0 ? 2.0 * (double)si.macs * batch / mean / 1e9 : 0.0,
                   100.0 * mean / mean_forward);
        if (cf)
            fprintf(cf, "%s,%d,%d,%d,%s,%s,%llu,%.9g\n", path, batch, threads, s, si.name, si.what,
                    (unsigned long long)si.macs, mean);
    }
    if (pn) {
        /* oneDNN's steps, profiled the same way (one primitive per layer,
         * fused post-ops on the layer that carries them) */
        double dn_total = 0.0;
        peer_dnnl_net_profile(pn, 1);
        for (int i = 0; i < reps; i++) {
            double t0 = mfr_time_now();
            if (peer_dnnl_net_run(pn, input) != MFR_OK) {
                peer_dnnl_net_profile(pn, 0);
                return cli_fail_last();
            }
            dn_total += mfr_time_now() - t0;
        }
        peer_dnnl_net_profile(pn, 0);
        if (print) {
            printf("\nthreads %d: oneDNN per step (mean of %d profiled runs, %.3f ms each)\n", threads, reps,
                   dn_total / reps * 1e3);
            printf("  %-4s %-22s %-32s %10s %6s\n", "#", "layer", "oneDNN implementation", "ms", "%");
        }
        for (int s = 0; s < peer_dnnl_net_step_count(pn); s++) {
            const char *layer, *impl;
            double mean;
            peer_dnnl_net_step_get(pn, s, &layer, &impl, &mean);
            if (print)
                printf("  %-4d %-22s %-32s %10.4f %6.2f\n", s, layer, impl, mean * 1e3, 100.0 * mean * reps / dn_total);
            if (cf)
                fprintf(cf, "%s,%d,%d,%d,%s,onednn:%s,,%.9g\n", path, batch, threads, s, layer, impl, mean);
        }
    }
    if (print)
        printf("\n");
    return CLI_OK;
}

static int bench_model_run(const char *path, int batch, const bench_opts *o, int layers, uint64_t seed,
                           int seed_set, const char *layers_csv)
{
    mfr_net *net;
    mfr_exec *ex;
    peer_dnnl_net *pn = NULL;
    float *input;
    size_t in_elems;
    FILE *cf = NULL;
    mfr_afile af = {0};
    bench_table t = {0};
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
        input = mfr_alloc(in_elems * sizeof *input);
        if (!input) {
            mfr_exec_free(ex);
            mfr_net_free(net);
            return cli_fail("out of memory");
        }
        mfr_rng_init(&r, seed, 0x42454e43u, 0);
        for (size_t i = 0; i < in_elems; i++)
            input[i] = (float)mfr_rng_range(&r, -1.0, 1.0);
    }
    if (layers_csv) {
        if (mfr_afile_open(&af, layers_csv) != MFR_OK) {
            rc = cli_fail_last();
            goto out;
        }
        cf = af.fp;
        fprintf(cf, "model,batch,threads,step,layer,what,macs_per_sample,mean_seconds\n");
    }
    mfr_isa isa = mfr_isa_best();
    t.isa = mfr_isa_name(isa);
    t.peak_gflops_core = bench_fma_peak(isa);
    printf("model: %s  batch %d  %llu MACs per sample (%.3f G)  isa %s\n", path, batch,
           (unsigned long long)mfr_net_macs(net), (double)mfr_net_macs(net) / 1e9, t.isa);
    model_job job = {ex, NULL, input, batch};
    int use_dnnl = o->peers && peer_dnnl_available();
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    double first = 0.0;
    rc = CLI_OK;
    for (int ti = 0; ti < o->nthreads && rc == CLI_OK; ti++) {
        int T = o->threads[ti];
        /* oneDNN fixes its thread count when a primitive is created: the
         * network is built for each thread count, with that count in force */
        peer_dnnl_net_free(pn);
        pn = job.pn = NULL;
        if (use_dnnl) {
            peer_dnnl_threads(T);
            if (peer_dnnl_net_create(net, batch, &pn) != MFR_OK) {
                fprintf(stderr, "mfr: bench: %s; timing mfr alone\n", mfr_last_error());
                mfr_clear_error();
                use_dnnl = 0;
            } else {
                /* the same work: both on the same input, outputs compared */
                job.pn = pn;
                mfr_set_threads(T);
                if (mfr_exec_forward(ex, input, batch) != MFR_OK || peer_dnnl_net_run(pn, input) != MFR_OK) {
                    rc = cli_fail_last();
                    break;
                }
                double d = compare_outputs(net, ex, pn, batch);
                if (ti == 0)
                    printf("peer: %s\n", peer_dnnl_net_info());
                if (!(d <= 1e-4))
                    fprintf(stderr,
                            "mfr: warning: %s: mfr and oneDNN outputs differ by %.3g of their largest value\n",
                            path, d);
                else if (!o->quiet)
                    fprintf(stderr, "  %dT: oneDNN's outputs match mfr's within %.2g of their largest value\n", T,
                            d);
            }
        }
        bench_contender c[3];
        int nc = 0;
        c[nc++] = (bench_contender){"mfr", run_mfr, &job, set_mfr_threads, 0};
        if (pn)
            c[nc++] = (bench_contender){"onednn", run_onednn, &job, peer_dnnl_threads, 0};
        c[nc++] = (bench_contender){"fma", bench_fma_run, &isa, bench_fma_threads, 0};
        bench_result r = {0};
        snprintf(r.shape, sizeof r.shape, "%.50s b%d", base, batch);
        snprintf(r.kind, sizeof r.kind, "model");
        r.flop = 2.0 * (double)mfr_net_macs(net) * batch;
        if (bench_measure(o, c, nc, T, &r) != MFR_OK) {
            rc = cli_fail_last();
            break;
        }
        r.ncont--; /* the FMA loop: the reference of % of peak */
        r.peak_flop = bench_fma_flop(isa, T);
        if (bench_table_add(&t, &r) != MFR_OK) {
            rc = cli_fail_last();
            break;
        }
        if (ti == 0)
            first = r.median_s[0];
        printf("threads %2d: mfr forward median %.3f ms (min %.3f ms), %.1f samples/s, %.2f GFLOP/s, speed-up vs %d "
               "thread%s: %.2fx",
               T, r.median_s[0] * 1e3, r.min_s[0] * 1e3, batch / r.median_s[0], r.flop / r.median_s[0] * 1e-9,
               o->threads[0], o->threads[0] == 1 ? "" : "s", first / r.median_s[0]);
        if (pn)
            printf("; oneDNN %.3f ms (%.2fx)", r.median_s[1] * 1e3, bench_paired_ratio(&r, 1, 0, 0.5));
        printf("\n");
        if (layers || cf) {
            mfr_set_threads(T);
            rc = profile_steps(path, ex, pn, input, batch, o->reps, T, layers && !o->quiet, cf);
        }
    }
    if (rc == CLI_OK && cf) {
        cf = NULL;
        if (mfr_afile_commit(&af) != MFR_OK)
            rc = cli_fail_last();
    }
    if (rc == CLI_OK) {
        printf("\n");
        char title[96];
        snprintf(title, sizeof title, "forward pass of %.60s", base);
        if (bench_report(&t, o, title) != MFR_OK)
            rc = cli_fail_last();
    }
out:
    if (cf)
        mfr_afile_abort(&af);
    mfr_set_threads(0);
    bench_table_free(&t);
    peer_dnnl_net_free(pn);
    mfr_free(input);
    mfr_exec_free(ex);
    mfr_net_free(net);
    return rc;
}

int bench_model_main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        BENCH_LONG_OPTIONS,
        {"batch", required_argument, NULL, OPT_BATCH},
        {"layers", no_argument, NULL, OPT_LAYERS},
        {"layers-csv", required_argument, NULL, OPT_LAYERS_CSV},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    bench_opts o = {0};
    int layers = 0, opt;
    long batch = 1;
    const char *layers_csv = NULL;
    o.reps = 9;
    o.sample_s = 0.05;
    o.peers = 1;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_BATCH:
            if (cli_parse_long("bench", "--batch", optarg, 1, 4096, &batch) < 0)
                return CLI_USAGE;
            continue;
        case OPT_LAYERS:
            layers = 1;
            continue;
        case OPT_LAYERS_CSV:
            layers_csv = optarg;
            continue;
        default:
            break;
        }
        int taken = bench_cli_option(opt, optarg, &o);
        if (taken < 0)
            return CLI_USAGE;
        if (taken)
            continue;
        {
            int r = cli_common_option("bench", opt, optarg, &common);
            if (r < 0)
                return CLI_USAGE;
            if (r == 0)
                return cli_bad_option("bench", optopt, argv);
        }
    }
    if (common.help) {
        printf("usage: mfr bench model MODEL [--threads N,M,...|N-M] [--batch N] [--reps N] [--sample-time S]\n"
               "                              [--csv FILE] [--plot FILE.png] [--no-peers]\n"
               "                              [--layers] [--layers-csv FILE] [--seed N]\n\n"
               "Times the forward pass of MODEL (a model file or a network definition such as\n"
               "models/mobilefacenet.cfg; a definition gets weights from --seed, default 1)\n"
               "on a batch of --batch images (default 1) at each thread count and, when built\n"
               "--with-dnnl, the same network run by oneDNN (one primitive per layer, batch\n"
               "norm folded, activations and residual adds fused, NHWC; its outputs are\n"
               "checked against mfr's first) in the same run: after a warm-up, --reps rounds\n"
               "(default 9) each time one sample of every contender (a sample lasts at least\n"
               "--sample-time seconds, default 0.05), as in 'mfr bench gemm'. Reported: the\n"
               "median time, samples/s, GFLOP/s (2 x MACs), %% of the FMA peak (against the\n"
               "FMA loop timed in the same rounds), the speed-up over the first thread count\n"
               "and the ratio oneDNN time / mfr time (median of the rounds, quartiles), as a\n"
               "table, as CSV (--csv) and as a gnuplot plot (--plot). --layers adds a table\n"
               "per thread count of each compiled step (fused layers shown as conv+bn+relu\n"
               "etc.): mean time of --reps profiled runs, MACs, GFLOP/s and share of the\n"
               "forward; --layers-csv writes those rows as CSV. --no-peers: mfr alone.\n"
               "Default threads: the current thread count (--threads, OMP_NUM_THREADS).\n");
        return CLI_OK;
    }
    if (optind >= argc)
        return cli_usage_error("bench", "model: missing MODEL (a model file or a .cfg definition)");
    if (optind + 1 < argc)
        return cli_usage_error("bench", "model: unexpected argument '%s'", argv[optind + 1]);
    if (common.out)
        return cli_usage_error("bench", "-o/--out is not used here; use --csv FILE or --plot FILE.png");
    if (o.nthreads == 0)
        o.threads[o.nthreads++] = mfr_threads();
    o.quiet = common.quiet;
    return bench_model_run(argv[optind], (int)batch, &o, layers, common.seed_set ? common.seed : 1, common.seed_set,
                           layers_csv);
}
