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
    model_adamw *adamw;     /* the dense baseline */
    model_worker **workers; /* DeMo and local steps: one per simulated peer */
    uint8_t *payloads;      /* workers x payload bytes */
    int32_t *tokens, *targets;
    int64_t next_step;
};

void model_train_options_default(model_train_options *o, model_optimizer opt) {
    memset(o, 0, sizeof *o);
    o->optimizer = opt;
    float lr = opt == MODEL_OPT_DEMO ? 3e-3f : opt == MODEL_OPT_LOCAL ? MODEL_LOCAL_LR : 1e-3f;
    o->schedule = (model_schedule){lr, 100, 1000, 0.1f};
    o->accum = 1;
    o->workers = 1;
    model_adamw_config_default(&o->adamw);
    model_demo_config_default(&o->demo);
    o->inner_steps = 1;
    o->outer_lr = 1.0f;
    if (opt == MODEL_OPT_LOCAL) {
        model_sync_config local;
        model_sync_config_local_default(&local);
        o->demo = local.demo;
        o->inner_steps = local.inner_steps;
        o->outer_lr = MODEL_LOCAL_OUTER_LR;
    }
    o->data_seed = 1;
    o->eval_batches = 20;
}

static dt_status create_workers(model_trainer *t) {
    const model_train_options *o = &t->opt;
    model_sync_config sc = {.optimizer = o->optimizer,
                            .demo = o->demo,
                            .inner_steps = o->inner_steps,
                            .inner = o->adamw,
                            .schedule = o->schedule};
    t->workers = calloc((size_t)o->workers, sizeof *t->workers);
    if (!t->workers) return dt_error(DT_ERR_OOM, "trainer: cannot allocate workers");
    for (int64_t w = 0; w < o->workers; w++) TRY(model_worker_create(t->m, &sc, &t->workers[w]));
    size_t pb = model_worker_payload_bytes(t->workers[0]);
    if (!(t->payloads = malloc(pb * (size_t)o->workers)))
        return dt_error(DT_ERR_OOM, "trainer: cannot allocate the payloads");
    return DT_OK;
}

dt_status model_trainer_create(model *m, const model_dataset *ds, const model_train_options *o,
                               model_trainer **out) {
    *out = NULL;
    if (o->accum < 1) return dt_error(DT_ERR_INVALID, "trainer: accum must be >= 1");
    if (o->schedule.total < 1) return dt_error(DT_ERR_INVALID, "trainer: steps must be >= 1");
    if (o->workers < 1 || o->workers > 256)
        return dt_error(DT_ERR_INVALID, "trainer: workers must lie in [1, 256], not %lld",
                        (long long)o->workers);
    if (o->optimizer == MODEL_OPT_LOCAL && o->inner_steps < 1)
        return dt_error(DT_ERR_INVALID, "trainer: local steps need inner_steps >= 1");
    model_trainer *t = calloc(1, sizeof *t);
    if (!t) return dt_error(DT_ERR_OOM, "trainer: cannot allocate");
    t->m = m;
    t->ds = ds;
    t->opt = *o;
    if (o->optimizer != MODEL_OPT_LOCAL) t->opt.inner_steps = 1;
    int64_t n = model_batch(m) * model_get_config(m)->seq_len;
    t->tokens = malloc((size_t)n * 4);
    t->targets = malloc((size_t)n * 4);
    dt_status st =
        t->tokens && t->targets ? DT_OK : dt_error(DT_ERR_OOM, "trainer: cannot allocate batches");
    if (st == DT_OK && o->optimizer == MODEL_OPT_ADAMW)
        st = model_adamw_create(m, &o->adamw, &t->adamw);
    else if (st == DT_OK)
        st = create_workers(t);
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
    for (int64_t w = 0; t->workers && w < t->opt.workers; w++) model_worker_destroy(t->workers[w]);
    free(t->workers);
    free(t->payloads);
    free(t->tokens);
    free(t->targets);
    free(t);
}

int64_t model_trainer_next_step(const model_trainer *t) {
    return t->next_step;
}

