/* The CUDA backend: probing without a driver, opening a device (stream,
 * pinned staging, cuBLAS), buffers and copies, and the op table.
 *
 * Starting without a GPU: cudart is linked statically and finds the driver
 * (libcuda.so.1) itself at run time, so nothing is missing at load time. The
 * probe tells the three cases apart for `distro-cli devices`: no driver
 * library at all, a driver older than the runtime compiled in
 * (cudaErrorInsufficientDriver), or a driver without a device
 * (cudaErrorNoDevice). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_arch.h"
#include "backends/cuda/cuda_backend.h"

int cu_error_sticky(cudaError_t err) {
    switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
        return 1;
    default:
        return 0;
    }
}

dt_status cu_fail(const cu_device *d, const char *op, const char *call, cudaError_t err) {
    const dt_device_info *info = &d->base.info;
    return dt_error(err == cudaErrorMemoryAllocation ? DT_ERR_OOM : DT_ERR_DEVICE,
                    "%s: %s failed on %s (%s): %s (%s)%s", op, call, info->spec, info->name,
                    cudaGetErrorString(err), cudaGetErrorName(err),
                    cu_error_sticky(err)
                        ? "; a kernel faulted, in this op or an earlier one, and the device "
                          "stays unusable in this process (CUDA_LAUNCH_BLOCKING=1 names the op "
                          "at fault)"
                        : "");
}

/* Every op starts here. A failed runtime call leaves its error pending on
 * the thread until cudaGetLastError reads it, and the launchers read it to
 * learn whether their launch worked: an earlier failure nobody reported (a
 * cudaFree at close, another device's failed open) would be blamed on the
 * next kernel. So it is cleared first; an error that poisons the context
 * stays set and is still reported. */
dt_status cu_enter(cu_device *d, const char *op) {
    cudaError_t e = cudaSetDevice(d->ordinal);
    if (e != cudaSuccess) return cu_fail(d, op, "cudaSetDevice", e);
    (void)cudaGetLastError();
    return DT_OK;
}

/* What the shared probe's cached outcome is keyed by: the canonical kernel's
 * source (embedded from cuda_demo.cu), the nvcc version and the
 * architectures it was compiled for. */
uint64_t cu_canonical_source(void) {
    static const char build[] = DISTRO_CUDA_BUILD_ID;
    uint64_t h = dt_hash64(DT_HASH64_SEED, cu_src_demo, (size_t)cu_src_demo_size);
    return dt_hash64(h, build, sizeof build - 1);
}

/* ---- probe (once per process: the answer does not change) ---------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_count;
static char probe_why[256];

static void version_str(int v, char *out, size_t len) {
    snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

typedef int (*driver_version_fn)(int *);

static void probe_run(void) {
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        dt_strlcpy(probe_why, "no NVIDIA driver (libcuda.so.1 not found)", sizeof probe_why);
        return;
    }
    /* The driver's own version, asked directly: cudart reports 0 for a
     * driver it cannot use. */
    int drv = 0, rt = 0, n = 0;
    driver_version_fn driver_version = (driver_version_fn)dlsym(driver, "cuDriverGetVersion");
    if (driver_version && driver_version(&drv) != 0) drv = 0;
    dlclose(driver);
    char drv_s[16], rt_s[16];
    cudaRuntimeGetVersion(&rt);
    version_str(drv, drv_s, sizeof drv_s);
    version_str(rt, rt_s, sizeof rt_s);
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver && drv && drv < rt)
        snprintf(probe_why, sizeof probe_why,
                 "the NVIDIA driver supports CUDA %s, older than the CUDA %s runtime this build "
                 "uses: update the driver",
                 drv_s, rt_s);
    else if (e == cudaErrorInsufficientDriver)
        snprintf(probe_why, sizeof probe_why,
                 "the CUDA %s runtime cannot use this NVIDIA driver (libcuda.so.1, CUDA %s): %s",
                 rt_s, drv ? drv_s : "version unknown", cudaGetErrorString(e));
    else if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0))
        snprintf(probe_why, sizeof probe_why, "no CUDA device (NVIDIA driver for CUDA %s found)",
                 drv_s);
    else if (e != cudaSuccess)
        snprintf(probe_why, sizeof probe_why, "cudaGetDeviceCount failed: %s (%s)",
                 cudaGetErrorString(e), cudaGetErrorName(e));
    else
        probe_count = n;
}

static dt_status cu_probe(int *count, char *why, size_t why_len) {
    pthread_once(&probe_once, probe_run);
    *count = probe_count;
    if (why && why_len) dt_strlcpy(why, probe_count ? "" : probe_why, why_len);
    return DT_OK;
}

