/* Small helpers shared by the model-layer tests. */
#ifndef DISTRO_TEST_TRAIN_UTIL_H
#define DISTRO_TEST_TRAIN_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "distro/distro.h"

/* Abort the test with the runtime's message when a call fails. */
#define MUST(expr)                                                                                 \
    do {                                                                                           \
        dt_status must_st_ = (expr);                                                               \
        if (must_st_ != DT_OK) {                                                                   \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #expr,              \
                    dt_last_error(), dt_status_name(must_st_));                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The device under test: DISTRO_TEST_DEVICE, or the CPU backend. */
static inline dt_device *test_open_device(void) {
    const char *spec = getenv("DISTRO_TEST_DEVICE");
    dt_device *dev = NULL;
    MUST(dt_device_open(spec && *spec ? spec : "cpu", &dev));
    return dev;
}

#endif
