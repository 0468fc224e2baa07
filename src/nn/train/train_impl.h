/* Helpers shared by the files of src/nn/train (not installed). */
#ifndef MFR_TRAIN_IMPL_H
#define MFR_TRAIN_IMPL_H

#include <math.h>
#include <stddef.h>

/* Chunk sizes of the deterministic reductions: fixed constants, never derived
 * from the thread count (changing one changes the rounding of the sums). */
enum {
    TR_CHUNK_ROWS = 8,       /* rows of a softmax / margin head */
    TR_CHUNK_ITEMS = 1024,   /* elements of BCE / focal / regression / IoU */
    TR_CHUNK_GRAD = 4096,    /* gradient elements in the global norm */
};

/* log(1 + exp(x)) without overflow. */
static inline double tr_softplus(double x)
{
    return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

/* 1 / (1 + exp(-x)) without overflow. */
static inline double tr_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* The calling thread's index inside a parallel region (0 outside, or
 * without OpenMP); only used to pick a thread's scratch buffer. */
int tr_thread_num(void);

/* Checks the element-loss reduction divisor; returns an mfr status. */
int tr_check_norm(const char *func, double norm);

#endif
