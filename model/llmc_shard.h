/* llm.c token shards, memory-mapped and validated once at open.
 *
 * Layout (llm.c, dev/data/data_common.py): a 1024-byte header of 256
 * little-endian int32 -- [0] magic 20240520, [1] version 1, [2] token count
 * -- then `count` little-endian uint16 tokens, and nothing after them.
 * Private to model/: model/dataset.c is the only user. */
#ifndef DISTRO_MODEL_LLMC_SHARD_H
#define DISTRO_MODEL_LLMC_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"

#define LLMC_SHARD_MAGIC        20240520
#define LLMC_SHARD_VERSION      1
#define LLMC_SHARD_HEADER_BYTES 1024

typedef struct llmc_shard {
    const unsigned char *tokens; /* n_tokens little-endian uint16, inside map */
    int64_t n_tokens;
    void *map; /* the whole file, read-only */
    size_t map_len;
} llmc_shard;

/* Maps `path` and checks header, exact length and that every token is
 * < vocab_size. On failure nothing stays mapped or open and the message
 * names the file and the problem (for a bad token, its position and value). */
dt_status llmc_shard_open(const char *path, int64_t vocab_size, llmc_shard *out);
void llmc_shard_close(llmc_shard *shard);

/* Token i (0 <= i < n_tokens), independent of the host's byte order. */
static inline int32_t llmc_shard_token(const llmc_shard *shard, int64_t i) {
    const unsigned char *p = shard->tokens + 2 * i;
    return (int32_t)((unsigned)p[0] | ((unsigned)p[1] << 8));
}

#endif
