/* OpenBLAS as a benchmark peer (never the engine). */
#include "config.h"
#include "bench.h"

#include <stdio.h>

#ifdef MFR_HAVE_OPENBLAS
#include <cblas.h>

int peer_openblas_available(void)
{
    return 1;
}

const char *peer_openblas_info(void)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "OpenBLAS: %s; kernel core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}

void peer_openblas_threads(int n)
{
    openblas_set_num_threads(n);
}

void peer_openblas_sgemm(int m, int n, int k, const float *a, const float *b, float *c)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}
#else
int peer_openblas_available(void)
{
    return 0;
}
const char *peer_openblas_info(void)
{
    return "OpenBLAS: not compiled in (./configure --with-openblas)";
}
void peer_openblas_threads(int n)
{
    (void)n;
}
void peer_openblas_sgemm(int m, int n, int k, const float *a, const float *b, float *c)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)c;
}
#endif
