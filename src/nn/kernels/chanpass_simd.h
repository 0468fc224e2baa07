/* The per-channel passes, written once for both vector widths: included by
 * chanpass_avx512.c and chanpass_avx2.c after they define
 *   floats:  V, VL (lanes), MASK, mask_for(n), vload(m, p), vstore(p, m, v),
 *            vzero(), vset1(x), vfma(a, b, c), vmul(a, b), vsub(a, b),
 *            vdiv(a, b), vsel_lt(a, b, x, y) (a < b ? x : y), vsel_gt,
 *            vact(v, act, slope)
 *   doubles: VD, DL (lanes), DMASK, dmask_for(n), vd_cvt(m, p) (DL floats
 *            loaded and widened), vd_load(m, p), vd_store(p, m, v), vd_add,
 *            vd_sub, vd_fma, vd_lo(v) / vd_hi(v) (the low / high DL floats
 *            of a V widened)
 *   CP_NAME(x): the name of this version's function x.
 * The operations match chanpass.c one for one (fmaf there, vfma here). */

/* Channels [c0, c0 + NACC * DL) of the sums: NACC vectors of running sums
 * stay in registers over all rows (starting from part, so the additions are
 * the scalar ones in the same order), then are stored back. */
static inline __attribute__((always_inline)) void cp_sums_block(int what, const float *x, const float *dz,
                                                                size_t rows, int c, const double *m,
                                                                double *part, int c0, const int NACC)
{
    DMASK k[4];
    VD a[4], b[4], mv[4];
    double *p2 = part + c;
    for (int j = 0; j < NACC; j++) {
        k[j] = dmask_for(c - c0 - j * DL);
        a[j] = vd_load(k[j], part + c0 + j * DL);
        b[j] = what == CHANPASS_DZ_DEV || what == CHANPASS_SUM_SQ ? vd_load(k[j], p2 + c0 + j * DL) : a[j];
        mv[j] = what != CHANPASS_SUM ? vd_load(k[j], m + c0 + j * DL) : a[j];
    }
    if (what == CHANPASS_SUM) {
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)c + c0;
            for (int j = 0; j < NACC; j++)
                a[j] = vd_add(a[j], vd_cvt(k[j], xr + j * DL));
        }
    } else if (what == CHANPASS_SQDEV) {
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)c + c0;
            for (int j = 0; j < NACC; j++) {
                VD d = vd_sub(vd_cvt(k[j], xr + j * DL), mv[j]);
                a[j] = vd_fma(d, d, a[j]);
            }
        }
    } else if (what == CHANPASS_SUM_SQ) {
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)c + c0;
            for (int j = 0; j < NACC; j++) {
                VD d = vd_sub(vd_cvt(k[j], xr + j * DL), mv[j]);
                a[j] = vd_add(a[j], d);
                b[j] = vd_fma(d, d, b[j]);
            }
        }
    } else {
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)c + c0, *dr = dz + r * (size_t)c + c0;
            for (int j = 0; j < NACC; j++) {
                VD d = vd_cvt(k[j], dr + j * DL);
                a[j] = vd_add(a[j], d);
                b[j] = vd_fma(d, vd_sub(vd_cvt(k[j], xr + j * DL), mv[j]), b[j]);
            }
        }
    }
    for (int j = 0; j < NACC; j++) {
        vd_store(part + c0 + j * DL, k[j], a[j]);
        if (what == CHANPASS_DZ_DEV || what == CHANPASS_SUM_SQ)
            vd_store(p2 + c0 + j * DL, k[j], b[j]);
    }
}

static void CP_NAME(sums)(int what, const float *x, const float *dz, size_t rows, int c, const double *m,
                          double *part)
{
    int c0 = 0;
    /* blocks of 4 vectors, then 2, then 1 (partly masked) */
    for (; c0 + 4 * DL <= c; c0 += 4 * DL)
        cp_sums_block(what, x, dz, rows, c, m, part, c0, 4);
    if (c0 + 2 * DL <= c) {
        cp_sums_block(what, x, dz, rows, c, m, part, c0, 2);
        c0 += 2 * DL;
    }
    for (; c0 < c; c0 += DL)
        cp_sums_block(what, x, dz, rows, c, m, part, c0, 1);
}

