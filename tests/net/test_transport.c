/* net/transport over real loopback sockets on ephemeral ports: open and
 * CURVE round trips, a refused key, a wrong server key, an oversized frame,
 * multi-frame messages, sends to vanished peers, byte counters, link
 * shaping (rate and latency, both directions), a coordinator restart, and
 * shutdown that never hangs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "net/transport.h"
#include "net_test_util.h"

#define WAIT_MS 5000

static char connect_to[64];

static net_server *open_server(const net_keys *keys, const char *endpoint) {
    net_server_config cfg = {endpoint ? endpoint : "tcp://127.0.0.1:*", keys, keys == NULL, 0};
    net_server *s = NULL;
    if (!CHECK_OK(net_server_open(&cfg, &s))) return NULL;
    snprintf(connect_to, sizeof connect_to, "tcp://127.0.0.1:%d", net_server_port(s));
    return s;
}

static net_client *open_client(const net_keys *keys, const char *server_key, net_link_shape shape) {
    net_client_config cfg = {connect_to, keys, server_key, shape, 0};
    net_client *c = NULL;
    CHECK_OK(net_client_open(&cfg, &c));
    return c;
}

static const net_link_shape no_shape = {0, 0, 0, 0};

/* Waits for one frame on the server; false (and a failure) if none came. */
static bool server_expect(net_server *s, net_frame *f, int timeout_ms, const char *what) {
    bool arrived = false;
    if (!CHECK_OK(net_server_recv(s, timeout_ms, f, &arrived))) return false;
    CHECK(arrived, "%s: nothing arrived within %d ms", what, timeout_ms);
    return arrived;
}

static bool client_expect(net_client *c, net_frame *f, int timeout_ms, const char *what) {
    bool arrived = false;
    if (!CHECK_OK(net_client_recv(c, timeout_ms, f, &arrived))) return false;
    CHECK(arrived, "%s: nothing arrived within %d ms", what, timeout_ms);
    return arrived;
}

/* True if the server receives nothing for `ms`. */
static bool server_quiet(net_server *s, int ms) {
    net_frame f;
    bool arrived = false;
    double end = nt_now() + ms / 1000.0;
    while (nt_now() < end) {
        net_server_recv(s, 50, &f, &arrived);
        if (arrived) return false;
    }
    return true;
}

