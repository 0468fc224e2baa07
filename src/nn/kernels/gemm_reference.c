/* The reference GEMM: a plain triple loop, accumulated in double so that it
 * is a trustworthy yardstick for the blocked float paths. */
#include "config.h"
#include "mfr/kernels.h"

#include <stddef.h>

void mfr_sgemm_reference(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep)
{
    int ta = transa == 'T' || transa == 't';
    int tb = transb == 'T' || transb == 't';
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += (double)av * (double)bv;
            }
            float *cp = &c[(size_t)i * ldc + j];
            float v = alpha * (float)s;
            if (beta != 0.0f)
                v += beta * *cp;
            if (ep) {
                int ch = ep->bias_per_row ? i : j;
                if (ep->bias)
                    v += ep->bias[ch];
                if (ep->residual)
                    v += ep->residual[(size_t)i * ep->ldr + j];
                v = mfr_act_scalar(v, ep->act, ep->act_param, ep->prelu ? ep->prelu[ch] : 0.0f);
            }
            *cp = v;
        }
    }
}
