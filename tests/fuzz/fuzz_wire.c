/* libFuzzer target: the two decoders that read bytes from the network.
 *
 * Each input is decoded as a wire frame (net_decode) and as a DeMo payload
 * (demo_payload_decode against the `tiny` geometries, run id 1, the step
 * taken from the input's own header bytes 16..23 so mutations of a valid
 * payload get past the step check). A frame that decodes must re-encode to
 * the same bytes, and a chunk it carries is decoded as a payload too (the
 * way a coordinator reads a SUBMIT). Crashes, sanitizer reports and the
 * re-encoding check are the findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_geometries.h"
#include "net/wire.h"

static fuzz_geometries geometries;
static int32_t *idx;
static float *vals;
static uint8_t reencoded[NET_MAX_FRAME];
static net_msg msg; /* 64 KiB: static */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (fuzz_geometries_build(&geometries) != 0) abort(); /* a test harness may stop here */
    idx = malloc(sizeof *idx * (size_t)geometries.max_entries);
    vals = malloc(sizeof *vals * (size_t)geometries.max_entries);
    if (!idx || !vals) abort();
    return 0;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void decode_payload(const uint8_t *data, size_t size, int64_t step) {
    const demo_geometry *g = fuzz_geometry_for(&geometries, data, size);
    /* Both with and without outputs: the validation-only path is what a
     * coordinator runs first. */
    if (demo_payload_decode(g, data, size, FUZZ_RUN_ID, step, NULL, NULL) == DT_OK)
        if (demo_payload_decode(g, data, size, FUZZ_RUN_ID, step, idx, vals) != DT_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (net_decode(data, size, &msg) == DT_OK) {
        size_t len = 0;
        if (net_encode(&msg, reencoded, sizeof reencoded, &len) != DT_OK || len != size ||
            memcmp(reencoded, data, size) != 0) {
            fprintf(stderr, "accepted %s frame does not re-encode to itself: %s\n",
                    net_type_name(msg.h.type), dt_last_error());
            abort();
        }
        const net_chunk *k = msg.h.type == NET_SUBMIT   ? &msg.u.submit.chunk
                             : msg.h.type == NET_RESULT ? &msg.u.result.chunk
                             : msg.h.type == NET_STATE  ? &msg.u.state.chunk
                                                        : NULL;
        if (k) decode_payload(k->data, k->length, msg.h.step);
    }
    decode_payload(data, size, size >= 24 ? (int64_t)le64(data + 16) : 0);
    return 0;
}
