/* Triangle meshes and a z-buffer rasteriser that writes a G-buffer (mesh,
 * triangle, perspective-correct barycentrics per pixel), so that each pixel
 * is shaded once, after all geometry is in. */
#include "config.h"
#include "synth.h"
#include "mesh_simd.h"
#include "line_simd.h"
#include "raster_simd.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Value noise reads a fixed 512 x 512 lattice of random 16-bit values
 * (filled once by synth_tables_init) at an offset taken from the seed's
 * hash, instead of hashing the four corners at every call: the lattice
 * repeats every 512 cells, far beyond the frequencies the textures use, and
 * two seeds see overlapping windows with a probability of about 1%. */
uint16_t synth_noise_lattice[SYNTH_NOISE_N * SYNTH_NOISE_N + 2];

void synth_noise_init(void)
{
    for (int j = 0; j < SYNTH_NOISE_N; j++)
        for (int i = 0; i < SYNTH_NOISE_N; i++)
            synth_noise_lattice[j * SYNTH_NOISE_N + i] = (uint16_t)(synth_hash((uint32_t)i * 0x9e3779b1u ^ synth_hash((uint32_t)j + 0x5eedu)) >> 16);
}

m3 synth_rotation(float yaw_deg, float pitch_deg, float roll_deg)
{
    /* R = Rz(-roll) Rx(-pitch) Ry(yaw): see mfr/face.h for the sign conventions. */
    const float k = SYNTH_PI / 180.0f;
    float cy = cosf(yaw_deg * k), sy = sinf(yaw_deg * k);
    float cp = cosf(-pitch_deg * k), sp = sinf(-pitch_deg * k);
    float cr = cosf(-roll_deg * k), sr = sinf(-roll_deg * k);
    m3 ry = {{cy, 0, sy, 0, 1, 0, -sy, 0, cy}};
    m3 rx = {{1, 0, 0, 0, cp, -sp, 0, sp, cp}};
    m3 rz = {{cr, -sr, 0, sr, cr, 0, 0, 0, 1}};
    m3 t, r;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            t.m[i * 3 + j] = rx.m[i * 3] * ry.m[j] + rx.m[i * 3 + 1] * ry.m[3 + j] + rx.m[i * 3 + 2] * ry.m[6 + j];
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r.m[i * 3 + j] = rz.m[i * 3] * t.m[j] + rz.m[i * 3 + 1] * t.m[3 + j] + rz.m[i * 3 + 2] * t.m[6 + j];
    return r;
}

int synth_frame_init(synth_frame *f, int w, int h)
{
    size_t n = (size_t)w * (size_t)h;
    memset(f, 0, sizeof *f);
    /* pixel indices fit an int32 (the shading's gathers; 2^30 pixels would
     * need 48 GB of buffers anyway) */
    if (w <= 0 || h <= 0 || n > ((size_t)1 << 30))
        return mfr_error(MFR_ERR_RANGE, "raster.c:%d: a frame of %d x %d pixels (at most 2^30 pixels)", __LINE__, w, h);
    f->w = w;
    f->h = h;
    f->depth = mfr_alloc(n * sizeof(float));
    f->mesh = mfr_alloc(n * sizeof(int32_t));
    f->tri = mfr_alloc(n * sizeof(int32_t));
    f->b = mfr_alloc(2 * n * sizeof(float));
    f->rgb = mfr_alloc(3 * n * sizeof(float));
    f->tmp = mfr_alloc(3 * n * sizeof(float));
    if (!f->depth || !f->mesh || !f->tri || !f->b || !f->rgb || !f->tmp) {
        synth_frame_free(f);
        return MFR_ERR_NOMEM;
    }
    synth_frame_clear(f);
    return MFR_OK;
}

void synth_frame_clear(synth_frame *f)
{
    size_t n = (size_t)f->w * (size_t)f->h;
    float *restrict depth = f->depth;
    /* one loop per buffer, vectorised (the two in one loop might alias) */
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        depth[i] = 1e30f;
    memset(f->mesh, 0xff, n * sizeof *f->mesh); /* -1 in every int32_t */
}

void synth_frame_free(synth_frame *f)
{
    mfr_free(f->depth);
    mfr_free(f->mesh);
    mfr_free(f->tri);
    mfr_free(f->b);
    mfr_free(f->rgb);
    mfr_free(f->tmp);
    memset(f, 0, sizeof *f);
}

