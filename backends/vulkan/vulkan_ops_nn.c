/* Transformer ops other than GEMM and attention: embedding, RMSNorm, RoPE,
 * SwiGLU and the fused softmax cross-entropy. Each is one or two dispatches;
 * the shaders say how they stay deterministic. */
#include "backends/vulkan/vulkan_backend.h"

/* A per-row reduction over `cols`: the shader variant and its workgroup
 * size. CPU devices take one subgroup per row (the _sg variants); GPUs a
 * power of two no wider than the row needs. */
typedef struct row_shape {
    vk_shader_id shader;
    uint32_t wg;
} row_shape;

static row_shape row_reduction(const vk_device *d, vk_shader_id gpu, vk_shader_id cpu,
                               int64_t cols) {
    if (d->cpu_kernels) return (row_shape){cpu, d->subgroup_size};
    /* Vulkan promises only 128 invocations per workgroup. */
    uint32_t wg = 32;
    while (wg < 256 && wg < cols && wg * 2 <= d->limits.maxComputeWorkGroupInvocations) wg *= 2;
    return (row_shape){gpu, wg};
}

dt_status vk_op_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                              const dt_tensor *out) {
    int64_t n = dt_tensor_numel(tokens), dim = table->shape[1];
    struct {
        uint32_t n, dim, vocab;
    } p = {(uint32_t)n, (uint32_t)dim, (uint32_t)table->shape[0]};
    vk_arg args[3] = {vk_in(tokens), vk_in(table), vk_out(out)};
    return vk_dispatch(vk_dev(dev), "embedding_fwd", VK_SH_embedding_fwd, NULL, 0, args, 3, &p,
                       sizeof p, vk_groups(dim, 64), vk_groups(n, 1), 1);
}

dt_status vk_op_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                              const dt_tensor *dtable) {
    int64_t n = dt_tensor_numel(tokens), dim = dtable->shape[1];
    /* Columns times vocabulary groups is the parallelism; each group rescans
     * the tokens, so a CPU device, with few lanes to fill, takes one (the
     * CPU kernel variants; kernels=gpu takes the GPU's many on any device). */
    int64_t groups = vk_dev(dev)->cpu_kernels ? 1 : (4096 + dim - 1) / dim;
    if (groups > dtable->shape[0]) groups = dtable->shape[0];
    if (groups < 1) groups = 1;
    struct {
        uint32_t n, dim, vocab, groups;
    } p = {(uint32_t)n, (uint32_t)dim, (uint32_t)dtable->shape[0], (uint32_t)groups};
    vk_arg args[3] = {vk_in(tokens), vk_in(dout), vk_out(dtable)};
    return vk_dispatch(vk_dev(dev), "embedding_bwd", VK_SH_embedding_bwd, NULL, 0, args, 3, &p,
                       sizeof p, vk_groups(dim * groups, 64), 1, 1);
}

dt_status vk_op_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                            const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                            float eps) {
    vk_device *d = vk_dev(dev);
    row_shape rs = row_reduction(d, VK_SH_rmsnorm_fwd, VK_SH_rmsnorm_fwd_sg, cols);
    struct {
        uint32_t rows, cols;
        float eps;
    } p = {(uint32_t)rows, (uint32_t)cols, eps};
    vk_arg args[4] = {vk_in(x), vk_in(w), vk_out(y), vk_out(rstd)};
    return vk_dispatch(d, "rmsnorm_fwd", rs.shader, &rs.wg, 1, args, 4, &p, sizeof p,
                       vk_groups(rows, 1), 1, 1);
}

dt_status vk_op_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                            const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                            const dt_tensor *dw, int64_t rows, int64_t cols) {
    vk_device *d = vk_dev(dev);
    struct {
        uint32_t rows, cols;
    } p = {(uint32_t)rows, (uint32_t)cols};
    /* dw first: dx may overwrite dy. */
    vk_arg dw_args[4] = {vk_in(x), vk_in(rstd), vk_in(dy), vk_out(dw)};
    dt_status st = vk_dispatch(d, "rmsnorm_bwd", VK_SH_rmsnorm_bwd_dw, NULL, 0, dw_args, 4, &p,
                               sizeof p, vk_groups(cols, 64), 1, 1);
    if (st != DT_OK) return st;
    /* Doubles where the device has them: the two terms of dx cancel. */
    bool f64 = d->use_f64;
    row_shape rs = row_reduction(d, f64 ? VK_SH_rmsnorm_bwd_dx_f64 : VK_SH_rmsnorm_bwd_dx,
                                 f64 ? VK_SH_rmsnorm_bwd_dx_f64_sg : VK_SH_rmsnorm_bwd_dx_sg, cols);
    vk_arg dx_args[5] = {vk_in(x), vk_in(w), vk_in(rstd), vk_in(dy), vk_out(dx)};
    return vk_dispatch(d, "rmsnorm_bwd", rs.shader, &rs.wg, 1, dx_args, 5, &p, sizeof p,
                       vk_groups(rows, 1), 1, 1);
}

dt_status vk_op_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                     int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                     int inverse) {
    struct {
        uint32_t rows, width, seq_len, head_dim, rot_cols, inverse;
    } p = {(uint32_t)rows,     (uint32_t)width,    (uint32_t)seq_len,
           (uint32_t)head_dim, (uint32_t)rot_cols, (uint32_t)(inverse != 0)};
    vk_arg args[2] = {vk_out(x), vk_in(table)};
    return vk_dispatch(vk_dev(dev), inverse ? "rope_bwd" : "rope_fwd", VK_SH_rope, NULL, 0, args, 2,
                       &p, sizeof p, vk_groups(head_dim / 2, 32), vk_groups(rows, 1), 1);
}

dt_status vk_op_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                           int64_t f) {
    struct {
        uint32_t n, f;
    } p = {(uint32_t)n, (uint32_t)f};
    vk_arg args[2] = {vk_in(h), vk_out(out)};
    return vk_dispatch(vk_dev(dev), "swiglu_fwd", VK_SH_swiglu_fwd, NULL, 0, args, 2, &p, sizeof p,
                       vk_groups(f, 64), vk_groups(n, 1), 1);
}

dt_status vk_op_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                           const dt_tensor *dh, int64_t n, int64_t f) {
    struct {
        uint32_t n, f;
    } p = {(uint32_t)n, (uint32_t)f};
    vk_arg args[3] = {vk_in(h), vk_in(dout), vk_out(dh)};
    return vk_dispatch(vk_dev(dev), "swiglu_bwd", VK_SH_swiglu_bwd, NULL, 0, args, 3, &p, sizeof p,
                       vk_groups(f, 64), vk_groups(n, 1), 1);
}

dt_status vk_op_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                             const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                             int64_t vocab, float grad_scale) {
    vk_device *d = vk_dev(dev);
    row_shape rs = row_reduction(d, VK_SH_softmax_xent, VK_SH_softmax_xent_sg, vocab);
    struct {
        uint32_t n, vocab, has_grad;
        float grad_scale;
    } p = {(uint32_t)n, (uint32_t)vocab, dlogits != NULL, grad_scale};
    /* Without dlogits the shader never touches binding 3; any buffer will
     * do there, bound read-only so it creates no false dependency. */
    vk_arg args[4] = {vk_in(logits), vk_in(targets), vk_out(losses),
                      dlogits ? vk_out(dlogits) : vk_in(logits)};
    return vk_dispatch(d, "softmax_xent", rs.shader, &rs.wg, 1, args, 4, &p, sizeof p,
                       vk_groups(n, 1), 1, 1);
}
