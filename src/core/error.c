/* Error codes, per-thread last-error text, and logging. */
#include "config.h"
#include "mfr/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERROR_TEXT_MAX 1024

static _Thread_local char last_error[ERROR_TEXT_MAX];
static mfr_log_level log_level = MFR_LOG_INFO;

static const char *const status_text[MFR_ERR_COUNT_] = {
    [MFR_OK] = "success",
    [MFR_ERR_NOMEM] = "out of memory",
    [MFR_ERR_IO] = "input/output error",
    [MFR_ERR_FORMAT] = "malformed input",
    [MFR_ERR_RANGE] = "value out of range",
    [MFR_ERR_ARG] = "invalid argument",
    [MFR_ERR_UNSUPPORTED] = "unsupported",
    [MFR_ERR_NOTFOUND] = "not found",
    [MFR_ERR_INTERNAL] = "internal error",
};

const char *mfr_strerror(int code)
{
    if (code < 0 || code >= MFR_ERR_COUNT_)
        return "unknown error";
    return status_text[code];
}

int mfr_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

int mfr_error_context(int code, const char *fmt, ...)
{
    char context[ERROR_TEXT_MAX], old[ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* Messages longer than the buffer are cut, deliberately. */
    {
        const char *rest = old[0] ? old : mfr_strerror(code);
        size_t n = strlen(context);
        if (n > sizeof last_error - 3)
            n = sizeof last_error - 3;
        memcpy(last_error, context, n);
        memcpy(last_error + n, ": ", 2);
        n += 2;
        {
            size_t m = strlen(rest);
            if (m > sizeof last_error - n - 1)
                m = sizeof last_error - n - 1;
            memcpy(last_error + n, rest, m);
            last_error[n + m] = '\0';
        }
    }
    return code;
}

const char *mfr_last_error(void)
{
    return last_error;
}

void mfr_clear_error(void)
{
    last_error[0] = '\0';
}

void mfr_log_set_level(mfr_log_level level)
{
    log_level = level;
}

mfr_log_level mfr_log_get_level(void)
{
    return log_level;
}

void mfr_log(mfr_log_level level, const char *fmt, ...)
{
    char line[ERROR_TEXT_MAX + 32];
    int n;
    va_list ap;
    if (level > log_level)
        return;
    n = snprintf(line, sizeof line, level == MFR_LOG_WARN ? "mfr: warning: " : "mfr: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* One fputs per line, so lines from several threads do not interleave. */
    strcat(line, "\n");
    fputs(line, stderr);
}
