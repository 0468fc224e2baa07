/* AVX2+FMA GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators.
 * Per k step: two 8-float loads of B, 6 broadcasts of A, 12 FMAs, using 15
 * of the 16 ymm registers. Compiled with $(AVX2_CFLAGS); called only when
 * mfr_isa_available says so. Column tails use maskload/maskstore; row tails
 * skip stores (packed A is zero padded) or clamp the row read (unpacked A).
 * The epilogue follows the operation order of gemm_ep_value. */
#include "config.h"
#include "gemm_pack.h"

#include "simd_act.h"

enum { MR = 6, NR = 16, KB = 8 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* The epilogue in two parts, as in the AVX-512 kernel. combine8: this
 * k-block's contribution, v = alpha acc + beta C on the first block (C not
 * read when beta = 0), C + alpha acc on later ones. finish8 (last block
 * only): + bias, + residual, activation. The order is gemm_ep_value's. */
static inline __attribute__((always_inline)) __m256 combine8(__m256 acc, const float *c, __m256i k,
                                                              const gemm_tile_ep *ep)
{
    /* alpha = 1 (every call but a user's sgemm) multiplies by nothing: exact */
    __m256 v = ep->alpha == 1.0f ? acc : _mm256_mul_ps(_mm256_set1_ps(ep->alpha), acc);
    if (ep->first) {
        if (ep->beta != 0.0f)
            v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(ep->beta), _mm256_maskload_ps(c, k)));
    } else {
        v = _mm256_add_ps(_mm256_maskload_ps(c, k), v);
    }
    return v;
}

/* cols: the valid columns of the 8 (mask k) */
static inline __attribute__((always_inline)) void finish8(__m256 v, float *c, int i, int j, __m256i k, int cols,
                                                           const gemm_tile_ep *ep)
{
    if (ep->bias)
        v = _mm256_add_ps(v, ep->per_row ? _mm256_set1_ps(ep->bias[i]) : _mm256_maskload_ps(ep->bias + j, k));
    if (ep->res)
        v = _mm256_add_ps(v, _mm256_maskload_ps(ep->res + (ptrdiff_t)i * ep->ldr + j, k));
    if (ep->act != MFR_ACT_NONE) {
        __m256 slope = _mm256_set1_ps(ep->act_param);
        if (ep->act == MFR_ACT_PRELU)
            slope = !ep->prelu ? _mm256_setzero_ps()
                    : ep->per_row ? _mm256_set1_ps(ep->prelu[i])
                                  : _mm256_maskload_ps(ep->prelu + j, k);
        v = act_avx2(v, ep->act, slope);
    }
    _mm256_maskstore_ps(c, k, v);
    if (act_is_scalar_only(ep->act))
        for (int q = 0; q < cols; q++)
            c[q] = mfr_act_scalar(c[q], ep->act, ep->act_param, 0.0f);
}

/* Both parts for 8 columns (mask k, cols valid) of row i at column j. */
static inline __attribute__((always_inline)) void store8(__m256 acc, float *c, int i, int j, __m256i k, int cols,
                                                          const gemm_tile_ep *ep)
{
    __m256 v = combine8(acc, c, k, ep);
    if (ep->last)
        finish8(v, c, i, j, k, cols, ep);
    else
        _mm256_maskstore_ps(c, k, v);
}

/* The second part for a whole m x n tile whose first part is in C already
 * (a loop over rows; reading the stored floats back is exact). */
static __attribute__((noinline)) void finish_tile(float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    const gemm_tile_ep e = *epp;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j += 8) {
            __m256i k = tail_mask_avx2(n - j);
            float *cp = c + (ptrdiff_t)i * ldc + j;
            finish8(_mm256_maskload_ps(cp, k), cp, i, j, k, n - j < 8 ? n - j : 8, &e);
        }
}

/* The C tile (and the residual) are touched only after the k-loop: fetch
 * them now so that the misses overlap with the FMAs, not follow them. */
static inline __attribute__((always_inline)) void prefetch_tile(const float *c, ptrdiff_t ldc, int m,
                                                                const gemm_tile_ep *ep)
{
    /* C only written (first block, beta = 0): the stores wait in the store
     * buffer for their lines; prefetching them costs fill buffers up front */
    if (!ep->first || ep->beta != 0.0f)
        for (int i = 0; i < m; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
        }
    if (ep->last && ep->res)
        for (int i = 0; i < m; i++) {
            _mm_prefetch((const char *)(ep->res + i * ep->ldr), _MM_HINT_T0);
            _mm_prefetch((const char *)(ep->res + i * ep->ldr + NR - 1), _MM_HINT_T0);
        }
}

