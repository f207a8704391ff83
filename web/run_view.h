/* What a dashboard or a report shows of one or more runs, built from events
 * (web/STATE.md is the document it renders).
 *
 * Events come as JSON objects: live from the coordinator's event sink
 * (net_event_json), or read back from JSON-lines logs of `coordinator
 * --json`, `join --json` and `train --json`. Each run is fed by one source.
 *
 * Thread-safe: one thread feeds events while another (the HTTP server)
 * renders; every call takes the view's lock, and rendering holds it only
 * while the document is built. */
#ifndef DISTRO_WEB_RUN_VIEW_H
#define DISTRO_WEB_RUN_VIEW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "distro/error.h"

typedef struct run_view run_view;

dt_status run_view_create(bool live, run_view **out);
void run_view_destroy(run_view *v);

/* A new run fed by one source; *index names it in the calls below. The
 * label is what charts call it (a file name, a scenario). */
dt_status run_view_add_run(run_view *v, const char *label, int *index);

/* One event. DT_ERR_FORMAT when it is not an event of any known log (the
 * caller decides whether that matters; the view is unchanged). */
dt_status run_view_add_event(run_view *v, int run, const cJSON *event);
/* One line of a JSON-lines log; blank lines are DT_OK and ignored. */
dt_status run_view_add_line(run_view *v, int run, const char *line);

/* What the events do not say: a peer's link shaping (from a scenario),
 * and baseline points (series "baseline_train_loss" or
 * "baseline_val_loss"). */
dt_status run_view_set_link(run_view *v, int run, const char *peer_name, const char *link);
dt_status run_view_add_baseline(run_view *v, int run, const char *series, int64_t step,
                                double loss);

/* Events taken so far, over every run. */
int64_t run_view_events(run_view *v);

/* The state document (web/STATE.md); malloc'd text, NULL when out of
 * memory. */
char *run_view_state_json(run_view *v);
/* Prometheus text exposition (format 0.0.4) of the first run; malloc'd. */
char *run_view_metrics(run_view *v);

#endif
