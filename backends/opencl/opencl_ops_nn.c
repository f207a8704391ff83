/* Embedding, RMSNorm, RoPE, SwiGLU and softmax cross-entropy (kernels/nn.cl). */
#include <limits.h>

#include "backends/opencl/opencl_backend.h"

/* Column kernels (one item per column, looping over rows) use small groups
 * so that even a narrow model spreads over several compute units. */
#define OCL_WG_COLUMN 16

dt_status ocl_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                            const dt_tensor *out) {
    int64_t n = dt_tensor_numel(tokens), vocab = table->shape[0], dim = table->shape[1];
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_EMBEDDING_FWD);
    ocl_arg_view(&k, tokens);
    ocl_arg_view(&k, table);
    ocl_arg_view(&k, out);
    ocl_arg_i64(&k, n);
    ocl_arg_i64(&k, dim);
    ocl_arg_i64(&k, vocab);
    size_t global[2] = {(size_t)dim, (size_t)n}, local[2] = {OCL_WG_1D, 1};
    return ocl_run(&k, "embedding_fwd", 2, global, local);
}

dt_status ocl_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                            const dt_tensor *dtable) {
    int64_t n = dt_tensor_numel(tokens), vocab = dtable->shape[0], dim = dtable->shape[1];
    /* Each bucket scans every token, so buckets only pay where idle lanes
     * cost more than scanning: thousands of work-items on a GPU, a few per
     * core on a CPU device. */
    int64_t target = ocl_dev(dev)->cpu_paths ? 16 * (int64_t)dev->info.compute_units : 16384;
    int64_t buckets = target / (dim < 1 ? 1 : dim);
    if (buckets > 64) buckets = 64;
    if (buckets > vocab) buckets = vocab;
    if (buckets < 1) buckets = 1;
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_EMBEDDING_BWD);
    ocl_arg_view(&k, tokens);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, dtable);
    ocl_arg_i64(&k, n);
    ocl_arg_i64(&k, dim);
    ocl_arg_i64(&k, vocab);
    ocl_arg_i32(&k, (cl_int)buckets);
    size_t global[2] = {(size_t)dim, (size_t)buckets}, local[2] = {OCL_WG_COLUMN, 1};
    return ocl_run(&k, "embedding_bwd", 2, global, local);
}

dt_status ocl_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                          float eps) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_RMSNORM_FWD);
    ocl_arg_view(&k, x);
    ocl_arg_view(&k, w);
    ocl_arg_view(&k, y);
    ocl_arg_view(&k, rstd);
    ocl_arg_i64(&k, cols);
    ocl_arg_f32(&k, eps);
    return ocl_run_1d(&k, "rmsnorm_fwd", (size_t)rows * OCL_WG_ROW, OCL_WG_ROW);
}

dt_status ocl_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                          const dt_tensor *dw, int64_t rows, int64_t cols) {
    ocl_device *d = ocl_dev(dev);
    /* dw first: dx may alias dy, which dw still needs. */
    ocl_args k = ocl_args_begin(d, OCL_K_RMSNORM_BWD_DW);
    ocl_arg_view(&k, x);
    ocl_arg_view(&k, rstd);
    ocl_arg_view(&k, dy);
    ocl_arg_view(&k, dw);
    ocl_arg_i64(&k, rows);
    ocl_arg_i64(&k, cols);
    dt_status st = ocl_run_1d(&k, "rmsnorm_bwd", (size_t)cols, OCL_WG_COLUMN);
    if (st != DT_OK) return st;
    k = ocl_args_begin(d, OCL_K_RMSNORM_BWD_DX);
    ocl_arg_view(&k, x);
    ocl_arg_view(&k, w);
    ocl_arg_view(&k, rstd);
    ocl_arg_view(&k, dy);
    ocl_arg_view(&k, dx);
    ocl_arg_i64(&k, cols);
    return ocl_run_1d(&k, "rmsnorm_bwd", (size_t)rows * OCL_WG_ROW, OCL_WG_ROW);
}

dt_status ocl_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                   int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                   int inverse) {
    const char *op = inverse ? "rope_bwd" : "rope_fwd";
    if (seq_len > INT_MAX / head_dim || rot_cols > INT_MAX)
        return dt_error(DT_ERR_UNSUPPORTED, "%s: table of %lld x %lld too large on %s", op,
                        (long long)seq_len, (long long)head_dim, dev->info.spec);
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_ROPE);
    ocl_arg_view(&k, x);
    ocl_arg_view(&k, table);
    ocl_arg_i64(&k, width);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)head_dim);
    ocl_arg_i32(&k, (cl_int)(rot_cols / 2));
    ocl_arg_i32(&k, inverse);
    size_t global[2] = {(size_t)(rot_cols / 2), (size_t)rows}, local[2] = {OCL_WG_1D, 1};
    return ocl_run(&k, op, 2, global, local);
}

/* SwiGLU runs on an (f, n) grid: no 64-bit division per element. */
static dt_status swiglu(dt_device *dev, ocl_kernel_id id, const char *op, const dt_tensor *h,
                        const dt_tensor *in2, const dt_tensor *out, int64_t n, int64_t f) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), id);
    ocl_arg_view(&k, h);
    if (in2) ocl_arg_view(&k, in2);
    ocl_arg_view(&k, out);
    ocl_arg_i64(&k, f);
    size_t global[2] = {(size_t)f, (size_t)n}, local[2] = {OCL_WG_1D, 1};
    return ocl_run(&k, op, 2, global, local);
}

dt_status ocl_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                         int64_t f) {
    return swiglu(dev, OCL_K_SWIGLU_FWD, "swiglu_fwd", h, NULL, out, n, f);
}

dt_status ocl_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                         const dt_tensor *dh, int64_t n, int64_t f) {
    return swiglu(dev, OCL_K_SWIGLU_BWD, "swiglu_bwd", h, dout, dh, n, f);
}

dt_status ocl_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                           const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                           int64_t vocab, float grad_scale) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_SOFTMAX_XENT);
    ocl_arg_view(&k, logits);
    ocl_arg_view(&k, targets);
    ocl_arg_view(&k, losses);
    /* Forward only: the kernel never touches dlogits; any valid buffer fills
     * the argument. */
    ocl_arg_view(&k, dlogits ? dlogits : logits);
    ocl_arg_i64(&k, vocab);
    ocl_arg_f32(&k, grad_scale);
    ocl_arg_i32(&k, dlogits != NULL);
    return ocl_run_1d(&k, "softmax_xent", (size_t)n * OCL_WG_ROW, OCL_WG_ROW);
}
