/* test_cuda_arch: which GPUs a CUDA build can run on, from its
 * CUDA_ARCHITECTURES list (backends/cuda/cuda_arch.c), against the rules of
 * the CUDA C++ Programming Guide ("Binary Compatibility", "PTX
 * Compatibility"): machine code for sm_XY runs on X.y with y >= Y, PTX for
 * compute_XY on anything at or above X.Y, "a" code on exactly X.Y, "f" code
 * on the family; on Tegra (integrated) GPUs machine code only on exactly its
 * own capability. Pure C: runs whether or not this build has CUDA. */
#include <stdio.h>

#include "backends/cuda/cuda_arch.h"
#include "tests/test_util.h"

static int failures;
#define CHECK(...) TEST_CHECK(failures, __VA_ARGS__)

/* The default of DISTRO_CUDA_ARCHS (CMakeLists.txt), as the build passes it. */
#define DEFAULT_ARCHS "75-real,80-real,86-real,89-real,90"

static const struct {
    const char *archs;
    int major, minor, tegra, want;
    const char *gpu;
} cases[] = {
    {DEFAULT_ARCHS, 6, 1, 0, 0, "GeForce GTX 1080 (Pascal): CUDA 13 has no code for it"},
    {DEFAULT_ARCHS, 7, 0, 0, 0, "Tesla V100 (Volta)"},
    {DEFAULT_ARCHS, 7, 2, 0, 0, "Jetson AGX Xavier: below sm_75's 7.5"},
    {DEFAULT_ARCHS, 7, 5, 0, 1, "GeForce RTX 2080 (Turing)"},
    {DEFAULT_ARCHS, 8, 0, 0, 1, "A100"},
    {DEFAULT_ARCHS, 8, 6, 0, 1, "GeForce RTX 3090"},
    {"86-real", 8, 7, 0, 1, "a desktop 8.7 would run sm_86 code"},
    {DEFAULT_ARCHS, 8, 7, 1, 0, "Jetson Orin: Tegra runs no other minor's code"},
    {"87-real", 8, 7, 1, 1, "Jetson Orin built for 8.7"},
    {"80-virtual", 8, 7, 1, 1, "Jetson Orin: PTX still compiles"},
    {DEFAULT_ARCHS, 8, 9, 0, 1, "GeForce RTX 4090 (Ada)"},
    {DEFAULT_ARCHS, 9, 0, 0, 1, "H100"},
    {DEFAULT_ARCHS, 10, 0, 0, 1, "B200: compute_90 PTX, compiled by the driver"},
    {DEFAULT_ARCHS, 12, 0, 0, 1, "GeForce RTX 5090: compute_90 PTX"},
    {"75-real", 8, 0, 0, 0, "machine code only: no newer major"},
    {"75-real", 7, 7, 0, 1, "same major, higher minor"},
    {"80-virtual", 7, 5, 0, 0, "PTX never runs below its version"},
    {"80-virtual", 9, 0, 0, 1, "PTX runs above its version"},
    {"90a", 9, 0, 0, 1, "architecture-specific code on its own GPU"},
    {"90a-real", 10, 0, 0, 0, "architecture-specific code nowhere else"},
    {"100f", 10, 3, 0, 1, "family code on the family"},
    {"100f", 11, 0, 0, 0, "family code not on the next major"},
    {"75-real;90", 9, 0, 0, 1, "';' separates too (a CMake list)"},
    {"native", 9, 0, 0, -1, "cannot tell: left to the runtime"},
    {"75-real,native", 7, 0, 0, -1, "one entry unknown, none fits"},
    {"75-real,native", 7, 5, 0, 1, "one entry fits"},
    {"", 9, 0, 0, -1, "an empty list says nothing"},
    {"7", 9, 0, 0, -1, "not an architecture"},
    {DEFAULT_ARCHS, 9, 12, 0, -1, "minor out of range"},
};

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int got =
            cuda_arch_runs(cases[i].archs, cases[i].major, cases[i].minor, cases[i].tegra);
        CHECK(got == cases[i].want, "\"%s\" on %d.%d (%s): %d, expected %d", cases[i].archs,
              cases[i].major, cases[i].minor, cases[i].gpu, got, cases[i].want);
        printf("%-3s %-36s %2d.%d%s %2d  %s\n", got == cases[i].want ? "ok" : "BAD", cases[i].archs,
               cases[i].major, cases[i].minor, cases[i].tegra ? " tegra" : "      ", got,
               cases[i].gpu);
    }
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