/* The device's description; `tf32` is its option (off when only listed). */
static dt_status describe(int index, bool tf32, dt_device_info *info) {
    dt_device_info_init(info, "cuda", index);
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, index);
    if (e != cudaSuccess)
        return dt_error(DT_ERR_DEVICE, "%s: cudaGetDeviceProperties failed: %s (%s)", info->spec,
                        cudaGetErrorString(e), cudaGetErrorName(e));
    /* CUDA 13 compiles for compute capability 7.5 and newer, while drivers
     * still list Pascal and Volta GPUs: such a device is refused here, so
     * `auto` passes over it to its Vulkan or OpenCL device. */
    if (cuda_arch_runs(DISTRO_CUDA_ARCH_LIST, p.major, p.minor, p.integrated != 0) == 0)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: %s (compute capability %d.%d) cannot run this build, compiled "
                        "for %s; use its vulkan or opencl device, or build with a CUDA toolkit "
                        "that supports it and -DDISTRO_CUDA_ARCHS=%d%d",
                        info->spec, p.name, p.major, p.minor, DISTRO_CUDA_ARCH_LIST, p.major,
                        p.minor);
    int drv = 0, rt = 0;
    char drv_s[16], rt_s[16];
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    version_str(drv, drv_s, sizeof drv_s);
    version_str(rt, rt_s, sizeof rt_s);
    dt_strlcpy(info->name, p.name, sizeof info->name);
    dt_strlcpy(info->vendor, "NVIDIA", sizeof info->vendor);
    snprintf(info->driver, sizeof info->driver, "driver CUDA %s, runtime %s", drv_s, rt_s);
    info->type = p.integrated ? DT_DEVICE_GPU_INTEGRATED : DT_DEVICE_GPU_DISCRETE;
    info->memory_bytes = (uint64_t)p.totalGlobalMem;
    info->compute_units = p.multiProcessorCount;
    info->subgroup_size = p.warpSize;
    info->fp16 = true;
    info->fp64 = true;
    snprintf(info->note, sizeof info->note, "sm_%d%d; GEMM via cuBLAS %s", p.major, p.minor,
             tf32 ? "in TF32 (tf32=on: tensor cores, 10-bit mantissas)"
                  : "fp32 (pedantic, no TF32)");
    /* The canonical update runs on the device once the runtime's shared
     * probe (runtime/canonical_probe.c) has seen it match the host's bits;
     * a probe that failed earlier, cached, already says host here (appended
     * to the note, so after it). */
    dt_canonical_lookup(info, cu_canonical_source());
    return DT_OK;
}

static dt_status cu_query(int index, dt_device_info *info) {
    return describe(index, false, info);
}

/* ---- buffers and copies --------------------------------------------------- */

dt_status cu_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    cu_device *d = cu_dev(dev);
    dt_status st = cu_enter(d, "buffer_alloc");
    if (st != DT_OK) return st;
    cu_buffer *b = calloc(1, sizeof *b);
    if (!b) return dt_error(DT_ERR_OOM, "buffer_alloc: out of host memory for %s", dev->info.spec);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        free(b);
        cudaGetLastError(); /* clear the sticky-free allocation error */
        return dt_error(e == cudaErrorMemoryAllocation ? DT_ERR_OOM : DT_ERR_DEVICE,
                        "buffer_alloc: cudaMalloc of %zu bytes failed on %s (%s): %s", bytes,
                        dev->info.spec, dev->info.name, cudaGetErrorString(e));
    }
    b->base.dev = dev;
    b->base.size = bytes;
    b->ptr = p;
    *out = &b->base;
    return DT_OK;
}

void cu_buffer_free(dt_buffer *buf) {
    cu_buffer *b = (cu_buffer *)buf;
    cu_device *d = cu_dev(buf->dev);
    /* cudaFree waits for the device; a failure here has nobody to tell. */
    if (cu_enter(d, "buffer_free") == DT_OK) cudaFree(b->ptr);
    free(b);
}

/* Host -> device through the two pinned chunks: while chunk i's copy runs,
 * the host fills the other. Returns once `src` may be reused (every byte is
 * in staging or on the device). */