static void CP_NAME(scale_shift_act)(const float *in, float *out, size_t rows, int c, const float *scale,
                                     const float *shift, mfr_act act, float param, const float *prelu)
{
    int scalar_act = act_is_scalar_only(act);
    for (size_t r = 0; r < rows; r++)
        for (int c0 = 0; c0 < c; c0 += VL) {
            size_t o = r * (size_t)c + (size_t)c0;
            MASK k = mask_for(c - c0);
            V z = vfma(vload(k, in + o), vload(k, scale + c0), vload(k, shift + c0));
            if (!scalar_act) {
                V slope = act == MFR_ACT_PRELU ? (prelu ? vload(k, prelu + c0) : vzero()) : vset1(param);
                vstore(out + o, k, vact(z, act, slope));
            } else {
                int n = c - c0 < VL ? c - c0 : VL;
                vstore(out + o, k, z);
                for (int i = 0; i < n; i++)
                    out[o + (size_t)i] = mfr_act_scalar(out[o + (size_t)i], act, param, 0.0f);
            }
        }
}

/* act'(z) as mfr_act_derivative_scalar computes it (not sigmoid, tanh);
 * param: the leaky slope, or the PReLU slopes. */
static inline __attribute__((always_inline)) V cp_derivative(V z, mfr_act act, V param)
{
    const V zero = vzero(), one = vset1(1.0f);
    switch (act) {
    case MFR_ACT_RELU:
        return vsel_gt(z, zero, one, zero);
    case MFR_ACT_RELU6:
        return vsel_gt(z, zero, vsel_lt(z, vset1(6.0f), one, zero), zero);
    case MFR_ACT_LEAKY:
    case MFR_ACT_PRELU:
        return vsel_lt(z, zero, param, one);
    case MFR_ACT_HSWISH: {
        V t = vdiv(vfma(vset1(2.0f), z, vset1(3.0f)), vset1(6.0f));
        t = vsel_gt(z, vset1(3.0f), one, t);
        return vsel_lt(z, vset1(-3.0f), zero, t);
    }
    default:
        return one;
    }
}

static void CP_NAME(bn_apply)(const float *u, float *dz, size_t rows, int c, const float *m, const float *k1,
                              const float *k2, const float *k3)
{
    for (size_t r = 0; r < rows; r++)
        for (int c0 = 0; c0 < c; c0 += VL) {
            size_t o = r * (size_t)c + (size_t)c0;
            MASK k = mask_for(c - c0);
            V t = vfma(vload(k, k2 + c0), vsub(vload(k, u + o), vload(k, m + c0)), vload(k, k3 + c0));
            vstore(dz + o, k, vfma(vload(k, k1 + c0), vload(k, dz + o), t));
        }
}

/* d = dy * act'(fma(u, scale, shift)) for one vector of channels; *zp gets z. */
static inline __attribute__((always_inline)) V cp_bnact_d(const float *u, const float *dy,
                                                          const chanpass_bnact *b, int c0, MASK k, V *zp)
{
    V z = vfma(vload(k, u), vload(k, b->scale + c0), vload(k, b->shift + c0));
    *zp = z;
    if (act_is_scalar_only(b->act)) {
        float zs[VL] = {0}, ds[VL] = {0};
        vstore(zs, k, z);
        vstore(ds, k, vload(k, dy));
        for (int i = 0; i < VL; i++)
            ds[i] = ds[i] * mfr_act_derivative_scalar(zs[i], b->act, b->param, 0.0f);
        return vload(k, ds);
    }
    V slope = b->act == MFR_ACT_PRELU ? (b->prelu ? vload(k, b->prelu + c0) : vzero()) : vset1(b->param);
    return vmul(vload(k, dy), cp_derivative(z, b->act, slope));
}

