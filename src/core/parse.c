/* Strict number parsing: the whole string must be one number. */
#include "config.h"
#include "mfr/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int mfr_parse_long(const char *s, long *out)
{
    char *end;
    long v;
    if (!s || !*s)
        return mfr_error(MFR_ERR_FORMAT, "empty number");
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0')
        return mfr_error(MFR_ERR_FORMAT, "'%s' is not an integer", s);
    if (errno == ERANGE)
        return mfr_error(MFR_ERR_RANGE, "'%s' is too large", s);
    *out = v;
    return MFR_OK;
}

int mfr_parse_double(const char *s, double *out)
{
    char *end;
    double v;
    if (!s || !*s)
        return mfr_error(MFR_ERR_FORMAT, "empty number");
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0')
        return mfr_error(MFR_ERR_FORMAT, "'%s' is not a number", s);
    if (errno == ERANGE && fabs(v) > 1.0)
        return mfr_error(MFR_ERR_RANGE, "'%s' is too large", s);
    *out = v;
    return MFR_OK;
}
