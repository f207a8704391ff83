/* Scenario files for `distro-cli run`. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/scenario.h"
#include "model/json_strict.h"
#include "runtime/file_io.h"
#include "runtime/text.h"

extern const unsigned char distro_default_scenario[];

static dt_status str_field(const cJSON *o, const char *where, const char *name, char *out,
                           size_t cap) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it) return DT_OK;
    if (!cJSON_IsString(it) || strlen(it->valuestring) >= cap)
        return dt_error(DT_ERR_FORMAT, "scenario: field '%s%s' must be a string under %zu bytes",
                        where, name, cap);
    snprintf(out, cap, "%s", it->valuestring);
    return DT_OK;
}

static dt_status num_field(const cJSON *o, const char *where, const char *name, double lo,
                           double hi, int integer, double *inout) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it) return DT_OK;
    double v = it->valuedouble;
    if (cJSON_IsBool(it))
        v = cJSON_IsTrue(it);
    else if (!cJSON_IsNumber(it) || !isfinite(v) || (integer && v != floor(v)) || v < lo || v > hi)
        return dt_error(DT_ERR_FORMAT, "scenario: field '%s%s' must be %s in [%g, %g]", where, name,
                        integer ? "an integer" : "a number", lo, hi);
    *inout = v;
    return DT_OK;
}

static dt_status known_fields(const cJSON *o, const char *where, const char *const *known) {
    for (const cJSON *it = o->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= strcmp(it->string, known[i]) == 0;
        if (!ok)
            return dt_error(DT_ERR_FORMAT, "scenario: unknown field '%s%s'", where, it->string);
    }
    return DT_OK;
}

static dt_status parse_peer(const cJSON *o, int i, scenario_peer *p) {
    static const char *const known[] = {"name",       "device",  "optional", "join_step",
                                        "kill_step",  "threads", "up_mbit",  "down_mbit",
                                        "latency_ms", NULL};
    char where[32];
    snprintf(where, sizeof where, "peers[%d].", i);
    if (!cJSON_IsObject(o))
        return dt_error(DT_ERR_FORMAT, "scenario: peers[%d] must be an object", i);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "peer%d", i);
    snprintf(p->device, sizeof p->device, "auto");
    double optional = 0, join = 0, kill = -1, threads = 0, up = 0, down = 0, lat = 0;
    dt_status st = known_fields(o, where, known);
    if (st == DT_OK) st = str_field(o, where, "name", p->name, sizeof p->name);
    if (st == DT_OK) st = str_field(o, where, "device", p->device, sizeof p->device);
    if (st == DT_OK) st = num_field(o, where, "optional", 0, 1, 1, &optional);
    if (st == DT_OK) st = num_field(o, where, "join_step", 0, 1e9, 1, &join);
    if (st == DT_OK) st = num_field(o, where, "kill_step", -1, 1e9, 1, &kill);
    if (st == DT_OK) st = num_field(o, where, "threads", 0, 1024, 1, &threads);
    if (st == DT_OK) st = num_field(o, where, "up_mbit", 0, 1e6, 0, &up);
    if (st == DT_OK) st = num_field(o, where, "down_mbit", 0, 1e6, 0, &down);
    if (st == DT_OK) st = num_field(o, where, "latency_ms", 0, 60000, 0, &lat);
    p->optional = (int)optional;
    p->join_step = (int64_t)join;
    p->kill_step = (int64_t)kill;
    p->threads = (int)threads;
    p->up_mbit = up;
    p->down_mbit = down;
    p->latency_ms = lat;
    if (st == DT_OK && strchr(p->name, ' '))
        st = dt_error(DT_ERR_FORMAT, "scenario: field '%sname' must not contain spaces", where);
    /* The name names the peer's files (DIR/peer-NAME.log) and goes on the
     * wire (printable UTF-8 only). */
    if (st == DT_OK && (!p->name[0] || strchr(p->name, '/') || strcmp(p->name, "..") == 0))
        st = dt_error(DT_ERR_FORMAT,
                      "scenario: field '%sname' must be a file name: not empty, no '/', not '..'",
                      where);
    if (st == DT_OK) {
        char what[96];
        snprintf(what, sizeof what, "scenario: field '%sname'", where);
        st = dt_check_printable(DT_ERR_FORMAT, what, p->name);
    }
    return st;
}

