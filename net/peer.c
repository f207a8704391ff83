/* The peer's event loop: one message at a time, in arrival order, so a
 * RESULT is always applied before the next ROUND is trained. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/peer_internal.h"
#include "runtime/text.h"

double peer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

dt_status peer_send(peer *p, const net_msg *m) {
    size_t len = 0;
    dt_status st = net_encode(m, p->frame, NET_MAX_FRAME, &len);
    if (st != DT_OK) return st;
    bool connected = net_client_status(p->client).connected;
    st = net_client_send(p->client, p->frame, len, connected ? 5000 : 1000);
    /* No connection (the coordinator is not up yet, is restarting, or
     * refuses our key): the frame is lost like any frame of a dropped link.
     * The peer says HELLO again when a connection comes up, and gives up
     * only after --connect-timeout; a late coordinator must not kill it. */
    if (st == DT_ERR_IO && !net_client_status(p->client).connected) {
        p->sends_lost++;
        return DT_OK;
    }
    return st;
}

static void peer_vevent(peer *p, net_event_kind kind, int64_t step, const char *fmt, va_list ap) {
    if (!p->o->events.fn) return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    net_event e = {kind, peer_now() - p->started_at, p->id, step, text, NULL, 0};
    p->o->events.fn(&e, p->o->events.ctx);
}

void peer_log(peer *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    peer_vevent(p, NET_EVENT_LOG, -1, fmt, ap);
    va_end(ap);
}

