/* Stand-in for the CUDA runtime API when the kernels run under the CPU
 * emulation (cuda_emu.h): the few types and calls their launchers use. The
 * calls are renamed (emu_*) so that they never clash with the real cudart
 * linked into libdistro.a. */
#ifndef DISTRO_CUDA_EMU_RUNTIME_API_H
#define DISTRO_CUDA_EMU_RUNTIME_API_H
typedef int cudaError_t;
typedef void *cudaStream_t;
enum { cudaSuccess = 0 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
#define cudaGetLastError emu_cudaGetLastError
#ifdef __cplusplus
extern "C" {
#endif
cudaError_t emu_cudaGetLastError(void);
#ifdef __cplusplus
}
#endif
#endif
