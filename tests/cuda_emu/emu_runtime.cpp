// The CUDA runtime, driver and cuBLAS as the CPU emulation provides them
// (tests/cuda_emu): enough for the CUDA backend's own host code
// (backends/cuda/cuda_device.c, cuda_ops.c, cuda_gemm.c) to run unchanged
// against it, and strict where a GPU is strict.
//
//  - Device memory is host memory between guard bytes, filled with NaN
//    bytes (cudaMalloc does not clear); a guard found overwritten at a
//    synchronisation is a fault, reported as cudaErrorIllegalAddress as a
//    GPU would. A device pointer a copy, a GEMM or a kernel argument uses
//    must lie inside a live allocation.
//  - A stream is a queue. Asynchronous copies between device memory and
//    pinned host memory wait in it until something forces them: an event or
//    stream synchronisation, a kernel or GEMM on the stream (stream order),
//    a copy from pageable memory (which CUDA performs at once). That is the
//    latest a GPU may run them, so host code that reuses a staging buffer or
//    reads a download before its event completes sees stale bytes here.
//  - Launch configuration as CUDA checks it: 1 to 1024 threads, a non-empty
//    grid, dynamic shared memory over 48 KiB only up to the kernel's
//    cudaFuncAttributeMaxDynamicSharedMemorySize and the device's opt-in.
//  - The machine: one device of compute capability 9.0, a driver for CUDA
//    13.0; DISTRO_CUDA_EMU_DRIVER = none (no libcuda.so.1), old (a CUDA 12.2
//    driver) or nodevice plays the machines the backend's probe must
//    explain, volta a device of capability 7.0 (which CUDA 13 builds have no
//    code for) and noimage a 9.0 device that nonetheless finds no kernel
//    image (what cudaFuncGetAttributes says for a build the check by
//    capability cannot judge, such as CUDA_ARCHITECTURES=native); oldptx a
//    9.0 device whose driver cannot compile the build's PTX (a GPU newer
//    than the build's machine code, with a driver older than its nvcc).
// The driver's and cuBLAS's few functions are in emu_libraries.cpp.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "cuda_emu.h"
#include "emu_runtime.h"

namespace {

constexpr size_t GUARD = 64;
constexpr unsigned char GUARD_BYTE = 0xA5;
constexpr int SMEM_DEFAULT = 48 << 10;
constexpr int SMEM_OPTIN = 227 << 10; // an H100's opt-in per block
constexpr int RUNTIME_VERSION = 13000;

struct allocation {
    size_t size;
    unsigned char *raw; // GUARD bytes, size bytes, GUARD bytes
};
std::map<uintptr_t, allocation> device_mem; // by user address
std::map<uintptr_t, size_t> pinned;         // cudaMallocHost blocks
cudaError_t last_error = cudaSuccess;
std::string fault; // a sticky error, as a GPU fault is

} // namespace

namespace emu {

machine played() {
    const char *v = getenv("DISTRO_CUDA_EMU_DRIVER");
    if (!v || !*v) return ONE_DEVICE;
    if (!strcmp(v, "none")) return NO_DRIVER;
    if (!strcmp(v, "old")) return OLD_DRIVER;
    if (!strcmp(v, "nodevice")) return NO_DEVICE;
    if (!strcmp(v, "volta")) return VOLTA;
    if (!strcmp(v, "noimage")) return NO_IMAGE;
    if (!strcmp(v, "oldptx")) return OLD_PTX;
    fprintf(stderr,
            "cuda emulation: DISTRO_CUDA_EMU_DRIVER=%s: none, old, nodevice, volta, noimage or "
            "oldptx\n",
            v);
    abort();
}

int driver_version() {
    return played() == OLD_DRIVER ? 12020 : 13000;
}

void set_fault(const std::string &what) {
    if (fault.empty()) {
        fault = what;
        fprintf(stderr, "cuda emulation: %s\n", what.c_str());
    }
}

const void *device_range(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = device_mem.upper_bound(a);
    if (it == device_mem.begin()) return nullptr;
    --it;
    if (a + bytes > it->first + it->second.size) return nullptr;
    return &it->second;
}

} // namespace emu