dt_status cu_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    cu_device *d = cu_dev(dst->dev);
    dt_status st = cu_enter(d, "upload");
    if (st != DT_OK) return st;
    char *to = ((cu_buffer *)dst)->ptr + offset;
    const char *from = src;
    for (size_t done = 0, j = 0; done < bytes; j++) {
        const int i = (int)(j % 2);
        const size_t n = bytes - done < CU_STAGING_BYTES ? bytes - done : CU_STAGING_BYTES;
        cudaError_t e = cudaEventSynchronize(d->staged[i]);
        if (e != cudaSuccess) return cu_fail(d, "upload", "cudaEventSynchronize", e);
        memcpy(d->staging[i], from + done, n);
        e = cudaMemcpyAsync(to + done, d->staging[i], n, cudaMemcpyHostToDevice, d->stream);
        if (e != cudaSuccess) return cu_fail(d, "upload", "cudaMemcpyAsync", e);
        e = cudaEventRecord(d->staged[i], d->stream);
        if (e != cudaSuccess) return cu_fail(d, "upload", "cudaEventRecord", e);
        done += n;
    }
    return DT_OK;
}

/* Device -> host: chunk j is copied into staging while the host empties
 * chunk j - 1. Stream order makes the copy wait for the ops writing `src`. */
dt_status cu_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    cu_device *d = cu_dev(src->dev);
    dt_status st = cu_enter(d, "download");
    if (st != DT_OK) return st;
    const char *from = ((const cu_buffer *)src)->ptr + offset;
    char *to = dst;
    size_t prev_off = 0, prev_n = 0;
    for (size_t done = 0, j = 0;; j++) {
        const int i = (int)(j % 2);
        const size_t n = bytes - done < CU_STAGING_BYTES ? bytes - done : CU_STAGING_BYTES;
        cudaError_t e;
        if (n) {
            e = cudaMemcpyAsync(d->staging[i], from + done, n, cudaMemcpyDeviceToHost, d->stream);
            if (e != cudaSuccess) return cu_fail(d, "download", "cudaMemcpyAsync", e);
            e = cudaEventRecord(d->staged[i], d->stream);
            if (e != cudaSuccess) return cu_fail(d, "download", "cudaEventRecord", e);
        }
        if (prev_n) {
            const int pi = 1 - i;
            e = cudaEventSynchronize(d->staged[pi]);
            if (e != cudaSuccess) return cu_fail(d, "download", "cudaEventSynchronize", e);
            memcpy(to + prev_off, d->staging[pi], prev_n);
        }
        if (!n) break;
        prev_off = done;
        prev_n = n;
        done += n;
    }
    return DT_OK;
}

dt_status cu_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                  size_t bytes) {
    cu_device *d = cu_dev(dst->dev);
    dt_status st = cu_enter(d, "copy");
    if (st != DT_OK) return st;
    if (!bytes) return DT_OK;
    cudaError_t e = cudaMemcpyAsync(((cu_buffer *)dst)->ptr + dst_offset,
                                    ((const cu_buffer *)src)->ptr + src_offset, bytes,
                                    cudaMemcpyDeviceToDevice, d->stream);
    return e == cudaSuccess ? DT_OK : cu_fail(d, "copy", "cudaMemcpyAsync", e);
}

dt_status cu_sync(dt_device *dev) {
    cu_device *d = cu_dev(dev);
    dt_status st = cu_enter(d, "sync");
    if (st != DT_OK) return st;
    cudaError_t e = cudaStreamSynchronize(d->stream);
    return e == cudaSuccess ? DT_OK : cu_fail(d, "sync", "cudaStreamSynchronize", e);
}

/* ---- open and close -------------------------------------------------------- */

void cu_close(dt_device *dev) {
    cu_device *d = cu_dev(dev);
    /* Only a device that got as far as its stream is entered: since CUDA 12
     * cudaSetDevice makes the device's context, hundreds of MiB of GPU
     * memory held to the end of the process, and a device refused in
     * describe() never needed one. Nothing below exists without a stream. */
    if (d->stream && cu_enter(d, "close") == DT_OK) cudaStreamSynchronize(d->stream);
    cu_blas_close(d);
    if (d->reduce_scratch) cudaFree(d->reduce_scratch);
    for (int i = 0; i < 2; i++) {
        if (d->staged[i]) cudaEventDestroy(d->staged[i]);
        if (d->staging[i]) cudaFreeHost(d->staging[i]);
    }
    if (d->stream) cudaStreamDestroy(d->stream);
    free(d);
}

/* Every entry of runtime/op_list.h: cu_<name>. */
#define CU_OP_ENTRY(ret, name, params, args) .name = cu_##name,
static const dt_device_ops cu_ops = {DT_DEVICE_CORE(CU_OP_ENTRY) DT_DEVICE_OPS(CU_OP_ENTRY)};
#undef CU_OP_ENTRY

