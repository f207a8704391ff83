/* Peers: admission, weights transfer, catch-up, hash checks, leaving. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"

/* Results kept for catch-up: at least the last one, at most this many bytes. */
#define HISTORY_BUDGET ((size_t)256 << 20)

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

void coord_drop_peer(coord *c, coord_peer *p, const char *why) {
    if (!coord_live(p)) return;
    coord_log(c, "peer %u '%s' dropped: %s", p->id, p->name, why);
    retire(c, p, why);
}

/* REJECT to a connection, best effort: it may already be gone. */
static void send_reject(coord *c, const net_route *to, const char *text) {
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.reject);
    m.h = (net_header){NET_REJECT, c->run_id, c->version};
    snprintf(m.u.reject.text, sizeof m.u.reject.text, "%s", text);
    size_t len = 0;
    if (net_encode(&m, c->frame, NET_MAX_FRAME, &len) == DT_OK)
        net_server_send(c->server, to, c->frame, len, 1000);
}

void coord_eject(coord *c, coord_peer *p, const char *why) {
    char text[NET_TEXT_MAX];
    snprintf(text, sizeof text, "ejected: %s", why);
    send_reject(c, &p->route, text);
    coord_drop_peer(c, p, why);
}

void coord_on_leave(coord *c, coord_peer *p, const char *why) {
    coord_log(c, "peer %u '%s' %s after %lld applied rounds", p->id, p->name, why,
              (long long)p->steps_applied);
    retire(c, p, why);
}

/* FLOPs per token of a training step, for converting a throughput measured
 * on one model into an estimate for another: 6 per parameter plus the
 * attention scores and mixing. */
static double flops_per_token(const model_config *m) {
    return 6.0 * (double)model_config_param_count(m) +
           12.0 * (double)m->n_layers * (double)m->seq_len * (double)m->dim;
}

/* The weights as little-endian bytes in layout order, and their hash. */
dt_status coord_take_snapshot(coord *c) {
    if (c->snapshot && c->snapshot_version == c->version) return DT_OK;
    const model_layout *l = model_get_layout(c->m);
    size_t bytes = (size_t)l->total * 4;
    if (!c->snapshot && !(c->snapshot = malloc(bytes)))
        return dt_error(DT_ERR_OOM, "coordinator: cannot allocate a %zu-byte snapshot", bytes);
    dt_status st = model_download_weights(c->m, (float *)c->snapshot);
    if (st != DT_OK) return st;
    c->snapshot_bytes = bytes;
    c->snapshot_version = c->version;
    c->snapshot_hash = model_hash_host(l, (const float *)c->snapshot);
    return DT_OK;
}

/* The snapshot a joiner should pull: reuse the current one if the history
 * still reaches back to it (the joiner then replays results), else take a
 * fresh one. */
static dt_status snapshot_for_joiner(coord *c) {
    int64_t oldest = c->history_len ? c->history[0].step : c->version;
    if (c->snapshot && c->snapshot_version >= oldest) return DT_OK;
    return coord_take_snapshot(c);
}

const coord_result *coord_history_find(const coord *c, int64_t step) {
    for (int i = 0; i < c->history_len; i++)
        if (c->history[i].step == step) return &c->history[i];
    return NULL;
}

dt_status coord_send_result(coord *c, coord_peer *p, const coord_result *r) {
    net_msg *m = calloc(1, sizeof *m);
    if (!m) return dt_error(DT_ERR_OOM, "coordinator: cannot allocate a message");
    m->h = (net_header){NET_RESULT, c->run_id, r->step};
    net_result *res = &m->u.result;
    res->lr_bits = r->lr_bits;
    res->decay_bits = r->decay_bits;
    res->n_applied = r->n_applied;
    memcpy(res->applied, r->applied, r->n_applied * sizeof(uint32_t));
    uint64_t total = (uint64_t)r->n_applied * c->payload_bytes;
    dt_status st = DT_OK;
    for (uint64_t off = 0; st == DT_OK && off < total; off += NET_MAX_CHUNK) {
        uint64_t len = total - off < NET_MAX_CHUNK ? total - off : NET_MAX_CHUNK;
        res->chunk = (net_chunk){off, total, (uint32_t)len, r->payloads + off};
        st = coord_send(c, p, m);
    }
    free(m);
    if (st == DT_OK) p->sent = r->step + 1;
    return st;
}

