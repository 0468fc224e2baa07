/* Operand packing for the GEMM driver (see gemm_pack.c for the formats). */
#ifndef MFR_GEMM_PACK_H
#define MFR_GEMM_PACK_H

#include "gemm_internal.h"

/* Offset of element (i, p) in a packed A panel (layout in gemm_pack.c). */
static inline ptrdiff_t a_index(int mr, int kb, int i, int p)
{
    return (ptrdiff_t)(p / kb) * mr * kb + (ptrdiff_t)i * kb + p % kb;
}

/* Packs rows [i0, i0+mc) x columns [p0, p0+kc) of A into MR-row panels. */
void gemm_pack_a(const gemm_kernel *kr, const gemm_a_src *src, int i0, int mc, int p0, int kc, float *dst);
void gemm_pack_a_conv(const gemm_kernel *kr, const gemm_conv_src *cs, int i0, int mc, int p0, int kc, float *dst);
/* kc rounded up to the kernel's k-block: a packed A panel holds MR * this many floats. */
int gemm_kc_padded(const gemm_kernel *kr, int kc);
/* Packs rows [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels. */
void gemm_pack_b(const gemm_kernel *kr, int transb, const float *b, ptrdiff_t ldb, int p0, int kc, int j0, int nc,
                 float *dst);

#endif
