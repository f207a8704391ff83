/* Checkpoint verification (model/checkpoint.h): a file round-trips; one
 * flipped byte in the weights or in any optimizer state group is refused
 * with DT_ERR_FORMAT naming the file and the group, before anything is
 * uploaded; a group without its checksum is refused; a file written before
 * the hash became BLAKE2b (no "hash" key) is refused as an older build's;
 * and a caller's param_hash must agree with the weights. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/checkpoint.h"
#include "model_test_util.h"

#define CAP (4u << 20)

typedef struct fixture {
    dt_device *dev;
    model *m;
    dt_buffer *state[2], *back;
    size_t bytes;
    char dir[256], good[300], bad[300];
} fixture;

static unsigned char file[CAP];

/* Byte offset in the file of byte `at` of tensor `name`, or -1. */
static long tensor_offset(const unsigned char *b, long len, const char *name, long at) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (len < 8 || n > (uint64_t)len - 8) return -1;
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)n);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(h, name);
    cJSON *off = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0);
    long r = cJSON_IsNumber(off) ? 8 + (long)n + (long)off->valuedouble + at : -1;
    cJSON_Delete(h);
    return r;
}

/* A copy of the good file with one change: the low bit of a byte of a
 * tensor (the value stays finite: only the checksum can tell), or text in
 * the header replaced by text of the same length. */
static int damaged_copy(fixture *f, const char *tensor, const char *from, const char *to) {
    long len = mt_read_file(f->good, file, CAP), at = -1;
    if (len <= 0) return -1;
    if (tensor) {
        at = tensor_offset(file, len, tensor, 64);
        if (at >= 0) file[at] ^= 0x01;
    } else {
        for (long i = 0; at < 0 && i + (long)strlen(from) <= len; i++)
            if (memcmp(file + i, from, strlen(from)) == 0) at = i;
        if (at >= 0) memcpy(file + at, to, strlen(to));
    }
    CHECK(at >= 0, "%s not found in %s", tensor ? tensor : from, f->good);
    return at < 0 ? -1 : mt_write_file(f->bad, file, (size_t)len);
}

static void fill(fixture *f, dt_buffer *b, uint32_t seed) {
    float *v = malloc(f->bytes);
    for (size_t i = 0; v && i < f->bytes / 4; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    if (v) CHECK_OK(dt_buffer_upload(b, 0, v, f->bytes));
    free(v);
}

static int same_buffers(fixture *f, dt_buffer *a, dt_buffer *b) {
    unsigned char *x = malloc(f->bytes), *y = malloc(f->bytes);
    int same = x && y && dt_buffer_download(a, 0, x, f->bytes) == DT_OK &&
               dt_buffer_download(b, 0, y, f->bytes) == DT_OK;
    /* Padding between tensors is not saved: compare the tensors only. */
    const model_layout *l = model_get_layout(f->m);
    for (int i = 0; same && i < l->n_params; i++)
        same = memcmp(x + l->params[i].offset, y + l->params[i].offset,
                      (size_t)l->params[i].numel * 4) == 0;
    free(x);
    free(y);
    return same;
}

static void test_round_trip(fixture *f) {
    model_checkpoint c;
    if (!CHECK_OK(model_checkpoint_open(f->good, &c))) return;
    CHECK_OK(model_checkpoint_load(&c, f->m, NULL, model_weights_buffer(f->m)));
    const char *prefix[2] = {"adamw.m", "worker1.adamw.v"};
    for (int g = 0; g < 2; g++) {
        if (CHECK_OK(model_checkpoint_load(&c, f->m, prefix[g], f->back)))
            CHECK(same_buffers(f, f->state[g], f->back), "group %s changed on the way", prefix[g]);
    }
    CHECK(strlen(st_metadata_get(c.file, "sum.adamw.m")) == 64, "sum.adamw.m is not 64 hex");
    model_checkpoint_close(&c);
}

/* One flipped byte per place: only the damaged part is refused. */
static void test_flipped_bytes(fixture *f) {
    model_checkpoint c;
    if (damaged_copy(f, "worker1.adamw.v.layers.1.w13", NULL, NULL) == 0 &&
        CHECK_OK(model_checkpoint_open(f->bad, &c))) {
        CHECK_OK(model_checkpoint_load(&c, f->m, NULL, model_weights_buffer(f->m)));
        CHECK_OK(model_checkpoint_load(&c, f->m, "adamw.m", f->back));
        CHECK_STATUS(model_checkpoint_load(&c, f->m, "worker1.adamw.v", f->back), DT_ERR_FORMAT,
                     f->bad, "optimizer state group worker1.adamw.v", "the file is damaged");
        model_checkpoint_close(&c);
    }
    if (damaged_copy(f, "adamw.m.tok_emb", NULL, NULL) == 0 &&
        CHECK_OK(model_checkpoint_open(f->bad, &c))) {
        CHECK_STATUS(model_checkpoint_load(&c, f->m, "adamw.m", f->back), DT_ERR_FORMAT, f->bad,
                     "group adamw.m hashes to", "the file is damaged");
        model_checkpoint_close(&c);
    }
    if (damaged_copy(f, "final_norm", NULL, NULL) == 0 &&
        CHECK_OK(model_checkpoint_open(f->bad, &c))) {
        CHECK_STATUS(model_checkpoint_load(&c, f->m, NULL, model_weights_buffer(f->m)),
                     DT_ERR_FORMAT, f->bad, "the weights hash to", "the file is damaged");
        CHECK_OK(model_checkpoint_load(&c, f->m, "adamw.m", f->back));
        model_checkpoint_close(&c);
    }
}

static void test_metadata(fixture *f) {
    model_checkpoint c;
    /* A group whose checksum is gone (the key renamed) cannot be trusted. */
    if (damaged_copy(f, NULL, "\"sum.adamw.m\"", "\"sux.adamw.m\"") == 0 &&
        CHECK_OK(model_checkpoint_open(f->bad, &c))) {
        CHECK_STATUS(model_checkpoint_load(&c, f->m, "adamw.m", f->back), DT_ERR_FORMAT, f->bad,
                     "adamw.m has no checksum 'sum.adamw.m'");
        model_checkpoint_close(&c);
    }
    /* What a build from before BLAKE2b wrote: no "hash" key. */
    if (damaged_copy(f, NULL, "\"hash\"", "\"hasX\"") == 0)
        CHECK_STATUS(model_checkpoint_open(f->bad, &c), DT_ERR_FORMAT, f->bad,
                     "written by an older build");
    if (damaged_copy(f, NULL, "\"blake2b-256/64\"", "\"blake2b-256/32\"") == 0)
        CHECK_STATUS(model_checkpoint_open(f->bad, &c), DT_ERR_FORMAT, "blake2b-256/32",
                     "knows only blake2b-256/64");
    /* A config naming a larger model than the tensors hold is refused when
     * the file opens, before anything the size of that model is allocated. */
    if (damaged_copy(f, NULL, "\\\"n_layers\\\":2", "\\\"n_layers\\\":9") == 0)
        CHECK_STATUS(model_checkpoint_open(f->bad, &c), DT_ERR_FORMAT, f->bad,
                     "no tensor \"layers.2.", "that its config implies");
    if (damaged_copy(f, NULL, "\\\"dim\\\":64", "\\\"dim\\\":96") == 0)
        CHECK_STATUS(model_checkpoint_open(f->bad, &c), DT_ERR_FORMAT, f->bad,
                     "tensor \"tok_emb\" is not of the shape its config implies");
}

/* The step is covered by no hash, so its text is checked: digits only, in
 * range. A file saved at step 10^18 gets its step text replaced by another
 * of the same length. */
static void test_step_text(fixture *f) {
    static const char *const bad[] = {"9999999999999999999", " +10000000000000000",
                                      "-100000000000000000", "100000000000000000 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!CHECK_OK(model_checkpoint_save(f->bad, f->m, "adamw", 1000000000000000000LL, NULL, 0,
                                            NULL, 0)))
            return;
        long len = mt_read_file(f->bad, file, CAP), at = -1;
        const char *was = "\"1000000000000000000\"";
        for (long k = 0; at < 0 && k + (long)strlen(was) <= len; k++)
            if (memcmp(file + k, was, strlen(was)) == 0) at = k + 1;
        CHECK(at >= 0 && strlen(bad[i]) == strlen(was) - 2, "no step text in %s", f->bad);
        if (at < 0 || strlen(bad[i]) != strlen(was) - 2) return;
        memcpy(file + at, bad[i], strlen(bad[i]));
        model_checkpoint c;
        if (mt_write_file(f->bad, file, (size_t)len) == 0)
            CHECK_STATUS(model_checkpoint_open(f->bad, &c), DT_ERR_FORMAT, "step", bad[i],
                         "is not a count");
    }
}