static int mesh_alloc(synth_mesh *m, int nv, int nt)
{
    memset(m, 0, sizeof *m);
    m->nv = nv;
    m->nt = nt;
    m->pos = mfr_alloc((size_t)nv * 3 * sizeof(float));
    m->nrm = mfr_alloc((size_t)nv * 3 * sizeof(float));
    m->uv = mfr_alloc((size_t)nv * 2 * sizeof(float));
    m->scr = mfr_alloc((size_t)nv * 4 * sizeof(float));
    m->tri = mfr_alloc((size_t)nt * 3 * sizeof(int));
    if (!m->pos || !m->nrm || !m->uv || !m->scr || !m->tri) {
        synth_mesh_free(m);
        return MFR_ERR_NOMEM;
    }
    m->cull = 1;
    return MFR_OK;
}

void synth_mesh_free(synth_mesh *m)
{
    mfr_free(m->pos);
    mfr_free(m->nrm);
    mfr_free(m->uv);
    mfr_free(m->scr);
    mfr_free(m->tri);
    memset(m, 0, sizeof *m);
}

int synth_mesh_grid(synth_mesh *m, int nu, int nv, int wrap)
{
    int cu = wrap ? nu : nu - 1;
    int rc = mesh_alloc(m, nu * nv, 2 * cu * (nv - 1));
    if (rc != MFR_OK)
        return rc;
    int *t = m->tri;
    for (int j = 0; j + 1 < nv; j++)
        for (int i = 0; i < cu; i++) {
            int i1 = i + 1 < nu ? i + 1 : 0; /* (i + 1) % nu without a division */
            int a = j * nu + i, b = j * nu + i1, c = (j + 1) * nu + i, d = (j + 1) * nu + i1;
            t[0] = a; t[1] = b; t[2] = d;
            t[3] = a; t[4] = d; t[5] = c;
            t += 6;
        }
    return MFR_OK;
}

static v3 get3(const float *p, int i) { return v3_make(p[3 * i], p[3 * i + 1], p[3 * i + 2]); }
static void put3(float *p, int i, v3 v)
{
    p[3 * i] = v.x;
    p[3 * i + 1] = v.y;
    p[3 * i + 2] = v.z;
}

void synth_mesh_grid_normals_ref(synth_mesh *m, int nu, int nv, int wrap, int flip)
{
    for (int j = 0; j < nv; j++)
        for (int i = 0; i < nu; i++) {
            int il = i - 1, ir = i + 1;
            if (wrap) { /* i in 0..nu-1: the modulo is a wrap at either end */
                il = il < 0 ? nu - 1 : il;
                ir = ir >= nu ? 0 : ir;
            } else {
                il = il < 0 ? 0 : il;
                ir = ir >= nu ? nu - 1 : ir;
            }
            int jd = j > 0 ? j - 1 : j, ju = j + 1 < nv ? j + 1 : j;
            v3 du = v3_sub(get3(m->pos, j * nu + ir), get3(m->pos, j * nu + il));
            v3 dv = v3_sub(get3(m->pos, ju * nu + i), get3(m->pos, jd * nu + i));
            v3 n = v3_cross(du, dv);
            if (v3_dot(n, n) < 1e-20f) /* a pole: point away from the mesh centre row */
                n = v3_make(0, j == 0 ? -1.0f : 1.0f, 0);
            n = v3_norm(n);
            put3(m->nrm, j * nu + i, flip ? v3_scale(n, -1.0f) : n);
        }
}

void synth_mesh_transform_ref(synth_mesh *m, const m3 *r, v3 pivot, v3 offset)
{
    for (int i = 0; i < m->nv; i++) {
        put3(m->pos, i, v3_add(m3_apply(r, v3_sub(get3(m->pos, i), pivot)), offset));
        put3(m->nrm, i, m3_apply(r, get3(m->nrm, i)));
    }
}

int synth_project(const synth_camera *cam, v3 p, float *x, float *y, float *z)
{
    float d = -p.z;
    if (d < 1e-3f) {
        *x = *y = -1e9f;
        *z = d;
        return 0;
    }
    *x = cam->cx + cam->f * p.x / d;
    *y = cam->cy - cam->f * p.y / d;
    *z = d;
    return 1;
}

void synth_mesh_project_ref(synth_mesh *m, const synth_camera *cam)
{
    for (int i = 0; i < m->nv; i++) {
        float *q = m->scr + 4 * i;
        synth_project(cam, get3(m->pos, i), &q[0], &q[1], &q[2]);
        /* 1/depth once per vertex rather than per triangle (a vertex has
         * six); the triangles of a vertex behind the camera are skipped */
        q[3] = q[2] >= 1e-3f ? 1.0f / q[2] : 0.0f;
    }
}

/* The three through mesh_simd.h: its AVX2 build where it is compiled in
 * and runs (eight vertices per instruction), else its baseline build; the
 * same bits as the references above (a test). */
