/* The coordinator of a networked DeMo run (DESIGN.md section 5).
 *
 * It binds one ROUTER, admits peers, runs rounds, keeps its own replica
 * (applying every round with the canonical op), serves weights to joiners,
 * compares the hashes peers report, writes checkpoints, and finally a JSON
 * summary. One thread, one event loop.
 *
 * Versions: a replica's version is the number of updates applied to it.
 * ROUND(step s) asks peers holding version s for gradients; RESULT(step s)
 * carries the payloads applied in step s; applying it yields version s + 1,
 * which a peer acknowledges with HASH(step s + 1). */
#ifndef DISTRO_NET_COORDINATOR_H
#define DISTRO_NET_COORDINATOR_H

#include <signal.h>

#include "net/events.h"
#include "net/keys.h"
#include "net/run_config.h"

typedef struct net_coordinator_options {
    const net_run_config *config;
    const char *listen;          /* "tcp://HOST:PORT"; port 0 picks a free one */
    const net_keys *keys;        /* own keypair + admitted peers; NULL with open */
    int open;                    /* no authentication (explicit --open) */
    const char *device;          /* device spec of the coordinator's replica */
    const char *checkpoint_dir;  /* NULL: no checkpoints */
    int resume;                  /* continue from checkpoint_dir's checkpoint */
    const char *ready_file;      /* written once bound: endpoint and public key */
    const char *summary_file;    /* JSON summary at the end; NULL: none */
    const char *record_file;     /* every applied round, for replay tests; NULL: none */
    net_event_sink events;       /* where joins, leaves, resyncs, steps... go */
    int max_per_key;             /* peer slots one CURVE key may hold (0: the default) */
    int max_per_address;         /* with open: peer slots one address may hold (0: default) */
    volatile sig_atomic_t *stop; /* set by a signal handler: checkpoint and leave */
} net_coordinator_options;

/* Runs until the configured steps are done (DT_OK) or *stop is set (DT_OK
 * after a checkpoint), or a fatal error. */
dt_status net_coordinator_run(const net_coordinator_options *o);

#define NET_COORDINATOR_MAX_PER_KEY     4
#define NET_COORDINATOR_MAX_PER_ADDRESS 64

/* Name of the checkpoint file inside a checkpoint directory. */
#define NET_COORDINATOR_CHECKPOINT "coordinator.safetensors"
/* The one before it, kept as the fallback of --resume. */
#define NET_COORDINATOR_PREVIOUS "coordinator.previous.safetensors"

#endif
