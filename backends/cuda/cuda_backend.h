/* The CUDA backend's private interface: device and buffer structs, the
 * error helper and the op entry points (cuda_gemm.c, cuda_ops.c).
 *
 * One stream per device; every op is enqueued on it in issue order, and
 * dt_device_sync() is cudaStreamSynchronize. Memory comes from cudaMalloc
 * only (never managed memory); uploads and downloads go through two pinned
 * staging chunks so that copies overlap the host memcpy. cudart is linked
 * statically and cuBLAS is opened with dlopen when a device opens, so a
 * machine without the driver or toolkit still runs the binary; the probe
 * says why it sees no device. The canonical DeMo update (cuda_demo.cu) is
 * trusted once the runtime's shared exactness probe has checked it. */
#ifndef DISTRO_CUDA_BACKEND_H
#define DISTRO_CUDA_BACKEND_H

#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_kernels.h"
#include "runtime/backend.h"

/* Pinned staging: two chunks of this many bytes, used alternately. */
#define CU_STAGING_BYTES (4u << 20)

typedef struct cu_blas cu_blas; /* cuBLAS, opened at run time (cuda_gemm.c) */

typedef struct cu_device {
    dt_device base;
    int ordinal;
    cudaStream_t stream;
    void *staging[2];       /* pinned host memory, CU_STAGING_BYTES each */
    cudaEvent_t staged[2];  /* the last copy through staging[i] finished */
    double *reduce_scratch; /* CUK_REDUCE_BLOCKS doubles */
    size_t smem_optin;      /* largest dynamic shared memory per block */
    bool tf32;              /* option tf32=on: cuBLAS may use TF32 tensor cores */
    cu_blas *blas;
} cu_device;

typedef struct cu_buffer {
    dt_buffer base;
    char *ptr;
} cu_buffer;

static inline cu_device *cu_dev(dt_device *dev) {
    return (cu_device *)dev;
}
static inline float *cu_f32(const dt_tensor *t) {
    return (float *)(((const cu_buffer *)t->buf)->ptr + t->offset);
}
static inline int32_t *cu_i32(const dt_tensor *t) {
    return (int32_t *)(((const cu_buffer *)t->buf)->ptr + t->offset);
}

/* A CUDA error as a dt_status: the op, the call, the device and
 * cudaGetErrorString. cudaErrorMemoryAllocation is DT_ERR_OOM. A fault that
 * poisons the context (cu_error_sticky) is said to be one. */
dt_status cu_fail(const cu_device *d, const char *op, const char *call, cudaError_t err);
/* Whether err is a kernel fault after which the context is unusable: every
 * later call returns it, so the op reporting it need not be the one at
 * fault. */
int cu_error_sticky(cudaError_t err);
/* Make the device current on the calling thread (ops may come from any one
 * thread at a time). */
dt_status cu_enter(cu_device *d, const char *op);

/* The canonical kernel's identity for runtime/canonical_probe.c's cache. */
uint64_t cu_canonical_source(void);
extern const unsigned char cu_src_demo[];
extern const unsigned long cu_src_demo_size;

/* ---- cuBLAS (cuda_gemm.c) ---- */
dt_status cu_blas_open(cu_device *d);
void cu_blas_close(cu_device *d);

/* The entries: cu_<name> for every entry of runtime/op_list.h; the core ones
 * in cuda_device.c, gemm in cuda_gemm.c, the kernels' C side in cuda_ops.c. */
#define CU_DECLARE_OP(ret, name, params, args) ret cu_##name params;
DT_DEVICE_CORE(CU_DECLARE_OP)
DT_DEVICE_OPS(CU_DECLARE_OP)
#undef CU_DECLARE_OP

#endif
