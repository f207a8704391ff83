/* Checks for the net-layer tests: a failed check prints where and why and
 * the test goes on, so one run reports every broken case. */
#ifndef DISTRO_TESTS_NET_TEST_UTIL_H
#define DISTRO_TESTS_NET_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"

extern int nt_failures;

void nt_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) nt_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)

/* Checks a status and that every needle (NULL-terminated) occurs in
 * dt_last_error(). Returns 1 when it matched. */
int nt_check_status(const char *file, int line, const char *expr, dt_status got, dt_status want,
                    const char *const *needles);
#define CHECK_STATUS(expr, want, ...)                                                              \
    nt_check_status(__FILE__, __LINE__, #expr, (expr), (want),                                     \
                    (const char *const[]){__VA_ARGS__, NULL})
#define CHECK_OK(expr) nt_check_status(__FILE__, __LINE__, #expr, (expr), DT_OK, NULL)

/* The run's seed: DISTRO_TEST_SEED if set, else `def`; printed. */
uint64_t nt_seed(uint64_t def);
/* splitmix64 */
uint64_t nt_rand(uint64_t *state);

double nt_now(void);
void nt_sleep(double seconds);

/* A fresh directory under $TMPDIR or /tmp; 0 on success. */
int nt_make_temp_dir(char *buf, size_t len);
/* Removes a flat directory and its files. */
void nt_remove_dir(const char *dir);
int nt_write_file(const char *path, const char *text);

/* Prints the summary; returns the exit code. */
int nt_finish(const char *name);

#endif
