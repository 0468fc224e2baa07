/* The GEMM driver: BLIS-style blocking and packing around a register-tiled
 * micro-kernel chosen at run time.
 *
 *   for jc in N by NC:               B panel  KC x NC  (L3)
 *     for pc in K by KC:             pack B once, shared by all threads
 *       parallel for (ic, jr-chunk): pack A block MC x KC (L2), per thread
 *         for jr in chunk by NR:     B micro-panel KC x NR (L1)
 *           for ir in MC by MR:      micro-kernel on an MR x NR tile of C
 *
 * Threads split only M and N. Each element of C is the same sequence of
 * k-blocks of the same micro-kernel whatever the split, so the result is
 * bit-identical at any thread count. docs/kernels.md has the details.
 *
 * The exception is a small C with a very long K (a weight gradient: dW =
 * dU^T X summed over every pixel of a batch), where M and N give the threads
 * nothing to split and each of the many k-blocks would cost a barrier: K is
 * cut into chunks whose size depends on the shape only, each chunk's product
 * is computed by one thread into its own partial C, and the partials are
 * added in chunk order (gemm_ksplit). Same bits at any thread count again. */
#include "config.h"
#include "gemm_internal.h"
#include "gemm_pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

struct mfr_packed_b {
    mfr_isa isa;     /* the micro-kernel the panels were packed for */
    int k, n, nr;
    float *data;     /* ceil(n / nr) panels of k x nr */
};

/* Problems up to this many multiply-adds skip packing (transb 'N' only);
 * so do products with fewer than MR rows, and, with a kernel whose strided
 * form keeps pace with the packed one (AVX-512), any product whose B has at
 * most KC rows (one k-block: the same bits as the packed path) and fits in
 * a quarter of L2. There each tile reads its row panel of A (14 x k, in L1
 * across the row of tiles) and B from L2 in place: measured 1.03 - 1.6x
 * faster than packing at one and two threads, from 64^3 to 256^3 and on
 * the 1x1 layers of MobileFaceNet and the detector (docs/kernels.md). With
 * AVX2 the strided 6 x 16 tile was slower than the packed one above 64^3.
 * N <= NARROW_N stays packed: the narrow tiles fill all 28 accumulators
 * there, where a strided 14 x 32 tile would use half of them. */
#define NARROW_N 16
#define GEMM_SMALL_MNK (64 * 64 * 64)
/* A product of a few rows runs at tens of GFLOP/s in the wide tiles, so
 * below a million multiply-adds (a 512 x 128 fully connected layer is
 * 65,536) a parallel region costs more than it saves. */
#define GEMM_WIDE_PARALLEL_MNK (1 << 20)

/* gemm_ksplit: C of at most this many elements, K at least this many
 * chunks of (at least) GEMM_KSPLIT_CHUNK, partials within a budget. */
#define GEMM_KSPLIT_MAX_MN (256 * 256)
#define GEMM_KSPLIT_CHUNK 2048
#define GEMM_KSPLIT_MIN_CHUNKS 8
#define GEMM_KSPLIT_PARTIAL_FLOATS (4 << 20)

/* The kernel of exactly that ISA; scalar when it is not compiled in or does
 * not run here (mfr_isa_best() only ever asks for one that does). */
const gemm_kernel *gemm_kernel_for(mfr_isa isa)
{
#ifdef MFR_HAVE_AVX512
    if (isa == MFR_ISA_AVX512 && mfr_isa_available(MFR_ISA_AVX512))
        return &gemm_kernel_avx512_14x32;
#endif
#ifdef MFR_HAVE_AVX2
    if (isa == MFR_ISA_AVX2 && mfr_isa_available(MFR_ISA_AVX2))
        return &gemm_kernel_avx2_6x16;
#endif
    (void)isa;
    return &gemm_kernel_scalar_4x8;
}

