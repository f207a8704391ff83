/* The protocol side of the e2e test peers (hostile_peer, diverging_peer):
 * a connection (net_client, or a raw libzmq DEALER that can send what
 * net_client refuses), and a session: one joined peer with a real cpu
 * replica that applies every RESULT and acknowledges it with its hash. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <zmq.h>

#include "test_session.h"

const char *tool_name = "test_peer";

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int failures;
bool json_lines;

static void vsay(const char *prefix, const char *fmt, va_list ap) {
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    if (json_lines) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "event", "log");
        char line[1100];
        snprintf(line, sizeof line, "%s%s", prefix, text);
        cJSON_AddStringToObject(o, "text", line);
        char *out = cJSON_PrintUnformatted(o);
        if (out) printf("%s\n", out);
        free(out);
        cJSON_Delete(o);
    } else {
        printf("%s: %s%s\n", tool_name, prefix, text);
    }
    fflush(stdout);
}

void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
}

void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay("FAIL: ", fmt, ap);
    va_end(ap);
    failures++;
}

dt_status conn_open(conn *c, bool raw, const char *endpoint, const net_keys *keys,
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
void conn_events(conn *c) {
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

void conn_close(conn *c) {
    if (c->client) net_client_close(c->client);
    if (c->have_last) zmq_msg_close(&c->last);
    if (c->mon) zmq_close(c->mon);
    if (c->sock) zmq_close(c->sock);
    if (c->ctx) zmq_ctx_term(c->ctx);
    memset(c, 0, sizeof *c);
}

dt_status conn_send(conn *c, const void *data, size_t len) {
    if (c->client) return net_client_send(c->client, data, len, 5000);
    if (zmq_send(c->sock, data, len, 0) < 0)
        return dt_error(DT_ERR_IO, "raw send: %s", zmq_strerror(zmq_errno()));
    return DT_OK;
}

dt_status conn_recv(conn *c, int timeout_ms, const uint8_t **data, size_t *len, bool *arrived) {
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

dt_status send_msg(session *s, const net_msg *m) {
    size_t len = 0;
    dt_status st = net_encode(m, s->frame, NET_MAX_FRAME, &len);
    return st == DT_OK ? conn_send(&s->c, s->frame, len) : st;
}

/* The next message (decoded into s->msg) within timeout_ms; false if none. */
bool next_msg(session *s, int timeout_ms) {
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

void send_hash(session *s, int64_t version) {
    uint64_t hash = 0;
    if (model_param_hash(s->m, &hash) != DT_OK) fail("%s: hash: %s", s->name, dt_last_error());
    if (s->zero_hash) hash = 0;
    net_msg h;
    memset(&h, 0, sizeof h.h + sizeof h.u.hash);
    h.h = (net_header){NET_HASH, s->run_id, version};
    h.u.hash.hash = hash;
    if (send_msg(s, &h) != DT_OK) fail("%s: HASH: %s", s->name, dt_last_error());
}

/* Pulls the weights of state_step chunk by chunk, checks them against the
 * announced hash, loads them and acknowledges them (HASH). */
bool session_pull(session *s, int64_t state_step, uint64_t state_bytes, uint64_t state_hash) {
    size_t want = (size_t)model_get_layout(s->m)->total * 4;
    if (state_bytes != want)
        return fail("%s: offered %llu bytes of weights, the model has %zu", s->name,
                    (unsigned long long)state_bytes, want),
               false;
    double until;
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
            say("%s joined as peer %u, pulled the weights of step %lld", s->name, s->id,
                (long long)state_step);
            return true;
        }
    }
    free(w8);
    return fail("%s: pulling the weights failed", s->name), false;
}

/* HELLO -> WELCOME -> pull the weights chunk by chunk -> check the hash ->
 * load them into a cpu replica -> HASH. */
bool join(session *s) {
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
    return session_pull(s, state_step, state_bytes, state_hash);
}

/* A replica that diverges: the lowest mantissa bit of the first weight. */
static void flip_one_bit(session *s) {
    size_t n = (size_t)model_get_layout(s->m)->total;
    float *w = malloc(n * sizeof *w);
    uint32_t bits;
    if (!w || model_download_weights(s->m, w) != DT_OK) {
        free(w);
        return fail("%s: cannot read the weights to flip a bit", s->name);
    }
    memcpy(&bits, &w[0], 4);
    bits ^= 1u;
    memcpy(&w[0], &bits, 4);
    if (model_upload_weights(s->m, w) != DT_OK) fail("%s: cannot write the weights", s->name);
    free(w);
    say("%s flipped one weight bit after step %lld", s->name, (long long)s->flip_after);
}

/* Assembles RESULT chunks; applies a complete one, which must not list this
 * peer, and acknowledges it with the replica's true hash. Returns the step
 * applied, or -1. */
int64_t on_result(session *s) {
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
    if (step == s->flip_after) flip_one_bit(s);
    send_hash(s, s->version);
    return step;
}

void session_close(session *s) {
    model_demo_destroy(s->demo);
    model_destroy(s->m);
    dt_device_close(s->dev);
    conn_close(&s->c);
    free(s->result);
    free(s->frame);
    free(s->msg);
}

/* Entries of a valid payload in geometry order: per tile the indices
 * 0..k-1 (ascending) and small finite values. */
void valid_entries(const demo_geometry *g, int32_t *idx, float *vals) {
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        for (int64_t e = 0; e < tg->entries; e++) {
            idx[tg->entry_at + e] = (int32_t)(e % tg->k);
            vals[tg->entry_at + e] = 1e-3f * (float)((e % 7) - 3) + 5e-4f;
        }
    }
}

bool peer_args_take(peer_args *a, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    bool value = *i + 1 < argc;
    if (strcmp(arg, "--open") == 0)
        a->open = true;
    else if (strcmp(arg, "--keys") == 0 && value)
        a->keys_file = argv[++*i];
    else if (strcmp(arg, "--server-key") == 0 && value)
        a->server_key = argv[++*i];
    else if (strcmp(arg, "--name") == 0 && value)
        a->name = argv[++*i];
    else if (arg[0] != '-')
        a->address = arg;
    else
        return false;
    return true;
}

bool peer_args_finish(peer_args *a) {
    if (!a->address || a->open == (a->keys_file != NULL) ||
        (a->keys_file != NULL) != (a->server_key != NULL))
        return false;
    snprintf(a->endpoint, sizeof a->endpoint, "%s%s", strstr(a->address, "://") ? "" : "tcp://",
             a->address);
    if (a->keys_file && net_keys_load(a->keys_file, &a->keys) != DT_OK) {
        fprintf(stderr, "%s: %s\n", tool_name, dt_last_error());
        return false;
    }
    return true;
}

const net_keys *peer_args_keys(const peer_args *a) {
    return a->keys_file ? &a->keys : NULL;
}
