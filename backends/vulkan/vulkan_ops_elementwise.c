/* Elementwise ops (add, scale, AdamW, DeMo momentum) and the two
 * reductions (sum of squares, finite check).
 *
 * A storage binding may span less than a whole buffer (128 MiB on
 * lavapipe), so elementwise ops and reductions cut long tensors into pieces
 * that fit; each piece is one dispatch. Reductions keep one partial result
 * per workgroup of every piece and fold them in a second pass with a fixed
 * tree: the grouping depends only on n, so the result is reproducible. */
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

/* Elements one dispatch may cover so every binding fits in the range. */
static int64_t piece_elems(const vk_device *d) {
    int64_t range = (int64_t)d->limits.maxStorageBufferRange;
    int64_t align = (int64_t)d->limits.minStorageBufferOffsetAlignment;
    int64_t n = (range - align) / 4;
    return n / 256 * 256;
}

/* params begin with the element count `n` (uint32), which is rewritten per
 * piece; views are advanced by the piece's start. */
static dt_status elementwise(vk_device *d, const char *op, vk_shader_id shader,
                             const dt_tensor *const *views, const bool *writes, int n_views,
                             void *params, size_t params_bytes, int64_t n) {
    const int64_t step = piece_elems(d);
    for (int64_t first = 0; first < n; first += step) {
        int64_t count = n - first < step ? n - first : step;
        vk_arg args[VK_MAX_BINDINGS];
        for (int i = 0; i < n_views; i++)
            args[i] = (vk_arg){vk_buf(views[i]->buf), views[i]->offset + (size_t)first * 4,
                               (size_t)count * 4, writes[i]};
        uint32_t count32 = (uint32_t)count;
        memcpy(params, &count32, 4);
        dt_status st = vk_dispatch(d, op, shader, NULL, 0, args, n_views, params, params_bytes,
                                   vk_groups(count, 256), 1, 1);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}

dt_status vk_op_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                    int64_t n) {
    struct {
        uint32_t n;
    } p = {0};
    const dt_tensor *v[3] = {a, b, y};
    const bool w[3] = {false, false, true};
    return elementwise(vk_dev(dev), "add", VK_SH_add, v, w, 3, &p, sizeof p, n);
}

dt_status vk_op_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y,
                      int64_t n) {
    struct {
        uint32_t n;
        float alpha;
    } p = {0, alpha};
    const dt_tensor *v[2] = {x, y};
    const bool w[2] = {false, true};
    return elementwise(vk_dev(dev), "scale", VK_SH_scale, v, w, 2, &p, sizeof p, n);
}

dt_status vk_op_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                      const dt_tensor *v, int64_t n, const dt_adamw_params *hp) {
    struct {
        uint32_t n;
        float lr, beta1, beta2, eps, weight_decay, bias1, bias2, grad_scale;
    } params = {0,         hp->lr,    hp->beta1,     hp->beta2, hp->eps, hp->weight_decay,
                hp->bias1, hp->bias2, hp->grad_scale};
    const dt_tensor *views[4] = {p, g, m, v};
    const bool w[4] = {true, false, true, true};
    return elementwise(vk_dev(dev), "adamw", VK_SH_adamw, views, w, 4, &params, sizeof params, n);
}

dt_status vk_op_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                              float beta, float lr) {
    struct {
        uint32_t n;
        float beta, lr;
    } p = {0, beta, lr};
    const dt_tensor *v[2] = {d, g};
    const bool w[2] = {true, false};
    return elementwise(vk_dev(dev), "demo_momentum", VK_SH_demo_momentum, v, w, 2, &p, sizeof p, n);
}

/* mode 0: sum of squares; mode 1: finite check. */
static dt_status reduce(vk_device *d, const char *op, uint32_t mode, const dt_tensor *x,
                        const dt_tensor *out, int64_t n) {
    const int64_t step = piece_elems(d);
    const int64_t pieces = (n + step - 1) / step;
    vk_buffer *work;
    dt_status st = vk_workspace(d, (size_t)pieces * 256 * 4, op, &work);
    if (st != DT_OK) return st;
    uint32_t n_part = 0;
    for (int64_t first = 0; first < n; first += step) {
        int64_t count = n - first < step ? n - first : step;
        /* Enough groups to fill a device, few enough to fold in one pass. */
        int64_t groups = (count + 4095) / 4096;
        if (groups > 256) groups = 256;
        vk_arg args[2] = {
            {vk_buf(x->buf), x->offset + (size_t)first * 4, (size_t)count * 4, false},
            {work, (size_t)n_part * 4, (size_t)groups * 4, true},
        };
        struct {
            uint32_t n;
        } p = {(uint32_t)count};
        st = vk_dispatch(d, op, VK_SH_reduce_partial, &mode, 1, args, 2, &p, sizeof p,
                         (uint32_t)groups, 1, 1);
        if (st != DT_OK) return st;
        n_part += (uint32_t)groups;
    }
    vk_arg args[2] = {{work, 0, (size_t)n_part * 4, false}, vk_out(out)};
    struct {
        uint32_t count;
    } p = {n_part};
    return vk_dispatch(d, op, VK_SH_reduce_final, &mode, 1, args, 2, &p, sizeof p, 1, 1, 1);
}

dt_status vk_op_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    return reduce(vk_dev(dev), "sum_squares", 0, x, out, n);
}

dt_status vk_op_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    return reduce(vk_dev(dev), "check_finite", 1, x, out, n);
}
