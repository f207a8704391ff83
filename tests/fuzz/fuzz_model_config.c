/* libFuzzer target: model config JSON (model_config_from_json), which
 * `train --config` reads from a file and a run config embeds as "model".
 *
 * An accepted config must pass model_config_validate (from_json promises
 * it), print with model_config_to_json and parse back to the same fields;
 * the shape arithmetic (head dim, parameter count) runs on it so UBSan
 * checks it for every shape the parser lets through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "model/config.h"

static int same(const model_config *a, const model_config *b) {
    return a->vocab_size == b->vocab_size && a->dim == b->dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->ffn_dim == b->ffn_dim && a->seq_len == b->seq_len &&
           a->rope_theta == b->rope_theta && a->tie_embeddings == b->tie_embeddings &&
           a->init_std == b->init_std && a->seed == b->seed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    model_config c;
    if (model_config_from_json(text, &c) == DT_OK) {
        if (model_config_validate(&c) != DT_OK) {
            fprintf(stderr, "accepted config fails validation: %s\n", dt_last_error());
            abort();
        }
        if (model_config_head_dim(&c) < 2 || model_config_param_count(&c) <= 0) abort();
        char *printed = model_config_to_json(&c);
        model_config back;
        if (!printed || model_config_from_json(printed, &back) != DT_OK || !same(&c, &back)) {
            fprintf(stderr, "config changes on a round trip: %s\n", printed ? printed : "(null)");
            abort();
        }
        free(printed);
    }
    free(text);
    return 0;
}
