/* One round, in the order it happens:
 *
 *   start     every synced peer at the current version is asked to train
 *             its share of the micro-batches (ROUND);
 *   submit    their payloads arrive in chunks and are checked as they
 *             complete; a bad one, or a byte-identical copy of one already
 *             in the round, is refused with its reason (REFUSED);
 *   close     once every peer answered or the deadline passed:
 *               collect  who contributed, who missed;
 *               apply    the payloads, ascending peer id, with the canonical
 *                        op, on the coordinator's own replica;
 *               publish  the result to every replica (RESULT), kept in the
 *                        history and the record;
 *               account  bytes, tokens, misses and ejections, the log line,
 *                        the checkpoint when one is due.
 *
 * Beside it: the hash check of what the peers acknowledge (HASH), and the
 * catch-up of peers that are behind, from the history. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"
#include "runtime/text.h"

/* Results kept for catch-up: at least the last one, at most this many bytes. */
#define HISTORY_BUDGET ((size_t)256 << 20)

static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void sort_by_id(coord_peer **ps, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && ps[j]->id < ps[j - 1]->id; j--) {
            coord_peer *t = ps[j];
            ps[j] = ps[j - 1];
            ps[j - 1] = t;
        }
}

/* ---- start --------------------------------------------------------------- */

/* Micro-batches per peer so the round ends as early as possible: everyone
 * gets one, then each further micro-batch goes to the peer that would
 * finish it first at its throughput (so a fast GPU and a slow CPU finish a
 * round at about the same time). A peer whose throughput is only claimed,
 * not yet measured from its own submissions, gets at most a fair share: a
 * claim of 1e300 tokens/s must not buy the whole round. */
/* Returns how many of the n peers (ascending id) take part in the round. */
static int assign_micro(coord *c, coord_peer **active, int n) {
    int64_t total = net_run_micro_batches(c->cfg);
    if (c->cfg->even_split) { /* the same share each, the rest to the lowest ids */
        /* More peers than micro-batches: the lowest ids get one each and
         * the others sit the round out (synced, applying its result). A
         * peer with none would train nothing (loss 0/0) and its payload,
         * pure momentum, would still weigh in the aggregate; the round
         * stays tokens_per_round, as even mode promises. */
        if (n > total) n = (int)total;
        for (int i = 0; i < n; i++)
            active[i]->n_micro = (uint32_t)(total / n + (i < total % n ? 1 : 0));
        return n;
    }
    uint32_t fair = (uint32_t)((total + n - 1) / n);
    for (int i = 0; i < n; i++) active[i]->n_micro = 1;
    for (int64_t given = n; given < total; given++) {
        int best = -1;
        double best_end = 0.0;
        for (int i = 0; i < n; i++) {
            if (!active[i]->measured && active[i]->n_micro >= fair) continue;
            double tps = active[i]->tokens_per_s > 0 ? active[i]->tokens_per_s : 1.0;
            double end = (double)(active[i]->n_micro + 1) / tps;
            if (best < 0 || end < best_end) best = i, best_end = end;
        }
        active[best]->n_micro++; /* n * fair >= total: someone is always below the cap */
    }
    return n;
}

dt_status coord_maybe_start_round(coord *c) {
    if (c->round_open || c->finished) return DT_OK;
    if (c->version >= c->cfg->steps) {
        c->finished = true;
        return DT_OK;
    }
    coord_peer *active[NET_MAX_PEERS];
    int n = 0;
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (p->state == PEER_SYNCED && p->sent == c->version) active[n++] = p;
    }
    bool grace_over = c->resume_grace_until > 0 && coord_now() >= c->resume_grace_until;
    if (n == 0 || (!c->started && n < c->cfg->min_peers && !grace_over)) return DT_OK;
    if (!c->started) {
        c->started = true;
        coord_log(c, "%d peer%s ready: starting at step %lld", n, n == 1 ? "" : "s",
                  (long long)c->version);
    }
    sort_by_id(active, n); /* the canonical contribution order */
    n = assign_micro(c, active, n);
    c->round_step = c->version;
    net_run_round_lr(c->cfg, c->version, &c->round_lr, &c->round_decay);
    c->round_started = coord_now();
    c->round_deadline = c->round_started + c->cfg->round_deadline_s;
    c->round_open = true;
    for (int i = 0; i < n; i++) {
        coord_peer *p = active[i];
        p->in_round = true;
        p->submitted = p->refused = false;
        p->submit_got = p->submit_len = 0;
        p->payload_up = 0;
        net_server_peer_counters(c->server, &p->route, &p->at_round_start);
        net_msg m = {.h = {NET_ROUND, c->run_id, c->version}};
        m.u.round = (net_round){float_bits(c->round_lr), float_bits(c->round_decay), p->n_micro,
                                (uint32_t)(c->cfg->round_deadline_s * 1000.0), (uint32_t)n};
        dt_status st = coord_send(c, p, &m);
        if (st != DT_OK && (st = coord_send_failed(c, p, st, "ROUND")) != DT_OK) return st;
    }
    return DT_OK;
}

