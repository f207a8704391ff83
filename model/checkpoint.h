/* Checkpoints: one safetensors file with the weights under their layout
 * names, optimizer state under prefixed names ("adamw.m.<name>",
 * "adamw.v.<name>", "demo.momentum.<name>", "worker<w>.<...>"), and
 * __metadata__ holding the model config JSON, the step, the optimizer name,
 * the hashes (below) and whatever else the caller adds. Written atomically
 * (temp file, fsync, rename).
 *
 * Save records, computed from exactly the values it writes:
 *   "hash"          "blake2b-256/64" (MODEL_HASH_NAME), the algorithm;
 *   "param_hash"    the parameter hash of the weights (model/model.h),
 *                   16 hex digits;
 *   "sum.<prefix>"  per state group: BLAKE2b-256 of the group's tensors as
 *                   written (little-endian fp32, layout order), 64 hex
 *                   digits.
 * A file without "hash" was written by an older build (its param_hash is
 * another algorithm) and is refused at open, saying so.
 *
 * model_trainer_save adds "data_seed"; `distro-cli train --save` adds
 * "train", the options of the run as JSON named like the command line's
 * (cli/train_setup.c), which --resume takes. Files without it (older) still
 * open: the command line supplies those options. */
#ifndef DISTRO_MODEL_CHECKPOINT_H
#define DISTRO_MODEL_CHECKPOINT_H

#include "model/model.h"
#include "model/safetensors.h"

/* A state buffer laid out like the weights, saved as "<prefix>.<name>". */
typedef struct model_state_group {
    const char *prefix;
    dt_buffer *buf;
} model_state_group;

/* A caller's extra "param_hash" entry must equal the computed one (it is
 * then written once); other keys must not repeat save's own. */
/* Whether a checkpoint can be written at path, checked before any work is
 * done: its folder exists and is writable, and path is not a folder, a
 * device or any other non-regular file (a checkpoint replaces only a
 * regular file). DT_ERR_IO or DT_ERR_INVALID naming the problem. */
dt_status model_checkpoint_check_path(const char *path);

dt_status model_checkpoint_save(const char *path, const model *m, const char *optimizer,
                                int64_t step, const model_state_group *groups, int n_groups,
                                const st_metadata *extra, int n_extra);

typedef struct model_checkpoint {
    st_file *file;
    char *path; /* for the errors of model_checkpoint_load */
    model_config config;
    int64_t step;
    char optimizer[32];
} model_checkpoint;

/* Open a checkpoint and parse its metadata (config, step, optimizer,
 * hash algorithm). */
dt_status model_checkpoint_open(const char *path, model_checkpoint *out);
void model_checkpoint_close(model_checkpoint *c);

/* Load the weights (prefix NULL) or one state group into `buf` laid out
 * like m's weights. Every tensor must be present with its exact shape and
 * finite, the weights must hash to the file's "param_hash" and a state
 * group to its "sum.<prefix>"; a damaged file is refused with
 * DT_ERR_FORMAT naming the file and the group before anything is
 * uploaded. */
dt_status model_checkpoint_load(const model_checkpoint *c, model *m, const char *prefix,
                                dt_buffer *buf);

#endif
