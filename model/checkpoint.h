/* Checkpoints: one safetensors file with the weights under their layout
 * names, optimizer state under prefixed names ("adamw.m.<name>",
 * "adamw.v.<name>", "demo.momentum.<name>"), and __metadata__ holding the
 * model config JSON, the step, the optimizer name and whatever else the
 * caller adds. Written atomically (temp file, fsync, rename). */
#ifndef DISTRO_MODEL_CHECKPOINT_H
#define DISTRO_MODEL_CHECKPOINT_H

#include "model/model.h"
#include "model/safetensors.h"

/* A state buffer laid out like the weights, saved as "<prefix>.<name>". */
typedef struct model_state_group {
    const char *prefix;
    dt_buffer *buf;
} model_state_group;

dt_status model_checkpoint_save(const char *path, const model *m, const char *optimizer,
                                int64_t step, const model_state_group *groups, int n_groups,
                                const st_metadata *extra, int n_extra);

typedef struct model_checkpoint {
    st_file *file;
    model_config config;
    int64_t step;
    char optimizer[32];
} model_checkpoint;

/* Open a checkpoint and parse its metadata (config, step, optimizer). */
dt_status model_checkpoint_open(const char *path, model_checkpoint *out);
void model_checkpoint_close(model_checkpoint *c);

/* Load the weights (prefix NULL) or one state group into `buf` laid out
 * like m's weights. Every tensor must be present with its exact shape and
 * finite, and the weights must hash to the file's "param_hash" (when it
 * records one); a damaged file is refused with DT_ERR_FORMAT before
 * anything is uploaded. */
dt_status model_checkpoint_load(const model_checkpoint *c, model *m, const char *prefix,
                                dt_buffer *buf);

#endif
