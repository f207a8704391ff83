/* The coordinator's side of the transport: one ROUTER (see transport.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "net/transport_internal.h"
#include "net/zap.h"

/* Per-routing-id counters. A reconnecting peer gets a new id, so the table
 * is bounded: when full, the least recently active entry makes room. */
#define ROUTE_TABLE_MAX (4 * NET_MAX_PEERS)

typedef struct route_entry {
    net_route route;
    net_counters c;
    uint64_t last_active; /* value of the server's activity clock */
    int fd;               /* the connection's socket (ZMQ_SRCFD), -1: unknown or closed */
    bool closed;          /* the monitor saw that socket close */
    bool closed_told;     /* net_server_closed() has reported it */
} route_entry;

struct net_server {
    void *ctx, *router;
    void *monitor; /* PAIR receiving the ROUTER's disconnect events */
    net_zap *zap;  /* NULL on an open server */
    char endpoint[256];
    int port;

    zmq_msg_t last; /* the frame handed out by the last recv */
    bool has_last;

    net_counters totals;
    route_entry *routes;
    int n_routes;
    uint64_t activity;
    uint64_t dropped;
};

static route_entry *route_find(const net_server *s, const net_route *r) {
    for (int i = 0; i < s->n_routes; i++)
        if (net_route_equal(&s->routes[i].route, r)) return &s->routes[i];
    return NULL;
}

static route_entry *route_touch(net_server *s, const net_route *r) {
    route_entry *e = route_find(s, r);
    if (!e) {
        if (s->n_routes < ROUTE_TABLE_MAX) {
            e = &s->routes[s->n_routes++];
        } else {
            /* a closed connection first, else the least recently active */
            e = &s->routes[0];
            for (int i = 1; i < s->n_routes; i++) {
                const route_entry *x = &s->routes[i];
                if (x->closed != e->closed ? x->closed : x->last_active < e->last_active)
                    e = &s->routes[i];
            }
        }
        memset(e, 0, sizeof *e);
        e->route = *r;
        e->fd = -1;
    }
    e->last_active = ++s->activity;
    return e;
}

static int parse_port(const char *endpoint) {
    const char *colon = strrchr(endpoint, ':');
    if (!colon) return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return (*end == '\0' && port > 0 && port < 65536) ? (int)port : -1;
}

/* Disconnects: the ROUTER reports closed connections only on its monitor,
 * by socket descriptor, so each received frame's descriptor (ZMQ_SRCFD) is
 * kept with its routing id. A descriptor is reused after a close, but the
 * I/O thread emits the event before it closes the socket, and the monitor
 * is drained before every read of the ROUTER: a new connection's first
 * frame is never read before the old connection's close is seen. */
static void drain_parts(void *sock);

static dt_status setup_monitor(net_server *s) {
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://distro-monitor-%p", (void *)s);
    if (zmq_socket_monitor(s->router, addr, ZMQ_EVENT_DISCONNECTED) != 0)
        return net_zmq_fail("server: socket monitor");
    if (!(s->monitor = zmq_socket(s->ctx, ZMQ_PAIR)) || zmq_connect(s->monitor, addr) != 0)
        return net_zmq_fail("server: monitor socket");
    int zero = 0;
    zmq_setsockopt(s->monitor, ZMQ_LINGER, &zero, sizeof zero);
    return DT_OK;
}

static void mark_closed(net_server *s, int fd) {
    for (int i = 0; i < s->n_routes; i++)
        if (s->routes[i].fd == fd) {
            s->routes[i].fd = -1;
            s->routes[i].closed = true;
        }
}

/* Reads every pending monitor event (two frames: u16 event + i32 value,
 * then the endpoint). */
static void drain_monitor(net_server *s) {
    for (;;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        int32_t value = -1;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) drain_parts(s->monitor);
        if (event == ZMQ_EVENT_DISCONNECTED) mark_closed(s, value);
    }
}