namespace {
using namespace emu;

bool pinned_range(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = pinned.upper_bound(a);
    if (it == pinned.begin()) return false;
    --it;
    return a + bytes <= it->first + it->second;
}

void check_guards() {
    for (auto &[user, al] : device_mem) {
        for (size_t i = 0; i < GUARD; i++)
            if (al.raw[i] != GUARD_BYTE || al.raw[GUARD + al.size + i] != GUARD_BYTE) {
                char msg[160];
                snprintf(msg, sizeof msg,
                         "a write outside the %zu-byte device allocation at %#lx (guard bytes "
                         "overwritten)",
                         al.size, (unsigned long)user);
                set_fault(msg);
                memset(al.raw, GUARD_BYTE, GUARD);
                memset(al.raw + GUARD + al.size, GUARD_BYTE, GUARD);
                break;
            }
    }
}

struct op {
    void *dst = nullptr;
    const void *src = nullptr;
    size_t bytes = 0;
    emu_event *event = nullptr; // a recorded event instead of a copy
};

} // namespace

struct emu_stream {
    std::deque<op> queue;
};
struct emu_event {
    emu_stream *stream = nullptr; // where it was last recorded
    bool done = true;             // never recorded: complete
};

namespace {
std::set<emu_stream *> streams;
std::set<emu_event *> events;
std::map<const void *, int> kernel_smem; // cudaFuncAttributeMaxDynamicSharedMemorySize
unsigned long deferred_copies;

// Runs the stream's queue up to and including the first op satisfying
// `until` (all of it when null).
template <typename F> void drain(emu_stream *s, F until) {
    while (!s->queue.empty()) {
        op o = s->queue.front();
        s->queue.pop_front();
        if (o.event)
            o.event->done = true;
        else if (o.bytes) // a cancelled record is a copy of no bytes, from null
            memmove(o.dst, o.src, o.bytes);
        if (until(o)) return;
    }
}

} // namespace

void emu::flush(cudaStream_t s) {
    if (s) drain(s, [](const op &) { return false; });
}

namespace {

void flush_all() {
    for (emu_stream *s : streams) flush(s);
}

cudaError_t fault_status() {
    check_guards();
    return fault.empty() ? cudaSuccess : cudaErrorIllegalAddress;
}

unsigned long set_device_calls;

} // namespace

bool emu::faulted() {
    return fault_status() != cudaSuccess;
}

extern "C" {

// Each error the emulation returns: CUDA's name and message for it.
static const struct {
    cudaError_t code;
    const char *name, *text;
} error_texts[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration",
     "invalid configuration argument"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorNoKernelImageForDevice, "cudaErrorNoKernelImageForDevice",
     "no kernel image is available for execution on the device"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress",
     "an illegal memory access was encountered"},
    {cudaErrorUnsupportedPtxVersion, "cudaErrorUnsupportedPtxVersion",
     "the provided PTX was compiled with an unsupported toolchain."},
};

const char *emu_cudaGetErrorString(cudaError_t e) {
    for (const auto &t : error_texts)
        if (t.code == e) return t.text;
    return "unknown error";
}

const char *emu_cudaGetErrorName(cudaError_t e) {
    for (const auto &t : error_texts)
        if (t.code == e) return t.name;
    return "cudaErrorUnknown";
}

cudaError_t emu_cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e != cudaSuccess ? e : fault.empty() ? cudaSuccess : cudaErrorIllegalAddress;
}

