/* Where each parameter tensor lives: names, shapes and byte offsets inside
 * one contiguous buffer, in a fixed order. The order is part of the format:
 * the parameter hash, checkpoints, DeMo payloads and weight transfers all
 * walk tensors in it. */
#ifndef DISTRO_MODEL_LAYOUT_H
#define DISTRO_MODEL_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef enum model_param_kind {
    MODEL_P_TOK_EMB,    /* [vocab, dim] */
    MODEL_P_ATTN_NORM,  /* [dim] */
    MODEL_P_WQKV,       /* [3 dim, dim]: q, k, v projections stacked */
    MODEL_P_WO,         /* [dim, dim] */
    MODEL_P_MLP_NORM,   /* [dim] */
    MODEL_P_W13,        /* [2 ffn, dim]: gate then up */
    MODEL_P_W2,         /* [dim, ffn] */
    MODEL_P_FINAL_NORM, /* [dim] */
    MODEL_P_LM_HEAD,    /* [vocab, dim], only when untied */
} model_param_kind;

typedef struct model_param {
    char name[40]; /* "layers.3.wqkv" */
    model_param_kind kind;
    int layer; /* -1 outside the blocks */
    int ndim;
    int64_t shape[2];
    int64_t numel;
    size_t offset; /* bytes from the start of the parameter buffer */
    bool decay;    /* weight decay applies (matrices, not norms) */
} model_param;

typedef struct model_layout {
    model_param *params;
    int n_params;
    int64_t total; /* floats */
} model_layout;

dt_status model_layout_build(const model_config *c, model_layout *out);
void model_layout_free(model_layout *l);
/* Index of parameter `kind` in block `layer` (ignored outside the blocks):
 * the one place that knows the order model_layout_build lays tensors in.
 * MODEL_P_LM_HEAD of a model with tied embeddings is the token embedding. */
int model_param_index(const model_config *c, model_param_kind kind, int layer);

#endif
