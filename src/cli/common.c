/* Conventions shared by every mfr command. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mfr: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mfr help%s%s'.\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_USAGE;
}

int cli_bad_option(const char *cmd, int optopt_value, char **argv)
{
    const char *opt = argv[optind - 1];
    if (optopt_value && optopt_value < 128 && !(opt && opt[0] == '-' && opt[1] == '-'))
        return cli_usage_error(cmd, "option -%c is unknown or needs a value", optopt_value);
    return cli_usage_error(cmd, "option '%s' is unknown or needs a value", opt ? opt : "?");
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("mfr: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_fail_last(void)
{
    const char *e = mfr_last_error();
    return cli_fail("%s", *e ? e : "failed (no details)");
}

int cli_parse_long(const char *cmd, const char *option, const char *arg, long min, long max, long *out)
{
    long v;
    if (mfr_parse_long(arg, &v) != MFR_OK) {
        cli_usage_error(cmd, "%s: '%s' is not an integer", option, arg);
        return -1;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "%s: %ld is outside [%ld, %ld]", option, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *option, const char *arg, double min, double max, double *out)
{
    double v;
    if (mfr_parse_double(arg, &v) != MFR_OK || !(v == v)) {
        cli_usage_error(cmd, "%s: '%s' is not a number", option, arg);
        return -1;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "%s: %g is outside [%g, %g]", option, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_common_option(const char *cmd, int opt, const char *arg, cli_common *c)
{
    long v;
    switch (opt) {
    case CLI_OPT_THREADS:
        if (cli_parse_long(cmd, "--threads", arg, 1, 4096, &v) < 0)
            return -1;
        c->threads = (int)v;
        return 1;
    case CLI_OPT_SEED: {
        char *end;
        unsigned long long s;
        if (!arg[0] || arg[0] == '-') {
            cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", arg);
            return -1;
        }
        s = strtoull(arg, &end, 0);
        if (*end) {
            cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", arg);
            return -1;
        }
        c->seed = s;
        c->seed_set = 1;
        return 1;
    }
    case 'o':
        if (!arg[0]) {
            cli_usage_error(cmd, "--out: empty path");
            return -1;
        }
        c->out = arg;
        return 1;
    case 'q':
        c->quiet = 1;
        return 1;
    case 'h':
        c->help = 1;
        return 1;
    default:
        return 0;
    }
}

void cli_common_apply(const cli_common *c)
{
    mfr_set_threads(c->threads);
    if (c->quiet)
        mfr_log_set_level(MFR_LOG_WARN);
}

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 forces a full re-initialisation */
    opterr = 0; /* we print our own messages */
}

const cli_command *cli_find(const char *name)
{
    for (int i = 0; cli_command_table[i]; i++)
        if (strcmp(cli_command_table[i]->name, name) == 0)
            return cli_command_table[i];
    return NULL;
}

int cli_print_help(const char *cmd)
{
    const cli_command *c = cli_find(cmd);
    if (!c)
        return cli_usage_error(NULL, "no command '%s'", cmd);
    printf("%s", c->usage);
    return CLI_OK;
}
