/* Pieces the safetensors writer (model/safetensors.c) and reader
 * (model/safetensors_read.c) share: format constants, byte order and name
 * checks. Private to model/. */
#ifndef DISTRO_MODEL_SAFETENSORS_COMMON_H
#define DISTRO_MODEL_SAFETENSORS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The JSON key that holds string metadata instead of a tensor. */
#define ST_METADATA_KEY "__metadata__"
/* The header length limit of the reference implementation (100 MB);
 * anything larger is a corrupt or hostile length field. */
#define ST_HEADER_MAX 100000000ULL
/* JSON numbers pass through cJSON as doubles, which hold every integer up
 * to 2^53 exactly; offsets and dimensions are kept below that on both ends. */
#define ST_INT_MAX (INT64_C(1) << 53)

static inline int st_host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static inline void st_put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t st_get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Reverses the bytes of n 32-bit words in place (big-endian hosts only). */
void st_bswap32(void *words, size_t n);

/* The first name that occurs twice among names[0..n), or NULL. */
const char *st_first_duplicate(const char *const *names, int n);

/* 1 when s is well-formed UTF-8 (JSON text must be; readers reject it). */
int st_valid_utf8(const char *s);

/* 1 for a dtype name the safetensors format defines (distro reads F32 only,
 * but can then say "BF16 is not supported" instead of "unknown dtype"). */
int st_known_dtype(const char *name);

#endif
