/* test_cuda_gemm_map: the CUDA backend's row-major to column-major GEMM
 * mapping (backends/cuda/cuda_gemm.c, compiled in here under other names),
 * with cuBLAS replaced by a plain column-major reference, against the CPU
 * backend's GEMM: both transposes, batches with padded leading dimensions and
 * strides, and beta = 0 over a NaN C. Runs without a GPU. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#define cu_enter      emu_cu_enter
#define cu_gemm       emu_cu_gemm
#define cu_blas_open  emu_cu_blas_open
#define cu_blas_close emu_cu_blas_close
#include "backends/cuda/cuda_gemm.c"
#include "distro/distro.h"

dt_status emu_cu_enter(cu_device *d, const char *op) {
    (void)d;
    (void)op;
    return DT_OK;
}

static cublasStatus_t ref_sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const float *alpha, const float *A, int lda,
                                long long sa, const float *B, int ldb, long long sb,
                                const float *beta, float *C, int ldc, long long sc, int batch) {
    (void)h;
    for (int q = 0; q < batch; q++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    float a = ta == CUBLAS_OP_N ? A[q * sa + i + (long long)p * lda]
                                                : A[q * sa + p + (long long)i * lda];
                    float b = tb == CUBLAS_OP_N ? B[q * sb + p + (long long)j * ldb]
                                                : B[q * sb + j + (long long)p * ldb];
                    acc += (double)a * b;
                }
                float *c = &C[q * sc + i + (long long)j * ldc];
                *c = (float)(*alpha * acc + (*beta == 0 ? 0.0 : (double)*beta * *c));
            }
    return CUBLAS_STATUS_SUCCESS;
}

int main(void) {
    dt_device *cpu;
    if (dt_device_open("cpu", &cpu) != DT_OK) return 1;
    struct cu_blas fake = {0};
    fake.sgemm = ref_sgemm;
    cu_device d;
    memset(&d, 0, sizeof d);
    d.blas = &fake;
    dt_strlcpy(d.base.info.spec, "cuda:emulated", sizeof d.base.info.spec);
    int fails = 0, cases = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int batch = 1; batch <= 3; batch += 2)
                for (int pad = 0; pad < 2; pad++)
                    for (int bz = 0; bz < 2; bz++) {
                        const int64_t m = 5, n = 7, k = 4;
                        dt_gemm_desc g = {ta, tb, m, n,     k, 1.5f, bz ? 0.0f : 0.5f,
                                          0,  0,  0, batch, 0, 0,    0};
                        g.lda = (ta ? m : k) + pad * 3;
                        g.ldb = (tb ? k : n) + pad * 2;
                        g.ldc = n + pad;
                        g.stride_a = (ta ? k : m) * g.lda + pad * 5;
                        g.stride_b = (tb ? n : k) * g.ldb;
                        g.stride_c = m * g.ldc + pad * 4;
                        size_t na = g.stride_a * batch, nb = g.stride_b * batch,
                               nc = g.stride_c * batch;
                        float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4),
                              *C2 = malloc(nc * 4);
                        for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7919) % 13) - 6;
                        for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 104729) % 11) - 5;
                        for (size_t i = 0; i < nc; i++) C[i] = C2[i] = bz ? NAN : (float)(i % 5);
                        /* CPU backend */
                        dt_tensor tA, tB, tC;
                        int64_t sa[1] = {(int64_t)na}, sb[1] = {(int64_t)nb},
                                scc[1] = {(int64_t)nc};
                        dt_tensor_alloc(cpu, DT_F32, 1, sa, &tA);
                        dt_tensor_alloc(cpu, DT_F32, 1, sb, &tB);
                        dt_tensor_alloc(cpu, DT_F32, 1, scc, &tC);
                        dt_buffer_upload(tA.buf, 0, A, na * 4);
                        dt_buffer_upload(tB.buf, 0, B, nb * 4);
                        dt_buffer_upload(tC.buf, 0, C, nc * 4);
                        if (dt_gemm(cpu, &g, tA, tB, tC) != DT_OK) {
                            printf("cpu gemm: %s\n", dt_last_error());
                            return 1;
                        }
                        dt_buffer_download(tC.buf, 0, C, nc * 4);
                        /* the CUDA backend's mapping on host memory */
                        cu_buffer ba = {{&d.base, na * 4}, (char *)A},
                                  bbuf = {{&d.base, nb * 4}, (char *)B},
                                  bc = {{&d.base, nc * 4}, (char *)C2};
                        dt_tensor xa = {&ba.base, 0, DT_F32, 1, {(int64_t)na}},
                                  xb = {&bbuf.base, 0, DT_F32, 1, {(int64_t)nb}},
                                  xc = {&bc.base, 0, DT_F32, 1, {(int64_t)nc}};
                        if (cu_gemm(&d.base, &g, &xa, &xb, &xc) != DT_OK) {
                            printf("cu_gemm: %s\n", dt_last_error());
                            return 1;
                        }
                        int bad = 0;
                        for (int q = 0; q < batch; q++)
                            for (int i = 0; i < m; i++)
                                for (int j = 0; j < n; j++) {
                                    size_t at = q * g.stride_c + i * g.ldc + j;
                                    if (!(fabsf(C[at] - C2[at]) <= 1e-4f * (1 + fabsf(C[at]))))
                                        bad++;
                                }
                        cases++;
                        if (bad) {
                            fails++;
                            printf("FAIL ta=%d tb=%d batch=%d pad=%d beta0=%d: %d wrong\n", ta, tb,
                                   batch, pad, bz, bad);
                        }
                        dt_tensor_free(&tA);
                        dt_tensor_free(&tB);
                        dt_tensor_free(&tC);
                        free(A);
                        free(B);
                        free(C);
                        free(C2);
                    }
    printf("%s: cu_gemm's mapping onto column-major GEMM, %d cases, %d failed\n",
           fails ? "FAIL" : "PASS", cases, fails);
    dt_device_close(cpu);
    return fails != 0;
}
