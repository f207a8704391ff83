/* distro-cli export: a checkpoint as a Hugging Face transformers folder
 * (model/export_hf.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "model/export_hf.h"

static const cli_opt export_opts[] = {
    {"format", "hf", "output format: hf (Hugging Face transformers), the only one"},
    {"checkpoint", "FILE", "a checkpoint of train --save, join --state or a coordinator"},
    {"force", NULL, "write into a non-empty folder (replaces the three files only)"},
    {NULL, NULL, NULL},
};

static const cli_cmd export_cmd = {
    "export",
    "OUT_DIR",
    "Write a checkpoint as a Hugging Face folder that LlamaForCausalLM loads.",
    "OUT_DIR (created if missing; refused if not empty, unless --force) receives\n"
    "config.json (LlamaForCausalLM, float32), model.safetensors (Hugging Face's tensor\n"
    "names; wqkv and w13 split; q and k rows permuted from interleaved RoPE pairs to\n"
    "the half-split rotate_half order) and generation_config.json (sample's defaults).\n"
    "No tokenizer is written: a vocabulary of 256 is raw bytes, so token ids are\n"
    "list(text.encode()) and text is bytes(ids).decode(errors=\"replace\").\n"
    "The weights are verified against the checkpoint's param_hash first.",
    export_opts,
    1,
    1,
};

int cmd_export(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&export_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    static const char *const formats[] = {"hf", NULL};
    int format = 0;
    if (!cli_get_choice(&args, "format", formats, 0, &format)) return 2;
    const char *checkpoint = cli_get(&args, "checkpoint");
    if (!checkpoint || !checkpoint[0])
        return cli_fail(&export_cmd, "--checkpoint FILE is required");
    const char *out_dir = args.positional[0];
    const bool force = cli_flag(&args, "force");
    model_export_hf_result r;
    if (model_export_hf(checkpoint, out_dir, force, &r) != DT_OK) {
        fprintf(stderr, "distro-cli export: %s%s\n", dt_last_error(),
                !force && strstr(dt_last_error(), "is not empty") ? " (--force writes into it)"
                                                                  : "");
        return 1;
    }
    printf("exported step %lld of %s to %s: %lld parameters in %d tensors, vocab %lld, "
           "%lld layers, dim %lld, %s embeddings\n",
           (long long)r.step, checkpoint, out_dir, (long long)r.n_params, r.n_tensors,
           (long long)r.config.vocab_size, (long long)r.config.n_layers, (long long)r.config.dim,
           r.config.tie_embeddings ? "tied" : "untied");
    printf("  %s/config.json, %s/model.safetensors, %s/generation_config.json\n", out_dir, out_dir,
           out_dir);
    return 0;
}
