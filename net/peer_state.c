/* The peer's set-up, the run it is welcomed into, the weights it pulls,
 * and the progress it reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/peer_internal.h"

/* Requests kept in flight while pulling weights: enough to hide a round
 * trip without flooding the coordinator's queue. */
#define STATE_WINDOW 4

/* Training throughput of this device on the `tiny` preset, the figure HELLO
 * carries; the coordinator scales it to the run's model. */
static dt_status measure_throughput(peer *p) {
    model_config c;
    model_config_preset("tiny", &c);
    const int64_t batch = 4, n = batch * c.seq_len;
    model *m = NULL;
    int32_t *tok = malloc((size_t)n * 4);
    dt_status st = tok ? model_create(p->dev, &c, batch, &m) : dt_error(DT_ERR_OOM, "peer: tokens");
    if (st == DT_OK) st = model_init_weights(m);
    for (int64_t i = 0; st == DT_OK && i < n; i++) tok[i] = (int32_t)(i * 7 % 256);
    double t0 = 0.0;
    for (int i = 0; st == DT_OK && i < 4; i++) {
        if (i == 1) t0 = peer_now(); /* the first pass pays for kernel builds */
        float loss;
        st = model_forward_backward(m, tok, tok, 1.0f / (float)n, MODEL_GRAD_OVERWRITE, &loss);
        if (st == DT_OK) st = dt_device_sync(p->dev);
    }
    if (st == DT_OK) p->tiny_tokens_per_s = 3.0 * (double)n / (peer_now() - t0);
    model_destroy(m);
    free(tok);
    return st;
}

/* The client first: a bad address or an unknown host fails before any
 * device work, and the connection comes up while the throughput is measured. */
dt_status peer_setup(peer *p) {
    net_client_config cc = {p->o->address, p->o->keys, p->o->server_key, p->o->shape, 0};
    dt_status st = net_client_open(&cc, &p->client);
    if (st == DT_OK) st = dt_device_open(p->o->device, &p->dev);
    if (st == DT_OK) st = measure_throughput(p);
    p->frame = malloc(NET_MAX_FRAME);
    p->msg = malloc(sizeof *p->msg);
    if (st == DT_OK && (!p->frame || !p->msg)) st = dt_error(DT_ERR_OOM, "peer: buffers");
    if (st != DT_OK) return st;
    const dt_device_info *info = dt_device_get_info(p->dev);
    peer_log(p, "device %s (%s), %.0f tokens/s on the tiny preset; connecting to %s%s", info->spec,
             info->name, p->tiny_tokens_per_s, p->o->address,
             p->o->keys ? " (CURVE)" : " (no authentication)");
    return DT_OK;
}

static void drop_model(peer *p) {
    model_worker_destroy(p->worker);
    model_destroy(p->m);
    model_dataset_close(p->ds);
    free(p->payload);
    p->worker = NULL;
    p->m = NULL;
    p->ds = NULL;
    p->payload = NULL;
    p->version = -1;
    p->pending = false;
}

void peer_teardown(peer *p) {
    drop_model(p);
    net_client_close(p->client);
    dt_device_close(p->dev);
    net_assembly_free(&p->pull);
    net_assembly_free(&p->result);
    free(p->frame);
    free(p->msg);
}

/* Build the model and optimizer the run config describes. A peer already
 * in this run with the same model keeps them: its momentum survives a
 * resync or a coordinator restart. */
