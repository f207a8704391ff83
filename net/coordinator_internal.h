/* The coordinator's state, shared by its files:
 *   coordinator.c        lifecycle and the event loop
 *   coord_peers.c        admission, weights transfer, hashes, ejection
 *   coord_round.c        rounds: assignment, submissions, apply, results
 *   coord_report.c       logging, byte accounting, checkpoints, summary */
#ifndef DISTRO_NET_COORDINATOR_INTERNAL_H
#define DISTRO_NET_COORDINATOR_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "model/demo.h"
#include "net/coordinator.h"
#include "net/transport.h"
#include "net/wire.h"

typedef enum coord_peer_state {
    PEER_FREE = 0,
    PEER_JOINING, /* welcomed; pulling the snapshot (or keeping its weights) */
    PEER_SYNCED,  /* acknowledged a version; receives results; trains when current */
    PEER_GONE,    /* left or dropped; kept for the summary */
} coord_peer_state;

typedef struct coord_peer {
    coord_peer_state state;
    uint32_t id;
    net_route route;
    char name[NET_NAME_MAX + 1];
    char device[NET_TEXT_MAX + 1];
    char backend[17];
    char key[NET_KEY_Z85 + 1];
    double tokens_per_s; /* estimate for the run's model, refined every round */
    int64_t version;     /* last version it acknowledged */
    int64_t sent;        /* version it will hold once it applies what was sent */
    int misses;          /* consecutive rounds without an applied payload */
    /* Joining: the version offered (WELCOME or RESYNC) and how much of its
     * snapshot was served. Acks sent before a RESYNC reached the peer are
     * still in flight; they arrive before its first STATE_REQ, so a HASH
     * counts as "ready" only once the whole snapshot has been served. */
    int64_t offered;
    uint64_t state_needed, state_served;
    /* the current round */
    bool in_round, submitted, refused;
    uint32_t n_micro;
    uint8_t *submit; /* assembled payload */
    size_t submit_len, submit_got;
    float loss;
    double compute_s;
    /* accounting */
    net_counters at_round_start;
    uint64_t payload_up;   /* SUBMIT data bytes this round */
    int64_t steps_applied; /* rounds its payload was applied in */
    int64_t tokens;        /* trained and applied */
    double compute_total;
    uint64_t bytes_up, bytes_down, payload_up_total, payload_down_total;
    int64_t refusals, resyncs;
    double joined_at;
    char gone[96]; /* why it left */
} coord_peer;

static inline bool coord_live(const coord_peer *p) {
    return p->state == PEER_JOINING || p->state == PEER_SYNCED;
}

/* One applied round, kept so late joiners can catch up by replaying it. */
typedef struct coord_result {
    int64_t step;
    uint32_t lr_bits, decay_bits;
    uint32_t n_applied;
    uint32_t applied[NET_MAX_PEERS];
    uint8_t *payloads;   /* n_applied * payload_bytes, in applied order */
    uint64_t hash_after; /* the coordinator's hash of version step + 1 (0: not computed) */
} coord_result;

/* What the summary reports per step. */
typedef struct coord_step_record {
    int64_t step;
    int n_applied;
    float loss; /* mean over contributors, weighted by micro-batches */
    double seconds;
    uint64_t hash;
    int hashes_reported, hashes_agreeing;      /* peers' HASH for version step + 1 */
    uint64_t payload_up, bytes_up, bytes_down; /* summed over peers in the round */
    int peers_in_round;
    int64_t tokens;
    /* The applied contributions' micro-batches per optimizer step: peer ids
     * ascending and their counts (the baseline replays exactly these). */
    uint32_t applied_id[NET_MAX_PEERS], applied_micro[NET_MAX_PEERS];
} coord_step_record;

typedef struct coord {
    const net_coordinator_options *o;
    const net_run_config *cfg;
    net_server *server;
    dt_device *dev;
    model *m;
    model_demo *demo;
    model_dataset *ds; /* for the final validation loss */
    size_t payload_bytes;
    uint64_t run_id;
    int64_t version;           /* of the replica: updates applied */
    bool started;              /* min_peers reached once */
    double resume_grace_until; /* after a resume: start without min_peers past this */
    bool finished;

    coord_peer peers[NET_MAX_PEERS];
    uint32_t next_id;

    /* snapshot of the weights served to joiners */
    uint8_t *snapshot;
    size_t snapshot_bytes;
    int64_t snapshot_version;
    uint64_t snapshot_hash;

    /* results kept for catch-up, oldest first */
    coord_result *history;
    int history_len, history_cap;
    size_t history_bytes;

    /* the round in flight */
    bool round_open;
    int64_t round_step;
    double round_started, round_deadline;
    float round_lr, round_decay;

    coord_step_record *records;
    double started_at;
    FILE *record;
    uint8_t *frame; /* encode buffer, NET_MAX_FRAME */
    net_msg *msg;   /* decode scratch (large: holds a WELCOME) */
} coord;

/* coordinator.c */
dt_status coord_send(coord *c, coord_peer *p, const net_msg *m);
double coord_now(void);

/* coord_peers.c */
coord_peer *coord_peer_by_route(coord *c, const net_route *r);
dt_status coord_on_hello(coord *c, const net_frame *f, const net_msg *m);
dt_status coord_on_state_req(coord *c, coord_peer *p, const net_msg *m);
dt_status coord_on_hash(coord *c, coord_peer *p, const net_msg *m);
void coord_on_leave(coord *c, coord_peer *p, const char *why);
void coord_drop_peer(coord *c, coord_peer *p, const char *why);
dt_status coord_take_snapshot(coord *c);
dt_status coord_send_result(coord *c, coord_peer *p, const coord_result *r);
const coord_result *coord_history_find(const coord *c, int64_t step);
dt_status coord_history_add(coord *c, const coord_result *r);
/* REJECT the peer with a reason, then forget it. */
void coord_eject(coord *c, coord_peer *p, const char *why);

/* coord_round.c */
dt_status coord_maybe_start_round(coord *c);
dt_status coord_on_submit(coord *c, coord_peer *p, const net_msg *m);
dt_status coord_maybe_close_round(coord *c);

/* coord_report.c */
void coord_log(coord *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
dt_status coord_checkpoint(coord *c);
dt_status coord_resume(coord *c);
dt_status coord_write_summary(coord *c, float val_loss);
void coord_record_round(coord *c, const coord_result *r);
dt_status coord_record_trim(coord *c); /* before appending after a resume */
void coord_log_step(coord *c, const coord_step_record *rec);

#endif
