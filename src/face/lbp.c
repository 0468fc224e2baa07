/* The classical baseline: uniform LBP(8,1) histograms over a grid of cells
 * of an aligned 112x112 crop, square-rooted and L2-normalised (cosine). */
#include "config.h"
#include "mfr/face.h"

#include <math.h>
#include <string.h>

/* Uniform patterns (at most two 0/1 transitions around the circle) get bins
 * 0..57 in increasing code order; all others share bin 58. */
static void uniform_map(uint8_t map[256])
{
    int next = 0;
    for (int c = 0; c < 256; c++) {
        int t = 0;
        for (int i = 0; i < 8; i++)
            t += ((c >> i) & 1) != ((c >> ((i + 1) & 7)) & 1);
        map[c] = (uint8_t)(t <= 2 ? next++ : 58);
    }
}

int mfr_lbp_embed(const mfr_image *crop, float *out)
{
    enum { S = 112, CELL = S / MFR_LBP_GRID };
    if (!crop || crop->width != S || crop->height != S || (crop->channels != 1 && crop->channels != 3 && crop->channels != 4))
        return mfr_error(MFR_ERR_ARG, "lbp: needs a 112x112 crop with 1, 3 or 4 channels");
    uint8_t map[256];
    uint8_t g[S * S];
    uniform_map(map);
    for (int y = 0; y < S; y++) {
        const uint8_t *row = mfr_image_row(crop, y);
        for (int x = 0; x < S; x++) {
            const uint8_t *p = row + (size_t)x * (size_t)crop->channels;
            g[y * S + x] = crop->channels == 1 ? p[0] : (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
        }
    }
    memset(out, 0, MFR_LBP_DIM * sizeof *out);
    /* neighbours clockwise from the top-left; image borders are skipped */
    static const int dx[8] = {-1, 0, 1, 1, 1, 0, -1, -1}, dy[8] = {-1, -1, -1, 0, 1, 1, 1, 0};
    for (int y = 1; y < S - 1; y++)
        for (int x = 1; x < S - 1; x++) {
            int c = g[y * S + x], code = 0;
            for (int i = 0; i < 8; i++)
                code |= (g[(y + dy[i]) * S + x + dx[i]] >= c) << i;
            int cell = (y / CELL) * MFR_LBP_GRID + x / CELL;
            out[cell * MFR_LBP_BINS + map[code]] += 1.0f;
        }
    /* Cell weights after Ahonen, Hadid and Pietikainen (2006): the eyes count
     * most, the corners (background, hair, ears) not at all. Each cell's
     * square-rooted histogram is scaled by sqrt(weight), so the cosine of two
     * embeddings is their weighted histogram similarity. */
    static const float weight[MFR_LBP_GRID * MFR_LBP_GRID] = {
        0, 1, 1, 1, 1, 1, 0,
        1, 4, 4, 2, 4, 4, 1,
        1, 2, 2, 2, 2, 2, 1,
        0, 1, 2, 2, 2, 1, 0,
        0, 1, 1, 1, 1, 1, 0,
        0, 1, 1, 1, 1, 1, 0,
        0, 0, 1, 1, 1, 0, 0,
    };
    double norm = 0.0;
    for (int i = 0; i < MFR_LBP_DIM; i++) {
        out[i] = sqrtf(out[i] * weight[i / MFR_LBP_BINS]);
        norm += (double)out[i] * out[i];
    }
    float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int i = 0; i < MFR_LBP_DIM; i++)
        out[i] *= inv;
    return MFR_OK;
}

float mfr_cosine(const float *a, const float *b, int n)
{
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return na > 0 && nb > 0 ? (float)(d / sqrt(na * nb)) : 0.0f;
}
