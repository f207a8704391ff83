/* Hugging Face export of a checkpoint (model/export_hf.h). The checkpoint
 * is read with the checkpoint reader and written with the safetensors
 * writer; only the names, the split of the fused tensors and the RoPE row
 * order change. One host copy of the weights: every exported tensor is a
 * view into it, the q and k rows permuted in place. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "model/export_hf.h"
#include "model/json_number.h"
#include "model/layout.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "runtime/file_io.h"

#define NAME_CAP 96

/* ---- the row permutation ------------------------------------------------- */

void model_export_hf_permute_rope(float *w, int64_t n_heads, int64_t head_dim, int64_t cols,
                                  float *scratch) {
    const int64_t half = head_dim / 2;
    const size_t row = (size_t)cols * sizeof(float);
    for (int64_t h = 0; h < n_heads; h++) {
        float *head = w + h * head_dim * cols;
        memcpy(scratch, head, (size_t)head_dim * row);
        for (int64_t i = 0; i < half; i++) {
            memcpy(head + i * cols, scratch + (2 * i) * cols, row);
            memcpy(head + (i + half) * cols, scratch + (2 * i + 1) * cols, row);
        }
    }
}

/* ---- config.json and generation_config.json ------------------------------ */

/* The shortest decimal that reads back to v (as a double, or as a float
 * when `as_float`): 1e-05 rather than 9.99999974737875e-06 for
 * MODEL_NORM_EPS, 10000.0 for rope_theta. */
static void add_number(cJSON *o, const char *name, double v, int as_float) {
    if (v == floor(v) && fabs(v) < 1e15) { /* 10000.0, as Python writes a float */
        char text[40];
        snprintf(text, sizeof text, "%.1f", v);
        cJSON_AddRawToObject(o, name, text);
        return;
    }
    cJSON_AddItemToObject(o, name, as_float ? json_number_float((float)v) : json_number_exact(v));
}

/* Special tokens. A vocabulary of 256 is raw bytes: no special tokens at
 * all. 50257 is GPT-2's tokenizer (the llm.c shards --data reads), whose
 * <|endoftext|> = 50256 separates documents. Anything else: unknown. */
static int64_t special_token(const model_config *c) {
    return c->vocab_size == 50257 ? 50256 : -1;
}

static void add_token(cJSON *o, const char *name, int64_t id) {
    if (id < 0)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)id);
}

char *model_export_hf_config_json(const model_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", "llama");
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c->dim);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c->ffn_dim);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c->n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)c->n_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)c->n_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)model_config_head_dim(c));
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->seq_len);
    add_number(o, "rope_theta", c->rope_theta, 0);
    cJSON_AddNullToObject(o, "rope_scaling");
    add_number(o, "rms_norm_eps", (double)MODEL_NORM_EPS, 1);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddBoolToObject(o, "attention_bias", 0);
    cJSON_AddBoolToObject(o, "mlp_bias", 0);
    add_number(o, "attention_dropout", 0.0, 0);
    add_number(o, "initializer_range", c->init_std, 0);
    cJSON_AddNumberToObject(o, "pretraining_tp", 1);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_embeddings);
    add_token(o, "bos_token_id", special_token(c));
    add_token(o, "eos_token_id", special_token(c));
    cJSON_AddNullToObject(o, "pad_token_id");
    cJSON_AddBoolToObject(o, "use_cache", 1);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

