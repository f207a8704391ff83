/* Sampling from the model's next-token distribution. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sampler.h"

dt_status sampler_init(sampler *s, model *m, double temperature, int64_t top_k, uint64_t seed) {
    memset(s, 0, sizeof *s);
    const model_config *c = model_get_config(m);
    s->m = m;
    s->temperature = temperature;
    s->top_k = top_k <= 0 || top_k > c->vocab_size ? c->vocab_size : top_k;
    s->rng = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    s->context = malloc((size_t)c->seq_len * 4);
    s->logits = malloc((size_t)c->vocab_size * 4);
    s->order = malloc((size_t)c->vocab_size * 2 * sizeof(float));
    if (!s->context || !s->logits || !s->order) {
        sampler_free(s);
        return dt_error(DT_ERR_OOM, "sampler: cannot allocate");
    }
    return DT_OK;
}

void sampler_free(sampler *s) {
    free(s->context);
    free(s->logits);
    free(s->order);
    memset(s, 0, sizeof *s);
}

dt_status sampler_feed(sampler *s, const int32_t *tokens, int64_t n) {
    const model_config *c = model_get_config(s->m);
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return dt_error(DT_ERR_INVALID, "sampler: token %d outside the vocabulary of %lld",
                            tokens[i], (long long)c->vocab_size);
        if (s->n_context == c->seq_len) {
            memmove(s->context, s->context + 1, (size_t)(c->seq_len - 1) * 4);
            s->n_context--;
        }
        s->context[s->n_context++] = tokens[i];
    }
    return DT_OK;
}

dt_status sampler_parse_ids(const char *text, int32_t **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    int64_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ',';
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return dt_error(DT_ERR_OOM, "token ids: cannot allocate %lld", (long long)cap);
    const char *p = text;
    for (int64_t i = 0; i < cap; i++) {
        while (*p == ' ') p++;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        size_t len = strcspn(p, ",");
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            return dt_error(DT_ERR_INVALID, "token ids '%s': '%.*s' is not a token id", text,
                            (int)len, p);
        }
        ids[i] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    *out = ids;
    *n = cap;
    return DT_OK;
}

static double next_uniform(sampler *s) {
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

typedef struct ranked {
    float logit;
    int32_t token;
} ranked;

/* Descending logit, ties to the lower token: a deterministic order. */
static int by_logit_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->token - y->token;
}

dt_status sampler_next(sampler *s, int32_t *token) {
    if (s->n_context == 0)
        return dt_error(DT_ERR_INVALID, "sampler: feed at least one token before sampling");
    const int64_t vocab = model_get_config(s->m)->vocab_size;
    dt_status st = model_forward_last_logits(s->m, s->context, s->n_context, s->logits);
    if (st != DT_OK) return st;
    ranked *order = s->order;
    for (int64_t i = 0; i < vocab; i++) order[i] = (ranked){s->logits[i], (int32_t)i};
    qsort(order, (size_t)vocab, sizeof *order, by_logit_desc);
    int32_t pick = order[0].token;
    if (s->temperature > 0.0) {
        double top = order[0].logit, total = 0.0;
        for (int64_t i = 0; i < s->top_k; i++)
            total += exp(((double)order[i].logit - top) / s->temperature);
        double u = next_uniform(s) * total, acc = 0.0;
        for (int64_t i = 0; i < s->top_k; i++) {
            acc += exp(((double)order[i].logit - top) / s->temperature);
            pick = order[i].token;
            if (acc >= u) break;
        }
    }
    *token = pick;
    return sampler_feed(s, &pick, 1);
}
