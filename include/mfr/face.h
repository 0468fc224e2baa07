/*
 * mfr/face.h - synthetic masked faces (identities, renderer, masks, scenes,
 * recipes), masks on real photos, 5-point alignment and the LBP baseline.
 *
 *     mfr_recipe *rc;
 *     if (mfr_recipe_load("datasets/tiny.ini", &rc) != MFR_OK) { puts(mfr_last_error()); ... }
 *     mfr_image im = {0};
 *     mfr_sample s;
 *     mfr_recipe_sample(rc, 1, 17, &im, &s);   // image #17 of seed 1, in memory
 *     // s.faces[0].truth.lm holds the 5 landmarks, s.faces[0].mask the mask drawn
 *     float crop_map[6]; mfr_image crop = {0};
 *     mfr_align_crop(&im, s.faces[0].truth.lm, &crop);   // 112x112 ArcFace crop
 *     float emb[MFR_LBP_DIM]; mfr_lbp_embed(&crop, emb);
 *     mfr_image_free(&im); mfr_image_free(&crop); mfr_recipe_free(rc);
 *
 * Everything random is drawn from mfr_rng keyed by (seed, stream, item) with
 * the streams below, so a sample depends only on (recipe, seed, index).
 * Geometry: head coordinates have x to the subject's left (image right when
 * frontal), y up, z out of the face; the camera looks down -z. Angles are in
 * degrees: yaw > 0 turns the face towards image right (the nose tip moves
 * right of the eye midpoint), pitch > 0 tilts it up, roll > 0 turns it
 * clockwise in the image.
 */
#ifndef MFR_FACE_H
#define MFR_FACE_H

#include <stdint.h>
#include "mfr/core.h"
#include "mfr/img.h"
#include "mfr/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RNG streams of the generator (item = identity or image index). */
enum {
    MFR_STREAM_IDENTITY = 0x1d000001u,
    MFR_STREAM_NUISANCE = 0x1d000002u,
    MFR_STREAM_MASK = 0x1d000003u,
    MFR_STREAM_PAIRS = 0x1d000004u,
    MFR_STREAM_SCENE = 0x1d000005u,
    MFR_STREAM_NOISE = 0x1d000006u,
    MFR_STREAM_PHOTO = 0x1d000007u,
};

/* ------------------------------------------------------------- identities */

enum { MFR_HAIR_BALD = 0, MFR_HAIR_BUZZ, MFR_HAIR_SHORT, MFR_HAIR_MEDIUM, MFR_HAIR_LONG, MFR_HAIR_COUNT };
enum { MFR_BEARD_NONE = 0, MFR_BEARD_STUBBLE, MFR_BEARD_MOUSTACHE, MFR_BEARD_GOATEE, MFR_BEARD_FULL, MFR_BEARD_COUNT };
#define MFR_MAX_MOLES 6

/* One synthetic person. Shape values are multipliers or offsets around an
 * average head (about 0 or 1); colours are sRGB in [0, 1]. */
typedef struct mfr_identity {
    uint64_t seed;
    long index;
    /* head and face shape */
    float width, length, depth;        /* head radii multipliers */
    float jaw, chin, cheekbone, brow_ridge;
    float eye_size, eye_spacing, eye_height, eye_tilt;
    float nose_length, nose_width, nose_bridge, nose_tip;
    float mouth_width, lip_upper, lip_lower, mouth_height;
    float ear_size;
    /* skin */
    float skin[3], lip_color[3], cheek_red, freckles, wrinkles;
    int moles;
    float mole[MFR_MAX_MOLES][3];      /* u, v (radians on the head), radius */
    /* eyes and brows */
    float iris[3], brow_color[3], brow_thick, brow_arch, brow_length, brow_slope;
    /* hair */
    int hair_style;
    float hair_color[3], hairline, hair_peak, hair_part;
    /* facial hair and glasses */
    int beard;
    float beard_density;
    int glasses;                       /* 0 none, 1 round, 2 rectangular */
    float glasses_color[3];
    uint32_t texture_seed;             /* fine skin and hair texture */
} mfr_identity;

