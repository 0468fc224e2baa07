/* The options that every `mfr bench` subcommand shares (cmd_bench.c and
 * bench_model.c): parsed once, into bench/'s bench_opts. */
#ifndef MFR_CLI_BENCH_CLI_H
#define MFR_CLI_BENCH_CLI_H

#include "cli/cli.h"
#include "../../bench/bench.h"

enum {
    BENCH_OPT_CSV = CLI_OPT_FIRST_PRIVATE,
    BENCH_OPT_PLOT,
    BENCH_OPT_REPS,
    BENCH_OPT_SAMPLE,
    BENCH_OPT_NO_PEERS,
    BENCH_OPT_FIRST_OWN /* a subcommand's own options from here */
};

#define BENCH_LONG_OPTIONS                                                                         \
    {"csv", required_argument, NULL, BENCH_OPT_CSV}, {"plot", required_argument, NULL, BENCH_OPT_PLOT}, \
        {"reps", required_argument, NULL, BENCH_OPT_REPS},                                         \
        {"sample-time", required_argument, NULL, BENCH_OPT_SAMPLE},                                \
        {"no-peers", no_argument, NULL, BENCH_OPT_NO_PEERS}

/* --threads "1,2,4", "1-4" or "4" into o->threads: 0, or -1 after a usage error. */
int bench_cli_threads(const char *arg, bench_opts *o);
/* One shared option (or --threads): 1 taken, 0 not a shared one, -1 after a usage error. */
int bench_cli_option(int opt, const char *arg, bench_opts *o);

#endif
