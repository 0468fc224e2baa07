/* The generic trainer and the face tasks: a loss that falls, the same bytes
 * at 1 and 2 threads, kill-and-resume equality, clear errors for bad recipes
 * and bad checkpoints. Tiny networks, a few steps each. */
#include "config.h"
#include "mfr/face_train.h"
#include "mfr/nn.h"
#include "mfr/train.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- a tiny regression task */

/* 8x8x3 inputs from (seed, step, i); target: 4 fixed linear functions of the
 * channel means. The task owns an extra trainable bias added to the output. */
static const char *tiny_def = "[input]\nheight = 8\nwidth = 8\nchannels = 3\n"
                              "[conv]\nfilters = 8\nsize = 3\npad = 1\nbatch_normalize = yes\nactivation = relu\n"
                              "[gap]\n[fc]\nfilters = 4\n";

typedef struct tiny {
    float bias[4], dbias[4];
    mfr_train_param extra;
    int fills; /* batches rendered (one at a time: the trainer joins each) */
} tiny;

typedef struct tiny_slot {
    float *target;
} tiny_slot;

static int tiny_slot_create(void *ctx, int batch, void **slot)
{
    tiny_slot *s = calloc(1, sizeof *s);
    (void)ctx;
    if (!s)
        return MFR_ERR_NOMEM;
    s->target = calloc((size_t)batch * 4, sizeof(float));
    *slot = s;
    return s->target ? MFR_OK : MFR_ERR_NOMEM;
}

static void tiny_slot_free(void *ctx, void *slot)
{
    tiny_slot *s = slot;
    (void)ctx;
    free(s->target);
    free(s);
}

static int tiny_fill(void *ctx, uint64_t seed, long step, int batch, float *input, void *slot)
{
    tiny_slot *s = slot;
    ((tiny *)ctx)->fills++;
    for (int i = 0; i < batch; i++) {
        mfr_rng g;
        double mean[3] = {0, 0, 0};
        mfr_rng_init(&g, seed, 77, (uint64_t)step * 1000 + (uint64_t)i);
        for (int p = 0; p < 64; p++)
            for (int c = 0; c < 3; c++) {
                float v = (float)mfr_rng_normal(&g);
                input[((size_t)i * 64 + (size_t)p) * 3 + (size_t)c] = v;
                mean[c] += v / 64;
            }
        for (int k = 0; k < 4; k++)
            s->target[i * 4 + k] = (float)(mean[0] * (k + 1) - mean[1] + 0.5 * mean[2] * k + 0.3);
    }
    return MFR_OK;
}

static int tiny_loss(void *ctx, const void *slot, int batch, const float *const *out, float *const *dout,
                     double *loss, double *parts)
{
    tiny *t = ctx;
    const tiny_slot *s = slot;
    mfr_reg_loss r = mfr_reg_loss_defaults(MFR_REG_L2);
    float *pred = malloc((size_t)batch * 4 * sizeof(float));
    int rc;
    for (int i = 0; i < batch * 4; i++)
        pred[i] = out[0][i] + t->bias[i % 4];
    rc = mfr_loss_regression(&r, (size_t)batch, 4, pred, s->target, NULL, batch, loss, dout[0]);
    for (int i = 0; i < batch * 4; i++)
        t->dbias[i % 4] += dout[0][i];
    parts[0] = *loss;
    free(pred);
    return rc;
}

static mfr_net *tiny_net(void)
{
    mfr_net *net;
    tu_ok(mfr_net_parse(tiny_def, strlen(tiny_def), "tiny", &net));
    tu_ok(mfr_net_init_weights(net, 3));
    return net;
}

static void tiny_task(tiny *t, mfr_trainer_task *task)
{
    memset(t, 0, sizeof *t);
    memset(task, 0, sizeof *task);
    t->extra.name = "bias";
    t->extra.value = t->bias;
    t->extra.grad = t->dbias;
    t->extra.size = 4;
    t->extra.no_decay = 1;
    task->ctx = t;
    task->slot_create = tiny_slot_create;
    task->slot_free = tiny_slot_free;
    task->fill = tiny_fill;
    task->loss = tiny_loss;
    task->extra = &t->extra;
    task->n_extra = 1;
    task->n_parts = 1;
    task->part_names[0] = "l2";
}

