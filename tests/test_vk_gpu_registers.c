/* test_vk_gpu_registers: the GPU attention shaders compiled by a real GPU
 * compiler keep their working set in registers. Mesa's RADV driver offers a
 * device without hardware (RADV_FORCE_FAMILY, here an RDNA2 "navi21") whose
 * pipelines are compiled by ACO, AMD's shader compiler in Mesa, and report
 * VK_KHR_pipeline_executable_properties statistics. Each attention shader
 * (forward, query side and key side of the backward) is built at head sizes
 * 32, 64 and 128 with the tiles the backend picks for that device's limits
 * (vk_attention_tiles), and must use no scratch memory and spill no
 * registers: scratch is per-thread memory in VRAM, tens of times slower than
 * registers. The earlier one-row-per-thread shaders failed this (256 VGPRs
 * and 119 spilled in the key side at head size 64; scratch in all three at
 * 128).
 *
 * That device has no memory the host can map, so it can never run anything:
 * the backend must not list it as a vulkan:N device (it did, and `auto`
 * preferred it as a discrete GPU; opening it failed and RADV crashed in the
 * close that followed).
 *
 * Skips (77) when no RADV null device can be opened (Mesa's RADV not
 * installed, or a Mesa without pipeline statistics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#include "backends/vulkan/vulkan_backend.h"
#include "tests/test_util.h"

typedef struct radv {
    VkInstance instance;
    VkPhysicalDevice physical;
    VkPhysicalDeviceLimits limits;
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkDevice device;
    VkDescriptorSetLayout sets[VK_MAX_BINDINGS + 1];
    VkPipelineLayout layouts[VK_MAX_BINDINGS + 1];
    PFN_vkGetPipelineExecutableStatisticsKHR statistics;
} radv;

/* The first device whose name says RADV; 0 when there is none. */
static int radv_open(radv *r, char *why, size_t why_len) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    if (vkCreateInstance(&ici, NULL, &r->instance) != VK_SUCCESS) {
        snprintf(why, why_len, "no Vulkan instance");
        return 0;
    }
    VkPhysicalDevice pds[16];
    uint32_t n = 16;
    vkEnumeratePhysicalDevices(r->instance, &n, pds);
    for (uint32_t i = 0; i < n && !r->physical; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (strstr(p.deviceName, "RADV")) {
            r->physical = pds[i];
            r->limits = p.limits;
            memcpy(r->name, p.deviceName, sizeof r->name);
            printf("device: %s\n", p.deviceName);
        }
    }
    if (!r->physical) {
        snprintf(why, why_len,
                 "no RADV device (Mesa's RADV, in mesa-vulkan-drivers, not installed)");
        return 0;
    }
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exe = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE};
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                     .queueCount = 1,
                                     .pQueuePriorities = &priority};
    const char *ext = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &exe,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &queue,
                              .enabledExtensionCount = 1,
                              .ppEnabledExtensionNames = &ext};
    if (vkCreateDevice(r->physical, &dci, NULL, &r->device) != VK_SUCCESS) {
        snprintf(why, why_len, "RADV has no %s", ext);
        return 0;
    }
    r->statistics = (PFN_vkGetPipelineExecutableStatisticsKHR)vkGetDeviceProcAddr(
        r->device, "vkGetPipelineExecutableStatisticsKHR");
    VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
    for (int i = 0; i < VK_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){(uint32_t)i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                              VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
    for (int n_b = 1; n_b <= VK_MAX_BINDINGS; n_b++) {
        VkDescriptorSetLayoutCreateInfo li = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = (uint32_t)n_b,
            .pBindings = b};
        vkCreateDescriptorSetLayout(r->device, &li, NULL, &r->sets[n_b]);
        VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                          .setLayoutCount = 1,
                                          .pSetLayouts = &r->sets[n_b],
                                          .pushConstantRangeCount = 1,
                                          .pPushConstantRanges = &push};
        vkCreatePipelineLayout(r->device, &pli, NULL, &r->layouts[n_b]);
    }
    return r->statistics != NULL;
}

static void radv_close(radv *r) {
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        if (r->layouts[n]) vkDestroyPipelineLayout(r->device, r->layouts[n], NULL);
        if (r->sets[n]) vkDestroyDescriptorSetLayout(r->device, r->sets[n], NULL);
    }
    if (r->device) vkDestroyDevice(r->device, NULL);
    if (r->instance) vkDestroyInstance(r->instance, NULL);
}

/* One statistic by name (RADV's names), or -1. */
static int64_t stat_named(const VkPipelineExecutableStatisticKHR *s, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return (int64_t)s[i].value.u64;
    return -1;
}

/* Builds one shader as the backend would for this head size; 1 when it
 * keeps everything in registers, else prints why and returns 0. */
