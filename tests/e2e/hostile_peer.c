/* hostile_peer: a peer that speaks the protocol directly (net/transport.h +
 * net/wire.h) and sends crafted SUBMITs, one per round, to check that the
 * coordinator refuses each with a reason naming the problem and that the
 * run is unaffected (issue 6: "malformed payloads ... each refused with its
 * reason, the run's hashes unaffected").
 *
 *   hostile_peer ADDRESS (--open | --keys FILE --server-key KEY) [--name N]
 *
 * It joins like a real peer: HELLO, WELCOME, the weights pulled with
 * STATE_REQ and checked against the announced hash. It keeps a real replica
 * (cpu): every RESULT is applied with model_demo_apply and acknowledged with
 * its true hash, so the coordinator checks this replica too, and a RESULT
 * that ever lists this peer's id fails the run. On each ROUND it starts from
 * a payload built with the model layer (demo_payload_encode over the run's
 * own geometry, checked valid with demo_payload_decode) and corrupts it in
 * exactly one way; the REFUSED that must come back before that step's
 * RESULT is checked for the words that name the problem.
 *
 * The last case, a frame larger than NET_MAX_FRAME, cannot be sent through
 * net_client (it refuses such frames), and cannot come back as REFUSED:
 * libzmq on the coordinator drops a frame over ZMQ_MAXMSGSIZE by closing
 * the connection before anything reads it. So a second connection, a raw
 * libzmq DEALER, joins and syncs the same way, answers its first ROUND with
 * the oversized frame, and the check is that the coordinator closed that
 * connection (and, in the calling script, that the run went on).
 *
 * Prints one line per case; exit 0 when every case behaved as expected, 1
 * otherwise, 2 on bad usage. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "model/demo.h"
#include "net/run_config.h"
#include "net/transport.h"
#include "net/wire.h"

#define WAIT_S 30.0 /* the longest any single step of the exchange may take */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int failures;
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("hostile_peer: FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    failures++;
}

/* ---- a connection: net_client, or a raw DEALER for the oversized frame -- */

typedef struct conn {
    net_client *client;
    void *ctx, *sock, *mon; /* raw */
    zmq_msg_t last;
    bool have_last, connected, closed;
} conn;

static dt_status conn_open(conn *c, bool raw, const char *endpoint, const net_keys *keys,
                           const char *server_key) {
    memset(c, 0, sizeof *c);
    if (!raw) {
        net_client_config cc = {endpoint, keys, server_key, {0, 0, 0, 0}, 0};
        return net_client_open(&cc, &c->client);
    }
    c->ctx = zmq_ctx_new();
    c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->sock) return dt_error(DT_ERR_IO, "raw socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0, never = -1, timeout = 5000;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    /* One connection only: after the coordinator closes it, it stays closed. */
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &never, sizeof never);
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    if (keys) {
        uint8_t server[NET_KEY_BYTES], pub[NET_KEY_BYTES], sec[NET_KEY_BYTES];
        if (net_key_decode(server_key, server) != DT_OK ||
            net_key_decode(keys->public_key, pub) != DT_OK ||
            net_key_decode(keys->secret_key, sec) != DT_OK)
            return DT_ERR_INVALID;
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, server, sizeof server);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, sizeof pub);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, sizeof sec);
    }
    if (zmq_socket_monitor(c->sock, "inproc://hostile-monitor",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) ||
        zmq_connect(c->mon, "inproc://hostile-monitor") != 0 || zmq_connect(c->sock, endpoint) != 0)
        return dt_error(DT_ERR_IO, "raw socket: %s", zmq_strerror(zmq_errno()));
    return DT_OK;
}

/* Raw: reads the monitor's events (u16 event, u32 value; then the endpoint). */
static void conn_events(conn *c) {
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&m) >= 2) memcpy(&event, zmq_msg_data(&m), 2);
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (more) {
            zmq_msg_init(&m);
            zmq_msg_recv(&m, c->mon, 0);
            zmq_msg_close(&m);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) c->connected = true;
        if (event == ZMQ_EVENT_DISCONNECTED) c->closed = true;
    }
}