static dt_status adopt_run(peer *p, const net_run_config *cfg, uint64_t run_id) {
    char *a = net_run_config_to_json(cfg, 0), *b = p->m ? net_run_config_to_json(&p->cfg, 0) : NULL;
    bool same = p->m && run_id == p->run_id && a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (same) return DT_OK;
    drop_model(p);
    p->cfg = *cfg;
    p->run_id = run_id;
    dt_status st = model_create(p->dev, &cfg->model, cfg->micro_batch, &p->m);
    model_sync_config sc;
    net_run_sync_config(cfg, &sc);
    if (st == DT_OK) st = model_worker_create(p->m, &sc, &p->worker);
    if (st == DT_OK) st = model_dataset_open(cfg->data, cfg->model.vocab_size, &p->ds);
    if (st == DT_OK) st = model_dataset_check(p->ds, cfg->model.seq_len);
    if (st == DT_OK) {
        p->payload = malloc(model_worker_payload_bytes(p->worker));
        if (!p->payload) st = dt_error(DT_ERR_OOM, "peer: buffers");
    }
    if (st == DT_OK) peer_state_restore(p);
    return st;
}

static dt_status request_state(peer *p) {
    while (p->state_requested < p->state_bytes &&
           p->state_requested - p->pull.got < (size_t)STATE_WINDOW * NET_MAX_CHUNK) {
        size_t len = p->state_bytes - p->state_requested;
        if (len > NET_MAX_CHUNK) len = NET_MAX_CHUNK;
        net_msg m = {.h = {NET_STATE_REQ, p->run_id, p->state_step}};
        m.u.state_req = (net_state_req){p->state_requested, (uint32_t)len};
        dt_status st = peer_send(p, &m);
        if (st != DT_OK) return st;
        p->state_requested += len;
    }
    return DT_OK;
}

static dt_status send_hash(peer *p, int64_t version, uint64_t hash) {
    net_msg m = {.h = {NET_HASH, p->run_id, version}};
    m.u.hash.hash = hash;
    return peer_send(p, &m);
}

static dt_status start_pull(peer *p, int64_t step, uint64_t bytes, uint64_t hash) {
    size_t want = (size_t)model_get_layout(p->m)->total * 4;
    if (bytes != want)
        return dt_error(DT_ERR_FORMAT,
                        "the coordinator offers %llu bytes of weights; this model "
                        "has %zu",
                        (unsigned long long)bytes, want);
    if (p->pending) model_worker_discard(p->worker);
    p->pending = false;
    p->phase = PHASE_PULLING;
    p->state_bytes = want;
    p->state_requested = 0;
    net_assembly_reset(&p->pull);
    p->state_hash = hash;
    p->state_step = step;
    return request_state(p);
}

dt_status peer_on_welcome(peer *p, const net_msg *m) {
    const net_welcome *w = &m->u.welcome;
    net_run_config cfg;
    char *text = net_welcome_config(w);
    if (!text) return dt_error(DT_ERR_OOM, "peer: run config");
    dt_status st = net_run_config_parse(text, &cfg);
    free(text);
    if (st != DT_OK) return dt_error_wrap(st, "WELCOME: ");
    st = adopt_run(p, &cfg, m->h.run_id);
    if (st != DT_OK) return st;
    p->id = w->peer_id;
    peer_log(p, "welcomed as peer %u into run %016llx: %s model, %lld steps; %s", p->id,
             (unsigned long long)p->run_id, cfg.model_name, (long long)cfg.steps,
             w->state_bytes ? "pulling the weights" : "keeping my weights");
    if (w->state_bytes == 0) {
        if (p->version != w->state_step)
            return dt_error(DT_ERR_FORMAT, "WELCOME keeps weights of step %lld; I hold %lld",
                            (long long)w->state_step, (long long)p->version);
        p->phase = PHASE_SYNCED;
        return send_hash(p, p->version, w->state_hash);
    }
    return start_pull(p, w->state_step, w->state_bytes, w->state_hash);
}

dt_status peer_on_resync(peer *p, const net_msg *m) {
    peer_log(p, "the coordinator asks me to resync from the weights of step %lld",
             (long long)m->h.step);
    return start_pull(p, m->h.step, m->u.resync.state_bytes, m->u.resync.state_hash);
}

