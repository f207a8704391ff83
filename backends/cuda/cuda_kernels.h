/* The CUDA kernels' launchers: plain C entry points defined in the .cu files
 * (compiled by nvcc) and called from the C side of the backend, which turns
 * their cudaError_t into a dt_status naming the op and the device.
 *
 * Pointers are device pointers already offset to the view; sizes are
 * element counts. Every launcher enqueues on `s` and returns
 * cudaGetLastError() (the launch itself; faults surface at the next sync). */
#ifndef DISTRO_CUDA_KERNELS_H
#define DISTRO_CUDA_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reductions run on a fixed grid, so their summation tree (and result) does
 * not depend on the GPU: cuk_reduce_scratch_floats() floats of scratch. */
#define CUK_REDUCE_BLOCKS 64
#define CUK_THREADS       256
/* Attention keeps one head's row in registers, 32 lanes x 8 (llama-1b has
 * heads of 256). */
#define CUK_ATTN_HEAD_DIM_MAX 256

/* ---- elementwise and reductions (cuda_elementwise.cu) ---- */
/* cudaSuccess when the current device can run this build's kernels;
 * cudaErrorNoKernelImageForDevice when no architecture it was compiled for
 * fits the device. */
cudaError_t cuk_kernel_image(void);
cudaError_t cuk_add(cudaStream_t s, const float *a, const float *b, float *y, int64_t n);
cudaError_t cuk_scale(cudaStream_t s, const float *x, float alpha, float *y, int64_t n);
cudaError_t cuk_fill(cudaStream_t s, float *y, float value, int64_t n);
cudaError_t cuk_adamw(cudaStream_t s, float *p, const float *g, float *m, float *v, int64_t n,
                      float lr, float beta1, float beta2, float eps, float weight_decay,
                      float bias1, float bias2, float grad_scale);
cudaError_t cuk_demo_momentum(cudaStream_t s, float *d, const float *g, int64_t n, float beta,
                              float lr);
/* out[0] = sum of squares (double partials, fixed tree); scratch holds
 * CUK_REDUCE_BLOCKS doubles. */
cudaError_t cuk_sum_squares(cudaStream_t s, const float *x, int64_t n, double *scratch, float *out);
/* out[0] = 1 when every element is finite, else 0. */
cudaError_t cuk_check_finite(cudaStream_t s, const float *x, int64_t n, double *scratch,
                             float *out);

/* ---- row ops (cuda_nn.cu) ---- */
cudaError_t cuk_embedding_fwd(cudaStream_t s, const int32_t *tok, const float *table, float *out,
                              int64_t n, int64_t vocab, int64_t dim);
cudaError_t cuk_embedding_bwd(cudaStream_t s, const int32_t *tok, const float *dout, float *dtable,
                              int64_t n, int64_t vocab, int64_t dim);
cudaError_t cuk_rmsnorm_fwd(cudaStream_t s, const float *x, const float *w, float *y, float *rstd,
                            int64_t rows, int64_t cols, float eps);
cudaError_t cuk_rmsnorm_bwd(cudaStream_t s, const float *x, const float *w, const float *rstd,
                            const float *dy, float *dx, float *dw, int64_t rows, int64_t cols);
cudaError_t cuk_rope(cudaStream_t s, float *x, const float *table, int64_t rows, int64_t width,
                     int64_t seq_len, int64_t head_dim, int64_t rot_cols, int inverse);
cudaError_t cuk_swiglu_fwd(cudaStream_t s, const float *h, float *out, int64_t n, int64_t f);
cudaError_t cuk_swiglu_bwd(cudaStream_t s, const float *h, const float *dout, float *dh, int64_t n,
                           int64_t f);
/* dlogits may be NULL (forward only) or alias logits. */
cudaError_t cuk_softmax_xent(cudaStream_t s, const float *logits, const int32_t *targets,
                             float *losses, float *dlogits, int64_t n, int64_t vocab,
                             float grad_scale);

/* ---- attention (cuda_attention.cu) ---- */
cudaError_t cuk_attention_fwd(cudaStream_t s, const float *qkv, float *out, float *lse,
                              int64_t batch, int64_t seq_len, int64_t n_heads, int64_t head_dim,
                              float scale);
cudaError_t cuk_attention_bwd(cudaStream_t s, const float *qkv, const float *out, const float *dout,
                              const float *lse, float *dqkv, float *delta, int64_t batch,
                              int64_t seq_len, int64_t n_heads, int64_t head_dim, float scale);

/* ---- DeMo (cuda_demo.cu) ----
 * The tile geometry, as in dt_tile_plan. */
typedef struct cuk_tiles {
    int64_t cols, tile_rows, tile_cols, tiles_per_row, n_tiles, tile_size;
} cuk_tiles;

/* Bytes of shared memory a launcher needs per block, so the C side can
 * refuse (or take the host path) before launching. */
size_t cuk_demo_encode_smem(const cuk_tiles *t);
size_t cuk_demo_apply_smem(const cuk_tiles *t);
cudaError_t cuk_demo_encode(cudaStream_t s, const cuk_tiles *t, const float *x, const float *f1,
                            const float *f2, float *coeffs);
cudaError_t cuk_demo_topk(cudaStream_t s, const float *coeffs, int64_t n_tiles, int64_t tile_size,
                          int64_t k, int32_t *idx, float *vals);
cudaError_t cuk_demo_decode_sub(cudaStream_t s, const cuk_tiles *t, const int32_t *idx,
                                const float *vals, int64_t k, const float *f1, const float *f2,
                                float *d);
cudaError_t cuk_demo_apply(cudaStream_t s, const cuk_tiles *t, const int32_t *idx,
                           const float *vals, int64_t k, int64_t n_contrib, const float *recip,
                           const float *f1, const float *f2, float *w, float lr, float decay,
                           int sign);

#ifdef __cplusplus
}
#endif
#endif
