/* Parsing of the shared training options. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/train_setup.h"
#include "model/checkpoint.h"
#include "model/json_number.h"

static bool fail_model(const cli_args *a, const char *what) {
    cli_fail(a->cmd, "%s: %s", what, dt_last_error());
    return false;
}

/* The model: --config, --preset, or on resume the checkpoint's, which a
 * given --preset or --config must equal. */
static bool parse_model(const cli_args *a, const model_checkpoint *ck, train_setup *s) {
    const char *preset = cli_get(a, "preset"), *config = cli_get(a, "config");
    if (preset && config) {
        cli_fail(a->cmd, "--preset and --config are alternatives; give one");
        return false;
    }
    if (config) {
        if (model_config_load(config, &s->config) != DT_OK) return fail_model(a, "--config");
        snprintf(s->model_name, sizeof s->model_name, "%s", config);
    } else if (preset || !ck) {
        if (!preset) preset = "shakespeare";
        if (model_config_preset(preset, &s->config) != DT_OK) return fail_model(a, "--preset");
        snprintf(s->model_name, sizeof s->model_name, "%s", preset);
    }
    if (!ck) return true;
    if (!preset && !config) {
        s->config = ck->config;
        snprintf(s->model_name, sizeof s->model_name, "of %s", ck->path);
        return true;
    }
    char *want = model_config_to_json(&s->config), *have = model_config_to_json(&ck->config);
    bool same = want && have && strcmp(want, have) == 0;
    if (!same)
        cli_fail(a->cmd,
                 "--%s %s: the checkpoint %s holds another model (%s); leave --%s out to resume "
                 "the checkpoint's",
                 config ? "config" : "preset", config ? config : preset, ck->path,
                 have ? have : "?", config ? "config" : "preset");
    free(want);
    free(have);
    return same;
}

/* The optimizer and schedule options from the command line, over the
 * defaults of default_opt when --optimizer is not given. */
static bool parse_options(const cli_args *a, int default_opt, train_setup *s) {
    /* Choice i is model_optimizer i. */
    static const char *const optimizers[] = {"adamw", "demo", "local", NULL};
    static const char *const outer_rules[] = {"sign", "scaled", NULL};
    static const char *const aggregates[] = {"chosen", "all", NULL};
    int opt = default_opt, outer = DT_DEMO_UPDATE_SCALED;
    if (!cli_get_choice(a, "optimizer", optimizers, default_opt, &opt) ||
        !cli_get_choice(a, "outer", outer_rules, DT_DEMO_UPDATE_SCALED, &outer))
        return false;
    model_train_options *o = &s->options;
    model_train_options_default(o, (model_optimizer)opt);
    int aggregate = o->demo.mean_over_all ? 1 : 0;
    if (!cli_get_choice(a, "aggregate", aggregates, aggregate, &aggregate)) return false;
    o->demo.mean_over_all = aggregate == 1;
    const bool local = opt == MODEL_OPT_LOCAL;

    int64_t steps, accum, warmup, topk, chunk, seed, workers, inner;
    double lr, final_frac, wd, clip, beta, outer_lr;
    if (!cli_get_int(a, "steps", 1, 1000000000, 1000, &steps) ||
        !cli_get_int(a, "batch", 1, 1 << 20, 12, &s->batch) ||
        !cli_get_int(a, "accum", 1, 1 << 20, 1, &accum) ||
        !cli_get_double(a, "lr", 0.0, 10.0, (double)o->schedule.lr, &lr) ||
        !cli_get_int(a, "warmup", 0, steps, steps / 10 < 100 ? steps / 10 : 100, &warmup) ||
        !cli_get_double(a, "final-lr-frac", 0.0, 1.0, 0.1, &final_frac) ||
        !cli_get_double(a, "weight-decay", 0.0, 10.0, 0.1, &wd) ||
        !cli_get_double(a, "clip", 0.0, 1e9, 1.0, &clip) ||
        !cli_get_int(a, "topk", 1, 65536, 32, &topk) ||
        !cli_get_int(a, "chunk", 1, 256, 64, &chunk) ||
        !cli_get_double(a, "beta", 0.0, 0.999999, (double)o->demo.beta, &beta) ||
        !cli_get_int(a, "seed", 0, MODEL_SEED_MAX, 1, &seed) ||
        !cli_get_int(a, "workers", 1, 256, 1, &workers) ||
        !cli_get_int(a, "inner-steps", 1, 1000000, o->inner_steps > 1 ? o->inner_steps : 32,
                     &inner) ||
        !cli_get_double(a, "outer-lr", 0.0, 100.0, (double)o->outer_lr, &outer_lr))
        return false;
    if (!local && (cli_get(a, "inner-steps") || cli_get(a, "outer-lr") || cli_get(a, "outer"))) {
        cli_fail(a->cmd, "--inner-steps, --outer-lr and --outer need --optimizer local");
        return false;
    }
    const char *values = cli_get(a, "values");
    if (values && demo_values_parse(values, &o->demo.values) != DT_OK)
        return fail_model(a, "--values");
    o->schedule = (model_schedule){(float)lr, warmup, steps, (float)final_frac};
    o->accum = accum;
    o->adamw.weight_decay = (float)wd;
    o->adamw.clip = (float)clip;
    o->demo.weight_decay = (float)wd;
    o->demo.clip = (float)clip;
    o->demo.topk = topk;
    o->demo.chunk = chunk;
    o->demo.beta = (float)beta;
    o->data_seed = (uint64_t)seed;
    o->workers = workers;
    if (local) {
        o->inner_steps = inner;
        o->outer_lr = (float)outer_lr;
        o->demo.update = (dt_demo_update)outer;
    }
    return true;
}

