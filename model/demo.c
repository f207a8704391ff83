/* The DeMo optimizer on runtime ops. Per tensor: momentum, DCT encode and
 * top-k run on the device; the payload is packed on the host; the canonical
 * update runs on the device through dt_demo_apply. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/demo.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

struct model_demo {
    model *m;
    model_demo_config cfg;
    demo_geometry geo;
    dt_device *dev;
    dt_buffer *momentum; /* laid out like the weights */
    dt_buffer *coeffs;   /* scratch: the largest tensor's coefficients */
    dt_buffer *own_idx;  /* this step's selection, kept until confirm */
    dt_buffer *own_vals;
    dt_buffer *basis;      /* every distinct DCT basis, packed */
    size_t *f1_at, *f2_at; /* per tensor: byte offsets into basis */
    /* Contributions of a step: per tensor [capacity, n_tiles, k]. */
    int capacity;
    dt_buffer *contrib_idx, *contrib_vals, *recip;
    int32_t *h_idx; /* host staging, capacity * total_entries */
    float *h_vals;
    int32_t *h_one_idx; /* one payload's entries in geometry order */
    float *h_one_vals;
    int pending; /* compress done, neither confirm nor discard yet */
    int recip_n; /* mean_over_all: the n the uploaded 1/n table is for (0: none) */
};

void model_demo_config_default(model_demo_config *c) {
    c->beta = 0.999f;
    c->chunk = 64;
    c->topk = 32;
    c->values = DEMO_VALUES_FP32;
    c->weight_decay = 0.0f;
    c->clip = 0.0f;
    c->update = DT_DEMO_UPDATE_SIGN;
    c->mean_over_all = false;
}

float model_demo_decay(float lr, float weight_decay) {
    return (float)(1.0 - (double)lr * (double)weight_decay);
}

const demo_geometry *model_demo_geometry(const model_demo *o) {
    return &o->geo;
}
size_t model_demo_payload_bytes(const model_demo *o) {
    return o->geo.payload_bytes;
}

dt_tensor model_demo_momentum(const model_demo *o, int i) {
    const model_param *p = &model_get_layout(o->m)->params[i];
    return dt_tensor_nd(o->momentum, p->offset, DT_F32, p->ndim, p->shape);
}

/* One buffer holds the DCT basis of every distinct tile side. */
static dt_status build_basis(model_demo *o) {
    int n = o->geo.n;
    int64_t sizes[64];
    int n_sizes = 0;
    size_t total = 0;
    o->f1_at = calloc((size_t)n, sizeof *o->f1_at);
    o->f2_at = calloc((size_t)n, sizeof *o->f2_at);
    if (!o->f1_at || !o->f2_at) return dt_error(DT_ERR_OOM, "demo: cannot allocate basis table");
    size_t offsets[64];
    for (int t = 0; t < n; t++) {
        int64_t sides[2] = {o->geo.t[t].plan.tile_rows, o->geo.t[t].plan.tile_cols};
        for (int s = 0; s < 2; s++) {
            int j = 0;
            while (j < n_sizes && sizes[j] != sides[s]) j++;
            if (j == n_sizes) {
                if (n_sizes == 64) return dt_error(DT_ERR_UNSUPPORTED, "demo: over 64 tile sides");
                sizes[n_sizes] = sides[s];
                offsets[n_sizes] = total;
                total += (size_t)(sides[s] * sides[s]) * 4;
                total = (total + 63) / 64 * 64;
                n_sizes++;
            }
            (s ? o->f2_at : o->f1_at)[t] = offsets[j];
        }
    }
    TRY(dt_buffer_alloc(o->dev, total, &o->basis));
    for (int j = 0; j < n_sizes; j++) {
        float *f = malloc((size_t)(sizes[j] * sizes[j]) * 4);
        if (!f) return dt_error(DT_ERR_OOM, "demo: cannot allocate a basis");
        dt_dct_basis(sizes[j], f);
        dt_status st = dt_buffer_upload(o->basis, offsets[j], f, (size_t)(sizes[j] * sizes[j]) * 4);
        free(f);
        TRY(st);
    }
    return DT_OK;
}

