/* AVX-512 GEMM micro-kernel: a 14 x 32 tile of C in 28 zmm accumulators.
 * Per k step: two 16-float loads of B, 14 broadcasts of A, 28 FMAs; that
 * leaves 4 of the 32 zmm registers for B, the broadcast and the epilogue.
 * Compiled with $(AVX512_CFLAGS); called only when mfr_isa_available says so.
 * Column tails use masked loads/stores; row tails skip stores (packed A is
 * zero padded) or clamp the row read (unpacked A). The epilogue is applied
 * in registers with the same operation order as gemm_ep_value. */
#include "config.h"
#include "gemm_internal.h"

#include "simd_act.h"

enum { MR = 14, NR = 32 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

/* Epilogue and store of 16 columns (mask k) of row i, column offset j. */
static inline void store16(__m512 acc, float *c, int i, int j, __mmask16 k, const gemm_tile_ep *ep)
{
    __m512 v = _mm512_mul_ps(_mm512_set1_ps(ep->alpha), acc);
    if (ep->first) {
        if (ep->beta != 0.0f)
            v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(ep->beta), _mm512_maskz_loadu_ps(k, c)));
    } else {
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, c), v);
    }
    if (ep->last) {
        if (ep->bias)
            v = _mm512_add_ps(v, ep->per_row ? _mm512_set1_ps(ep->bias[i]) : _mm512_maskz_loadu_ps(k, ep->bias + j));
        if (ep->res)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, ep->res + (ptrdiff_t)i * ep->ldr + j));
        if (ep->act != MFR_ACT_NONE) {
            __m512 slope = _mm512_set1_ps(ep->act_param);
            if (ep->act == MFR_ACT_PRELU)
                slope = !ep->prelu ? _mm512_setzero_ps()
                        : ep->per_row ? _mm512_set1_ps(ep->prelu[i])
                                      : _mm512_maskz_loadu_ps(k, ep->prelu + j);
            v = act_avx512(v, ep->act, slope);
        }
    }
    _mm512_mask_storeu_ps(c, k, v);
    if (ep->last && act_is_scalar_only(ep->act))
        for (int q = 0; q < 16; q++)
            if (k & (1u << q))
                c[q] = mfr_act_scalar(c[q], ep->act, ep->act_param, 0.0f);
}

#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define STORE(i)                                                                                   \
    if (i < m) {                                                                                   \
        store16(c##i##a, c + (ptrdiff_t)i * ldc, i, 0, k0, ep);                                    \
        if (k1)                                                                                    \
            store16(c##i##b, c + (ptrdiff_t)i * ldc + 16, i, 16, k1, ep);                          \
    }

/* Packed operands: a[p * MR + i], b[p * NR + j], zero padded. */
static void ukernel_packed(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    (void)rsa;
    (void)csa;
    (void)ldb;
    ROWS(DECL)
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define FMA(i)                                                                                     \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(a[i]);                                                          \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                                                \
    }
        ROWS(FMA)
#undef FMA
        a += MR;
        b += NR;
    }
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
    ROWS(STORE)
}

/* Operands in place: a[i * rsa + p * csa] for i < m, b[p * ldb + j] for j < n. */
static void ukernel_strided(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                            float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    ROWS(DECL)
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
    /* Rows past m re-read the last row; their results are never stored. */
    const float *ar[MR];
    for (int i = 0; i < MR; i++)
        ar[i] = a + (i < m ? i : m - 1) * rsa;
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(k0, b), b1 = _mm512_maskz_loadu_ps(k1, b + 16);
        ptrdiff_t ap = p * csa;
#define FMA(i)                                                                                     \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(ar[i][ap]);                                                     \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                                                \
    }
        ROWS(FMA)
#undef FMA
        b += ldb;
    }
    ROWS(STORE)
}

const gemm_kernel gemm_kernel_avx512_14x32 = {MFR_ISA_AVX512, MR, NR, ukernel_packed, ukernel_strided};