static void conn_close(conn *c) {
    if (c->client) net_client_close(c->client);
    if (c->have_last) zmq_msg_close(&c->last);
    if (c->mon) zmq_close(c->mon);
    if (c->sock) zmq_close(c->sock);
    if (c->ctx) zmq_ctx_term(c->ctx);
    memset(c, 0, sizeof *c);
}

static dt_status conn_send(conn *c, const void *data, size_t len) {
    if (c->client) return net_client_send(c->client, data, len, 5000);
    if (zmq_send(c->sock, data, len, 0) < 0)
        return dt_error(DT_ERR_IO, "raw send: %s", zmq_strerror(zmq_errno()));
    return DT_OK;
}

static dt_status conn_recv(conn *c, int timeout_ms, const uint8_t **data, size_t *len,
                           bool *arrived) {
    *arrived = false;
    if (c->client) {
        net_frame f;
        dt_status st = net_client_recv(c->client, timeout_ms, &f, arrived);
        if (st == DT_OK && *arrived) *data = f.data, *len = f.len;
        return st;
    }
    conn_events(c);
    zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        conn_events(c);
        return DT_OK;
    }
    if (c->have_last) zmq_msg_close(&c->last);
    zmq_msg_init(&c->last);
    c->have_last = true;
    if (zmq_msg_recv(&c->last, c->sock, 0) < 0) return DT_OK;
    *data = zmq_msg_data(&c->last);
    *len = zmq_msg_size(&c->last);
    *arrived = true;
    return DT_OK;
}

/* ---- a session: one joined peer with a real replica ----------------------- */

typedef struct session {
    conn c;
    const char *name;
    uint8_t *frame;
    net_msg *msg;
    net_run_config cfg;
    uint64_t run_id;
    uint32_t id;
    dt_device *dev;
    model *m;
    model_demo *demo;
    const demo_geometry *g;
    size_t pb;
    int64_t version;
    /* a RESULT being assembled */
    net_result meta;
    uint8_t *result;
    size_t result_got;
    int64_t result_step;
    int64_t results_applied;
    bool zero_hash; /* acknowledge results with a hash of 0 (a lie) */
    bool submits;   /* sends valid payloads: a RESULT may apply its own */
} session;

static dt_status send_msg(session *s, const net_msg *m) {
    size_t len = 0;
    dt_status st = net_encode(m, s->frame, NET_MAX_FRAME, &len);
    return st == DT_OK ? conn_send(&s->c, s->frame, len) : st;
}

/* The next message (decoded into s->msg) within timeout_ms; false if none. */
static bool next_msg(session *s, int timeout_ms) {
    const uint8_t *data = NULL;
    size_t len = 0;
    bool arrived = false;
    if (conn_recv(&s->c, timeout_ms, &data, &len, &arrived) != DT_OK || !arrived) return false;
    if (net_decode(data, len, s->msg) != DT_OK) {
        fail("%s: a malformed frame from the coordinator: %s", s->name, dt_last_error());
        return false;
    }
    return true;
}

static void send_hash(session *s, int64_t version) {
    uint64_t hash = 0;
    if (model_param_hash(s->m, &hash) != DT_OK) fail("%s: hash: %s", s->name, dt_last_error());
    if (s->zero_hash) hash = 0;
    net_msg h;
    memset(&h, 0, sizeof h.h + sizeof h.u.hash);
    h.h = (net_header){NET_HASH, s->run_id, version};
    h.u.hash.hash = hash;
    if (send_msg(s, &h) != DT_OK) fail("%s: HASH: %s", s->name, dt_last_error());
}

/* HELLO -> WELCOME -> pull the weights chunk by chunk -> check the hash ->
 * load them into a cpu replica -> HASH. */
