/* How a fuzz input spells a ZAP request (RFC 27), shared by the fuzz
 * target and the seed generator: parts one after another, each a length
 * byte and then that many bytes; the last part keeps what is left when the
 * input ends early. And the two client keys the target's keys file admits,
 * as raw bytes, so a seed can carry one. */
#ifndef DISTRO_TESTS_FUZZ_ZAP_REQUEST_H
#define DISTRO_TESTS_FUZZ_ZAP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* The handler keeps at most 8 parts of a request (net/zap.c). */
#define FUZZ_ZAP_MAX_PARTS 8
#define FUZZ_ZAP_N_ALLOWED 2

/* Fixed bytes, not random ones: a run must replay exactly. */
static inline void fuzz_zap_allowed_key(int i, uint8_t key[32]) {
    for (int b = 0; b < 32; b++) key[b] = (uint8_t)(b * (7 + 6 * i) + 1 + 4 * i);
}

/* Returns the number of parts; parts[i] points into data. */
static inline int fuzz_zap_split(const uint8_t *data, size_t size, const uint8_t *parts[],
                                 size_t lens[]) {
    int n = 0;
    size_t at = 0;
    while (at < size && n < FUZZ_ZAP_MAX_PARTS) {
        size_t len = data[at++];
        if (len > size - at) len = size - at;
        parts[n] = data + at;
        lens[n] = len;
        n++;
        at += len;
    }
    return n;
}

#endif
