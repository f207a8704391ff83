/* The coordinator's bookkeeping of joining and synced peers, white box: a
 * coord assembled by hand around a real server on loopback, real client
 * connections (their routes) and the tiny preset's replica on the cpu.
 * Each case sets peers' states, calls the function under test and checks
 * what it decided and what reached the clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "model/model.h"
#include "net/assembly.h"
#include "net/coordinator_internal.h"
#include "net/transport.h"
#include "net_test_util.h"

#define WAIT_MS  5000
#define NCLIENTS 3

typedef struct harness {
    coord c;
    net_coordinator_options o;
    net_run_config cfg;
    net_server *server;
    net_client *client[NCLIENTS];
    net_route route[NCLIENTS];
    int left, resyncs; /* LEFT and RESYNC events seen */
} harness;

static void sink(const net_event *e, void *ctx) {
    harness *h = ctx;
    h->left += e->kind == NET_EVENT_LEFT;
    h->resyncs += e->kind == NET_EVENT_RESYNC;
}

static bool connect_client(harness *h, int i) {
    char to[64];
    snprintf(to, sizeof to, "tcp://127.0.0.1:%d", net_server_port(h->server));
    net_client_config ccfg = {to, NULL, NULL, {0, 0, 0, 0}, 0};
    if (!CHECK_OK(net_client_open(&ccfg, &h->client[i]))) return false;
    CHECK_OK(net_client_send(h->client[i], "w", 1, WAIT_MS));
    CHECK_OK(net_client_flush(h->client[i], WAIT_MS));
    net_frame f;
    bool arrived = false;
    CHECK_OK(net_server_recv(h->server, WAIT_MS, &f, &arrived));
    CHECK(arrived, "client %d's first frame did not arrive", i);
    h->route[i] = f.from;
    return arrived;
}

/* Version 5 of a tiny replica, its snapshot taken. */
static bool setup(harness *h) {
    memset(h, 0, sizeof *h);
    net_server_config scfg = {"tcp://127.0.0.1:*", NULL, 1, 0};
    if (!CHECK_OK(net_server_open(&scfg, &h->server))) return false;
    for (int i = 0; i < NCLIENTS; i++)
        if (!connect_client(h, i)) return false;
    net_run_config_default(&h->cfg);
    if (!CHECK_OK(model_config_preset("tiny", &h->cfg.model))) return false;
    h->cfg.micro_batch = 4;
    h->cfg.join_timeout_s = 60;
    h->o.config = &h->cfg;
    h->o.open = 1;
    h->o.events = (net_event_sink){sink, h};
    coord *c = &h->c;
    c->o = &h->o;
    c->cfg = &h->cfg;
    c->server = h->server;
    c->run_id = 7;
    c->version = 5;
    c->next_id = 1;
    c->frame = malloc(NET_MAX_FRAME);
    c->msg = malloc(sizeof *c->msg);
    c->history_cap = 64;
    c->history = calloc((size_t)c->history_cap, sizeof *c->history);
    c->started_at = coord_now();
    if (!c->frame || !c->msg || !c->history) return false;
    if (!CHECK_OK(dt_device_open("cpu", &c->dev))) return false;
    if (!CHECK_OK(model_create(c->dev, &h->cfg.model, h->cfg.micro_batch, &c->m))) return false;
    if (!CHECK_OK(model_init_weights(c->m))) return false;
    return CHECK_OK(coord_take_snapshot(c, NULL));
}

static void teardown(harness *h) {
    coord *c = &h->c;
    for (int i = 0; i < NET_MAX_PEERS; i++) free(c->peers[i].submit);
    free(c->snapshot);
    free(c->prev_snapshot);

    free(c->frame);
    free(c->msg);
    free(c->history);
    model_destroy(c->m);
    dt_device_close(c->dev);
    for (int i = 0; i < NCLIENTS; i++) net_client_close(h->client[i]);
    net_server_close(h->server);
}

/* A live peer in slot i on client i's route. */
static coord_peer *add_peer(harness *h, int i, coord_peer_state state) {
    coord_peer *p = &h->c.peers[i];
    memset(p, 0, sizeof *p);
    p->state = state;
    p->id = h->c.next_id++;
    p->route = h->route[i];
    snprintf(p->name, sizeof p->name, "p%d", i);
    snprintf(p->address, sizeof p->address, "127.0.0.1");
    p->version = p->sent = h->c.version;
    p->joined_at = coord_now();
    return p;
}

