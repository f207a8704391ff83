/* The AdamW baseline of `distro-cli run`: one CPU device trained on exactly
 * the token stream the networked run applied. For every optimizer step it
 * takes the union of the applied peers' micro-batches, in ascending peer
 * id, the same batches (seed, step, peer, micro) those peers trained on. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/run_baseline.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The round's micro-batches from its summary record into *refs (grown as
 * needed); 0 when it has none. */
static int64_t record_refs(const cJSON *rec, model_micro_ref **refs, int64_t *cap) {
    int64_t n = 0;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(rec, "micro")) {
        const cJSON *id = cJSON_GetArrayItem(pair, 0), *count = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsNumber(id) || !cJSON_IsNumber(count) || count->valuedouble > 1e6) return 0;
        for (int64_t m = 0; m < (int64_t)count->valuedouble; m++) {
            if (n == *cap) {
                model_micro_ref *more = realloc(*refs, (size_t)(2 * *cap) * sizeof *more);
                if (!more) return 0;
                *refs = more;
                *cap *= 2;
            }
            (*refs)[n++] = (model_micro_ref){(uint32_t)id->valuedouble, m};
        }
    }
    return n;
}

/* Rounds the summary has no record of (before a coordinator restart) take
 * the micro-batches of the nearest recorded round before or after them. */
static const cJSON *record_of(const cJSON *records, int64_t round) {
    const cJSON *rec, *best = NULL;
    cJSON_ArrayForEach(rec, records) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "step");
        if (!cJSON_IsNumber(s)) continue;
        if ((int64_t)s->valuedouble == round) return rec;
        if (!best || (int64_t)s->valuedouble <= round) best = rec;
    }
    return best;
}

dt_status run_baseline(const run_baseline_config *b, const cJSON *summary, bool tty,
                       run_baseline_result *out) {
    const net_run_config *c = b->run;
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(summary, "step_records");
    int64_t cap = 64;
    model_micro_ref *refs = malloc((size_t)cap * sizeof *refs);
    if (!refs) return dt_error(DT_ERR_OOM, "baseline: cannot allocate");
    model_train_options o;
    model_train_options_default(&o, MODEL_OPT_ADAMW);
    o.schedule = c->schedule; /* optimizer steps: warmup, total, final fraction */
    o.schedule.lr = (float)b->lr;
    o.data_seed = c->seed;
    o.eval_batches = c->eval_batches;
    o.adamw.weight_decay = c->demo.weight_decay;
    o.adamw.clip = c->demo.clip;
    dt_device *dev = NULL;
    model *m = NULL;
    model_dataset *ds = NULL;
    model_trainer *t = NULL;
    double t0 = now_s();
    dt_status st = dt_device_open("cpu", &dev);
    if (st == DT_OK) st = model_create(dev, &c->model, c->micro_batch, &m);
    if (st == DT_OK) st = model_init_weights(m);
    if (st == DT_OK) st = model_dataset_open(c->data, c->model.vocab_size, &ds);
    if (st == DT_OK) st = model_trainer_create(m, ds, &o, &t);
    out->tokens = 0;
    out->filled_rounds = 0;
    out->round_loss = malloc((size_t)c->steps * sizeof *out->round_loss);
    if (!out->round_loss && st == DT_OK) st = dt_error(DT_ERR_OOM, "baseline: losses");
    for (int64_t i = 0; out->round_loss && i < c->steps; i++) out->round_loss[i] = NAN;
    for (int64_t round = 0; st == DT_OK && round < c->steps; round++) {
        const cJSON *rec = record_of(records, round);
        int64_t n = rec ? record_refs(rec, &refs, &cap) : 0;
        if (n == 0) {
            st = dt_error(DT_ERR_FORMAT, "baseline: the summary records no micro-batches");
            break;
        }
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "step");
        out->filled_rounds += (int64_t)s->valuedouble != round;
        model_step_report rep;
        for (int64_t h = 0; st == DT_OK && h < net_run_round_steps(c, round); h++) {
            st = model_trainer_step_on(t, refs, n, &rep);
            out->tokens += rep.tokens;
        }
        if (st == DT_OK) out->round_loss[round] = rep.loss;
        if (tty && st == DT_OK) {
            fprintf(stderr, "\r\033[Kbaseline: AdamW on cpu, step %lld/%lld  loss %.4f",
                    (long long)rep.step + 1, (long long)c->schedule.total, (double)rep.loss);
            fflush(stderr);
        }
    }
    if (tty) fprintf(stderr, "\r\033[K");
    if (st == DT_OK) st = model_trainer_eval(t, &out->val_loss);
    out->seconds = now_s() - t0;
    model_trainer_destroy(t);
    model_dataset_close(ds);
    model_destroy(m);
    dt_device_close(dev);
    free(refs);
    return st;
}
