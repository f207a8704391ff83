/* Reassembly of chunked wholes (assembly.h). */
#include <stdlib.h>
#include <string.h>

#include "net/assembly.h"

dt_status net_assembly_add(net_assembly *a, int64_t step, const net_chunk *k, uint64_t max_total,
                           net_assembly_result *out) {
    *out = NET_ASSEMBLY_SKIPPED;
    if (k->offset > k->total || k->length > k->total - k->offset)
        return dt_error(DT_ERR_FORMAT, "chunk [%llu, +%u) outside a whole of %llu bytes",
                        (unsigned long long)k->offset, (unsigned)k->length,
                        (unsigned long long)k->total);
    if (k->total == 0 || k->total > max_total)
        return dt_error(DT_ERR_FORMAT, "a whole of %llu bytes; at most %llu expected",
                        (unsigned long long)k->total, (unsigned long long)max_total);
    if (k->offset == 0) { /* a whole starts (again) */
        if (k->total > a->cap) {
            uint8_t *grown = realloc(a->buf, (size_t)k->total);
            if (!grown)
                return dt_error(DT_ERR_OOM, "cannot buffer %llu bytes",
                                (unsigned long long)k->total);
            a->buf = grown;
            a->cap = (size_t)k->total;
        }
        a->total = k->total;
        a->got = 0;
        a->step = step;
    }
    if (a->total == 0 || step != a->step || k->total != a->total || k->offset != a->got)
        return DT_OK; /* skipped */
    if (k->length) memcpy(a->buf + a->got, k->data, k->length);
    a->got += k->length;
    *out = a->got == a->total ? NET_ASSEMBLY_COMPLETE : NET_ASSEMBLY_MORE;
    if (*out == NET_ASSEMBLY_COMPLETE) a->total = 0; /* the next chunk starts a new whole */
    return DT_OK;
}

void net_assembly_reset(net_assembly *a) {
    a->total = a->got = 0;
}

void net_assembly_free(net_assembly *a) {
    free(a->buf);
    memset(a, 0, sizeof *a);
}
