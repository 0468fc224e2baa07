/* Internal state of `mfr run` (src/face/pipeline*.c): what the streaming
 * stage (pipeline.c) hands to the scoring stage (pipeline_eval.c). Not installed. */
#ifndef MFR_FACE_PIPELINE_H
#define MFR_FACE_PIPELINE_H

#include "mfr/face.h"

/* Latency stages recorded per image. */
enum { ST_GENERATE = 0, ST_DETECT, ST_ALIGN, ST_FIXED };

/* One verification image: its truth and what the pipeline made of it. */
typedef struct run_item {
    long identity;
    int split, capture;
    mfr_mask mask;
    mfr_face_truth truth;
    int acquired;            /* 0: the detector found no face (failure to acquire) */
    float det_score;         /* score of the detection used (NaN with true landmarks) */
    int ndet;
    mfr_face_det *dets;      /* every detection of the image (malloc'd) */
} run_item;

/* A face of a detection scene (truth only). */
typedef struct run_scene_face {
    float box[4];            /* x0, y0, x1, y1 */
    float lm[10];
    int size_class, mask_type;
} run_scene_face;

typedef struct run_scene {
    int nfaces, ndet;
    run_scene_face *faces;
    mfr_face_det *dets;
} run_scene;

/* One system: an embedder model or the LBP baseline. */
typedef struct run_system {
    char label[64];          /* directory-safe name: file stem of the model, or "lbp" */
    const char *model;       /* NULL for LBP */
    mfr_net *net;
    mfr_embedder *emb;
    int dim;
    float *rows;             /* n_items x dim */
} run_system;

typedef struct run_state {
    const mfr_run_opts *o;
    mfr_recipe *recipe, *scenes;
    long n_items, n_scenes;
    run_item *items;
    run_scene *scene;
    int n_sys;
    run_system sys[MFR_RUN_MAX_EMBEDDERS + 1];
    /* per-item stage times in ms: n_items + n_scenes rows of n_stages;
     * stages: ST_FIXED, then embed per system, then compare per system */
    int n_stages;
    double *ms;
    int threads;
    double t_start, wall_stream;  /* mfr_time_now() at the start; streaming seconds */
    const char *tmp;         /* the output directory being written */
} run_state;

/* pipeline_eval.c: scores everything and writes the outputs into st->tmp. */
int run_evaluate(run_state *st, char **summary);
/* A directory-safe label from a model path ("models/embedder.mfrm" -> "embedder"). */
void run_label(const char *path, char *out, size_t size);

#endif