static void CP_NAME(act_backward)(const float *u, const float *dy, float *dz, size_t rows, int c,
                                  const float *scale, const float *shift, mfr_act act, float param)
{
    chanpass_bnact b = {scale, shift, act, param, NULL}; /* PReLU: slope 0, as the reference */
    for (size_t r = 0; r < rows; r++)
        for (int c0 = 0; c0 < c; c0 += VL) {
            size_t o = r * (size_t)c + (size_t)c0;
            MASK k = mask_for(c - c0);
            V z;
            vstore(dz + o, k, cp_bnact_d(u + o, dy + o, &b, c0, k, &z));
        }
}

static void CP_NAME(bnact_sums)(const float *u, const float *dy, size_t rows, int c, const chanpass_bnact *b,
                                const double *m, int slope_sum, double *part)
{
    double *p2 = part + c, *p3 = part + 2 * (size_t)c;
    for (int c0 = 0; c0 < c; c0 += VL) {
        MASK k = mask_for(c - c0);
        DMASK klo = dmask_for(c - c0), khi = dmask_for(c - c0 - DL);
        VD a0 = vd_load(klo, part + c0), a1 = vd_load(khi, part + c0 + DL);
        VD b0 = vd_load(klo, p2 + c0), b1 = vd_load(khi, p2 + c0 + DL);
        VD s0 = slope_sum ? vd_load(klo, p3 + c0) : a0, s1 = slope_sum ? vd_load(khi, p3 + c0 + DL) : a1;
        VD m0 = vd_load(klo, m + c0), m1 = vd_load(khi, m + c0 + DL);
        for (size_t r = 0; r < rows; r++) {
            size_t o = r * (size_t)c + (size_t)c0;
            V z, d = cp_bnact_d(u + o, dy + o, b, c0, k, &z), uv = vload(k, u + o);
            VD dlo = vd_lo(d), dhi = vd_hi(d);
            a0 = vd_add(a0, dlo);
            a1 = vd_add(a1, dhi);
            b0 = vd_fma(dlo, vd_sub(vd_lo(uv), m0), b0);
            b1 = vd_fma(dhi, vd_sub(vd_hi(uv), m1), b1);
            if (slope_sum) {
                V zneg = vsel_lt(z, vzero(), z, vzero()), dyv = vload(k, dy + o);
                s0 = vd_fma(vd_lo(dyv), vd_lo(zneg), s0);
                s1 = vd_fma(vd_hi(dyv), vd_hi(zneg), s1);
            }
        }
        vd_store(part + c0, klo, a0);
        vd_store(part + c0 + DL, khi, a1);
        vd_store(p2 + c0, klo, b0);
        vd_store(p2 + c0 + DL, khi, b1);
        if (slope_sum) {
            vd_store(p3 + c0, klo, s0);
            vd_store(p3 + c0 + DL, khi, s1);
        }
    }
}

static void CP_NAME(bnact_apply)(const float *u, const float *dy, float *dz, size_t rows, int c,
                                 const chanpass_bnact *b, const float *m, const float *k1, const float *k2,
                                 const float *k3)
{
    for (size_t r = 0; r < rows; r++)
        for (int c0 = 0; c0 < c; c0 += VL) {
            size_t o = r * (size_t)c + (size_t)c0;
            MASK k = mask_for(c - c0);
            V z, d = cp_bnact_d(u + o, dy + o, b, c0, k, &z);
            V t = vfma(vload(k, k2 + c0), vsub(vload(k, u + o), vload(k, m + c0)), vload(k, k3 + c0));
            vstore(dz + o, k, vfma(vload(k, k1 + c0), d, t));
        }
}

const chanpass_ops CP_NAME(ops) = {CP_NAME(sums),     CP_NAME(scale_shift_act), CP_NAME(act_backward),
                                   CP_NAME(bn_apply), CP_NAME(bnact_sums),      CP_NAME(bnact_apply)};
