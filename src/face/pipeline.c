/* `mfr run`, the streaming stage: images are generated in fixed-size chunks,
 * detected, aligned and embedded by every system; nothing is written to disk
 * (unless keep_images). Chunks have the same size at any thread count, and
 * every image's results land in its own slot, so the outputs do not depend
 * on the thread count. pipeline_eval.c scores what this file produces. */
#include "config.h"
#include "face/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

/* The detector's score floor in mfr run (docs/run.md). */
#define RUN_DET_SCORE_MIN 0.1f

void mfr_run_opts_default(mfr_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->recipe = "datasets/default.ini";
    o->lbp = 1;
    o->seed = 1;
    o->fmr = 1e-5;
    o->chunk = 256;
    o->batch = 32;
}

static int thread_id(void)
{
#ifdef MFR_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static double ms_since(uint64_t t0) { return (double)(mfr_time_ns() - t0) * 1e-6; }

/* The first failure by item number, so the message does not depend on scheduling. */
typedef struct first_error {
    long item;
    char msg[512];
} first_error;

static void note_error(first_error *fe, long item)
{
#pragma omp critical(mfr_run_error)
    {
        if (fe->item < 0 || item < fe->item) {
            fe->item = item;
            snprintf(fe->msg, sizeof fe->msg, "%s", mfr_last_error());
        }
    }
}

static int write_kept(const run_state *st, const char *sub, long index, const mfr_image *im)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%07ld.png", sub, index);
    char *path = mfr_path_join(st->tmp, name);
    int rc = path ? mfr_image_write(path, im) : MFR_ERR_NOMEM;
    free(path);
    return rc;
}

/* Generates, detects and aligns image `i`; fills the crop (no data: failure
 * to acquire) and the LBP row. */
static int stream_one(run_state *st, mfr_detector *det, long i, mfr_image *crop)
{
    run_item *it = &st->items[i];
    double *ms = st->ms + (size_t)i * (size_t)st->n_stages;
    mfr_image im = {0};
    mfr_sample *s = malloc(sizeof *s);
    uint64_t t0 = mfr_time_ns();
    int rc = s ? mfr_recipe_sample(st->recipe, st->o->seed, i, &im, s) : mfr_error(MFR_ERR_NOMEM, "out of memory");
    const float *lm = NULL;
    ms[ST_GENERATE] = ms_since(t0);
    if (rc == MFR_OK) {
        it->identity = s->identity;
        it->split = s->split;
        it->capture = s->capture;
        it->mask = s->faces[0].mask;
        it->truth = s->faces[0].truth;
        it->det_score = NAN;
        lm = it->truth.lm;
        if (st->o->keep_images)
            rc = write_kept(st, "images", i, &im);
    }
    if (rc == MFR_OK && det) {
        t0 = mfr_time_ns();
        rc = mfr_detector_run(det, &im, &it->dets, &it->ndet);
        ms[ST_DETECT] = ms_since(t0);
        /* The face used is the detector's best one (sorted by score); no
         * detection is a failure to acquire. */
        lm = it->ndet > 0 ? it->dets[0].lm : NULL;
        if (it->ndet > 0)
            it->det_score = it->dets[0].score;
    }
    if (rc == MFR_OK) {
        it->acquired = lm != NULL;
        if (lm) {
            t0 = mfr_time_ns();
            rc = mfr_align_crop(&im, lm, crop);
            ms[ST_ALIGN] = ms_since(t0);
        }
    }
    /* The LBP baseline embeds one crop at a time (no network, no batch). */
    for (int k = 0; rc == MFR_OK && k < st->n_sys; k++) {
        run_system *sy = &st->sys[k];
        float *row = sy->rows + (size_t)i * (size_t)sy->dim;
        if (sy->model)
            continue;
        if (!crop->data) {
            for (int d = 0; d < sy->dim; d++)
                row[d] = NAN;
            continue;
        }
        t0 = mfr_time_ns();
        rc = mfr_lbp_embed(crop, row);
        ms[ST_FIXED + k] = ms_since(t0);
    }
    if (rc != MFR_OK)
        mfr_error_context(rc, "%s: image %ld", st->o->recipe, i);
    mfr_image_free(&im);
    free(s);
    return rc;
}

/* Embeds a chunk's crops with every network system, batch by batch; each
 * image's embed time is its batch's time divided by the faces in it. */
