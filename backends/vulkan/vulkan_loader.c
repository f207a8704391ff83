/* Opening the Vulkan loader at run time and filling the function tables.
 *
 * Linking libvulkan would make every distro binary depend on it; a peer
 * with only a CPU should still start and be told why there is no Vulkan
 * device. So the loader is dlopen'ed and each entry point fetched through
 * vkGetInstanceProcAddr / vkGetDeviceProcAddr (the device-level ones skip
 * the loader's dispatch trampoline, too). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

/* The SONAME on Linux and the BSDs; the unversioned name only exists with
 * the development package, so it is the second choice. */
static const char *const loader_names[] = {"libvulkan.so.1", "libvulkan.so"};

dt_status vk_loader_open(void **lib, vk_fns *fn, char *why, size_t why_len) {
    memset(fn, 0, sizeof *fn);
    *lib = NULL;
    /* The first failure is the informative one (about the SONAME). */
    char err[160] = "";
    for (size_t i = 0; i < sizeof loader_names / sizeof loader_names[0] && !*lib; i++) {
        *lib = dlopen(loader_names[i], RTLD_NOW | RTLD_LOCAL);
        const char *e = *lib ? NULL : dlerror();
        if (e && !err[0]) snprintf(err, sizeof err, "%s", e);
    }
    if (!*lib) {
        snprintf(why, why_len, "no Vulkan loader (%s; install libvulkan1)",
                 err[0] ? err : "libvulkan.so.1 not found");
        return DT_ERR_UNAVAILABLE;
    }
    /* POSIX dlsym returns void *; converting it to a function pointer is
     * what dlsym is for, hence the memcpy instead of a cast. */
    void *sym = dlsym(*lib, "vkGetInstanceProcAddr");
    if (!sym) {
        snprintf(why, why_len, "the Vulkan loader has no vkGetInstanceProcAddr (broken install)");
        dlclose(*lib);
        *lib = NULL;
        return DT_ERR_UNAVAILABLE;
    }
    memcpy(&fn->GetInstanceProcAddr, &sym, sizeof sym);
#define VK_LOAD_GLOBAL(name) fn->name = (PFN_vk##name)fn->GetInstanceProcAddr(NULL, "vk" #name);
    VK_GLOBAL_FUNCS(VK_LOAD_GLOBAL)
#undef VK_LOAD_GLOBAL
    fn->EnumerateInstanceVersion =
        (PFN_vkEnumerateInstanceVersion)fn->GetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    if (!fn->CreateInstance || !fn->EnumerateInstanceExtensionProperties ||
        !fn->EnumerateInstanceLayerProperties) {
        snprintf(why, why_len, "the Vulkan loader lacks core 1.0 entry points (broken install)");
        dlclose(*lib);
        *lib = NULL;
        return DT_ERR_UNAVAILABLE;
    }
    return DT_OK;
}

void vk_loader_close(void *lib) {
    if (lib) dlclose(lib);
}

dt_status vk_loader_instance_funcs(vk_fns *fn, VkInstance instance) {
#define VK_LOAD_INSTANCE(name)                                                                     \
    fn->name = (PFN_vk##name)fn->GetInstanceProcAddr(instance, "vk" #name);                        \
    if (!fn->name)                                                                                 \
        return dt_error(DT_ERR_UNAVAILABLE,                                                        \
                        "vulkan: the loader has no vk" #name " (Vulkan 1.1 is required)");
    VK_INSTANCE_FUNCS(VK_LOAD_INSTANCE)
#undef VK_LOAD_INSTANCE
    fn->CreateDebugUtilsMessengerEXT = (PFN_vkCreateDebugUtilsMessengerEXT)fn->GetInstanceProcAddr(
        instance, "vkCreateDebugUtilsMessengerEXT");
    fn->DestroyDebugUtilsMessengerEXT =
        (PFN_vkDestroyDebugUtilsMessengerEXT)fn->GetInstanceProcAddr(
            instance, "vkDestroyDebugUtilsMessengerEXT");
    return DT_OK;
}

dt_status vk_loader_device_funcs(vk_fns *fn, VkDevice device) {
#define VK_LOAD_DEVICE(name)                                                                       \
    fn->name = (PFN_vk##name)fn->GetDeviceProcAddr(device, "vk" #name);                            \
    if (!fn->name) return dt_error(DT_ERR_UNAVAILABLE, "vulkan: the driver has no vk" #name);
    VK_DEVICE_FUNCS(VK_LOAD_DEVICE)
#undef VK_LOAD_DEVICE
    return DT_OK;
}
