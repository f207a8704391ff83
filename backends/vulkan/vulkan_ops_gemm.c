/* GEMM through the own tiled shader (shaders/gemm.comp).
 *
 * Tile shapes are specialisation constants, so each device gets a shape
 * that suits it without a second shader: 64 x 64 tiles of 4 x 4 outputs per
 * invocation on GPUs; on a CPU device (lavapipe), where a workgroup's
 * invocations run as SIMD lanes of one thread and barriers are costly, tiles
 * that are wider along k and fewer barriers per flop. */
#include "backends/vulkan/vulkan_backend.h"

typedef struct gemm_params {
    uint32_t m, n, k;
    uint32_t lda, ldb, ldc;
    uint32_t stride_a, stride_b, stride_c;
    uint32_t trans_a, trans_b;
    float alpha, beta;
    uint32_t batch_base;
} gemm_params;

/* WX, WY, TM, TN, BK: workgroup WX x WY, each invocation TM x TN outputs,
 * tiles BM = WY*TM by BN = WX*TN, BK deep. */
static void gemm_shape(const vk_device *d, const dt_gemm_desc *g, uint32_t spec[5]) {
    bool cpu = d->base.info.type == DT_DEVICE_CPU;
    uint32_t wx = 16, wy = 16, tm = 4, tn = 4, bk = 16;
    if (cpu) {
        wx = 8;
        wy = 8;
        tm = 4;
        tn = 4;
        bk = 32;
    }
    /* Small problems: smaller tiles keep more workgroups busy. */
    if (!cpu && g->m * g->n * g->batch < 256 * 256) {
        wx = 8;
        wy = 8;
    }
    spec[0] = wx;
    spec[1] = wy;
    spec[2] = tm;
    spec[3] = tn;
    spec[4] = bk;
}

dt_status vk_op_gemm(dt_device *dev, const dt_gemm_desc *g, const dt_tensor *a, const dt_tensor *b,
                     const dt_tensor *c) {
    vk_device *d = vk_dev(dev);
    uint32_t spec[5];
    gemm_shape(d, g, spec);
    const int64_t bm = spec[1] * spec[2], bn = spec[0] * spec[3];
    const int64_t gx = (g->n + bn - 1) / bn, gy = (g->m + bm - 1) / bm;
    const int64_t max_x = d->limits.maxComputeWorkGroupCount[0];
    const int64_t max_y = d->limits.maxComputeWorkGroupCount[1];
    const int64_t max_z = d->limits.maxComputeWorkGroupCount[2];
    if (gx > max_x || gy > max_y)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "gemm: %lld x %lld outputs need more workgroups than "
                        "%s allows",
                        (long long)g->m, (long long)g->n, dev->info.spec);
    vk_arg args[3] = {vk_in(a), vk_in(b), vk_in(c)};
    args[2].write = true;
    gemm_params p = {
        .m = (uint32_t)g->m,
        .n = (uint32_t)g->n,
        .k = (uint32_t)g->k,
        .lda = (uint32_t)g->lda,
        .ldb = (uint32_t)g->ldb,
        .ldc = (uint32_t)g->ldc,
        .stride_a = (uint32_t)g->stride_a,
        .stride_b = (uint32_t)g->stride_b,
        .stride_c = (uint32_t)g->stride_c,
        .trans_a = (uint32_t)g->trans_a,
        .trans_b = (uint32_t)g->trans_b,
        .alpha = g->alpha,
        .beta = g->beta,
    };
    /* Batches beyond the z limit go in several dispatches. */
    for (int64_t first = 0; first < g->batch; first += max_z) {
        int64_t count = g->batch - first < max_z ? g->batch - first : max_z;
        p.batch_base = (uint32_t)first;
        dt_status st = vk_dispatch(d, "gemm", VK_SH_gemm, spec, 5, args, 3, &p, sizeof p,
                                   (uint32_t)gx, (uint32_t)gy, (uint32_t)count);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}
