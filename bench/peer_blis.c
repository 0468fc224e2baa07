/* BLIS as a benchmark peer (never the engine), through its native API. */
#include "config.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef MFR_HAVE_BLIS
#include <blis.h>

int peer_blis_available(void)
{
    return 1;
}

/* BLIS 0.9 does not recognise Sapphire Rapids and runs its AVX2 (haswell)
 * kernels; its skx (AVX-512) kernels are what it would run at its best. The
 * choice is read from BLIS_ARCH_TYPE when BLIS initialises, i.e. at the
 * first call, so set it before that unless the user chose already. */
void peer_blis_best_kernel(void)
{
    const mfr_cpu_info *ci = mfr_cpu();
    char id[16];
    if (getenv("BLIS_ARCH_TYPE") || !(ci->avx512f && ci->os_avx512))
        return;
    snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_SKX);
    setenv("BLIS_ARCH_TYPE", id, 1);
}

const char *peer_blis_info(void)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "BLIS %s; kernel configuration %s", bli_info_get_version_str(),
             bli_arch_string(bli_arch_query_id()));
    return buf;
}

void peer_blis_threads(int n)
{
    bli_thread_set_num_threads(n);
}

void peer_blis_sgemm(int m, int n, int k, const float *a, const float *b, float *c)
{
    float one = 1.0f, zero = 0.0f;
    /* Row-major: row stride = leading dimension, column stride 1. */
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)a, k, 1, (float *)b, n, 1, &zero, c, n,
              1);
}
#else
void peer_blis_best_kernel(void)
{
}
int peer_blis_available(void)
{
    return 0;
}
const char *peer_blis_info(void)
{
    return "BLIS: not compiled in (./configure --with-blis)";
}
void peer_blis_threads(int n)
{
    (void)n;
}
void peer_blis_sgemm(int m, int n, int k, const float *a, const float *b, float *c)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)c;
}
#endif
