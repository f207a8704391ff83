/* test_cuda_emu_device: the CUDA backend's host code (backends/cuda/
 * cuda_device.c) on the emulated device cudaemu:0, where the suites' small
 * tensors never reach it:
 *
 *  - uploads and downloads of several pinned staging chunks (4 MiB each),
 *    at odd offsets and lengths, with the caller's source overwritten as
 *    soon as the upload returns (cu_upload promises it may be), and device
 *    to device copies between them; the emulation defers every copy to the
 *    last moment CUDA allows, so a staging chunk reused or read too early
 *    shows as wrong bytes;
 *  - an allocation larger than the device is DT_ERR_OOM naming cudaMalloc;
 *  - `distro-cli devices`' reason on a machine without a driver, with a
 *    driver too old for the runtime, and with a driver but no device (child
 *    processes, as the probe runs once per process);
 *  - an error left pending by an earlier failed runtime call is not blamed
 *    on the next op (cu_enter clears it);
 *  - a GPU the build cannot run (capability 7.0, no kernel image, or PTX
 *    its driver cannot compile) is refused with the reason and `auto` opens
 *    another device; one refused by capability gets no context (no
 *    cudaSetDevice: since CUDA 12 that makes one, for the whole process);
 *  - a kernel fault, sticky as on a GPU, is named as one by the next ops,
 *    kernels and cuBLAS alike, not blamed on them alone;
 *  - the registry refuses a backend name taken or an incomplete backend.
 * Run without arguments; "probe" prints the backend's device count and
 * reason (the children). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "tests/test_util.h"

unsigned long emu_cuda_deferred_copies(void);
unsigned long emu_cuda_set_device_calls(void);
void emu_cuda_inject_fault(const char *what);
int emu_cudaMalloc(void **p, size_t bytes); /* cudaError_t is int there */
extern const dt_backend dt_backend_cuda_emu;

static int failures;

#define CHECK(cond, ...) TEST_CHECK(failures, cond, __VA_ARGS__)

#define MIB ((size_t)1 << 20)

static int emu_backend(void) {
    for (int b = 0; b < dt_backend_count(); b++)
        if (!strcmp(dt_backend_name(b), "cudaemu")) return b;
    return -1;
}

static void fill(unsigned char *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (unsigned char)(seed >> 24);
    }
}

/* Upload `len` bytes at `off`, scribble over the source at once, pass other
 * bytes through the staging chunks (an upload to `other`), download the
 * first back (to a buffer offset by one byte, so the host side is unaligned
 * too) and compare. */
static void round_trip(dt_buffer *buf, dt_buffer *other, size_t off, size_t len, uint32_t seed) {
    unsigned char *want = malloc(len + 1), *src = malloc(len + 1), *got = malloc(len + 2);
    fill(want, len, seed);
    memcpy(src, want, len);
    dt_status st = dt_buffer_upload(buf, off, src, len);
    CHECK(st == DT_OK, "upload of %zu bytes at %zu: %s", len, off, dt_last_error());
    memset(src, 0x5A, len + 1); /* the caller may reuse its memory now */
    st = dt_buffer_upload(other, 0, src, len);
    CHECK(st == DT_OK, "upload of %zu bytes: %s", len, dt_last_error());
    memset(got, 0, len + 2);
    st = dt_buffer_download(buf, off, got + 1, len);
    CHECK(st == DT_OK, "download of %zu bytes at %zu: %s", len, off, dt_last_error());
    size_t bad = 0;
    while (bad < len && got[1 + bad] == want[bad]) bad++;
    CHECK(bad == len, "%zu bytes at %zu: first difference at byte %zu", len, off, bad);
    printf("%-4s round trip of %zu bytes at offset %zu\n", bad == len ? "ok" : "FAIL", len, off);
    free(want);
    free(src);
    free(got);
}