static int embed_chunk(run_state *st, long first, long count, const mfr_image *crops)
{
    for (int k = 0; k < st->n_sys; k++) {
        run_system *sy = &st->sys[k];
        int B = st->o->batch;
        if (!sy->model)
            continue;
        for (long b = 0; b < count; b += B) {
            int n = (int)(count - b < B ? count - b : B), valid = 0;
            uint64_t t0 = mfr_time_ns();
            int rc = mfr_embedder_run(sy->emb, crops + b, n, sy->rows + (size_t)(first + b) * (size_t)sy->dim);
            double dt = ms_since(t0);
            if (rc != MFR_OK)
                return mfr_error_context(rc, "%s", sy->model);
            for (int j = 0; j < n; j++)
                valid += crops[b + j].data != NULL;
            for (int j = 0; j < n; j++)
                if (crops[b + j].data)
                    st->ms[(size_t)(first + b + j) * (size_t)st->n_stages + ST_FIXED + k] = dt / valid;
        }
    }
    return MFR_OK;
}

/* The verification images, chunk by chunk. */
static int stream_items(run_state *st, mfr_detector **dets, mfr_progress *bar, long *done)
{
    long C = st->o->chunk;
    mfr_image *crops = calloc((size_t)C, sizeof *crops);
    int rc = crops ? MFR_OK : mfr_error(MFR_ERR_NOMEM, "out of memory");
    for (long first = 0; rc == MFR_OK && first < st->n_items; first += C) {
        long count = st->n_items - first < C ? st->n_items - first : C;
        first_error fe = {-1, ""};
#pragma omp parallel for schedule(dynamic, 1) num_threads(mfr_threads())
        for (long j = 0; j < count; j++) {
            if (stream_one(st, dets ? dets[thread_id()] : NULL, first + j, &crops[j]) != MFR_OK)
                note_error(&fe, first + j);
#pragma omp critical(mfr_run_progress)
            {
                (*done)++;
                mfr_progress_update(bar, (uint64_t)*done);
            }
        }
        if (fe.item >= 0)
            rc = mfr_error(MFR_ERR_IO, "%s", fe.msg);
        if (rc == MFR_OK)
            rc = embed_chunk(st, first, count, crops);
        for (long j = 0; j < count; j++)
            mfr_image_free(&crops[j]);
    }
    free(crops);
    return rc;
}

/* The detection scenes: generated and detected, nothing else. */
static int stream_scenes(run_state *st, mfr_detector **dets, mfr_progress *bar, long *done)
{
    first_error fe = {-1, ""};
#pragma omp parallel for schedule(dynamic, 1) num_threads(mfr_threads())
    for (long j = 0; j < st->n_scenes; j++) {
        run_scene *sc = &st->scene[j];
        double *ms = st->ms + (size_t)(st->n_items + j) * (size_t)st->n_stages;
        mfr_image im = {0};
        mfr_sample *s = malloc(sizeof *s);
        uint64_t t0 = mfr_time_ns();
        int rc = s ? mfr_recipe_sample(st->scenes, st->o->seed, j, &im, s) : mfr_error(MFR_ERR_NOMEM, "out of memory");
        ms[ST_GENERATE] = ms_since(t0);
        if (rc == MFR_OK) {
            sc->nfaces = s->nfaces;
            sc->faces = malloc((size_t)(s->nfaces > 0 ? s->nfaces : 1) * sizeof *sc->faces);
            if (!sc->faces)
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            for (int f = 0; rc == MFR_OK && f < s->nfaces; f++) {
                const mfr_sample_face *sf = &s->faces[f];
                memcpy(sc->faces[f].box, sf->truth.box, sizeof sf->truth.box);
                memcpy(sc->faces[f].lm, sf->truth.lm, sizeof sf->truth.lm);
                sc->faces[f].size_class = sf->truth.size_class;
                sc->faces[f].mask_type = sf->mask.type;
            }
        }
        if (rc == MFR_OK && st->o->keep_images)
            rc = write_kept(st, "scenes", j, &im);
        if (rc == MFR_OK) {
            t0 = mfr_time_ns();
            rc = mfr_detector_run(dets[thread_id()], &im, &sc->dets, &sc->ndet);
            ms[ST_DETECT] = ms_since(t0);
        }
        if (rc != MFR_OK) {
            mfr_error_context(rc, "%s: scene %ld", st->o->scenes, j);
            note_error(&fe, j);
        }
        mfr_image_free(&im);
        free(s);
#pragma omp critical(mfr_run_progress)
        {
            (*done)++;
            mfr_progress_update(bar, (uint64_t)*done);
        }
    }
    return fe.item >= 0 ? mfr_error(MFR_ERR_IO, "%s", fe.msg) : MFR_OK;
}

