/* mfr: the command-line front end. Dispatches `mfr COMMAND [options]`. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/core.h"

#include <stdio.h>
#include <string.h>

extern const cli_command cli_cmd_info, cli_cmd_gen, cli_cmd_mask, cli_cmd_detect, cli_cmd_embed,
    cli_cmd_eval, cli_cmd_report, cli_cmd_bench, cli_cmd_train, cli_cmd_run;
static const cli_command cli_cmd_help;

/* The order here is the order of `mfr help`. */
const cli_command *const cli_command_table[] = {
    &cli_cmd_run, &cli_cmd_gen, &cli_cmd_mask, &cli_cmd_detect, &cli_cmd_embed, &cli_cmd_eval,
    &cli_cmd_report, &cli_cmd_train, &cli_cmd_bench, &cli_cmd_info, &cli_cmd_help, NULL,
};

static void print_version(void)
{
    const mfr_build_info *b = mfr_build();
    printf("mfr %s\n", b->version);
    printf("compiler: %s\n", b->compiler);
    printf("flags:    %s\n", b->cflags);
    printf("SIMD:     %s (this CPU runs: %s)\n", b->simd, mfr_isa_name(mfr_isa_best()));
    printf("OpenMP:   %s\n", b->openmp ? "yes" : "no");
    printf("peers:    %s\n", b->peers);
}

static void print_overview(FILE *fp)
{
    fprintf(fp, "usage: mfr COMMAND [options]\n"
                "       mfr help [COMMAND]\n"
                "       mfr --version\n\n"
                "mfr measures masked-face recognition: it generates synthetic masked faces,\n"
                "detects, aligns and embeds them with its own neural-network runtime, and\n"
                "reports NIST-style accuracy and latency.\n\ncommands:\n");
    for (int i = 0; cli_command_table[i]; i++)
        fprintf(fp, "  %-8s %s\n", cli_command_table[i]->name, cli_command_table[i]->summary);
    fprintf(fp, "\ncommon options: --threads N (default: OMP_NUM_THREADS, else all cores), --seed N,\n"
                "  --out PATH, --quiet, --help. Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("help", "expected at most one command name");
    if (argc == 2)
        return cli_print_help(argv[1]);
    print_overview(stdout);
    return CLI_OK;
}

static const cli_command cli_cmd_help = {
    "help", cmd_help, "show help for mfr or for one command",
    "usage: mfr help [COMMAND]\n\nWithout COMMAND, lists the commands; with it, shows that command's options.\n",
};

int main(int argc, char **argv)
{
    const cli_command *cmd;
    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        print_version();
        return CLI_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    cmd = cli_find(argv[1]);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    cli_getopt_reset();
    return cmd->run(argc - 1, argv + 1);
}
