/* The OpenCL backend's private interface: device and buffer structs, the
 * program and kernel tables, the launch helpers and the op entry points
 * (one file per family of ops).
 *
 * OpenCL 1.2 API only (CL_TARGET_OPENCL_VERSION=120): no SVM, no device-side
 * enqueue, nothing that an AMD/Intel/ARM consumer GPU of the last decade or
 * PoCL on a CPU lacks. Every op is enqueued on one in-order queue, so ops run
 * in issue order without events; dt_device_sync() is clFinish(). */
#ifndef DISTRO_OPENCL_BACKEND_H
#define DISTRO_OPENCL_BACKEND_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "runtime/backend.h"

/* ---- programs and kernels ---------------------------------------------------
 * One program per .cl file under kernels/, each compiled with kernels/common.cl
 * in front (shared vector helpers). The canonical DeMo update has a
 * program of its own because its floating-point rules differ (no FMA
 * contraction at all, see demo_apply.cl). */
#define OCL_PROGRAMS(X)                                                                            \
    X(OCL_PROG_ELEMENTWISE, "elementwise", ocl_src_elementwise)                                    \
    X(OCL_PROG_NN, "nn", ocl_src_nn)                                                               \
    X(OCL_PROG_ATTENTION, "attention", ocl_src_attention)                                          \
    X(OCL_PROG_ATTENTION_TILED, "attention_tiled", ocl_src_attention_tiled)                        \
    X(OCL_PROG_DEMO, "demo", ocl_src_demo)                                                         \
    X(OCL_PROG_DEMO_APPLY, "demo_apply", ocl_src_demo_apply)

#define OCL_KERNELS(X)                                                                             \
    X(OCL_K_ADD, OCL_PROG_ELEMENTWISE, "add_f32")                                                  \
    X(OCL_K_SCALE, OCL_PROG_ELEMENTWISE, "scale_f32")                                              \
    X(OCL_K_FILL, OCL_PROG_ELEMENTWISE, "fill_f32")                                                \
    X(OCL_K_FILL_MATRIX, OCL_PROG_ELEMENTWISE, "fill_matrix_f32")                                  \
    X(OCL_K_ADAMW, OCL_PROG_ELEMENTWISE, "adamw_f32")                                              \
    X(OCL_K_DEMO_MOMENTUM, OCL_PROG_ELEMENTWISE, "demo_momentum_f32")                              \
    X(OCL_K_SUM_SQUARES_PARTIAL, OCL_PROG_ELEMENTWISE, "sum_squares_partial")                      \
    X(OCL_K_FINITE_PARTIAL, OCL_PROG_ELEMENTWISE, "finite_partial")                                \
    X(OCL_K_SUM_FINAL, OCL_PROG_ELEMENTWISE, "sum_final")                                          \
    X(OCL_K_MIN_FINAL, OCL_PROG_ELEMENTWISE, "min_final")                                          \
    X(OCL_K_EMBEDDING_FWD, OCL_PROG_NN, "embedding_fwd")                                           \
    X(OCL_K_EMBEDDING_BWD, OCL_PROG_NN, "embedding_bwd")                                           \
    X(OCL_K_RMSNORM_FWD, OCL_PROG_NN, "rmsnorm_fwd")                                               \
    X(OCL_K_RMSNORM_BWD_DW, OCL_PROG_NN, "rmsnorm_bwd_dw")                                         \
    X(OCL_K_RMSNORM_BWD_DX, OCL_PROG_NN, "rmsnorm_bwd_dx")                                         \
    X(OCL_K_ROPE, OCL_PROG_NN, "rope")                                                             \
    X(OCL_K_SWIGLU_FWD, OCL_PROG_NN, "swiglu_fwd")                                                 \
    X(OCL_K_SWIGLU_BWD, OCL_PROG_NN, "swiglu_bwd")                                                 \
    X(OCL_K_SOFTMAX_XENT, OCL_PROG_NN, "softmax_xent")                                             \
    X(OCL_K_ATTENTION_FWD, OCL_PROG_ATTENTION, "attention_fwd")                                    \
    X(OCL_K_ATTENTION_BWD_DELTA, OCL_PROG_ATTENTION, "attention_bwd_delta")                        \
    X(OCL_K_ATTENTION_BWD_DQ, OCL_PROG_ATTENTION, "attention_bwd_dq")                              \
    X(OCL_K_ATTENTION_BWD_DKDV, OCL_PROG_ATTENTION, "attention_bwd_dkdv")                          \
    X(OCL_K_ATTENTION_FWD_TILED, OCL_PROG_ATTENTION_TILED, "attention_fwd_tiled")                  \
    X(OCL_K_ATTENTION_BWD_DQ_TILED, OCL_PROG_ATTENTION_TILED, "attention_bwd_dq_tiled")            \
    X(OCL_K_ATTENTION_BWD_DKDV_TILED, OCL_PROG_ATTENTION_TILED, "attention_bwd_dkdv_tiled")        \
    X(OCL_K_DEMO_ENCODE, OCL_PROG_DEMO, "demo_encode")                                             \
    X(OCL_K_DEMO_TOPK, OCL_PROG_DEMO, "demo_topk")                                                 \
    X(OCL_K_DEMO_DECODE_SUB, OCL_PROG_DEMO, "demo_decode_sub")                                     \
    X(OCL_K_DEMO_APPLY, OCL_PROG_DEMO_APPLY, "demo_apply")