/* The options as the "train" metadata of a checkpoint, named like the
 * command-line options; the local-steps ones only for local steps (the
 * others refuse them). */
static cJSON *options_json(const train_setup *s) {
    const model_train_options *o = &s->options;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", s->model_name);
    cJSON_AddStringToObject(j, "data", s->data);
    cJSON_AddStringToObject(j, "optimizer", model_optimizer_name(o->optimizer));
    cJSON_AddNumberToObject(j, "steps", (double)o->schedule.total);
    cJSON_AddNumberToObject(j, "lr", (double)o->schedule.lr);
    cJSON_AddNumberToObject(j, "warmup", (double)o->schedule.warmup);
    cJSON_AddNumberToObject(j, "final-lr-frac", (double)o->schedule.final_frac);
    cJSON_AddNumberToObject(j, "weight-decay", (double)o->demo.weight_decay);
    cJSON_AddNumberToObject(j, "clip", (double)o->demo.clip);
    cJSON_AddNumberToObject(j, "topk", (double)o->demo.topk);
    cJSON_AddStringToObject(j, "values", demo_values_name(o->demo.values));
    cJSON_AddNumberToObject(j, "chunk", (double)o->demo.chunk);
    cJSON_AddNumberToObject(j, "beta", (double)o->demo.beta);
    cJSON_AddStringToObject(j, "aggregate", o->demo.mean_over_all ? "all" : "chosen");
    cJSON_AddNumberToObject(j, "workers", (double)o->workers);
    cJSON_AddNumberToObject(j, "seed", (double)o->data_seed);
    cJSON_AddNumberToObject(j, "batch", (double)s->batch);
    cJSON_AddNumberToObject(j, "accum", (double)o->accum);
    if (o->optimizer == MODEL_OPT_LOCAL) {
        cJSON_AddNumberToObject(j, "inner-steps", (double)o->inner_steps);
        cJSON_AddNumberToObject(j, "outer-lr", (double)o->outer_lr);
        cJSON_AddStringToObject(j, "outer",
                                o->demo.update == DT_DEMO_UPDATE_SIGN ? "sign" : "scaled");
    }
    return j;
}

/* Written with every number exact: cJSON's own printing keeps 15 digits
 * wherever they read back within a relative DBL_EPSILON, which moved a seed
 * of 8999999999999999 to 9e15 on its way through a checkpoint. */
char *train_setup_to_json(const train_setup *s) {
    cJSON *j = options_json(s);
    for (cJSON *it = j ? j->child : NULL, *next; it; it = next) {
        next = it->next;
        if (!cJSON_IsNumber(it)) continue;
        cJSON *exact = json_number_exact(it->valuedouble);
        if (!exact || !cJSON_ReplaceItemInObjectCaseSensitive(j, it->string, exact)) {
            cJSON_Delete(exact);
            cJSON_Delete(j);
            return NULL;
        }
    }
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

/* One number of the "train" metadata, checked against [lo, hi]. */
static bool meta_num(const cJSON *j, const char *key, double lo, double hi, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!it) return true; /* not recorded: the command line's value stays */
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo ||
        it->valuedouble > hi)
        return false;
    *out = it->valuedouble;
    return true;
}

/* The merged options (the checkpoint's, or the command line's where given
 * and allowed to differ) back into s. */
