/* Presets and JSON model configs. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/json_number.h"
#include "model/json_strict.h"
#include "runtime/file_io.h"

typedef struct preset {
    const char *name;
    model_config config;
} preset;

/* SwiGLU widths follow Llama's 8/3 * dim rounded up to a multiple of 64,
 * except llama-1b, whose 8192 is the DisTrO report's 1.2B shape (untied
 * head: 1,204,881,408 parameters). */
static const preset presets[] = {
    {"tiny", {256, 64, 2, 4, 192, 32, 10000.0, true, 0.02, 1337}},
    {"shakespeare", {256, 128, 4, 4, 384, 64, 10000.0, true, 0.02, 1337}},
    {"small", {256, 384, 6, 6, 1024, 256, 10000.0, true, 0.02, 1337}},
    {"gpt2-small-like", {50257, 768, 12, 12, 2048, 1024, 10000.0, true, 0.02, 1337}},
    {"llama-1b", {32000, 2048, 16, 8, 8192, 2048, 10000.0, false, 0.02, 1337}},
};

const char *const *model_preset_names(void) {
    static const char *const names[] = {"tiny",     "shakespeare", "small", "gpt2-small-like",
                                        "llama-1b", NULL};
    return names;
}

dt_status model_config_preset(const char *name, model_config *out) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            *out = presets[i].config;
            return DT_OK;
        }
    }
    return dt_error(DT_ERR_NOT_FOUND,
                    "unknown preset '%s' (tiny, shakespeare, small, gpt2-small-like, llama-1b)",
                    name);
}

int64_t model_config_head_dim(const model_config *c) {
    return c->dim / c->n_heads;
}

int64_t model_config_param_count(const model_config *c) {
    int64_t d = c->dim, f = c->ffn_dim;
    int64_t per_layer = 2 * d + 3 * d * d + d * d + 2 * f * d + d * f;
    int64_t emb = c->vocab_size * d;
    return emb + c->n_layers * per_layer + d + (c->tie_embeddings ? 0 : emb);
}

dt_status model_config_validate(const model_config *c) {
    struct {
        const char *name;
        int64_t v, lo, hi;
    } ints[] = {
        {"vocab_size", c->vocab_size, 2, 1 << 24}, {"dim", c->dim, 2, 1 << 16},
        {"n_layers", c->n_layers, 1, 1024},        {"n_heads", c->n_heads, 1, 1024},
        {"ffn_dim", c->ffn_dim, 1, 1 << 20},       {"seq_len", c->seq_len, 1, 1 << 20},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
            return dt_error(DT_ERR_FORMAT, "model config: %s = %lld is outside [%lld, %lld]",
                            ints[i].name, (long long)ints[i].v, (long long)ints[i].lo,
                            (long long)ints[i].hi);
    if (c->dim % c->n_heads)
        return dt_error(DT_ERR_FORMAT, "model config: dim %lld is not divisible by n_heads %lld",
                        (long long)c->dim, (long long)c->n_heads);
    if (model_config_head_dim(c) % 2)
        return dt_error(DT_ERR_FORMAT,
                        "model config: head dim %lld (dim / n_heads) must be even for RoPE",
                        (long long)model_config_head_dim(c));
    if (!(c->rope_theta > 1.0) || !isfinite(c->rope_theta))
        return dt_error(DT_ERR_FORMAT, "model config: rope_theta %g must be finite and > 1",
                        c->rope_theta);
    if (!(c->init_std > 0.0) || !(c->init_std < 10.0))
        return dt_error(DT_ERR_FORMAT, "model config: init_std %g must lie in (0, 10)",
                        c->init_std);
    return DT_OK;
}

static const char *const fields[] = {"vocab_size", "dim",     "n_layers",   "n_heads",
                                     "ffn_dim",    "seq_len", "rope_theta", "tie_embeddings",
                                     "init_std",   "seed",    NULL};

/* An integer-valued JSON number (no fraction, within int64 and the limit). */
static dt_status get_int(const cJSON *root, const char *name, int64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item) return dt_error(DT_ERR_FORMAT, "model config: missing field '%s'", name);
    double v = item->valuedouble;
    if (!cJSON_IsNumber(item) || v != floor(v) || fabs(v) > 9.0e15)
        return dt_error(DT_ERR_FORMAT, "model config: field '%s' must be an integer", name);
    *out = (int64_t)v;
    return DT_OK;
}

