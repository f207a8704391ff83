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

/* One attention launch: the shape every kernel takes, and which grid. */
typedef struct attn_launch {
    ocl_device *d;
    const char *op;
    int64_t batch, seq_len, n_heads, head_dim;
    float scale;
} attn_launch;

/* The tiled kernels' shape (kernels/attention_tiled.cl): work-groups of
 * OCL_ATTN_TILE_ROWS rows with 8 work-items each, blocks of
 * OCL_ATTN_TILE_BLOCK rows, local rows head_dim + 1 floats apart. */
#define OCL_ATTN_TILE_ROWS  16
#define OCL_ATTN_TILE_BLOCK 8
#define OCL_ATTN_SCORES     (OCL_ATTN_TILE_ROWS * OCL_ATTN_TILE_BLOCK * sizeof(float))

/* T, H and head_dim, then the scale unless the kernel takes none. */
static void arg_shape(ocl_args *k, const attn_launch *a, bool scale) {
    ocl_arg_i32(k, (cl_int)a->seq_len);
    ocl_arg_i32(k, (cl_int)a->n_heads);
    ocl_arg_i32(k, (cl_int)a->head_dim);
    if (scale) ocl_arg_f32(k, a->scale);
}

/* rows x (head_dim + 1) floats of local memory */
static void arg_tile(ocl_args *k, const attn_launch *a, int rows) {
    ocl_arg_local(k, (size_t)rows * (size_t)(a->head_dim + 1) * sizeof(float));
}

/* A (T, B*H) grid: one work-item per row (CPU kernels), or work-groups of
 * OCL_ATTN_TILE_ROWS rows with 8 work-items each (tiled kernels). */
static dt_status run(ocl_args *k, const attn_launch *a) {
    size_t rows = (size_t)a->seq_len, wg = OCL_WG_ATTN;
    if (!a->d->cpu_paths) {
        wg = 8 * OCL_ATTN_TILE_ROWS;
        rows = (size_t)((a->seq_len + OCL_ATTN_TILE_ROWS - 1) / OCL_ATTN_TILE_ROWS) * wg;
    }
    size_t global[2] = {rows, (size_t)(a->batch * a->n_heads)}, local[2] = {wg, 1};
    return ocl_run(k, a->op, 2, global, local);
}

/* A gradient kernel with the arguments both paths' dq and dk/dv kernels
 * begin with: qkv, dout, lse, delta (scratch), dqkv, the shape and scale. */
static ocl_args grad_args(const attn_launch *a, ocl_kernel_id id, const dt_tensor *qkv,
                          const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *scratch,
                          const dt_tensor *dqkv) {
    ocl_args k = ocl_args_begin(a->d, id);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, lse);
    ocl_arg_view(&k, scratch);
    ocl_arg_view(&k, dqkv);
    arg_shape(&k, a, true);
    return k;
}

/* dq (with delta) and dk/dv, the tiled way. */
static dt_status attention_bwd_tiled(const attn_launch *a, const dt_tensor *qkv,
                                     const dt_tensor *out, const dt_tensor *dout,
                                     const dt_tensor *lse, const dt_tensor *dqkv,
                                     const dt_tensor *scratch) {
    ocl_args k = ocl_args_begin(a->d, OCL_K_ATTENTION_BWD_DQ_TILED);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, lse);
    ocl_arg_view(&k, scratch);
    ocl_arg_view(&k, dqkv);
    arg_shape(&k, a, true);
    arg_tile(&k, a, OCL_ATTN_TILE_ROWS);  /* queries */
    arg_tile(&k, a, OCL_ATTN_TILE_ROWS);  /* their output gradients */
    arg_tile(&k, a, OCL_ATTN_TILE_BLOCK); /* keys */
    arg_tile(&k, a, OCL_ATTN_TILE_BLOCK); /* values */
    ocl_arg_local(&k, OCL_ATTN_SCORES);
    ocl_arg_local(&k, 2 * OCL_ATTN_TILE_ROWS * sizeof(float)); /* lse and delta per row */
    OCL_TRY(run(&k, a));

    k = grad_args(a, OCL_K_ATTENTION_BWD_DKDV_TILED, qkv, dout, lse, scratch, dqkv);
    arg_tile(&k, a, OCL_ATTN_TILE_ROWS);                        /* keys */
    arg_tile(&k, a, OCL_ATTN_TILE_ROWS);                        /* values */
    arg_tile(&k, a, OCL_ATTN_TILE_BLOCK);                       /* queries */
    arg_tile(&k, a, OCL_ATTN_TILE_BLOCK);                       /* their output gradients */
    ocl_arg_local(&k, 2 * OCL_ATTN_SCORES);                     /* p and ds */
    ocl_arg_local(&k, 2 * OCL_ATTN_TILE_BLOCK * sizeof(float)); /* lse and delta per column */
    return run(&k, a);
}

dt_status ocl_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                            int64_t head_dim, float scale) {
    const attn_launch a = {ocl_dev(dev), "attention_fwd", batch, seq_len, n_heads, head_dim, scale};
    OCL_TRY(check_dims(a.d, a.op, batch, seq_len, n_heads, head_dim));
    const bool tiled = !a.d->cpu_paths;
    ocl_args k = ocl_args_begin(a.d, tiled ? OCL_K_ATTENTION_FWD_TILED : OCL_K_ATTENTION_FWD);
    ocl_arg_view(&k, qkv);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, lse);
    arg_shape(&k, &a, true);
    if (tiled) {
        arg_tile(&k, &a, OCL_ATTN_TILE_ROWS);  /* queries */
        arg_tile(&k, &a, OCL_ATTN_TILE_BLOCK); /* keys */
        arg_tile(&k, &a, OCL_ATTN_TILE_BLOCK); /* values */
        ocl_arg_local(&k, OCL_ATTN_SCORES);
    }
    return run(&k, &a);
}

dt_status ocl_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                            const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim, float scale) {
    const attn_launch a = {ocl_dev(dev), "attention_bwd", batch, seq_len, n_heads, head_dim, scale};
    OCL_TRY(check_dims(a.d, a.op, batch, seq_len, n_heads, head_dim));
    if (!a.d->cpu_paths) return attention_bwd_tiled(&a, qkv, out, dout, lse, dqkv, scratch);

    ocl_args k = ocl_args_begin(a.d, OCL_K_ATTENTION_BWD_DELTA);
    ocl_arg_view(&k, out);
    ocl_arg_view(&k, dout);
    ocl_arg_view(&k, scratch);
    arg_shape(&k, &a, false);
    OCL_TRY(run(&k, &a));
    const ocl_kernel_id grads[2] = {OCL_K_ATTENTION_BWD_DQ, OCL_K_ATTENTION_BWD_DKDV};
    for (int i = 0; i < 2; i++) {
        k = grad_args(&a, grads[i], qkv, dout, lse, scratch, dqkv);
        OCL_TRY(run(&k, &a));
    }
    return DT_OK;
}