static bool join(session *s) {
    net_msg *m = calloc(1, sizeof *m);
    m->h = (net_header){NET_HELLO, 0, -1};
    snprintf(m->u.hello.name, sizeof m->u.hello.name, "%s", s->name);
    snprintf(m->u.hello.device, sizeof m->u.hello.device, "cpu (hostile test peer)");
    snprintf(m->u.hello.backend, sizeof m->u.hello.backend, "cpu");
    m->u.hello.tokens_per_s = 1000.0;
    m->u.hello.have_step = -1;
    dt_status st = send_msg(s, m);
    free(m);
    if (st != DT_OK) return fail("%s: HELLO: %s", s->name, dt_last_error()), false;
    double until = now_s() + WAIT_S;
    while (now_s() < until && !(next_msg(s, 200) && s->msg->h.type == NET_WELCOME)) {
        if (s->msg->h.type == NET_REJECT)
            return fail("%s: rejected: %s", s->name, s->msg->u.reject.text), false;
    }
    if (s->msg->h.type != NET_WELCOME) return fail("%s: no WELCOME", s->name), false;
    const net_welcome *w = &s->msg->u.welcome;
    s->run_id = s->msg->h.run_id;
    s->id = w->peer_id;
    int64_t state_step = w->state_step;
    uint64_t state_bytes = w->state_bytes, state_hash = w->state_hash;
    char *config = net_welcome_config(w);
    st = config ? net_run_config_parse(config, &s->cfg) : dt_error(DT_ERR_OOM, "config");
    free(config);
    if (st != DT_OK) return fail("%s: WELCOME config: %s", s->name, dt_last_error()), false;
    st = dt_device_open("cpu", &s->dev);
    if (st == DT_OK) st = model_create(s->dev, &s->cfg.model, 1, &s->m);
    if (st == DT_OK) st = model_demo_create(s->m, &s->cfg.demo, &s->demo);
    if (st != DT_OK) return fail("%s: model: %s", s->name, dt_last_error()), false;
    s->g = model_demo_geometry(s->demo);
    s->pb = model_demo_payload_bytes(s->demo);
    size_t want = (size_t)model_get_layout(s->m)->total * 4;
    if (state_bytes != want)
        return fail("%s: offered %llu bytes of weights, the model has %zu", s->name,
                    (unsigned long long)state_bytes, want),
               false;
    uint8_t *w8 = malloc(want);
    for (size_t off = 0; w8 && off < want;) {
        net_msg r;
        memset(&r, 0, sizeof r.h + sizeof r.u.state_req);
        uint32_t len = want - off < NET_MAX_CHUNK ? (uint32_t)(want - off) : NET_MAX_CHUNK;
        r.h = (net_header){NET_STATE_REQ, s->run_id, state_step};
        r.u.state_req = (net_state_req){off, len};
        if (send_msg(s, &r) != DT_OK) break;
        until = now_s() + WAIT_S;
        while (now_s() < until && !(next_msg(s, 200) && s->msg->h.type == NET_STATE)) {
        }
        const net_chunk *k = &s->msg->u.state.chunk;
        if (s->msg->h.type != NET_STATE || k->offset != off || k->length != len) break;
        memcpy(w8 + off, k->data, len);
        off += len;
        if (off == want) {
            uint64_t hash = model_hash_host(model_get_layout(s->m), (const float *)w8);
            if (hash != state_hash || model_upload_weights(s->m, (const float *)w8) != DT_OK) break;
            free(w8);
            s->version = state_step;
            send_hash(s, state_step);
            printf("hostile_peer: %s joined as peer %u, pulled the weights of step %lld\n", s->name,
                   s->id, (long long)state_step);
            fflush(stdout);
            return true;
        }
    }
    free(w8);
    return fail("%s: pulling the weights failed", s->name), false;
}

/* Assembles RESULT chunks; applies a complete one, which must not list this
 * peer, and acknowledges it with the replica's true hash. Returns the step
 * applied, or -1. */
