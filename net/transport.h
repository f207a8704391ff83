/* The transport: one ZeroMQ ROUTER on the coordinator (net_server), one
 * DEALER per peer (net_client), one frame per message (DESIGN.md section 5).
 *
 * What every socket gets, and why:
 *   ZMQ_MAXMSGSIZE = NET_MAX_FRAME  a larger frame closes that connection
 *                                   before it is buffered (hostile peers)
 *   ZMTP heartbeats                 a silent dead link is noticed in seconds
 *   ZMQ_LINGER 0                    closing never waits on a dead peer
 *   server: ZMQ_ROUTER_MANDATORY    a send to a vanished peer is an error
 *                                   (DT_ERR_NOT_FOUND), not a silent drop
 *   server: ZMQ_SNDHWM              at most NET_SEND_QUEUE frames wait for
 *                                   one connection; a peer that does not
 *                                   read cannot grow the server's memory
 *   server: socket monitor          a closed connection is reported at once
 *                                   (net_server_closed), not when a round's
 *                                   deadline runs out
 *   client: reconnect 100 ms..2 s   a restarted coordinator is found again
 *   client: ZMQ_IMMEDIATE           nothing is queued for a connection that
 *                                   is not up, so nothing stale reaches a
 *                                   restarted coordinator
 *
 * Security: with keys, CURVE on the socket. The server runs a ZAP handler
 * (net/zap.c) that admits exactly the `peer` keys of its keys file and
 * records the keys it refuses; a received frame carries the sender's public
 * key. Without keys a server must be opened with `open` set (NULL security,
 * the coordinator's explicit --open).
 *
 * Link shaping (client only): per direction a rate in bytes/s and a latency
 * in seconds, 0 = unlimited. An upload frame is handed to the socket when a
 * link of that rate would have finished sending it, plus the latency; a
 * downloaded frame is held until a link of that rate would have delivered
 * it, plus the latency. There is no thread: queued frames move whenever the
 * client is called (send, recv, flush, status), so a peer replays a 10
 * Mbit/s home uplink on a laptop. Times start when the transport sees the
 * frame: a caller that does not call the client for a while delays frames
 * by that much too.
 *
 * Timeouts are in milliseconds: -1 waits forever, 0 does not wait. A recv
 * that times out (or is interrupted by a signal, so Ctrl-C handlers run)
 * returns DT_OK with *arrived = false; errors are statuses.
 *
 * Delivery: frames on one connection arrive in order, whole, once. Across a
 * reconnect nothing is promised: frames queued on a connection that drops
 * are lost (ZMQ_IMMEDIATE keeps new ones from queueing while it is down).
 * A peer notices a new connection by net_client_status().connects growing
 * and starts over with HELLO; the server sees a new routing id.
 *
 * A server or client is used from one thread at a time (ZeroMQ sockets are
 * not thread-safe); the server's ZAP thread shares only its own lock.
 *
 * Bytes are counted as message frames (header included; ZMTP, CURVE and TCP
 * overhead excluded): totals on both sides, and per routing id on the
 * server, for per-peer per-step accounting (take differences between
 * steps). */
#ifndef DISTRO_NET_TRANSPORT_H
#define DISTRO_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"
#include "net/keys.h"

#define NET_HEARTBEAT_MS  2000 /* ping interval; a link silent for 3x this is dropped */
#define NET_ROUTE_MAX     255  /* ZeroMQ routing ids are 1..255 bytes */
#define NET_ADDRESS_MAX   64
#define NET_REFUSALS_KEPT 8
#define NET_SEND_QUEUE    64 /* frames the server queues per connection (ZMQ_SNDHWM) */

/* A peer connection as the server's ROUTER names it. A peer that reconnects
 * gets a new routing id. */
typedef struct net_route {
    uint8_t len;
    uint8_t id[NET_ROUTE_MAX];
} net_route;

bool net_route_equal(const net_route *a, const net_route *b);
/* Hex text of the id ("0080000001"), for logs; out has 2*len+1 bytes. */
void net_route_format(const net_route *r, char *out, size_t cap);

/* One received message. `data` stays valid until the next recv (or close)
 * on the same server or client: copy what must outlive it. */
typedef struct net_frame {
    const uint8_t *data;
    size_t len;
    /* Server only: */
    net_route from;
    char peer_key[NET_KEY_Z85 + 1]; /* sender's CURVE public key; "" when open */
    char address[NET_ADDRESS_MAX];  /* sender's IP address, when libzmq knows it */
} net_frame;

typedef struct net_counters {
    uint64_t bytes_sent, bytes_received;
    uint64_t frames_sent, frames_received;
} net_counters;

typedef struct net_link_shape {
    double up_bytes_per_s, up_latency_s;     /* client -> server */
    double down_bytes_per_s, down_latency_s; /* server -> client */
} net_link_shape;

/* ---- server (coordinator) ------------------------------------------------ */

typedef struct net_server net_server;

