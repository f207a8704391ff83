/* distro-cli: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "distro_config.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list every device on every compiled backend"},
    {"bench", cmd_bench, "measure GEMM, memory bandwidth and DeMo throughput per device"},
    {"train", cmd_train, "train a model on one device (AdamW or DeMo)"},
    {"sample", cmd_sample, "generate text from a checkpoint"},
    {"coordinator", cmd_coordinator, "coordinate a networked DeMo run"},
    {"join", cmd_join, "take part in a run as a peer"},
    {"run", cmd_run,
     "play a networked run on this machine (the embedded default without arguments)"},
    {"keygen", cmd_keygen, "write a CURVE keypair for a coordinator or a peer"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: distro-cli <command> [options]\n\n"
               "Train one transformer together over ordinary links, on whatever hardware each\n"
               "peer has (DeMo-style compressed momentum synchronisation).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'distro-cli <command> --help' describes a command; --version prints the "
               "version.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("distro-cli %s\n", DISTRO_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "distro-cli: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
