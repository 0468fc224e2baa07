/* The generic sections of a training recipe: [train], [optim], [schedule]. */
#include "config.h"
#include "mfr/train.h"

#include <string.h>

static int read_optim(mfr_ini *ini, mfr_optim_config *o)
{
    static const char *const kinds[] = {"sgd", "adamw", NULL};
    int sec = mfr_ini_find(ini, "optim"), kind = 0, rc;
    if ((rc = mfr_ini_get_choice(ini, sec, "kind", kinds, 0, &kind)) != MFR_OK)
        return rc;
    *o = mfr_optim_defaults((mfr_optim_kind)kind);
    if ((rc = mfr_ini_get_double(ini, sec, "weight_decay", o->weight_decay, 0, 1, &o->weight_decay)) != MFR_OK)
        return rc;
    if (kind == MFR_OPTIM_SGD) {
        if ((rc = mfr_ini_get_double(ini, sec, "momentum", o->momentum, 0, 0.9999, &o->momentum)) != MFR_OK ||
            (rc = mfr_ini_get_bool(ini, sec, "nesterov", 0, &o->nesterov)) != MFR_OK)
            return rc;
        if (o->nesterov && o->momentum <= 0)
            return mfr_ini_error(ini, sec, "nesterov", MFR_ERR_RANGE, "nesterov = yes needs momentum > 0");
    } else {
        if ((rc = mfr_ini_get_double(ini, sec, "beta1", o->beta1, 0, 0.9999, &o->beta1)) != MFR_OK ||
            (rc = mfr_ini_get_double(ini, sec, "beta2", o->beta2, 0, 0.999999, &o->beta2)) != MFR_OK ||
            (rc = mfr_ini_get_double(ini, sec, "eps", o->eps, 1e-12, 1, &o->eps)) != MFR_OK)
            return rc;
    }
    return MFR_OK;
}

static int read_schedule(mfr_ini *ini, long steps, mfr_lr_schedule *s)
{
    static const char *const kinds[] = {"constant", "step", "multistep", "cosine", "poly", NULL};
    int sec = mfr_ini_find(ini, "schedule"), kind = 0, rc, n = 0;
    double lr, ms[MFR_LR_MAX_MILESTONES];
    if ((rc = mfr_ini_get_choice(ini, sec, "kind", kinds, 0, &kind)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "lr", 0.1, 0, 100, &lr)) != MFR_OK)
        return rc;
    *s = mfr_lr_schedule_defaults((mfr_lr_kind)kind, lr);
    s->total_steps = steps;
    if ((rc = mfr_ini_get_int(ini, sec, "warmup_steps", 0, 0, steps, &s->warmup_steps)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "warmup_start", s->warmup_start, 0, 1, &s->warmup_start)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "min_lr", 0, 0, lr, &s->min_lr)) != MFR_OK)
        return rc;
    if (kind == MFR_LR_STEP &&
        ((rc = mfr_ini_get_int(ini, sec, "step_size", steps / 3 > 0 ? steps / 3 : 1, 1, 1L << 40, &s->step_size)) !=
             MFR_OK ||
         (rc = mfr_ini_get_double(ini, sec, "gamma", s->gamma, 1e-9, 1, &s->gamma)) != MFR_OK))
        return rc;
    if (kind == MFR_LR_MULTISTEP) {
        if ((rc = mfr_ini_get_doubles(ini, sec, "milestones", 0, 1e12, ms, MFR_LR_MAX_MILESTONES, &n)) != MFR_OK ||
            (rc = mfr_ini_get_double(ini, sec, "gamma", s->gamma, 1e-9, 1, &s->gamma)) != MFR_OK)
            return rc;
        if (n == 0)
            return mfr_ini_error(ini, sec, NULL, MFR_ERR_ARG, "kind = multistep needs milestones = a, b, ...");
        s->milestone_count = n;
        for (int i = 0; i < n; i++)
            s->milestones[i] = (long)ms[i];
    }
    if (kind == MFR_LR_POLY && (rc = mfr_ini_get_double(ini, sec, "power", s->power, 1e-6, 100, &s->power)) != MFR_OK)
        return rc;
    if ((kind == MFR_LR_COSINE || kind == MFR_LR_POLY) && s->warmup_steps >= steps)
        return mfr_ini_error(ini, sec, "warmup_steps", MFR_ERR_RANGE, "warmup_steps must be below the %ld steps",
                             steps);
    if ((rc = mfr_lr_schedule_check(s)) != MFR_OK)
        return mfr_error_context(rc, "%s: [schedule]", mfr_ini_name(ini));
    return MFR_OK;
}

int mfr_trainer_config_read(mfr_ini *ini, mfr_trainer_config *c)
{
    int sec = mfr_ini_find(ini, "train"), rc;
    long v;
    if (sec < 0)
        return mfr_error(MFR_ERR_FORMAT, "%s: no [train] section", mfr_ini_name(ini));
    if ((rc = mfr_ini_get_int(ini, sec, "steps", c->steps, 1, 1L << 40, &c->steps)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "batch", c->batch, 1, 4096, &v)) != MFR_OK)
        return rc;
    c->batch = (int)v;
    if ((rc = mfr_ini_get_int(ini, sec, "seed", (long)c->seed, 0, 1L << 62, &v)) != MFR_OK)
        return rc;
    c->seed = (uint64_t)v;
    if ((rc = mfr_ini_get_double(ini, sec, "bn_momentum", c->bn_momentum, 0, 1, &c->bn_momentum)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "clip_norm", c->clip_norm, 0, 1e9, &c->clip_norm)) != MFR_OK ||
        (rc = mfr_ini_get_double(ini, sec, "clip_value", c->clip_value, 0, 1e9, &c->clip_value)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "checkpoint_every", c->checkpoint_every, 0, 1L << 40,
                              &c->checkpoint_every)) != MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "validate_every", c->validate_every, 0, 1L << 40, &c->validate_every)) !=
            MFR_OK ||
        (rc = mfr_ini_get_int(ini, sec, "log_every", c->log_every, 1, 1L << 40, &c->log_every)) != MFR_OK)
        return rc;
    if ((rc = read_optim(ini, &c->optim)) != MFR_OK)
        return rc;
    return read_schedule(ini, c->steps, &c->lr);
}