typedef struct net_server_config {
    /* "tcp://HOST:PORT", HOST "*" for every interface; PORT 0 or "*" picks
     * a free port (see net_server_endpoint). */
    const char *endpoint;
    const net_keys *keys; /* own keypair + allow-list (CURVE); NULL only with open */
    bool open;            /* NULL security: anyone may connect */
    int heartbeat_ms;     /* 0: NET_HEARTBEAT_MS */
} net_server_config;

typedef struct net_refusal {
    char key[NET_KEY_Z85 + 1];     /* refused public key ("" if none was offered) */
    char address[NET_ADDRESS_MAX]; /* where it came from */
    uint64_t count;                /* refusals of this key so far */
} net_refusal;

/* Binds the ROUTER (after starting the ZAP handler, so no connection is ever
 * accepted unchecked). DT_ERR_IO names the endpoint when the bind fails. */
dt_status net_server_open(const net_server_config *cfg, net_server **out);
/* Closes the socket, stops and joins the ZAP thread, terminates the
 * context. Never blocks on peers. NULL is fine. */
void net_server_close(net_server *s);

/* The endpoint actually bound ("tcp://0.0.0.0:41234") and its port. */
const char *net_server_endpoint(const net_server *s);
int net_server_port(const net_server *s);

dt_status net_server_recv(net_server *s, int timeout_ms, net_frame *out, bool *arrived);
/* DT_ERR_NOT_FOUND: no connection with that routing id (the peer is gone);
 * DT_ERR_UNAVAILABLE: that connection's queue (NET_SEND_QUEUE frames) is
 * still full after timeout_ms (0: do not wait); DT_ERR_IO: failed. */
dt_status net_server_send(net_server *s, const net_route *to, const void *data, size_t len,
                          int timeout_ms);

net_counters net_server_totals(const net_server *s);
/* Counters of one routing id; false if it never sent or received. The
 * server remembers the most recently active 4 * NET_MAX_PEERS ids. */
bool net_server_peer_counters(const net_server *s, const net_route *r, net_counters *out);
void net_server_forget(net_server *s, const net_route *r);

/* Refused CURVE keys: returns how many refusals there were in all; out
 * (up to max, most recent first) gets the last NET_REFUSALS_KEPT distinct
 * keys. Safe to call any time (the ZAP thread records under a lock). */
uint64_t net_server_refusals(net_server *s, net_refusal *out, int max, int *n_out);
/* Routing ids whose connection closed since the last call (each reported
 * once), up to max into out; returns how many. Closes are learnt during
 * net_server_recv; once a recv has returned nothing, every frame such a
 * connection sent before closing has been received. */
int net_server_closed(net_server *s, net_route *out, int max);
/* Messages dropped because they had more than one frame. */
uint64_t net_server_dropped(const net_server *s);

/* ---- client (peer) ------------------------------------------------------- */

typedef struct net_client net_client;

typedef struct net_client_config {
    const char *endpoint;   /* "tcp://host:port" ("host:port" is taken as tcp) */
    const net_keys *keys;   /* own keypair (CURVE); NULL: NULL security */
    const char *server_key; /* the coordinator's public key, Z85; required with keys */
    net_link_shape shape;   /* all 0: no shaping */
    int heartbeat_ms;       /* 0: NET_HEARTBEAT_MS */
} net_client_config;

typedef struct net_client_state {
    bool connected;              /* a handshake succeeded and the link has not dropped since */
    uint64_t connects;           /* successful handshakes; it grows on every reconnect */
    uint64_t handshake_failures; /* attempts that ended before or in the handshake */
    char last_failure[256];      /* why the last one failed, for the user */
    uint64_t dropped;            /* received messages of more than one frame, dropped */
} net_client_state;

/* Starts connecting (in the background; the first send waits for it).
 * A tcp address is checked first: DT_ERR_INVALID for a missing host or a
 * port that is not 1..65535, DT_ERR_NOT_FOUND for a host name that does not
 * exist. Later failures land in net_client_state.last_failure: nothing
 * listening, the key refused (ZAP), a wrong server key, a security
 * mismatch, a name that does not resolve yet. */
dt_status net_client_open(const net_client_config *cfg, net_client **out);
void net_client_close(net_client *c);

/* Without upload shaping: waits up to timeout_ms for a connection that can
 * take the frame (DT_ERR_IO on timeout, naming the last handshake failure
 * if there was one). With shaping the frame is queued (copied) and leaves
 * at its release time during later calls; timeout_ms is not used. */
dt_status net_client_send(net_client *c, const void *data, size_t len, int timeout_ms);
dt_status net_client_recv(net_client *c, int timeout_ms, net_frame *out, bool *arrived);
/* Waits until every shaped upload frame has been handed to the socket;
 * DT_ERR_IO if some are still queued after timeout_ms. */
dt_status net_client_flush(net_client *c, int timeout_ms);
size_t net_client_pending(const net_client *c); /* shaped upload frames not yet sent */

net_counters net_client_totals(const net_client *c);
/* Connection events are read (and queued frames moved) first. */
net_client_state net_client_status(net_client *c);

#endif
