/* Export of a checkpoint to a Hugging Face transformers folder that
 * LlamaForCausalLM loads (docs: README, "Export to Hugging Face"):
 *
 *   config.json             LlamaForCausalLM, float32, no biases, heads =
 *                           key/value heads, rms_norm_eps MODEL_NORM_EPS
 *   model.safetensors       the weights under Hugging Face's names
 *   generation_config.json  sample's defaults (temperature 0.8, top-k 40)
 *
 * Names and layout (ours -> theirs; both store linear layers [out, in]):
 *   tok_emb              model.embed_tokens.weight
 *   layers.N.attn_norm   model.layers.N.input_layernorm.weight
 *   layers.N.wqkv        model.layers.N.self_attn.{q,k,v}_proj.weight (rows
 *                        [0,D), [D,2D), [2D,3D)); q and k rows permuted
 *   layers.N.wo          model.layers.N.self_attn.o_proj.weight
 *   layers.N.mlp_norm    model.layers.N.post_attention_layernorm.weight
 *   layers.N.w13         model.layers.N.mlp.{gate,up}_proj.weight (rows
 *                        [0,F) are the gate: runtime swiglu computes
 *                        silu(h[:, :F]) * h[:, F:])
 *   layers.N.w2          model.layers.N.mlp.down_proj.weight
 *   final_norm           model.norm.weight
 *   lm_head              lm_head.weight (absent when tied: the config says
 *                        tie_word_embeddings)
 *
 * RoPE: this project rotates the interleaved pairs (x[2i], x[2i+1]) of each
 * head by angle pos * theta^(-2i/hd) (include/distro/ops.h, dt_rope_fwd);
 * Hugging Face's rotate_half rotates (x[i], x[i + hd/2]) by the same angle.
 * Permuting each head's q and k output rows so that row i takes our row 2i
 * and row i + hd/2 our row 2i+1 makes the two the same function; scores
 * q.k are sums over the same pairs, and v and o are untouched. */
#ifndef DISTRO_MODEL_EXPORT_HF_H
#define DISTRO_MODEL_EXPORT_HF_H

#include <stdbool.h>
#include <stdint.h>

#include "distro/error.h"
#include "model/config.h"

typedef struct model_export_hf_result {
    model_config config; /* the checkpoint's model */
    int64_t step;        /* the checkpoint's step */
    int n_tensors;       /* tensors in model.safetensors */
    int64_t n_params;    /* parameters written (a tied head once) */
} model_export_hf_result;

/* Read the checkpoint at `checkpoint` (train --save, join --state or a
 * coordinator's coordinator.safetensors: one format), verify its weights
 * against the recorded param_hash, and write the three files into out_dir.
 * out_dir is created (with missing parents) when absent; an existing one
 * must be a folder, and empty unless `force` (then the three files are
 * replaced and anything else in it is left alone). Every file is written
 * atomically. Nothing is created before the checkpoint has been read and
 * verified. `out` may be NULL. */
dt_status model_export_hf(const char *checkpoint, const char *out_dir, bool force,
                          model_export_hf_result *out);

/* In place on a [n_heads * head_dim, cols] projection (q or k rows of
 * wqkv): within each head, row i <- row 2i and row i + head_dim/2 <- row
 * 2i + 1. scratch holds head_dim * cols floats. */
void model_export_hf_permute_rope(float *w, int64_t n_heads, int64_t head_dim, int64_t cols,
                                  float *scratch);

/* malloc'd JSON text of config.json / generation_config.json; free(). */
char *model_export_hf_config_json(const model_config *c);
char *model_export_hf_generation_json(const model_config *c);

#endif
