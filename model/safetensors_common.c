/* Shared helpers of the safetensors writer and reader; see the header. */
#include <stdlib.h>

#include "model/safetensors_common.h"

#include "runtime/text.h"

void st_bswap32(void *words, size_t n) {
    unsigned char *p = words;
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned char a = p[0], b = p[1];
        p[0] = p[3];
        p[1] = p[2];
        p[2] = b;
        p[3] = a;
    }
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *st_first_duplicate(const char *const *names, int n) {
    if (n < 2) return NULL;
    /* Sorting a copy keeps this O(n log n) for checkpoints with thousands of
     * tensors; which duplicate is reported only needs to be a real one. */
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        /* Out of memory: fall back to the quadratic scan, which needs none. */
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (strcmp(names[i], names[j]) == 0) return names[i];
        return NULL;
    }
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_names);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = sorted[i];
    free(sorted);
    return dup;
}

int st_valid_utf8(const char *s) {
    while (*s) {
        const int len = dt_utf8_char_len(s);
        if (!len) return 0;
        s += len;
    }
    return 1;
}

int st_known_dtype(const char *name) {
    /* The Dtype names of the safetensors format (safetensors/src/tensor.rs),
     * including the sub-byte floats added in 0.6. */
    static const char *const dtypes[] = {
        "BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16",     "F16",    "BF16",
        "I32",  "U32", "F32", "F64",     "I64",     "U64",     "F4",  "F6_E2M3", "F6_E3M2"};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(name, dtypes[i]) == 0) return 1;
    return 0;
}
