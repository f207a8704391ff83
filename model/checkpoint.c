/* Model checkpoints as safetensors files, verified on load: the weights
 * against param_hash, every optimizer state group against its own
 * sum.<prefix>, every value finite (model/checkpoint.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "runtime/file_io.h"
#include "model/hash.h"

#define NAME_CAP    96
#define SUM_KEY_CAP (NAME_CAP + 8)
#define HEX_CAP     (2 * MODEL_DIGEST_BYTES + 1)

/* Download tensors of a weights-shaped buffer into a dense host array;
 * *n gets the number of floats. */
static dt_status download_dense(const model *m, dt_buffer *buf, float *dense, int64_t *n) {
    const model_layout *l = model_get_layout(m);
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        dt_status st = dt_buffer_download(buf, p->offset, dense + at, (size_t)p->numel * 4);
        if (st != DT_OK) return st;
        at += p->numel;
    }
    *n = at;
    return DT_OK;
}

/* The metadata keys save computes itself. A caller's "param_hash" must
 * agree with the weights (callers used to supply it); it is written once. */
static dt_status merge_extra(const char *path, const char *param_hash, const st_metadata *extra,
                             int n_extra, st_metadata *meta, int *n_meta) {
    for (int i = 0; i < n_extra; i++) {
        if (strcmp(extra[i].key, "param_hash") == 0) {
            if (strcmp(extra[i].value, param_hash) != 0)
                return dt_error(DT_ERR_INVALID,
                                "checkpoint %s: the caller's param_hash %s is not the weights' %s",
                                path, extra[i].value, param_hash);
            continue;
        }
        meta[(*n_meta)++] = extra[i];
    }
    return DT_OK;
}

/* Each buffer downloaded into its slice of `dense`, its tensors named into
 * refs, and its digest: the weights' as param_hash (16 hex digits), each
 * state group's as sum.<prefix> (64 hex digits) into keys/values. */
static dt_status stage_buffers(const model *m, const model_state_group *groups, int n_groups,
                               float *dense, st_tensor_ref *refs, char *names, char *keys,
                               char *values, char param_hash[24]) {
    const model_layout *l = model_get_layout(m);
    for (int b = 0; b <= n_groups; b++) {
        float *base = dense + (size_t)b * (size_t)l->total;
        int64_t n = 0;
        dt_status st =
            download_dense(m, b == 0 ? model_weights_buffer(m) : groups[b - 1].buf, base, &n);
        if (st != DT_OK) return st;
        int64_t at = 0;
        for (int i = 0; i < l->n_params; i++) {
            const model_param *p = &l->params[i];
            int k = b * l->n_params + i;
            char *name = names + (size_t)k * NAME_CAP;
            if (b == 0)
                snprintf(name, NAME_CAP, "%s", p->name);
            else
                snprintf(name, NAME_CAP, "%s.%s", groups[b - 1].prefix, p->name);
            refs[k] = (st_tensor_ref){name, p->ndim, {p->shape[0], p->shape[1], 0, 0}, base + at};
            at += p->numel;
        }
        uint8_t digest[MODEL_DIGEST_BYTES];
        model_digest_f32(base, n, digest);
        if (b == 0) {
            snprintf(param_hash, 24, "%016" PRIx64, model_digest_prefix64(digest));
        } else {
            snprintf(keys + (size_t)(b - 1) * SUM_KEY_CAP, SUM_KEY_CAP, "sum.%s",
                     groups[b - 1].prefix);
            model_digest_hex(digest, values + (size_t)(b - 1) * HEX_CAP);
        }
    }
    return DT_OK;
}

dt_status model_checkpoint_check_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return dt_error(DT_ERR_INVALID,
                        "%s is not a regular file; a checkpoint replaces only a regular file",
                        path);
    char dir[4096];
    dt_path_folder(path, dir, sizeof dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return dt_error(DT_ERR_IO, "checkpoint %s: the folder %s does not exist", path, dir);
    if (access(dir, W_OK) != 0)
        return dt_error(DT_ERR_IO, "checkpoint %s: the folder %s is not writable", path, dir);
    return DT_OK;
}

