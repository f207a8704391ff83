/* A peer's round, DeMo or local steps (model/worker.h), read top to bottom:
 * gradients, then the optimizer's local state, then the payload. */
#include <stdlib.h>
#include <string.h>

#include "model/worker.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

struct model_worker {
    model *m;
    model_sync_config cfg;
    model_demo *demo;   /* DeMo: the momentum; local steps: the error feedback */
    model_adamw *inner; /* local steps: inner AdamW moments, kept across rounds */
    dt_buffer *theta;   /* local steps: the global weights while W goes local */
    int64_t inner_count;
    int32_t *tokens, *targets;
};

const char *model_optimizer_name(model_optimizer o) {
    return o == MODEL_OPT_DEMO ? "demo" : o == MODEL_OPT_LOCAL ? "local" : "adamw";
}

int model_optimizer_parse(const char *name, model_optimizer *o) {
    static const model_optimizer all[] = {MODEL_OPT_ADAMW, MODEL_OPT_DEMO, MODEL_OPT_LOCAL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, model_optimizer_name(all[i])) == 0) {
            *o = all[i];
            return 0;
        }
    return -1;
}

void model_sync_config_local_default(model_sync_config *c) {
    memset(c, 0, sizeof *c);
    c->optimizer = MODEL_OPT_LOCAL;
    model_demo_config_default(&c->demo);
    c->demo.beta = 0.95f;
    c->demo.update = DT_DEMO_UPDATE_SCALED;
    c->demo.mean_over_all = true;
    c->inner_steps = 32;
    model_adamw_config_default(&c->inner);
}

static dt_tensor whole(dt_buffer *b) {
    return dt_tensor_1d(b, 0, DT_F32, (int64_t)(dt_buffer_size(b) / 4));
}

float model_local_outer_lr(const model_schedule *s, int64_t round, int64_t H, float outer_lr,
                           dt_demo_update update) {
    if (update == DT_DEMO_UPDATE_SCALED) return outer_lr;
    double sum = 0.0;
    for (int64_t step = round * H; step < (round + 1) * H && step < s->total; step++)
        sum += (double)model_schedule_lr(s, step);
    return (float)((double)outer_lr * sum);
}

dt_status model_worker_create(model *m, const model_sync_config *cfg, model_worker **out) {
    *out = NULL;
    if (cfg->optimizer != MODEL_OPT_DEMO && cfg->optimizer != MODEL_OPT_LOCAL)
        return dt_error(DT_ERR_INVALID, "worker: %s is not a synchronised optimizer",
                        model_optimizer_name(cfg->optimizer));
    if (cfg->optimizer == MODEL_OPT_LOCAL && cfg->inner_steps < 1)
        return dt_error(DT_ERR_INVALID, "worker: local steps need inner_steps >= 1, not %lld",
                        (long long)cfg->inner_steps);
    model_worker *w = calloc(1, sizeof *w);
    if (!w) return dt_error(DT_ERR_OOM, "worker: cannot allocate");
    w->m = m;
    w->cfg = *cfg;
    model_demo_config dc = cfg->demo;
    if (cfg->optimizer == MODEL_OPT_LOCAL) dc.clip = 0.0f; /* delta is not a gradient */
    int64_t n = model_batch(m) * model_get_config(m)->seq_len;
    w->tokens = malloc((size_t)n * 4);
    w->targets = malloc((size_t)n * 4);
    dt_status st = w->tokens && w->targets ? DT_OK : dt_error(DT_ERR_OOM, "worker: batches");
    if (st == DT_OK) st = model_demo_create(m, &dc, &w->demo);
    if (st == DT_OK && cfg->optimizer == MODEL_OPT_LOCAL) {
        st = model_adamw_create(m, &cfg->inner, &w->inner);
        size_t bytes = dt_buffer_size(model_weights_buffer(m));
        if (st == DT_OK) st = dt_buffer_alloc(model_get_device(m), bytes, &w->theta);
    }
    if (st != DT_OK) {
        model_worker_destroy(w);
        return st;
    }
    *out = w;
    return DT_OK;
}

void model_worker_destroy(model_worker *w) {
    if (!w) return;
    model_demo_destroy(w->demo);
    model_adamw_destroy(w->inner);
    dt_buffer_free(w->theta);
    free(w->tokens);
    free(w->targets);
    free(w);
}

int64_t model_worker_steps_per_round(const model_worker *w) {
    return w->cfg.optimizer == MODEL_OPT_LOCAL ? w->cfg.inner_steps : 1;
}
size_t model_worker_payload_bytes(const model_worker *w) {
    return model_demo_payload_bytes(w->demo);
}
const demo_geometry *model_worker_geometry(const model_worker *w) {
    return model_demo_geometry(w->demo);
}
int64_t model_worker_inner_count(const model_worker *w) {
    return w->inner_count;
}
void model_worker_set_inner_count(model_worker *w, int64_t n) {
    w->inner_count = n;
}

