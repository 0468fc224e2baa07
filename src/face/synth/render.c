/* Putting a head in a picture: meshes for the head, hair, neck, shoulders,
 * mask and hand; Lambert + ambient + a little specular shading; glasses and
 * mask loops as depth-tested 3D lines; truth read back from the 3D model. */
#include "config.h"
#include "synth.h"

#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const v3 head_pivot = {0.0f, -0.75f, -0.1f};

static void set3(float *p, int i, v3 v)
{
    p[3 * i] = v.x;
    p[3 * i + 1] = v.y;
    p[3 * i + 2] = v.z;
}

static int build_ellipsoid(synth_mesh *m, v3 c, v3 r, int nu, int nv, int material)
{
    int rc = synth_mesh_grid(m, nu, nv, 1);
    if (rc != MFR_OK)
        return rc;
    for (int j = 0; j < nv; j++) {
        float v = -1.5f + 3.0f * (float)j / (float)(nv - 1);
        for (int i = 0; i < nu; i++) {
            float u = -SYNTH_PI + 2.0f * SYNTH_PI * (float)i / (float)nu;
            int k = j * nu + i;
            set3(m->pos, k, v3_make(c.x + r.x * cosf(v) * sinf(u), c.y + r.y * sinf(v), c.z + r.z * cosf(v) * cosf(u)));
            m->uv[2 * k] = u;
            m->uv[2 * k + 1] = v;
        }
    }
    synth_mesh_grid_normals(m, nu, nv, 1, 0);
    m->material = material;
    return MFR_OK;
}

/* Moves the entry of x[0..n-1] (stride apart) nearest to `target` onto it. */
static void snap_nearest(float *x, int n, int stride, float target)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (fabsf(x[i * stride] - target) < fabsf(x[best * stride] - target))
            best = i;
    x[best * stride] = target;
}

static int build_head(synth_mesh *m, const synth_head *h, float lod)
{
    /* Columns about 2 pixels apart across the middle of the face at the
     * benchmark's 112 x 112 (80 at lod 1; 120 gave 1.3 pixels, finer than
     * the shading needs), denser in front; rows as dense, most around the
     * eyes and mouth (v near 0). The columns and rows nearest the five
     * landmarks are moved onto them, so that every landmark is a vertex
     * however coarse the grid (the truth's visibility test compares the
     * depth drawn there with the smooth surface). An even column count
     * keeps the grid symmetric with a column on the midline. */
    int nu = 2 * (int)(40 * lod), nv = (int)(84 * lod);
    if (nu < 20) nu = 20;
    if (nv < 14) nv = 14;
    int rc = synth_mesh_grid(m, nu, nv, 1);
    if (rc != MFR_OK)
        return rc;
    /* per column: u, its cosine and sine and the hairline, computed once; per row: v */
    float *col = mfr_alloc(((size_t)nu * 4 + (size_t)nv) * sizeof *col), *row = col + 4 * (size_t)nu;
    if (!col) {
        synth_mesh_free(m);
        return MFR_ERR_NOMEM;
    }
    for (int i = 0; i < nu; i++) {
        float s = -1.0f + 2.0f * (float)i / (float)nu;
        col[4 * i] = SYNTH_PI * (0.35f * s + 0.65f * s * s * s);
    }
    for (int j = 0; j < nv; j++) {
        float tv = -1.0f + 2.0f * (float)j / (float)(nv - 1);
        row[j] = 1.56f * (0.55f * tv + 0.45f * tv * tv * tv);
    }
    const float ue = h->eye_x / 0.75f, um = h->mouth_w / 0.75f;
    snap_nearest(col, nu, 4, -ue);
    snap_nearest(col, nu, 4, ue);
    snap_nearest(col, nu, 4, -um);
    snap_nearest(col, nu, 4, um);
    snap_nearest(row, nv, 1, h->eye_y);
    snap_nearest(row, nv, 1, h->nose_tip);
    snap_nearest(row, nv, 1, h->mouth_y + 0.035f * h->smile); /* synth_head_landmarks' mouth corners */
    for (int i = 0; i < nu; i++) {
        float u = col[4 * i];
        col[4 * i + 1] = cosf(u);
        col[4 * i + 2] = sinf(u);
        col[4 * i + 3] = h->hair_thick > 0.0f ? synth_hairline(h, u) : 0.0f;
    }
    rc = synth_head_grid(h, nu, nv, col, row, 1, m->pos);
    for (int j = 0; j < nv; j++)
        for (int i = 0; i < nu; i++) {
            int k = j * nu + i;
            m->uv[2 * k] = col[4 * i];
            m->uv[2 * k + 1] = row[j];
        }
    mfr_free(col);
    if (rc != MFR_OK) {
        synth_mesh_free(m);
        return rc;
    }
    synth_mesh_grid_normals(m, nu, nv, 1, 0);
    m->material = MAT_HEAD;
    return MFR_OK;
}

/* Long hair falling behind the ears to the shoulders. */
static int build_curtain(synth_mesh *m, const synth_head *h, float lod)
{
    int nu = (int)(40 * lod) < 12 ? 12 : (int)(40 * lod), nv = 10;
    int rc = synth_mesh_grid(m, nu, nv, 0);
    if (rc != MFR_OK)
        return rc;
    for (int j = 0; j < nv; j++) {
        float w = 1.0f - (float)j / (float)(nv - 1); /* 1 at the bottom */
        float y = mixf(0.35f, -1.7f, w);
        for (int i = 0; i < nu; i++) {
            float a = 1.25f + (2.0f * SYNTH_PI - 2.5f) * (float)i / (float)(nu - 1);
            float rx = h->rx * 1.12f + 0.12f * w, rz = h->rz * 1.05f + 0.08f * w;
            int k = j * nu + i;
            set3(m->pos, k, v3_make(rx * sinf(a), y, rz * cosf(a) - 0.05f));
            m->uv[2 * k] = a;
            m->uv[2 * k + 1] = y;
        }
    }
    synth_mesh_grid_normals(m, nu, nv, 0, 0);
    m->material = MAT_HAIR;
    m->cull = 0;
    return MFR_OK;
}