#define OCL_ENUM_PROGRAM(id, name, sym) id,
#define OCL_ENUM_KERNEL(id, prog, name) id,
typedef enum ocl_program_id { OCL_PROGRAMS(OCL_ENUM_PROGRAM) OCL_PROGRAM_COUNT } ocl_program_id;
typedef enum ocl_kernel_id { OCL_KERNELS(OCL_ENUM_KERNEL) OCL_KERNEL_COUNT } ocl_kernel_id;
#undef OCL_ENUM_PROGRAM
#undef OCL_ENUM_KERNEL

/* Work-group sizes the kernels are written for (each .cl file gets them as
 * -D defines, so local arrays have compile-time sizes). Small enough for
 * every OpenCL 1.2 device (the minimum CL_DEVICE_MAX_WORK_GROUP_SIZE is 1 on
 * paper, 256 or more on every GPU and on PoCL). */
#define OCL_WG_1D     64 /* elementwise kernels */
#define OCL_WG_ROW    64 /* one work-group per row: norms, cross-entropy */
#define OCL_WG_REDUCE 64 /* reductions */
#define OCL_WG_TILE   64 /* one work-group per DeMo tile */
#define OCL_WG_ATTN   32 /* queries (or keys) per attention work-group */
/* Reductions run on a fixed number of work-groups, so the summation tree and
 * therefore the result do not depend on timing or on the device. */
#define OCL_REDUCE_GROUPS 64
/* Attention keeps one head's row of q/k/v and its accumulators in private
 * memory; heads wider than this are refused with a clear message. */
#define OCL_ATTN_HEAD_DIM_MAX 128

/* ---- device and buffers ---------------------------------------------------- */

typedef struct ocl_device {
    dt_device base;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program programs[OCL_PROGRAM_COUNT];
    cl_kernel kernels[OCL_KERNEL_COUNT];
    cl_mem reduce_partials; /* OCL_REDUCE_GROUPS floats for two-pass reductions */
    cl_mem gemm_scratch;    /* CLBlast's padded copies; grows to the largest GEMM seen */
    size_t gemm_scratch_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    /* The paths written for CPU devices (PoCL): CLBlast with PoCL-tuned
     * parameters, few embedding-backward buckets. By default on CPU
     * devices; kernels=gpu takes the GPU paths on any device (how they are
     * tested without a GPU), kernels=cpu the CPU ones. */
    bool cpu_paths;
} ocl_device;

/* Device options (opencl:N:kernels=auto|cpu|gpu), by position. */
enum { OCL_OPT_KERNELS = 0 };
enum { OCL_KERNELS_AUTO = 0, OCL_KERNELS_CPU = 1, OCL_KERNELS_GPU = 2 };

typedef struct ocl_buffer {
    dt_buffer base;
    cl_mem mem;
} ocl_buffer;

static inline ocl_device *ocl_dev(dt_device *dev) {
    return (ocl_device *)dev;
}
static inline cl_mem ocl_mem(const dt_tensor *t) {
    return ((const ocl_buffer *)t->buf)->mem;
}
/* Kernels take (buffer, element offset) pairs: views start anywhere, and
 * sub-buffers would demand CL_DEVICE_MEM_BASE_ADDR_ALIGN. */
static inline cl_ulong ocl_off(const dt_tensor *t) {
    return (cl_ulong)(t->offset / 4);
}

/* Returns early with the status of a failing step. */
#define OCL_TRY(expr)                                                                              \
    do {                                                                                           \
        dt_status ocl_try_st_ = (expr);                                                            \
        if (ocl_try_st_ != DT_OK) return ocl_try_st_;                                              \
    } while (0)

/* ---- opencl_platform.c: enumeration ---------------------------------------- */

/* The index-th device across all platforms (platform order, then device
 * order); DT_ERR_UNAVAILABLE (no ICD, platform or device, with the reason)
 * or DT_ERR_NOT_FOUND (index too large) when there is none. */
dt_status ocl_find_device(int index, cl_platform_id *platform, cl_device_id *device);
/* Everything dt_device_info says about a device, without opening it,
 * with the paths `kernels` (OCL_KERNELS_*) selects. */
dt_status ocl_describe_device(int index, cl_platform_id platform, cl_device_id device, int kernels,
                              dt_device_info *info);
/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *ocl_error_name(cl_int err);
/* A string property of a device or platform, always NUL-terminated. */
void ocl_device_string(cl_device_id d, cl_device_info what, char *out, size_t len);
void ocl_platform_string(cl_platform_id p, cl_platform_info what, char *out, size_t len);

