/* The spatial passes (spatial.h), written once for both vector widths:
 * included by spatial_avx2.c and spatial_avx512.c after vec_avx2.h or
 * vec_avx512.h and their definitions of vmul, vsub, vsel_gt, vloadu, vstoreu
 * (whole vectors, unaligned) and SP_NAME.
 * Channels are the vector dimension (a pixel's c floats are contiguous),
 * tails masked; each output is the scalar reference's chain of operations. */

/* a x b kept apart from a following add: gcc's vector multiply would
 * otherwise be fused with it into an FMA, which rounds once, not twice. */
static inline __attribute__((always_inline)) V vmul_apart(V a, V b)
{
    V t = vmul(a, b);
    __asm__("" : "+v"(t));
    return t;
}

static void SP_NAME(pool_rows)(const spatial_pool *p, const float *in, float *out, long r0, long r1)
{
    const int c = p->c;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / p->oh), oy = (int)(r % p->oh);
        const float *src = in + (size_t)b * p->h * p->w * c;
        const int y0 = oy * p->stride_h - p->pad_top;
        /* the window's rows inside the image: [ky0, ky1) */
        const int ky0 = y0 < 0 ? -y0 : 0, ky1 = p->h - y0 < p->kh ? p->h - y0 : p->kh;
        for (int ox = 0; ox < p->ow; ox++) {
            float *dst = out + ((size_t)r * p->ow + ox) * c;
            const int x0 = ox * p->stride_w - p->pad_left;
            const int kx0 = x0 < 0 ? -x0 : 0, kx1 = p->w - x0 < p->kw ? p->w - x0 : p->kw;
            const int count = (ky1 > ky0 ? ky1 - ky0 : 0) * (kx1 > kx0 ? kx1 - kx0 : 0);
            for (int c0 = 0; c0 < c; c0 += VL) {
                const MASK m = mask_for(c - c0);
                V acc = p->is_max ? vset1(-INFINITY) : vzero();
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *s = src + ((size_t)(y0 + ky) * p->w + x0) * c + c0;
                    if (p->is_max)
                        for (int kx = kx0; kx < kx1; kx++) {
                            V x = vload(m, s + (size_t)kx * c);
                            acc = vsel_gt(x, acc, x, acc);
                        }
                    else
                        for (int kx = kx0; kx < kx1; kx++)
                            acc = vadd(acc, vload(m, s + (size_t)kx * c));
                }
                if (!p->is_max)
                    acc = vmul(acc, vset1(1.0f / (float)count));
                vstore(dst + c0, m, acc);
            }
        }
    }
}

static void SP_NAME(upsample_rows)(const spatial_up *p, const float *in, float *out, long r0, long r1)
{
    if (!p->bilinear) {
        spatial_upsample_nearest_rows(p, in, out, r0, r1);
        return;
    }
    const int oh = p->h * p->scale, ow = p->w * p->scale, c = p->c;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / oh), oy = (int)(r % oh), y0, y1;
        float ty;
        const float *src = in + (size_t)b * p->h * p->w * c;
        float *dst = out + (size_t)r * ow * c;
        spatial_bilinear_src(oy, p->scale, p->h, &y0, &y1, &ty);
        const V vty = vset1(ty);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            float tx;
            spatial_bilinear_src(ox, p->scale, p->w, &x0, &x1, &tx);
            const V vtx = vset1(tx);
            const float *p00 = src + ((size_t)y0 * p->w + x0) * c, *p01 = src + ((size_t)y0 * p->w + x1) * c;
            const float *p10 = src + ((size_t)y1 * p->w + x0) * c, *p11 = src + ((size_t)y1 * p->w + x1) * c;
            for (int c0 = 0; c0 < c; c0 += VL) {
                const MASK m = mask_for(c - c0);
                V a = vload(m, p00 + c0), bq = vload(m, p10 + c0);
                V top = vadd(a, vmul_apart(vsub(vload(m, p01 + c0), a), vtx));
                V bot = vadd(bq, vmul_apart(vsub(vload(m, p11 + c0), bq), vtx));
                vstore(dst + (size_t)ox * c + c0, m, vadd(top, vmul_apart(vsub(bot, top), vty)));
            }
        }
    }
}

static void SP_NAME(binary)(int is_mul, const float *a, const float *b, float *dst, size_t n)
{
    size_t i = 0;
    if (is_mul) {
        for (; i + VL <= n; i += VL)
            vstoreu(dst + i, vmul(vloadu(a + i), vloadu(b + i)));
    } else {
        for (; i + VL <= n; i += VL)
            vstoreu(dst + i, vadd(vloadu(a + i), vloadu(b + i)));
    }
    if (i < n) {
        const MASK m = mask_for((int)(n - i));
        V x = vload(m, a + i), y = vload(m, b + i);
        vstore(dst + i, m, is_mul ? vmul(x, y) : vadd(x, y));
    }
}

const spatial_ops SP_NAME(ops) = {SP_NAME(pool_rows), SP_NAME(upsample_rows), SP_NAME(binary)};