int synth_face_build(synth_face *F, const mfr_identity *id, const mfr_nuisance *nz, const mfr_mask *mask, v3 offset,
                     float lod, const synth_camera *cam, uint32_t seed)
{
    int rc = MFR_OK;
    memset(F, 0, sizeof *F);
    F->id = *id;
    F->nz = *nz;
    if (mask)
        F->mask = *mask;
    synth_head_setup(&F->head, &F->id, &F->nz);
    F->rot = synth_rotation(nz->yaw, nz->pitch, nz->roll);
    F->pivot = head_pivot;
    F->offset = offset;
    {
        /* clothing colour: muted, from the seed */
        float g = 0.15f + 0.6f * synth_hash2f((int32_t)seed, 1, 77u);
        F->cloth[0] = g * (0.6f + 0.6f * synth_hash2f((int32_t)seed, 2, 77u));
        F->cloth[1] = g * (0.6f + 0.6f * synth_hash2f((int32_t)seed, 3, 77u));
        F->cloth[2] = g * (0.6f + 0.6f * synth_hash2f((int32_t)seed, 4, 77u));
    }
    synth_mesh *m = F->mesh;
    int n = 0;
    rc = build_head(&m[n], &F->head, lod);
    if (rc == MFR_OK)
        n++, rc = build_ellipsoid(&m[n], v3_make(0, -1.15f, -0.12f), v3_make(0.40f * id->width, 0.85f, 0.38f),
                                  (int)(24 * lod) < 8 ? 8 : (int)(24 * lod), 8, MAT_NECK);
    if (rc == MFR_OK)
        n++, rc = build_ellipsoid(&m[n], v3_make(0, -2.55f, -0.3f), v3_make(1.9f * id->width, 1.0f, 0.8f),
                                  (int)(32 * lod) < 10 ? 10 : (int)(32 * lod), 12, MAT_CLOTH);
    int body_first = 1, body_last = n;
    if (rc == MFR_OK && id->hair_style == MFR_HAIR_LONG)
        n++, rc = build_curtain(&m[n], &F->head, lod);
    if (rc == MFR_OK && nz->occluder == MFR_OCCLUDER_HAND) {
        /* a flat hand over part of the lower face: palm and four fingers */
        float hx = nz->occluder_x, hy = nz->occluder_y;
        float zf = synth_head_point(&F->head, hx / 0.75f, hy, 0).z;
        n++, rc = build_ellipsoid(&m[n], v3_make(hx, hy - 0.15f, zf + 0.2f), v3_make(0.27f, 0.33f, 0.09f), 14, 10,
                                  MAT_HAND);
        for (int k = 0; k < 4 && rc == MFR_OK; k++)
            n++, rc = build_ellipsoid(&m[n], v3_make(hx - 0.19f + 0.125f * (float)k, hy + 0.33f - 0.03f * (float)((k - 1) * (k - 2)), zf + 0.19f),
                                      v3_make(0.055f, 0.22f, 0.05f), 10, 8, MAT_HAND);
    }
    if (rc == MFR_OK)
        n++;
    F->nmesh = n;
    if (rc != MFR_OK) {
        synth_face_free(F);
        return rc;
    }
    m3 ident = {{1, 0, 0, 0, 1, 0, 0, 0, 1}};
    for (int i = 0; i < n; i++) {
        int body = i >= body_first && i <= body_last;
        synth_mesh_transform(&m[i], body ? &ident : &F->rot, head_pivot, offset);
        synth_mesh_project(&m[i], cam);
        m[i].owner = F;
    }
    rc = synth_face_add_mask(F, mask, lod, cam);
    if (rc != MFR_OK)
        synth_face_free(F);
    return rc;
}

int synth_face_add_mask(synth_face *F, const mfr_mask *mask, float lod, const synth_camera *cam)
{
    if (!mask || mask->type == MFR_MASK_NONE)
        return MFR_OK;
    if (F->nmesh >= SYNTH_FACE_MESHES)
        return mfr_error(MFR_ERR_INTERNAL, "synth_face_add_mask: the face has no room for a mask mesh");
    F->mask = *mask;
    synth_mesh *m = &F->mesh[F->nmesh];
    int rc = synth_build_mask(m, &F->head, mask, lod, F->straps);
    if (rc != MFR_OK)
        return rc;
    synth_mesh_transform(m, &F->rot, head_pivot, F->offset);
    synth_mesh_project(m, cam);
    m->owner = F;
    F->nmesh++;
    return MFR_OK;
}

void synth_face_drop_mask(synth_face *F)
{
    if (F->mask.type != MFR_MASK_NONE && F->nmesh > 0) {
        F->nmesh--;
        synth_mesh_free(&F->mesh[F->nmesh]);
    }
    memset(&F->mask, 0, sizeof F->mask);
    memset(F->straps, 0, sizeof F->straps);
}

void synth_face_free(synth_face *F)
{
    for (int i = 0; i < SYNTH_FACE_MESHES; i++)
        synth_mesh_free(&F->mesh[i]);
    F->nmesh = 0;
}

v3 synth_face_to_camera(const synth_face *F, v3 p)
{
    return v3_add(m3_apply(&F->rot, v3_sub(p, F->pivot)), F->offset);
}

int synth_face_raster(synth_face *F, synth_frame *f, const synth_mesh **list, int first)
{
    for (int i = 0; i < F->nmesh; i++) {
        list[first + i] = &F->mesh[i];
        synth_raster(f, &F->mesh[i], first + i);
    }
    F->head_mesh = first;
    return F->nmesh;
}

/* ------------------------------------------------------------- shading */

void synth_light_from(const mfr_nuisance *nz, synth_light *l)
{
    const float k = SYNTH_PI / 180.0f;
    float az = nz->light_az * k, el = nz->light_el * k;
    l->dir = v3_norm(v3_make(sinf(az) * cosf(el), sinf(el), cosf(az) * cosf(el)));
    for (int c = 0; c < 3; c++)
        l->color[c] = nz->light_intensity * nz->light_color[c];
    l->ambient = nz->ambient;
}