static int clampi(long v, long lo, long hi)
{
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

/* Block sizes from the caches (docs/kernels.md):
 *  - KC: each k-block costs a pass over C (its tiles loaded and stored
 *    again) and a packing of A and B, so fewer, longer blocks are better,
 *    up to what the caches hold: the KC x NR micro-panel of B is reused by
 *    every MR-row micro-panel of A in the inner loop and should stay near
 *    L1; KC = 2 L1d / (NR * 4), at most 512. The panel then streams from L2
 *    beside the A micro-panels, but measured on a 48 KiB L1 (session 8),
 *    KC 512 beat 384 (the panel exactly in L1) by 1 - 4 % on 1024 - 2048
 *    squares, 0 - 2 % on the layer shapes, and 768 - 1024 did no better
 *    (cutting K into blocks of equal size did not help either);
 *  - MC: the MC x KC block of A is re-read for every micro-panel of B, so it
 *    should live in L2; half of L2 leaves room for the B panel streaming
 *    through and for C;
 *  - NC: the KC x NC panel of B lives in L3 (a share of it; L3 is shared).
 * KC changes the summation order, so it depends only on the machine, never
 * on the thread count; MC and NC only change which thread does what. */
static mfr_gemm_blocking blocking_for(const gemm_kernel *kr)
{
    const mfr_cpu_info *ci = mfr_cpu();
    long l1 = ci->l1d > 0 ? ci->l1d : 32 << 10;
    long l2 = ci->l2 > 0 ? ci->l2 : 256 << 10;
    long l3 = ci->l3 > 0 ? ci->l3 : 8 << 20;
    mfr_gemm_blocking bl;
    bl.isa = kr->isa;
    bl.mr = kr->mr;
    bl.nr = kr->nr;
    bl.kc = clampi(2 * l1 / ((long)kr->nr * 4) / 16 * 16, 128, 512);
    bl.mc = clampi(l2 / 2 / ((long)bl.kc * 4) / kr->mr * kr->mr, kr->mr, 1024 / kr->mr * kr->mr);
    bl.nc = clampi(l3 / 8 / ((long)bl.kc * 4) / kr->nr * kr->nr, kr->nr, 4096 / kr->nr * kr->nr);
#ifdef MFR_GEMM_TUNING
    if (getenv("KC")) bl.kc = atoi(getenv("KC"));
    if (getenv("MC")) bl.mc = atoi(getenv("MC")) / kr->mr * kr->mr;
    if (getenv("NC")) bl.nc = atoi(getenv("NC")) / kr->nr * kr->nr;
#endif
    return bl;
}

static long l2_bytes(void)
{
    const mfr_cpu_info *ci = mfr_cpu();
    return ci->l2 > 0 ? ci->l2 : 256 << 10;
}

mfr_gemm_blocking mfr_gemm_get_blocking(void)
{
    return blocking_for(gemm_kernel_for(mfr_isa_best()));
}

/* A per-calling-thread workspace, kept between calls so that repeated small
 * products (network layers) do not pay for fresh pages every time. */
static _Thread_local float *ws_buf;
static _Thread_local size_t ws_cap;

float *gemm_scratch(float **buf, size_t *cap, size_t floats)
{
    if (floats > *cap) {
        mfr_free(*buf);
        *cap = 0;
        *buf = mfr_alloc(floats * sizeof(float));
        if (!*buf)
            return NULL;
        *cap = floats;
    }
    return *buf;
}

static float *workspace(size_t floats)
{
    return gemm_scratch(&ws_buf, &ws_cap, floats);
}

static float a_value(const gemm_a_src *src, int i, int p)
{
    if (!src->conv)
        return src->trans ? src->a[(ptrdiff_t)p * src->lda + i] : src->a[(ptrdiff_t)i * src->lda + p];
    const gemm_conv_src *cs = src->conv;
    int ohw = cs->oh * cs->ow, nimg = i / ohw, rem = i % ohw;
    int oy = rem / cs->ow, ox = rem % cs->ow;
    int tap = p / cs->cg, ci = p % cs->cg;
    int iy = oy * cs->sh - cs->pt + (tap / cs->kw) * cs->dh;
    int ix = ox * cs->sw - cs->pl + (tap % cs->kw) * cs->dw;
    if (iy < 0 || iy >= cs->h || ix < 0 || ix >= cs->w)
        return 0.0f;
    return cs->in[(((ptrdiff_t)nimg * cs->h + iy) * cs->w + ix) * cs->c_in + cs->c0 + ci];
}

static inline void tile_ep(gemm_tile_ep *t, const mfr_epilogue *ep, float alpha, float beta, int i, int j)
{
    memset(t, 0, sizeof *t);
    t->alpha = alpha;
    t->beta = beta;
    if (!ep)
        return;
    t->per_row = ep->bias_per_row;
    int ch = ep->bias_per_row ? i : j;
    t->bias = ep->bias ? ep->bias + ch : NULL;
    t->prelu = ep->prelu ? ep->prelu + ch : NULL;
    t->res = ep->residual ? ep->residual + (ptrdiff_t)i * ep->ldr + j : NULL;
    t->ldr = ep->ldr;
    t->act = ep->act;
    t->act_param = ep->act_param;
}

/* Without workspace (allocation failed) or without k: one value at a time. */
static void gemm_plain(int m, int n, int k, float alpha, const gemm_a_src *a, int transb, const float *b,
                       ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc,
                       const mfr_epilogue *ep)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < k; p++) {
                float bv;
                if (pb)
                    bv = pb->data[(ptrdiff_t)(j / pb->nr) * pb->k * pb->nr + (ptrdiff_t)p * pb->nr + j % pb->nr];
                else
                    bv = transb ? b[(ptrdiff_t)j * ldb + p] : b[(ptrdiff_t)p * ldb + j];
                s += a_value(a, i, p) * bv;
            }
            gemm_tile_ep t;
            tile_ep(&t, ep, alpha, beta, i, j);
            t.first = t.last = 1;
            float *cp = c + (ptrdiff_t)i * ldc + j;
            *cp = gemm_ep_value(s, cp, &t, 0, 0);
        }
}

