/* The DeMo payload geometries the wire fuzzer and its seed corpus share:
 * the `tiny` preset, top-k 32, every value encoding, with chunk 64 (64 x 64
 * tiles, 16-bit indices) and chunk 32 (32 x 32 tiles, 12-bit packed
 * indices), so every index and value path of the decoder is reachable. */
#ifndef DISTRO_TESTS_FUZZ_GEOMETRIES_H
#define DISTRO_TESTS_FUZZ_GEOMETRIES_H

#include <stddef.h>
#include <stdint.h>

#include "model/demo_payload.h"

#define FUZZ_RUN_ID     1
#define FUZZ_N_GEOMETRY 6
#define FUZZ_TOPK       32

typedef struct fuzz_geometries {
    demo_geometry g[FUZZ_N_GEOMETRY];
    int64_t max_entries;
} fuzz_geometries;

/* 0 on success; prints the error otherwise. */
int fuzz_geometries_build(fuzz_geometries *f);

/* The geometry a payload of `len` bytes whose header says value encoding
 * `values` would be checked against: the one with that encoding and that
 * exact length, else the first with that encoding. */
const demo_geometry *fuzz_geometry_for(const fuzz_geometries *f, const uint8_t *payload,
                                       size_t len);

#endif
