/* Drawing: filled polygons with anti-aliased edges, and the lines, points
 * and rectangles built on them.
 *
 * Coordinates follow the geometry convention of mfr (docs/img.md): pixel
 * (i, j) has its centre at (i, j) and covers [i - 0.5, i + 0.5) x
 * [j - 0.5, j + 0.5). Coverage is measured on a 4 x 4 grid of sample points
 * inside each pixel, with the even-odd rule: a pixel whose 16 samples are
 * all inside gets exactly `color` at alpha 1, so abutting shapes leave no
 * seams and the area of a shape is its pixel coverage summed.
 *
 * The filler works on a set of edges, so an outline with a hole (a
 * rectangle frame) is one fill and is blended once per pixel. */
#include "config.h"
#include "mfr/img.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SS 4 /* samples per pixel side */

typedef struct edge {
    float x0, y0, x1, y1; /* in sample units, y0 < y1 */
} edge;

typedef struct edge_list {
    edge *e;
    int n, cap;
} edge_list;

/* Adds the edge a -> b, given in pixel coordinates. Horizontal edges are
 * never crossed by a sample row and are dropped. Returns 0 on no memory. */
static int add_edge(edge_list *L, float ax, float ay, float bx, float by)
{
    edge e;
    if (!(isfinite(ax) && isfinite(ay) && isfinite(bx) && isfinite(by)))
        return 1;
    if (ay == by)
        return 1;
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 16;
        edge *grown = realloc(L->e, sizeof *grown * (size_t)cap);
        if (!grown)
            return 0;
        L->e = grown;
        L->cap = cap;
    }
    /* Shift by half a pixel so that pixel i covers [i, i+1) and sample k of
     * a row lies at (k + 0.5) / SS, then scale to sample units. */
    ax = (ax + 0.5f) * SS;
    ay = (ay + 0.5f) * SS;
    bx = (bx + 0.5f) * SS;
    by = (by + 0.5f) * SS;
    /* Beyond 1e37 pixels the scaling overflows; such an edge is dropped
     * (the drawing is then undefined, but nothing crashes). */
    if (!(isfinite(ax) && isfinite(ay) && isfinite(bx) && isfinite(by)) || ay == by)
        return 1;
    if (ay < by)
        e = (edge){ax, ay, bx, by};
    else
        e = (edge){bx, by, ax, ay};
    L->e[L->n++] = e;
    return 1;
}

static int add_contour(edge_list *L, const float *xy, int n)
{
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        if (!add_edge(L, xy[2 * i], xy[2 * i + 1], xy[2 * j], xy[2 * j + 1]))
            return 0;
    }
    return 1;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A sample row usually crosses a handful of edges: insertion sort; qsort
 * keeps outlines with many crossings (zigzags) from going quadratic. */
static void sort_floats(float *v, int n)
{
    if (n > 32) {
        qsort(v, (size_t)n, sizeof *v, cmp_float);
        return;
    }
    for (int i = 1; i < n; i++) {
        float t = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > t) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = t;
    }
}

/* Fills the even-odd interior of the edges. Sample row s (in [0, SS*H)) is
 * at y = s + 0.5 in sample units; a sample column k is inside a span
 * [xa, xb) of crossings when xa <= k + 0.5 < xb.
 *
 * A span of sample columns adds to the coverage of the pixels it touches:
 * its two end pixels get their share directly (`part`), the whole pixels
 * between get SS through a difference array (`run`), so a pixel row costs
 * one pass over the pixels the spans touched, whatever their length. */
static void fill_edges(mfr_image *im, const edge_list *L, const uint8_t *color, float alpha)
{
    float ymin = INFINITY, ymax = -INFINITY, xmin = INFINITY, xmax = -INFINITY;
    float weight[SS * SS + 1];
    int py0, py1, px0, px1, npx, c = im->channels;
    int *run = NULL, *part = NULL;
    float *xs = NULL;

    if (L->n == 0 || !im->data || !(alpha > 0))
        return;
    if (alpha > 1)
        alpha = 1;
    for (int i = 0; i < L->n; i++) {
        const edge *e = &L->e[i];
        ymin = fminf(ymin, e->y0);
        ymax = fmaxf(ymax, e->y1);
        xmin = fminf(xmin, fminf(e->x0, e->x1));
        xmax = fmaxf(xmax, fmaxf(e->x0, e->x1));
    }
    /* Pixel rows and columns that can be touched, clipped to the image. */
    py0 = ymin <= 0 ? 0 : (int)fminf(floorf(ymin / SS), (float)im->height);
    py1 = ymax >= (float)im->height * SS ? im->height : (int)fmaxf(ceilf(ymax / SS), 0.0f);
    px0 = xmin <= 0 ? 0 : (int)fminf(floorf(xmin / SS), (float)im->width);
    px1 = xmax >= (float)im->width * SS ? im->width : (int)fmaxf(ceilf(xmax / SS), 0.0f);
    if (py0 >= py1 || px0 >= px1)
        return;
    npx = px1 - px0;
    run = calloc((size_t)npx + 1, sizeof *run);
    part = calloc((size_t)npx + 1, sizeof *part);
    xs = malloc(sizeof *xs * (size_t)L->n);
    if (!run || !part || !xs)
        goto done;
    for (int n = 0; n <= SS * SS; n++)
        weight[n] = alpha * (float)n / (SS * SS);

    for (int py = py0; py < py1; py++) {
        int lo = npx, hi = -1, acc = 0;
        uint8_t *row;
        for (int s = 0; s < SS; s++) {
            float sy = (float)(py * SS + s) + 0.5f;
            int nx = 0;
            for (int i = 0; i < L->n; i++) {
                const edge *e = &L->e[i];
                /* Half-open in y, so a vertex shared by two edges counts once. */
                if (sy >= e->y0 && sy < e->y1)
                    xs[nx++] = e->x0 + (sy - e->y0) * (e->x1 - e->x0) / (e->y1 - e->y0);
            }
            sort_floats(xs, nx);
            for (int i = 0; i + 1 < nx; i += 2) {
                /* First and one-past-last sample columns inside, relative to px0. */
                float a = ceilf(xs[i] - 0.5f) - (float)(px0 * SS);
                float b = ceilf(xs[i + 1] - 0.5f) - (float)(px0 * SS);
                int ka, kb, pa, pb;
                a = fmaxf(a, 0.0f);
                b = fminf(b, (float)(npx * SS));
                if (!(a < b))
                    continue;
                ka = (int)a;
                kb = (int)b;
                pa = ka / SS;
                pb = kb / SS; /* may be npx when kb is the last column */
                if (pa == pb) {
                    part[pa] += kb - ka;
                } else {
                    part[pa] += SS * (pa + 1) - ka;
                    run[pa + 1] += SS;
                    run[pb] -= SS;
                    part[pb] += kb - SS * pb;
                }
                if (pa < lo)
                    lo = pa;
                if (pb > hi)
                    hi = pb;
            }
        }
        if (hi < 0)
            continue;
        row = mfr_image_row(im, py);
        for (int x = lo; x <= hi; x++) {
            int cov;
            acc += run[x];
            cov = acc + part[x];
            run[x] = part[x] = 0;
            if (cov > 0 && x < npx) {
                uint8_t *p = row + (size_t)(px0 + x) * (size_t)c;
                float a = weight[cov > SS * SS ? SS * SS : cov];
                if (a == 1.0f) { /* opaque and fully covered: the blend below gives color exactly */
                    memcpy(p, color, (size_t)c);
                    continue;
                }
                for (int k = 0; k < c; k++) {
                    float v = (float)p[k] + ((float)color[k] - (float)p[k]) * a;
                    p[k] = (uint8_t)(v + 0.5f);
                }
            }
        }
    }
done:
    free(run);
    free(part);
    free(xs);
}