cudaError_t emu_cudaSetDevice(int device) {
    set_device_calls++; // since CUDA 12 each makes the device's context
    return device == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
cudaError_t emu_cudaRuntimeGetVersion(int *v) {
    *v = RUNTIME_VERSION;
    return cudaSuccess;
}
cudaError_t emu_cudaDriverGetVersion(int *v) {
    *v = played() == NO_DRIVER ? 0 : driver_version();
    return cudaSuccess;
}
cudaError_t emu_cudaGetDeviceCount(int *count) {
    *count = 0;
    switch (played()) {
    case NO_DRIVER:
    case OLD_DRIVER:
        return cudaErrorInsufficientDriver;
    case NO_DEVICE:
        return cudaErrorNoDevice;
    case ONE_DEVICE:
    case VOLTA:
    case NO_IMAGE:
    case OLD_PTX:
        break;
    }
    *count = 1;
    return cudaSuccess;
}

cudaError_t emu_cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    if (device != 0) return cudaErrorInvalidValue;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulated on the CPU");
    p->totalGlobalMem = (size_t)8 << 30;
    p->warpSize = 32;
    p->multiProcessorCount = 1;
    p->major = emu::played() == emu::VOLTA ? 7 : 9;
    return cudaSuccess;
}

// cudaFuncGetAttributes (cuda_emu.h): whether the kernel has an image for
// the device.
extern "C" cudaError_t emu_kernel_image(void) {
    if (emu::played() == emu::NO_IMAGE || emu::played() == emu::VOLTA)
        return last_error = cudaErrorNoKernelImageForDevice;
    if (emu::played() == emu::OLD_PTX) return last_error = cudaErrorUnsupportedPtxVersion;
    return cudaSuccess;
}

cudaError_t emu_cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    if (device != 0 || attr != cudaDevAttrMaxSharedMemoryPerBlockOptin)
        return cudaErrorInvalidValue;
    *value = SMEM_OPTIN;
    return cudaSuccess;
}

cudaError_t emu_cudaMalloc(void **p, size_t bytes) {
    if (bytes > ((size_t)8 << 30)) return last_error = cudaErrorMemoryAllocation;
    auto *raw = (unsigned char *)malloc(bytes + 2 * GUARD);
    if (!raw) return last_error = cudaErrorMemoryAllocation;
    memset(raw, GUARD_BYTE, GUARD);
    memset(raw + GUARD, 0xFF, bytes); // NaN bytes: device memory starts as garbage
    memset(raw + GUARD + bytes, GUARD_BYTE, GUARD);
    *p = raw + GUARD;
    device_mem[(uintptr_t)*p] = {bytes, raw};
    return cudaSuccess;
}

cudaError_t emu_cudaFree(void *p) {
    if (!p) return cudaSuccess;
    flush_all(); // cudaFree waits for the device
    check_guards();
    auto it = device_mem.find((uintptr_t)p);
    if (it == device_mem.end()) return cudaErrorInvalidValue;
    free(it->second.raw);
    device_mem.erase(it);
    return cudaSuccess;
}

cudaError_t emu_cudaMallocHost(void **p, size_t bytes) {
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return cudaErrorMemoryAllocation;
    pinned[(uintptr_t)*p] = bytes;
    return cudaSuccess;
}

cudaError_t emu_cudaFreeHost(void *p) {
    flush_all();
    if (!pinned.erase((uintptr_t)p)) return cudaErrorInvalidValue;
    free(p);
    return cudaSuccess;
}

cudaError_t emu_cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                                cudaStream_t s) {
    if (!bytes) return cudaSuccess;
    if (!streams.count(s)) return cudaErrorInvalidResourceHandle;
    const bool dst_dev = kind != cudaMemcpyDeviceToHost, src_dev = kind != cudaMemcpyHostToDevice;
    if ((dst_dev && !device_range(dst, bytes)) || (src_dev && !device_range(src, bytes)))
        return cudaErrorInvalidValue; // CUDA checks a copy's device pointers at the call
    const void *host = kind == cudaMemcpyHostToDevice   ? src
                       : kind == cudaMemcpyDeviceToHost ? dst
                                                        : nullptr;
    if (host && !pinned_range(host, bytes)) {
        flush(s); // pageable memory: the copy happens now, in stream order
        memmove(dst, src, bytes);
        return cudaSuccess;
    }
    op o;
    o.dst = dst;
    o.src = src;
    o.bytes = bytes;
    s->queue.push_back(o);
    deferred_copies++;
    return cudaSuccess;
}

