/* Shared conventions of the mfr commands: exit codes, messages, common options.
 *
 * A command is `int cmd_NAME(int argc, char **argv)` with argv[0] the command
 * name, described by a `cli_command` in its own file and listed in mfr.c. It parses options with getopt_long,
 * handing the common ones to cli_common_option(), and returns CLI_OK, CLI_FAIL
 * or CLI_USAGE, which become the process exit status. */
#ifndef MFR_CLI_H
#define MFR_CLI_H

#include <getopt.h>
#include <stdint.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Long-option codes for the common options (short forms: -o, -q, -h). */
enum { CLI_OPT_THREADS = 1000, CLI_OPT_SEED, CLI_OPT_FIRST_PRIVATE = 1100 };

#define CLI_COMMON_LONG_OPTIONS                                                   \
    {"threads", required_argument, NULL, CLI_OPT_THREADS},                       \
    {"seed", required_argument, NULL, CLI_OPT_SEED},                             \
    {"out", required_argument, NULL, 'o'},                                       \
    {"quiet", no_argument, NULL, 'q'},                                           \
    {"help", no_argument, NULL, 'h'}

typedef struct cli_common {
    int threads;        /* 0: default (OMP_NUM_THREADS, else all cores) */
    uint64_t seed;
    int seed_set;
    const char *out;
    int quiet;
    int help;
} cli_common;

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;   /* one line for `mfr help` */
    const char *usage;     /* full text for `mfr help NAME` */
} cli_command;

/* Handles a common option. Returns 1 if `opt` was one (stored in *c),
 * 0 if not, and -1 after printing a usage error for a bad value. */
int cli_common_option(const char *cmd, int opt, const char *arg, cli_common *c);
/* Applies the common options that act globally (threads). */
void cli_common_apply(const cli_common *c);
/* Resets getopt for a new parse (argv[0] is the command). */
void cli_getopt_reset(void);

/* "mfr: CMD: message" + "Try 'mfr help CMD'." on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports getopt's verdict on an unknown option or missing argument. */
int cli_bad_option(const char *cmd, int optopt_value, char **argv);
/* "mfr: message" on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "mfr: <the library's last error>"; returns CLI_FAIL. */
int cli_fail_last(void);
/* Prints a command's usage text (from the table) to stdout; returns CLI_OK. */
int cli_print_help(const char *cmd);
/* Strictly parses an integer option in [min, max]; -1 after a usage error. */
int cli_parse_long(const char *cmd, const char *option, const char *arg, long min, long max, long *out);
int cli_parse_double(const char *cmd, const char *option, const char *arg, double min, double max, double *out);

/* Each command file defines one `const cli_command cli_cmd_NAME`; mfr.c lists
 * them all in cli_command_table (NULL-terminated). */
extern const cli_command *const cli_command_table[];
const cli_command *cli_find(const char *name);

#endif
