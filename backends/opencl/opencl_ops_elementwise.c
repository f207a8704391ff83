/* Elementwise ops, AdamW, the DeMo momentum and the reductions: one
 * work-item per element, or the fixed two-pass tree of elementwise.cl. */
#include "backends/opencl/opencl_backend.h"

dt_status ocl_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                  int64_t n) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_ADD);
    ocl_arg_view(&k, a);
    ocl_arg_view(&k, b);
    ocl_arg_view(&k, y);
    ocl_arg_i64(&k, n);
    return ocl_run_1d(&k, "add", (size_t)n, OCL_WG_1D);
}

dt_status ocl_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y,
                    int64_t n) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_SCALE);
    ocl_arg_view(&k, x);
    ocl_arg_f32(&k, alpha);
    ocl_arg_view(&k, y);
    ocl_arg_i64(&k, n);
    return ocl_run_1d(&k, "scale", (size_t)n, OCL_WG_1D);
}

dt_status ocl_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_FILL);
    ocl_arg_view(&k, y);
    ocl_arg_f32(&k, value);
    ocl_arg_i64(&k, n);
    return ocl_run_1d(&k, "fill", (size_t)n, OCL_WG_1D);
}

dt_status ocl_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                    const dt_tensor *v, int64_t n, const dt_adamw_params *hp) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_ADAMW);
    ocl_arg_view(&k, p);
    ocl_arg_view(&k, g);
    ocl_arg_view(&k, m);
    ocl_arg_view(&k, v);
    ocl_arg_i64(&k, n);
    ocl_arg_f32(&k, hp->lr);
    ocl_arg_f32(&k, hp->beta1);
    ocl_arg_f32(&k, hp->beta2);
    ocl_arg_f32(&k, hp->eps);
    ocl_arg_f32(&k, hp->weight_decay);
    ocl_arg_f32(&k, hp->bias1);
    ocl_arg_f32(&k, hp->bias2);
    ocl_arg_f32(&k, hp->grad_scale);
    return ocl_run_1d(&k, "adamw", (size_t)n, OCL_WG_1D);
}

dt_status ocl_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                            float beta, float lr) {
    ocl_args k = ocl_args_begin(ocl_dev(dev), OCL_K_DEMO_MOMENTUM);
    ocl_arg_view(&k, d);
    ocl_arg_view(&k, g);
    ocl_arg_i64(&k, n);
    ocl_arg_f32(&k, beta);
    ocl_arg_f32(&k, lr);
    return ocl_run_1d(&k, "demo_momentum", (size_t)n, OCL_WG_1D);
}

/* Pass 1 into the device's partials buffer, pass 2 into `out`. The queue is
 * in order and one thread issues work per device, so one partials buffer per
 * device is enough. */
static dt_status reduce(dt_device *dev, const char *op, ocl_kernel_id partial, ocl_kernel_id final,
                        const dt_tensor *x, const dt_tensor *out, int64_t n) {
    ocl_device *d = ocl_dev(dev);
    ocl_args k = ocl_args_begin(d, partial);
    ocl_arg_view(&k, x);
    ocl_arg_i64(&k, n);
    ocl_arg_mem(&k, d->reduce_partials);
    dt_status st = ocl_run_1d(&k, op, (size_t)OCL_REDUCE_GROUPS * OCL_WG_REDUCE, OCL_WG_REDUCE);
    if (st != DT_OK) return st;
    k = ocl_args_begin(d, final);
    ocl_arg_mem(&k, d->reduce_partials);
    ocl_arg_view(&k, out);
    return ocl_run_1d(&k, op, OCL_REDUCE_GROUPS, OCL_REDUCE_GROUPS);
}

dt_status ocl_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    return reduce(dev, "sum_squares", OCL_K_SUM_SQUARES_PARTIAL, OCL_K_SUM_FINAL, x, out, n);
}

dt_status ocl_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    return reduce(dev, "check_finite", OCL_K_FINITE_PARTIAL, OCL_K_MIN_FINAL, x, out, n);
}
