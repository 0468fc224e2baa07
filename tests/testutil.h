/* Helpers shared by the Check suites. */
#ifndef MFR_TESTUTIL_H
#define MFR_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Path of a file under the source tree (tests/data/..., datasets/...);
 * static buffer, valid until the next call. */
const char *tu_src(const char *relative);
/* A fresh empty directory for this test (removed by tu_cleanup). */
const char *tu_tmpdir(void);
/* Path inside tu_tmpdir(); static rotating buffers. */
const char *tu_tmp(const char *name);
void tu_cleanup(void);
/* Writes bytes to a file; fails the test on error. */
void tu_write(const char *path, const void *data, size_t size);
/* Runs a suite and returns the process exit status (0 when all passed). */
int tu_run(Suite *s);
/* ck_assert for an mfr status, printing the last error on failure. */
#define tu_ok(expr)                                                                  \
    do {                                                                             \
        int tu_rc_ = (expr);                                                         \
        ck_assert_msg(tu_rc_ == 0, "%s failed: %d (%s)", #expr, tu_rc_, mfr_last_error()); \
    } while (0)

#endif