dt_status model_checkpoint_save(const char *path, const model *m, const char *optimizer,
                                int64_t step, const model_state_group *groups, int n_groups,
                                const st_metadata *extra, int n_extra) {
    dt_status checked = model_checkpoint_check_path(path);
    if (checked != DT_OK) return checked;
    const model_layout *l = model_get_layout(m);
    int n_bufs = 1 + n_groups, n_tensors = l->n_params * n_bufs;
    float *dense = malloc((size_t)l->total * (size_t)n_bufs * sizeof(float));
    st_tensor_ref *refs = calloc((size_t)n_tensors, sizeof *refs);
    char *names = calloc((size_t)n_tensors, NAME_CAP);
    char *keys = calloc((size_t)n_bufs, SUM_KEY_CAP), *values = calloc((size_t)n_bufs, HEX_CAP);
    st_metadata *meta = calloc((size_t)(6 + n_groups + n_extra), sizeof *meta);
    char *config = model_config_to_json(model_get_config(m));
    dt_status st = DT_OK;
    if (!dense || !refs || !names || !keys || !values || !meta || !config)
        st = dt_error(DT_ERR_OOM, "checkpoint %s: cannot allocate %lld floats of host staging",
                      path, (long long)(l->total * n_bufs));
    char param_hash[24], step_text[32];
    if (st == DT_OK)
        st = stage_buffers(m, groups, n_groups, dense, refs, names, keys, values, param_hash);
    snprintf(step_text, sizeof step_text, "%lld", (long long)step);
    int n_meta = 0;
    if (st == DT_OK) {
        meta[n_meta++] = (st_metadata){"format", "distro-checkpoint-1"};
        meta[n_meta++] = (st_metadata){"config", config};
        meta[n_meta++] = (st_metadata){"step", step_text};
        meta[n_meta++] = (st_metadata){"optimizer", optimizer};
        meta[n_meta++] = (st_metadata){"hash", MODEL_HASH_NAME};
        meta[n_meta++] = (st_metadata){"param_hash", param_hash};
        for (int g = 0; g < n_groups; g++)
            meta[n_meta++] =
                (st_metadata){keys + (size_t)g * SUM_KEY_CAP, values + (size_t)g * HEX_CAP};
        st = merge_extra(path, param_hash, extra, n_extra, meta, &n_meta);
    }
    if (st == DT_OK) st = st_write(path, meta, n_meta, refs, n_tensors);
    free(dense);
    free(refs);
    free(names);
    free(keys);
    free(values);
    free(meta);
    free(config);
    return st;
}

/* Checkpoints from before the parameter hash became BLAKE2b carry a
 * param_hash of another algorithm and no "hash" key: they would fail
 * verification as "damaged", so they are named for what they are. */
static dt_status check_hash_algorithm(const char *path, const st_file *f) {
    const char *algo = st_metadata_get(f, "hash");
    if (!algo)
        return dt_error(DT_ERR_FORMAT,
                        "checkpoint %s was written by an older build of distro: it records no "
                        "'hash' algorithm (this build verifies " MODEL_HASH_NAME
                        " hashes, the older param_hash cannot be checked); train it again or "
                        "load it with the build that wrote it",
                        path);
    if (strcmp(algo, MODEL_HASH_NAME) != 0)
        return dt_error(
            DT_ERR_FORMAT,
            "checkpoint %s: its hashes are '%s', this build knows only " MODEL_HASH_NAME, path,
            algo);
    if (!st_metadata_get(f, "param_hash"))
        return dt_error(DT_ERR_FORMAT, "checkpoint %s: metadata lacks 'param_hash'", path);
    return DT_OK;
}

/* Every weight tensor the config implies is in the file with its shape, so
 * that the model built from the config (weights, gradients, optimizer
 * state, zeroed before the load) is never larger than what the file holds:
 * a few hundred bytes of metadata naming a 4096-wide model made `sample`
 * and `train --resume` allocate gigabytes before the first missing tensor
 * was noticed. */
static dt_status check_weight_tensors(const char *path, const st_file *f, const model_config *c) {
    model_layout l;
    dt_status st = model_layout_build(c, &l);
    if (st != DT_OK) return dt_error_wrap(st, "checkpoint %s: ", path);
    for (int i = 0; i < l.n_params && st == DT_OK; i++) {
        const model_param *p = &l.params[i];
        int ndim = 0;
        int64_t shape[ST_MAX_DIMS] = {0};
        if (st_tensor_info(f, p->name, &ndim, shape) != DT_OK)
            st = dt_error(DT_ERR_FORMAT, "checkpoint %s: no tensor \"%s\" that its config implies",
                          path, p->name);
        else if (ndim != p->ndim || shape[0] != p->shape[0] ||
                 (ndim == 2 && shape[1] != p->shape[1]))
            st = dt_error(DT_ERR_FORMAT,
                          "checkpoint %s: tensor \"%s\" is not of the shape its config implies",
                          path, p->name);
    }
    model_layout_free(&l);
    return st;
}

