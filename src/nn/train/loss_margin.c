/* ArcFace and CosFace margin heads: normalised embeddings against normalised
 * class weights, a margin on the target cosine, scaled softmax cross-entropy.
 *
 * The three products over B x C (cosines, embedding gradient, weight
 * gradient) run either as float GEMMs (mfr_sgemm, mfr_loss_margin) or as
 * plain double loops (head_*_plain, mfr_loss_margin_reference), the
 * reference the tests hold the GEMM path to. Everything else (norms, margin,
 * softmax, the backward pass through the normalisation) is shared and in
 * double. */
#include "config.h"
#include "mfr/kernels.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>
#include <string.h>

/* Below this sine the ArcFace derivative d phi / d cos (which grows like
 * 1/sin(theta) as theta -> 0) is evaluated at this sine instead. */
#define MIN_SINE 1e-6

mfr_margin_head mfr_margin_defaults(mfr_margin_kind kind)
{
    mfr_margin_head h = {kind, 64.0, kind == MFR_MARGIN_ARCFACE ? 0.5 : 0.4};
    return h;
}

typedef struct head_ctx {
    int batch, dim, classes;
    const float *emb, *weight;
    const int *labels;
    mfr_margin_kind kind;
    double s, m;
    double *inv_x;   /* B: 1 / |x_i| */
    double *inv_w;   /* C: 1 / |w_j| */
    double *cosm;    /* B x C: cosines, then d loss / d cosine */
    int want_grad;
} head_ctx;

/* 1 / |row| for `rows` rows of `dim` floats; 0 when a row is all zeros. */
static void inverse_norms(const float *a, int rows, int dim, double *inv)
{
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if ((long)rows * dim > 65536)
#endif
    for (int i = 0; i < rows; i++) {
        const float *r = a + (size_t)i * dim;
        double ss = 0;
        for (int d = 0; d < dim; d++)
            ss += (double)r[d] * r[d];
        inv[i] = ss > 0 ? 1.0 / sqrt(ss) : 0;
    }
}

/* cos_ij = <x_i, w_j> / (|x_i| |w_j|), clamped into [-1, 1]. */
static void head_cosines_plain(const head_ctx *h)
{
    const int nc = h->classes, dim = h->dim;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads())
#endif
    for (int i = 0; i < h->batch; i++) {
        const float *x = h->emb + (size_t)i * dim;
        double *c = h->cosm + (size_t)i * nc;
        for (int j = 0; j < nc; j++) {
            const float *w = h->weight + (size_t)j * dim;
            double dot = 0;
            for (int d = 0; d < dim; d++)
                dot += (double)x[d] * w[d];
            dot *= h->inv_x[i] * h->inv_w[j];
            c[j] = dot > 1 ? 1 : dot < -1 ? -1 : dot;
        }
    }
}

/* The target logit before scaling, phi(cos), and d phi / d cos. */
static double margin_phi(const head_ctx *h, double c, double *dphi)
{
    if (h->kind == MFR_MARGIN_COSFACE) {
        *dphi = 1;
        return c - h->m;
    }
    /* ArcFace: cos(theta + m) while theta + m <= pi, i.e. c > cos(pi - m);
     * beyond, InsightFace's fallback c - m sin(m) keeps phi decreasing in theta. */
    const double cm = cos(h->m), sm = sin(h->m);
    if (c > -cm) {
        double sine = sqrt(1 - c * c);
        *dphi = cm + sm * c / (sine > MIN_SINE ? sine : MIN_SINE);
        return c * cm - sine * sm;
    }
    *dphi = 1;
    return c - h->m * sm;
}

/* Cross-entropy of rows [begin, end) of the scaled, margined cosines; when
 * gradients are wanted, overwrites each row of cosines with d loss / d cos. */
