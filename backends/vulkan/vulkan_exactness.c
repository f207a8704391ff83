/* Is the canonical DeMo update exact on this device?
 *
 * The shaders fix the order of every operation and forbid contraction, so
 * what is left to a device is subnormal handling: Vulkan lets a device
 * flush subnormal results to zero unless a shader asks to keep them
 * (DenormPreserve, where shaderDenormPreserveFloat32 promises it). On such
 * devices the canonical shaders ask. On the others, before the first
 * update, it runs on data whose every step produces subnormals (means,
 * products, sums, the decay and the step) and is compared bit for bit with
 * the host, under both update rules (the scaled rule's step lr * X is a
 * product of its own, subnormal where X is); a device that differs in
 * either has its canonical update run on the host, which is what keeps
 * replicas identical. lavapipe promises nothing but keeps subnormals, and
 * passes. (Not at open: building the canonical pipelines costs seconds on
 * lavapipe with a cold shader cache, and most opens never run DeMo.) */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

enum { N = 8, TILE = 4, K = 2, CONTRIB = 2 };

typedef struct probe_data {
    int32_t idx[CONTRIB * 2 * K];
    float vals[CONTRIB * 2 * K];
    float w[N];
    float f1[1], f2[TILE * TILE], recip[CONTRIB + 1];
} probe_data;

static void probe_fill(probe_data *p) {
    /* Two 1 x 4 tiles; contributions in ascending order, entries in order. */
    static const int32_t idx[CONTRIB * 2 * K] = {0, 3, 1, 2, 0, 1, 1, 3};
    static const float vals[CONTRIB * 2 * K] = {0x1p-130f, -0x1p-133f, 0x1.8p-127f, 0x1p-1f,
                                                0x1p-131f, 0x1p-135f,  -0x1p-128f,  0x1p-126f};
    static const float w[N] = {0x1p-128f, -0x1p-127f, 0x1p-149f,  -0x1p-130f,
                               1.0f,      0.5f,       -0x1p-126f, 0x1p-129f};
    memcpy(p->idx, idx, sizeof idx);
    memcpy(p->vals, vals, sizeof vals);
    memcpy(p->w, w, sizeof w);
    p->f1[0] = 1.0f;
    dt_dct_basis(TILE, p->f2);
    dt_recip_table(CONTRIB, p->recip);
}

/* One buffer holding every operand, views into it. */
static dt_status probe_run(dt_device *dev, const dt_tile_plan *plan, const probe_data *p, float lr,
                           float decay, dt_demo_update update, float *w_out) {
    dt_buffer *buf;
    dt_status st = dt_buffer_alloc(dev, sizeof *p, &buf);
    if (st != DT_OK) return st;
    st = dt_buffer_upload(buf, 0, p, sizeof *p);
    const size_t at_idx = offsetof(probe_data, idx), at_vals = offsetof(probe_data, vals);
    const size_t at_w = offsetof(probe_data, w), at_f1 = offsetof(probe_data, f1);
    const size_t at_f2 = offsetof(probe_data, f2), at_recip = offsetof(probe_data, recip);
    if (st == DT_OK)
        st = dt_demo_apply(dev, plan, dt_tensor_1d(buf, at_idx, DT_I32, CONTRIB * 2 * K),
                           dt_tensor_1d(buf, at_vals, DT_F32, CONTRIB * 2 * K), CONTRIB,
                           dt_tensor_1d(buf, at_recip, DT_F32, CONTRIB + 1),
                           dt_tensor_1d(buf, at_f1, DT_F32, 1),
                           dt_tensor_1d(buf, at_f2, DT_F32, TILE * TILE),
                           dt_tensor_1d(buf, at_w, DT_F32, N), lr, decay, update);
    if (st == DT_OK) st = dt_buffer_download(buf, at_w, w_out, sizeof p->w);
    dt_buffer_free(buf);
    return st;
}

/* Whether the device's update under `update` matches the host's bits. */
static dt_status probe_rule(vk_device *d, const dt_tile_plan *plan, dt_demo_update update,
                            bool *exact) {
    probe_data p;
    probe_fill(&p);
    /* Sign: lr * 1 is subnormal itself. Scaled: lr * X rounds in the
     * subnormal range wherever X is subnormal, and 0.75 is not a power of
     * two, so that rounding is not exact. */
    const float lr = update == DT_DEMO_UPDATE_SCALED ? 0.75f : 0x1p-140f, decay = 0.75f;
    float got[N], want[N];
    dt_status st = probe_run(&d->base, plan, &p, lr, decay, update, got);
    if (st != DT_OK) return dt_error_wrap(st, "demo_apply: checking the device is exact: ");
    memcpy(want, p.w, sizeof want);
    st = dt_demo_apply_host(plan, p.idx, p.vals, K, CONTRIB, p.recip, p.f1, p.f2, want, lr, decay,
                            update);
    if (st != DT_OK) return st;
    *exact = memcmp(got, want, sizeof got) == 0;
    return DT_OK;
}

dt_status vk_check_canonical(vk_device *d) {
    d->base.info.canonical_on_host = false;
    if (d->denorm_preserve) return DT_OK;
    dt_tile_plan plan;
    dt_status st = dt_demo_tile_plan(1, (const int64_t[]){N}, TILE, &plan);
    if (st != DT_OK) return st;
    bool sign_exact = false, scaled_exact = false;
    st = probe_rule(d, &plan, DT_DEMO_UPDATE_SIGN, &sign_exact);
    if (st == DT_OK) st = probe_rule(d, &plan, DT_DEMO_UPDATE_SCALED, &scaled_exact);
    if (st != DT_OK) return st;
    d->base.info.canonical_on_host = !(sign_exact && scaled_exact);
    vk_set_note(d);
    return DT_OK;
}

dt_status vk_demo_apply_on_host(vk_device *d, const dt_tile_plan *plan, const dt_tensor *idx,
                                const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    (void)d;
    return dt_demo_apply_via_host(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay,
                                  update);
}
