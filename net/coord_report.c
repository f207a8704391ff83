/* What the coordinator tells the world: log lines, checkpoints, the record
 * of applied rounds, and the JSON summary of a finished run. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "net/coordinator_internal.h"
#include "net/record.h"

#define COORD_EVENT_FIELDS 16

void coord_vevent(coord *c, net_event_kind kind, uint32_t peer, int64_t step,
                  const net_event_field *extra, int n_extra, const char *fmt, va_list ap) {
    if (!c->o->events.fn) return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    /* An event about a peer names it: tests and dashboards select by name. */
    net_event_field f[COORD_EVENT_FIELDS];
    int n = 0;
    for (int i = 0; peer && i < NET_MAX_PEERS && n == 0; i++)
        if (c->peers[i].state != PEER_FREE && c->peers[i].id == peer)
            f[n++] = (net_event_field){"name", NET_FIELD_STR, 0, c->peers[i].name};
    for (int i = 0; i < n_extra && n < COORD_EVENT_FIELDS; i++) f[n++] = extra[i];
    net_event e = {kind, coord_now() - c->started_at, peer, step, text, f, n};
    c->o->events.fn(&e, c->o->events.ctx);
}

void coord_event_with(coord *c, net_event_kind kind, uint32_t peer, int64_t step,
                      const net_event_field *extra, int n_extra, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    coord_vevent(c, kind, peer, step, extra, n_extra, fmt, ap);
    va_end(ap);
}

void coord_event(coord *c, net_event_kind kind, uint32_t peer, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    coord_vevent(c, kind, peer, -1, NULL, 0, fmt, ap);
    va_end(ap);
}

void coord_event_at(coord *c, net_event_kind kind, uint32_t peer, int64_t step, const char *fmt,
                    ...) {
    va_list ap;
    va_start(ap, fmt);
    coord_vevent(c, kind, peer, step, NULL, 0, fmt, ap);
    va_end(ap);
}

void coord_log(coord *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    coord_vevent(c, NET_EVENT_LOG, 0, -1, NULL, 0, fmt, ap);
    va_end(ap);
}

/* Dense fp32 ring all-reduce: each of n peers sends (and receives)
 * 2 (n - 1) / n * 4 bytes per parameter. */
static double allreduce_bytes(int64_t params, int n) {
    return n > 1 ? 2.0 * (double)(n - 1) / (double)n * 4.0 * (double)params : 0.0;
}

void coord_log_step(coord *c, const coord_step_record *rec) {
    if (!c->o->events.fn) return;
    int64_t params = model_config_param_count(&c->cfg->model);
    int k = rec->peers_in_round ? rec->peers_in_round : 1;
    double up = (double)rec->bytes_up / k, down = (double)rec->bytes_down / k;
    double ar = allreduce_bytes(params, rec->n_applied);
    char hash[24] = "";
    if (rec->hash) snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rec->hash);
    const net_event_field f[] = {
        {"step", NET_FIELD_NUM, (double)rec->step, NULL},
        {"peers", NET_FIELD_NUM, rec->n_applied, NULL},
        {"loss", NET_FIELD_NUM, (double)rec->loss, NULL},
        {"lr", NET_FIELD_NUM, (double)c->round_lr, NULL},
        {"seconds", NET_FIELD_NUM, rec->seconds, NULL},
        {"tokens", NET_FIELD_NUM, (double)rec->tokens, NULL},
        {"bytes_up_per_peer", NET_FIELD_NUM, up, NULL},
        {"bytes_down_per_peer", NET_FIELD_NUM, down, NULL},
        {"payload_up_per_peer", NET_FIELD_NUM, (double)rec->payload_up / k, NULL},
        {"allreduce_bytes_per_peer", NET_FIELD_NUM, ar, NULL},
        {"hash", NET_FIELD_STR, 0, hash},
    };
    char text[512];
    snprintf(text, sizeof text,
             "step %lld/%lld: %d peer%s applied, loss %.4f, lr %.2e, per peer %.1f KB up "
             "(%.1f KB payload) / %.1f KB down, all-reduce would move %.1f KB, %.2f s",
             (long long)rec->step, (long long)c->cfg->steps, rec->n_applied,
             rec->n_applied == 1 ? "" : "s", (double)rec->loss, (double)c->round_lr, up / 1e3,
             (double)rec->payload_up / k / 1e3, down / 1e3, ar / 1e3, rec->seconds);
    net_event e = {NET_EVENT_STEP,
                   coord_now() - c->started_at,
                   0,
                   rec->step,
                   text,
                   f,
                   (int)(sizeof f / sizeof f[0])};
    c->o->events.fn(&e, c->o->events.ctx);
}

