/* Helpers shared by the Check suites. */
#include "config.h"
#include "testutil.h"
#include "mfr/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MFR_SRCDIR
#define MFR_SRCDIR "."
#endif

static char tmpdir[256];

const char *tu_src(const char *relative)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", MFR_SRCDIR, relative);
    return b;
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/mfr-test-XXXXXX", base && *base ? base : "/tmp");
        ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp failed");
    }
    return tmpdir;
}

const char *tu_tmp(const char *name)
{
    static char buf[8][1024];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    return b;
}

void tu_cleanup(void)
{
    if (tmpdir[0]) {
        mfr_remove_tree(tmpdir);
        tmpdir[0] = '\0';
    }
}

void tu_write(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s", path);
    ck_assert(fwrite(data, 1, size, fp) == size);
    ck_assert(fclose(fp) == 0);
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