int64_t model_trainer_steps_per_round(const model_trainer *t) {
    return t->opt.inner_steps;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The dense baseline: the given micro-batches in order, one averaged
 * gradient, one AdamW update. */
static dt_status adamw_step(model_trainer *t, const model_micro_ref *refs, int64_t n,
                            model_step_report *r) {
    const int64_t b = model_batch(t->m), seq = model_get_config(t->m)->seq_len;
    if (n < 1) return dt_error(DT_ERR_INVALID, "trainer: a step needs micro-batches");
    const float grad_scale = (float)(1.0 / (double)(n * b * seq));
    double loss_sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float loss = 0.0f;
        TRY(model_dataset_train_batch(t->ds, t->opt.data_seed, r->step, refs[i].peer, refs[i].micro,
                                      b, seq, t->tokens, t->targets));
        TRY(model_forward_backward(t->m, t->tokens, t->targets, grad_scale,
                                   i == 0 ? MODEL_GRAD_OVERWRITE : MODEL_GRAD_ACCUMULATE, &loss));
        loss_sum += loss;
    }
    r->loss = (float)(loss_sum / (double)n);
    r->tokens = n * b * seq;
    return model_adamw_step(t->adamw, r->lr, r->step + 1, &r->grad_norm);
}

/* Every worker's micro-batches in peer order: the same tokens as N peers. */
static dt_status adamw_workers_step(model_trainer *t, model_step_report *r) {
    const int64_t n = t->opt.workers * t->opt.accum;
    model_micro_ref *refs = malloc((size_t)n * sizeof *refs);
    if (!refs) return dt_error(DT_ERR_OOM, "trainer: cannot allocate a step's batches");
    for (int64_t i = 0; i < n; i++)
        refs[i] = (model_micro_ref){(uint32_t)(i / t->opt.accum + 1), i % t->opt.accum};
    dt_status st = adamw_step(t, refs, n, r);
    free(refs);
    return st;
}

/* Every worker's local half from the same weights, then the global half
 * once, then each worker's error feedback: the coordinator's round. */
static dt_status synced_round(model_trainer *t, model_step_report *r) {
    const int64_t round = t->next_step / t->opt.inner_steps, n = t->opt.workers;
    const int64_t left = t->opt.schedule.total - t->next_step;
    r->steps = left < t->opt.inner_steps ? left : t->opt.inner_steps;
    const size_t pb = model_worker_payload_bytes(t->workers[0]);
    const uint8_t *ptrs[256];
    size_t lens[256];
    double loss_sum = 0.0, norm_sum = 0.0;
    for (int64_t w = 0; w < n; w++) {
        model_round rd = {.run_id = LOCAL_RUN_ID,
                          .round = round,
                          .peer = (uint32_t)(w + 1),
                          .n_micro = t->opt.accum,
                          .data_seed = t->opt.data_seed,
                          .lr = r->lr,
                          .steps = r->steps};
        model_round_report rep;
        bool stopped = false;
        TRY(model_worker_round(t->workers[w], t->ds, &rd, t->payloads + (size_t)w * pb, &rep,
                               &stopped));
        loss_sum += rep.loss;
        norm_sum += rep.grad_norm;
        r->tokens += rep.tokens;
        ptrs[w] = t->payloads + (size_t)w * pb;
        lens[w] = pb;
    }
    float lr = r->lr, decay = model_demo_decay(r->lr, t->opt.demo.weight_decay);
    if (t->opt.optimizer == MODEL_OPT_LOCAL) {
        /* weight decay happened in the inner steps */
        lr = model_local_outer_lr(&t->opt.schedule, round, t->opt.inner_steps, t->opt.outer_lr,
                                  t->opt.demo.update);
        decay = 1.0f;
    }
    TRY(model_worker_apply(t->workers[0], LOCAL_RUN_ID, round, ptrs, lens, (int)n, lr, decay));
    for (int64_t w = 0; w < n; w++) TRY(model_worker_confirm(t->workers[w]));
    r->loss = (float)(loss_sum / (double)n);
    r->grad_norm = norm_sum / (double)n;
    r->payload_bytes = pb;
    return DT_OK;
}

dt_status model_trainer_step(model_trainer *t, model_step_report *r) {
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    r->step = t->next_step;
    r->steps = t->opt.inner_steps;
    r->lr = model_schedule_lr(&t->opt.schedule, t->next_step);
    if (t->adamw)
        TRY(adamw_workers_step(t, r));
    else
        TRY(synced_round(t, r));
    TRY(dt_device_sync(model_get_device(t->m)));
    t->next_step += r->steps;
    r->step = t->next_step - 1;
    if (t->opt.optimizer == MODEL_OPT_LOCAL) r->lr = model_schedule_lr(&t->opt.schedule, r->step);
    r->seconds = now_seconds() - t0;
    return DT_OK;
}

