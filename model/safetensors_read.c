/* Reading safetensors files (the writer is model/safetensors.c).
 *
 * A checkpoint may come from anywhere (another peer, a download), so every
 * number in it is checked against the file before it is used: the header
 * length against the file size and a cap, each entry's shape against its
 * offsets, the offsets against the data section and against each other.
 * After st_open succeeds, reads need no further checks except that the file
 * did not shrink meanwhile, which pread reports as a short read. Data is read
 * with pread, so a const st_file can serve several threads at once. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/safetensors.h"
#include "model/safetensors_common.h"

typedef struct st_entry {
    char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t begin, end; /* byte offsets relative to the data section */
} st_entry;

typedef struct st_meta_entry {
    char *key, *value;
} st_meta_entry;

struct st_file {
    char *path;
    int fd;
    int64_t data_start; /* 8 + header length */
    int64_t data_len;
    st_entry *tensors;
    int n_tensors;
    st_meta_entry *meta;
    int n_meta;
};

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int pread_all(int fd, void *buf, size_t len, int64_t off) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO; /* end of file: the file shrank or lied */
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- header entries ----------------------------------------------------------- */

/* A JSON number that is a whole value in [0, 2^53]; cJSON holds numbers as
 * doubles, exact in that range, and a checked cast then cannot overflow. */
static int json_to_count(const cJSON *item, int64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v > (double)ST_INT_MAX || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}

static dt_status parse_metadata(const char *path, const cJSON *object, st_file *f) {
    if (!cJSON_IsObject(object))
        return dt_error(DT_ERR_FORMAT, "%s: \"%s\" must be an object of strings", path,
                        ST_METADATA_KEY);
    int n = cJSON_GetArraySize(object);
    f->meta = calloc((size_t)n + 1, sizeof *f->meta);
    if (!f->meta) return dt_error(DT_ERR_OOM, "%s: out of memory for metadata", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, object) {
        if (!cJSON_IsString(item))
            return dt_error(DT_ERR_FORMAT, "%s: metadata \"%s\" is not a string", path,
                            item->string);
        st_meta_entry *m = &f->meta[f->n_meta++];
        m->key = dup_string(item->string);
        m->value = dup_string(item->valuestring);
        if (!m->key || !m->value) return dt_error(DT_ERR_OOM, "%s: out of memory", path);
    }
    const char **keys = malloc(((size_t)n + 1) * sizeof *keys);
    if (!keys) return dt_error(DT_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < f->n_meta; i++) keys[i] = f->meta[i].key;
    const char *dup = st_first_duplicate(keys, f->n_meta);
    dt_status s =
        dup ? dt_error(DT_ERR_FORMAT, "%s: metadata key \"%s\" repeats", path, dup) : DT_OK;
    free(keys);
    return s;
}

static dt_status parse_dtype(const char *path, const char *name, const cJSON *dtype) {
    if (!cJSON_IsString(dtype))
        return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"", path,
                        name);
    if (strcmp(dtype->valuestring, "F32") == 0) return DT_OK;
    if (st_known_dtype(dtype->valuestring))
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: tensor \"%s\": dtype %s is not supported (distro reads F32 only)",
                        path, name, dtype->valuestring);
    return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%.32s\"", path, name,
                    dtype->valuestring);
}

static dt_status parse_shape(const char *path, const char *name, const cJSON *shape, st_entry *e) {
    if (!cJSON_IsArray(shape))
        return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"", path,
                        name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return dt_error(DT_ERR_UNSUPPORTED,
                        "%s: tensor \"%s\": %d dimensions (distro handles at most %d)", path, name,
                        ndim, ST_MAX_DIMS);
    e->ndim = ndim;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        if (!json_to_count(dim, &e->shape[d]))
            return dt_error(DT_ERR_FORMAT,
                            "%s: tensor \"%s\": shape[%d] is not a non-negative integer", path,
                            name, d);
        d++;
    }
    return DT_OK;
}

static dt_status parse_offsets(const char *path, const char *name, const cJSON *offsets,
                               int64_t data_len, st_entry *e) {
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_to_count(cJSON_GetArrayItem(offsets, 0), &e->begin) ||
        !json_to_count(cJSON_GetArrayItem(offsets, 1), &e->end))
        return dt_error(DT_ERR_FORMAT,
                        "%s: tensor \"%s\": \"data_offsets\" must be two non-negative integers",
                        path, name);
    if (e->begin > e->end)
        return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%lld, %lld] run backwards",
                        path, name, (long long)e->begin, (long long)e->end);
    if (e->end > data_len)
        return dt_error(DT_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%lld, %lld] end past the data section "
                        "(%lld bytes)",
                        path, name, (long long)e->begin, (long long)e->end, (long long)data_len);
    /* Each dimension is <= 2^53 and the product is checked as it grows, so
     * numel * 4 stays below 2^55 before it is compared. */
    int64_t bytes = 4;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] != 0 && bytes > data_len / e->shape[d]) {
            bytes = -1; /* larger than the whole data section */
            break;
        }
        bytes *= e->shape[d];
    }
    if (bytes != e->end - e->begin)
        return dt_error(DT_ERR_FORMAT,
                        "%s: tensor \"%s\": its shape needs %s%lld bytes of F32 but data_offsets "
                        "[%lld, %lld] span %lld",
                        path, name, bytes < 0 ? "more than " : "",
                        (long long)(bytes < 0 ? data_len : bytes), (long long)e->begin,
                        (long long)e->end, (long long)(e->end - e->begin));
    return DT_OK;
}

