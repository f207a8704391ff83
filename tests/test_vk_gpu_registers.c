/* test_vk_gpu_registers: the GPU shaders compiled by a real GPU compiler
 * keep their working set in registers. Mesa's RADV driver offers a device
 * without hardware (RADV_FORCE_FAMILY, here an RDNA2 "navi21") whose
 * pipelines are compiled by ACO, AMD's shader compiler in Mesa, and report
 * VK_KHR_pipeline_executable_properties statistics. Each attention shader
 * (forward, query side and key side of the backward) is built at head sizes
 * 32, 64 and 128 with the tiles the backend picks for that device's limits
 * (vk_attention_tiles); every other shader GPUs take (not the *_sg and
 * gemm_cpu* variants written for CPU devices) at its default
 * specialisation. None may use scratch memory or spill registers: scratch
 * is per-thread memory in VRAM, tens of times slower than registers. The
 * earlier one-row-per-thread attention failed this (256 VGPRs and 119
 * spilled in the key side at head size 64; scratch in all three at 128).
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

/* The device, through the backend's own loader (vulkan_loader.c: dlopen),
 * so that the loader and its drivers are gone at exit, as in distro. */
typedef struct radv {
    vk_instance vi;
    bool have_instance;
    VkPhysicalDevice physical;
    VkPhysicalDeviceLimits limits;
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkDevice device;
    /* What the backend's pipeline code needs of a device: its functions,
     * handle and layouts (vk_layouts_create, vk_pipeline_create). */
    vk_device dev;
    PFN_vkGetPipelineExecutableStatisticsKHR statistics;
} radv;

/* The first physical device whose name says RADV (the backend's own list
 * leaves it out: it has no memory). */
static bool find_radv(radv *r, char *why, size_t why_len) {
    if (vk_instance_create(&r->vi, false, why, why_len) != DT_OK) return false;
    r->have_instance = true;
    VkPhysicalDevice pds[VK_MAX_PHYSICAL];
    uint32_t n = VK_MAX_PHYSICAL;
    r->vi.fn.EnumeratePhysicalDevices(r->vi.instance, &n, pds);
    for (uint32_t i = 0; i < n && !r->physical; i++) {
        VkPhysicalDeviceProperties p;
        r->vi.fn.GetPhysicalDeviceProperties(pds[i], &p);
        if (strstr(p.deviceName, "RADV")) {
            r->physical = pds[i];
            r->limits = p.limits;
            memcpy(r->name, p.deviceName, sizeof r->name);
            printf("device: %s\n", p.deviceName);
        }
    }
    if (!r->physical)
        snprintf(why, why_len,
                 "no RADV device (Mesa's RADV, in mesa-vulkan-drivers, not installed)");
    return r->physical != VK_NULL_HANDLE;
}

/* RADV's device without hardware, with pipeline statistics; false (and
 * why) when there is none. */
static bool radv_open(radv *r, char *why, size_t why_len) {
    if (!find_radv(r, why, why_len)) return false;
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
    if (r->vi.fn.CreateDevice(r->physical, &dci, NULL, &r->device) != VK_SUCCESS ||
        vk_loader_device_funcs(&r->vi.fn, r->device) != DT_OK) {
        snprintf(why, why_len, "RADV has no %s", ext);
        return false;
    }
    r->statistics = (PFN_vkGetPipelineExecutableStatisticsKHR)r->vi.fn.GetDeviceProcAddr(
        r->device, "vkGetPipelineExecutableStatisticsKHR");
    r->dev.fn = &r->vi.fn;
    r->dev.device = r->device;
    snprintf(r->dev.base.info.spec, sizeof r->dev.base.info.spec, "radv");
    dt_strlcpy(r->dev.base.info.name, r->name, sizeof r->dev.base.info.name);
    if (vk_layouts_create(&r->dev) != DT_OK) {
        snprintf(why, why_len, "RADV: %s", dt_last_error());
        return false;
    }
    return r->statistics != NULL;
}

static void radv_close(radv *r) {
    if (r->device) {
        vk_pipelines_destroy(&r->dev); /* the layouts; it made no cached pipelines */
        r->vi.fn.DestroyDevice(r->device, NULL);
    }
    if (r->have_instance) vk_instance_destroy(&r->vi);
}

/* One statistic by name (RADV's names), or -1. */
static int64_t stat_named(const VkPipelineExecutableStatisticKHR *s, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return (int64_t)s[i].value.u64;
    return -1;
}