cudaError_t emu_cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = new emu_stream;
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t emu_cudaStreamDestroy(cudaStream_t s) {
    if (!streams.erase(s)) return cudaErrorInvalidResourceHandle;
    flush(s);
    delete s;
    return cudaSuccess;
}

cudaError_t emu_cudaStreamSynchronize(cudaStream_t s) {
    if (!streams.count(s)) return cudaErrorInvalidResourceHandle;
    flush(s);
    return fault_status();
}

// The emulation runs a stream's work when something waits for it, so a
// query finds it done; a fault shows as on a GPU.
cudaError_t emu_cudaStreamQuery(cudaStream_t s) {
    if (!streams.count(s)) return cudaErrorInvalidResourceHandle;
    flush(s);
    return fault_status();
}

cudaError_t emu_cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) {
    *e = new emu_event;
    events.insert(*e);
    return cudaSuccess;
}

cudaError_t emu_cudaEventDestroy(cudaEvent_t e) {
    if (!events.erase(e)) return cudaErrorInvalidResourceHandle;
    if (!e->done) // a pending record of it completes without it
        for (op &o : e->stream->queue)
            if (o.event == e) o = op(); // a copy of no bytes
    delete e;
    return cudaSuccess;
}

cudaError_t emu_cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    if (!events.count(e) || !streams.count(s)) return cudaErrorInvalidResourceHandle;
    if (!e->done) // recorded again: waiting on it now means waiting on this record
        for (op &o : e->stream->queue)
            if (o.event == e) o = op();
    e->stream = s;
    e->done = false;
    op o;
    o.event = e;
    s->queue.push_back(o);
    return cudaSuccess;
}

cudaError_t emu_cudaEventSynchronize(cudaEvent_t e) {
    if (!events.count(e)) return cudaErrorInvalidResourceHandle;
    if (!e->done) drain(e->stream, [e](const op &o) { return o.event == e; });
    return fault_status();
}

// ---- launches (cuda_emu.h) ----

void emu_set_max_dynamic_smem(const void *kernel, int bytes) {
    kernel_smem[kernel] = bytes;
}

bool emu_launch_begin(const void *kernel, unsigned grid, unsigned block, size_t smem,
                      cudaStream_t s) {
    if (s) {
        if (!streams.count(s)) return last_error = cudaErrorInvalidResourceHandle, false;
        flush(s); // stream order: what was queued before runs first
    }
    auto it = kernel_smem.find(kernel);
    const size_t allowed = it != kernel_smem.end() && it->second > SMEM_DEFAULT
                               ? (size_t)it->second
                               : (size_t)SMEM_DEFAULT;
    if (grid == 0 || block == 0 || block > 1024 || smem > allowed || smem > (size_t)SMEM_OPTIN) {
        last_error = cudaErrorInvalidConfiguration;
        fprintf(stderr,
                "cuda emulation: launch refused: grid %u, block %u, %zu bytes of dynamic "
                "shared memory (%zu allowed)\n",
                grid, block, smem, allowed);
        return false;
    }
    return true;
}

void emu_check_pointer(const void *p, cudaStream_t s) {
    if (!s) return; // the kernel tests call launchers on host vectors directly
    if (!device_range(p, 0)) {
        char msg[128];
        snprintf(msg, sizeof msg, "a kernel was given %p, which is no device allocation", p);
        set_fault(msg);
    }
}

unsigned long emu_cuda_deferred_copies(void) {
    return deferred_copies;
}

unsigned long emu_cuda_set_device_calls(void) {
    return set_device_calls;
}

// A fault as a kernel's out-of-bounds write would leave (tests only).
void emu_cuda_inject_fault(const char *what) {
    set_fault(what);
}
} // extern "C"