static void tiny_config(mfr_trainer_config *c, long steps)
{
    mfr_trainer_config_default(c);
    c->steps = steps;
    c->batch = 8;
    c->seed = 5;
    c->quiet = 1;
    c->optim = mfr_optim_defaults(MFR_OPTIM_ADAMW);
    c->lr = mfr_lr_schedule_defaults(MFR_LR_COSINE, 0.02);
    c->lr.total_steps = steps;
    c->lr.warmup_steps = 2;
    c->clip_norm = 5;
}

/* Trains and returns all weights (network then bias) in a malloc'd array. */
static float *train_weights(const mfr_trainer_config *c, size_t *n, mfr_trainer_result *res)
{
    mfr_net *net = tiny_net();
    tiny t;
    mfr_trainer_task task;
    mfr_trainer_result r;
    size_t total = 4, k = 0;
    float *w;
    tiny_task(&t, &task);
    tu_ok(mfr_trainer_run(net, c, &task, &r));
    for (int i = 0; i < mfr_net_param_count(net); i++)
        total += mfr_net_param(net, i)->size;
    w = malloc(total * sizeof(float));
    for (int i = 0; i < mfr_net_param_count(net); i++) {
        mfr_tensor *p = mfr_net_param(net, i);
        memcpy(w + k, p->data, p->size * sizeof(float));
        k += p->size;
    }
    memcpy(w + k, t.bias, sizeof t.bias);
    *n = total;
    if (res)
        *res = r;
    mfr_net_free(net);
    return w;
}

START_TEST(test_loss_falls)
{
    mfr_trainer_config c;
    mfr_trainer_result r;
    size_t n;
    tiny_config(&c, 60);
    c.log = tu_tmp("log.csv");
    free(train_weights(&c, &n, &r));
    ck_assert_int_eq(r.steps_done, 60);
    ck_assert_msg(r.mean_loss_last < 0.5 * r.mean_loss_first, "loss %g -> %g", r.mean_loss_first, r.mean_loss_last);
    /* the log: a header and one row per step */
    {
        FILE *fp = fopen(c.log, "r");
        char line[512];
        int rows = 0;
        ck_assert_ptr_nonnull(fp);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
        ck_assert_msg(strncmp(line, "step,loss,l2,lr,grad_norm,images_per_s", 38) == 0, "header: %s", line);
        while (fgets(line, sizeof line, fp))
            rows++;
        fclose(fp);
        ck_assert_int_eq(rows, 60);
    }
}
END_TEST

/* --fixed-data renders one batch and trains every step on it: the loss on
 * that batch falls and no other batch is made. */
START_TEST(test_fixed_data)
{
    mfr_trainer_config c;
    mfr_trainer_result r;
    mfr_net *net = tiny_net();
    tiny t;
    mfr_trainer_task task;
    tiny_config(&c, 30);
    c.fixed_data = 1;
    tiny_task(&t, &task);
    tu_ok(mfr_trainer_run(net, &c, &task, &r));
    ck_assert_int_eq(r.steps_done, 30);
    ck_assert_int_eq(t.fills, 1);
    ck_assert_msg(r.mean_loss_last < 0.5 * r.mean_loss_first, "loss %g -> %g", r.mean_loss_first, r.mean_loss_last);
    mfr_net_free(net);
    net = tiny_net();
    tiny_task(&t, &task);
    c.fixed_data = 0;
    tu_ok(mfr_trainer_run(net, &c, &task, &r));
    ck_assert_int_eq(t.fills, 30);
    mfr_net_free(net);
}
END_TEST

