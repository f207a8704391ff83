/* Status codes and the per-thread error message shared by every layer.
 *
 * Every fallible call in distro returns a dt_status. On failure it also leaves
 * a message for the calling thread (dt_last_error()) that names what failed:
 * the op, the shapes, the device, the file, the field. Library code never
 * exits or aborts; only cli/ decides to stop the process. */
#ifndef DISTRO_ERROR_H
#define DISTRO_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dt_status {
    DT_OK = 0,
    DT_ERR_INVALID,     /* bad argument, shape, dtype or spec syntax */
    DT_ERR_NOT_FOUND,   /* no such device, file or name */
    DT_ERR_UNAVAILABLE, /* compiled in, but no driver, platform or device here */
    DT_ERR_OOM,         /* host or device memory exhausted */
    DT_ERR_DEVICE,      /* driver call failed, device lost */
    DT_ERR_BUILD,       /* kernel or shader build failed */
    DT_ERR_IO,          /* file or socket I/O failed */
    DT_ERR_FORMAT,      /* malformed input data (file, config, message) */
    DT_ERR_UNSUPPORTED, /* valid request this build or device cannot do */
} dt_status;

/* Short stable name of a status ("invalid", "oom", ...). */
const char *dt_status_name(dt_status s);

/* The message left by the last failing call on this thread ("" if none). */
const char *dt_last_error(void);

/* Record a failure for this thread and return `s`, so callers can write
 * `return dt_error(DT_ERR_INVALID, "gemm: k=%lld ...", ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
dt_status
dt_error(dt_status s, const char *fmt, ...);
dt_status dt_error_v(dt_status s, const char *fmt, va_list ap);

/* Prefix the current message with more context ("loading x.bin: " + old). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
dt_status
dt_error_wrap(dt_status s, const char *fmt, ...);

void dt_error_clear(void);

/* The static analyzer sees one file at a time and cannot know that these
 * return `s`; without this it follows `return dt_error(...)` as if it could
 * return DT_OK, and reports the uninitialised outputs of paths that cannot
 * happen. Only the analyzer sees these macros. */
#ifdef __clang_analyzer__
#define dt_error(s, ...)      (dt_error((s), __VA_ARGS__), (s))
#define dt_error_wrap(s, ...) (dt_error_wrap((s), __VA_ARGS__), (s))
#define dt_error_v(s, f, ap)  (dt_error_v((s), (f), (ap)), (s))
#endif

#ifdef __cplusplus
}
#endif
#endif
