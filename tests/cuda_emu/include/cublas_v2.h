/* Stand-in for cuBLAS's header under the CPU emulation (tests/cuda_emu): the
 * types and constants backends/cuda/cuda_gemm.c uses, with cuBLAS's own
 * values. The functions come from emu_runtime.cpp through emu_dlsym, as the
 * backend opens cuBLAS with dlopen. */
#ifndef DISTRO_CUDA_EMU_CUBLAS_V2_H
#define DISTRO_CUDA_EMU_CUBLAS_V2_H
#include "cuda_runtime_api.h"

#define CUBLAS_VER_MAJOR 13
typedef struct emu_cublas *cublasHandle_t;
typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
} cublasMath_t;
#endif