/* The run is over (a FINISHED event): the step it ended at. */
static void peer_finished(peer *p, int64_t step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void peer_finished(peer *p, int64_t step, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    peer_vevent(p, NET_EVENT_FINISHED, step, fmt, ap);
    va_end(ap);
}

static float bits_float(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* What the peer holds, for HELLO: a resumed coordinator can then let it keep
 * its weights. */
static dt_status send_hello(peer *p) {
    net_msg *m = calloc(1, sizeof *m);
    if (!m) return dt_error(DT_ERR_OOM, "peer: cannot allocate HELLO");
    m->h = (net_header){NET_HELLO, 0, p->version};
    net_hello *h = &m->u.hello;
    const dt_device_info *info = dt_device_get_info(p->dev);
    snprintf(h->name, sizeof h->name, "%s", p->o->name ? p->o->name : "");
    /* A driver's device name may be anything: printable, cut at a whole
     * character, as the wire requires. */
    char device[2 * sizeof h->device];
    snprintf(device, sizeof device, "%s %s", info->spec, info->name);
    dt_printable_copy(h->device, sizeof h->device, device);
    snprintf(h->backend, sizeof h->backend, "%s", info->backend);
    h->tokens_per_s = p->tiny_tokens_per_s;
    if (p->m && p->version >= 0) {
        h->have_run_id = p->run_id;
        h->have_step = p->version;
        dt_status st = model_param_hash(p->m, &h->have_hash);
        if (st != DT_OK) {
            free(m);
            return st;
        }
    } else {
        h->have_step = -1;
    }
    uint64_t lost = p->sends_lost;
    dt_status st = peer_send(p, m);
    free(m);
    p->phase = PHASE_HELLO;
    p->hello_sent_at = peer_now();
    p->hello_due = 0;
    p->hello_lost = p->sends_lost != lost;
    return st;
}

/* A round: gradients of the assigned micro-batches, then the payload. */
static dt_status on_round(peer *p, const net_msg *m) {
    const net_round *r = &m->u.round;
    int64_t step = m->h.step;
    if (p->phase != PHASE_SYNCED || step != p->version) {
        peer_log(p, "ignored ROUND %lld (holding step %lld)", (long long)step,
                 (long long)p->version);
        return DT_OK;
    }
    p->pending = false;
    double t0 = peer_now();
    model_round rd = {.run_id = p->run_id,
                      .round = step,
                      .peer = p->id,
                      .n_micro = r->n_micro,
                      .data_seed = p->cfg.seed,
                      .lr = bits_float(r->lr_bits),
                      .steps = net_run_round_steps(&p->cfg, step),
                      .stop = p->o->stop};
    model_round_report rep;
    bool stopped = false;
    dt_status st = model_worker_round(p->worker, p->ds, &rd, p->payload, &rep, &stopped);
    if (st == DT_OK && stopped) return DT_OK;
    if (st == DT_OK) st = dt_device_sync(p->dev);
    if (st != DT_OK) return st;
    double compute = peer_now() - t0;
    p->pending = true;
    p->pending_step = step;
    p->round_loss = rep.loss;
    p->round_tokens = rep.tokens;
    p->round_compute = compute;
    net_msg s = {.h = {NET_SUBMIT, p->run_id, step}};
    s.u.submit.loss = p->round_loss;
    s.u.submit.n_micro = r->n_micro;
    s.u.submit.compute_s = compute;
    size_t total = model_worker_payload_bytes(p->worker);
    for (size_t off = 0; st == DT_OK && off < total; off += NET_MAX_CHUNK) {
        size_t len = total - off < NET_MAX_CHUNK ? total - off : NET_MAX_CHUNK;
        s.u.submit.chunk = (net_chunk){off, total, (uint32_t)len, p->payload + off};
        st = peer_send(p, &s);
    }
    return st;
}

static dt_status apply_result(peer *p, int64_t step) {
    const net_result *r = &p->result_meta;
    size_t pb = model_worker_payload_bytes(p->worker);
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    bool mine = false;
    for (uint32_t i = 0; i < r->n_applied; i++) {
        ptrs[i] = p->result.buf + (size_t)i * pb;
        lens[i] = pb;
        mine |= r->applied[i] == p->id;
    }
    dt_status st = model_worker_apply(p->worker, p->run_id, step, ptrs, lens, (int)r->n_applied,
                                      bits_float(r->lr_bits), bits_float(r->decay_bits));
    if (st != DT_OK) return st;
    bool was_pending = p->pending && p->pending_step == step;
    if (was_pending && mine)
        st = model_worker_confirm(p->worker);
    else if (was_pending)
        model_worker_discard(p->worker);
    p->pending = false;
    if (st != DT_OK) return st;
    p->version = step + 1;
    st = peer_state_save(p);
    if (st != DT_OK) return st;
    uint64_t hash = 0;
    int64_t every = p->cfg.hash_check_every;
    if ((every > 0 && p->version % every == 0) || p->version == p->cfg.steps)
        st = model_param_hash(p->m, &hash);
    if (st != DT_OK) return st;
    net_msg h;
    memset(&h, 0, sizeof h.h + sizeof h.u.hash);
    h.h = (net_header){NET_HASH, p->run_id, p->version};
    h.u.hash.hash = hash;
    st = peer_send(p, &h);
    peer_report_step(p, step, was_pending, mine, (int)r->n_applied, hash);
    return st;
}

static dt_status on_result(peer *p, const net_msg *m) {
    const net_result *r = &m->u.result;
    int64_t step = m->h.step;
    if (p->phase != PHASE_SYNCED || step != p->version) return DT_OK;
    size_t pb = model_worker_payload_bytes(p->worker);
    if (r->chunk.total != (uint64_t)r->n_applied * pb || r->n_applied == 0)
        return dt_error(DT_ERR_FORMAT,
                        "RESULT of step %lld carries %llu bytes for %u payloads of "
                        "%zu",
                        (long long)step, (unsigned long long)r->chunk.total, r->n_applied, pb);
    if (r->chunk.offset == 0) p->result_meta = *r; /* who was applied: from the first chunk */
    /* A chunk that does not continue the result (left over from one a
     * RESYNC cut short) is skipped. */
    net_assembly_result got;
    dt_status st =
        net_assembly_add(&p->result, step, &r->chunk, (uint64_t)NET_MAX_PEERS * pb, &got);
    if (st != DT_OK || got != NET_ASSEMBLY_COMPLETE) return st;
    return apply_result(p, step);
}

/* What a REJECT means depends on its code, never on its text.
 *
 * LIMIT rejects are retried before giving up, PEER_LIMIT_WAIT_S apart. A peer
 * reconnecting at its key's (or address's) limit can have its HELLO read
 * in the same batch as its old connection's close, which the coordinator
 * acts on only after the batch: the old slot still counts, once. A key
 * really at its limit fails after about ten seconds, naming it. */
#define PEER_LIMIT_RETRIES 4
#define PEER_LIMIT_WAIT_S  2.0

static dt_status on_reject(peer *p, const net_reject *r) {
    const net_reject_code code = (net_reject_code)r->code;
    if (code != NET_REJECT_LIMIT) p->limit_rejects = 0;
    if (code == NET_REJECT_LIMIT && p->limit_rejects++ >= PEER_LIMIT_RETRIES)
        return dt_error(DT_ERR_UNAVAILABLE, "the coordinator rejected this peer: %s", r->text);
    switch (code) {
    case NET_REJECT_FINISHED:
        p->finished = true;
        return DT_OK;
    case NET_REJECT_BUSY:
    case NET_REJECT_BACKOFF:
    case NET_REJECT_LIMIT: {
        double wait = r->retry_ms / 1000.0 < 1.0 ? 1.0 : r->retry_ms / 1000.0;
        if (code == NET_REJECT_LIMIT) wait = PEER_LIMIT_WAIT_S;
        peer_log(p, "the coordinator asks this peer to wait %.0f s: %s", wait, r->text);
        if (p->pending) model_worker_discard(p->worker);
        p->pending = false;
        p->phase = PHASE_HELLO;
        p->hello_due = peer_now() + wait;
        return DT_OK;
    }
    default:
        return dt_error(DT_ERR_UNAVAILABLE, "the coordinator rejected this peer: %s", r->text);
    }
}

static dt_status dispatch(peer *p, const net_frame *f) {
    net_msg *m = p->msg;
    if (net_decode(f->data, f->len, m) != DT_OK) {
        peer_log(p, "ignored a malformed frame from the coordinator: %s", dt_last_error());
        return DT_OK;
    }
    if (m->h.type != NET_WELCOME && m->h.type != NET_REJECT && m->h.run_id != p->run_id)
        return DT_OK;
    switch (m->h.type) {
    case NET_WELCOME:
        p->limit_rejects = 0;
        return peer_on_welcome(p, m);
    case NET_STATE:
        return peer_on_state(p, m);
    case NET_RESYNC:
        return peer_on_resync(p, m);
    case NET_ROUND:
        return on_round(p, m);
    case NET_RESULT:
        return on_result(p, m);
    case NET_REFUSED:
        peer_log(p, "the coordinator refused my payload for step %lld: %s", (long long)m->h.step,
                 m->u.refused.text);
        return DT_OK;
    case NET_REJECT:
        return on_reject(p, &m->u.reject);
    case NET_LEAVE:
        p->finished = true;
        peer_finished(p, m->h.step, "the run finished at step %lld", (long long)m->h.step);
        return DT_OK;
    default:
        return DT_OK;
    }
}

/* The peer has had no connection to its coordinator for --connect-timeout:
 * it names why. Never connected: the client's last failure says what went
 * wrong (nothing listening, key refused, wrong server key...). Connected
 * before: the coordinator died, or its host or the network went away. */
static dt_status give_up(peer *p, const net_client_state *cs) {
    const net_peer_options *o = p->o;
    if (cs->connects == 0)
        return dt_error(DT_ERR_UNAVAILABLE,
                        "no coordinator at %s after %.0f s: %s (--connect-timeout S sets the "
                        "wait, 0 waits for ever)",
                        o->address, o->connect_timeout_s,
                        cs->last_failure[0] ? cs->last_failure
                                            : "no answer (is the host up? does a firewall drop "
                                              "the connection?)");
    return dt_error(DT_ERR_UNAVAILABLE,
                    "the coordinator at %s stopped answering: no connection for %.0f s%s%s "
                    "(--connect-timeout S sets the wait, 0 waits for ever)",
                    o->address, o->connect_timeout_s, cs->last_failure[0] ? "; last attempt: " : "",
                    cs->last_failure);
}

/* Stopped (Ctrl-C) while still in the run: LEAVE frees the slot at once. A
 * peer that never reached the coordinator has nobody to tell. */
static void leave(peer *p) {
    net_client_state cs = net_client_status(p->client);
    if (cs.connects == 0) {
        peer_log(p, "stopped before reaching the coordinator at %s%s%s", p->o->address,
                 cs.last_failure[0] ? ": " : "", cs.last_failure);
        return;
    }
    net_msg m = {.h = {NET_LEAVE, p->run_id, p->version}};
    peer_send(p, &m);
    net_client_flush(p->client, 1000);
    /* LINGER 0 drops what the I/O thread has not sent yet: give LEAVE a
     * moment on the wire before the socket closes. */
    for (double until = peer_now() + 0.3; peer_now() < until;) {
        net_frame f;
        bool arrived = false;
        if (net_client_recv(p->client, 50, &f, &arrived) != DT_OK) break;
    }
    if (p->version < 0)
        peer_log(p, "left before being given the weights");
    else
        peer_log(p, "left the run at step %lld", (long long)p->version);
}

dt_status net_peer_run(const net_peer_options *o) {
    /* The name goes on the wire as is: refuse what the wire would, now. */
    const char *name = o->name ? o->name : "";
    if (strlen(name) > NET_NAME_MAX)
        return dt_error(DT_ERR_INVALID, "peer name: %zu bytes, at most %d", strlen(name),
                        NET_NAME_MAX);
    if (dt_check_printable(DT_ERR_INVALID, "peer name", name) != DT_OK) return DT_ERR_INVALID;
    peer *p = calloc(1, sizeof *p);
    if (!p) return dt_error(DT_ERR_OOM, "peer: cannot allocate");
    p->o = o;
    p->version = -1;
    p->started_at = peer_now();
    dt_status st = peer_setup(p);
    if (st == DT_OK) st = send_hello(p);
    uint64_t connects = 0;
    double last_contact = peer_now(); /* a frame arrived */
    double last_up = peer_now();      /* connected (the timeout counts from here) */
    while (st == DT_OK && !p->finished && !(o->stop && *o->stop)) {
        net_frame f;
        bool arrived = false;
        st = net_client_recv(p->client, 200, &f, &arrived);
        if (st != DT_OK) break;
        net_client_state cs = net_client_status(p->client);
        if (cs.connects > connects) {
            /* A new connection: the coordinator restarted (or the link
             * dropped). Frames of the old one are lost; start over. */
            if (connects > 0) {
                peer_log(p, "reconnected to the coordinator; saying HELLO again");
                if (p->pending) model_worker_discard(p->worker);
                p->pending = false;
                net_assembly_reset(&p->result);
                st = send_hello(p);
            } else if (p->hello_lost) {
                st = send_hello(p); /* the first HELLO found no coordinator */
            }
            connects = cs.connects;
        }
        if (arrived) {
            last_contact = peer_now();
            st = dispatch(p, &f);
            last_up = peer_now(); /* a round may have kept us from watching the link */
        } else if (st == DT_OK && p->hello_due > 0) {
            if (peer_now() >= p->hello_due) {
                p->hello_due = 0;
                st = send_hello(p); /* the wait a BUSY or BACKOFF asked for is over */
            }
        } else if (st == DT_OK && p->phase == PHASE_HELLO && peer_now() - p->hello_sent_at > 10.0) {
            st = send_hello(p); /* the first HELLO may have gone to a dying connection */
        }
        /* The last step is applied and the coordinator went quiet: the run
         * is over even if its goodbye was lost. */
        if (st == DT_OK && p->m && p->version >= p->cfg.steps && peer_now() - last_contact > 30.0) {
            peer_log(p, "the run reached its last step and the coordinator went quiet; leaving");
            p->finished = true;
        }
        /* Whatever the phase (waiting out a BUSY or BACKOFF included): a
         * link that heartbeats keep up means a live coordinator, so only
         * time without one counts. */
        cs = net_client_status(p->client);
        if (cs.connected) last_up = peer_now();
        if (st == DT_OK && o->connect_timeout_s > 0 && peer_now() - last_up > o->connect_timeout_s)
            st = give_up(p, &cs);
    }
    if (st == DT_OK && !p->finished && p->client) leave(p);
    dt_status keep = st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", dt_last_error());
    peer_teardown(p);
    free(p);
    if (keep != DT_OK) dt_error(keep, "%s", msg);
    return keep;
}
