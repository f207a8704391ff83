/* The peer's state, shared by peer.c (event loop, rounds, results) and
 * peer_state.c (set-up, welcome, weights transfer, progress). */
#ifndef DISTRO_NET_PEER_INTERNAL_H
#define DISTRO_NET_PEER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "model/worker.h"
#include "net/assembly.h"
#include "net/peer.h"
#include "net/run_config.h"
#include "net/wire.h"

typedef enum peer_phase {
    PHASE_HELLO,   /* waiting for WELCOME */
    PHASE_PULLING, /* fetching the weights snapshot */
    PHASE_SYNCED,  /* holds a version the coordinator acknowledged or will */
} peer_phase;

typedef struct peer {
    const net_peer_options *o;
    net_client *client;
    dt_device *dev;
    double tiny_tokens_per_s; /* measured on the `tiny` preset, for HELLO */
    double started_at, hello_sent_at;
    double hello_due;    /* a BUSY or BACKOFF reject: say HELLO again at this time (0: no) */
    int limit_rejects;   /* LIMIT rejects in a row (a reconnect can beat its old slot's close) */
    uint64_t sends_lost; /* frames dropped for want of a connection */
    bool hello_lost;     /* the last HELLO was one of them */

    net_run_config cfg;
    model *m;
    model_worker *worker; /* this peer's optimizer: DeMo or local steps */
    model_dataset *ds;
    uint64_t run_id;
    uint32_t id;
    int64_t version; /* updates applied to the weights; -1 before any */
    peer_phase phase;
    bool finished;

    /* weights transfer */
    net_assembly pull;
    size_t state_bytes, state_requested;
    uint64_t state_hash;
    int64_t state_step;

    /* the round */
    bool pending; /* compressed, waiting for the result */
    int64_t pending_step;
    uint8_t *payload;
    float round_loss;
    int64_t round_tokens;
    double round_compute;
    net_counters at_last_step;

    /* result assembly */
    net_result result_meta; /* its first chunk's header: who was applied */
    net_assembly result;

    uint8_t *frame;
    net_msg *msg;
} peer;

/* peer.c */
double peer_now(void);
dt_status peer_send(peer *p, const net_msg *m);
void peer_log(peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* peer_checkpoint.c: the optimizer state of `join --state FILE` */
dt_status peer_state_save(peer *p);
void peer_state_restore(peer *p);

/* peer_state.c */
dt_status peer_setup(peer *p);
void peer_teardown(peer *p);
dt_status peer_on_welcome(peer *p, const net_msg *m);
dt_status peer_on_state(peer *p, const net_msg *m);
dt_status peer_on_resync(peer *p, const net_msg *m);
void peer_report_step(peer *p, int64_t step, bool submitted, bool applied, int n_applied,
                      uint64_t hash);

#endif
