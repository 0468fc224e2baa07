/* Packing of convolution patches (implicit im2col) into A panels, written
 * once and included by gemm_pack.c (portable copies) and by the SIMD kernel
 * files (vector copies). The includer defines PACK_CONV_FN and
 * COPY_RUN(d, s, n, step) / ZERO_RUN(d, n, step), which move n <= kb floats
 * (and PACK_KB, the kernel's k-block)
 * (step: distance between consecutive k in the panel, 1 when kb > 1).
 * Row i of a panel is output pixel i0 + ip + i; column p is
 * (ky, kx, ci) = tap-major, channel-minor, the order of OHWI weights. */

static void PACK_CONV_FN(const gemm_kernel *kr, const gemm_conv_src *cs, int i0, int mc, int p0, int kc, float *dst)
{
    /* PACK_KB: the includer's k-block, a constant in the SIMD files so that
     * the divisions below become shifts. */
    const int mr = kr->mr, kb = PACK_KB;
    const ptrdiff_t panel = (ptrdiff_t)mr * ((kc + kb - 1) / kb * kb);
    const ptrdiff_t step = kb > 1 ? 1 : mr;
    (void)step; /* unused by the vector copies */
    const int ohw = cs->oh * cs->ow;
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        float *d = dst + (ptrdiff_t)(ip / mr) * panel;
        for (int i = 0; i < mr; i++) {
            if (i >= rows) {
                for (int p = 0; p < kc; p += kb)
                    ZERO_RUN(d + a_index(mr, kb, i, p), kc - p < kb ? kc - p : kb, step);
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
            if (kb > 1 && cs->cg % kb == 0 && p0 % kb == 0 && kc % kb == 0) {
                /* Whole k-blocks inside one tap (channels a multiple of kb,
                 * e.g. 64): one full-width copy per block, one bounds check
                 * per tap. */
                float *dd = d + (ptrdiff_t)i * kb;
                while (p < kc) {
                    int n = cs->cg - ci < kc - p ? cs->cg - ci : kc - p;
                    int iy = iy0 + ky * cs->dh, ix = ix0 + kx * cs->dw;
                    if (iy >= 0 && iy < cs->h && ix >= 0 && ix < cs->w) {
                        const float *src = img + ((ptrdiff_t)iy * cs->w + ix) * cs->c_in + ci;
                        for (int q = 0; q < n; q += kb, dd += (ptrdiff_t)mr * kb)
                            COPY_RUN(dd, src + q, kb, 1);
                    } else {
                        for (int q = 0; q < n; q += kb, dd += (ptrdiff_t)mr * kb)
                            ZERO_RUN(dd, kb, 1);
                    }
                    p += n;
                    ci = 0;
                    if (++kx == cs->kw) {
                        kx = 0;
                        ky++;
                    }
                }
                continue;
            }
            while (p < kc) {
                /* One run of channels at tap (ky, kx), cut at k-block edges. */
                int run = cs->cg - ci;
                if (run > kc - p)
                    run = kc - p;
                if (run > kb - p % kb)
                    run = kb - p % kb;
                int iy = iy0 + ky * cs->dh, ix = ix0 + kx * cs->dw;
                float *dd = d + a_index(mr, kb, i, p);
                if (iy >= 0 && iy < cs->h && ix >= 0 && ix < cs->w)
                    COPY_RUN(dd, img + ((ptrdiff_t)iy * cs->w + ix) * cs->c_in + ci, run, step);
                else
                    ZERO_RUN(dd, run, step);
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
