/* Peers: the weights they pull, resyncs, leaving, and what a failed send
 * means for the peer it was for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"
#include "runtime/text.h"

/* A joiner may pull its snapshot twice over (requests in flight when a
 * RESYNC crosses them are served again), never more: asking for the
 * weights again and again is how a connection that never reads would make
 * the coordinator queue copies of them. */
#define STATE_PULLS_ALLOWED 2
/* And over one whole join (since the peer was last synced, across resyncs
 * and a HELLO again on its connection) three snapshots' worth: a resync
 * mid-join pulls again, but resyncs and HELLOs cannot reset the count. */
#define JOIN_PULLS_ALLOWED 3
#define RESYNC_LOG_GAP_S   1.0 /* RESYNC events per peer: at most one a second */

coord_peer *coord_peer_by_route(coord *c, const net_route *r) {
    for (int i = 0; i < NET_MAX_PEERS; i++)
        if (coord_live(&c->peers[i]) && net_route_equal(&c->peers[i].route, r)) return &c->peers[i];
    return NULL;
}

/* A departed peer keeps its statistics for the summary. */
static void retire(coord *c, coord_peer *p, const char *why) {
    net_server_forget(c->server, &p->route);
    free(p->submit);
    p->submit = NULL;
    p->in_round = false;
    p->state = PEER_GONE;
    snprintf(p->gone, sizeof p->gone, "%s", why);
}

static void drop_as(coord *c, coord_peer *p, const char *how, const char *why) {
    if (!coord_live(p)) return;
    const net_event_field f = {"how", NET_FIELD_STR, 0, how};
    coord_event_with(c, NET_EVENT_LEFT, p->id, -1, &f, 1, "peer %u '%s' %s: %s", p->id, p->name,
                     how, why);
    retire(c, p, why);
}

void coord_drop_peer(coord *c, coord_peer *p, const char *why) {
    drop_as(c, p, "dropped", why);
}

dt_status coord_send_failed(coord *c, coord_peer *p, dt_status st, const char *what) {
    if (st != DT_ERR_NOT_FOUND && st != DT_ERR_UNAVAILABLE && st != DT_ERR_IO) return st;
    /* A send that finds the connection gone is the same news as the
     * socket monitor's close, only seen first: one reason for both. */
    char why[160];
    if (st == DT_ERR_NOT_FOUND)
        snprintf(why, sizeof why, "its connection closed (%s could not be sent)", what);
    else
        snprintf(why, sizeof why, "%s could not be sent: it does not read", what);
    if (st != DT_ERR_NOT_FOUND) coord_strike(c, p);
    coord_drop_peer(c, p, why);
    return DT_OK;
}

/* REJECT to a connection, best effort: it may already be gone, or not
 * read, and neither changes what happens next. */
void coord_send_reject(coord *c, const net_route *to, net_reject_code code, double retry_s,
                       const char *text) {
    net_msg m = {.h = {NET_REJECT, c->run_id, c->version}};
    m.u.reject.code = (uint16_t)code;
    m.u.reject.retry_ms = retry_s > 0 ? (uint32_t)(retry_s * 1000.0 + 0.5) : 0;
    /* Printable, cut at a character: the wire refuses anything else. */
    dt_printable_copy(m.u.reject.text, sizeof m.u.reject.text, text);
    size_t len = 0;
    if (net_encode(&m, c->frame, NET_MAX_FRAME, &len) == DT_OK)
        net_server_send(c->server, to, c->frame, len, 0);
}

void coord_eject(coord *c, coord_peer *p, const char *why) {
    char text[NET_TEXT_MAX];
    snprintf(text, sizeof text, "ejected: %s", why);
    coord_send_reject(c, &p->route, NET_REJECT_EJECTED, 0, text);
    coord_strike(c, p);
    drop_as(c, p, "ejected", why);
}