static dt_status send_resync(coord *c, coord_peer *p, const char *why) {
    dt_status st = coord_take_snapshot(c);
    if (st != DT_OK) return st;
    coord_log(c, "peer %u '%s' resyncs from the weights of step %lld: %s", p->id, p->name,
              (long long)c->snapshot_version, why);
    p->state = PEER_JOINING;
    p->resyncs++;
    p->in_round = false;
    p->offered = c->snapshot_version;
    p->state_needed = c->snapshot_bytes;
    p->state_served = 0;
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.resync);
    m.h = (net_header){NET_RESYNC, c->run_id, c->snapshot_version};
    m.u.resync = (net_resync){c->snapshot_bytes, c->snapshot_hash};
    st = coord_send(c, p, &m);
    return st == DT_ERR_NOT_FOUND || st == DT_ERR_IO ? DT_OK : st;
}

static dt_status reject(coord *c, const net_frame *f, const char *why) {
    send_reject(c, &f->from, why);
    coord_log(c, "rejected a peer from %s: %s", f->address[0] ? f->address : "?", why);
    return DT_OK;
}

dt_status coord_on_hello(coord *c, const net_frame *f, const net_msg *m) {
    const net_hello *h = &m->u.hello;
    coord_peer *old = coord_peer_by_route(c, &f->from);
    if (old) coord_on_leave(c, old, "said HELLO again (reset)");
    if (c->finished) return reject(c, f, "the run has finished");
    coord_peer *p = NULL;
    for (int i = 0; i < NET_MAX_PEERS && !p; i++)
        if (c->peers[i].state == PEER_FREE) p = &c->peers[i];
    for (int i = 0; i < NET_MAX_PEERS && !p; i++) /* reuse a departed peer's slot */
        if (c->peers[i].state == PEER_GONE) p = &c->peers[i];
    if (!p) return reject(c, f, "the run is full");
    memset(p, 0, sizeof *p);
    p->state = PEER_JOINING;
    p->id = c->next_id++;
    p->route = f->from;
    p->version = p->sent = -1;
    p->joined_at = coord_now();
    snprintf(p->name, sizeof p->name, "%s", h->name[0] ? h->name : "peer");
    snprintf(p->device, sizeof p->device, "%s", h->device);
    snprintf(p->backend, sizeof p->backend, "%s", h->backend);
    snprintf(p->key, sizeof p->key, "%s", f->peer_key);
    model_config tiny;
    model_config_preset("tiny", &tiny);
    p->tokens_per_s = h->tokens_per_s * flops_per_token(&tiny) / flops_per_token(&c->cfg->model);

    /* A peer that already holds this run's current weights (it reconnected,
     * or the coordinator resumed from the step it has) keeps them. */
    dt_status st = DT_OK;
    uint64_t want_hash = 0;
    bool keep = h->have_run_id == c->run_id && h->have_step == c->version;
    if (keep) {
        st = coord_take_snapshot(c);
        want_hash = c->snapshot_hash;
        keep = st == DT_OK && h->have_hash == want_hash;
    }
    if (st == DT_OK && !keep) st = snapshot_for_joiner(c);
    if (st != DT_OK) return st;
    net_msg *w = calloc(1, sizeof *w);
    char *config = net_run_config_to_json(c->cfg, 0);
    if (!w || !config) {
        free(w);
        free(config);
        return dt_error(DT_ERR_OOM, "coordinator: cannot build WELCOME");
    }
    w->h = (net_header){NET_WELCOME, c->run_id, keep ? c->version : c->snapshot_version};
    w->u.welcome.peer_id = p->id;
    w->u.welcome.state_step = keep ? c->version : c->snapshot_version;
    w->u.welcome.state_bytes = keep ? 0 : c->snapshot_bytes;
    w->u.welcome.state_hash = keep ? want_hash : c->snapshot_hash;
    p->offered = w->u.welcome.state_step;
    p->state_needed = w->u.welcome.state_bytes;
    p->state_served = 0;
    snprintf(w->u.welcome.config, sizeof w->u.welcome.config, "%s", config);
    free(config);
    coord_log(c, "peer %u '%s' joined from %s: %s (%s)%s%s; %s", p->id, p->name,
              f->address[0] ? f->address : "?", p->device, p->backend, p->key[0] ? ", key " : "",
              p->key, keep ? "keeps its weights" : "pulls the weights");
    st = coord_send(c, p, w);
    free(w);
    return st == DT_ERR_NOT_FOUND || st == DT_ERR_IO ? DT_OK : st;
}