float synth_lin_lut[257];
uint8_t synth_srgb_lut[4097 + 3]; /* (three spare bytes: a gather reads 32 bits at the last entry) */
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void lut_init(void)
{
    for (int i = 0; i <= 256; i++) {
        float x = (float)i / 256.0f;
        synth_lin_lut[i] = x <= 0.04045f ? x / 12.92f : powf((x + 0.055f) / 1.055f, 2.4f);
    }
    for (int i = 0; i <= 4096; i++) {
        float x = (float)i / 4096.0f;
        float s = x <= 0.0031308f ? 12.92f * x : 1.055f * powf(x, 1.0f / 2.4f) - 0.055f;
        synth_srgb_lut[i] = (uint8_t)clampf(s * 255.0f + 0.5f, 0.0f, 255.0f);
    }
    synth_noise_init();
}

void synth_tables_init(void) { pthread_once(&lut_once, lut_init); }

/* fmaxf(x, 0) inline (the libm call cost more than the rest of the
 * specular term); the same value for every input, NaN included. */
static inline float pos0(float x) { return x > 0.0f ? x : 0.0f; }

/* Reference lighting, one pixel at a time: the unit normal (turned towards
 * the camera), Lambert with a soft terminator, a Blinn specular (n.h)^24
 * where the light reaches, and a hint of ambient occlusion (surfaces
 * turned away from the camera get less sky). */
void synth_light_batch_ref(synth_shade_batch *b, int n, const synth_light *light)
{
    const v3 ldir = light->dir;
    const float amb = light->ambient;
    for (int i = 0; i < n; i++) {
        v3 nrm = v3_norm(v3_make(b->nx[i], b->ny[i], b->nz[i]));
        v3 view = v3_norm(v3_scale(v3_make(b->px[i], b->py[i], b->pz[i]), -1.0f));
        if (v3_dot(nrm, view) < 0.0f)
            nrm = v3_scale(nrm, -1.0f);
        float ndl = v3_dot(nrm, ldir);
        b->diff[i] = clampf((ndl + 0.1f) / 1.1f, 0.0f, 1.0f) * (1.0f + b->bend[i]);
        v3 hv = v3_norm(v3_add(ldir, view));
        float sh = pos0(v3_dot(nrm, hv));
        float s2 = sh * sh, s4 = s2 * s2, s8 = s4 * s4, s16 = s8 * s8;
        b->sp[i] = ndl > 0.0f ? b->spec[i] * s16 * s8 : 0.0f;
        float ao = 0.75f + 0.25f * pos0(v3_dot(nrm, view));
        b->ka[i] = amb * ao;
    }
}

#if defined(__SSE2__)
/* Four pixels at a time with the reference's operations in its order
 * (IEEE single precision either way, no fused multiply-add), its
 * comparisons as masks: the same bits. */
static inline __m128 sel4(__m128 mask, __m128 a, __m128 b)
{
    return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}
static inline __m128 dot4(__m128 ax, __m128 ay, __m128 az, __m128 bx, __m128 by, __m128 bz)
{
    return _mm_add_ps(_mm_add_ps(_mm_mul_ps(ax, bx), _mm_mul_ps(ay, by)), _mm_mul_ps(az, bz));
}
/* v3_norm */
static inline void norm4(__m128 *x, __m128 *y, __m128 *z)
{
    __m128 l = _mm_sqrt_ps(dot4(*x, *y, *z, *x, *y, *z));
    __m128 ok = _mm_cmpgt_ps(l, _mm_set1_ps(1e-12f));
    __m128 r = _mm_div_ps(_mm_set1_ps(1.0f), l);
    *x = sel4(ok, _mm_mul_ps(*x, r), _mm_setzero_ps());
    *y = sel4(ok, _mm_mul_ps(*y, r), _mm_setzero_ps());
    *z = sel4(ok, _mm_mul_ps(*z, r), _mm_set1_ps(1.0f));
}
/* pos0 */
static inline __m128 pos04(__m128 x) { return _mm_and_ps(_mm_cmpgt_ps(x, _mm_setzero_ps()), x); }

void synth_light_batch(synth_shade_batch *b, int n, const synth_light *light)
{
    const __m128 lx = _mm_set1_ps(light->dir.x), ly = _mm_set1_ps(light->dir.y), lz = _mm_set1_ps(light->dir.z);
    const __m128 amb = _mm_set1_ps(light->ambient), zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
    const __m128 m1 = _mm_set1_ps(-1.0f);
    for (int i = 0; i < n; i += 4) {
        __m128 nx = _mm_loadu_ps(b->nx + i), ny = _mm_loadu_ps(b->ny + i), nz = _mm_loadu_ps(b->nz + i);
        __m128 vx = _mm_mul_ps(_mm_loadu_ps(b->px + i), m1), vy = _mm_mul_ps(_mm_loadu_ps(b->py + i), m1),
               vz = _mm_mul_ps(_mm_loadu_ps(b->pz + i), m1);
        norm4(&nx, &ny, &nz);
        norm4(&vx, &vy, &vz);
        __m128 flip = _mm_cmplt_ps(dot4(nx, ny, nz, vx, vy, vz), zero);
        nx = sel4(flip, _mm_mul_ps(nx, m1), nx);
        ny = sel4(flip, _mm_mul_ps(ny, m1), ny);
        nz = sel4(flip, _mm_mul_ps(nz, m1), nz);
        __m128 ndl = dot4(nx, ny, nz, lx, ly, lz);
        /* clampf(t, 0, 1): t < 0 ? 0 : t > 1 ? 1 : t */
        __m128 t = _mm_div_ps(_mm_add_ps(ndl, _mm_set1_ps(0.1f)), _mm_set1_ps(1.1f));
        t = sel4(_mm_cmplt_ps(t, zero), zero, sel4(_mm_cmpgt_ps(t, one), one, t));
        _mm_storeu_ps(b->diff + i, _mm_mul_ps(t, _mm_add_ps(one, _mm_loadu_ps(b->bend + i))));
        __m128 hx = _mm_add_ps(lx, vx), hy = _mm_add_ps(ly, vy), hz = _mm_add_ps(lz, vz);
        norm4(&hx, &hy, &hz);
        __m128 sh = pos04(dot4(nx, ny, nz, hx, hy, hz));
        __m128 s2 = _mm_mul_ps(sh, sh), s4 = _mm_mul_ps(s2, s2), s8 = _mm_mul_ps(s4, s4), s16 = _mm_mul_ps(s8, s8);
        __m128 sp = _mm_mul_ps(_mm_mul_ps(_mm_loadu_ps(b->spec + i), s16), s8);
        _mm_storeu_ps(b->sp + i, _mm_and_ps(_mm_cmpgt_ps(ndl, zero), sp));
        __m128 ao = _mm_add_ps(_mm_set1_ps(0.75f), _mm_mul_ps(_mm_set1_ps(0.25f), pos04(dot4(nx, ny, nz, vx, vy, vz))));
        _mm_storeu_ps(b->ka + i, _mm_mul_ps(amb, ao));
    }
}
#else
void synth_light_batch(synth_shade_batch *b, int n, const synth_light *light)
{
    synth_light_batch_ref(b, n, light);
}
#endif