static void test_open_round_trip(void) {
    net_server *s = open_server(NULL, NULL);
    if (!s) return;
    CHECK(net_server_port(s) > 0 && strncmp(net_server_endpoint(s), "tcp://127.0.0.1:", 16) == 0,
          "endpoint %s", net_server_endpoint(s));
    /* "host:port" is taken as tcp. */
    char bare[64];
    snprintf(bare, sizeof bare, "127.0.0.1:%d", net_server_port(s));
    net_client_config cfg = {bare, NULL, NULL, no_shape, 0};
    net_client *c = NULL;
    if (!CHECK_OK(net_client_open(&cfg, &c))) return;

    CHECK_OK(net_client_send(c, "ping", 4, WAIT_MS));
    net_frame f;
    if (server_expect(s, &f, WAIT_MS, "open ping")) {
        CHECK(f.len == 4 && memcmp(f.data, "ping", 4) == 0, "ping content");
        CHECK(f.peer_key[0] == '\0', "an open server reports no key (%s)", f.peer_key);
        CHECK(f.from.len > 0, "routing id");
        CHECK(strcmp(f.address, "127.0.0.1") == 0, "peer address '%s'", f.address);
        net_route from = f.from;
        CHECK_OK(net_server_send(s, &from, "pong!", 5, WAIT_MS));
        net_frame g;
        if (client_expect(c, &g, WAIT_MS, "pong"))
            CHECK(g.len == 5 && memcmp(g.data, "pong!", 5) == 0, "pong content");
        net_counters st = net_server_totals(s), pc, cc = net_client_totals(c);
        CHECK(st.bytes_received == 4 && st.bytes_sent == 5 && st.frames_received == 1 &&
                  st.frames_sent == 1,
              "server totals %llu/%llu", (unsigned long long)st.bytes_received,
              (unsigned long long)st.bytes_sent);
        CHECK(net_server_peer_counters(s, &from, &pc) && pc.bytes_received == 4 &&
                  pc.bytes_sent == 5,
              "per-peer counters");
        CHECK(cc.bytes_sent == 4 && cc.bytes_received == 5 && cc.frames_sent == 1 &&
                  cc.frames_received == 1,
              "client totals");
        net_client_state cs = net_client_status(c);
        CHECK(cs.connected && cs.connects == 1 && cs.handshake_failures == 0,
              "client state: connected %d, connects %llu, failures %llu (%s)", cs.connected,
              (unsigned long long)cs.connects, (unsigned long long)cs.handshake_failures,
              cs.last_failure);

        /* A recv that times out says so without an error. */
        bool arrived = true;
        double t0 = nt_now();
        CHECK_OK(net_server_recv(s, 150, &f, &arrived));
        double dt = nt_now() - t0;
        CHECK(!arrived && dt >= 0.14 && dt < 1.5, "timed-out recv: arrived %d after %.3f s",
              arrived, dt);
        CHECK_OK(net_client_recv(c, 0, &f, &arrived));
        CHECK(!arrived, "a zero-timeout recv with nothing there");

        /* A routing id nobody has is an error, and so is one that left. */
        net_route nobody = {5, {0, 1, 2, 3, 4}};
        CHECK_STATUS(net_server_send(s, &nobody, "x", 1, 100), DT_ERR_NOT_FOUND, "not connected");
        net_client_close(c);
        c = NULL;
        dt_status last = DT_OK;
        double until = nt_now() + 3;
        while ((last = net_server_send(s, &from, "late", 4, 100)) == DT_OK && nt_now() < until)
            nt_sleep(0.02); /* the disconnect reaches the ROUTER asynchronously */
        CHECK(last == DT_ERR_NOT_FOUND, "send to a closed client: %s (%s)", dt_status_name(last),
              dt_last_error());
        net_server_forget(s, &from);
        CHECK(!net_server_peer_counters(s, &from, &pc), "forgotten route still counted");
    }
    net_client_close(c);
    net_server_close(s);
}

static void test_curve(void) {
    net_keys server_keys, alice, intruder;
    if (!CHECK_OK(net_keys_generate(&server_keys)) || !CHECK_OK(net_keys_generate(&alice)) ||
        !CHECK_OK(net_keys_generate(&intruder)))
        return;
    CHECK_OK(net_keys_add_peer(&server_keys, alice.public_key, "alice"));
    net_server *s = open_server(&server_keys, "tcp://127.0.0.1:0");
    if (!s) return;
    net_client *a = open_client(&alice, server_keys.public_key, no_shape);
    net_frame f;
    net_route alice_route = {0};
    if (a && CHECK_OK(net_client_send(a, "hello", 5, WAIT_MS)) &&
        server_expect(s, &f, WAIT_MS, "curve hello")) {
        CHECK(f.len == 5 && memcmp(f.data, "hello", 5) == 0, "curve content");
        CHECK(strcmp(f.peer_key, alice.public_key) == 0, "sender key '%s', expected alice's",
              f.peer_key);
        alice_route = f.from;
        CHECK_OK(net_server_send(s, &alice_route, "welcome", 7, WAIT_MS));
        if (client_expect(a, &f, WAIT_MS, "curve reply"))
            CHECK(f.len == 7 && memcmp(f.data, "welcome", 7) == 0, "curve reply content");
    }

    /* A key the server does not list: nothing gets through, the refusal
     * is recorded with the key, and the client learns why. */
    net_client *bad = open_client(&intruder, server_keys.public_key, no_shape);
    if (bad) {
        CHECK_STATUS(net_client_send(bad, "let me in", 9, 1500), DT_ERR_IO, "not connected");
        CHECK(server_quiet(s, 300), "a frame from an unlisted key arrived");
        net_refusal r[NET_REFUSALS_KEPT];
        int n = 0;
        uint64_t total = net_server_refusals(s, r, NET_REFUSALS_KEPT, &n);
        CHECK(total >= 1 && n == 1 && strcmp(r[0].key, intruder.public_key) == 0 &&
                  r[0].count == total && strcmp(r[0].address, "127.0.0.1") == 0,
              "refusals: total %llu, kept %d, first '%s' from '%s'", (unsigned long long)total, n,
              n ? r[0].key : "", n ? r[0].address : "");
        net_client_state cs = net_client_status(bad);
        CHECK(!cs.connected && cs.handshake_failures >= 1 && strstr(cs.last_failure, "refused"),
              "refused client state: failures %llu, '%s'",
              (unsigned long long)cs.handshake_failures, cs.last_failure);
        net_client_close(bad);
    }

    /* The right client key but the wrong server key: no handshake. */
    net_client *wrong = open_client(&alice, intruder.public_key, no_shape);
    if (wrong) {
        CHECK_STATUS(net_client_send(wrong, "hi", 2, 1000), DT_ERR_IO, "not connected");
        net_client_state cs = net_client_status(wrong);
        CHECK(!cs.connected && cs.connects == 0 && cs.handshake_failures >= 1 &&
                  strstr(cs.last_failure, "server key"),
              "wrong server key: connects %llu, failures %llu ('%s')",
              (unsigned long long)cs.connects, (unsigned long long)cs.handshake_failures,
              cs.last_failure);
        printf("wrong server key, as the client reports it: %s\n", cs.last_failure);
        net_client_close(wrong);
    }
    /* An open client against a CURVE server. */
    net_client *open = open_client(NULL, NULL, no_shape);
    if (open) {
        CHECK_STATUS(net_client_send(open, "hi", 2, 1000), DT_ERR_IO, "not connected");
        net_client_close(open);
    }
    CHECK(server_quiet(s, 200), "a frame from a misconfigured client arrived");

    /* Alice still works on the same connection. */
    if (a && alice_route.len) {
        CHECK_OK(net_client_send(a, "again", 5, WAIT_MS));
        if (server_expect(s, &f, WAIT_MS, "alice after the intruders"))
            CHECK(net_route_equal(&f.from, &alice_route) &&
                      strcmp(f.peer_key, alice.public_key) == 0,
                  "alice's second frame");
    }
    net_client_close(a);
    net_server_close(s);
    net_keys_free(&server_keys);
    net_keys_free(&alice);
    net_keys_free(&intruder);
}

