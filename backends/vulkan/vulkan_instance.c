/* Instances, device discovery and device descriptions.
 *
 * Nothing here is cached between calls: the registry allows only constant
 * global state, and creating an instance costs milliseconds. probe and query
 * each create a short-lived instance; an opened device keeps its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/vulkan/vulkan_backend.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static bool has_layer(vk_fns *fn, const char *name) {
    VkLayerProperties layers[64];
    uint32_t n = 64;
    VkResult r = fn->EnumerateInstanceLayerProperties(&n, layers);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(layers[i].layerName, name) == 0) return true;
    return false;
}

static bool has_instance_extension(vk_fns *fn, const char *layer, const char *name) {
    VkExtensionProperties ext[128];
    uint32_t n = 128;
    VkResult r = fn->EnumerateInstanceExtensionProperties(layer, &n, ext);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0) return true;
    return false;
}

/* An error message of the validation layer fails the device's next op with
 * the first message (vk_check_alive), so a test under validation=on fails on
 * any misuse. Warnings go to stderr: validation=on is a developer's option,
 * like profile=on's table. */
static VKAPI_ATTR VkBool32 VKAPI_CALL validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    vk_instance *vi = user;
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        if (vi->validation_errors++ == 0)
            snprintf(vi->validation_first, sizeof vi->validation_first, "%s", data->pMessage);
    } else {
        fprintf(stderr, "distro vulkan validation warning: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

/* The layer, its extensions and synchronization validation, which also
 * reports hazards (a missing barrier) that a CPU device forgives and a GPU
 * does not. Without the messenger extension errors could not fail ops, so
 * both are required. */
static dt_status validation_layer(vk_fns *fn, const char **layers, uint32_t *n_layers,
                                  const char **exts, uint32_t *n_exts, const void **next, char *why,
                                  size_t why_len) {
    static const VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    static const VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    if (!has_layer(fn, VALIDATION_LAYER)) {
        snprintf(why, why_len,
                 "validation=on: the Khronos validation layer (%s) is not installed "
                 "(apt-get install vulkan-validationlayers)",
                 VALIDATION_LAYER);
        return DT_ERR_UNAVAILABLE;
    }
    if (!has_instance_extension(fn, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) &&
        !has_instance_extension(fn, VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        snprintf(why, why_len, "validation=on: the layer %s offers no %s to report through",
                 VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        return DT_ERR_UNAVAILABLE;
    }
    layers[(*n_layers)++] = VALIDATION_LAYER;
    exts[(*n_exts)++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (has_instance_extension(fn, VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
        exts[(*n_exts)++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
        *next = &features;
    }
    return DT_OK;
}

dt_status vk_instance_create(vk_instance *vi, bool validation, char *why, size_t why_len) {
    memset(vi, 0, sizeof *vi);
    dt_status st = vk_loader_open(&vi->lib, &vi->fn, why, why_len);
    if (st != DT_OK) return st;
    vk_fns *fn = &vi->fn;

    uint32_t loader_version = VK_API_VERSION_1_0;
    if (fn->EnumerateInstanceVersion) fn->EnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1) {
        snprintf(why, why_len, "the Vulkan loader is version %u.%u; Vulkan 1.1 is required",
                 VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
        vk_loader_close(vi->lib);
        vi->lib = NULL;
        return DT_ERR_UNAVAILABLE;
    }

    const char *layers[1];
    const char *exts[3];
    uint32_t n_layers = 0, n_exts = 0;
    VkInstanceCreateFlags flags = 0;
    const void *next = NULL;
    if (validation) {
        st = validation_layer(fn, layers, &n_layers, exts, &n_exts, &next, why, why_len);
        if (st != DT_OK) {
            vk_loader_close(vi->lib);
            vi->lib = NULL;
            return st;
        }
    }
    /* MoltenVK and other non-conformant drivers are only listed when asked. */
    if (has_instance_extension(fn, NULL, "VK_KHR_portability_enumeration")) {
        exts[n_exts++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "distro",
        .pEngineName = "distro",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = next,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = fn->CreateInstance(&ci, NULL, &vi->instance);
    if (r != VK_SUCCESS) {
        if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
            snprintf(why, why_len,
                     "no Vulkan driver (ICD) is installed (install "
                     "mesa-vulkan-drivers or the GPU vendor's driver)");
        else
            snprintf(why, why_len, "vkCreateInstance failed: %s", vk_result_name(r));
        vk_loader_close(vi->lib);
        vi->lib = NULL;
        return DT_ERR_UNAVAILABLE;
    }
    st = vk_loader_instance_funcs(fn, vi->instance);
    if (st != DT_OK) {
        snprintf(why, why_len, "%s", dt_last_error());
        vk_instance_destroy(vi);
        return st;
    }
    vi->validation = n_layers > 0;
    if (vi->validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = validation_message,
            .pUserData = vi,
        };
        r = fn->CreateDebugUtilsMessengerEXT
                ? fn->CreateDebugUtilsMessengerEXT(vi->instance, &mi, NULL, &vi->messenger)
                : VK_ERROR_EXTENSION_NOT_PRESENT;
        if (r != VK_SUCCESS) {
            snprintf(why, why_len, "validation=on: vkCreateDebugUtilsMessengerEXT failed: %s",
                     vk_result_name(r));
            vk_instance_destroy(vi);
            return DT_ERR_UNAVAILABLE;
        }
    }
    return DT_OK;
}

void vk_instance_destroy(vk_instance *vi) {
    if (vi->instance) {
        if (vi->messenger && vi->fn.DestroyDebugUtilsMessengerEXT)
            vi->fn.DestroyDebugUtilsMessengerEXT(vi->instance, vi->messenger, NULL);
        vi->fn.DestroyInstance(vi->instance, NULL);
    }
    vk_loader_close(vi->lib);
    memset(vi, 0, sizeof *vi);
}

static bool has_compute_queue(vk_fns *fn, VkPhysicalDevice pd) {
    VkQueueFamilyProperties fam[16];
    uint32_t n = 16;
    fn->GetPhysicalDeviceQueueFamilyProperties(pd, &n, fam);
    for (uint32_t i = 0; i < n; i++)
        if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return true;
    return false;
}

/* Whether the device has memory the host can map without flushes, which
 * every buffer upload and download needs (vk_select_memory_types asks the
 * same). RADV's device without hardware (RADV_FORCE_FAMILY) has none: it
 * can compile shaders but never run one, and its driver crashed when we
 * closed it. */
static bool has_host_memory(vk_fns *fn, VkPhysicalDevice pd) {
    VkPhysicalDeviceMemoryProperties mem;
    fn->GetPhysicalDeviceMemoryProperties(pd, &mem);
    return vk_memory_type(
               &mem, ~0u,
               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0) >= 0;
}

dt_status vk_usable_devices(vk_instance *vi, VkPhysicalDevice *out, int *count, char *why,
                            size_t why_len) {
    *count = 0;
    VkPhysicalDevice all[VK_MAX_PHYSICAL];
    uint32_t n = VK_MAX_PHYSICAL;
    VkResult r = vi->fn.EnumeratePhysicalDevices(vi->instance, &n, all);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        /* Typically every installed driver is for hardware this machine
         * does not have. */
        snprintf(why, why_len,
                 "no Vulkan driver found a usable device (vkEnumeratePhysicalDevices: "
                 "%s); mesa-vulkan-drivers provides lavapipe on any CPU",
                 vk_result_name(r));
        return DT_OK;
    }
    if (n == 0) {
        snprintf(why, why_len,
                 "the Vulkan loader found no device (no ICD matches this machine's "
                 "hardware; mesa-vulkan-drivers provides lavapipe on any CPU)");
        return DT_OK;
    }
    int skipped = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vi->fn.GetPhysicalDeviceProperties(all[i], &p);
        if (p.apiVersion < VK_API_VERSION_1_1 || !has_compute_queue(&vi->fn, all[i]) ||
            !has_host_memory(&vi->fn, all[i])) {
            skipped++;
            continue;
        }
        out[(*count)++] = all[i];
    }
    if (*count == 0)
        snprintf(why, why_len,
                 "%d Vulkan device%s found, but none supports Vulkan 1.1 compute "
                 "with host-visible memory",
                 skipped, skipped == 1 ? "" : "s");
    return DT_OK;
}

static const char *vendor_name(uint32_t id) {
    switch (id) {
    case 0x10DE:
        return "NVIDIA";
    case 0x1002:
        return "AMD";
    case 0x1022:
        return "AMD";
    case 0x8086:
        return "Intel";
    case 0x13B5:
        return "ARM";
    case 0x5143:
        return "Qualcomm";
    case 0x106B:
        return "Apple";
    case 0x1010:
        return "Imagination";
    case 0x14E4:
        return "Broadcom";
    case 0x10005:
        return "Mesa";
    default:
        return NULL;
    }
}

static dt_device_type device_type(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return DT_DEVICE_GPU_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return DT_DEVICE_GPU_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return DT_DEVICE_GPU_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return DT_DEVICE_CPU;
    default:
        return DT_DEVICE_OTHER;
    }
}

bool vk_has_device_extension(vk_fns *fn, VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (fn->EnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *ext = malloc(n * sizeof *ext);
    if (!ext) return false;
    bool found = false;
    VkResult r = fn->EnumerateDeviceExtensionProperties(pd, NULL, &n, ext);
    for (uint32_t i = 0; (r == VK_SUCCESS || r == VK_INCOMPLETE) && i < n && !found; i++)
        found = strcmp(ext[i].extensionName, name) == 0;
    free(ext);
    return found;
}

/* Core Vulkan does not report compute units; two vendor extensions do, and
 * a CPU device (lavapipe) runs one thread per core. 0 when unknown. */
static int compute_units(vk_fns *fn, VkPhysicalDevice pd, dt_device_type type) {
    if (type == DT_DEVICE_CPU) {
        const char *e = getenv("LP_NUM_THREADS"); /* lavapipe's own knob */
        long n = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 0;
    }
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    if (vk_has_device_extension(fn, pd, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
        p2.pNext = &nv;
        fn->GetPhysicalDeviceProperties2(pd, &p2);
        return (int)nv.shaderSMCount;
    }
    if (vk_has_device_extension(fn, pd, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) {
        p2.pNext = &amd;
        fn->GetPhysicalDeviceProperties2(pd, &p2);
        return (int)(amd.shaderEngineCount * amd.shaderArraysPerEngineCount *
                     amd.computeUnitsPerShaderArray);
    }
    return 0;
}

void vk_describe_device(vk_instance *vi, VkPhysicalDevice pd, int index, dt_device_info *info) {
    vk_fns *fn = &vi->fn;
    dt_device_info_init(info, "vulkan", index);
    VkPhysicalDeviceProperties p;
    fn->GetPhysicalDeviceProperties(pd, &p);
    dt_strlcpy(info->name, p.deviceName, sizeof info->name);
    const char *vendor = vendor_name(p.vendorID);
    if (vendor)
        dt_strlcpy(info->vendor, vendor, sizeof info->vendor);
    else
        snprintf(info->vendor, sizeof info->vendor, "0x%04x", p.vendorID);
    info->type = device_type(p.deviceType);

    /* Driver name and version string (Vulkan 1.2 or VK_KHR_driver_properties);
     * otherwise the packed driver version, whose layout is vendor-specific. */
    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    bool have_driver = p.apiVersion >= VK_API_VERSION_1_2 ||
                       vk_has_device_extension(fn, pd, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    if (have_driver) subgroup.pNext = &driver;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &subgroup};
    fn->GetPhysicalDeviceProperties2(pd, &p2);
    info->subgroup_size = (int)subgroup.subgroupSize;
    char text[VK_MAX_DRIVER_NAME_SIZE + VK_MAX_DRIVER_INFO_SIZE + 32];
    if (have_driver && driver.driverName[0])
        snprintf(text, sizeof text, "%s %s (Vulkan %u.%u)", driver.driverName, driver.driverInfo,
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
    else
        snprintf(text, sizeof text, "driver 0x%08x (Vulkan %u.%u)", p.driverVersion,
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
    dt_strlcpy(info->driver, text, sizeof info->driver);

    VkPhysicalDeviceFeatures feat;
    fn->GetPhysicalDeviceFeatures(pd, &feat);
    info->fp64 = feat.shaderFloat64;
    if (p.apiVersion >= VK_API_VERSION_1_2 ||
        vk_has_device_extension(fn, pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) {
        VkPhysicalDeviceShaderFloat16Int8Features f16 = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
        VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                        .pNext = &f16};
        fn->GetPhysicalDeviceFeatures2(pd, &f2);
        info->fp16 = f16.shaderFloat16;
    }

    /* The largest device-local heap: what a model can live in. */
    VkPhysicalDeviceMemoryProperties mem;
    fn->GetPhysicalDeviceMemoryProperties(pd, &mem);
    for (uint32_t h = 0; h < mem.memoryHeapCount; h++)
        if ((mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mem.memoryHeaps[h].size > info->memory_bytes)
            info->memory_bytes = mem.memoryHeaps[h].size;
    info->compute_units = compute_units(fn, pd, info->type);
    info->canonical_on_host = false;
    /* Whether the canonical update is exact here is the runtime's probe's
     * to find out (runtime/canonical_probe.c). */
    snprintf(info->note, sizeof info->note, "own tiled GEMM shader");
}