void synth_colour_batch_ref(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light,
                            float (*out)[3])
{
    const float lc[3] = {light->color[0], light->color[1], light->color[2]};
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            out[i][c] = synth_to_linear(alb[i][c]) * (b->ka[i] + b->diff[i] * lc[c]) + b->sp[i] * lc[c];
}

#if defined(__SSE2__)
/* synth_to_linear of four values: the table index and the interpolation
 * with SSE2, the table read lane by lane. */
static inline __m128 to_linear4(__m128 s)
{
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), top = _mm_set1_ps(256.0f);
    /* s > 0 ? (s < 1 ? s * 256 : 256) : 0, NaN -> 0 */
    s = _mm_and_ps(_mm_cmpgt_ps(s, zero), sel4(_mm_cmplt_ps(s, one), _mm_mul_ps(s, top), top));
    const __m128i i = _mm_cvttps_epi32(s);
    int32_t ix[4];
    _mm_storeu_si128((__m128i *)(void *)ix, i);
    float a[4], b[4];
    for (int l = 0; l < 4; l++) {
        const int k = ix[l] < 256 ? ix[l] : 255;
        a[l] = synth_lin_lut[k], b[l] = synth_lin_lut[k + 1];
    }
    const __m128 va = _mm_loadu_ps(a), lin = _mm_add_ps(va, _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(b), va), _mm_sub_ps(s, _mm_cvtepi32_ps(i))));
    /* i >= 256: the table's last entry */
    return sel4(_mm_castsi128_ps(_mm_cmpgt_epi32(i, _mm_set1_epi32(255))), _mm_set1_ps(synth_lin_lut[256]), lin);
}

/* Four pixels at a time, the reference's expression in its order. */
void synth_colour_batch(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light, float (*out)[3])
{
    for (int i = 0; i < n; i += 4) {
        const __m128 ka = _mm_loadu_ps(b->ka + i), diff = _mm_loadu_ps(b->diff + i), sp = _mm_loadu_ps(b->sp + i);
        for (int c = 0; c < 3; c++) {
            const __m128 lc = _mm_set1_ps(light->color[c]);
            const __m128 s = _mm_setr_ps(alb[i][c], alb[i + 1][c], alb[i + 2][c], alb[i + 3][c]);
            const __m128 v = _mm_add_ps(_mm_mul_ps(to_linear4(s), _mm_add_ps(ka, _mm_mul_ps(diff, lc))), _mm_mul_ps(sp, lc));
            float o[4];
            _mm_storeu_ps(o, v);
            for (int l = 0; l < 4 && i + l < n; l++)
                out[i + l][c] = o[l];
        }
    }
}
#else
void synth_colour_batch(const synth_shade_batch *b, const float (*alb)[3], int n, const synth_light *light, float (*out)[3])
{
    synth_colour_batch_ref(b, alb, n, light, out);
}
#endif

/* Interpolates a 3-vector attribute into x[i], y[i], z[i]. */
static inline void interp3_soa(const float *a, const int *ix, float b0, float b1, float b2, float *x, float *y, float *z)
{
    const float *a0 = a + 3 * ix[0], *a1 = a + 3 * ix[1], *a2 = a + 3 * ix[2];
    *x = b0 * a0[0] + b1 * a1[0] + b2 * a2[0];
    *y = b0 * a0[1] + b1 * a1[1] + b2 * a2[1];
    *z = b0 * a0[2] + b1 * a1[2] + b2 * a2[2];
}

void synth_shade_interp(const synth_frame *f, const synth_mesh *m, const int32_t *pix, int n, synth_shade_batch *b,
                        int at, float *u, float *v)
{
    for (int i = 0; i < n; i++) {
        const size_t k = (size_t)pix[i];
        const int *ix = m->tri + 3 * f->tri[k];
        const float b1 = f->b[2 * k], b2 = f->b[2 * k + 1], b0 = 1.0f - b1 - b2;
        const int j = at + i;
        interp3_soa(m->nrm, ix, b0, b1, b2, &b->nx[j], &b->ny[j], &b->nz[j]);
        interp3_soa(m->pos, ix, b0, b1, b2, &b->px[j], &b->py[j], &b->pz[j]);
        u[j] = b0 * m->uv[2 * ix[0]] + b1 * m->uv[2 * ix[1]] + b2 * m->uv[2 * ix[2]];
        v[j] = b0 * m->uv[2 * ix[0] + 1] + b1 * m->uv[2 * ix[1] + 1] + b2 * m->uv[2 * ix[2] + 1];
    }
}

void synth_shade(synth_frame *f, const synth_mesh *const *list, int n, const synth_light *light)
{
    synth_shade_from(f, list, n, 0, light);
}

/* The albedo (sRGB) of pixel k of a batch and its material's specular
 * strength and normal tilt. */
