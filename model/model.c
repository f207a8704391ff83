/* Model lifetime: parameter and gradient buffers, the activation arena,
 * initialisation, host transfers and the parameter hash. The forward and
 * backward passes are in model_forward.c and model_backward.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/hash.h"
#include "model/model_internal.h"

/* Lay the activation arena out: every view starts on a 64-byte boundary. */
static size_t arena_take(size_t *top, int64_t floats) {
    size_t at = *top;
    *top += ((size_t)floats * sizeof(float) + 63) / 64 * 64;
    return at;
}

/* Offsets of every activation for micro-batches of `batch`; returns the
 * arena size. Shared by model_create and model_memory_estimate so the
 * estimate is the allocation. */
static size_t plan_arena(const model_config *c, int64_t batch, model_acts *a) {
    int64_t n = batch * c->seq_len, d = c->dim, f = c->ffn_dim;
    int64_t bht = batch * c->n_heads * c->seq_len;
    int64_t big = 3 * d > 2 * f ? 3 * d : 2 * f;
    size_t top = 0;
    for (int64_t l = 0; l <= c->n_layers; l++) a->x[l] = arena_take(&top, n * d);
    for (int64_t l = 0; l < c->n_layers; l++) {
        model_layer_acts *la = &a->layer[l];
        la->xn1 = arena_take(&top, n * d);
        la->rstd1 = arena_take(&top, n);
        la->qkv = arena_take(&top, n * 3 * d);
        la->att = arena_take(&top, n * d);
        la->lse = arena_take(&top, bht);
        la->x_mid = arena_take(&top, n * d);
        la->xn2 = arena_take(&top, n * d);
        la->rstd2 = arena_take(&top, n);
        la->h = arena_take(&top, n * 2 * f);
        la->g = arena_take(&top, n * f);
    }
    a->xf = arena_take(&top, n * d);
    a->rstdf = arena_take(&top, n);
    a->logits = arena_take(&top, n * c->vocab_size);
    a->losses = arena_take(&top, n);
    a->dx = arena_take(&top, n * d);
    a->dtmp = arena_take(&top, n * d);
    a->dbig = arena_take(&top, n * big);
    a->dg = arena_take(&top, n * f);
    a->att_scratch = arena_take(&top, bht);
    a->tokens = arena_take(&top, n);
    a->targets = arena_take(&top, n);
    return top;
}

static int64_t padded_floats(const model_layout *l) {
    return (l->total + 15) / 16 * 16;
}

dt_status model_memory_estimate(const model_config *cfg, int64_t batch, model_memory *out) {
    model_layout l;
    dt_status st = model_layout_build(cfg, &l);
    if (st != DT_OK) return st;
    model_acts acts;
    acts.x = calloc((size_t)cfg->n_layers + 1, sizeof *acts.x);
    acts.layer = calloc((size_t)cfg->n_layers, sizeof *acts.layer);
    if (!acts.x || !acts.layer) {
        st = dt_error(DT_ERR_OOM, "model: cannot plan activations");
    } else {
        out->weights = (uint64_t)padded_floats(&l) * sizeof(float);
        out->grads = out->weights;
        out->activations = plan_arena(cfg, batch, &acts);
        /* The RoPE table is small but real. */
        out->activations += (uint64_t)cfg->seq_len * (uint64_t)model_config_head_dim(cfg) * 4;
    }
    free(acts.x);
    free(acts.layer);
    model_layout_free(&l);
    return st;
}