START_TEST(test_threads_bit_identical)
{
    mfr_trainer_config c;
    size_t n1, n2;
    float *a, *b;
    tiny_config(&c, 12);
    mfr_set_threads(1);
    a = train_weights(&c, &n1, NULL);
    mfr_set_threads(2);
    b = train_weights(&c, &n2, NULL);
    mfr_set_threads(0);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof(float)) == 0, "weights differ between 1 and 2 threads");
    free(a);
    free(b);
}
END_TEST

START_TEST(test_kill_and_resume)
{
    mfr_trainer_config c;
    mfr_trainer_result r;
    size_t n1, n2;
    float *full, *resumed;
    /* uninterrupted: 20 steps */
    tiny_config(&c, 20);
    full = train_weights(&c, &n1, NULL);
    /* killed after step 13 (last checkpoint at 10), then resumed to 20 */
    tiny_config(&c, 20);
    c.checkpoint = tu_tmp("run.ckpt");
    c.checkpoint_every = 5;
    c.stop_after = 13;
    free(train_weights(&c, &n2, &r));
    ck_assert_int_eq(r.steps_done, 13);
    c.stop_after = 0;
    c.resume = 1;
    resumed = train_weights(&c, &n2, &r);
    ck_assert_int_eq(r.start_step, 10);
    ck_assert_int_eq(r.steps_done, 20);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(full, resumed, n1 * sizeof(float)) == 0, "resumed weights differ from an uninterrupted run");
    /* also the changed weights differ from the start: training did something */
    free(full);
    free(resumed);
}
END_TEST

START_TEST(test_bad_checkpoints)
{
    mfr_trainer_config c;
    size_t n, size;
    void *data;
    mfr_net *net;
    tiny t;
    mfr_trainer_task task;
    mfr_trainer_result r;
    const char *path = tu_tmp("bad.ckpt");
    tiny_config(&c, 4);
    c.checkpoint = path;
    free(train_weights(&c, &n, NULL));
    tu_ok(mfr_read_file(path, 1 << 24, &data, &size));
    c.resume = 1;
    /* another run's checkpoint */
    c.seed = 6;
    net = tiny_net();
    tiny_task(&t, &task);
    ck_assert_int_ne(mfr_trainer_run(net, &c, &task, &r), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "another run"), "%s", mfr_last_error());
    c.seed = 5;
    /* a flipped byte */
    ((unsigned char *)data)[size / 2] ^= 1;
    tu_write(path, data, size);
    ck_assert_int_ne(mfr_trainer_run(net, &c, &task, &r), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "CRC") && strstr(mfr_last_error(), path), "%s", mfr_last_error());
    /* truncated, and not a checkpoint at all */
    tu_write(path, data, 40);
    ck_assert_int_ne(mfr_trainer_run(net, &c, &task, &r), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "not an mfr checkpoint"), "%s", mfr_last_error());
    tu_write(path, "hello", 5);
    ck_assert_int_ne(mfr_trainer_run(net, &c, &task, &r), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), path), "%s", mfr_last_error());
    /* a network with another shape */
    {
        mfr_net *other;
        const char *def2 = "[input]\nheight = 8\nwidth = 8\nchannels = 3\n"
                           "[conv]\nfilters = 6\nsize = 3\npad = 1\nbatch_normalize = yes\nactivation = relu\n"
                           "[gap]\n[fc]\nfilters = 4\n";
        ((unsigned char *)data)[size / 2] ^= 1;
        tu_write(path, data, size);
        tu_ok(mfr_net_parse(def2, strlen(def2), "other", &other));
        ck_assert_int_ne(mfr_trainer_run(other, &c, &task, &r), MFR_OK);
        ck_assert_msg(strstr(mfr_last_error(), "shape"), "%s", mfr_last_error());
        mfr_net_free(other);
    }
    mfr_net_free(net);
    free(data);
}
END_TEST

/* ------------------------------------------------------------- recipes */