#define DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define STORE(i)                                                                                   \
    if (i < m) {                                                                                   \
        store8(c##i##a, c + (ptrdiff_t)i * ldc, i, 0, k0, n < 8 ? n : 8, ep);                      \
        if (n > 8)                                                                                 \
            store8(c##i##b, c + (ptrdiff_t)i * ldc + 8, i, 8, k1, n - 8, ep);                      \
    }

/* The packed tile's first part, unrolled: the two usual forms (alpha = 1;
 * the first block with beta = 0, or a later block) without a test per
 * vector, the rest through combine8; then finish_tile when gemm_ep_has_finish. */
#define COMBINE_SET(v, p, k) (v)
#define COMBINE_ADD(v, p, k) _mm256_add_ps(_mm256_maskload_ps((p), (k)), (v))
#define COMBINE_ANY(v, p, k) combine8((v), (p), (k), ep)
#define STORE_ROW(i, F)                                                                            \
    if (i < m) {                                                                                   \
        float *cp = c + (ptrdiff_t)i * ldc;                                                        \
        _mm256_maskstore_ps(cp, k0, F(c##i##a, cp, k0));                                           \
        if (n > 8)                                                                                 \
            _mm256_maskstore_ps(cp + 8, k1, F(c##i##b, cp + 8, k1));                               \
    }
#define STORE_SET(i) STORE_ROW(i, COMBINE_SET)
#define STORE_ADD(i) STORE_ROW(i, COMBINE_ADD)
#define STORE_ANY(i) STORE_ROW(i, COMBINE_ANY)

/* Packed operands, zero padded: A in k-blocks of KB (a block holds MR rows
 * of KB consecutive k: row i at + i * KB), B at b[p * NR + j]. */
static void ukernel_packed(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    (void)rsa;
    (void)csa;
    (void)ldb;
    /* a local copy: the stores to C cannot alias it */
    const gemm_tile_ep e = *epp, *ep = &e;
    ROWS(DECL)
    prefetch_tile(c, ldc, m, ep);
    for (int p0 = 0; p0 < kc; p0 += KB) {
        int qn = kc - p0 < KB ? kc - p0 : KB;
        const float *next = a + MR * KB;
        for (int q = 0; q < qn; q++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            if (q < MR)
                _mm_prefetch((const char *)(next + q * KB), _MM_HINT_T0);
#define FMA(i)                                                                                     \
    {                                                                                              \
        __m256 av = _mm256_broadcast_ss(a + i * KB + q);                                           \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                                                \
    }
            ROWS(FMA)
#undef FMA
            b += NR;
        }
        a += MR * KB;
    }
    __m256i k0 = tail_mask_avx2(n), k1 = tail_mask_avx2(n - 8);
    switch (gemm_ep_form(ep)) {
    case GEMM_EP_SET:
        ROWS(STORE_SET)
        break;
    case GEMM_EP_ADD:
        ROWS(STORE_ADD)
        break;
    default:
        ROWS(STORE_ANY)
        break;
    }
    if (gemm_ep_has_finish(ep))
        finish_tile(c, ldc, m, n, ep);
}

static void ukernel_strided(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                            float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    ROWS(DECL)
    __m256i k0 = tail_mask_avx2(n), k1 = tail_mask_avx2(n - 8);
    const float *ar[MR];
    for (int i = 0; i < MR; i++)
        ar[i] = a + (i < m ? i : m - 1) * rsa;
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_maskload_ps(b, k0), b1 = _mm256_maskload_ps(b + 8, k1);
        ptrdiff_t ap = p * csa;
#define FMA(i)                                                                                     \
    {                                                                                              \
        __m256 av = _mm256_broadcast_ss(ar[i] + ap);                                               \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                                                \
    }
        ROWS(FMA)
#undef FMA
        b += ldb;
    }
    ROWS(STORE)
}

/* One row, up to WIDE_PANELS column panels in one pass: a one-row strided
 * tile has two FMA chains, a quarter of what the FMA units take at their
 * latency; here each k step feeds 2W independent chains. Panel q of B starts
 * at b + q * bstep (bstep = NR for a matrix, kc * NR for prepacked panels).
 * Each value is the same chain of fused multiply-adds over p as in
 * ukernel_strided, so the bits are the same. */
enum { WIDE_ROWS = 1, WIDE_PANELS = 4 };

static inline __attribute__((always_inline)) void wide_body(int kc, const float *a, ptrdiff_t csa, const float *b,
                                                            ptrdiff_t ldb, ptrdiff_t bstep, float *c, int n,
                                                            const gemm_tile_ep *ep, const int W)
{
    __m256 acc[2 * WIDE_PANELS];
    __m256i km[2 * WIDE_PANELS];
#pragma GCC unroll 8
    for (int v = 0; v < 2 * W; v++) {
        km[v] = tail_mask_avx2(n - 8 * v);
        acc[v] = _mm256_setzero_ps();
    }
    for (int p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        __m256 av = _mm256_broadcast_ss(a + p * csa);
#pragma GCC unroll 8
        for (int v = 0; v < 2 * W; v++)
        {
            /* only the last panel can be partial */
            const float *bq = bp + (v / 2) * bstep + (v % 2) * 8;
            __m256 bv = v < 2 * W - 2 ? _mm256_loadu_ps(bq) : _mm256_maskload_ps(bq, km[v]);
            acc[v] = _mm256_fmadd_ps(av, bv, acc[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < 2 * W; v++)
        if (n > 8 * v)
            store8(acc[v], c + 8 * v, 0, 8 * v, km[v], n - 8 * v < 8 ? n - 8 * v : 8, ep);
}

static void ukernel_wide(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                         ptrdiff_t bstep, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    (void)rsa;
    (void)ldc;
    (void)m;
    switch ((n + NR - 1) / NR) {
    case 1: wide_body(kc, a, csa, b, ldb, bstep, c, n, ep, 1); break;
    case 2: wide_body(kc, a, csa, b, ldb, bstep, c, n, ep, 2); break;
    case 3: wide_body(kc, a, csa, b, ldb, bstep, c, n, ep, 3); break;
    default: wide_body(kc, a, csa, b, ldb, bstep, c, n, ep, 4); break;
    }
}

/* A panel from a row-major A: every (row, k-block of 8) is one 32-byte copy. */
static void pack_a_n(const float *a, ptrdiff_t lda, int rows, int kc, float *dst)
{
    for (int p0 = 0; p0 < kc; p0 += KB) {
        __m256i km = tail_mask_avx2(kc - p0);
        float *d = dst + (ptrdiff_t)p0 * MR;
        for (int i = 0; i < MR; i++)
            _mm256_storeu_ps(d + i * KB, i < rows ? _mm256_maskload_ps(a + i * lda + p0, km) : _mm256_setzero_ps());
    }
}

/* Panels from a row-major B, row by row (reads stream through memory). */
static void pack_b_n(const float *b, ptrdiff_t ldb, int cols, int kc, float *dst)
{
    int full = cols / NR, rest = cols % NR;
    __m256i k0 = tail_mask_avx2(rest), k1 = tail_mask_avx2(rest - 8);
    ptrdiff_t ps = (ptrdiff_t)kc * NR;
    for (int p = 0; p < kc; p++) {
        const float *s = b + p * ldb;
        float *d = dst + (ptrdiff_t)p * NR;
        for (int q = 0; q < full; q++) {
            _mm256_storeu_ps(d + q * ps, _mm256_loadu_ps(s + q * NR));
            _mm256_storeu_ps(d + q * ps + 8, _mm256_loadu_ps(s + q * NR + 8));
        }
        if (rest) {
            _mm256_storeu_ps(d + full * ps, _mm256_maskload_ps(s + full * NR, k0));
            _mm256_storeu_ps(d + full * ps + 8, _mm256_maskload_ps(s + full * NR + 8, k1));
        }
    }
}

/* Convolution patches: each run (at most one k-block) is one masked copy. */
#define PACK_CONV_FN pack_a_conv
#define PACK_KB KB
#define COPY_RUN(d, s, n, step) _mm256_maskstore_ps((d), tail_mask_avx2(n), _mm256_maskload_ps((s), tail_mask_avx2(n)))
#define ZERO_RUN(d, n, step) _mm256_maskstore_ps((d), tail_mask_avx2(n), _mm256_setzero_ps())
#include "gemm_pack_conv.h"

/* A panel from a transposed A (element (i, p) at a[p * lda + i]): 8 k of up
 * to MR rows loaded as 8 vectors, transposed (8 x 8), stored as the k-block;
 * rows past `rows` and k past kc come out zero. */
static void pack_a_t(const float *a, ptrdiff_t lda, int rows, int kc, float *dst)
{
    __m256i km = tail_mask_avx2(rows);
    for (int p0 = 0; p0 < kc; p0 += KB) {
        int qn = kc - p0 < KB ? kc - p0 : KB;
        __m256 r[8], t[8], s[8];
        for (int q = 0; q < 8; q++)
            r[q] = q < qn ? _mm256_maskload_ps(a + (ptrdiff_t)(p0 + q) * lda, km) : _mm256_setzero_ps();
        for (int q = 0; q < 8; q += 2) {
            t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
            t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
        }
        /* s[4h + c], 128-bit lane l: column 4l + c of rows 4h .. 4h + 3 */
        for (int h = 0; h < 8; h += 4) {
            s[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
            s[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
            s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
            s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
        }
        float *d = dst + (ptrdiff_t)p0 * MR;
        /* column i: the low lanes of s[i], s[4 + i] (i < 4), else the high */
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(d + i * KB, _mm256_permute2f128_ps(s[i], s[4 + i], 0x20));
        for (int i = 4; i < MR; i++)
            _mm256_storeu_ps(d + i * KB, _mm256_permute2f128_ps(s[i - 4], s[i], 0x31));
    }
}

const gemm_kernel gemm_kernel_avx2_6x16 = {MFR_ISA_AVX2, MR, NR, KB, ukernel_packed, ukernel_strided, pack_a_n, pack_b_n, pack_a_conv, pack_a_t,
                                          ukernel_wide, WIDE_ROWS, WIDE_PANELS, NULL, NULL, 0};
