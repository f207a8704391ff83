/* Scenarios for `distro-cli run`: a run config plus the peers to start, when
 * they join, when they are killed, and whether the coordinator is killed and
 * resumed, so a whole heterogeneous run can be replayed on one machine.
 *
 *   {
 *     "run": { the run config (see distro-cli coordinator --help) },
 *     "peers": [ {"name", "device", "optional": false, "join_step": 0,
 *                 "kill_step": -1, "threads": 0, "up_mbit": 0,
 *                 "down_mbit": 0, "latency_ms": 0} ],
 *     "auth": "curve" | "open",            (default curve)
 *     "restart_coordinator_at": -1,        kill and --resume it at this step
 *     "coordinator_device": "cpu",
 *     "baseline": true,                    AdamW on one device, same tokens
 *     "baseline_lr": 2e-3,                 its peak lr (tuned: docs/quality.md)
 *     "sample_tokens": 200, "description": "..."
 *   }
 * An optional peer whose device does not exist here is left out. Names are
 * unique (they name the peer's files). */
#ifndef DISTRO_CLI_SCENARIO_H
#define DISTRO_CLI_SCENARIO_H

#include <stdbool.h>

#include "net/run_config.h"

#define SCENARIO_MAX_PEERS 32
#define SCENARIO_MAX_BYTES (1 << 20) /* a scenario file is refused above this */

typedef struct scenario_peer {
    char name[64];
    char device[128]; /* a device spec, options included ("vulkan:0:kernels=gpu") */
    int optional;
    /* Steps count from 0, as in the JSON events: "at step k" is once steps
     * 0..k-1 are applied. A joiner starts then; a peer killed at k is
     * SIGKILLed on the very event that reports step k-1, so its payload is
     * in steps join_step..k-1 at most, and never in step k. */
    int64_t join_step; /* start at this step (0: with the run), below the run's steps */
    int64_t kill_step; /* SIGKILL at this step, after join_step and below steps (-1: never) */
    int threads;       /* OMP/BLAS threads (0: share the cores) */
    double up_mbit, down_mbit, latency_ms;
} scenario_peer;

typedef struct scenario {
    char description[512];
    net_run_config run;
    char *run_json; /* the "run" object as given, for the coordinator */
    scenario_peer peers[SCENARIO_MAX_PEERS];
    int n_peers;
    int open; /* no CURVE */
    int64_t restart_coordinator_at;
    char coordinator_device[128];
    int baseline;
    double baseline_lr; /* AdamW's peak lr */
    int64_t sample_tokens;
} scenario;

/* path NULL: the embedded default. Errors name the field. */
dt_status scenario_load(const char *path, scenario *out);
/* The peers against the run's steps (after --steps): every join_step and
 * kill_step inside the run, and at every step some peer in it (left_out[i]:
 * peer i is not started here; NULL: none), since a run with no peer would
 * wait forever. DT_ERR_INVALID naming the peer or the step. */
dt_status scenario_check(const scenario *s, const bool *left_out);
void scenario_free(scenario *s);

#endif
