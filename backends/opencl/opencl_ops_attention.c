/* Fused causal attention: forward, and a backward whose every gradient
 * element has exactly one writer, so no atomics are needed. CPU paths
 * (kernels/attention.cl): one work-item per row, a backward in three kernels
 * (delta, dQ over keys, dK/dV over queries). GPU paths
 * (kernels/attention_tiled.cl): work-groups of rows with tiles in local
 * memory, a backward in two (dQ with delta, then dK/dV). */
#include <limits.h>

#include "backends/opencl/opencl_backend.h"

static dt_status check_dims(const ocl_device *d, const char *op, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim) {
    if (head_dim > OCL_ATTN_HEAD_DIM_MAX)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: head_dim %lld on %s (%s): the OpenCL kernels support heads of up to "
                        "%d",
                        op, (long long)head_dim, d->base.info.spec, d->base.info.name,
                        OCL_ATTN_HEAD_DIM_MAX);
    if (seq_len > INT_MAX / 2 || batch * n_heads > INT_MAX || n_heads * head_dim > INT_MAX / 3)
        return dt_error(DT_ERR_UNSUPPORTED, "%s: [B=%lld, T=%lld, H=%lld] too large on %s", op,
                        (long long)batch, (long long)seq_len, (long long)n_heads,
                        d->base.info.spec);
    return DT_OK;
}

static dt_status run_grid(ocl_args *k, const char *op, int64_t batch, int64_t seq_len,
                          int64_t n_heads) {
    size_t global[2] = {(size_t)seq_len, (size_t)(batch * n_heads)}, local[2] = {OCL_WG_ATTN, 1};
    return ocl_run(k, op, 2, global, local);
}

/* The tiled kernels' shape (kernels/attention_tiled.cl): work-groups of
 * OCL_ATTN_TILE_ROWS rows with 8 work-items each, blocks of
 * OCL_ATTN_TILE_BLOCK rows, local rows head_dim + 1 floats apart. */
#define OCL_ATTN_TILE_ROWS  16
#define OCL_ATTN_TILE_BLOCK 8

static dt_status run_tiled(ocl_args *k, const char *op, int64_t batch, int64_t seq_len,
                           int64_t n_heads) {
    const size_t wg = 8 * OCL_ATTN_TILE_ROWS;
    const size_t groups = (size_t)((seq_len + OCL_ATTN_TILE_ROWS - 1) / OCL_ATTN_TILE_ROWS);
    size_t global[2] = {groups * wg, (size_t)(batch * n_heads)}, local[2] = {wg, 1};
    return ocl_run(k, op, 2, global, local);
}

/* rows x (head_dim + 1) floats of local memory */
static void arg_tile(ocl_args *k, int rows, int64_t head_dim) {
    ocl_arg_local(k, (size_t)rows * (size_t)(head_dim + 1) * sizeof(float));
}

static dt_status attention_fwd_tiled(ocl_device *d, const dt_tensor *qkv, const dt_tensor *out,
                                     const dt_tensor *lse, int64_t batch, int64_t seq_len,
                                     int64_t n_heads, int64_t head_dim, float scale) {
    ocl_args k = ocl_args_begin(d, OCL_K_ATTENTION_FWD_TILED);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, lse);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)n_heads);
    ocl_arg_i32(&k, (cl_int)head_dim);
    ocl_arg_f32(&k, scale);
    arg_tile(&k, OCL_ATTN_TILE_ROWS, head_dim);  /* queries */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim); /* keys */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim); /* values */
    ocl_arg_local(&k, OCL_ATTN_TILE_ROWS * OCL_ATTN_TILE_BLOCK * sizeof(float));
    return run_tiled(&k, "attention_fwd", batch, seq_len, n_heads);
}