static dt_status parse(const char *text, scenario *s) {
    static const char *const known[] = {
        "description",        "run",      "peers",       "auth",          "restart_coordinator_at",
        "coordinator_device", "baseline", "baseline_lr", "sample_tokens", NULL};
    memset(s, 0, sizeof *s);
    s->restart_coordinator_at = -1;
    s->baseline = 1;
    s->sample_tokens = 200;
    snprintf(s->coordinator_device, sizeof s->coordinator_device, "cpu");
    cJSON *root = NULL;
    dt_status st = json_parse_strict(text, "scenario", &root);
    if (st != DT_OK) return st;
    st = cJSON_IsObject(root) ? known_fields(root, "", known)
                              : dt_error(DT_ERR_FORMAT, "scenario: not a JSON object");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(root, "run");
    if (st == DT_OK && !cJSON_IsObject(run))
        st = dt_error(DT_ERR_FORMAT, "scenario: field 'run' (the run config object) is required");
    if (st == DT_OK) {
        s->run_json = cJSON_PrintUnformatted(run);
        st = s->run_json ? net_run_config_parse(s->run_json, &s->run)
                         : dt_error(DT_ERR_OOM, "scenario: run config");
        if (st != DT_OK) dt_error_wrap(st, "scenario: field 'run': ");
    }
    char auth[16] = "curve";
    double restart = -1, baseline = 1, sample = 200, baseline_lr = 2e-3;
    if (st == DT_OK) st = str_field(root, "", "description", s->description, sizeof s->description);
    if (st == DT_OK) st = str_field(root, "", "auth", auth, sizeof auth);
    if (st == DT_OK && strcmp(auth, "curve") && strcmp(auth, "open"))
        st = dt_error(DT_ERR_FORMAT, "scenario: field 'auth' must be \"curve\" or \"open\"");
    if (st == DT_OK)
        st = str_field(root, "", "coordinator_device", s->coordinator_device,
                       sizeof s->coordinator_device);
    if (st == DT_OK) st = num_field(root, "", "restart_coordinator_at", -1, 1e9, 1, &restart);
    if (st == DT_OK) st = num_field(root, "", "baseline", 0, 1, 1, &baseline);
    if (st == DT_OK) st = num_field(root, "", "sample_tokens", 0, 100000, 1, &sample);
    if (st == DT_OK) st = num_field(root, "", "baseline_lr", 0, 10, 0, &baseline_lr);
    s->baseline_lr = baseline_lr;
    s->open = strcmp(auth, "open") == 0;
    s->restart_coordinator_at = (int64_t)restart;
    s->baseline = (int)baseline;
    s->sample_tokens = (int64_t)sample;
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(root, "peers");
    if (st == DT_OK && (!cJSON_IsArray(peers) || cJSON_GetArraySize(peers) < 1 ||
                        cJSON_GetArraySize(peers) > SCENARIO_MAX_PEERS))
        st = dt_error(DT_ERR_FORMAT, "scenario: field 'peers' must list 1 to %d peers",
                      SCENARIO_MAX_PEERS);
    for (int i = 0; st == DT_OK && i < cJSON_GetArraySize(peers); i++)
        st = parse_peer(cJSON_GetArrayItem(peers, i), i, &s->peers[s->n_peers++]);
    /* A name is a peer's files (DIR/peer-NAME.log, its keys) and its row in
     * the summary: two peers of one name would overwrite each other. */
    for (int i = 0; st == DT_OK && i < s->n_peers; i++)
        for (int j = 0; st == DT_OK && j < i; j++)
            if (strcmp(s->peers[i].name, s->peers[j].name) == 0)
                st = dt_error(DT_ERR_FORMAT,
                              "scenario: peers[%d] and peers[%d] are both named '%s'; every peer "
                              "needs its own name",
                              j, i, s->peers[i].name);
    cJSON_Delete(root);
    if (st != DT_OK) scenario_free(s);
    return st;
}

dt_status scenario_load(const char *path, scenario *out) {
    if (!path) return parse((const char *)distro_default_scenario, out);
    char *text = NULL;
    dt_status st = dt_read_text(path, "scenario", SCENARIO_MAX_BYTES, &text);
    if (st != DT_OK) return st;
    st = parse(text, out);
    free(text);
    return st == DT_OK ? st : dt_error_wrap(st, "%s: ", path);
}

dt_status scenario_check(const scenario *s, const bool *left_out) {
    const int64_t steps = s->run.steps;
    for (int i = 0; i < s->n_peers; i++) {
        const scenario_peer *p = &s->peers[i];
        if (p->join_step >= steps)
            return dt_error(DT_ERR_INVALID,
                            "scenario: peer '%s' joins at step %lld, but the run has only %lld "
                            "steps (0 to %lld): it would never start",
                            p->name, (long long)p->join_step, (long long)steps,
                            (long long)steps - 1);
        if (p->kill_step >= 0 && (p->kill_step <= p->join_step || p->kill_step >= steps))
            return dt_error(DT_ERR_INVALID,
                            "scenario: peer '%s': kill_step %lld must come after its join_step "
                            "%lld and before the run's last step %lld",
                            p->name, (long long)p->kill_step, (long long)p->join_step,
                            (long long)steps);
    }
    /* Steps advance only while some peer trains: a step at which no peer is
     * in the run is a run that stops there for good. Coverage can only end
     * at step 0 or where a peer is killed, so those are the steps to check. */
    for (int c = -1; c < s->n_peers; c++) {
        int64_t at = c < 0 ? 0 : s->peers[c].kill_step;
        if (at < 0 || at >= steps) continue;
        bool someone = false;
        int64_t next = steps; /* the next step at which a peer joins */
        for (int i = 0; i < s->n_peers; i++) {
            const scenario_peer *p = &s->peers[i];
            if (left_out && left_out[i]) continue;
            int64_t end = p->kill_step >= 0 ? p->kill_step : steps;
            someone |= p->join_step <= at && at < end;
            if (p->join_step > at && p->join_step < next) next = p->join_step;
        }
        if (someone) continue;
        bool any_left_out = false;
        for (int i = 0; left_out && i < s->n_peers; i++) any_left_out |= left_out[i];
        if (at == 0)
            return dt_error(DT_ERR_INVALID,
                            "scenario: no peer starts at step 0 (each has a later join_step%s), "
                            "so the run could never begin",
                            any_left_out ? " or was left out for its missing device" : "");
        if (next < steps)
            return dt_error(DT_ERR_INVALID,
                            "scenario: every peer is killed by step %lld and the next one joins "
                            "at step %lld, which the run cannot reach without peers",
                            (long long)at, (long long)next);
        return dt_error(DT_ERR_INVALID,
                        "scenario: every peer is killed by step %lld, so the run could never "
                        "reach its last step %lld",
                        (long long)at, (long long)steps);
    }
    return DT_OK;
}

void scenario_free(scenario *s) {
    free(s->run_json);
    s->run_json = NULL;
}