static int read_recipe(const char *text, mfr_trainer_config *c)
{
    mfr_ini *ini;
    int rc = mfr_ini_parse(text, strlen(text), "r.ini", 0, &ini);
    if (rc != MFR_OK)
        return rc;
    mfr_trainer_config_default(c);
    rc = mfr_trainer_config_read(ini, c);
    if (rc == MFR_OK)
        rc = mfr_ini_check_unused(ini);
    mfr_ini_free(ini);
    return rc;
}

START_TEST(test_recipe_generic)
{
    mfr_trainer_config c;
    tu_ok(read_recipe("[train]\nsteps = 50\nbatch = 4\nseed = 9\nclip_norm = 2\n[optim]\nkind = adamw\n"
                      "weight_decay = 0.05\n[schedule]\nkind = cosine\nlr = 0.01\nwarmup_steps = 5\n",
                      &c));
    ck_assert_int_eq(c.steps, 50);
    ck_assert_int_eq(c.batch, 4);
    ck_assert_int_eq((int)c.seed, 9);
    ck_assert_int_eq(c.optim.kind, MFR_OPTIM_ADAMW);
    ck_assert(c.lr.kind == MFR_LR_COSINE && c.lr.total_steps == 50 && c.lr.warmup_steps == 5);
    /* errors name file:line */
    ck_assert_int_ne(read_recipe("[train]\nsteps = 50\nbatchsize = 4\n", &c), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "r.ini:3") && strstr(mfr_last_error(), "batchsize"), "%s",
                  mfr_last_error());
    ck_assert_int_ne(read_recipe("[train]\nsteps = 10\n[optim]\nkind = adam\n", &c), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "r.ini:4"), "%s", mfr_last_error());
    ck_assert_int_ne(read_recipe("[train]\nsteps = 0\n", &c), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "r.ini:2"), "%s", mfr_last_error());
    ck_assert_int_ne(read_recipe("[train]\nsteps = 10\n[schedule]\nkind = multistep\n", &c), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "milestones"), "%s", mfr_last_error());
    ck_assert_int_ne(read_recipe("[optim]\nkind = sgd\n", &c), MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "[train]"), "%s", mfr_last_error());
}
END_TEST

/* ------------------------------------------------------------ face tasks */

static const char *tiny_embedder = "[input]\nheight = 112\nwidth = 112\nchannels = 3\n"
                                   "[conv]\nfilters = 8\nsize = 4\nstride = 4\nbatch_normalize = yes\nactivation = relu\n"
                                   "[gap]\n[fc]\nfilters = 16\n[l2norm]\n";

static const char *tiny_detector =
    "[input]\nheight = 64\nwidth = 64\nchannels = 3\n"
    "[conv]\nname = c1\nfilters = 8\nsize = 3\nstride = 2\npad = 1\nbatch_normalize = yes\nactivation = relu\n"
    "[conv]\nname = c2\nfilters = 8\nsize = 3\nstride = 2\npad = 1\nbatch_normalize = yes\nactivation = relu\n"
    "[conv]\nname = h8\nfilters = 8\nsize = 3\nstride = 2\npad = 1\nbatch_normalize = yes\nactivation = relu\n"
    "[conv]\nname = score8\ninput = h8\nfilters = 1\nsize = 1\nactivation = sigmoid\n"
    "[conv]\nname = box8\ninput = h8\nfilters = 4\nsize = 1\n"
    "[conv]\nname = landmarks8\ninput = h8\nfilters = 10\nsize = 1\n";

static int face_setup(const char *def, const char *recipe, mfr_net **net, mfr_ini **ini, mfr_trainer_config *c,
                      mfr_face_task **ft)
{
    int rc;
    tu_ok(mfr_net_parse(def, strlen(def), "net", net));
    tu_ok(mfr_net_init_weights(*net, 1));
    tu_ok(mfr_ini_parse(recipe, strlen(recipe), "face.ini", 0, ini));
    mfr_trainer_config_default(c);
    if ((rc = mfr_trainer_config_read(*ini, c)) != MFR_OK)
        return rc;
    if ((rc = mfr_face_task_create(*ini, *net, c->seed, ft)) != MFR_OK)
        return rc;
    return mfr_ini_check_unused(*ini);
}