void coord_report_started(coord *c) {
    char run_id[24];
    snprintf(run_id, sizeof run_id, "%016llx", (unsigned long long)c->run_id);
    const char *opt = model_optimizer_name(c->cfg->optimizer);
    const net_event_field f[] = {
        {"run_id", NET_FIELD_STR, 0, run_id},
        {"model", NET_FIELD_STR, 0, c->cfg->model_name},
        {"params", NET_FIELD_NUM, (double)model_config_param_count(&c->cfg->model), NULL},
        {"steps", NET_FIELD_NUM, (double)c->cfg->steps, NULL},
        {"optimizer", NET_FIELD_STR, 0, opt},
        {"payload_bytes", NET_FIELD_NUM, (double)c->payload_bytes, NULL},
    };
    coord_event_with(c, NET_EVENT_STARTED, 0, -1, f, (int)(sizeof f / sizeof f[0]),
                     "run %s: %s model (%lld parameters), %lld steps, %s, payload %zu bytes per "
                     "peer per step; listening on %s (%s)",
                     run_id, c->cfg->model_name,
                     (long long)model_config_param_count(&c->cfg->model), (long long)c->cfg->steps,
                     opt, c->payload_bytes, net_server_endpoint(c->server),
                     c->o->keys ? "CURVE, admitted keys only" : "open: no authentication");
}

/* Waiting is what a peer spent between handing in its payload and the
 * round's close: the time the slowest contributor (or the deadline) cost
 * it. A peer that did not submit waited the whole round. */
void coord_report_peer_step(coord *c, const coord_peer *p, int64_t step, uint64_t up, uint64_t down,
                            double closed_at) {
    double wait = p->submitted ? closed_at - p->submitted_at : closed_at - c->round_started;
    const net_event_field f[] = {
        {"submitted", NET_FIELD_BOOL, p->submitted, NULL},
        {"compute_s", NET_FIELD_NUM, p->submitted ? p->compute_s : 0.0, NULL},
        {"wait_s", NET_FIELD_NUM, wait > 0 ? wait : 0.0, NULL},
        {"tokens_total", NET_FIELD_NUM, (double)p->tokens, NULL},
        {"tokens_per_s", NET_FIELD_NUM, p->measured ? p->tokens_per_s : 0.0, NULL},
        {"bytes_up", NET_FIELD_NUM, (double)up, NULL},
        {"bytes_down", NET_FIELD_NUM, (double)down, NULL},
        {"misses", NET_FIELD_NUM, p->misses, NULL},
    };
    coord_event_with(c, NET_EVENT_PEER_STEP, p->id, step, f, (int)(sizeof f / sizeof f[0]),
                     "peer %u '%s' in step %lld: %s", p->id, p->name, (long long)step,
                     p->submitted ? "submitted" : "no payload");
}

