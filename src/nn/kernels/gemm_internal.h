/* Internal interface between the GEMM driver (gemm.c), the convolutions and
 * the per-ISA micro-kernels. Not installed. */
#ifndef MFR_GEMM_INTERNAL_H
#define MFR_GEMM_INTERNAL_H

#include <stddef.h>
#include "mfr/kernels.h"

/* What a micro-kernel does with its MR x NR tile once the k-loop is done.
 * Pointers are already offset to the tile's first row/column. */
typedef struct gemm_tile_ep {
    float alpha;
    float beta;            /* used only when first */
    int first;             /* first k-block: v = alpha*acc + beta*C (C not read when beta == 0) */
    int last;              /* last k-block: then bias, residual, activation */
    const float *bias;     /* NULL or bias of the tile's first row (per_row) or column */
    int per_row;           /* bias and PReLU slopes indexed by row instead of column */
    const float *res;      /* NULL or residual at the tile's origin */
    ptrdiff_t ldr;
    mfr_act act;
    float act_param;
    const float *prelu;    /* slopes of the tile's first row/column */
} gemm_tile_ep;

/* The packed kernels' epilogue in two parts (docs/kernels.md): the first
 * part, alpha acc (+ beta C or C + ...), is unrolled over the accumulators
 * in one of these forms, chosen once per tile; the second part (bias,
 * residual, activation) follows in a loop over rows when has_finish. */
enum { GEMM_EP_SET, GEMM_EP_ADD, GEMM_EP_ANY };

static inline int gemm_ep_form(const gemm_tile_ep *ep)
{
    if (ep->alpha != 1.0f || (ep->first && ep->beta != 0.0f))
        return GEMM_EP_ANY;              /* the general combine */
    return ep->first ? GEMM_EP_SET : GEMM_EP_ADD; /* store / load-add-store */
}

static inline int gemm_ep_has_finish(const gemm_tile_ep *ep)
{
    return ep->last && (ep->bias || ep->res || ep->act != MFR_ACT_NONE);
}

/* One micro-kernel call: C[0:m, 0:n] (m <= MR, n <= NR) from a kc-long
 * product. Packed: A is a packed panel (layout in gemm_pack.c, k-block kb)
 * and B is read at b[p * NR + j], both zero padded to full MR and NR
 * (rsa, csa, ldb are ignored). Strided (the no-packing path): A is read at
 * a[i * rsa + p * csa] and B at b[p * ldb + j], only rows < m and
 * columns < n. */
typedef void (*gemm_ukernel_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
                                ptrdiff_t ldb, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep);

/* A strided tile of few rows (m <= wide_rows) over up to wide_panels
 * panels of NR columns, panel q of B at b + q * bstep (a row of a
 * panel every ldb floats): more independent FMA chains than an MR x NR
 * tile with one row; each value is computed exactly as by strided. */
typedef void (*gemm_wide_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                             ptrdiff_t bstep, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep);

/* Optional vectorised packing, zero padded; NULL: the portable packer.
 * pack_a_n packs one panel (rows <= MR) of a row-major A, pack_a_t of a
 * transposed one (a weight gradient's dY^T: a run of rows per k); pack_b_n packs
 * cols columns (any number: ceil(cols / NR) panels of kc x NR, panel q at
 * dst + q * kc * NR) of a row-major B, walking B row by row so that the
 * reads stream through memory. */
typedef void (*gemm_pack_a_fn)(const float *a, ptrdiff_t lda, int rows, int kc, float *dst);
typedef void (*gemm_pack_b_fn)(const float *b, ptrdiff_t ldb, int cols, int kc, float *dst);
struct gemm_kernel;
struct gemm_conv_src;
typedef void (*gemm_pack_conv_fn)(const struct gemm_kernel *kr, const struct gemm_conv_src *cs, int i0, int mc,
                                  int p0, int kc, float *dst);

/* A convolution tile read in place from the zero-padded input: the k-block
 * is nseg runs of consecutive k, row i of run s at a + off[s] + i * rsa,
 * len[s] values; B a packed panel. Same bits as packed on the same A. */
typedef void (*gemm_direct_fn)(int nseg, const ptrdiff_t *off, const int *len, const float *a, ptrdiff_t rsa,
                               const float *b, float *c, ptrdiff_t ldc, int m, int n, const gemm_tile_ep *ep);

