/* Entry points of the DeMo ops, and the host fallback of the canonical
 * update for devices that cannot run it bit-exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/op_check.h"

static dt_status check_plan(const op_ctx *c, const dt_tile_plan *p) {
    if (!p) return op_fail(c, "tile plan is NULL");
    if (p->rows < 1 || p->cols < 1 || p->tile_rows < 1 || p->tile_cols < 1 ||
        p->rows % p->tile_rows || p->cols % p->tile_cols ||
        p->tiles_per_row != p->cols / p->tile_cols ||
        p->n_tiles != (p->rows / p->tile_rows) * p->tiles_per_row ||
        p->tile_size != p->tile_rows * p->tile_cols)
        return op_fail(c,
                       "inconsistent tile plan (%lld x %lld in %lld x %lld tiles); build it "
                       "with dt_demo_tile_plan",
                       (long long)p->rows, (long long)p->cols, (long long)p->tile_rows,
                       (long long)p->tile_cols);
    return DT_OK;
}

static dt_status check_basis(const op_ctx *c, const dt_tile_plan *p, const dt_tensor *f1,
                             const dt_tensor *f2) {
    char e[96];
    snprintf(e, sizeof e, "[tile_rows, tile_rows] = [%lld, %lld]", (long long)p->tile_rows,
             (long long)p->tile_rows);
    OP_TRY(op_view_n(c, "f1", f1, DT_F32, op_mul(p->tile_rows, p->tile_rows), e));
    snprintf(e, sizeof e, "[tile_cols, tile_cols] = [%lld, %lld]", (long long)p->tile_cols,
             (long long)p->tile_cols);
    return op_view_n(c, "f2", f2, DT_F32, op_mul(p->tile_cols, p->tile_cols), e);
}

/* idx (i32) and vals (f32) of `groups` x n_tiles x k entries; returns k. */
static dt_status check_sparse(const op_ctx *c, const dt_tile_plan *p, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t groups, int64_t *k) {
    OP_TRY(op_view(c, "idx", idx, DT_I32));
    int64_t n = dt_tensor_numel(idx), per = op_mul(groups, p->n_tiles); /* >= 1 */
    if (n % per || n / per < 1 || n / per > p->tile_size) {
        char s[96];
        return op_fail(c, "idx %s must hold %lld x %lld tiles x k entries with 1 <= k <= %lld",
                       op_shape(idx, s, sizeof s), (long long)groups, (long long)p->n_tiles,
                       (long long)p->tile_size);
    }
    *k = n / per;
    return op_view_n(c, "vals", vals, DT_F32, n, "same as idx");
}

dt_status dt_demo_momentum(dt_device *dev, dt_tensor d, dt_tensor g, float beta, float lr) {
    op_ctx ctx = {"demo_momentum", dev};
    OP_TRY(op_view(&ctx, "D", &d, DT_F32));
    int64_t n = dt_tensor_numel(&d);
    OP_TRY(op_view_n(&ctx, "g", &g, DT_F32, n, "same as D"));
    OP_TRY(op_finite(&ctx, "beta", beta));
    OP_TRY(op_finite(&ctx, "lr", lr));
    return OP_DISPATCH(&ctx, demo_momentum, (dev, &d, &g, n, beta, lr));
}

dt_status dt_demo_encode(dt_device *dev, const dt_tile_plan *plan, dt_tensor x, dt_tensor f1,
                         dt_tensor f2, dt_tensor coeffs) {
    op_ctx ctx = {"demo_encode", dev};
    OP_TRY(check_plan(&ctx, plan));
    char e[96];
    snprintf(e, sizeof e, "rows x cols = %lld x %lld", (long long)plan->rows,
             (long long)plan->cols);
    OP_TRY(op_view_n(&ctx, "x", &x, DT_F32, op_mul(plan->rows, plan->cols), e));
    OP_TRY(check_basis(&ctx, plan, &f1, &f2));
    snprintf(e, sizeof e, "[n_tiles, tile_size] = [%lld, %lld]", (long long)plan->n_tiles,
             (long long)plan->tile_size);
    OP_TRY(op_view_n(&ctx, "coeffs", &coeffs, DT_F32, op_mul(plan->n_tiles, plan->tile_size), e));
    return OP_DISPATCH(&ctx, demo_encode, (dev, plan, &x, &f1, &f2, &coeffs));
}

dt_status dt_demo_topk(dt_device *dev, dt_tensor coeffs, int64_t k, dt_tensor idx, dt_tensor vals) {
    op_ctx ctx = {"demo_topk", dev};
    OP_TRY(op_view(&ctx, "coeffs", &coeffs, DT_F32));
    int64_t n_tiles = op_rows(&coeffs), size = op_cols(&coeffs);
    if (k < 1 || k > size)
        return op_fail(&ctx, "k = %lld must lie in [1, %lld] (the tile size)", (long long)k,
                       (long long)size);
    char e[96];
    snprintf(e, sizeof e, "[n_tiles, k] = [%lld, %lld]", (long long)n_tiles, (long long)k);
    OP_TRY(op_view_n(&ctx, "idx", &idx, DT_I32, op_mul(n_tiles, k), e));
    OP_TRY(op_view_n(&ctx, "vals", &vals, DT_F32, op_mul(n_tiles, k), e));
    return OP_DISPATCH(&ctx, demo_topk, (dev, &coeffs, n_tiles, size, k, &idx, &vals));
}

