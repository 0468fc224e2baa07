/* mfr info: the machine as the runtime sees it. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"

#include <stdio.h>

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
    if (optind < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
    cli_common_apply(&common);
    print_machine();
    return CLI_OK;
}

const cli_command cli_cmd_info = {
    "info", cmd_info, "describe this machine (CPU, SIMD, caches, threads) as the runtime sees it",
    "usage: mfr info [--threads N]\n\n"
    "Prints the CPU model, the SIMD features detected at run time, the number of\n"
    "cores, the cache sizes, the thread count and which kernel paths will run.\n"
    "Set MFR_ISA=scalar|avx2|avx512 to cap the kernel path.\n",
};
