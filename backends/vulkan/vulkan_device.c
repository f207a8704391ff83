/* The Vulkan backend: enumeration, opening and closing a device, and its
 * table of ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

static dt_status vk_probe(int *count, char *why, size_t why_len) {
    *count = 0;
    vk_instance vi;
    if (vk_instance_create(&vi, false, why, why_len) != DT_OK) return DT_OK;
    VkPhysicalDevice pds[VK_MAX_PHYSICAL];
    dt_status st = vk_usable_devices(&vi, pds, count, why, why_len);
    vk_instance_destroy(&vi);
    return st;
}

/* A short-lived instance and the physical device behind "vulkan:index". */
static dt_status find_device(int index, vk_instance *vi, bool validation, VkPhysicalDevice *pd) {
    char why[256] = "";
    dt_status st = vk_instance_create(vi, validation, why, sizeof why);
    if (st != DT_OK) return dt_error(st, "vulkan:%d: %s", index, why);
    VkPhysicalDevice pds[VK_MAX_PHYSICAL];
    int count = 0;
    vk_usable_devices(vi, pds, &count, why, sizeof why);
    if (index < 0 || index >= count) {
        vk_instance_destroy(vi);
        return dt_error(DT_ERR_NOT_FOUND, "vulkan:%d: no such device (%d usable%s%s)", index, count,
                        count ? "" : ": ", count ? "" : why);
    }
    *pd = pds[index];
    return DT_OK;
}

/* Whether the shader variants written for CPU devices (one subgroup per
 * workgroup, shuffles instead of shared memory) can run here, and whether
 * they are the default: on a CPU device (lavapipe) that can run them. */
static bool cpu_kernels_usable(const VkPhysicalDeviceSubgroupProperties *sg) {
    return (sg->supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
           (sg->supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) && sg->subgroupSize >= 4 &&
           sg->subgroupSize <= 64;
}

static dt_status vk_query(int index, dt_device_info *info) {
    vk_instance vi;
    VkPhysicalDevice pd = VK_NULL_HANDLE;
    dt_status st = find_device(index, &vi, false, &pd);
    if (st != DT_OK) return st;
    vk_describe_device(&vi, pd, index, info);
    /* What an earlier exactness probe of the default variant found. */
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sg};
    vi.fn.GetPhysicalDeviceProperties2(pd, &p2);
    dt_canonical_lookup(
        info, vk_canonical_source(info->type == DT_DEVICE_CPU && cpu_kernels_usable(&sg)));
    vk_instance_destroy(&vi);
    return DT_OK;
}

void vk_op_close(dt_device *dev) {
    vk_device *d = vk_dev(dev);
    vk_profile_report(d);
    if (d->device && d->fn->DeviceWaitIdle) {
        /* Whatever is still queued runs to completion before teardown; on a
         * lost device this returns at once. */
        vk_submit(d, "close");
        d->fn->DeviceWaitIdle(d->device);
        vk_buffer_destroy(d, d->workspace);
        vk_buffer_destroy(d, d->readback);
        vk_batches_destroy(d);
        vk_pipelines_destroy(d);
        d->fn->DestroyDevice(d->device, NULL);
    }
    vk_instance_destroy(&d->vi);
    free(d);
}

void vk_set_note(vk_device *d) {
    snprintf(d->base.info.note, sizeof d->base.info.note, "own tiled GEMM shader; %s%s; %s%s%s",
             d->cpu_kernels ? "shaders for CPU devices" : "shaders for GPUs",
             d->base.info.fp64 && !d->use_f64 ? " without fp64" : "",
             d->unified ? "mapped unified memory" : "device memory with staging",
             d->vi.validation ? "; validation layer on" : "", d->profile ? "; profiling" : "");
}

/* Every entry of runtime/op_list.h: vk_op_<name>. */
#define VK_OP_ENTRY(ret, name, params, args) .name = vk_op_##name,
static const dt_device_ops vk_ops = {DT_DEVICE_CORE(VK_OP_ENTRY) DT_DEVICE_OPS(VK_OP_ENTRY)};
#undef VK_OP_ENTRY

static dt_status create_logical_device(vk_device *d) {
    VkQueueFamilyProperties fam[16];
    uint32_t n = 16;
    d->fn->GetPhysicalDeviceQueueFamilyProperties(d->physical, &n, fam);
    /* A compute-only family, where there is one, does not share its queue
     * with a desktop's graphics work. */
    int pick = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (pick < 0 || !(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) pick = (int)i;
        if (!(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) break;
    }
    if (pick < 0)
        return dt_error(DT_ERR_UNSUPPORTED, "open: %s has no compute queue", d->base.info.spec);
    d->queue_family = (uint32_t)pick;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    /* Doubles only where a cancellation-prone op wants them (shaders with
     * an _f64 variant); everything else is fp32. */
    VkPhysicalDeviceFeatures features = {0};
    features.shaderFloat64 = d->use_f64 ? VK_TRUE : VK_FALSE;
    const char *ext = VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME;
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
        .enabledExtensionCount = d->float_controls_ext ? 1 : 0,
        .ppEnabledExtensionNames = d->float_controls_ext ? &ext : NULL,
        .pEnabledFeatures = &features,
    };
    VkResult r = d->fn->CreateDevice(d->physical, &ci, NULL, &d->device);
    if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreateDevice", r);
    dt_status st = vk_loader_device_funcs(d->fn, d->device);
    if (st != DT_OK) return st;
    d->fn->GetDeviceQueue(d->device, d->queue_family, 0, &d->queue);
    return DT_OK;
}