static int load_systems(run_state *st)
{
    const mfr_run_opts *o = st->o;
    int rc = MFR_OK;
    for (int k = 0; k < o->n_embedders && rc == MFR_OK; k++) {
        run_system *sy = &st->sys[st->n_sys++];
        sy->model = o->embedders[k];
        run_label(sy->model, sy->label, sizeof sy->label);
        if ((rc = mfr_net_load_any(sy->model, &sy->net)) != MFR_OK ||
            (rc = mfr_embedder_create(sy->net, o->batch, &sy->emb)) != MFR_OK) {
            rc = mfr_error_context(rc, "embedder");
            break;
        }
        if (mfr_embedder_size(sy->emb) != 112)
            rc = mfr_error(MFR_ERR_UNSUPPORTED, "%s: takes %dx%d crops; mfr run aligns faces to 112x112", sy->model,
                           mfr_embedder_size(sy->emb), mfr_embedder_size(sy->emb));
        sy->dim = mfr_embedder_dim(sy->emb);
    }
    if (rc == MFR_OK && o->lbp) {
        run_system *sy = &st->sys[st->n_sys++];
        snprintf(sy->label, sizeof sy->label, "lbp");
        sy->dim = MFR_LBP_DIM;
    }
    /* Two systems with one label (two models named alike) get a suffix. */
    for (int k = 1; rc == MFR_OK && k < st->n_sys; k++)
        for (int j = 0; j < k; j++)
            if (!strcmp(st->sys[k].label, st->sys[j].label)) {
                char suffix[16];
                size_t len = strlen(st->sys[k].label);
                snprintf(suffix, sizeof suffix, "-%d", k + 1);
                if (len + strlen(suffix) >= sizeof st->sys[k].label)
                    len = sizeof st->sys[k].label - 1 - strlen(suffix);
                memcpy(st->sys[k].label + len, suffix, strlen(suffix) + 1);
                j = -1;
            }
    for (int k = 0; rc == MFR_OK && k < st->n_sys; k++) {
        size_t bytes;
        if ((rc = mfr_size_mul((size_t)st->n_items, (size_t)st->sys[k].dim * sizeof(float), &bytes)) != MFR_OK)
            break;
        if (!(st->sys[k].rows = mfr_alloc(bytes)))
            rc = MFR_ERR_NOMEM;
    }
    return rc;
}

static void free_state(run_state *st)
{
    for (long i = 0; st->items && i < st->n_items; i++)
        free(st->items[i].dets);
    for (long j = 0; st->scene && j < st->n_scenes; j++) {
        free(st->scene[j].faces);
        free(st->scene[j].dets);
    }
    free(st->items);
    free(st->scene);
    free(st->ms);
    for (int k = 0; k < st->n_sys; k++) {
        mfr_embedder_free(st->sys[k].emb);
        mfr_net_free(st->sys[k].net);
        mfr_free(st->sys[k].rows);
    }
    mfr_recipe_free(st->recipe);
    mfr_recipe_free(st->scenes);
}