static double head_rows(void *arg, size_t begin, size_t end)
{
    const head_ctx *h = arg;
    const int nc = h->classes;
    double sum = 0;
    for (size_t i = begin; i < end; i++) {
        double *c = h->cosm + i * (size_t)nc;
        const int y = h->labels[i];
        double dphi, zy = h->s * margin_phi(h, c[y], &dphi);
        double mx = zy, se = 0, lse;
        for (int j = 0; j < nc; j++)
            if (j != y && h->s * c[j] > mx)
                mx = h->s * c[j];
        for (int j = 0; j < nc; j++)
            se += exp((j == y ? zy : h->s * c[j]) - mx);
        lse = mx + log(se);
        sum += lse - zy;
        if (h->want_grad) {
            /* d loss / d z_j = (p_j - [j == y]) / B; z_j = s c_j, z_y = s phi(c_y). */
            for (int j = 0; j < nc; j++) {
                double p = exp((j == y ? zy : h->s * c[j]) - lse);
                double dz = (p - (j == y)) / h->batch;
                c[j] = h->s * dz * (j == y ? dphi : 1);
            }
        }
    }
    return sum;
}

/* Backward through r = a / |a|: d a = (g - r <r, g>) / |a|, with r = a inv. */
static void unnormalize_grad(const float *a, double inv, const double *g, int dim, float *out)
{
    double rg = 0;
    for (int d = 0; d < dim; d++)
        rg += a[d] * inv * g[d];
    for (int d = 0; d < dim; d++)
        out[d] = (float)((g[d] - a[d] * inv * rg) * inv);
}

/* grad_emb_i from g_i = sum_j dcos_ij w_j / |w_j|. scratch: threads x dim. */
static void head_grad_emb_plain(const head_ctx *h, double *scratch, float *grad_emb)
{
    const int nc = h->classes, dim = h->dim;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel num_threads(mfr_threads())
#endif
    {
        double *g = scratch + (size_t)tr_thread_num() * dim;
#ifdef MFR_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
        for (int i = 0; i < h->batch; i++) {
            const double *dc = h->cosm + (size_t)i * nc;
            memset(g, 0, (size_t)dim * sizeof *g);
            for (int j = 0; j < nc; j++) {
                const float *w = h->weight + (size_t)j * dim;
                double f = dc[j] * h->inv_w[j];
                for (int d = 0; d < dim; d++)
                    g[d] += f * w[d];
            }
            unnormalize_grad(h->emb + (size_t)i * dim, h->inv_x[i], g, dim, grad_emb + (size_t)i * dim);
        }
    }
}

/* grad_weight_j from g_j = sum_i dcos_ij x_i / |x_i|. scratch: threads x dim. */
static void head_grad_weight_plain(const head_ctx *h, double *scratch, float *grad_weight)
{
    const int nc = h->classes, dim = h->dim;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel num_threads(mfr_threads())
#endif
    {
        double *g = scratch + (size_t)tr_thread_num() * dim;
#ifdef MFR_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
        for (int j = 0; j < nc; j++) {
            memset(g, 0, (size_t)dim * sizeof *g);
            for (int i = 0; i < h->batch; i++) {
                const float *x = h->emb + (size_t)i * dim;
                double f = h->cosm[(size_t)i * nc + j] * h->inv_x[i];
                for (int d = 0; d < dim; d++)
                    g[d] += f * x[d];
            }
            unnormalize_grad(h->weight + (size_t)j * dim, h->inv_w[j], g, dim, grad_weight + (size_t)j * dim);
        }
    }
}

/* The same backward step on a float gradient, in place. */
static void unnormalize_grad_inplace(const float *a, double inv, float *g, int dim)
{
    double rg = 0;
    for (int d = 0; d < dim; d++)
        rg += a[d] * inv * g[d];
    for (int d = 0; d < dim; d++)
        g[d] = (float)((g[d] - a[d] * inv * rg) * inv);
}

/* rows x dim floats a_i / |a_i| (rounded to float), for the GEMMs. */
static void normalized_copy(const float *a, const double *inv, int rows, int dim, float *out)
{
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if ((long)rows * dim > 65536)
#endif
    for (int i = 0; i < rows; i++)
        for (int d = 0; d < dim; d++)
            out[(size_t)i * dim + d] = (float)(a[(size_t)i * dim + d] * inv[i]);
}

