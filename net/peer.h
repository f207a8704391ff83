/* A peer of a networked DeMo run: `distro-cli join ADDRESS`.
 *
 * HELLO (device, backend, measured throughput) -> WELCOME (id, run config,
 * weights to pull) -> per round: train the assigned micro-batches, compress,
 * SUBMIT, receive RESULT, apply with the canonical op, confirm or discard
 * the error feedback, report HASH. Reconnects (and says HELLO again with
 * what it holds) after a coordinator restart; leaves cleanly on a stop.
 *
 * It gives up, naming why, after connect_timeout_s without a connection:
 * never connected (nothing listening, key refused, wrong server key), or
 * connected once and the coordinator stopped answering (heartbeats drop a
 * dead link within seconds). A bad address or unknown host fails at once. */
#ifndef DISTRO_NET_PEER_H
#define DISTRO_NET_PEER_H

#include <signal.h>

#include "net/events.h"
#include "net/keys.h"
#include "net/transport.h"

typedef struct net_peer_options {
    const char *address;      /* "tcp://host:port" */
    const char *device;       /* device spec; NULL: auto */
    const net_keys *keys;     /* own keypair; NULL: no CURVE (the coordinator runs --open) */
    const char *server_key;   /* the coordinator's public key (Z85), with keys */
    const char *name;         /* shown in the coordinator's log */
    net_link_shape shape;     /* optional link shaping */
    net_event_sink events;    /* where log lines and applied steps go */
    double connect_timeout_s; /* give up after this long without a connection (0: never) */
    const char *state_file;   /* keep this peer's optimizer state here (NULL: nowhere) */
    int64_t state_every;      /* ... after every this many applied rounds (and the last) */
    volatile sig_atomic_t *stop;
} net_peer_options;

/* Runs until the coordinator ends the run (DT_OK), *stop is set (DT_OK,
 * after LEAVE), or an error (including REJECT, whose reason is the message). */
dt_status net_peer_run(const net_peer_options *o);

#endif
