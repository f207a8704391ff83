/* The backend registry: the one place that lists the compiled backends, and
 * device enumeration and opening built on it. The list is a constant array
 * fixed at build time, after which a program may add a few backends of its
 * own before it opens any device (dt_backend_register: the tests' CPU
 * emulation of the CUDA backend); the other mutable global is the progress
 * callback. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distro_config.h"
#include "runtime/backend.h"

extern const dt_backend dt_backend_cpu;
#if DISTRO_HAVE_OPENCL
extern const dt_backend dt_backend_opencl;
#endif
#if DISTRO_HAVE_VULKAN
extern const dt_backend dt_backend_vulkan;
#endif
#if DISTRO_HAVE_CUDA
extern const dt_backend dt_backend_cuda;
#endif

static const dt_backend *const backends[] = {
    &dt_backend_cpu,
#if DISTRO_HAVE_OPENCL
    &dt_backend_opencl,
#endif
#if DISTRO_HAVE_VULKAN
    &dt_backend_vulkan,
#endif
#if DISTRO_HAVE_CUDA
    &dt_backend_cuda,
#endif
};

#define N_BUILT        ((int)(sizeof backends / sizeof backends[0]))
#define MAX_REGISTERED 4
static const dt_backend *registered[MAX_REGISTERED];
static int n_registered;

dt_status dt_backend_register(const dt_backend *b) {
    if (!b || !b->name || !b->probe || !b->query || !b->open)
        return dt_error(DT_ERR_INVALID, "dt_backend_register: incomplete backend");
    for (int i = 0; i < dt_backend_count(); i++)
        if (strcmp(dt_backend_name(i), b->name) == 0)
            return dt_error(DT_ERR_INVALID, "dt_backend_register: a backend named %s exists",
                            b->name);
    if (n_registered == MAX_REGISTERED)
        return dt_error(DT_ERR_INVALID, "dt_backend_register: at most %d backends may be added",
                        MAX_REGISTERED);
    registered[n_registered++] = b;
    return DT_OK;
}

static const dt_backend *backend_at(int i) {
    return i < N_BUILT ? backends[i] : registered[i - N_BUILT];
}

int dt_backend_count(void) {
    return N_BUILT + n_registered;
}

const char *dt_backend_name(int i) {
    if (i < 0 || i >= dt_backend_count()) return NULL;
    return backend_at(i)->name;
}

dt_status dt_backend_devices(int i, int *count, char *why, size_t why_len) {
    *count = 0;
    if (why && why_len) why[0] = '\0';
    if (i < 0 || i >= dt_backend_count())
        return dt_error(DT_ERR_NOT_FOUND, "no backend number %d in this build", i);
    char local[256];
    if (!why || !why_len) {
        why = local;
        why_len = sizeof local;
    }
    return backend_at(i)->probe(count, why, why_len);
}

dt_status dt_backend_device_info(int i, int index, dt_device_info *info) {
    int count;
    char why[256];
    dt_status st = dt_backend_devices(i, &count, why, sizeof why);
    if (st != DT_OK) return st;
    if (index < 0 || index >= count)
        return dt_error(DT_ERR_NOT_FOUND, "%s:%d: no such device (%s has %d%s%s)",
                        backend_at(i)->name, index, backend_at(i)->name, count, count ? "" : "; ",
                        count ? "" : why);
    st = backend_at(i)->query(index, info);
    if (st == DT_OK) dt_device_info_set_ops(info, backend_at(i)->ops);
    return st;
}

/* Opens device `index` of backend `b` and checks that its table has every
 * required entry, so that no call through a NULL entry can happen later. */
static dt_status open_device(int b, int index, const dt_device_options *opts, dt_device **out) {
    dt_device *dev = NULL;
    dt_device_options none;
    memset(&none, 0, sizeof none);
    dt_status st = backend_at(b)->open(index, opts ? opts : &none, &dev);
    if (st != DT_OK) return st;
    const dt_device_ops *ops = dev->ops;
    const char *missing = NULL;
#define CORE_CHECK_(ret, name, params, args)                                                       \
    if (!missing && !ops->name) missing = #name;
    DT_DEVICE_CORE(CORE_CHECK_)
#undef CORE_CHECK_
    if (missing) {
        st = dt_error(DT_ERR_UNSUPPORTED,
                      "%s (%s): the %s backend's device table has no '%s' entry, which every "
                      "device needs",
                      dev->info.spec, dev->info.name, backend_at(b)->name, missing);
        if (ops->close) ops->close(dev);
        return st;
    }
    dt_device_info_set_ops(&dev->info, ops);
    dt_canonical_open(dev);
    *out = dev;
    return DT_OK;
}

/* The one other process-wide setting beside the backend list, written once
 * at start-up (see dt_set_log). */
static dt_log_fn log_fn;
static void *log_user;

