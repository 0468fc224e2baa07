/* Packing of GEMM operands into the panels the micro-kernels stream:
 *   A: row panels of MR rows, element (i, p) of a panel at [p * MR + i];
 *   B: column panels of NR columns, element (p, j) at [p * NR + j].
 * Short panels are padded with zeros so the micro-kernels always run full
 * MR x NR tiles over packed data and only clip when storing. */
#include "config.h"
#include "gemm_pack.h"

#include <string.h>

void gemm_pack_a(const gemm_a_src *src, int i0, int mc, int p0, int kc, int mr, float *dst)
{
    if (src->conv) {
        gemm_pack_a_conv(src->conv, i0, mc, p0, kc, mr, dst);
        return;
    }
    const float *a = src->a;
    ptrdiff_t lda = src->lda;
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (ptrdiff_t)ip * kc;
        if (src->trans) {
            /* A(i, p) = a[p * lda + i]: each p gives MR contiguous values. */
            for (int p = 0; p < kc; p++) {
                const float *s = a + (ptrdiff_t)(p0 + p) * lda + i0 + ip;
                int i = 0;
                for (; i < rows; i++)
                    d[p * mr + i] = s[i];
                for (; i < mr; i++)
                    d[p * mr + i] = 0.0f;
            }
        } else {
            for (int i = 0; i < rows; i++) {
                const float *s = a + (ptrdiff_t)(i0 + ip + i) * lda + p0;
                for (int p = 0; p < kc; p++)
                    d[p * mr + i] = s[p];
            }
            for (int i = rows; i < mr; i++)
                for (int p = 0; p < kc; p++)
                    d[p * mr + i] = 0.0f;
        }
    }
}

void gemm_pack_a_conv(const gemm_conv_src *cs, int i0, int mc, int p0, int kc, int mr, float *dst)
{
    int ohw = cs->oh * cs->ow;
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (ptrdiff_t)ip * kc;
        for (int i = 0; i < mr; i++) {
            if (i >= rows) {
                for (int p = 0; p < kc; p++)
                    d[p * mr + i] = 0.0f;
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
                /* One run of channels at tap (ky, kx). */
                int run = cs->cg - ci;
                if (run > kc - p)
                    run = kc - p;
                int iy = iy0 + ky * cs->dh, ix = ix0 + kx * cs->dw;
                float *dd = d + (ptrdiff_t)p * mr + i;
                if (iy >= 0 && iy < cs->h && ix >= 0 && ix < cs->w) {
                    const float *s = img + ((ptrdiff_t)iy * cs->w + ix) * cs->c_in + ci;
                    for (int q = 0; q < run; q++)
                        dd[(ptrdiff_t)q * mr] = s[q];
                } else {
                    for (int q = 0; q < run; q++)
                        dd[(ptrdiff_t)q * mr] = 0.0f;
                }
                p += run;
                ci = 0;
                if (++kx == cs->kw) {
                    kx = 0;
                    ky++;
                }
            }
        }
    }
}

void gemm_pack_b(int transb, const float *b, ptrdiff_t ldb, int p0, int kc, int j0, int nc, int nr, float *dst)
{
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
