/* The fixed order of parameter tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layout.h"

/* Tensors start on 64-byte boundaries so every view is aligned for any
 * backend (OpenCL sub-buffer and Vulkan offset rules included). */
#define LAYOUT_ALIGN_FLOATS 16

/* Blocks hold MODEL_P_ATTN_NORM .. MODEL_P_W2, in enum order. */
#define BLOCK_TENSORS (MODEL_P_W2 - MODEL_P_ATTN_NORM + 1)

static void add(model_layout *l, model_param_kind kind, int layer, const char *name, int ndim,
                int64_t d0, int64_t d1) {
    model_param *p = &l->params[l->n_params++];
    memset(p, 0, sizeof *p);
    if (layer >= 0)
        snprintf(p->name, sizeof p->name, "layers.%d.%s", layer, name);
    else
        snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->layer = layer;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 1;
    p->numel = d0 * (ndim > 1 ? d1 : 1);
    p->decay = ndim > 1;
    int64_t start =
        (l->total + LAYOUT_ALIGN_FLOATS - 1) / LAYOUT_ALIGN_FLOATS * LAYOUT_ALIGN_FLOATS;
    p->offset = (size_t)start * sizeof(float);
    l->total = start + p->numel;
}

dt_status model_layout_build(const model_config *c, model_layout *out) {
    memset(out, 0, sizeof *out);
    dt_status st = model_config_validate(c);
    if (st != DT_OK) return st;
    int max = 3 + BLOCK_TENSORS * (int)c->n_layers;
    out->params = calloc((size_t)max, sizeof *out->params);
    if (!out->params) return dt_error(DT_ERR_OOM, "model layout: cannot allocate %d entries", max);
    int64_t d = c->dim, f = c->ffn_dim, v = c->vocab_size;
    add(out, MODEL_P_TOK_EMB, -1, "tok_emb", 2, v, d);
    for (int i = 0; i < (int)c->n_layers; i++) {
        add(out, MODEL_P_ATTN_NORM, i, "attn_norm", 1, d, 0);
        add(out, MODEL_P_WQKV, i, "wqkv", 2, 3 * d, d);
        add(out, MODEL_P_WO, i, "wo", 2, d, d);
        add(out, MODEL_P_MLP_NORM, i, "mlp_norm", 1, d, 0);
        add(out, MODEL_P_W13, i, "w13", 2, 2 * f, d);
        add(out, MODEL_P_W2, i, "w2", 2, d, f);
    }
    add(out, MODEL_P_FINAL_NORM, -1, "final_norm", 1, d, 0);
    if (!c->tie_embeddings) add(out, MODEL_P_LM_HEAD, -1, "lm_head", 2, v, d);
    return DT_OK;
}

int model_param_index(const model_config *c, model_param_kind kind, int layer) {
    const int final_norm = 1 + BLOCK_TENSORS * (int)c->n_layers;
    switch (kind) {
    case MODEL_P_TOK_EMB:
        return 0;
    case MODEL_P_FINAL_NORM:
        return final_norm;
    case MODEL_P_LM_HEAD:
        return c->tie_embeddings ? 0 : final_norm + 1;
    default:
        return 1 + BLOCK_TENSORS * layer + (int)(kind - MODEL_P_ATTN_NORM);
    }
}

void model_layout_free(model_layout *l) {
    free(l->params);
    memset(l, 0, sizeof *l);
}
