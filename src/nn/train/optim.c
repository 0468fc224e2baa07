/* SGD (momentum, Nesterov) and AdamW over a list of parameter tensors. */
#include "config.h"
#include "mfr/train.h"
#include "nn/train/train_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensors at least this large are updated by several threads. */
#define PARALLEL_MIN 16384

typedef struct opt_param {
    mfr_train_param p;
    char *name;          /* owned copy of p.name */
    float *s1, *s2;      /* SGD: momentum; AdamW: exp_avg, exp_avg_sq (NULL when unused) */
    char *s1_name, *s2_name;
} opt_param;

struct mfr_optim {
    mfr_optim_config cfg;
    int count;
    opt_param *params;
    int64_t steps;
    int states_per_param;
};

mfr_optim_config mfr_optim_defaults(mfr_optim_kind kind)
{
    mfr_optim_config c = {0};
    c.kind = kind;
    if (kind == MFR_OPTIM_SGD) {
        c.momentum = 0.9;
        c.weight_decay = 5e-4;
    } else {
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        c.weight_decay = 0.01;
    }
    return c;
}

static int check_config(const mfr_optim_config *c)
{
    const char *f = "mfr_optim_create";
    if (c->kind != MFR_OPTIM_SGD && c->kind != MFR_OPTIM_ADAMW)
        return mfr_error(MFR_ERR_ARG, "%s: unknown optimiser %d", f, (int)c->kind);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return mfr_error(MFR_ERR_ARG, "%s: weight_decay must be finite and >= 0, not %g", f, c->weight_decay);
    if (c->kind == MFR_OPTIM_SGD) {
        if (!(c->momentum >= 0 && c->momentum < 1))
            return mfr_error(MFR_ERR_ARG, "%s: momentum must lie in [0, 1), not %g", f, c->momentum);
        if (c->nesterov && c->momentum == 0)
            return mfr_error(MFR_ERR_ARG, "%s: Nesterov momentum needs momentum > 0", f);
    } else {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return mfr_error(MFR_ERR_ARG, "%s: beta1 and beta2 must lie in [0, 1), not %g and %g", f, c->beta1,
                             c->beta2);
        if (!(c->eps > 0) || !isfinite(c->eps))
            return mfr_error(MFR_ERR_ARG, "%s: eps must be finite and > 0, not %g", f, c->eps);
    }
    return MFR_OK;
}

static int check_params(const mfr_train_param *params, int count)
{
    const char *f = "mfr_optim_create";
    if (count < 0 || (count > 0 && !params))
        return mfr_error(MFR_ERR_ARG, "%s: bad parameter list (count %d)", f, count);
    for (int i = 0; i < count; i++) {
        const mfr_train_param *p = &params[i];
        if (!p->name || !p->name[0])
            return mfr_error(MFR_ERR_ARG, "%s: parameter %d has no name", f, i);
        if (p->size > 0 && (!p->value || !p->grad))
            return mfr_error(MFR_ERR_ARG, "%s: parameter '%s' has no value or gradient array", f, p->name);
        for (int j = 0; j < i; j++)
            if (strcmp(params[j].name, p->name) == 0)
                return mfr_error(MFR_ERR_ARG, "%s: parameter name '%s' is used twice", f, p->name);
    }
    return MFR_OK;
}

static char *join_name(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (!s) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(s, n, "%s.%s", a, b);
    return s;
}

int mfr_optim_create(const mfr_optim_config *cfg, const mfr_train_param *params, int count, mfr_optim **out)
{
    mfr_optim *o;
    int rc;
    if (!cfg || !out)
        return mfr_error(MFR_ERR_ARG, "mfr_optim_create: NULL configuration or result");
    *out = NULL;
    if ((rc = check_config(cfg)) != MFR_OK || (rc = check_params(params, count)) != MFR_OK)
        return rc;
    o = calloc(1, sizeof *o);
    if (!o)
        return mfr_error(MFR_ERR_NOMEM, "mfr_optim_create: out of memory");
    o->cfg = *cfg;
    o->count = count;
    o->states_per_param = cfg->kind == MFR_OPTIM_ADAMW ? 2 : cfg->momentum > 0 ? 1 : 0;
    o->params = calloc((size_t)(count > 0 ? count : 1), sizeof *o->params);
    if (!o->params) {
        free(o);
        return mfr_error(MFR_ERR_NOMEM, "mfr_optim_create: out of memory");
    }
    for (int i = 0; i < count; i++) {
        opt_param *q = &o->params[i];
        const char *n1 = cfg->kind == MFR_OPTIM_ADAMW ? "exp_avg" : "momentum";
        q->p = params[i];
        q->name = mfr_strdup(params[i].name);
        q->p.name = q->name;
        if (!q->name)
            goto nomem;
        if (o->states_per_param >= 1) {
            q->s1 = mfr_calloc(params[i].size, sizeof(float));
            q->s1_name = join_name(q->name, n1);
            if (!q->s1 || !q->s1_name)
                goto nomem;
        }
        if (o->states_per_param >= 2) {
            q->s2 = mfr_calloc(params[i].size, sizeof(float));
            q->s2_name = join_name(q->name, "exp_avg_sq");
            if (!q->s2 || !q->s2_name)
                goto nomem;
        }
    }
    *out = o;
    return MFR_OK;
nomem:
    mfr_optim_free(o);
    return mfr_error_context(MFR_ERR_NOMEM, "mfr_optim_create");
}

