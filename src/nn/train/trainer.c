/* The generic training loop: prefetching data callback, forward/backward
 * with mfr_grad, task loss, clipping, optimiser, schedule, CSV log,
 * progress bar, checkpoints and resume. docs/training.md, "The trainer". */
#include "config.h"
#include "mfr/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef MFR_HAVE_OPENMP
#include <pthread.h>
#endif

void mfr_trainer_config_default(mfr_trainer_config *c)
{
    memset(c, 0, sizeof *c);
    c->steps = 1000;
    c->batch = 32;
    c->seed = 1;
    c->optim = mfr_optim_defaults(MFR_OPTIM_SGD);
    c->lr = mfr_lr_schedule_defaults(MFR_LR_CONSTANT, 0.1);
    c->bn_momentum = 0.1;
    c->log_every = 1;
}

int mfr_trainer_params(const mfr_net *net, mfr_grad *g, mfr_train_param **params, int *count)
{
    int n = mfr_net_param_count(net), k = 0;
    mfr_train_param *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    *params = NULL;
    *count = 0;
    if (!p)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        mfr_tensor *t = mfr_net_param(net, i);
        int stat = 0;
        /* running statistics are not trained (their gradient is zero, but
         * weight decay would still move them) */
        for (int l = 0; l < net->n_layers && !stat; l++)
            stat = net->layers[l].params[MFR_P_MEAN] == t || net->layers[l].params[MFR_P_VAR] == t;
        if (stat)
            continue;
        p[k].name = t->name;
        p[k].value = t->data;
        p[k].grad = g ? mfr_grad_param(g, i)->data : NULL;
        p[k].size = t->size;
        p[k].no_decay = t->ndim == 1;
        k++;
    }
    *params = p;
    *count = k;
    return MFR_OK;
}

/* ------------------------------------------------------------ prefetch */

typedef struct fetch_job {
    const mfr_trainer_task *task;
    uint64_t seed;
    long step;
    int batch;
    float *input;
    void *slot;
    int rc;
    char err[512];
} fetch_job;

static void fetch_run(fetch_job *j)
{
    j->rc = j->task->fill(j->task->ctx, j->seed, j->step, j->batch, j->input, j->slot);
    if (j->rc != MFR_OK)
        snprintf(j->err, sizeof j->err, "%s", mfr_last_error());
}

#ifdef MFR_HAVE_OPENMP
static void *fetch_thread(void *arg)
{
    /* a name for top and perf ("perf report -s comm" splits the two threads) */
    pthread_setname_np(pthread_self(), "mfr-fetch");
    fetch_run(arg);
    return NULL;
}
#endif

/* Starts filling (on a second thread where there is one). */
static int fetch_start(fetch_job *j, int *started, void *th)
{
    *started = 0;
#ifdef MFR_HAVE_OPENMP
    if (pthread_create((pthread_t *)th, NULL, fetch_thread, j) == 0) {
        *started = 1;
        return MFR_OK;
    }
#else
    (void)th;
#endif
    fetch_run(j);
    return MFR_OK;
}

static int fetch_finish(fetch_job *j, int started, void *th)
{
#ifdef MFR_HAVE_OPENMP
    if (started)
        pthread_join(*(pthread_t *)th, NULL);
#else
    (void)started;
    (void)th;
#endif
    if (j->rc != MFR_OK)
        return mfr_error(j->rc, "step %ld: data: %s", j->step, j->err);
    return MFR_OK;
}

/* ------------------------------------------------------------------ log */

static int log_open(const mfr_trainer_config *cfg, const mfr_trainer_task *task, long start, FILE **out)
{
    FILE *fp;
    int fresh = start == 0;
    *out = NULL;
    if (!cfg->log)
        return MFR_OK;
    /* A fresh run starts a new log; a resumed one appends to it. */
    fp = fopen(cfg->log, fresh ? "w" : "a");
    if (!fp)
        return mfr_error(MFR_ERR_IO, "%s: cannot open the log: %s", cfg->log, strerror(errno));
    if (fresh) {
        fprintf(fp, "step,loss");
        for (int i = 0; i < task->n_parts; i++)
            fprintf(fp, ",%s", task->part_names[i]);
        fprintf(fp, ",lr,grad_norm,images_per_s,seconds,validation\n");
    }
    *out = fp;
    return MFR_OK;
}

/* ------------------------------------------------------------------ run */

typedef struct run_state {
    mfr_grad *g;
    mfr_optim *opt;
    mfr_train_param *all;       /* network params then the task's extra ones */
    int n_all;
    float *input[2];
    void *slot[2];
    float **dout;
    const float **outs;
    int n_out;
    FILE *log;
} run_state;