/* The GEMM path. xn: B x D, wn: C x D, cf: B x C float scratch. */
static int head_gemm(head_ctx *h, float *xn, float *wn, float *cf, double *loss, float *grad_emb,
                     float *grad_weight)
{
    const int b = h->batch, nc = h->classes, dim = h->dim;
    const size_t bc = (size_t)b * nc;
    double sum;
    int rc;
    normalized_copy(h->emb, h->inv_x, b, dim, xn);
    normalized_copy(h->weight, h->inv_w, nc, dim, wn);
    /* cosines = xn wn^T */
    mfr_sgemm('N', 'T', b, nc, dim, 1.0f, xn, dim, wn, dim, 0.0f, cf, nc);
    for (size_t e = 0; e < bc; e++)
        h->cosm[e] = cf[e] > 1 ? 1 : cf[e] < -1 ? -1 : cf[e];
    rc = mfr_train_chunked_sum((size_t)b, TR_CHUNK_ROWS, head_rows, h, &sum);
    if (rc != MFR_OK)
        return rc;
    if (loss)
        *loss = sum / b;
    if (!h->want_grad)
        return MFR_OK;
    for (size_t e = 0; e < bc; e++)
        cf[e] = (float)h->cosm[e];
    if (grad_emb) {
        /* g = dcos wn, then through the normalisation of each embedding */
        mfr_sgemm('N', 'N', b, dim, nc, 1.0f, cf, nc, wn, dim, 0.0f, grad_emb, dim);
        for (int i = 0; i < b; i++)
            unnormalize_grad_inplace(h->emb + (size_t)i * dim, h->inv_x[i], grad_emb + (size_t)i * dim, dim);
    }
    if (grad_weight) {
        /* h = dcos^T xn, then through the normalisation of each class weight */
        mfr_sgemm('T', 'N', nc, dim, b, 1.0f, cf, nc, xn, dim, 0.0f, grad_weight, dim);
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if ((long)nc * dim > 65536)
#endif
        for (int j = 0; j < nc; j++)
            unnormalize_grad_inplace(h->weight + (size_t)j * dim, h->inv_w[j], grad_weight + (size_t)j * dim,
                                     dim);
    }
    return MFR_OK;
}

