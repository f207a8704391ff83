/* The portable runtime: backends, devices, buffers and tensor views.
 *
 * A device belongs to one backend (cpu, opencl, vulkan, cuda). Work on a
 * device is issued from one thread at a time. Ops may run asynchronously;
 * dt_device_sync() waits for everything issued so far, and a download waits
 * for the work that writes the bytes it reads. */
#ifndef DISTRO_RUNTIME_H
#define DISTRO_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dt_device dt_device;
typedef struct dt_buffer dt_buffer;

/* ---- backends ------------------------------------------------------------ */

/* Backends compiled into this build, in a fixed order (cpu first). */
int dt_backend_count(void);
const char *dt_backend_name(int i);

/* How many devices backend `i` sees. When it sees none, *count is 0 and `why`
 * (if given) explains: no driver, no platform, no device. The status is only
 * an error when asking itself failed. */
dt_status dt_backend_devices(int i, int *count, char *why, size_t why_len);

/* ---- progress messages ----------------------------------------------------- */

/* The runtime never prints. Slow one-time work, such as an OpenCL driver
 * compiling the kernels for a device on its first use, is announced through
 * this callback instead, one line per call (no trailing newline). The
 * setting is process-wide like the backend list: set it once, before
 * opening devices or starting threads. NULL (the default) drops messages. */
typedef void (*dt_log_fn)(void *user, const char *message);
void dt_set_log(dt_log_fn fn, void *user);

/* ---- devices ------------------------------------------------------------- */

typedef enum dt_device_type {
    DT_DEVICE_CPU = 0,
    DT_DEVICE_GPU_INTEGRATED,
    DT_DEVICE_GPU_DISCRETE,
    DT_DEVICE_GPU_VIRTUAL,
    DT_DEVICE_OTHER,
} dt_device_type;

const char *dt_device_type_name(dt_device_type t);

typedef struct dt_device_info {
    char backend[16];  /* "cpu", "opencl", "vulkan", "cuda" */
    int index;         /* N in "backend:N" */
    char spec[32];     /* "opencl:0" */
    char name[128];    /* "NVIDIA GeForce RTX 3060", "AMD EPYC 7B13" */
    char vendor[64];   /* "NVIDIA", "AMD", "Intel", "Mesa", ... */
    char driver[96];   /* driver or library version string */
    char platform[96]; /* OpenCL platform name; empty elsewhere */
    dt_device_type type;
    uint64_t memory_bytes; /* device-local memory (system RAM for cpu) */
    int compute_units;     /* SMs, CUs, EUs, cores */
    int subgroup_size;     /* warp / wavefront / SIMD width; 0 if unknown */
    bool fp16;
    bool fp64;
    /* The canonical DeMo update (dt_demo_apply) cannot be made bit-exact on
     * this device, so the runtime runs it on the host for it. */
    bool canonical_on_host;
    char note[160]; /* anything a user should know ("GEMM via OpenBLAS") */
    /* Where each backend op runs for this device (bit i is op i of
     * dt_op_name): on the device, or on the host by the runtime (the
     * canonical update of a device that cannot reproduce it). An op in
     * neither mask is refused with DT_ERR_UNSUPPORTED. Both 0 when not
     * known without opening the device. */
    uint64_t ops_on_device;
    uint64_t ops_on_host;
    /* The options it was opened with, as given in the spec
     * ("kernels=gpu:staging=on"); "" for none (and for a device described
     * without opening it). */
    char options[64];
} dt_device_info;

/* The backend ops, by number (0 .. dt_op_count() - 1): "gemm",
 * "embedding_fwd", ..., "demo_apply". One op may serve two entry points of
 * ops.h ("rope": dt_rope_fwd and dt_rope_bwd). NULL outside the range. */
int dt_op_count(void);
const char *dt_op_name(int op);

/* Describe device `index` of backend `i` without opening it for work. */
dt_status dt_backend_device_info(int i, int index, dt_device_info *info);

/* Open a device from a spec: "cpu", "opencl:N", "vulkan:N", "cuda:N" or
 * "auto" (the best available device: discrete GPU first, then integrated,
 * then the native cpu backend; CPU devices of other backends never win).
 * Any but auto may be followed by options of its backend, each as
 * ":OPTION=VALUE" ("cpu:threads=2:gemm=own", "vulkan:0:kernels=gpu");
 * dt_backend_option lists them. An unknown option or value is refused
 * (DT_ERR_INVALID) with a message naming the device and what it takes. */
dt_status dt_device_open(const char *spec, dt_device **out);
/* Whether dt_device_open(spec) would find a device (the backend is compiled
 * in, sees that device and takes those options), without opening it: the
 * same errors, at once. */
dt_status dt_device_check_spec(const char *spec);
/* Option i (from 0) of backend b: its name, what it takes ("auto|cpu|gpu",
 * or "1..1024" for a number) and a line of help. false past the last. */
bool dt_backend_option(int b, int i, const char **name, char *values, size_t values_len,
                       const char **help);
/* Closes the device. Free its buffers first: a buffer freed after its
 * device is closed reaches freed memory (the backends release their
 * device-side objects with the device). */
void dt_device_close(dt_device *dev);
const dt_device_info *dt_device_get_info(const dt_device *dev);

/* Wait until every op issued on the device has finished. */
dt_status dt_device_sync(dt_device *dev);

/* ---- buffers ------------------------------------------------------------- */

dt_status dt_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out);
void dt_buffer_free(dt_buffer *buf);
size_t dt_buffer_size(const dt_buffer *buf);
dt_device *dt_buffer_device(const dt_buffer *buf);

/* Host <-> device copies; both return once the host memory may be reused
 * (upload) or holds the data (download). */
dt_status dt_buffer_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes);
dt_status dt_buffer_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes);
/* Device-to-device copy within one device. Ranges may not overlap. */
dt_status dt_buffer_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                         size_t bytes);

/* ---- tensor views -------------------------------------------------------- */

typedef enum dt_dtype {
    DT_F32 = 0,
    DT_I32 = 1,
} dt_dtype;

size_t dt_dtype_size(dt_dtype t);
const char *dt_dtype_name(dt_dtype t);

#define DT_MAX_DIMS 4

/* A view into a buffer: dense, row-major, `offset` bytes from the start of
 * the buffer (a multiple of the element size). Views are plain values; they
 * own nothing. */
typedef struct dt_tensor {
    dt_buffer *buf;
    size_t offset;
    dt_dtype dtype;
    int ndim;
    int64_t shape[DT_MAX_DIMS];
} dt_tensor;

dt_tensor dt_tensor_1d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0);
dt_tensor dt_tensor_2d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0, int64_t n1);
dt_tensor dt_tensor_3d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0, int64_t n1,
                       int64_t n2);
dt_tensor dt_tensor_nd(dt_buffer *buf, size_t offset, dt_dtype t, int ndim, const int64_t *shape);

int64_t dt_tensor_numel(const dt_tensor *t);
size_t dt_tensor_bytes(const dt_tensor *t);
/* "[4, 128] f32" into buf; returns buf. */
const char *dt_tensor_str(const dt_tensor *t, char *buf, size_t len);

/* Convenience: allocate a buffer holding exactly one dense tensor. */
dt_status dt_tensor_alloc(dt_device *dev, dt_dtype t, int ndim, const int64_t *shape,
                          dt_tensor *out);
void dt_tensor_free(dt_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
