/* The peer's side of the transport: one DEALER, optional link shaping, and
 * a socket monitor that tells the peer whether (and why not) it is
 * connected (see transport.h). No threads: the monitor and the shaping
 * queues are serviced from every call. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "net/link_shaper.h"
#include "net/transport_internal.h"

#define MONITOR_ENDPOINT "inproc://distro-client-monitor" /* one client per context */
#define RECONNECT_MS     100
#define RECONNECT_MAX_MS 2000

/* Where the current connection attempt is, from the monitor's events. */
typedef enum link_phase { PHASE_DOWN, PHASE_HANDSHAKE, PHASE_UP } link_phase;

struct net_client {
    void *ctx, *dealer, *monitor;
    char endpoint[256];
    net_link_shaper up, down;
    zmq_msg_t last; /* the frame handed out by the last recv */
    net_counters totals;
    link_phase phase;
    bool reached;    /* the current attempt got a TCP connection (CONNECTED seen) */
    bool unresolved; /* the host name did not resolve at open (a temporary failure) */
    net_client_state state;
};

/* ---- connection events ----------------------------------------------------- */

/* Records why a connection attempt failed; `detail` may be NULL. */
static void note_failure(net_client *c, const char *why, const char *detail) {
    c->state.handshake_failures++;
    snprintf(c->state.last_failure, sizeof c->state.last_failure, "%s%s%s", why, detail ? " " : "",
             detail ? detail : "");
}

static void on_event(net_client *c, unsigned event, unsigned value) {
    char detail[48];
    switch (event) {
    case ZMQ_EVENT_CONNECTED:
        c->phase = PHASE_HANDSHAKE;
        c->reached = true;
        c->unresolved = false;
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        /* libzmq retries after every failed or dropped connection; only an
         * attempt that never got a TCP connection means nobody answered. */
        if (!c->reached && c->unresolved)
            note_failure(c, "the coordinator's host name does not resolve (DNS failure?)", NULL);
        else if (!c->reached)
            note_failure(c,
                         "nothing is listening there (connection refused, or the host is "
                         "unreachable); is the coordinator running, on that port?",
                         NULL);
        c->reached = false;
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        c->phase = PHASE_UP;
        c->state.connected = true;
        c->state.connects++;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        c->phase = PHASE_DOWN;
        snprintf(detail, sizeof detail, "(ZAP status %u)", value);
        note_failure(c, "the coordinator refused this peer's key", detail);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        c->phase = PHASE_DOWN;
        snprintf(detail, sizeof detail, "(protocol error 0x%x)", value);
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            note_failure(c, "the CURVE handshake failed: wrong server key (--server-key)?", detail);
        else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            note_failure(c, "security mismatch: one side uses CURVE, the other is open", detail);
        else
            note_failure(c, "the handshake failed", detail);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        c->phase = PHASE_DOWN;
        snprintf(detail, sizeof detail, "(%s)", strerror((int)value));
        /* A CURVE server that cannot open our HELLO (we hold the wrong
         * server key) closes the connection without a word. */
        if (value == EPIPE || value == ECONNRESET)
            note_failure(c,
                         "the coordinator closed the connection during the handshake: wrong server "
                         "key (--server-key), or its security differs",
                         detail);
        else
            note_failure(c, "the handshake failed", detail);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        /* A drop mid-handshake that libzmq did not report as a failure. */
        if (c->phase == PHASE_HANDSHAKE)
            note_failure(c,
                         "the connection closed during the handshake (wrong server key, or "
                         "the coordinator's security differs)",
                         NULL);
        c->phase = PHASE_DOWN;
        c->state.connected = false;
        break;
    default:
        break;
    }
}

/* Reads every pending monitor event: frame 1 is u16 event + u32 value in
 * host order, frame 2 the endpoint. */
static void read_monitor(net_client *c) {
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        bool more = zmq_msg_more(&m);
        if (zmq_msg_size(&m) == 6) {
            const uint8_t *d = zmq_msg_data(&m);
            uint16_t event;
            uint32_t value;
            memcpy(&event, d, 2);
            memcpy(&value, d + 2, 4);
            on_event(c, event, value);
        }
        zmq_msg_close(&m);
        while (more) {
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) < 0)
                more = false;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
}

/* ---- open / close -------------------------------------------------------- */

/* A typo in a tcp address fails now, not after a timeout: libzmq would
 * retry an unknown host name for ever, and takes a port above 65535 modulo
 * 2^16. A name that fails to resolve only for now (no DNS yet) is retried
 * like a coordinator that is not up yet. Other transports (ipc://) are left
 * to zmq_connect. */