static dt_status get_num(const cJSON *root, const char *name, double *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item) return dt_error(DT_ERR_FORMAT, "model config: missing field '%s'", name);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return dt_error(DT_ERR_FORMAT, "model config: field '%s' must be a number", name);
    *out = item->valuedouble;
    return DT_OK;
}

dt_status model_config_from_json(const char *text, model_config *out) {
    cJSON *root = NULL;
    dt_status st = json_parse_strict(text, "model config", &root);
    if (st != DT_OK) return st;
    if (!cJSON_IsObject(root)) st = dt_error(DT_ERR_FORMAT, "model config: not a JSON object");
    for (const cJSON *it = root->child; st == DT_OK && it; it = it->next) {
        int known = 0;
        for (int i = 0; fields[i]; i++) known |= it->string && strcmp(it->string, fields[i]) == 0;
        if (!known)
            st = dt_error(DT_ERR_FORMAT, "model config: unknown field '%s'",
                          it->string ? it->string : "?");
    }
    model_config c;
    memset(&c, 0, sizeof c);
    int64_t seed = 0;
    if (st == DT_OK) st = get_int(root, "vocab_size", &c.vocab_size);
    if (st == DT_OK) st = get_int(root, "dim", &c.dim);
    if (st == DT_OK) st = get_int(root, "n_layers", &c.n_layers);
    if (st == DT_OK) st = get_int(root, "n_heads", &c.n_heads);
    if (st == DT_OK) st = get_int(root, "ffn_dim", &c.ffn_dim);
    if (st == DT_OK) st = get_int(root, "seq_len", &c.seq_len);
    if (st == DT_OK) st = get_num(root, "rope_theta", &c.rope_theta);
    if (st == DT_OK) st = get_num(root, "init_std", &c.init_std);
    if (st == DT_OK) st = get_int(root, "seed", &seed);
    if (st == DT_OK && seed < 0)
        st = dt_error(DT_ERR_FORMAT, "model config: field 'seed' must be >= 0");
    if (st == DT_OK) {
        const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_embeddings");
        if (!tie)
            st = dt_error(DT_ERR_FORMAT, "model config: missing field 'tie_embeddings'");
        else if (!cJSON_IsBool(tie))
            st = dt_error(DT_ERR_FORMAT,
                          "model config: field 'tie_embeddings' must be true or false");
        else
            c.tie_embeddings = cJSON_IsTrue(tie);
    }
    cJSON_Delete(root);
    c.seed = (uint64_t)seed;
    if (st == DT_OK) st = model_config_validate(&c);
    if (st == DT_OK) *out = c;
    return st;
}

dt_status model_config_load(const char *path, model_config *out) {
    char *text = NULL;
    dt_status st = dt_read_text(path, "model config", 1 << 20, &text);
    if (st != DT_OK) return st;
    st = model_config_from_json(text, out);
    free(text);
    if (st != DT_OK) dt_error_wrap(st, "%s: ", path);
    return st;
}

char *model_config_to_json(const model_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "dim", (double)c->dim);
    cJSON_AddNumberToObject(o, "n_layers", (double)c->n_layers);
    cJSON_AddNumberToObject(o, "n_heads", (double)c->n_heads);
    cJSON_AddNumberToObject(o, "ffn_dim", (double)c->ffn_dim);
    cJSON_AddNumberToObject(o, "seq_len", (double)c->seq_len);
    /* Exact numbers: a resumed checkpoint must get the same config back. */
    cJSON_AddItemToObject(o, "rope_theta", json_number_exact(c->rope_theta));
    cJSON_AddBoolToObject(o, "tie_embeddings", c->tie_embeddings);
    cJSON_AddItemToObject(o, "init_std", json_number_exact(c->init_std));
    cJSON_AddItemToObject(o, "seed", json_number_exact((double)c->seed));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
