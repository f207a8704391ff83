/* Helpers of the net-layer tests (see net_test_util.h). */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net_test_util.h"

int nt_failures;

void nt_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    nt_failures++;
}

int nt_check_status(const char *file, int line, const char *expr, dt_status got, dt_status want,
                    const char *const *needles) {
    if (got != want) {
        nt_fail(file, line, "%s: status %s, expected %s (message: %s)", expr, dt_status_name(got),
                dt_status_name(want), dt_last_error());
        return 0;
    }
    for (const char *const *n = needles; n && *n; n++)
        if (!strstr(dt_last_error(), *n)) {
            nt_fail(file, line, "%s: message \"%s\" lacks \"%s\"", expr, dt_last_error(), *n);
            return 0;
        }
    return 1;
}

uint64_t nt_seed(uint64_t def) {
    const char *env = getenv("DISTRO_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : def;
    printf("seed %" PRIu64 " (set DISTRO_TEST_SEED to repeat another)\n", seed);
    return seed;
}

uint64_t nt_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double nt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nt_sleep(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int nt_make_temp_dir(char *buf, size_t len) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/distro-net-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(buf) ? 0 : -1;
}

void nt_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int nt_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

int nt_finish(const char *name) {
    if (nt_failures) {
        printf("%s: %d check(s) failed\n", name, nt_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}
