/* flood_peer: the cheap attacks on a coordinator, each one a mode (issue
 * 11). It speaks the protocol over raw libzmq DEALER sockets from one
 * context, so hundreds of connections cost little.
 *
 *   flood_peer ADDRESS (--open | --keys FILE --server-key KEY) MODE ARGS
 *
 *   hello-flood N        N connections say HELLO and close at once
 *   hello-hold N S       N connections say HELLO, stay silent S seconds, close
 *   state-hog N S        2 connections join, then each asks N times for the
 *                        whole weights and never reads, for S seconds
 *   silent N S [CLAIM]   N connections join for real (weights pulled, hash
 *                        acknowledged), then never submit; each rejoins at
 *                        once when ejected, for S seconds. CLAIM: the
 *                        tokens/s their HELLO claims (default 1000).
 *   squat N S            N connections say HELLO and, welcomed, never pull the
 *                        weights but send a stale HASH every second for S
 *                        seconds: talking without progress
 *   bad-text N           N rounds of HELLOs whose name, device or backend
 *                        carries an escape sequence, a terminal title, a C1
 *                        control, a BEL, or malformed UTF-8, one
 *                        connection each (the encoder refuses such text, so
 *                        the bytes are patched into an encoded frame)
 *
 * HELLO names the peer after the mode: flood, hold, hog, silent or squat (bad-text:
 * badtext, where the name is not the field under attack).
 * Prints one summary line per mode, "flood_peer: MODE: key=value ...", for
 * the calling script to check; exit 0 unless the tool itself failed (bad
 * usage 2, a connection it could not make 1). Whether the coordinator held
 * is for the script to judge from the run. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "net/keys.h"
#include "net/run_config.h"
#include "net/wire.h"

#define MAX_CONNS 512

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *ctx;
static const char *endpoint;
static net_keys keys;
static const char *server_key; /* NULL: open */
static uint8_t frame[NET_MAX_FRAME];
static const char *hello_name = "flood"; /* per mode: flood, hold, hog, silent, squat */

static void *dial(void) {
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (server_key) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, strlen(server_key));
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys.public_key, strlen(keys.public_key));
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys.secret_key, strlen(keys.secret_key));
    }
    if (zmq_connect(s, endpoint) != 0) {
        fprintf(stderr, "flood_peer: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        exit(1);
    }
    return s;
}

static void send_msg(void *s, const net_msg *m) {
    size_t len = 0;
    if (net_encode(m, frame, sizeof frame, &len) == DT_OK) zmq_send(s, frame, len, ZMQ_DONTWAIT);
}

/* One message if one arrives within timeout_ms; m's views point into a
 * buffer the next call reuses. */
static bool recv_msg(void *s, int timeout_ms, net_msg *m) {
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return false;
    int n = zmq_recv(s, frame, sizeof frame, ZMQ_DONTWAIT);
    return n > 0 && net_decode(frame, (size_t)n, m) == DT_OK;
}

static void send_hello(void *s, double tokens_per_s) {
    net_msg m = {.h = {NET_HELLO, 0, -1}};
    snprintf(m.u.hello.name, sizeof m.u.hello.name, "%s", hello_name);
    snprintf(m.u.hello.device, sizeof m.u.hello.device, "none");
    snprintf(m.u.hello.backend, sizeof m.u.hello.backend, "none");
    m.u.hello.tokens_per_s = tokens_per_s;
    m.u.hello.have_step = -1;
    send_msg(s, &m);
}

static int hello_flood(int n, double hold_s) {
    static void *socks[MAX_CONNS];
    for (int i = 0; i < n; i++) {
        socks[i] = dial();
        send_hello(socks[i], 1000.0);
        if (hold_s <= 0) {
            /* give the handshake and the HELLO a moment on the wire */
            net_msg m;
            recv_msg(socks[i], 20, &m);
            zmq_close(socks[i]);
        }
    }
    int welcomed = 0, rejected = 0;
    for (double until = now_s() + hold_s; now_s() < until;)
        for (int i = 0; i < n; i++) {
            net_msg m;
            while (recv_msg(socks[i], 0, &m)) {
                welcomed += m.h.type == NET_WELCOME;
                rejected += m.h.type == NET_REJECT;
            }
            if (i == 0) zmq_poll(NULL, 0, 20);
        }
    if (hold_s > 0)
        for (int i = 0; i < n; i++) zmq_close(socks[i]);
    printf("flood_peer: hello-%s: connections=%d welcomed=%d rejected=%d\n",
           hold_s > 0 ? "hold" : "flood", n, welcomed, rejected);
    return 0;
}

