/* Writing safetensors files (the reader is model/safetensors_read.c).
 *
 * A checkpoint must never be torn: a crash or a full disk halfway through a
 * save has to leave the previous checkpoint intact. So the bytes go to a
 * temporary file beside the target (same directory, hence same filesystem,
 * so rename is atomic), which is fsynced, renamed over the target, and the
 * directory is fsynced so the rename itself survives a power cut. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/safetensors.h"
#include "model/safetensors_common.h"
#include "runtime/file_io.h"

/* ---- argument checks ------------------------------------------------------ */

static dt_status check_metadata(const char *path, const st_metadata *meta, int n_meta) {
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return dt_error(DT_ERR_INVALID, "st_write %s: bad metadata list (n_meta=%d)", path, n_meta);
    const char **keys = malloc(((size_t)n_meta + 1) * sizeof *keys);
    if (!keys) return dt_error(DT_ERR_OOM, "st_write %s: out of memory", path);
    dt_status s = DT_OK;
    for (int i = 0; i < n_meta && s == DT_OK; i++) {
        if (!meta[i].key || !meta[i].value)
            s = dt_error(DT_ERR_INVALID, "st_write %s: metadata entry %d has a NULL key or value",
                         path, i);
        else if (!st_valid_utf8(meta[i].key) || !st_valid_utf8(meta[i].value))
            s = dt_error(DT_ERR_INVALID, "st_write %s: metadata \"%s\" is not valid UTF-8", path,
                         meta[i].key);
        else
            keys[i] = meta[i].key;
    }
    const char *dup = s == DT_OK ? st_first_duplicate(keys, n_meta) : NULL;
    if (dup) s = dt_error(DT_ERR_INVALID, "st_write %s: metadata key \"%s\" repeats", path, dup);
    free(keys);
    return s;
}

/* Checks one tensor and returns its byte size in *bytes. */
static dt_status check_tensor(const char *path, const st_tensor_ref *t, int i, int64_t *bytes) {
    if (!t->name || !t->name[0])
        return dt_error(DT_ERR_INVALID, "st_write %s: tensor %d has no name", path, i);
    if (strcmp(t->name, ST_METADATA_KEY) == 0)
        return dt_error(DT_ERR_INVALID, "st_write %s: \"%s\" is reserved for metadata", path,
                        ST_METADATA_KEY);
    if (!st_valid_utf8(t->name))
        return dt_error(DT_ERR_INVALID, "st_write %s: tensor %d: name is not valid UTF-8", path, i);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return dt_error(DT_ERR_INVALID, "st_write %s: tensor \"%s\": ndim %d outside [0, %d]", path,
                        t->name, t->ndim, ST_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t n = t->shape[d];
        if (n < 0)
            return dt_error(DT_ERR_INVALID, "st_write %s: tensor \"%s\": dimension %d is %lld",
                            path, t->name, d, (long long)n);
        /* Keep every size below ST_INT_MAX so readers can represent it exactly. */
        if (n > 0 && numel > ST_INT_MAX / 4 / n)
            return dt_error(DT_ERR_INVALID, "st_write %s: tensor \"%s\" is too large", path,
                            t->name);
        numel *= n;
    }
    if (numel > 0 && !t->data)
        return dt_error(DT_ERR_INVALID, "st_write %s: tensor \"%s\" has NULL data", path, t->name);
    *bytes = numel * 4;
    return DT_OK;
}

static dt_status check_tensors(const char *path, const st_tensor_ref *tensors, int n_tensors,
                               int64_t *sizes) {
    if (n_tensors < 0 || (n_tensors > 0 && !tensors))
        return dt_error(DT_ERR_INVALID, "st_write %s: bad tensor list (n_tensors=%d)", path,
                        n_tensors);
    const char **names = malloc(((size_t)n_tensors + 1) * sizeof *names);
    if (!names) return dt_error(DT_ERR_OOM, "st_write %s: out of memory", path);
    dt_status s = DT_OK;
    int64_t total = 0;
    for (int i = 0; i < n_tensors && s == DT_OK; i++) {
        s = check_tensor(path, &tensors[i], i, &sizes[i]);
        if (s == DT_OK && sizes[i] > ST_INT_MAX - total)
            s = dt_error(DT_ERR_INVALID, "st_write %s: more than 2^53 bytes of tensors", path);
        if (s == DT_OK) {
            total += sizes[i];
            names[i] = tensors[i].name;
        }
    }
    const char *dup = s == DT_OK ? st_first_duplicate(names, n_tensors) : NULL;
    if (dup) s = dt_error(DT_ERR_INVALID, "st_write %s: tensor name \"%s\" repeats", path, dup);
    free(names);
    return s;
}

