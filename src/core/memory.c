/* Aligned allocation with overflow checks. */
#include "config.h"
#include "mfr/core.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/* Buffers of several MiB (activation arenas, gradients, packed panels) are
 * streamed over again and again by memory-bound passes: on Linux they get
 * 2 MiB alignment and transparent huge pages where the kernel offers them on
 * request ("madvise" mode), fewer TLB misses and page faults. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

int mfr_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return mfr_error(MFR_ERR_NOMEM, "size overflow: %zu x %zu", a, b);
    *out = a * b;
    return MFR_OK;
}

void *mfr_alloc(size_t size)
{
    void *p = NULL;
    /* Round up so that vector loops may read whole registers at the end. */
    size_t rounded = (size + MFR_ALIGN - 1) & ~(size_t)(MFR_ALIGN - 1);
    if (rounded < size) {
        mfr_error(MFR_ERR_NOMEM, "allocation of %zu bytes overflows", size);
        return NULL;
    }
    if (rounded == 0)
        rounded = MFR_ALIGN;
    if (posix_memalign(&p, rounded >= HUGE_MIN ? HUGE_ALIGN : MFR_ALIGN, rounded) != 0) {
        mfr_error(MFR_ERR_NOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (rounded >= HUGE_MIN)
        (void)madvise(p, rounded & ~(HUGE_ALIGN - 1), MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return p;
}

void *mfr_calloc(size_t count, size_t size)
{
    size_t bytes = 0;
    void *p;
    if (mfr_size_mul(count, size, &bytes) != MFR_OK)
        return NULL;
    p = mfr_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void mfr_free(void *p)
{
    free(p);
}

char *mfr_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (!copy) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(copy, s, n);
    return copy;
}
