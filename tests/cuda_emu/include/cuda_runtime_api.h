/* Stand-in for the CUDA runtime API under the CPU emulation (tests/cuda_emu):
 * the types, constants and calls the CUDA backend uses (backends/cuda), with
 * the calls renamed emu_* (emu_runtime.cpp) so that they never clash with the
 * real cudart linked into libdistro.a. Error numbers are CUDA's own. The
 * backend's sources reach it through to_cpu.sed, which also renames their
 * dlopen/dlsym/dlclose/dlerror to the emu_dl* declared here. */
#ifndef DISTRO_CUDA_EMU_RUNTIME_API_H
#define DISTRO_CUDA_EMU_RUNTIME_API_H
#include <stddef.h>

typedef int cudaError_t;
enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNoKernelImageForDevice = 209,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorInvalidPtx = 218,
    cudaErrorJitCompilerNotFound = 221,
    cudaErrorUnsupportedPtxVersion = 222,
    cudaErrorJitCompilationDisabled = 223,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchTimeout = 702,
    cudaErrorAssert = 710,
    cudaErrorHardwareStackError = 714,
    cudaErrorIllegalInstruction = 715,
    cudaErrorMisalignedAddress = 716,
    cudaErrorInvalidAddressSpace = 717,
    cudaErrorInvalidPc = 718,
    cudaErrorLaunchFailure = 719,
};
typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;
enum cudaMemcpyKind {
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
};
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
#define cudaStreamNonBlocking  0x01
#define cudaEventDisableTiming 0x02

struct cudaFuncAttributes {
    int maxThreadsPerBlock;
};

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int warpSize, multiProcessorCount, major, minor, integrated;
};

#define cudaGetErrorString        emu_cudaGetErrorString
#define cudaGetErrorName          emu_cudaGetErrorName
#define cudaGetLastError          emu_cudaGetLastError
#define cudaSetDevice             emu_cudaSetDevice
#define cudaRuntimeGetVersion     emu_cudaRuntimeGetVersion
#define cudaDriverGetVersion      emu_cudaDriverGetVersion
#define cudaGetDeviceCount        emu_cudaGetDeviceCount
#define cudaGetDeviceProperties   emu_cudaGetDeviceProperties
#define cudaDeviceGetAttribute    emu_cudaDeviceGetAttribute
#define cudaMalloc                emu_cudaMalloc
#define cudaFree                  emu_cudaFree
#define cudaMallocHost            emu_cudaMallocHost
#define cudaFreeHost              emu_cudaFreeHost
#define cudaMemcpyAsync           emu_cudaMemcpyAsync
#define cudaStreamCreateWithFlags emu_cudaStreamCreateWithFlags
#define cudaStreamDestroy         emu_cudaStreamDestroy
#define cudaStreamSynchronize     emu_cudaStreamSynchronize
#define cudaStreamQuery           emu_cudaStreamQuery
#define cudaEventCreateWithFlags  emu_cudaEventCreateWithFlags
#define cudaEventDestroy          emu_cudaEventDestroy
#define cudaEventRecord           emu_cudaEventRecord
#define cudaEventSynchronize      emu_cudaEventSynchronize

#ifdef __cplusplus
extern "C" {
#endif
const char *emu_cudaGetErrorString(cudaError_t e);
const char *emu_cudaGetErrorName(cudaError_t e);
cudaError_t emu_cudaGetLastError(void);
cudaError_t emu_cudaSetDevice(int device);
cudaError_t emu_cudaRuntimeGetVersion(int *version);
cudaError_t emu_cudaDriverGetVersion(int *version);
cudaError_t emu_cudaGetDeviceCount(int *count);
cudaError_t emu_cudaGetDeviceProperties(struct cudaDeviceProp *p, int device);
cudaError_t emu_cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t emu_cudaMalloc(void **p, size_t bytes);
cudaError_t emu_cudaFree(void *p);
cudaError_t emu_cudaMallocHost(void **p, size_t bytes);
cudaError_t emu_cudaFreeHost(void *p);
cudaError_t emu_cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                                cudaStream_t s);
cudaError_t emu_cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t emu_cudaStreamDestroy(cudaStream_t s);
cudaError_t emu_cudaStreamSynchronize(cudaStream_t s);
cudaError_t emu_cudaStreamQuery(cudaStream_t s);
cudaError_t emu_cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t emu_cudaEventDestroy(cudaEvent_t e);
cudaError_t emu_cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t emu_cudaEventSynchronize(cudaEvent_t e);

/* The driver and cuBLAS, as the backend opens them (dlopen). */
void *emu_dlopen(const char *file, int mode);
void *emu_dlsym(void *handle, const char *name);
int emu_dlclose(void *handle);
char *emu_dlerror(void);
#ifdef __cplusplus
}
#endif
#endif