/* A raw DEALER that sends whatever the test asks, without the client's
 * own checks. */
static void *raw_dealer(void **ctx_out) {
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(sock, connect_to);
    *ctx_out = ctx;
    return sock;
}

static void test_hostile_frames(void) {
    net_server *s = open_server(NULL, NULL);
    if (!s) return;
    net_client *good = open_client(NULL, NULL, no_shape);
    if (!good) return;
    net_frame f;
    uint8_t *big = calloc(1, NET_MAX_FRAME + 1);
    CHECK_STATUS(net_client_send(good, big, NET_MAX_FRAME + 1, 100), DT_ERR_INVALID,
                 "NET_MAX_FRAME");
    /* Exactly NET_MAX_FRAME is allowed. */
    CHECK_OK(net_client_send(good, big, NET_MAX_FRAME, WAIT_MS));
    if (server_expect(s, &f, WAIT_MS, "a frame of exactly NET_MAX_FRAME"))
        CHECK(f.len == NET_MAX_FRAME, "max frame length %zu", f.len);

    /* One byte more from a raw socket: libzmq closes that connection. */
    void *ctx, *raw = raw_dealer(&ctx);
    CHECK(zmq_send(raw, big, NET_MAX_FRAME + 1, 0) == (int)(NET_MAX_FRAME + 1), "raw send");
    /* A multi-frame message is dropped by the server, whole. */
    void *ctx2, *raw2 = raw_dealer(&ctx2);
    zmq_send(raw2, "part1", 5, ZMQ_SNDMORE);
    zmq_send(raw2, "part2", 5, 0);
    zmq_send(raw2, "single", 6, 0);

    CHECK_OK(net_client_send(good, "still here", 10, WAIT_MS));
    bool saw_good = false, saw_single = false;
    double until = nt_now() + 2;
    while (nt_now() < until && !(saw_good && saw_single)) {
        bool arrived = false;
        if (!CHECK_OK(net_server_recv(s, 100, &f, &arrived))) break;
        if (!arrived) continue;
        CHECK(f.len <= NET_MAX_FRAME, "an oversized frame was delivered (%zu bytes)", f.len);
        CHECK(!(f.len == 5 && memcmp(f.data, "part", 4) == 0), "a part of a multi-frame message");
        if (f.len == 10 && memcmp(f.data, "still here", 10) == 0) saw_good = true;
        if (f.len == 6 && memcmp(f.data, "single", 6) == 0) saw_single = true;
    }
    CHECK(saw_good, "the good client's frame after the oversized one did not arrive");
    CHECK(saw_single, "the single frame after a dropped multi-frame message did not arrive");
    CHECK(net_server_dropped(s) == 1, "dropped multi-frame messages: %llu",
          (unsigned long long)net_server_dropped(s));
    /* And a client that connects afterwards is served. */
    net_client *late = open_client(NULL, NULL, no_shape);
    if (late) {
        CHECK_OK(net_client_send(late, "late", 4, WAIT_MS));
        if (server_expect(s, &f, WAIT_MS, "a new client after the oversized frame"))
            CHECK(f.len == 4, "late frame");
        net_client_close(late);
    }
    zmq_close(raw);
    zmq_ctx_term(ctx);
    zmq_close(raw2);
    zmq_ctx_term(ctx2);
    free(big);
    net_client_close(good);
    net_server_close(s);
}