void coord_on_leave(coord *c, coord_peer *p, const char *why) {
    const net_event_field f = {"how", NET_FIELD_STR, 0, "left"};
    coord_event_with(c, NET_EVENT_LEFT, p->id, -1, &f, 1,
                     "peer %u '%s' %s after %lld applied rounds", p->id, p->name, why,
                     (long long)p->steps_applied);
    retire(c, p, why);
}

/* Whether a joiner other than `except` is still pulling the snapshot of
 * version v. */
static bool snapshot_in_use(const coord *c, int64_t v, const coord_peer *except) {
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        const coord_peer *q = &c->peers[i];
        if (q != except && q->state == PEER_JOINING && q->offered == v &&
            q->state_served < q->state_needed)
            return true;
    }
    return false;
}

/* The weights as little-endian bytes in layout order, and their hash.
 * Joiners still pulling the snapshot being replaced keep it: it becomes
 * the previous one, still served by version, so they finish it and catch
 * up through the history. Reloading in place sent them all back to byte
 * 0, and a peer that got itself resynced every 0.5 s starved them for
 * good. Only when the previous one is in use too is it given up (its
 * pullers are resynced at their next request). */
dt_status coord_take_snapshot(coord *c, const coord_peer *except) {
    if (c->snapshot && c->snapshot_version == c->version) return DT_OK;
    const model_layout *l = model_get_layout(c->m);
    size_t bytes = (size_t)l->total * 4;
    if (c->snapshot && snapshot_in_use(c, c->snapshot_version, except)) {
        uint8_t *older = c->prev_snapshot;
        c->prev_snapshot = c->snapshot;
        c->prev_version = c->snapshot_version;
        c->prev_hash = c->snapshot_hash;
        c->snapshot = older;
    }
    if (!c->snapshot && !(c->snapshot = malloc(bytes)))
        return dt_error(DT_ERR_OOM, "coordinator: cannot allocate a %zu-byte snapshot", bytes);
    c->snapshot_version = -1; /* until the download is complete */
    dt_status st = model_download_weights(c->m, (float *)c->snapshot);
    if (st != DT_OK) return st;
    c->snapshot_bytes = bytes;
    c->snapshot_version = c->version;
    c->snapshot_hash = model_hash_host(l, (const float *)c->snapshot);
    return DT_OK;
}

void coord_offer(coord *c, coord_peer *p, int64_t step, uint64_t hash, uint64_t bytes) {
    p->offered = step;
    p->offered_hash = hash;
    p->state_needed = bytes;
    p->state_served = 0;
    /* join_timeout_s to make progress, and overall as long as the weights
     * take at COORD_JOIN_MIN_RATE on top. */
    double now = coord_now();
    p->join_deadline = now + c->cfg->join_timeout_s;
    p->join_limit = p->join_deadline + (double)bytes / COORD_JOIN_MIN_RATE;
    p->frontier = p->frontier_refreshed = 0;
    if (p->n_offers == COORD_OFFERS_KEPT) {
        memmove(p->offers, p->offers + 1, (COORD_OFFERS_KEPT - 1) * sizeof *p->offers);
        p->n_offers--;
    }
    p->offers[p->n_offers++] = step;
}

void coord_carry_pulls(coord_peer *q, const coord_peer *p) {
    q->pulled = p->pulled;
    q->n_offers = p->n_offers;
    memcpy(q->offers, p->offers, sizeof q->offers);
}

static bool was_offered(const coord_peer *p, int64_t step) {
    for (int i = 0; i < p->n_offers; i++)
        if (p->offers[i] == step) return true;
    return false;
}

/* Bytes further into the snapshot than ever asked for are progress: a
 * megabyte of them, or the last of them, moves the join's deadline. */
static void note_progress(coord *c, coord_peer *p, uint64_t end) {
    if (end <= p->frontier) return;
    p->frontier = end;
    if (end >= p->state_needed || end - p->frontier_refreshed >= COORD_PROGRESS_BYTES) {
        p->frontier_refreshed = end;
        p->join_deadline = coord_now() + c->cfg->join_timeout_s;
    }
}