/* ---- submit -------------------------------------------------------------- */

static dt_status refuse(coord *c, coord_peer *p, const char *why) {
    p->refused = true;
    p->refusals++;
    coord_event(c, NET_EVENT_REFUSED, p->id,
                "refused the payload of peer %u '%s' for step %lld: %s", p->id, p->name,
                (long long)c->round_step, why);
    net_msg m = {.h = {NET_REFUSED, c->run_id, c->round_step}};
    dt_printable_copy(m.u.refused.text, sizeof m.u.refused.text, why); /* the wire's rule */
    dt_status st = coord_send(c, p, &m);
    return st == DT_OK ? DT_OK : coord_send_failed(c, p, st, "REFUSED");
}

/* A payload byte-identical to one already in the round is a copy (two
 * connections of one party doubling its weight, or a replay of someone
 * else's): honest payloads come from different micro-batches. */
static const coord_peer *copied_from(const coord *c, const coord_peer *p) {
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        const coord_peer *q = &c->peers[i];
        if (q != p && coord_live(q) && q->in_round && q->submitted &&
            memcmp(q->submit, p->submit, c->payload_bytes) == 0)
            return q;
    }
    return NULL;
}

/* A completely assembled payload: decodable for this run and step, its
 * report consistent with the assignment, and not a copy. */
static dt_status check_payload(coord *c, coord_peer *p, const net_submit *s) {
    char why[NET_TEXT_MAX];
    if (demo_payload_decode(model_demo_geometry(c->demo), p->submit, p->submit_len, c->run_id,
                            c->round_step, NULL, NULL) != DT_OK) {
        snprintf(why, sizeof why, "%s", dt_last_error());
        return refuse(c, p, why);
    }
    if (s->n_micro != p->n_micro || !(s->loss >= 0.0f) || !(s->compute_s >= 0.0)) {
        snprintf(why, sizeof why, "it reports %u micro-batches (assigned %u) and loss %g",
                 s->n_micro, p->n_micro, (double)s->loss);
        return refuse(c, p, why);
    }
    const coord_peer *q = copied_from(c, p);
    if (q) {
        snprintf(why, sizeof why, "a byte-identical copy of the payload of peer %u", q->id);
        return refuse(c, p, why);
    }
    p->submitted = true;
    p->submitted_at = coord_now();
    p->loss = s->loss;
    p->compute_s = s->compute_s;
    if (s->compute_s > 1e-6) {
        /* A round of local steps trains its micro-batches once per inner
         * step. The first measurement replaces the claim from HELLO. */
        double tps = (double)s->n_micro * (double)(c->cfg->micro_batch * c->cfg->model.seq_len) *
                     (double)net_run_round_steps(c->cfg, c->round_step) / s->compute_s;
        p->tokens_per_s = p->measured ? 0.5 * p->tokens_per_s + 0.5 * tps : tps;
        p->measured = true;
    }
    return DT_OK;
}

dt_status coord_on_submit(coord *c, coord_peer *p, const net_msg *m) {
    const net_submit *s = &m->u.submit;
    if (!c->round_open || m->h.step != c->round_step || !p->in_round || p->submitted || p->refused)
        return DT_OK; /* late, stale or repeated: the round does not change */
    char why[NET_TEXT_MAX];
    if (s->chunk.total != c->payload_bytes) {
        snprintf(why, sizeof why, "payload of %llu bytes; this run's tile plan makes %zu",
                 (unsigned long long)s->chunk.total, c->payload_bytes);
        return refuse(c, p, why);
    }
    if (s->chunk.offset != p->submit_got) {
        snprintf(why, sizeof why, "chunk at offset %llu, expected %zu",
                 (unsigned long long)s->chunk.offset, p->submit_got);
        return refuse(c, p, why);
    }
    if (!p->submit && !(p->submit = malloc(c->payload_bytes)))
        return dt_error(DT_ERR_OOM, "coordinator: cannot buffer a payload");
    memcpy(p->submit + p->submit_got, s->chunk.data, s->chunk.length);
    p->submit_got += s->chunk.length;
    p->payload_up += s->chunk.length;
    if (p->submit_got < c->payload_bytes) return DT_OK;
    p->submit_len = p->submit_got;
    return check_payload(c, p, s);
}