static void test_staging(dt_device *dev) {
    const size_t size = 19 * MIB + 333;
    dt_buffer *a = NULL, *b = NULL;
    if (dt_buffer_alloc(dev, size, &a) != DT_OK || dt_buffer_alloc(dev, size, &b) != DT_OK) {
        CHECK(0, "alloc: %s", dt_last_error());
        return;
    }
    const unsigned long deferred = emu_cuda_deferred_copies();
    round_trip(a, b, 0, 1, 1);
    round_trip(a, b, 7, 4 * MIB, 2);         /* exactly one chunk */
    round_trip(a, b, 3, 4 * MIB + 1, 3);     /* one byte into the second */
    round_trip(a, b, 1, 9 * MIB + 12345, 4); /* three chunks, staging reused */
    round_trip(a, b, 0, size, 5);            /* five chunks: the whole buffer */
    round_trip(a, b, size - 17, 17, 6);      /* the last bytes */
    /* Device to device, then a download spanning the copy's edges. */
    unsigned char *pattern = malloc(size), *got = malloc(size);
    fill(pattern, size, 7);
    CHECK(dt_buffer_upload(a, 0, pattern, size) == DT_OK, "upload: %s", dt_last_error());
    CHECK(dt_buffer_upload(b, 0, pattern + 1, size - 1) == DT_OK, "upload: %s", dt_last_error());
    const size_t from = 5 * MIB + 3, to = 2 * MIB + 1, len = 10 * MIB + 7;
    CHECK(dt_buffer_copy(b, to, a, from, len) == DT_OK, "copy: %s", dt_last_error());
    CHECK(dt_buffer_download(b, 0, got, size) == DT_OK, "download: %s", dt_last_error());
    size_t bad = 0;
    for (size_t i = 0; i < size && !bad; i++) {
        unsigned char want = (i >= to && i < to + len) ? pattern[from + (i - to)]
                             : i + 1 < size            ? pattern[i + 1]
                                                       : got[i];
        if (got[i] != want) bad = i + 1;
    }
    CHECK(!bad, "device copy: first wrong byte at %zu", bad - 1);
    printf("%-4s device to device copy of %zu bytes between uploads\n", bad ? "FAIL" : "ok", len);
    /* The premise: the emulation really held the copies back. */
    CHECK(emu_cuda_deferred_copies() > deferred + 10,
          "the emulation deferred %lu copies; the test proves nothing without",
          emu_cuda_deferred_copies() - deferred);
    free(pattern);
    free(got);
    dt_buffer_free(a);
    dt_buffer_free(b);
}

static void test_oom(dt_device *dev) {
    dt_buffer *huge = NULL;
    dt_status st = dt_buffer_alloc(dev, (size_t)64 << 30, &huge);
    const char *msg = dt_last_error();
    CHECK(st == DT_ERR_OOM, "64 GiB on an 8 GiB device gave status %d, not DT_ERR_OOM", (int)st);
    CHECK(strstr(msg, "cudaMalloc") && strstr(msg, "cudaemu:0") && strstr(msg, "out of memory"),
          "the error names neither the call, the device nor the cause: %s", msg);
    printf("%-4s 64 GiB allocation: %s\n", st == DT_ERR_OOM ? "ok" : "FAIL", msg);
    if (st == DT_OK) dt_buffer_free(huge);
}

/* A failed runtime call nobody reported (here a cudaMalloc of 1 TiB, made
 * behind the backend's back) leaves its error pending; the next op must not
 * report it as its own launch failure. */
static void test_pending_error(dt_device *dev) {
    dt_buffer *buf = NULL;
    if (dt_buffer_alloc(dev, 1024, &buf) != DT_OK) {
        CHECK(0, "cannot allocate 1 KiB: %s", dt_last_error());
        return;
    }
    void *p = NULL;
    const int e = emu_cudaMalloc(&p, (size_t)1 << 40);
    dt_status st = dt_fill(dev, dt_tensor_1d(buf, 0, DT_F32, 256), 1.0f);
    if (st == DT_OK) st = dt_device_sync(dev);
    CHECK(e != 0 && st == DT_OK, "a fill after an unreported failed cudaMalloc: %s",
          st == DT_OK ? "the malloc did not fail" : dt_last_error());
    printf("%-4s fill after an unreported failed cudaMalloc: %s\n",
           e != 0 && st == DT_OK ? "ok" : "FAIL", st == DT_OK ? "ran" : dt_last_error());
    dt_buffer_free(buf);
}

/* After a kernel fault (injected: what an out-of-bounds write leaves) every
 * later op fails; each must say that a kernel faulted and that it may not be
 * the one, a GEMM too, where cuBLAS itself reports only a failed execution.
 * The device is unusable afterwards, so this runs last. */
static void test_fault(dt_device *dev) {
    dt_buffer *buf = NULL;
    if (dt_buffer_alloc(dev, 4096, &buf) != DT_OK) {
        CHECK(0, "cannot allocate 4 KiB: %s", dt_last_error());
        return;
    }
    emu_cuda_inject_fault("a write outside a device allocation (injected by the test)");
    dt_tensor t = dt_tensor_2d(buf, 0, DT_F32, 16, 16);
    const char *said = "a kernel faulted, in this op or an earlier one";
    dt_status st = dt_fill(dev, dt_tensor_1d(buf, 0, DT_F32, 256), 1.0f);
    CHECK(st == DT_ERR_DEVICE && strstr(dt_last_error(), said) &&
              strstr(dt_last_error(), "cudaErrorIllegalAddress"),
          "a fill after a fault: %s", dt_last_error());
    printf("%-4s fill after a fault: %s\n", st == DT_ERR_DEVICE ? "ok" : "FAIL", dt_last_error());
    st = dt_matmul(dev, 0, 0, 1.0f, t, t, 0.0f, t);
    CHECK(st == DT_ERR_DEVICE && strstr(dt_last_error(), said) &&
              strstr(dt_last_error(), "cudaErrorIllegalAddress"),
          "a GEMM after a fault: %s", dt_last_error());
    printf("%-4s GEMM after a fault: %s\n", st == DT_ERR_DEVICE ? "ok" : "FAIL", dt_last_error());
    dt_buffer_free(buf);
}

