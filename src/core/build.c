/* What this build of mfr was compiled with. */
#include "config.h"
#include "mfr/core.h"

const mfr_build_info *mfr_build(void)
{
    static const mfr_build_info info = {
        .version = PACKAGE_VERSION,
        .compiler = MFR_BUILD_CC,
        .cflags = MFR_BUILD_CFLAGS,
        .simd = MFR_BUILD_SIMD,
        .peers = MFR_BUILD_PEERS,
#ifdef MFR_HAVE_OPENMP
        .openmp = 1,
#else
        .openmp = 0,
#endif
    };
    return &info;
}