static dt_tensor f1_view(const model_demo *o, int t) {
    int64_t s = o->geo.t[t].plan.tile_rows;
    return dt_tensor_2d(o->basis, o->f1_at[t], DT_F32, s, s);
}

static dt_tensor f2_view(const model_demo *o, int t) {
    int64_t s = o->geo.t[t].plan.tile_cols;
    return dt_tensor_2d(o->basis, o->f2_at[t], DT_F32, s, s);
}

/* Room for n contributions; grows (rarely: a run's peer count) by
 * reallocating every contribution buffer. */
static dt_status ensure_capacity(model_demo *o, int n) {
    if (n <= o->capacity) return DT_OK;
    int cap = n < 4 ? 4 : n;
    dt_buffer_free(o->contrib_idx);
    dt_buffer_free(o->contrib_vals);
    dt_buffer_free(o->recip);
    o->contrib_idx = o->contrib_vals = o->recip = NULL;
    free(o->h_idx);
    free(o->h_vals);
    o->capacity = 0;
    size_t entries = (size_t)cap * (size_t)o->geo.total_entries;
    o->h_idx = malloc(entries * 4);
    o->h_vals = malloc(entries * 4);
    float *recip = malloc((size_t)(cap + 1) * 4);
    dt_status st = DT_OK;
    if (!o->h_idx || !o->h_vals || !recip)
        st = dt_error(DT_ERR_OOM, "demo: cannot allocate staging for %d contributions", cap);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, entries * 4, &o->contrib_idx);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, entries * 4, &o->contrib_vals);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, (size_t)(cap + 1) * 4, &o->recip);
    if (st == DT_OK) {
        dt_recip_table(cap, recip);
        st = dt_buffer_upload(o->recip, 0, recip, (size_t)(cap + 1) * 4);
    }
    free(recip);
    if (st == DT_OK) o->capacity = cap;
    o->recip_n = 0; /* the table is 1/c again */
    return st;
}

dt_status model_demo_create(model *m, const model_demo_config *cfg, model_demo **out) {
    *out = NULL;
    if (!(cfg->beta >= 0.0f && cfg->beta < 1.0f))
        return dt_error(DT_ERR_INVALID, "demo: beta %g must lie in [0, 1)", (double)cfg->beta);
    if (cfg->chunk < 1) return dt_error(DT_ERR_INVALID, "demo: chunk must be >= 1");
    model_demo *o = calloc(1, sizeof *o);
    if (!o) return dt_error(DT_ERR_OOM, "demo: cannot allocate");
    o->m = m;
    o->cfg = *cfg;
    o->dev = model_get_device(m);
    const model_layout *l = model_get_layout(m);
    dt_status st = demo_geometry_build(l, cfg->chunk, cfg->topk, cfg->values, &o->geo);
    int64_t max_coeffs = 0;
    for (int t = 0; st == DT_OK && t < o->geo.n; t++) {
        int64_t c = o->geo.t[t].plan.n_tiles * o->geo.t[t].plan.tile_size;
        if (c > max_coeffs) max_coeffs = c;
    }
    size_t wbytes = dt_buffer_size(model_weights_buffer(m));
    size_t ebytes = (size_t)o->geo.total_entries * 4;
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, wbytes, &o->momentum);
    if (st == DT_OK)
        st = dt_fill(o->dev, dt_tensor_1d(o->momentum, 0, DT_F32, (int64_t)(wbytes / 4)), 0.0f);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, (size_t)max_coeffs * 4, &o->coeffs);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, ebytes, &o->own_idx);
    if (st == DT_OK) st = dt_buffer_alloc(o->dev, ebytes, &o->own_vals);
    if (st == DT_OK && (!(o->h_one_idx = malloc(ebytes)) || !(o->h_one_vals = malloc(ebytes))))
        st = dt_error(DT_ERR_OOM, "demo: cannot allocate payload staging");
    if (st == DT_OK) st = build_basis(o);
    if (st == DT_OK) st = ensure_capacity(o, 1);
    if (st != DT_OK) {
        model_demo_destroy(o);
        return st;
    }
    *out = o;
    return DT_OK;
}

