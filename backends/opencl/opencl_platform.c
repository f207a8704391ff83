/* Device enumeration across every OpenCL platform the ICD loader knows.
 *
 * Devices are numbered in platform order, then in each platform's device
 * order, so "opencl:N" is stable on a machine as long as its drivers are.
 * Nothing is cached: the ICD loader already keeps the platform list, and
 * the runtime has no place for mutable state outside its registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/opencl_backend.h"

/* Not in the 1.2 headers under these names everywhere; the values are the
 * registered extension enums (cl_nv_device_attribute_query and
 * cl_amd_device_attribute_query). */
#define OCL_DEVICE_WARP_SIZE_NV        0x4003
#define OCL_DEVICE_WAVEFRONT_WIDTH_AMD 0x4043
#define OCL_PLATFORM_NOT_FOUND_KHR     (-1001)

#define OCL_MAX_PLATFORMS 16
#define OCL_MAX_DEVICES   64

const char *ocl_error_name(cl_int err) {
    switch (err) {
#define E(x)                                                                                       \
    case x:                                                                                        \
        return #x;
        E(CL_SUCCESS)
        E(CL_DEVICE_NOT_FOUND)
        E(CL_DEVICE_NOT_AVAILABLE)
        E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        E(CL_OUT_OF_RESOURCES)
        E(CL_OUT_OF_HOST_MEMORY)
        E(CL_BUILD_PROGRAM_FAILURE)
        E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE)
        E(CL_INVALID_BINARY)
        E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE)
        E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL)
        E(CL_INVALID_ARG_INDEX)
        E(CL_INVALID_ARG_VALUE)
        E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS)
        E(CL_INVALID_WORK_DIMENSION)
        E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE)
        E(CL_INVALID_GLOBAL_OFFSET)
        E(CL_INVALID_MEM_OBJECT)
        E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_CONTEXT)
        E(CL_INVALID_OPERATION)
        E(CL_MEM_COPY_OVERLAP)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_INVALID_PLATFORM)
        E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_GLOBAL_WORK_SIZE)
#undef E
    case OCL_PLATFORM_NOT_FOUND_KHR:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}

void ocl_device_string(cl_device_id d, cl_device_info what, char *out, size_t len) {
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[len - 1] = '\0';
}

void ocl_platform_string(cl_platform_id p, cl_platform_info what, char *out, size_t len) {
    out[0] = '\0';
    if (clGetPlatformInfo(p, what, len, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[len - 1] = '\0';
}

/* Walks platforms and devices; stops at device `want` (or counts them all
 * when want < 0). Returns the number of devices seen. */
static int walk_devices(int want, cl_platform_id *platform, cl_device_id *device, cl_int *err,
                        int *n_platforms) {
    cl_platform_id platforms[OCL_MAX_PLATFORMS];
    cl_uint np = 0;
    *err = clGetPlatformIDs(OCL_MAX_PLATFORMS, platforms, &np);
    *n_platforms = 0;
    if (*err != CL_SUCCESS) return 0;
    if (np > OCL_MAX_PLATFORMS) np = OCL_MAX_PLATFORMS;
    *n_platforms = (int)np;
    int seen = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devices[OCL_MAX_DEVICES];
        cl_uint nd = 0;
        /* CL_DEVICE_NOT_FOUND is a platform without devices, not a failure. */
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, OCL_MAX_DEVICES, devices, &nd) !=
            CL_SUCCESS)
            continue;
        if (nd > OCL_MAX_DEVICES) nd = OCL_MAX_DEVICES;
        for (cl_uint i = 0; i < nd; i++, seen++) {
            if (seen == want) {
                *platform = platforms[p];
                *device = devices[i];
                return seen + 1;
            }
        }
    }
    return seen;
}

static void explain_none(cl_int err, int n_platforms, char *why, size_t why_len) {
    if (!why || !why_len) return;
    if (err == OCL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && n_platforms == 0))
        snprintf(why, why_len,
                 "no OpenCL platform: the ICD loader found no driver (install one, e.g. "
                 "pocl-opencl-icd for CPUs, mesa-opencl-icd, intel-opencl-icd or a vendor "
                 "driver; see /etc/OpenCL/vendors)");
    else if (err != CL_SUCCESS)
        snprintf(why, why_len,
                 "clGetPlatformIDs failed: %s (%d); is an OpenCL ICD loader "
                 "(ocl-icd-libopencl1) installed?",
                 ocl_error_name(err), (int)err);
    else
        snprintf(why, why_len, "%d OpenCL platform%s but no device", n_platforms,
                 n_platforms == 1 ? "" : "s");
}

static dt_status ocl_probe(int *count, char *why, size_t why_len) {
    cl_platform_id p;
    cl_device_id d;
    cl_int err;
    int np = 0;
    *count = walk_devices(-1, &p, &d, &err, &np);
    if (*count == 0) explain_none(err, np, why, why_len);
    return DT_OK;
}

dt_status ocl_find_device(int index, cl_platform_id *platform, cl_device_id *device) {
    cl_int err;
    int np = 0;
    int seen = walk_devices(index, platform, device, &err, &np);
    if (index >= 0 && seen == index + 1) return DT_OK;
    if (seen == 0) {
        char why[256];
        explain_none(err, np, why, sizeof why);
        return dt_error(DT_ERR_UNAVAILABLE, "opencl:%d: %s", index, why);
    }
    return dt_error(DT_ERR_NOT_FOUND, "opencl:%d: no such device (OpenCL has %d)", index, seen);
}