/* Small problems, and products with fewer rows than MR (a fully connected
 * layer on one face): the strided micro-kernel reads A and B in place (B may
 * be prepacked: its panels are then read with ldb = NR). Without packing, B
 * is read exactly once when m <= MR. Tiles are independent, so they are
 * split over threads when there is enough work; each tile is computed the
 * same way whatever the split. */
static void small_tile(const gemm_kernel *kr, int t, int tn, int m, int n, int k, float alpha,
                       const gemm_a_src *a, const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta,
                       float *c, ptrdiff_t ldc, const mfr_epilogue *ep)
{
    ptrdiff_t rsa = a->trans ? 1 : a->lda, csa = a->trans ? a->lda : 1;
    int i = (t / tn) * kr->mr, j = (t % tn) * kr->nr;
    gemm_tile_ep te;
    tile_ep(&te, ep, alpha, beta, i, j);
    te.first = te.last = 1;
    const float *bp = pb ? pb->data + (ptrdiff_t)(j / kr->nr) * pb->k * kr->nr : b + j;
    kr->strided(k, a->a + i * rsa, rsa, csa, bp, pb ? kr->nr : ldb, c + (ptrdiff_t)i * ldc + j, ldc,
                m - i < kr->mr ? m - i : kr->mr, n - j < kr->nr ? n - j : kr->nr, &te);
}

/* Tile t of a product with m <= wide_rows: one wide pass over
 * wide_panels panels of B (in place or prepacked). */
static void wide_tile(const gemm_kernel *kr, int t, int m, int n, int k, float alpha, const gemm_a_src *a,
                      const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc,
                      const mfr_epilogue *ep)
{
    ptrdiff_t rsa = a->trans ? 1 : a->lda, csa = a->trans ? a->lda : 1;
    int j = t * kr->wide_panels * kr->nr;
    gemm_tile_ep te;
    tile_ep(&te, ep, alpha, beta, 0, j);
    te.first = te.last = 1;
    int cols = n - j < kr->wide_panels * kr->nr ? n - j : kr->wide_panels * kr->nr;
    if (pb)
        kr->wide(k, a->a, rsa, csa, pb->data + (ptrdiff_t)(j / kr->nr) * pb->k * kr->nr, kr->nr,
                 (ptrdiff_t)pb->k * kr->nr, c + j, ldc, m, cols, &te);
    else
        kr->wide(k, a->a, rsa, csa, b + j, ldb, kr->nr, c + j, ldc, m, cols, &te);
}

static void any_small_tile(const gemm_kernel *kr, int wide, int t, int tn, int m, int n, int k, float alpha,
                           const gemm_a_src *a, const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta,
                           float *c, ptrdiff_t ldc, const mfr_epilogue *ep)
{
    if (wide)
        wide_tile(kr, t, m, n, k, alpha, a, b, ldb, pb, beta, c, ldc, ep);
    else
        small_tile(kr, t, tn, m, n, k, alpha, a, b, ldb, pb, beta, c, ldc, ep);
}