void model_demo_destroy(model_demo *o) {
    if (!o) return;
    dt_buffer *bufs[] = {o->momentum, o->coeffs,      o->own_idx,      o->own_vals,
                         o->basis,    o->contrib_idx, o->contrib_vals, o->recip};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) dt_buffer_free(bufs[i]);
    free(o->f1_at);
    free(o->f2_at);
    free(o->h_idx);
    free(o->h_vals);
    free(o->h_one_idx);
    free(o->h_one_vals);
    demo_geometry_free(&o->geo);
    free(o);
}

dt_status model_demo_compress(model_demo *o, uint64_t run_id, int64_t step, float lr, uint8_t *out,
                              double *grad_norm) {
    double norm = 0.0;
    TRY(model_grad_norm(o->m, &norm));
    if (grad_norm) *grad_norm = norm;
    /* Clipping scales this step's gradient; folding the scale into the
     * momentum's learning rate does exactly that without another pass. */
    float lr_g = lr;
    if (o->cfg.clip > 0.0f && norm > o->cfg.clip) lr_g = (float)((double)lr * o->cfg.clip / norm);
    for (int t = 0; t < o->geo.n; t++) {
        const demo_tensor_geometry *tg = &o->geo.t[t];
        dt_tensor d = model_demo_momentum(o, t);
        dt_tensor coeffs = dt_tensor_2d(o->coeffs, 0, DT_F32, tg->plan.n_tiles, tg->plan.tile_size);
        dt_tensor idx =
            dt_tensor_2d(o->own_idx, (size_t)tg->entry_at * 4, DT_I32, tg->plan.n_tiles, tg->k);
        dt_tensor vals =
            dt_tensor_2d(o->own_vals, (size_t)tg->entry_at * 4, DT_F32, tg->plan.n_tiles, tg->k);
        TRY(dt_demo_momentum(o->dev, d, model_grad(o->m, t), o->cfg.beta, lr_g));
        TRY(dt_demo_encode(o->dev, &tg->plan, d, f1_view(o, t), f2_view(o, t), coeffs));
        TRY(dt_demo_topk(o->dev, coeffs, tg->k, idx, vals));
    }
    size_t ebytes = (size_t)o->geo.total_entries * 4;
    TRY(dt_buffer_download(o->own_idx, 0, o->h_one_idx, ebytes));
    TRY(dt_buffer_download(o->own_vals, 0, o->h_one_vals, ebytes));
    demo_payload_encode(&o->geo, run_id, step, o->h_one_idx, o->h_one_vals, out);
    o->pending = 1;
    return DT_OK;
}