void synth_mesh_grid_normals(synth_mesh *m, int nu, int nv, int wrap, int flip)
{
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_mesh_grid_normals_avx2(m, nu, nv, wrap, flip);
        return;
    }
#endif
    grid_normals_all(m->pos, m->nrm, nu, nv, wrap, flip);
}

void synth_mesh_transform(synth_mesh *m, const m3 *r, v3 pivot, v3 offset)
{
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_mesh_transform_avx2(m, r, pivot, offset);
        return;
    }
#endif
    mesh_transform_loop(m->pos, m->nrm, m->nv, r, pivot, offset);
}

void synth_mesh_project(synth_mesh *m, const synth_camera *cam)
{
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_mesh_project_avx2(m, cam);
        return;
    }
#endif
    mesh_project_loop(m->pos, m->scr, m->nv, cam->f, cam->cx, cam->cy);
}

/* Reference rasteriser: every pixel of the triangle's bounding box takes
 * the exact test. synth_raster makes the same decisions with the same
 * arithmetic, with the box found without library calls; a test holds them
 * equal. */
void synth_raster_ref(synth_frame *f, const synth_mesh *m, int mesh_index)
{
    const int w = f->w, h = f->h;
    for (int t = 0; t < m->nt; t++) {
        const int *ix = m->tri + 3 * t;
        const float *p0 = m->scr + 4 * ix[0], *p1 = m->scr + 4 * ix[1], *p2 = m->scr + 4 * ix[2];
        if (p0[2] < 1e-3f || p1[2] < 1e-3f || p2[2] < 1e-3f)
            continue;
        float area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0]);
        if (area == 0.0f || (m->cull && area > 0.0f))
            continue;
        float minx = fminf(p0[0], fminf(p1[0], p2[0])), maxx = fmaxf(p0[0], fmaxf(p1[0], p2[0]));
        float miny = fminf(p0[1], fminf(p1[1], p2[1])), maxy = fmaxf(p0[1], fmaxf(p1[1], p2[1]));
        int x0 = (int)ceilf(minx - 0.5f), x1 = (int)floorf(maxx - 0.5f);
        int y0 = (int)ceilf(miny - 0.5f), y1 = (int)floorf(maxy - 0.5f);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 >= w) x1 = w - 1;
        if (y1 >= h) y1 = h - 1;
        if (x0 > x1 || y0 > y1)
            continue;
        float inv = 1.0f / area;
        float iz0 = 1.0f / p0[2], iz1 = 1.0f / p1[2], iz2 = 1.0f / p2[2];
        for (int y = y0; y <= y1; y++) {
            float py = (float)y + 0.5f;
            for (int x = x0; x <= x1; x++) {
                float px = (float)x + 0.5f;
                /* barycentric weights of vertices 1 and 2 (screen space) */
                float b1 = ((px - p0[0]) * (p2[1] - p0[1]) - (py - p0[1]) * (p2[0] - p0[0])) * inv;
                float b2 = ((p1[0] - p0[0]) * (py - p0[1]) - (p1[1] - p0[1]) * (px - p0[0])) * inv;
                float b0 = 1.0f - b1 - b2;
                if (b0 < 0.0f || b1 < 0.0f || b2 < 0.0f)
                    continue;
                float iz = b0 * iz0 + b1 * iz1 + b2 * iz2;
                float z = 1.0f / iz;
                size_t k = (size_t)y * (size_t)w + (size_t)x;
                if (z >= f->depth[k])
                    continue;
                f->depth[k] = z;
                f->mesh[k] = mesh_index;
                f->tri[k] = t;
                f->b[2 * k] = b1 * iz1 * z;
                f->b[2 * k + 1] = b2 * iz2 * z;
            }
        }
    }
}

/* The triangle loop (raster_simd.h): its AVX-512 or AVX2 build where it is
 * compiled in and runs, else the baseline build; the same bits (a test). */
void synth_raster(synth_frame *f, const synth_mesh *m, int mesh_index)
{
#ifdef MFR_HAVE_AVX512
    if (mfr_isa_best() >= MFR_ISA_AVX512) {
        synth_raster_avx512(f, m, mesh_index);
        return;
    }
#endif
#ifdef MFR_HAVE_AVX2
    if (mfr_isa_best() >= MFR_ISA_AVX2) {
        synth_raster_avx2(f, m, mesh_index);
        return;
    }
#endif
    raster_mesh(f, m, mesh_index);
}

/* A 3D line's projection and its pixel box, shared by synth_line3 and its
 * reference; 0 when an end is behind the camera. */