/* ---- the header ------------------------------------------------------------ */

/* Integers go in as raw JSON text, not cJSON doubles, so they print exactly
 * as integers at any size (cJSON would print 1e15 as "1e+15"). */
static int add_int_array(cJSON *entry, const char *key, const int64_t *v, int n) {
    cJSON *array = cJSON_CreateArray();
    if (!array || !cJSON_AddItemToObject(entry, key, array)) {
        cJSON_Delete(array);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char text[24];
        snprintf(text, sizeof text, "%" PRId64, v[i]);
        cJSON *item = cJSON_CreateRaw(text);
        if (!item || !cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            return 0;
        }
    }
    return 1;
}

static int add_tensor_entry(cJSON *root, const st_tensor_ref *t, int64_t begin, int64_t end) {
    cJSON *entry = cJSON_CreateObject();
    if (!entry || !cJSON_AddItemToObject(root, t->name, entry)) {
        cJSON_Delete(entry);
        return 0;
    }
    int64_t offsets[2] = {begin, end};
    return cJSON_AddStringToObject(entry, "dtype", "F32") != NULL &&
           add_int_array(entry, "shape", t->shape, t->ndim) &&
           add_int_array(entry, "data_offsets", offsets, 2);
}

static int add_metadata(cJSON *root, const st_metadata *meta, int n_meta) {
    if (n_meta == 0) return 1; /* the key is optional; omit it when empty */
    cJSON *object = cJSON_CreateObject();
    if (!object || !cJSON_AddItemToObject(root, ST_METADATA_KEY, object)) {
        cJSON_Delete(object);
        return 0;
    }
    for (int i = 0; i < n_meta; i++)
        if (!cJSON_AddStringToObject(object, meta[i].key, meta[i].value)) return 0;
    return 1;
}

/* The 8-byte length, the JSON and its padding: one malloc'd block. The JSON
 * is padded with spaces to a multiple of 8 bytes, as the reference writer
 * does, so the data section starts 8-byte aligned. */