/* Samples identity `index` from mfr_rng(seed, MFR_STREAM_IDENTITY, index). */
void mfr_identity_sample(uint64_t seed, long index, mfr_identity *id);

/* -------------------------------------------------------------- nuisances */

enum { MFR_OCCLUDER_NONE = 0, MFR_OCCLUDER_HAND, MFR_OCCLUDER_HAIR, MFR_OCCLUDER_COUNT };

/* Everything about one capture that is not the person. */
typedef struct mfr_nuisance {
    float yaw, pitch, roll;                 /* degrees */
    float smile, mouth_open, brow_raise, eye_close; /* expression, 0..1 */
    float light_az, light_el;               /* light direction in degrees: az > 0 from image right, el > 0 from above */
    float light_intensity, ambient, light_color[3];
    float distance;                         /* camera distance in head heights (perspective strength) */
    float scale, shift_x, shift_y;          /* framing jitter: size factor, offsets as fractions of the width */
    float noise;                            /* sensor noise sd, 8-bit levels */
    float blur;                             /* Gaussian blur sd in pixels */
    int jpeg_quality;                       /* 0: no compression artefacts, else 1..100 */
    int occluder;                           /* MFR_OCCLUDER_* */
    float occluder_x, occluder_y;           /* where (head units) */
    uint32_t background;                    /* seed of the procedural background */
} mfr_nuisance;

/* ------------------------------------------------------------------ masks */

enum { MFR_MASK_NONE = 0, MFR_MASK_NIST, MFR_MASK_SURGICAL, MFR_MASK_N95, MFR_MASK_KN95, MFR_MASK_CLOTH,
       MFR_MASK_GAS, MFR_MASK_TYPE_COUNT };
enum { MFR_SHAPE_WIDE = 0, MFR_SHAPE_ROUND, MFR_SHAPE_COUNT };
enum { MFR_COVER_HIGH = 0, MFR_COVER_MEDIUM, MFR_COVER_LOW, MFR_COVER_COUNT };
enum { MFR_COLOR_LIGHT_BLUE = 0, MFR_COLOR_BLACK, MFR_COLOR_WHITE, MFR_COLOR_RED, MFR_COLOR_GREEN, MFR_COLOR_GREY,
       MFR_COLOR_NAVY, MFR_COLOR_PINK, MFR_COLOR_PATTERN, MFR_COLOR_COUNT };

typedef struct mfr_mask {
    int type;       /* MFR_MASK_*; NONE: no mask (other fields ignored) */
    int shape;      /* MFR_SHAPE_* */
    int coverage;   /* MFR_COVER_*: how high on the nose the top edge sits */
    int color;      /* MFR_COLOR_*; PATTERN: a printed fabric (cloth) */
    uint32_t seed;  /* pattern, pleats and small placement jitter */
} mfr_mask;

/* Names used in recipes, CSV files and docs ("surgical", "wide", "high", "light_blue"). */
const char *mfr_mask_type_name(int type);
const char *mfr_mask_shape_name(int shape);
const char *mfr_mask_coverage_name(int coverage);
const char *mfr_mask_color_name(int color);
/* Index of a name in the lists above, or -1. */
int mfr_mask_type_find(const char *name);
int mfr_mask_shape_find(const char *name);
int mfr_mask_coverage_find(const char *name);
int mfr_mask_color_find(const char *name);
/* "none" or "type-shape-coverage-color" into buf (at least 64 bytes). */
void mfr_mask_label(const mfr_mask *m, char *buf, size_t size);

/* ------------------------------------------------------------------ truth */

enum { MFR_LM_LEFT_EYE = 0, MFR_LM_RIGHT_EYE, MFR_LM_NOSE, MFR_LM_MOUTH_LEFT, MFR_LM_MOUTH_RIGHT };
enum { MFR_SIZE_EASY = 0, MFR_SIZE_MEDIUM, MFR_SIZE_HARD };

