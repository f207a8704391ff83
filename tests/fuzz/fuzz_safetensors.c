/* libFuzzer target: the safetensors reader (st_open and the reads after
 * it), which loads checkpoints that may come from another machine.
 *
 * st_open only takes a path, so the input goes to an in-memory file (see
 * fuzz_file.h). After st_open accepts a file, safetensors.h promises that
 * every tensor it lists can be read: a failing st_tensor_info or
 * st_read_f32 on a listed tensor is a finding, as is any crash or leak.
 * A custom mutator keeps the header length consistent half the time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "model/safetensors.h"

/* The metadata keys distro's checkpoints carry, plus one that never is. */
static const char *const meta_keys[] = {"config", "step", "optimizer", "param_hash", "absent"};

static void read_all(const st_file *f) {
    int n = st_tensor_count(f);
    for (int i = 0; i < n; i++) {
        const char *name = st_tensor_name(f, i);
        int ndim = -1;
        int64_t shape[ST_MAX_DIMS];
        if (!name || st_tensor_info(f, name, &ndim, shape) != DT_OK || ndim < 0 ||
            ndim > ST_MAX_DIMS) {
            fprintf(stderr, "listed tensor %d cannot be looked up: %s\n", i, dt_last_error());
            abort();
        }
        /* Offsets lie inside the file, so numel is bounded by the input size. */
        size_t numel = 1;
        for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
        float *dst = malloc(numel ? numel * sizeof *dst : 1);
        if (!dst) abort();
        if (st_read_f32(f, name, ndim, shape, dst) != DT_OK) {
            fprintf(stderr, "listed tensor \"%s\" cannot be read: %s\n", name, dt_last_error());
            abort();
        }
        free(dst);
    }
    if (st_tensor_name(f, n) != NULL || st_tensor_name(f, -1) != NULL) abort();
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++)
        (void)st_metadata_get(f, meta_keys[i]);
}

/* libFuzzer's own mutator, for the custom one below. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* The 8-byte length in front of the header JSON turns almost every
 * insertion or deletion in the JSON into a length error. So half the
 * mutations edit the JSON alone and then set the length to fit, which
 * reaches the entry checks; the other half are plain, so lying lengths
 * stay covered. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    if (seed % 2 == 0 || size < 9) return LLVMFuzzerMutate(data, size, max_size);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | data[i];
    size_t tail = size - 8 - (size_t)header; /* the data section */
    if (header == 0 || header > size - 8 || max_size <= 8 + tail)
        return LLVMFuzzerMutate(data, size, max_size);
    uint8_t *saved = malloc(tail ? tail : 1);
    if (!saved) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(saved, data + 8 + header, tail);
    size_t n = LLVMFuzzerMutate(data + 8, (size_t)header, max_size - 8 - tail);
    memcpy(data + 8 + n, saved, tail);
    free(saved);
    for (int i = 0; i < 8; i++) data[i] = (uint8_t)((uint64_t)n >> (8 * i));
    return 8 + n + tail;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f = NULL;
    if (st_open(fuzz_file_path(data, size), &f) == DT_OK) {
        read_all(f);
        st_close(f);
    }
    return 0;
}
