/* Autoregressive sampling with temperature and top-k over a sliding window
 * of the model's context length. Used by `sample` and by `run`'s summary. */
#ifndef DISTRO_CLI_SAMPLER_H
#define DISTRO_CLI_SAMPLER_H

#include "model/model.h"

typedef struct sampler {
    model *m;
    double temperature;
    int64_t top_k;
    uint64_t rng;
    int32_t *context; /* the last seq_len tokens */
    int64_t n_context;
    float *logits;
    void *order; /* scratch for top-k: (logit, token) pairs */
} sampler;

dt_status sampler_init(sampler *s, model *m, double temperature, int64_t top_k, uint64_t seed);
void sampler_free(sampler *s);
/* Append tokens to the context (each checked against the vocabulary). */
dt_status sampler_feed(sampler *s, const int32_t *tokens, int64_t n);
/* Token ids from "1,2,3" (spaces allowed after commas) into a new array
 * *out of *n ids; a missing, negative or non-numeric id is an error naming
 * it. The ids are checked against the vocabulary when fed. */
dt_status sampler_parse_ids(const char *text, int32_t **out, int64_t *n);
/* Draw the next token and append it to the context. */
dt_status sampler_next(sampler *s, int32_t *token);

#endif