/* At most one RESYNC event a second per peer, the rest counted into the
 * next: whatever makes a peer resync, it cannot flood the log. */
static void log_resync(coord *c, coord_peer *p, const char *why) {
    double now = coord_now();
    if (p->resync_logged_at > 0 && now - p->resync_logged_at < RESYNC_LOG_GAP_S) {
        p->resyncs_unlogged++;
        return;
    }
    char more[64] = "";
    if (p->resyncs_unlogged > 0)
        snprintf(more, sizeof more, " (and %d more since the last one logged)",
                 p->resyncs_unlogged);
    coord_event(c, NET_EVENT_RESYNC, p->id,
                "peer %u '%s' resyncs from the weights of step %lld: %s%s", p->id, p->name,
                (long long)c->snapshot_version, why, more);
    p->resync_logged_at = now;
    p->resyncs_unlogged = 0;
}

dt_status coord_send_resync(coord *c, coord_peer *p, const char *why) {
    dt_status st = coord_take_snapshot(c, p);
    if (st != DT_OK) return st;
    log_resync(c, p, why);
    p->state = PEER_JOINING;
    p->resyncs++;
    p->in_round = false;
    coord_offer(c, p, c->snapshot_version, c->snapshot_hash, c->snapshot_bytes);
    /* A full queue of RESULTs is the past now: only what the RESYNC starts
     * counts, and the join's own timeout judges it. */
    p->blocked_since = 0;
    net_msg m = {.h = {NET_RESYNC, c->run_id, c->snapshot_version}};
    m.u.resync = (net_resync){c->snapshot_bytes, c->snapshot_hash};
    st = coord_send(c, p, &m);
    return st == DT_OK ? DT_OK : coord_send_failed(c, p, st, "RESYNC");
}

dt_status coord_on_state_req(coord *c, coord_peer *p, const net_msg *m) {
    const net_state_req *r = &m->u.state_req;
    if (p->state != PEER_JOINING) return DT_OK;
    if (m->h.step != p->offered) {
        /* Sent before a later offer reached it: that offer replaces it. */
        if (was_offered(p, m->h.step)) return DT_OK;
        /* Before, such a request got a RESYNC, which reset the count of
         * weights served: a connection pumped 38,625 copies in 10 s. */
        coord_strike(c, p);
        coord_drop_peer(c, p, "asked for the weights of a step it was never offered");
        return DT_OK;
    }
    const uint8_t *data = NULL;
    uint64_t hash = 0;
    if (c->snapshot && m->h.step == c->snapshot_version) {
        data = c->snapshot;
        hash = c->snapshot_hash;
    } else if (c->prev_snapshot && m->h.step == c->prev_version) {
        data = c->prev_snapshot;
        hash = c->prev_hash;
    }
    if (!data) return coord_send_resync(c, p, "the snapshot it asked for was replaced");
    if (r->offset > c->snapshot_bytes || r->length > c->snapshot_bytes - r->offset) {
        coord_strike(c, p);
        coord_drop_peer(c, p, "asked for bytes outside the weights");
        return DT_OK;
    }
    if (p->state_served + r->length > STATE_PULLS_ALLOWED * c->snapshot_bytes ||
        p->pulled + r->length > JOIN_PULLS_ALLOWED * c->snapshot_bytes) {
        coord_strike(c, p);
        coord_drop_peer(c, p, "asked for the weights over and over");
        return DT_OK;
    }
    net_msg s = {.h = {NET_STATE, c->run_id, m->h.step}};
    s.u.state.hash = hash;
    s.u.state.chunk = (net_chunk){r->offset, c->snapshot_bytes, r->length, data + r->offset};
    p->state_served += r->length;
    p->pulled += r->length;
    note_progress(c, p, r->offset + r->length);
    dt_status st = coord_send(c, p, &s);
    return st == DT_OK ? DT_OK : coord_send_failed(c, p, st, "a chunk of the weights");
}