void mfr_optim_free(mfr_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->count; i++) {
        opt_param *q = &o->params[i];
        free(q->name);
        free(q->s1_name);
        free(q->s2_name);
        mfr_free(q->s1);
        mfr_free(q->s2);
    }
    free(o->params);
    free(o);
}

/* SGD on one tensor; every element is independent, so any split is exact. */
static void sgd_update(const mfr_optim_config *c, opt_param *q, double lr, double wd)
{
    float *w = q->p.value, *gr = q->p.grad, *b = q->s1;
    const double mu = c->momentum;
    const long n = (long)q->p.size;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if (n >= PARALLEL_MIN)
#endif
    for (long i = 0; i < n; i++) {
        double g = (double)gr[i] + wd * w[i], d = g;
        if (b) {
            double bi = mu * b[i] + g;
            b[i] = (float)bi;
            d = c->nesterov ? g + mu * bi : bi;
        }
        w[i] = (float)(w[i] - lr * d);
    }
}

static void adamw_update(const mfr_optim_config *c, opt_param *q, double lr, double wd, int64_t t)
{
    float *w = q->p.value, *gr = q->p.grad, *m = q->s1, *v = q->s2;
    const double b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const double step = lr / (1 - pow(b1, (double)t));
    const double bc2_sqrt = sqrt(1 - pow(b2, (double)t));
    const double shrink = 1 - lr * wd;
    const long n = (long)q->p.size;
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(mfr_threads()) if (n >= PARALLEL_MIN)
#endif
    for (long i = 0; i < n; i++) {
        double g = gr[i];
        double mi = b1 * m[i] + (1 - b1) * g;
        double vi = b2 * v[i] + (1 - b2) * g * g;
        double wi = w[i] * shrink;
        m[i] = (float)mi;
        v[i] = (float)vi;
        w[i] = (float)(wi - step * mi / (sqrt(vi) / bc2_sqrt + eps));
    }
}

int mfr_optim_step(mfr_optim *o, double lr)
{
    if (!o)
        return mfr_error(MFR_ERR_ARG, "mfr_optim_step: NULL optimiser");
    if (!(lr >= 0) || !isfinite(lr))
        return mfr_error(MFR_ERR_ARG, "mfr_optim_step: learning rate must be finite and >= 0, not %g", lr);
    o->steps++;
    for (int i = 0; i < o->count; i++) {
        opt_param *q = &o->params[i];
        double wd = q->p.no_decay ? 0 : o->cfg.weight_decay;
        if (o->cfg.kind == MFR_OPTIM_SGD)
            sgd_update(&o->cfg, q, lr, wd);
        else
            adamw_update(&o->cfg, q, lr, wd, o->steps);
    }
    return MFR_OK;
}

void mfr_optim_zero_grad(mfr_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->count; i++)
        if (o->params[i].p.size > 0)
            memset(o->params[i].p.grad, 0, o->params[i].p.size * sizeof(float));
}

int64_t mfr_optim_steps(const mfr_optim *o)
{
    return o ? o->steps : 0;
}

void mfr_optim_set_steps(mfr_optim *o, int64_t steps)
{
    if (o)
        o->steps = steps > 0 ? steps : 0;
}

int mfr_optim_state_count(const mfr_optim *o)
{
    return o ? o->count * o->states_per_param : 0;
}

int mfr_optim_state_get(const mfr_optim *o, int i, mfr_optim_state *out)
{
    const opt_param *q;
    if (!o || !out || i < 0 || i >= mfr_optim_state_count(o))
        return mfr_error(MFR_ERR_RANGE, "mfr_optim_state_get: state %d does not exist (%d states)", i,
                         mfr_optim_state_count(o));
    q = &o->params[i / o->states_per_param];
    if (i % o->states_per_param == 0)
        *out = (mfr_optim_state){q->s1_name, q->s1, q->p.size};
    else
        *out = (mfr_optim_state){q->s2_name, q->s2, q->p.size};
    return MFR_OK;
}
