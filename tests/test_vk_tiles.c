/* test_vk_tiles: the tiles of the GPU attention shaders (vk_attention_tiles)
 * fit every device the Vulkan specification allows, with no device needed.
 * For shared memory from 16 KiB (the specification's minimum; the Raspberry
 * Pi's V3DV has no more) to 64 KiB, workgroups from 128 invocations (its
 * minimum) to 1024, and head sizes 1 to 128 (what the model configurations
 * allow), some tiles must be chosen, and each shader's shared arrays, as
 * declared in attention_fwd.comp, attention_bwd_dq.comp and
 * attention_bwd_dkv.comp (rows HD + 1 floats apart), must fit, with
 * VK_ATTN_TPR threads per row inside the workgroup limit and a whole number
 * of score columns per thread. */
#include <stdio.h>

#include "backends/vulkan/vulkan_backend.h"
#include "tests/test_util.h"

/* Floats of shared memory each shader declares, for BR rows, blocks of BC
 * and head size hd. */
static int64_t shared_floats(int shader, int64_t br, int64_t bc, int64_t hd) {
    const int64_t hs = hd + 1;
    switch (shader) {
    case 0: /* attention_fwd: Qs; Ks, Vs; Ss */
        return br * hs + 2 * bc * hs + br * bc;
    case 1: /* attention_bwd_dq: Qs, Gs; Ks, Vs; Ss; Ls, Ds */
        return 2 * br * hs + 2 * bc * hs + br * bc + 2 * br;
    default: /* attention_bwd_dkv: Ks, Vs; Qs, Gs; Ps, Ss; Ls, Ds */
        return 2 * br * hs + 2 * bc * hs + 2 * br * bc + 2 * bc;
    }
}

static int failures = 0;

static void check(uint32_t shared_kib, uint32_t invocations, int64_t hd) {
    VkPhysicalDeviceLimits lim = {0};
    lim.maxComputeSharedMemorySize = shared_kib * 1024;
    lim.maxComputeWorkGroupInvocations = invocations;
    lim.maxComputeWorkGroupSize[0] = invocations;
    uint32_t rows = 0, block = 0;
    if (!vk_attention_tiles(&lim, hd, &rows, &block)) {
        printf("FAIL %u KiB, %u invocations, head_dim %lld: no tiles\n", shared_kib, invocations,
               (long long)hd);
        failures++;
        return;
    }
    for (int s = 0; s < 3; s++) {
        const int64_t bytes = 4 * shared_floats(s, rows, block, hd);
        if (bytes > (int64_t)lim.maxComputeSharedMemorySize) {
            printf("FAIL %u KiB, head_dim %lld: tiles %u x %u need %lld bytes in shader %d\n",
                   shared_kib, (long long)hd, rows, block, (long long)bytes, s);
            failures++;
        }
    }
    if (VK_ATTN_TPR * rows > invocations || block % VK_ATTN_TPR != 0) {
        printf("FAIL %u invocations: tiles %u x %u (%u threads per row)\n", invocations, rows,
               block, VK_ATTN_TPR);
        failures++;
    }
}

/* A device whose tiles are known: the largest that fit. */
static void expect(uint32_t shared_kib, uint32_t invocations, int64_t hd, uint32_t want_rows,
                   uint32_t want_block, const char *device) {
    VkPhysicalDeviceLimits lim = {0};
    lim.maxComputeSharedMemorySize = shared_kib * 1024;
    lim.maxComputeWorkGroupInvocations = invocations;
    lim.maxComputeWorkGroupSize[0] = invocations;
    uint32_t rows = 0, block = 0;
    vk_attention_tiles(&lim, hd, &rows, &block);
    printf("  %-34s head_dim %3lld: tiles %2u x %2u\n", device, (long long)hd, rows, block);
    if (rows != want_rows || block != want_block) {
        printf("FAIL %s head_dim %lld: tiles %u x %u, expected %u x %u\n", device, (long long)hd,
               rows, block, want_rows, want_block);
        failures++;
    }
}

int main(void) {
    static const uint32_t kib[] = {16, 24, 32, 48, 64};
    static const uint32_t invocations[] = {128, 256, 512, 1024};
    int cases = 0;
    for (size_t k = 0; k < sizeof kib / sizeof kib[0]; k++)
        for (size_t i = 0; i < sizeof invocations / sizeof invocations[0]; i++)
            for (int64_t hd = 1; hd <= 128; hd++, cases++) check(kib[k], invocations[i], hd);
    expect(48, 1024, 64, 32, 32, "48 KiB, 1024 (NVIDIA)");
    expect(64, 1024, 128, 32, 16, "64 KiB, 1024 (AMD, Intel)");
    expect(32, 512, 128, 16, 8, "32 KiB, 512 (Mali)");
    expect(16, 256, 64, 16, 8, "16 KiB, 256 (V3DV)");
    expect(16, 256, 128, 4, 8, "16 KiB, 256 (V3DV)");
    expect(64, 128, 64, 16, 16, "64 KiB, 128 invocations");
    if (failures) {
        printf("FAIL: %d of %d limit and head-size cases\n", failures, cases + 6);
        return 1;
    }
    printf("PASS: %d limit and head-size cases, 6 known devices\n", cases);
    return 0;
}