/* The type of the next message client i receives (-1: none in time). */
static int client_next(harness *h, int i, net_msg *m, int timeout_ms) {
    net_frame f;
    bool arrived = false;
    if (net_client_recv(h->client[i], timeout_ms, &f, &arrived) != DT_OK || !arrived) return -1;
    if (net_decode(f.data, f.len, m) != DT_OK) return -1;
    return m->h.type;
}

/* A joiner offered the current snapshot, as WELCOME would. */
static coord_peer *add_joiner(harness *h, int i) {
    coord_peer *p = add_peer(h, i, PEER_JOINING);
    p->offered = h->c.snapshot_version;
    p->offered_hash = h->c.snapshot_hash;
    p->state_needed = h->c.snapshot_bytes;
    p->version = p->sent = -1;
    return p;
}

static net_msg state_req(const harness *h, int64_t step, uint64_t offset, uint32_t length) {
    net_msg m = {.h = {NET_STATE_REQ, h->c.run_id, step}};
    m.u.state_req.offset = offset;
    m.u.state_req.length = length;
    return m;
}

/* A synced peer whose queue filled (blocked_since set), then resynced: the
 * old stall is forgotten, and a joiner is never judged by the 30 s stall
 * rule, only by the join's own limits (finding B). */
static void test_resync_clears_stall(void) {
    harness h;
    if (!setup(&h)) return;
    coord_peer *p = add_peer(&h, 0, PEER_SYNCED);
    p->blocked_since = coord_now() - 10.0;
    CHECK_OK(coord_send_resync(&h.c, p, "test"));
    CHECK(p->state == PEER_JOINING, "the resynced peer is not joining");
    CHECK(p->blocked_since == 0, "the resync kept blocked_since (%.1f s ago)",
          coord_now() - p->blocked_since);
    net_msg m;
    CHECK(client_next(&h, 0, &m, WAIT_MS) == NET_RESYNC, "the client got no RESYNC");

    /* A joiner carrying an old stall mark, heard just now: it stays. */
    p->blocked_since = coord_now() - 2 * COORD_STALL_S;
    coord_reap(&h.c, false);
    CHECK(p->state == PEER_JOINING && h.left == 0,
          "a joiner was dropped by the stall rule for synced peers");
    /* The rule itself still holds for a synced peer. */
    p->state = PEER_SYNCED;
    coord_reap(&h.c, false);
    CHECK(p->state == PEER_GONE && h.left == 1, "a synced peer stalled 60 s was not dropped");
    teardown(&h);
}

/* A joiner pulls the snapshot of version 5 while the run moves to 6 and
 * 7; resyncs and a "keep" HELLO arrive. Before the fix either one reloaded
 * the snapshot in place, the joiner's next STATE_REQ named a step no
 * longer served and it started over from byte 0 (a peer poking every
 * 0.5 s starved it forever). Now a snapshot being pulled is kept as the
 * previous one and served by version until its joiners finish (finding C). */
static void test_snapshot_kept_for_joiners(void) {
    harness h;
    if (!setup(&h)) return;
    coord *c = &h.c;
    net_msg m = {0};
    coord_peer *a = add_joiner(&h, 0);
    uint64_t off = 0;
    net_msg req = state_req(&h, 5, off, 1024);
    CHECK_OK(coord_on_state_req(c, a, &req));
    CHECK(client_next(&h, 0, &m, WAIT_MS) == NET_STATE, "the joiner got no STATE");

    c->version = 6; /* a round was applied */
    coord_peer *b = add_peer(&h, 1, PEER_SYNCED);
    CHECK_OK(coord_send_resync(c, b, "test"));
    CHECK(b->offered == 6, "the resynced peer was offered step %lld, not the current 6",
          (long long)b->offered);
    CHECK(client_next(&h, 1, &m, WAIT_MS) == NET_RESYNC && m.h.step == 6,
          "the resynced peer got no RESYNC for step 6");

    /* A reconnecting peer that holds version 6 keeps it (its hash checked
     * against the replica's). */
    uint64_t hash6 = 0;
    CHECK_OK(model_param_hash(c->m, &hash6));
    net_msg hello = {.h = {NET_HELLO, 0, -1}};
    snprintf(hello.u.hello.name, sizeof hello.u.hello.name, "keeper");
    hello.u.hello.have_run_id = c->run_id;
    hello.u.hello.have_step = 6;
    hello.u.hello.have_hash = hash6;
    net_frame f = {.from = h.route[2]};
    snprintf(f.address, sizeof f.address, "127.0.0.1");
    CHECK_OK(coord_on_hello(c, &f, &hello));
    CHECK(client_next(&h, 2, &m, WAIT_MS) == NET_WELCOME && m.u.welcome.state_bytes == 0 &&
              m.u.welcome.state_step == 6 && m.u.welcome.state_hash == hash6,
          "the keeper was not told to keep version 6");
    coord_peer *k = coord_peer_by_route(c, &h.route[2]);
    net_msg ack = {.h = {NET_HASH, c->run_id, 6}};
    ack.u.hash.hash = hash6;
    CHECK(k != NULL, "the keeper has no slot");
    if (k) {
        CHECK_OK(coord_on_hash(c, k, &ack));
        CHECK(k->state == PEER_SYNCED, "the keeper's hash of step 6 was not accepted");
    }

    c->version = 7; /* and again, with the first joiner still pulling */
    CHECK_OK(coord_send_resync(c, b, "test"));
    CHECK(b->offered == 7, "the second resync was offered step %lld", (long long)b->offered);

    /* The first joiner goes on where it was, to the end of step 5's. */
    for (off = 1024; off < c->snapshot_bytes; off += 65536) {
        uint64_t left = c->snapshot_bytes - off;
        req = state_req(&h, 5, off, left < 65536 ? (uint32_t)left : 65536);
        CHECK_OK(coord_on_state_req(c, a, &req));
        if (client_next(&h, 0, &m, WAIT_MS) != NET_STATE || m.h.step != 5) break;
    }
    CHECK(off >= c->snapshot_bytes && a->resyncs == 0 && a->state == PEER_JOINING,
          "the joiner pulling step 5 was sent back to byte 0 (at %llu of %zu bytes)",
          (unsigned long long)off, c->snapshot_bytes);
    teardown(&h);
}

