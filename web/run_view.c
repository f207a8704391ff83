/* The run view, ingest side: events in, the state of each run updated
 * (run_view.h). Three kinds of source:
 *   coordinator: {"event": ...} objects without a "peer" on its steps;
 *   peer (join --json): {"event": ...} objects whose steps carry "peer";
 *   train (train --json): step objects without "event".
 * A run's kind is set by its first event that tells. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/text.h"
#include "web/run_view_internal.h"

double rv_mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double rv_live_elapsed(const run_view *v, const rv_run *r) {
    if (!v->live || r->finished || v->n_events == 0) return r->elapsed_s;
    return r->elapsed_s + (rv_mono_now() - v->last_event_mono);
}

dt_status run_view_create(bool live, run_view **out) {
    run_view *v = calloc(1, sizeof *v);
    if (!v) return dt_error(DT_ERR_OOM, "run view");
    pthread_mutex_init(&v->lock, NULL);
    v->live = live;
    *out = v;
    return DT_OK;
}

static void series_free(rv_series *s) {
    free(s->x);
    free(s->y);
    free(s->z);
}

static void run_free(rv_run *r) {
    rv_series *all[] = {&r->train, &r->val,  &r->base_train, &r->base_val, &r->tps,
                        &r->up,    &r->down, &r->allreduce,  &r->hash};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) series_free(all[i]);
    for (int i = 0; i < r->n_peers; i++) series_free(&r->peers[i].tps);
    free(r->peers);
}

void run_view_destroy(run_view *v) {
    if (!v) return;
    for (int i = 0; i < v->n_runs; i++) run_free(&v->runs[i]);
    free(v->runs);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

dt_status run_view_add_run(run_view *v, const char *label, int *index) {
    pthread_mutex_lock(&v->lock);
    dt_status st = DT_OK;
    if (v->n_runs == v->cap_runs) {
        int cap = v->cap_runs ? 2 * v->cap_runs : 4;
        rv_run *runs = realloc(v->runs, (size_t)cap * sizeof *runs);
        if (runs) {
            v->runs = runs;
            v->cap_runs = cap;
        } else {
            st = dt_error(DT_ERR_OOM, "run view: runs");
        }
    }
    if (st == DT_OK) {
        rv_run *r = &v->runs[v->n_runs];
        memset(r, 0, sizeof *r);
        snprintf(r->label, sizeof r->label, "%s", label ? label : "");
        r->step = -1;
        r->val_loss = r->tokens_per_s = r->checkpoint_t = NAN;
        *index = v->n_runs++;
    }
    pthread_mutex_unlock(&v->lock);
    return st;
}

/* Seven significant digits: what a loss or a rate means, without the
 * float-to-double noise in the document. */
static double sig7(double x) {
    if (!isfinite(x)) return x;
    char text[32];
    snprintf(text, sizeof text, "%.7g", x);
    return strtod(text, NULL);
}

static bool series_add(rv_series *s, double x, double y, double z) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx) s->x = nx;
        double *ny = nx ? realloc(s->y, (size_t)cap * sizeof *ny) : NULL;
        if (ny) s->y = ny;
        double *nz = ny ? realloc(s->z, (size_t)cap * sizeof *nz) : NULL;
        if (nz) s->z = nz;
        if (!nz) return false;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = sig7(y);
    s->z[s->n] = z;
    s->n++;
    return true;
}

/* ---- reading events ------------------------------------------------------ */