static int64_t on_result(session *s) {
    const net_result *r = &s->msg->u.result;
    int64_t step = s->msg->h.step;
    if (step != s->version) return -1;
    if (r->chunk.offset == 0) {
        s->meta = *r;
        s->result_step = step;
        s->result_got = 0;
        free(s->result);
        s->result = malloc(r->chunk.total);
    }
    if (s->result_step != step || r->chunk.offset != s->result_got ||
        r->chunk.total != s->meta.chunk.total || !s->result)
        return -1;
    memcpy(s->result + s->result_got, r->chunk.data, r->chunk.length);
    s->result_got += r->chunk.length;
    if (s->result_got < r->chunk.total) return -1;
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    for (uint32_t i = 0; i < s->meta.n_applied; i++) {
        if (s->meta.applied[i] == s->id && !s->submits)
            fail("%s: the RESULT of step %lld applied this peer's payload", s->name,
                 (long long)step);
        ptrs[i] = s->result + (size_t)i * s->pb;
        lens[i] = s->pb;
    }
    float lr, decay;
    memcpy(&lr, &s->meta.lr_bits, 4);
    memcpy(&decay, &s->meta.decay_bits, 4);
    if (s->meta.chunk.total != (uint64_t)s->meta.n_applied * s->pb ||
        model_demo_apply(s->demo, s->run_id, step, ptrs, lens, (int)s->meta.n_applied, lr, decay) !=
            DT_OK) {
        fail("%s: applying the RESULT of step %lld: %s", s->name, (long long)step, dt_last_error());
        return -1;
    }
    s->version = step + 1;
    s->results_applied++;
    send_hash(s, s->version);
    return step;
}

static void session_close(session *s) {
    model_demo_destroy(s->demo);
    model_destroy(s->m);
    dt_device_close(s->dev);
    conn_close(&s->c);
    free(s->result);
    free(s->frame);
    free(s->msg);
}

/* ---- the cases --------------------------------------------------------------- */

typedef enum kind {
    K_TRUNCATED,
    K_RUN_ID,
    K_STEP,
    K_INDEX_RANGE,
    K_REPEATED,
    K_DESCENDING,
    K_NAN,
    K_MAGIC,
    K_CHUNK_OFFSET,
    K_N_MICRO,
    K_COUNT
} kind;

static const char *const kind_names[K_COUNT] = {
    "truncated payload (wrong total length)",
    "wrong run id in the payload",
    "wrong step in the payload",
    "index out of range",
    "repeated index within a tile",
    "indices out of ascending order",
    "NaN value",
    "bad payload magic",
    "wrong chunk offset",
    "valid payload, lying about its micro-batches",
};

/* Entries of a valid payload in geometry order: per tile the indices
 * 0..k-1 (ascending) and small finite values. */
static void valid_entries(const demo_geometry *g, int32_t *idx, float *vals) {
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        for (int64_t e = 0; e < tg->entries; e++) {
            idx[tg->entry_at + e] = (int32_t)(e % tg->k);
            vals[tg->entry_at + e] = 1e-3f * (float)((e % 7) - 3) + 5e-4f;
        }
    }
}

/* A tensor whose tile can hold an index one past its last slot in its
 * index width (so "out of range" is encodable), with k >= 2. */
static int tensor_for_range(const demo_geometry *g) {
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        int64_t max = tg->index_bits == 8 ? 255 : tg->index_bits == 12 ? 4094 : 65535;
        if (tg->plan.tile_size <= max && tg->k >= 2) return t;
    }
    return -1;
}

/* Builds and sends the SUBMIT for a case; `expect` gets the phrases the
 * REFUSED text must contain. */
