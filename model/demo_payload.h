/* DeMo geometry and payload bytes.
 *
 * The geometry says, for every parameter tensor, how it is tiled, how many
 * coefficients per tile travel (k) and how its indices and values are
 * encoded; every replica derives it from the run config alone, so a
 * receiver knows the exact length and layout of a valid payload before it
 * reads one (DESIGN.md section 5: validate against the receiver's own plan).
 *
 * Payload layout (little-endian):
 *   header, 32 bytes: u32 magic "DMO1", u16 version 1, u8 value encoding
 *   (0 = 1-bit sign, 1 = bf16, 2 = fp32), u8 0, u64 run id, u64 step,
 *   u32 tensor count, u32 top-k
 *   then per tensor in layout order: its n_tiles * k indices, then its
 *   n_tiles * k values.
 * Indices are positions inside a tile (a * tile_cols + b), strictly
 * ascending within a tile, encoded by tile size S:
 *   S <= 256:          u8 each
 *   256 < S < 4096:    12 bits each, packed in pairs into 3 bytes
 *                      (a = b0 | (b1 & 0xF) << 8, b = b1 >> 4 | b2 << 4); an
 *                      odd count pads the last pair with 0xFFF, which is
 *                      why 12-bit packing stops below 4096 slots
 *   4096 <= S <= 65536: u16 each (so 64 x 64 tiles take 16-bit indices)
 * Values: 1-bit signs as a bit stream per tensor (LSB first, 1 = +1,
 * 0 = -1, unused high bits of the last byte 0), bf16 (round to nearest
 * even) or fp32. */
#ifndef DISTRO_MODEL_DEMO_PAYLOAD_H
#define DISTRO_MODEL_DEMO_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "distro/demo_plan.h"
#include "model/layout.h"

#define DEMO_PAYLOAD_MAGIC        0x314F4D44u /* "DMO1" little-endian */
#define DEMO_PAYLOAD_VERSION      1
#define DEMO_PAYLOAD_HEADER_BYTES 32

typedef enum demo_values {
    DEMO_VALUES_1BIT = 0,
    DEMO_VALUES_BF16 = 1,
    DEMO_VALUES_FP32 = 2,
} demo_values;

const char *demo_values_name(demo_values v); /* "1bit", "bf16", "fp32" */
dt_status demo_values_parse(const char *s, demo_values *out);

typedef struct demo_tensor_geometry {
    dt_tile_plan plan;
    int64_t k;          /* entries per tile: min(top-k, tile size) */
    int64_t entries;    /* n_tiles * k */
    int index_bits;     /* 8, 12 or 16 */
    size_t index_bytes; /* of this tensor's index block */
    size_t value_bytes; /* of its value block */
    size_t payload_at;  /* byte offset of its index block in a payload */
    int64_t entry_at;   /* offset of its entries in geometry-ordered arrays */
} demo_tensor_geometry;

typedef struct demo_geometry {
    demo_tensor_geometry *t;
    int n;
    int64_t topk;
    int64_t chunk;
    demo_values values;
    int64_t total_entries;
    size_t payload_bytes; /* header included: every valid payload has this length */
} demo_geometry;

dt_status demo_geometry_build(const model_layout *l, int64_t chunk, int64_t topk,
                              demo_values values, demo_geometry *out);
void demo_geometry_free(demo_geometry *g);

/* Encode entries in geometry order (idx within tile, ascending per tile;
 * vals the signed coefficients) into out[g->payload_bytes]. */
void demo_payload_encode(const demo_geometry *g, uint64_t run_id, int64_t step, const int32_t *idx,
                         const float *vals, uint8_t *out);

/* Validate a payload against this geometry, run id and step, and (if idx
 * and vals are non-NULL) decode its entries in geometry order; 1-bit values
 * decode to +1/-1, subnormal values to zero (so devices that flush
 * subnormals cannot drift from those that keep them). Checks magic, version, value encoding, tensor
 * count, top-k, run id, step, exact length, index range, strictly ascending indices within every
 * tile (so no repeats), padding, and finite values. A refusal is DT_ERR_FORMAT with a message
 * naming the first problem. */
dt_status demo_payload_decode(const demo_geometry *g, const uint8_t *bytes, size_t len,
                              uint64_t run_id, int64_t step, int32_t *idx, float *vals);

/* bf16 round trip (round to nearest even), exposed for tests. */
uint16_t demo_f32_to_bf16(float x);
float demo_bf16_to_f32(uint16_t b);

#endif
