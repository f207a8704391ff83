/* Scenario files for `distro-cli run`. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/scenario.h"
#include "model/json_strict.h"

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
    cJSON_Delete(root);
    if (st != DT_OK) scenario_free(s);
    return st;
}

dt_status scenario_load(const char *path, scenario *out) {
    if (!path) return parse((const char *)distro_default_scenario, out);
    FILE *f = fopen(path, "rb");
    if (!f) return dt_error(DT_ERR_IO, "scenario %s: cannot open", path);
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text) return dt_error(DT_ERR_OOM, "scenario: cannot allocate");
    text[n] = '\0';
    dt_status st = parse(text, out);
    free(text);
    return st == DT_OK ? st : dt_error_wrap(st, "%s: ", path);
}

void scenario_free(scenario *s) {
    free(s->run_json);
    s->run_json = NULL;
}
