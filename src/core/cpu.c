/* CPU features and cache sizes (cpuid), for kernel dispatch and `mfr info`. */
#include "config.h"
#include "mfr/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MFR_X86 1
#endif

static mfr_cpu_info cpu_info;
static atomic_int cpu_ready; /* set (release) once cpu_info is written */

#ifdef MFR_X86
static unsigned long long read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect_x86(mfr_cpu_info *ci)
{
    unsigned int a, b, c, d, max_leaf, max_ext;
    if (!__get_cpuid(0, &max_leaf, &b, &c, &d))
        return;
    memcpy(ci->vendor + 0, &b, 4);
    memcpy(ci->vendor + 4, &d, 4);
    memcpy(ci->vendor + 8, &c, 4);
    ci->vendor[12] = '\0';
    __cpuid(1, a, b, c, d);
    ci->sse2 = !!(d & (1u << 26));
    ci->sse3 = !!(c & (1u << 0));
    ci->ssse3 = !!(c & (1u << 9));
    ci->fma = !!(c & (1u << 12));
    ci->sse41 = !!(c & (1u << 19));
    ci->sse42 = !!(c & (1u << 20));
    ci->popcnt = !!(c & (1u << 23));
    ci->avx = !!(c & (1u << 28));
    ci->f16c = !!(c & (1u << 29));
    if (c & (1u << 27)) { /* OSXSAVE */
        unsigned long long xcr0 = read_xcr0();
        ci->os_avx = (xcr0 & 0x6) == 0x6;
        ci->os_avx512 = (xcr0 & 0xe6) == 0xe6;
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        ci->avx2 = !!(b & (1u << 5));
        ci->avx512f = !!(b & (1u << 16));
        ci->avx512dq = !!(b & (1u << 17));
        ci->avx512cd = !!(b & (1u << 28));
        ci->avx512bw = !!(b & (1u << 30));
        ci->avx512vl = !!(b & (1u << 31));
        ci->avx512vnni = !!(c & (1u << 11));
        ci->avx512fp16 = !!(d & (1u << 23));
        __cpuid_count(7, 1, a, b, c, d);
        ci->avx_vnni = !!(a & (1u << 4));
        ci->avx512bf16 = !!(a & (1u << 5));
    }
    __cpuid(0x80000000u, max_ext, b, c, d);
    if (max_ext >= 0x80000004u) {
        unsigned int regs[12];
        char *s, *e;
        for (unsigned int i = 0; i < 3; i++)
            __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
        memcpy(ci->model, regs, 48);
        ci->model[48] = '\0';
        s = ci->model;
        while (*s == ' ')
            s++;
        memmove(ci->model, s, strlen(s) + 1);
        e = ci->model + strlen(ci->model);
        while (e > ci->model && e[-1] == ' ')
            *--e = '\0';
    }
    /* Deterministic cache parameters (Intel leaf 4, AMD leaf 0x8000001D). */
    {
        unsigned int leaf = 0;
        if (strcmp(ci->vendor, "GenuineIntel") == 0 && max_leaf >= 4)
            leaf = 4;
        else if (max_ext >= 0x8000001Du)
            leaf = 0x8000001Du;
        for (unsigned int i = 0; leaf && i < 16; i++) {
            unsigned int type, level;
            long size;
            __cpuid_count(leaf, i, a, b, c, d);
            type = a & 0x1f;
            if (type == 0)
                break;
            level = (a >> 5) & 7;
            size = (long)(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * ((long)c + 1);
            if (type == 2) /* instruction cache */
                continue;
            if (level == 1)
                ci->l1d = size;
            else if (level == 2)
                ci->l2 = size;
            else if (level == 3)
                ci->l3 = size;
        }
    }
}
#endif

static void detect(void)
{
    mfr_cpu_info ci;
    long n;
    memset(&ci, 0, sizeof ci);
    strcpy(ci.vendor, "unknown");
    strcpy(ci.model, "unknown");
#ifdef MFR_X86
    detect_x86(&ci);
#endif
#ifdef _SC_LEVEL1_DCACHE_SIZE
    if (ci.l1d <= 0 && (n = sysconf(_SC_LEVEL1_DCACHE_SIZE)) > 0)
        ci.l1d = n;
    if (ci.l2 <= 0 && (n = sysconf(_SC_LEVEL2_CACHE_SIZE)) > 0)
        ci.l2 = n;
    if (ci.l3 <= 0 && (n = sysconf(_SC_LEVEL3_CACHE_SIZE)) > 0)
        ci.l3 = n;
#endif
    n = sysconf(_SC_NPROCESSORS_ONLN);
    ci.logical_cpus = n > 0 ? (int)n : 1;
    cpu_info = ci;
}

const mfr_cpu_info *mfr_cpu(void)
{
    /* Every GEMM call asks several times: after the first detection this is
     * one acquire load, not a lock (a lock per call was 3 % of a 2 us
     * one-row product). The first callers detect under a critical section;
     * the release store publishes cpu_info to the acquire loads. */
    if (atomic_load_explicit(&cpu_ready, memory_order_acquire))
        return &cpu_info;
#ifdef MFR_HAVE_OPENMP
#pragma omp critical(mfr_cpu_detect)
#endif
    {
        if (!atomic_load_explicit(&cpu_ready, memory_order_relaxed)) {
            detect();
            atomic_store_explicit(&cpu_ready, 1, memory_order_release);
        }
    }
    return &cpu_info;
}

int mfr_isa_available(mfr_isa isa)
{
    const mfr_cpu_info *ci = mfr_cpu();
    (void)ci; /* unused when no SIMD path is compiled in */
    switch (isa) {
    case MFR_ISA_SCALAR:
        return 1;
    case MFR_ISA_AVX2:
#ifdef MFR_HAVE_AVX2
        return ci->avx2 && ci->fma && ci->os_avx;
#else
        return 0;
#endif
    case MFR_ISA_AVX512:
#ifdef MFR_HAVE_AVX512
        return ci->avx512f && ci->avx512bw && ci->avx512dq && ci->avx512vl && ci->os_avx512 && ci->avx2 && ci->fma;
#else
        return 0;
#endif
    }
    return 0;
}

const char *mfr_isa_name(mfr_isa isa)
{
    switch (isa) {
    case MFR_ISA_SCALAR: return "scalar";
    case MFR_ISA_AVX2: return "avx2";
    case MFR_ISA_AVX512: return "avx512";
    }
    return "?";
}

mfr_isa mfr_isa_best(void)
{
    mfr_isa best = MFR_ISA_SCALAR, cap = MFR_ISA_AVX512;
    const char *env = getenv("MFR_ISA");
    if (env && *env) {
        if (strcmp(env, "scalar") == 0)
            cap = MFR_ISA_SCALAR;
        else if (strcmp(env, "avx2") == 0)
            cap = MFR_ISA_AVX2;
    }
    for (int i = MFR_ISA_SCALAR; i <= (int)cap; i++)
        if (mfr_isa_available((mfr_isa)i))
            best = (mfr_isa)i;
    return best;
}