dt_status model_create(dt_device *dev, const model_config *cfg, int64_t batch, model **out) {
    *out = NULL;
    if (batch < 1)
        return dt_error(DT_ERR_INVALID, "model: batch %lld must be >= 1", (long long)batch);
    model *m = calloc(1, sizeof *m);
    if (!m) return dt_error(DT_ERR_OOM, "model: cannot allocate");
    m->dev = dev;
    m->cfg = *cfg;
    m->batch = batch;
    dt_status st = model_layout_build(cfg, &m->layout);
    if (st != DT_OK) {
        free(m);
        return st;
    }
    int64_t n = batch * cfg->seq_len, hd = model_config_head_dim(cfg);
    m->acts.x = calloc((size_t)cfg->n_layers + 1, sizeof *m->acts.x);
    m->acts.layer = calloc((size_t)cfg->n_layers, sizeof *m->acts.layer);
    m->host_losses = malloc((size_t)n * sizeof(float));
    float *rope = malloc((size_t)(cfg->seq_len * hd) * sizeof(float));
    if (!m->acts.x || !m->acts.layer || !m->host_losses || !rope)
        st = dt_error(DT_ERR_OOM, "model: cannot allocate host bookkeeping");
    size_t arena = st == DT_OK ? plan_arena(cfg, batch, &m->acts) : 0;
    size_t pbytes = (size_t)padded_floats(&m->layout) * sizeof(float);
    if (st == DT_OK) st = dt_buffer_alloc(dev, pbytes, &m->weights);
    if (st == DT_OK) st = dt_buffer_alloc(dev, pbytes, &m->grads);
    if (st == DT_OK) st = dt_buffer_alloc(dev, arena, &m->arena);
    if (st == DT_OK) st = dt_buffer_alloc(dev, (size_t)(cfg->seq_len * hd) * 4, &m->rope);
    if (st == DT_OK) st = dt_buffer_alloc(dev, (size_t)m->layout.n_params * 4, &m->norm_slots);
    if (st == DT_OK && !(m->host_slots = malloc((size_t)m->layout.n_params * 4)))
        st = dt_error(DT_ERR_OOM, "model: cannot allocate norm slots");
    if (st == DT_OK) {
        dt_rope_table(cfg->seq_len, hd, cfg->rope_theta, rope);
        st = dt_buffer_upload(m->rope, 0, rope, (size_t)(cfg->seq_len * hd) * 4);
    }
    /* Padding between tensors is never written by ops; zero it once so
     * whole-buffer transfers carry no garbage. */
    if (st == DT_OK)
        st = dt_fill(dev, dt_tensor_1d(m->weights, 0, DT_F32, (int64_t)(pbytes / 4)), 0.0f);
    if (st == DT_OK)
        st = dt_fill(dev, dt_tensor_1d(m->grads, 0, DT_F32, (int64_t)(pbytes / 4)), 0.0f);
    free(rope);
    if (st != DT_OK) {
        dt_status keep = st;
        model_destroy(m);
        return dt_error_wrap(keep, "model (%lld parameters, batch %lld) on %s: ",
                             (long long)model_config_param_count(cfg), (long long)batch,
                             dt_device_get_info(dev)->spec);
    }
    *out = m;
    return DT_OK;
}

void model_destroy(model *m) {
    if (!m) return;
    dt_buffer_free(m->weights);
    dt_buffer_free(m->grads);
    dt_buffer_free(m->arena);
    dt_buffer_free(m->rope);
    dt_buffer_free(m->norm_slots);
    free(m->host_slots);
    free(m->acts.x);
    free(m->acts.layer);
    free(m->host_losses);
    free(m->host_dense);
    model_layout_free(&m->layout);
    free(m);
}

const model_config *model_get_config(const model *m) {
    return &m->cfg;
}
const model_layout *model_get_layout(const model *m) {
    return &m->layout;
}
dt_device *model_get_device(const model *m) {
    return m->dev;
}
int64_t model_batch(const model *m) {
    return m->batch;
}
dt_buffer *model_weights_buffer(const model *m) {
    return m->weights;
}
dt_buffer *model_grads_buffer(const model *m) {
    return m->grads;
}

static dt_tensor param_view(dt_buffer *buf, const model_param *p) {
    return dt_tensor_nd(buf, p->offset, DT_F32, p->ndim, p->shape);
}

dt_tensor model_weight(const model *m, int i) {
    return param_view(m->weights, &m->layout.params[i]);
}
dt_tensor model_grad(const model *m, int i) {
    return param_view(m->grads, &m->layout.params[i]);
}

dt_status model_zero_grads(model *m) {
    size_t bytes = dt_buffer_size(m->grads);
    return dt_fill(m->dev, dt_tensor_1d(m->grads, 0, DT_F32, (int64_t)(bytes / 4)), 0.0f);
}

