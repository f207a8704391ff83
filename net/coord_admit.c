/* Admission: who may hold a peer slot, for how long, and who must wait.
 *
 * A coordinator on the internet meets connections that say HELLO and
 * vanish, keys that rejoin after every ejection, and floods. The rules:
 *   - a closed connection frees its slot at once (the transport's monitor);
 *   - a joiner that makes no progress pulling the weights for
 *     join_timeout_s (run config), or takes longer than they would at
 *     COORD_JOIN_MIN_RATE, loses its slot: talking alone does not count;
 *   - at most COORD_MAX_JOINING peers join at once, others are told to
 *     retry (BUSY), so the waiting queue is bounded;
 *   - a key holds at most max_per_key slots, and with --open an address at
 *     most max_per_address (an open run cannot tell peers apart otherwise);
 *   - a key or address that was ejected, dropped for abuse or left before
 *     finishing its join is refused for 2 s, 4 s, 8 s, ... (BACKOFF), up
 *     to COORD_BACKOFF_MAX; one applied payload clears a key's record, an
 *     address's lapses after 2 * COORD_BACKOFF_MAX without a strike. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"

/* What admission limits and back-off are counted against: the CURVE key,
 * or the address when the run is open. */
static const char *identity(const char *key, const char *address) {
    return key[0] ? key : address;
}

static coord_offender *offender(coord *c, const char *who, bool create) {
    coord_offender *oldest = &c->offenders[0];
    for (int i = 0; i < COORD_OFFENDERS; i++) {
        coord_offender *o = &c->offenders[i];
        if (o->who[0] && strcmp(o->who, who) == 0) return o;
        if (o->last < oldest->last) oldest = o;
    }
    if (!create) return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->who, sizeof oldest->who, "%s", who);
    return oldest;
}

void coord_strike(coord *c, const coord_peer *p) {
    const char *who = identity(p->key, p->address);
    if (!who[0]) return;
    coord_offender *o = offender(c, who, true);
    double now = coord_now();
    if (o->strikes > 0 && now - o->banned_until > 2 * COORD_BACKOFF_MAX) o->strikes = 0;
    o->strikes++;
    o->last = now;
    double wait = COORD_BACKOFF_S * ldexp(1.0, o->strikes - 1 < 20 ? o->strikes - 1 : 20);
    o->banned_until = o->last + (wait < COORD_BACKOFF_MAX ? wait : COORD_BACKOFF_MAX);
}

/* Only a key is pardoned: with --open, an honest peer behind the same
 * address must not clear the record of the one that misbehaved. An
 * address's record lapses instead when it stays clean for a while. */
void coord_pardon(coord *c, const coord_peer *p) {
    coord_offender *o = p->key[0] ? offender(c, p->key, false) : NULL;
    if (o) memset(o, 0, sizeof *o);
}

static dt_status reject(coord *c, const net_frame *f, net_reject_code code, double retry_s,
                        const char *why) {
    coord_send_reject(c, &f->from, code, retry_s, why);
    coord_event(c, NET_EVENT_REJECTED, 0, "rejected a peer from %s%s%s: %s",
                f->address[0] ? f->address : "?", f->peer_key[0] ? ", key " : "", f->peer_key, why);
    return DT_OK;
}

