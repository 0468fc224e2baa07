/* Packing of GEMM operands into the panels the micro-kernels stream.
 *
 *   A: panels of MR rows. Within a panel, k is cut into blocks of KB
 *      (the kernel's kb): block pb holds MR rows of KB consecutive k, so
 *      element (i, p) is at [(p / KB) * MR * KB + i * KB + p % KB]. KB = 1 is
 *      the classic [p * MR + i]; KB = 16 lets a row-major A be packed by
 *      straight 64-byte copies instead of transposes, and a convolution's
 *      channel runs likewise. A panel spans MR * round_up(kc, KB) floats.
 *   B: panels of NR columns, element (p, j) at [p * NR + j].
 * Short panels are padded with zeros so the micro-kernels always run full
 * MR x NR tiles over packed data and only clip when storing. */
#include "config.h"
#include "gemm_pack.h"

#include <string.h>

int gemm_kc_padded(const gemm_kernel *kr, int kc)
{
    return (kc + kr->kb - 1) / kr->kb * kr->kb;
}


void gemm_pack_a(const gemm_kernel *kr, const gemm_a_src *src, int i0, int mc, int p0, int kc, float *dst)
{
    const int mr = kr->mr, kb = kr->kb;
    const ptrdiff_t panel = (ptrdiff_t)mr * gemm_kc_padded(kr, kc);
    if (src->conv) {
        gemm_pack_a_conv(kr, src->conv, i0, mc, p0, kc, dst);
        return;
    }
    const float *a = src->a;
    ptrdiff_t lda = src->lda;
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (ptrdiff_t)(ip / mr) * panel;
        if (!src->trans && kr->pack_a_n) {
            kr->pack_a_n(a + (ptrdiff_t)(i0 + ip) * lda + p0, lda, rows, kc, d);
            continue;
        }
        if (src->trans && kr->pack_a_t) {
            kr->pack_a_t(a + (ptrdiff_t)p0 * lda + i0 + ip, lda, rows, kc, d);
            continue;
        }
        if (src->trans) {
            /* A^T: each k is a contiguous run of rows in memory; read it
             * along the run (the loop below would stride by lda per value). */
            for (int p = 0; p < kc; p++) {
                const float *run = a + (ptrdiff_t)(p0 + p) * lda + i0 + ip;
                float *dp = d + a_index(mr, kb, 0, p);
                for (int i = 0; i < rows; i++)
                    dp[(ptrdiff_t)i * kb] = run[i];
                for (int i = rows; i < mr; i++)
                    dp[(ptrdiff_t)i * kb] = 0.0f;
            }
            continue;
        }
        for (int i = 0; i < mr; i++)
            for (int p = 0; p < kc; p++) {
                float v = 0.0f;
                if (i < rows)
                    v = src->trans ? a[(ptrdiff_t)(p0 + p) * lda + i0 + ip + i] : a[(ptrdiff_t)(i0 + ip + i) * lda + p0 + p];
                d[a_index(mr, kb, i, p)] = v;
            }
    }
}

/* The portable copy of a run of channels into a packed A panel: kb = 1
 * places consecutive k MR apart, kb > 1 next to each other. */
#define PACK_CONV_FN gemm_pack_a_conv_generic
#define PACK_KB kr->kb
#define COPY_RUN(d, s, n, step)                                                                   \
    do {                                                                                          \
        for (int q_ = 0; q_ < (n); q_++)                                                          \
            (d)[(ptrdiff_t)q_ * (step)] = (s)[q_];                                                \
    } while (0)
#define ZERO_RUN(d, n, step)                                                                      \
    do {                                                                                          \
        for (int q_ = 0; q_ < (n); q_++)                                                          \
            (d)[(ptrdiff_t)q_ * (step)] = 0.0f;                                                   \
    } while (0)
#include "gemm_pack_conv.h"

void gemm_pack_a_conv(const gemm_kernel *kr, const gemm_conv_src *cs, int i0, int mc, int p0, int kc, float *dst)
{
    if (kr->pack_a_conv)
        kr->pack_a_conv(kr, cs, i0, mc, p0, kc, dst);
    else
        gemm_pack_a_conv_generic(kr, cs, i0, mc, p0, kc, dst);
}

void gemm_pack_b(const gemm_kernel *kr, int transb, const float *b, ptrdiff_t ldb, int p0, int kc, int j0, int nc,
                 float *dst)
{
    const int nr = kr->nr;
    if (!transb && kr->pack_b_n) {
        kr->pack_b_n(b + (ptrdiff_t)p0 * ldb + j0, ldb, nc, kc, dst);
        return;
    }
    for (int jp = 0; jp < nc; jp += nr) {
        int cols = nc - jp < nr ? nc - jp : nr;
        float *d = dst + (ptrdiff_t)jp * kc;
        if (!transb) {
            for (int p = 0; p < kc; p++) {
                const float *s = b + (ptrdiff_t)(p0 + p) * ldb + j0 + jp;
                memcpy(d + (ptrdiff_t)p * nr, s, (size_t)cols * sizeof *s);
                for (int j = cols; j < nr; j++)
                    d[(ptrdiff_t)p * nr + j] = 0.0f;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                const float *s = b + (ptrdiff_t)(j0 + jp + j) * ldb + p0;
                for (int p = 0; p < kc; p++)
                    d[(ptrdiff_t)p * nr + j] = s[p];
            }
            for (int j = cols; j < nr; j++)
                for (int p = 0; p < kc; p++)
                    d[(ptrdiff_t)p * nr + j] = 0.0f;
        }
    }
}
