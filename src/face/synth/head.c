/* The parametric head: a deformed ellipsoid whose features (eye sockets,
 * eyeballs, brow ridge, cheekbones, nose, lips, chin, ears, hair volume) are
 * smooth displacements along the surface direction, placed in face units
 * X = 0.75 u, Y = v of the base ellipsoid (u longitude, v latitude). */
#include "config.h"
#include "synth.h"

void synth_head_setup(synth_head *h, const mfr_identity *id, const mfr_nuisance *nz)
{
    static const float thick[MFR_HAIR_COUNT] = {0.0f, 0.012f, 0.05f, 0.09f, 0.07f};
    float smile = nz ? nz->smile : 0.0f, open = nz ? nz->mouth_open : 0.0f;
    h->id = id;
    h->rx = 0.75f * id->width;
    h->ry_up = 1.0f * id->length;
    h->ry_low = 1.05f * id->length;
    h->rz = 0.92f * id->depth;
    h->eye_x = 0.305f * id->eye_spacing;
    h->eye_y = 0.05f + id->eye_height;
    h->eye_w = 0.13f * id->eye_size;
    h->eye_h = 0.052f * id->eye_size;
    h->nose_top = h->eye_y - 0.03f;
    h->nose_tip = h->eye_y - 0.34f * id->nose_length;
    h->nose_base = h->nose_tip - 0.075f;
    h->nose_w = 0.085f * id->nose_width;
    h->nose_h = 0.19f * id->nose_tip;
    h->mouth_y = h->eye_y - 0.70f + id->mouth_height;
    h->mouth_w = 0.225f * id->mouth_width * (1.0f + 0.12f * smile);
    h->mouth_open = open;
    h->smile = smile;
    h->lip_up = 0.032f * id->lip_upper;
    h->lip_low = 0.042f * id->lip_lower;
    h->brow_raise = nz ? nz->brow_raise : 0.0f;
    h->brow_y = h->eye_y + 0.145f + 0.05f * h->brow_raise;
    h->eye_close = nz ? nz->eye_close : 0.0f;
    h->hair_front = 0.64f + id->hairline;
    h->hair_thick = thick[id->hair_style];
    for (uint32_t i = 0; i < 20; i++)
        h->nh[i] = synth_hash(id->texture_seed + i);
    h->avx2 = 0;
#ifdef MFR_HAVE_AVX2
    h->avx2 = mfr_isa_best() >= MFR_ISA_AVX2;
#endif
}

/* Piecewise-linear hairline latitude against |u|: forehead, temples,
 * sideburns, above the ears, nape. */
float synth_hairline(const synth_head *h, float u)
{
    float au = fabsf(u);
    float hf = h->hair_front - 0.07f * h->id->hair_peak * bump2((u * 0.75f / 0.12f) * (u * 0.75f / 0.12f));
    const float ku[8] = {0.0f, 0.75f, 1.15f, 1.33f, 1.48f, 1.85f, 2.25f, SYNTH_PI + 0.01f};
    float kv[8] = {hf, hf + 0.05f, 0.30f, -0.02f, 0.24f, 0.24f, -0.45f, -0.6f};
    if (h->id->hair_style == MFR_HAIR_LONG) {
        kv[3] = 0.05f;
        kv[4] = kv[5] = 0.10f;
        kv[6] = kv[7] = -0.9f;
    }
    for (int i = 0; i < 7; i++)
        if (au <= ku[i + 1])
            return mixf(kv[i], kv[i + 1], (au - ku[i]) / (ku[i + 1] - ku[i]));
    return kv[7];
}

v3 synth_head_point(const synth_head *h, float u, float v, int hair)
{
    return synth_head_point_cs(h, u, v, cosf(u), sinf(u), cosf(v), sinf(v),
                               hair && h->hair_thick > 0.0f ? synth_hairline(h, u) : 0.0f, hair);
}

/* The nose's displacement at (X, Y) (ax = |X|), added to disp term by term
 * (so the sums round as they did inline): a ridge from the bridge to
 * the tip, wider at the base, nostril wings and a rounded tip. Shared by the
 * mesh's fast path and its reference. */