static double num(const cJSON *o, const char *key, double def) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : def;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool flag(const cJSON *o, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Cut at a whole character: a name or text cut inside one would be invalid
 * UTF-8 in the JSON document and in /metrics' labels. */
static void copy(char *dst, size_t n, const char *src) {
    dt_printable_copy(dst, n, src ? src : "");
}

/* The peer an event is about: by the coordinator's id, else by name. */
static rv_peer *peer_of(rv_run *r, const cJSON *e, bool create) {
    double id = num(e, "peer", 0);
    const char *name = str(e, "name");
    if (id == 0 && !name) return NULL;
    for (int i = r->n_peers - 1; i >= 0; i--) {
        rv_peer *p = &r->peers[i];
        if (id ? p->id == id : strcmp(p->name, name) == 0) return p;
    }
    /* A row made from the scenario (its link) before the peer joined. */
    for (int i = 0; id && name && i < r->n_peers; i++)
        if (r->peers[i].id == 0 && strcmp(r->peers[i].name, name) == 0) {
            r->peers[i].id = id;
            return &r->peers[i];
        }
    if (!create) return NULL;
    if (r->n_peers == r->cap_peers) {
        int cap = r->cap_peers ? 2 * r->cap_peers : 8;
        rv_peer *peers = realloc(r->peers, (size_t)cap * sizeof *peers);
        if (!peers) return NULL;
        r->peers = peers;
        r->cap_peers = cap;
    }
    rv_peer *p = &r->peers[r->n_peers++];
    memset(p, 0, sizeof *p);
    p->id = id;
    copy(p->name, sizeof p->name, name ? name : "?");
    copy(p->state, sizeof p->state, "joining");
    p->tokens_per_s = NAN;
    return p;
}

static void remember(rv_run *r, const cJSON *e, const char *kind) {
    int at = (r->events_head + r->events_n) % RV_EVENTS;
    if (r->events_n == RV_EVENTS)
        r->events_head = (r->events_head + 1) % RV_EVENTS;
    else
        r->events_n++;
    rv_event *ev = &r->events[at];
    ev->t = num(e, "t", 0);
    copy(ev->kind, sizeof ev->kind, kind);
    copy(ev->name, sizeof ev->name, str(e, "name"));
    copy(ev->text, sizeof ev->text, str(e, "text"));
}

/* The timeline's round for a step: the newest if it is that step, else a
 * new one (rounds close in order). */
static rv_round *round_of(rv_run *r, int64_t step) {
    if (r->timeline_n > 0 && r->timeline[r->timeline_head].step == step)
        return &r->timeline[r->timeline_head];
    r->timeline_head = r->timeline_n ? (r->timeline_head + 1) % RV_TIMELINE : 0;
    if (r->timeline_n < RV_TIMELINE) r->timeline_n++;
    rv_round *rd = &r->timeline[r->timeline_head];
    memset(rd, 0, sizeof *rd);
    rd->step = step;
    rd->seconds = NAN;
    return rd;
}

static void on_coordinator_step(rv_run *r, const cJSON *e) {
    int64_t step = (int64_t)num(e, "step", -1);
    double seconds = num(e, "seconds", 0), tokens = num(e, "tokens", 0);
    double up = num(e, "bytes_up_per_peer", 0), down = num(e, "bytes_down_per_peer", 0);
    double ar = num(e, "allreduce_bytes_per_peer", 0);
    r->step = step;
    series_add(&r->train, (double)step, num(e, "loss", NAN), 0);
    if (seconds > 0) {
        r->tokens_per_s = tokens / seconds;
        series_add(&r->tps, (double)step, r->tokens_per_s, 0);
    }
    series_add(&r->up, (double)step, up, 0);
    series_add(&r->down, (double)step, down, 0);
    series_add(&r->allreduce, (double)step, ar, 0);
    r->up_total += up;
    r->down_total += down;
    r->allreduce_total += ar;
    if (ar > 0) {
        r->sum_up += up;
        r->sum_allreduce += ar;
    }
    const char *hash = str(e, "hash");
    if (hash && hash[0]) r->checked++;
    if (r->timeline_n > 0 && r->timeline[r->timeline_head].step == step)
        r->timeline[r->timeline_head].seconds = seconds;
}

static void on_peer_step(rv_run *r, const cJSON *e) {
    rv_peer *p = peer_of(r, e, true);
    if (!p) return;
    int64_t step = (int64_t)num(e, "step", -1);
    bool submitted = flag(e, "submitted");
    copy(p->state, sizeof p->state, "training");
    p->misses = (int)num(e, "misses", p->misses);
    if (submitted) p->steps++;
    double tps = num(e, "tokens_per_s", 0);
    if (tps > 0) {
        p->tokens_per_s = tps;
        series_add(&p->tps, (double)step, tps, 0);
    }
    rv_round *rd = round_of(r, step);
    if (rd->n < RV_ROUND_PEERS) {
        copy(rd->peers[rd->n].name, sizeof rd->peers[rd->n].name, p->name);
        rd->peers[rd->n].compute_s = sig7(num(e, "compute_s", 0));
        rd->peers[rd->n].wait_s = sig7(num(e, "wait_s", 0));
        rd->peers[rd->n].submitted = submitted;
        rd->n++;
    }
}

/* A hash arrives after its step: count it in that step's agreement
 * point (found near the end, as hashes come in step order). */
static void on_hash(rv_run *r, const cJSON *e) {
    int64_t step = (int64_t)num(e, "step", -1);
    bool agree = flag(e, "agree");
    rv_peer *p = peer_of(r, e, false);
    if (p) copy(p->last_hash, sizeof p->last_hash, agree ? "agree" : "mismatch");
    if (!agree) r->mismatches++;
    rv_series *h = &r->hash;
    for (int64_t i = h->n - 1; i >= 0 && i >= h->n - 64; i--)
        if (h->x[i] == (double)step) {
            h->y[i] += 1;
            h->z[i] += agree;
            return;
        }
    series_add(h, (double)step, 1, agree);
}

static void on_run_facts(rv_run *r, const cJSON *e) {
    const char *run_id = str(e, "run_id");
    if (run_id) copy(r->run_id, sizeof r->run_id, run_id);
    if (str(e, "model")) copy(r->model, sizeof r->model, str(e, "model"));
    if (str(e, "optimizer")) copy(r->optimizer, sizeof r->optimizer, str(e, "optimizer"));
    r->params = num(e, "params", r->params);
    r->steps_total = (int64_t)num(e, "steps", (double)r->steps_total);
    if (!r->label[0] && r->run_id[0]) snprintf(r->label, sizeof r->label, "run %s", r->run_id);
}

static void on_peer_event(rv_run *r, const cJSON *e, const char *kind) {
    if (strcmp(kind, "joined") == 0) {
        rv_peer *p = peer_of(r, e, true);
        if (!p) return;
        copy(p->device, sizeof p->device, str(e, "device"));
        copy(p->backend, sizeof p->backend, str(e, "backend"));
        copy(p->state, sizeof p->state, "joining");
    } else if (strcmp(kind, "left") == 0) {
        rv_peer *p = peer_of(r, e, false);
        const char *how = str(e, "how");
        if (p) copy(p->state, sizeof p->state, how ? how : "left");
    } else if (strcmp(kind, "resync") == 0) {
        rv_peer *p = peer_of(r, e, false);
        if (p) copy(p->state, sizeof p->state, "joining");
    } else if (strcmp(kind, "missed") == 0) {
        rv_peer *p = peer_of(r, e, false);
        if (p) p->misses = (int)num(e, "misses", p->misses + 1);
    }
}

/* An {"event": ...} object of a coordinator or a peer. */
static void on_event(rv_run *r, const cJSON *e, const char *kind) {
    bool is_step = strcmp(kind, "step") == 0;
    if (is_step && !cJSON_HasObjectItem(e, "peer")) {
        copy(r->kind, sizeof r->kind, "coordinator");
        return on_coordinator_step(r, e);
    }
    if (is_step) { /* a peer's own step (join --json) */
        copy(r->kind, sizeof r->kind, "peer");
        int64_t step = (int64_t)num(e, "step", -1);
        double loss = num(e, "loss", -1), tps = num(e, "tokens_per_s", 0);
        r->step = step;
        r->steps_total = (int64_t)num(e, "steps", (double)r->steps_total);
        if (loss >= 0) series_add(&r->train, (double)step, loss, 0);
        if (tps > 0) series_add(&r->tps, (double)step, r->tokens_per_s = tps, 0);
        series_add(&r->up, (double)step, num(e, "bytes_up", 0), 0);
        series_add(&r->down, (double)step, num(e, "bytes_down", 0), 0);
        r->up_total += num(e, "bytes_up", 0);
        r->down_total += num(e, "bytes_down", 0);
        return;
    }
    if (strcmp(kind, "peer_step") == 0) return on_peer_step(r, e);
    if (strcmp(kind, "hash") == 0) return on_hash(r, e);
    if (strcmp(kind, "started") == 0 || strcmp(kind, "resumed") == 0) on_run_facts(r, e);
    if (strcmp(kind, "refused") == 0) r->refused++;
    if (strcmp(kind, "eval") == 0 && isfinite(num(e, "val_loss", NAN))) {
        r->val_loss = num(e, "val_loss", NAN);
        series_add(&r->val, num(e, "step", 0), r->val_loss, 0);
    }
    if (strcmp(kind, "checkpoint") == 0 && flag(e, "ok")) r->checkpoint_t = num(e, "t", 0);
    if (strcmp(kind, "finished") == 0) {
        r->finished = true;
        for (int i = 0; i < r->n_peers; i++)
            if (strcmp(r->peers[i].state, "training") == 0 ||
                strcmp(r->peers[i].state, "joining") == 0)
                copy(r->peers[i].state, sizeof r->peers[i].state, "finished");
        double val = num(e, "val_loss", NAN);
        if (isfinite(val)) {
            r->val_loss = val;
            series_add(&r->val, (double)(num(e, "step", 0) - 1), val, 0);
        }
    }
    on_peer_event(r, e, kind);
    remember(r, e, kind);
}

/* A `train --json` step object. */
static void on_train_step(rv_run *r, const cJSON *e) {
    copy(r->kind, sizeof r->kind, "train");
    int64_t step = (int64_t)num(e, "step", -1);
    r->step = step;
    r->steps_total = (int64_t)num(e, "steps", (double)r->steps_total);
    if (r->steps_total > 0 && step + 1 >= r->steps_total) r->finished = true;
    series_add(&r->train, (double)step, num(e, "loss", NAN), 0);
    double tps = num(e, "tokens_per_s", 0);
    if (tps > 0) series_add(&r->tps, (double)step, r->tokens_per_s = tps, 0);
    double payload = num(e, "payload_bytes_per_step", 0);
    if (payload > 0) series_add(&r->up, (double)step, payload, 0);
    double val = num(e, "val_loss", NAN);
    if (isfinite(val)) {
        series_add(&r->val, (double)step, val, 0);
        r->val_loss = val;
    }
}

dt_status run_view_add_event(run_view *v, int run, const cJSON *e) {
    if (!cJSON_IsObject(e)) return dt_error(DT_ERR_FORMAT, "an event is a JSON object");
    const char *kind = str(e, "event");
    bool train_step = !kind && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "step")) &&
                      cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "loss"));
    if (!kind && !train_step)
        return dt_error(DT_ERR_FORMAT, "neither an event (no \"event\") nor a train step");
    pthread_mutex_lock(&v->lock);
    dt_status st = DT_OK;
    if (run < 0 || run >= v->n_runs) {
        st = dt_error(DT_ERR_INVALID, "run view: no run %d", run);
    } else {
        rv_run *r = &v->runs[run];
        double t = num(e, "t", NAN);
        if (isfinite(t) && t > r->elapsed_s) r->elapsed_s = t;
        if (kind)
            on_event(r, e, kind);
        else
            on_train_step(r, e);
        v->n_events++;
        v->last_event_mono = rv_mono_now();
    }
    pthread_mutex_unlock(&v->lock);
    return st;
}