void mfr_draw_polygon(mfr_image *im, const float *xy, int n, const uint8_t *color, float alpha)
{
    edge_list L = {0};
    if (n < 3)
        return;
    if (add_contour(&L, xy, n))
        fill_edges(im, &L, color, alpha);
    free(L.e);
}

void mfr_draw_rect(mfr_image *im, float x0, float y0, float x1, float y1, const uint8_t *color, float alpha, int thickness)
{
    edge_list L = {0};
    float t, ax = fminf(x0, x1), bx = fmaxf(x0, x1), ay = fminf(y0, y1), by = fmaxf(y0, y1);
    /* The rectangle's pixels run from (ax, ay) to (bx, by) inclusive, so its
     * outer boundary lies half a pixel outside those centres. */
    float outer[8] = {ax - 0.5f, ay - 0.5f, bx + 0.5f, ay - 0.5f, bx + 0.5f, by + 0.5f, ax - 0.5f, by + 0.5f};
    int ok = add_contour(&L, outer, 4);
    t = (float)thickness;
    if (ok && thickness > 0 && 2 * t < bx - ax + 1 && 2 * t < by - ay + 1) {
        /* A frame: the inner contour cuts the hole (even-odd rule). */
        float inner[8] = {outer[0] + t, outer[1] + t, outer[2] - t, outer[3] + t,
                          outer[4] - t, outer[5] - t, outer[6] + t, outer[7] - t};
        ok = add_contour(&L, inner, 4);
    }
    if (ok)
        fill_edges(im, &L, color, alpha);
    free(L.e);
}

void mfr_draw_line(mfr_image *im, float x0, float y0, float x1, float y1, const uint8_t *color, float alpha, int thickness)
{
    float dx = x1 - x0, dy = y1 - y0, len = sqrtf(dx * dx + dy * dy);
    float h = (thickness > 0 ? (float)thickness : 1.0f) * 0.5f;
    float nx, ny, quad[8];
    if (!(len > 1e-6f)) {
        mfr_draw_point(im, x0, y0, h, color, alpha);
        return;
    }
    /* A rectangle of width `thickness` around the segment, butt ends. */
    nx = -dy / len * h;
    ny = dx / len * h;
    quad[0] = x0 + nx; quad[1] = y0 + ny;
    quad[2] = x1 + nx; quad[3] = y1 + ny;
    quad[4] = x1 - nx; quad[5] = y1 - ny;
    quad[6] = x0 - nx; quad[7] = y0 - ny;
    mfr_draw_polygon(im, quad, 4, color, alpha);
}

void mfr_draw_point(mfr_image *im, float x, float y, float radius, const uint8_t *color, float alpha)
{
    /* A disc as a regular polygon fine enough that its edge deviates from
     * the circle by under 1/16 pixel. */
    float xy[2 * 64];
    int n;
    if (!(radius > 0))
        radius = 0.5f;
    {
        /* Half the angle of one side: cos(step) = 1 - sagitta / radius. */
        float step = acosf(fmaxf(0.0f, 1.0f - 0.0625f / radius));
        /* A huge radius gives step 0: fminf keeps the int conversion defined. */
        n = step > 0.0f ? (int)fminf(ceilf((float)M_PI / step), 64.0f) : 64;
        if (n < 8)
            n = 8;
    }
    for (int i = 0; i < n; i++) {
        double a = 2.0 * M_PI * i / n;
        xy[2 * i] = x + radius * (float)cos(a);
        xy[2 * i + 1] = y + radius * (float)sin(a);
    }
    mfr_draw_polygon(im, xy, n, color, alpha);
}
