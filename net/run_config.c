/* Parsing, validation and printing of the run config. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/json_number.h"
#include "model/json_strict.h"
#include "net/run_config.h"
#include "runtime/file_io.h"

void net_run_config_default(net_run_config *c) {
    memset(c, 0, sizeof *c);
    model_config_preset("shakespeare", &c->model);
    snprintf(c->model_name, sizeof c->model_name, "shakespeare");
    snprintf(c->data, sizeof c->data, "builtin:tinyshakespeare");
    c->steps = 500;
    c->micro_batch = 12;
    c->tokens_per_round = 4 * 12 * 64;
    c->seed = 1;
    c->schedule = (model_schedule){3e-3f, 50, 500, 0.1f};
    model_demo_config_default(&c->demo);
    c->demo.weight_decay = 0.1f;
    c->demo.clip = 1.0f;
    c->optimizer = MODEL_OPT_DEMO;
    c->inner_steps = 1;
    c->outer_lr = 1.0f;
    c->round_deadline_s = 60.0;
    c->join_timeout_s = 30.0;
    c->min_peers = 1;
    c->max_misses = 3;
    c->hash_check_every = 1;
    c->checkpoint_every = 100;
    c->eval_batches = 20;
    c->eval_every = 0;
}

int64_t net_run_micro_batches(const net_run_config *c) {
    int64_t per = c->micro_batch * c->model.seq_len;
    return (c->tokens_per_round + per - 1) / per;
}

/* A number field within [lo, hi]; integral when `integer`. Absent: keep. */
static dt_status num_field(const cJSON *obj, const char *prefix, const char *name, double lo,
                           double hi, int integer, double *inout) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it) return DT_OK;
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !isfinite(v) || (integer && v != floor(v)) || v < lo || v > hi)
        return dt_error(DT_ERR_FORMAT, "run config: field '%s%s' must be %s in [%g, %g]", prefix,
                        name, integer ? "an integer" : "a number", lo, hi);
    *inout = v;
    return DT_OK;
}

static dt_status check_known(const cJSON *obj, const char *prefix, const char *const *known) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= strcmp(it->string, known[i]) == 0;
        if (!ok)
            return dt_error(DT_ERR_FORMAT, "run config: unknown field '%s%s'", prefix, it->string);
    }
    return DT_OK;
}

void net_run_sync_config(const net_run_config *c, model_sync_config *out) {
    memset(out, 0, sizeof *out);
    out->optimizer = c->optimizer;
    out->demo = c->demo;
    out->inner_steps = c->inner_steps;
    model_adamw_config_default(&out->inner);
    out->inner.weight_decay = c->demo.weight_decay;
    out->inner.clip = c->demo.clip;
    out->schedule = c->schedule;
}

int64_t net_run_round_steps(const net_run_config *c, int64_t round) {
    int64_t left = c->schedule.total - round * c->inner_steps;
    return left < c->inner_steps ? left : c->inner_steps;
}

void net_run_round_lr(const net_run_config *c, int64_t round, float *lr, float *decay) {
    if (c->optimizer == MODEL_OPT_LOCAL) {
        *lr =
            model_local_outer_lr(&c->schedule, round, c->inner_steps, c->outer_lr, c->demo.update);
        *decay = 1.0f;
        return;
    }
    *lr = model_schedule_lr(&c->schedule, round);
    *decay = model_demo_decay(*lr, c->demo.weight_decay);
}

/* name, and the local-steps fields with their defaults (DeMo's beta and lr
 * defaults differ from local steps'). */
