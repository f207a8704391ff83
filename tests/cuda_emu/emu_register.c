/* Linked into the test programs that run on the emulated CUDA device: adds
 * the backend (backends/cuda's host code and kernels under the CPU
 * emulation, registered as "cudaemu") before main opens any device. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/backend.h"

extern const dt_backend dt_backend_cuda_emu;

__attribute__((constructor)) static void register_cuda_emu(void) {
    if (dt_backend_register(&dt_backend_cuda_emu) != DT_OK) {
        fprintf(stderr, "cannot register the emulated CUDA backend: %s\n", dt_last_error());
        exit(1);
    }
}