static dt_status parse_tensor(const char *path, const cJSON *item, int64_t data_len, st_entry *e) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\": entry is not an object", path, name);
    dt_status s = parse_dtype(path, name, cJSON_GetObjectItemCaseSensitive(item, "dtype"));
    if (s == DT_OK) s = parse_shape(path, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), e);
    if (s == DT_OK)
        s = parse_offsets(path, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"),
                          data_len, e);
    if (s == DT_OK && !(e->name = dup_string(name)))
        s = dt_error(DT_ERR_OOM, "%s: out of memory", path);
    return s;
}

static int compare_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* No two tensors may share bytes. Empty tensors own no bytes, so they may
 * sit anywhere (the reference writer puts them at the end of the previous). */
static dt_status check_layout(const char *path, const st_file *f) {
    const st_entry **order = malloc(((size_t)f->n_tensors + 1) * sizeof *order);
    const char **names = malloc(((size_t)f->n_tensors + 1) * sizeof *names);
    dt_status s = DT_OK;
    if (!order || !names) s = dt_error(DT_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; s == DT_OK && i < f->n_tensors; i++) {
        order[i] = &f->tensors[i];
        names[i] = f->tensors[i].name;
    }
    const char *dup = s == DT_OK ? st_first_duplicate(names, f->n_tensors) : NULL;
    if (dup) s = dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\" appears twice", path, dup);
    if (s == DT_OK) qsort(order, (size_t)f->n_tensors, sizeof *order, compare_begin);
    const st_entry *last = NULL; /* the non-empty range that ends furthest so far */
    for (int i = 0; s == DT_OK && i < f->n_tensors; i++) {
        const st_entry *e = order[i];
        if (e->begin == e->end) continue;
        if (last && e->begin < last->end)
            s = dt_error(DT_ERR_FORMAT,
                         "%s: tensors \"%s\" [%lld, %lld] and \"%s\" [%lld, %lld] overlap", path,
                         last->name, (long long)last->begin, (long long)last->end, e->name,
                         (long long)e->begin, (long long)e->end);
        if (!last || e->end > last->end) last = e;
    }
    free(order);
    free(names);
    return s;
}

static dt_status parse_header(const char *path, const cJSON *root, st_file *f) {
    if (!cJSON_IsObject(root))
        return dt_error(DT_ERR_FORMAT, "%s: the header is not a JSON object", path);
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors) return dt_error(DT_ERR_OOM, "%s: out of memory for %d entries", path, n);
    int seen_meta = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        dt_status s;
        if (strcmp(item->string, ST_METADATA_KEY) == 0) {
            if (seen_meta++)
                return dt_error(DT_ERR_FORMAT, "%s: \"%s\" appears twice", path, ST_METADATA_KEY);
            s = parse_metadata(path, item, f);
        } else {
            s = parse_tensor(path, item, f->data_len, &f->tensors[f->n_tensors]);
            if (s == DT_OK)
                f->n_tensors++;
            else
                free(f->tensors[f->n_tensors].name);
        }
        if (s != DT_OK) return s;
    }
    return check_layout(path, f);
}

/* ---- the file ------------------------------------------------------------------ */

