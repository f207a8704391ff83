/* Reassembly of a whole from chunks (net_chunk): a RESULT's payloads, or
 * the weights a joiner pulls. The only code that copies received chunk
 * bytes into a buffer, so it is small, pure and fuzzed on its own
 * (tests/fuzz/fuzz_assembly.c).
 *
 * Chunks of one whole arrive in order, possibly far apart (a coordinator
 * whose send queue to this peer filled resumes the result later at the
 * first chunk not sent). A chunk at offset 0 starts a whole again (after a
 * RESYNC cut one short, say). Anything else that does not
 * continue the whole being assembled (another step, another total, a gap
 * or an overlap) is not copied: net_assembly_add says so and the caller
 * decides whether that is an error (STATE) or a stale leftover (RESULT). */
#ifndef DISTRO_NET_ASSEMBLY_H
#define DISTRO_NET_ASSEMBLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"
#include "net/wire.h"

typedef struct net_assembly {
    uint8_t *buf;
    size_t cap;     /* bytes allocated */
    uint64_t total; /* of the whole being assembled; 0: none */
    uint64_t got;   /* bytes of it received, in order */
    int64_t step;   /* the step the whole belongs to */
} net_assembly;

typedef enum net_assembly_result {
    NET_ASSEMBLY_MORE,     /* copied; more chunks to come */
    NET_ASSEMBLY_COMPLETE, /* copied; buf holds all `total` bytes */
    NET_ASSEMBLY_SKIPPED,  /* not part of the whole being assembled: nothing copied */
} net_assembly_result;

/* Adds chunk k of step's whole. A whole may be at most max_total bytes
 * (DT_ERR_FORMAT beyond; DT_ERR_OOM when the buffer cannot grow). k must
 * be a decoded chunk (offset + length <= total, length <= NET_MAX_CHUNK). */
dt_status net_assembly_add(net_assembly *a, int64_t step, const net_chunk *k, uint64_t max_total,
                           net_assembly_result *out);
/* Forgets the whole being assembled (keeps the buffer). */
void net_assembly_reset(net_assembly *a);
void net_assembly_free(net_assembly *a);

#endif
