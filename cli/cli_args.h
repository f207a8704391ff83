/* A small table-driven option parser shared by every subcommand, so each
 * gets --help, "--opt value" and "--opt=value", and an error that names the
 * bad option or value on one line and points at --help. */
#ifndef DISTRO_CLI_ARGS_H
#define DISTRO_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_MAX_OPTS       40
#define CLI_MAX_POSITIONAL 16

typedef struct cli_opt {
    const char *name;    /* without the leading "--" */
    const char *metavar; /* NULL: a flag without a value */
    const char *help;
} cli_opt;

typedef struct cli_cmd {
    const char *name;    /* "bench" */
    const char *args;    /* positional synopsis, "" or "[SCENARIO.json]" */
    const char *summary; /* one line */
    const char *details; /* paragraph after the options, or NULL */
    const cli_opt *opts; /* terminated by {NULL} */
    int min_positional, max_positional;
} cli_cmd;

typedef struct cli_args {
    const cli_cmd *cmd;
    const char *value[CLI_MAX_OPTS]; /* value, or "" for a flag; NULL when absent */
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
} cli_args;

/* 0: parsed; 1: --help printed (exit 0); 2: a one-line error printed (exit 2). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out);
void cli_usage(const cli_cmd *cmd, FILE *f);

const char *cli_get(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);

/* Typed option values with defaults; on a bad value print an error naming
 * the option and return false. */
bool cli_get_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t def,
                 int64_t *out);
bool cli_get_double(const cli_args *a, const char *name, double lo, double hi, double def,
                    double *out);
/* One of a list of words ("demo|adamw"); *out gets its index. */
bool cli_get_choice(const cli_args *a, const char *name, const char *const *choices, int def,
                    int *out);

/* Error helper: "distro-cli CMD: message; see 'distro-cli CMD --help'" on one line;
 * returns 2. */
int cli_fail(const cli_cmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Edit distance between a[0..n) and b (insertions, deletions, substitutions
 * and swaps of two neighbours), for "did you mean"; SIZE_MAX for names of 40
 * characters or more. */
size_t cli_edit_distance(const char *a, size_t n, const char *b);

/* Whether stderr is a terminal (progress lines are drawn only there). */
bool cli_isatty_stderr(void);
double cli_now(void); /* monotonic seconds */

#endif
