/* Helpers for the model-layer tests; see model_test_util.h. */
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model_test_util.h"

extern char **environ;

int mt_failures = 0;

void mt_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    mt_failures++;
}

int mt_check_status(const char *file, int line, const char *expr, dt_status got, dt_status want,
                    const char *const *needles) {
    const char *msg = dt_last_error();
    if (got != want) {
        mt_fail(file, line, "%s returned %s, expected %s (message: \"%s\")", expr,
                dt_status_name(got), dt_status_name(want), msg);
        return 0;
    }
    for (int i = 0; needles && needles[i]; i++) {
        if (!strstr(msg, needles[i])) {
            mt_fail(file, line, "%s: message \"%s\" does not mention \"%s\"", expr, msg,
                    needles[i]);
            return 0;
        }
    }
    return 1;
}

int mt_make_temp_dir(char *buf, size_t len) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    if ((size_t)snprintf(buf, len, "%s/distro-model-test-XXXXXX", base) >= len) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

void mt_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) rmdir(path); /* tests leave at most empty subdirectories */
    }
    closedir(d);
    rmdir(dir);
}

int mt_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

int mt_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = len > 0 && fwrite(data, 1, len, f) != len;
    if (fclose(f) != 0) bad = 1;
    return bad ? -1 : 0;
}

long mt_read_file(const char *path, void *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

int mt_finish(const char *test_name) {
    if (mt_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", test_name, mt_failures);
        return 1;
    }
    printf("%s: all checks passed\n", test_name);
    return 0;
}

int mt_run(char *const argv[]) {
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
    int status;
    pid_t done;
    while ((done = waitpid(pid, &status, 0)) < 0 && errno == EINTR) continue;
    if (done < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
