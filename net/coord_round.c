/* Rounds: who trains how much, collecting payloads, applying them with the
 * canonical op, and sending the result to every replica. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/coordinator_internal.h"

static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* Micro-batches per peer so the round ends as early as possible: everyone
 * gets one, then each further micro-batch goes to the peer that would
 * finish it first at its measured throughput (so a fast GPU and a slow CPU
 * finish a round at about the same time). */
static void assign_micro(coord *c, coord_peer **active, int n) {
    int64_t total = net_run_micro_batches(c->cfg);
    if (c->cfg->even_split) { /* the same share each, the rest to the lowest ids */
        for (int i = 0; i < n; i++)
            active[i]->n_micro = (uint32_t)(total / n + (i < total % n ? 1 : 0));
        return;
    }
    for (int i = 0; i < n; i++) active[i]->n_micro = 1;
    for (int64_t given = n; given < total; given++) {
        int best = 0;
        double best_end = 0.0;
        for (int i = 0; i < n; i++) {
            double tps = active[i]->tokens_per_s > 0 ? active[i]->tokens_per_s : 1.0;
            double end = (double)(active[i]->n_micro + 1) / tps;
            if (i == 0 || end < best_end) best = i, best_end = end;
        }
        active[best]->n_micro++;
    }
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
    /* ascending peer id: the canonical contribution order */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && active[j]->id < active[j - 1]->id; j--) {
            coord_peer *t = active[j];
            active[j] = active[j - 1];
            active[j - 1] = t;
        }
    assign_micro(c, active, n);
    c->round_step = c->version;
    net_run_round_lr(c->cfg, c->version, &c->round_lr, &c->round_decay);
    c->round_started = coord_now();
    c->round_deadline = c->round_started + c->cfg->round_deadline_s;
    c->round_open = true;
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.round);
    m.h = (net_header){NET_ROUND, c->run_id, c->version};
    for (int i = 0; i < n; i++) {
        coord_peer *p = active[i];
        p->in_round = true;
        p->submitted = p->refused = false;
        p->submit_got = p->submit_len = 0;
        p->payload_up = 0;
        net_server_peer_counters(c->server, &p->route, &p->at_round_start);
        m.u.round = (net_round){float_bits(c->round_lr), float_bits(c->round_decay), p->n_micro,
                                (uint32_t)(c->cfg->round_deadline_s * 1000.0), (uint32_t)n};
        dt_status st = coord_send(c, p, &m);
        if (st != DT_OK && st != DT_ERR_NOT_FOUND && st != DT_ERR_IO) return st;
    }
    return DT_OK;
}

static dt_status refuse(coord *c, coord_peer *p, const char *why) {
    p->refused = true;
    p->refusals++;
    coord_log(c, "refused the payload of peer %u '%s' for step %lld: %s", p->id, p->name,
              (long long)c->round_step, why);
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.refused);
    m.h = (net_header){NET_REFUSED, c->run_id, c->round_step};
    snprintf(m.u.refused.text, sizeof m.u.refused.text, "%s", why);
    dt_status st = coord_send(c, p, &m);
    return st == DT_ERR_NOT_FOUND || st == DT_ERR_IO ? DT_OK : st;
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
    p->submitted = true;
    p->loss = s->loss;
    p->compute_s = s->compute_s;
    if (s->compute_s > 1e-6) {
        /* A round of local steps trains its micro-batches once per inner step. */
        double tps = (double)s->n_micro * (double)(c->cfg->micro_batch * c->cfg->model.seq_len) *
                     (double)net_run_round_steps(c->cfg, c->round_step) / s->compute_s;
        p->tokens_per_s = p->tokens_per_s > 0 ? 0.5 * p->tokens_per_s + 0.5 * tps : tps;
    }
    return DT_OK;
}

static void account_round(coord *c, coord_step_record *rec, coord_peer *p, bool applied) {
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
    if (applied) {
        int64_t tokens = (int64_t)p->n_micro * c->cfg->micro_batch * c->cfg->model.seq_len *
                         net_run_round_steps(c->cfg, rec->step);
        p->steps_applied++;
        p->tokens += tokens;
        p->compute_total += p->compute_s;
        rec->tokens += tokens;
    }
}