void dt_set_log(dt_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void dt_log(const char *fmt, ...) {
    if (!log_fn) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_fn(log_user, line);
}

double dt_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dt_device_info_init(dt_device_info *info, const char *backend, int index) {
    memset(info, 0, sizeof *info);
    dt_strlcpy(info->backend, backend, sizeof info->backend);
    info->index = index;
    snprintf(info->spec, sizeof info->spec, "%s:%d", backend, index);
}

void dt_strlcpy(char *dst, const char *src, size_t size) {
    if (!size) return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size) n = size - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

const char *dt_device_type_name(dt_device_type t) {
    switch (t) {
    case DT_DEVICE_CPU:
        return "cpu";
    case DT_DEVICE_GPU_INTEGRATED:
        return "integrated-gpu";
    case DT_DEVICE_GPU_DISCRETE:
        return "discrete-gpu";
    case DT_DEVICE_GPU_VIRTUAL:
        return "virtual-gpu";
    case DT_DEVICE_OTHER:
        return "other";
    }
    return "unknown";
}

/* "auto" ranks devices by kind, then memory. A CPU reached through OpenCL or
 * Vulkan (PoCL, lavapipe) never beats the native CPU backend. */
static int auto_rank(const dt_device_info *info) {
    if (strcmp(info->backend, "cpu") == 0) return 1;
    switch (info->type) {
    case DT_DEVICE_GPU_DISCRETE:
        return 4;
    case DT_DEVICE_GPU_INTEGRATED:
        return 3;
    case DT_DEVICE_GPU_VIRTUAL:
        return 2;
    default:
        return 0;
    }
}

/* A device `auto` may open: where it is and how it ranks. */
typedef struct auto_candidate {
    int backend, index, rank;
    uint64_t memory;
} auto_candidate;

#define AUTO_MAX_CANDIDATES 64

/* Every device whose query succeeds, best first: higher rank, then more
 * memory, then the order of the backends and devices (a stable insertion). */
static int auto_candidates(auto_candidate *out, int max) {
    int n = 0;
    for (int b = 0; b < dt_backend_count(); b++) {
        int count = 0;
        if (dt_backend_devices(b, &count, NULL, 0) != DT_OK) continue;
        for (int d = 0; d < count && n < max; d++) {
            dt_device_info info;
            if (backend_at(b)->query(d, &info) != DT_OK) continue;
            const auto_candidate c = {b, d, auto_rank(&info), info.memory_bytes};
            int at = n++;
            for (; at > 0; at--) {
                const auto_candidate *p = &out[at - 1];
                if (p->rank > c.rank || (p->rank == c.rank && p->memory >= c.memory)) break;
                out[at] = *p;
            }
            out[at] = c;
        }
    }
    return n;
}

/* The best device that opens: one listed but failing to open (a GPU whose
 * kernels the runtime cannot load, a driver fault) gives way to the next. */
static dt_status open_auto(dt_device **out) {
    auto_candidate c[AUTO_MAX_CANDIDATES];
    const int n = auto_candidates(c, AUTO_MAX_CANDIDATES);
    dt_status first = DT_OK;
    char why[512] = "";
    for (int i = 0; i < n; i++) {
        dt_error_clear();
        dt_status st = open_device(c[i].backend, c[i].index, NULL, out);
        if (st == DT_OK) return DT_OK;
        if (first == DT_OK) first = st, dt_strlcpy(why, dt_last_error(), sizeof why);
    }
    /* The best device's failure, not whatever a later one said. */
    if (first != DT_OK) return dt_error(first, "auto: %s", why);
    return dt_error(DT_ERR_NOT_FOUND, "auto: no device found");
}

/* A parsed device spec: BACKEND[:N][:OPTION=VALUE]... */
typedef struct parsed_spec {
    int backend; /* -1: auto */
    int index;
    dt_device_options opts;
    char options[64]; /* as given, ":"-separated */
} parsed_spec;

/* "cpu, opencl:N, vulkan:N, cuda:N" and any backend a program registered. */
static void backend_list(char *out, size_t len) {
    size_t used = (size_t)snprintf(out, len, "cpu, opencl:N, vulkan:N, cuda:N");
    for (int i = N_BUILT; i < dt_backend_count() && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, ", %s:N", backend_at(i)->name);
}

static dt_status not_compiled(const char *spec, const char *name) {
    static const char *known[] = {"cpu", "opencl", "vulkan", "cuda"};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strcmp(known[k], name) == 0)
            return dt_error(DT_ERR_UNAVAILABLE,
                            "device spec '%s': the %s backend is not compiled into this build: "
                            "%s",
                            spec, name,
                            k == 1   ? DISTRO_OPENCL_WHY
                            : k == 2 ? DISTRO_VULKAN_WHY
                            : k == 3 ? DISTRO_CUDA_WHY
                                     : "");
    char expected[160];
    backend_list(expected, sizeof expected);
    return dt_error(DT_ERR_INVALID,
                    "device spec '%s': unknown backend '%s' (expected %s or auto, each "
                    "optionally followed by :OPTION=VALUE...)",
                    spec, name, expected);
}