typedef struct line_box {
    float ax, ay, az, bx, by, bz, len, r;
    int x0, x1, y0, y1;
} line_box;

static int line_box_of(const synth_frame *f, const synth_camera *cam, v3 a, v3 b, float width_px, line_box *lb)
{
    if (!synth_project(cam, a, &lb->ax, &lb->ay, &lb->az) || !synth_project(cam, b, &lb->bx, &lb->by, &lb->bz))
        return 0;
    float ax = lb->ax, ay = lb->ay, bx = lb->bx, by = lb->by;
    lb->len = sqrtf((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
    lb->r = 0.5f * fmaxf(width_px, 0.6f);
    lb->x0 = (int)floorf(fminf(ax, bx) - lb->r - 1), lb->x1 = (int)ceilf(fmaxf(ax, bx) + lb->r + 1);
    lb->y0 = (int)floorf(fminf(ay, by) - lb->r - 1), lb->y1 = (int)ceilf(fmaxf(ay, by) + lb->r + 1);
    if (lb->x0 < 0) lb->x0 = 0;
    if (lb->y0 < 0) lb->y0 = 0;
    if (lb->x1 >= f->w) lb->x1 = f->w - 1;
    if (lb->y1 >= f->h) lb->y1 = f->h - 1;
    return 1;
}

void synth_line3_ref(synth_frame *f, const synth_camera *cam, v3 a, v3 b, float width_px, const float rgb[3], float alpha)
{
    line_box lb;
    if (!line_box_of(f, cam, a, b, width_px, &lb))
        return;
    float ax = lb.ax, ay = lb.ay, az = lb.az, bx = lb.bx, by = lb.by, bz = lb.bz, len = lb.len, r = lb.r;
    int x0 = lb.x0, x1 = lb.x1, y0 = lb.y0, y1 = lb.y1;
    float dx = bx - ax, dy = by - ay;
    float den = len > 1e-6f ? 1.0f / (len * len) : 0.0f;
    /* thin lines keep their weight as faint coverage instead of vanishing */
    float thin = width_px < 0.6f ? width_px / 0.6f : 1.0f;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = (float)x + 0.5f, py = (float)y + 0.5f;
            float t = clampf(((px - ax) * dx + (py - ay) * dy) * den, 0.0f, 1.0f);
            float qx = ax + t * dx - px, qy = ay + t * dy - py;
            float dist = sqrtf(qx * qx + qy * qy);
            float cov = clampf(r + 0.5f - dist, 0.0f, 1.0f) * thin * alpha;
            if (cov <= 0.0f)
                continue;
            size_t k = (size_t)y * (size_t)f->w + (size_t)x;
            float z = az + t * (bz - az);
            if (z > f->depth[k] + 0.03f + 0.003f * z)
                continue;
            for (int c = 0; c < 3; c++)
                f->rgb[3 * k + c] += (rgb[c] - f->rgb[3 * k + c]) * cov;
        }
}

/* The reference's set-up, then its rows through line_simd.h (the AVX2
 * build where it runs: eight pixels at a time). */
void synth_line3(synth_frame *f, const synth_camera *cam, v3 a, v3 b, float width_px, const float rgb[3], float alpha)
{
    line_box lb;
    if (!line_box_of(f, cam, a, b, width_px, &lb))
        return;
    float ax = lb.ax, ay = lb.ay, az = lb.az, bx = lb.bx, by = lb.by, bz = lb.bz, len = lb.len, r = lb.r;
    int x0 = lb.x0, x1 = lb.x1, y0 = lb.y0, y1 = lb.y1;
    line_par L;
    L.ax = ax, L.ay = ay, L.az = az, L.dx = bx - ax, L.dy = by - ay, L.dz = bz - az;
    L.den = len > 1e-6f ? 1.0f / (len * len) : 0.0f;
    L.r = r;
    L.thin = width_px < 0.6f ? width_px / 0.6f : 1.0f;
    L.alpha = alpha;
    L.rgb[0] = rgb[0], L.rgb[1] = rgb[1], L.rgb[2] = rgb[2];
#ifdef MFR_HAVE_AVX2
    const int avx2 = mfr_isa_best() >= MFR_ISA_AVX2;
#endif
    for (int y = y0; y <= y1; y++) {
        const size_t row = (size_t)y * (size_t)f->w;
#ifdef MFR_HAVE_AVX2
        if (avx2) {
            synth_line_row_avx2(f->rgb + 3 * row, f->depth + row, x0, x1, (float)y + 0.5f, &L);
            continue;
        }
#endif
        line_row(f->rgb + 3 * row, f->depth + row, x0, x1, (float)y + 0.5f, &L);
    }
}