static dt_status parse_local(const cJSON *o, net_run_config *c) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (name && (!cJSON_IsString(name) || model_optimizer_parse(name->valuestring, &c->optimizer) ||
                 c->optimizer == MODEL_OPT_ADAMW))
        return dt_error(DT_ERR_FORMAT,
                        "run config: field 'optimizer.name' must be \"demo\" or \"local\"");
    bool local = c->optimizer == MODEL_OPT_LOCAL;
    const char *only_local[] = {"inner_steps", "outer_lr", "outer"};
    for (int i = 0; i < 3; i++)
        if (!local && cJSON_GetObjectItemCaseSensitive(o, only_local[i]))
            return dt_error(DT_ERR_FORMAT,
                            "run config: field 'optimizer.%s' needs \"name\": \"local\"",
                            only_local[i]);
    if (!local) return DT_OK;
    model_sync_config d;
    model_sync_config_local_default(&d);
    c->demo.beta = d.demo.beta;
    c->demo.update = d.demo.update;
    c->demo.mean_over_all = d.demo.mean_over_all;
    c->schedule.lr = MODEL_LOCAL_LR; /* the inner AdamW peak */
    double h = (double)d.inner_steps, olr = MODEL_LOCAL_OUTER_LR;
    dt_status st = num_field(o, "optimizer.", "inner_steps", 1, 1e6, 1, &h);
    if (st == DT_OK) st = num_field(o, "optimizer.", "outer_lr", 0.0, 100.0, 0, &olr);
    const cJSON *outer = cJSON_GetObjectItemCaseSensitive(o, "outer");
    if (st == DT_OK && outer) {
        if (cJSON_IsString(outer) && strcmp(outer->valuestring, "sign") == 0)
            c->demo.update = DT_DEMO_UPDATE_SIGN;
        else if (!cJSON_IsString(outer) || strcmp(outer->valuestring, "scaled") != 0)
            st = dt_error(DT_ERR_FORMAT,
                          "run config: field 'optimizer.outer' must be \"scaled\" or \"sign\"");
    }
    c->inner_steps = (int64_t)h;
    c->outer_lr = (float)olr;
    return st;
}

static dt_status parse_optimizer(const cJSON *o, net_run_config *c) {
    static const char *const known[] = {"name",         "lr",        "warmup",      "final_lr_frac",
                                        "weight_decay", "clip",      "beta",        "chunk",
                                        "topk",         "values",    "inner_steps", "outer_lr",
                                        "outer",        "aggregate", NULL};
    if (!cJSON_IsObject(o))
        return dt_error(DT_ERR_FORMAT, "run config: field 'optimizer' must be an object");
    dt_status st = check_known(o, "optimizer.", known);
    if (st == DT_OK) st = parse_local(o, c);
    double lr = c->schedule.lr, warmup = (double)c->schedule.warmup;
    double frac = c->schedule.final_frac, wd = c->demo.weight_decay, clip = c->demo.clip;
    double beta = c->demo.beta, chunk = (double)c->demo.chunk, topk = (double)c->demo.topk;
    if (st == DT_OK) st = num_field(o, "optimizer.", "lr", 0.0, 10.0, 0, &lr);
    if (st == DT_OK) st = num_field(o, "optimizer.", "warmup", 0, 1e9, 1, &warmup);
    if (st == DT_OK) st = num_field(o, "optimizer.", "final_lr_frac", 0.0, 1.0, 0, &frac);
    if (st == DT_OK) st = num_field(o, "optimizer.", "weight_decay", 0.0, 10.0, 0, &wd);
    if (st == DT_OK) st = num_field(o, "optimizer.", "clip", 0.0, 1e9, 0, &clip);
    if (st == DT_OK) st = num_field(o, "optimizer.", "beta", 0.0, 0.999999, 0, &beta);
    if (st == DT_OK) st = num_field(o, "optimizer.", "chunk", 1, 256, 1, &chunk);
    if (st == DT_OK) st = num_field(o, "optimizer.", "topk", 1, 65536, 1, &topk);
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(o, "aggregate");
    if (st == DT_OK && agg) {
        if (cJSON_IsString(agg) && strcmp(agg->valuestring, "all") == 0)
            c->demo.mean_over_all = true;
        else if (cJSON_IsString(agg) && strcmp(agg->valuestring, "chosen") == 0)
            c->demo.mean_over_all = false;
        else
            st = dt_error(DT_ERR_FORMAT,
                          "run config: field 'optimizer.aggregate' must be \"chosen\" or \"all\"");
    }
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(o, "values");
    if (st == DT_OK && values) {
        if (!cJSON_IsString(values) ||
            demo_values_parse(values->valuestring, &c->demo.values) != DT_OK)
            st = dt_error(DT_ERR_FORMAT, "run config: field 'optimizer.values' must be \"1bit\", "
                                         "\"bf16\" or \"fp32\"");
    }
    c->schedule.lr = (float)lr;
    c->schedule.warmup = (int64_t)warmup;
    c->schedule.final_frac = (float)frac;
    c->demo.weight_decay = (float)wd;
    c->demo.clip = (float)clip;
    c->demo.beta = (float)beta;
    c->demo.chunk = (int64_t)chunk;
    c->demo.topk = (int64_t)topk;
    return st;
}