static void gemm_small(const gemm_kernel *kr, int m, int n, int k, float alpha, const gemm_a_src *a,
                       const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc,
                       const mfr_epilogue *ep)
{
    const int wide = kr->wide && m <= kr->wide_rows;
    int tn = (n + kr->nr - 1) / kr->nr;
    int tiles = wide ? (n + kr->wide_panels * kr->nr - 1) / (kr->wide_panels * kr->nr)
                     : (m + kr->mr - 1) / kr->mr * tn;
    int64_t work = (int64_t)m * n * k;
    int parallel = work > (wide ? GEMM_WIDE_PARALLEL_MNK : GEMM_SMALL_MNK) && tiles > 1 && mfr_threads() > 1;
    if (!parallel) {
        /* No parallel region at all: a one-row product takes microseconds. */
        for (int t = 0; t < tiles; t++)
            any_small_tile(kr, wide, t, tn, m, n, k, alpha, a, b, ldb, pb, beta, c, ldc, ep);
        return;
    }
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (int t = 0; t < tiles; t++)
        any_small_tile(kr, wide, t, tn, m, n, k, alpha, a, b, ldb, pb, beta, c, ldc, ep);
}

/* Thread tid of nt packs its contiguous share of the NR-column panels of
 * B[pc:pc+kc, jc:jc+nc] into bbuf (panel q at bbuf + q * NR * kc). */
static void gemm_pack_b_share(const gemm_kernel *kr, int transb, const float *b, ptrdiff_t ldb, int pc, int kc,
                              int jc, int nc, float *bbuf, int tid, int nt)
{
    const int NR = kr->nr;
    int panels = (nc + NR - 1) / NR;
    int q0 = (int)((int64_t)panels * tid / nt), q1 = (int)((int64_t)panels * (tid + 1) / nt);
    int j0 = q0 * NR, j1 = q1 * NR < nc ? q1 * NR : nc;
    if (j1 > j0)
        gemm_pack_b(kr, transb, b, ldb, pc, kc, jc + j0, j1 - j0, bbuf + (ptrdiff_t)j0 * kc);
}

static void gemm_drive_nt(mfr_isa isa, int m, int n, int k, float alpha, const gemm_a_src *a, int transb,
                          const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc,
                          const mfr_epilogue *ep, int nthreads, int own_ws);

/* The chunk of K for gemm_ksplit (a function of the shape only), or 0 when
 * the product is not of that kind. */
static int ksplit_chunk(int m, int n, int k, const gemm_a_src *a, const mfr_packed_b *pb, const mfr_epilogue *ep)
{
    int64_t mn = (int64_t)m * n, chunk = GEMM_KSPLIT_CHUNK;
    if (a->conv || pb || (ep && (ep->bias || ep->residual || ep->act != MFR_ACT_NONE)) || mn > GEMM_KSPLIT_MAX_MN)
        return 0;
    if ((int64_t)k < chunk * GEMM_KSPLIT_MIN_CHUNKS)
        return 0;
    /* partials: ceil(k / chunk) x m x n floats within the budget */
    while (((int64_t)k + chunk - 1) / chunk * mn > GEMM_KSPLIT_PARTIAL_FLOATS)
        chunk *= 2;
    return (int64_t)k < chunk * GEMM_KSPLIT_MIN_CHUNKS ? 0 : (int)chunk;
}

/* C = alpha sum_q (A_q B_q) + beta C over the K chunks q, partials added in
 * chunk order. Returns 0 (nothing done) without memory for the partials. */
static int gemm_ksplit(mfr_isa isa, int m, int n, int k, int chunk, float alpha, const gemm_a_src *a, int transb,
                       const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
    int nch = (k + chunk - 1) / chunk;
    size_t mn = (size_t)m * (size_t)n;
    float *part = mfr_alloc((size_t)nch * mn * sizeof(float));
    if (!part) {
        mfr_clear_error();
        return 0;
    }
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (int q = 0; q < nch; q++) {
        int k0 = q * chunk, kq = k - k0 < chunk ? k - k0 : chunk;
        gemm_a_src aq = *a;
        aq.a = a->trans ? a->a + (ptrdiff_t)k0 * a->lda : a->a + k0;
        const float *bq = transb ? b + k0 : b + (ptrdiff_t)k0 * ldb;
        /* own_ws: the per-thread workspace is for the calling thread; an
         * OpenMP worker's would outlive the call (and show as a leak) */
        gemm_drive_nt(isa, m, n, kq, 1.0f, &aq, transb, bq, ldb, NULL, 0.0f, part + (size_t)q * mn, n, NULL, 1, 1);
    }
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            size_t o = (size_t)i * (size_t)n + (size_t)j;
            float s = part[o];
            for (int q = 1; q < nch; q++)
                s += part[(size_t)q * mn + o];
            float *cp = c + (ptrdiff_t)i * ldc + j;
            *cp = beta == 0.0f ? alpha * s : alpha * s + beta * *cp;
        }
    mfr_free(part);
    return 1;
}

