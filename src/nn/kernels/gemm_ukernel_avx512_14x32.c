/* AVX-512 GEMM micro-kernel: a 14 x 32 tile of C in 28 zmm accumulators.
 * Per k step: two 16-float loads of B, 14 broadcasts of A, 28 FMAs; that
 * leaves 4 of the 32 zmm registers for B, the broadcast and the epilogue.
 * Compiled with $(AVX512_CFLAGS); called only when mfr_isa_available says so.
 * Column tails use masked loads/stores; row tails skip stores (packed A is
 * zero padded) or clamp the row read (unpacked A). The epilogue is applied
 * in registers with the same operation order as gemm_ep_value. */
#include "config.h"
#include "gemm_pack.h"

#include "simd_act.h"

enum { MR = 14, NR = 32, KB = 16 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

/* The epilogue in two parts. combine16: this k-block's contribution,
 * v = alpha acc + beta C on the first block (C not read when beta = 0),
 * C + alpha acc on later ones. finish16 (last block only): + bias,
 * + residual, activation. The order is gemm_ep_value's. */
static inline __attribute__((always_inline)) __m512 combine16(__m512 acc, const float *c, __mmask16 k,
                                                               const gemm_tile_ep *ep)
{
    /* alpha = 1 (every call but a user's sgemm) multiplies by nothing: exact */
    __m512 v = ep->alpha == 1.0f ? acc : _mm512_mul_ps(_mm512_set1_ps(ep->alpha), acc);
    if (ep->first) {
        if (ep->beta != 0.0f)
            v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(ep->beta), _mm512_maskz_loadu_ps(k, c)));
    } else {
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, c), v);
    }
    return v;
}

static inline __attribute__((always_inline)) void finish16(__m512 v, float *c, int i, int j, __mmask16 k,
                                                            const gemm_tile_ep *ep)
{
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
    _mm512_mask_storeu_ps(c, k, v);
    if (act_is_scalar_only(ep->act))
        for (int q = 0; q < 16; q++)
            if (k & (1u << q))
                c[q] = mfr_act_scalar(c[q], ep->act, ep->act_param, 0.0f);
}

/* Both parts for 16 columns (mask k) of row i, column offset j. */
static inline __attribute__((always_inline)) void store16(__m512 acc, float *c, int i, int j, __mmask16 k,
                                                           const gemm_tile_ep *ep)
{
    __m512 v = combine16(acc, c, k, ep);
    if (ep->last)
        finish16(v, c, i, j, k, ep);
    else
        _mm512_mask_storeu_ps(c, k, v);
}

/* The second part for a whole m x n tile whose first part is stored in C
 * already: a loop over rows rather than 28 unrolled copies, so that the
 * packed kernels' unrolled stores stay free of these tests. Reading back
 * the stored floats is exact, so the bits are those of store16. */
static __attribute__((noinline)) void finish_tile(float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    const gemm_tile_ep e = *epp;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = tail_mask_avx512(n - j);
            float *cp = c + (ptrdiff_t)i * ldc + j;
            finish16(_mm512_maskz_loadu_ps(k, cp), cp, i, j, k, &e);
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

#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
/* One row of a k step: A value x broadcast against the two B vectors. */
#define FMA_ROW(i, x)                                                                              \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(x);                                                             \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                                                \
    }

/* The first part of the epilogue of the 14 x 32 accumulators, unrolled.
 * The two usual forms (alpha = 1; the first block with beta = 0, or a later
 * block) are written out without a test per vector; the rest go through
 * combine16. finish_tile follows when gemm_ep_has_finish. */