/* Stream, staging, scratch and cuBLAS; on failure the caller closes. */
static dt_status cu_setup(cu_device *d) {
    cudaError_t e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) return cu_fail(d, "open", "cudaStreamCreate", e);
    for (int i = 0; i < 2; i++) {
        e = cudaMallocHost(&d->staging[i], CU_STAGING_BYTES);
        if (e != cudaSuccess) return cu_fail(d, "open", "cudaMallocHost (pinned staging)", e);
        e = cudaEventCreateWithFlags(&d->staged[i], cudaEventDisableTiming);
        if (e != cudaSuccess) return cu_fail(d, "open", "cudaEventCreate", e);
    }
    e = cudaMalloc((void **)&d->reduce_scratch, CUK_REDUCE_BLOCKS * sizeof(double));
    if (e != cudaSuccess) return cu_fail(d, "open", "cudaMalloc (reduction scratch)", e);
    int optin = 0;
    e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, d->ordinal);
    if (e != cudaSuccess) return cu_fail(d, "open", "cudaDeviceGetAttribute", e);
    d->smem_optin = (size_t)optin;
    return cu_blas_open(d);
}

/* The check by capability in describe() cannot judge every build (an
 * architecture list such as "native"); the runtime's own answer, once the
 * device is current. */
static dt_status kernels_run_here(cu_device *d) {
    cudaError_t e = cuk_kernel_image();
    if (e == cudaSuccess) return DT_OK;
    (void)cudaGetLastError();
    /* A GPU newer than the build's machine code runs its PTX, compiled by
     * the driver: one older than the nvcc that wrote it cannot. */
    if (e == cudaErrorUnsupportedPtxVersion || e == cudaErrorInvalidPtx ||
        e == cudaErrorJitCompilerNotFound || e == cudaErrorJitCompilationDisabled)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: %s has no machine code in this build (compiled for %s) and its "
                        "driver cannot compile the build's PTX: %s (%s); update the NVIDIA driver, "
                        "or build with -DDISTRO_CUDA_ARCHS naming this GPU",
                        d->base.info.spec, d->base.info.name, DISTRO_CUDA_ARCH_LIST,
                        cudaGetErrorString(e), cudaGetErrorName(e));
    /* Anything else (a busy exclusive-process GPU, no memory for the
     * context) is the device's failure, not the build's. */
    if (e != cudaErrorNoKernelImageForDevice && e != cudaErrorInvalidDeviceFunction)
        return cu_fail(d, "open", "cudaFuncGetAttributes", e);
    return dt_error(DT_ERR_UNSUPPORTED,
                    "%s: %s has no kernel image in this build (compiled for %s): %s (%s); use "
                    "its vulkan or opencl device, or build with -DDISTRO_CUDA_ARCHS for it",
                    d->base.info.spec, d->base.info.name, DISTRO_CUDA_ARCH_LIST,
                    cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Device options ("cuda:0:tf32=on"), by position. */
enum { CU_OPT_TF32 };
static const dt_option_spec cu_options[] = {
    [CU_OPT_TF32] = {"tf32", "off|on", 0, 0,
                     "on: cuBLAS GEMM in TF32 on tensor cores (Ampere and newer; faster, with "
                     "10-bit mantissas); off (default): fp32 with pedantic math"},
    {NULL, NULL, 0, 0, NULL},
};

static dt_status cu_open(int index, const dt_device_options *opts, dt_device **out) {
    int count = 0;
    char why[256];
    cu_probe(&count, why, sizeof why);
    if (index < 0 || index >= count)
        return dt_error(DT_ERR_NOT_FOUND, "cuda:%d: no such device (%s)", index,
                        count ? "index out of range" : why);
    cu_device *d = calloc(1, sizeof *d);
    if (!d) return dt_error(DT_ERR_OOM, "cuda:%d: cannot allocate a device", index);
    d->base.ops = &cu_ops;
    d->base.canonical_source = cu_canonical_source();
    d->ordinal = index;
    d->tf32 = dt_option_value(opts, CU_OPT_TF32, 0) == 1;
    dt_status st = describe(index, d->tf32, &d->base.info);
    if (st == DT_OK) st = cu_enter(d, "open");
    if (st == DT_OK) st = kernels_run_here(d);
    if (st == DT_OK) st = cu_setup(d);
    if (st != DT_OK) {
        cu_close(&d->base);
        return st;
    }
    *out = &d->base;
    return DT_OK;
}

const dt_backend dt_backend_cuda = {
    .name = "cuda",
    .ops = &cu_ops,
    .probe = cu_probe,
    .query = cu_query,
    .open = cu_open,
    .options = cu_options,
};
