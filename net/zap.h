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

#endif