dt_status model_demo_apply(model_demo *o, uint64_t run_id, int64_t step,
                           const uint8_t *const *payloads, const size_t *lens, int n, float lr,
                           float decay) {
    if (n < 1) return dt_error(DT_ERR_INVALID, "demo apply: no contributions");
    TRY(ensure_capacity(o, n));
    /* Decode every payload before touching the device: a refusal leaves
     * the weights as they were. Per tensor, contributions are stacked
     * [n, n_tiles, k] in the order given (ascending peer id). */
    for (int c = 0; c < n; c++) {
        dt_status st = demo_payload_decode(&o->geo, payloads[c], lens[c], run_id, step,
                                           o->h_one_idx, o->h_one_vals);
        if (st != DT_OK)
            return dt_error_wrap(st, "contribution %d of step %lld: ", c, (long long)step);
        for (int t = 0; t < o->geo.n; t++) {
            const demo_tensor_geometry *tg = &o->geo.t[t];
            size_t dst = (size_t)(tg->entry_at * n + c * tg->entries);
            memcpy(o->h_idx + dst, o->h_one_idx + tg->entry_at, (size_t)tg->entries * 4);
            memcpy(o->h_vals + dst, o->h_one_vals + tg->entry_at, (size_t)tg->entries * 4);
        }
    }
    size_t bytes = (size_t)n * (size_t)o->geo.total_entries * 4;
    TRY(dt_buffer_upload(o->contrib_idx, 0, o->h_idx, bytes));
    TRY(dt_buffer_upload(o->contrib_vals, 0, o->h_vals, bytes));
    const model_layout *l = model_get_layout(o->m);
    if (o->cfg.mean_over_all && o->recip_n != n) {
        /* recip[c] = 1/n for every count c >= 1, computed on the host as a
         * float: the same bits on every replica. */
        size_t bytes = (size_t)(o->capacity + 1) * 4;
        float *t = malloc(bytes);
        if (!t) return dt_error(DT_ERR_OOM, "demo apply: reciprocal table");
        t[0] = 0.0f;
        for (int c = 1; c <= o->capacity; c++) t[c] = (float)(1.0 / (double)n);
        dt_status st = dt_buffer_upload(o->recip, 0, t, bytes);
        free(t);
        TRY(st);
        o->recip_n = n;
    }
    dt_tensor recip = dt_tensor_1d(o->recip, 0, DT_F32, o->capacity + 1);
    for (int t = 0; t < o->geo.n; t++) {
        const demo_tensor_geometry *tg = &o->geo.t[t];
        int64_t shape[3] = {n, tg->plan.n_tiles, tg->k};
        size_t at = (size_t)(tg->entry_at * n) * 4;
        dt_tensor idx = dt_tensor_nd(o->contrib_idx, at, DT_I32, 3, shape);
        dt_tensor vals = dt_tensor_nd(o->contrib_vals, at, DT_F32, 3, shape);
        float dec = l->params[t].decay ? decay : 1.0f;
        TRY(dt_demo_apply(o->dev, &tg->plan, idx, vals, n, recip, f1_view(o, t), f2_view(o, t),
                          model_weight(o->m, t), lr, dec, o->cfg.update));
    }
    return DT_OK;
}

dt_status model_demo_confirm(model_demo *o) {
    if (!o->pending) return dt_error(DT_ERR_INVALID, "demo confirm: no compressed step is waiting");
    for (int t = 0; t < o->geo.n; t++) {
        const demo_tensor_geometry *tg = &o->geo.t[t];
        dt_tensor idx =
            dt_tensor_2d(o->own_idx, (size_t)tg->entry_at * 4, DT_I32, tg->plan.n_tiles, tg->k);
        dt_tensor vals =
            dt_tensor_2d(o->own_vals, (size_t)tg->entry_at * 4, DT_F32, tg->plan.n_tiles, tg->k);
        TRY(dt_demo_decode_sub(o->dev, &tg->plan, idx, vals, f1_view(o, t), f2_view(o, t),
                               model_demo_momentum(o, t)));
    }
    o->pending = 0;
    return DT_OK;
}

void model_demo_discard(model_demo *o) {
    o->pending = 0;
}

dt_status model_demo_state_bytes(const model_layout *l, const model_demo_config *cfg,
                                 int contributors, uint64_t *bytes) {
    demo_geometry g;
    TRY(demo_geometry_build(l, cfg->chunk, cfg->topk, cfg->values, &g));
    uint64_t max_coeffs = 0, weights = 0;
    for (int t = 0; t < g.n; t++) {
        uint64_t c = (uint64_t)(g.t[t].plan.n_tiles * g.t[t].plan.tile_size);
        if (c > max_coeffs) max_coeffs = c;
    }
    weights = (uint64_t)((l->total + 15) / 16 * 16) * 4;
    uint64_t entries = (uint64_t)g.total_entries * 4;
    int cap = contributors < 4 ? 4 : contributors;
    *bytes = weights + max_coeffs * 4 + 2 * entries + 2 * (uint64_t)cap * entries;
    demo_geometry_free(&g);
    return DT_OK;
}
