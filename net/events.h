/* What the coordinator and the peers report, as events: net/ never prints.
 *
 * Each event has a kind, a time, the peer it is about, one sentence for
 * people, and for steps the figures as named fields. cli/ renders events as
 * text lines or JSON objects ({"t", "event": kind, "peer", "text", fields});
 * tests read the JSON kinds and fields, not the sentences. */
#ifndef DISTRO_NET_EVENTS_H
#define DISTRO_NET_EVENTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum net_event_kind {
    NET_EVENT_LOG,        /* anything else worth a line */
    NET_EVENT_JOINED,     /* coordinator: a peer was admitted (peer = its id) */
    NET_EVENT_LEFT,       /* coordinator: a peer left, was dropped or ejected */
    NET_EVENT_RESYNC,     /* coordinator: a replica is sent the weights again */
    NET_EVENT_REFUSED,    /* coordinator: a payload was refused */
    NET_EVENT_REJECTED,   /* coordinator: a HELLO was turned away */
    NET_EVENT_CHECKPOINT, /* coordinator: a checkpoint was written, or failed */
    NET_EVENT_STEP,       /* a step was applied: the coordinator's round, a peer's step */
    NET_EVENT_RESUMED,    /* coordinator: resumed from a checkpoint (step: where) */
    NET_EVENT_MISSED,     /* coordinator: a peer missed a round's deadline (step: which) */
    NET_EVENT_FINISHED,   /* the run is over (step: the steps done) */
    NET_EVENT_STARTED,    /* coordinator: set up and listening (the run's facts as fields) */
    NET_EVENT_PEER_STEP,  /* coordinator: one peer's part in a closed round (per peer, per step) */
    NET_EVENT_HASH,       /* coordinator: a peer's hash of a checked step arrived (agree: bool) */
    NET_EVENT_EVAL,       /* coordinator: the replica's val loss after a step (eval_every) */
    NET_EVENT_KINDS
} net_event_kind;

const char *net_event_name(net_event_kind k); /* "log", "joined", ... */

typedef enum net_field_type { NET_FIELD_NUM, NET_FIELD_STR, NET_FIELD_BOOL } net_field_type;

typedef struct net_event_field {
    const char *key;
    net_field_type type;
    double num; /* NUM; BOOL: nonzero is true */
    const char *str;
} net_event_field;

/* Fields by kind (besides "name", which every event about a peer has):
 *   started:   run_id, model, params, steps, optimizer, payload_bytes
 *   joined:    device, backend, address
 *   left:      how ("left", "dropped" or "ejected")
 *   missed:    misses (in a row)
 *   checkpoint: ok (bool)
 *   resumed:   run_id
 *   finished:  val_loss (the coordinator's), hash
 *   step (coordinator): step, peers, loss, lr, seconds, tokens, bytes_up_per_peer,
 *              bytes_down_per_peer, payload_up_per_peer, allreduce_bytes_per_peer, hash
 *   step (peer): step, steps, loss, tokens_per_s, bytes_up, bytes_down, peers,
 *              submitted, applied, hash
 *   peer_step: submitted, compute_s, wait_s, tokens_total, tokens_per_s, bytes_up,
 *              bytes_down, misses
 *   hash:      agree (bool)
 *   eval:      val_loss (after the event's step) */
typedef struct net_event {
    net_event_kind kind;
    double t;         /* seconds since the coordinator or peer started */
    uint32_t peer;    /* the peer it is about (a peer's own id in its events); 0: none */
    int64_t step;     /* the step it is about; -1: none (a STEP event has it as a field) */
    const char *text; /* one line for people */
    const net_event_field *fields; /* step figures, in a fixed order */
    int n_fields;
} net_event;

/* Where events go; fn NULL: nowhere. Called from the thread that runs the
 * coordinator or peer; the event lives only during the call. */
typedef struct net_event_sink {
    void (*fn)(const net_event *e, void *ctx);
    void *ctx;
} net_event_sink;

/* The event as one JSON object: {"t", "event": kind, "peer" (when with_peer
 * or nonzero), "step" and "text" (except for STEP events, whose figures
 * carry the step), then the fields}. NULL when out of memory. */
cJSON *net_event_json(const net_event *e, bool with_peer);

#endif