/* ---- link shaping ---------------------------------------------------------- */

#define SHAPED_TOTAL  1000000
#define SHAPED_FRAMES 16

/* Sends a small frame through c and waits for it, so the timing that
 * follows does not include connecting. Returns the routing id. */
static net_route warm_up(net_server *s, net_client *c) {
    net_route r = {0};
    net_frame f;
    CHECK_OK(net_client_send(c, "w", 1, WAIT_MS));
    CHECK_OK(net_client_flush(c, WAIT_MS));
    if (server_expect(s, &f, WAIT_MS, "warm-up")) r = f.from;
    return r;
}

/* Seconds for `frames` frames of `each` bytes to go up from c to s. */
static double time_upload(net_server *s, net_client *c, int frames, size_t each) {
    uint8_t *buf = calloc(1, each);
    double t0 = nt_now();
    for (int i = 0; i < frames; i++) CHECK_OK(net_client_send(c, buf, each, WAIT_MS));
    int got = 0;
    while (got < frames && nt_now() - t0 < 10) {
        net_client_status(c); /* moves due frames: the peer's loop does this in recv */
        net_frame f;
        bool arrived = false;
        if (!CHECK_OK(net_server_recv(s, 5, &f, &arrived))) break;
        if (arrived && f.len == each) got++;
    }
    CHECK(got == frames, "upload: %d of %d frames arrived", got, frames);
    free(buf);
    return nt_now() - t0;
}

static double time_download(net_server *s, net_client *c, const net_route *to, int frames,
                            size_t each) {
    uint8_t *buf = calloc(1, each);
    double t0 = nt_now();
    for (int i = 0; i < frames; i++) CHECK_OK(net_server_send(s, to, buf, each, WAIT_MS));
    int got = 0;
    while (got < frames && nt_now() - t0 < 10) {
        net_frame f;
        bool arrived = false;
        if (!CHECK_OK(net_client_recv(c, 100, &f, &arrived))) break;
        if (arrived) got++;
    }
    CHECK(got == frames, "download: %d of %d frames arrived", got, frames);
    free(buf);
    return nt_now() - t0;
}

