// The NVIDIA driver and cuBLAS as the CPU emulation provides them
// (tests/cuda_emu): the backend opens both with dlopen, so emu_dlopen and
// emu_dlsym (to_cpu.sed renames the calls) hand out these functions.
//
// cuBLAS: cublasSgemmStridedBatched as column-major arithmetic in double,
// with cuBLAS's argument rules (leading dimensions, sizes) and every operand
// inside a device allocation, so the backend's row-major mapping is checked
// too; it runs in stream order (what the stream holds runs first).
#include <cstring>

#include "cublas_v2.h"
#include "cuda_emu.h"
#include "emu_runtime.h"

using namespace emu;

struct emu_cublas {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {
char driver_handle, cublas_handle;

int driver_get_version(int *v) {
    *v = driver_version();
    return 0;
}

cublasStatus_t blas_create(cublasHandle_t *h) {
    *h = new emu_cublas;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t blas_destroy(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t blas_set_stream(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t blas_set_math(cublasHandle_t h, cublasMath_t m) {
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}
const char *blas_status_string(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS         ? "CUBLAS_STATUS_SUCCESS"
           : s == CUBLAS_STATUS_INVALID_VALUE ? "CUBLAS_STATUS_INVALID_VALUE"
                                              : "CUBLAS_STATUS_EXECUTION_FAILED";
}

// Does an operand of `rows` x `cols` (column-major, leading dimension ld),
// batch items `stride` apart, lie inside one device allocation?
bool operand_inside(const float *p, int rows, int cols, int ld, long long stride, int batch) {
    if (rows == 0 || cols == 0) return true;
    const long long last = (long long)(batch - 1) * stride + (long long)(cols - 1) * ld + rows;
    return stride >= 0 && device_range(p, (size_t)last * sizeof(float));
}

cublasStatus_t blas_sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                          int n, int k, const float *alpha, const float *A, int lda, long long sa,
                          const float *B, int ldb, long long sb, const float *beta, float *C,
                          int ldc, long long sc, int batch) {
    const int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
    auto at_least = [](int ld, int rows) { return ld >= (rows > 1 ? rows : 1); };
    if (m < 0 || n < 0 || k < 0 || batch < 0 || !at_least(lda, a_rows) || !at_least(ldb, b_rows) ||
        !at_least(ldc, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (h->stream) flush(h->stream);
    // A faulted context runs nothing more; cuBLAS says only that it failed.
    if (faulted()) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    if ((k && (!operand_inside(A, a_rows, ta == CUBLAS_OP_N ? k : m, lda, sa, batch) ||
               !operand_inside(B, b_rows, tb == CUBLAS_OP_N ? n : k, ldb, sb, batch))) ||
        !operand_inside(C, m, n, ldc, sc, batch)) {
        set_fault("cublasSgemmStridedBatched reads or writes outside a device allocation");
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    for (int q = 0; q < batch; q++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    const double a = ta == CUBLAS_OP_N ? A[q * sa + i + (long long)p * lda]
                                                       : A[q * sa + p + (long long)i * lda];
                    const double b = tb == CUBLAS_OP_N ? B[q * sb + p + (long long)j * ldb]
                                                       : B[q * sb + j + (long long)p * ldb];
                    acc += a * b;
                }
                float *c = &C[q * sc + i + (long long)j * ldc];
                *c = (float)(*alpha * acc + (*beta == 0.0f ? 0.0 : (double)*beta * *c));
            }
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace

extern "C" {
void *emu_dlopen(const char *file, int) {
    if (!strcmp(file, "libcuda.so.1")) return played() == NO_DRIVER ? nullptr : &driver_handle;
    if (!strncmp(file, "libcublas.so.", 13)) return &cublas_handle;
    return nullptr;
}

void *emu_dlsym(void *handle, const char *name) {
    static const struct {
        void *handle;
        const char *name;
        void *fn;
    } table[] = {
        {&driver_handle, "cuDriverGetVersion", (void *)driver_get_version},
        {&cublas_handle, "cublasCreate_v2", (void *)blas_create},
        {&cublas_handle, "cublasDestroy_v2", (void *)blas_destroy},
        {&cublas_handle, "cublasSetStream_v2", (void *)blas_set_stream},
        {&cublas_handle, "cublasSetMathMode", (void *)blas_set_math},
        {&cublas_handle, "cublasGetStatusString", (void *)blas_status_string},
        {&cublas_handle, "cublasSgemmStridedBatched", (void *)blas_sgemm},
    };
    for (const auto &e : table)
        if (e.handle == handle && !strcmp(e.name, name)) return e.fn;
    return nullptr;
}

int emu_dlclose(void *) {
    return 0;
}

char *emu_dlerror(void) {
    static char none[] = "not part of the CUDA emulation";
    return none;
}
} // extern "C"