/* What the 3D model knows about a drawn face, in pixels of the output image.
 * Landmarks are in image order (lm[0] is the eye on the image left) and are
 * given even where a mask or the head itself hides them; vis says which are
 * seen (1) and which are hidden or outside the image (0). */
typedef struct mfr_face_truth {
    float box[4];          /* x0, y0, x1, y1: brow-to-chin, ear-to-ear of the visible face */
    float lm[10];          /* x, y of the 5 landmarks */
    int vis[5];
    float yaw, pitch, roll;
    int size_class;        /* MFR_SIZE_* by box height h: easy h >= 64, medium 32 <= h < 64, hard h < 32 */
} mfr_face_truth;

/* --------------------------------------------------------------- renderer */

/* Draws one face filling `out` (allocated by the caller, 3 channels, any
 * size): the eyes and mouth land near the ArcFace template scaled to the
 * image, moved by nz->scale and nz->shift_*. `mask` may be NULL. */
int mfr_face_render(const mfr_identity *id, const mfr_nuisance *nz, const mfr_mask *mask, mfr_image *out,
                    mfr_face_truth *truth);

/* --------------------------------------------------------- recipes, data */

#define MFR_MAX_FACES 32

enum { MFR_SPLIT_ENROL = 0, MFR_SPLIT_PROBE, MFR_SPLIT_TRAIN, MFR_SPLIT_SCENE };
const char *mfr_split_name(int split);

typedef struct mfr_sample_face {
    long identity;
    mfr_nuisance nz;
    mfr_mask mask;
    mfr_face_truth truth;
    int glasses, beard, hair_style;   /* identity attributes worth a column */
} mfr_sample_face;

typedef struct mfr_sample {
    long index, identity;  /* identity of faces[0]; -1 in scenes */
    int split, capture;    /* capture: which photo session of the identity */
    int width, height;
    int nfaces;
    mfr_sample_face faces[MFR_MAX_FACES];
    char file[48];         /* relative path in a written dataset */
} mfr_sample;

typedef struct mfr_recipe mfr_recipe;

/* Loads and checks a recipe (docs/datasets.md); errors name file:line. */
int mfr_recipe_load(const char *path, mfr_recipe **out);
int mfr_recipe_parse(const char *text, size_t size, const char *name, mfr_recipe **out);
void mfr_recipe_free(mfr_recipe *r);
/* Number of images the recipe describes. */
long mfr_recipe_count(const mfr_recipe *r);
/* Renders image `index` into `img` (allocated here; free the old one first)
 * and fills `info`. Thread-safe; depends only on (recipe, seed, index). */
int mfr_recipe_sample(const mfr_recipe *r, uint64_t seed, long index, mfr_image *img, mfr_sample *info);
/* A human-readable summary of the recipe's settings (malloc'd). */
char *mfr_recipe_summary(const mfr_recipe *r, uint64_t seed);

/* Writes the whole dataset (images/, manifest.csv, pairs.csv, recipe.txt)
 * atomically into `dir`, in parallel over images (mfr_threads()). */
int mfr_gen_write(const mfr_recipe *r, uint64_t seed, const char *dir, int quiet);
/* A contact sheet (PNG) of images first..first+count-1, `cols` per row,
 * each scaled to `cell` pixels wide; with draw_truth, boxes (yellow easy,
 * orange medium, red hard) and landmarks (green seen, magenta hidden). */
int mfr_gen_sheet(const mfr_recipe *r, uint64_t seed, long first, long count, int cols, int cell, int draw_truth,
                  const char *path);

/* ------------------------------------------------------- masks on photos */

/* Puts `mask` on the face of a real photo (RGB or RGBA) given its 5
 * landmarks (image order as above): the head pose is estimated from the
 * landmarks, the mask is drawn on an average 3D head in that pose, fitted to
 * the landmarks by a least-squares similarity, its brightness matched to the
 * face's skin, and alpha-blended in place. pose_out (may be NULL) receives
 * the estimated yaw, pitch and roll in degrees. */
