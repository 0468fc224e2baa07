/* mfr train: train an embedder or a detector from a training recipe
 * (models/embedder.ini etc.; docs/training.md). */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"
#include "mfr/face_train.h"
#include "mfr/nn.h"
#include "mfr/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_RECIPE = CLI_OPT_FIRST_PRIVATE, OPT_STEPS, OPT_RESUME, OPT_CHECKPOINT, OPT_LOG, OPT_VALIDATE, OPT_NO_VALIDATE, OPT_MAX_MINUTES,
       OPT_FIXED_DATA };

typedef struct train_args {
    const char *recipe, *checkpoint, *log, *validate;
    long steps;
    double max_minutes;
    int resume, no_validate, fixed_data;
} train_args;

/* The network named by [train] net: a definition (initialised from the
 * seed) or a model file (its weights are the starting point). */
static int load_net(mfr_ini *ini, uint64_t seed, mfr_net **net)
{
    const char *path = NULL;
    int sec = mfr_ini_find(ini, "train"), rc;
    if ((rc = mfr_ini_get_string(ini, sec, "net", NULL, &path)) != MFR_OK)
        return rc;
    if (!path)
        return mfr_ini_error(ini, sec, NULL, MFR_ERR_ARG, "[train] needs net = a network definition or model file");
    if ((rc = mfr_net_load_any(path, net)) != MFR_OK)
        return mfr_error_context(rc, "%s:%d", mfr_ini_name(ini), mfr_ini_line(ini, sec, "net"));
    if ((rc = mfr_net_resolve(*net)) != MFR_OK)
        return rc;
    if (!mfr_model_is_file(path))
        rc = mfr_net_init_weights(*net, seed);
    return rc;
}

static int run(const train_args *a, const cli_common *c)
{
    mfr_ini *ini = NULL;
    mfr_net *net = NULL;
    mfr_face_task *task = NULL;
    mfr_trainer_config cfg;
    mfr_trainer_result res;
    char *ckpt = NULL, *log = NULL;
    int rc;

    mfr_trainer_config_default(&cfg);
    if ((rc = mfr_ini_load(a->recipe, 0, &ini)) != MFR_OK)
        goto fail;
    if ((rc = mfr_trainer_config_read(ini, &cfg)) != MFR_OK)
        goto fail;
    if (c->seed_set)
        cfg.seed = c->seed;
    if (a->steps > 0) {
        cfg.steps = a->steps;
        cfg.lr.total_steps = a->steps;
        if (cfg.lr.warmup_steps >= a->steps)
            cfg.lr.warmup_steps = a->steps / 10;
        for (int i = 0; i < cfg.lr.milestone_count; i++)
            if (cfg.lr.milestones[i] > a->steps)
                cfg.lr.milestones[i] = a->steps;
    }
    if ((rc = load_net(ini, cfg.seed, &net)) != MFR_OK)
        goto fail;
    if ((rc = mfr_face_task_create(ini, net, cfg.seed, &task)) != MFR_OK)
        goto fail;
    if ((rc = mfr_ini_check_unused(ini)) != MFR_OK)
        goto fail;

    if (a->validate) {
        /* the weights of a trained model, validated on the recipe's set */
        mfr_net *trained = NULL;
        char text[512];
        if ((rc = mfr_net_load_any(a->validate, &trained)) != MFR_OK)
            goto fail;
        rc = mfr_net_resolve(trained);
        /* a definition: its initial weights (a baseline for the trained ones) */
        if (rc == MFR_OK && !mfr_model_is_file(a->validate))
            rc = mfr_net_init_weights(trained, cfg.seed);
        if (rc == MFR_OK)
            rc = mfr_face_task_validate(task, trained, text, sizeof text);
        mfr_net_free(trained);
        if (rc != MFR_OK)
            goto fail;
        printf("%s\n", text);
        goto out;
    }

    if (a->checkpoint)
        ckpt = mfr_strdup(a->checkpoint);
    else if ((ckpt = malloc(strlen(c->out) + 6)))
        sprintf(ckpt, "%s.ckpt", c->out);
    if (a->log)
        log = mfr_strdup(a->log);
    else if ((log = malloc(strlen(c->out) + 9)))
        sprintf(log, "%s.log.csv", c->out);
    if (!ckpt || !log) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    cfg.checkpoint = ckpt;
    cfg.log = log;
    cfg.resume = a->resume;
    cfg.max_seconds = a->max_minutes * 60;
    cfg.fixed_data = a->fixed_data;
    cfg.quiet = c->quiet;
    if (!c->quiet)
        mfr_log(MFR_LOG_INFO, "training %s: %ld steps of %d, %d threads, seed %llu; log %s, checkpoint %s",
                net->name, cfg.steps, cfg.batch, mfr_threads(), (unsigned long long)cfg.seed, log, ckpt);
    {
        mfr_trainer_task cb = *mfr_face_task_get(task);
        if (a->no_validate)
            cb.validate = NULL;
        rc = mfr_trainer_run(net, &cfg, &cb, &res);
    }
    if (rc != MFR_OK)
        goto fail;
    if ((rc = mfr_model_save(net, c->out)) != MFR_OK)
        goto fail;
    printf("trained %s: steps %ld..%ld, loss %.4f (first 10%% of steps: %.4f, last 10%%: %.4f), %.1f images/s, %.0f s\n",
           c->out, res.start_step, res.steps_done, res.last_loss, res.mean_loss_first, res.mean_loss_last,
           res.images_per_s, res.seconds);
    if (res.time_limited)
        printf("stopped by --max-minutes after step %ld of %ld (the checkpoint resumes the schedule)\n",
               res.steps_done, cfg.steps);
    if (res.validation[0])
        printf("validation: %s\n", res.validation);
out:
    free(ckpt);
    free(log);
    mfr_face_task_free(task);
    mfr_net_free(net);
    mfr_ini_free(ini);
    return CLI_OK;
fail:
    free(ckpt);
    free(log);
    mfr_face_task_free(task);
    mfr_net_free(net);
    mfr_ini_free(ini);
    return cli_fail_last();
}

