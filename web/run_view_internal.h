/* The run view's insides, shared by ingest (run_view.c) and rendering
 * (run_view_render.c). */
#ifndef DISTRO_WEB_RUN_VIEW_INTERNAL_H
#define DISTRO_WEB_RUN_VIEW_INTERNAL_H

#include <pthread.h>

#include "web/run_view.h"

#define RV_TIMELINE    30  /* rounds kept for the timeline */
#define RV_EVENTS      200 /* log events kept */
#define RV_ROUND_PEERS 64  /* peers drawn per round */
#define RV_NAME        65  /* a peer name: 64 bytes on the wire (NET_NAME_MAX), and its NUL */
#define RV_TEXT        256
#define RV_DOC_POINTS  4000 /* points per series in the state document, at most (+ the last) */

/* Points (x, y) and, for hash agreement, a third column. */
typedef struct rv_series {
    double *x, *y, *z;
    int64_t n, cap;
} rv_series;

typedef struct rv_peer {
    double id; /* the coordinator's peer id; 0 where the log has none */
    char name[RV_NAME], device[RV_TEXT], backend[32], state[16], link[RV_TEXT], last_hash[12];
    int64_t steps; /* rounds its payload was applied in */
    double tokens_per_s;
    int misses;
    rv_series tps;
} rv_peer;

typedef struct rv_round {
    int64_t step;
    double seconds; /* NAN until the round's step event */
    int n;
    struct {
        char name[RV_NAME];
        double compute_s, wait_s;
        bool submitted;
    } peers[RV_ROUND_PEERS];
} rv_round;

typedef struct rv_event {
    double t;
    char kind[16], name[RV_NAME], text[RV_TEXT];
} rv_event;

typedef struct rv_run {
    char label[128], kind[16], run_id[24], model[64], optimizer[16];
    double params;
    int64_t steps_total, step;
    bool finished;
    double val_loss, elapsed_s, tokens_per_s;
    double sum_up, sum_allreduce; /* bytes per peer over the run, for the reduction */
    double up_total, down_total, allreduce_total;
    int64_t checked, mismatches, refused;
    double checkpoint_t; /* event time of the last good checkpoint; NAN: none */
    rv_series train, val, base_train, base_val, tps, up, down, allreduce, hash;
    rv_peer *peers;
    int n_peers, cap_peers;
    rv_round timeline[RV_TIMELINE]; /* a ring; timeline_n rounds, newest at timeline_head */
    int timeline_n, timeline_head;
    rv_event events[RV_EVENTS]; /* a ring as well */
    int events_n, events_head;
} rv_run;

struct run_view {
    pthread_mutex_t lock;
    bool live;
    rv_run *runs;
    int n_runs, cap_runs;
    int64_t n_events;
    double last_event_mono; /* monotonic seconds when the last event came */
};

double rv_mono_now(void);
/* The event time a live run has reached now (its last event plus the wall
 * time since). */
double rv_live_elapsed(const run_view *v, const rv_run *r);

#endif