/* Joiners that keep a slot by talking: a HASH every second, never a pull. */
static int squat(int n, double seconds) {
    static void *socks[MAX_CONNS];
    static uint64_t run[MAX_CONNS];
    for (int i = 0; i < n; i++) {
        socks[i] = dial();
        run[i] = 0;
        send_hello(socks[i], 1000.0);
    }
    int welcomed = 0, rejected = 0;
    double next = 0;
    for (double until = now_s() + seconds; now_s() < until;) {
        for (int i = 0; i < n; i++) {
            net_msg m;
            while (recv_msg(socks[i], 0, &m)) {
                if (m.h.type == NET_WELCOME) welcomed++, run[i] = m.h.run_id;
                rejected += m.h.type == NET_REJECT;
            }
        }
        if (now_s() >= next) {
            next = now_s() + 1.0;
            for (int i = 0; i < n; i++) {
                net_msg h = {.h = {NET_HASH, run[i], 0}};
                if (run[i]) send_msg(socks[i], &h);
            }
        }
        zmq_poll(NULL, 0, 50);
    }
    for (int i = 0; i < n; i++) zmq_close(socks[i]);
    printf("flood_peer: squat: connections=%d welcomed=%d rejected=%d\n", n, welcomed, rejected);
    return 0;
}

/* ---- text that must never reach a terminal or summary.json ------------------ */

static const char *const bad_texts[] = {
    "\x1b[2J\x1b[31mred", /* clear the screen, red */
    "\x1b]0;pwned\x07",   /* set the terminal's title */
    ("a\xc2\x9b"
     "31mb"),       /* C1 CSI (split so that \x9b does not swallow the digits) */
    "bell\x07",     /* BEL */
    "\xff\xfe",     /* not UTF-8 */
    "cut\xe2\x82",  /* a truncated character */
    "\xc0\xaf",     /* overlong '/' */
    "\xed\xa0\x80", /* a UTF-16 surrogate */
};
#define N_BAD_TEXTS (int)(sizeof bad_texts / sizeof bad_texts[0])

/* HELLO with `bad` in field 0 (name), 1 (device) or 2 (backend): encoded
 * with a placeholder of the same length, then the placeholder's bytes
 * replaced. Returns the frame's length, 0 when it could not be built. */
static size_t bad_hello(int field, const char *bad, uint8_t *out, size_t cap) {
    net_msg m = {.h = {NET_HELLO, 0, -1}};
    char placeholder[16]; /* fits every field, backend's 16 bytes included */
    const size_t n = strlen(bad);
    if (n >= sizeof placeholder) return 0;
    memset(placeholder, 'Q', n);
    placeholder[n] = '\0';
    snprintf(m.u.hello.name, sizeof m.u.hello.name, "%s", field == 0 ? placeholder : "badtext");
    snprintf(m.u.hello.device, sizeof m.u.hello.device, "%s", field == 1 ? placeholder : "none");
    snprintf(m.u.hello.backend, sizeof m.u.hello.backend, "%s", field == 2 ? placeholder : "none");
    m.u.hello.tokens_per_s = 1000.0;
    m.u.hello.have_step = -1;
    size_t len = 0;
    if (net_encode(&m, out, cap, &len) != DT_OK) return 0;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(out + i, placeholder, n) == 0) {
            memcpy(out + i, bad, n);
            return len;
        }
    return 0;
}

static int bad_text(int rounds) {
    int sent = 0, welcomed = 0, rejected = 0;
    for (int r = 0; r < rounds; r++)
        for (int t = 0; t < N_BAD_TEXTS; t++)
            for (int field = 0; field < 3; field++) {
                const size_t len = bad_hello(field, bad_texts[t], frame, sizeof frame);
                if (!len) {
                    fprintf(stderr, "flood_peer: cannot build HELLO %d/%d\n", t, field);
                    return 1;
                }
                void *s = dial();
                zmq_send(s, frame, len, 0);
                sent++;
                net_msg m;
                if (recv_msg(s, 300, &m)) {
                    welcomed += m.h.type == NET_WELCOME;
                    rejected += m.h.type == NET_REJECT;
                }
                zmq_close(s);
            }
    printf("flood_peer: bad-text: sent=%d welcomed=%d rejected=%d\n", sent, welcomed, rejected);
    return 0;
}

/* ---- joining for real ------------------------------------------------------ */

typedef enum phase { DIALED, PULLING, SYNCED, WAITING, DONE } phase;