#define COMBINE_SET(v, p, k) (v)
#define COMBINE_ADD(v, p, k) _mm512_add_ps(_mm512_maskz_loadu_ps((k), (p)), (v))
#define COMBINE_ANY(v, p, k) combine16((v), (p), (k), ep)
#define STORE_ROW(i, F)                                                                            \
    if (i < m) {                                                                                   \
        float *cp = c + (ptrdiff_t)i * ldc;                                                        \
        _mm512_mask_storeu_ps(cp, k0, F(c##i##a, cp, k0));                                         \
        if (k1)                                                                                    \
            _mm512_mask_storeu_ps(cp + 16, k1, F(c##i##b, cp + 16, k1));                           \
    }
#define STORE_SET(i) STORE_ROW(i, COMBINE_SET)
#define STORE_ADD(i) STORE_ROW(i, COMBINE_ADD)
#define STORE_ANY(i) STORE_ROW(i, COMBINE_ANY)
/* The whole epilogue of a tile of `rows` rows; X_SET, X_ADD, X_ANY store
 * one accumulator row in each form. */
#define EPILOGUE(X, rows)                                                                          \
    switch (gemm_ep_form(ep)) {                                                                    \
    case GEMM_EP_SET:                                                                              \
        ROWS(X##_SET)                                                                              \
        break;                                                                                     \
    case GEMM_EP_ADD:                                                                              \
        ROWS(X##_ADD)                                                                              \
        break;                                                                                     \
    default:                                                                                       \
        ROWS(X##_ANY)                                                                              \
        break;                                                                                     \
    }                                                                                              \
    if (gemm_ep_has_finish(ep))                                                                    \
        finish_tile(c, ldc, (rows), n, ep);

/* Packed operands, zero padded: A in k-blocks of KB (a block holds MR rows
 * of KB consecutive k: row i at + i * KB), B at b[p * NR + j]. */
static void ukernel_packed(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    (void)rsa;
    (void)csa;
    (void)ldb;
    /* a local copy: the stores to C cannot alias it, so its tests are
     * decided once per tile instead of reloaded after every store */
    const gemm_tile_ep e = *epp, *ep = &e;
    ROWS(DECL)
    prefetch_tile(c, ldc, m, ep);
    for (int p0 = 0; p0 < kc; p0 += KB) {
        int qn = kc - p0 < KB ? kc - p0 : KB;
        const float *next = a + MR * KB; /* the next k-block: prefetched a line per step */
        for (int q = 0; q < qn; q++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            if (q < MR)
                _mm_prefetch((const char *)(next + q * KB), _MM_HINT_T0);
#define FMA(i) FMA_ROW(i, a[i * KB + q])
            ROWS(FMA)
#undef FMA
            b += NR;
        }
        a += MR * KB;
    }
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
    EPILOGUE(STORE, m)
}

/* A read in place from a convolution's zero-padded input (no packing):
 * the k-block is nseg runs of consecutive k; row i of run s starts at
 * a + off[s] + i * rsa (the channels of one tap of output pixel i) and
 * holds len[s] values. B is a packed panel, b[p * NR + j], p counted
 * across the runs. Each value is the same chain of FMAs over p as in
 * ukernel_packed on the same A packed, so the bits are the same. All MR
 * rows are read: the driver uses it only where the output width is a
 * multiple of MR, so every tile is full (m = MR). */
static void ukernel_direct(int nseg, const ptrdiff_t *off, const int *len, const float *a, ptrdiff_t rsa,
                           const float *b, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    const gemm_tile_ep e = *epp, *ep = &e; /* as in ukernel_packed */
    ROWS(DECL)
    prefetch_tile(c, ldc, m, ep);
    for (int s = 0; s < nseg; s++) {
        const float *as = a + off[s];
        for (int q = 0; q < len[s]; q++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define FMA(i) FMA_ROW(i, as[i * rsa + q])
            ROWS(FMA)
#undef FMA
            b += NR;
        }
    }
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
    EPILOGUE(STORE, m)
}

/* Operands in place: a[i * rsa + p * csa] for i < m, b[p * ldb + j] for
 * j < n. Compiled for each row count R = m (1..10) so that a short GEMM
 * (m = 1: a fully connected layer on one face) does only the rows it has. */
static inline __attribute__((always_inline)) void strided_body(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                                                               const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                                                               int n, const gemm_tile_ep *ep, const int R)
{
    __m512 acc[MR][2];
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
#pragma GCC unroll 14
    for (int i = 0; i < R; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(k0, b), b1 = _mm512_maskz_loadu_ps(k1, b + 16);
        const float *ap = a + p * csa;
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(ap[i * rsa]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        b += ldb;
    }
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        store16(acc[i][0], c + (ptrdiff_t)i * ldc, i, 0, k0, ep);
        if (k1)
            store16(acc[i][1], c + (ptrdiff_t)i * ldc + 16, i, 16, k1, ep);
    }
}

/* m >= 11 rows, operands in place, written like ukernel_packed with one
 * named variable per accumulator: GCC kept the array form of strided_body
 * for R >= 11 partly on the stack (28 accumulators, two B vectors, the
 * broadcast and the row addresses), and a 64^3 product ran at a third of
 * the FMA peak. Rows past m repeat row m - 1 (read and computed, not
 * stored): 13 rows cost as much as 14, less than the spilling form. Same
 * chain of FMAs over p and the same epilogue order as strided_body, so the
 * bits are the same. */
static void strided_full(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                         float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    const gemm_tile_ep e = *epp, *ep = &e; /* as in ukernel_packed */
    __mmask16 k0 = tail_mask_avx512(n), k1 = tail_mask_avx512(n - 16);
    ROWS(DECL)
#define ROW_OFF(i) const ptrdiff_t ro##i = (i < m ? i : m - 1) * rsa;
    ROWS(ROW_OFF)
#undef ROW_OFF
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(k0, b), b1 = _mm512_maskz_loadu_ps(k1, b + 16);
#define FMA(i) FMA_ROW(i, a[ro##i])
        ROWS(FMA)
#undef FMA
        a += csa;
        b += ldb;
    }
    EPILOGUE(STORE, m)
}

static void ukernel_strided(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                            float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    if (m >= 11) {
        strided_full(kc, a, rsa, csa, b, ldb, c, ldc, m < MR ? m : MR, n, ep);
        return;
    }
    switch (m) {
#define CASE(r)                                                                                    \
    case r:                                                                                        \
        strided_body(kc, a, rsa, csa, b, ldb, c, ldc, n, ep, r);                                   \
        break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7)
        CASE(8) CASE(9) CASE(10)
#undef CASE
    default: /* no rows */
        break;
    }
}

/* Few rows (m <= WIDE_ROWS), up to WIDE_PANELS column panels in one pass:
 * one row of a plain strided tile has only two FMA chains, a quarter of
 * what the FMA units take at their latency; here each k step feeds R x 2W
 * independent chains. Panel q of B starts at b + q * bstep (bstep = NR for
 * a matrix, kc * NR for prepacked panels). Each value is the same chain of
 * fused multiply-adds over p as in strided_body, so the bits are the same. */
enum { WIDE_ROWS = 3, WIDE_PANELS = 4 };

static inline __attribute__((always_inline)) void wide_body(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                                                            const float *b, ptrdiff_t ldb, ptrdiff_t bstep, float *c,
                                                            ptrdiff_t ldc, int n, const gemm_tile_ep *ep, const int R,
                                                            const int W)
{
    __m512 acc[WIDE_ROWS][2 * WIDE_PANELS];
    __mmask16 km[2 * WIDE_PANELS];
#pragma GCC unroll 8
    for (int v = 0; v < 2 * W; v++)
        km[v] = tail_mask_avx512(n - 16 * v);
#pragma GCC unroll 3
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * W; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        /* R broadcasts, then each B vector loaded once and used R times:
         * 3 x 8 accumulators + 3 broadcasts + 1 B vector fit in 32 zmm. */
        __m512 av[WIDE_ROWS];
        const float *ap = a + p * csa, *bp = b + p * ldb;
#pragma GCC unroll 3
        for (int i = 0; i < R; i++)
            av[i] = _mm512_set1_ps(ap[i * rsa]);
#pragma GCC unroll 8
        for (int v = 0; v < 2 * W; v++) {
            /* only the last panel can be partial */
            const float *bq = bp + (v / 2) * bstep + (v % 2) * 16;
            __m512 bv = v < 2 * W - 2 ? _mm512_loadu_ps(bq) : _mm512_maskz_loadu_ps(km[v], bq);
#pragma GCC unroll 3
            for (int i = 0; i < R; i++)
                acc[i][v] = _mm512_fmadd_ps(av[i], bv, acc[i][v]);
        }
    }
#pragma GCC unroll 3
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * W; v++)
            if (km[v])
                store16(acc[i][v], c + (ptrdiff_t)i * ldc + 16 * v, i, 16 * v, km[v], ep);
}

static void ukernel_wide(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                         ptrdiff_t bstep, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep)
{
    int w = (n + NR - 1) / NR;
    switch (m * 8 + w) {
#define CASE(r, pw)                                                                                \
    case r * 8 + pw:                                                                               \
        wide_body(kc, a, rsa, csa, b, ldb, bstep, c, ldc, n, ep, r, pw);                            \
        break;
        CASE(1, 1) CASE(1, 2) CASE(1, 3) CASE(1, 4)
        CASE(2, 1) CASE(2, 2) CASE(2, 3) CASE(2, 4)
        CASE(3, 1) CASE(3, 2) CASE(3, 3)
#undef CASE
    default:
        wide_body(kc, a, rsa, csa, b, ldb, bstep, c, ldc, n, ep, 3, 4);
        break;
    }
}

/* Packed operands, N <= 16: two consecutive MR-row panels of A (the second
 * at a + pstride) against the first 16 columns of a B panel. A product with
 * N <= 16 (a stem of 16 output channels as a GEMM) would leave half of
 * every 14 x 32 tile idle; here 28 accumulators of 16 columns are all in
 * use. Each value is the same chain of FMAs as in ukernel_packed, so the
 * bits do not change. Both panels must be full (m = 2 MR). */
static void ukernel_packed_narrow(int kc, const float *a, ptrdiff_t pstride, ptrdiff_t csa, const float *b,
                                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *epp)
{
    (void)csa;
    (void)ldb;
    (void)m;
    const gemm_tile_ep e = *epp, *ep = &e; /* as in ukernel_packed */
    const float *a2 = a + pstride;
    ROWS(DECL)
    __mmask16 k0 = tail_mask_avx512(n);
    for (int p0 = 0; p0 < kc; p0 += KB) {
        int qn = kc - p0 < KB ? kc - p0 : KB;
        for (int q = 0; q < qn; q++) {
            __m512 b0 = _mm512_loadu_ps(b);
            /* rows 0..13 in c<i>a, rows 14..27 in c<i>b */
#define FMA(i)                                                                                     \
    c##i##a = _mm512_fmadd_ps(_mm512_set1_ps(a[i * KB + q]), b0, c##i##a);                         \
    c##i##b = _mm512_fmadd_ps(_mm512_set1_ps(a2[i * KB + q]), b0, c##i##b);
            ROWS(FMA)
#undef FMA
            b += NR;
        }
        a += MR * KB;
        a2 += MR * KB;
    }
    /* accumulator row i holds tile rows i and i + MR */
#define NARROW_ROW(i, F)                                                                           \
    {                                                                                              \
        float *p0 = c + (ptrdiff_t)i * ldc, *p1 = c + (ptrdiff_t)(i + MR) * ldc;                   \
        _mm512_mask_storeu_ps(p0, k0, F(c##i##a, p0, k0));                                         \
        _mm512_mask_storeu_ps(p1, k0, F(c##i##b, p1, k0));                                         \
    }
#define NARROW_SET(i) NARROW_ROW(i, COMBINE_SET)
#define NARROW_ADD(i) NARROW_ROW(i, COMBINE_ADD)
#define NARROW_ANY(i) NARROW_ROW(i, COMBINE_ANY)
    EPILOGUE(NARROW, 2 * MR)
}

/* A panel from a row-major A: with KB = 16 every (row, k-block) is one
 * 64-byte copy; the tail block is zero filled by the masked load. */
static void pack_a_n(const float *a, ptrdiff_t lda, int rows, int kc, float *dst)
{
    for (int p0 = 0; p0 < kc; p0 += KB) {
        __mmask16 km = tail_mask_avx512(kc - p0);
        float *d = dst + (ptrdiff_t)p0 * MR;
        for (int i = 0; i < MR; i++)
            _mm512_storeu_ps(d + i * KB, i < rows ? _mm512_maskz_loadu_ps(km, a + i * lda + p0) : _mm512_setzero_ps());
    }
}

/* Panels from a row-major B, row by row: each k-row of B is read once,
 * front to back, and scattered 32 floats to each panel. */
static void pack_b_n(const float *b, ptrdiff_t ldb, int cols, int kc, float *dst)
{
    int full = cols / NR, rest = cols % NR;
    __mmask16 k0 = tail_mask_avx512(rest), k1 = tail_mask_avx512(rest - 16);
    ptrdiff_t ps = (ptrdiff_t)kc * NR;
    for (int p = 0; p < kc; p++) {
        const float *s = b + p * ldb;
        float *d = dst + (ptrdiff_t)p * NR;
        for (int q = 0; q < full; q++) {
            _mm512_storeu_ps(d + q * ps, _mm512_loadu_ps(s + q * NR));
            _mm512_storeu_ps(d + q * ps + 16, _mm512_loadu_ps(s + q * NR + 16));
        }
        if (rest) {
            _mm512_storeu_ps(d + full * ps, _mm512_maskz_loadu_ps(k0, s + full * NR));
            _mm512_storeu_ps(d + full * ps + 16, _mm512_maskz_loadu_ps(k1, s + full * NR + 16));
        }
    }
}

/* Convolution patches: each run (at most one k-block) is one masked copy. */
#define PACK_CONV_FN pack_a_conv
#define PACK_KB KB
#define COPY_RUN(d, s, n, step) _mm512_mask_storeu_ps((d), tail_mask_avx512(n), _mm512_maskz_loadu_ps(tail_mask_avx512(n), (s)))
#define ZERO_RUN(d, n, step) _mm512_mask_storeu_ps((d), tail_mask_avx512(n), _mm512_setzero_ps())
#include "gemm_pack_conv.h"

/* Transposes the 16 x 16 block r (r[p] lane i) in place (r[i] lane p):
 * 32-bit, then 64-bit interleaves, then a 4 x 4 transpose of 128-bit lanes. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + c], 128-bit lane l: column 4l + c of rows 4g .. 4g + 3 */
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 2]);
        __m512d e = _mm512_castps_pd(t[i + 1]), f = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(e, f));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(e, f));
    }
    for (int c = 0; c < 4; c++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        t[8 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* A panel from a transposed A (row i of the panel is column i of a[p * lda
 * + i]): 16 k of up to MR rows loaded as 16 vectors, transposed, and stored
 * as the k-block; rows past `rows` and k past kc come out zero. */
static void pack_a_t(const float *a, ptrdiff_t lda, int rows, int kc, float *dst)
{
    __mmask16 km = tail_mask_avx512(rows);
    for (int p0 = 0; p0 < kc; p0 += KB) {
        int qn = kc - p0 < KB ? kc - p0 : KB;
        __m512 r[16];
        for (int q = 0; q < 16; q++)
            r[q] = q < qn ? _mm512_maskz_loadu_ps(km, a + (ptrdiff_t)(p0 + q) * lda) : _mm512_setzero_ps();
        transpose16(r);
        float *d = dst + (ptrdiff_t)p0 * MR;
        for (int i = 0; i < MR; i++)
            _mm512_storeu_ps(d + i * KB, r[i]);
    }
}

const gemm_kernel gemm_kernel_avx512_14x32 = {MFR_ISA_AVX512, MR, NR, KB, ukernel_packed, ukernel_strided, pack_a_n, pack_b_n, pack_a_conv, pack_a_t,
                                             ukernel_wide, WIDE_ROWS, WIDE_PANELS, ukernel_packed_narrow, ukernel_direct, 1};