void gemm_drive(mfr_isa isa, int m, int n, int k, float alpha, const gemm_a_src *a, int transb, const float *b,
                ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc, const mfr_epilogue *ep)
{
    int chunk;
    if (m <= 0 || n <= 0)
        return;
    if (k > 0 && (chunk = ksplit_chunk(m, n, k, a, pb, ep)) > 0 &&
        gemm_ksplit(isa, m, n, k, chunk, alpha, a, transb, b, ldb, beta, c, ldc))
        return;
    gemm_drive_nt(isa, m, n, k, alpha, a, transb, b, ldb, pb, beta, c, ldc, ep, mfr_threads(), 0);
}

/* Convolution tiles that read A in place (gemm_conv_src.padded): the runs
 * of one k-block, tap-major and channel-minor like the packed columns. */
#define GEMM_DIRECT_MAX_RUNS 64
typedef struct gemm_direct_runs {
    const gemm_conv_src *cs;
    int count;
    ptrdiff_t off[GEMM_DIRECT_MAX_RUNS];
    int len[GEMM_DIRECT_MAX_RUNS];
} gemm_direct_runs;

int gemm_conv_direct_ok(mfr_isa isa, const gemm_conv_src *cs, int k)
{
    const gemm_kernel *kr = gemm_kernel_for(isa);
    int kc = blocking_for(kr).kc;
    /* every tile is a piece of one output row (the row stride of A is then
     * one input pixel), and a k-block has few, long runs */
    return kr->direct && cs->ow % kr->mr == 0 && cs->cg >= 16 &&
           (k < kc ? k : kc) / cs->cg + 2 <= GEMM_DIRECT_MAX_RUNS;
}

static void direct_runs(gemm_direct_runs *dr, const gemm_conv_src *cs, int p0, int kc)
{
    dr->cs = cs;
    dr->count = 0;
    for (int p = p0; p < p0 + kc;) {
        int tap = p / cs->cg, ci = p % cs->cg, run = cs->cg - ci;
        if (run > p0 + kc - p)
            run = p0 + kc - p;
        int ky = tap / cs->kw, kx = tap % cs->kw;
        dr->off[dr->count] = ((ptrdiff_t)ky * cs->dh * cs->wp + (ptrdiff_t)kx * cs->dw) * cs->c_in + ci;
        dr->len[dr->count++] = run;
        p += run;
    }
}

/* Where output pixel i's patch starts in the padded input (its tap 0). */
static const float *direct_row(const gemm_conv_src *cs, int i)
{
    int ohw = cs->oh * cs->ow, nimg = i / ohw, rem = i % ohw, oy = rem / cs->ow, ox = rem % cs->ow;
    ptrdiff_t pixel = ((ptrdiff_t)nimg * cs->hp + (ptrdiff_t)oy * cs->sh) * cs->wp + (ptrdiff_t)ox * cs->sw;
    return cs->padded + pixel * cs->c_in + cs->c0;
}

/* The tiles of rows [i0, i0 + mc) (A packed in abuf, k-block of kc, padded
 * kcp) against the NR-column panels jp0..jp1 - 1 of column block jc, panel
 * jp of B at b0 + (jp - jp0) * bstride. first / last: the k-block is the
 * first / last of the product (the epilogue's two parts). */