/* The reason a HELLO cannot have a slot now, or NULL. */
static const char *admission_refused(coord *c, const net_frame *f, net_reject_code *code,
                                     double *retry_s, char *why, size_t cap) {
    const char *who = identity(f->peer_key, f->address);
    double now = coord_now();
    coord_offender *o = who[0] ? offender(c, who, false) : NULL;
    if (o && now < o->banned_until) {
        *code = NET_REJECT_BACKOFF, *retry_s = o->banned_until - now;
        snprintf(why, cap, "this %s misbehaved %d time%s recently; retry in %.0f s",
                 f->peer_key[0] ? "key" : "address", o->strikes, o->strikes == 1 ? "" : "s",
                 ceil(*retry_s));
        return why;
    }
    int same = 0, joining = 0, live = 0;
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        const coord_peer *p = &c->peers[i];
        if (!coord_live(p)) continue;
        live++;
        joining += p->state == PEER_JOINING;
        same += who[0] && strcmp(identity(p->key, p->address), who) == 0;
    }
    int limit = f->peer_key[0] ? c->max_per_key : c->o->open ? c->max_per_address : 0;
    if (limit > 0 && same >= limit) {
        *code = NET_REJECT_LIMIT, *retry_s = 0;
        snprintf(why, cap, "this %s already holds %d peer slot%s, its limit",
                 f->peer_key[0] ? "key" : "address", same, same == 1 ? "" : "s");
        return why;
    }
    if (joining >= COORD_MAX_JOINING) {
        *code = NET_REJECT_BUSY, *retry_s = COORD_RETRY_BUSY_S;
        snprintf(why, cap, "%d peers are joining; retry in %.0f s", joining, COORD_RETRY_BUSY_S);
        return why;
    }
    if (live >= NET_MAX_PEERS) {
        *code = NET_REJECT_FULL, *retry_s = 0;
        snprintf(why, cap, "the run is full (%d peers)", NET_MAX_PEERS);
        return why;
    }
    return NULL;
}

/* FLOPs per token of a training step, for converting a throughput measured
 * on one model into an estimate for another: 6 per parameter plus the
 * attention scores and mixing. */
static double flops_per_token(const model_config *m) {
    return 6.0 * (double)model_config_param_count(m) +
           12.0 * (double)m->n_layers * (double)m->seq_len * (double)m->dim;
}

static coord_peer *take_slot(coord *c, const net_frame *f, const net_hello *h) {
    coord_peer *p = NULL;
    for (int i = 0; i < NET_MAX_PEERS && !p; i++)
        if (c->peers[i].state == PEER_FREE) p = &c->peers[i];
    for (int i = 0; i < NET_MAX_PEERS && !p; i++) /* reuse a departed peer's slot */
        if (c->peers[i].state == PEER_GONE) p = &c->peers[i];
    if (!p) return NULL;
    free(p->submit);
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
    snprintf(p->address, sizeof p->address, "%s", f->address);
    model_config tiny;
    model_config_preset("tiny", &tiny);
    /* Only a first guess: until its own submissions measure it, a peer
     * gets no more than a fair share of a round (coord_round.c). */
    p->tokens_per_s = h->tokens_per_s * flops_per_token(&tiny) / flops_per_token(&c->cfg->model);
    return p;
}

static dt_status send_welcome(coord *c, coord_peer *p, bool keep, uint64_t keep_hash) {
    char *config = net_run_config_to_json(c->cfg, 0);
    if (!config) return dt_error(DT_ERR_OOM, "coordinator: cannot build WELCOME");
    size_t len = strlen(config);
    if (len > NET_CONFIG_MAX) {
        free(config);
        return dt_error(DT_ERR_INVALID, "the run config is %zu bytes of JSON; WELCOME holds %d",
                        len, NET_CONFIG_MAX);
    }
    net_msg w = {.h = {NET_WELCOME, c->run_id, keep ? c->version : c->snapshot_version}};
    w.u.welcome = (net_welcome){.peer_id = p->id,
                                .state_step = w.h.step,
                                .state_bytes = keep ? 0 : c->snapshot_bytes,
                                .state_hash = keep ? keep_hash : c->snapshot_hash,
                                .config = config,
                                .config_len = (uint16_t)len};
    coord_offer(c, p, w.u.welcome.state_step, w.u.welcome.state_hash, w.u.welcome.state_bytes);
    dt_status st = coord_send(c, p, &w);
    free(config);
    return st == DT_OK ? DT_OK : coord_send_failed(c, p, st, "WELCOME");
}

/* The hash of the replica's current version, computed once per version
 * (HELLOs claiming it must not cost a hash each). */
static dt_status current_hash(coord *c, uint64_t *out) {
    if (c->snapshot && c->snapshot_version == c->version) {
        *out = c->snapshot_hash;
        return DT_OK;
    }
    if (c->current_hash_version != c->version || !c->current_hash) {
        dt_status st = model_param_hash(c->m, &c->current_hash);
        if (st != DT_OK) return st;
        c->current_hash_version = c->version;
    }
    *out = c->current_hash;
    return DT_OK;
}