/* Requests the whole of the peer's current offer in 64 KiB chunks;
 * whether every chunk came back as STATE (the peer is on client i). */
static bool pull_whole(harness *h, coord_peer *p, int i) {
    net_msg m;
    for (uint64_t off = 0; off < h->c.snapshot_bytes; off += 65536) {
        uint64_t left = h->c.snapshot_bytes - off;
        net_msg req = state_req(h, p->offered, off, left < 65536 ? (uint32_t)left : 65536);
        if (coord_on_state_req(&h->c, p, &req) != DT_OK || p->state != PEER_JOINING) return false;
        if (client_next(h, i, &m, WAIT_MS) != NET_STATE) return false;
    }
    return true;
}

static bool gone_for(const coord_peer *p, const char *why) {
    return p->state == PEER_GONE && strstr(p->gone, why) != NULL;
}

/* The limit on weights served holds across resyncs and HELLOs (finding D).
 * Before the fix a RESYNC, which a wrong-step STATE_REQ got at will, or a
 * HELLO again reset the count: one connection pumped 38,625 copies of the
 * snapshot (19 GB) in 10 s. */
static void test_pulls_bounded(void) {
    harness h;
    if (!setup(&h)) return;
    coord *c = &h.c;
    net_msg m;

    /* A step it was never offered: dropped with a strike, not resynced. */
    coord_peer *a = add_joiner(&h, 0);
    net_msg req = state_req(&h, 12345, 0, 1);
    CHECK_OK(coord_on_state_req(c, a, &req));
    CHECK(gone_for(a, "never offered") && h.resyncs == 0,
          "a STATE_REQ for a step never offered was not dropped (state %d, '%s')", a->state,
          a->gone);
    memset(c->offenders, 0, sizeof c->offenders); /* the next cases share the address */

    /* Twice, a resync (a bad HASH, say), once more: then no more. */
    coord_peer *b = add_joiner(&h, 1);
    CHECK(pull_whole(&h, b, 1) && pull_whole(&h, b, 1), "two pulls were not served");
    CHECK_OK(coord_send_resync(c, b, "test"));
    CHECK(client_next(&h, 1, &m, WAIT_MS) == NET_RESYNC, "no RESYNC");
    CHECK(pull_whole(&h, b, 1), "the pull after a resync was not served");
    CHECK(!pull_whole(&h, b, 1) && gone_for(b, "over and over"),
          "a fourth pull in one join was served (state %d)", b->state);
    memset(c->offenders, 0, sizeof c->offenders);

    /* Twice, HELLO again on the same connection, once more: then no more. */
    net_msg hello = {.h = {NET_HELLO, 0, -1}};
    snprintf(hello.u.hello.name, sizeof hello.u.hello.name, "again");
    hello.u.hello.have_step = -1;
    net_frame f = {.from = h.route[2]};
    snprintf(f.address, sizeof f.address, "127.0.0.1");
    CHECK_OK(coord_on_hello(c, &f, &hello));
    coord_peer *d = coord_peer_by_route(c, &h.route[2]);
    CHECK(d && client_next(&h, 2, &m, WAIT_MS) == NET_WELCOME, "no WELCOME");
    if (d) CHECK(pull_whole(&h, d, 2) && pull_whole(&h, d, 2), "two pulls were not served");
    CHECK_OK(coord_on_hello(c, &f, &hello));
    d = coord_peer_by_route(c, &h.route[2]);
    CHECK(d && client_next(&h, 2, &m, WAIT_MS) == NET_WELCOME, "no second WELCOME");
    if (d) {
        CHECK(pull_whole(&h, d, 2), "the pull after a HELLO again was not served");
        CHECK(!pull_whole(&h, d, 2) && gone_for(d, "over and over"),
              "a fourth pull on one connection was served (state %d)", d->state);
    }
    teardown(&h);
}

