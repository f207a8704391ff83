/* BLAKE2b (libsodium's crypto_generichash, 32-byte digest, no key) over
 * fp32 values as their little-endian bytes. One definition serves the
 * parameter hash (DESIGN.md section 4: the digest of the weights in layout
 * order, exactly the bytes of the snapshot the coordinator serves) and the
 * checksums of a checkpoint's state groups, so either can be checked with
 * any BLAKE2b tool, e.g. Python's hashlib.blake2b(data, digest_size=32). */
#ifndef DISTRO_MODEL_HASH_H
#define DISTRO_MODEL_HASH_H

#include <stdint.h>

#define MODEL_DIGEST_BYTES 32
/* The "hash" metadata of a checkpoint: the algorithm its param_hash and
 * sum.<group> values were computed with. */
#define MODEL_HASH_NAME "blake2b-256/64"

/* The digest of n floats, each as 4 little-endian bytes, in order. */
void model_digest_f32(const float *x, int64_t n, uint8_t digest[MODEL_DIGEST_BYTES]);
/* The 64-bit value the wire, the logs and param_hash carry: the digest's
 * first 8 bytes read as a little-endian integer. */
uint64_t model_digest_prefix64(const uint8_t digest[MODEL_DIGEST_BYTES]);
/* 64 lowercase hex digits and a NUL. */
void model_digest_hex(const uint8_t digest[MODEL_DIGEST_BYTES],
                      char hex[2 * MODEL_DIGEST_BYTES + 1]);

#endif