/* Peers get their config as printed text: every number is written so it
 * reads back to the same value (model/json_number.h), float settings as
 * the shortest decimal that does (--validate shows lr 0.003). */
/* The numbers among obj's members, spelled exactly. */
static void spell_numbers_exactly(cJSON *obj) {
    for (cJSON *it = obj ? obj->child : NULL; it;) {
        cJSON *next = it->next;
        if (cJSON_IsNumber(it) && it->string)
            cJSON_ReplaceItemInObjectCaseSensitive(obj, it->string,
                                                   json_number_exact(it->valuedouble));
        it = next;
    }
}

static dt_status parse_model(const cJSON *m, net_run_config *c) {
    if (cJSON_IsString(m)) {
        snprintf(c->model_name, sizeof c->model_name, "%s", m->valuestring);
        dt_status st = model_config_preset(m->valuestring, &c->model);
        return st == DT_OK ? st : dt_error_wrap(DT_ERR_FORMAT, "run config: field 'model': ");
    }
    if (!cJSON_IsObject(m))
        return dt_error(DT_ERR_FORMAT, "run config: field 'model' must be a preset name or a "
                                       "model config object");
    cJSON *copy = cJSON_Duplicate(m, 1);
    spell_numbers_exactly(copy);
    char *text = copy ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    if (!text) return dt_error(DT_ERR_OOM, "run config: cannot print the model object");
    dt_status st = model_config_from_json(text, &c->model);
    free(text);
    snprintf(c->model_name, sizeof c->model_name, "custom");
    return st == DT_OK ? st : dt_error_wrap(st, "run config: field 'model': ");
}