/* ---- opencl_device.c ------------------------------------------------------- */
dt_status ocl_open(int index, const dt_device_options *opts, dt_device **out);
extern const dt_option_spec ocl_options[];
extern const dt_device_ops ocl_ops; /* every OpenCL device's table */

/* ---- opencl_program.c: building programs and kernels ----------------------- */

/* Builds (or loads from the disk cache) every program and creates every
 * kernel; on failure names the program, the device and the build log. */
dt_status ocl_build_all(ocl_device *d);
void ocl_release_programs(ocl_device *d);

/* ---- opencl_program_cache.c: on-disk program binaries ----------------------- */

/* Identity of one compiled program: everything a binary depends on. */
typedef struct ocl_cache_key {
    char text[1024]; /* "distro-opencl-cache/1|program|platform|...|driver|options|hash" */
    char file[512];  /* full path of its cache file; empty when caching is off */
} ocl_cache_key;

/* Fills key->text and key->file for a program compiled from prelude +
 * source with `options`. The cache is off (key->file empty) when
 * DISTRO_OPENCL_CACHE=0 or no cache directory can be determined. */
void ocl_cache_key_make(ocl_cache_key *key, cl_platform_id platform, cl_device_id device,
                        const char *program, const char *options, const char *prelude,
                        size_t prelude_len, const char *source, size_t source_len);
/* A verified binary for the key, malloc'ed into *bin, or 0 when there is
 * none or the file is corrupt, truncated or for another key. */
int ocl_cache_load(const ocl_cache_key *key, unsigned char **bin, size_t *len);
/* Writes the binary atomically (temp file, fsync, rename). Failure to write
 * a cache is not an error for the caller: the next start compiles again. */
void ocl_cache_store(const ocl_cache_key *key, const unsigned char *bin, size_t len);

/* opencl_program.c: the identity of the canonical update's code (kernels/
 * common.cl, kernels/demo_apply.cl and the build options), under which the
 * runtime caches its exactness probe (dt_device.canonical_source). */
uint64_t ocl_canonical_source(void);

/* ---- opencl_launch.c: arguments and enqueue ------------------------------- */

/* Sets consecutive kernel arguments; the first error sticks and is reported
 * by ocl_run, so op code reads as a straight list of arguments. */
typedef struct ocl_args {
    ocl_device *dev;
    cl_kernel kernel;
    cl_uint next;
    cl_int err;
} ocl_args;

ocl_args ocl_args_begin(ocl_device *d, ocl_kernel_id k);
void ocl_arg_mem(ocl_args *a, cl_mem m);
/* A view as (buffer, element offset): two arguments. */
void ocl_arg_view(ocl_args *a, const dt_tensor *t);
void ocl_arg_f32(ocl_args *a, float v);
void ocl_arg_i32(ocl_args *a, cl_int v);
void ocl_arg_i64(ocl_args *a, cl_long v);
void ocl_arg_local(ocl_args *a, size_t bytes);
/* Enqueues the kernel; global sizes are rounded up to multiples of local.
 * `op` names the op in error messages (with the device and the CL error). */
dt_status ocl_run(ocl_args *a, const char *op, cl_uint dims, const size_t *global,
                  const size_t *local);
/* Common shape: n work-items in groups of `local`. */
dt_status ocl_run_1d(ocl_args *a, const char *op, size_t n, size_t local);
/* Status for a failed CL call: DT_ERR_OOM for the out-of-memory codes,
 * DT_ERR_DEVICE otherwise; the message names the op and the device. */
dt_status ocl_fail(const ocl_device *d, const char *op, const char *call, cl_int err);

/* ---- the device's entries ----------------------------------------------------
 * ocl_<name> for every entry of runtime/op_list.h: close and sync in
 * opencl_device.c, the buffer entries in opencl_buffer.c, gemm in
 * opencl_gemm.c, the ops in opencl_ops_elementwise.c, opencl_ops_nn.c,
 * opencl_ops_attention.c and opencl_ops_demo.c. */
#define OCL_DECLARE_OP(ret, name, params, args) ret ocl_##name params;
DT_DEVICE_CORE(OCL_DECLARE_OP)
DT_DEVICE_OPS(OCL_DECLARE_OP)
#undef OCL_DECLARE_OP

/* ---- opencl_gemm.c --------------------------------------------------------- */
/* Whether a device takes the CPU paths under `kernels` (OCL_KERNELS_*;
 * auto: CPU devices do). */
bool ocl_cpu_paths(cl_device_id device, int kernels);
/* Whether GEMM gets the PoCL-tuned CLBlast parameters: the CPU paths on
 * PoCL. */
bool ocl_clblast_tuned(cl_platform_id platform, bool cpu_paths);
/* How GEMM runs, for info.note ("GEMM via CLBlast ..."). */
const char *ocl_gemm_note(bool tuned);
/* At open: CLBlast kernel parameters for devices its database does not
 * know (PoCL's CPU device) when ocl_clblast_tuned; a no-op elsewhere.
 * CLBlast keeps them for that device for the rest of the process. */
dt_status ocl_gemm_setup(ocl_device *d);

#endif