int mfr_run(const mfr_run_opts *o, const char *out, char **summary)
{
    run_state st;
    mfr_outdir od = {0};
    mfr_net **nets = NULL;
    mfr_detector **dets = NULL;
    int nth = mfr_threads(), rc;
    double t_start = mfr_time_now();
    if (summary)
        *summary = NULL;
    memset(&st, 0, sizeof st);
    st.o = o;
    st.threads = nth;
    st.t_start = t_start;
    if (o->n_embedders < 0 || o->n_embedders > MFR_RUN_MAX_EMBEDDERS)
        return mfr_error(MFR_ERR_ARG, "run: %d embedders; at most %d", o->n_embedders, MFR_RUN_MAX_EMBEDDERS);
    if (o->n_embedders == 0 && !o->lbp)
        return mfr_error(MFR_ERR_ARG, "run: no system to evaluate (no embedder and no LBP baseline)");
    if (o->chunk < 1 || o->chunk > 65536 || o->batch < 1 || o->batch > 4096)
        return mfr_error(MFR_ERR_ARG, "run: chunk %d / batch %d out of range", o->chunk, o->batch);
    if (!(o->fmr > 0 && o->fmr < 1))
        return mfr_error(MFR_ERR_ARG, "run: target FMR %g is not in (0, 1)", o->fmr);
    if (o->scenes && !o->detector)
        return mfr_error(MFR_ERR_ARG, "run: detection scenes need a detector");
    if ((rc = mfr_recipe_load(o->recipe, &st.recipe)) != MFR_OK)
        goto done;
    if (o->scenes && (rc = mfr_recipe_load(o->scenes, &st.scenes)) != MFR_OK)
        goto done;
    st.n_items = mfr_recipe_count(st.recipe);
    st.n_scenes = st.scenes ? mfr_recipe_count(st.scenes) : 0;
    {
        /* every item's split tells enrolment from probes; a recipe of another
         * kind has no protocol: refuse it before any work */
        mfr_image im = {0};
        mfr_sample *s = malloc(sizeof *s);
        rc = s ? mfr_recipe_sample(st.recipe, o->seed, 0, &im, s) : mfr_error(MFR_ERR_NOMEM, "out of memory");
        if (rc == MFR_OK && s->split != MFR_SPLIT_ENROL && s->split != MFR_SPLIT_PROBE)
            rc = mfr_error(MFR_ERR_ARG, "%s: mfr run needs a verification recipe ([dataset] kind = verification)",
                           o->recipe);
        if (rc == MFR_OK && st.scenes) {
            mfr_image_free(&im);
            rc = mfr_recipe_sample(st.scenes, o->seed, 0, &im, s);
            if (rc == MFR_OK && s->split != MFR_SPLIT_SCENE)
                rc = mfr_error(MFR_ERR_ARG, "%s: the detection recipe must be a scenes recipe (kind = scenes)",
                               o->scenes);
        }
        mfr_image_free(&im);
        free(s);
        if (rc != MFR_OK)
            goto done;
    }
    if ((rc = load_systems(&st)) != MFR_OK)
        goto done;
    st.n_stages = ST_FIXED + 2 * st.n_sys;
    st.items = calloc((size_t)st.n_items, sizeof *st.items);
    st.scene = calloc((size_t)(st.n_scenes > 0 ? st.n_scenes : 1), sizeof *st.scene);
    st.ms = malloc((size_t)(st.n_items + st.n_scenes) * (size_t)st.n_stages * sizeof *st.ms);
    if (!st.items || !st.scene || !st.ms) {
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory for %ld images", st.n_items + st.n_scenes);
        goto done;
    }
    for (size_t k = 0; k < (size_t)(st.n_items + st.n_scenes) * (size_t)st.n_stages; k++)
        st.ms[k] = NAN; /* a stage that did not run for an item: an empty cell */
    if (o->detector) {
        /* one detector per thread: a detector recompiles its network for
         * each input size, so threads cannot share one */
        nets = calloc((size_t)nth, sizeof *nets);
        dets = calloc((size_t)nth, sizeof *dets);
        if (!nets || !dets) {
            rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
            goto done;
        }
        /* Every verification image holds one person, so its face is the
         * best detection; a low floor (0.1, not the detector's 0.5) counts
         * a failure to acquire only when nothing looks like a face. Scene AP
         * integrates over scores, so more low-scoring boxes cost it nothing. */
        const mfr_detector_opts dopts = {RUN_DET_SCORE_MIN, 0.4f, 256, 640};
        for (int t = 0; t < nth; t++)
            if ((rc = mfr_net_load_any(o->detector, &nets[t])) != MFR_OK ||
                (rc = mfr_detector_create(nets[t], &dopts, &dets[t])) != MFR_OK) {
                rc = mfr_error_context(rc, "detector");
                goto done;
            }
    }
    if ((rc = mfr_outdir_begin(&od, out)) != MFR_OK)
        goto done;
    st.tmp = od.tmp;
    if (o->keep_images) {
        char *a = mfr_path_join(od.tmp, "images"), *b = mfr_path_join(od.tmp, "scenes");
        rc = a && b ? mfr_mkdir_p(a) : MFR_ERR_NOMEM;
        if (rc == MFR_OK && st.scenes)
            rc = mfr_mkdir_p(b);
        free(a);
        free(b);
        if (rc != MFR_OK)
            goto done;
    }
    {
        mfr_progress bar;
        long done_count = 0;
        double t0 = mfr_time_now();
        mfr_progress_begin(&bar, "run", (uint64_t)(st.n_items + st.n_scenes), o->quiet);
        rc = stream_items(&st, dets, &bar, &done_count);
        if (rc == MFR_OK && st.scenes)
            rc = stream_scenes(&st, dets, &bar, &done_count);
        mfr_progress_end(&bar);
        st.wall_stream = mfr_time_now() - t0;
    }
    if (rc == MFR_OK)
        rc = run_evaluate(&st, summary);
    if (rc == MFR_OK)
        rc = mfr_outdir_commit(&od);
done:
    if (rc != MFR_OK) {
        mfr_outdir_abort(&od);
        if (summary) {
            free(*summary);
            *summary = NULL;
        }
    }
    for (int t = 0; t < nth; t++) {
        if (dets)
            mfr_detector_free(dets[t]);
        if (nets)
            mfr_net_free(nets[t]);
    }
    free(dets);
    free(nets);
    free_state(&st);
    return rc;
}