static void material_albedo(const synth_mesh *m, float u, float v, float alb[3], float *spec, float *bend)
{
    const synth_face *F = m->owner;
    const mfr_identity *id = &F->id;
    *spec = 0.05f;
    *bend = 0.0f;
    switch (m->material) {
    case MAT_HEAD:
        synth_head_albedo(&F->head, u, v, alb, spec);
        break;
    case MAT_HAIR:
        synth_hair_albedo(&F->head, u, v, alb);
        *spec = 0.15f;
        break;
    case MAT_MASK:
        synth_mask_albedo(&F->mask, u, v, alb, bend);
        break;
    case MAT_CLOTH: {
        float t = 1.0f + 0.08f * (synth_vnoise(u * 20.0f, v * 20.0f, id->texture_seed) - 0.5f);
        for (int c = 0; c < 3; c++)
            alb[c] = F->cloth[c] * t;
        *spec = 0.02f;
        break;
    }
    default: { /* neck, hand: skin */
        float t = 1.0f + 0.08f * (synth_vnoise(u * 30.0f, v * 30.0f, id->texture_seed + 2u) - 0.5f);
        float dark = m->material == MAT_NECK ? 0.92f : 1.0f;
        for (int c = 0; c < 3; c++)
            alb[c] = id->skin[c] * t * dark;
        *spec = 0.08f;
        break;
    }
    }
}

void synth_shade_from(synth_frame *f, const synth_mesh *const *list, int n, int first, const synth_light *light)
{
    size_t np = (size_t)f->w * (size_t)f->h;
    float *restrict rgb = f->rgb;
    synth_shade_batch B;
    int32_t idx[SYNTH_SHADE_BATCH];
    float alb[SYNTH_SHADE_BATCH][3], col[SYNTH_SHADE_BATCH][3], uu[SYNTH_SHADE_BATCH], vv[SYNTH_SHADE_BATCH];
    const void *owner[SYNTH_SHADE_BATCH]; /* the face of a head pixel, else NULL */
#ifdef MFR_HAVE_AVX2
    /* lighting and colours eight pixels at a time where the CPU has AVX2
     * (shade_avx2.c; the same bits as the SSE2 passes and the references) */
    const int avx2 = mfr_isa_best() >= MFR_ISA_AVX2;
#endif
    size_t k = 0;
    while (k < np) {
        /* gather: the next pixels of meshes first..n-1 (indices below 2^30:
         * synth_frame_init) */
        int32_t pmesh[SYNTH_SHADE_BATCH];
        int nb = 0;
#if defined(__SSE2__)
        /* four pixels at a time while a whole group fits the batch: groups
         * with none of those meshes (background, other layers) skipped at
         * once, the others' pixels taken in order */
        {
            const int32_t *fm = f->mesh;
            const __m128i lo = _mm_set1_epi32(first - 1), hi = _mm_set1_epi32(n);
            for (; k + 4 <= np && nb <= SYNTH_SHADE_BATCH - 4; k += 4) {
                const __m128i mi = _mm_loadu_si128((const __m128i *)(const void *)(fm + k));
                const int bits = _mm_movemask_ps(_mm_castsi128_ps(_mm_and_si128(_mm_cmpgt_epi32(mi, lo), _mm_cmpgt_epi32(hi, mi))));
                if (!bits)
                    continue;
                for (int l = 0; l < 4; l++)
                    if (bits >> l & 1) {
                        pmesh[nb] = fm[k + (size_t)l];
                        idx[nb++] = (int32_t)(k + (size_t)l);
                    }
            }
        }
#endif
        for (; k < np && nb < SYNTH_SHADE_BATCH; k++) {
            const int mi = f->mesh[k];
            if (mi < first || mi >= n)
                continue;
            pmesh[nb] = mi;
            idx[nb++] = (int32_t)k;
        }
        /* their normals, positions and (u, v), over runs of one mesh */
        for (int i = 0; i < nb;) {
            int j = i + 1;
            while (j < nb && pmesh[j] == pmesh[i])
                j++;
            const synth_mesh *m = list[pmesh[i]];
#ifdef MFR_HAVE_AVX2
            if (avx2)
                synth_shade_interp_avx2(f, m, idx + i, j - i, &B, i, uu, vv);
            else
#endif
                synth_shade_interp(f, m, idx + i, j - i, &B, i, uu, vv);
            i = j;
        }
        /* the albedo of every mesh but the heads' pixel by pixel */
        for (int i = 0; i < nb; i++) {
            const synth_mesh *m = list[pmesh[i]];
            if (m->material == MAT_HEAD) { /* below, with the other head pixels */
                B.bend[i] = 0.0f;
                owner[i] = m->owner;
            } else {
                material_albedo(m, uu[i], vv[i], alb[i], &B.spec[i], &B.bend[i]);
                owner[i] = NULL;
            }
        }
        if (nb == 0)
            break;
        /* the head's albedo over runs of pixels of one head */
        for (int i = 0; i < nb;) {
            if (!owner[i]) {
                i++;
                continue;
            }
            int j = i + 1;
            while (j < nb && owner[j] == owner[i])
                j++;
            const synth_face *F = owner[i];
            synth_head_albedo_batch(&F->head, j - i, uu + i, vv + i, alb + i, B.spec + i);
            i = j;
        }
        /* the lanes up to the next multiple of 8: harmless values */
        for (int i = nb; i < ((nb + 7) & ~7); i++)
            B.nx[i] = B.ny[i] = B.nz[i] = B.px[i] = B.py[i] = B.pz[i] = B.spec[i] = B.bend[i] = 0.0f;
        for (int i = nb; i < ((nb + 7) & ~7); i++)
            alb[i][0] = alb[i][1] = alb[i][2] = 0.0f;
#ifdef MFR_HAVE_AVX2
        if (avx2) {
            synth_light_batch_avx2(&B, nb, light);
            synth_colour_batch_avx2(&B, (const float (*)[3])alb, nb, light, col);
        } else
#endif
        {
            synth_light_batch(&B, nb, light);
            synth_colour_batch(&B, (const float (*)[3])alb, nb, light, col);
        }
        for (int i = 0; i < nb; i++) {
            const size_t q = (size_t)idx[i];
            rgb[3 * q] = col[i][0];
            rgb[3 * q + 1] = col[i][1];
            rgb[3 * q + 2] = col[i][2];
        }
    }
}

/* ------------------------------------------------------------ overlays */

