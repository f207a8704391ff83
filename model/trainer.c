/* The single-device training loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/checkpoint.h"
#include "model/trainer.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

/* Single-device DeMo payloads carry this run id; networked runs get theirs
 * from the coordinator. */
#define LOCAL_RUN_ID 0x6469737472306c31ull

struct model_trainer {
    model *m;
    const model_dataset *ds;
    model_train_options opt;
    model_adamw *adamw;
    model_demo *demo;
    uint8_t *payload;
    int32_t *tokens, *targets;
    int64_t next_step;
};

const char *model_optimizer_name(model_optimizer o) {
    return o == MODEL_OPT_DEMO ? "demo" : "adamw";
}

void model_train_options_default(model_train_options *o, model_optimizer opt) {
    memset(o, 0, sizeof *o);
    o->optimizer = opt;
    o->schedule = (model_schedule){opt == MODEL_OPT_DEMO ? 3e-3f : 1e-3f, 100, 1000, 0.1f};
    o->accum = 1;
    model_adamw_config_default(&o->adamw);
    model_demo_config_default(&o->demo);
    o->data_seed = 1;
    o->eval_batches = 20;
}

dt_status model_trainer_create(model *m, const model_dataset *ds, const model_train_options *o,
                               model_trainer **out) {
    *out = NULL;
    if (o->accum < 1) return dt_error(DT_ERR_INVALID, "trainer: accum must be >= 1");
    if (o->schedule.total < 1) return dt_error(DT_ERR_INVALID, "trainer: steps must be >= 1");
    model_trainer *t = calloc(1, sizeof *t);
    if (!t) return dt_error(DT_ERR_OOM, "trainer: cannot allocate");
    t->m = m;
    t->ds = ds;
    t->opt = *o;
    int64_t n = model_batch(m) * model_get_config(m)->seq_len;
    t->tokens = malloc((size_t)n * 4);
    t->targets = malloc((size_t)n * 4);
    dt_status st =
        t->tokens && t->targets ? DT_OK : dt_error(DT_ERR_OOM, "trainer: cannot allocate batches");
    if (st == DT_OK && o->optimizer == MODEL_OPT_DEMO) {
        st = model_demo_create(m, &o->demo, &t->demo);
        if (st == DT_OK && !(t->payload = malloc(model_demo_payload_bytes(t->demo))))
            st = dt_error(DT_ERR_OOM, "trainer: cannot allocate the payload");
    } else if (st == DT_OK) {
        st = model_adamw_create(m, &o->adamw, &t->adamw);
    }
    if (st != DT_OK) {
        model_trainer_destroy(t);
        return st;
    }
    *out = t;
    return DT_OK;
}

void model_trainer_destroy(model_trainer *t) {
    if (!t) return;
    model_adamw_destroy(t->adamw);
    model_demo_destroy(t->demo);
    free(t->payload);
    free(t->tokens);
    free(t->targets);
    free(t);
}