/* A peer resynced again and again makes at most one RESYNC event a second. */
static void test_resync_events_limited(void) {
    harness h;
    if (!setup(&h)) return;
    coord_peer *p = add_peer(&h, 0, PEER_SYNCED);
    net_msg m;
    for (int i = 0; i < 20; i++) {
        CHECK_OK(coord_send_resync(&h.c, p, "test"));
        client_next(&h, 0, &m, WAIT_MS);
    }
    CHECK(p->resyncs == 20, "%lld resyncs, not 20", (long long)p->resyncs);
    CHECK(h.resyncs <= 2, "20 resyncs in a moment made %d RESYNC events", h.resyncs);
    teardown(&h);
}

/* A join's deadline moves with the weights pulled, not with talk; an
 * overall limit scaled by the snapshot's size caps it (finding E). */
static void test_join_deadline(void) {
    harness h;
    if (!setup(&h)) return;
    coord *c = &h.c;
    net_msg m;
    coord_peer *p = add_peer(&h, 0, PEER_SYNCED);
    CHECK_OK(coord_send_resync(c, p, "test"));
    client_next(&h, 0, &m, WAIT_MS);
    double now = coord_now(), t = h.cfg.join_timeout_s;
    CHECK(p->join_deadline > now + t - 5 && p->join_deadline <= now + t,
          "the deadline is not join_timeout_s from the offer");
    CHECK(p->join_limit >= p->join_deadline + (double)c->snapshot_bytes / COORD_JOIN_MIN_RATE - 1,
          "the overall limit does not scale with the snapshot");

    /* The same bytes again, or a HASH, are no progress. */
    p->join_deadline = now + 0.5;
    net_msg req = state_req(&h, p->offered, 0, 1024);
    CHECK_OK(coord_on_state_req(c, p, &req));
    client_next(&h, 0, &m, WAIT_MS);
    CHECK_OK(coord_on_state_req(c, p, &req));
    client_next(&h, 0, &m, WAIT_MS);
    net_msg hash = {.h = {NET_HASH, c->run_id, 0}};
    CHECK_OK(coord_on_hash(c, p, &hash));
    CHECK(p->join_deadline == now + 0.5, "talking moved the join's deadline");
    /* The rest of the weights is. */
    req = state_req(&h, p->offered, 1024, (uint32_t)(c->snapshot_bytes - 1024));
    CHECK_OK(coord_on_state_req(c, p, &req));
    client_next(&h, 0, &m, WAIT_MS);
    CHECK(p->join_deadline > now + t - 5, "pulling the weights did not move the deadline");

    p->join_deadline = coord_now() - 0.1;
    coord_reap(c, false);
    CHECK(gone_for(p, "no progress"), "a join past its deadline was kept ('%s')", p->gone);
    teardown(&h);
}

/* A raw DEALER that holds at most one received frame and a small socket
 * buffer: what it does not read stays in the coordinator's send queue
 * (net_client's default receive queue of 1,000 frames would hide it). */
