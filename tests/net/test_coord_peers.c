/* The coordinator's bookkeeping of joining and synced peers, white box: a
 * coord assembled by hand around a real server on loopback and one real
 * client connection (its route), with a snapshot already taken so no model
 * is needed. Each case sets a peer's state, calls the function under test
 * and checks what it decided and what reached the client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"
#include "net/transport.h"
#include "net_test_util.h"

#define WAIT_MS 5000

typedef struct harness {
    coord c;
    net_coordinator_options o;
    net_run_config cfg;
    net_server *server;
    net_client *client;
    net_route route;
    int left; /* LEFT events seen */
} harness;

static void sink(const net_event *e, void *ctx) {
    harness *h = ctx;
    if (e->kind == NET_EVENT_LEFT) h->left++;
}

static bool setup(harness *h) {
    memset(h, 0, sizeof *h);
    net_server_config scfg = {"tcp://127.0.0.1:*", NULL, 1, 0};
    if (!CHECK_OK(net_server_open(&scfg, &h->server))) return false;
    char to[64];
    snprintf(to, sizeof to, "tcp://127.0.0.1:%d", net_server_port(h->server));
    net_client_config ccfg = {to, NULL, NULL, {0, 0, 0, 0}, 0};
    if (!CHECK_OK(net_client_open(&ccfg, &h->client))) return false;
    CHECK_OK(net_client_send(h->client, "w", 1, WAIT_MS));
    CHECK_OK(net_client_flush(h->client, WAIT_MS));
    net_frame f;
    bool arrived = false;
    CHECK_OK(net_server_recv(h->server, WAIT_MS, &f, &arrived));
    CHECK(arrived, "the client's first frame did not arrive");
    if (!arrived) return false;
    h->route = f.from;
    h->cfg.join_timeout_s = 60;
    h->o.config = &h->cfg;
    h->o.events = (net_event_sink){sink, h};
    coord *c = &h->c;
    c->o = &h->o;
    c->cfg = &h->cfg;
    c->server = h->server;
    c->run_id = 7;
    c->version = c->snapshot_version = 5;
    c->snapshot_bytes = 1024;
    c->snapshot = calloc(1, c->snapshot_bytes);
    c->snapshot_hash = 0x1234;
    c->frame = malloc(NET_MAX_FRAME);
    c->msg = malloc(sizeof *c->msg);
    c->started_at = coord_now();
    return c->snapshot && c->frame && c->msg;
}

static void teardown(harness *h) {
    free(h->c.snapshot);
    free(h->c.frame);
    free(h->c.msg);
    net_client_close(h->client);
    net_server_close(h->server);
}

/* A live peer on the client's route. */
static coord_peer *add_peer(harness *h, coord_peer_state state) {
    coord_peer *p = &h->c.peers[0];
    memset(p, 0, sizeof *p);
    p->state = state;
    p->id = 1;
    p->route = h->route;
    snprintf(p->name, sizeof p->name, "p");
    snprintf(p->address, sizeof p->address, "127.0.0.1");
    p->version = p->sent = h->c.version;
    p->joined_at = p->last_heard = coord_now();
    return p;
}

/* The type of the next message the client receives (-1: none). */
static int client_next(harness *h, net_msg *m) {
    net_frame f;
    bool arrived = false;
    if (net_client_recv(h->client, WAIT_MS, &f, &arrived) != DT_OK || !arrived) return -1;
    if (net_decode(f.data, f.len, m) != DT_OK) return -1;
    return m->h.type;
}

/* A synced peer whose queue filled (blocked_since set), then resynced: the
 * old stall is forgotten, and a joiner is never judged by the 30 s stall
 * rule, only by the join's own limits (finding B). */
static void test_resync_clears_stall(void) {
    harness h;
    if (!setup(&h)) return;
    coord_peer *p = add_peer(&h, PEER_SYNCED);
    p->blocked_since = coord_now() - 10.0;
    CHECK_OK(coord_send_resync(&h.c, p, "test"));
    CHECK(p->state == PEER_JOINING, "the resynced peer is not joining");
    CHECK(p->blocked_since == 0, "the resync kept blocked_since (%.1f s ago)",
          coord_now() - p->blocked_since);
    net_msg m;
    CHECK(client_next(&h, &m) == NET_RESYNC, "the client got no RESYNC");

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

int main(void) {
    test_resync_clears_stall();
    return nt_finish("test_coord_peers");
}