/* The recipe text with its one "%s" replaced by a path. */
static char *recipe_text(const char *text, const char *path)
{
    static char buf[4096];
    const char *at = strstr(text, "%s");
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, path, at + 2);
    return buf;
}

START_TEST(test_face_embedder_and_detector)
{
    mfr_net *net;
    mfr_ini *ini;
    mfr_trainer_config c;
    mfr_face_task *ft = NULL;
    mfr_trainer_result r;
    char train_path[1024], scenes_path[1024];
    snprintf(train_path, sizeof train_path, "%s", tu_src("models/data-train.ini"));
    snprintf(scenes_path, sizeof scenes_path, "%s", tu_src("models/data-scenes.ini"));
    /* embedder: a few steps, finite loss, then a bad key in [loss] */
    tu_ok(face_setup(tiny_embedder,
                     recipe_text("[train]\ntask = embedder\nsteps = 3\nbatch = 4\n[schedule]\nlr = 0.01\n"
                                 "[data]\nrecipe = %s\nclasses = 10\n[augment]\nmask_rate = 0.5\n"
                                 "[loss]\nhead = arcface\ns = 16\nm = 0.2\n",
                                 train_path),
                     &net, &ini, &c, &ft));
    c.quiet = 1;
    tu_ok(mfr_trainer_run(net, &c, mfr_face_task_get(ft), &r));
    ck_assert(isfinite(r.last_loss) && r.last_loss > 0);
    mfr_face_task_free(ft);
    ft = NULL;
    mfr_ini_free(ini);
    mfr_net_free(net);
    ck_assert_int_ne(face_setup(tiny_embedder,
                                recipe_text("[train]\ntask = embedder\n[data]\nrecipe = %s\n[loss]\nhead = arcface\n"
                                            "margin = 0.5\n",
                                            train_path),
                                &net, &ini, &c, &ft),
                     MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "face.ini:7") && strstr(mfr_last_error(), "margin"), "%s",
                  mfr_last_error());
    mfr_face_task_free(ft);
    ft = NULL;
    mfr_ini_free(ini);
    mfr_net_free(net);
    /* the embedder on a scenes recipe is refused */
    ck_assert_int_ne(face_setup(tiny_embedder, recipe_text("[train]\ntask = embedder\n[data]\nrecipe = %s\n", scenes_path),
                                &net, &ini, &c, &ft),
                     MFR_OK);
    ck_assert_msg(strstr(mfr_last_error(), "face.ini"), "%s", mfr_last_error());
    mfr_ini_free(ini);
    mfr_net_free(net);

    /* detector: a few steps with positives, finite loss */
    tu_ok(face_setup(tiny_detector,
                     recipe_text("[train]\ntask = detector\nsteps = 3\nbatch = 2\n[optim]\nkind = adamw\n"
                                 "[schedule]\nlr = 0.001\n[data]\nrecipe = %s\nsplit = scene\n",
                                 scenes_path),
                     &net, &ini, &c, &ft));
    c.quiet = 1;
    tu_ok(mfr_trainer_run(net, &c, mfr_face_task_get(ft), &r));
    ck_assert(isfinite(r.last_loss) && r.last_loss > 0);
    mfr_face_task_free(ft);
    mfr_ini_free(ini);
    mfr_net_free(net);
}
END_TEST

static Suite *trainer_suite(void)
{
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loss_falls);
    tcase_add_test(tc, test_threads_bit_identical);
    tcase_add_test(tc, test_fixed_data);
    tcase_add_test(tc, test_kill_and_resume);
    tcase_add_test(tc, test_bad_checkpoints);
    tcase_add_test(tc, test_recipe_generic);
    tcase_add_test(tc, test_face_embedder_and_detector);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;
    setenv("CK_FORK", "no", 0);
    rc = tu_run(trainer_suite());
    tu_cleanup();
    return rc;
}
