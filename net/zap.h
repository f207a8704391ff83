/* The ZAP handler of a CURVE server (ZeroMQ RFC 27): a thread with a REP
 * socket on inproc://zeromq.zap.01 in the server's context, which libzmq
 * asks about every CURVE handshake. It admits the `peer` keys of a keys
 * file, refuses everything else, and remembers what it refused. Internal to
 * net/: the server starts and joins it. */
#ifndef DISTRO_NET_ZAP_H
#define DISTRO_NET_ZAP_H

#include "net/keys.h"
#include "net/transport.h"

typedef struct net_zap net_zap;

/* Binds the endpoint in ctx (before the server socket binds, so no
 * handshake can happen without it) and starts the thread. The allow-list
 * is copied. */
dt_status net_zap_start(void *ctx, const net_keys *keys, net_zap **out);

/* Joins the thread and frees the handler. Call after zmq_ctx_shutdown(ctx),
 * which is what makes the thread's blocking recv return. */
void net_zap_join(net_zap *z);

/* See net_server_refusals. */
uint64_t net_zap_refusals(net_zap *z, net_refusal *out, int max, int *n_out);

/* The answer to one ZAP request and what the handler remembers of it. */
typedef struct net_zap_decision {
    const char *status;            /* "200" admits, "400" refuses */
    const char *text;              /* status text, a constant */
    char user_id[NET_KEY_Z85 + 1]; /* the admitted key in Z85, "" on refusal */
    bool refused;                  /* a refusal to record (a malformed request is not) */
    char key[NET_KEY_Z85 + 1];     /* the refused key in Z85, "" when none was offered */
    char address[NET_ADDRESS_MAX]; /* the request's address part, made printable */
} net_zap_decision;

/* Decides a request of n parts (parts[i]: lens[i] bytes, NULL only when
 * empty) against the `peer` keys of `allowed`. A pure function of its
 * inputs, so the handler thread and the fuzzer run the same decision. */
void net_zap_decide(const net_keys *allowed, const uint8_t *const parts[], const size_t lens[],
                    int n, net_zap_decision *out);

#endif