typedef struct build_stats {
    int64_t vgprs, spilled, scratch; /* -1: not reported */
} build_stats;

/* Builds one shader with these specialisation constants (none: the
 * shader's defaults) and reads RADV's statistics of it; 0 when the build
 * fails. */
static int build(radv *r, vk_shader_id id, const uint32_t *spec, int n_spec, build_stats *out) {
    VkPipeline pipe;
    if (vk_pipeline_create(&r->dev, "vk_gpu_registers", id, spec, n_spec,
                           VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR, &pipe) != DT_OK)
        return 0;
    VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = pipe};
    VkPipelineExecutableStatisticKHR st[64];
    uint32_t n = 64;
    for (uint32_t i = 0; i < n; i++)
        st[i] = (VkPipelineExecutableStatisticKHR){
            .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    r->statistics(r->device, &ei, &n, st);
    r->vi.fn.DestroyPipeline(r->device, pipe, NULL);
    *out = (build_stats){stat_named(st, n, "VGPRs"), stat_named(st, n, "Spilled VGPRs"),
                         stat_named(st, n, "Scratch size")};
    return 1;
}

/* Prints one build's figures; 1 when it kept to registers. */
static int judge(const char *what, int built, const build_stats *s) {
    if (!built) {
        printf("FAIL %s: %s\n", what, dt_last_error());
        return 0;
    }
    printf("  %-52s %3lld VGPRs, %lld spilled, scratch %lld bytes\n", what, (long long)s->vgprs,
           (long long)s->spilled, (long long)s->scratch);
    if (s->vgprs < 0 || s->spilled < 0 || s->scratch < 0) {
        printf("FAIL %s: the driver reports no VGPRs, Spilled VGPRs or Scratch size\n", what);
        return 0;
    }
    if (s->spilled > 0 || s->scratch > 0) {
        printf("FAIL %s: %lld VGPRs spilled, %lld bytes of scratch memory\n", what,
               (long long)s->spilled, (long long)s->scratch);
        return 0;
    }
    return 1;
}

/* An attention shader as the backend builds it for this head size. */
static int check_attention(radv *r, vk_shader_id id, int64_t head_dim) {
    char what[96];
    uint32_t rows, block;
    if (!vk_attention_tiles(&r->limits, head_dim, &rows, &block)) {
        printf("FAIL %s head_dim %lld: no tiles fit %u bytes of shared memory\n",
               vk_shader_name(id), (long long)head_dim, r->limits.maxComputeSharedMemorySize);
        return 0;
    }
    snprintf(what, sizeof what, "%s head_dim %lld, tiles %u x %u", vk_shader_name(id),
             (long long)head_dim, rows, block);
    const uint32_t spec[4] = {VK_ATTN_TPR * rows, (uint32_t)head_dim, rows, block};
    build_stats s;
    const int built = build(r, id, spec, 4, &s);
    return judge(what, built, &s);
}

/* The shaders written for CPU devices (lavapipe): *_sg and gemm_cpu*. */
static bool cpu_variant(const char *name) {
    const size_t n = strlen(name);
    return strncmp(name, "gemm_cpu", 8) == 0 || (n > 3 && strcmp(name + n - 3, "_sg") == 0);
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
    /* The attention shaders at the tiles the backend picks; every other
     * GPU shader at its default specialisation (the tile sizes, workgroup
     * sizes and modes the backend uses on GPUs). */
    static const vk_shader_id attention[] = {VK_SH_attention_fwd, VK_SH_attention_bwd_dq,
                                             VK_SH_attention_bwd_dkv};
    static const int64_t head_dims[] = {32, 64, 128};
    int checked = 0, passed = 0;
    for (size_t s = 0; s < sizeof attention / sizeof attention[0]; s++)
        for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++, checked++)
            passed += check_attention(&r, attention[s], head_dims[h]);
    for (int id = 0; id < VK_SH_COUNT; id++) {
        const char *name = vk_shader_name((vk_shader_id)id);
        if (cpu_variant(name) || strncmp(name, "attention_", 10) == 0) continue;
        build_stats st;
        const int built = build(&r, (vk_shader_id)id, NULL, 0, &st);
        passed += judge(name, built, &st);
        checked++;
    }
    radv_close(&r);
    printf("%s: %d of %d GPU shader builds keep to registers\n",
           passed == checked ? "PASS" : "FAIL", passed, checked);
    const int unlisted = not_listed(r.name);
    if (unlisted) printf("PASS: the backend does not list %s\n", r.name);
    return passed == checked && unlisted ? 0 : 1;
}