dt_status coord_on_hello(coord *c, const net_frame *f, const net_msg *m) {
    const net_hello *h = &m->u.hello;
    /* A HELLO again on a connection does not start its pulls afresh: the
     * limit on weights served is per connection, not per HELLO. */
    coord_peer *old = coord_peer_by_route(c, &f->from), carried = {0};
    if (old && old->state == PEER_JOINING) coord_carry_pulls(&carried, old);
    if (old) coord_on_leave(c, old, "said HELLO again (reset)");
    if (c->finished) return reject(c, f, NET_REJECT_FINISHED, 0, "the run has finished");
    char why[NET_TEXT_MAX];
    net_reject_code code;
    double retry_s;
    if (admission_refused(c, f, &code, &retry_s, why, sizeof why))
        return reject(c, f, code, retry_s, why);
    coord_peer *p = take_slot(c, f, h);
    if (!p) return reject(c, f, NET_REJECT_FULL, 0, "the run is full");
    coord_carry_pulls(p, &carried);

    /* A peer that already holds this run's current weights (it reconnected,
     * or the coordinator resumed from the step it has) keeps them. The
     * replica's hash decides, not a new snapshot: the snapshot others may
     * be pulling stays as it is. */
    dt_status st = DT_OK;
    uint64_t hash = 0;
    bool keep = h->have_run_id == c->run_id && h->have_step == c->version;
    if (keep) {
        st = current_hash(c, &hash);
        keep = st == DT_OK && h->have_hash == hash;
    }
    /* Reuse the current snapshot if the history still reaches back to it
     * (the joiner then replays results), else take a fresh one. */
    int64_t oldest = c->history_len ? c->history[0].step : c->version;
    if (st == DT_OK && !keep && !(c->snapshot && c->snapshot_version >= oldest))
        st = coord_take_snapshot(c, NULL);
    if (st != DT_OK) return st;
    const net_event_field facts[] = {{"device", NET_FIELD_STR, 0, p->device},
                                     {"backend", NET_FIELD_STR, 0, p->backend},
                                     {"address", NET_FIELD_STR, 0, p->address}};
    coord_event_with(
        c, NET_EVENT_JOINED, p->id, -1, facts, 3, "peer %u '%s' joined from %s: %s (%s)%s%s; %s",
        p->id, p->name, p->address[0] ? p->address : "?", p->device, p->backend,
        p->key[0] ? ", key " : "", p->key, keep ? "keeps its weights" : "pulls the weights");
    return send_welcome(c, p, keep, hash);
}

void coord_reap(coord *c, bool closes) {
    net_route closed[32];
    int n;
    while (closes && (n = net_server_closed(c->server, closed, 32)) > 0)
        for (int i = 0; i < n; i++) {
            coord_peer *p = coord_peer_by_route(c, &closed[i]);
            if (!p) continue;
            if (p->state == PEER_JOINING) coord_strike(c, p); /* HELLO and gone */
            coord_drop_peer(c, p, "its connection closed");
        }
    double now = coord_now();
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (p->state == PEER_JOINING && (now > p->join_deadline || now > p->join_limit)) {
            char why[128];
            if (now > p->join_limit)
                snprintf(why, sizeof why, "it did not finish joining within %.0f s",
                         c->cfg->join_timeout_s + (double)p->state_needed / COORD_JOIN_MIN_RATE);
            else
                snprintf(why, sizeof why, "it did not finish joining (no progress for %.0f s)",
                         c->cfg->join_timeout_s);
            coord_strike(c, p);
            coord_drop_peer(c, p, why);
        } else if (p->state == PEER_SYNCED && p->blocked_since > 0 && /* behind on RESULTs */
                   now - p->blocked_since > COORD_STALL_S) {
            coord_strike(c, p);
            coord_drop_peer(c, p, "it has not read what it was sent for 30 s");
        }
    }
}
