/* Learning-rate schedules: linear warm-up times constant, step, multi-step,
 * cosine or polynomial decay. */
#include "config.h"
#include "mfr/train.h"

#include <math.h>

mfr_lr_schedule mfr_lr_schedule_defaults(mfr_lr_kind kind, double base_lr)
{
    mfr_lr_schedule s = {0};
    s.kind = kind;
    s.base_lr = base_lr;
    s.gamma = 0.1;
    s.power = 2;
    return s;
}

int mfr_lr_schedule_check(const mfr_lr_schedule *s)
{
    const char *f = "learning-rate schedule";
    if (!s)
        return mfr_error(MFR_ERR_ARG, "%s: NULL", f);
    if (s->kind < MFR_LR_CONSTANT || s->kind > MFR_LR_POLY)
        return mfr_error(MFR_ERR_ARG, "%s: unknown kind %d", f, (int)s->kind);
    if (!(s->base_lr >= 0) || !isfinite(s->base_lr))
        return mfr_error(MFR_ERR_ARG, "%s: base_lr must be finite and >= 0, not %g", f, s->base_lr);
    if (s->warmup_steps < 0)
        return mfr_error(MFR_ERR_ARG, "%s: warmup_steps must be >= 0, not %ld", f, s->warmup_steps);
    if (!(s->warmup_start >= 0 && s->warmup_start <= 1))
        return mfr_error(MFR_ERR_ARG, "%s: warmup_start must lie in [0, 1], not %g", f, s->warmup_start);
    if ((s->kind == MFR_LR_STEP || s->kind == MFR_LR_MULTISTEP) && !(s->gamma > 0 && s->gamma <= 1))
        return mfr_error(MFR_ERR_ARG, "%s: gamma must lie in (0, 1], not %g", f, s->gamma);
    switch (s->kind) {
    case MFR_LR_STEP:
        if (s->step_size <= 0)
            return mfr_error(MFR_ERR_ARG, "%s: step_size must be > 0, not %ld", f, s->step_size);
        break;
    case MFR_LR_MULTISTEP:
        if (s->milestone_count < 0 || s->milestone_count > MFR_LR_MAX_MILESTONES)
            return mfr_error(MFR_ERR_ARG, "%s: milestone_count must lie in [0, %d], not %d", f,
                             MFR_LR_MAX_MILESTONES, s->milestone_count);
        for (int i = 0; i < s->milestone_count; i++)
            if (s->milestones[i] < 0 || (i > 0 && s->milestones[i] <= s->milestones[i - 1]))
                return mfr_error(MFR_ERR_ARG, "%s: milestones must be >= 0 and increasing (milestone %d is %ld)",
                                 f, i + 1, s->milestones[i]);
        break;
    case MFR_LR_COSINE:
    case MFR_LR_POLY:
        if (s->total_steps <= s->warmup_steps)
            return mfr_error(MFR_ERR_ARG, "%s: total_steps (%ld) must exceed warmup_steps (%ld)", f, s->total_steps,
                             s->warmup_steps);
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr))
            return mfr_error(MFR_ERR_ARG, "%s: min_lr must lie in [0, base_lr], not %g", f, s->min_lr);
        if (s->kind == MFR_LR_POLY && (!(s->power > 0) || !isfinite(s->power)))
            return mfr_error(MFR_ERR_ARG, "%s: power must be finite and > 0, not %g", f, s->power);
        break;
    case MFR_LR_CONSTANT:
    default:
        break;
    }
    return MFR_OK;
}

double mfr_lr_at(const mfr_lr_schedule *s, long t)
{
    const double pi = 3.14159265358979323846;
    double warm = 1, main, p;
    int passed = 0;
    if (!s)
        return 0;
    main = s->base_lr;
    if (t < 0)
        t = 0;
    if (t < s->warmup_steps)
        warm = s->warmup_start + (1 - s->warmup_start) * (double)t / (double)s->warmup_steps;
    switch (s->kind) {
    case MFR_LR_STEP:
        /* the guards keep an unchecked schedule from dividing by zero */
        main = s->base_lr * pow(s->gamma, s->step_size > 0 ? (double)(t / s->step_size) : 0);
        break;
    case MFR_LR_MULTISTEP:
        while (passed < s->milestone_count && s->milestones[passed] <= t)
            passed++;
        main = s->base_lr * pow(s->gamma, passed);
        break;
    case MFR_LR_COSINE:
    case MFR_LR_POLY:
        p = s->total_steps > s->warmup_steps
                ? (double)(t - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps)
                : 1;
        p = p < 0 ? 0 : p > 1 ? 1 : p;
        if (s->kind == MFR_LR_COSINE)
            main = s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1 + cos(pi * p));
        else
            main = s->min_lr + (s->base_lr - s->min_lr) * pow(1 - p, s->power);
        break;
    case MFR_LR_CONSTANT:
    default:
        break;
    }
    return warm * main;
}
