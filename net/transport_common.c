/* Socket options, clocks and small helpers shared by server and client. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "net/transport_internal.h"

double net_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long net_poll_ms(double seconds, long limit_ms) {
    if (!(seconds > 0)) return 0;
    double ms = ceil(seconds * 1000.0);
    return ms > (double)limit_ms ? limit_ms : (long)ms;
}

long net_remaining_ms(double deadline) {
    if (isinf(deadline)) return -1;
    return net_poll_ms(deadline - net_now(), 24L * 3600 * 1000);
}

double net_deadline(int timeout_ms) {
    if (timeout_ms < 0) return INFINITY;
    return net_now() + 1e-3 * timeout_ms;
}

dt_status net_zmq_fail(const char *what) {
    return dt_error(DT_ERR_IO, "%s: %s", what, zmq_strerror(zmq_errno()));
}

bool net_route_equal(const net_route *a, const net_route *b) {
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

void net_route_format(const net_route *r, char *out, size_t cap) {
    if (!cap) return;
    out[0] = '\0';
    size_t at = 0;
    for (int i = 0; i < r->len && at + 3 <= cap; i++, at += 2)
        snprintf(out + at, cap - at, "%02x", r->id[i]);
}

static dt_status set_int(void *sock, int option, int value, const char *who, const char *name) {
    if (zmq_setsockopt(sock, option, &value, sizeof value) != 0)
        return dt_error(DT_ERR_IO, "%s: setting %s = %d: %s", who, name, value,
                        zmq_strerror(zmq_errno()));
    return DT_OK;
}

dt_status net_socket_common(void *sock, int heartbeat_ms, const char *who) {
    if (heartbeat_ms <= 0) heartbeat_ms = NET_HEARTBEAT_MS;
    int64_t max_frame = (int64_t)NET_MAX_FRAME;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame) != 0)
        return dt_error(DT_ERR_IO, "%s: setting ZMQ_MAXMSGSIZE: %s", who,
                        zmq_strerror(zmq_errno()));
    /* The remote side drops the link after TTL without traffic from us, we
     * drop it after TIMEOUT without a reply to a ping. Three intervals
     * tolerates a slow link that delays a ping behind a large frame. */
    dt_status st = set_int(sock, ZMQ_HEARTBEAT_IVL, heartbeat_ms, who, "ZMQ_HEARTBEAT_IVL");
    if (st == DT_OK)
        st = set_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 3 * heartbeat_ms, who, "ZMQ_HEARTBEAT_TIMEOUT");
    if (st == DT_OK)
        st = set_int(sock, ZMQ_HEARTBEAT_TTL, 3 * heartbeat_ms, who, "ZMQ_HEARTBEAT_TTL");
    if (st == DT_OK) st = set_int(sock, ZMQ_LINGER, 0, who, "ZMQ_LINGER");
    return st;
}

dt_status net_endpoint_normalize(const char *in, char *out, size_t cap) {
    if (!in || !in[0]) return dt_error(DT_ERR_INVALID, "endpoint is empty");
    int n = strstr(in, "://") ? snprintf(out, cap, "%s", in) : snprintf(out, cap, "tcp://%s", in);
    if (n < 0 || (size_t)n >= cap)
        return dt_error(DT_ERR_INVALID, "endpoint '%.60s...' is too long", in);
    return DT_OK;
}