static int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS,
                                         {"recipe", required_argument, NULL, OPT_RECIPE},
                                         {"steps", required_argument, NULL, OPT_STEPS},
                                         {"resume", no_argument, NULL, OPT_RESUME},
                                         {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
                                         {"log", required_argument, NULL, OPT_LOG},
                                         {"validate", required_argument, NULL, OPT_VALIDATE},
                                         {"no-validate", no_argument, NULL, OPT_NO_VALIDATE},
                                         {"max-minutes", required_argument, NULL, OPT_MAX_MINUTES},
                                         {"fixed-data", no_argument, NULL, OPT_FIXED_DATA},
                                         {0, 0, 0, 0}};
    cli_common common = {0};
    train_args a = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("train", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r == 1)
            continue;
        switch (opt) {
        case OPT_RECIPE: a.recipe = optarg; break;
        case OPT_STEPS:
            if (cli_parse_long("train", "--steps", optarg, 1, 1L << 40, &a.steps) < 0)
                return CLI_USAGE;
            break;
        case OPT_RESUME: a.resume = 1; break;
        case OPT_CHECKPOINT: a.checkpoint = optarg; break;
        case OPT_LOG: a.log = optarg; break;
        case OPT_VALIDATE: a.validate = optarg; break;
        case OPT_NO_VALIDATE: a.no_validate = 1; break;
        case OPT_FIXED_DATA: a.fixed_data = 1; break;
        case OPT_MAX_MINUTES:
            if (cli_parse_double("train", "--max-minutes", optarg, 0.01, 1e6, &a.max_minutes) < 0)
                return CLI_USAGE;
            break;
        default: return cli_bad_option("train", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("train");
    if (optind < argc)
        return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!a.recipe)
        return cli_usage_error("train", "--recipe FILE is required");
    if (!common.out && !a.validate)
        return cli_usage_error("train", "--out MODEL is required");
    cli_common_apply(&common);
    return run(&a, &common);
}

const cli_command cli_cmd_train = {
    "train", cmd_train, "train an embedder or a face detector from a training recipe",
    "usage: mfr train --recipe FILE --out MODEL [--steps N] [--threads N] [--seed N]\n"
    "                 [--resume] [--checkpoint PATH] [--log PATH] [--no-validate]\n"
    "                 [--max-minutes M] [--fixed-data] [--quiet]\n"
    "       mfr train --recipe FILE --validate MODEL\n\n"
    "Trains the network named in the recipe (models/embedder.ini,\n"
    "models/embedder-masked.ini, models/detector.ini; docs/training.md lists every\n"
    "key) on synthetic data rendered on the fly, and writes the model file MODEL.\n"
    "A CSV log (step, loss, lr, gradient norm, images/s, validation) goes to\n"
    "MODEL.log.csv and a checkpoint to MODEL.ckpt every checkpoint_every steps and\n"
    "at the end (both paths can be changed).\n\n"
    "  --steps N        override the recipe's step count (the schedule follows)\n"
    "  --seed N         override the recipe's seed (data, augmentation, weights)\n"
    "  --resume         continue from the checkpoint if it exists; the result is\n"
    "                   bit-identical to a run that was never interrupted\n"
    "  --validate MODEL only validate MODEL on the recipe's [validate] set (a\n"
    "                   definition: its initial weights from the seed)\n"
    "  --no-validate    skip the recipe's validation while training\n"
    "  --fixed-data     benchmark only: render one batch and train every step on\n"
    "                   it, so that images/s measures the training step alone (as\n"
    "                   bench/train_torch.py measures PyTorch's); the model learns\n"
    "                   nothing useful\n"
    "  --max-minutes M  stop after the step that passes M minutes of training,\n"
    "                   validate, write MODEL and a checkpoint (--resume goes on)\n\n"
    "The same seed gives the same weights at any --threads.\n",
};