void synth_face_overlay(const synth_face *F, synth_frame *f, const synth_camera *cam, const synth_light *light)
{
    const synth_head *h = &F->head;
    float bright = light->ambient + 0.6f * (light->color[0] + light->color[1] + light->color[2]) / 3.0f;
    /* mask ear loops */
    if (F->mask.type != MFR_MASK_NONE) {
        float c[3], lin[3];
        synth_mask_color(F->mask.color == MFR_COLOR_PATTERN ? MFR_COLOR_WHITE : F->mask.color, c);
        if (F->mask.type == MFR_MASK_SURGICAL || F->mask.type == MFR_MASK_N95 || F->mask.type == MFR_MASK_KN95)
            c[0] = c[1] = c[2] = 0.9f;
        if (F->mask.type == MFR_MASK_GAS)
            c[0] = c[1] = c[2] = 0.06f;
        float width = F->mask.type == MFR_MASK_GAS ? 0.06f : 0.018f;
        for (int k = 0; k < 3; k++)
            lin[k] = synth_to_linear(c[k]) * bright;
        for (int s = 0; s < 8; s++) {
            v3 a = synth_face_to_camera(F, F->straps[2 * s]), b = synth_face_to_camera(F, F->straps[2 * s + 1]);
            synth_line3(f, cam, a, b, cam->f * width / -a.z, lin, 1.0f);
        }
    }
    /* glasses: two rims, a bridge and the temples */
    if (F->id.glasses) {
        v3 lm[5];
        synth_head_landmarks(h, lm);
        float lin[3];
        for (int k = 0; k < 3; k++)
            lin[k] = synth_to_linear(F->id.glasses_color[k]) * bright;
        v3 inner[2], outer[2];
        for (int e = 0; e < 2; e++) {
            v3 c = v3_add(lm[e], v3_make(0, 0.01f, 0.1f));
            float rx = 0.14f, ry = F->id.glasses == 1 ? 0.12f : 0.09f;
            v3 prev = c;
            for (int i = 0; i <= 28; i++) {
                float a = 2.0f * SYNTH_PI * (float)i / 28.0f;
                float ca = cosf(a), sa = sinf(a);
                if (F->id.glasses == 2) { /* rounded rectangle: a superellipse */
                    ca = copysignf(powf(fabsf(ca), 0.45f), ca);
                    sa = copysignf(powf(fabsf(sa), 0.45f), sa);
                }
                v3 p = v3_add(c, v3_make(rx * ca, ry * sa, -0.02f * ca * ca));
                if (i > 0) {
                    v3 a3 = synth_face_to_camera(F, prev), b3 = synth_face_to_camera(F, p);
                    synth_line3(f, cam, a3, b3, cam->f * 0.022f / -a3.z, lin, 1.0f);
                }
                prev = p;
            }
            float sgn = e == 0 ? -1.0f : 1.0f;
            inner[e] = v3_add(c, v3_make(-sgn * rx, 0.02f, 0));
            outer[e] = v3_add(c, v3_make(sgn * rx, 0.02f, -0.01f));
        }
        v3 a = synth_face_to_camera(F, inner[0]), b = synth_face_to_camera(F, inner[1]);
        synth_line3(f, cam, a, b, cam->f * 0.02f / -a.z, lin, 1.0f);
        for (int e = 0; e < 2; e++) {
            float sgn = e == 0 ? -1.0f : 1.0f;
            v3 back = v3_make(sgn * (h->rx + 0.05f), h->eye_y + 0.05f, -0.15f);
            a = synth_face_to_camera(F, outer[e]);
            b = synth_face_to_camera(F, back);
            synth_line3(f, cam, a, b, cam->f * 0.02f / -a.z, lin, 1.0f);
        }
    }
    /* loose hair across the face */
    if (F->nz.occluder == MFR_OCCLUDER_HAIR) {
        float lin[3];
        for (int k = 0; k < 3; k++)
            lin[k] = synth_to_linear(F->id.hair_color[k]) * bright;
        for (int s = 0; s < 14; s++) {
            float x0 = F->nz.occluder_x + 0.02f * (float)s;
            v3 prev = synth_head_point(h, x0 / 0.75f, h->hair_front + 0.1f, 0);
            prev.z += 0.06f;
            for (int i = 1; i <= 8; i++) {
                float t = (float)i / 8.0f;
                float x = x0 + 0.25f * t * t * (x0 > 0 ? 1.0f : -1.0f);
                float y = mixf(h->hair_front + 0.1f, F->nz.occluder_y, t);
                v3 p = synth_head_point(h, x / 0.75f, y, 0);
                p.z += 0.04f;
                v3 a = synth_face_to_camera(F, prev), b = synth_face_to_camera(F, p);
                synth_line3(f, cam, a, b, cam->f * 0.012f / -a.z, lin, 0.9f);
                prev = p;
            }
        }
    }
}

/* ---------------------------------------------------------------- truth */

void synth_face_truth(const synth_face *F, const synth_frame *f, const synth_camera *cam, mfr_face_truth *t)
{
    const synth_head *h = &F->head;
    v3 lm[5];
    memset(t, 0, sizeof *t);
    synth_head_landmarks(h, lm);
    float bx0 = 1e30f, by0 = 1e30f, bx1 = -1e30f, by1 = -1e30f;
    for (int i = 0; i < 5; i++) {
        float x, y, z;
        v3 p = synth_face_to_camera(F, lm[i]);
        synth_project(cam, p, &x, &y, &z);
        t->lm[2 * i] = x;
        t->lm[2 * i + 1] = y;
        /* seen when the head itself is drawn at about that depth in the pixel
         * or a neighbour (a nose tip on its own silhouette still counts; the
         * mesh lies a little inside the smooth surface, hence the asymmetry) */
        int xi = (int)floorf(x), yi = (int)floorf(y);
        if (xi >= 0 && yi >= 0 && xi < f->w && yi < f->h)
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = xi + dx, yy = yi + dy;
                    if (xx < 0 || yy < 0 || xx >= f->w || yy >= f->h)
                        continue;
                    size_t k = (size_t)yy * (size_t)f->w + (size_t)xx;
                    if (f->mesh[k] == F->head_mesh && f->depth[k] - z > -0.05f && f->depth[k] - z < 0.12f)
                        t->vis[i] = 1;
                }
    }
    /* the box: the visible part of the face from mid-forehead to chin */
    for (int j = 0; j <= 10; j++) {
        float v = mixf(-1.02f * h->id->length, h->brow_y + 0.12f, (float)j / 10.0f);
        for (int i = 0; i <= 10; i++) {
            float X = -0.70f + 1.4f * (float)i / 10.0f;
            float u = X / 0.75f * (h->id->width > 0 ? 1.0f : 1.0f);
            v3 p = synth_head_point(h, u, v, 0);
            v3 d = v3_make(cosf(v) * sinf(u), sinf(v), cosf(v) * cosf(u));
            v3 pc = synth_face_to_camera(F, p), dc = m3_apply(&F->rot, d);
            if (v3_dot(dc, v3_scale(pc, -1.0f)) <= 0.0f)
                continue;
            float x, y, z;
            if (!synth_project(cam, pc, &x, &y, &z))
                continue;
            bx0 = fminf(bx0, x), bx1 = fmaxf(bx1, x);
            by0 = fminf(by0, y), by1 = fmaxf(by1, y);
        }
    }
    /* clipped to the picture, as annotators do */
    t->box[0] = clampf(bx0, 0.0f, (float)f->w);
    t->box[1] = clampf(by0, 0.0f, (float)f->h);
    t->box[2] = clampf(bx1, 0.0f, (float)f->w);
    t->box[3] = clampf(by1, 0.0f, (float)f->h);
    t->yaw = F->nz.yaw;
    t->pitch = F->nz.pitch;
    t->roll = F->nz.roll;
    float bh = t->box[3] - t->box[1];
    t->size_class = bh >= 64.0f ? MFR_SIZE_EASY : bh >= 32.0f ? MFR_SIZE_MEDIUM : MFR_SIZE_HARD;
}