static char *checkpoint_path(const coord *c, const char *name) {
    size_t n = strlen(c->o->checkpoint_dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", c->o->checkpoint_dir, name);
    return p;
}

/* The checkpoint being replaced stays as the previous one: a hard link
 * under the other name first (no copy), then the new file renamed over the
 * latest. A resume falls back to it when the latest is damaged. */
static void keep_previous(const char *latest, const char *previous) {
    size_t n = strlen(previous) + 8;
    char *tmp = malloc(n);
    if (!tmp) return;
    snprintf(tmp, n, "%s.link", previous);
    remove(tmp);
    if (link(latest, tmp) == 0 && rename(tmp, previous) != 0) remove(tmp);
    free(tmp);
}

dt_status coord_checkpoint(coord *c) {
    char *path = checkpoint_path(c, NET_COORDINATOR_CHECKPOINT);
    char *prev = checkpoint_path(c, NET_COORDINATOR_PREVIOUS);
    char *config = net_run_config_to_json(c->cfg, 0);
    uint64_t hash = 0;
    dt_status st = path && prev && config ? model_param_hash(c->m, &hash)
                                          : dt_error(DT_ERR_OOM, "coordinator: checkpoint path");
    if (st == DT_OK) {
        char run_id[24], hash_text[24];
        snprintf(run_id, sizeof run_id, "%016llx", (unsigned long long)c->run_id);
        snprintf(hash_text, sizeof hash_text, "%016llx", (unsigned long long)hash);
        st_metadata extra[] = {
            {"run_config", config}, {"run_id", run_id}, {"param_hash", hash_text}};
        keep_previous(path, prev);
        st = model_checkpoint_save(path, c->m, "demo", c->version, NULL, 0, extra, 3);
        const net_event_field ok = {"ok", NET_FIELD_BOOL, 1, NULL};
        if (st == DT_OK)
            coord_event_with(c, NET_EVENT_CHECKPOINT, 0, c->version, &ok, 1,
                             "checkpoint of step %lld written to %s", (long long)c->version, path);
    }
    free(path);
    free(prev);
    free(config);
    return st;
}

/* Load one coordinator checkpoint into the replica; nothing of c changes
 * unless every check passes (the weights are verified before upload). */
static dt_status resume_from(coord *c, const char *path) {
    model_checkpoint ck;
    dt_status st = model_checkpoint_open(path, &ck);
    if (st != DT_OK) return st;
    const char *run_id = st_metadata_get(ck.file, "run_id");
    const char *config = st_metadata_get(ck.file, "run_config");
    net_run_config saved;
    if (!run_id || !config || net_run_config_parse(config, &saved) != DT_OK)
        st = dt_error(DT_ERR_FORMAT, "%s is not a coordinator checkpoint", path);
    char *want = st == DT_OK ? model_config_to_json(&c->cfg->model) : NULL;
    char *have = st == DT_OK ? model_config_to_json(&saved.model) : NULL;
    if (st == DT_OK && (!want || !have || strcmp(want, have) != 0))
        st = dt_error(DT_ERR_INVALID, "the checkpoint's model %s differs from the config's %s",
                      have ? have : "?", want ? want : "?");
    free(want);
    free(have);
    if (st == DT_OK) st = model_checkpoint_load(&ck, c->m, NULL, model_weights_buffer(c->m));
    if (st == DT_OK) {
        c->run_id = strtoull(run_id, NULL, 16);
        c->version = ck.step;
    }
    model_checkpoint_close(&ck);
    return st == DT_OK ? st : dt_error_wrap(st, "%s: ", path);
}

dt_status coord_resume(coord *c) {
    char *path = checkpoint_path(c, NET_COORDINATOR_CHECKPOINT);
    char *prev = checkpoint_path(c, NET_COORDINATOR_PREVIOUS);
    dt_status st =
        path && prev ? resume_from(c, path) : dt_error(DT_ERR_OOM, "coordinator: checkpoint path");
    const char *used = path;
    FILE *f = prev && st != DT_OK && st != DT_ERR_OOM ? fopen(prev, "rb") : NULL;
    if (f) {
        fclose(f);
        coord_log(c,
                  "--resume: the latest checkpoint cannot be used (%s); falling back to the "
                  "previous one, %s",
                  dt_last_error(), prev);
        st = resume_from(c, prev);
        used = prev;
    }
    if (st == DT_OK) {
        /* Peers reconnect over a few seconds: give them a moment to come
         * back together before the first round, then go on with whoever
         * is there (a peer that died with the old coordinator never will). */
        c->started = false;
        c->resume_grace_until = coord_now() + 10.0;
        char run_id[24];
        snprintf(run_id, sizeof run_id, "%016llx", (unsigned long long)c->run_id);
        const net_event_field f = {"run_id", NET_FIELD_STR, 0, run_id};
        coord_event_with(c, NET_EVENT_RESUMED, 0, c->version, &f, 1,
                         "resuming run %s at step %lld from %s", run_id, (long long)c->version,
                         used);
    } else {
        dt_error_wrap(st, "--resume: ");
    }
    free(path);
    free(prev);
    return st;
}

/* The --record file (net/record.h). coordinator.c opens it for appending
 * (O_APPEND) and closes it; the rounds are written here through its
 * descriptor, unbuffered, so a failed write is this round's and no torn
 * bytes are flushed later. A run that does not resume prepares the file at
 * its first round (step 0): a new file gets its header, an existing one of
 * the same payload size is walked and a damaged tail cut off, so the rounds
 * follow a whole record. A record that cannot be written stops the
 * recording, loudly: the run goes on (the record is a test aid, the
 * checkpoints are what a restart needs) and the log says where the record
 * ends. */
void coord_record_round(coord *c, const coord_result *r) {
    if (!c->record) return;
    const char *path = c->o->record_file;
    dt_status st = DT_OK;
    if (!c->o->resume && r->step == 0) {
        net_record_tail tail;
        st = net_record_prepare(path, c->payload_bytes, &tail);
        if (st == DT_OK && tail.cut_bytes)
            coord_log(c, "record file %s: cut %llu bytes off its end after %llu whole records (%s)",
                      path, (unsigned long long)tail.cut_bytes, (unsigned long long)tail.records,
                      tail.why);
    }
    net_record_round round = {r->step,      r->lr_bits, r->decay_bits, r->hash_after,
                              r->n_applied, r->applied, r->payloads};
    if (st == DT_OK) st = net_record_append_fd(fileno(c->record), path, c->payload_bytes, &round);
    if (st == DT_OK) return;
    coord_log(c,
              "ERROR: %s. Recording stops here: the record is incomplete, it holds no round from "
              "step %lld on",
              dt_last_error(), (long long)r->step);
    fclose(c->record);
    c->record = NULL;
}

/* A coordinator killed while appending a round leaves a torn record at the
 * end of the file. A resumed one appends after the last whole record, so
 * the file stays readable across the restart (a replay then sees the run go
 * back to the checkpoint step and on); a file that is not a record of this
 * run's payload size is refused, and the resume with it. */
dt_status coord_record_trim(coord *c) {
    const char *path = c->o->record_file;
    net_record_tail tail;
    dt_status st = net_record_prepare(path, c->payload_bytes, &tail);
    if (st != DT_OK) return st;
    if (tail.cut_bytes)
        coord_log(c,
                  "record file %s: cut a torn or damaged last record (%llu bytes) left by a killed "
                  "coordinator, after %llu whole records: %s",
                  path, (unsigned long long)tail.cut_bytes, (unsigned long long)tail.records,
                  tail.why);
    return DT_OK;
}

static cJSON *peer_json(const coord *c, const coord_peer *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "device", p->device);
    cJSON_AddStringToObject(o, "backend", p->backend);
    cJSON_AddNumberToObject(o, "steps_applied", (double)p->steps_applied);
    cJSON_AddNumberToObject(o, "tokens", (double)p->tokens);
    cJSON_AddNumberToObject(o, "tokens_per_s",
                            p->compute_total > 0 ? (double)p->tokens / p->compute_total : 0.0);
    cJSON_AddNumberToObject(o, "bytes_up", (double)p->bytes_up);
    cJSON_AddNumberToObject(o, "bytes_down", (double)p->bytes_down);
    cJSON_AddNumberToObject(o, "payload_up", (double)p->payload_up_total);
    cJSON_AddNumberToObject(o, "refusals", (double)p->refusals);
    cJSON_AddNumberToObject(o, "resyncs", (double)p->resyncs);
    cJSON_AddStringToObject(o, "left", p->state == PEER_GONE ? p->gone : "");
    (void)c;
    return o;
}

