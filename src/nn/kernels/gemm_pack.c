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

/* Offset of element (i, p) in a packed A panel. */
static inline ptrdiff_t a_index(int mr, int kb, int i, int p)
{
    return (ptrdiff_t)(p / kb) * mr * kb + (ptrdiff_t)i * kb + p % kb;
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
        for (int i = 0; i < mr; i++)
            for (int p = 0; p < kc; p++) {
                float v = 0.0f;
                if (i < rows)
                    v = src->trans ? a[(ptrdiff_t)(p0 + p) * lda + i0 + ip + i] : a[(ptrdiff_t)(i0 + ip + i) * lda + p0 + p];
                d[a_index(mr, kb, i, p)] = v;
            }
    }
}

void gemm_pack_a_conv(const gemm_kernel *kr, const gemm_conv_src *cs, int i0, int mc, int p0, int kc, float *dst)
{
    const int mr = kr->mr, kb = kr->kb;
    const ptrdiff_t panel = (ptrdiff_t)mr * gemm_kc_padded(kr, kc);
    int ohw = cs->oh * cs->ow;
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (ptrdiff_t)(ip / mr) * panel;
        for (int i = 0; i < mr; i++) {
            if (i >= rows) {
                for (int p = 0; p < kc; p++)
                    d[a_index(mr, kb, i, p)] = 0.0f;
                continue;
            }
            /* Output pixel of this row, and the first tap of column p0. */
            int row = i0 + ip + i;
            int nimg = row / ohw, rem = row % ohw;
            int oy = rem / cs->ow, ox = rem % cs->ow;
            int iy0 = oy * cs->sh - cs->pt, ix0 = ox * cs->sw - cs->pl;
            const float *img = cs->in + (ptrdiff_t)nimg * cs->h * cs->w * cs->c_in + cs->c0;
            int tap = p0 / cs->cg, ci = p0 % cs->cg;
            int ky = tap / cs->kw, kx = tap % cs->kw;
            int p = 0;
            while (p < kc) {
                /* One run of channels at tap (ky, kx), cut at k-block edges. */
                int run = cs->cg - ci;
                if (run > kc - p)
                    run = kc - p;
                if (run > kb - p % kb)
                    run = kb - p % kb;
                int iy = iy0 + ky * cs->dh, ix = ix0 + kx * cs->dw;
                float *dd = d + a_index(mr, kb, i, p);
                ptrdiff_t step = kb > 1 ? 1 : mr;
                if (iy >= 0 && iy < cs->h && ix >= 0 && ix < cs->w) {
                    const float *s = img + ((ptrdiff_t)iy * cs->w + ix) * cs->c_in + ci;
                    for (int q = 0; q < run; q++)
                        dd[q * step] = s[q];
                } else {
                    for (int q = 0; q < run; q++)
                        dd[q * step] = 0.0f;
                }
                p += run;
                ci += run;
                if (ci == cs->cg) {
                    ci = 0;
                    if (++kx == cs->kw) {
                        kx = 0;
                        ky++;
                    }
                }
            }
        }
    }
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