/* Reads and parses the header; on success f->data_start/data_len are set. */
static dt_status read_header(const char *path, int64_t file_len, st_file *f) {
    unsigned char len_bytes[8];
    if (file_len < 8)
        return dt_error(DT_ERR_FORMAT,
                        "%s: %lld bytes, too short for the 8-byte header length of a "
                        "safetensors file",
                        path, (long long)file_len);
    if (pread_all(f->fd, len_bytes, 8, 0) != 0)
        return dt_error(DT_ERR_IO, "%s: reading the header length: %s", path, strerror(errno));
    uint64_t header_len = st_get_le64(len_bytes);
    if (header_len > ST_HEADER_MAX)
        return dt_error(DT_ERR_FORMAT,
                        "%s: header length %llu exceeds the %llu-byte limit (corrupt file?)", path,
                        (unsigned long long)header_len, (unsigned long long)ST_HEADER_MAX);
    if (header_len > (uint64_t)(file_len - 8))
        return dt_error(DT_ERR_FORMAT,
                        "%s: header length %llu is larger than the %lld bytes after it "
                        "(truncated file?)",
                        path, (unsigned long long)header_len, (long long)(file_len - 8));
    if (header_len < 2)
        return dt_error(DT_ERR_FORMAT, "%s: header length %llu is too short for a JSON object",
                        path, (unsigned long long)header_len);
    f->data_start = 8 + (int64_t)header_len;
    f->data_len = file_len - f->data_start;

    char *text = malloc((size_t)header_len + 1);
    if (!text) return dt_error(DT_ERR_OOM, "%s: out of memory for the header", path);
    if (pread_all(f->fd, text, (size_t)header_len, 8) != 0) {
        int e = errno;
        free(text);
        return dt_error(DT_ERR_IO, "%s: reading the header: %s", path, strerror(e));
    }
    text[header_len] = '\0';
    /* JSON text never holds a raw NUL; one would silently cut names short. */
    if (memchr(text, '\0', (size_t)header_len)) {
        free(text);
        return dt_error(DT_ERR_FORMAT, "%s: the header contains a NUL byte", path);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)header_len, &end, 0);
    dt_status s = DT_OK;
    if (!root) {
        s = dt_error(DT_ERR_FORMAT, "%s: the header is not valid JSON (error near byte %lld)", path,
                     end ? (long long)(end - text) : -1LL);
    } else {
        /* Only whitespace (the writer's padding) may follow the JSON value. */
        for (const char *p = end; p < text + header_len; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                s = dt_error(DT_ERR_FORMAT,
                             "%s: unexpected bytes after the header JSON (byte %lld)", path,
                             (long long)(p - text));
                break;
            }
        if (s == DT_OK) s = parse_header(path, root, f);
    }
    cJSON_Delete(root);
    free(text);
    return s;
}

dt_status st_open(const char *path, st_file **out) {
    if (!out) return dt_error(DT_ERR_INVALID, "st_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return dt_error(DT_ERR_INVALID, "st_open: empty path");
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_string(path))) {
        free(f);
        return dt_error(DT_ERR_OOM, "st_open %s: out of memory", path);
    }
    f->fd = -1;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        st_close(f);
        if (e == ENOENT) return dt_error(DT_ERR_NOT_FOUND, "%s: no such file", path);
        return dt_error(DT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    dt_status s = DT_OK;
    if (fstat(f->fd, &st) != 0)
        s = dt_error(DT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = dt_error(DT_ERR_IO, "%s: not a regular file", path);
    else
        s = read_header(path, (int64_t)st.st_size, f);
    if (s != DT_OK) {
        st_close(f);
        return s;
    }
    *out = f;
    return DT_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; f->meta && i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->meta);
    free(f->path);
    free(f);
}

const char *st_metadata_get(const st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

int st_tensor_count(const st_file *f) {
    return f ? f->n_tensors : 0;
}

const char *st_tensor_name(const st_file *f, int i) {
    return f && i >= 0 && i < f->n_tensors ? f->tensors[i].name : NULL;
}

static const st_entry *find_tensor(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

dt_status st_tensor_info(const st_file *f, const char *name, int *ndim, int64_t *shape) {
    if (!f || !name) return dt_error(DT_ERR_INVALID, "st_tensor_info: NULL file or name");
    const st_entry *e = find_tensor(f, name);
    if (!e) return dt_error(DT_ERR_NOT_FOUND, "%s: no tensor \"%s\"", f->path, name);
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int d = 0; d < e->ndim; d++) shape[d] = e->shape[d];
    return DT_OK;
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

dt_status st_read_f32(const st_file *f, const char *name, int ndim, const int64_t *shape,
                      float *dst) {
    if (!f || !name) return dt_error(DT_ERR_INVALID, "st_read_f32: NULL file or name");
    const st_entry *e = find_tensor(f, name);
    if (!e) return dt_error(DT_ERR_NOT_FOUND, "%s: no tensor \"%s\"", f->path, name);
    int same = ndim == e->ndim && (ndim == 0 || shape);
    for (int d = 0; same && d < ndim; d++) same = shape[d] == e->shape[d];
    if (!same) {
        char have[128], want[128] = "(none)";
        format_shape(have, sizeof have, e->ndim, e->shape);
        if (ndim >= 0 && ndim <= ST_MAX_DIMS && (ndim == 0 || shape))
            format_shape(want, sizeof want, ndim, shape);
        return dt_error(DT_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s", f->path, name,
                        have, want);
    }
    size_t bytes = (size_t)(e->end - e->begin);
    if (bytes == 0) return DT_OK;
    if (!dst) return dt_error(DT_ERR_INVALID, "st_read_f32 %s: \"%s\": dst is NULL", f->path, name);
    if (pread_all(f->fd, dst, bytes, f->data_start + e->begin) != 0)
        return dt_error(DT_ERR_IO, "%s: reading tensor \"%s\": %s", f->path, name, strerror(errno));
    if (!st_host_is_little_endian()) st_bswap32(dst, bytes / 4);
    return DT_OK;
}