dt_status coord_write_summary(coord *c, float val_loss) {
    cJSON *root = cJSON_CreateObject();
    char id[24];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)c->run_id);
    int64_t params = model_config_param_count(&c->cfg->model);
    cJSON_AddStringToObject(root, "run_id", id);
    cJSON_AddStringToObject(root, "model", c->cfg->model_name);
    cJSON_AddNumberToObject(root, "params", (double)params);
    cJSON_AddNumberToObject(root, "steps", (double)c->version);
    cJSON_AddNumberToObject(root, "payload_bytes", (double)c->payload_bytes);
    cJSON_AddStringToObject(root, "optimizer", model_optimizer_name(c->cfg->optimizer));
    cJSON_AddNumberToObject(root, "inner_steps", (double)c->cfg->inner_steps);
    cJSON_AddNumberToObject(root, "val_loss", (double)val_loss);
    cJSON_AddNumberToObject(root, "seconds", coord_now() - c->started_at);
    cJSON *steps = cJSON_AddArrayToObject(root, "step_records");
    int64_t checked = 0, agreeing = 0, tokens = 0;
    for (int64_t s = 0; s < c->version && s < c->cfg->steps; s++) {
        const coord_step_record *r = &c->records[s];
        if (r->n_applied == 0) continue; /* before a resume */
        cJSON *o = cJSON_CreateObject();
        char hash[24];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r->hash);
        cJSON_AddNumberToObject(o, "step", (double)r->step);
        cJSON_AddNumberToObject(o, "applied", r->n_applied);
        cJSON_AddNumberToObject(o, "loss", (double)r->loss);
        cJSON_AddStringToObject(o, "hash", r->hash ? hash : "");
        cJSON_AddNumberToObject(o, "hashes_reported", r->hashes_reported);
        cJSON_AddNumberToObject(o, "hashes_agreeing", r->hashes_agreeing);
        cJSON_AddNumberToObject(o, "peers_in_round", r->peers_in_round);
        cJSON_AddNumberToObject(o, "bytes_up", (double)r->bytes_up);
        cJSON_AddNumberToObject(o, "bytes_down", (double)r->bytes_down);
        cJSON_AddNumberToObject(o, "payload_up", (double)r->payload_up);
        cJSON_AddNumberToObject(o, "allreduce_bytes_per_peer",
                                allreduce_bytes(params, r->n_applied));
        cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddNumberToObject(o, "optimizer_steps", (double)net_run_round_steps(c->cfg, s));
        cJSON *micro = cJSON_AddArrayToObject(o, "micro");
        for (int i = 0; i < r->n_applied; i++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->applied_id[i]));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->applied_micro[i]));
            cJSON_AddItemToArray(micro, pair);
        }
        cJSON_AddItemToArray(steps, o);
        if (r->hash) {
            checked++;
            agreeing += r->hashes_reported > 0 && r->hashes_agreeing == r->hashes_reported;
        }
        tokens += r->tokens;
    }
    cJSON_AddNumberToObject(root, "tokens", (double)tokens);
    cJSON_AddNumberToObject(root, "steps_hash_checked", (double)checked);
    cJSON_AddNumberToObject(root, "steps_hash_agreeing", (double)agreeing);
    cJSON *peers = cJSON_AddArrayToObject(root, "peers");
    for (int i = 0; i < NET_MAX_PEERS; i++)
        if (c->peers[i].state != PEER_FREE) cJSON_AddItemToArray(peers, peer_json(c, &c->peers[i]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return dt_error(DT_ERR_OOM, "coordinator: summary");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->o->summary_file);
    FILE *f = fopen(tmp, "w");
    /* Closed whatever the write did (a full disk fails fputs), and the
     * temporary file removed when it did not become the summary. */
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, c->o->summary_file) != 0) ok = false;
    if (!ok && f) remove(tmp);
    free(text);
    return ok ? DT_OK : dt_error(DT_ERR_IO, "summary %s: cannot write", c->o->summary_file);
}
