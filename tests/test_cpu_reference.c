/* test_cpu_reference: the cpu device against the double reference of
 * tests/ref_ops.c, op by op, and the canonical dt_demo_apply against the
 * float reference bit for bit.
 *
 * Usage: test_cpu_reference blas|own. ctest runs it twice, on the device
 * "cpu:gemm=blas" (OpenBLAS; skipped without CBLAS) and "cpu:gemm=own" (the
 * own blocked kernel), and checks from the device note that the intended
 * GEMM path is the one in use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distro_config.h"
#include "tests/op_cases.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "blas";
    if (strcmp(path, "blas") != 0 && strcmp(path, "own") != 0) {
        fprintf(stderr, "usage: %s blas|own\n", argv[0]);
        return 2;
    }
    if (strcmp(path, "blas") == 0 && !DISTRO_HAVE_CBLAS) {
        printf("SKIP: this build has no CBLAS (OpenBLAS was not found at configure time), so "
               "there is no BLAS GEMM path to test; the 'own' variant covers the CPU GEMM\n");
        return TEST_SKIP;
    }
    char spec[32];
    snprintf(spec, sizeof spec, "cpu:gemm=%s", path);
    dt_device *dev = NULL;
    if (dt_device_open(spec, &dev) != DT_OK) {
        printf("FAIL: cannot open %s: %s\n", spec, dt_last_error());
        return 1;
    }
    const dt_device_info *info = dt_device_get_info(dev);
    printf("device %s: %s (%s; %s)\n", info->spec, info->name, info->driver, info->note);
    /* The note names the GEMM path; make sure this run tests the one it says. */
    int own_in_use = strstr(info->note, "own") != NULL;
    if (own_in_use != (strcmp(path, "own") == 0)) {
        printf("FAIL: asked for the %s GEMM path (%s) but the device reports '%s'\n", path, spec,
               info->note);
        dt_device_close(dev);
        return 1;
    }

    tc c;
    tc_init(&c, test_seed(20240520));
    printf("seed %llu (set DISTRO_TEST_SEED to change)\n", (unsigned long long)c.seed);
    c.dut = dev;
    c.ref = NULL;
    /* float op vs double reference: rounding alone stays orders of
     * magnitude below these; a wrong formula lands far above. */
    c.tol[TOL_ELEM] = 1e-10;
    c.tol[TOL_NORM] = 1e-10;
    c.tol[TOL_TRANSFORM] = 1e-9;
    c.tol[TOL_REDUCE] = 1e-8;
    c.tol[TOL_GEMM] = 1e-8;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cases_all(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%s: %d op families passed, %d failed (%d failing checks) in %.1f s, seed %llu\n",
           c.ops_failed ? "FAIL" : "PASS", c.ops_passed, c.ops_failed, c.failures, secs,
           (unsigned long long)c.seed);
    dt_device_close(dev);
    return c.ops_failed ? 1 : 0;
}
