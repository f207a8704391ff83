/* Pieces the server and client share; not part of the public API. */
#ifndef DISTRO_NET_TRANSPORT_INTERNAL_H
#define DISTRO_NET_TRANSPORT_INTERNAL_H

#include <stddef.h>

#include "net/transport.h"

/* Monotonic seconds. */
double net_now(void);

/* Milliseconds for zmq_poll from a span in seconds, rounded up so a poll
 * never wakes just before a due time; clamped to [0, limit_ms]. */
long net_poll_ms(double seconds, long limit_ms);

/* Remaining milliseconds until deadline (seconds, INFINITY: forever) for
 * zmq_poll: -1 for forever, else >= 0. */
long net_remaining_ms(double deadline);

/* deadline in net_now() seconds for a timeout in ms (-1: INFINITY). */
double net_deadline(int timeout_ms);

/* DT_ERR_IO "<what>: <zmq error text>". */
dt_status net_zmq_fail(const char *what);

/* Options every socket gets: MAXMSGSIZE, heartbeats, LINGER 0. */
dt_status net_socket_common(void *sock, int heartbeat_ms, const char *who);

/* "host:port" becomes "tcp://host:port"; anything with "://" is kept. */
dt_status net_endpoint_normalize(const char *in, char *out, size_t cap);

#endif
