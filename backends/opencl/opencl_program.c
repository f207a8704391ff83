/* Building the programs of a device once, when it is opened: from the disk
 * cache when a verified binary for exactly this device, driver, source and
 * options exists, from the embedded .cl source otherwise (and then the new
 * binary is cached). Every kernel is created here, once, so ops never
 * allocate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/opencl_backend.h"

#define OCL_DECLARE_SOURCE(id, name, sym)                                                          \
    extern const unsigned char sym[];                                                              \
    extern const unsigned long sym##_size;
OCL_PROGRAMS(OCL_DECLARE_SOURCE)
OCL_DECLARE_SOURCE(common, "common", ocl_src_common)
#undef OCL_DECLARE_SOURCE

typedef struct program_desc {
    const char *name;
    const unsigned char *source;
    const unsigned long *size;
} program_desc;

static const program_desc programs[OCL_PROGRAM_COUNT] = {
#define OCL_PROGRAM_ENTRY(id, name, sym) [id] = {name, sym, &sym##_size},
    OCL_PROGRAMS(OCL_PROGRAM_ENTRY)
#undef OCL_PROGRAM_ENTRY
};

typedef struct kernel_desc {
    ocl_program_id program;
    const char *name;
} kernel_desc;

static const kernel_desc kernels[OCL_KERNEL_COUNT] = {
#define OCL_KERNEL_ENTRY(id, prog, name) [id] = {prog, name},
    OCL_KERNELS(OCL_KERNEL_ENTRY)
#undef OCL_KERNEL_ENTRY
};

/* The work-group sizes the kernels are written for, and OpenCL C 1.2. No
 * -cl-fast-relaxed-math or -cl-mad-enable anywhere: the canonical program
 * must not contract or reassociate (it also says so with a pragma), and the
 * others stay within the parity tolerances more easily without. */
static void build_options(char *out, size_t len) {
    snprintf(out, len,
             "-cl-std=CL1.2 -DWG_1D=%d -DWG_ROW=%d -DWG_REDUCE=%d -DREDUCE_GROUPS=%d "
             "-DWG_TILE=%d -DWG_ATTN=%d -DHEAD_DIM_MAX=%d",
             OCL_WG_1D, OCL_WG_ROW, OCL_WG_REDUCE, OCL_REDUCE_GROUPS, OCL_WG_TILE, OCL_WG_ATTN,
             OCL_ATTN_HEAD_DIM_MAX);
}

/* The build log's tail (the errors are usually last), trimmed to fit. */
static void build_log(const ocl_device *d, cl_program p, char *out, size_t len) {
    out[0] = '\0';
    size_t size = 0;
    if (clGetProgramBuildInfo(p, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) != CL_SUCCESS ||
        size < 2)
        return;
    char *log = malloc(size + 1);
    if (!log) return;
    if (clGetProgramBuildInfo(p, d->device, CL_PROGRAM_BUILD_LOG, size, log, NULL) == CL_SUCCESS) {
        log[size] = '\0';
        size_t n = strlen(log);
        const char *start = n >= len ? log + n - (len - 1) : log;
        dt_strlcpy(out, start, len);
    }
    free(log);
}

static void release_program_kernels(ocl_device *d, ocl_program_id pid) {
    for (int k = 0; k < OCL_KERNEL_COUNT; k++) {
        if (kernels[k].program == pid && d->kernels[k]) {
            clReleaseKernel(d->kernels[k]);
            d->kernels[k] = NULL;
        }
    }
    if (d->programs[pid]) {
        clReleaseProgram(d->programs[pid]);
        d->programs[pid] = NULL;
    }
}

/* Creates the kernels of a built program; returns the first failing name. */
static const char *create_kernels(ocl_device *d, ocl_program_id pid, cl_int *err) {
    for (int k = 0; k < OCL_KERNEL_COUNT; k++) {
        if (kernels[k].program != pid) continue;
        d->kernels[k] = clCreateKernel(d->programs[pid], kernels[k].name, err);
        if (!d->kernels[k]) return kernels[k].name;
    }
    *err = CL_SUCCESS;
    return NULL;
}

/* A cached binary is only a candidate: the driver may still reject it (a
 * driver that changed without changing its version string). Any failure
 * means "compile from source", never an error. */
