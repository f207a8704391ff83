/* safetensors files (https://github.com/huggingface/safetensors, format
 * facts only): 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {string: string}}, then the raw little-endian tensor bytes. distro only
 * writes and reads F32 tensors. */
#ifndef DISTRO_MODEL_SAFETENSORS_H
#define DISTRO_MODEL_SAFETENSORS_H

#include <stdint.h>

#include "distro/error.h"

#define ST_MAX_DIMS 4

typedef struct st_tensor_ref {
    const char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data; /* host memory, numel floats */
} st_tensor_ref;

typedef struct st_metadata {
    const char *key;
    const char *value;
} st_metadata;

/* Write atomically: a temporary file beside `path`, fsync, rename over
 * `path`, fsync of the directory. A crash leaves either the old file or the
 * new one, never a torn one. Tensors are stored in the order given. */
dt_status st_write(const char *path, const st_metadata *meta, int n_meta,
                   const st_tensor_ref *tensors, int n_tensors);

typedef struct st_file st_file;

/* Open and validate: header length within the file, JSON well formed, every
 * entry F32 with a shape whose byte size matches its offsets, offsets inside
 * the data section and non-overlapping. Errors name the file and entry. */
dt_status st_open(const char *path, st_file **out);
void st_close(st_file *f);

/* Metadata value for key, or NULL. */
const char *st_metadata_get(const st_file *f, const char *key);
int st_tensor_count(const st_file *f);
const char *st_tensor_name(const st_file *f, int i);

/* Look a tensor up by name; DT_ERR_NOT_FOUND names the file and tensor. */
dt_status st_tensor_info(const st_file *f, const char *name, int *ndim, int64_t *shape);
/* Copy a tensor into dst after checking its shape equals (ndim, shape);
 * a mismatch is DT_ERR_FORMAT naming both shapes. */
dt_status st_read_f32(const st_file *f, const char *name, int ndim, const int64_t *shape,
                      float *dst);

#endif