dt_status model_checkpoint_open(const char *path, model_checkpoint *out) {
    memset(out, 0, sizeof *out);
    dt_status st = st_open(path, &out->file);
    if (st != DT_OK) return st;
    out->path = strdup(path);
    const char *format = st_metadata_get(out->file, "format");
    const char *config = st_metadata_get(out->file, "config");
    const char *step = st_metadata_get(out->file, "step");
    const char *opt = st_metadata_get(out->file, "optimizer");
    if (!out->path)
        st = dt_error(DT_ERR_OOM, "checkpoint %s: out of memory", path);
    else if (!format || strcmp(format, "distro-checkpoint-1") != 0)
        st = dt_error(DT_ERR_FORMAT,
                      "checkpoint %s: not a distro checkpoint (metadata 'format' "
                      "is %s)",
                      path, format ? format : "missing");
    else if (!config || !step || !opt)
        st = dt_error(DT_ERR_FORMAT, "checkpoint %s: metadata lacks '%s'", path,
                      !config ? "config"
                      : !step ? "step"
                              : "optimizer");
    if (st == DT_OK) st = check_hash_algorithm(path, out->file);
    if (st == DT_OK) {
        st = model_config_from_json(config, &out->config);
        if (st != DT_OK) dt_error_wrap(st, "checkpoint %s: ", path);
    }
    if (st == DT_OK) {
        /* Digits only: strtoll alone takes " +3" and clamps an overflow to
         * LLONG_MAX without a word, and the step is covered by no hash. */
        char *end = NULL;
        errno = 0;
        long long v = strtoll(step, &end, 10);
        if (*step < '0' || *step > '9' || *end || errno == ERANGE)
            st = dt_error(DT_ERR_FORMAT, "checkpoint %s: step '%s' is not a count", path, step);
        out->step = v;
        snprintf(out->optimizer, sizeof out->optimizer, "%s", opt);
    }
    if (st == DT_OK) st = check_weight_tensors(path, out->file, &out->config);
    if (st != DT_OK) model_checkpoint_close(out);
    return st;
}

void model_checkpoint_close(model_checkpoint *c) {
    st_close(c->file);
    c->file = NULL;
    free(c->path);
    c->path = NULL;
}

/* The digest of what was read must be what the writer recorded: one
 * flipped bit anywhere in the weights or a state group shows here, before
 * anything is uploaded. */
static dt_status verify_digest(const model_checkpoint *c, const char *prefix, const float *dense,
                               int64_t n) {
    uint8_t digest[MODEL_DIGEST_BYTES];
    model_digest_f32(dense, n, digest);
    char have[HEX_CAP], key[SUM_KEY_CAP];
    if (!prefix) {
        snprintf(have, sizeof have, "%016" PRIx64, model_digest_prefix64(digest));
        const char *want = st_metadata_get(c->file, "param_hash");
        if (want && strcmp(have, want) == 0) return DT_OK;
        return dt_error(DT_ERR_FORMAT,
                        "checkpoint %s: the weights hash to %s, the file records %s: the file is "
                        "damaged",
                        c->path, have, want ? want : "none");
    }
    snprintf(key, sizeof key, "sum.%s", prefix);
    model_digest_hex(digest, have);
    const char *want = st_metadata_get(c->file, key);
    if (!want)
        return dt_error(DT_ERR_FORMAT,
                        "checkpoint %s: optimizer state group %s has no checksum '%s': the file "
                        "is damaged",
                        c->path, prefix, key);
    if (strcmp(have, want) == 0) return DT_OK;
    return dt_error(DT_ERR_FORMAT,
                    "checkpoint %s: optimizer state group %s hashes to %s, the file records %s: "
                    "the file is damaged",
                    c->path, prefix, have, want);
}

static dt_status check_finite(const model_checkpoint *c, const model_layout *l, const char *prefix,
                              const float *dense) {
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        for (int64_t j = 0; j < p->numel; j++)
            if (!isfinite(dense[at + j]))
                return dt_error(DT_ERR_FORMAT,
                                "checkpoint %s: tensor %s%s%s holds a non-finite value at %lld: "
                                "the file is damaged",
                                c->path, prefix ? prefix : "", prefix ? "." : "", p->name,
                                (long long)j);
        at += p->numel;
    }
    return DT_OK;
}

dt_status model_checkpoint_load(const model_checkpoint *c, model *m, const char *prefix,
                                dt_buffer *buf) {
    const model_layout *l = model_get_layout(m);
    float *dense = malloc((size_t)l->total * sizeof(float));
    if (!dense) return dt_error(DT_ERR_OOM, "checkpoint %s: cannot allocate host staging", c->path);
    dt_status st = DT_OK;
    int64_t at = 0;
    for (int i = 0; st == DT_OK && i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        char name[NAME_CAP];
        if (prefix)
            snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        else
            snprintf(name, sizeof name, "%s", p->name);
        st = st_read_f32(c->file, name, p->ndim, p->shape, dense + at);
        at += p->numel;
    }
    if (st == DT_OK) st = verify_digest(c, prefix, dense, at);
    if (st == DT_OK) st = check_finite(c, l, prefix, dense);
    at = 0;
    for (int i = 0; st == DT_OK && i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        st = dt_buffer_upload(buf, p->offset, dense + at, (size_t)p->numel * 4);
        at += p->numel;
    }
    free(dense);
    return st;
}