dt_status model_grad_norm(model *m, double *norm) {
    int n = m->layout.n_params;
    for (int i = 0; i < n; i++) {
        dt_status st = dt_sum_squares(m->dev, model_grad(m, i),
                                      dt_tensor_1d(m->norm_slots, (size_t)i * 4, DT_F32, 1));
        if (st != DT_OK) return st;
    }
    dt_status st = dt_buffer_download(m->norm_slots, 0, m->host_slots, (size_t)n * 4);
    if (st != DT_OK) return st;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(m->host_slots[i]))
            return dt_error(DT_ERR_INVALID, "gradient of %s is not finite (sum of squares %g)",
                            m->layout.params[i].name, (double)m->host_slots[i]);
        sum += m->host_slots[i];
    }
    *norm = sqrt(sum);
    return DT_OK;
}

/* ---- initialisation ------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 (log() below). */
static double uniform01(uint64_t *s) {
    return ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void init_tensor(const model_config *c, const model_param *p, int index, float *dst) {
    if (p->kind == MODEL_P_ATTN_NORM || p->kind == MODEL_P_MLP_NORM ||
        p->kind == MODEL_P_FINAL_NORM) {
        for (int64_t i = 0; i < p->numel; i++) dst[i] = 1.0f;
        return;
    }
    /* Residual-branch outputs start smaller so the residual stream's
     * variance does not grow with depth (GPT-2's 1/sqrt(2 n_layers)). */
    double std = c->init_std;
    if (p->kind == MODEL_P_WO || p->kind == MODEL_P_W2) std /= sqrt(2.0 * (double)c->n_layers);
    uint64_t s = c->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
    for (int64_t i = 0; i < p->numel; i += 2) {
        /* Box-Muller: two normals per two uniforms. */
        double r = sqrt(-2.0 * log(uniform01(&s))), a = 6.283185307179586 * uniform01(&s);
        dst[i] = (float)(std * r * cos(a));
        if (i + 1 < p->numel) dst[i + 1] = (float)(std * r * sin(a));
    }
}

static dt_status host_dense(model *m, float **out) {
    if (!m->host_dense) {
        m->host_dense = malloc((size_t)m->layout.total * sizeof(float));
        if (!m->host_dense)
            return dt_error(DT_ERR_OOM, "model: cannot allocate %lld floats of host staging",
                            (long long)m->layout.total);
    }
    *out = m->host_dense;
    return DT_OK;
}

dt_status model_init_weights(model *m) {
    float *dense = NULL;
    dt_status st = host_dense(m, &dense);
    if (st != DT_OK) return st;
    int64_t at = 0;
    for (int i = 0; i < m->layout.n_params; i++) {
        init_tensor(&m->cfg, &m->layout.params[i], i, dense + at);
        at += m->layout.params[i].numel;
    }
    return model_upload_weights(m, dense);
}

dt_status model_download_weights(const model *m, float *host) {
    int64_t at = 0;
    for (int i = 0; i < m->layout.n_params; i++) {
        const model_param *p = &m->layout.params[i];
        dt_status st = dt_buffer_download(m->weights, p->offset, host + at, (size_t)p->numel * 4);
        if (st != DT_OK) return st;
        at += p->numel;
    }
    return DT_OK;
}

dt_status model_upload_weights(model *m, const float *host) {
    int64_t at = 0;
    for (int i = 0; i < m->layout.n_params; i++) {
        const model_param *p = &m->layout.params[i];
        dt_status st = dt_buffer_upload(m->weights, p->offset, host + at, (size_t)p->numel * 4);
        if (st != DT_OK) return st;
        at += p->numel;
    }
    return DT_OK;
}

/* ---- the parameter hash ---------------------------------------------------- */

/* BLAKE2b-256 of the weights as little-endian fp32 bytes in layout order
 * (the snapshot a joiner receives, byte for byte), carried as its first 8
 * bytes read little-endian (DESIGN.md section 4). Defined on values, not
 * memory, so every host computes the same number. */
uint64_t model_hash_host(const model_layout *l, const float *dense) {
    int64_t n = 0;
    for (int t = 0; t < l->n_params; t++) n += l->params[t].numel;
    uint8_t digest[MODEL_DIGEST_BYTES];
    model_digest_f32(dense, n, digest);
    return model_digest_prefix64(digest);
}

dt_status model_param_hash(model *m, uint64_t *out) {
    float *dense = NULL;
    dt_status st = host_dense(m, &dense);
    if (st == DT_OK) st = model_download_weights(m, dense);
    if (st == DT_OK) *out = model_hash_host(&m->layout, dense);
    return st;
}