typedef struct conn {
    void *sock;
    phase ph;
    uint64_t run_id;
    int64_t state_step;
    uint64_t state_bytes, state_got, state_hash;
    double retry_at;
} conn;

typedef struct tally {
    int admitted, ejected, backoff, other_rejects, rounds, share_violations;
    uint32_t most_micro;
    int64_t micro_total;
} tally;

static void request_state(conn *c) {
    uint64_t len = c->state_bytes - c->state_got;
    net_msg m = {.h = {NET_STATE_REQ, c->run_id, c->state_step}};
    m.u.state_req =
        (net_state_req){c->state_got, (uint32_t)(len < NET_MAX_CHUNK ? len : NET_MAX_CHUNK)};
    send_msg(c->sock, &m);
}

static void ack(conn *c, int64_t step, uint64_t hash) {
    net_msg m = {.h = {NET_HASH, c->run_id, step}};
    m.u.hash.hash = hash;
    send_msg(c->sock, &m);
}

static void start_pull(conn *c, int64_t step, uint64_t bytes, uint64_t hash) {
    c->state_step = step, c->state_bytes = bytes, c->state_hash = hash, c->state_got = 0;
    c->ph = PULLING;
    if (bytes == 0) {
        ack(c, step, hash);
        c->ph = SYNCED;
    } else {
        request_state(c);
    }
}

static void redial(conn *c, double after_s) {
    zmq_close(c->sock);
    c->sock = NULL;
    c->ph = WAITING;
    c->retry_at = now_s() + after_s;
}

/* The coordinator's weights are not even looked at: the hash it announced
 * is acknowledged, which is all a coordinator can check of a joiner. */
static void on_msg(conn *c, const net_msg *m, tally *t) {
    switch (m->h.type) {
    case NET_WELCOME: {
        t->admitted++;
        c->run_id = m->h.run_id;
        char *text = net_welcome_config(&m->u.welcome);
        net_run_config cfg;
        if (text && net_run_config_parse(text, &cfg) == DT_OK)
            t->micro_total = net_run_micro_batches(&cfg);
        free(text);
        start_pull(c, m->u.welcome.state_step, m->u.welcome.state_bytes, m->u.welcome.state_hash);
        break;
    }
    case NET_STATE:
        if (c->ph != PULLING) break;
        c->state_got += m->u.state.chunk.length;
        if (c->state_got < c->state_bytes) {
            request_state(c);
        } else {
            ack(c, c->state_step, c->state_hash);
            c->ph = SYNCED;
        }
        break;
    case NET_RESYNC:
        start_pull(c, m->h.step, m->u.resync.state_bytes, m->u.resync.state_hash);
        break;
    case NET_ROUND: {
        const net_round *r = &m->u.round;
        t->rounds++;
        if (r->n_micro > t->most_micro) t->most_micro = r->n_micro;
        int64_t fair = r->n_peers ? (t->micro_total + r->n_peers - 1) / r->n_peers : 0;
        if (t->micro_total > 0 && (int64_t)r->n_micro > fair) t->share_violations++;
        break; /* and never submit */
    }
    case NET_REJECT:
        if (m->u.reject.code == NET_REJECT_FINISHED) {
            c->ph = DONE;
        } else if (m->u.reject.code == NET_REJECT_EJECTED) {
            t->ejected++;
            redial(c, 0.0); /* straight back: the attack */
        } else {
            t->backoff += m->u.reject.code == NET_REJECT_BACKOFF;
            t->other_rejects += m->u.reject.code != NET_REJECT_BACKOFF;
            redial(c, m->u.reject.retry_ms / 1000.0 + 0.05);
        }
        break;
    case NET_LEAVE:
        c->ph = DONE;
        break;
    default:
        break;
    }
}

static int silent(int n, double seconds, double claim) {
    static conn cs[MAX_CONNS];
    tally t = {0};
    for (int i = 0; i < n; i++) {
        cs[i] = (conn){.sock = dial(), .ph = DIALED};
        send_hello(cs[i].sock, claim);
    }
    for (double until = now_s() + seconds; now_s() < until;) {
        int live = 0;
        for (int i = 0; i < n; i++) {
            conn *c = &cs[i];
            if (c->ph == DONE) continue;
            live++;
            if (c->ph == WAITING) {
                if (now_s() < c->retry_at) continue;
                c->sock = dial();
                c->ph = DIALED;
                send_hello(c->sock, claim);
            }
            net_msg m;
            while (c->sock && recv_msg(c->sock, 0, &m)) on_msg(c, &m, &t);
        }
        if (!live) break;
        zmq_poll(NULL, 0, 10);
    }
    for (int i = 0; i < n; i++)
        if (cs[i].sock) zmq_close(cs[i].sock);
    printf("flood_peer: silent: connections=%d admitted=%d ejected=%d backoff=%d other_rejects=%d "
           "rounds=%d most_micro=%u micro_total=%lld share_violations=%d\n",
           n, t.admitted, t.ejected, t.backoff, t.other_rejects, t.rounds, t.most_micro,
           (long long)t.micro_total, t.share_violations);
    return 0;
}

