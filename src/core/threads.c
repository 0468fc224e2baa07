/* The process-wide thread count used by every parallel region. */
#include "config.h"
#include "mfr/core.h"

#include <stdlib.h>
#include <unistd.h>
#ifdef MFR_HAVE_OPENMP
#include <omp.h>
#endif

static int thread_count; /* 0: not chosen yet */

static int default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    long n;
    if (env && mfr_parse_long(env, &n) == MFR_OK && n > 0 && n <= 4096)
        return (int)n;
#ifdef MFR_HAVE_OPENMP
    return omp_get_num_procs();
#else
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
#endif
}

void mfr_set_threads(int n)
{
    thread_count = n > 0 ? n : default_threads();
}

int mfr_threads(void)
{
#ifdef MFR_HAVE_OPENMP
    if (thread_count == 0)
        thread_count = default_threads();
    return thread_count;
#else
    return 1;
#endif
}
