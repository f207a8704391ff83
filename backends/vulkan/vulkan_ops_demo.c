/* The DeMo ops: tile DCT encode, per-tile top-k, decode-and-subtract, and
 * the canonical aggregate-decode-sign-apply (bit-exact; see
 * shaders/demo_apply.comp for how).
 *
 * The tile ops run one workgroup per tile over a fixed number of
 * workgroups, each with its own region of the device workspace for the
 * intermediate tile, so the workspace does not grow with the tensor. */
#include "backends/vulkan/vulkan_backend.h"

/* Workgroups for per-tile work: enough to fill the device. */
static uint32_t tile_groups(const vk_device *d, int64_t n_tiles) {
    int64_t cap = d->base.info.type == DT_DEVICE_CPU ? 64 : 512;
    return (uint32_t)(n_tiles < cap ? n_tiles : cap);
}

static vk_arg whole(vk_buffer *b) {
    return (vk_arg){b, 0, b->alloc_size, true};
}

dt_status vk_op_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                            const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    vk_device *d = vk_dev(dev);
    uint32_t groups = tile_groups(d, plan->n_tiles);
    vk_buffer *work;
    dt_status st =
        vk_workspace(d, (size_t)groups * (size_t)plan->tile_size * 4, "demo_encode", &work);
    if (st != DT_OK) return st;
    struct {
        uint32_t cols, n1, n2, tiles_per_row, n_tiles;
    } p = {(uint32_t)plan->cols, (uint32_t)plan->tile_rows, (uint32_t)plan->tile_cols,
           (uint32_t)plan->tiles_per_row, (uint32_t)plan->n_tiles};
    vk_arg args[5] = {vk_in(x), vk_in(f1), vk_in(f2), vk_out(coeffs), whole(work)};
    return vk_dispatch(d, "demo_encode", VK_SH_demo_encode, NULL, 0, args, 5, &p, sizeof p, groups,
                       1, 1);
}

dt_status vk_op_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles,
                          int64_t tile_size, int64_t k, const dt_tensor *idx,
                          const dt_tensor *vals) {
    vk_device *d = vk_dev(dev);
    struct {
        uint32_t n_tiles, size, k;
    } p = {(uint32_t)n_tiles, (uint32_t)tile_size, (uint32_t)k};
    vk_arg args[3] = {vk_in(coeffs), vk_out(idx), vk_out(vals)};
    return vk_dispatch(d, "demo_topk", VK_SH_demo_topk, NULL, 0, args, 3, &p, sizeof p,
                       vk_groups(n_tiles, 1), 1, 1);
}

dt_status vk_op_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                                const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                                const dt_tensor *f2, const dt_tensor *dm) {
    vk_device *d = vk_dev(dev);
    uint32_t groups = tile_groups(d, plan->n_tiles);
    vk_buffer *work;
    dt_status st =
        vk_workspace(d, (size_t)groups * (size_t)plan->tile_size * 2 * 4, "demo_decode_sub", &work);
    if (st != DT_OK) return st;
    struct {
        uint32_t cols, n1, n2, tiles_per_row, n_tiles, k;
    } p = {(uint32_t)plan->cols,          (uint32_t)plan->tile_rows, (uint32_t)plan->tile_cols,
           (uint32_t)plan->tiles_per_row, (uint32_t)plan->n_tiles,   (uint32_t)k};
    vk_arg args[6] = {vk_in(idx), vk_in(vals), vk_in(f1), vk_in(f2), vk_out(dm), whole(work)};
    return vk_dispatch(d, "demo_decode_sub", VK_SH_demo_decode_sub, NULL, 0, args, 6, &p, sizeof p,
                       groups, 1, 1);
}

dt_status vk_op_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                           const dt_tensor *vals, int64_t k, int64_t n_contrib,
                           const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                           const dt_tensor *w, float lr, float decay) {
    vk_device *d = vk_dev(dev);
    uint32_t groups = tile_groups(d, plan->n_tiles);
    vk_buffer *work;
    dt_status st =
        vk_workspace(d, (size_t)groups * (size_t)plan->tile_size * 3 * 4, "demo_apply", &work);
    if (st != DT_OK) return st;
    struct {
        uint32_t cols, n1, n2, tiles_per_row, n_tiles, k, n_contrib;
        float lr, decay;
    } p = {(uint32_t)plan->cols,
           (uint32_t)plan->tile_rows,
           (uint32_t)plan->tile_cols,
           (uint32_t)plan->tiles_per_row,
           (uint32_t)plan->n_tiles,
           (uint32_t)k,
           (uint32_t)n_contrib,
           lr,
           decay};
    vk_arg args[7] = {vk_in(idx), vk_in(vals), vk_in(recip), vk_in(f1),
                      vk_in(f2),  vk_out(w),   whole(work)};
    return vk_dispatch(d, "demo_apply", VK_SH_demo_apply, NULL, 0, args, 7, &p, sizeof p, groups, 1,
                       1);
}