/* Two connections join, then ask for the whole snapshot n times each
 * without reading a byte of the answers. */
static int state_hog(int n, double seconds) {
    conn cs[2];
    int asked = 0;
    for (int i = 0; i < 2; i++) {
        cs[i] = (conn){.sock = dial(), .ph = DIALED};
        send_hello(cs[i].sock, 1000.0);
        net_msg m = {0};
        double until = now_s() + 20.0;
        while (now_s() < until && !(recv_msg(cs[i].sock, 100, &m) && m.h.type == NET_WELCOME)) {
        }
        if (m.h.type != NET_WELCOME) {
            fprintf(stderr, "flood_peer: state-hog: connection %d was not welcomed\n", i);
            return 1;
        }
        cs[i].run_id = m.h.run_id;
        cs[i].state_step = m.u.welcome.state_step;
        cs[i].state_bytes = m.u.welcome.state_bytes;
    }
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 2; i++)
            for (uint64_t off = 0; off < cs[i].state_bytes; off += NET_MAX_CHUNK) {
                cs[i].state_got = off;
                request_state(&cs[i]);
                asked++;
            }
    zmq_poll(NULL, 0, (long)(seconds * 1000));
    for (int i = 0; i < 2; i++) zmq_close(cs[i].sock);
    printf("flood_peer: state-hog: requests=%d\n", asked);
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: flood_peer ADDRESS (--open | --keys FILE --server-key KEY) MODE ARGS\n"
            "  modes: hello-flood N | hello-hold N S | state-hog N S | silent N S [CLAIM] |\n"
            "         squat N S | bad-text N\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    static char ep[512];
    snprintf(ep, sizeof ep, "%s%s", strstr(argv[1], "://") ? "" : "tcp://", argv[1]);
    endpoint = ep;
    int a = 2;
    if (strcmp(argv[a], "--open") == 0) {
        a++;
    } else if (strcmp(argv[a], "--keys") == 0 && a + 3 < argc &&
               strcmp(argv[a + 2], "--server-key") == 0) {
        if (net_keys_load(argv[a + 1], &keys) != DT_OK) {
            fprintf(stderr, "flood_peer: %s\n", dt_last_error());
            return 1;
        }
        server_key = argv[a + 3];
        a += 4;
    } else {
        return usage();
    }
    if (a >= argc) return usage();
    const char *mode = argv[a];
    int n = a + 1 < argc ? atoi(argv[a + 1]) : 0;
    double s = a + 2 < argc ? atof(argv[a + 2]) : 0;
    bool conns = strcmp(mode, "state-hog") != 0; /* N counts connections, else requests */
    if (n < 1 || (conns && n > MAX_CONNS)) return usage();
    ctx = zmq_ctx_new();
    int max_sockets = 2 * MAX_CONNS;
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets);
    int rc;
    hello_name = strcmp(mode, "hello-hold") == 0  ? "hold"
                 : strcmp(mode, "state-hog") == 0 ? "hog"
                 : strcmp(mode, "silent") == 0    ? "silent"
                 : strcmp(mode, "squat") == 0     ? "squat"
                                                  : "flood";
    if (strcmp(mode, "hello-flood") == 0)
        rc = hello_flood(n, 0);
    else if (strcmp(mode, "hello-hold") == 0 && s > 0)
        rc = hello_flood(n, s);
    else if (strcmp(mode, "state-hog") == 0 && s > 0)
        rc = state_hog(n, s);
    else if (strcmp(mode, "silent") == 0 && s > 0)
        rc = silent(n, s, a + 3 < argc ? atof(argv[a + 3]) : 1000.0);
    else if (strcmp(mode, "squat") == 0 && s > 0)
        rc = squat(n, s);
    else if (strcmp(mode, "bad-text") == 0)
        rc = bad_text(n);
    else
        rc = usage();
    zmq_ctx_term(ctx);
    net_keys_free(&keys);
    fflush(stdout);
    return rc;
}
