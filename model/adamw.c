/* AdamW over the model's parameter tensors. */
#include <math.h>
#include <stdlib.h>

#include "model/adamw.h"

struct model_adamw {
    model *m;
    model_adamw_config cfg;
    dt_buffer *mom1, *mom2; /* laid out like the weights */
};

void model_adamw_config_default(model_adamw_config *c) {
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->weight_decay = 0.1f;
    c->clip = 1.0f;
}

dt_status model_adamw_create(model *m, const model_adamw_config *cfg, model_adamw **out) {
    *out = NULL;
    model_adamw *o = calloc(1, sizeof *o);
    if (!o) return dt_error(DT_ERR_OOM, "adamw: cannot allocate");
    o->m = m;
    o->cfg = *cfg;
    dt_device *dev = model_get_device(m);
    size_t bytes = dt_buffer_size(model_weights_buffer(m));
    dt_status st = dt_buffer_alloc(dev, bytes, &o->mom1);
    if (st == DT_OK) st = dt_buffer_alloc(dev, bytes, &o->mom2);
    if (st == DT_OK)
        st = dt_fill(dev, dt_tensor_1d(o->mom1, 0, DT_F32, (int64_t)(bytes / 4)), 0.0f);
    if (st == DT_OK)
        st = dt_fill(dev, dt_tensor_1d(o->mom2, 0, DT_F32, (int64_t)(bytes / 4)), 0.0f);
    if (st != DT_OK) {
        model_adamw_destroy(o);
        return st;
    }
    *out = o;
    return DT_OK;
}

void model_adamw_destroy(model_adamw *o) {
    if (!o) return;
    dt_buffer_free(o->mom1);
    dt_buffer_free(o->mom2);
    free(o);
}

static dt_tensor state_view(dt_buffer *b, const model *m, int i) {
    const model_param *p = &model_get_layout(m)->params[i];
    return dt_tensor_nd(b, p->offset, DT_F32, p->ndim, p->shape);
}

dt_tensor model_adamw_m(const model_adamw *o, int i) {
    return state_view(o->mom1, o->m, i);
}
dt_tensor model_adamw_v(const model_adamw *o, int i) {
    return state_view(o->mom2, o->m, i);
}

dt_status model_adamw_step(model_adamw *o, float lr, int64_t t, double *grad_norm) {
    if (t < 1) return dt_error(DT_ERR_INVALID, "adamw: step count %lld must be >= 1", (long long)t);
    double norm = 0.0;
    dt_status st = model_grad_norm(o->m, &norm);
    if (st != DT_OK) return st;
    if (grad_norm) *grad_norm = norm;
    dt_adamw_params hp = {
        .lr = lr,
        .beta1 = o->cfg.beta1,
        .beta2 = o->cfg.beta2,
        .eps = o->cfg.eps,
        .bias1 = (float)(1.0 - pow((double)o->cfg.beta1, (double)t)),
        .bias2 = (float)(1.0 - pow((double)o->cfg.beta2, (double)t)),
        .grad_scale = 1.0f,
    };
    if (o->cfg.clip > 0.0f && norm > o->cfg.clip) hp.grad_scale = (float)(o->cfg.clip / norm);
    const model_layout *l = model_get_layout(o->m);
    dt_device *dev = model_get_device(o->m);
    for (int i = 0; i < l->n_params; i++) {
        hp.weight_decay = l->params[i].decay ? o->cfg.weight_decay : 0.0f;
        st = dt_adamw(dev, model_weight(o->m, i), model_grad(o->m, i), model_adamw_m(o, i),
                      model_adamw_v(o, i), &hp);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}
