/* Small file helpers (file_io.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/file_io.h"

dt_status dt_read_text(const char *path, const char *what, size_t limit, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return dt_error(DT_ERR_IO, "%s %s: cannot open (%s)", what, path, strerror(errno));
    char *text = malloc(limit + 1);
    if (!text) {
        fclose(f);
        return dt_error(DT_ERR_OOM, "%s %s: cannot allocate %zu bytes", what, path, limit + 1);
    }
    /* One byte more than the limit tells a file that fits from one that
     * does not. */
    size_t n = fread(text, 1, limit + 1, f);
    int failed = ferror(f);
    fclose(f);
    dt_status st = DT_OK;
    if (failed)
        st = dt_error(DT_ERR_IO, "%s %s: cannot read", what, path);
    else if (n > limit)
        st = dt_error(DT_ERR_FORMAT, "%s %s: larger than %zu KiB", what, path, limit >> 10);
    else if (memchr(text, '\0', n))
        st = dt_error(DT_ERR_FORMAT, "%s %s: holds a NUL byte (not a text file)", what, path);
    if (st != DT_OK) {
        free(text);
        return st;
    }
    text[n] = '\0';
    *out = text;
    return DT_OK;
}

int dt_write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void dt_path_folder(const char *path, char *dir, size_t len) {
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

int dt_make_dirs(const char *path) {
    char tmp[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int dt_cache_dir(const char *sub, char *out, size_t len) {
    const char *env = getenv("DISTRO_CACHE_DIR");
    int n;
    if (env && *env)
        n = snprintf(out, len, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        n = snprintf(out, len, "%s/distro/%s", env, sub);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(out, len, "%s/.cache/distro/%s", env, sub);
    else
        return 0;
    return n > 0 && (size_t)n < len;
}
