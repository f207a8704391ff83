/* Kernel arguments and enqueueing, with errors that name the op, the device
 * and the OpenCL error. Kernels are created once per device (opencl_program.c);
 * an op only sets arguments and enqueues, so nothing here allocates. */
#include "backends/opencl/opencl_backend.h"

dt_status ocl_fail(const ocl_device *d, const char *op, const char *call, cl_int err) {
    const dt_device_info *info = &d->base.info;
    int oom = err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
              err == CL_OUT_OF_HOST_MEMORY;
    if (oom)
        return dt_error(DT_ERR_OOM, "%s: out of memory on %s (%s): %s returned %s", op, info->spec,
                        info->name, call, ocl_error_name(err));
    return dt_error(DT_ERR_DEVICE, "%s: %s failed on %s (%s): %s (%d)", op, call, info->spec,
                    info->name, ocl_error_name(err), (int)err);
}

ocl_args ocl_args_begin(ocl_device *d, ocl_kernel_id k) {
    ocl_args a = {d, d->kernels[k], 0, CL_SUCCESS};
    return a;
}

static void set_arg(ocl_args *a, size_t size, const void *value) {
    cl_int err = clSetKernelArg(a->kernel, a->next, size, value);
    if (err != CL_SUCCESS && a->err == CL_SUCCESS) a->err = err;
    a->next++;
}

void ocl_arg_mem(ocl_args *a, cl_mem m) {
    set_arg(a, sizeof m, &m);
}

void ocl_arg_view(ocl_args *a, const dt_tensor *t) {
    cl_mem m = ocl_mem(t);
    cl_ulong off = ocl_off(t);
    set_arg(a, sizeof m, &m);
    set_arg(a, sizeof off, &off);
}

void ocl_arg_f32(ocl_args *a, float v) {
    set_arg(a, sizeof v, &v);
}
void ocl_arg_i32(ocl_args *a, cl_int v) {
    set_arg(a, sizeof v, &v);
}
void ocl_arg_i64(ocl_args *a, cl_long v) {
    set_arg(a, sizeof v, &v);
}
void ocl_arg_local(ocl_args *a, size_t bytes) {
    set_arg(a, bytes, NULL);
}

dt_status ocl_run(ocl_args *a, const char *op, cl_uint dims, const size_t *global,
                  const size_t *local) {
    if (a->err != CL_SUCCESS) return ocl_fail(a->dev, op, "clSetKernelArg", a->err);
    size_t rounded[3];
    for (cl_uint i = 0; i < dims; i++) {
        if (global[i] == 0) return DT_OK; /* nothing to do */
        rounded[i] = (global[i] + local[i] - 1) / local[i] * local[i];
    }
    cl_int err =
        clEnqueueNDRangeKernel(a->dev->queue, a->kernel, dims, NULL, rounded, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? DT_OK : ocl_fail(a->dev, op, "clEnqueueNDRangeKernel", err);
}

dt_status ocl_run_1d(ocl_args *a, const char *op, size_t n, size_t local) {
    return ocl_run(a, op, 1, &n, &local);
}