static bool craft(session *s, kind k, int64_t step, uint32_t n_micro, char expect[2][160],
                  int32_t *idx, float *vals, uint8_t *pay) {
    const demo_geometry *g = s->g;
    valid_entries(g, idx, vals);
    uint64_t run_id = s->run_id;
    int64_t pstep = step;
    expect[0][0] = expect[1][0] = '\0';
    int t = 0;
    const demo_tensor_geometry *tg = &g->t[0];
    switch (k) {
    case K_RUN_ID:
        run_id ^= 0x00000000DEADBEEFull;
        snprintf(expect[0], 160, "run id %016llx, expected %016llx", (unsigned long long)run_id,
                 (unsigned long long)s->run_id);
        break;
    case K_STEP:
        pstep = step + 1;
        snprintf(expect[0], 160, "step %lld, expected %lld", (long long)pstep, (long long)step);
        break;
    case K_INDEX_RANGE:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at + tg->k - 1] = (int32_t)tg->plan.tile_size;
        snprintf(expect[0], 160, "tensor %d tile 0: index %lld outside a tile of %lld slots", t,
                 (long long)tg->plan.tile_size, (long long)tg->plan.tile_size);
        break;
    case K_REPEATED:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at + 1] = idx[tg->entry_at];
        snprintf(expect[0], 160, "tensor %d tile 0: index %d repeated", t, idx[tg->entry_at]);
        break;
    case K_DESCENDING:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at] = 1;
        idx[tg->entry_at + 1] = 0;
        snprintf(expect[0], 160, "tensor %d tile 0: index 0 out of ascending order", t);
        break;
    case K_NAN:
        if (g->values == DEMO_VALUES_1BIT) return fail("NaN needs bf16 or fp32 values"), false;
        t = g->n > 1 ? 1 : 0;
        vals[g->t[t].entry_at + 3] = NAN;
        snprintf(expect[0], 160, "tensor %d entry 3: value is not finite", t);
        break;
    default:
        break;
    }
    demo_payload_encode(g, run_id, pstep, idx, vals, pay);
    bool valid = demo_payload_decode(g, pay, s->pb, s->run_id, step, NULL, NULL) == DT_OK;
    /* The corruption is exactly the intended one: everything else is valid. */
    if (valid != (k == K_TRUNCATED || k == K_MAGIC || k == K_CHUNK_OFFSET || k == K_N_MICRO))
        return fail("case '%s': the crafted payload %s locally", kind_names[k],
                    valid ? "decodes" : "fails to decode"),
               false;
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.submit);
    m.h = (net_header){NET_SUBMIT, s->run_id, step};
    m.u.submit.loss = 1.0f;
    m.u.submit.n_micro = n_micro;
    m.u.submit.compute_s = 0.01;
    net_chunk ch = {0, s->pb, (uint32_t)s->pb, pay};
    if (k == K_TRUNCATED) {
        ch.total = ch.length = (uint32_t)(s->pb - 1);
        snprintf(expect[0], 160, "payload of %zu bytes", s->pb - 1);
        snprintf(expect[1], 160, "tile plan makes %zu", s->pb);
    } else if (k == K_MAGIC) {
        pay[0] ^= 0xFF;
        snprintf(expect[0], 160, "bad magic 0x%08x", 0x314F4D44u ^ 0xFFu);
    } else if (k == K_CHUNK_OFFSET) {
        ch = (net_chunk){8, s->pb, (uint32_t)(s->pb - 8), pay + 8};
        snprintf(expect[0], 160, "chunk at offset 8, expected 0");
    } else if (k == K_N_MICRO) {
        m.u.submit.n_micro = n_micro + 1;
        snprintf(expect[0], 160, "reports %u micro-batches (assigned %u)", n_micro + 1, n_micro);
    }
    for (size_t off = 0; off < ch.length; off += NET_MAX_CHUNK) {
        net_chunk part = ch;
        part.offset = ch.offset + off;
        part.length = ch.length - off < NET_MAX_CHUNK ? (uint32_t)(ch.length - off) : NET_MAX_CHUNK;
        part.data = ch.data + off;
        m.u.submit.chunk = part;
        if (send_msg(s, &m) != DT_OK) return fail("SUBMIT: %s", dt_last_error()), false;
    }
    return true;
}

