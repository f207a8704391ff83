/* The CPU backend: one device, the host, with host memory as buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/cpu_backend.h"
#include "distro_config.h"

/* Every buffer is 64-byte aligned (a cache line, an AVX-512 vector). */
#define CPU_ALIGN 64

/* Buffers of CPU_HUGE_PAGE bytes or more start on such a boundary and are
 * advised to the kernel as transparent huge pages (MADV_HUGEPAGE). Debian's
 * and Ubuntu's default THP mode, "madvise", backs only advised memory with
 * 2 MiB pages, and a training step streams through every weight, gradient
 * and AdamW moment, touching hundreds of thousands of 4 KiB pages a step at
 * the GPT-2 shape. Measured on a 2-core Zen 4, one binary with and without,
 * back-to-back pairs: the GPT-2 124M shape (B=4, T=64) faster in 8 of 9
 * (median +5%), the small preset (batch 8) in 5 of 6 (median +4%); the
 * GPT-2 run's page faults fell from 659k to 127k.
 * Only advice: where THP is off or madvise refuses, the buffer is used as
 * it is. Results do not depend on it. */
#define CPU_HUGE_PAGE ((size_t)2 << 20)

static dt_status cpu_probe(int *count, char *why, size_t why_len) {
    (void)why;
    (void)why_len;
    *count = 1;
    return DT_OK;
}

/* First value of a "key : value" line of /proc/cpuinfo, if there is one. */
static int cpuinfo_field(const char *key, char *out, size_t len) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[512];
    int found = 0;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = '\0';
        dt_strlcpy(out, v, len);
        found = 1;
    }
    fclose(f);
    return found;
}

/* The device's options (dt_device_open("cpu:threads=2:gemm=own")). */
static const char *const gemm_paths[] = {"auto", "blas", "own"};
static const dt_option_spec cpu_options[] = {
    [CPU_OPT_THREADS] = {"threads", NULL, 1, 1024,
                         "OpenMP threads of every op; default: OMP_NUM_THREADS, else every core"},
    [CPU_OPT_GEMM] = {"gemm", "auto|blas|own", 0, 0,
                      "GEMM path: auto (measured once, cached), blas (CBLAS) or own (the own "
                      "blocked kernel)"},
    {NULL, NULL, 0, 0, NULL},
};

/* The gemm option, else measured once (cpu_gemm_select.c). */
static dt_status choose_gemm(const dt_device_options *opts, cpu_gemm_choice *choice) {
    int gemm = dt_option_value(opts, CPU_OPT_GEMM, 0);
    return cpu_gemm_choose(gemm_paths[gemm], "cpu:gemm", choice);
}

/* The thread count of a device opened with threads=N is set around each of
 * its ops (and its GEMM measurement) and the caller's restored after. */
static int threads_enter(int threads) {
#ifdef _OPENMP
    if (!threads) return 0;
    int prev = omp_get_max_threads();
    omp_set_num_threads(threads);
    return prev;
#else
    (void)threads;
    return 0;
#endif
}
static void threads_leave(int prev) {
#ifdef _OPENMP
    if (prev) omp_set_num_threads(prev);
#else
    (void)prev;
#endif
}

static void fill_info(dt_device_info *info, const cpu_gemm_choice *gemm, int threads_option) {
    dt_device_info_init(info, "cpu", 0);
    snprintf(info->spec, sizeof info->spec, "cpu");
    if (!cpuinfo_field("model name", info->name, sizeof info->name))
        dt_strlcpy(info->name, "host CPU", sizeof info->name);
    char vendor[64] = "";
    cpuinfo_field("vendor_id", vendor, sizeof vendor);
    if (strcmp(vendor, "GenuineIntel") == 0)
        dt_strlcpy(info->vendor, "Intel", sizeof info->vendor);
    else if (strcmp(vendor, "AuthenticAMD") == 0)
        dt_strlcpy(info->vendor, "AMD", sizeof info->vendor);
    else
        dt_strlcpy(info->vendor, vendor[0] ? vendor : "unknown", sizeof info->vendor);
    info->type = DT_DEVICE_CPU;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
#ifdef _OPENMP
    threads = threads_option ? threads_option : omp_get_max_threads();
#else
    (void)threads_option;
#endif
    info->compute_units = threads;
    info->subgroup_size = 0;
    info->fp16 = false;
    info->fp64 = true;
    info->canonical_on_host = false;
#ifdef _OPENMP
    snprintf(info->driver, sizeof info->driver, "distro %s, OpenMP %d threads", DISTRO_VERSION,
             threads);
#else
    snprintf(info->driver, sizeof info->driver, "distro %s, single thread", DISTRO_VERSION);
#endif
    snprintf(info->note, sizeof info->note, "gemm: %s", gemm->reason);
}

