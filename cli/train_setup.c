/* Parsing of the shared training options. */
#include <stdio.h>
#include <string.h>

#include "cli/train_setup.h"

static bool fail_model(const cli_args *a, const char *what) {
    cli_fail(a->cmd, "%s: %s", what, dt_last_error());
    return false;
}

bool train_setup_parse(const cli_args *a, train_setup *s) {
    memset(s, 0, sizeof *s);
    const char *preset = cli_get(a, "preset"), *config = cli_get(a, "config");
    if (preset && config) {
        cli_fail(a->cmd, "--preset and --config are alternatives; give one");
        return false;
    }
    if (config) {
        if (model_config_load(config, &s->config) != DT_OK) return fail_model(a, "--config");
        snprintf(s->model_name, sizeof s->model_name, "%s", config);
    } else {
        if (!preset) preset = "shakespeare";
        if (model_config_preset(preset, &s->config) != DT_OK) return fail_model(a, "--preset");
        snprintf(s->model_name, sizeof s->model_name, "%s", preset);
    }
    s->data = cli_get(a, "data");
    if (!s->data) s->data = "builtin:tinyshakespeare";

    /* Choice i is model_optimizer i. */
    static const char *const optimizers[] = {"adamw", "demo", "local", NULL};
    static const char *const outer_rules[] = {"sign", "scaled", NULL};
    static const char *const aggregates[] = {"chosen", "all", NULL};
    int opt = MODEL_OPT_DEMO, outer = DT_DEMO_UPDATE_SCALED;
    if (!cli_get_choice(a, "optimizer", optimizers, MODEL_OPT_DEMO, &opt) ||
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
        !cli_get_int(a, "seed", 0, INT64_MAX, 1, &seed) ||
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
