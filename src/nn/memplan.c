/* The activation-memory planner: places buffers with known sizes and live
 * ranges in one arena so that two buffers live at the same step never
 * overlap. Greedy by size (largest first, each at the lowest offset that
 * fits between the already placed buffers whose lives intersect its own),
 * the heuristic TFLite's arena planner uses; exact sizes, no pool to guess. */
#include "config.h"
#include "nn/memplan.h"

#include <stdlib.h>

typedef struct placed {
    size_t offset, bytes;
} placed;

static int by_offset(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int nn_memplan(nn_membuf *bufs, int n, size_t *total)
{
    int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    placed *live = malloc((size_t)(n > 0 ? n : 1) * sizeof *live);
    char *done = calloc((size_t)(n > 0 ? n : 1), 1);
    size_t end = 0;
    if (!order || !live || !done) {
        free(order);
        free(live);
        free(done);
        return mfr_error(MFR_ERR_NOMEM, "out of memory planning activations");
    }
    for (int i = 0; i < n; i++) {
        bufs[i].bytes = (bufs[i].bytes + MFR_ALIGN - 1) / MFR_ALIGN * MFR_ALIGN;
        order[i] = i;
    }
    /* Insertion sort: largest first, then earliest first; stable and small. */
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && (bufs[order[j]].bytes < bufs[v].bytes ||
                          (bufs[order[j]].bytes == bufs[v].bytes && bufs[order[j]].first > bufs[v].first))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int oi = 0; oi < n; oi++) {
        nn_membuf *b = &bufs[order[oi]];
        int nl = 0;
        size_t at = 0;
        for (int j = 0; j < n; j++) {
            if (!done[j] || bufs[j].last < b->first || bufs[j].first > b->last)
                continue;
            live[nl].offset = bufs[j].offset;
            live[nl].bytes = bufs[j].bytes;
            nl++;
        }
        qsort(live, (size_t)nl, sizeof *live, by_offset);
        /* The lowest gap that holds b. */
        for (int j = 0; j < nl; j++) {
            if (live[j].offset >= at + b->bytes)
                break;
            if (live[j].offset + live[j].bytes > at)
                at = live[j].offset + live[j].bytes;
        }
        b->offset = at;
        done[order[oi]] = 1;
        if (at + b->bytes > end)
            end = at + b->bytes;
    }
    free(order);
    free(live);
    free(done);
    *total = end;
    return MFR_OK;
}