/* Gradients of one optimizer step's micro-batches, averaged over its tokens. */
static dt_status gradients(model_worker *w, const model_dataset *ds, const model_round *r,
                           int64_t step, double *loss_sum) {
    const int64_t b = model_batch(w->m), seq = model_get_config(w->m)->seq_len;
    const float scale = (float)(1.0 / ((double)r->n_micro * (double)(b * seq)));
    if (r->n_micro < 1) return model_zero_grads(w->m);
    for (int64_t micro = 0; micro < r->n_micro; micro++) {
        float loss = 0.0f;
        TRY(model_dataset_train_batch(ds, r->data_seed, step, r->peer, micro, b, seq, w->tokens,
                                      w->targets));
        TRY(model_forward_backward(w->m, w->tokens, w->targets, scale,
                                   micro == 0 ? MODEL_GRAD_OVERWRITE : MODEL_GRAD_ACCUMULATE,
                                   &loss));
        *loss_sum += loss;
    }
    return DT_OK;
}

/* H inner AdamW steps from theta; then the model's gradients hold
 * delta = theta - W_local and its weights theta again. */
static dt_status local_steps(model_worker *w, const model_dataset *ds, const model_round *r,
                             int64_t steps, double *loss_sum, bool *stopped) {
    dt_device *dev = model_get_device(w->m);
    dt_buffer *wb = model_weights_buffer(w->m), *gb = model_grads_buffer(w->m);
    TRY(dt_copy(dev, whole(wb), whole(w->theta)));
    const int64_t H = w->cfg.inner_steps;
    for (int64_t h = 0; h < steps; h++) {
        if (r->stop && *r->stop) {
            *stopped = true;
            return dt_copy(dev, whole(w->theta), whole(wb));
        }
        int64_t step = r->round * H + h;
        TRY(gradients(w, ds, r, step, loss_sum));
        float lr = model_schedule_lr(&w->cfg.schedule, step);
        TRY(model_adamw_step(w->inner, lr, w->inner_count + 1, NULL));
        w->inner_count++;
    }
    /* delta = theta + (-W): both exact roundings of theta - W. */
    TRY(dt_scale(dev, whole(wb), -1.0f, whole(gb)));
    TRY(dt_add(dev, whole(w->theta), whole(gb), whole(gb)));
    return dt_copy(dev, whole(w->theta), whole(wb));
}

dt_status model_worker_round(model_worker *w, const model_dataset *ds, const model_round *r,
                             uint8_t *payload, model_round_report *rep, bool *stopped) {
    memset(rep, 0, sizeof *rep);
    *stopped = false;
    model_demo_discard(w->demo); /* a repeated round starts over */
    int64_t steps = model_worker_steps_per_round(w);
    if (w->cfg.optimizer == MODEL_OPT_LOCAL && r->steps > 0 && r->steps < steps) steps = r->steps;
    double loss_sum = 0.0;
    float lr = r->lr;
    if (w->cfg.optimizer == MODEL_OPT_LOCAL) {
        int64_t count = w->inner_count;
        dt_status st = local_steps(w, ds, r, steps, &loss_sum, stopped);
        if (st != DT_OK || *stopped) w->inner_count = count;
        if (st != DT_OK || *stopped) return st;
        lr = 1.0f; /* e = beta e + 1 * delta */
    } else {
        TRY(gradients(w, ds, r, r->round, &loss_sum));
    }
    TRY(model_demo_compress(w->demo, r->run_id, r->round, lr, payload, &rep->grad_norm));
    const int64_t b = model_batch(w->m), seq = model_get_config(w->m)->seq_len;
    rep->loss = (float)(loss_sum / (double)(steps * r->n_micro));
    rep->tokens = steps * r->n_micro * b * seq;
    return DT_OK;
}

dt_status model_worker_apply(model_worker *w, uint64_t run_id, int64_t round,
                             const uint8_t *const *payloads, const size_t *lens, int n, float lr,
                             float decay) {
    return model_demo_apply(w->demo, run_id, round, payloads, lens, n, lr, decay);
}

dt_status model_worker_confirm(model_worker *w) {
    return model_demo_confirm(w->demo);
}

void model_worker_discard(model_worker *w) {
    model_demo_discard(w->demo);
}

int model_worker_state_groups(const model_worker *w, model_worker_state *g) {
    if (w->cfg.optimizer == MODEL_OPT_DEMO) {
        g[0] = (model_worker_state){"demo.momentum", model_demo_momentum(w->demo, 0).buf};
        return 1;
    }
    g[0] = (model_worker_state){"local.error", model_demo_momentum(w->demo, 0).buf};
    g[1] = (model_worker_state){"local.adamw.m", model_adamw_m(w->inner, 0).buf};
    g[2] = (model_worker_state){"local.adamw.v", model_adamw_v(w->inner, 0).buf};
    return 3;
}