static int check_shader(radv *r, vk_shader_id id, const char *name, int64_t head_dim) {
    uint32_t rows, block;
    if (!vk_attention_tiles(&r->limits, head_dim, &rows, &block)) {
        printf("FAIL %s head_dim %lld: no tiles fit %u bytes of shared memory\n", name,
               (long long)head_dim, r->limits.maxComputeSharedMemorySize);
        return 0;
    }
    size_t bytes;
    int bindings;
    const unsigned char *spv = vk_shader_spirv(id, &bytes, &bindings);
    uint32_t *code = malloc(bytes);
    memcpy(code, spv, bytes);
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes, .pCode = code};
    VkShaderModule module;
    vkCreateShaderModule(r->device, &mi, NULL, &module);
    free(code);
    const uint32_t spec[4] = {VK_ATTN_TPR * rows, (uint32_t)head_dim, rows, block};
    VkSpecializationMapEntry map[4];
    for (uint32_t i = 0; i < 4; i++) map[i] = (VkSpecializationMapEntry){i, 4 * i, 4};
    VkSpecializationInfo si = {4, map, sizeof spec, spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = r->layouts[bindings]};
    VkPipeline pipe;
    VkResult res = vkCreateComputePipelines(r->device, VK_NULL_HANDLE, 1, &ci, NULL, &pipe);
    vkDestroyShaderModule(r->device, module, NULL);
    if (res != VK_SUCCESS) {
        printf("FAIL %s head_dim %lld: vkCreateComputePipelines failed (%d)\n", name,
               (long long)head_dim, (int)res);
        return 0;
    }
    VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = pipe};
    VkPipelineExecutableStatisticKHR st[64];
    uint32_t n = 64;
    for (uint32_t i = 0; i < n; i++)
        st[i] = (VkPipelineExecutableStatisticKHR){
            .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    r->statistics(r->device, &ei, &n, st);
    vkDestroyPipeline(r->device, pipe, NULL);
    const int64_t vgprs = stat_named(st, n, "VGPRs"), spilled = stat_named(st, n, "Spilled VGPRs");
    const int64_t scratch = stat_named(st, n, "Scratch size");
    printf(
        "  %-18s head_dim %3lld, tiles %2u x %2u: %3lld VGPRs, %lld spilled, scratch %lld bytes\n",
        name, (long long)head_dim, rows, block, (long long)vgprs, (long long)spilled,
        (long long)scratch);
    if (vgprs < 0 || spilled < 0 || scratch < 0) {
        printf("FAIL %s: the driver reports no VGPRs, Spilled VGPRs or Scratch size\n", name);
        return 0;
    }
    if (spilled > 0 || scratch > 0) {
        printf("FAIL %s head_dim %lld: %lld VGPRs spilled, %lld bytes of scratch memory\n", name,
               (long long)head_dim, (long long)spilled, (long long)scratch);
        return 0;
    }
    return 1;
}

/* 1 when the backend's device list leaves out the device named `name`. */
static int not_listed(const char *name) {
    vk_instance vi;
    char why[256] = "";
    if (vk_instance_create(&vi, false, why, sizeof why) != DT_OK) {
        printf("FAIL: the backend cannot create an instance: %s\n", why);
        return 0;
    }
    VkPhysicalDevice pds[VK_MAX_PHYSICAL];
    int count = 0, listed = 0;
    vk_usable_devices(&vi, pds, &count, why, sizeof why);
    for (int i = 0; i < count; i++) {
        VkPhysicalDeviceProperties p;
        vi.fn.GetPhysicalDeviceProperties(pds[i], &p);
        if (strcmp(p.deviceName, name) == 0) {
            printf("FAIL: vulkan:%d is %s, a device without host-visible memory\n", i, name);
            listed = 1;
        }
    }
    vk_instance_destroy(&vi);
    return !listed;
}

int main(void) {
    /* RADV's device without hardware: its compiler, none of its memory. */
    setenv("RADV_FORCE_FAMILY", "navi21", 1);
    radv r = {0};
    char why[160] = "";
    if (!radv_open(&r, why, sizeof why)) {
        printf("SKIP: %s\n", why);
        radv_close(&r);
        return TEST_SKIP;
    }
    static const struct {
        vk_shader_id id;
        const char *name;
    } shaders[] = {{VK_SH_attention_fwd, "attention_fwd"},
                   {VK_SH_attention_bwd_dq, "attention_bwd_dq"},
                   {VK_SH_attention_bwd_dkv, "attention_bwd_dkv"}};
    static const int64_t head_dims[] = {32, 64, 128};
    int checked = 0, passed = 0;
    for (size_t s = 0; s < sizeof shaders / sizeof shaders[0]; s++)
        for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++, checked++)
            passed += check_shader(&r, shaders[s].id, shaders[s].name, head_dims[h]);
    radv_close(&r);
    printf("%s: %d of %d shader builds keep to registers\n", passed == checked ? "PASS" : "FAIL",
           passed, checked);
    const int unlisted = not_listed(r.name);
    if (unlisted) printf("PASS: the backend does not list %s\n", r.name);
    return passed == checked && unlisted ? 0 : 1;
}