static dt_status setup_security(net_server *s, const net_server_config *cfg) {
    if (cfg->open) return DT_OK;
    uint8_t secret[NET_KEY_BYTES], public[NET_KEY_BYTES];
    if (net_key_decode(cfg->keys->secret_key, secret) != DT_OK ||
        net_key_decode(cfg->keys->public_key, public) != DT_OK)
        return dt_error_wrap(DT_ERR_INVALID, "server keys: ");
    if (!zmq_has("curve"))
        return dt_error(DT_ERR_UNSUPPORTED, "this libzmq has no CURVE; use --open or a libzmq "
                                            "built with libsodium");
    dt_status st = net_zap_start(s->ctx, cfg->keys, &s->zap);
    if (st != DT_OK) return st;
    int one = 1;
    if (zmq_setsockopt(s->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(s->router, ZMQ_CURVE_SECRETKEY, secret, sizeof secret) != 0 ||
        zmq_setsockopt(s->router, ZMQ_CURVE_PUBLICKEY, public, sizeof public) != 0 ||
        zmq_setsockopt(s->router, ZMQ_ZAP_DOMAIN, "distro", 6) != 0)
        return net_zmq_fail("server: CURVE options");
    return DT_OK;
}

dt_status net_server_open(const net_server_config *cfg, net_server **out) {
    *out = NULL;
    if (!cfg || !cfg->endpoint) return dt_error(DT_ERR_INVALID, "server: no endpoint");
    if (cfg->open && cfg->keys)
        return dt_error(DT_ERR_INVALID, "server: keys and open are exclusive");
    if (!cfg->open && (!cfg->keys || !cfg->keys->has_keypair))
        return dt_error(DT_ERR_INVALID, "server: no keypair; an unauthenticated server must be "
                                        "asked for explicitly (--open)");
    net_server *s = calloc(1, sizeof *s);
    if (s) s->routes = calloc(ROUTE_TABLE_MAX, sizeof *s->routes);
    if (!s || !s->routes) {
        free(s);
        return dt_error(DT_ERR_OOM, "server: out of memory");
    }
    zmq_msg_init(&s->last);
    dt_status st = DT_OK;
    s->ctx = zmq_ctx_new();
    if (!s->ctx) st = net_zmq_fail("server: zmq_ctx_new");
    if (st == DT_OK && !(s->router = zmq_socket(s->ctx, ZMQ_ROUTER)))
        st = net_zmq_fail("server: zmq_socket");
    int one = 1;
    if (st == DT_OK) st = net_socket_common(s->router, cfg->heartbeat_ms, "server");
    if (st == DT_OK && zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0)
        st = net_zmq_fail("server: ZMQ_ROUTER_MANDATORY");
    /* A peer that does not read cannot make the coordinator queue without
     * bound: its pipe holds NET_SEND_QUEUE frames, then sends to it fail
     * at once (the caller decides what that means for the peer). */
    int hwm = NET_SEND_QUEUE;
    if (st == DT_OK && zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0)
        st = net_zmq_fail("server: ZMQ_SNDHWM");
    if (st == DT_OK) st = setup_monitor(s);
    /* The ZAP handler must be bound before the ROUTER is: libzmq lets CURVE
     * clients in unchecked when no handler is there. */
    if (st == DT_OK) st = setup_security(s, cfg);
    if (st == DT_OK && zmq_bind(s->router, cfg->endpoint) != 0)
        st = dt_error(DT_ERR_IO, "server: cannot listen on %s: %s", cfg->endpoint,
                      zmq_strerror(zmq_errno()));
    size_t len = sizeof s->endpoint;
    if (st == DT_OK && zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len) != 0)
        st = net_zmq_fail("server: ZMQ_LAST_ENDPOINT");
    if (st != DT_OK) {
        net_server_close(s);
        return st;
    }
    s->port = parse_port(s->endpoint);
    *out = s;
    return DT_OK;
}

void net_server_close(net_server *s) {
    if (!s) return;
    zmq_msg_close(&s->last);
    if (s->monitor) zmq_close(s->monitor);
    if (s->router) zmq_close(s->router);
    if (s->ctx) {
        /* Shutdown makes the ZAP thread's blocking recv return ETERM; it
         * closes its socket and exits, and only then can term finish. */
        zmq_ctx_shutdown(s->ctx);
        net_zap_join(s->zap);
        while (zmq_ctx_term(s->ctx) != 0 && zmq_errno() == EINTR) {
        }
    }
    free(s->routes);
    free(s);
}

const char *net_server_endpoint(const net_server *s) {
    return s->endpoint;
}

int net_server_port(const net_server *s) {
    return s->port;
}

/* Receives the rest of a message that had more frames than it should. */
static void drain_parts(void *sock) {
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
}

static void copy_property(zmq_msg_t *m, const char *name, char *out, size_t cap) {
    const char *v = zmq_msg_gets(m, name);
    snprintf(out, cap, "%s", v ? v : "");
}

