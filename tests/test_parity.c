/* test_parity: every op on every non-cpu device against the cpu device on
 * identical inputs (after ggml's test-backend-ops). Inputs are drawn fresh
 * each run; the seed is printed first and with every failure, and
 * DISTRO_TEST_SEED repeats a run. DISTRO_TEST_DEVICES (comma list of specs)
 * restricts the devices; specs given as arguments name the devices instead,
 * device options included ("test_parity vulkan:0:kernels=gpu").
 * DISTRO_TEST_REQUIRE_EXACT=1 fails a device whose own canonical update
 * fails the exactness probe (the CUDA kernel must pass it). With no
 * device to compare, the test is skipped (exit 77), never passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/backend.h"
#include "tests/op_cases.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    uint64_t seed = test_seed(test_time_seed());
    printf("seed %llu (DISTRO_TEST_SEED=%llu repeats this run)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    /* Arguments: the devices to test, as specs with any options (e.g.
     * vulkan:0:kernels=gpu); none: every device but the cpu backend's. */
    test_dev devs[32];
    int n = argc > 1 ? test_devices_named(argc - 1, argv + 1, devs, 32) : test_devices(0, devs, 32);
    if (n < 0) return 1;
    if (n == 0) {
        printf("SKIP: no device %s to compare (see the SKIP lines above)\n",
               argc > 1 ? "of those named" : "other than the cpu backend's");
        return TEST_SKIP;
    }
    /* DISTRO_TEST_REQUIRE_EXACT=1: a device whose canonical update fails the
     * probe fails the test, even though the host fallback keeps its bits. */
    const char *req = getenv("DISTRO_TEST_REQUIRE_EXACT");
    const int require_exact = req && strcmp(req, "1") == 0;
    dt_device *cpu = NULL;
    if (dt_device_open("cpu", &cpu) != DT_OK) {
        printf("FAIL: cannot open the cpu device: %s\n", dt_last_error());
        return 1;
    }
    int failed_devices = 0, ops_passed = 0, ops_failed = 0;
    for (int i = 0; i < n; i++) {
        dt_device *dev = NULL;
        double t0 = now();
        if (dt_device_open(devs[i].spec, &dev) != DT_OK) {
            printf("FAIL %s: enumerated but cannot be opened: %s\n", devs[i].spec, dt_last_error());
            failed_devices++;
            continue;
        }
        const dt_device_info *info = dt_device_get_info(dev);
        printf("== %s: %s (%s, %s%s%s) opened in %.1f s\n", info->spec, info->name, info->driver,
               dt_device_type_name(info->type), info->note[0] ? "; " : "", info->note, now() - t0);
        if (info->canonical_on_host)
            printf("   note: %s runs the canonical dt_demo_apply on the host\n", info->spec);
        tc c;
        tc_init(&c, seed); /* the same inputs on every device */
        c.dut = dev;
        c.ref = cpu;
        c.tol[TOL_ELEM] = 1e-7;
        c.tol[TOL_NORM] = 1e-7;
        c.tol[TOL_TRANSFORM] = 1e-7;
        c.tol[TOL_REDUCE] = 1e-7;
        c.tol[TOL_GEMM] = 5e-4;
        t0 = now();
        cases_all(&c);
        /* Known only now on some backends (Vulkan probes on the first
         * update): whether the demo_apply cases, both update rules, compared
         * the device's own canonical update or the host fallback. */
        printf("   canonical dt_demo_apply (sign and scaled rules) ran %s\n",
               info->canonical_on_host ? "on the host (the fallback)" : "on the device");
        /* The runtime's exactness probe, run again here whatever its cache
         * says: a device trusted with the update must pass it. */
        int exact = 0;
        if (dt_canonical_probe(dev, &exact) != DT_OK) {
            printf("FAIL %s: the exactness probe could not run: %s\n", info->spec, dt_last_error());
            c.ops_failed++;
        } else {
            printf("   exactness probe of its own canonical update: %s\n",
                   exact ? "exact" : "inexact");
            if (!exact && (info->ops_on_device & ((uint64_t)1 << DT_OP_demo_apply))) {
                printf("FAIL %s: fails the exactness probe but runs the canonical update "
                       "itself\n",
                       info->spec);
                c.ops_failed++;
            } else if (!exact && require_exact) {
                /* The host fallback keeps the bits, but this device's own
                 * kernel was meant to be exact (CUDA's must be). */
                printf("FAIL %s: its canonical update fails the exactness probe "
                       "(DISTRO_TEST_REQUIRE_EXACT=1)\n",
                       info->spec);
                c.ops_failed++;
            }
        }
        printf("== %s: %s, %d op families passed, %d failed, %.1f s (seed %llu)\n", info->spec,
               c.ops_failed ? "FAIL" : "PASS", c.ops_passed, c.ops_failed, now() - t0,
               (unsigned long long)seed);
        ops_passed += c.ops_passed;
        ops_failed += c.ops_failed;
        if (c.ops_failed) failed_devices++;
        dt_device_close(dev);
    }
    dt_device_close(cpu);
    printf("%s: %d device(s), %d failed; %d op families passed, %d failed; seed %llu\n",
           failed_devices ? "FAIL" : "PASS", n, failed_devices, ops_passed, ops_failed,
           (unsigned long long)seed);
    return failed_devices ? 1 : 0;
}