/* ---- history and catch-up ------------------------------------------------ */

static const coord_result *history_find(const coord *c, int64_t step) {
    for (int i = 0; i < c->history_len; i++)
        if (c->history[i].step == step) return &c->history[i];
    return NULL;
}

/* Keeps a round's result for catch-up, within the history budget; the
 * history owns r's payloads from now on. */
static const coord_result *history_add(coord *c, const coord_result *r) {
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
    return &c->history[c->history_len - 1];
}

/* The result in chunks, from the first one not queued yet. A send that
 * finds the queue full keeps the peer where it got to (p->sent unchanged,
 * p->sent_bytes the bytes queued): the rest goes later, in order, and the
 * peer goes on assembling. Restarting at offset 0 instead sent a result
 * larger than the free part of the queue again and again, never whole. */
static dt_status send_result(coord *c, coord_peer *p, const coord_result *r) {
    net_msg m = {.h = {NET_RESULT, c->run_id, r->step}};
    net_result *res = &m.u.result;
    res->lr_bits = r->lr_bits;
    res->decay_bits = r->decay_bits;
    res->n_applied = r->n_applied;
    memcpy(res->applied, r->applied, r->n_applied * sizeof(uint32_t));
    uint64_t total = (uint64_t)r->n_applied * c->payload_bytes;
    for (uint64_t off = p->sent_bytes; off < total; off += NET_MAX_CHUNK) {
        uint64_t len = total - off < NET_MAX_CHUNK ? total - off : NET_MAX_CHUNK;
        res->chunk = (net_chunk){off, total, (uint32_t)len, r->payloads + off};
        dt_status st = coord_send(c, p, &m);
        if (st != DT_OK) return st;
        p->sent_bytes = off + len;
    }
    p->sent = r->step + 1;
    p->sent_bytes = 0;
    return DT_OK;
}

dt_status coord_catch_up(coord *c, coord_peer *p) {
    /* Everything at once: the peer applies results in order, so the backlog
     * costs its apply time, not a round trip per step. */
    int64_t sent = p->sent;
    uint64_t sent_bytes = p->sent_bytes;
    while (p->state == PEER_SYNCED && p->sent < c->version) {
        const coord_result *r = history_find(c, p->sent);
        if (!r) return coord_send_resync(c, p, "the rounds it missed are no longer kept");
        dt_status st = send_result(c, p, r);
        if (st == DT_ERR_UNAVAILABLE) {
            /* Behind; dropped once COORD_STALL_S pass without a chunk
             * queued. A chunk queued means it read: the clock restarts. */
            if (p->blocked_since == 0 || p->sent != sent || p->sent_bytes != sent_bytes)
                p->blocked_since = coord_now();
            return DT_OK;
        }
        if (st != DT_OK) return coord_send_failed(c, p, st, "RESULT");
        p->blocked_since = 0;
    }
    return DT_OK;
}

/* ---- the hash check ------------------------------------------------------ */

/* A joiner's first HASH says whether the weights it loaded are the ones
 * offered (the hash WELCOME or RESYNC named, kept with the offer: the
 * snapshot may have moved on since); it then replays the rounds since. */
static dt_status joiner_hash(coord *c, coord_peer *p, int64_t v, uint64_t h) {
    /* An ack from before the RESYNC (or for another version) is stale, not
     * a verdict on the weights being pulled. */
    if (p->state_served < p->state_needed || v != p->offered) return DT_OK;
    uint64_t want = p->offered_hash;
    if (v > c->version || !want || h != want)
        return coord_send_resync(c, p, "the weights it loaded do not match");
    p->state = PEER_SYNCED;
    p->version = p->sent = v;
    p->sent_bytes = 0; /* a result cut short before a RESYNC starts again at its offset 0 */
    p->pulled = 0;     /* a join completed: the next resync may pull again */
    p->n_offers = 0;
    coord_log(c, "peer %u '%s' holds the weights of step %lld%s", p->id, p->name, (long long)v,
              v < c->version ? "; replaying the rounds since" : "");
    return coord_catch_up(c, p);
}

