/* The model, data and optimizer options shared by commands that train
 * (train, and the single-device baseline of run). */
#ifndef DISTRO_CLI_TRAIN_SETUP_H
#define DISTRO_CLI_TRAIN_SETUP_H

#include "cli/cli_args.h"
#include "model/trainer.h"

#define TRAIN_MODEL_OPTS                                                                           \
    {"preset", "NAME",                                                                             \
     "model: tiny, shakespeare, small, gpt2-small-like, llama-1b (default shakespeare)"},          \
        {"config", "FILE", "model config JSON instead of a preset"},                               \
        {"data", "SPEC", "builtin:tinyshakespeare (default) or an llm.c shard FILE.bin"},          \
        {"optimizer", "NAME", "demo (default), local (local steps) or adamw"},                     \
        {"lr", "LR", "peak (inner) learning rate (default 1e-3 adamw, 3e-3 demo, 4e-3 local)"},    \
        {"warmup", "N", "linear warmup steps (default min(100, steps/10))"},                       \
        {"final-lr-frac", "F", "cosine decay ends at this fraction of the peak (default 0.1)"},    \
        {"weight-decay", "WD", "decoupled weight decay on matrices (default 0.1)"},                \
        {"clip", "C", "global gradient-norm clip, 0 for none (default 1.0)"},                      \
        {"topk", "K", "DeMo, local: coefficients kept per tile (default 32)"},                     \
        {"values", "ENC", "DeMo, local: value encoding 1bit, bf16 or fp32 (default fp32)"},        \
        {"chunk", "N", "DeMo, local: tile target per dimension (default 64)"},                     \
        {"beta", "B", "momentum decay (DeMo, 0.999) or error-feedback decay (local, 0.95)"},       \
        {"workers", "N", "simulated peers, each with its own data and state (default 1)"},         \
        {"inner-steps", "H", "local: inner AdamW steps per round (default 32)"},                   \
        {"outer-lr", "LR", "local: lr of the outer step (default 2)"},                             \
        {"outer", "RULE", "local: outer step scaled (default) or sign"},                           \
        {"aggregate", "HOW", "average a slot over the peers that chose it or all (chosen|all)"}, { \
        "seed", "S", "data seed; batches are a pure function of (seed, step) (default 1)"          \
    }

typedef struct train_setup {
    model_config config;
    char model_name[96]; /* preset name or config path */
    const char *data;
    int64_t batch;
    model_train_options options;
    char data_buf[1024]; /* data taken from a checkpoint */
} train_setup;

/* Reads the TRAIN_MODEL_OPTS plus "steps", "batch" and "accum"; with
 * "resume" the model, optimizer, schedule and data come from the
 * checkpoint's metadata (its "train" entry, train_setup_to_json), and a
 * given option that disagrees is refused by name; --steps may differ (a
 * warning when the learning rate jumps at the resume step). Prints the
 * error; returns 0, 2 for a bad or disagreeing option, 1 for an
 * unreadable checkpoint. */
int train_setup_parse(const cli_args *a, train_setup *s);
/* The options as JSON named like the command line's, for the checkpoint's
 * "train" metadata (malloc'd; NULL when out of memory). */
char *train_setup_to_json(const train_setup *s);

#endif