dt_status coord_on_state_req(coord *c, coord_peer *p, const net_msg *m) {
    const net_state_req *r = &m->u.state_req;
    if (p->state != PEER_JOINING) return DT_OK;
    if (!c->snapshot || m->h.step != c->snapshot_version)
        return send_resync(c, p, "the snapshot it asked for was replaced");
    if (r->offset > c->snapshot_bytes || r->length > c->snapshot_bytes - r->offset) {
        coord_drop_peer(c, p, "asked for bytes outside the weights");
        return DT_OK;
    }
    net_msg s;
    memset(&s, 0, sizeof s.h + sizeof s.u.state);
    s.h = (net_header){NET_STATE, c->run_id, c->snapshot_version};
    s.u.state.hash = c->snapshot_hash;
    s.u.state.chunk = (net_chunk){r->offset, c->snapshot_bytes, r->length, c->snapshot + r->offset};
    p->state_served += r->length;
    dt_status st = coord_send(c, p, &s);
    return st == DT_ERR_NOT_FOUND || st == DT_ERR_IO ? DT_OK : st;
}

/* Send the next result a catching-up peer needs, or resync it when the
 * history no longer reaches back that far. */
static dt_status catch_up(coord *c, coord_peer *p) {
    /* Everything at once: the peer applies results in order, so the backlog
     * costs its apply time, not a round trip per step. */
    if (p->sent < c->version && !coord_history_find(c, p->sent))
        return send_resync(c, p, "too far behind to replay the missed rounds");
    while (p->sent < c->version) {
        const coord_result *r = coord_history_find(c, p->sent);
        if (!r) return send_resync(c, p, "the rounds it missed are no longer kept");
        dt_status st = coord_send_result(c, p, r);
        if (st != DT_OK) return st == DT_ERR_NOT_FOUND || st == DT_ERR_IO ? DT_OK : st;
    }
    return DT_OK;
}

/* The coordinator's own hash of version v, if it computed one. */
static uint64_t own_hash(const coord *c, int64_t v) {
    if (v == c->snapshot_version && c->snapshot) return c->snapshot_hash;
    if (v >= 1 && v <= c->cfg->steps && c->records[v - 1].step == v - 1)
        return c->records[v - 1].hash;
    return 0;
}

dt_status coord_on_hash(coord *c, coord_peer *p, const net_msg *m) {
    int64_t v = m->h.step;
    uint64_t h = m->u.hash.hash;
    if (p->state == PEER_JOINING) {
        /* An ack from before the RESYNC (or for another version) is stale,
         * not a verdict on the weights being pulled. */
        if (p->state_served < p->state_needed || v != p->offered) return DT_OK;
        uint64_t want = own_hash(c, v);
        if (v > c->version || !want || h != want)
            return send_resync(c, p, "the weights it loaded do not match");
        p->state = PEER_SYNCED;
        p->version = p->sent = v;
        coord_log(c, "peer %u '%s' holds the weights of step %lld%s", p->id, p->name, (long long)v,
                  v < c->version ? "; replaying the rounds since" : "");
        return catch_up(c, p);
    }
    if (v != p->version + 1 || v > c->version) {
        coord_log(c, "peer %u '%s' acknowledged step %lld out of order (holds %lld)", p->id,
                  p->name, (long long)v, (long long)p->version);
        return send_resync(c, p, "out of order");
    }
    p->version = v;
    /* Where the coordinator hashed its replica after a round, every peer
     * hashed too (the same hash_check_every rule): a missing (zero) hash is
     * a mismatch, never a pass. */
    coord_step_record *rec = &c->records[v - 1];
    uint64_t want = rec->step == v - 1 ? rec->hash : 0;
    if (want) {
        rec->hashes_reported++;
        if (h == want) {
            rec->hashes_agreeing++;
        } else {
            char why[128];
            if (h == 0)
                snprintf(why, sizeof why, "it reported no hash after step %lld, a checked step",
                         (long long)(v - 1));
            else
                snprintf(why, sizeof why, "its hash %016llx after step %lld differs from %016llx",
                         (unsigned long long)h, (long long)(v - 1), (unsigned long long)want);
            return send_resync(c, p, why);
        }
    }
    return catch_up(c, p);
}

/* Keep a round's result for catch-up, within the history budget. */
dt_status coord_history_add(coord *c, const coord_result *r) {
    size_t bytes = (size_t)r->n_applied * c->payload_bytes;
    while (c->history_len > 0 &&
           (c->history_len == c->history_cap || c->history_bytes + bytes > HISTORY_BUDGET)) {
        c->history_bytes -= (size_t)c->history[0].n_applied * c->payload_bytes;
        free(c->history[0].payloads);
        memmove(c->history, c->history + 1, (size_t)(c->history_len - 1) * sizeof *c->history);
        c->history_len--;
    }
    c->history[c->history_len++] = *r;
    c->history_bytes += bytes;
    return DT_OK;
}
