/* distro-cli report: report.html from JSON-lines logs, one run per log, so
 * several runs can be overlaid (web/report.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "web/report.h"

static const cli_opt report_opts[] = {
    {"out", "FILE", "where to write the report (default: report.html; -o FILE works too)"},
    {NULL, NULL, NULL},
};

static const cli_cmd report_cmd = {
    "report",
    "LOG.jsonl...",
    "Write a self-contained report.html (loss curves, bytes, throughput, hash agreement).",
    "Each LOG is the JSON-lines output of 'coordinator --json' (what 'run' keeps as\n"
    "DIR/coordinator.log), 'join --json' or 'train --json'; each becomes one run in the\n"
    "charts, named by its file name (its path where two share one), so runs can be\n"
    "compared. The file opens in any browser without a network: the data and Chart.js\n"
    "are inside it.",
    report_opts,
    1,
    CLI_MAX_POSITIONAL,
};

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A run is called by its log's file name, or by the whole path where two
 * logs share a file name. */
static const char *label_of(const cli_args *a, int i) {
    for (int j = 0; j < a->n_positional; j++)
        if (j != i && strcmp(base_name(a->positional[j]), base_name(a->positional[i])) == 0)
            return a->positional[i];
    return base_name(a->positional[i]);
}

/* One log into a new run of the view; its events counted in *n. */
static int read_log(run_view *v, const char *path, const char *label, int64_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "distro-cli report: %s: %s\n", path, strerror(errno));
        return 1;
    }
    int run = 0;
    if (run_view_add_run(v, label, &run) != DT_OK) {
        fclose(f);
        fprintf(stderr, "distro-cli report: %s\n", dt_last_error());
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int64_t lineno = 0, bad = 0, first_bad = 0, before = run_view_events(v);
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (run_view_add_line(v, run, line) == DT_OK) continue;
        if (!bad++) first_bad = lineno;
    }
    free(line);
    bool failed = ferror(f);
    fclose(f);
    *n = run_view_events(v) - before;
    if (failed) {
        fprintf(stderr, "distro-cli report: %s: read error\n", path);
        return 1;
    }
    if (*n == 0) {
        fprintf(stderr,
                "distro-cli report: %s: no events in it (expected the JSON lines of "
                "'coordinator --json', 'join --json' or 'train --json')\n",
                path);
        return 1;
    }
    if (bad)
        fprintf(stderr,
                "distro-cli report: %s: skipped %lld line%s that are not events (first: "
                "line %lld)\n",
                path, (long long)bad, bad == 1 ? "" : "s", (long long)first_bad);
    return 0;
}

int cmd_report(int argc, char **argv) {
    /* "-o FILE", as compilers spell it, is --out. */
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-o") == 0) argv[i] = "--out";
    cli_args args;
    int rc = cli_parse(&report_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    const char *out = cli_get(&args, "out");
    if (!out) out = "report.html";
    if (!out[0]) return cli_fail(&report_cmd, "--out needs a file name");

    run_view *v = NULL;
    if (run_view_create(false, &v) != DT_OK) {
        fprintf(stderr, "distro-cli report: %s\n", dt_last_error());
        return 1;
    }
    int exit_code = 0;
    for (int i = 0; i < args.n_positional && !exit_code; i++) {
        int64_t n = 0;
        exit_code = read_log(v, args.positional[i], label_of(&args, i), &n);
        if (!exit_code) fprintf(stderr, "%s: %lld events\n", args.positional[i], (long long)n);
    }
    if (!exit_code && web_report_write(v, out) != DT_OK) {
        fprintf(stderr, "distro-cli report: %s\n", dt_last_error());
        exit_code = 1;
    }
    if (!exit_code) printf("wrote %s\n", out);
    run_view_destroy(v);
    return exit_code;
}
