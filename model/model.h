/* The Llama-style decoder on one device, forward and backward, written
 * only in runtime ops (DESIGN.md section 3):
 *   tokens -> embedding -> N x [RMSNorm, causal attention with RoPE,
 *   residual, RMSNorm, SwiGLU MLP, residual] -> RMSNorm -> LM head -> loss.
 * No biases. Weights and gradients each live in one buffer laid out by
 * model_layout; activations in one arena sized for (batch, seq_len). */
#ifndef DISTRO_MODEL_MODEL_H
#define DISTRO_MODEL_MODEL_H

#include "distro/distro.h"
#include "model/layout.h"

typedef struct model model;

/* Allocate weights, gradients and activations for micro-batches of `batch`
 * sequences of cfg->seq_len tokens. Weights are not initialised. */
dt_status model_create(dt_device *dev, const model_config *cfg, int64_t batch, model **out);
void model_destroy(model *m);

const model_config *model_get_config(const model *m);
const model_layout *model_get_layout(const model *m);
dt_device *model_get_device(const model *m);
int64_t model_batch(const model *m);

/* View of parameter i's weights / gradients on the device. */
dt_tensor model_weight(const model *m, int i);
dt_tensor model_grad(const model *m, int i);
/* The whole weight and gradient buffers (layout.total floats plus padding). */
dt_buffer *model_weights_buffer(const model *m);
dt_buffer *model_grads_buffer(const model *m);

/* Deterministic initialisation from cfg->seed, computed on the host (so it
 * is the same bits on every backend) and uploaded. */
dt_status model_init_weights(model *m);

/* Copy every tensor between the device and host memory laid out densely in
 * layout order (layout.total floats, no padding). */
dt_status model_download_weights(const model *m, float *host);
dt_status model_upload_weights(model *m, const float *host);

/* The parameter hash (DESIGN.md section 4: replicas compare it every
 * step): the first 8 bytes, read little-endian, of BLAKE2b-256 over the
 * weights as little-endian fp32 bytes in layout order (model/hash.h). */
dt_status model_param_hash(model *m, uint64_t *out);
uint64_t model_hash_host(const model_layout *l, const float *dense);

dt_status model_zero_grads(model *m);

/* Global L2 norm of all gradients (per-tensor sums of squares on the
 * device, combined in double on the host). Fails with DT_ERR_INVALID
 * naming the first tensor whose gradient is not finite. */
dt_status model_grad_norm(model *m, double *norm);

/* What a backward pass does with the gradients already there. */
typedef enum model_grad_mode {
    MODEL_GRAD_OVERWRITE,  /* replace them: a step's first micro-batch, with
                              no zeroing pass first */
    MODEL_GRAD_ACCUMULATE, /* add to them: the micro-batches after it */
} model_grad_mode;

/* One micro-batch: tokens/targets hold batch * seq_len host ints, each
 * < vocab_size (checked). Its gradients, scaled by grad_scale (the
 * caller's 1 / (tokens per step) makes them gradients of the mean loss),
 * replace or add to the model's, as `mode` says. Overwriting gives the
 * bits of model_zero_grads followed by accumulating (up to the sign of a
 * zero), without reading or zeroing the gradients first: the weight
 * gradients' GEMMs run with beta = 0. *loss is this micro-batch's mean
 * loss. */
dt_status model_forward_backward(model *m, const int32_t *tokens, const int32_t *targets,
                                 float grad_scale, model_grad_mode mode, float *loss);

/* Forward only, mean loss over `batch` x seq_len tokens (batch <= the
 * model's batch). */
dt_status model_forward_loss(model *m, const int32_t *tokens, const int32_t *targets, int64_t batch,
                             float *loss);

/* Forward of one sequence of n <= seq_len tokens; logits of the last
 * position (vocab_size floats) into `logits`. */
dt_status model_forward_last_logits(model *m, const int32_t *tokens, int64_t n, float *logits);

/* Bytes the model allocates per device for a micro-batch of `batch`. */
typedef struct model_memory {
    uint64_t weights, grads, activations;
} model_memory;
dt_status model_memory_estimate(const model_config *cfg, int64_t batch, model_memory *out);

#endif
