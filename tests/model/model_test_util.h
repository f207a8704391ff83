/* Small helpers for the model-layer tests: checks that count failures and
 * keep going (one run reports every broken case), and scratch directories. */
#ifndef DISTRO_TESTS_MODEL_TEST_UTIL_H
#define DISTRO_TESTS_MODEL_TEST_UTIL_H

#include <stddef.h>

#include "distro/error.h"

/* Failures so far in this process. */
extern int mt_failures;

void mt_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) mt_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)

/* Runs a dt_status expression and checks status and message: every needle
 * (NULL-terminated list) must occur in dt_last_error(). */
int mt_check_status(const char *file, int line, const char *expr, dt_status got, dt_status want,
                    const char *const *needles);
#define CHECK_STATUS(expr, want, ...)                                                              \
    mt_check_status(__FILE__, __LINE__, #expr, (expr), (want),                                     \
                    (const char *const[]){__VA_ARGS__, NULL})
#define CHECK_OK(expr) mt_check_status(__FILE__, __LINE__, #expr, (expr), DT_OK, NULL)

/* Creates a fresh directory under $TMPDIR (or /tmp) into buf; 0 on success. */
int mt_make_temp_dir(char *buf, size_t len);
/* Removes a flat directory and the files in it. */
void mt_remove_dir(const char *dir);
/* Number of entries in dir other than "." and "..", or -1. */
int mt_count_entries(const char *dir);
/* Writes len bytes to path, replacing it; 0 on success. */
int mt_write_file(const char *path, const void *data, size_t len);
/* Reads up to cap bytes of path into buf; returns the count or -1. */
long mt_read_file(const char *path, void *buf, size_t cap);

/* Runs argv[0] (searched in PATH when it has no slash) with argv; returns its
 * exit status, or -1 when it could not run or did not exit. */
int mt_run(char *const argv[]);

/* Prints the summary and returns the process exit code (0 or 1). */
int mt_finish(const char *test_name);

#endif
