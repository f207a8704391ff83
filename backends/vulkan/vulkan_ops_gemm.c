/* GEMM through the own shaders.
 *
 * GPUs get shaders/gemm.comp: shared-memory tiles, several outputs per
 * invocation, tile shapes as specialisation constants. CPU devices
 * (lavapipe) get shaders/gemm_cpu.comp, built for how a CPU runs shaders:
 * there every buffer or shared-memory access is a scalar loop over the
 * SIMD lanes, so it keeps a large block of C in registers and moves A
 * between lanes with subgroup shuffles instead of through shared memory. */
#include "backends/vulkan/vulkan_backend.h"

typedef struct gemm_params {
    uint32_t m, n, k;
    uint32_t lda, ldb, ldc;
    uint32_t stride_a, stride_b, stride_c;
    uint32_t trans_a, trans_b;
    float alpha, beta;
    uint32_t batch_base;
} gemm_params;

typedef struct gemm_plan {
    vk_shader_id shader;
    uint32_t spec[5];
    int n_spec;
    int64_t tile_m, tile_n; /* outputs per workgroup */
    bool rows_first;        /* workgroup x runs over row tiles (gemm_cpu) */
} gemm_plan;

static void plan_gemm(const vk_device *d, const dt_gemm_desc *g, const vk_arg *b, bool precise,
                      gemm_plan *pl) {
    if (d->cpu_kernels && d->subgroup_size <= 16) {
        /* 16 rows of 8 columns per lane: 128 accumulators. 256 (4 x 8 blocks
         * of 8 lanes) run about a fifth faster on lavapipe but take LLVM
         * three times as long to compile (some 15 s a variant, on every
         * machine with a cold shader cache). B is read four columns per
         * load where its layout allows. */
        const uint32_t sg = d->subgroup_size, rb = sg >= 16 ? 1 : 16 / sg, tn = 8;
        const uint32_t vec4 = !g->trans_b && g->ldb % 4 == 0 && g->stride_b % 4 == 0 &&
                              g->n % 4 == 0 && b->offset % 16 == 0 && tn % 4 == 0;
        vk_shader_id exact =
            d->denorm_preserve ? VK_SH_gemm_cpu_precise_dp : VK_SH_gemm_cpu_precise;
        *pl = (gemm_plan){precise ? exact : VK_SH_gemm_cpu,
                          {sg, rb, tn, vec4},
                          4,
                          (int64_t)rb * sg,
                          (int64_t)tn * sg,
                          true};
        return;
    }
    /* WX, WY, TM, TN, BK: a WX x WY workgroup of TM x TN outputs each over
     * tiles of (WY*TM) x (WX*TN), BK deep; smaller tiles for small problems
     * keep more workgroups busy. */
    uint32_t w = g->m * g->n * g->batch < 256 * 256 ? 8 : 16;
    if (w * w > d->limits.maxComputeWorkGroupInvocations) w = 8; /* 128 is all Vulkan promises */
    vk_shader_id exact = d->denorm_preserve ? VK_SH_gemm_precise_dp : VK_SH_gemm_precise;
    *pl = (gemm_plan){
        precise ? exact : VK_SH_gemm, {w, w, 4, 4, 16}, 5, (int64_t)w * 4, (int64_t)w * 4, false};
}

dt_status vk_gemm(vk_device *d, const char *op, const dt_gemm_desc *g, vk_arg a, vk_arg b, vk_arg c,
                  bool precise) {
    gemm_plan pl;
    plan_gemm(d, g, &b, precise, &pl);
    int64_t gx = (g->n + pl.tile_n - 1) / pl.tile_n, gy = (g->m + pl.tile_m - 1) / pl.tile_m;
    if (pl.rows_first) {
        int64_t t = gx;
        gx = gy;
        gy = t;
    }
    const int64_t max_z = d->limits.maxComputeWorkGroupCount[2];
    if (gx > d->limits.maxComputeWorkGroupCount[0] || gy > d->limits.maxComputeWorkGroupCount[1])
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: %lld x %lld outputs need more workgroups than "
                        "%s allows",
                        op, (long long)g->m, (long long)g->n, d->base.info.spec);
    vk_arg args[3] = {a, b, c};
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
        dt_status st = vk_dispatch(d, op, pl.shader, pl.spec, pl.n_spec, args, 3, &p, sizeof p,
                                   (uint32_t)gx, (uint32_t)gy, (uint32_t)count);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}

dt_status vk_op_gemm(dt_device *dev, const dt_gemm_desc *g, const dt_tensor *a, const dt_tensor *b,
                     const dt_tensor *c) {
    return vk_gemm(vk_dev(dev), "gemm", g, vk_in(a), vk_in(b), vk_out(c), false);
}
