/* BLAKE2b over fp32 values as little-endian bytes (model/hash.h). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "model/hash.h"

void model_digest_f32(const float *x, int64_t n, uint8_t digest[MODEL_DIGEST_BYTES]) {
    /* sodium_init only picks the fastest BLAKE2b compression this CPU has;
     * the digest is the same without it, so a failure changes nothing but
     * speed. It is safe to call every time. */
    if (sodium_init() < 0) {
        /* the portable BLAKE2b then runs: the same digest, a little slower */
    }
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, MODEL_DIGEST_BYTES);
    /* Encoded byte by byte rather than hashed from memory, so a big-endian
     * host computes the same digest; the staging copy costs little next to
     * BLAKE2b itself. */
    enum { CHUNK = 4096 };
    unsigned char stage[CHUNK * 4];
    for (int64_t done = 0; done < n;) {
        int64_t k = n - done < CHUNK ? n - done : CHUNK;
        for (int64_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[done + i], 4);
            stage[4 * i] = (unsigned char)u;
            stage[4 * i + 1] = (unsigned char)(u >> 8);
            stage[4 * i + 2] = (unsigned char)(u >> 16);
            stage[4 * i + 3] = (unsigned char)(u >> 24);
        }
        crypto_generichash_update(&s, stage, (unsigned long long)k * 4);
        done += k;
    }
    crypto_generichash_final(&s, digest, MODEL_DIGEST_BYTES);
}

uint64_t model_digest_prefix64(const uint8_t digest[MODEL_DIGEST_BYTES]) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | digest[i];
    return v;
}

void model_digest_hex(const uint8_t digest[MODEL_DIGEST_BYTES],
                      char hex[2 * MODEL_DIGEST_BYTES + 1]) {
    for (int i = 0; i < MODEL_DIGEST_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}