/* The first line this program prints as a child run with `mode` on the
 * machine played. */
static void child_line(const char *self, const char *machine, const char *mode, char *line,
                       size_t len) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "DISTRO_CUDA_EMU_DRIVER=%s '%s' %s", machine, self, mode);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, (int)len, p)) line[0] = '\0';
    if (p) pclose(p);
    line[strcspn(line, "\n")] = '\0';
}

/* The reason a child process gets for the machine played. */
static void test_probe(const char *self, const char *machine, const char *expect) {
    char line[512];
    child_line(self, machine, "probe", line, sizeof line);
    const int ok = strncmp(line, "0 ", 2) == 0 && strstr(line, expect) != NULL;
    CHECK(ok, "%s: expected no device and a reason with \"%s\", got \"%s\"", machine, expect, line);
    printf("%-4s %s: %s\n", ok ? "ok" : "FAIL", machine, line);
}

/* How opening cudaemu:0 and `auto` go on the machine played (child
 * process): `expect` in cudaemu:0's outcome, and `auto` opening some device,
 * never cudaemu:0 when it cannot run this build. (Which device `auto` opens
 * otherwise depends on this machine's other devices: cudaemu:0 on one
 * without GPUs.) */
static void test_open(const char *self, const char *machine, const char *expect, int usable) {
    char line[768];
    child_line(self, machine, "open", line, sizeof line);
    const int ok = strstr(line, expect) != NULL && strstr(line, "auto opens nothing") == NULL &&
                   (usable || strstr(line, "auto opens cudaemu:0") == NULL);
    CHECK(ok, "%s: expected \"%s\"%s, got \"%s\"", machine[0] ? machine : "a 9.0 device", expect,
          usable ? "" : " and auto opening another device", line);
    printf("%-4s %s: %s\n", ok ? "ok" : "FAIL", machine[0] ? machine : "9.0", line);
}

int main(int argc, char **argv) {
    const int b = emu_backend();
    if (b < 0) {
        printf("FAIL: the emulated backend is not registered\n");
        return 1;
    }
    if (argc > 1 && !strcmp(argv[1], "open")) {
        /* One line: what `auto` opened, then how cudaemu:0's open went. */
        dt_device *dev = NULL;
        const char *chosen = "nothing";
        if (dt_device_open("auto", &dev) == DT_OK) chosen = dt_device_get_info(dev)->spec;
        printf("auto opens %s; ", chosen);
        if (dev) dt_device_close(dev);
        dev = NULL;
        dt_status st = dt_device_open("cudaemu:0", &dev);
        printf("cudaemu:0: %s", st == DT_OK                ? "opened"
                                : st == DT_ERR_UNSUPPORTED ? dt_last_error()
                                                           : "failed with another status");
        if (dev) dt_device_close(dev);
        printf("; cudaSetDevice calls: %lu\n", emu_cuda_set_device_calls());
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "probe")) {
        int count = 0;
        char why[256];
        dt_backend_devices(b, &count, why, sizeof why);
        printf("%d %s\n", count, why);
        return 0;
    }
    /* emu_register.c added it once; a second time, or an empty backend, is
     * refused. */
    CHECK(dt_backend_register(&dt_backend_cuda_emu) == DT_ERR_INVALID,
          "a second backend named cudaemu was accepted");
    const dt_backend empty = {0};
    CHECK(dt_backend_register(&empty) == DT_ERR_INVALID, "an empty backend was accepted");
    test_probe(argv[0], "none", "no NVIDIA driver (libcuda.so.1 not found)");
    test_probe(argv[0], "old", "supports CUDA 12.2, older than the CUDA 13.0 runtime");
    test_probe(argv[0], "nodevice", "no CUDA device (NVIDIA driver for CUDA 13.0 found)");
    test_open(argv[0], "volta", "(compute capability 7.0) cannot run this build", 0);
    test_open(argv[0], "volta", "; cudaSetDevice calls: 0", 0);
    test_open(argv[0], "noimage", "has no kernel image in this build", 0);
    test_open(argv[0], "oldptx", "its driver cannot compile the build's PTX", 0);
    test_open(argv[0], "", "cudaemu:0: opened", 1);
    dt_device *dev = NULL;
    if (dt_device_open("cudaemu:0", &dev) != DT_OK) {
        printf("FAIL: cannot open cudaemu:0: %s\n", dt_last_error());
        return 1;
    }
    test_staging(dev);
    test_oom(dev);
    test_pending_error(dev);
    test_fault(dev);
    dt_device_close(dev);
    printf("%s: %d failures (the CUDA backend's host code on the emulated device)\n",
           failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