int64_t model_trainer_next_step(const model_trainer *t) {
    return t->next_step;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

dt_status model_trainer_step(model_trainer *t, model_step_report *r) {
    double t0 = now_seconds();
    const int64_t step = t->next_step, b = model_batch(t->m);
    const int64_t seq = model_get_config(t->m)->seq_len;
    memset(r, 0, sizeof *r);
    r->step = step;
    r->lr = model_schedule_lr(&t->opt.schedule, step);
    r->tokens = t->opt.accum * b * seq;

    TRY(model_zero_grads(t->m));
    const float grad_scale = (float)(1.0 / (double)r->tokens);
    double loss_sum = 0.0;
    for (int64_t micro = 0; micro < t->opt.accum; micro++) {
        float loss = 0.0f;
        TRY(model_dataset_train_batch(t->ds, t->opt.data_seed, step, 0, micro, b, seq, t->tokens,
                                      t->targets));
        TRY(model_forward_backward(t->m, t->tokens, t->targets, grad_scale, &loss));
        loss_sum += loss;
    }
    r->loss = (float)(loss_sum / (double)t->opt.accum);

    if (t->demo) {
        size_t len = model_demo_payload_bytes(t->demo);
        const uint8_t *payloads[1] = {t->payload};
        TRY(model_demo_compress(t->demo, LOCAL_RUN_ID, step, r->lr, t->payload, &r->grad_norm));
        TRY(model_demo_apply(t->demo, LOCAL_RUN_ID, step, payloads, &len, 1, r->lr,
                             model_demo_decay(r->lr, t->opt.demo.weight_decay)));
        TRY(model_demo_confirm(t->demo));
        r->payload_bytes = len;
    } else {
        TRY(model_adamw_step(t->adamw, r->lr, step + 1, &r->grad_norm));
    }
    TRY(dt_device_sync(model_get_device(t->m)));
    t->next_step = step + 1;
    r->seconds = now_seconds() - t0;
    return DT_OK;
}

dt_status model_trainer_eval(model_trainer *t, float *val_loss) {
    const int64_t b = model_batch(t->m), seq = model_get_config(t->m)->seq_len;
    double sum = 0.0;
    int64_t n = t->opt.eval_batches > 0 ? t->opt.eval_batches : 1;
    for (int64_t i = 0; i < n; i++) {
        float loss = 0.0f;
        TRY(model_dataset_val_batch(t->ds, i, b, seq, t->tokens, t->targets));
        TRY(model_forward_loss(t->m, t->tokens, t->targets, b, &loss));
        sum += loss;
    }
    *val_loss = (float)(sum / (double)n);
    return DT_OK;
}

static int state_groups(const model_trainer *t, model_state_group *g) {
    if (t->demo) {
        g[0] = (model_state_group){"demo.momentum", model_demo_momentum(t->demo, 0).buf};
        return 1;
    }
    g[0] = (model_state_group){"adamw.m", model_adamw_m(t->adamw, 0).buf};
    g[1] = (model_state_group){"adamw.v", model_adamw_v(t->adamw, 0).buf};
    return 2;
}

dt_status model_trainer_save(model_trainer *t, const char *path) {
    model_state_group groups[2];
    int n = state_groups(t, groups);
    uint64_t hash = 0;
    TRY(model_param_hash(t->m, &hash));
    char hash_text[24], seed_text[24];
    snprintf(hash_text, sizeof hash_text, "%016llx", (unsigned long long)hash);
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)t->opt.data_seed);
    st_metadata extra[] = {{"param_hash", hash_text}, {"data_seed", seed_text}};
    return model_checkpoint_save(path, t->m, model_optimizer_name(t->opt.optimizer), t->next_step,
                                 groups, n, extra, 2);
}

dt_status model_trainer_resume(model_trainer *t, const char *path) {
    model_checkpoint c;
    TRY(model_checkpoint_open(path, &c));
    dt_status st = DT_OK;
    char *want = model_config_to_json(model_get_config(t->m));
    char *have = model_config_to_json(&c.config);
    if (!want || !have || strcmp(want, have) != 0)
        st = dt_error(DT_ERR_INVALID,
                      "resume %s: the checkpoint's model %s differs from this run's %s", path,
                      have ? have : "?", want ? want : "?");
    free(want);
    free(have);
    if (st == DT_OK && strcmp(c.optimizer, model_optimizer_name(t->opt.optimizer)) != 0)
        st = dt_error(DT_ERR_INVALID,
                      "resume %s: the checkpoint was trained with %s, this run uses %s", path,
                      c.optimizer, model_optimizer_name(t->opt.optimizer));
    if (st == DT_OK) st = model_checkpoint_load(&c, t->m, NULL, model_weights_buffer(t->m));
    model_state_group groups[2];
    int n = state_groups(t, groups);
    for (int i = 0; st == DT_OK && i < n; i++)
        st = model_checkpoint_load(&c, t->m, groups[i].prefix, groups[i].buf);
    if (st == DT_OK) t->next_step = c.step;
    model_checkpoint_close(&c);
    return st;
}