/* Short vendor names, as the other backends report them (PoCL reports the
 * CPU's "AuthenticAMD" or "GenuineIntel"). */
static void vendor_short(const char *raw, char *out, size_t len) {
    static const struct {
        const char *needle, *name;
    } known[] = {
        {"NVIDIA", "NVIDIA"},
        {"Advanced Micro Devices", "AMD"},
        {"AMD", "AMD"},
        {"Intel", "Intel"},
        {"GenuineIntel", "Intel"},
        {"ARM", "ARM"},
        {"Qualcomm", "Qualcomm"},
        {"Apple", "Apple"},
        {"Mesa", "Mesa"},
        {"Imagination", "Imagination"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strstr(raw, known[i].needle)) {
            dt_strlcpy(out, known[i].name, len);
            return;
        }
    }
    dt_strlcpy(out, raw[0] ? raw : "unknown", len);
}

/* Major and minor of "OpenCL 1.2 ..." version strings. */
static int parse_cl_version(const char *s, int *major, int *minor) {
    return sscanf(s, "OpenCL %d.%d", major, minor) == 2;
}

dt_status ocl_describe_device(int index, cl_platform_id platform, cl_device_id device, int kernels,
                              dt_device_info *info) {
    dt_device_info_init(info, "opencl", index);
    char raw[256], version[128], extensions[8192];
    ocl_device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    ocl_device_string(device, CL_DEVICE_VENDOR, raw, sizeof raw);
    vendor_short(raw, info->vendor, sizeof info->vendor);
    ocl_device_string(device, CL_DEVICE_VERSION, version, sizeof version);
    ocl_device_string(device, CL_DRIVER_VERSION, raw, sizeof raw);
    int major = 0, minor = 0;
    if (parse_cl_version(version, &major, &minor))
        snprintf(info->driver, sizeof info->driver, "%s (OpenCL %d.%d)", raw, major, minor);
    else
        dt_strlcpy(info->driver, raw, sizeof info->driver);
    ocl_platform_string(platform, CL_PLATFORM_NAME, info->platform, sizeof info->platform);

    cl_device_type type = 0;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    if (type & CL_DEVICE_TYPE_CPU)
        info->type = DT_DEVICE_CPU;
    else if (type & CL_DEVICE_TYPE_GPU)
        info->type = unified ? DT_DEVICE_GPU_INTEGRATED : DT_DEVICE_GPU_DISCRETE;
    else
        info->type = DT_DEVICE_OTHER;

    cl_ulong mem = 0;
    cl_uint units = 0;
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    info->memory_bytes = mem;
    info->compute_units = (int)units;

    ocl_device_string(device, CL_DEVICE_EXTENSIONS, extensions, sizeof extensions);
    cl_uint simd = 0;
    if (strstr(extensions, "cl_nv_device_attribute_query"))
        clGetDeviceInfo(device, OCL_DEVICE_WARP_SIZE_NV, sizeof simd, &simd, NULL);
    else if (strstr(extensions, "cl_amd_device_attribute_query"))
        clGetDeviceInfo(device, OCL_DEVICE_WAVEFRONT_WIDTH_AMD, sizeof simd, &simd, NULL);
    info->subgroup_size = (int)simd;
    info->fp16 = strstr(extensions, "cl_khr_fp16") != NULL;
    cl_device_fp_config fp64 = 0, fp32 = 0;
    clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    info->fp64 = fp64 != 0 || strstr(extensions, "cl_khr_fp64") != NULL;

    /* The canonical update compares bits with the CPU, which keeps fp32
     * denormals; a device that flushes them can disagree on tiny values. The
     * kernel itself is probed against the host by the runtime at first use. */
    clGetDeviceInfo(device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp32, &fp32, NULL);
    const char *problem = NULL;
    if (!(fp32 & CL_FP_DENORM))
        problem = "no fp32 denormals";
    else if (!(fp32 & CL_FP_ROUND_TO_NEAREST))
        problem = "no round-to-nearest";
    const bool cpu_paths = ocl_cpu_paths(device, kernels);
    snprintf(info->note, sizeof info->note, "%s%s",
             ocl_gemm_note(ocl_clblast_tuned(platform, cpu_paths)),
             cpu_paths == (info->type == DT_DEVICE_CPU) ? ""
             : cpu_paths                                ? "; paths for CPU devices (kernels=cpu)"
                                                        : "; paths for GPUs (kernels=gpu)");
    if (major && (major < 1 || (major == 1 && minor < 2)))
        snprintf(info->note, sizeof info->note, "unusable: %s; distro needs OpenCL 1.2", version);
    else if (problem)
        dt_canonical_on_host(info, problem);
    else /* what an earlier exactness probe found (runtime/canonical_probe.c) */
        dt_canonical_lookup(info, ocl_canonical_source());
    return DT_OK;
}

static dt_status ocl_query(int index, dt_device_info *info) {
    cl_platform_id platform;
    cl_device_id device;
    dt_status st = ocl_find_device(index, &platform, &device);
    if (st != DT_OK) return st;
    return ocl_describe_device(index, platform, device, OCL_KERNELS_AUTO, info);
}

const dt_backend dt_backend_opencl = {
    .name = "opencl",
    .probe = ocl_probe,
    .query = ocl_query,
    .ops = &ocl_ops,
    .open = ocl_open,
    .options = ocl_options,
};