dt_status peer_on_state(peer *p, const net_msg *m) {
    const net_chunk *c = &m->u.state.chunk;
    if (p->phase != PHASE_PULLING || m->h.step != p->state_step) return DT_OK;
    net_assembly_result got = NET_ASSEMBLY_SKIPPED;
    dt_status st = c->total == p->state_bytes
                       ? net_assembly_add(&p->pull, p->state_step, c, p->state_bytes, &got)
                       : DT_OK;
    if (st == DT_OK && got == NET_ASSEMBLY_SKIPPED)
        st = dt_error(DT_ERR_FORMAT, "STATE chunk at %llu of %llu; expected %llu of %zu",
                      (unsigned long long)c->offset, (unsigned long long)c->total,
                      (unsigned long long)p->pull.got, p->state_bytes);
    if (st != DT_OK) return st;
    if (got == NET_ASSEMBLY_MORE) return request_state(p);
    const model_layout *l = model_get_layout(p->m);
    uint64_t hash = model_hash_host(l, (const float *)p->pull.buf);
    if (hash != p->state_hash)
        return dt_error(DT_ERR_FORMAT,
                        "the weights of step %lld arrived with hash %016llx, "
                        "announced %016llx",
                        (long long)p->state_step, (unsigned long long)hash,
                        (unsigned long long)p->state_hash);
    st = model_upload_weights(p->m, (const float *)p->pull.buf);
    if (st != DT_OK) return st;
    p->version = p->state_step;
    p->phase = PHASE_SYNCED;
    peer_log(p, "loaded the weights of step %lld (%zu bytes, hash %016llx)", (long long)p->version,
             p->state_bytes, (unsigned long long)hash);
    p->at_last_step = net_client_totals(p->client);
    return send_hash(p, p->version, hash);
}

void peer_report_step(peer *p, int64_t step, bool submitted, bool applied, int n_applied,
                      uint64_t hash) {
    net_counters now = net_client_totals(p->client);
    uint64_t up = now.bytes_sent - p->at_last_step.bytes_sent;
    uint64_t down = now.bytes_received - p->at_last_step.bytes_received;
    p->at_last_step = now;
    double tps = submitted && p->round_compute > 0 ? (double)p->round_tokens / p->round_compute : 0;
    if (!p->o->events.fn) return;
    char hash_text[24];
    snprintf(hash_text, sizeof hash_text, "%016llx", (unsigned long long)hash);
    const net_event_field f[] = {
        {"step", NET_FIELD_NUM, (double)step, NULL},
        {"steps", NET_FIELD_NUM, (double)p->cfg.steps, NULL},
        {"loss", NET_FIELD_NUM, submitted ? (double)p->round_loss : -1.0, NULL},
        {"tokens_per_s", NET_FIELD_NUM, tps, NULL},
        {"bytes_up", NET_FIELD_NUM, (double)up, NULL},
        {"bytes_down", NET_FIELD_NUM, (double)down, NULL},
        {"peers", NET_FIELD_NUM, n_applied, NULL},
        {"submitted", NET_FIELD_BOOL, submitted, NULL},
        {"applied", NET_FIELD_BOOL, applied, NULL},
        {"hash", NET_FIELD_STR, 0, hash_text},
    };
    char line[256];
    if (submitted)
        snprintf(line, sizeof line,
                 "step %lld/%lld  loss %.4f  %.0f tok/s  up %.1f KB  down %.1f KB  peers %d%s",
                 (long long)step, (long long)p->cfg.steps, (double)p->round_loss, tps,
                 (double)up / 1e3, (double)down / 1e3, n_applied,
                 applied ? "" : "  (my payload was not applied)");
    else
        snprintf(line, sizeof line, "step %lld/%lld  catching up  down %.1f KB  peers %d",
                 (long long)step, (long long)p->cfg.steps, (double)down / 1e3, n_applied);
    net_event e = {NET_EVENT_STEP,
                   peer_now() - p->started_at,
                   p->id,
                   step,
                   line,
                   f,
                   (int)(sizeof f / sizeof f[0])};
    p->o->events.fn(&e, p->o->events.ctx);
}
