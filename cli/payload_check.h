/* A DeMo payload setting that sends more bytes per round than the dense
 * fp32 weights themselves defeats the point of compressing: say so before
 * training, in train and in the coordinator. */
#ifndef DISTRO_CLI_PAYLOAD_CHECK_H
#define DISTRO_CLI_PAYLOAD_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "model/config.h"
#include "model/demo_payload.h"

/* Prints a one-line warning on stderr, "distro-cli WHO: warning: ...", when
 * one peer's payload for this model and setting exceeds 4 bytes per
 * parameter; returns whether it warned. */
bool cli_warn_large_payload(const char *who, const model_config *c, int64_t chunk, int64_t topk,
                            demo_values values);

#endif
