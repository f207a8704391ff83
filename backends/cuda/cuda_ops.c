/* The C side of the kernels: unpack the views, launch on the device's stream
 * and turn a launch error into a status naming the op and the device. The
 * runtime has validated every shape before these run. */
#include "backends/cuda/cuda_backend.h"

/* Make the device current, run the launcher, report its error. */
#define CU_LAUNCH(dev, op, launch)                                                                 \
    do {                                                                                           \
        cu_device *d_ = cu_dev(dev);                                                               \
        dt_status st_ = cu_enter(d_, op);                                                          \
        if (st_ != DT_OK) return st_;                                                              \
        cudaError_t e_ = (launch);                                                                 \
        return e_ == cudaSuccess ? DT_OK : cu_fail(d_, op, "kernel launch", e_);                   \
    } while (0)

#define STREAM(dev) (cu_dev(dev)->stream)

dt_status cu_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                           const dt_tensor *out) {
    CU_LAUNCH(dev, "embedding_fwd",
              cuk_embedding_fwd(STREAM(dev), cu_i32(tokens), cu_f32(table), cu_f32(out),
                                dt_tensor_numel(tokens), table->shape[0], table->shape[1]));
}

dt_status cu_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                           const dt_tensor *dtable) {
    CU_LAUNCH(dev, "embedding_bwd",
              cuk_embedding_bwd(STREAM(dev), cu_i32(tokens), cu_f32(dout), cu_f32(dtable),
                                dt_tensor_numel(tokens), dtable->shape[0], dtable->shape[1]));
}

dt_status cu_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w, const dt_tensor *y,
                         const dt_tensor *rstd, int64_t rows, int64_t cols, float eps) {
    CU_LAUNCH(dev, "rmsnorm_fwd",
              cuk_rmsnorm_fwd(STREAM(dev), cu_f32(x), cu_f32(w), cu_f32(y), cu_f32(rstd), rows,
                              cols, eps));
}

dt_status cu_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                         const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                         const dt_tensor *dw, int64_t rows, int64_t cols) {
    CU_LAUNCH(dev, "rmsnorm_bwd",
              cuk_rmsnorm_bwd(STREAM(dev), cu_f32(x), cu_f32(w), cu_f32(rstd), cu_f32(dy),
                              cu_f32(dx), cu_f32(dw), rows, cols));
}

dt_status cu_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                  int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols, int inverse) {
    CU_LAUNCH(dev, inverse ? "rope_bwd" : "rope_fwd",
              cuk_rope(STREAM(dev), cu_f32(x), cu_f32(table), rows, width, seq_len, head_dim,
                       rot_cols, inverse));
}

static dt_status check_head_dim(dt_device *dev, const char *op, int64_t head_dim) {
    if (head_dim > CUK_ATTN_HEAD_DIM_MAX)
        return dt_error(DT_ERR_UNSUPPORTED, "%s: head_dim %lld on %s; the CUDA kernels take <= %d",
                        op, (long long)head_dim, dev->info.spec, CUK_ATTN_HEAD_DIM_MAX);
    return DT_OK;
}

dt_status cu_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                           const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                           int64_t head_dim, float scale) {
    dt_status st = check_head_dim(dev, "attention_fwd", head_dim);
    if (st != DT_OK) return st;
    CU_LAUNCH(dev, "attention_fwd",
              cuk_attention_fwd(STREAM(dev), cu_f32(qkv), cu_f32(out), cu_f32(lse), batch, seq_len,
                                n_heads, head_dim, scale));
}

dt_status cu_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                           const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                           const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                           int64_t n_heads, int64_t head_dim, float scale) {
    dt_status st = check_head_dim(dev, "attention_bwd", head_dim);
    if (st != DT_OK) return st;
    CU_LAUNCH(dev, "attention_bwd",
              cuk_attention_bwd(STREAM(dev), cu_f32(qkv), cu_f32(out), cu_f32(dout), cu_f32(lse),
                                cu_f32(dqkv), cu_f32(scratch), batch, seq_len, n_heads, head_dim,
                                scale));
}

dt_status cu_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                        int64_t f) {
    CU_LAUNCH(dev, "swiglu_fwd", cuk_swiglu_fwd(STREAM(dev), cu_f32(h), cu_f32(out), n, f));
}

dt_status cu_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                        const dt_tensor *dh, int64_t n, int64_t f) {
    CU_LAUNCH(dev, "swiglu_bwd",
              cuk_swiglu_bwd(STREAM(dev), cu_f32(h), cu_f32(dout), cu_f32(dh), n, f));
}

