/* The backend interface: what one folder under backends/ fills in.
 *
 * Private to the runtime and the backends. A backend provides one
 * dt_backend (enumeration and open) and, per opened device, one
 * dt_device_ops table. Backend structs embed struct dt_device / struct
 * dt_buffer as their first member and cast.
 *
 * The runtime has validated every op argument before a backend sees it:
 * dtypes, shapes, that each view lies inside its buffer and that every buffer
 * belongs to the device. Backends only check what only they can know (device
 * memory, driver errors). Tensor views carry byte offsets; all are multiples
 * of the element size. */
#ifndef DISTRO_RUNTIME_BACKEND_H
#define DISTRO_RUNTIME_BACKEND_H

#include "distro/ops.h"
#include "runtime/op_list.h"

typedef struct dt_device_ops dt_device_ops;

/* Where the canonical update stands on a device (runtime/canonical_probe.c). */
typedef enum dt_canonical_state {
    DT_CANONICAL_UNCHECKED = 0, /* probe at the first dt_demo_apply */
    DT_CANONICAL_EXACT,         /* probed (or cached) exact: the device runs it */
    DT_CANONICAL_HOST,          /* the runtime runs it on the host for this device */
} dt_canonical_state;

struct dt_device {
    const dt_device_ops *ops;
    dt_device_info info;
    /* Identity of the code behind this device's demo_apply, set by the
     * backend at open: a dt_hash64 of the kernel source and build options
     * (or SPIR-V) and of the variant chosen. The probe's outcome is cached
     * on disk under (device, driver, this); 0 probes in every process. */
    uint64_t canonical_source;
    dt_canonical_state canonical_state; /* the runtime's; 0 at open */
};

struct dt_buffer {
    dt_device *dev;
    size_t size;
};

/* ---- device options ----------------------------------------------------------
 * A device spec is BACKEND[:N][:OPTION=VALUE]... ("cpu:threads=2:gemm=own",
 * "vulkan:0:kernels=gpu"). A backend declares its options in a table; the
 * runtime checks names and values against it (runtime/device_options.c) and
 * hands the backend's open the parsed values. */
typedef struct dt_option_spec {
    const char *name; /* "kernels" */
    /* The choices, "auto|cpu|gpu" (the value is the index of the one given),
     * or NULL for a number from min to max (the value is the number). */
    const char *values;
    int min, max;
    const char *help; /* what it does, for messages and `devices` */
} dt_option_spec;

#define DT_MAX_DEVICE_OPTIONS 8
typedef struct dt_device_options {
    bool given[DT_MAX_DEVICE_OPTIONS]; /* by position in the backend's table */
    int value[DT_MAX_DEVICE_OPTIONS];
} dt_device_options;

/* Option i's value when given, else `fallback`. opts may be NULL. */
static inline int dt_option_value(const dt_device_options *opts, int i, int fallback) {
    return opts && opts->given[i] ? opts->value[i] : fallback;
}

/* Parses `text` ("kernels=gpu:staging=on", may be empty) against `table`
 * for the device named `device` of `backend`; errors quote `spec`. `normal`
 * receives the options as given, ":"-separated. */
dt_status dt_options_parse(const char *spec, const char *device, const char *backend,
                           const dt_option_spec *table, const char *text, dt_device_options *out,
                           char *normal, size_t normal_len);
/* "threads=1..1024, gemm=auto|blas|own" ("" for none). */
void dt_options_describe(const dt_option_spec *table, char *out, size_t len);

typedef struct dt_backend {
    const char *name;
    /* The table its devices get, for reporting which ops run where without
     * opening a device (dt_backend_device_info); NULL when it depends on
     * the device (then only an opened device reports it). */
    const dt_device_ops *ops;
    /* Count devices; with none, *count = 0 and a reason in `why`. May be
     * called often: cache what is expensive. */
    dt_status (*probe)(int *count, char *why, size_t why_len);
    dt_status (*query)(int index, dt_device_info *info);
    /* Open device `index` with the options of its spec (checked against
     * `options`; none given: every value at its default). */
    dt_status (*open)(int index, const dt_device_options *opts, dt_device **out);
    /* Its options, ended by a {NULL} entry; NULL when it takes none. */
    const dt_option_spec *options;
} dt_backend;

