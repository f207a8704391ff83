/* The AdamW baseline of `distro-cli run` on the run's own token stream. */
#ifndef DISTRO_CLI_RUN_BASELINE_H
#define DISTRO_CLI_RUN_BASELINE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "net/run_config.h"

typedef struct run_baseline_config {
    const net_run_config *run;
    double lr; /* AdamW's own peak lr */
} run_baseline_config;

typedef struct run_baseline_result {
    float val_loss;
    int64_t tokens;
    double seconds;
    int64_t filled_rounds; /* rounds the summary had no record of */
    float *round_loss;     /* train loss of each round's last optimizer step (steps
                              floats, NAN where not reached); malloc'd, the caller frees */
} run_baseline_result;

/* summary: the coordinator's summary JSON (its step_records' "micro"). */
dt_status run_baseline(const run_baseline_config *b, const cJSON *summary, bool tty,
                       run_baseline_result *out);

#endif