char *model_export_hf_generation_json(const model_config *c) {
    cJSON *o = cJSON_CreateObject();
    add_token(o, "bos_token_id", special_token(c));
    add_token(o, "eos_token_id", special_token(c));
    cJSON_AddNullToObject(o, "pad_token_id");
    cJSON_AddBoolToObject(o, "do_sample", 1);
    add_number(o, "temperature", 0.8, 0);
    cJSON_AddNumberToObject(o, "top_k", 40);
    cJSON_AddNumberToObject(o, "max_length", (double)c->seq_len);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* ---- the output folder ---------------------------------------------------- */

/* Whether out_dir can take the export, before anything is read or made:
 * absent (*exists 0), or a folder that is empty or `force`d and writable. */
static dt_status check_out_dir(const char *dir, bool force, int *exists) {
    struct stat sb;
    *exists = 0;
    if (!dir || !dir[0]) return dt_error(DT_ERR_INVALID, "export: no output folder given");
    if (stat(dir, &sb) != 0) {
        if (errno == ENOENT) return DT_OK;
        return dt_error(DT_ERR_IO, "export: %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return dt_error(DT_ERR_INVALID, "export: %s exists and is not a folder", dir);
    *exists = 1;
    DIR *d = opendir(dir);
    if (!d)
        return dt_error(DT_ERR_IO, "export: cannot read the folder %s: %s", dir, strerror(errno));
    char first[256] = "";
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (!n++) snprintf(first, sizeof first, "%s", e->d_name);
    }
    closedir(d);
    if (n && !force)
        return dt_error(DT_ERR_INVALID, "export: the folder %s is not empty (%ld entr%s, '%s'%s)",
                        dir, n, n == 1 ? "y" : "ies", first, n > 1 ? ", ..." : "");
    if (access(dir, W_OK) != 0)
        return dt_error(DT_ERR_IO, "export: the folder %s is not writable", dir);
    return DT_OK;
}

/* mkdir -p */
static dt_status make_dirs(const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return dt_error(DT_ERR_INVALID, "export: folder name too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return dt_error(DT_ERR_IO, "export: cannot create the folder %s: %s", path,
                            strerror(errno));
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return dt_error(DT_ERR_IO, "export: %s is not a folder", path);
        *p = saved;
        if (!saved) break;
    }
    return DT_OK;
}

/* Text into dir/name through a temporary file beside it and a rename. */
static dt_status write_text(const char *dir, const char *name, const char *text) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return dt_error(DT_ERR_IO, "export: cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    int failed =
        dt_write_all(fd, text, len) != 0 || dt_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !failed) failed = 1, e = errno;
    if (!failed && rename(tmp, path) != 0) failed = 1, e = errno;
    if (failed) {
        unlink(tmp);
        return dt_error(DT_ERR_IO, "export: writing %s failed: %s", path, strerror(e));
    }
    return DT_OK;
}

/* ---- the weights ----------------------------------------------------------- */

/* Every tensor of the checkpoint's weights into dense (layout order, no
 * padding), verified against the recorded param_hash and for finiteness
 * exactly as model_checkpoint_load would before an upload. */
static dt_status read_weights(const model_checkpoint *ck, const model_layout *l, float *dense) {
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        dt_status st = st_read_f32(ck->file, p->name, p->ndim, p->shape, dense + at);
        if (st != DT_OK) return st;
        at += p->numel;
    }
    char have[24];
    snprintf(have, sizeof have, "%016" PRIx64, model_hash_host(l, dense));
    const char *want = st_metadata_get(ck->file, "param_hash");
    if (!want || strcmp(have, want) != 0)
        return dt_error(DT_ERR_FORMAT,
                        "checkpoint %s: the weights hash to %s, the file records %s: the file is "
                        "damaged",
                        ck->path, have, want ? want : "none");
    for (int64_t j = 0; j < at; j++)
        if (!isfinite(dense[j]))
            return dt_error(DT_ERR_FORMAT, "checkpoint %s: a weight is not finite (float %lld)",
                            ck->path, (long long)j);
    return DT_OK;
}

typedef struct tensor_list {
    st_tensor_ref *refs;
    char (*names)[NAME_CAP];
    int n;
} tensor_list;

static void add_tensor(tensor_list *t, const char *name, int64_t rows, int64_t cols,
                       const float *data) {
    snprintf(t->names[t->n], NAME_CAP, "%s", name);
    st_tensor_ref *r = &t->refs[t->n++];
    memset(r, 0, sizeof *r);
    r->name = t->names[t->n - 1];
    r->ndim = cols ? 2 : 1;
    r->shape[0] = rows;
    r->shape[1] = cols;
    r->data = data;
}