static void *slow_reader(harness *h, void *ctx, net_route *route) {
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int one = 1, small = 64 << 10, zero = 0;
    zmq_setsockopt(d, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(d, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    char to[64];
    snprintf(to, sizeof to, "tcp://127.0.0.1:%d", net_server_port(h->server));
    zmq_connect(d, to);
    zmq_send(d, "w", 1, 0);
    net_frame f;
    bool arrived = false;
    CHECK_OK(net_server_recv(h->server, WAIT_MS, &f, &arrived));
    CHECK(arrived, "the slow reader's first frame did not arrive");
    *route = f.from;
    return d;
}

#define FILLERS 50  /* one-chunk results queued ahead of the large one */
#define BIG_N   135 /* payloads of 1 MiB in the large result: 34 chunks */

/* A peer behind by FILLERS small results and one of 34 chunks (135 MiB),
 * reading one frame per loop turn (retry_backlogs after each). The queue
 * (64 frames; its space comes back 32 at a time) fills inside the large
 * one. Before the fix every turn sent it again from offset 0, 32 chunks
 * fit, the peer restarted its reassembly each time and it never arrived
 * whole; now it resumes at the first chunk not queued, and a retry that
 * queues a chunk restarts the 30 s stall clock (the peer reads). */
static void test_result_resumes(void) {
    harness h;
    if (!setup(&h)) return;
    coord *c = &h.c;
    void *ctx = zmq_ctx_new();
    net_route route;
    void *d = slow_reader(&h, ctx, &route);
    c->payload_bytes = (size_t)1 << 20;
    uint8_t *small = calloc(1, c->payload_bytes), *big = malloc(BIG_N * c->payload_bytes);
    net_msg *m = malloc(sizeof *m);
    if (!small || !big || !m) return;
    for (size_t i = 0; i < BIG_N * c->payload_bytes; i++) big[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int i = 0; i <= FILLERS; i++) {
        coord_result *r = &c->history[i];
        *r = (coord_result){.step = 5 + i,
                            .n_applied = i < FILLERS ? 1 : BIG_N,
                            .payloads = i < FILLERS ? small : big};
        for (uint32_t k = 0; k < r->n_applied; k++) r->applied[k] = k + 1; /* ascending ids */
    }
    c->history_len = FILLERS + 1;
    c->version = 5 + FILLERS + 1;
    coord_peer *p = add_peer(&h, 0, PEER_SYNCED);
    p->route = route;
    p->version = p->sent = 5;
    CHECK_OK(coord_catch_up(c, p));
    CHECK(p->blocked_since > 0, "the queue took all %d results at once", FILLERS + 1);

    net_assembly a = {0};
    int64_t next = 5; /* the step whose result completes next */
    int starts = 0;   /* chunks at offset 0 of the large result */
    for (int turn = 0; turn < 400 && next < c->version; turn++) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        zmq_pollitem_t item = {d, 0, ZMQ_POLLIN, 0};
        bool got = zmq_poll(&item, 1, WAIT_MS) == 1 && zmq_msg_recv(&f, d, 0) >= 0 &&
                   net_decode(zmq_msg_data(&f), zmq_msg_size(&f), m) == DT_OK &&
                   m->h.type == NET_RESULT;
        net_assembly_result r = NET_ASSEMBLY_SKIPPED;
        if (got) { /* as the peer does (net/peer.c, on_result) */
            starts += m->h.step == 5 + FILLERS && m->u.result.chunk.offset == 0;
            CHECK_OK(net_assembly_add(&a, m->h.step, &m->u.result.chunk,
                                      (uint64_t)BIG_N * c->payload_bytes, &r));
        }
        zmq_msg_close(&f);
        if (!got) break;
        if (r == NET_ASSEMBLY_COMPLETE) {
            CHECK(m->h.step == next, "step %lld completed, %lld expected", (long long)m->h.step,
                  (long long)next);
            if (m->h.step == 5 + FILLERS)
                CHECK(memcmp(a.buf, big, BIG_N * c->payload_bytes) == 0,
                      "the large result arrived with other bytes");
            next++;
        }
        if (p->blocked_since > 0) { /* retry_backlogs, the peer 20 s behind */
            int64_t sent = p->sent;
            uint64_t bytes = p->sent_bytes;
            p->blocked_since = coord_now() - 20.0;
            CHECK_OK(coord_catch_up(c, p));
            bool moved = p->sent != sent || p->sent_bytes != bytes;
            double blocked = p->blocked_since > 0 ? coord_now() - p->blocked_since : 0;
            CHECK(moved ? blocked < 5 : blocked >= 20,
                  "the stall clock says %.0f s after a retry that %s", blocked,
                  moved ? "queued chunks" : "queued nothing");
        }
    }
    CHECK(next == c->version, "the peer assembled results up to step %lld of %lld", (long long)next,
          (long long)c->version);
    CHECK(starts == 1, "the large result was started %d times", starts);
    CHECK(p->state == PEER_SYNCED && p->sent == c->version && p->blocked_since == 0,
          "the coordinator did not finish (state %d, sent %lld)", p->state, (long long)p->sent);
    net_assembly_free(&a);
    free(m);
    free(small);
    free(big);
    c->history_len = 0;
    zmq_close(d);
    zmq_ctx_term(ctx);
    teardown(&h);
}

int main(void) {
    test_resync_clears_stall();
    test_snapshot_kept_for_joiners();
    test_pulls_bounded();
    test_resync_events_limited();
    test_join_deadline();
    test_result_resumes();
    return nt_finish("test_coord_peers");
}