static bool send_case(session *s, kind k, int64_t step, uint32_t n_micro, char expect[2][160]) {
    if (tensor_for_range(s->g) < 0)
        return fail("no tensor has tiles that can encode an out-of-range index"), false;
    int32_t *idx = malloc((size_t)s->g->total_entries * sizeof *idx);
    float *vals = malloc((size_t)s->g->total_entries * sizeof *vals);
    uint8_t *pay = malloc(s->pb);
    bool ok = idx && vals && pay ? craft(s, k, step, n_micro, expect, idx, vals, pay)
                                 : (fail("out of memory"), false);
    free(idx);
    free(vals);
    free(pay);
    return ok;
}

/* The malformed-payload cases, one per round, on a transport connection. */
static void run_cases(session *s) {
    kind k = 0;
    bool waiting = false; /* for the REFUSED of case k */
    int64_t case_step = -1;
    char expect[2][160];
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200)) continue;
        net_msg *m = s->msg;
        if (m->h.run_id != s->run_id) continue;
        if (m->h.type == NET_ROUND && m->h.step == s->version && !waiting) {
            if (k == K_COUNT) break; /* every case done */
            case_step = m->h.step;
            waiting = send_case(s, k, case_step, m->u.round.n_micro, expect);
        } else if (m->h.type == NET_REFUSED) {
            const char *text = m->u.refused.text;
            if (!waiting || m->h.step != case_step) {
                fail("an unexpected REFUSED for step %lld: %s", (long long)m->h.step, text);
            } else if (!strstr(text, expect[0]) || !strstr(text, expect[1])) {
                fail("case '%s': REFUSED says \"%s\"; expected \"%s\"%s%s", kind_names[k], text,
                     expect[0], expect[1][0] ? " and \"" : "", expect[1][0] ? expect[1] : "");
            } else {
                printf("hostile_peer: case '%s' at step %lld: refused: %s\n", kind_names[k],
                       (long long)case_step, text);
                fflush(stdout);
                waiting = false;
                k++;
            }
        } else if (m->h.type == NET_RESULT) {
            int64_t applied = on_result(s);
            if (waiting && applied == case_step)
                fail("case '%s': no REFUSED before the RESULT of step %lld", kind_names[k],
                     (long long)case_step);
        } else if (m->h.type == NET_RESYNC) {
            fail("the coordinator says this replica diverged (RESYNC at step %lld)",
                 (long long)m->h.step);
        } else if (m->h.type == NET_REJECT || m->h.type == NET_LEAVE) {
            fail("the coordinator ended this peer's run (%s) with %d of %d cases done",
                 net_type_name(m->h.type), (int)k, K_COUNT);
        }
    }
    if (k < K_COUNT && failures == 0) fail("timed out with %d of %d cases done", (int)k, K_COUNT);
    net_msg leave;
    memset(&leave, 0, sizeof leave.h);
    leave.h = (net_header){NET_LEAVE, s->run_id, s->version};
    send_msg(s, &leave);
    printf("hostile_peer: %s applied %lld results with hashes the coordinator accepted; left\n",
           s->name, (long long)s->results_applied);
}

/* The oversized frame, on a raw connection that joined and synced. */
static void oversized(session *s) {
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200)) continue;
        if (s->msg->h.type == NET_RESULT) on_result(s);
        if (s->msg->h.type != NET_ROUND || s->msg->h.step != s->version) continue;
        size_t len = NET_MAX_FRAME + 1;
        uint8_t *big = calloc(1, len);
        if (!big) return fail("out of memory");
        /* A SUBMIT header (wire.h), then more body than any frame may carry. */
        uint64_t head[3] = {NET_MAGIC | (uint64_t)NET_VERSION << 32 | (uint64_t)NET_SUBMIT << 48,
                            s->run_id, (uint64_t)s->version};
        for (int i = 0; i < 24; i++) big[i] = (uint8_t)(head[i / 8] >> (8 * (i % 8)));
        dt_status st = conn_send(&s->c, big, len);
        free(big);
        if (st != DT_OK) return fail("sending the oversized frame: %s", dt_last_error());
        int64_t step = s->version;
        for (double t = now_s() + 10.0; now_s() < t && !s->c.closed;) {
            if (next_msg(s, 100) && s->msg->h.type == NET_REFUSED)
                fail("a REFUSED after the oversized frame: %s", s->msg->u.refused.text);
        }
        if (!s->c.closed)
            return fail("case 'oversized frame': the connection stayed open after a frame of "
                        "%zu bytes (NET_MAX_FRAME is %u)",
                        len, (unsigned)NET_MAX_FRAME);
        printf("hostile_peer: case 'oversized frame (%zu bytes)' at step %lld: the coordinator "
               "closed the connection\n",
               len, (long long)step);
        return;
    }
    fail("case 'oversized frame': no ROUND arrived");
}

