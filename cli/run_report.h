/* What `distro-cli run` shows: progress while the run plays, then the
 * summary table (the AdamW baseline and the text sample are computed here,
 * after the networked processes have finished). */
#ifndef DISTRO_CLI_RUN_REPORT_H
#define DISTRO_CLI_RUN_REPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/run_procs.h"
#include "cli/scenario.h"
#include "web/dashboard.h"
#include "web/run_view.h"

typedef struct run_ctx {
    scenario s;
    char dir[1024]; /* short enough that every file path in it fits PATH_MAX */
    char exe[PATH_MAX];
    int port; /* 0 until the coordinator bound one; reused on restart */
    char server_key[64];
    run_child coord;
    FILE *coord_log; /* every line of the coordinator's JSON events, in DIR/coordinator.log */
    run_child peers[SCENARIO_MAX_PEERS];
    bool skipped[SCENARIO_MAX_PEERS], peer_started[SCENARIO_MAX_PEERS];
    bool peer_killed[SCENARIO_MAX_PEERS];
    bool peer_reported[SCENARIO_MAX_PEERS]; /* its exit was looked at */
    int n_active, n_initial;
    bool restarted;
    int64_t step;
    double loss;
    int peers_in_step;
    double started, last_progress;
    bool tty;
    run_view *view; /* what report.html and the dashboard show, from the coordinator's log */
    int view_run;
    web_dashboard *dashboard; /* --http; NULL: none */
} run_ctx;

void run_banner(run_ctx *r);
void run_note(run_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void run_progress(run_ctx *r);
void run_progress_done(run_ctx *r);
/* Baseline, sample, table; writes summary_path (JSON) when given. Returns
 * the exit status: 0 when the run finished with replica hashes agreeing. */
int run_report(run_ctx *r, const char *summary_path);
void run_remove_dir(const char *dir);

#endif
