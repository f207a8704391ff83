/* distro-cli: one binary, one subcommand per job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "distro/runtime.h"
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
    {"export", cmd_export, "write a checkpoint as a Hugging Face (LlamaForCausalLM) folder"},
    {"coordinator", cmd_coordinator, "coordinate a networked DeMo run"},
    {"join", cmd_join, "take part in a run as a peer"},
    {"run", cmd_run,
     "play a networked run on this machine (the embedded default without arguments)"},
    {"report", cmd_report, "write report.html (loss curves, bytes, throughput) from JSON logs"},
    {"keygen", cmd_keygen, "write a CURVE keypair for a coordinator or a peer"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: distro-cli <command> [options]\n\n"
               "Train one transformer together over ordinary links, on whatever hardware each\n"
               "peer has (DeMo-style compressed momentum synchronisation).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'distro-cli help <command>' (or '<command> --help') describes a command;\n"
               "--version prints the version, the build and the compiled backends.\n");
}

/* The version, how this binary was built and what it can run on, so a bug
 * report can say exactly which build it came from. */
static void version(void) {
    printf("distro-cli %s\n", DISTRO_VERSION);
    printf("build: %s, %s, commit %s\n", DISTRO_BUILD_TYPE[0] ? DISTRO_BUILD_TYPE : "no build type",
           DISTRO_COMPILER, DISTRO_GIT_COMMIT[0] ? DISTRO_GIT_COMMIT : "unknown");
    printf("backends:");
    for (int i = 0; i < dt_backend_count(); i++) printf(" %s", dt_backend_name(i));
    printf("\nGEMM on cpu: %s\n", DISTRO_BLAS_NAME);
}

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return &commands[i];
    return NULL;
}

/* One line and a hint, naming the closest command when one is near. */
static int unknown_command(const char *name) {
    const char *near = NULL;
    size_t best = 3;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        size_t d = cli_edit_distance(name, strlen(name), commands[i].name);
        if (d < best) {
            best = d;
            near = commands[i].name;
        }
    }
    fprintf(stderr, "distro-cli: unknown command '%s'", name);
    if (near) fprintf(stderr, " (did you mean %s?)", near);
    fprintf(stderr, "; see 'distro-cli --help'\n");
    return 2;
}

/* The runtime's progress messages (a first-use kernel build) go to stderr,
 * so stdout stays clean for --json. */
static void print_progress(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "%s\n", message);
    fflush(stderr);
}

/* Idle OpenMP threads wait passively (asleep) in every command, unless the
 * user chose a policy. libgomp's default spins for up to 300,000 rounds
 * after every parallel region; on a machine with other work those spinning
 * threads take the cores the work needs, and train ran 7-40x slower
 * (issue 10). libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT only once,
 * in a constructor that runs when it is loaded, before main (checked:
 * setting them here changes nothing), so this process re-executes itself
 * with the variable set; the second start sees it and goes on. Without
 * /proc (not Linux) it goes on spinning; child processes still wait
 * passively. */
static void wait_passively(char **argv) {
#ifdef _OPENMP
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}

int main(int argc, char **argv) {
    wait_passively(argv);
    dt_set_log(print_progress, NULL);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    /* "help CMD" is "CMD --help". */
    if (strcmp(name, "help") == 0 && argc > 2) {
        const command *c = find_command(argv[2]);
        if (!c) return unknown_command(argv[2]);
        char *help_argv[] = {"--help", NULL};
        return c->run(1, help_argv);
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        version();
        return 0;
    }
    const command *c = find_command(name);
    if (c) return c->run(argc - 2, argv + 2);
    return unknown_command(name);
}