static dt_status cpu_query(int index, dt_device_info *info) {
    if (index != 0)
        return dt_error(DT_ERR_NOT_FOUND, "cpu:%d: the cpu backend has one device", index);
    cpu_gemm_choice gemm;
    dt_status st = choose_gemm(NULL, &gemm);
    if (st == DT_OK) fill_info(info, &gemm, 0);
    return st;
}

static void cpu_close(dt_device *dev) {
    free(dev);
}

static dt_status cpu_sync(dt_device *dev) {
    (void)dev;
    return DT_OK;
}

static dt_status cpu_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    cpu_buffer *b = calloc(1, sizeof *b);
    size_t rounded = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    const int huge = rounded >= CPU_HUGE_PAGE;
    if (b && posix_memalign(&b->data, huge ? CPU_HUGE_PAGE : CPU_ALIGN, rounded) != 0)
        b->data = NULL;
#ifdef MADV_HUGEPAGE
    if (b && b->data && huge) (void)madvise(b->data, rounded, MADV_HUGEPAGE);
#endif
    if (!b || !b->data) {
        free(b);
        return dt_error(DT_ERR_OOM, "buffer_alloc: cannot allocate %zu bytes of host memory on %s",
                        bytes, dev->info.spec);
    }
    *out = &b->base;
    return DT_OK;
}

static void cpu_buffer_free(dt_buffer *buf) {
    cpu_buffer *b = (cpu_buffer *)buf;
    free(b->data);
    free(b);
}

static dt_status cpu_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    memcpy((char *)((cpu_buffer *)dst)->data + offset, src, bytes);
    return DT_OK;
}

static dt_status cpu_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    memcpy(dst, (const char *)((const cpu_buffer *)src)->data + offset, bytes);
    return DT_OK;
}

static dt_status cpu_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src,
                          size_t src_offset, size_t bytes) {
    char *d = (char *)((cpu_buffer *)dst)->data + dst_offset;
    const char *s = (const char *)((const cpu_buffer *)src)->data + src_offset;
    /* Split across threads: one core cannot saturate memory bandwidth. */
    const size_t chunk = (size_t)1 << 20;
    int64_t pieces = (int64_t)((bytes + chunk - 1) / chunk);
    int threads = ((const cpu_device *)dst->dev)->threads;
#ifdef _OPENMP
    if (!threads) threads = omp_get_max_threads();
#endif
    (void)threads;
#pragma omp parallel for schedule(static) if (pieces > 1) num_threads(threads)
    for (int64_t i = 0; i < pieces; i++) {
        size_t off = (size_t)i * chunk;
        memcpy(d + off, s + off, bytes - off < chunk ? bytes - off : chunk);
    }
    return DT_OK;
}

/* Every op of runtime/op_list.h: cpu_<name>, on the device's threads. */
#define CPU_THREADED_OP(ret, name, params, args)                                                   \
    static ret cpu_threaded_##name params {                                                        \
        int prev = threads_enter(((const cpu_device *)dev)->threads);                              \
        ret st = cpu_##name args;                                                                  \
        threads_leave(prev);                                                                       \
        return st;                                                                                 \
    }
DT_DEVICE_OPS(CPU_THREADED_OP)
#undef CPU_THREADED_OP

#define CPU_CORE_ENTRY(ret, name, params, args) .name = cpu_##name,
#define CPU_OP_ENTRY(ret, name, params, args)   .name = cpu_threaded_##name,
static const dt_device_ops cpu_ops = {DT_DEVICE_CORE(CPU_CORE_ENTRY) DT_DEVICE_OPS(CPU_OP_ENTRY)};
#undef CPU_CORE_ENTRY
#undef CPU_OP_ENTRY

static dt_status cpu_open(int index, const dt_device_options *opts, dt_device **out) {
    if (index != 0)
        return dt_error(DT_ERR_NOT_FOUND, "cpu:%d: the cpu backend has one device", index);
    cpu_device *d = calloc(1, sizeof *d);
    if (!d) return dt_error(DT_ERR_OOM, "cpu: cannot allocate a device");
    d->base.ops = &cpu_ops;
    d->threads = dt_option_value(opts, CPU_OPT_THREADS, 0);
    cpu_gemm_choice gemm;
    int prev = threads_enter(d->threads);
    dt_status st = choose_gemm(opts, &gemm);
    threads_leave(prev);
    if (st != DT_OK) {
        free(d);
        return st;
    }
    d->gemm_path = gemm.path;
    if (d->gemm_path == CPU_GEMM_BLAS) cpu_gemm_init();
    fill_info(&d->base.info, &gemm, d->threads);
    *out = &d->base;
    return DT_OK;
}

const dt_backend dt_backend_cpu = {
    .name = "cpu",
    .probe = cpu_probe,
    .query = cpu_query,
    .ops = &cpu_ops,
    .open = cpu_open,
    .options = cpu_options,
};