/* A replica that acknowledges results with a hash of 0: at a checked step
 * that is a missing hash, and the coordinator must ask for a resync. */
static void lying_hash(session *s) {
    s->zero_hash = true;
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200) || s->msg->h.run_id != s->run_id) continue;
        net_msg *m = s->msg;
        if (m->h.type == NET_RESULT) {
            on_result(s);
        } else if (m->h.type == NET_RESYNC) {
            printf("hostile_peer: case 'zero hash' at step %lld: the coordinator asked for a "
                   "resync\n",
                   (long long)m->h.step);
            fflush(stdout);
            net_msg leave;
            memset(&leave, 0, sizeof leave.h);
            leave.h = (net_header){NET_LEAVE, s->run_id, s->version};
            send_msg(s, &leave);
            return;
        } else if (m->h.type == NET_REJECT || m->h.type == NET_LEAVE) {
            return fail("case 'zero hash': the run ended (%s) without a resync",
                        net_type_name(m->h.type));
        }
    }
    fail("case 'zero hash': results acknowledged with hash 0 were accepted (no RESYNC)");
}

/* Two connections of one party in the same round: the second sends a
 * byte-for-byte copy of the first's valid payload, which must come back
 * REFUSED as a copy while the first is applied. */
static void copied_payload(session *a, session *b) {
    int64_t round_a = -1, round_b = -1;
    uint32_t micro_a = 0, micro_b = 0;
    bool sent = false, refused = false, applied = false;
    double until = now_s() + 4 * WAIT_S;
    int32_t *idx = malloc((size_t)a->g->total_entries * sizeof *idx);
    float *vals = malloc((size_t)a->g->total_entries * sizeof *vals);
    uint8_t *pay = malloc(a->pb);
    while (now_s() < until && failures == 0 && !(refused && applied) && idx && vals && pay) {
        for (int w = 0; w < 2; w++) {
            session *s = w ? b : a;
            if (!next_msg(s, 50)) continue;
            net_msg *m = s->msg;
            if (m->h.type == NET_ROUND && m->h.step == s->version)
                *(w ? &round_b : &round_a) = m->h.step,
                                 *(w ? &micro_b : &micro_a) = m->u.round.n_micro;
            else if (m->h.type == NET_RESULT && on_result(s) >= 0 && sent && w == 0)
                for (uint32_t i = 0; i < a->meta.n_applied; i++)
                    applied |= a->meta.applied[i] == a->id;
            else if (m->h.type == NET_REFUSED && w == 0)
                fail("case 'copied payload': the original was refused: %s", m->u.refused.text);
            else if (m->h.type == NET_REFUSED && w == 1) {
                char want[64];
                snprintf(want, sizeof want, "byte-identical copy of the payload of peer %u", a->id);
                if (!strstr(m->u.refused.text, want))
                    fail("case 'copied payload': REFUSED says \"%s\"", m->u.refused.text);
                printf("hostile_peer: case 'copied payload' at step %lld: refused: %s\n",
                       (long long)round_b, m->u.refused.text);
                refused = true;
            }
        }
        if (sent || round_a < 0 || round_a != round_b) continue;
        valid_entries(a->g, idx, vals);
        demo_payload_encode(a->g, a->run_id, round_a, idx, vals, pay);
        for (int w = 0; w < 2; w++) {
            session *s = w ? b : a;
            net_msg m = {.h = {NET_SUBMIT, s->run_id, round_a}};
            m.u.submit = (net_submit){1.0f, w ? micro_b : micro_a, 0.01,
                                      (net_chunk){0, s->pb, (uint32_t)s->pb, pay}};
            if (send_msg(s, &m) != DT_OK) fail("SUBMIT: %s", dt_last_error());
        }
        sent = true;
    }
    if (failures == 0 && !(refused && applied))
        fail("case 'copied payload': %s", !sent      ? "the two connections never shared a round"
                                          : !refused ? "the copy was not refused"
                                                     : "the original was not applied");
    free(idx);
    free(vals);
    free(pay);
    for (int w = 0; w < 2; w++) {
        session *s = w ? b : a;
        net_msg leave = {.h = {NET_LEAVE, s->run_id, s->version}};
        send_msg(s, &leave);
    }
}