static inline float nose_disp(const synth_head *h, const mfr_identity *id, float X, float Y, float ax, float disp)
{
    float t;
    if (Y < h->nose_top + 0.03f && Y > h->nose_base - 0.06f && ax < 0.25f) {
        float tt = clampf((h->nose_top - Y) / (h->nose_top - h->nose_tip), 0.0f, 1.0f);
        float w = h->nose_w * (0.55f + 0.45f * tt);
        float a = X / w;
        float bridge = 0.05f * id->nose_bridge;
        float hv = bridge + (h->nose_h - bridge) * tt * sqrtf(tt); /* tt^1.5 */
        if (Y > h->nose_top)
            hv *= 1.0f - smoothstep(h->nose_top, h->nose_top + 0.03f, Y);
        if (Y < h->nose_tip) {
            float q = (h->nose_tip - Y) / (h->nose_tip - h->nose_base);
            hv = h->nose_h * bump2(q * q * 1.3f);
        }
        disp += hv * bump2(a * a);
        /* alae (nostril wings) */
        t = (ax - h->nose_w * 0.9f) / 0.055f;
        t = t * t + ((Y - (h->nose_tip - 0.035f)) / 0.055f) * ((Y - (h->nose_tip - 0.035f)) / 0.055f);
        disp += 0.075f * bump2(t);
        /* a rounded tip */
        t = (X / (h->nose_w * 0.75f)) * (X / (h->nose_w * 0.75f)) + ((Y - h->nose_tip) / 0.06f) * ((Y - h->nose_tip) / 0.06f);
        disp += 0.03f * bump2(t);
    }
    return disp;
}

/* For synth_head_grid: the terms of synth_head_point_cs that depend on u
 * only (a grid column) and on v only (a row), each computed as it computes
 * it; point_from combines them in the order of its sums. */
typedef struct head_col {
    float X, ax, au;
    float eye0, eye1, brow, cheek, lips, maxilla, chin, ear; /* squared distances along X */
} head_col;
typedef struct head_row {
    float ry, s, rxkx, zs;
    float eye0, eye1, brow, cheek, lip_up, lip_low, maxilla, chin, ear; /* squared distances along Y */
} head_row;

static inline void col_terms(const synth_head *h, float u, head_col *c)
{
    float X = u * 0.75f, ax = fabsf(X), t;
    c->X = X, c->ax = ax, c->au = fabsf(u);
    t = (ax - h->eye_x) / 0.17f;
    c->eye0 = t * t;
    t = (ax - h->eye_x) / h->eye_w;
    c->eye1 = t * t;
    c->brow = (X / 0.55f) * (X / 0.55f) * (X / 0.55f) * (X / 0.55f);
    t = (ax - 0.43f) / 0.21f;
    c->cheek = t * t;
    float mw = h->mouth_w * 1.05f;
    c->lips = (X / mw) * (X / mw);
    c->maxilla = (X / 0.3f) * (X / 0.3f);
    c->chin = (X / 0.2f) * (X / 0.2f);
    t = (fabsf(u) - 1.66f) / 0.13f;
    c->ear = t * t;
}

static inline void row_terms(const synth_head *h, float v, head_row *r)
{
    const mfr_identity *id = h->id;
    float Y = v, t;
    r->ry = v > 0 ? h->ry_up : h->ry_low;
    r->s = clampf(-v / 1.3f, 0.0f, 1.0f);
    r->rxkx = h->rx * (1.0f - 0.28f * id->jaw * r->s * r->s);
    r->zs = 1.0f - 0.06f * r->s;
    r->eye0 = ((Y - h->eye_y) / 0.11f) * ((Y - h->eye_y) / 0.11f);
    r->eye1 = ((Y - h->eye_y) / (h->eye_w * 0.8f)) * ((Y - h->eye_y) / (h->eye_w * 0.8f));
    t = (Y - (h->eye_y + 0.13f)) / 0.075f;
    r->brow = t * t;
    r->cheek = ((Y - (h->eye_y - 0.22f + 0.03f * h->smile)) / 0.15f) * ((Y - (h->eye_y - 0.22f + 0.03f * h->smile)) / 0.15f);
    float yu = h->mouth_y + h->lip_up * 0.7f, yl = h->mouth_y - h->lip_low * 0.7f - 0.05f * h->mouth_open;
    r->lip_up = ((Y - yu) / h->lip_up) * ((Y - yu) / h->lip_up);
    r->lip_low = ((Y - yl) / h->lip_low) * ((Y - yl) / h->lip_low);
    r->maxilla = ((Y - (h->mouth_y + 0.1f)) / 0.12f) * ((Y - (h->mouth_y + 0.1f)) / 0.12f);
    r->chin = ((Y + 1.0f) / 0.16f) * ((Y + 1.0f) / 0.16f);
    float ev = (v - (h->eye_y - 0.12f)) / (0.22f * id->ear_size);
    r->ear = ev * ev;
}