dt_status coord_maybe_close_round(coord *c) {
    if (!c->round_open) return DT_OK;
    coord_peer *contrib[NET_MAX_PEERS];
    int n = 0, pending = 0;
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        if (p->submitted)
            contrib[n++] = p;
        else if (!p->refused)
            pending++;
    }
    double now = coord_now();
    if (pending > 0 && now < c->round_deadline) return DT_OK;
    c->round_open = false;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && contrib[j]->id < contrib[j - 1]->id; j--) {
            coord_peer *t = contrib[j];
            contrib[j] = contrib[j - 1];
            contrib[j - 1] = t;
        }
    /* Peers that did not make it keep their momentum (they discard their
     * pending compression when the result leaves them out); repeated
     * misses eject. */
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        p->misses = p->submitted ? 0 : p->misses + 1;
        if (!p->submitted && !p->refused)
            coord_log(c, "peer %u '%s' missed the deadline of step %lld (%d in a row)", p->id,
                      p->name, (long long)c->round_step, p->misses);
    }
    if (n == 0) {
        coord_log(c, "step %lld: no payload was applied; the round starts again",
                  (long long)c->round_step);
        for (int i = 0; i < NET_MAX_PEERS; i++) {
            coord_peer *p = &c->peers[i];
            if (coord_live(p) && p->in_round && p->misses >= c->cfg->max_misses)
                coord_eject(c, p, "missed too many rounds in a row");
            else
                p->in_round = false;
        }
        return DT_OK;
    }

    coord_result r;
    memset(&r, 0, sizeof r);
    r.step = c->round_step;
    r.lr_bits = float_bits(c->round_lr);
    r.decay_bits = float_bits(c->round_decay);
    r.n_applied = (uint32_t)n;
    r.payloads = malloc((size_t)n * c->payload_bytes);
    if (!r.payloads) return dt_error(DT_ERR_OOM, "coordinator: cannot keep a result");
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    double loss = 0.0, weight = 0.0;
    for (int i = 0; i < n; i++) {
        r.applied[i] = contrib[i]->id;
        memcpy(r.payloads + (size_t)i * c->payload_bytes, contrib[i]->submit, c->payload_bytes);
        ptrs[i] = r.payloads + (size_t)i * c->payload_bytes;
        lens[i] = c->payload_bytes;
        loss += (double)contrib[i]->loss * contrib[i]->n_micro;
        weight += contrib[i]->n_micro;
    }
    dt_status st =
        model_demo_apply(c->demo, c->run_id, r.step, ptrs, lens, n, c->round_lr, c->round_decay);
    if (st != DT_OK) {
        free(r.payloads);
        return st;
    }
    c->version++;
    coord_step_record *rec = &c->records[r.step];
    rec->step = r.step;
    rec->n_applied = n;
    for (int i = 0; i < n; i++) {
        rec->applied_id[i] = contrib[i]->id;
        rec->applied_micro[i] = contrib[i]->n_micro;
    }
    rec->loss = (float)(loss / weight);
    rec->seconds = now - c->round_started;
    int64_t every = c->cfg->hash_check_every;
    if ((every > 0 && c->version % every == 0) || c->version == c->cfg->steps) {
        st = model_param_hash(c->m, &rec->hash);
        if (st != DT_OK) return st;
    }
    r.hash_after = rec->hash;
    coord_record_round(c, &r);
    coord_history_add(c, &r);
    const coord_result *kept = &c->history[c->history_len - 1];
    /* Every replica holding version step receives the result, contributors
     * or not; peers still catching up get it from the history later. */
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (p->state != PEER_SYNCED || p->sent != r.step) continue;
        st = coord_send_result(c, p, kept);
        if (st != DT_OK && st != DT_ERR_NOT_FOUND && st != DT_ERR_IO) return st;
    }
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p) || !p->in_round) continue;
        account_round(c, rec, p, p->submitted);
        p->in_round = false;
        if (p->misses >= c->cfg->max_misses) coord_eject(c, p, "missed too many rounds in a row");
    }
    coord_log_step(c, rec);
    if (c->o->checkpoint_dir && c->cfg->checkpoint_every > 0 &&
        c->version % c->cfg->checkpoint_every == 0 && c->version < c->cfg->steps) {
        /* A full disk or a vanished folder must not stop the run: the write
         * goes to a temporary file first, so the last good checkpoint is
         * untouched, and the next interval tries again. */
        if (coord_checkpoint(c) != DT_OK)
            coord_log(c,
                      "checkpoint of step %lld failed (%s); the run goes on, the last good "
                      "checkpoint is kept, the next one is due at step %lld",
                      (long long)c->version, dt_last_error(),
                      (long long)(c->version + c->cfg->checkpoint_every));
    }
    if (c->version >= c->cfg->steps) c->finished = true;
    return DT_OK;
}
