/* Training data: the embedded tinyshakespeare corpus (byte-level tokens)
 * or an llm.c token shard, split 90/10 into train and validation by
 * position, and batches that are pure functions of their coordinates. */
#ifndef DISTRO_MODEL_DATASET_H
#define DISTRO_MODEL_DATASET_H

#include <stdint.h>

#include "distro/error.h"

typedef struct model_dataset model_dataset;

/* spec: "builtin:tinyshakespeare" (the default corpus, embedded), or a path
 * to an llm.c shard (.bin: 1024-byte header of 256 little-endian int32 --
 * magic 20240520, version 1, token count -- then uint16 tokens), memory-
 * mapped. Every token must be < vocab_size. Errors name the file and the
 * problem (bad magic, version, length, a token >= vocab_size and where). */
dt_status model_dataset_open(const char *spec, int64_t vocab_size, model_dataset **out);
void model_dataset_close(model_dataset *ds);

/* Before training: each split holds one window of seq_len + 1 tokens
 * (seq_len inputs and the last target), so no run fails at its first
 * evaluation. DT_ERR_INVALID names the dataset, the split, its size and
 * what is needed. */
dt_status model_dataset_check(const model_dataset *ds, int64_t seq_len);

/* "tinyshakespeare (builtin, 1115394 tokens)" or "path (N tokens)". */
const char *model_dataset_name(const model_dataset *ds);
int64_t model_dataset_train_tokens(const model_dataset *ds);
int64_t model_dataset_val_tokens(const model_dataset *ds);

/* A training batch of `batch` sequences of `seq_len` tokens: tokens[b*T+t]
 * and targets (the next tokens). A pure function of (seed, step, peer,
 * micro): any replica, any restart, any coordinator assignment reproduces
 * it exactly. Windows are drawn from the train split only. Fails if the
 * split is shorter than seq_len + 1. */
dt_status model_dataset_train_batch(const model_dataset *ds, uint64_t seed, int64_t step,
                                    int64_t peer, int64_t micro, int64_t batch, int64_t seq_len,
                                    int32_t *tokens, int32_t *targets);

/* Validation batch `index` (0, 1, 2, ...): fixed windows that walk the
 * validation split in order (wrapping), the same for every caller. */
dt_status model_dataset_val_batch(const model_dataset *ds, int64_t index, int64_t batch,
                                  int64_t seq_len, int32_t *tokens, int32_t *targets);

/* The byte-level tokenizer of the embedded corpus (vocab 256). */
int64_t model_tokenize_bytes(const char *text, int32_t *tokens, int64_t max_tokens);
/* Appends the byte of each token < 256 to out (NUL-terminated, at most
 * out_len - 1 bytes); returns the number of bytes written. */
int64_t model_detokenize_bytes(const int32_t *tokens, int64_t n, char *out, int64_t out_len);

#endif