static bool options_from_json(const cJSON *j, train_setup *s) {
    model_train_options *o = &s->options;
    double steps = (double)o->schedule.total, lr = o->schedule.lr;
    double warmup = (double)o->schedule.warmup, frac = o->schedule.final_frac;
    double wd = o->demo.weight_decay, clip = o->demo.clip, topk = (double)o->demo.topk;
    double chunk = (double)o->demo.chunk, beta = o->demo.beta, workers = (double)o->workers;
    double seed = (double)o->data_seed, batch = (double)s->batch, accum = (double)o->accum;
    double inner = (double)o->inner_steps, outer_lr = o->outer_lr;
    bool ok =
        meta_num(j, "steps", 1, 1e9, &steps) && meta_num(j, "lr", 0, 10, &lr) &&
        meta_num(j, "warmup", 0, 1e9, &warmup) && meta_num(j, "final-lr-frac", 0, 1, &frac) &&
        meta_num(j, "weight-decay", 0, 10, &wd) && meta_num(j, "clip", 0, 1e9, &clip) &&
        meta_num(j, "topk", 1, 65536, &topk) && meta_num(j, "chunk", 1, 256, &chunk) &&
        meta_num(j, "beta", 0, 0.999999, &beta) && meta_num(j, "workers", 1, 256, &workers) &&
        meta_num(j, "seed", 0, (double)MODEL_SEED_MAX, &seed) &&
        meta_num(j, "batch", 1, 1 << 20, &batch) && meta_num(j, "accum", 1, 1 << 20, &accum) &&
        meta_num(j, "inner-steps", 1, 1e6, &inner) && meta_num(j, "outer-lr", 0, 100, &outer_lr);
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(j, "values");
    const cJSON *aggregate = cJSON_GetObjectItemCaseSensitive(j, "aggregate");
    const cJSON *outer = cJSON_GetObjectItemCaseSensitive(j, "outer");
    if (cJSON_IsString(values))
        ok = ok && demo_values_parse(values->valuestring, &o->demo.values) == DT_OK;
    if (cJSON_IsString(aggregate)) o->demo.mean_over_all = !strcmp(aggregate->valuestring, "all");
    if (cJSON_IsString(outer) && o->optimizer == MODEL_OPT_LOCAL)
        o->demo.update =
            !strcmp(outer->valuestring, "sign") ? DT_DEMO_UPDATE_SIGN : DT_DEMO_UPDATE_SCALED;
    o->schedule = (model_schedule){(float)lr, (int64_t)warmup, (int64_t)steps, (float)frac};
    o->adamw.weight_decay = o->demo.weight_decay = (float)wd;
    o->adamw.clip = o->demo.clip = (float)clip;
    o->demo.topk = (int64_t)topk;
    o->demo.chunk = (int64_t)chunk;
    o->demo.beta = (float)beta;
    o->workers = (int64_t)workers;
    o->data_seed = (uint64_t)seed;
    s->batch = (int64_t)batch;
    o->accum = (int64_t)accum;
    if (o->optimizer == MODEL_OPT_LOCAL) {
        o->inner_steps = (int64_t)inner;
        o->outer_lr = (float)outer_lr;
    }
    return ok;
}

static bool same_value(const cJSON *x, const cJSON *y) {
    if (cJSON_IsNumber(x) && cJSON_IsNumber(y)) return x->valuedouble == y->valuedouble;
    if (cJSON_IsString(x) && cJSON_IsString(y)) return strcmp(x->valuestring, y->valuestring) == 0;
    return false;
}

/* The checkpoint's options, with what the command line gave checked
 * against them: a disagreeing option is refused by name, except --data (a
 * file may move) and --steps (a run may be extended; the learning rate at
 * the resume step is compared below). */