dt_status net_run_config_parse(const char *text, net_run_config *out) {
    static const char *const known[] = {"model",
                                        "data",
                                        "steps",
                                        "micro_batch",
                                        "tokens_per_round",
                                        "split",
                                        "seed",
                                        "optimizer",
                                        "round_deadline_s",
                                        "join_timeout_s",
                                        "min_peers",
                                        "max_misses",
                                        "hash_check_every",
                                        "checkpoint_every",
                                        "eval_batches",
                                        "eval_every",
                                        NULL};
    net_run_config c;
    net_run_config_default(&c);
    cJSON *root = NULL;
    dt_status st = json_parse_strict(text, "run config", &root);
    if (st != DT_OK) return st;
    st = cJSON_IsObject(root) ? check_known(root, "", known)
                              : dt_error(DT_ERR_FORMAT, "run config: not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (st == DT_OK && !model) st = dt_error(DT_ERR_FORMAT, "run config: missing field 'model'");
    if (st == DT_OK) st = parse_model(model, &c);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (st == DT_OK && data) {
        if (!cJSON_IsString(data) || strlen(data->valuestring) >= sizeof c.data)
            st = dt_error(DT_ERR_FORMAT,
                          "run config: field 'data' must be a string (a builtin: "
                          "name or a path, under %zu bytes)",
                          sizeof c.data);
        else
            snprintf(c.data, sizeof c.data, "%s", data->valuestring);
    }
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(root, "split");
    if (st == DT_OK && split) {
        if (cJSON_IsString(split) && strcmp(split->valuestring, "even") == 0)
            c.even_split = true;
        else if (!cJSON_IsString(split) || strcmp(split->valuestring, "throughput") != 0)
            st = dt_error(DT_ERR_FORMAT,
                          "run config: field 'split' must be \"throughput\" or \"even\"");
    }
    double steps = (double)c.steps, mb = (double)c.micro_batch, tpr = (double)c.tokens_per_round;
    double seed = (double)c.seed, deadline = c.round_deadline_s, minp = (double)c.min_peers;
    double join_timeout = c.join_timeout_s;
    double misses = (double)c.max_misses, hce = (double)c.hash_check_every;
    double cke = (double)c.checkpoint_every, evb = (double)c.eval_batches;
    double eve = (double)c.eval_every;
    if (st == DT_OK) st = num_field(root, "", "steps", 1, 1e9, 1, &steps);
    if (st == DT_OK) st = num_field(root, "", "micro_batch", 1, 65536, 1, &mb);
    if (st == DT_OK) st = num_field(root, "", "tokens_per_round", 1, 1e12, 1, &tpr);
    if (st == DT_OK) st = num_field(root, "", "seed", 0, (double)MODEL_SEED_MAX, 1, &seed);
    if (st == DT_OK) st = num_field(root, "", "round_deadline_s", 0.1, 86400, 0, &deadline);
    if (st == DT_OK) st = num_field(root, "", "join_timeout_s", 0.5, 86400, 0, &join_timeout);
    if (st == DT_OK) st = num_field(root, "", "min_peers", 1, 256, 1, &minp);
    if (st == DT_OK) st = num_field(root, "", "max_misses", 1, 1e6, 1, &misses);
    if (st == DT_OK) st = num_field(root, "", "hash_check_every", 0, 1e9, 1, &hce);
    if (st == DT_OK) st = num_field(root, "", "checkpoint_every", 0, 1e9, 1, &cke);
    if (st == DT_OK) st = num_field(root, "", "eval_batches", 1, 1e6, 1, &evb);
    if (st == DT_OK) st = num_field(root, "", "eval_every", 0, 1e9, 1, &eve);
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
    if (st == DT_OK && opt) st = parse_optimizer(opt, &c);
    /* Without an explicit warmup, a short run warms up over a tenth of it. */
    bool warmup_given =
        opt && cJSON_IsObject(opt) && cJSON_GetObjectItemCaseSensitive(opt, "warmup");
    cJSON_Delete(root);
    if (st != DT_OK) return st;
    c.steps = (int64_t)steps;
    c.micro_batch = (int64_t)mb;
    c.tokens_per_round = (int64_t)tpr;
    c.seed = (uint64_t)seed;
    c.round_deadline_s = deadline;
    c.join_timeout_s = join_timeout;
    c.min_peers = (int64_t)minp;
    c.max_misses = (int64_t)misses;
    c.hash_check_every = (int64_t)hce;
    c.checkpoint_every = (int64_t)cke;
    c.eval_batches = (int64_t)evb;
    c.eval_every = (int64_t)eve;
    /* The schedule counts optimizer steps: rounds for DeMo, inner steps for
     * local steps. */
    c.schedule.total = c.steps * c.inner_steps;
    int64_t cap = c.optimizer == MODEL_OPT_LOCAL ? 100 : 50;
    if (!warmup_given)
        c.schedule.warmup = c.schedule.total / 10 < cap ? c.schedule.total / 10 : cap;
    if (c.schedule.warmup > c.schedule.total)
        return dt_error(DT_ERR_FORMAT,
                        "run config: field 'optimizer.warmup' (%lld) exceeds the run's "
                        "%lld optimizer steps",
                        (long long)c.schedule.warmup, (long long)c.schedule.total);
    if (net_run_micro_batches(&c) > 1000000)
        return dt_error(DT_ERR_FORMAT, "run config: field 'tokens_per_round' makes over a million "
                                       "micro-batches per round");
    *out = c;
    return DT_OK;
}

dt_status net_run_config_load(const char *path, net_run_config *out) {
    char *text = NULL;
    dt_status st = dt_read_text(path, "run config", 1 << 20, &text);
    if (st != DT_OK) return st;
    st = net_run_config_parse(text, out);
    free(text);
    return st == DT_OK ? st : dt_error_wrap(st, "%s: ", path);
}

char *net_run_config_to_json(const net_run_config *c, int pretty) {
    cJSON *root = cJSON_CreateObject();
    /* A preset stays a preset by name; anything else is spelled out. */
    char *model_text = model_config_to_json(&c->model);
    model_config preset;
    char *preset_text = NULL;
    if (model_config_preset(c->model_name, &preset) == DT_OK)
        preset_text = model_config_to_json(&preset);
    cJSON *model = NULL;
    if (model_text && preset_text && strcmp(model_text, preset_text) == 0)
        model = cJSON_CreateString(c->model_name);
    else if (model_text && (model = cJSON_Parse(model_text)))
        spell_numbers_exactly(model);
    dt_error_clear();
    free(model_text);
    free(preset_text);
    if (!root || !model) {
        cJSON_Delete(root);
        cJSON_Delete(model);
        return NULL;
    }
    cJSON_AddItemToObject(root, "model", model);
    cJSON_AddStringToObject(root, "data", c->data);
    cJSON_AddNumberToObject(root, "steps", (double)c->steps);
    cJSON_AddNumberToObject(root, "micro_batch", (double)c->micro_batch);
    cJSON_AddNumberToObject(root, "tokens_per_round", (double)c->tokens_per_round);
    cJSON_AddStringToObject(root, "split", c->even_split ? "even" : "throughput");
    cJSON_AddItemToObject(root, "seed", json_number_exact((double)c->seed));
    cJSON *o = cJSON_AddObjectToObject(root, "optimizer");
    cJSON_AddStringToObject(o, "name", model_optimizer_name(c->optimizer));
    cJSON_AddItemToObject(o, "lr", json_number_float(c->schedule.lr));
    cJSON_AddNumberToObject(o, "warmup", (double)c->schedule.warmup);
    cJSON_AddItemToObject(o, "final_lr_frac", json_number_float(c->schedule.final_frac));
    cJSON_AddItemToObject(o, "weight_decay", json_number_float(c->demo.weight_decay));
    cJSON_AddItemToObject(o, "clip", json_number_float(c->demo.clip));
    cJSON_AddItemToObject(o, "beta", json_number_float(c->demo.beta));
    cJSON_AddNumberToObject(o, "chunk", (double)c->demo.chunk);
    cJSON_AddNumberToObject(o, "topk", (double)c->demo.topk);
    cJSON_AddStringToObject(o, "values", demo_values_name(c->demo.values));
    cJSON_AddStringToObject(o, "aggregate", c->demo.mean_over_all ? "all" : "chosen");
    if (c->optimizer == MODEL_OPT_LOCAL) {
        cJSON_AddNumberToObject(o, "inner_steps", (double)c->inner_steps);
        cJSON_AddItemToObject(o, "outer_lr", json_number_float(c->outer_lr));
        cJSON_AddStringToObject(o, "outer",
                                c->demo.update == DT_DEMO_UPDATE_SIGN ? "sign" : "scaled");
    }
    cJSON_AddItemToObject(root, "round_deadline_s", json_number_exact(c->round_deadline_s));
    cJSON_AddItemToObject(root, "join_timeout_s", json_number_exact(c->join_timeout_s));
    cJSON_AddNumberToObject(root, "min_peers", (double)c->min_peers);
    cJSON_AddNumberToObject(root, "max_misses", (double)c->max_misses);
    cJSON_AddNumberToObject(root, "hash_check_every", (double)c->hash_check_every);
    cJSON_AddNumberToObject(root, "checkpoint_every", (double)c->checkpoint_every);
    cJSON_AddNumberToObject(root, "eval_batches", (double)c->eval_batches);
    cJSON_AddNumberToObject(root, "eval_every", (double)c->eval_every);
    char *text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
