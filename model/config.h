/* Model shape: presets and JSON configs (DESIGN.md section 3). */
#ifndef DISTRO_MODEL_CONFIG_H
#define DISTRO_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "distro/error.h"

typedef struct model_config {
    int64_t vocab_size;
    int64_t dim;
    int64_t n_layers;
    int64_t n_heads;
    int64_t ffn_dim; /* SwiGLU hidden width */
    int64_t seq_len;
    double rope_theta;
    bool tie_embeddings; /* LM head shares the token embedding */
    double init_std;
    uint64_t seed; /* weight initialisation */
} model_config;

/* RMSNorm epsilon; fixed so checkpoints need not carry it. */
#define MODEL_NORM_EPS 1e-5f

/* NULL-terminated list: tiny, shakespeare, small, gpt2-small-like, llama-1b. */
const char *const *model_preset_names(void);
dt_status model_config_preset(const char *name, model_config *out);

/* Every field is required; a missing, mistyped or out-of-range field is
 * DT_ERR_FORMAT naming the field. Unknown fields are errors too (a typo in
 * a config must not silently fall back to a default). */
dt_status model_config_from_json(const char *text, model_config *out);
dt_status model_config_load(const char *path, model_config *out);
/* malloc'd JSON text of every field; free() it. */
char *model_config_to_json(const model_config *c);

/* Shape rules: dim divisible by n_heads, an even head_dim, sizes >= 1. */
dt_status model_config_validate(const model_config *c);

int64_t model_config_head_dim(const model_config *c);
/* Number of parameters, counted from the shapes. */
int64_t model_config_param_count(const model_config *c);

#endif