dt_status model_trainer_step_on(model_trainer *t, const model_micro_ref *refs, int64_t n,
                                model_step_report *r) {
    if (!t->adamw) return dt_error(DT_ERR_INVALID, "trainer: explicit batches need AdamW");
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    r->step = t->next_step;
    r->steps = 1;
    r->lr = model_schedule_lr(&t->opt.schedule, t->next_step);
    TRY(adamw_step(t, refs, n, r));
    TRY(dt_device_sync(model_get_device(t->m)));
    t->next_step++;
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

/* Checkpoint names: worker 0 keeps the single-device names
 * ("demo.momentum"), worker w > 0 prefixes them with "worker<w>.". */
static int state_groups(const model_trainer *t, model_state_group *g, char names[][48]) {
    if (t->adamw) {
        g[0] = (model_state_group){"adamw.m", model_adamw_m(t->adamw, 0).buf};
        g[1] = (model_state_group){"adamw.v", model_adamw_v(t->adamw, 0).buf};
        return 2;
    }
    int n = 0;
    for (int64_t w = 0; w < t->opt.workers; w++) {
        model_worker_state ws[3];
        int k = model_worker_state_groups(t->workers[w], ws);
        for (int i = 0; i < k; i++, n++) {
            if (w == 0)
                snprintf(names[n], 48, "%s", ws[i].prefix);
            else
                snprintf(names[n], 48, "worker%lld.%s", (long long)w, ws[i].prefix);
            g[n] = (model_state_group){names[n], ws[i].buf};
        }
    }
    return n;
}

#define MAX_GROUPS (3 * 256)

typedef struct state_table {
    model_state_group g[MAX_GROUPS];
    char names[MAX_GROUPS][48];
} state_table;

dt_status model_trainer_save(model_trainer *t, const char *path) {
    return model_trainer_save_with(t, path, NULL, 0);
}

dt_status model_trainer_save_with(model_trainer *t, const char *path, const st_metadata *more,
                                  int n_more) {
    if (n_more < 0 || n_more > 8)
        return dt_error(DT_ERR_INVALID, "save: %d extra metadata entries (0 to 8)", n_more);
    state_table *tab = malloc(sizeof *tab);
    if (!tab) return dt_error(DT_ERR_OOM, "save: cannot allocate");
    int n = state_groups(t, tab->g, tab->names);
    uint64_t hash = 0;
    TRY(model_param_hash(t->m, &hash));
    char hash_text[24], seed_text[24];
    snprintf(hash_text, sizeof hash_text, "%016llx", (unsigned long long)hash);
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)t->opt.data_seed);
    st_metadata extra[10] = {{"param_hash", hash_text}, {"data_seed", seed_text}};
    for (int i = 0; i < n_more; i++) extra[2 + i] = more[i];
    dt_status st = model_checkpoint_save(path, t->m, model_optimizer_name(t->opt.optimizer),
                                         t->next_step, tab->g, n, extra, 2 + n_more);
    free(tab);
    return st;
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
    state_table *tab = malloc(sizeof *tab);
    if (st == DT_OK && !tab) st = dt_error(DT_ERR_OOM, "resume: cannot allocate");
    int n = tab ? state_groups(t, tab->g, tab->names) : 0;
    for (int i = 0; st == DT_OK && i < n; i++)
        st = model_checkpoint_load(&c, t->m, tab->g[i].prefix, tab->g[i].buf);
    free(tab);
    if (st == DT_OK && c.step % t->opt.inner_steps != 0 && c.step != t->opt.schedule.total)
        st = dt_error(DT_ERR_INVALID, "resume %s: step %lld is not a round boundary (%lld steps)",
                      path, (long long)c.step, (long long)t->opt.inner_steps);
    if (st == DT_OK) t->next_step = c.step;
    /* Every worker takes one inner update per optimizer step. */
    for (int64_t w = 0; st == DT_OK && t->workers && w < t->opt.workers; w++)
        model_worker_set_inner_count(t->workers[w], c.step);
    model_checkpoint_close(&c);
    return st;
}