typedef struct gemm_kernel {
    mfr_isa isa;
    int mr, nr;
    int kb;                   /* k-block of the packed A layout (gemm_pack.c) */
    gemm_ukernel_fn packed;   /* operands packed (rsa = 1, csa = MR, ldb = NR) */
    gemm_ukernel_fn strided;  /* operands in place */
    gemm_pack_a_fn pack_a_n;  /* A not transposed: a[i * lda + p] */
    gemm_pack_b_fn pack_b_n;  /* B not transposed: b[p * ldb + j] */
    gemm_pack_conv_fn pack_a_conv; /* convolution patches (gemm_pack_conv.h) */
    gemm_pack_a_fn pack_a_t;  /* A transposed: element (i, p) at a[p * lda + i] */
    gemm_wide_fn wide;        /* NULL, or few rows over several panels (gemm_small) */
    int wide_rows;            /* wide takes m <= wide_rows ... */
    int wide_panels;          /* ... and n <= wide_panels * NR */
    gemm_ukernel_fn packed_narrow; /* NULL, or packed with n <= 16 over two full
                                    * A panels, the second at a + rsa */
    gemm_direct_fn direct;    /* NULL, or convolution tiles without packing A */
    int strided_in_l2;        /* 1: strided is as fast as packing while B (k <= KC)
                               * fits in a quarter of L2 (gemm_drive_nt) */
} gemm_kernel;

/* The micro-kernel of an ISA (scalar when that ISA is not available). */
const gemm_kernel *gemm_kernel_for(mfr_isa isa);

extern const gemm_kernel gemm_kernel_scalar_4x8;
#ifdef MFR_HAVE_AVX2
extern const gemm_kernel gemm_kernel_avx2_6x16;
#endif
#ifdef MFR_HAVE_AVX512
extern const gemm_kernel gemm_kernel_avx512_14x32;
#endif

/* The scalar tail every kernel shares: epilogue of one value of the tile
 * (acc = the dot product of this k-block). */
static inline float gemm_ep_value(float acc, float *cptr, const gemm_tile_ep *ep, int i, int j)
{
    float v;
    if (ep->first)
        v = ep->beta != 0.0f ? ep->alpha * acc + ep->beta * *cptr : ep->alpha * acc;
    else
        v = *cptr + ep->alpha * acc;
    if (ep->last) {
        int ch = ep->per_row ? i : j;
        if (ep->bias)
            v += ep->bias[ch];
        if (ep->res)
            v += ep->res[(ptrdiff_t)i * ep->ldr + j];
        if (ep->act != MFR_ACT_NONE)
            v = mfr_act_scalar(v, ep->act, ep->act_param, ep->prelu ? ep->prelu[ch] : 0.0f);
    }
    return v;
}

/* Where the A operand comes from: a matrix, or the patches of a convolution
 * (implicit im2col: row = output pixel, column = (ky, kx, ci)). */
struct gemm_conv_src {
    const float *in;
    int h, w, c_in;           /* input geometry; c_in = all channels (row stride of a pixel) */
    int c0, cg;               /* this group's first channel and its channel count */
    int kh, kw, sh, sw, pt, pl, dh, dw;
    int oh, ow;
    /* NULL, or the input zero padded by (pt, pl) on top and left, hp x wp
     * pixels an image: tiles of whole output-row pieces then read A in
     * place (kernel->direct) instead of packing it. */
    const float *padded;
    int hp, wp;
};
typedef struct gemm_conv_src gemm_conv_src;

typedef struct gemm_a_src {
    const float *a;           /* matrix A (conv == NULL) */
    ptrdiff_t lda;
    int trans;
    const gemm_conv_src *conv;
} gemm_a_src;

/* A grow-only buffer of at least `floats` floats in *buf (capacity *cap),
 * kept between calls by its owner (a per-thread variable); NULL without
 * memory (the error is left set). */
float *gemm_scratch(float **buf, size_t *cap, size_t floats);

/* Whether the tiles of a product of depth k can read A in place from a
 * padded input (gemm_conv_src.padded) with the kernel of isa. */
int gemm_conv_direct_ok(mfr_isa isa, const gemm_conv_src *cs, int k);

/* The full driver: C = epilogue(alpha op(A) op(B) + beta C). B is either a
 * matrix (pb == NULL) or prepacked. Used by mfr_sgemm*, the convolutions. */
void gemm_drive(mfr_isa isa, int m, int n, int k, float alpha, const gemm_a_src *a, int transb, const float *b,
                ptrdiff_t ldb, const mfr_packed_b *pb, float beta, float *c, ptrdiff_t ldc, const mfr_epilogue *ep);

#endif
