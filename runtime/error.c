/* Per-thread error messages. The only state is thread-local, so threads (a
 * coordinator's network thread beside its training thread) never see each
 * other's messages. */
#include <stdio.h>
#include <string.h>

#include "distro/error.h"
#include "runtime/text.h"

#ifdef __clang_analyzer__ /* the definitions below, not the analyzer's macros */
#undef dt_error
#undef dt_error_wrap
#undef dt_error_v
#endif

#define DT_ERROR_MAX 1024

static _Thread_local char last_message[DT_ERROR_MAX];

const char *dt_status_name(dt_status s) {
    switch (s) {
    case DT_OK:
        return "ok";
    case DT_ERR_INVALID:
        return "invalid";
    case DT_ERR_NOT_FOUND:
        return "not-found";
    case DT_ERR_UNAVAILABLE:
        return "unavailable";
    case DT_ERR_OOM:
        return "out-of-memory";
    case DT_ERR_DEVICE:
        return "device";
    case DT_ERR_BUILD:
        return "build";
    case DT_ERR_IO:
        return "io";
    case DT_ERR_FORMAT:
        return "format";
    case DT_ERR_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown";
}

const char *dt_last_error(void) {
    return last_message;
}

void dt_error_clear(void) {
    last_message[0] = '\0';
}

/* Messages are for people and often carry outside text (a tensor name from
 * a file, a path, a driver's build log): each byte that starts no printable
 * UTF-8 character, tab and newline aside, becomes '?', so printing a
 * message can never send an escape sequence to a terminal or malformed
 * UTF-8 into JSON. */
static void make_printable(char *m) {
    const size_t n = strlen(m);
    for (size_t i = 0; i < n;) {
        const int len = dt_text_char_len(m + i, n - i);
        if (!len) m[i] = '?';
        i += len ? (size_t)len : 1;
    }
}

dt_status dt_error_v(dt_status s, const char *fmt, va_list ap) {
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    make_printable(last_message);
    return s;
}

dt_status dt_error(dt_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    dt_error_v(s, fmt, ap);
    va_end(ap);
    return s;
}

dt_status dt_error_wrap(dt_status s, const char *fmt, ...) {
    char old[DT_ERROR_MAX];
    memcpy(old, last_message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_message)
        snprintf(last_message + n, sizeof last_message - (size_t)n, "%s", old);
    make_printable(last_message);
    return s;
}