static const dt_option_spec vk_options[] = {
    [VK_OPT_KERNELS] = {"kernels", "auto|cpu|gpu", 0, 0,
                        "shader variants: auto (for the device's type), cpu (one subgroup per "
                        "workgroup, shuffles) or gpu (shared-memory tiles, what GPUs run)"},
    [VK_OPT_STAGING] = {"staging", "auto|on", 0, 0,
                        "on: buffers in device memory behind staging copies even where the "
                        "device shares host memory (the discrete-GPU path)"},
    [VK_OPT_FP64] = {"fp64", "auto|off", 0, 0,
                     "off: the fp32 variants of the shaders that have a double-precision one, as "
                     "on GPUs without shaderFloat64"},
    [VK_OPT_VALIDATION] = {"validation", "off|on", 0, 0,
                           "on: the Khronos validation layer checks every call, synchronization "
                           "included; an error fails the next op"},
    [VK_OPT_PROFILE] = {"profile", "off|on", 0, 0,
                        "on: ops run one at a time, timed; a table on stderr at close"},
    [VK_OPT_SHARED] = {"shared_kib", NULL, 16, 1024,
                       "use at most this much shared memory per workgroup (16: Vulkan's minimum, "
                       "as on a Raspberry Pi), so the attention shaders take smaller tiles"},
    {NULL, NULL, 0, 0, NULL},
};

static dt_status vk_open(int index, const dt_device_options *opts, dt_device **out) {
    *out = NULL;
    vk_device *d = calloc(1, sizeof *d);
    if (!d) return dt_error(DT_ERR_OOM, "vulkan:%d: cannot allocate a device", index);
    d->base.ops = &vk_ops;
    d->fn = &d->vi.fn;
    d->profile = dt_option_value(opts, VK_OPT_PROFILE, 0) == 1;
    dt_status st =
        find_device(index, &d->vi, dt_option_value(opts, VK_OPT_VALIDATION, 0) == 1, &d->physical);
    if (st != DT_OK) {
        free(d);
        return st;
    }
    vk_describe_device(&d->vi, d->physical, index, &d->base.info);
    VkPhysicalDeviceProperties props;
    d->fn->GetPhysicalDeviceProperties(d->physical, &props);
    d->limits = props.limits;
    /* shared_kib: the tile choices of a device with less shared memory. */
    const uint32_t shared_cap = (uint32_t)dt_option_value(opts, VK_OPT_SHARED, 0) * 1024u;
    if (shared_cap && shared_cap < d->limits.maxComputeSharedMemorySize)
        d->limits.maxComputeSharedMemorySize = shared_cap;
    d->fn->GetPhysicalDeviceMemoryProperties(d->physical, &d->mem_props);
    /* Float controls: core in 1.2, an extension before. */
    bool has_fc_ext =
        vk_has_device_extension(d->fn, d->physical, VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME);
    bool has_fc = props.apiVersion >= VK_API_VERSION_1_2 || has_fc_ext;
    VkPhysicalDeviceFloatControlsProperties fc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties maint3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
        .pNext = has_fc ? &fc : NULL};
    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &maint3};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &subgroup};
    d->fn->GetPhysicalDeviceProperties2(d->physical, &p2);
    d->subgroup_size = subgroup.subgroupSize;
    d->max_allocation = maint3.maxMemoryAllocationSize;
    d->denorm_preserve = has_fc && fc.shaderDenormPreserveFloat32;
    d->float_controls_ext = d->denorm_preserve && props.apiVersion < VK_API_VERSION_1_2;
    d->subgroup_shuffle = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    const int kernels = dt_option_value(opts, VK_OPT_KERNELS, VK_KERNELS_AUTO);
    if (kernels == VK_KERNELS_CPU && !cpu_kernels_usable(&subgroup)) {
        st = dt_error(DT_ERR_UNSUPPORTED,
                      "%s (%s): kernels=cpu needs subgroup shuffles in compute shaders and a "
                      "subgroup size from 4 to 64 (this device: %u%s); use kernels=auto or gpu",
                      d->base.info.spec, d->base.info.name, subgroup.subgroupSize,
                      d->subgroup_shuffle ? "" : ", no shuffles");
        vk_op_close(&d->base);
        return st;
    }
    d->cpu_kernels = kernels == VK_KERNELS_CPU ||
                     (kernels == VK_KERNELS_AUTO && d->base.info.type == DT_DEVICE_CPU &&
                      cpu_kernels_usable(&subgroup));
    d->base.canonical_source = vk_canonical_source(d->cpu_kernels);
    d->use_f64 = d->base.info.fp64 && dt_option_value(opts, VK_OPT_FP64, 0) == 0;

    st = create_logical_device(d);
    if (st == DT_OK) st = vk_select_memory_types(d, dt_option_value(opts, VK_OPT_STAGING, 0) == 1);
    if (st == DT_OK) st = vk_layouts_create(d);
    if (st == DT_OK) st = vk_batches_create(d);
    if (st != DT_OK) {
        vk_op_close(&d->base);
        return st;
    }
    vk_set_note(d);
    *out = &d->base;
    return DT_OK;
}

const dt_backend dt_backend_vulkan = {
    .name = "vulkan",
    .probe = vk_probe,
    .query = vk_query,
    .ops = &vk_ops,
    .open = vk_open,
    .options = vk_options,
};
