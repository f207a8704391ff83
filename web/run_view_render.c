/* The run view, rendering side: the state document (web/STATE.md) and the
 * Prometheus exposition, each built under the view's lock. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/run_view_internal.h"

/* A number, or null where it is unknown (JSON has no NaN). */
static void add_num(cJSON *o, const char *key, double x) {
    if (isfinite(x))
        cJSON_AddNumberToObject(o, key, x);
    else
        cJSON_AddNullToObject(o, key);
}

/* A series as [x, y] (or [x, y, z]) points, thinned to every k-th point
 * (and the last) when it holds more than RV_DOC_POINTS: the document is
 * built under the view's lock, which the coordinator's event sink also
 * takes, and sent whole to every page once a second. Unthinned, 100,000
 * steps made a 22 MB document that held the lock for a third of a second. */
static cJSON *points(const rv_series *s, bool three) {
    cJSON *a = cJSON_CreateArray();
    const int64_t every = (s->n + RV_DOC_POINTS - 1) / RV_DOC_POINTS;
    for (int64_t i = 0; a && i < s->n; i++) {
        if (every > 1 && i % every != 0 && i != s->n - 1) continue;
        if (!isfinite(s->y[i])) continue;
        cJSON *pt = cJSON_CreateArray();
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(s->x[i]));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(s->y[i]));
        if (three) cJSON_AddItemToArray(pt, cJSON_CreateNumber(s->z[i]));
        cJSON_AddItemToArray(a, pt);
    }
    return a;
}

static cJSON *series_json(const rv_run *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "train_loss", points(&r->train, false));
    cJSON_AddItemToObject(o, "val_loss", points(&r->val, false));
    cJSON_AddItemToObject(o, "baseline_train_loss", points(&r->base_train, false));
    cJSON_AddItemToObject(o, "baseline_val_loss", points(&r->base_val, false));
    cJSON_AddItemToObject(o, "tokens_per_s", points(&r->tps, false));
    cJSON_AddItemToObject(o, "bytes_up", points(&r->up, false));
    cJSON_AddItemToObject(o, "bytes_down", points(&r->down, false));
    cJSON_AddItemToObject(o, "allreduce_bytes", points(&r->allreduce, false));
    cJSON_AddItemToObject(o, "hash_agree", points(&r->hash, true));
    return o;
}

static cJSON *peers_json(const rv_run *r) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < r->n_peers; i++) {
        const rv_peer *p = &r->peers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "device", p->device);
        cJSON_AddStringToObject(o, "backend", p->backend);
        cJSON_AddStringToObject(o, "state", p->state);
        cJSON_AddNumberToObject(o, "steps", (double)p->steps);
        add_num(o, "tokens_per_s", p->tokens_per_s);
        cJSON_AddNumberToObject(o, "misses", p->misses);
        cJSON_AddStringToObject(o, "link", p->link);
        cJSON_AddStringToObject(o, "last_hash", p->last_hash);
        cJSON_AddItemToObject(o, "tokens_per_s_series", points(&p->tps, false));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *timeline_json(const rv_run *r) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < r->timeline_n; k++) {
        int at = (r->timeline_head - r->timeline_n + 1 + k + RV_TIMELINE) % RV_TIMELINE;
        const rv_round *rd = &r->timeline[at];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)rd->step);
        add_num(o, "seconds", rd->seconds);
        cJSON *peers = cJSON_AddArrayToObject(o, "peers");
        for (int i = 0; i < rd->n; i++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "name", rd->peers[i].name);
            cJSON_AddNumberToObject(p, "compute_s", rd->peers[i].compute_s);
            cJSON_AddNumberToObject(p, "wait_s", rd->peers[i].wait_s);
            cJSON_AddBoolToObject(p, "submitted", rd->peers[i].submitted);
            cJSON_AddItemToArray(peers, p);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *events_json(const rv_run *r) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < r->events_n; k++) {
        const rv_event *e = &r->events[(r->events_head + k) % RV_EVENTS];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t", e->t);
        cJSON_AddStringToObject(o, "event", e->kind);
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "text", e->text);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* Steps whose checked hash every reporting replica agreed with. */
static int64_t steps_agreeing(const rv_run *r) {
    int64_t n = 0;
    for (int64_t i = 0; i < r->hash.n; i++) n += r->hash.y[i] > 0 && r->hash.z[i] == r->hash.y[i];
    return n;
}

static cJSON *run_json(const run_view *v, const rv_run *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", r->label);
    cJSON_AddStringToObject(o, "kind", r->kind[0] ? r->kind : "coordinator");
    cJSON_AddStringToObject(o, "run_id", r->run_id);
    cJSON_AddStringToObject(o, "model", r->model);
    add_num(o, "params", r->params > 0 ? r->params : NAN);
    cJSON_AddStringToObject(o, "optimizer", r->optimizer);
    cJSON_AddNumberToObject(o, "steps_total", (double)r->steps_total);
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddBoolToObject(o, "finished", r->finished);
    add_num(o, "val_loss", r->val_loss);
    cJSON_AddNumberToObject(o, "elapsed_s", rv_live_elapsed(v, r));
    add_num(o, "tokens_per_s", r->tokens_per_s);
    add_num(o, "reduction", r->sum_up > 0 ? r->sum_allreduce / r->sum_up : NAN);
    cJSON *hash = cJSON_AddObjectToObject(o, "hash");
    cJSON_AddNumberToObject(hash, "checked", (double)r->checked);
    cJSON_AddNumberToObject(hash, "agreeing", (double)steps_agreeing(r));
    cJSON_AddNumberToObject(hash, "mismatches", (double)r->mismatches);
    cJSON_AddItemToObject(o, "series", series_json(r));
    cJSON_AddItemToObject(o, "peers", peers_json(r));
    cJSON_AddItemToObject(o, "timeline", timeline_json(r));
    cJSON_AddItemToObject(o, "events", events_json(r));
    return o;
}

