/* The DeMo optimizer (DESIGN.md section 3), split so the network layer can
 * drive it:
 *   compress  this peer's payload for a step: momentum D = beta D + lr g,
 *             DCT per tile, top-k; returns the payload bytes
 *   apply     given the validated payloads of a step ordered by peer id:
 *             the canonical aggregate-decode-sign-apply on the weights
 *   confirm   error feedback: D -= decode(own unquantized top-k), only for
 *             a payload that apply included
 *   discard   the round dropped this peer's payload: D keeps everything
 * Single-device training is compress, apply([own]), confirm. */
#ifndef DISTRO_MODEL_DEMO_H
#define DISTRO_MODEL_DEMO_H

#include "model/demo_payload.h"
#include "model/model.h"

typedef struct model_demo_config {
    float beta;    /* momentum decay (0.999) */
    int64_t chunk; /* tile target per dimension (64) */
    int64_t topk;  /* coefficients kept per tile (32) */
    demo_values values;
    float weight_decay;    /* decoupled, on matrices only */
    float clip;            /* global gradient-norm clip before the momentum; 0: off */
    dt_demo_update update; /* sign (DeMo) or scaled (the outer step of local steps) */
    /* Aggregation per coefficient slot: the mean over the contributors that
     * chose it (false, DeMo), or their sum over all n contributors of the
     * round (true: DiLoCo's average, an unchosen slot counts as 0). Both are
     * the canonical op; only the reciprocal table differs (recip[c] = 1/n). */
    bool mean_over_all;
} model_demo_config;

void model_demo_config_default(model_demo_config *c);

typedef struct model_demo model_demo;

dt_status model_demo_create(model *m, const model_demo_config *cfg, model_demo **out);
void model_demo_destroy(model_demo *o);

const demo_geometry *model_demo_geometry(const model_demo *o);
/* Exact payload size of every step's compress. */
size_t model_demo_payload_bytes(const model_demo *o);

/* Uses the gradients in the model. out holds model_demo_payload_bytes().
 * *grad_norm gets the global gradient norm (before clipping). */
dt_status model_demo_compress(model_demo *o, uint64_t run_id, int64_t step, float lr, uint8_t *out,
                              double *grad_norm);

/* The canonical update from n payloads (ascending peer id). Each is
 * validated (demo_payload_decode) before anything changes: one bad payload
 * fails the call with the weights untouched. lr and decay are the
 * coordinator's float bits; decay applies to tensors with weight decay,
 * the others use 1. */
dt_status model_demo_apply(model_demo *o, uint64_t run_id, int64_t step,
                           const uint8_t *const *payloads, const size_t *lens, int n, float lr,
                           float decay);

dt_status model_demo_confirm(model_demo *o);
void model_demo_discard(model_demo *o);

/* The momentum buffer, laid out like the weights (for checkpoints). */
dt_tensor model_demo_momentum(const model_demo *o, int i);

/* Device bytes a DeMo optimizer allocates for this layout with room for
 * `contributors` payloads per step (for --dry-run). */
dt_status model_demo_state_bytes(const model_layout *l, const model_demo_config *cfg,
                                 int contributors, uint64_t *bytes);

/* decay = (float)(1 - lr * wd), computed in double once, by whoever sets
 * the step's learning rate. */
float model_demo_decay(float lr, float weight_decay);

#endif
