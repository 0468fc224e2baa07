/* The activation-memory planner (memplan.c). */
#ifndef MFR_NN_MEMPLAN_H
#define MFR_NN_MEMPLAN_H

#include "mfr/core.h"

typedef struct nn_membuf {
    size_t bytes;      /* in: size (rounded up to MFR_ALIGN on return) */
    int first, last;   /* in: live from step `first` to step `last`, inclusive */
    size_t offset;     /* out: place in the arena */
} nn_membuf;

/* Places every buffer; *total is the arena size. Buffers whose live ranges
 * intersect never overlap. */
int nn_memplan(nn_membuf *bufs, int n, size_t *total);

#endif
