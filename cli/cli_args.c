/* Option parsing shared by every subcommand. Every error is one line that
 * names the option or value and points at --help. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_args.h"

void cli_usage(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: distro-cli %s [options]%s%s\n\n%s\n", cmd->name, cmd->args[0] ? " " : "",
            cmd->args, cmd->summary);
    if (cmd->opts && cmd->opts[0].name) fprintf(f, "\noptions:\n");
    for (const cli_opt *o = cmd->opts; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
    fprintf(f, "  %-26s %s\n", "--help", "show this help");
    if (cmd->details) fprintf(f, "\n%s\n", cmd->details);
}

/* One line naming the problem, then where to look: the whole usage after a
 * typo buries the message. */
int cli_fail(const cli_cmd *cmd, const char *fmt, ...) {
    fprintf(stderr, "distro-cli %s: ", cmd->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'distro-cli %s --help'\n", cmd->name);
    return 2;
}

size_t cli_edit_distance(const char *a, size_t n, const char *b) {
    enum { MAX = 40 };
    size_t m = strlen(b);
    if (n >= MAX || m >= MAX) return (size_t)-1;
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= n; i++) d[i][0] = i;
    for (size_t j = 0; j <= m; j++) d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* The closest option name within a third of its length (at least 1), or the
 * only one the word starts; NULL when nothing is close. */
static const char *closest_opt(const cli_cmd *cmd, const char *name, size_t len) {
    const char *best = NULL, *prefixed = NULL;
    size_t best_d = (size_t)-1;
    int n_prefixed = 0;
    for (const cli_opt *o = cmd->opts; o && o->name; o++) {
        size_t d = cli_edit_distance(name, len, o->name), limit = strlen(o->name) / 3;
        if (d <= (limit ? limit : 1) && d < best_d) {
            best_d = d;
            best = o->name;
        }
        if (len >= 2 && strncmp(o->name, name, len) == 0) {
            prefixed = o->name;
            n_prefixed++;
        }
    }
    return best ? best : n_prefixed == 1 ? prefixed : NULL;
}

static int unknown_option(const cli_cmd *cmd, const char *name, size_t len) {
    const char *near = closest_opt(cmd, name, len);
    if (near)
        cli_fail(cmd, "unknown option '--%.*s' (did you mean --%s?)", (int)len, name, near);
    else
        cli_fail(cmd, "unknown option '--%.*s'", (int)len, name);
    return 2;
}

static int find_opt(const cli_cmd *cmd, const char *name, size_t len) {
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return i;
    return -1;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out) {
    memset(out, 0, sizeof *out);
    out->cmd = cmd;
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            cli_usage(cmd, stdout);
            return 1;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0') {
            if (arg[1] != '-') {
                const char *near = closest_opt(cmd, arg + 1, strlen(arg + 1));
                if (near)
                    return cli_fail(cmd, "unknown option '%s' (did you mean --%s?)", arg, near);
                return cli_fail(cmd, "unknown option '%s' (options start with --)", arg);
            }
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int k = find_opt(cmd, name, len);
            if (k < 0) return unknown_option(cmd, name, len);
            const cli_opt *o = &cmd->opts[k];
            if (!o->metavar) {
                if (eq) return cli_fail(cmd, "option '--%s' takes no value", o->name);
                out->value[k] = "";
            } else if (eq) {
                out->value[k] = eq + 1;
            } else if (i + 1 < argc) {
                out->value[k] = argv[++i];
            } else {
                return cli_fail(cmd, "option '--%s' needs a value (%s)", o->name, o->metavar);
            }
            continue;
        }
        if (out->n_positional >= cmd->max_positional)
            return cli_fail(cmd, "unexpected argument '%s'", arg);
        out->positional[out->n_positional++] = arg;
    }
    if (out->n_positional < cmd->min_positional)
        return cli_fail(cmd, "missing argument %s", cmd->args);
    return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
    int k = find_opt(a->cmd, name, strlen(name));
    return k < 0 ? NULL : a->value[k];
}

bool cli_flag(const cli_args *a, const char *name) {
    return cli_get(a, name) != NULL;
}

bool cli_get_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t def,
                 int64_t *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        cli_fail(a->cmd, "--%s '%s' is not an integer in [%lld, %lld]", name, s, (long long)lo,
                 (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_get_double(const cli_args *a, const char *name, double lo, double hi, double def,
                    double *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        cli_fail(a->cmd, "--%s '%s' is not a number in [%g, %g]", name, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_get_choice(const cli_args *a, const char *name, const char *const *choices, int def,
                    int *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return true;
        }
    }
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    cli_fail(a->cmd, "--%s '%s' is not one of: %s", name, s, list);
    return false;
}

bool cli_isatty_stderr(void) {
    return isatty(STDERR_FILENO) != 0;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