dt_status run_view_add_line(run_view *v, int run, const char *line) {
    size_t skip = strspn(line, " \t\r\n");
    if (line[skip] == '\0') return DT_OK;
    cJSON *e = cJSON_Parse(line);
    if (!e) return dt_error(DT_ERR_FORMAT, "not JSON");
    dt_status st = run_view_add_event(v, run, e);
    cJSON_Delete(e);
    return st;
}

dt_status run_view_set_link(run_view *v, int run, const char *peer_name, const char *link) {
    pthread_mutex_lock(&v->lock);
    dt_status st = DT_OK;
    cJSON *who = cJSON_CreateObject();
    if (run < 0 || run >= v->n_runs || !who || !cJSON_AddStringToObject(who, "name", peer_name)) {
        st = dt_error(DT_ERR_INVALID, "run view: no run %d", run);
    } else {
        rv_peer *p = peer_of(&v->runs[run], who, true);
        if (p)
            copy(p->link, sizeof p->link, link);
        else
            st = dt_error(DT_ERR_OOM, "run view: peers");
    }
    cJSON_Delete(who);
    pthread_mutex_unlock(&v->lock);
    return st;
}

dt_status run_view_add_baseline(run_view *v, int run, const char *series, int64_t step,
                                double loss) {
    pthread_mutex_lock(&v->lock);
    dt_status st = DT_OK;
    rv_run *r = run >= 0 && run < v->n_runs ? &v->runs[run] : NULL;
    rv_series *s = !r                                           ? NULL
                   : strcmp(series, "baseline_train_loss") == 0 ? &r->base_train
                   : strcmp(series, "baseline_val_loss") == 0   ? &r->base_val
                                                                : NULL;
    if (!s)
        st = dt_error(DT_ERR_INVALID, "run view: no run %d or no series '%s'", run, series);
    else if (!series_add(s, (double)step, loss, 0))
        st = dt_error(DT_ERR_OOM, "run view: series");
    pthread_mutex_unlock(&v->lock);
    return st;
}

int64_t run_view_events(run_view *v) {
    pthread_mutex_lock(&v->lock);
    int64_t n = v->n_events;
    pthread_mutex_unlock(&v->lock);
    return n;
}