int mfr_mask_photo(mfr_image *im, const float lm[10], const mfr_mask *mask, float pose_out[3]);
/* The 5 landmarks from the 68-point iBUG layout (0-based points). */
void mfr_landmarks_from68(const float lm68[136], float lm5[10]);

/* ---------------------------------------------------------------- alignment */

/* ArcFace's 112x112 template of the 5 landmarks. */
extern const float mfr_align_template[10];
/* The least-squares similarity (rotation, uniform scale, shift) taking
 * the template onto the image landmarks: image = m * crop (a dst->src map for
 * mfr_image_warp_affine). */
void mfr_align_similarity(const float lm[10], int size, float m[6]);
/* Allocates `crop` (size x size, channels of `im`) and fills it. */
int mfr_align_crop_size(const mfr_image *im, const float lm[10], int size, mfr_image *crop);
int mfr_align_crop(const mfr_image *im, const float lm[10], mfr_image *crop); /* 112x112 */

/* --------------------------------------------------------------------- LBP */

/* Uniform LBP(8,1) histograms over a 7x7 grid of cells of a 112x112 aligned
 * crop (59 bins per cell), square-rooted and L2-normalised: a classical
 * embedding compared with the cosine (dot product). */
#define MFR_LBP_GRID 7
#define MFR_LBP_BINS 59
#define MFR_LBP_DIM (MFR_LBP_GRID * MFR_LBP_GRID * MFR_LBP_BINS)
int mfr_lbp_embed(const mfr_image *crop, float *out);
float mfr_cosine(const float *a, const float *b, int n);

/* ---------------------------------------------------------------- detection
 * The face detector's front-end (src/face/detect.c): it runs a detection
 * network on an image and decodes its heads into faces with 5 landmarks.
 *
 * Heads: for each stride S the network has three outputs named "scoreS"
 * (1 channel, a probability), "boxS" (4 channels) and "landmarksS" (10
 * channels), each (H/S) x (W/S). At cell (i, j) of stride S the prior centre
 * is ((j + 0.5) S, (i + 0.5) S) in network-input pixels, and
 *   box centre = prior + (b0, b1) S,  width = exp(b2) S,  height = exp(b3) S,
 *   landmark k = prior + (l[2k], l[2k+1]) S.
 * Decoded faces above the score threshold go through greedy non-maximum
 * suppression (highest score first; ties by position) at an IoU threshold.
 * Images are letterboxed: scaled by one factor (no distortion) so that they
 * fit the network input, placed at the top-left, padded with grey. */
#define MFR_FACE_PIXEL_MEAN 127.5f        /* network input = (pixel - mean) * scale */
#define MFR_FACE_PIXEL_SCALE (1.0f / 128.0f)

typedef struct mfr_face_det {
    float x, y, w, h;        /* box, image pixels (x, y: top-left corner) */
    float score;             /* in [0, 1] */
    float lm[10];            /* left eye, right eye, nose tip, left and right mouth corners: x, y */
} mfr_face_det;

/* Intersection over union of two boxes (0 when either is empty). */
float mfr_face_iou(const mfr_face_det *a, const mfr_face_det *b);

/* Decodes one stride's heads (each n_cells = gh * gw values per channel, NHWC)
 * and appends the faces scoring >= score_min to a growable array. */
int mfr_face_decode(const float *score, const float *box, const float *lm, int gh, int gw, int stride,
                    float score_min, mfr_face_det **dets, int *n, int *cap);

/* Greedy NMS in place: sorts by score (ties: by y, then x), keeps a face only
 * if its IoU with every kept face is <= iou_max, at most max_keep faces. */
void mfr_face_nms(mfr_face_det *dets, int n, float iou_max, int max_keep, int *n_kept);