dt_status coord_on_hash(coord *c, coord_peer *p, const net_msg *m) {
    int64_t v = m->h.step;
    uint64_t h = m->u.hash.hash;
    if (p->state == PEER_JOINING) return joiner_hash(c, p, v, h);
    if (v != p->version + 1 || v > c->version) {
        coord_log(c, "peer %u '%s' acknowledged step %lld out of order (holds %lld)", p->id,
                  p->name, (long long)v, (long long)p->version);
        return coord_send_resync(c, p, "out of order");
    }
    p->version = v;
    /* Where the coordinator hashed its replica after a round, every peer
     * hashed too (the same hash_check_every rule): a missing (zero) hash is
     * a mismatch, never a pass. */
    coord_step_record *rec = &c->records[v - 1];
    uint64_t want = rec->step == v - 1 ? rec->hash : 0;
    if (!want) return DT_OK;
    rec->hashes_reported++;
    const net_event_field agree = {"agree", NET_FIELD_BOOL, h == want, NULL};
    coord_event_with(c, NET_EVENT_HASH, p->id, v - 1, &agree, 1,
                     "peer %u '%s' hash after step %lld: %016llx, %s", p->id, p->name,
                     (long long)(v - 1), (unsigned long long)h, h == want ? "agrees" : "differs");
    if (h == want) {
        rec->hashes_agreeing++;
        return DT_OK;
    }
    char why[128];
    if (h == 0)
        snprintf(why, sizeof why, "it reported no hash after step %lld, a checked step",
                 (long long)(v - 1));
    else
        snprintf(why, sizeof why, "its hash %016llx after step %lld differs from %016llx",
                 (unsigned long long)h, (long long)(v - 1), (unsigned long long)want);
    return coord_send_resync(c, p, why);
}

/* ---- close: collect, apply, publish, account ----------------------------- */

/* Whether the round closes now; if so the contributors, ascending id, and
 * each peer's miss count. */
static bool collect(coord *c, coord_peer **contrib, int *n_out) {
    int n = 0, pending = 0;
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        if (p->submitted)
            contrib[n++] = p;
        else if (!p->refused)
            pending++;
    }
    if (pending > 0 && coord_now() < c->round_deadline) return false;
    c->round_open = false;
    sort_by_id(contrib, n);
    /* Peers that did not make it keep their momentum (they discard their
     * pending compression when the result leaves them out); repeated
     * misses eject (in account). */
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        p->misses = p->submitted ? 0 : p->misses + 1;
        const net_event_field misses = {"misses", NET_FIELD_NUM, p->misses, NULL};
        if (!p->submitted && !p->refused)
            coord_event_with(c, NET_EVENT_MISSED, p->id, c->round_step, &misses, 1,
                             "peer %u '%s' missed the deadline of step %lld (%d in a row)", p->id,
                             p->name, (long long)c->round_step, p->misses);
    }
    *n_out = n;
    return true;
}

/* The contributions applied to the coordinator's replica with the
 * canonical op; r gets the result (its payloads allocated), rec the step's
 * record. */
static dt_status apply(coord *c, coord_peer **contrib, int n, coord_result *r,
                       coord_step_record *rec) {
    *r = (coord_result){.step = c->round_step,
                        .lr_bits = float_bits(c->round_lr),
                        .decay_bits = float_bits(c->round_decay),
                        .n_applied = (uint32_t)n};
    r->payloads = malloc((size_t)n * c->payload_bytes);
    if (!r->payloads) return dt_error(DT_ERR_OOM, "coordinator: cannot keep a result");
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    double loss = 0.0, weight = 0.0;
    for (int i = 0; i < n; i++) {
        r->applied[i] = contrib[i]->id;
        memcpy(r->payloads + (size_t)i * c->payload_bytes, contrib[i]->submit, c->payload_bytes);
        ptrs[i] = r->payloads + (size_t)i * c->payload_bytes;
        lens[i] = c->payload_bytes;
        loss += (double)contrib[i]->loss * contrib[i]->n_micro;
        weight += contrib[i]->n_micro;
    }
    dt_status st =
        model_demo_apply(c->demo, c->run_id, r->step, ptrs, lens, n, c->round_lr, c->round_decay);
    if (st != DT_OK) {
        free(r->payloads);
        return st;
    }
    c->version++;
    rec->step = r->step;
    rec->n_applied = n;
    for (int i = 0; i < n; i++) {
        rec->applied_id[i] = contrib[i]->id;
        rec->applied_micro[i] = contrib[i]->n_micro;
    }
    rec->loss = (float)(loss / weight);
    rec->seconds = coord_now() - c->round_started;
    int64_t every = c->cfg->hash_check_every;
    if ((every > 0 && c->version % every == 0) || c->version == c->cfg->steps)
        st = model_param_hash(c->m, &rec->hash);
    if (st != DT_OK) free(r->payloads);
    r->hash_after = rec->hash;
    return st;
}