dt_status net_server_recv(net_server *s, int timeout_ms, net_frame *out, bool *arrived) {
    *arrived = false;
    memset(out, 0, sizeof *out);
    zmq_msg_close(&s->last);
    zmq_msg_init(&s->last);
    double deadline = net_deadline(timeout_ms);
    for (;;) {
        zmq_pollitem_t items[2] = {{s->router, 0, ZMQ_POLLIN, 0}, {s->monitor, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, net_remaining_ms(deadline));
        if (rc < 0) {
            if (zmq_errno() == EINTR) return DT_OK; /* let the caller see its signal flag */
            return net_zmq_fail("server: poll");
        }
        drain_monitor(s); /* before the ROUTER: see the comment at setup_monitor */
        if (rc == 0) return DT_OK;
        if (!items[0].revents) continue; /* only a close: net_server_closed() reports it */

        zmq_msg_t id;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) continue;
            return net_zmq_fail("server: recv");
        }
        bool more = zmq_msg_more(&id);
        size_t id_len = zmq_msg_size(&id);
        if (id_len >= 1 && id_len <= NET_ROUTE_MAX) {
            out->from.len = (uint8_t)id_len;
            memcpy(out->from.id, zmq_msg_data(&id), id_len);
        }
        zmq_msg_close(&id);
        if (!more) continue; /* an empty message: nothing to deliver */
        if (zmq_msg_recv(&s->last, s->router, ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) continue;
            return net_zmq_fail("server: recv");
        }
        if (zmq_msg_more(&s->last)) { /* one frame per message: refuse the rest */
            drain_parts(s->router);
            s->dropped++;
            continue;
        }
        out->data = zmq_msg_data(&s->last);
        out->len = zmq_msg_size(&s->last);
        copy_property(&s->last, "User-Id", out->peer_key, sizeof out->peer_key);
        copy_property(&s->last, "Peer-Address", out->address, sizeof out->address);
        route_entry *e = route_touch(s, &out->from);
        int fd = zmq_msg_get(&s->last, ZMQ_SRCFD);
        if (fd >= 0 && !e->closed) e->fd = fd;
        e->c.bytes_received += out->len;
        e->c.frames_received++;
        s->totals.bytes_received += out->len;
        s->totals.frames_received++;
        *arrived = true;
        return DT_OK;
    }
}

dt_status net_server_send(net_server *s, const net_route *to, const void *data, size_t len,
                          int timeout_ms) {
    if (len > NET_MAX_FRAME)
        return dt_error(DT_ERR_INVALID, "server: frame of %zu bytes exceeds NET_MAX_FRAME %u", len,
                        (unsigned)NET_MAX_FRAME);
    if (to->len == 0) return dt_error(DT_ERR_INVALID, "server: send to an empty routing id");
    int t = timeout_ms < 0 ? -1 : timeout_ms;
    if (zmq_setsockopt(s->router, ZMQ_SNDTIMEO, &t, sizeof t) != 0)
        return net_zmq_fail("server: ZMQ_SNDTIMEO");
    char rid[2 * NET_ROUTE_MAX + 1];
    /* With ROUTER_MANDATORY the routing frame fails with EHOSTUNREACH when
     * no such connection exists, and waits (up to the timeout) while that
     * peer's queue is full, instead of dropping the message. */
    int rc;
    while ((rc = zmq_send(s->router, to->id, to->len, ZMQ_SNDMORE)) < 0 && zmq_errno() == EINTR) {
    }
    if (rc >= 0)
        while ((rc = zmq_send(s->router, data, len, 0)) < 0 && zmq_errno() == EINTR) {
        }
    if (rc < 0) {
        int err = zmq_errno();
        net_route_format(to, rid, sizeof rid);
        if (err == EHOSTUNREACH)
            return dt_error(DT_ERR_NOT_FOUND, "server: peer %s is not connected", rid);
        if (err == EAGAIN)
            return dt_error(DT_ERR_UNAVAILABLE,
                            "server: the send queue of %s stayed full for %d ms (it does not read)",
                            rid, timeout_ms);
        return dt_error(DT_ERR_IO, "server: send to %s: %s", rid, zmq_strerror(err));
    }
    route_entry *e = route_touch(s, to);
    e->c.bytes_sent += len;
    e->c.frames_sent++;
    s->totals.bytes_sent += len;
    s->totals.frames_sent++;
    return DT_OK;
}

net_counters net_server_totals(const net_server *s) {
    return s->totals;
}

bool net_server_peer_counters(const net_server *s, const net_route *r, net_counters *out) {
    const route_entry *e = route_find(s, r);
    if (!e) {
        memset(out, 0, sizeof *out);
        return false;
    }
    *out = e->c;
    return true;
}

void net_server_forget(net_server *s, const net_route *r) {
    route_entry *e = route_find(s, r);
    if (!e) return;
    *e = s->routes[--s->n_routes];
}

uint64_t net_server_refusals(net_server *s, net_refusal *out, int max, int *n_out) {
    if (!s->zap) {
        if (n_out) *n_out = 0;
        return 0;
    }
    return net_zap_refusals(s->zap, out, max, n_out);
}

int net_server_closed(net_server *s, net_route *out, int max) {
    int n = 0;
    for (int i = 0; i < s->n_routes && n < max; i++) {
        route_entry *e = &s->routes[i];
        if (!e->closed || e->closed_told) continue;
        e->closed_told = true;
        out[n++] = e->route;
    }
    return n;
}

uint64_t net_server_dropped(const net_server *s) {
    return s->dropped;
}