/* --------------------------------------------------------------- a face */

void synth_face_framing(const synth_head *head, const mfr_nuisance *nz, int w, int hh, synth_camera *cam, v3 *offset,
                        float *lod)
{
    v3 lm[5];
    synth_head_landmarks(head, lm);
    /* scale from the frontal eye distance and eye-to-mouth height onto the template */
    float s = (float)w / 112.0f;
    float de = lm[1].x - lm[0].x;
    float dm = 0.5f * (lm[0].y + lm[1].y) - 0.5f * (lm[3].y + lm[4].y);
    float ppu = s * nz->scale * 0.5f * (35.24f / de + 40.68f / dm);
    v3 c = v3_scale(v3_add(v3_scale(v3_add(lm[0], lm[1]), 0.5f), v3_scale(v3_add(lm[3], lm[4]), 0.5f)), 0.5f);
    float D = nz->distance * 2.0f;
    cam->f = ppu * (D - c.z);
    cam->cx = 0.5f * (float)w;
    cam->cy = 0.5f * (float)hh;
    /* the template's centre, scaled to the width and centred vertically */
    float tx = 56.03f * s + nz->shift_x * (float)w;
    float ty = 0.5f * (float)hh + (71.94f - 56.0f) * s + nz->shift_y * (float)w;
    float ox = (tx - cam->cx) * (D - c.z) / cam->f - c.x;
    float oy = -(ty - cam->cy) * (D - c.z) / cam->f - c.y;
    *offset = v3_add(head_pivot, v3_make(ox, oy, -D));
    *lod = clampf(ppu / 90.0f, 0.25f, 1.2f);
}

/* The conditions of one probe capture (docs/datasets.md section 2: drawn
 * unmasked and with every mask) share the identity, pose, expression, light,
 * camera and background, and differ only in the mask. Each thread keeps the
 * last capture it rendered without its mask (meshes, G-buffer, background
 * and shading) and draws every picture from a copy of it: the mask is
 * rasterised last, only the pixels it wins are shaded, then the overlays,
 * the truth and the camera. Every picture takes that path whether the
 * capture was kept or has just been rendered, and the kept state is a pure
 * function of (identity, nuisances, size), so the bytes depend neither on
 * what the thread drew before nor on the thread count. */
typedef struct capture_cache {
    int valid, w, h, n;
    mfr_identity id;
    mfr_nuisance nz;
    synth_camera cam;
    synth_light light;
    float lod;
    synth_face F;
    synth_frame f;    /* the capture (while valid) */
    synth_frame work; /* the picture drawn from it; kept, like f, for the next picture of this size */
    synth_frame scene; /* synth_scratch_frame's */
    /* the capture last drawn directly (render_direct), to see it come back */
    int direct_valid, direct_w, direct_h;
    mfr_identity direct_id;
    mfr_nuisance direct_nz;
} capture_cache;

static _Thread_local capture_cache cache;

/* Frees everything (a thread's exit). */
static void cache_clear(capture_cache *c)
{
    if (c->valid)
        synth_face_free(&c->F);
    synth_frame_free(&c->f);
    synth_frame_free(&c->work);
    synth_frame_free(&c->scene);
    c->valid = 0;
}

/* The cache is freed when its thread exits (a trainer's prefetch thread,
 * say): a pthread key whose destructor clears it. */
static pthread_key_t cache_key;
static int cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_release(void *p)
{
    cache_clear((capture_cache *)p);
}

static void cache_key_init(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_release) == 0;
}

static void cache_register(capture_cache *c)
{
    pthread_once(&cache_key_once, cache_key_init);
    if (cache_key_ok)
        pthread_setspecific(cache_key, c);
}

synth_frame *synth_scratch_frame(int w, int h)
{
    capture_cache *c = &cache;
    cache_register(c);
    if (c->scene.rgb && c->scene.w == w && c->scene.h == h) {
        synth_frame_clear(&c->scene);
        return &c->scene;
    }
    synth_frame_free(&c->scene);
    return synth_frame_init(&c->scene, w, h) == MFR_OK ? &c->scene : NULL;
}

/* The frames of a w x h picture, reused when the size is the one before. */
static int cache_frames(capture_cache *c, int w, int h)
{
    if (c->f.rgb && c->f.w == w && c->f.h == h) {
        synth_frame_clear(&c->f);
        return MFR_OK;
    }
    synth_frame_free(&c->f);
    synth_frame_free(&c->work);
    int rc = synth_frame_init(&c->f, w, h);
    if (rc == MFR_OK)
        rc = synth_frame_init(&c->work, w, h);
    if (rc != MFR_OK) {
        synth_frame_free(&c->f);
        synth_frame_free(&c->work);
    }
    return rc;
}