char *run_view_state_json(run_view *v) {
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    pthread_mutex_lock(&v->lock);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "live", v->live);
    cJSON_AddStringToObject(root, "generated", when);
    cJSON *runs = cJSON_AddArrayToObject(root, "runs");
    for (int i = 0; i < v->n_runs; i++) cJSON_AddItemToArray(runs, run_json(v, &v->runs[i]));
    pthread_mutex_unlock(&v->lock);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* ---- Prometheus ---------------------------------------------------------- */

typedef struct text_buf {
    char *p;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && b->len + (size_t)n + 1 > b->cap) {
        size_t cap = 2 * b->cap + (size_t)n + 1024;
        char *p = realloc(b->p, cap);
        if (p) {
            b->p = p;
            b->cap = cap;
        }
    }
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void metric(text_buf *b, const char *name, const char *type, const char *help, double x) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (isfinite(x))
        put(b, "%s %.10g\n", name, x);
    else
        put(b, "%s NaN\n", name);
}

/* A label value: backslash, quote and newline escaped (exposition format). */
static void label_value(text_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            put(b, "\\%c", *s);
        else if (*s == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *s);
    }
}

static void peer_metrics(text_buf *b, const rv_run *r) {
    static const char *const states[] = {"joining", "training", "left", "dropped", "ejected"};
    put(b, "# HELP distro_peers Peers of the run by state.\n# TYPE distro_peers gauge\n");
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        int n = 0;
        for (int i = 0; i < r->n_peers; i++) n += strcmp(r->peers[i].state, states[s]) == 0;
        put(b, "distro_peers{state=\"%s\"} %d\n", states[s], n);
    }
    put(b, "# HELP distro_peer_tokens_per_second A peer's measured training throughput.\n"
           "# TYPE distro_peer_tokens_per_second gauge\n");
    for (int i = 0; i < r->n_peers; i++) {
        if (!isfinite(r->peers[i].tokens_per_s)) continue;
        put(b, "distro_peer_tokens_per_second{peer=\"");
        label_value(b, r->peers[i].name);
        put(b, "\"} %.10g\n", r->peers[i].tokens_per_s);
    }
}

char *run_view_metrics(run_view *v) {
    text_buf b = {0};
    pthread_mutex_lock(&v->lock);
    const rv_run *r = v->n_runs ? &v->runs[0] : NULL;
    if (r) {
        double loss = r->train.n ? r->train.y[r->train.n - 1] : NAN;
        double now = rv_live_elapsed(v, r);
        metric(&b, "distro_step", "gauge", "Last applied step (0-based; -1 before the first).",
               (double)r->step);
        metric(&b, "distro_steps", "gauge", "Steps the run is configured for.",
               (double)r->steps_total);
        metric(&b, "distro_train_loss", "gauge", "Train loss of the last applied step.", loss);
        metric(&b, "distro_val_loss", "gauge", "Last validation loss.", r->val_loss);
        metric(&b, "distro_tokens_per_second", "gauge", "Tokens per second of the last step.",
               r->tokens_per_s);
        metric(&b, "distro_upload_bytes_per_peer_total", "counter",
               "Bytes a peer sent, per peer, summed over steps.", r->up_total);
        metric(&b, "distro_download_bytes_per_peer_total", "counter",
               "Bytes a peer received, per peer, summed over steps.", r->down_total);
        metric(&b, "distro_allreduce_bytes_per_peer_total", "counter",
               "Bytes a dense fp32 ring all-reduce would have moved per peer.", r->allreduce_total);
        peer_metrics(&b, r);
        metric(&b, "distro_hash_checked_steps_total", "counter",
               "Steps whose parameter hash was checked.", (double)r->checked);
        metric(&b, "distro_hash_mismatches_total", "counter",
               "Replica hashes that differed from the coordinator's.", (double)r->mismatches);
        metric(&b, "distro_refused_payloads_total", "counter", "Payloads the coordinator refused.",
               (double)r->refused);
        metric(&b, "distro_checkpoint_age_seconds", "gauge",
               "Seconds since the last checkpoint was written (NaN: none yet).",
               isfinite(r->checkpoint_t) ? now - r->checkpoint_t : NAN);
        metric(&b, "distro_elapsed_seconds", "gauge", "Seconds since the run started.", now);
    }
    pthread_mutex_unlock(&v->lock);
    if (!b.p) put(&b, "# no run yet\n");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