static void test_caller_param_hash(fixture *f) {
    uint64_t h = 0;
    char text[24];
    CHECK_OK(model_param_hash(f->m, &h));
    snprintf(text, sizeof text, "%016llx", (unsigned long long)h);
    st_metadata agree[] = {{"param_hash", text}, {"run_id", "42"}};
    CHECK_OK(model_checkpoint_save(f->bad, f->m, "adamw", 1, NULL, 0, agree, 2));
    text[0] = text[0] == '0' ? '1' : '0';
    CHECK_STATUS(model_checkpoint_save(f->bad, f->m, "adamw", 1, NULL, 0, agree, 2), DT_ERR_INVALID,
                 "param_hash", text);
}

int main(void) {
    fixture f = {0};
    model_config cfg;
    if (mt_make_temp_dir(f.dir, sizeof f.dir) != 0) return 1;
    snprintf(f.good, sizeof f.good, "%s/good.safetensors", f.dir);
    snprintf(f.bad, sizeof f.bad, "%s/bad.safetensors", f.dir);
    if (!CHECK_OK(dt_device_open("cpu", &f.dev)) || !CHECK_OK(model_config_preset("tiny", &cfg)) ||
        !CHECK_OK(model_create(f.dev, &cfg, 1, &f.m)) || !CHECK_OK(model_init_weights(f.m)))
        return mt_finish("test_checkpoint");
    f.bytes = dt_buffer_size(model_weights_buffer(f.m));
    for (int g = 0; g < 2; g++) {
        CHECK_OK(dt_buffer_alloc(f.dev, f.bytes, &f.state[g]));
        fill(&f, f.state[g], 17u + (uint32_t)g);
    }
    CHECK_OK(dt_buffer_alloc(f.dev, f.bytes, &f.back));
    model_state_group groups[] = {{"adamw.m", f.state[0]}, {"worker1.adamw.v", f.state[1]}};
    if (CHECK_OK(model_checkpoint_save(f.good, f.m, "adamw", 5, groups, 2, NULL, 0))) {
        test_round_trip(&f);
        test_flipped_bytes(&f);
        test_metadata(&f);
        test_step_text(&f);
    }
    test_caller_param_hash(&f);
    for (int g = 0; g < 2; g++) dt_buffer_free(f.state[g]);
    dt_buffer_free(f.back);
    model_destroy(f.m);
    dt_device_close(f.dev);
    mt_remove_dir(f.dir);
    return mt_finish("test_checkpoint");
}