/* The Hugging Face tensors as views into dense (q and k already permuted). */
static void name_tensors(const model_config *c, const model_layout *l, const float *dense,
                         tensor_list *t) {
    const int64_t d = c->dim, f = c->ffn_dim, v = c->vocab_size;
    /* dense offsets of each parameter, in layout order */
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        const float *w = dense + at;
        at += p->numel;
        char name[NAME_CAP];
        const int n = p->layer;
        switch (p->kind) {
        case MODEL_P_TOK_EMB:
            add_tensor(t, "model.embed_tokens.weight", v, d, w);
            break;
        case MODEL_P_ATTN_NORM:
            snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", n);
            add_tensor(t, name, d, 0, w);
            break;
        case MODEL_P_WQKV: {
            static const char *const proj[] = {"q_proj", "k_proj", "v_proj"};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "model.layers.%d.self_attn.%s.weight", n, proj[k]);
                add_tensor(t, name, d, d, w + (int64_t)k * d * d);
            }
            break;
        }
        case MODEL_P_WO:
            snprintf(name, sizeof name, "model.layers.%d.self_attn.o_proj.weight", n);
            add_tensor(t, name, d, d, w);
            break;
        case MODEL_P_MLP_NORM:
            snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", n);
            add_tensor(t, name, d, 0, w);
            break;
        case MODEL_P_W13:
            snprintf(name, sizeof name, "model.layers.%d.mlp.gate_proj.weight", n);
            add_tensor(t, name, f, d, w);
            snprintf(name, sizeof name, "model.layers.%d.mlp.up_proj.weight", n);
            add_tensor(t, name, f, d, w + f * d);
            break;
        case MODEL_P_W2:
            snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", n);
            add_tensor(t, name, d, f, w);
            break;
        case MODEL_P_FINAL_NORM:
            add_tensor(t, "model.norm.weight", d, 0, w);
            break;
        case MODEL_P_LM_HEAD:
            add_tensor(t, "lm_head.weight", v, d, w);
            break;
        }
    }
}

/* q and k rows of every block from interleaved pairs to half-split. */
static dt_status permute_qk(const model_config *c, const model_layout *l, float *dense) {
    const int64_t d = c->dim, hd = model_config_head_dim(c);
    float *scratch = malloc((size_t)(hd * d) * sizeof(float));
    if (!scratch)
        return dt_error(DT_ERR_OOM, "export: cannot allocate %lld floats", (long long)(hd * d));
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        if (p->kind == MODEL_P_WQKV) {
            model_export_hf_permute_rope(dense + at, c->n_heads, hd, d, scratch);         /* q */
            model_export_hf_permute_rope(dense + at + d * d, c->n_heads, hd, d, scratch); /* k */
        }
        at += p->numel;
    }
    free(scratch);
    return DT_OK;
}

dt_status model_export_hf(const char *checkpoint, const char *out_dir, bool force,
                          model_export_hf_result *out) {
    model_checkpoint ck;
    dt_status st = model_checkpoint_open(checkpoint, &ck);
    if (st != DT_OK) return st;
    int exists = 0;
    st = check_out_dir(out_dir, force, &exists);
    model_layout l = {0};
    if (st == DT_OK) st = model_layout_build(&ck.config, &l);
    int64_t n = 0;
    for (int i = 0; i < l.n_params; i++) n += l.params[i].numel;
    const int max_tensors = 3 + 10 * (int)ck.config.n_layers;
    float *dense = NULL;
    tensor_list t = {0};
    char *config = NULL, *generation = NULL;
    if (st == DT_OK) {
        dense = malloc((size_t)n * sizeof(float));
        t.refs = calloc((size_t)max_tensors, sizeof *t.refs);
        t.names = calloc((size_t)max_tensors, sizeof *t.names);
        config = model_export_hf_config_json(&ck.config);
        generation = model_export_hf_generation_json(&ck.config);
        if (!dense || !t.refs || !t.names || !config || !generation)
            st = dt_error(DT_ERR_OOM, "export: cannot allocate %lld floats of host memory",
                          (long long)n);
    }
    if (st == DT_OK) st = read_weights(&ck, &l, dense);
    if (st == DT_OK) st = permute_qk(&ck.config, &l, dense);
    if (st == DT_OK && !exists) st = make_dirs(out_dir);
    char step_text[32], path[4200];
    snprintf(step_text, sizeof step_text, "%lld", (long long)ck.step);
    if (st == DT_OK) {
        name_tensors(&ck.config, &l, dense, &t);
        /* transformers refuses a safetensors file whose "format" is not a
         * framework it knows; "pt" is what torch writes. */
        const st_metadata meta[] = {{"format", "pt"}, {"distro_step", step_text}};
        snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
        st = st_write(path, meta, 2, t.refs, t.n);
    }
    if (st == DT_OK) st = write_text(out_dir, "config.json", config);
    if (st == DT_OK) st = write_text(out_dir, "generation_config.json", generation);
    if (st == DT_OK && out) {
        out->config = ck.config;
        out->step = ck.step;
        out->n_tensors = t.n;
        out->n_params = n;
    }
    free(dense);
    free(t.refs);
    free(t.names);
    free(config);
    free(generation);
    model_layout_free(&l);
    model_checkpoint_close(&ck);
    return st;
}