static void block_tiles(const gemm_kernel *kr, const float *abuf, const gemm_direct_runs *dr, int kc, int kcp, int i0,
                        int mc, int jc, int jp0, int jp1, const float *b0, ptrdiff_t bstride, int first, int last,
                        int m, int n, float alpha, float beta, float *c, ptrdiff_t ldc, const mfr_epilogue *ep)
{
    const int MR = kr->mr, NR = kr->nr;
    for (int jp = jp0; jp < jp1; jp++) {
        int j = jc + jp * NR, nr = n - j < NR ? n - j : NR;
        const float *bp = b0 + (ptrdiff_t)(jp - jp0) * bstride;
        for (int ip = 0; ip < mc; ip += MR) {
            int i = i0 + ip, mr = m - i < MR ? m - i : MR;
            gemm_tile_ep te;
            tile_ep(&te, ep, alpha, beta, i, j);
            te.first = first;
            te.last = last;
            if (dr) {
                kr->direct(dr->count, dr->off, dr->len, direct_row(dr->cs, i), (ptrdiff_t)dr->cs->sw * dr->cs->c_in,
                           bp, c + (ptrdiff_t)i * ldc + j, ldc, mr, nr, &te);
                continue;
            }
            if (kr->packed_narrow && nr <= NARROW_N && ip + 2 * MR <= mc) {
                /* two row panels at once, same bits */
                kr->packed_narrow(kc, abuf + (ptrdiff_t)ip * kcp, (ptrdiff_t)MR * kcp, MR, bp, NR,
                                  c + (ptrdiff_t)i * ldc + j, ldc, 2 * MR, nr, &te);
                ip += MR;
                continue;
            }
            kr->packed(kc, abuf + (ptrdiff_t)ip * kcp, 1, MR, bp, NR, c + (ptrdiff_t)i * ldc + j, ldc, mr, nr, &te);
        }
    }
}

