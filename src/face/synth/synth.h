/* Internal interfaces of the synthetic face generator: the parametric head,
 * the triangle rasteriser with its per-pixel G-buffer, textures and the
 * post-processing of the camera. Not installed. */
#ifndef MFR_SYNTH_H
#define MFR_SYNTH_H

#include "mfr/face.h"

#include <math.h>
#include <stdint.h>

#define SYNTH_PI 3.14159265358979f

typedef struct v3 { float x, y, z; } v3;

static inline v3 v3_make(float x, float y, float z) { v3 r = {x, y, z}; return r; }
static inline v3 v3_add(v3 a, v3 b) { return v3_make(a.x + b.x, a.y + b.y, a.z + b.z); }
static inline v3 v3_sub(v3 a, v3 b) { return v3_make(a.x - b.x, a.y - b.y, a.z - b.z); }
static inline v3 v3_scale(v3 a, float s) { return v3_make(a.x * s, a.y * s, a.z * s); }
static inline float v3_dot(v3 a, v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static inline v3 v3_cross(v3 a, v3 b)
{
    return v3_make(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}
static inline v3 v3_norm(v3 a)
{
    float l = sqrtf(v3_dot(a, a));
    return l > 1e-12f ? v3_scale(a, 1.0f / l) : v3_make(0, 0, 1);
}
static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }
static inline float smoothstep(float e0, float e1, float x)
{
    float t = clampf((x - e0) / (e1 - e0), 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}
static inline float mixf(float a, float b, float t) { return a + (b - a) * t; }
/* A smooth bump: 1 at the centre, 0 from radius 1 on; t is the squared distance. */
static inline float bump2(float t) { return t < 1.0f ? (1.0f - t) * (1.0f - t) : 0.0f; }

/* Integer hash (lowbias32) and value noise in [0, 1) for textures. */
static inline uint32_t synth_hash(uint32_t x)
{
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    return x;
}
static inline float synth_hash2f(int32_t i, int32_t j, uint32_t seed)
{
    return (float)(synth_hash((uint32_t)i * 0x9e3779b1u ^ synth_hash((uint32_t)j + seed)) >> 8) * (1.0f / 16777216.0f);
}
/* floor(v) as an int without a library call, for |v| below 2^31. */
static inline int32_t synth_floor_i(float v)
{
    int32_t i = (int32_t)v;
    return i - ((float)i > v);
}

/* Smooth value noise in [0, 1) (needs synth_tables_init first): a fixed
 * lattice of random 16-bit values (raster.c) read at an offset given by the
 * seed's hash. Inline: the textures call it about ten times per pixel. */
#define SYNTH_NOISE_N 512
/* (two spare entries at the end: a gather reads 32 bits at the last one) */
extern uint16_t synth_noise_lattice[SYNTH_NOISE_N * SYNTH_NOISE_N + 2];
void synth_noise_init(void); /* called by synth_tables_init */
/* The same with the seed's hash given (hs = synth_hash(seed)): a head
 * hashes its texture seeds once (synth_head.nh). */
static inline float synth_vnoise_h(float x, float y, uint32_t hs)
{
    /* texture coordinates are far below 2^31 */
    int32_t xi = synth_floor_i(x), yi = synth_floor_i(y);
    float fx = (float)xi, fy = (float)yi;
    uint32_t i0 = ((uint32_t)xi + hs) & (SYNTH_NOISE_N - 1), j0 = ((uint32_t)yi + (hs >> 16)) & (SYNTH_NOISE_N - 1);
    uint32_t i1 = (i0 + 1) & (SYNTH_NOISE_N - 1), j1 = (j0 + 1) & (SYNTH_NOISE_N - 1);
    const uint16_t *r0 = synth_noise_lattice + j0 * SYNTH_NOISE_N, *r1 = synth_noise_lattice + j1 * SYNTH_NOISE_N;
    const float s16 = 1.0f / 65536.0f;
    float a = (float)r0[i0] * s16, b = (float)r0[i1] * s16, c = (float)r1[i0] * s16, d = (float)r1[i1] * s16;
    float tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    return mixf(mixf(a, b, tx), mixf(c, d, tx), ty);
}
static inline float synth_vnoise(float x, float y, uint32_t seed) { return synth_vnoise_h(x, y, synth_hash(seed)); }

/* Rotation of the head: yaw about y, then pitch about x, then roll about z. */
typedef struct m3 { float m[9]; } m3;
m3 synth_rotation(float yaw_deg, float pitch_deg, float roll_deg);
static inline v3 m3_apply(const m3 *r, v3 p)
{
    return v3_make(r->m[0] * p.x + r->m[1] * p.y + r->m[2] * p.z, r->m[3] * p.x + r->m[4] * p.y + r->m[5] * p.z,
                   r->m[6] * p.x + r->m[7] * p.y + r->m[8] * p.z);
}

/* ------------------------------------------------------------------ head */

/* The head of one identity with one expression, in "face units": X = u *
 * 0.75 and Y = v on the base ellipsoid (u longitude, v latitude, radians).
 * Feature positions (eyes, nose, mouth) are kept in those units. */
typedef struct synth_head {
    const mfr_identity *id;
    float rx, ry_up, ry_low, rz;
    float eye_x, eye_y, eye_w, eye_h;   /* eye centre (|X|), half-width and half-height */
    float nose_top, nose_tip, nose_base, nose_w, nose_h;
    float mouth_y, mouth_w, mouth_open, smile, lip_up, lip_low;
    float brow_y, brow_raise, eye_close;
    float hair_front, hair_thick;
    uint32_t nh[20]; /* synth_hash(id->texture_seed + i): the textures' noise seeds */
    int avx2;        /* the albedo's batches may use the AVX2 build (set by synth_head_setup) */
} synth_head;

void synth_head_setup(synth_head *h, const mfr_identity *id, const mfr_nuisance *nz);
/* Surface point at (u, v); `hair` adds the hair volume. */
v3 synth_head_point(const synth_head *h, float u, float v, int hair);
/* The same with cos/sin of u and v and the hairline at u supplied (a mesh
 * computes them once per grid column and row). */
v3 synth_head_point_cs(const synth_head *h, float u, float v, float cu, float su, float cv, float sv, float hline,
                       int hair);
/* synth_head_point_cs over a grid, point (i, j) into pos[3 (j nu + i)]:
 * col[4 i ..] = u, cos u, sin u, hairline of column i; v[j] the rows. The
 * terms that depend on the column only or the row only are computed once
 * (the same values: a test). MFR_ERR_NOMEM when out of memory. */
int synth_head_grid(const synth_head *h, int nu, int nv, const float *col, const float *v, int hair, float *pos);
/* Hairline latitude at longitude u (where scalp hair starts). */
float synth_hairline(const synth_head *h, float u);
/* The 5 landmarks in head coordinates (image order for a frontal face). */
void synth_head_landmarks(const synth_head *h, v3 lm[5]);

/* ------------------------------------------------------------ rasteriser */

enum { MAT_HEAD = 0, MAT_NECK, MAT_CLOTH, MAT_HAIR, MAT_MASK, MAT_HAND, MAT_PLAIN };

typedef struct synth_mesh {
    int nv, nt, material, cull;
    float *pos;      /* 3 * nv, camera space */
    float *nrm;      /* 3 * nv, camera space, unit */
    float *uv;       /* 2 * nv */
    float *scr;      /* 4 * nv: pixel x, pixel y, depth, 1 / depth */
    int *tri;        /* 3 * nt */
    const void *owner; /* identity / mask parameters for the shader */
    int tag;         /* face number within a scene */
} synth_mesh;

typedef struct synth_camera {
    float f, cx, cy;   /* focal length and principal point in pixels */
} synth_camera;

/* Per-pixel buffers of one render. */
typedef struct synth_frame {
    int w, h;
    float *depth;      /* w*h */
    int32_t *mesh;     /* w*h: mesh index or -1 */
    int32_t *tri;      /* w*h */
    float *b;          /* 2*w*h: perspective-correct barycentrics of vertex 1 and 2 */
    float *rgb;        /* 3*w*h, linear light */
    float *tmp;        /* 3*w*h: the camera's scratch (blur) */
} synth_frame;

int synth_frame_init(synth_frame *f, int w, int h);
/* Back to the state synth_frame_init leaves (empty depth and mesh), keeping
 * the buffers: a thread reuses its frames instead of faulting in fresh
 * pages for every picture. */
void synth_frame_clear(synth_frame *f);
/* A frame of w x h owned by the calling thread (freed when it exits),
 * cleared, its colours undefined; valid until the thread's next call. NULL
 * when out of memory. */
synth_frame *synth_scratch_frame(int w, int h);
void synth_frame_free(synth_frame *f);
/* Builds a mesh from a grid nu x nv of points (pos filled by the caller in
 * head space, uv too); triangles, with u wrapping when `wrap`. */
int synth_mesh_grid(synth_mesh *m, int nu, int nv, int wrap);
void synth_mesh_free(synth_mesh *m);
/* Normals from the grid's neighbours (call before transforming). */
void synth_mesh_grid_normals(synth_mesh *m, int nu, int nv, int wrap, int flip);
/* Transforms head space -> camera space: p' = R (p - pivot) + offset. */
void synth_mesh_transform(synth_mesh *m, const m3 *r, v3 pivot, v3 offset);
/* Screen position, depth and 1/depth (0 behind the camera) of each vertex. */
void synth_mesh_project(synth_mesh *m, const synth_camera *cam);
/* The three vertex by vertex (_ref: the plain references) and built with
 * -mavx2 (_avx2, mesh_avx2.c: only where MFR_HAVE_AVX2 and the CPU has it);
 * the functions above run the best build, all with the same bits (a test). */
void synth_mesh_grid_normals_ref(synth_mesh *m, int nu, int nv, int wrap, int flip);
void synth_mesh_transform_ref(synth_mesh *m, const m3 *r, v3 pivot, v3 offset);
void synth_mesh_project_ref(synth_mesh *m, const synth_camera *cam);
void synth_mesh_grid_normals_avx2(synth_mesh *m, int nu, int nv, int wrap, int flip);
void synth_mesh_transform_avx2(synth_mesh *m, const m3 *r, v3 pivot, v3 offset);
void synth_mesh_project_avx2(synth_mesh *m, const synth_camera *cam);
void synth_raster(synth_frame *f, const synth_mesh *m, int mesh_index);
void synth_raster_ref(synth_frame *f, const synth_mesh *m, int mesh_index); /* the plain reference */
/* synth_raster's AVX2 build (raster_avx2.c; only where MFR_HAVE_AVX2 and the CPU has it) */
void synth_raster_avx2(synth_frame *f, const synth_mesh *m, int mesh_index);
/* its AVX-512 build (raster_avx512.c; only where MFR_HAVE_AVX512 and the CPU has it) */
void synth_raster_avx512(synth_frame *f, const synth_mesh *m, int mesh_index);
/* Projects a camera-space point: pixel x, y and depth; 0 when behind the camera. */
int synth_project(const synth_camera *cam, v3 p, float *x, float *y, float *z);

/* ------------------------------------------------------------- shading */

typedef struct synth_light {
    v3 dir;            /* towards the light, camera space, unit */
    float color[3];    /* intensity times colour */
    float ambient;
} synth_light;

void synth_light_from(const mfr_nuisance *nz, synth_light *l);
/* sRGB <-> linear through tables; synth_tables_init() (idempotent,
 * thread-safe) must run before the first use. */
void synth_tables_init(void);
extern float synth_lin_lut[257];
extern uint8_t synth_srgb_lut[4097 + 3]; /* entries 0..4096 (then three spare bytes) */
/* sRGB decoding through the table with linear interpolation. */
static inline float synth_to_linear(float s)
{
    s = s > 0.0f ? (s < 1.0f ? s * 256.0f : 256.0f) : 0.0f; /* NaN -> 0 */
    int i = (int)s;
    if (i >= 256)
        return synth_lin_lut[256];
    return mixf(synth_lin_lut[i], synth_lin_lut[i + 1], s - (float)i);
}
static inline uint8_t synth_to_srgb8(float lin)
{
    return synth_srgb_lut[lin > 0.0f ? (lin < 1.0f ? (int)(lin * 4096.0f + 0.5f) : 4096) : 0]; /* NaN -> 0 */
}

/* The features of the head's albedo that a batch of points may need
 * (texture.c's albedo_features; the others are skipped for the batch). */
enum {
    SYNTH_F_BLUSH = 1, SYNTH_F_FRECKLES = 2, SYNTH_F_FOREHEAD = 4, SYNTH_F_CROW = 8, SYNTH_F_FOLD = 16,
    SYNTH_F_NOSTRILS = 32, SYNTH_F_LIPS = 64, SYNTH_F_EYES = 128, SYNTH_F_BROWS = 256, SYNTH_F_BEARD = 512,
    SYNTH_F_SCALP = 1024, SYNTH_F_ALL = 2047
};
/* Albedo (sRGB) of the head surface at (u, v), and specular strength. */
void synth_head_albedo(const synth_head *h, float u, float v, float rgb[3], float *spec);
/* The same for n points at once (n <= SYNTH_SHADE_BATCH), equal to
 * synth_head_albedo point by point (a test): features that cannot reach any
 * of the points (the moles, for now) are left out of the whole batch. */
void synth_head_albedo_batch(const synth_head *h, int n, const float *u, const float *v, float (*rgb)[3], float *spec);
/* Its AVX2 parts (texture_avx2.c, only where MFR_HAVE_AVX2 and the CPU has
 * it; used where h->avx2): the skin (tone and specular strength) of points
 * 0..n-1 eight at a time into base[i][0..1], returning how many it did (n
 * less n % 8); the scalp hair blended into eight points. */
int synth_skin_base_avx2(const synth_head *h, int n, const float *u, const float *v, float (*base)[2]);
void synth_scalp8_avx2(const synth_head *h, const float *u, const float *v, float (*rgb)[3], float *spec);
/* The albedo of eight points without the scalp hair, from their skin base
 * (synth_skin_base_avx2's pairs): the features in `feat` (SYNTH_F_*, not
 * SYNTH_F_SCALP) and the moles whose bit is set in `moles`, each test a lane
 * mask; the same bits as synth_head_albedo before its scalp (a test). */
void synth_head_features8_avx2(const synth_head *h, const float *u, const float *v, const float (*base)[2],
                               unsigned feat, unsigned moles, float (*rgb)[3], float *spec);
/* Albedo of a mask at mask coordinates s in [-1, 1] (side to side), t in [0, 1] (bottom to top);
 * also a normal tilt for pleats (*bend). */
void synth_mask_albedo(const mfr_mask *m, float s, float t, float rgb[3], float *bend);
/* Base colour of a mask colour index (sRGB). */
void synth_mask_color(int color, float rgb[3]);
/* Hair colour with strands, for the long-hair curtain (u: angle, v: height). */
void synth_hair_albedo(const synth_head *h, float u, float v, float rgb[3]);

int synth_build_mask(synth_mesh *m, const synth_head *h, const mfr_mask *mask, float lod, v3 straps[16]);

/* Thick anti-aliased 3D line drawn over the shaded frame where it is in
 * front of the depth buffer. */
void synth_line3(synth_frame *f, const synth_camera *cam, v3 a, v3 b, float width_px, const float rgb_lin[3],
                 float alpha);
/* The plain reference (pixel by pixel) that synth_line3 matches bit for bit
 * (a test). */
void synth_line3_ref(synth_frame *f, const synth_camera *cam, v3 a, v3 b, float width_px, const float rgb_lin[3],
                     float alpha);
/* One row of it built with -mavx2 (line_avx2.c; only where MFR_HAVE_AVX2
 * and the CPU has it): x0..x1 of rgb and depth (the row's own), the line
 * as struct line_par of line_simd.h. */
struct line_par;
void synth_line_row_avx2(float *rgb, const float *depth, int x0, int x1, float py, const struct line_par *L);

#define SYNTH_FACE_MESHES 10

/* One head put in a frame: its parameters, meshes in camera space and where
 * they went. Build, rasterise (synth_face_raster), shade the whole frame
 * (synth_shade), then synth_face_overlay and synth_face_truth. */
typedef struct synth_face {
    mfr_identity id;
    mfr_nuisance nz;
    mfr_mask mask;
    synth_head head;
    m3 rot;
    v3 pivot, offset;
    synth_mesh mesh[SYNTH_FACE_MESHES];
    int nmesh, head_mesh;   /* head_mesh: global index of the head mesh after rasterising */
    v3 straps[16];   /* mask ear loops: 8 segments */
    float cloth[3];
    int tag;
} synth_face;

/* `offset`: where the head's neck pivot lands in camera space. The face keeps
 * copies of id, nz and mask. */
int synth_face_build(synth_face *F, const mfr_identity *id, const mfr_nuisance *nz, const mfr_mask *mask, v3 offset,
                     float lod, const synth_camera *cam, uint32_t seed);
void synth_face_free(synth_face *F);
/* Rasterises the face's meshes; list[first..] receives pointers to them for
 * synth_shade. Returns the number of meshes added. */
int synth_face_raster(synth_face *F, synth_frame *f, const synth_mesh **list, int first);
void synth_shade(synth_frame *f, const synth_mesh *const *list, int n, const synth_light *light);
/* Shading runs over batches of pixels in structure-of-arrays form: the
 * gather (interpolated normal and position, albedo) per pixel, then the
 * lighting terms over the whole batch (SSE2 where there is SSE2), then the
 * colours. */
#define SYNTH_SHADE_BATCH 64
typedef struct synth_shade_batch {
    float nx[SYNTH_SHADE_BATCH], ny[SYNTH_SHADE_BATCH], nz[SYNTH_SHADE_BATCH]; /* normal, not unit yet */
    float px[SYNTH_SHADE_BATCH], py[SYNTH_SHADE_BATCH], pz[SYNTH_SHADE_BATCH]; /* camera-space position */
    float spec[SYNTH_SHADE_BATCH], bend[SYNTH_SHADE_BATCH];                    /* from the material */
    float ka[SYNTH_SHADE_BATCH], diff[SYNTH_SHADE_BATCH], sp[SYNTH_SHADE_BATCH]; /* out: ambient, diffuse, specular */
} synth_shade_batch;
/* The lighting terms of pixels 0..n-1 of a batch (n <= SYNTH_SHADE_BATCH;
 * the fast one may compute up to the next multiple of 4). _ref is the plain
 * per-pixel reference the fast one matches bit for bit (a test). */
void synth_light_batch(synth_shade_batch *b, int n, const synth_light *light);
void synth_light_batch_ref(synth_shade_batch *b, int n, const synth_light *light);
/* The colours of pixels 0..n-1 (linear light) from their albedo (sRGB) and
 * lighting terms: to_linear(alb) (ka + diff lc) + sp lc. The fast one reads
 * alb up to the next multiple of 4 (pad it); _ref is the plain loop. */
void synth_colour_batch(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                        float (*out)[3]);
void synth_colour_batch_ref(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                            float (*out)[3]);
/* The two passes eight pixels at a time, built with -mavx2 (shade_avx2.c;
 * only where MFR_HAVE_AVX2 and the CPU has it): the same bits as the
 * references (tests). They compute up to the next multiple of 8 (pad the
 * batch and alb to it; SYNTH_SHADE_BATCH is a multiple of 8). */
void synth_light_batch_avx2(synth_shade_batch *b, int n, const synth_light *light);
void synth_colour_batch_avx2(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                             float (*out)[3]);
/* The gather's interpolation: the normals, positions and (u, v) of pixels
 * pix[0..n-1] of frame f, all covered by mesh m, into lanes at..at+n-1 of
 * b's nx..pz and of u, v (the barycentric weights b0 = 1 - b1 - b2, b1, b2
 * of each pixel's triangle). The AVX2 build (shade_avx2.c) runs eight
 * pixels at a time with gathers, the rest by the plain one: the same bits
 * (a test). */
void synth_shade_interp(const synth_frame *f, const synth_mesh *m, const int32_t *pix, int n, synth_shade_batch *b,
                        int at, float *u, float *v);
void synth_shade_interp_avx2(const synth_frame *f, const synth_mesh *m, const int32_t *pix, int n,
                             synth_shade_batch *b, int at, float *u, float *v);
/* The same for the pixels of meshes first..n-1 only. */
void synth_shade_from(synth_frame *f, const synth_mesh *const *list, int n, int first, const synth_light *light);
/* Builds the mask's mesh as the face's last one (in camera space), with its
 * ear loops; synth_face_drop_mask removes it again. No mask: nothing. */
int synth_face_add_mask(synth_face *F, const mfr_mask *mask, float lod, const synth_camera *cam);
void synth_face_drop_mask(synth_face *F);
void synth_face_overlay(const synth_face *F, synth_frame *f, const synth_camera *cam, const synth_light *light);
void synth_face_truth(const synth_face *F, const synth_frame *f, const synth_camera *cam, mfr_face_truth *t);
/* Camera and head placement that put a face's eyes and mouth near the
 * ArcFace template scaled to a w x h image (mfr_face_render's framing). */
void synth_face_framing(const synth_head *head, const mfr_nuisance *nz, int w, int h, synth_camera *cam, v3 *offset,
                        float *lod);
/* Camera-space position of a head-space point. */
v3 synth_face_to_camera(const synth_face *F, v3 p);

/* ------------------------------------------------------------ camera */

/* Fills the pixels that no mesh covers yet (all of them before rasterising;
 * only the uncovered ones after, which saves the work under the faces). */
void synth_background(synth_frame *f, uint32_t seed, int clutter);
void synth_background_ref(synth_frame *f, uint32_t seed, int clutter); /* pixel by pixel: the same bits */
/* Its pixels eight at a time in the AVX2 build (camera_avx2.c; only where
 * MFR_HAVE_AVX2 and the CPU has it): a span of a row into colour planes
 * of SYNTH_BG_SPAN floats; returns how many pixels it did (bg_params:
 * camera_simd.h). */
#define SYNTH_BG_SPAN 1024
struct bg_params;
int synth_bg_span_avx2(const struct bg_params *P, const int32_t *mrow, int x0, int n, float ygy, float off,
                       const int *near, const float *dy2, int nb, float (*pl)[SYNTH_BG_SPAN]);
/* Blur, sensor noise and JPEG-like artefacts; linear frame -> 8-bit sRGB. */
void synth_finish(const synth_frame *f, const mfr_nuisance *nz, uint64_t noise_seed, uint64_t noise_item,
                  mfr_image *out);
/* synth_to_srgb8 of n samples; _ref is the plain loop the fast one matches. */
void synth_encode_srgb8(const float *lin, uint8_t *out, int n);
void synth_encode_srgb8_ref(const float *lin, uint8_t *out, int n);
/* The same eight samples at a time in the AVX2 build (camera_avx2.c; only
 * where MFR_HAVE_AVX2 and the CPU has it): the table read by gathers. */
void synth_encode_srgb8_avx2(const float *lin, uint8_t *out, int n);
/* F[i] = round(F[i] / Q[i]) Q[i], halves away from zero (|F / Q| < 2^31):
 * the JPEG-like quantiser; _ref the plain loop the fast one matches. */
void synth_quantise64(float F[64], const float Q[64]);
void synth_quantise64_ref(float F[64], const float Q[64]);
/* JPEG-like 8x8 DCT quantisation of an RGB image in place (quality 1..100). */
void synth_jpeg_artefacts(mfr_image *im, int quality);
/* The same in plain loops (the triple-loop transforms, the plain
 * quantiser): the reference both builds of the blocks match bit for bit. */
void synth_jpeg_artefacts_ref(mfr_image *im, int quality);
/* Its blocks with the basis C (Ct its transpose) and the quantisers Q[0]
 * (luma), Q[1] (chroma) given: the baseline build and the AVX2 one (same
 * bits; a test). */
void synth_jpeg_blocks(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64]);
void synth_jpeg_blocks_avx2(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64]);
/* Separable Gaussian blur of an interleaved RGB float image in place (tmp:
 * 3*w*h floats); edges clamp. _ref is the plain reference the fast one must
 * match bit for bit. */
void synth_gaussian_blur(float *rgb, int w, int h, float sigma, float *tmp);
void synth_gaussian_blur_ref(float *rgb, int w, int h, float sigma, float *tmp);
/* The blur's passes with its taps k[0..2r] (r >= 1) given: _base is the
 * baseline build, _avx2 the AVX2 build (only where MFR_HAVE_AVX2 and the
 * CPU has it), synth_blur_taps the best that runs. All give the same bits. */
void synth_blur_taps(float *rgb, int w, int h, int r, const float *k, float *tmp);
void synth_blur_taps_base(float *rgb, int w, int h, int r, const float *k, float *tmp);
void synth_blur_taps_avx2(float *rgb, int w, int h, int r, const float *k, float *tmp);
/* Sensor noise on nx 8-bit samples numbered n.. (synth_finish's, row by
 * row): the baseline build and the AVX2 one (same bits; a test). */
void synth_sensor_noise(uint8_t *row, int nx, uint32_t key, uint32_t n, float sd);
void synth_sensor_noise_avx2(uint8_t *row, int nx, uint32_t key, uint32_t n, float sd);

#endif
