/* libFuzzer target: llm.c token shards (`--data FILE.bin`), opened through
 * model_dataset_open, which validates the header, the exact length and
 * every token (model/llmc_shard.c) and splits the tokens 90/10.
 *
 * The input is the file (see fuzz_file.h). It is opened twice: with a
 * byte-level vocabulary, where tokens are checked, and with one larger than
 * any uint16, where the scan is skipped. An accepted shard then serves a
 * train and a validation batch when its splits are long enough, and every
 * token drawn must be < vocab_size, as dataset.h promises. A custom
 * mutator keeps the token count consistent with the length half the time. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "model/dataset.h"
#include "model/llmc_shard.h"

#define SEQ_LEN 4
#define BATCH   3

static void draw(const model_dataset *ds, int64_t vocab_size) {
    int32_t tokens[BATCH * SEQ_LEN], targets[BATCH * SEQ_LEN];
    int64_t n_train = model_dataset_train_tokens(ds), n_val = model_dataset_val_tokens(ds);
    if (n_train < 0 || n_val < 0) abort();
    int ok_train =
        model_dataset_train_batch(ds, 7, 3, 1, 0, BATCH, SEQ_LEN, tokens, targets) == DT_OK;
    /* The documented precondition is exactly what decides success. */
    if (ok_train != (n_train >= SEQ_LEN + 1)) abort();
    for (int i = 0; ok_train && i < BATCH * SEQ_LEN; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab_size || targets[i] < 0 || targets[i] >= vocab_size)
            abort();
    int ok_val = model_dataset_val_batch(ds, 5, BATCH, SEQ_LEN, tokens, targets) == DT_OK;
    if (ok_val != (n_val >= SEQ_LEN + 1)) abort();
    for (int i = 0; ok_val && i < BATCH * SEQ_LEN; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab_size || targets[i] < 0 || targets[i] >= vocab_size)
            abort();
}

/* libFuzzer's own mutator, for the custom one below. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* A shard's length must be exactly header + 2 * count, so almost every
 * mutation that changes the length stops at the length check. Half the
 * mutations therefore set the count to fit the new length, which reaches
 * the token scan and the batches; the other half leave it, so lying counts
 * stay covered. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 2 && size > LLMC_SHARD_HEADER_BYTES) {
        size -= (size - LLMC_SHARD_HEADER_BYTES) % 2;
        uint32_t count = (uint32_t)((size - LLMC_SHARD_HEADER_BYTES) / 2);
        for (int i = 0; i < 4; i++) data[8 + i] = (uint8_t)(count >> (8 * i));
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file_path(data, size);
    static const int64_t vocab_sizes[] = {256, 65537};
    for (int i = 0; i < 2; i++) {
        model_dataset *ds = NULL;
        if (model_dataset_open(path, vocab_sizes[i], &ds) != DT_OK) continue;
        if (!model_dataset_name(ds)[0]) abort();
        draw(ds, vocab_sizes[i]);
        model_dataset_close(ds);
    }
    return 0;
}