static void gemm_drive_nt(mfr_isa isa, int m, int n, int k, float alpha, const gemm_a_src *a, int transb,
                          const float *b, ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc,
                          const mfr_epilogue *ep, int nthreads, int own_ws)
{
    const gemm_kernel *kr = gemm_kernel_for(pb ? pb->isa : isa);
    if (k <= 0) {
        gemm_plain(m, n, 0, alpha, a, transb, b, ldb, pb, beta, c, ldc, ep);
        return;
    }
    mfr_gemm_blocking bl = blocking_for(kr);
    if (!a->conv && (pb || !transb) &&
        ((pb ? m < kr->mr : m <= 4) || (!pb && (int64_t)m * n * k <= GEMM_SMALL_MNK) ||
         (!pb && kr->strided_in_l2 && n > NARROW_N && k <= bl.kc && (int64_t)k * n * 4 <= l2_bytes() / 4))) {
        gemm_small(kr, m, n, k, alpha, a, b, ldb, pb, beta, c, ldc, ep);
        return;
    }
    const int MR = bl.mr, NR = bl.nr;
    int kc_max = k < bl.kc ? k : bl.kc;
    /* a convolution whose padded input is given: A read in place, not packed */
    const int direct = a->conv && a->conv->padded && gemm_conv_direct_ok(kr->isa, a->conv, k);
    /* Blocks of M: at most MC rows, at least one per thread when there are
     * enough rows, and of equal size (rounded to MR) so no thread waits. */
    int nb_m = (m + bl.mc - 1) / bl.mc, row_panels = (m + MR - 1) / MR;
    int nblocks = ((n + bl.nc - 1) / bl.nc) * ((k + bl.kc - 1) / bl.kc);
    /* Few rows against several blocks of B (K > KC or N > NC: a 7x7 layer
     * with 512 input channels): split N only. Each thread packs the B
     * panels it multiplies and all of the (small) A block, and never waits
     * for another thread; split over M, it would wait at a barrier after
     * every block of B. The A copies this adds, (threads - 1) m k, are at
     * most the B copies each thread makes. */
    const int split_n = !pb && nthreads > 1 && nblocks > 1 && m <= bl.mc &&
                        (int64_t)m * (nthreads - 1) <= n && (n < bl.nc ? n : bl.nc) >= nthreads * NR;
    if (split_n)
        nb_m = 1;
    else if (nb_m < nthreads)
        nb_m = nthreads < row_panels ? nthreads : row_panels;
    int mc_blk = ((m + nb_m - 1) / nb_m + MR - 1) / MR * MR;
    nb_m = (m + mc_blk - 1) / mc_blk;
    int mc_max = mc_blk;
    int nc_max = n < bl.nc ? (n + NR - 1) / NR * NR : bl.nc;
    /* B is packed into two buffers in turn (double buffering): threads pack
     * block t + 1 into one while others may still compute block t from the
     * other, so each (jc, pc) block costs one barrier, not two. */
    size_t b_floats = pb ? 0 : (size_t)kc_max * nc_max;
    /* When all of B is one block (K <= KC, N <= NC: the pointwise layers)
     * every thread packs the whole block for itself: k * n copies per
     * thread against m / threads * n * k FMAs, and no barrier at all inside
     * the call (on a loaded machine a barrier whose partner was descheduled
     * costs a time slice). */
    const int private_b = !pb && nblocks == 1 && nthreads > 1;
    size_t b_bufs = pb ? 0 : private_b || split_n ? (size_t)nthreads : nblocks > 1 && nthreads > 1 ? 2 : 1;
    size_t a_floats = (size_t)gemm_kc_padded(kr, kc_max) * mc_max;
    size_t ws_floats = b_floats * b_bufs + a_floats * (size_t)nthreads;
    float *ws = own_ws ? mfr_alloc(ws_floats * sizeof(float)) : workspace(ws_floats);
    if (!ws) {
        mfr_log(MFR_LOG_WARN, "gemm: no memory for packing buffers; using the slow unpacked path");
        mfr_clear_error();
        gemm_plain(m, n, k, alpha, a, transb, b, ldb, pb, beta, c, ldc, ep);
        return;
    }

#ifdef MFR_HAVE_OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
#ifdef MFR_HAVE_OPENMP
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int tid = 0, nt = 1;
#endif
        float *abuf = ws + b_floats * b_bufs + a_floats * (size_t)tid;
        /* Block t = (jc, pc) in loop order; pack_b_block packs this thread's
         * contiguous range of its B panels into buffer t % b_bufs. */
        int t = 0;
        if (private_b) {
            gemm_pack_b_share(kr, transb, b, ldb, 0, kc_max, 0, n, ws + b_floats * (size_t)tid, 0, 1);
        } else if (!pb && !split_n) {
            gemm_pack_b_share(kr, transb, b, ldb, 0, kc_max, 0, n < bl.nc ? n : bl.nc, ws, tid, nt);
#ifdef MFR_HAVE_OPENMP
            if (nt > 1) {
#pragma omp barrier
            }
#endif
        }
        for (int jc = 0; jc < n; jc += bl.nc) {
            int nc = n - jc < bl.nc ? n - jc : bl.nc;
            int panels = (nc + NR - 1) / NR;
            /* Enough (ic, jr-chunk) items to keep every thread busy. The
             * items of a thread are the same for every pc of this jc, so a C
             * tile is only ever updated by one thread and the blocks need
             * no barrier between their computations. */
            int nb_n = 1;
            if (nt > 1 && (split_n || nb_m % nt != 0))
                nb_n = nt < panels ? nt : panels;
            int nitems = nb_m * nb_n;
            int it0 = (int)((int64_t)nitems * tid / nt), it1 = (int)((int64_t)nitems * (tid + 1) / nt);
            for (int pc = 0; pc < k; pc += bl.kc, t++) {
                int kc = k - pc < bl.kc ? k - pc : bl.kc, kcp = gemm_kc_padded(kr, kc);
                const float *bbuf = pb ? NULL : ws + b_floats * (size_t)(private_b ? tid : t % (int)b_bufs);
                int packed_ib = -1;
                gemm_direct_runs dr;
                if (direct)
                    direct_runs(&dr, a->conv, pc, kc);
                for (int item = it0; item < it1; item++) {
                    int ib = item / nb_n, jb = item % nb_n;
                    int i0 = ib * mc_blk, mc = m - i0 < mc_blk ? m - i0 : mc_blk;
                    if (ib != packed_ib && !direct) {
                        gemm_pack_a(kr, a, i0, mc, pc, kc, abuf);
                        packed_ib = ib;
                    }
                    int jp0 = (int)((int64_t)jb * panels / nb_n), jp1 = (int)((int64_t)(jb + 1) * panels / nb_n);
                    /* split_n: the panels of this item, packed by this thread into
                     * its own buffer (threads run blocks apart, with no barrier) */
                    float *own = split_n ? ws + b_floats * (size_t)tid + (ptrdiff_t)jp0 * NR * kc_max : NULL;
                    if (split_n && jp1 > jp0)
                        gemm_pack_b(kr, transb, b, ldb, pc, kc, jc + jp0 * NR,
                                    (jp1 * NR < nc ? jp1 * NR : nc) - jp0 * NR, own);
                    const float *b0 = pb ? pb->data + ((ptrdiff_t)(jc / NR + jp0) * pb->k + pc) * NR
                                      : own ? own : bbuf + (ptrdiff_t)jp0 * NR * kc;
                    ptrdiff_t bstride = pb ? (ptrdiff_t)pb->k * NR : (ptrdiff_t)NR * kc;
                    block_tiles(kr, abuf, direct ? &dr : NULL, kc, kcp, i0, mc, jc, jp0, jp1, b0, bstride, pc == 0,
                                pc + kc == k, m, n, alpha, beta, c, ldc, ep);
                }
                if (!pb && !split_n && t + 1 < nblocks) {
                    /* Pack the next block into the other buffer. Everyone
                     * passed the previous barrier after computing block
                     * t - 1, the last user of that buffer. */
                    int npc = pc + bl.kc, njc = jc;
                    if (npc >= k)
                        npc = 0, njc = jc + bl.nc;
                    int nkc = k - npc < bl.kc ? k - npc : bl.kc, nnc = n - njc < bl.nc ? n - njc : bl.nc;
#ifdef MFR_HAVE_OPENMP
                    if (b_bufs == 1 && nt > 1) {
#pragma omp barrier
                    }
#endif
                    gemm_pack_b_share(kr, transb, b, ldb, npc, nkc, njc, nnc,
                                      ws + b_floats * (size_t)((t + 1) % (int)b_bufs), tid, nt);
#ifdef MFR_HAVE_OPENMP
                    if (nt > 1) {
#pragma omp barrier
                    }
#endif
                }
            }
        }
    }
    if (own_ws)
        mfr_free(ws);
}