static int merge_options(const cli_args *a, const model_checkpoint *ck, const cJSON *have,
                         cJSON *mine, train_setup *s) {
    for (const cJSON *it = have->child; it; it = it->next) {
        const char *key = it->string, *given = cli_get(a, key);
        if (!strcmp(key, "optimizer")) continue; /* taken with the model */
        if (!strcmp(key, "model") || !strcmp(key, "data")) {
            bool mine_given = given || (!strcmp(key, "model") && cli_get(a, "config"));
            if (cJSON_IsString(it) && !mine_given && !strcmp(key, "model"))
                snprintf(s->model_name, sizeof s->model_name, "%s", it->valuestring);
            if (cJSON_IsString(it) && !mine_given && !strcmp(key, "data")) {
                snprintf(s->data_buf, sizeof s->data_buf, "%s", it->valuestring);
                s->data = s->data_buf;
            }
            continue;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(mine, key);
        if (given && !strcmp(key, "steps")) continue;
        if (given && m && !same_value(m, it)) {
            char v[64] = "?"; /* as it would be typed: options are floats or words */
            if (cJSON_IsNumber(it)) snprintf(v, sizeof v, "%.7g", it->valuedouble);
            if (cJSON_IsString(it)) snprintf(v, sizeof v, "%s", it->valuestring);
            cli_fail(a->cmd,
                     "--%s %s disagrees with the checkpoint %s, trained with --%s %s; leave --%s "
                     "out to continue its run",
                     key, given, ck->path, key, v, key);
            return 2;
        }
        if (m) cJSON_DeleteItemFromObjectCaseSensitive(mine, key);
        cJSON_AddItemToObject(mine, key, cJSON_Duplicate(it, 1));
    }
    return 0;
}

/* A changed --steps reshapes the cosine: refused when it would end before
 * the checkpoint's step or its warmup, warned about when the learning rate
 * at the resume step is not the one the checkpoint's run would use. */
static int check_schedule(const model_checkpoint *ck, const train_setup *old, train_setup *s) {
    const model_schedule *was = &old->options.schedule, *now = &s->options.schedule;
    if (now->total < ck->step || now->total < now->warmup) {
        fprintf(stderr,
                "distro-cli train: --steps %lld: the checkpoint %s is at step %lld with %lld "
                "warmup steps; give at least %lld\n",
                (long long)now->total, ck->path, (long long)ck->step, (long long)now->warmup,
                (long long)(ck->step > now->warmup ? ck->step : now->warmup));
        return 2;
    }
    float lr_was = model_schedule_lr(was, ck->step), lr_now = model_schedule_lr(now, ck->step);
    if (now->total != was->total && lr_was != lr_now)
        fprintf(stderr,
                "distro-cli train: warning: --steps %lld reshapes the schedule of the checkpoint "
                "(%lld steps): the learning rate jumps from %.4g to %.4g at step %lld\n",
                (long long)now->total, (long long)was->total, (double)lr_was, (double)lr_now,
                (long long)ck->step);
    return 0;
}

static int resume_options(const cli_args *a, const model_checkpoint *ck, const char *meta,
                          train_setup *s) {
    cJSON *have = cJSON_Parse(meta), *mine = options_json(s);
    train_setup old = *s;
    int rc = 0;
    if (!cJSON_IsObject(have) || !mine || !options_from_json(have, &old)) {
        fprintf(stderr,
                "distro-cli train: --resume %s: its 'train' metadata (the options it was trained "
                "with) is unreadable: the file is damaged\n",
                ck->path);
        rc = 1;
    }
    if (rc == 0) rc = merge_options(a, ck, have, mine, s);
    if (rc == 0 && !options_from_json(mine, s)) {
        fprintf(stderr, "distro-cli train: --resume %s: the options do not combine\n", ck->path);
        rc = 2;
    }
    if (rc == 0) rc = check_schedule(ck, &old, s);
    cJSON_Delete(have);
    cJSON_Delete(mine);
    return rc;
}

int train_setup_parse(const cli_args *a, train_setup *s) {
    memset(s, 0, sizeof *s);
    const char *resume = cli_get(a, "resume");
    model_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    if (resume && model_checkpoint_open(resume, &ck) != DT_OK) {
        fprintf(stderr, "distro-cli train: --resume: %s\n", dt_last_error());
        return 1;
    }
    int rc = parse_model(a, resume ? &ck : NULL, s) ? 0 : 2;
    s->data = cli_get(a, "data");
    if (!s->data) s->data = "builtin:tinyshakespeare";
    model_optimizer opt = MODEL_OPT_DEMO;
    const char *given = cli_get(a, "optimizer");
    if (rc == 0 && resume && model_optimizer_parse(ck.optimizer, &opt) != 0) {
        fprintf(stderr, "distro-cli train: --resume %s: unknown optimizer '%s'\n", resume,
                ck.optimizer);
        rc = 1;
    } else if (rc == 0 && resume && given && strcmp(given, ck.optimizer) != 0) {
        cli_fail(a->cmd,
                 "--optimizer %s disagrees with the checkpoint %s, trained with %s; leave "
                 "--optimizer out to continue its run",
                 given, resume, ck.optimizer);
        rc = 2;
    }
    if (rc == 0 && !parse_options(a, (int)opt, s)) rc = 2;
    const char *meta = resume ? st_metadata_get(ck.file, "train") : NULL;
    if (rc == 0 && meta) {
        rc = resume_options(a, &ck, meta, s);
    } else if (rc == 0 && resume) {
        /* Older checkpoints record the model, the optimizer and the data
         * seed only: the rest is the command line's, as it always was. */
        const char *seed = st_metadata_get(ck.file, "data_seed");
        if (seed && !cli_get(a, "seed")) s->options.data_seed = strtoull(seed, NULL, 10);
        fprintf(stderr,
                "distro-cli train: note: %s records no training options (an older build wrote "
                "it): the schedule and the optimizer settings come from this command line\n",
                resume);
    }
    model_checkpoint_close(&ck);
    return rc;
}