static inline v3 point_from(const synth_head *h, float u, float v, float cu, float su, float cv, float sv, float hline,
                            int hair, const head_col *c, const head_row *r)
{
    const mfr_identity *id = h->id;
    v3 d = v3_make(cv * su, sv, cv * cu);
    v3 p = v3_make(r->rxkx * d.x, r->ry * d.y, h->rz * d.z * r->zs);
    float X = c->X, Y = v, ax = c->ax, disp = 0.0f;

    if (fabsf(u) < 1.25f) {
        /* eye sockets and eyeballs */
        disp -= 0.05f * bump2(c->eye0 + r->eye0);
        disp += 0.032f * bump2(c->eye1 + r->eye1);
        /* brow ridge */
        disp += 0.035f * id->brow_ridge * bump2(r->brow + c->brow);
        /* cheekbones, lifted by a smile */
        disp += (0.03f * id->cheekbone + 0.02f * h->smile) * bump2(c->cheek + r->cheek);
        /* nose: a ridge from the bridge to the tip, wider at the base */
        disp = nose_disp(h, id, X, Y, ax, disp);
        /* lips, and the area above the upper lip pushed out a little (maxilla) */
        disp += 0.04f * bump2(c->lips + r->lip_up);
        disp += 0.04f * bump2(c->lips + r->lip_low);
        disp += 0.04f * bump2(c->maxilla + r->maxilla);
        /* chin */
        disp += 0.05f * id->chin * bump2(c->chin + r->chin);
    }
    /* ears */
    disp += 0.17f * id->ear_size * bump2(c->ear + r->ear);
    if (hair && h->hair_thick > 0.0f)
        disp += h->hair_thick * smoothstep(hline - 0.04f, hline + 0.22f, v);
    p = v3_add(p, v3_scale(d, disp));
    /* an open mouth drops the jaw */
    if (h->mouth_open > 0.0f && Y < h->mouth_y && fabsf(u) < 1.4f)
        p.y -= 0.12f * h->mouth_open * smoothstep(h->mouth_y, h->mouth_y - 0.06f, Y) *
               (1.0f - smoothstep(0.9f, 1.4f, fabsf(u)));
    return p;
}

