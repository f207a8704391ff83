// What emu_runtime.cpp (the emulated CUDA runtime) shares with
// emu_libraries.cpp (the emulated driver and cuBLAS). Test code only.
#pragma once
#include <cstddef>
#include <string>

#include "cuda_runtime_api.h"

namespace emu {

// The machine played (DISTRO_CUDA_EMU_DRIVER): a device, or why there is none.
enum machine { ONE_DEVICE, NO_DRIVER, OLD_DRIVER, NO_DEVICE, VOLTA, NO_IMAGE, OLD_PTX };
machine played();
// The driver's CUDA version, as cuDriverGetVersion gives it (13000: 13.0).
int driver_version();
// The live device allocation holding [p, p + bytes), or null.
const void *device_range(const void *p, size_t bytes);
// Runs what the stream holds (stream order before a GEMM or a kernel).
void flush(cudaStream_t s);
// A sticky fault, as a GPU's: reported once, then every sync fails.
void set_fault(const std::string &what);
// Whether a sticky fault is set (and the guards checked first).
bool faulted();

} // namespace emu
