/* The portable GEMM micro-kernel: a 4 x 8 register tile in plain C.
 * Also the reference the SIMD micro-kernels are tested against through the
 * driver (same blocking, same epilogue). */
#include "config.h"
#include "gemm_internal.h"

enum { MR = 4, NR = 8 };

static void ukernel(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                    ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    float acc[MR][NR] = {{0}};
    for (int p = 0; p < kc; p++) {
        const float *bp = b + (ptrdiff_t)p * ldb;
        for (int i = 0; i < m; i++) {
            float av = a[i * rsa + p * csa];
            for (int j = 0; j < n; j++)
                acc[i][j] += av * bp[j];
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *cp = c + i * ldc + j;
            *cp = gemm_ep_value(acc[i][j], cp, ep, i, j);
        }
}

static void ukernel_packed(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    (void)rsa, (void)csa, (void)ldb;
    ukernel(kc, a, 1, MR, b, NR, c, ldc, m, n, ep);
}

const gemm_kernel gemm_kernel_scalar_4x8 = {MFR_ISA_SCALAR, MR, NR, 1, ukernel_packed, ukernel, NULL, NULL, NULL, NULL,
                                            NULL, 0, 0, NULL, NULL, 0};