static dt_status attention_bwd_tiled(ocl_device *d, const dt_tensor *qkv, const dt_tensor *out,
                                     const dt_tensor *dout, const dt_tensor *lse,
                                     const dt_tensor *dqkv, const dt_tensor *scratch, int64_t batch,
                                     int64_t seq_len, int64_t n_heads, int64_t head_dim,
                                     float scale) {
    const char *op = "attention_bwd";
    const size_t scores = OCL_ATTN_TILE_ROWS * OCL_ATTN_TILE_BLOCK * sizeof(float);
    ocl_args k = ocl_args_begin(d, OCL_K_ATTENTION_BWD_DQ_TILED);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, lse);
    ocl_arg_view(&k, scratch);
    ocl_arg_view(&k, dqkv);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)n_heads);
    ocl_arg_i32(&k, (cl_int)head_dim);
    ocl_arg_f32(&k, scale);
    arg_tile(&k, OCL_ATTN_TILE_ROWS, head_dim);  /* queries */
    arg_tile(&k, OCL_ATTN_TILE_ROWS, head_dim);  /* their output gradients */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim); /* keys */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim); /* values */
    ocl_arg_local(&k, scores);
    ocl_arg_local(&k, 2 * OCL_ATTN_TILE_ROWS * sizeof(float)); /* lse and delta per row */
    OCL_TRY(run_tiled(&k, op, batch, seq_len, n_heads));

    k = ocl_args_begin(d, OCL_K_ATTENTION_BWD_DKDV_TILED);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, lse);
    ocl_arg_view(&k, scratch);
    ocl_arg_view(&k, dqkv);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)n_heads);
    ocl_arg_i32(&k, (cl_int)head_dim);
    ocl_arg_f32(&k, scale);
    arg_tile(&k, OCL_ATTN_TILE_ROWS, head_dim);                 /* keys */
    arg_tile(&k, OCL_ATTN_TILE_ROWS, head_dim);                 /* values */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim);                /* queries */
    arg_tile(&k, OCL_ATTN_TILE_BLOCK, head_dim);                /* their output gradients */
    ocl_arg_local(&k, 2 * scores);                              /* p and ds */
    ocl_arg_local(&k, 2 * OCL_ATTN_TILE_BLOCK * sizeof(float)); /* lse and delta per column */
    return run_tiled(&k, op, batch, seq_len, n_heads);
}

dt_status ocl_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                            int64_t head_dim, float scale) {
    ocl_device *d = ocl_dev(dev);
    OCL_TRY(check_dims(d, "attention_fwd", batch, seq_len, n_heads, head_dim));
    if (!d->cpu_paths)
        return attention_fwd_tiled(d, qkv, out, lse, batch, seq_len, n_heads, head_dim, scale);
    ocl_args k = ocl_args_begin(d, OCL_K_ATTENTION_FWD);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, lse);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)n_heads);
    ocl_arg_i32(&k, (cl_int)head_dim);
    ocl_arg_f32(&k, scale);
    return run_grid(&k, "attention_fwd", batch, seq_len, n_heads);
}

dt_status ocl_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                            const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim, float scale) {
    ocl_device *d = ocl_dev(dev);
    const char *op = "attention_bwd";
    OCL_TRY(check_dims(d, op, batch, seq_len, n_heads, head_dim));
    if (!d->cpu_paths)
        return attention_bwd_tiled(d, qkv, out, dout, lse, dqkv, scratch, batch, seq_len, n_heads,
                                   head_dim, scale);

    ocl_args k = ocl_args_begin(d, OCL_K_ATTENTION_BWD_DELTA);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, scratch);
    ocl_arg_i32(&k, (cl_int)seq_len);
    ocl_arg_i32(&k, (cl_int)n_heads);
    ocl_arg_i32(&k, (cl_int)head_dim);
    OCL_TRY(run_grid(&k, op, batch, seq_len, n_heads));

    const ocl_kernel_id grads[2] = {OCL_K_ATTENTION_BWD_DQ, OCL_K_ATTENTION_BWD_DKDV};
    for (int i = 0; i < 2; i++) {
        k = ocl_args_begin(d, grads[i]);
        ocl_arg_view(&k, qkv);
        ocl_arg_view(&k, dout);
        ocl_arg_view(&k, lse);
        ocl_arg_view(&k, scratch);
        ocl_arg_view(&k, dqkv);
        ocl_arg_i32(&k, (cl_int)seq_len);
        ocl_arg_i32(&k, (cl_int)n_heads);
        ocl_arg_i32(&k, (cl_int)head_dim);
        ocl_arg_f32(&k, scale);
        OCL_TRY(run_grid(&k, op, batch, seq_len, n_heads));
    }
    return DT_OK;
}