dt_status cu_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                 int64_t n) {
    CU_LAUNCH(dev, "add", cuk_add(STREAM(dev), cu_f32(a), cu_f32(b), cu_f32(y), n));
}

dt_status cu_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y, int64_t n) {
    CU_LAUNCH(dev, "scale", cuk_scale(STREAM(dev), cu_f32(x), alpha, cu_f32(y), n));
}

dt_status cu_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    CU_LAUNCH(dev, "fill", cuk_fill(STREAM(dev), cu_f32(y), value, n));
}

dt_status cu_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                          const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                          int64_t vocab, float grad_scale) {
    float *dl = dlogits && dlogits->buf ? cu_f32(dlogits) : NULL;
    CU_LAUNCH(dev, "softmax_xent",
              cuk_softmax_xent(STREAM(dev), cu_f32(logits), cu_i32(targets), cu_f32(losses), dl, n,
                               vocab, grad_scale));
}

dt_status cu_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    CU_LAUNCH(dev, "sum_squares",
              cuk_sum_squares(STREAM(dev), cu_f32(x), n, cu_dev(dev)->reduce_scratch, cu_f32(out)));
}

dt_status cu_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    CU_LAUNCH(
        dev, "check_finite",
        cuk_check_finite(STREAM(dev), cu_f32(x), n, cu_dev(dev)->reduce_scratch, cu_f32(out)));
}

dt_status cu_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                   const dt_tensor *v, int64_t n, const dt_adamw_params *hp) {
    CU_LAUNCH(dev, "adamw",
              cuk_adamw(STREAM(dev), cu_f32(p), cu_f32(g), cu_f32(m), cu_f32(v), n, hp->lr,
                        hp->beta1, hp->beta2, hp->eps, hp->weight_decay, hp->bias1, hp->bias2,
                        hp->grad_scale));
}

dt_status cu_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                           float beta, float lr) {
    CU_LAUNCH(dev, "demo_momentum",
              cuk_demo_momentum(STREAM(dev), cu_f32(d), cu_f32(g), n, beta, lr));
}

static cuk_tiles tiles_of(const dt_tile_plan *p) {
    cuk_tiles t = {p->cols, p->tile_rows, p->tile_cols, p->tiles_per_row, p->n_tiles, p->tile_size};
    return t;
}

dt_status cu_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                         const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    const cuk_tiles t = tiles_of(plan);
    if (cuk_demo_encode_smem(&t) > cu_dev(dev)->smem_optin)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "demo_encode: tiles of %lld x %lld need %zu bytes of shared memory; %s "
                        "offers %zu",
                        (long long)plan->tile_rows, (long long)plan->tile_cols,
                        cuk_demo_encode_smem(&t), dev->info.spec, cu_dev(dev)->smem_optin);
    CU_LAUNCH(dev, "demo_encode",
              cuk_demo_encode(STREAM(dev), &t, cu_f32(x), cu_f32(f1), cu_f32(f2), cu_f32(coeffs)));
}

dt_status cu_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size,
                       int64_t k, const dt_tensor *idx, const dt_tensor *vals) {
    CU_LAUNCH(dev, "demo_topk",
              cuk_demo_topk(STREAM(dev), cu_f32(coeffs), n_tiles, tile_size, k, cu_i32(idx),
                            cu_f32(vals)));
}

dt_status cu_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                             const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                             const dt_tensor *f2, const dt_tensor *d) {
    const cuk_tiles t = tiles_of(plan);
    CU_LAUNCH(dev, "demo_decode_sub",
              cuk_demo_decode_sub(STREAM(dev), &t, cu_i32(idx), cu_f32(vals), k, cu_f32(f1),
                                  cu_f32(f2), cu_f32(d)));
}

/* Tiles too large for one block's shared memory cannot run the device
 * kernel; the canonical update then goes through the host, which gives the
 * same bits by definition. */
dt_status cu_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                        const dt_tensor *vals, int64_t k, int64_t n_contrib, const dt_tensor *recip,
                        const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *w, float lr,
                        float decay, dt_demo_update update) {
    const cuk_tiles t = tiles_of(plan);
    if (cuk_demo_apply_smem(&t) > cu_dev(dev)->smem_optin)
        return dt_demo_apply_via_host(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay,
                                      update);
    CU_LAUNCH(dev, "demo_apply",
              cuk_demo_apply(STREAM(dev), &t, cu_i32(idx), cu_f32(vals), k, n_contrib,
                             cu_f32(recip), cu_f32(f1), cu_f32(f2), cu_f32(w), lr, decay,
                             update == DT_DEMO_UPDATE_SIGN));
}
