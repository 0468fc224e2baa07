/* mfr info: the machine as the runtime sees it, or a model: its layers,
 * output shapes, parameters, MACs and activation memory. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"
#include "mfr/nn.h"

#include <stdio.h>
#include <string.h>

static void print_cache(const char *name, long bytes)
{
    if (bytes <= 0)
        printf("  %-4s unknown\n", name);
    else if (bytes >= 1 << 20)
        printf("  %-4s %.1f MiB\n", name, (double)bytes / (1 << 20));
    else
        printf("  %-4s %ld KiB\n", name, bytes >> 10);
}

static void print_machine(void)
{
    const mfr_cpu_info *ci = mfr_cpu();
    const mfr_build_info *b = mfr_build();
    static const struct { const char *name; size_t off; } features[] = {
#define F(x) {#x, offsetof(mfr_cpu_info, x)}
        F(sse2), F(sse3), F(ssse3), F(sse41), F(sse42), F(popcnt), F(avx), F(avx2), F(fma), F(f16c),
        F(avx512f), F(avx512dq), F(avx512cd), F(avx512bw), F(avx512vl), F(avx512vnni), F(avx512bf16),
        F(avx512fp16), F(avx_vnni),
#undef F
    };
    printf("cpu:      %s (%s)\n", ci->model, ci->vendor);
    printf("cores:    %d logical CPUs online\n", ci->logical_cpus);
    printf("threads:  %d (--threads, else OMP_NUM_THREADS, else all cores)\n", mfr_threads());
    printf("features:");
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
        if (*(const int *)((const char *)ci + features[i].off))
            printf(" %s", features[i].name);
    printf("\nOS saves: %s%s\n", ci->os_avx ? "ymm" : "-", ci->os_avx512 ? " zmm+opmask" : "");
    printf("caches:\n");
    print_cache("L1d", ci->l1d);
    print_cache("L2", ci->l2);
    print_cache("L3", ci->l3);
    printf("kernels:  compiled in: %s; available here:", b->simd);
    for (int i = MFR_ISA_SCALAR; i <= MFR_ISA_AVX512; i++)
        if (mfr_isa_available((mfr_isa)i))
            printf(" %s", mfr_isa_name((mfr_isa)i));
    printf("; will run: %s\n", mfr_isa_name(mfr_isa_best()));
}

static void print_bytes(const char *label, size_t bytes)
{
    printf("%s%.2f MiB (%zu bytes)\n", label, (double)bytes / (1 << 20), bytes);
}

/* Layers with their shapes, parameters and MACs, then totals and memory. */
static int print_model(const char *path)
{
    mfr_net *net;
    mfr_exec *ex;
    int rc = mfr_net_load_any(path, &net);
    if (rc != MFR_OK)
        return cli_fail_last();
    printf("model:    %s\n", path);
    printf("%-4s %-22s %-10s %-16s %-22s %10s %14s\n", "#", "layer", "type", "output (HxWxC)", "inputs", "params",
           "MACs");
    for (int k = 0; k < net->n_layers; k++) {
        const mfr_layer *l = &net->layers[net->order[k]];
        char shape[48], inputs[96] = "";
        uint64_t params = 0;
        size_t used = 0;
        for (int s = 0; s < MFR_LAYER_MAX_PARAMS; s++)
            if (l->params[s])
                params += l->params[s]->size;
        for (int i = 0; l->op != MFR_OP_INPUT && i < l->n_inputs && used < sizeof inputs; i++)
            used += (size_t)snprintf(inputs + used, sizeof inputs - used, "%s%s", i ? "," : "", l->input_names[i]);
        snprintf(shape, sizeof shape, "%dx%dx%d", l->h, l->w, l->c);
        printf("%-4d %-22s %-10s %-16s %-22s %10llu %14llu\n", k, l->name, mfr_op_name(l->op, l->act), shape, inputs,
               (unsigned long long)params, (unsigned long long)l->macs);
    }
    printf("total:    %d layers, %llu parameters (%.3f M), %llu MACs (%.4f G) per sample\n", net->n_layers,
           (unsigned long long)mfr_net_param_total(net), (double)mfr_net_param_total(net) / 1e6,
           (unsigned long long)mfr_net_macs(net), (double)mfr_net_macs(net) / 1e9);
    printf("outputs:");
    for (int i = 0; i < mfr_net_output_count(net); i++) {
        const mfr_layer *l = &net->layers[mfr_net_output_layer(net, i)];
        printf(" %s (%dx%dx%d)", l->name, l->h, l->w, l->c);
    }
    printf("\n");
    print_bytes("weights:  ", (size_t)mfr_net_param_total(net) * sizeof(float));
    rc = mfr_exec_create(net, 1, 0, &ex);
    if (rc != MFR_OK) {
        mfr_net_free(net);
        return cli_fail_last();
    }
    print_bytes("activations, peak (batch 1, planned arena): ", mfr_exec_arena_bytes(ex));
    print_bytes("activations without reuse (batch 1):        ", mfr_exec_naive_bytes(ex));
    printf("compiled: %d steps after fusion (", mfr_exec_step_count(ex));
    {
        const char *seen[4];
        int shown = 0;
        for (int i = 0; i < mfr_exec_step_count(ex) && shown < 4; i++) {
            mfr_exec_step_info si;
            int dup = 0;
            mfr_exec_step_get(ex, i, &si);
            for (int k = 0; k < shown; k++)
                dup |= strcmp(seen[k], si.what) == 0;
            if (!strchr(si.what, '+') || dup)
                continue;
            printf("%s%s", shown ? ", " : "fused: ", si.what);
            seen[shown++] = si.what;
        }
    }
    printf(")\n");
    mfr_exec_free(ex);
    mfr_net_free(net);
    return CLI_OK;
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, {0, 0, 0, 0}};
    cli_common common = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("info", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_bad_option("info", optopt, argv);
    }
    if (common.help)
        return cli_print_help("info");
    if (optind + 1 < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind + 1]);
    cli_common_apply(&common);
    if (optind < argc)
        return print_model(argv[optind]);
    print_machine();
    return CLI_OK;
}

const cli_command cli_cmd_info = {
    "info", cmd_info, "describe this machine, or a model's layers, parameters and MACs",
    "usage: mfr info [--threads N] [MODEL]\n\n"
    "Without MODEL: prints the CPU model, the SIMD features detected at run time,\n"
    "the number of cores, the cache sizes, the thread count and which kernel\n"
    "paths will run. Set MFR_ISA=scalar|avx2|avx512 to cap the kernel path.\n\n"
    "With MODEL (a model file or a network definition such as\n"
    "models/mobilefacenet.cfg): prints every layer in execution order with its\n"
    "type, output shape, inputs, parameters and multiply-adds, the totals, the\n"
    "outputs, and the activation memory of the compiled network (the planned\n"
    "arena at batch 1 against the sum of all buffers).\n",
};