dt_status dt_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, dt_tensor idx,
                             dt_tensor vals, dt_tensor f1, dt_tensor f2, dt_tensor d) {
    op_ctx ctx = {"demo_decode_sub", dev};
    OP_TRY(check_plan(&ctx, plan));
    int64_t k = 0;
    OP_TRY(check_sparse(&ctx, plan, &idx, &vals, 1, &k));
    OP_TRY(check_basis(&ctx, plan, &f1, &f2));
    OP_TRY(op_view_n(&ctx, "D", &d, DT_F32, op_mul(plan->rows, plan->cols),
                     "rows x cols of the plan"));
    return OP_DISPATCH(&ctx, demo_decode_sub, (dev, plan, &idx, &vals, k, &f1, &f2, &d));
}

/* Devices that cannot be made exact: bring the operands to the host, run
 * the reference there, send W back. Correct and slow, by design rare. */
dt_status dt_demo_apply_via_host(const dt_tile_plan *plan, const dt_tensor *idx,
                                 const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                 const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                 const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    size_t n_sparse = (size_t)dt_tensor_numel(idx), n_w = (size_t)dt_tensor_numel(w);
    size_t n_f1 = (size_t)dt_tensor_numel(f1), n_f2 = (size_t)dt_tensor_numel(f2);
    size_t n_recip = (size_t)n_contrib + 1;
    size_t total = n_sparse * 2 + n_w + n_f1 + n_f2 + n_recip;
    float *host = malloc(total * sizeof(float));
    if (!host)
        return dt_error(DT_ERR_OOM, "demo_apply (host fallback): cannot allocate %zu bytes",
                        total * sizeof(float));
    int32_t *h_idx = (int32_t *)host;
    float *h_vals = host + n_sparse, *h_w = h_vals + n_sparse, *h_f1 = h_w + n_w;
    float *h_f2 = h_f1 + n_f1, *h_recip = h_f2 + n_f2;
    dt_status st = dt_buffer_download(idx->buf, idx->offset, h_idx, n_sparse * 4);
    if (st == DT_OK) st = dt_buffer_download(vals->buf, vals->offset, h_vals, n_sparse * 4);
    if (st == DT_OK) st = dt_buffer_download(w->buf, w->offset, h_w, n_w * 4);
    if (st == DT_OK) st = dt_buffer_download(f1->buf, f1->offset, h_f1, n_f1 * 4);
    if (st == DT_OK) st = dt_buffer_download(f2->buf, f2->offset, h_f2, n_f2 * 4);
    if (st == DT_OK) st = dt_buffer_download(recip->buf, recip->offset, h_recip, n_recip * 4);
    if (st == DT_OK)
        st = dt_demo_apply_host(plan, h_idx, h_vals, k, n_contrib, h_recip, h_f1, h_f2, h_w, lr,
                                decay, update);
    if (st == DT_OK) st = dt_buffer_upload(w->buf, w->offset, h_w, n_w * 4);
    free(host);
    return st;
}

dt_status dt_demo_apply(dt_device *dev, const dt_tile_plan *plan, dt_tensor idx, dt_tensor vals,
                        int64_t n_contrib, dt_tensor recip, dt_tensor f1, dt_tensor f2, dt_tensor w,
                        float lr, float decay, dt_demo_update update) {
    op_ctx ctx = {"demo_apply", dev};
    OP_TRY(check_plan(&ctx, plan));
    /* The backends count contributions in 32 bits. */
    if (n_contrib < 1 || n_contrib > INT32_MAX - 1)
        return op_fail(&ctx, "%lld contributions (1 to %d)", (long long)n_contrib, INT32_MAX - 1);
    int64_t k = 0;
    OP_TRY(check_sparse(&ctx, plan, &idx, &vals, n_contrib, &k));
    OP_TRY(op_view(&ctx, "recip", &recip, DT_F32));
    if (dt_tensor_numel(&recip) < n_contrib + 1)
        return op_fail(&ctx, "recip holds %lld entries; %lld contributions need %lld",
                       (long long)dt_tensor_numel(&recip), (long long)n_contrib,
                       (long long)n_contrib + 1);
    OP_TRY(check_basis(&ctx, plan, &f1, &f2));
    OP_TRY(op_view_n(&ctx, "W", &w, DT_F32, op_mul(plan->rows, plan->cols),
                     "rows x cols of the plan"));
    OP_TRY(op_finite(&ctx, "lr", lr));
    OP_TRY(op_finite(&ctx, "decay", decay));
    if (update != DT_DEMO_UPDATE_SIGN && update != DT_DEMO_UPDATE_SCALED)
        return op_fail(&ctx, "unknown update rule %d", (int)update);
    /* The device's own update is used only once the probe has found it
     * exact (at this first use, or cached from an earlier process). */
    if (dev->canonical_state == DT_CANONICAL_UNCHECKED) OP_TRY(dt_canonical_check(dev));
    if (!dev->ops->demo_apply || dev->info.canonical_on_host)
        return dt_demo_apply_via_host(plan, &idx, &vals, k, n_contrib, &recip, &f1, &f2, &w, lr,
                                      decay, update);
    return dev->ops->demo_apply(dev, plan, &idx, &vals, k, n_contrib, &recip, &f1, &f2, &w, lr,
                                decay, update);
}