static dt_status build_header(const char *path, const st_metadata *meta, int n_meta,
                              const st_tensor_ref *tensors, int n_tensors, const int64_t *sizes,
                              unsigned char **out, size_t *out_len) {
    cJSON *root = cJSON_CreateObject();
    int ok = root && add_metadata(root, meta, n_meta);
    int64_t offset = 0;
    for (int i = 0; ok && i < n_tensors; i++) {
        ok = add_tensor_entry(root, &tensors[i], offset, offset + sizes[i]);
        offset += sizes[i];
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return dt_error(DT_ERR_OOM, "st_write %s: out of memory building the header", path);

    size_t json_len = strlen(json);
    size_t padded = (json_len + 7) / 8 * 8;
    if (padded > ST_HEADER_MAX) {
        free(json);
        return dt_error(DT_ERR_INVALID,
                        "st_write %s: header of %zu bytes exceeds the %llu-byte limit readers "
                        "accept",
                        path, padded, (unsigned long long)ST_HEADER_MAX);
    }
    unsigned char *buf = malloc(8 + padded);
    if (!buf) {
        free(json);
        return dt_error(DT_ERR_OOM, "st_write %s: out of memory for the header", path);
    }
    st_put_le64(buf, (uint64_t)padded);
    memcpy(buf + 8, json, json_len);
    memset(buf + 8 + json_len, ' ', padded - json_len);
    free(json);
    *out = buf;
    *out_len = 8 + padded;
    return DT_OK;
}

/* ---- the file ---------------------------------------------------------------- */

/* Tensor data as little-endian F32: straight from memory on a little-endian
 * host, through a small byte-swapped staging buffer otherwise. */
static int write_f32_le(int fd, const float *data, size_t numel) {
    if (st_host_is_little_endian()) return dt_write_all(fd, data, numel * sizeof(float));
    enum { CHUNK = 4096 };
    float stage[CHUNK];
    for (size_t done = 0; done < numel;) {
        size_t n = numel - done < CHUNK ? numel - done : CHUNK;
        memcpy(stage, data + done, n * sizeof(float));
        st_bswap32(stage, n);
        if (dt_write_all(fd, stage, n * sizeof(float)) != 0) return -1;
        done += n;
    }
    return 0;
}

/* Creates "<path>.tmp.<pid>.<n>" exclusively, with the usual 0666 & ~umask
 * permissions (mkstemp would force 0600 on the final checkpoint). */
static int create_temp(const char *path, char *tmp, size_t tmp_len) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, tmp_len, "%s.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec + attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* fsync of the directory holding path, so the rename is durable. Filesystems
 * that cannot sync a directory say EINVAL; there is nothing more to do there. */
static int sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 1;
    if (slash == path) len = 1; /* "/file" lives in "/" */
    char *dir = malloc(len + 1);
    if (!dir) return -1;
    memcpy(dir, slash ? path : ".", len);
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && (e == EINVAL || e == ENOTSUP)) rc = 0;
    errno = e;
    return rc;
}

dt_status st_write(const char *path, const st_metadata *meta, int n_meta,
                   const st_tensor_ref *tensors, int n_tensors) {
    if (!path || !path[0]) return dt_error(DT_ERR_INVALID, "st_write: empty path");
    dt_status s = check_metadata(path, meta, n_meta);
    if (s != DT_OK) return s;
    int64_t *sizes = malloc(((size_t)(n_tensors > 0 ? n_tensors : 0) + 1) * sizeof *sizes);
    if (!sizes) return dt_error(DT_ERR_OOM, "st_write %s: out of memory", path);
    unsigned char *header = NULL;
    size_t header_len = 0;
    s = check_tensors(path, tensors, n_tensors, sizes);
    if (s == DT_OK)
        s = build_header(path, meta, n_meta, tensors, n_tensors, sizes, &header, &header_len);
    if (s != DT_OK) {
        free(sizes);
        return s;
    }

    size_t tmp_len = strlen(path) + 64;
    char *tmp = malloc(tmp_len);
    int fd = tmp ? create_temp(path, tmp, tmp_len) : -1;
    if (fd < 0) {
        s = tmp ? dt_error(DT_ERR_IO, "st_write %s: cannot create a temporary file beside it: %s",
                           path, strerror(errno))
                : dt_error(DT_ERR_OOM, "st_write %s: out of memory", path);
        free(tmp);
        free(header);
        free(sizes);
        return s;
    }

    const char *step = "writing";
    int failed = dt_write_all(fd, header, header_len) != 0;
    for (int i = 0; !failed && i < n_tensors; i++)
        failed = write_f32_le(fd, tensors[i].data, (size_t)(sizes[i] / 4)) != 0;
    if (!failed && fsync(fd) != 0) step = "fsync of", failed = 1;
    int e = errno;
    if (close(fd) != 0 && !failed) step = "closing", failed = 1, e = errno;
    if (!failed && rename(tmp, path) != 0) step = "renaming", failed = 1, e = errno;
    if (failed) {
        unlink(tmp); /* never leave a partial temporary file behind */
        s = dt_error(DT_ERR_IO, "st_write %s: %s %s failed: %s", path, step, tmp, strerror(e));
    } else if (sync_parent_dir(path) != 0) {
        s = dt_error(DT_ERR_IO,
                     "st_write %s: written and renamed, but syncing its directory failed: %s", path,
                     strerror(errno));
    }
    free(tmp);
    free(header);
    free(sizes);
    return s;
}