typedef struct mfr_detector_opts {
    float score_min;         /* default 0.5 */
    float nms_iou;           /* default 0.4 */
    int max_faces;           /* default 256 */
    int max_side;            /* longest input side the network sees; default 640 */
} mfr_detector_opts;

typedef struct mfr_detector mfr_detector;

/* Wraps a resolved detection network (borrowed: it must outlive the
 * detector). Checks the heads. opts may be NULL (defaults). */
int mfr_detector_create(mfr_net *net, const mfr_detector_opts *opts, mfr_detector **out);
void mfr_detector_free(mfr_detector *det);
/* Detects the faces of one image (1 or 3 channels; 4: alpha ignored).
 * *dets is malloc'd (free with free), sorted by score. */
int mfr_detector_run(mfr_detector *det, const mfr_image *im, mfr_face_det **dets, int *n);

/* ---------------------------------------------------------------- embedding
 * src/face/embed.c: aligned crops -> an embedding network -> unit vectors.
 * The network has one square RGB input (its side is the crop size, 112 for
 * models/mobilefacenet.cfg) and one output of D values per sample; crops are
 * fed as (pixel - MFR_FACE_PIXEL_MEAN) * MFR_FACE_PIXEL_SCALE, NHWC, RGB. */
typedef struct mfr_embedder mfr_embedder;

/* Wraps a network (borrowed: it must outlive the embedder), compiled for
 * batches of up to max_batch crops. */
int mfr_embedder_create(mfr_net *net, int max_batch, mfr_embedder **out);
void mfr_embedder_free(mfr_embedder *e);
int mfr_embedder_dim(const mfr_embedder *e);    /* D */
int mfr_embedder_size(const mfr_embedder *e);   /* crop side in pixels */
int mfr_embedder_batch(const mfr_embedder *e);  /* max_batch */
/* Embeds n crops (size x size x 3) into out (n x D), forward passes of up
 * to max_batch crops, each row L2-normalised. A crop without pixels (data ==
 * NULL: a failure to acquire) gives a row of NaN. Uses mfr_threads(); the
 * rows do not depend on the thread count. */
int mfr_embedder_run(mfr_embedder *e, const mfr_image *crops, int n, float *out);
/* v /= ||v|| (sum of squares in double); a zero vector stays zero. */
void mfr_l2_normalize(float *v, int n);

/* ----------------------------------------------------------------- pipeline
 * src/face/pipeline*.c: the end-to-end benchmark behind `mfr run` (docs/run.md).
 * Images are generated from a recipe in chunks, never stored (unless
 * keep_images), detected, aligned and embedded by every system, and scored by
 * the eval library (verification, identification, detection, latency, report). */
#define MFR_RUN_MAX_EMBEDDERS 8

typedef struct mfr_run_opts {
    const char *recipe;          /* verification recipe (default datasets/default.ini) */
    const char *scenes;          /* scene recipe for detection; NULL: none */
    const char *detector;        /* detector model; NULL: true landmarks (no detection) */
    const char *embedders[MFR_RUN_MAX_EMBEDDERS]; /* embedder models */
    int n_embedders;
    int lbp;                     /* also the LBP baseline (default 1) */
    uint64_t seed;               /* default 1 */
    double fmr;                  /* NIST threshold's target FMR (default 1e-5) */
    int chunk;                   /* images per streamed chunk (default 256) */
    int batch;                   /* embedder forward batch (default 32) */
    int keep_images;             /* also write the images as PNG under OUT/images, OUT/scenes */
    int no_plots;                /* report without gnuplot plots */
    int quiet;                   /* no progress bar */
} mfr_run_opts;

void mfr_run_opts_default(mfr_run_opts *o);
/* Runs the benchmark and writes the directory `out` atomically (results.json,
 * latency.json, summary.txt, eval subdirectories, report/). *summary (may be
 * NULL) receives the printed summary (malloc'd). */
int mfr_run(const mfr_run_opts *o, const char *out, char **summary);

#ifdef __cplusplus
}
#endif
#endif /* MFR_FACE_H */