static dt_status check_address(net_client *c) {
    const char *e = c->endpoint;
    if (strncmp(e, "tcp://", 6) != 0) return DT_OK;
    const char *host = e + 6, *semi = strrchr(host, ';'); /* "tcp://source;host:port" */
    if (semi) host = semi + 1;
    const char *colon = strrchr(host, ':');
    if (!colon) return dt_error(DT_ERR_INVALID, "address %s has no port (want host:port)", e);
    char *end = NULL;
    unsigned long port = isdigit((unsigned char)colon[1]) ? strtoul(colon + 1, &end, 10) : 0;
    if (!end || *end || port < 1 || port > 65535)
        return dt_error(DT_ERR_INVALID, "address %s: bad port '%s' (want a number 1..65535)", e,
                        colon + 1);
    char name[256];
    size_t len = (size_t)(colon - host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') host++, len -= 2; /* [::1]:7070 */
    if (len == 0 || len >= sizeof name || (len == 1 && host[0] == '*'))
        return dt_error(DT_ERR_INVALID, "address %s: no host to connect to", e);
    memcpy(name, host, len);
    name[len] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (res) freeaddrinfo(res);
    bool unknown = rc == EAI_NONAME || rc == EAI_FAIL;
#ifdef EAI_NODATA
    unknown |= rc == EAI_NODATA;
#endif
    if (unknown)
        return dt_error(DT_ERR_NOT_FOUND, "address %s: unknown host '%s' (%s)", e, name,
                        gai_strerror(rc));
    if (rc != 0) {
        c->unresolved = true;
        note_failure(c, "the coordinator's host name does not resolve", gai_strerror(rc));
    }
    return DT_OK;
}

static dt_status set_int(void *sock, int option, int value, const char *name) {
    if (zmq_setsockopt(sock, option, &value, sizeof value) != 0)
        return dt_error(DT_ERR_IO, "client: setting %s: %s", name, zmq_strerror(zmq_errno()));
    return DT_OK;
}

static dt_status setup_security(net_client *c, const net_client_config *cfg) {
    if (!cfg->keys) {
        if (cfg->server_key && cfg->server_key[0])
            return dt_error(DT_ERR_INVALID,
                            "client: a server key needs this peer's own keypair (--keys)");
        return DT_OK;
    }
    if (!cfg->keys->has_keypair)
        return dt_error(DT_ERR_INVALID, "client: the keys file has no public/secret keypair");
    if (!cfg->server_key || !cfg->server_key[0])
        return dt_error(DT_ERR_INVALID, "client: CURVE needs the coordinator's public key");
    uint8_t server[NET_KEY_BYTES], public[NET_KEY_BYTES], secret[NET_KEY_BYTES];
    if (net_key_decode(cfg->server_key, server) != DT_OK)
        return dt_error_wrap(DT_ERR_INVALID, "client: server key: ");
    if (net_key_decode(cfg->keys->public_key, public) != DT_OK ||
        net_key_decode(cfg->keys->secret_key, secret) != DT_OK)
        return dt_error_wrap(DT_ERR_INVALID, "client: own keys: ");
    if (!zmq_has("curve")) return dt_error(DT_ERR_UNSUPPORTED, "client: this libzmq has no CURVE");
    if (zmq_setsockopt(c->dealer, ZMQ_CURVE_SERVERKEY, server, sizeof server) != 0 ||
        zmq_setsockopt(c->dealer, ZMQ_CURVE_PUBLICKEY, public, sizeof public) != 0 ||
        zmq_setsockopt(c->dealer, ZMQ_CURVE_SECRETKEY, secret, sizeof secret) != 0)
        return net_zmq_fail("client: CURVE options");
    return DT_OK;
}

dt_status net_client_open(const net_client_config *cfg, net_client **out) {
    *out = NULL;
    if (!cfg) return dt_error(DT_ERR_INVALID, "client: no configuration");
    net_client *c = calloc(1, sizeof *c);
    if (!c) return dt_error(DT_ERR_OOM, "client: out of memory");
    zmq_msg_init(&c->last);
    net_shaper_init(&c->up, cfg->shape.up_bytes_per_s, cfg->shape.up_latency_s);
    net_shaper_init(&c->down, cfg->shape.down_bytes_per_s, cfg->shape.down_latency_s);
    dt_status st = net_endpoint_normalize(cfg->endpoint, c->endpoint, sizeof c->endpoint);
    if (st == DT_OK) st = check_address(c);
    if (st == DT_OK && !(c->ctx = zmq_ctx_new())) st = net_zmq_fail("client: zmq_ctx_new");
    if (st == DT_OK && !(c->dealer = zmq_socket(c->ctx, ZMQ_DEALER)))
        st = net_zmq_fail("client: zmq_socket");
    if (st == DT_OK) st = net_socket_common(c->dealer, cfg->heartbeat_ms, "client");
    if (st == DT_OK) st = set_int(c->dealer, ZMQ_RECONNECT_IVL, RECONNECT_MS, "ZMQ_RECONNECT_IVL");
    if (st == DT_OK)
        st = set_int(c->dealer, ZMQ_RECONNECT_IVL_MAX, RECONNECT_MAX_MS, "ZMQ_RECONNECT_IVL_MAX");
    if (st == DT_OK) st = set_int(c->dealer, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE");
    if (st == DT_OK) st = setup_security(c, cfg);
    /* The monitor is attached before connecting so no event is missed. */
    const int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (st == DT_OK && zmq_socket_monitor(c->dealer, MONITOR_ENDPOINT, events) != 0)
        st = net_zmq_fail("client: zmq_socket_monitor");
    if (st == DT_OK && !(c->monitor = zmq_socket(c->ctx, ZMQ_PAIR)))
        st = net_zmq_fail("client: monitor socket");
    if (st == DT_OK) st = set_int(c->monitor, ZMQ_LINGER, 0, "ZMQ_LINGER");
    if (st == DT_OK && zmq_connect(c->monitor, MONITOR_ENDPOINT) != 0)
        st = net_zmq_fail("client: connecting the monitor");
    if (st == DT_OK && zmq_connect(c->dealer, c->endpoint) != 0)
        st = dt_error(DT_ERR_IO, "client: cannot connect to %s: %s", c->endpoint,
                      zmq_strerror(zmq_errno()));
    if (st != DT_OK) {
        net_client_close(c);
        return st;
    }
    *out = c;
    return DT_OK;
}

void net_client_close(net_client *c) {
    if (!c) return;
    zmq_msg_close(&c->last);
    net_shaper_free(&c->up);
    net_shaper_free(&c->down);
    if (c->dealer) zmq_socket_monitor(c->dealer, NULL, 0);
    if (c->monitor) zmq_close(c->monitor);
    if (c->dealer) zmq_close(c->dealer);
    if (c->ctx)
        while (zmq_ctx_term(c->ctx) != 0 && zmq_errno() == EINTR) {
        }
    free(c);
}

/* ---- moving frames ------------------------------------------------------- */

/* Hands every due upload frame to the socket, in order; stops at the first
 * the socket cannot take yet (not connected), which keeps its place. */
static dt_status pump_up(net_client *c, double now) {
    net_shaped_frame *f;
    while ((f = net_shaper_due(&c->up, now))) {
        size_t len = f->len;
        if (zmq_msg_send(&f->msg, c->dealer, ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) return DT_OK;
            return net_zmq_fail("client: send");
        }
        net_shaper_pop(&c->up, NULL);
        c->totals.bytes_sent += len;
        c->totals.frames_sent++;
    }
    return DT_OK;
}

/* Receives one single-frame message into *m without waiting. 1: got one,
 * 0: none, -1: error. Multi-frame messages are dropped. */
static int take_one(net_client *c, zmq_msg_t *m) {
    for (;;) {
        if (zmq_msg_recv(m, c->dealer, ZMQ_DONTWAIT) < 0) {
            int err = zmq_errno();
            return (err == EAGAIN || err == EINTR) ? 0 : -1;
        }
        if (!zmq_msg_more(m)) return 1;
        int more = 1;
        while (more) {
            if (zmq_msg_recv(m, c->dealer, ZMQ_DONTWAIT) < 0) break;
            more = zmq_msg_more(m);
        }
        c->state.dropped++;
    }
}

/* Moves arrived frames into the download queue, stamped now. */
static dt_status pump_down(net_client *c, double now) {
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int got = take_one(c, &m);
        if (got <= 0) {
            zmq_msg_close(&m);
            return got < 0 ? net_zmq_fail("client: recv") : DT_OK;
        }
        dt_status st = net_shaper_push(&c->down, &m, now);
        zmq_msg_close(&m);
        if (st != DT_OK) return st;
    }
}

static dt_status pump(net_client *c) {
    read_monitor(c);
    double now = net_now();
    dt_status st = pump_up(c, now);
    if (st == DT_OK && net_shaper_active(&c->down)) st = pump_down(c, now);
    return st;
}

/* Sleeps in zmq_poll until the deadline, the next due frame, a monitor
 * event, or (want_in) an arrival. Returns false when interrupted. */
static bool wait_some(net_client *c, double deadline, bool want_in) {
    double now = net_now();
    double wake = deadline;
    double up_due = net_shaper_next_due(&c->up);
    bool up_blocked = up_due <= now; /* due but the socket did not take it */
    if (!up_blocked && up_due < wake) wake = up_due;
    double down_due = net_shaper_next_due(&c->down);
    if (down_due < wake) wake = down_due;
    short dealer_events = (short)((want_in || net_shaper_active(&c->down) ? ZMQ_POLLIN : 0) |
                                  (up_blocked ? ZMQ_POLLOUT : 0));
    zmq_pollitem_t items[2] = {{c->monitor, 0, ZMQ_POLLIN, 0}, {c->dealer, 0, dealer_events, 0}};
    long ms = isinf(wake) ? -1 : net_poll_ms(wake - now, 24L * 3600 * 1000);
    int rc = zmq_poll(items, dealer_events ? 2 : 1, ms);
    return !(rc < 0 && zmq_errno() == EINTR);
}

static void deliver(net_client *c, net_frame *out) {
    out->data = zmq_msg_data(&c->last);
    out->len = zmq_msg_size(&c->last);
    c->totals.bytes_received += out->len;
    c->totals.frames_received++;
}

dt_status net_client_recv(net_client *c, int timeout_ms, net_frame *out, bool *arrived) {
    *arrived = false;
    memset(out, 0, sizeof *out);
    zmq_msg_close(&c->last);
    zmq_msg_init(&c->last);
    double deadline = net_deadline(timeout_ms);
    for (;;) {
        dt_status st = pump(c);
        if (st != DT_OK) return st;
        if (net_shaper_active(&c->down)) {
            if (net_shaper_due(&c->down, net_now())) {
                net_shaper_pop(&c->down, &c->last);
                deliver(c, out);
                *arrived = true;
                return DT_OK;
            }
        } else {
            int got = take_one(c, &c->last);
            if (got < 0) return net_zmq_fail("client: recv");
            if (got > 0) {
                deliver(c, out);
                *arrived = true;
                return DT_OK;
            }
        }
        if (net_now() >= deadline) return DT_OK;
        if (!wait_some(c, deadline, true)) return DT_OK; /* a signal: the caller decides */
    }
}

dt_status net_client_send(net_client *c, const void *data, size_t len, int timeout_ms) {
    if (len > NET_MAX_FRAME)
        return dt_error(DT_ERR_INVALID, "client: frame of %zu bytes exceeds NET_MAX_FRAME %u", len,
                        (unsigned)NET_MAX_FRAME);
    if (net_shaper_active(&c->up)) {
        zmq_msg_t m;
        if (zmq_msg_init_size(&m, len) != 0) return net_zmq_fail("client: zmq_msg_init_size");
        if (len) memcpy(zmq_msg_data(&m), data, len);
        dt_status st = net_shaper_push(&c->up, &m, net_now());
        zmq_msg_close(&m);
        return st == DT_OK ? pump(c) : st;
    }
    /* ZMQ_IMMEDIATE: the send waits for a connection that completed its
     * handshake, so a refused or misconfigured peer times out here. */
    int t = timeout_ms < 0 ? -1 : timeout_ms;
    if (zmq_setsockopt(c->dealer, ZMQ_SNDTIMEO, &t, sizeof t) != 0)
        return net_zmq_fail("client: ZMQ_SNDTIMEO");
    int rc;
    while ((rc = zmq_send(c->dealer, data, len, 0)) < 0 && zmq_errno() == EINTR) {
    }
    read_monitor(c);
    if (rc < 0) {
        if (zmq_errno() != EAGAIN) return net_zmq_fail("client: send");
        if (c->state.last_failure[0])
            return dt_error(DT_ERR_IO, "client: not connected to %s after %d ms: %s", c->endpoint,
                            timeout_ms, c->state.last_failure);
        return dt_error(DT_ERR_IO, "client: not connected to %s after %d ms (is it running?)",
                        c->endpoint, timeout_ms);
    }
    c->totals.bytes_sent += len;
    c->totals.frames_sent++;
    return DT_OK;
}

dt_status net_client_flush(net_client *c, int timeout_ms) {
    double deadline = net_deadline(timeout_ms);
    for (;;) {
        dt_status st = pump(c);
        if (st != DT_OK) return st;
        if (c->up.count == 0) return DT_OK;
        if (net_now() >= deadline)
            return dt_error(DT_ERR_IO,
                            "client: %zu frames (%zu bytes) still queued after %d ms%s%s",
                            c->up.count, c->up.bytes, timeout_ms,
                            c->state.last_failure[0] ? ": " : "", c->state.last_failure);
        wait_some(c, deadline, false);
    }
}

size_t net_client_pending(const net_client *c) {
    return c->up.count;
}

net_counters net_client_totals(const net_client *c) {
    return c->totals;
}

net_client_state net_client_status(net_client *c) {
    pump(c); /* an error here resurfaces on the next send or recv */
    return c->state;
}