static int load_cached(ocl_device *d, ocl_program_id pid, const ocl_cache_key *key,
                       const char *options) {
    unsigned char *bin = NULL;
    size_t len = 0;
    if (!ocl_cache_load(key, &bin, &len)) return 0;
    cl_int status = CL_SUCCESS, err;
    const unsigned char *bins[1] = {bin};
    d->programs[pid] =
        clCreateProgramWithBinary(d->context, 1, &d->device, &len, bins, &status, &err);
    free(bin);
    if (!d->programs[pid] || status != CL_SUCCESS ||
        clBuildProgram(d->programs[pid], 1, &d->device, options, NULL, NULL) != CL_SUCCESS ||
        create_kernels(d, pid, &err) != NULL) {
        release_program_kernels(d, pid);
        return 0;
    }
    return 1;
}

static void store_binary(ocl_device *d, ocl_program_id pid, const ocl_cache_key *key) {
    if (!key->file[0]) return;
    size_t size = 0;
    if (clGetProgramInfo(d->programs[pid], CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(d->programs[pid], CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) ==
        CL_SUCCESS)
        ocl_cache_store(key, bin, size);
    free(bin);
}

static dt_status build_from_source(ocl_device *d, ocl_program_id pid, const char *options) {
    const program_desc *p = &programs[pid];
    const dt_device_info *info = &d->base.info;
    /* kernels/common.cl first: the helpers every file uses. */
    const char *src[2] = {(const char *)ocl_src_common, (const char *)p->source};
    size_t len[2] = {(size_t)ocl_src_common_size, (size_t)*p->size};
    cl_int err;
    d->programs[pid] = clCreateProgramWithSource(d->context, 2, src, len, &err);
    if (!d->programs[pid]) return ocl_fail(d, "open", "clCreateProgramWithSource", err);
    err = clBuildProgram(d->programs[pid], 1, &d->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[640];
        build_log(d, d->programs[pid], log, sizeof log);
        return dt_error(DT_ERR_BUILD,
                        "%s (%s, %s): building kernels/%s.cl failed: %s; build log: %s", info->spec,
                        info->name, info->driver, p->name, ocl_error_name(err),
                        log[0] ? log : "(empty)");
    }
    const char *bad = create_kernels(d, pid, &err);
    if (bad)
        return dt_error(DT_ERR_BUILD, "%s (%s): kernel '%s' of kernels/%s.cl: clCreateKernel: %s",
                        info->spec, info->name, bad, p->name, ocl_error_name(err));
    return DT_OK;
}

dt_status ocl_build_all(ocl_device *d) {
    char options[256];
    build_options(options, sizeof options);
    const dt_device_info *info = &d->base.info;
    double started = 0.0;
    for (int pid = 0; pid < OCL_PROGRAM_COUNT; pid++) {
        const program_desc *p = &programs[pid];
        ocl_cache_key key;
        ocl_cache_key_make(&key, d->platform, d->device, p->name, options,
                           (const char *)ocl_src_common, (size_t)ocl_src_common_size,
                           (const char *)p->source, (size_t)*p->size);
        if (load_cached(d, (ocl_program_id)pid, &key, options)) continue;
        /* Compiling takes seconds to minutes (PoCL): say so once, up front. */
        if (started == 0.0) {
            dt_log("building OpenCL kernels for %s (%s) (%s)...", info->spec, info->name,
                   key.file[0] ? "first use, cached afterwards"
                               : "the program cache is off, so on every start");
            started = dt_seconds();
        }
        dt_status st = build_from_source(d, (ocl_program_id)pid, options);
        if (st != DT_OK) return st;
        store_binary(d, (ocl_program_id)pid, &key);
    }
    if (started != 0.0)
        dt_log("built OpenCL kernels for %s in %.1f s", info->spec, dt_seconds() - started);
    return DT_OK;
}

uint64_t ocl_canonical_source(void) {
    char options[256];
    build_options(options, sizeof options);
    const program_desc *p = &programs[OCL_PROG_DEMO_APPLY];
    uint64_t h = dt_hash64(DT_HASH64_SEED, ocl_src_common, (size_t)ocl_src_common_size);
    h = dt_hash64(h, p->source, (size_t)*p->size);
    return dt_hash64(h, options, strlen(options));
}

void ocl_release_programs(ocl_device *d) {
    for (int pid = 0; pid < OCL_PROGRAM_COUNT; pid++)
        release_program_kernels(d, (ocl_program_id)pid);
}
