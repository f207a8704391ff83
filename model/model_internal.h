/* The model's private state, shared by model.c, model_forward.c and
 * model_backward.c. */
#ifndef DISTRO_MODEL_MODEL_INTERNAL_H
#define DISTRO_MODEL_MODEL_INTERNAL_H

#include "model/model.h"

/* Byte offsets into the activation arena of what one block keeps for its
 * backward pass. */
typedef struct model_layer_acts {
    size_t xn1, rstd1; /* attention RMSNorm output and 1/rms */
    size_t qkv;        /* projections, q and k already rotated */
    size_t att, lse;   /* attention output (before wo) and log-sum-exp */
    size_t x_mid;      /* residual stream after the attention branch */
    size_t xn2, rstd2; /* MLP RMSNorm */
    size_t h, g;       /* [gate | up] and silu(gate) * up */
} model_layer_acts;

typedef struct model_acts {
    size_t *x; /* residual stream entering block l; x[n_layers] leaves the last */
    model_layer_acts *layer;
    size_t xf, rstdf;   /* final RMSNorm */
    size_t logits;      /* overwritten by its gradient in the backward */
    size_t losses;      /* per token */
    size_t dx, dtmp;    /* [N, D] gradient scratch */
    size_t dbig;        /* [N, max(3D, 2F)]: dqkv or dh */
    size_t dg;          /* [N, F] */
    size_t att_scratch; /* attention backward working space */
    size_t tokens, targets;
} model_acts;

struct model {
    dt_device *dev;
    model_config cfg;
    model_layout layout;
    int64_t batch; /* micro-batch capacity */
    dt_buffer *weights, *grads, *arena, *rope;
    model_acts acts;
    float *host_losses;
    float *host_dense;     /* lazily allocated layout.total floats */
    dt_buffer *norm_slots; /* one float per tensor: sum of squares */
    float *host_slots;
};

/* Views into the arena for a pass over `batch` sequences of `seq` tokens. */
static inline dt_tensor model_act2(const model *m, size_t off, int64_t rows, int64_t cols) {
    return dt_tensor_2d(m->arena, off, DT_F32, rows, cols);
}

/* Run the forward pass over batch x seq tokens already uploaded into the
 * arena's tokens/targets, leaving logits (and per-token losses when
 * with_loss) in the arena. */
dt_status model_forward_pass(model *m, int64_t batch, int64_t seq, int with_loss);

/* Mean of the first n per-token losses in the arena. */
dt_status model_mean_loss(model *m, int64_t n, float *loss);

/* Check host tokens against the vocabulary and upload them. */
dt_status model_upload_tokens(model *m, const int32_t *tokens, const int32_t *targets, int64_t n);

/* The weights of parameter `kind` in block `layer` (model_param_index). */
static inline dt_tensor model_weight_of(const model *m, model_param_kind kind, int layer) {
    return model_weight(m, model_param_index(model_get_config(m), kind, layer));
}

#endif