static int cache_fill(capture_cache *c, const mfr_identity *id, const mfr_nuisance *nz, int w, int h)
{
    cache_register(c);
    if (c->valid)
        synth_face_free(&c->F);
    c->valid = 0;
    int rc = cache_frames(c, w, h);
    if (rc != MFR_OK)
        return rc;
    c->id = *id;
    c->nz = *nz;
    c->w = w;
    c->h = h;
    synth_head head;
    synth_head_setup(&head, &c->id, &c->nz);
    v3 offset;
    synth_face_framing(&head, &c->nz, w, h, &c->cam, &offset, &c->lod);
    rc = synth_face_build(&c->F, &c->id, &c->nz, NULL, offset, c->lod, &c->cam, c->nz.background);
    if (rc != MFR_OK)
        return rc;
    const synth_mesh *list[SYNTH_FACE_MESHES];
    synth_light_from(&c->nz, &c->light);
    c->n = synth_face_raster(&c->F, &c->f, list, 0);
    synth_background(&c->f, c->nz.background, 0); /* after: only where no mesh landed */
    synth_shade(&c->f, list, c->n, &c->light);
    c->valid = 1;
    return MFR_OK;
}

/* A masked picture of a capture the thread has not kept, drawn in one
 * pass: the mask is rasterised with the other meshes before anything is
 * shaded, so the head under the mask is never shaded (a training recipe
 * draws each capture once, half of them masked). The same bytes as the
 * cached path: the meshes go through the rasteriser in the same order into
 * the same empty frame, so every pixel's depth, mesh, triangle and
 * barycentrics are the same; the background and the shading are functions
 * of the pixel alone, and a pixel the mask wins is shaded over whatever was
 * below it. The cache is left empty: its frame holds this picture. */
static int render_direct(capture_cache *c, const mfr_identity *id, const mfr_nuisance *nz, const mfr_mask *mask,
                         mfr_image *out, mfr_face_truth *truth)
{
    const int w = out->width, hh = out->height;
    cache_register(c);
    if (c->valid)
        synth_face_free(&c->F);
    c->valid = 0;
    int rc = cache_frames(c, w, hh);
    if (rc != MFR_OK)
        return rc;
    c->direct_valid = 1;
    c->direct_w = w;
    c->direct_h = hh;
    c->direct_id = *id;
    c->direct_nz = *nz;
    synth_head head;
    synth_head_setup(&head, id, nz);
    synth_camera cam;
    v3 offset;
    float lod;
    synth_face_framing(&head, nz, w, hh, &cam, &offset, &lod);
    synth_face *F = &c->F;
    rc = synth_face_build(F, id, nz, NULL, offset, lod, &cam, nz->background);
    if (rc != MFR_OK)
        return rc;
    rc = synth_face_add_mask(F, mask, lod, &cam);
    if (rc != MFR_OK) {
        synth_face_free(F);
        return rc;
    }
    synth_frame *f = &c->f;
    const synth_mesh *list[SYNTH_FACE_MESHES];
    synth_light light;
    synth_light_from(nz, &light);
    int n = synth_face_raster(F, f, list, 0);
    synth_background(f, nz->background, 0);
    synth_shade(f, list, n, &light);
    synth_face_overlay(F, f, &cam, &light);
    if (truth)
        synth_face_truth(F, f, &cam, truth);
    synth_finish(f, nz, id->seed, (uint64_t)id->index * 1000003u + nz->background, out);
    synth_face_free(F);
    return MFR_OK;
}

int mfr_face_render(const mfr_identity *id, const mfr_nuisance *nz, const mfr_mask *mask, mfr_image *out,
                    mfr_face_truth *truth)
{
    if (!id || !nz || !out || !out->data || out->channels != 3 || out->width < 8 || out->height < 8)
        return mfr_error(MFR_ERR_ARG, "mfr_face_render: needs an allocated 3-channel image of at least 8x8");
    const int w = out->width, hh = out->height;
    synth_tables_init();
    capture_cache *c = &cache;
    /* byte comparison: a difference in padding or a zero's sign only costs a re-render */
    if (!c->valid || c->w != w || c->h != hh || memcmp(&c->id, id, sizeof *id) != 0 ||
        memcmp(&c->nz, nz, sizeof *nz) != 0) {
        /* a masked picture of a new capture is drawn directly, unless the
         * capture drawn directly last time is back (pictures of one
         * capture in a row: keep it) */
        if (mask && mask->type != MFR_MASK_NONE &&
            !(c->direct_valid && c->direct_w == w && c->direct_h == hh &&
              memcmp(&c->direct_id, id, sizeof *id) == 0 && memcmp(&c->direct_nz, nz, sizeof *nz) == 0))
            return render_direct(c, id, nz, mask, out, truth);
        int rc = cache_fill(c, id, nz, w, hh);
        if (rc != MFR_OK)
            return rc;
    }
    /* a copy of the capture: depth, mesh and colour (the mask writes its own
     * triangles and barycentrics, and only its pixels read them) */
    synth_frame *f = &c->work;
    size_t np = (size_t)w * (size_t)hh;
    memcpy(f->depth, c->f.depth, np * sizeof *f->depth);
    memcpy(f->mesh, c->f.mesh, np * sizeof *f->mesh);
    memcpy(f->rgb, c->f.rgb, 3 * np * sizeof *f->rgb);
    synth_face *F = &c->F;
    int rc = synth_face_add_mask(F, mask, c->lod, &c->cam);
    if (rc != MFR_OK)
        return rc;
    const synth_mesh *list[SYNTH_FACE_MESHES];
    for (int i = 0; i < F->nmesh; i++)
        list[i] = &F->mesh[i];
    if (F->nmesh > c->n) {
        synth_raster(f, &F->mesh[c->n], c->n);
        synth_shade_from(f, list, F->nmesh, c->n, &c->light);
    }
    synth_face_overlay(F, f, &c->cam, &c->light);
    if (truth)
        synth_face_truth(F, f, &c->cam, truth);
    synth_finish(f, nz, id->seed, (uint64_t)id->index * 1000003u + nz->background, out);
    synth_face_drop_mask(F);
    return MFR_OK;
}