static void test_shaping(void) {
    net_server *s = open_server(NULL, NULL);
    if (!s) return;
    const size_t each = SHAPED_TOTAL / SHAPED_FRAMES;

    net_client *plain = open_client(NULL, NULL, no_shape);
    warm_up(s, plain);
    double t_plain = time_upload(s, plain, SHAPED_FRAMES, each);
    net_client_close(plain);

    net_client *up = open_client(NULL, NULL, (net_link_shape){2e6, 0, 0, 0});
    warm_up(s, up);
    double t_up = time_upload(s, up, SHAPED_FRAMES, each);
    CHECK(t_up > 0.45 && t_up < 1.5, "1 MB up at 2 MB/s took %.3f s (expected about 0.5)", t_up);
    /* Queued frames wait for their time; flush gives up honestly. */
    uint8_t buf[1000] = {0};
    CHECK_OK(net_client_send(up, buf, sizeof buf, 0));
    CHECK_OK(net_client_send(up, buf, sizeof buf, 0));
    net_client_close(up); /* closing with frames queued does not wait for them */

    net_client *slow = open_client(NULL, NULL, (net_link_shape){1000, 0, 0, 0});
    warm_up(s, slow);
    CHECK_OK(net_client_send(slow, buf, sizeof buf, 0));
    CHECK(net_client_pending(slow) == 1, "pending after a send at 1000 B/s: %zu",
          net_client_pending(slow));
    CHECK_STATUS(net_client_flush(slow, 50), DT_ERR_IO, "still queued");
    CHECK_OK(net_client_flush(slow, 3000));
    CHECK(net_client_pending(slow) == 0, "pending after flush");
    net_frame f;
    if (server_expect(s, &f, WAIT_MS, "the flushed frame"))
        CHECK(f.len == sizeof buf, "flushed frame of %zu bytes", f.len);
    net_client_close(slow);

    net_client *lat = open_client(NULL, NULL, (net_link_shape){0, 0.3, 0, 0});
    warm_up(s, lat);
    double t_lat = time_upload(s, lat, 1, 10);
    CHECK(t_lat > 0.28 && t_lat < 1.3, "a frame with 0.3 s up latency took %.3f s", t_lat);
    net_client_close(lat);

    net_client *down = open_client(NULL, NULL, (net_link_shape){0, 0, 2e6, 0});
    net_route r = warm_up(s, down);
    double t_down = time_download(s, down, &r, SHAPED_FRAMES, each);
    CHECK(t_down > 0.45 && t_down < 1.5, "1 MB down at 2 MB/s took %.3f s (expected about 0.5)",
          t_down);
    net_client_close(down);

    net_client *dlat = open_client(NULL, NULL, (net_link_shape){0, 0, 0, 0.2});
    r = warm_up(s, dlat);
    double t_dlat = time_download(s, dlat, &r, 1, 10);
    CHECK(t_dlat > 0.18 && t_dlat < 1.2, "a frame with 0.2 s down latency took %.3f s", t_dlat);
    net_client_close(dlat);

    printf("shaping: 1 MB up unshaped %.3f s, at 2 MB/s %.3f s; down at 2 MB/s %.3f s; "
           "latency up 0.3 s -> %.3f s, down 0.2 s -> %.3f s\n",
           t_plain, t_up, t_down, t_lat, t_dlat);
    net_server_close(s);
}

/* ---- restart, errors, shutdown --------------------------------------------- */

static void test_reconnect(void) {
    net_server *s = open_server(NULL, NULL);
    if (!s) return;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", net_server_port(s));
    net_client *c = open_client(NULL, NULL, no_shape);
    net_frame f;
    CHECK_OK(net_client_send(c, "one", 3, WAIT_MS));
    server_expect(s, &f, WAIT_MS, "before the restart");
    net_server_close(s);

    net_server_config cfg = {endpoint, NULL, true, 0};
    s = NULL;
    for (int i = 0; i < 50 && !s; i++)
        if (net_server_open(&cfg, &s) != DT_OK) nt_sleep(0.1);
    if (!s) {
        nt_fail(__FILE__, __LINE__, "cannot reopen %s: %s", endpoint, dt_last_error());
        net_client_close(c);
        return;
    }
    /* A frame sent before the client noticed the restart dies with the old
     * connection, so a peer watches `connects` and says HELLO again on the
     * new one: the same here. */
    net_client_state cs = net_client_status(c);
    double until = nt_now() + WAIT_MS / 1000.0;
    while (cs.connects < 2 && nt_now() < until) {
        nt_sleep(0.01);
        cs = net_client_status(c);
    }
    CHECK(cs.connects == 2 && cs.connected, "connects after a restart: %llu",
          (unsigned long long)cs.connects);
    CHECK_OK(net_client_send(c, "two", 3, WAIT_MS));
    if (server_expect(s, &f, WAIT_MS, "after the restart"))
        CHECK(f.len == 3 && memcmp(f.data, "two", 3) == 0, "frame after the restart");
    net_client_close(c);
    net_server_close(s);
}

