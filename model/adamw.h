/* AdamW with a dense gradient: the baseline every DeMo result is compared
 * against. beta1 0.9, beta2 0.95, eps 1e-8, decoupled weight decay on
 * matrices, global gradient-norm clipping. */
#ifndef DISTRO_MODEL_ADAMW_H
#define DISTRO_MODEL_ADAMW_H

#include "model/model.h"

typedef struct model_adamw_config {
    float beta1, beta2, eps;
    float weight_decay;
    float clip; /* global gradient-norm clip; 0: off */
} model_adamw_config;

void model_adamw_config_default(model_adamw_config *c);

typedef struct model_adamw model_adamw;

dt_status model_adamw_create(model *m, const model_adamw_config *cfg, model_adamw **out);
void model_adamw_destroy(model_adamw *o);

/* Update the model's weights from its gradients. t is the 1-based count of
 * updates so far including this one (bias correction). */
dt_status model_adamw_step(model_adamw *o, float lr, int64_t t, double *grad_norm);

/* First and second moments of parameter i (for checkpoints). */
dt_tensor model_adamw_m(const model_adamw *o, int i);
dt_tensor model_adamw_v(const model_adamw *o, int i);

#endif
