/* Model checkpoints as safetensors files. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/checkpoint.h"

/* Download tensors of a weights-shaped buffer into a dense host array. */
static dt_status download_dense(const model *m, dt_buffer *buf, float *dense) {
    const model_layout *l = model_get_layout(m);
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        dt_status st = dt_buffer_download(buf, p->offset, dense + at, (size_t)p->numel * 4);
        if (st != DT_OK) return st;
        at += p->numel;
    }
    return DT_OK;
}

dt_status model_checkpoint_save(const char *path, const model *m, const char *optimizer,
                                int64_t step, const model_state_group *groups, int n_groups,
                                const st_metadata *extra, int n_extra) {
    const model_layout *l = model_get_layout(m);
    int n_bufs = 1 + n_groups, n_tensors = l->n_params * n_bufs;
    float *dense = malloc((size_t)l->total * (size_t)n_bufs * sizeof(float));
    st_tensor_ref *refs = calloc((size_t)n_tensors, sizeof *refs);
    char *names = calloc((size_t)n_tensors, 96);
    st_metadata *meta = calloc((size_t)(4 + n_extra), sizeof *meta);
    char *config = model_config_to_json(model_get_config(m));
    dt_status st = DT_OK;
    if (!dense || !refs || !names || !meta || !config)
        st = dt_error(DT_ERR_OOM, "checkpoint %s: cannot allocate %lld floats of host staging",
                      path, (long long)(l->total * n_bufs));
    for (int b = 0; st == DT_OK && b < n_bufs; b++) {
        float *base = dense + (size_t)b * (size_t)l->total;
        st = download_dense(m, b == 0 ? model_weights_buffer(m) : groups[b - 1].buf, base);
        int64_t at = 0;
        for (int i = 0; st == DT_OK && i < l->n_params; i++) {
            const model_param *p = &l->params[i];
            int k = b * l->n_params + i;
            char *name = names + (size_t)k * 96;
            if (b == 0)
                snprintf(name, 96, "%s", p->name);
            else
                snprintf(name, 96, "%s.%s", groups[b - 1].prefix, p->name);
            refs[k] = (st_tensor_ref){name, p->ndim, {p->shape[0], p->shape[1], 0, 0}, base + at};
            at += p->numel;
        }
    }
    char step_text[32];
    snprintf(step_text, sizeof step_text, "%lld", (long long)step);
    if (st == DT_OK) {
        meta[0] = (st_metadata){"format", "distro-checkpoint-1"};
        meta[1] = (st_metadata){"config", config};
        meta[2] = (st_metadata){"step", step_text};
        meta[3] = (st_metadata){"optimizer", optimizer};
        for (int i = 0; i < n_extra; i++) meta[4 + i] = extra[i];
        st = st_write(path, meta, 4 + n_extra, refs, n_tensors);
    }
    free(dense);
    free(refs);
    free(names);
    free(meta);
    free(config);
    return st;
}

dt_status model_checkpoint_open(const char *path, model_checkpoint *out) {
    memset(out, 0, sizeof *out);
    dt_status st = st_open(path, &out->file);
    if (st != DT_OK) return st;
    const char *format = st_metadata_get(out->file, "format");
    const char *config = st_metadata_get(out->file, "config");
    const char *step = st_metadata_get(out->file, "step");
    const char *opt = st_metadata_get(out->file, "optimizer");
    if (!format || strcmp(format, "distro-checkpoint-1") != 0)
        st = dt_error(DT_ERR_FORMAT,
                      "checkpoint %s: not a distro checkpoint (metadata 'format' "
                      "is %s)",
                      path, format ? format : "missing");
    else if (!config || !step || !opt)
        st = dt_error(DT_ERR_FORMAT, "checkpoint %s: metadata lacks '%s'", path,
                      !config ? "config"
                      : !step ? "step"
                              : "optimizer");
    if (st == DT_OK) {
        st = model_config_from_json(config, &out->config);
        if (st != DT_OK) dt_error_wrap(st, "checkpoint %s: ", path);
    }
    if (st == DT_OK) {
        char *end = NULL;
        long long v = strtoll(step, &end, 10);
        if (!*step || *end || v < 0)
            st = dt_error(DT_ERR_FORMAT, "checkpoint %s: step '%s' is not a count", path, step);
        out->step = v;
        snprintf(out->optimizer, sizeof out->optimizer, "%s", opt);
    }
    if (st != DT_OK) model_checkpoint_close(out);
    return st;
}

void model_checkpoint_close(model_checkpoint *c) {
    st_close(c->file);
    c->file = NULL;
}

dt_status model_checkpoint_load(const model_checkpoint *c, model *m, const char *prefix,
                                dt_buffer *buf) {
    const model_layout *l = model_get_layout(m);
    float *dense = malloc((size_t)l->total * sizeof(float));
    if (!dense) return dt_error(DT_ERR_OOM, "checkpoint: cannot allocate host staging");
    dt_status st = DT_OK;
    int64_t at = 0;
    for (int i = 0; st == DT_OK && i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        char name[96];
        if (prefix)
            snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        else
            snprintf(name, sizeof name, "%s", p->name);
        st = st_read_f32(c->file, name, p->ndim, p->shape, dense + at);
        for (int64_t j = 0; st == DT_OK && j < p->numel; j++)
            if (!isfinite(dense[at + j]))
                st = dt_error(DT_ERR_FORMAT,
                              "checkpoint: tensor %s holds a non-finite value at %lld: the file "
                              "is damaged",
                              name, (long long)j);
        at += p->numel;
    }
    /* The weights must hash to what the writer recorded: one flipped bit
     * anywhere shows here, before anything is uploaded. */
    const char *want = prefix ? NULL : st_metadata_get(c->file, "param_hash");
    if (st == DT_OK && want) {
        char have[24];
        snprintf(have, sizeof have, "%016" PRIx64, model_hash_host(l, dense));
        if (strcmp(have, want) != 0)
            st = dt_error(DT_ERR_FORMAT,
                          "checkpoint: the weights hash to %s, the file records %s: the file is "
                          "damaged",
                          have, want);
    }
    at = 0;
    for (int i = 0; st == DT_OK && i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        st = dt_buffer_upload(buf, p->offset, dense + at, (size_t)p->numel * 4);
        at += p->numel;
    }
    free(dense);
    return st;
}
