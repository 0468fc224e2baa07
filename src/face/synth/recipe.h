/* Internal: the parsed recipe shared by recipe.c, dataset.c and scene.c. */
#ifndef MFR_SYNTH_RECIPE_H
#define MFR_SYNTH_RECIPE_H

#include "mfr/face.h"

enum { RECIPE_VERIFY = 0, RECIPE_TRAIN, RECIPE_SCENES };
#define RECIPE_MAX_VARIANTS 256

/* Ranges of the nuisances of one kind of capture (enrolment, probe). */
typedef struct nz_range {
    double yaw, pitch, roll;                  /* maximum absolute angle, degrees */
    double smile, mouth_open, brow_raise, eye_close, expression_prob;
    double light_az, light_el[2], intensity[2], ambient[2], tint;
    double distance[2], scale[2], shift;
    double noise[2], blur[2], jpeg_prob, jpeg_quality[2], occluder_prob;
} nz_range;

struct mfr_recipe {
    char *name;      /* file name, for messages */
    char *text;      /* the recipe as written */
    int kind;
    long identities, identity_offset;
    int enrol, probes, per_identity;   /* verify: enrol + probes captures; train: images per identity */
    int width, height;
    nz_range enrol_nz, probe_nz;
    int probe_unmasked;
    int nvariants;
    mfr_mask variants[RECIPE_MAX_VARIANTS];
    double mask_prob;                  /* train and scenes */
    int nonmated;                      /* impostor identities per probe capture */
    long scenes;
    int faces[2];
    double face_size[2];
    int distractors[2];
};

void recipe_sample_nuisance(const nz_range *r, mfr_rng *g, mfr_nuisance *nz);
/* Scenes: renders scene `index` (scene.c). */
int recipe_scene(const mfr_recipe *r, uint64_t seed, long index, mfr_image *img, mfr_sample *info);

#endif