static void run_free(run_state *s, const mfr_trainer_task *task)
{
    mfr_grad_free(s->g);
    mfr_optim_free(s->opt);
    free(s->all);
    for (int i = 0; i < 2; i++) {
        mfr_free(s->input[i]);
        if (s->slot[i])
            task->slot_free(task->ctx, s->slot[i]);
    }
    if (s->dout)
        for (int i = 0; i < s->n_out; i++)
            mfr_free(s->dout[i]);
    free(s->dout);
    free(s->outs);
    if (s->log)
        fclose(s->log);
}

static int check_config(const mfr_net *net, const mfr_trainer_config *cfg, const mfr_trainer_task *task)
{
    if (!net->resolved)
        return mfr_error(MFR_ERR_ARG, "trainer: the network is not resolved");
    if (cfg->steps < 1 || cfg->batch < 1)
        return mfr_error(MFR_ERR_ARG, "trainer: steps (%ld) and batch (%d) must be >= 1", cfg->steps, cfg->batch);
    if (!task->fill || !task->loss || !task->slot_create || !task->slot_free)
        return mfr_error(MFR_ERR_ARG, "trainer: the task lacks a fill, loss or slot callback");
    if (task->n_parts < 0 || task->n_parts > MFR_TRAINER_MAX_PARTS)
        return mfr_error(MFR_ERR_ARG, "trainer: n_parts %d outside 0..%d", task->n_parts, MFR_TRAINER_MAX_PARTS);
    if (!(cfg->bn_momentum >= 0 && cfg->bn_momentum <= 1))
        return mfr_error(MFR_ERR_ARG, "trainer: bn_momentum %g outside [0, 1]", cfg->bn_momentum);
    if (cfg->resume && !cfg->checkpoint)
        return mfr_error(MFR_ERR_ARG, "trainer: resume needs a checkpoint path");
    return mfr_lr_schedule_check(&cfg->lr);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int save_ckpt(const mfr_trainer_config *cfg, const mfr_net *net, const run_state *s,
                     const mfr_trainer_task *task, long step)
{
    mfr_ckpt_info info = {step, cfg->seed, cfg->batch, cfg->steps};
    if (!cfg->checkpoint)
        return MFR_OK;
    return mfr_ckpt_save(cfg->checkpoint, net, s->opt, task->extra, task->n_extra, &info);
}

int mfr_trainer_run(mfr_net *net, const mfr_trainer_config *cfg, const mfr_trainer_task *task,
                    mfr_trainer_result *res)
{
    run_state s;
    mfr_progress prog;
    char label[96];
    long start = 0, t, end;
    int rc, in_layer = -1, np = 0;
    size_t in_size;
    double t0, t1 = 0, *losses = NULL;
    mfr_train_param *netp = NULL;

    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    if ((rc = check_config(net, cfg, task)) != MFR_OK)
        return rc;
    for (int i = 0; i < net->n_layers && in_layer < 0; i++)
        if (net->layers[i].op == MFR_OP_INPUT)
            in_layer = i;
    if (in_layer < 0)
        return mfr_error(MFR_ERR_ARG, "trainer: the network has no input layer");
    {
        const mfr_layer *L = &net->layers[in_layer];
        in_size = (size_t)L->h * (size_t)L->w * (size_t)L->c;
    }

    /* gradients, parameters (the network's, then the task's), optimiser */
    if ((rc = mfr_grad_create(net, cfg->batch, &s.g)) != MFR_OK)
        goto done;
    mfr_grad_input_grads(s.g, 0);
    if ((rc = mfr_grad_train_bn(s.g, 1)) != MFR_OK)
        goto done;
    if ((rc = mfr_trainer_params(net, s.g, &netp, &np)) != MFR_OK)
        goto done;
    s.n_all = np + task->n_extra;
    s.all = calloc((size_t)s.n_all, sizeof *s.all);
    if (!s.all) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(s.all, netp, (size_t)np * sizeof *netp);
    if (task->n_extra > 0)
        memcpy(s.all + np, task->extra, (size_t)task->n_extra * sizeof *task->extra);
    if ((rc = mfr_optim_create(&cfg->optim, s.all, s.n_all, &s.opt)) != MFR_OK)
        goto done;

    /* buffers: two batches (one training, one being filled), output grads */
    for (int i = 0; i < 2; i++) {
        size_t bytes;
        if ((rc = mfr_size_mul(in_size * sizeof(float), (size_t)cfg->batch, &bytes)) != MFR_OK)
            goto done;
        if (!(s.input[i] = mfr_alloc(bytes))) {
            rc = MFR_ERR_NOMEM;
            goto done;
        }
        memset(s.input[i], 0, bytes);
        if ((rc = task->slot_create(task->ctx, cfg->batch, &s.slot[i])) != MFR_OK)
            goto done;
    }
    s.n_out = mfr_net_output_count(net);
    s.dout = calloc((size_t)s.n_out, sizeof *s.dout);
    s.outs = calloc((size_t)s.n_out, sizeof *s.outs);
    if (!s.dout || !s.outs) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < s.n_out; i++) {
        const mfr_layer *L = &net->layers[mfr_net_output_layer(net, i)];
        size_t n = (size_t)cfg->batch * (size_t)L->h * (size_t)L->w * (size_t)L->c;
        if (!(s.dout[i] = mfr_alloc(n * sizeof(float)))) {
            rc = MFR_ERR_NOMEM;
            goto done;
        }
    }

    /* resume */
    if (cfg->resume && file_exists(cfg->checkpoint)) {
        mfr_ckpt_info info;
        if ((rc = mfr_ckpt_load(cfg->checkpoint, net, s.opt, task->extra, task->n_extra, &info)) != MFR_OK)
            goto done;
        if (info.seed != cfg->seed || info.batch != cfg->batch || info.steps != cfg->steps) {
            rc = mfr_error(MFR_ERR_ARG,
                           "%s: the checkpoint is of another run (seed %llu, batch %d, %ld steps; this run: seed "
                           "%llu, batch %d, %ld steps)",
                           cfg->checkpoint, (unsigned long long)info.seed, info.batch, info.steps,
                           (unsigned long long)cfg->seed, cfg->batch, cfg->steps);
            goto done;
        }
        start = info.step;
        if ((rc = mfr_grad_refresh(s.g)) != MFR_OK)
            goto done;
    }
    res->start_step = start;
    end = cfg->steps;
    if (cfg->stop_after > 0 && cfg->stop_after < end)
        end = cfg->stop_after;
    if ((rc = log_open(cfg, task, start, &s.log)) != MFR_OK)
        goto done;

    /* the losses of this run, for the first/last 10% means (not kept
     * for absurdly long runs) */
    if (end > start && end - start <= (1L << 24))
        losses = malloc((size_t)(end - start) * sizeof *losses);
    snprintf(label, sizeof label, "train");
    mfr_progress_begin(&prog, label, (uint64_t)(end > start ? end - start : 0), cfg->quiet);
    t0 = mfr_time_now();
    if (start < end) {
        fetch_job job = {task, cfg->seed, start, cfg->batch, s.input[start & 1], s.slot[start & 1], MFR_OK, ""};
        fetch_run(&job);
        if ((rc = fetch_finish(&job, 0, NULL)) != MFR_OK)
            goto progress_done;
    }
    for (t = start; t < end; t++) {
        int cur = cfg->fixed_data ? (int)(start & 1) : (int)(t & 1), started = 0, out_of_time = 0;
        int fetch = t + 1 < end && !cfg->fixed_data;
        double loss = 0, parts[MFR_TRAINER_MAX_PARTS] = {0}, norm = NAN, lr = mfr_lr_at(&cfg->lr, t);
        fetch_job next = {task, cfg->seed, t + 1, cfg->batch, s.input[cur ^ 1], s.slot[cur ^ 1], MFR_OK, ""};
#ifdef MFR_HAVE_OPENMP
        pthread_t th;
#else
        int th;
#endif
        const float *ins[1] = {s.input[cur]};

        if (fetch)
            fetch_start(&next, &started, &th);
        rc = mfr_grad_forward(s.g, ins, cfg->batch);
        for (int i = 0; i < s.n_out && rc == MFR_OK; i++) {
            const mfr_layer *L = &net->layers[mfr_net_output_layer(net, i)];
            s.outs[i] = mfr_grad_value(s.g, mfr_net_output_layer(net, i));
            memset(s.dout[i], 0, (size_t)cfg->batch * (size_t)L->h * (size_t)L->w * (size_t)L->c * sizeof(float));
        }
        if (rc == MFR_OK) {
            for (int i = 0; i < task->n_extra; i++)
                memset(task->extra[i].grad, 0, task->extra[i].size * sizeof(float));
            rc = task->loss(task->ctx, s.slot[cur], cfg->batch, s.outs, s.dout, &loss, parts);
            if (rc != MFR_OK)
                rc = mfr_error_context(rc, "step %ld: loss", t);
        }
        if (rc == MFR_OK && !isfinite(loss))
            rc = mfr_error(MFR_ERR_RANGE, "step %ld: the loss is %g: training diverged (lower the learning rate?)", t,
                           loss);
        if (rc == MFR_OK)
            rc = mfr_grad_backward(s.g, (const float *const *)s.dout);
        if (rc == MFR_OK && cfg->bn_momentum > 0)
            rc = mfr_grad_update_running_stats(s.g, (float)cfg->bn_momentum);
        if (rc == MFR_OK && cfg->clip_value > 0)
            rc = mfr_clip_grad_value(s.all, s.n_all, cfg->clip_value);
        if (rc == MFR_OK)
            rc = cfg->clip_norm > 0 ? mfr_clip_grad_norm(s.all, s.n_all, cfg->clip_norm, &norm)
                                    : mfr_train_grad_norm(s.all, s.n_all, &norm);
        if (rc != MFR_OK && !isfinite(norm))
            rc = mfr_error_context(rc, "step %ld", t);
        if (rc == MFR_OK)
            rc = mfr_optim_step(s.opt, lr);
        if (rc == MFR_OK)
            rc = mfr_grad_refresh(s.g);
        {
            int frc = started || fetch ? fetch_finish(&next, started, &th) : MFR_OK;
            if (rc == MFR_OK)
                rc = frc;
        }
        if (rc != MFR_OK)
            break;

        /* bookkeeping */
        {
            long done = t + 1 - start;
            double now = mfr_time_now(), ips;
            /* images/s in the steady state: after the first step, which also
             * renders the first batch without overlap and touches fresh
             * memory (as a benchmark's warm-up step would be left out) */
            if (done == 1)
                t1 = now;
            ips = done > 1 ? (double)cfg->batch * (double)(done - 1) / (now - t1)
                           : (double)cfg->batch / (now - t0);
            char val[512] = "";
            if (losses)
                losses[done - 1] = loss;
            res->last_loss = loss;
            res->steps_done = t + 1;
            out_of_time = cfg->max_seconds > 0 && t + 1 < end && now - t0 > cfg->max_seconds;
            if (task->validate && ((cfg->validate_every > 0 && (t + 1) % cfg->validate_every == 0) ||
                                   t + 1 == cfg->steps || out_of_time)) {
                if ((rc = task->validate(task->ctx, net, t + 1, val, sizeof val)) != MFR_OK) {
                    rc = mfr_error_context(rc, "step %ld: validation", t + 1);
                    break;
                }
                snprintf(res->validation, sizeof res->validation, "%s", val);
                if (!cfg->quiet)
                    mfr_log(MFR_LOG_INFO, "step %ld: %s", t + 1, val);
            }
            if (s.log && (cfg->log_every <= 1 || (t + 1) % cfg->log_every == 0 || val[0] || t + 1 == end)) {
                fprintf(s.log, "%ld,%.6g", t + 1, loss);
                for (int i = 0; i < task->n_parts; i++)
                    fprintf(s.log, ",%.6g", parts[i]);
                fprintf(s.log, ",%.6g,%.6g,%.2f,%.2f,", lr, norm, ips, now - t0);
                mfr_csv_write_field(s.log, val);
                fputc('\n', s.log);
                fflush(s.log);
            }
            snprintf(label, sizeof label, "train step %ld loss %.4f img/s %.1f", t + 1, loss, ips);
            mfr_progress_update(&prog, (uint64_t)done);
        }
        if (cfg->checkpoint_every > 0 && (t + 1) % cfg->checkpoint_every == 0 && t + 1 < cfg->steps) {
            if ((rc = save_ckpt(cfg, net, &s, task, t + 1)) != MFR_OK)
                break;
        }
        if (out_of_time) {
            /* out of time: keep what we have, resumable */
            res->time_limited = 1;
            end = t + 1;
            if ((rc = save_ckpt(cfg, net, &s, task, t + 1)) != MFR_OK)
                break;
            break;
        }
    }
progress_done:
    mfr_progress_end(&prog);
    res->seconds = mfr_time_now() - t0;
    if (rc == MFR_OK) {
        long done = end - start, k = (done + 9) / 10;
        double a = 0, b = 0;
        for (long i = 0; losses && i < k; i++) {
            a += losses[i];
            b += losses[done - 1 - i];
        }
        res->mean_loss_first = losses && k ? a / (double)k : NAN;
        res->mean_loss_last = losses && k ? b / (double)k : NAN;
        res->images_per_s = res->seconds > 0 ? (double)cfg->batch * (double)(end - start) / res->seconds : 0;
        if (end == cfg->steps && end > start)
            rc = save_ckpt(cfg, net, &s, task, end);
        if (start >= end)
            res->steps_done = start;
    }
done:
    free(losses);
    free(netp);
    run_free(&s, task);
    return rc;
}
