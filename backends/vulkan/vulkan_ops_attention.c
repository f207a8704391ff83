/* Fused causal attention: one forward dispatch, two backward dispatches (a
 * query-side pass for dq and the per-row dot(dout, out), then a key-side
 * pass for dk and dv), so no value is ever summed by two invocations at
 * once and the results are the same on every run.
 *
 * The head dimension is a specialisation constant (it sizes the shared tiles
 * and per-thread accumulators), so each head size gets its own pipeline,
 * built on first use. */
#include "backends/vulkan/vulkan_backend.h"

typedef struct attn_shape {
    bool sg;          /* the _sg variants (CPU devices): spec = subgroup, head_dim */
    uint32_t spec[4]; /* threads, head_dim, rows per workgroup, rows per shared block */
    int n_spec;
    uint32_t groups; /* workgroups along the sequence */
} attn_shape;

/* The GPU shaders (attention_tile.glsl): BR rows per workgroup with
 * VK_ATTN_TPR threads each, blocks of BC rows. Shared memory holds at most four padded
 * [rows, head_dim + 1] tiles (BR of its own rows, BC streamed), two
 * [BR, BC] score tiles and two short vectors (the backward key side; the
 * other passes need less); the largest tiles that fit the device's shared
 * memory and workgroup size are taken. */
bool vk_attention_tiles(const VkPhysicalDeviceLimits *lim, int64_t head_dim, uint32_t *rows,
                        uint32_t *block) {
    /* The last fits Vulkan's minimum of 16 KiB at head_dim 128 (V3DV, the
     * Raspberry Pi's driver, offers no more). */
    static const uint32_t tiles[][2] = {{32, 32}, {32, 16}, {16, 16}, {16, 8}, {8, 8}, {4, 8}};
    const int64_t floats = (int64_t)lim->maxComputeSharedMemorySize / 4;
    const uint32_t max_threads =
        lim->maxComputeWorkGroupInvocations < lim->maxComputeWorkGroupSize[0]
            ? lim->maxComputeWorkGroupInvocations
            : lim->maxComputeWorkGroupSize[0];
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        const int64_t br = tiles[i][0], bc = tiles[i][1];
        const int64_t need = 2 * (br + bc) * (head_dim + 1) + 2 * br * bc + 2 * (br + bc);
        if (need > floats || VK_ATTN_TPR * br > max_threads) continue;
        *rows = (uint32_t)br;
        *block = (uint32_t)bc;
        return true;
    }
    return false;
}

static dt_status attention_shape(const vk_device *d, const char *op, int64_t seq_len,
                                 int64_t head_dim, attn_shape *s) {
    if (d->cpu_kernels && head_dim % d->subgroup_size == 0) {
        const uint32_t sg = d->subgroup_size;
        *s = (attn_shape){true, {sg, (uint32_t)head_dim}, 2, (uint32_t)((seq_len + sg - 1) / sg)};
        return DT_OK;
    }
    uint32_t br, bc;
    if (!vk_attention_tiles(&d->limits, head_dim, &br, &bc))
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: head_dim %lld needs more shared memory than the %u bytes of %s", op,
                        (long long)head_dim, d->limits.maxComputeSharedMemorySize,
                        d->base.info.spec);
    *s = (attn_shape){false,
                      {VK_ATTN_TPR * br, (uint32_t)head_dim, br, bc},
                      4,
                      (uint32_t)((seq_len + br - 1) / br)};
    return DT_OK;
}

typedef struct attn_params {
    uint32_t T, H, D;
    float scale;
} attn_params;

dt_status vk_op_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                              const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                              int64_t head_dim, float scale) {
    vk_device *d = vk_dev(dev);
    attn_shape s;
    dt_status st = attention_shape(d, "attention_fwd", seq_len, head_dim, &s);
    if (st != DT_OK) return st;
    attn_params p = {(uint32_t)seq_len, (uint32_t)n_heads, (uint32_t)(n_heads * head_dim), scale};
    vk_arg args[3] = {vk_in(qkv), vk_out(out), vk_out(lse)};
    return vk_dispatch(d, "attention_fwd", s.sg ? VK_SH_attention_fwd_sg : VK_SH_attention_fwd,
                       s.spec, s.n_spec, args, 3, &p, sizeof p, s.groups, (uint32_t)n_heads,
                       (uint32_t)batch);
}

dt_status vk_op_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                              const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                              const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                              int64_t n_heads, int64_t head_dim, float scale) {
    vk_device *d = vk_dev(dev);
    attn_shape s;
    dt_status st = attention_shape(d, "attention_bwd", seq_len, head_dim, &s);
    if (st != DT_OK) return st;
    attn_params p = {(uint32_t)seq_len, (uint32_t)n_heads, (uint32_t)(n_heads * head_dim), scale};
    vk_arg q_args[6] = {vk_in(qkv), vk_in(out),   vk_in(dout),
                        vk_in(lse), vk_out(dqkv), vk_out(scratch)};
    st = vk_dispatch(d, "attention_bwd", s.sg ? VK_SH_attention_bwd_dq_sg : VK_SH_attention_bwd_dq,
                     s.spec, s.n_spec, q_args, 6, &p, sizeof p, s.groups, (uint32_t)n_heads,
                     (uint32_t)batch);
    if (st != DT_OK) return st;
    vk_arg kv_args[5] = {vk_in(qkv), vk_in(dout), vk_in(lse), vk_in(scratch), vk_out(dqkv)};
    return vk_dispatch(
        d, "attention_bwd", s.sg ? VK_SH_attention_bwd_dkv_sg : VK_SH_attention_bwd_dkv, s.spec,
        s.n_spec, kv_args, 5, &p, sizeof p, s.groups, (uint32_t)n_heads, (uint32_t)batch);
}