/* Every replica holding version step receives the result, contributors or
 * not; peers further behind get it (and what else they miss) as well. */
static dt_status publish(coord *c, const coord_result *r) {
    coord_record_round(c, r);
    history_add(c, r);
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (p->state != PEER_SYNCED) continue;
        dt_status st = coord_catch_up(c, p);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}

static void account_peer(coord *c, coord_step_record *rec, coord_peer *p) {
    net_counters now = {0};
    net_server_peer_counters(c->server, &p->route, &now);
    uint64_t up = now.bytes_received - p->at_round_start.bytes_received;
    uint64_t down = now.bytes_sent - p->at_round_start.bytes_sent;
    rec->peers_in_round++;
    rec->payload_up += p->payload_up;
    rec->bytes_up += up;
    rec->bytes_down += down;
    p->bytes_up += up;
    p->bytes_down += down;
    p->payload_up_total += p->payload_up;
    p->payload_down_total += (uint64_t)rec->n_applied * c->payload_bytes;
    if (p->submitted) {
        int64_t tokens = (int64_t)p->n_micro * c->cfg->micro_batch * c->cfg->model.seq_len *
                         net_run_round_steps(c->cfg, rec->step);
        p->steps_applied++;
        p->tokens += tokens;
        p->compute_total += p->compute_s;
        rec->tokens += tokens;
        coord_pardon(c, p);
    }
    coord_report_peer_step(c, p, rec->step, up, down, c->round_started + rec->seconds);
}

/* The val loss every eval_every steps (the last step's comes with the
 * finished event). A failed evaluation is logged; the run goes on. */
static void maybe_eval(coord *c) {
    int64_t every = c->cfg->eval_every;
    if (every <= 0 || c->version % every != 0 || c->version >= c->cfg->steps) return;
    float val = 0.0f;
    if (coord_eval(c, &val) != DT_OK) {
        coord_log(c, "evaluation after step %lld failed: %s", (long long)(c->version - 1),
                  dt_last_error());
        return;
    }
    const net_event_field f = {"val_loss", NET_FIELD_NUM, (double)val, NULL};
    coord_event_with(c, NET_EVENT_EVAL, 0, c->version - 1, &f, 1, "val loss after step %lld: %.4f",
                     (long long)(c->version - 1), (double)val);
}

/* Bytes and tokens per peer, ejections, the step's log line, the
 * checkpoint when one is due, and an evaluation when one is due. rec is
 * NULL when nothing was applied. */
static void account(coord *c, coord_step_record *rec) {
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        if (rec) account_peer(c, rec, p);
        p->in_round = false;
        if (p->misses >= c->cfg->max_misses) coord_eject(c, p, "missed too many rounds in a row");
    }
    if (!rec) {
        coord_log(c, "step %lld: no payload was applied; the round starts again",
                  (long long)c->round_step);
        return;
    }
    coord_log_step(c, rec);
    if (c->o->checkpoint_dir && c->cfg->checkpoint_every > 0 &&
        c->version % c->cfg->checkpoint_every == 0 && c->version < c->cfg->steps) {
        /* A full disk or a vanished folder must not stop the run: the write
         * goes to a temporary file first, so the last good checkpoint is
         * untouched, and the next interval tries again. */
        if (coord_checkpoint(c) != DT_OK)
            coord_event_with(c, NET_EVENT_CHECKPOINT, 0, c->version,
                             &(const net_event_field){"ok", NET_FIELD_BOOL, 0, NULL}, 1,
                             "checkpoint of step %lld failed (%s); the run goes on, the last good "
                             "checkpoint is kept, the next one is due at step %lld",
                             (long long)c->version, dt_last_error(),
                             (long long)(c->version + c->cfg->checkpoint_every));
    }
    maybe_eval(c);
    if (c->version >= c->cfg->steps) c->finished = true;
}

dt_status coord_maybe_close_round(coord *c) {
    coord_peer *contrib[NET_MAX_PEERS];
    int n = 0;
    if (!c->round_open || !collect(c, contrib, &n)) return DT_OK;
    if (n == 0) {
        account(c, NULL);
        return DT_OK;
    }
    coord_result r;
    coord_step_record *rec = &c->records[c->round_step];
    dt_status st = apply(c, contrib, n, &r, rec);
    if (st == DT_OK) st = publish(c, &r);
    if (st == DT_OK) account(c, rec);
    return st;
}
