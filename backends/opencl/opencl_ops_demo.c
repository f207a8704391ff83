/* DeMo tile ops (kernels/demo.cl) and the canonical update
 * (kernels/demo_apply.cl): one work-group per tile, tiles in local memory. */
#include <stdlib.h>

#include "backends/opencl/opencl_backend.h"

/* Local memory a tile kernel may ask for: what the device has, less a margin
 * for the kernel's own small arrays. */
static int tile_fits(const ocl_device *d, size_t bytes) {
    return bytes + 1024 <= d->local_mem_bytes;
}

static dt_status tile_too_big(const ocl_device *d, const char *op, const dt_tile_plan *p,
                              size_t bytes) {
    return dt_error(DT_ERR_UNSUPPORTED,
                    "%s: a %lld x %lld tile needs %zu bytes of local memory; %s (%s) has %llu "
                    "(use a smaller DeMo chunk)",
                    op, (long long)p->tile_rows, (long long)p->tile_cols, bytes, d->base.info.spec,
                    d->base.info.name, (unsigned long long)d->local_mem_bytes);
}

dt_status ocl_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                          const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    ocl_device *d = ocl_dev(dev);
    size_t bytes = (size_t)plan->tile_size * sizeof(float);
    if (!tile_fits(d, bytes)) return tile_too_big(d, "demo_encode", plan, bytes);
    ocl_args k = ocl_args_begin(d, OCL_K_DEMO_ENCODE);
    ocl_arg_view(&k, x);
    ocl_arg_view(&k, f1);
    ocl_arg_view(&k, f2);
    ocl_arg_view(&k, coeffs);
    ocl_arg_i64(&k, plan->cols);
    ocl_arg_i32(&k, (cl_int)plan->tile_rows);
    ocl_arg_i32(&k, (cl_int)plan->tile_cols);
    ocl_arg_i64(&k, plan->tiles_per_row);
    ocl_arg_local(&k, bytes);
    return ocl_run_1d(&k, "demo_encode", (size_t)plan->n_tiles * OCL_WG_TILE, OCL_WG_TILE);
}

dt_status ocl_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size,
                        int64_t k, const dt_tensor *idx, const dt_tensor *vals) {
    ocl_args a = ocl_args_begin(ocl_dev(dev), OCL_K_DEMO_TOPK);
    ocl_arg_view(&a, coeffs);
    ocl_arg_view(&a, idx);
    ocl_arg_view(&a, vals);
    ocl_arg_i32(&a, (cl_int)tile_size);
    ocl_arg_i32(&a, (cl_int)k);
    return ocl_run_1d(&a, "demo_topk", (size_t)n_tiles * OCL_WG_TILE, OCL_WG_TILE);
}

dt_status ocl_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                              const dt_tensor *f2, const dt_tensor *dm) {
    ocl_device *d = ocl_dev(dev);
    size_t bytes = (size_t)plan->tile_size * sizeof(float);
    if (!tile_fits(d, 2 * bytes)) return tile_too_big(d, "demo_decode_sub", plan, 2 * bytes);
    ocl_args a = ocl_args_begin(d, OCL_K_DEMO_DECODE_SUB);
    ocl_arg_view(&a, idx);
    ocl_arg_view(&a, vals);
    ocl_arg_view(&a, f1);
    ocl_arg_view(&a, f2);
    ocl_arg_view(&a, dm);
    ocl_arg_i64(&a, plan->cols);
    ocl_arg_i32(&a, (cl_int)plan->tile_rows);
    ocl_arg_i32(&a, (cl_int)plan->tile_cols);
    ocl_arg_i64(&a, plan->tiles_per_row);
    ocl_arg_i32(&a, (cl_int)k);
    ocl_arg_local(&a, bytes);
    ocl_arg_local(&a, bytes);
    return ocl_run_1d(&a, "demo_decode_sub", (size_t)plan->n_tiles * OCL_WG_TILE, OCL_WG_TILE);
}

dt_status ocl_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                         const dt_tensor *vals, int64_t k, int64_t n_contrib,
                         const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                         const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    ocl_device *d = ocl_dev(dev);
    size_t bytes = (size_t)plan->tile_size * sizeof(float);
    /* Tiles too large for local memory: the reference on the host. Bit-exact
     * by construction, slow, and only reached with unusually large chunks. */
    if (!tile_fits(d, 2 * bytes))
        return dt_demo_apply_via_host(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay,
                                      update);
    ocl_args a = ocl_args_begin(d, OCL_K_DEMO_APPLY);
    ocl_arg_view(&a, idx);
    ocl_arg_view(&a, vals);
    ocl_arg_view(&a, recip);
    ocl_arg_view(&a, f1);
    ocl_arg_view(&a, f2);
    ocl_arg_view(&a, w);
    ocl_arg_i64(&a, plan->cols);
    ocl_arg_i32(&a, (cl_int)plan->tile_rows);
    ocl_arg_i32(&a, (cl_int)plan->tile_cols);
    ocl_arg_i64(&a, plan->tiles_per_row);
    ocl_arg_i64(&a, plan->n_tiles);
    ocl_arg_i32(&a, (cl_int)k);
    ocl_arg_i32(&a, (cl_int)n_contrib);
    ocl_arg_f32(&a, lr);
    ocl_arg_f32(&a, decay);
    ocl_arg_i32(&a, update == DT_DEMO_UPDATE_SCALED); /* the rule; the runtime checked it */
    ocl_arg_local(&a, bytes);
    ocl_arg_local(&a, bytes);
    return ocl_run_1d(&a, "demo_apply", (size_t)plan->n_tiles * OCL_WG_TILE, OCL_WG_TILE);
}
