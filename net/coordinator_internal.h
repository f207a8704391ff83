/* The coordinator's state, shared by its files:
 *   coordinator.c        lifecycle and the event loop
 *   coord_admit.c        admission: HELLO, limits, back-off, expiry of joiners
 *   coord_peers.c        weights transfer, resync, leaving, sends that fail
 *   coord_round.c        one round: assign, collect, apply, publish, account;
 *                        the hash check and the history beside it
 *   coord_report.c       logging, checkpoints, the record, the summary */
#ifndef DISTRO_NET_COORDINATOR_INTERNAL_H
#define DISTRO_NET_COORDINATOR_INTERNAL_H

#include <stdarg.h>
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

#define COORD_OFFERS_KEPT    4
#define COORD_PROGRESS_BYTES ((uint64_t)1 << 20) /* pulled bytes that move a join's deadline */
#define COORD_JOIN_MIN_RATE  (32.0 * 1024.0)     /* bytes/s: a join's overall limit */

typedef struct coord_peer {
    coord_peer_state state;
    uint32_t id;
    net_route route;
    char name[NET_NAME_MAX + 1];
    char device[NET_TEXT_MAX + 1];
    char backend[17];
    char key[NET_KEY_Z85 + 1];
    char address[NET_ADDRESS_MAX];
    double tokens_per_s;  /* estimate for the run's model, refined every round */
    bool measured;        /* tokens_per_s comes from its own submissions, not its claim */
    double blocked_since; /* its send queue has been full since then (0: not full) */
    int64_t version;      /* last version it acknowledged */
    int64_t sent;         /* version it will hold once it applies what was sent */
    /* Bytes of the result for step `sent` already queued: a send queue that
     * filled mid-result resumes there, so a result larger than the queue
     * still gets through to a peer that reads slowly. */
    uint64_t sent_bytes;
    int misses; /* consecutive rounds without an applied payload */
    /* Joining: the version offered (WELCOME or RESYNC) and how much of its
     * snapshot was served. Acks sent before a RESYNC reached the peer are
     * still in flight; they arrive before its first STATE_REQ, so a HASH
     * counts as "ready" only once the whole snapshot has been served. */
    int64_t offered;
    uint64_t offered_hash; /* the hash of the weights offered: what its HASH must say */
    uint64_t state_needed, state_served;
    /* Since it last became synced, across resyncs and a HELLO again on the
     * same connection: the bytes of weights served, and the steps offered
     * (the last COORD_OFFERS_KEPT; requests for an earlier one may still be
     * in flight, a request for any other is abuse). */
    uint64_t pulled;
    /* A join ends by join_deadline, which only progress moves (the
     * snapshot's furthest byte requested, advancing by COORD_PROGRESS_BYTES
     * or to its end), and by join_limit whatever happens: talking alone
     * (a stale HASH every second) holds no slot. */
    double join_deadline, join_limit;
    uint64_t frontier, frontier_refreshed;
    int64_t offers[COORD_OFFERS_KEPT];
    int n_offers;
    double resync_logged_at; /* RESYNC events: at most one a second per peer */
    int resyncs_unlogged;
    /* the current round */
    bool in_round, submitted, refused;
    uint32_t n_micro;
    uint8_t *submit; /* assembled payload */
    size_t submit_len, submit_got;
    float loss;
    double compute_s;
    double submitted_at; /* when its payload was complete and accepted */
    /* accounting */
    net_counters at_round_start;
    uint64_t payload_up;   /* SUBMIT data bytes this round */
    int64_t steps_applied; /* rounds its payload was applied in */
    int64_t tokens;        /* trained and applied */
    double compute_total;
    uint64_t bytes_up, bytes_down, payload_up_total, payload_down_total;
    int64_t refusals, resyncs;
    double joined_at;
    char gone[160]; /* why it left */
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

/* A key (CURVE) or address (--open) that misbehaved: it is refused for an
 * exponentially growing while, so a peer that is ejected and rejoins, or
 * floods HELLOs, costs the run less each time. */
typedef struct coord_offender {
    char who[NET_ADDRESS_MAX > NET_KEY_Z85 + 1 ? NET_ADDRESS_MAX : NET_KEY_Z85 + 1];
    int strikes;
    double banned_until, last;
} coord_offender;

#define COORD_OFFENDERS    256
#define COORD_MAX_JOINING  16    /* peers joining at once; more are told to retry */
#define COORD_STALL_S      30.0  /* a peer whose send queue stays full this long is dropped */
#define COORD_BACKOFF_S    2.0   /* the first back-off; doubles with every strike */
#define COORD_BACKOFF_MAX  600.0 /* and stops growing here */
#define COORD_RETRY_BUSY_S 2.0   /* what a BUSY reject tells the peer to wait */

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
    coord_offender offenders[COORD_OFFENDERS];
    int max_per_key, max_per_address; /* effective admission limits */

    /* snapshot of the weights served to joiners */
    uint8_t *snapshot;
    size_t snapshot_bytes;
    int64_t snapshot_version;
    uint64_t snapshot_hash;
    /* the one before, kept while joiners pull it (same size) */
    uint8_t *prev_snapshot;
    int64_t prev_version;
    uint64_t prev_hash;
    uint64_t current_hash; /* of version current_hash_version (0: none yet) */
    int64_t current_hash_version;

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
/* Encodes and sends without waiting: DT_ERR_NOT_FOUND when the peer's
 * connection is gone, DT_ERR_UNAVAILABLE when its send queue is full (it
 * does not read). The caller decides what that means for the peer. */
dt_status coord_send(coord *c, coord_peer *p, const net_msg *m);
double coord_now(void);

/* coord_admit.c */
dt_status coord_on_hello(coord *c, const net_frame *f, const net_msg *m);
/* Drops joiners past their deadline, peers that do not read, and (with
 * closes, once every queued frame was read) peers whose connection closed. */
void coord_reap(coord *c, bool closes);
/* A strike against the peer's key or address (it is refused for a while). */
void coord_strike(coord *c, const coord_peer *p);
/* A good round: the key or address starts from a clean slate. */
void coord_pardon(coord *c, const coord_peer *p);

/* coord_peers.c */
coord_peer *coord_peer_by_route(coord *c, const net_route *r);
dt_status coord_on_state_req(coord *c, coord_peer *p, const net_msg *m);
dt_status coord_send_resync(coord *c, coord_peer *p, const char *why);
/* Records an offer of the weights of `step` (WELCOME or RESYNC) and
 * starts the join's clocks. */
void coord_offer(coord *c, coord_peer *p, int64_t step, uint64_t hash, uint64_t bytes);
/* A HELLO again on p's connection: the new slot q inherits what p pulled. */
void coord_carry_pulls(coord_peer *q, const coord_peer *p);
void coord_on_leave(coord *c, coord_peer *p, const char *why);
void coord_drop_peer(coord *c, coord_peer *p, const char *why);
/* REJECT the peer with a reason code and text, then forget it (a strike). */
void coord_eject(coord *c, coord_peer *p, const char *why);
void coord_send_reject(coord *c, const net_route *to, net_reject_code code, double retry_s,
                       const char *text);
/* A snapshot of the current version (except: a peer being resynced, whose
 * old offer does not keep the previous snapshot alive). */
dt_status coord_take_snapshot(coord *c, const coord_peer *except);
/* After a send to p failed with st: a peer that is gone or does not read
 * is dropped (DT_OK returned); any other status is the coordinator's own
 * failure and is returned. */
dt_status coord_send_failed(coord *c, coord_peer *p, dt_status st, const char *what);

/* coord_round.c */
dt_status coord_maybe_start_round(coord *c);
dt_status coord_on_submit(coord *c, coord_peer *p, const net_msg *m);
dt_status coord_maybe_close_round(coord *c);
dt_status coord_on_hash(coord *c, coord_peer *p, const net_msg *m);
/* Sends a synced peer the results it has not been sent yet; a full send
 * queue leaves it behind until a later call. */
dt_status coord_catch_up(coord *c, coord_peer *p);

/* coordinator.c: the replica's validation loss (eval_batches batches). */
dt_status coord_eval(coord *c, float *val);

/* coord_report.c */
/* An event for the caller's sink (net/events.h); coord_log is a LOG event. */
void coord_log(coord *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void coord_event(coord *c, net_event_kind kind, uint32_t peer, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void coord_event_at(coord *c, net_event_kind kind, uint32_t peer, int64_t step, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));
/* With figures: the event's fields are "name" (for a peer) then extra. */
void coord_event_with(coord *c, net_event_kind kind, uint32_t peer, int64_t step,
                      const net_event_field *extra, int n_extra, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void coord_vevent(coord *c, net_event_kind kind, uint32_t peer, int64_t step,
                  const net_event_field *extra, int n_extra, const char *fmt, va_list ap);
/* The run's facts, once bound (a STARTED event). */
void coord_report_started(coord *c);
/* One peer's part in the round that just closed (a PEER_STEP event). */
void coord_report_peer_step(coord *c, const coord_peer *p, int64_t step, uint64_t up, uint64_t down,
                            double closed_at);
dt_status coord_checkpoint(coord *c);
dt_status coord_resume(coord *c);
dt_status coord_write_summary(coord *c, float val_loss);
void coord_record_round(coord *c, const coord_result *r);
dt_status coord_record_trim(coord *c); /* before appending after a resume */
void coord_log_step(coord *c, const coord_step_record *rec);

#endif