int main(int argc, char **argv) {
    const char *address = NULL, *keys_file = NULL, *server_key = NULL, *name = "hostile";
    bool open = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--open") == 0)
            open = true;
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            keys_file = argv[++i];
        else if (strcmp(argv[i], "--server-key") == 0 && i + 1 < argc)
            server_key = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else
            address = argv[i];
    }
    if (!address || open == (keys_file != NULL) || (keys_file != NULL) != (server_key != NULL)) {
        fprintf(stderr, "usage: hostile_peer ADDRESS (--open | --keys FILE --server-key KEY) "
                        "[--name NAME]\n");
        return 2;
    }
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s%s", strstr(address, "://") ? "" : "tcp://", address);
    net_keys keys;
    memset(&keys, 0, sizeof keys);
    if (keys_file && net_keys_load(keys_file, &keys) != DT_OK) {
        fprintf(stderr, "hostile_peer: %s\n", dt_last_error());
        return 2;
    }
    const net_keys *kp = keys_file ? &keys : NULL;
    char big_name[NET_NAME_MAX + 1], liar_name[NET_NAME_MAX + 1], copy_name[2][NET_NAME_MAX + 1];
    snprintf(big_name, sizeof big_name, "%s-oversized", name);
    snprintf(liar_name, sizeof liar_name, "%s-zero-hash", name);
    snprintf(copy_name[0], sizeof copy_name[0], "%s-original", name);
    snprintf(copy_name[1], sizeof copy_name[1], "%s-copy", name);
    for (int pass = 0; pass < 3 && failures == 0; pass++) {
        session s;
        memset(&s, 0, sizeof s);
        s.name = pass == 2 ? liar_name : pass ? big_name : name;
        s.frame = malloc(NET_MAX_FRAME);
        s.msg = calloc(1, sizeof *s.msg);
        s.result_step = -1;
        if (!s.frame || !s.msg || conn_open(&s.c, pass == 1, endpoint, kp, server_key) != DT_OK)
            fail("%s: cannot connect: %s", s.name, dt_last_error());
        else if (join(&s))
            pass == 2 ? lying_hash(&s) : pass ? oversized(&s) : run_cases(&s);
        session_close(&s);
    }
    session pair[2];
    memset(pair, 0, sizeof pair);
    for (int w = 0; w < 2 && failures == 0; w++) {
        pair[w].name = copy_name[w];
        pair[w].frame = malloc(NET_MAX_FRAME);
        pair[w].msg = calloc(1, sizeof *pair[w].msg);
        pair[w].result_step = -1;
        pair[w].submits = true;
        if (!pair[w].frame || !pair[w].msg ||
            conn_open(&pair[w].c, false, endpoint, kp, server_key) != DT_OK)
            fail("%s: cannot connect: %s", pair[w].name, dt_last_error());
        else
            join(&pair[w]);
    }
    if (failures == 0) copied_payload(&pair[0], &pair[1]);
    for (int w = 0; w < 2; w++) session_close(&pair[w]);
    net_keys_free(&keys);
    printf("hostile_peer: %s\n", failures ? "FAILED" : "every case behaved as expected");
    return failures ? 1 : 0;
}