static int trans_flag(char t)
{
    return t == 'T' || t == 't' || t == 'C' || t == 'c';
}

void mfr_sgemm_isa(mfr_isa isa, char transa, char transb, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep)
{
    gemm_a_src src = {a, lda, trans_flag(transa), NULL};
    gemm_drive(isa, m, n, k, alpha, &src, trans_flag(transb), b, ldb, NULL, beta, c, ldc, ep);
}

void mfr_sgemm_ex(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc, const mfr_epilogue *ep)
{
    mfr_sgemm_isa(mfr_isa_best(), transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep);
}

void mfr_sgemm(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc)
{
    mfr_sgemm_isa(mfr_isa_best(), transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

int mfr_gemm_pack_b(char transb, int k, int n, const float *b, int ldb, mfr_packed_b **out)
{
    *out = NULL;
    if (k < 0 || n < 0 || (!b && k > 0 && n > 0))
        return mfr_error(MFR_ERR_ARG, "gemm_pack_b: bad shape k=%d n=%d", k, n);
    const gemm_kernel *kr = gemm_kernel_for(mfr_isa_best());
    int tb = trans_flag(transb);
    if (ldb < (tb ? k : n) || ldb < 1)
        return mfr_error(MFR_ERR_ARG, "gemm_pack_b: ldb=%d too small for k=%d n=%d", ldb, k, n);
    size_t panels = ((size_t)n + kr->nr - 1) / kr->nr, floats;
    if (mfr_size_mul(panels * kr->nr, (size_t)k, &floats) != MFR_OK)
        return MFR_ERR_NOMEM;
    mfr_packed_b *pb = mfr_calloc(1, sizeof *pb);
    if (!pb)
        return MFR_ERR_NOMEM;
    pb->isa = kr->isa;
    pb->k = k;
    pb->n = n;
    pb->nr = kr->nr;
    pb->data = mfr_alloc(floats * sizeof(float));
    if (!pb->data) {
        mfr_free(pb);
        return MFR_ERR_NOMEM;
    }
    if (k > 0 && n > 0)
        gemm_pack_b(kr, tb, b, ldb, 0, k, 0, n, pb->data);
    *out = pb;
    return MFR_OK;
}

void mfr_gemm_packed_free(mfr_packed_b *pb)
{
    if (!pb)
        return;
    mfr_free(pb->data);
    mfr_free(pb);
}

void mfr_sgemm_packed(int m, const float *a, int lda, const mfr_packed_b *pb, float *c, int ldc,
                      const mfr_epilogue *ep)
{
    gemm_a_src src = {a, lda, 0, NULL};
    gemm_drive(pb->isa, m, pb->n, pb->k, 1.0f, &src, 0, NULL, 0, pb, 0.0f, c, ldc, ep);
}