/* Adds a backend to the registry after those compiled in, so that device
 * specs, enumeration and the tests reach it like any other: for a program
 * that carries a backend of its own (the CPU emulation of the CUDA backend
 * in tests/cuda_emu). Call it before opening any device, from one thread;
 * a name already taken or more than four additions are refused. */
dt_status dt_backend_register(const dt_backend *b);

/* One table per backend (or per kind of device): the entries of
 * runtime/op_list.h, same names, same prototypes. The DT_DEVICE_CORE
 * entries are required (a device whose table lacks one is refused at open);
 * an op entry left NULL makes the runtime refuse that op with
 * DT_ERR_UNSUPPORTED, naming the op and the device, instead of calling it;
 * demo_apply left NULL (or info.canonical_on_host) runs on the host,
 * through download / dt_demo_apply_host / upload. */
#define DT_OPS_FIELD_(ret, name, params, args) ret(*name) params;
struct dt_device_ops {
    DT_DEVICE_CORE(DT_OPS_FIELD_)
    DT_DEVICE_OPS(DT_OPS_FIELD_)
};
#undef DT_OPS_FIELD_

/* Whether a table fills the entry of `op`. */
bool dt_device_ops_has(const dt_device_ops *ops, dt_op_id op);

/* dt_device_info.ops_on_device / ops_on_host from a table and the info's
 * canonical_on_host; the registry calls it after query and open, the
 * canonical-update probe after deciding. */
void dt_device_info_set_ops(dt_device_info *info, const dt_device_ops *ops);

/* The canonical update through the host: download the operands, run
 * dt_demo_apply_host, upload W. For a backend that finds, at run time, that
 * a call cannot be done exactly on its device. */
dt_status dt_demo_apply_via_host(const dt_tile_plan *plan, const dt_tensor *idx,
                                 const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                 const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                 const dt_tensor *w, float lr, float decay, dt_demo_update update);

/* ---- the canonical update's exactness probe (runtime/canonical_probe.c) ----
 * The runtime probes every device's demo_apply against dt_demo_apply_host
 * at the first dt_demo_apply (both update rules; contraction traps,
 * subnormals, a random problem) and runs the op on the host for a device
 * that differs. Backends only set dt_device.canonical_source, and mark
 * info.canonical_on_host themselves (dt_canonical_on_host) where they know
 * without probing that the device cannot be exact (no fp32 denormals). */

/* FNV-1a 64 over `len` bytes, continuing from h (start: DT_HASH64_SEED). */
#define DT_HASH64_SEED 0xcbf29ce484222325ULL
uint64_t dt_hash64(uint64_t h, const void *data, size_t len);
/* Marks the canonical update as run on the host for this device, the
 * reason appended to info.note ("canonical DeMo update on the host
 * (reason)"); once. */
void dt_canonical_on_host(dt_device_info *info, const char *reason);
/* When describing a device without opening it: applies a cached failed
 * probe of (this device, its driver, `source`). */
void dt_canonical_lookup(dt_device_info *info, uint64_t source);
/* The registry, after a backend opened a device: the cached outcome, if
 * any, decides; otherwise the probe will run at first use. */
void dt_canonical_open(dt_device *dev);
/* Probes now unless decided (dt_demo_apply calls it). Errors only when the
 * device failed to run the probe; an inexact device is no error. */
dt_status dt_canonical_check(dt_device *dev);
/* The probe itself, through dev->ops->demo_apply, uncached: *exact = 0 when
 * any result differs from the host's bits. */
dt_status dt_canonical_probe(dt_device *dev, int *exact);

/* Fill the fields common to every device of a backend (backend, index, spec). */
void dt_device_info_init(dt_device_info *info, const char *backend, int index);

/* A progress message to the callback of dt_set_log, if any. */
void dt_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Monotonic seconds, for timing one-time work in those messages. */
double dt_seconds(void);

/* Safe bounded string copy for info fields (always NUL-terminates). */
void dt_strlcpy(char *dst, const char *src, size_t size);

#endif