/* Which backend and device a spec names, with its options checked against
 * the backend's, and that the device exists, without opening anything. */
static dt_status resolve_spec(const char *spec, parsed_spec *out) {
    memset(out, 0, sizeof *out);
    out->backend = -1;
    if (!spec || !*spec || strcmp(spec, "auto") == 0) return DT_OK;
    if (strncmp(spec, "auto:", 5) == 0)
        return dt_error(DT_ERR_INVALID,
                        "device spec '%s': auto takes no options (options belong to one "
                        "backend: name the device, e.g. vulkan:0:kernels=gpu)",
                        spec);

    char name[32];
    size_t len = strcspn(spec, ":");
    if (len == 0 || len >= sizeof name) {
        char expected[160];
        backend_list(expected, sizeof expected);
        return dt_error(DT_ERR_INVALID,
                        "device spec '%s': expected %s or auto, each optionally followed by "
                        ":OPTION=VALUE...",
                        spec, expected);
    }
    memcpy(name, spec, len);
    name[len] = '\0';
    const char *rest = spec[len] ? spec + len + 1 : NULL;
    long index = 0;
    /* A device number, unless the next part is an option. */
    if (rest) {
        size_t part = strcspn(rest, ":");
        if (!memchr(rest, '=', part)) {
            char *end = NULL;
            index = strtol(rest, &end, 10);
            if (part == 0 || end != rest + part || index < 0 || index > INT_MAX ||
                !(*rest >= '0' && *rest <= '9'))
                return dt_error(DT_ERR_INVALID,
                                "device spec '%s': '%.*s' is neither a device number nor "
                                "OPTION=VALUE",
                                spec, (int)part, rest);
            rest = rest[part] ? rest + part + 1 : NULL;
            if (rest && !*rest)
                return dt_error(DT_ERR_INVALID, "device spec '%s': an empty option at the end",
                                spec);
        }
    }
    int b = 0;
    while (b < dt_backend_count() && strcmp(backend_at(b)->name, name) != 0) b++;
    if (b == dt_backend_count()) return not_compiled(spec, name);
    char device[48];
    if (strcmp(name, "cpu") == 0 && index == 0)
        snprintf(device, sizeof device, "cpu");
    else
        snprintf(device, sizeof device, "%s:%ld", name, index);
    dt_status st = dt_options_parse(spec, device, name, backend_at(b)->options, rest, &out->opts,
                                    out->options, sizeof out->options);
    if (st != DT_OK) return st;
    int count = 0;
    char why[256] = "";
    st = dt_backend_devices(b, &count, why, sizeof why);
    if (st != DT_OK) return st;
    if (count == 0)
        return dt_error(DT_ERR_UNAVAILABLE, "device spec '%s': backend %s has no device: %s", spec,
                        name, why);
    if (index >= count)
        return dt_error(DT_ERR_NOT_FOUND,
                        "device spec '%s': backend %s has %d device%s "
                        "(%s:0 to %s:%d)",
                        spec, name, count, count == 1 ? "" : "s", name, name, count - 1);
    out->backend = b;
    out->index = (int)index;
    return DT_OK;
}

dt_status dt_device_check_spec(const char *spec) {
    parsed_spec p;
    return resolve_spec(spec, &p);
}

dt_status dt_device_open(const char *spec, dt_device **out) {
    *out = NULL;
    parsed_spec p;
    dt_status st = resolve_spec(spec, &p);
    if (st != DT_OK) return st;
    if (p.backend < 0) return open_auto(out);
    st = open_device(p.backend, p.index, &p.opts, out);
    if (st == DT_OK) dt_strlcpy((*out)->info.options, p.options, sizeof(*out)->info.options);
    return st;
}

bool dt_backend_option(int b, int i, const char **name, char *values, size_t values_len,
                       const char **help) {
    if (b < 0 || b >= dt_backend_count() || i < 0) return false;
    const dt_option_spec *t = backend_at(b)->options;
    for (int k = 0; t && t[k].name; k++) {
        if (k != i) continue;
        if (name) *name = t[k].name;
        if (help) *help = t[k].help;
        if (values && values_len) {
            if (t[k].values)
                dt_strlcpy(values, t[k].values, values_len);
            else
                snprintf(values, values_len, "%d..%d", t[k].min, t[k].max);
        }
        return true;
    }
    return false;
}

void dt_device_close(dt_device *dev) {
    if (dev) dev->ops->close(dev);
}

const dt_device_info *dt_device_get_info(const dt_device *dev) {
    return &dev->info;
}

dt_status dt_device_sync(dt_device *dev) {
    return dev->ops->sync(dev);
}
