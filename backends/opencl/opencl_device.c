/* Opening an OpenCL device: context, in-order queue, every program built (or
 * loaded from the disk cache) and every kernel created once. Whether the
 * canonical DeMo update is bit-exact here is the runtime's to find out
 * (runtime/canonical_probe.c, at its first use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/opencl_backend.h"

void ocl_close(dt_device *dev) {
    ocl_device *d = ocl_dev(dev);
    if (d->queue) clFinish(d->queue);
    if (d->reduce_partials) clReleaseMemObject(d->reduce_partials);
    if (d->gemm_scratch) clReleaseMemObject(d->gemm_scratch);
    ocl_release_programs(d);
    if (d->queue) clReleaseCommandQueue(d->queue);
    if (d->context) clReleaseContext(d->context);
    free(d);
}

dt_status ocl_sync(dt_device *dev) {
    ocl_device *d = ocl_dev(dev);
    cl_int err = clFinish(d->queue);
    return err == CL_SUCCESS ? DT_OK : ocl_fail(d, "sync", "clFinish", err);
}

/* Every entry of runtime/op_list.h: ocl_<name>. */
#define OCL_OP_ENTRY(ret, name, params, args) .name = ocl_##name,
const dt_device_ops ocl_ops = {DT_DEVICE_CORE(OCL_OP_ENTRY) DT_DEVICE_OPS(OCL_OP_ENTRY)};
#undef OCL_OP_ENTRY

/* What the device must offer beyond OpenCL 1.2 itself. */
static dt_status check_capable(ocl_device *d) {
    const char *spec = d->base.info.spec, *name = d->base.info.name;
    char version[128];
    int major = 0, minor = 0;
    ocl_device_string(d->device, CL_DEVICE_VERSION, version, sizeof version);
    if (sscanf(version, "OpenCL %d.%d", &major, &minor) == 2 &&
        (major < 1 || (major == 1 && minor < 2)))
        return dt_error(DT_ERR_UNSUPPORTED, "%s (%s): %s; distro needs OpenCL 1.2 or newer", spec,
                        name, version);
    cl_bool available = CL_FALSE, compiler = CL_FALSE;
    clGetDeviceInfo(d->device, CL_DEVICE_AVAILABLE, sizeof available, &available, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    if (!available)
        return dt_error(DT_ERR_UNAVAILABLE, "%s (%s): the driver reports the device unavailable",
                        spec, name);
    if (!compiler)
        return dt_error(DT_ERR_UNSUPPORTED, "%s (%s): the driver has no OpenCL C compiler", spec,
                        name);
    size_t max_wg = 0;
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    if (max_wg < OCL_WG_1D || max_wg < OCL_WG_TILE)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s (%s): work-groups of at most %zu work-items; the kernels need %d", spec,
                        name, max_wg, OCL_WG_TILE);
    cl_ulong local = 0, alloc = 0;
    clGetDeviceInfo(d->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    d->local_mem_bytes = local;
    d->max_alloc_bytes = alloc;
    return DT_OK;
}

/* Context, queue and the small buffers every device keeps. */
static dt_status create_context(ocl_device *d) {
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
    d->context = clCreateContext(props, 1, &d->device, NULL, NULL, &err);
    if (!d->context) return ocl_fail(d, "open", "clCreateContext", err);
    d->queue = clCreateCommandQueue(d->context, d->device, 0, &err);
    if (!d->queue) return ocl_fail(d, "open", "clCreateCommandQueue", err);
    d->reduce_partials = clCreateBuffer(d->context, CL_MEM_READ_WRITE,
                                        OCL_REDUCE_GROUPS * sizeof(float), NULL, &err);
    if (!d->reduce_partials) return ocl_fail(d, "open", "clCreateBuffer (reduction scratch)", err);
    return DT_OK;
}

const dt_option_spec ocl_options[] = {
    [OCL_OPT_KERNELS] = {"kernels", "auto|cpu|gpu", 0, 0,
                         "code paths: auto (those written for the device's type), cpu (PoCL-"
                         "tuned CLBlast, few embedding buckets, a row per work-item attention) "
                         "or gpu (what a GPU takes: tiled attention)"},
    {NULL, NULL, 0, 0, NULL},
};

dt_status ocl_open(int index, const dt_device_options *opts, dt_device **out) {
    cl_platform_id platform;
    cl_device_id device;
    dt_status st = ocl_find_device(index, &platform, &device);
    if (st != DT_OK) return st;
    ocl_device *d = calloc(1, sizeof *d);
    if (!d) return dt_error(DT_ERR_OOM, "opencl:%d: cannot allocate a device", index);
    d->base.ops = &ocl_ops;
    d->base.canonical_source = ocl_canonical_source();
    d->platform = platform;
    d->device = device;
    const int kernels = dt_option_value(opts, OCL_OPT_KERNELS, OCL_KERNELS_AUTO);
    d->cpu_paths = ocl_cpu_paths(device, kernels);
    st = ocl_describe_device(index, platform, device, kernels, &d->base.info);
    if (st == DT_OK) st = check_capable(d);
    if (st == DT_OK) st = create_context(d);
    if (st == DT_OK) st = ocl_gemm_setup(d);
    if (st == DT_OK) st = ocl_build_all(d);
    if (st != DT_OK) {
        ocl_close(&d->base);
        return st;
    }
    *out = &d->base;
    return DT_OK;
}
