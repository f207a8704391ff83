/* test_cpu_hugepages: the cpu device asks for transparent huge pages for
 * its large buffers (backends/cpu/cpu_device.c). A buffer of 2 MiB or more
 * starts on a 2 MiB boundary and its memory carries the kernel's "hg" flag
 * (VmFlags in /proc/self/smaps, which madvise(MADV_HUGEPAGE) sets); it holds
 * what is written to it. A small buffer is still 64-byte aligned. Whether
 * the kernel then backs the memory with huge pages is its business (the THP
 * mode, free memory) and is not asserted. Skips where the kernel has no THP
 * or no smaps. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/cpu/cpu_backend.h"
#include "tests/test_util.h"

static int failures;

#define CHECK(cond, ...) TEST_CHECK(failures, cond, __VA_ARGS__)

#define MIB ((size_t)1 << 20)

/* The VmFlags of the mapping holding addr, into flags; 0 if none is found. */
static int vm_flags_of(const void *addr, char *flags, size_t len) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 0;
    const uintptr_t a = (uintptr_t)addr;
    char line[512];
    int inside = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) { /* a mapping's header */
            inside = lo <= a && a < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            size_t n = strlen(line + 8);
            if (n > 0 && line[8 + n - 1] == '\n') n--;
            if (n >= len) n = len - 1;
            memcpy(flags, line + 8, n);
            flags[n] = '\0';
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* A buffer of `bytes` on dev, written and read back; returns its memory. */
static void *checked_buffer(dt_device *dev, size_t bytes, dt_buffer **out) {
    if (dt_buffer_alloc(dev, bytes, out) != DT_OK) {
        CHECK(0, "dt_buffer_alloc(%zu bytes): %s", bytes, dt_last_error());
        return NULL;
    }
    unsigned char *p = ((cpu_buffer *)*out)->data;
    memset(p, 0xa5, bytes);
    CHECK(p[0] == 0xa5 && p[bytes - 1] == 0xa5, "a %zu-byte buffer holds what was written", bytes);
    return p;
}

int main(void) {
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
        printf("SKIP: this kernel has no transparent huge pages "
               "(/sys/kernel/mm/transparent_hugepage/enabled is missing)\n");
        return TEST_SKIP;
    }
    if (access("/proc/self/smaps", R_OK) != 0) {
        printf("SKIP: /proc/self/smaps cannot be read, so a mapping's flags cannot be seen\n");
        return TEST_SKIP;
    }
    /* gemm=own: no GEMM path to measure or cache, no GEMM runs here. */
    dt_device *dev = NULL;
    if (dt_device_open("cpu:gemm=own", &dev) != DT_OK) {
        printf("FAIL: cannot open cpu:gemm=own: %s\n", dt_last_error());
        return 1;
    }

    const size_t sizes[] = {2 * MIB, 8 * MIB + 100, 64 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        dt_buffer *buf = NULL;
        const void *p = checked_buffer(dev, sizes[i], &buf);
        if (!p) continue;
        CHECK((uintptr_t)p % (2 * MIB) == 0, "a %zu-byte buffer starts on a 2 MiB boundary (%p)",
              sizes[i], p);
        char flags[256] = "";
        CHECK(vm_flags_of(p, flags, sizeof flags), "smaps lists the mapping of %p", p);
        CHECK(strstr(flags, " hg") != NULL,
              "a %zu-byte buffer is advised as huge pages (VmFlags:%s)", sizes[i],
              flags[0] ? flags : " none");
        dt_buffer_free(buf);
    }

    dt_buffer *small = NULL;
    const void *p = checked_buffer(dev, 64 * 1024, &small);
    if (p) CHECK((uintptr_t)p % 64 == 0, "a 64 KiB buffer is 64-byte aligned (%p)", p);
    if (small) dt_buffer_free(small);

    dt_device_close(dev);
    if (failures) {
        printf("FAIL: %d check(s) failed\n", failures);
        return 1;
    }
    printf("PASS: buffers of 2, 8 and 64 MiB are 2 MiB aligned and advised as huge pages\n");
    return 0;
}