/* The plain point by point surface: the reference synth_head_grid matches. */
v3 synth_head_point_cs(const synth_head *h, float u, float v, float cu, float su, float cv, float sv, float hline,
                       int hair)
{
    const mfr_identity *id = h->id;
    v3 d = v3_make(cv * su, sv, cv * cu);
    float ry = v > 0 ? h->ry_up : h->ry_low;
    float s = clampf(-v / 1.3f, 0.0f, 1.0f);
    float kx = 1.0f - 0.28f * id->jaw * s * s;
    v3 p = v3_make(h->rx * kx * d.x, ry * d.y, h->rz * d.z * (1.0f - 0.06f * s));
    float X = u * 0.75f, Y = v, ax = fabsf(X), disp = 0.0f;

    if (fabsf(u) < 1.25f) {
        float t;
        /* eye sockets and eyeballs */
        t = (ax - h->eye_x) / 0.17f;
        t = t * t + ((Y - h->eye_y) / 0.11f) * ((Y - h->eye_y) / 0.11f);
        disp -= 0.05f * bump2(t);
        t = (ax - h->eye_x) / h->eye_w;
        t = t * t + ((Y - h->eye_y) / (h->eye_w * 0.8f)) * ((Y - h->eye_y) / (h->eye_w * 0.8f));
        disp += 0.032f * bump2(t);
        /* brow ridge */
        t = (Y - (h->eye_y + 0.13f)) / 0.075f;
        t = t * t + (X / 0.55f) * (X / 0.55f) * (X / 0.55f) * (X / 0.55f);
        disp += 0.035f * id->brow_ridge * bump2(t);
        /* cheekbones, lifted by a smile */
        t = (ax - 0.43f) / 0.21f;
        t = t * t + ((Y - (h->eye_y - 0.22f + 0.03f * h->smile)) / 0.15f) * ((Y - (h->eye_y - 0.22f + 0.03f * h->smile)) / 0.15f);
        disp += (0.03f * id->cheekbone + 0.02f * h->smile) * bump2(t);
        /* nose: a ridge from the bridge to the tip, wider at the base */
        disp = nose_disp(h, id, X, Y, ax, disp);
        /* lips */
        {
            float mw = h->mouth_w * 1.05f;
            float yu = h->mouth_y + h->lip_up * 0.7f, yl = h->mouth_y - h->lip_low * 0.7f - 0.05f * h->mouth_open;
            t = (X / mw) * (X / mw) + ((Y - yu) / h->lip_up) * ((Y - yu) / h->lip_up);
            disp += 0.04f * bump2(t);
            t = (X / mw) * (X / mw) + ((Y - yl) / h->lip_low) * ((Y - yl) / h->lip_low);
            disp += 0.04f * bump2(t);
            /* the area above the upper lip pushed out a little (maxilla) */
            t = (X / 0.3f) * (X / 0.3f) + ((Y - (h->mouth_y + 0.1f)) / 0.12f) * ((Y - (h->mouth_y + 0.1f)) / 0.12f);
            disp += 0.04f * bump2(t);
        }
        /* chin */
        t = (X / 0.2f) * (X / 0.2f) + ((Y + 1.0f) / 0.16f) * ((Y + 1.0f) / 0.16f);
        disp += 0.05f * id->chin * bump2(t);
    }
    /* ears */
    {
        float t = (fabsf(u) - 1.66f) / 0.13f;
        float ev = (v - (h->eye_y - 0.12f)) / (0.22f * id->ear_size);
        t = t * t + ev * ev;
        disp += 0.17f * id->ear_size * bump2(t);
    }
    if (hair && h->hair_thick > 0.0f)
        disp += h->hair_thick * smoothstep(hline - 0.04f, hline + 0.22f, v);
    p = v3_add(p, v3_scale(d, disp));
    /* an open mouth drops the jaw */
    if (h->mouth_open > 0.0f && Y < h->mouth_y && fabsf(u) < 1.4f)
        p.y -= 0.12f * h->mouth_open * smoothstep(h->mouth_y, h->mouth_y - 0.06f, Y) *
               (1.0f - smoothstep(0.9f, 1.4f, fabsf(u)));
    return p;
}

int synth_head_grid(const synth_head *h, int nu, int nv, const float *col, const float *v, int hair, float *pos)
{
    head_col *cols = mfr_alloc((size_t)nu * sizeof *cols);
    if (!cols)
        return MFR_ERR_NOMEM;
    for (int i = 0; i < nu; i++)
        col_terms(h, col[4 * i], &cols[i]);
    for (int j = 0; j < nv; j++) {
        head_row r;
        row_terms(h, v[j], &r);
        const float cv = cosf(v[j]), sv = sinf(v[j]);
        for (int i = 0; i < nu; i++) {
            const float *c = col + 4 * i;
            v3 p = point_from(h, c[0], v[j], c[1], c[2], cv, sv, c[3], hair, &cols[i], &r);
            float *q = pos + 3 * ((size_t)j * (size_t)nu + (size_t)i);
            q[0] = p.x, q[1] = p.y, q[2] = p.z;
        }
    }
    mfr_free(cols);
    return MFR_OK;
}

void synth_head_landmarks(const synth_head *h, v3 lm[5])
{
    float lift = 0.035f * h->smile;
    lm[0] = synth_head_point(h, -h->eye_x / 0.75f, h->eye_y, 0);
    lm[1] = synth_head_point(h, h->eye_x / 0.75f, h->eye_y, 0);
    lm[2] = synth_head_point(h, 0.0f, h->nose_tip, 0);
    lm[3] = synth_head_point(h, -h->mouth_w / 0.75f, h->mouth_y + lift, 0);
    lm[4] = synth_head_point(h, h->mouth_w / 0.75f, h->mouth_y + lift, 0);
}