static int check_args(const mfr_margin_head *head, int batch, int dim, int classes, const float *emb,
                      const float *weight, const int *labels)
{
    const char *f = "mfr_loss_margin";
    if (!head || !emb || !weight || !labels)
        return mfr_error(MFR_ERR_ARG, "%s: NULL head, embeddings, weights or labels", f);
    if (batch <= 0 || dim <= 0 || classes <= 0)
        return mfr_error(MFR_ERR_ARG, "%s: need batch, dim and classes > 0 (got %d, %d, %d)", f, batch, dim,
                         classes);
    if (head->kind != MFR_MARGIN_ARCFACE && head->kind != MFR_MARGIN_COSFACE)
        return mfr_error(MFR_ERR_ARG, "%s: unknown margin kind %d", f, (int)head->kind);
    if (!(head->s > 0) || !isfinite(head->s))
        return mfr_error(MFR_ERR_ARG, "%s: scale s must be finite and > 0, not %g", f, head->s);
    if (head->kind == MFR_MARGIN_ARCFACE && !(head->m >= 0 && head->m < 1.5707963267948966))
        return mfr_error(MFR_ERR_ARG, "%s: ArcFace margin m must lie in [0, pi/2), not %g", f, head->m);
    if (head->kind == MFR_MARGIN_COSFACE && !(head->m >= 0 && head->m <= 2))
        return mfr_error(MFR_ERR_ARG, "%s: CosFace margin m must lie in [0, 2], not %g", f, head->m);
    for (int i = 0; i < batch; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return mfr_error(MFR_ERR_RANGE, "%s: label %d of row %d is outside [0, %d)", f, labels[i], i, classes);
    return MFR_OK;
}

/* Both paths: arguments, norms and buffers, then the products. */
static int margin_run(int use_gemm, const mfr_margin_head *head, int batch, int dim, int classes,
                      const float *emb, const float *weight, const int *labels, double *loss, float *grad_emb,
                      float *grad_weight)
{
    head_ctx h;
    double sum, *scratch = NULL;
    float *xn = NULL, *wn = NULL, *cf = NULL;
    size_t bc, cd;
    int rc = check_args(head, batch, dim, classes, emb, weight, labels);
    if (rc != MFR_OK)
        return rc;
    if (mfr_size_mul((size_t)batch, (size_t)classes, &bc) != MFR_OK ||
        mfr_size_mul((size_t)classes, (size_t)dim, &cd) != MFR_OK)
        return mfr_error_context(MFR_ERR_NOMEM, "mfr_loss_margin");
    h = (head_ctx){batch, dim, classes, emb, weight, labels, head->kind, head->s, head->m,
                   mfr_calloc((size_t)batch, sizeof(double)), mfr_calloc((size_t)classes, sizeof(double)),
                   mfr_calloc(bc, sizeof(double)), grad_emb || grad_weight};
    if (use_gemm) {
        xn = mfr_calloc((size_t)batch * dim, sizeof(float));
        wn = mfr_calloc(cd, sizeof(float));
        cf = mfr_calloc(bc, sizeof(float));
    } else if (h.want_grad) {
        scratch = mfr_calloc((size_t)mfr_threads() * (size_t)dim, sizeof(double));
    }
    if (!h.inv_x || !h.inv_w || !h.cosm || (use_gemm && (!xn || !wn || !cf)) ||
        (!use_gemm && h.want_grad && !scratch)) {
        rc = mfr_error_context(MFR_ERR_NOMEM, "mfr_loss_margin (%d x %d)", batch, classes);
        goto done;
    }
    inverse_norms(emb, batch, dim, h.inv_x);
    inverse_norms(weight, classes, dim, h.inv_w);
    for (int i = 0; i < batch && rc == MFR_OK; i++)
        if (h.inv_x[i] == 0 || !isfinite(h.inv_x[i]))
            rc = mfr_error(MFR_ERR_RANGE, "mfr_loss_margin: embedding %d has zero or non-finite length", i);
    for (int j = 0; j < classes && rc == MFR_OK; j++)
        if (h.inv_w[j] == 0 || !isfinite(h.inv_w[j]))
            rc = mfr_error(MFR_ERR_RANGE, "mfr_loss_margin: class weight %d has zero or non-finite length", j);
    if (rc != MFR_OK)
        goto done;
    if (use_gemm) {
        rc = head_gemm(&h, xn, wn, cf, loss, grad_emb, grad_weight);
        goto done;
    }
    head_cosines_plain(&h);
    rc = mfr_train_chunked_sum((size_t)batch, TR_CHUNK_ROWS, head_rows, &h, &sum);
    if (rc != MFR_OK)
        goto done;
    if (loss)
        *loss = sum / batch;
    if (grad_emb)
        head_grad_emb_plain(&h, scratch, grad_emb);
    if (grad_weight)
        head_grad_weight_plain(&h, scratch, grad_weight);
done:
    mfr_free(h.inv_x);
    mfr_free(h.inv_w);
    mfr_free(h.cosm);
    mfr_free(scratch);
    mfr_free(xn);
    mfr_free(wn);
    mfr_free(cf);
    return rc;
}

int mfr_loss_margin(const mfr_margin_head *head, int batch, int dim, int classes, const float *emb,
                    const float *weight, const int *labels, double *loss, float *grad_emb, float *grad_weight)
{
    return margin_run(1, head, batch, dim, classes, emb, weight, labels, loss, grad_emb, grad_weight);
}

int mfr_loss_margin_reference(const mfr_margin_head *head, int batch, int dim, int classes, const float *emb,
                              const float *weight, const int *labels, double *loss, float *grad_emb,
                              float *grad_weight)
{
    return margin_run(0, head, batch, dim, classes, emb, weight, labels, loss, grad_emb, grad_weight);
}
