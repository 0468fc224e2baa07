/*
 * mfr/face_train.h - the face tasks of the generic trainer (src/face/train_data.c):
 * an embedder (aligned 112x112 crops of synthetic identities, ArcFace /
 * CosFace / softmax head) and a detector (synthetic scenes, anchor-free
 * heads), each as an mfr_trainer_task built from a training recipe.
 *
 *     mfr_ini *ini;  mfr_ini_load("models/embedder.ini", 0, &ini);
 *     mfr_trainer_config cfg;  mfr_trainer_config_default(&cfg);
 *     mfr_trainer_config_read(ini, &cfg);              // [train] [optim] [schedule]
 *     mfr_face_task *ft;
 *     mfr_face_task_create(ini, net, cfg.seed, &ft);   // [data] [augment] [loss] [validate]
 *     mfr_ini_check_unused(ini);                       // typos are errors
 *     mfr_trainer_run(net, &cfg, mfr_face_task_get(ft), &res);
 *
 * docs/training.md ("Face tasks") documents every key, the augmentations,
 * the detector's target assignment and the validation metrics.
 */
#ifndef MFR_FACE_TRAIN_H
#define MFR_FACE_TRAIN_H

#include <stddef.h>
#include "mfr/core.h"
#include "mfr/nn.h"
#include "mfr/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mfr_face_task_kind { MFR_FACE_TASK_EMBEDDER = 0, MFR_FACE_TASK_DETECTOR } mfr_face_task_kind;

typedef struct mfr_face_task mfr_face_task;

/* Reads `task` from [train] and the task's sections; checks them against
 * the network (resolved: the embedder needs one 1x1xD output, the detector
 * the score/box/landmarks heads). Data recipe paths are as written (relative
 * to the current directory). */
int mfr_face_task_create(mfr_ini *ini, const mfr_net *net, uint64_t seed, mfr_face_task **out);
void mfr_face_task_free(mfr_face_task *t);
mfr_face_task_kind mfr_face_task_kind_of(const mfr_face_task *t);
/* The callbacks for mfr_trainer_run (valid while t lives). */
const mfr_trainer_task *mfr_face_task_get(mfr_face_task *t);
/* Validation of `net` on the recipe's [validate] set: one line of
 * "name=value" pairs (e.g. "fnmr@1e-3=0.12,...", "ap50=0.81,..."). */
int mfr_face_task_validate(mfr_face_task *t, mfr_net *net, char *text, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* MFR_FACE_TRAIN_H */