static void test_errors(void) {
    net_server *s = NULL;
    net_server_config none = {"tcp://127.0.0.1:*", NULL, false, 0};
    CHECK_STATUS(net_server_open(&none, &s), DT_ERR_INVALID, "--open");
    net_keys k;
    if (net_keys_generate(&k) != DT_OK) return;
    net_server_config both = {"tcp://127.0.0.1:*", &k, true, 0};
    CHECK_STATUS(net_server_open(&both, &s), DT_ERR_INVALID, "exclusive");
    net_server *a = open_server(NULL, NULL);
    if (a) {
        char ep[64];
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", net_server_port(a));
        net_server_config taken = {ep, NULL, true, 0};
        CHECK_STATUS(net_server_open(&taken, &s), DT_ERR_IO, "cannot listen on", ep);
        /* The same with CURVE: the ZAP thread already started is stopped. */
        net_server_config taken_curve = {ep, &k, false, 0};
        CHECK_STATUS(net_server_open(&taken_curve, &s), DT_ERR_IO, "cannot listen on", ep);
        net_server_close(a);
    }
    net_server_config junk = {"nonsense://x", NULL, true, 0};
    CHECK_STATUS(net_server_open(&junk, &s), DT_ERR_IO, "nonsense://x");

    net_client *c = NULL;
    net_client_config no_own = {"tcp://127.0.0.1:1", NULL, k.public_key, no_shape, 0};
    CHECK_STATUS(net_client_open(&no_own, &c), DT_ERR_INVALID, "own keypair");
    net_client_config no_server = {"tcp://127.0.0.1:1", &k, NULL, no_shape, 0};
    CHECK_STATUS(net_client_open(&no_server, &c), DT_ERR_INVALID, "public key");
    net_client_config bad_server = {"tcp://127.0.0.1:1", &k, "not a key", no_shape, 0};
    CHECK_STATUS(net_client_open(&bad_server, &c), DT_ERR_INVALID, "server key");
    net_client_config empty = {"", NULL, NULL, no_shape, 0};
    CHECK_STATUS(net_client_open(&empty, &c), DT_ERR_INVALID, "empty");
    net_keys_free(&k);
}

static void test_shutdown(void) {
    net_keys sk, ck;
    if (net_keys_generate(&sk) != DT_OK || net_keys_generate(&ck) != DT_OK) return;
    net_keys_add_peer(&sk, ck.public_key, NULL);
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        double t0 = nt_now();
        net_server *s = open_server(&sk, NULL);
        if (!s) break;
        net_client *c = open_client(&ck, sk.public_key, (net_link_shape){1000, 0.5, 0, 0});
        if (c) net_client_send(c, "queued", 6, 0);
        /* Alternate which side goes first. */
        if (i % 2) {
            net_server_close(s);
            net_client_close(c);
        } else {
            net_client_close(c);
            net_server_close(s);
        }
        double dt = nt_now() - t0;
        if (dt > worst) worst = dt;
    }
    CHECK(worst < 2.0, "open + close took up to %.3f s", worst);
    /* A client whose server never existed closes at once. */
    snprintf(connect_to, sizeof connect_to, "tcp://127.0.0.1:1");
    double t0 = nt_now();
    net_client *c = open_client(NULL, NULL, no_shape);
    bool arrived;
    net_frame f;
    CHECK_OK(net_client_recv(c, 100, &f, &arrived));
    net_client_close(c);
    CHECK(nt_now() - t0 < 1.5, "closing a client that never connected took %.3f s", nt_now() - t0);
    printf("shutdown: 10 CURVE open/close cycles, slowest %.3f s\n", worst);
    net_keys_free(&sk);
    net_keys_free(&ck);
}

int main(void) {
    /* Without CURVE only the cases that need it are skipped (said so); the
     * open transport is tested either way. */
    const bool curve = zmq_has("curve");
    test_open_round_trip();
    if (curve) test_curve();
    test_hostile_frames();
    test_shaping();
    test_reconnect();
    if (curve) test_errors();
    if (curve) test_shutdown();
    if (!curve)
        printf("skipped the CURVE cases (round trips with keys, key errors, CURVE shutdown): "
               "this libzmq has no CURVE support\n");
    return nt_finish("test_transport");
}
