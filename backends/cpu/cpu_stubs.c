/* Temporary placeholders so the tree links while the CPU ops are written.
 * Each function here is deleted as its real implementation lands. */
#include "backends/cpu/cpu_backend.h"
dt_status cpu_gemm(dt_device *dev, const dt_gemm_desc *d, const dt_tensor *a, const dt_tensor *b,
                   const dt_tensor *c) {
    (void)dev;
    (void)d;
    (void)a;
    (void)b;
    (void)c;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_gemm: pending");
}

dt_status cpu_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                            const dt_tensor *out) {
    (void)dev;
    (void)tokens;
    (void)table;
    (void)out;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_embedding_fwd: pending");
}

dt_status cpu_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                            const dt_tensor *dtable) {
    (void)dev;
    (void)tokens;
    (void)dout;
    (void)dtable;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_embedding_bwd: pending");
}

dt_status cpu_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                          float eps) {
    (void)dev;
    (void)x;
    (void)w;
    (void)y;
    (void)rstd;
    (void)rows;
    (void)cols;
    (void)eps;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_rmsnorm_fwd: pending");
}

dt_status cpu_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                          const dt_tensor *dw, int64_t rows, int64_t cols) {
    (void)dev;
    (void)x;
    (void)w;
    (void)rstd;
    (void)dy;
    (void)dx;
    (void)dw;
    (void)rows;
    (void)cols;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_rmsnorm_bwd: pending");
}

dt_status cpu_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                   int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                   int inverse) {
    (void)dev;
    (void)x;
    (void)table;
    (void)rows;
    (void)width;
    (void)seq_len;
    (void)head_dim;
    (void)rot_cols;
    (void)inverse;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_rope: pending");
}

dt_status cpu_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                         int64_t f) {
    (void)dev;
    (void)h;
    (void)out;
    (void)n;
    (void)f;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_swiglu_fwd: pending");
}

dt_status cpu_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                         const dt_tensor *dh, int64_t n, int64_t f) {
    (void)dev;
    (void)h;
    (void)dout;
    (void)dh;
    (void)n;
    (void)f;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_swiglu_bwd: pending");
}

dt_status cpu_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                           const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                           int64_t vocab, float grad_scale) {
    (void)dev;
    (void)logits;
    (void)targets;
    (void)losses;
    (void)dlogits;
    (void)n;
    (void)vocab;
    (void)grad_scale;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_softmax_xent: pending");
}

dt_status cpu_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                            int64_t head_dim, float scale) {
    (void)dev;
    (void)qkv;
    (void)out;
    (void)lse;
    (void)batch;
    (void)seq_len;
    (void)n_heads;
    (void)head_dim;
    (void)scale;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_attention_fwd: pending");
}

dt_status cpu_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                            const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim, float scale) {
    (void)dev;
    (void)qkv;
    (void)out;
    (void)dout;
    (void)lse;
    (void)dqkv;
    (void)scratch;
    (void)batch;
    (void)seq_len;
    (void)n_heads;
    (void)head_dim;
    (void)scale;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_attention_bwd: pending");
}

dt_status cpu_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                  int64_t n) {
    (void)dev;
    (void)a;
    (void)b;
    (void)y;
    (void)n;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_add: pending");
}

dt_status cpu_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y,
                    int64_t n) {
    (void)dev;
    (void)x;
    (void)alpha;
    (void)y;
    (void)n;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_scale: pending");
}

dt_status cpu_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    (void)dev;
    (void)y;
    (void)value;
    (void)n;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_fill: pending");
}

dt_status cpu_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    (void)dev;
    (void)x;
    (void)out;
    (void)n;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_sum_squares: pending");
}

dt_status cpu_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    (void)dev;
    (void)x;
    (void)out;
    (void)n;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_check_finite: pending");
}

dt_status cpu_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                    const dt_tensor *v, int64_t n, const dt_adamw_params *params) {
    (void)dev;
    (void)p;
    (void)g;
    (void)m;
    (void)v;
    (void)n;
    (void)params;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_adamw: pending");
}

dt_status cpu_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                            float beta, float lr) {
    (void)dev;
    (void)d;
    (void)g;
    (void)n;
    (void)beta;
    (void)lr;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_demo_momentum: pending");
}

dt_status cpu_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                          const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    (void)dev;
    (void)plan;
    (void)x;
    (void)f1;
    (void)f2;
    (void)coeffs;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_demo_encode: pending");
}

dt_status cpu_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles,
                        int64_t tile_size, int64_t k, const dt_tensor *idx, const dt_tensor *vals) {
    (void)dev;
    (void)coeffs;
    (void)n_tiles;
    (void)tile_size;
    (void)k;
    (void)idx;
    (void)vals;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_demo_topk: pending");
}

dt_status cpu_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                              const dt_tensor *f2, const dt_tensor *d) {
    (void)dev;
    (void)plan;
    (void)idx;
    (void)vals;
    (void)k;
    (void)f1;
    (void)f2;
    (void)d;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_demo_decode_sub: pending");
}

dt_status cpu_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                         const dt_tensor *vals, int64_t k, int64_t n_contrib,
                         const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                         const dt_tensor *w, float lr, float decay) {
    (void)dev;
    (void)plan;
    (void)idx;
    (void)vals;
    (void)k;
    (void)n_contrib;
    (void)recip;
    (void)f1;
    (void)f2;
    (void)w;
    (void)lr;
    (void)decay;
    return dt_error(DT_ERR_UNSUPPORTED, "cpu_demo_apply: pending");
}

